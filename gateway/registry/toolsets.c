/* Toolsets: the definition parser, the matcher and the store (toolsets.h).
 *
 * A definition is checked whole before anything is kept, and every problem
 * is reported with its JSON pointer, so an admin fixes a definition in one
 * round. The store keeps the canonical definition (tg_toolset_json without
 * name and time) as JSON text, which tg_toolset_parse reads back. */
#include "gateway/registry/toolsets.h"

#include "gateway/core/alloc.h"
#include "gateway/core/clock.h"
#include "gateway/core/text.h"
#include "gateway/store/store.h"

#include <fnmatch.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define TOOL_NAME_MAX   128 /* a worker's name: ^[A-Za-z0-9_.-]{1,128}$ */
#define VERSION_MAX     128
#define BUSY_TIMEOUT_MS 5000

typedef struct entry {
    char *pattern; /* a name, or a glob when glob */
    char *version; /* name@V's V; NULL: the current version */
    bool glob;
} entry;

struct tg_toolset {
    atomic_int refs;
    char name[TG_TOOLSET_NAME_MAX + 1];
    tg_toolset_mode mode;
    char *description; /* NULL when none */
    entry *tools;
    size_t n_tools;
    entry *always; /* never pinned */
    size_t n_always;
    int64_t updated_ms; /* 0: not stored */
};

bool tg_toolset_valid_name(const char *name)
{
    if (!name) return false;
    size_t n = strlen(name);
    if (n == 0 || n > TG_TOOLSET_NAME_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '_' && c != '-'))) return false;
    }
    return true;
}

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
}

static bool glob_char(char c)
{
    return c == '*' || c == '?' || c == '[' || c == ']' || c == '!';
}

static void problem(json_t *problems, const char *path, const char *message)
{
    json_array_append_new(problems, json_pack("{s:s, s:s}", "path", path, "message", message));
}

/* Reads one entry of tools (pins allowed) or alwaysLoaded (not); a problem
 * at path when it is not one. */
static bool parse_entry(const json_t *v, bool pins, const char *path, entry *out, json_t *problems)
{
    const char *s = json_string_value(v);
    if (!s) {
        problem(problems, path, "must be a string: a tool name, a glob, or name@version");
        return false;
    }
    size_t n = json_string_length(v);
    if (n == 0 || n > TG_TOOLSET_ENTRY_MAX || strlen(s) != n) {
        problem(problems, path, "must be 1 to 256 characters");
        return false;
    }
    const char *at = strchr(s, '@');
    size_t head = at ? (size_t)(at - s) : n;
    bool glob = false;
    for (size_t i = 0; i < head; i++) {
        if (glob_char(s[i])) {
            glob = true;
        } else if (!name_char(s[i])) {
            problem(problems, path,
                    "a tool name is made of A-Z a-z 0-9 _ . - (globs add * ? [ ] !)");
            return false;
        }
    }
    if (head == 0 || (!glob && head > TOOL_NAME_MAX)) {
        problem(problems, path, "names no tool");
        return false;
    }
    if (at) {
        const char *version = at + 1;
        size_t vn = n - head - 1;
        bool ok = pins && !glob && vn > 0 && vn <= VERSION_MAX;
        for (size_t i = 0; ok && i < vn; i++)
            ok = name_char(version[i]) || version[i] == '+';
        if (!ok) {
            problem(problems, path,
                    pins ? "name@version pins one tool (no glob) to a version id or semver"
                         : "alwaysLoaded takes names and globs, not pinned versions");
            return false;
        }
    }
    out->pattern = tg_xstrndup(s, head);
    out->version = at ? tg_xstrdup(at + 1) : NULL;
    out->glob = glob;
    return true;
}

static void entries_free(entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(e[i].pattern);
        free(e[i].version);
    }
    free(e);
}

