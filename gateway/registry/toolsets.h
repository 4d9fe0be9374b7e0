/* Toolsets ("virtual servers"): named selections of a tenant's tools, each
 * served at /mcp/{name} with only its tools (docs/toolsets.md).
 *
 * A definition is a JSON object:
 *   {"tools": ["crm_*", "send_mail", "report@1.2.0"], "mode": "all" | "search",
 *    "alwaysLoaded": ["send_mail"], "description": "..."}
 * An entry of "tools" is an exact tool name, a glob (fnmatch(3) without
 * flags: *, ?, [...]), or name@V, which pins tool name to version V (a
 * version id or a semver). "alwaysLoaded" (search mode) lists the names or
 * globs tools/list shows beside search_tools.
 *
 * Invariants: a tg_toolset is immutable once parsed and counted, so any
 * number of threads may match against it; a stored definition always parses
 * (put stores only what tg_toolset_parse accepted); every store access is
 * scoped by tenant. */
#ifndef TG_REGISTRY_TOOLSETS_H
#define TG_REGISTRY_TOOLSETS_H

#include "gateway/core/errors.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define TG_TOOLSET_NAME_MAX  64  /* ^[a-z0-9][a-z0-9_-]{0,63}$ */
#define TG_TOOLSET_ENTRY_MAX 256 /* bytes of one entry of tools or alwaysLoaded */
#define TG_TOOLSET_ENTRIES   500 /* entries of tools, and of alwaysLoaded */
#define TG_TOOLSET_DESC_MAX  1000
/* The toolset /mcp serves when the tenant defines it. */
#define TG_TOOLSET_DEFAULT "default"

typedef enum tg_toolset_mode {
    TG_TOOLSET_ALL,    /* tools/list shows every tool of the toolset */
    TG_TOOLSET_SEARCH, /* tools/list shows search_tools and the always-loaded ones */
} tg_toolset_mode;

typedef struct tg_toolset tg_toolset;

/* True when name matches ^[a-z0-9][a-z0-9_-]{0,63}$. */
bool tg_toolset_valid_name(const char *name);

/* Parses definition def (borrowed) of toolset name. Returns 0 with *out a
 * new reference, or TG_EBAD_REQUEST with err's message naming the first
 * problem and *problems (when not NULL) a new array of every problem as
 * {path, message} (path a JSON pointer into def; "" for the name). */
int tg_toolset_parse(const char *name, const json_t *def, tg_toolset **out, json_t **problems,
                     tg_error *err);

tg_toolset *tg_toolset_ref(tg_toolset *t);
void tg_toolset_unref(tg_toolset *t); /* NULL does nothing */

const char *tg_toolset_name(const tg_toolset *t);
tg_toolset_mode tg_toolset_mode_of(const tg_toolset *t);

/* Whether tool is in t. *pinned (may be NULL) gets the version an exact
 * name@V entry pins it to (borrowed from t), else NULL: the current version.
 * A pin wins over a glob that also matches. */
bool tg_toolset_includes(const tg_toolset *t, const char *tool, const char **pinned);
/* Whether tool is in t and matches an alwaysLoaded entry. */
bool tg_toolset_always_loaded(const tg_toolset *t, const char *tool);

/* Returns: new reference, the definition as stored and shown:
 * {name, tools, mode, alwaysLoaded, description (when set), updated_at (ms
 * since the epoch, when stored)}. */
json_t *tg_toolset_json(const tg_toolset *t);

/* ---- the store: component "toolsets", a sqlite file or PostgreSQL ---- */

typedef struct tg_toolsets tg_toolsets;

/* Opens (creating when missing) the store at where and brings its schema
 * up to date. Returns 0, or TG_EUNAVAILABLE with err filled. */
int tg_toolsets_open(const char *where, tg_toolsets **out, tg_error *err);
void tg_toolsets_close(tg_toolsets *s); /* NULL does nothing */

/* Stores t under tenant, replacing a toolset of its name (*created, may be
 * NULL, says which). Returns 0 or TG_EUNAVAILABLE. */
int tg_toolsets_put(tg_toolsets *s, const char *tenant, const tg_toolset *t, bool *created,
                    tg_error *err);
/* Returns 0 with *out a new reference, TG_ENOT_FOUND, or TG_EUNAVAILABLE. */
int tg_toolsets_get(tg_toolsets *s, const char *tenant, const char *name, tg_toolset **out,
                    tg_error *err);
/* Returns 0 with *out a new array of tenant's definitions (tg_toolset_json)
 * sorted by name, or TG_EUNAVAILABLE. */
int tg_toolsets_list(tg_toolsets *s, const char *tenant, json_t **out, tg_error *err);
/* Returns 0, TG_ENOT_FOUND or TG_EUNAVAILABLE. */
int tg_toolsets_delete(tg_toolsets *s, const char *tenant, const char *name, tg_error *err);

#endif
