/* Folder-backed resolver; see mapdir.h. */
#include "schemas/mapdir.h"

#include "gateway/core/alloc.h"

#include <stdlib.h>
#include <string.h>

json_t *tg_schema_mapdir_resolve(const char *uri, void *userdata)
{
    const tg_schema_mapdirs *maps = userdata;
    for (size_t i = 0; i < maps->count; i++) {
        const tg_schema_mapdir *m = &maps->items[i];
        size_t n = strlen(m->prefix);
        if (strncmp(uri, m->prefix, n) != 0) continue;
        const char *rest = uri + n;
        /* The relative part becomes a path: no way up, no query, no absolute path. */
        if (strstr(rest, "..") || strchr(rest, '?') || rest[0] == '/' || rest[0] == '\0')
            return NULL;
        size_t dl = strlen(m->dir);
        char *path = tg_xasprintf("%s%s%s", m->dir, dl && m->dir[dl - 1] == '/' ? "" : "/", rest);
        json_error_t err;
        json_t *doc = json_load_file(path, JSON_DECODE_ANY, &err);
        free(path);
        if (doc) return doc;
    }
    return NULL;
}