/* Reads the array at key into *out; problems for each bad entry. */
static void parse_entries(const json_t *def, const char *key, bool pins, bool required, entry **out,
                          size_t *n, json_t *problems)
{
    *out = NULL;
    *n = 0;
    const json_t *arr = json_object_get(def, key);
    char path[64];
    snprintf(path, sizeof path, "/%s", key);
    if (!arr) {
        if (required) problem(problems, path, "is required: the tools of the toolset");
        return;
    }
    size_t size = json_array_size(arr);
    if (!json_is_array(arr) || (required && size == 0) || size > TG_TOOLSET_ENTRIES) {
        problem(problems, path,
                required ? "must be an array of 1 to 500 tool names, globs or name@version"
                         : "must be an array of at most 500 tool names or globs");
        return;
    }
    *out = tg_xcalloc(size ? size : 1, sizeof **out);
    for (size_t i = 0; i < size; i++) {
        char at[80];
        snprintf(at, sizeof at, "%s/%zu", path, i);
        if (parse_entry(json_array_get(arr, i), pins, at, &(*out)[*n], problems)) (*n)++;
    }
    /* Two pins of one tool would leave which version it serves to chance. */
    for (size_t i = 0; i < *n; i++)
        for (size_t j = i + 1; j < *n; j++)
            if ((*out)[i].version && (*out)[j].version &&
                strcmp((*out)[i].pattern, (*out)[j].pattern) == 0) {
                char at[80];
                snprintf(at, sizeof at, "/%s/%zu", key, j);
                problem(problems, at, "pins a tool another entry already pins");
            }
}

int tg_toolset_parse(const char *name, const json_t *def, tg_toolset **out, json_t **problems,
                     tg_error *err)
{
    *out = NULL;
    if (problems) *problems = NULL;
    json_t *found = json_array();
    tg_toolset *t = tg_xcalloc(1, sizeof *t);
    atomic_init(&t->refs, 1);
    if (!tg_toolset_valid_name(name))
        problem(found, "", "a toolset name is 1 to 64 of a-z 0-9 _ -, starting with a-z or 0-9");
    else
        memcpy(t->name, name, strlen(name) + 1);
    if (!json_is_object(def)) {
        problem(found, "", "a toolset definition is a JSON object");
    } else {
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)def, key, v)
        {
            static const char *const known[] = {"tools",       "mode", "alwaysLoaded",
                                                "description", "name", "updated_at"};
            bool ok = false;
            for (size_t i = 0; i < sizeof known / sizeof *known; i++)
                ok = ok || strcmp(key, known[i]) == 0;
            if (!ok) {
                char *path = tg_xasprintf("/%.*s", tg_utf8_excerpt(key, 60), key);
                problem(found, path,
                        "is not a field of a toolset (tools, mode, alwaysLoaded, description)");
                free(path);
            }
        }
        /* A definition read back with GET may be sent again as it is. */
        const json_t *named = json_object_get(def, "name");
        if (named &&
            !(json_is_string(named) && name && strcmp(json_string_value(named), name) == 0))
            problem(found, "/name", "must be the toolset's name in the URL, or absent");
        parse_entries(def, "tools", true, true, &t->tools, &t->n_tools, found);
        parse_entries(def, "alwaysLoaded", false, false, &t->always, &t->n_always, found);
        const json_t *mode = json_object_get(def, "mode");
        if (mode && json_is_string(mode) && strcmp(json_string_value(mode), "search") == 0)
            t->mode = TG_TOOLSET_SEARCH;
        else if (mode && !(json_is_string(mode) && strcmp(json_string_value(mode), "all") == 0))
            problem(found, "/mode", "must be \"all\" (the default) or \"search\"");
        const json_t *desc = json_object_get(def, "description");
        if (desc && (!json_is_string(desc) || json_string_length(desc) > TG_TOOLSET_DESC_MAX ||
                     strlen(json_string_value(desc)) != json_string_length(desc)))
            problem(found, "/description", "must be a string of at most 1000 characters");
        else if (desc)
            t->description = tg_xstrdup(json_string_value(desc));
    }
    if (json_array_size(found)) {
        const json_t *first = json_array_get(found, 0);
        const char *path = json_string_value(json_object_get(first, "path"));
        tg_error_set(err, TG_EBAD_REQUEST, "toolset definition: %s%s%s", path, *path ? " " : "",
                     json_string_value(json_object_get(first, "message")));
        if (problems)
            *problems = found;
        else
            json_decref(found);
        tg_toolset_unref(t);
        return TG_EBAD_REQUEST;
    }
    json_decref(found);
    *out = t;
    return 0;
}

