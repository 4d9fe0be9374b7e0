/* The documents built into the engine, generated into meta_docs.c at build
 * time: JSON Schema 2020-12's schema and its vocabulary meta-schemas
 * (schemas/meta/), and the schemas toolgate publishes (the worker manifest).
 * tg_schema_builtin finds one by URI. */
#ifndef TG_SCHEMAS_META_H
#define TG_SCHEMAS_META_H

#include <stddef.h>

typedef struct tg_meta_doc {
    const char *uri;  /* the document's $id */
    const char *text; /* its JSON text */
} tg_meta_doc;

extern const tg_meta_doc tg_meta_docs[];
extern const size_t tg_meta_docs_count;

#endif
