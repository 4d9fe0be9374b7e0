/* A resolver that serves remote references from local folders: a URI under a
 * mapped prefix names the file at the same relative path in the folder
 * (`--map http://localhost:1234/=remotes/`). Used by the CLI and the tests;
 * the gateway resolves only its own registry. */
#ifndef TG_SCHEMAS_MAPDIR_H
#define TG_SCHEMAS_MAPDIR_H

#include <jansson.h>
#include <stddef.h>

typedef struct tg_schema_mapdir {
    const char *prefix; /* a URI prefix, e.g. "http://localhost:1234/" */
    const char *dir;    /* the folder that holds the files under it */
} tg_schema_mapdir;

typedef struct tg_schema_mapdirs {
    const tg_schema_mapdir *items;
    size_t count;
} tg_schema_mapdirs;

/* A tg_schema_resolver: userdata is a tg_schema_mapdirs. Refuses paths that
 * would leave the folder. Returns: new reference, or NULL. */
json_t *tg_schema_mapdir_resolve(const char *uri, void *userdata);

#endif