tg_toolset *tg_toolset_ref(tg_toolset *t)
{
    atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
    return t;
}

void tg_toolset_unref(tg_toolset *t)
{
    if (!t || atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) != 1) return;
    entries_free(t->tools, t->n_tools);
    entries_free(t->always, t->n_always);
    free(t->description);
    free(t);
}

const char *tg_toolset_name(const tg_toolset *t)
{
    return t->name;
}

tg_toolset_mode tg_toolset_mode_of(const tg_toolset *t)
{
    return t->mode;
}

static bool entry_matches(const entry *e, const char *tool)
{
    return e->glob ? fnmatch(e->pattern, tool, 0) == 0 : strcmp(e->pattern, tool) == 0;
}

bool tg_toolset_includes(const tg_toolset *t, const char *tool, const char **pinned)
{
    bool in = false;
    if (pinned) *pinned = NULL;
    for (size_t i = 0; i < t->n_tools; i++) {
        if (!entry_matches(&t->tools[i], tool)) continue;
        in = true;
        if (t->tools[i].version) {
            if (pinned) *pinned = t->tools[i].version;
            return true;
        }
    }
    return in;
}

bool tg_toolset_always_loaded(const tg_toolset *t, const char *tool)
{
    if (!tg_toolset_includes(t, tool, NULL)) return false;
    for (size_t i = 0; i < t->n_always; i++)
        if (entry_matches(&t->always[i], tool)) return true;
    return false;
}

static json_t *entries_json(const entry *e, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, e[i].version ? json_sprintf("%s@%s", e[i].pattern, e[i].version)
                                                : json_string(e[i].pattern));
    return arr;
}

/* The definition the store keeps: what tg_toolset_parse reads back. */
static json_t *definition(const tg_toolset *t)
{
    json_t *doc = json_pack("{s:o, s:s, s:o}", "tools", entries_json(t->tools, t->n_tools), "mode",
                            t->mode == TG_TOOLSET_SEARCH ? "search" : "all", "alwaysLoaded",
                            entries_json(t->always, t->n_always));
    if (t->description) json_object_set_new(doc, "description", json_string(t->description));
    return doc;
}

json_t *tg_toolset_json(const tg_toolset *t)
{
    json_t *doc = definition(t);
    json_object_set_new(doc, "name", json_string(t->name));
    if (t->updated_ms) json_object_set_new(doc, "updated_at", json_integer(t->updated_ms));
    return doc;
}

/* ---- the store ---- */

struct tg_toolsets {
    pthread_mutex_t mu; /* one connection, one statement at a time */
    tg_store *db;
};

static const tg_store_migration migrations[] = {
    {
        .sqlite = "CREATE TABLE toolsets (tenant TEXT NOT NULL, name TEXT NOT NULL,"
                  " definition TEXT NOT NULL, updated_ms INTEGER NOT NULL,"
                  " PRIMARY KEY (tenant, name)) WITHOUT ROWID;",
        .postgres = "CREATE TABLE toolsets (tenant TEXT NOT NULL, name TEXT NOT NULL,"
                    " definition TEXT NOT NULL, updated_ms BIGINT NOT NULL,"
                    " PRIMARY KEY (tenant, name));",
    },
};

static int store_fail(void *err, tg_store_failure kind, const char *what, const char *detail)
{
    if (kind == TG_STORE_NOT_WAL)
        return tg_error_set(err, TG_EUNAVAILABLE, "toolsets store %s: cannot use WAL mode", what);
    return tg_error_set(err, TG_EUNAVAILABLE, "toolsets store: %s: %s", what,
                        detail ? detail : "failed");
}

