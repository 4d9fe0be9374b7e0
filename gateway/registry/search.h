/* Tool search for large catalogs: an index over tool definitions, built once
 * when a toolset is deployed, that ranks tools against a natural-language
 * query (BM25F over the tool's name, title, description and the names and
 * descriptions of its input properties), so a toolset in search mode can
 * answer search_tools with the few definitions a model needs.
 *
 * Invariant: an index is immutable once built, so any number of threads may
 * query it at once; a query's cost is bounded by TG_SEARCH_MAX_QUERY_TERMS
 * whatever the client sends. */
#ifndef TG_REGISTRY_SEARCH_H
#define TG_REGISTRY_SEARCH_H

#include <jansson.h>
#include <stddef.h>

/* Terms past this many distinct ones in a query are ignored. */
#define TG_SEARCH_MAX_QUERY_TERMS 64
/* Bytes of a token kept (a longer one is cut at a character boundary). */
#define TG_SEARCH_MAX_TOKEN 32

typedef struct tg_search_index tg_search_index;

typedef struct tg_search_doc {
    const char *name;           /* tool name, e.g. "crm_find_contact" */
    const char *title;          /* may be NULL */
    const char *description;    /* may be NULL */
    const json_t *input_schema; /* may be NULL; property names and descriptions, nested too */
} tg_search_doc;

typedef struct tg_search_hit {
    size_t doc;
    double score;
} tg_search_hit;

/* Builds an index over n docs (copies what it needs; docs may be freed after).
 * NULL on allocation failure (or for 2^32 - 1 docs or more). Any field may be
 * NULL or not UTF-8: bytes that are not UTF-8 separate words. */
tg_search_index *tg_search_build(const tg_search_doc *docs, size_t n);

/* Ranks docs against query (any UTF-8 text from an untrusted client, any
 * length; invalid UTF-8 or empty yields 0 hits); fills up to max_hits hits
 * best first (score > 0 only, ties broken by doc index) and returns how many.
 * Thread-safe for concurrent queries on one index. */
size_t tg_search_query(const tg_search_index *index, const char *query, tg_search_hit *hits,
                       size_t max_hits);

void tg_search_free(tg_search_index *index);

/* Splits text into the index's terms (split, lowercased, stopwords dropped,
 * stemmed), calling fn for each in order with a NUL-terminated term of at
 * most TG_SEARCH_MAX_TOKEN bytes; stops early when fn returns nonzero.
 * Returns 0, or -1 without calling fn when text is not valid UTF-8. For tests
 * and for explaining rankings. */
int tg_search_terms(const char *text, int (*fn)(const char *term, void *ctx), void *ctx);

#endif