int tg_toolsets_open(const char *where, tg_toolsets **out, tg_error *err)
{
    *out = NULL;
    tg_store *db = NULL;
    int rc = tg_store_open(where, "toolsets", TG_STORE_CREATE | TG_STORE_DURABLE, BUSY_TIMEOUT_MS,
                           NULL, NULL, &db, store_fail, err);
    if (!rc)
        rc = tg_store_migrate(db, migrations, sizeof migrations / sizeof *migrations, store_fail,
                              err);
    if (rc) {
        tg_store_close(db);
        if (err) err->code = TG_EUNAVAILABLE;
        return TG_EUNAVAILABLE;
    }
    tg_toolsets *s = tg_xcalloc(1, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    s->db = db;
    *out = s;
    return 0;
}

void tg_toolsets_close(tg_toolsets *s)
{
    if (!s) return;
    tg_store_close(s->db);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* Runs one statement's work under the mutex; a connection lost since the
 * last use (a restart, a failover) is made again and the work retried once,
 * which every statement here allows. */
typedef int (*store_op)(tg_store *db, void *ctx, tg_error *err);

static int run(tg_toolsets *s, store_op op, void *ctx, tg_error *err)
{
    pthread_mutex_lock(&s->mu);
    int rc = op(s->db, ctx, err);
    if (rc && tg_store_ping(s->db, store_fail, NULL) == 0) rc = op(s->db, ctx, err);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

typedef struct put_ctx {
    const char *tenant, *name, *text;
    int64_t now;
    bool created;
} put_ctx;

static int put_op(tg_store *db, void *ctx, tg_error *err)
{
    put_ctx *c = ctx;
    tg_stmt *st = NULL;
    /* The row's absence before the upsert says whether it created one. */
    int rc = tg_store_prepare(db, &st, store_fail, err,
                              "SELECT 1 FROM toolsets WHERE tenant = ?1 AND name = ?2", 2,
                              c->tenant, c->name);
    if (!rc) rc = tg_stmt_step(st, store_fail, err);
    tg_stmt_finalize(st);
    st = NULL;
    if (rc < 0) return rc;
    c->created = rc == 0;
    rc = tg_store_prepare(db, &st, store_fail, err,
                          "INSERT INTO toolsets (tenant, name, definition, updated_ms)"
                          " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (tenant, name) DO UPDATE"
                          " SET definition = excluded.definition, updated_ms = excluded.updated_ms",
                          3, c->tenant, c->name, c->text);
    if (!rc) {
        tg_stmt_bind_int64(st, 4, c->now);
        rc = tg_stmt_run(st, store_fail, err);
    }
    tg_stmt_finalize(st);
    return rc;
}

int tg_toolsets_put(tg_toolsets *s, const char *tenant, const tg_toolset *t, bool *created,
                    tg_error *err)
{
    json_t *doc = definition(t);
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    put_ctx c = {.tenant = tenant, .name = t->name, .text = text, .now = tg_now_ms()};
    int rc = run(s, put_op, &c, err);
    free(text);
    if (!rc && created) *created = c.created;
    return rc ? TG_EUNAVAILABLE : 0;
}

typedef struct get_ctx {
    const char *tenant, *name;
    char *text;
    int64_t updated_ms;
} get_ctx;

static int get_op(tg_store *db, void *ctx, tg_error *err)
{
    get_ctx *c = ctx;
    free(c->text);
    c->text = NULL;
    tg_stmt *st = NULL;
    int rc = tg_store_prepare(db, &st, store_fail, err,
                              "SELECT definition, updated_ms FROM toolsets"
                              " WHERE tenant = ?1 AND name = ?2",
                              2, c->tenant, c->name);
    if (!rc) rc = tg_stmt_step(st, store_fail, err);
    if (rc == 1) {
        c->text = tg_xstrdup(tg_stmt_text(st, 0));
        c->updated_ms = tg_stmt_int64(st, 1);
    }
    tg_stmt_finalize(st);
    return rc < 0 ? rc : 0;
}

/* A stored definition made a toolset again. */
static int from_row(const char *name, const char *text, int64_t updated_ms, tg_toolset **out,
                    tg_error *err)
{
    json_t *def = json_loads(text, 0, NULL);
    int rc = tg_toolset_parse(name, def, out, NULL, err);
    json_decref(def);
    if (rc) return tg_error_set(err, TG_EINTERNAL, "stored toolset %s does not parse", name);
    (*out)->updated_ms = updated_ms;
    return 0;
}

int tg_toolsets_get(tg_toolsets *s, const char *tenant, const char *name, tg_toolset **out,
                    tg_error *err)
{
    *out = NULL;
    if (!tg_toolset_valid_name(name)) return tg_error_set(err, TG_ENOT_FOUND, "no such toolset");
    get_ctx c = {.tenant = tenant, .name = name};
    int rc = run(s, get_op, &c, err);
    if (rc)
        rc = TG_EUNAVAILABLE;
    else if (!c.text)
        rc = tg_error_set(err, TG_ENOT_FOUND, "no such toolset");
    else
        rc = from_row(name, c.text, c.updated_ms, out, err);
    free(c.text);
    return rc;
}

typedef struct list_ctx {
    const char *tenant;
    json_t *out;
} list_ctx;

static int list_op(tg_store *db, void *ctx, tg_error *err)
{
    list_ctx *c = ctx;
    json_array_clear(c->out);
    tg_stmt *st = NULL;
    int rc = tg_store_prepare(db, &st, store_fail, err,
                              "SELECT name, definition, updated_ms FROM toolsets"
                              " WHERE tenant = ?1 ORDER BY name",
                              1, c->tenant);
    while (!rc && (rc = tg_stmt_step(st, store_fail, err)) == 1) {
        tg_toolset *t = NULL;
        tg_error perr;
        rc = 0;
        if (from_row(tg_stmt_text(st, 0), tg_stmt_text(st, 1), tg_stmt_int64(st, 2), &t, &perr) ==
            0) {
            json_array_append_new(c->out, tg_toolset_json(t));
            tg_toolset_unref(t);
        }
    }
    tg_stmt_finalize(st);
    return rc < 0 ? rc : 0;
}

int tg_toolsets_list(tg_toolsets *s, const char *tenant, json_t **out, tg_error *err)
{
    list_ctx c = {.tenant = tenant, .out = json_array()};
    if (run(s, list_op, &c, err) != 0) {
        json_decref(c.out);
        *out = NULL;
        return TG_EUNAVAILABLE;
    }
    *out = c.out;
    return 0;
}

typedef struct delete_ctx {
    const char *tenant, *name;
    int64_t deleted;
} delete_ctx;

static int delete_op(tg_store *db, void *ctx, tg_error *err)
{
    delete_ctx *c = ctx;
    tg_stmt *st = NULL;
    int rc = tg_store_prepare(db, &st, store_fail, err,
                              "DELETE FROM toolsets WHERE tenant = ?1 AND name = ?2", 2, c->tenant,
                              c->name);
    if (!rc) rc = tg_stmt_run(st, store_fail, err);
    if (!rc) c->deleted = tg_stmt_changes(st);
    tg_stmt_finalize(st);
    return rc;
}

int tg_toolsets_delete(tg_toolsets *s, const char *tenant, const char *name, tg_error *err)
{
    if (!tg_toolset_valid_name(name)) return tg_error_set(err, TG_ENOT_FOUND, "no such toolset");
    delete_ctx c = {.tenant = tenant, .name = name};
    if (run(s, delete_op, &c, err) != 0) return TG_EUNAVAILABLE;
    return c.deleted ? 0 : tg_error_set(err, TG_ENOT_FOUND, "no such toolset");
}
