/* libFuzzer target for tool search queries (gateway/registry/search.h), which
 * come from MCP clients through search_tools.
 *
 * Input: the whole input is the query (cut at its first NUL, as a C string
 * would be), run against one index over a few fixed tool definitions built
 * once; the same bytes also go in as a sixth document's description to an
 * index built per input, so the document side of the pipeline is fuzzed too.
 *
 * Invariants, beyond "no crash, no leak, no undefined behaviour, quick":
 *   - at most max_hits hits, each naming a document that exists;
 *   - scores finite and positive, sorted best first, ties by document index;
 *   - no document twice; asking for fewer hits gives a prefix of the list;
 *   - a query that is not UTF-8 gets no hits. */
#include "gateway/registry/search.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NDOCS 6

static tg_search_doc docs[NDOCS] = {
    {"crm_find_contact", "Find contact", "Finds CRM contacts by name, email or phone.", NULL},
    {"calendar_cancel_event", "Cancel event", "Cancels a meeting and notifies attendees.", NULL},
    {"shop_refund_order", "Refund order", "Refunds an order's line items to the buyer.", NULL},
    {"drive_share_file", "Share file", "Shares a document with people.", NULL},
    {"chat_post_message", NULL, "Posts a message to a channel.", NULL},
    {"fuzz_doc", NULL, NULL, NULL},
};

static const char *schema_text =
    "{\"type\":\"object\",\"properties\":{\"query\":{\"type\":\"string\","
    "\"description\":\"Search text: a name, an email address or a phone number.\"},"
    "\"filters\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{"
    "\"field\":{\"description\":\"Contact field.\",\"enum\":[\"email\",\"phone\"]}}}}}}";

/* Whether s (n bytes) is well-formed UTF-8, written independently of the
 * index's decoder. */
static bool valid_utf8(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t len = c < 0x80                ? 1
                     : c >= 0xC2 && c < 0xE0 ? 2
                     : c >= 0xE0 && c < 0xF0 ? 3
                     : c >= 0xF0 && c < 0xF5 ? 4
                                             : 0;
        if (!len || i + len > n) return false;
        uint32_t cp = len == 1 ? c : len == 2 ? c & 0x1F : len == 3 ? c & 0x0F : c & 0x07;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return false;
            cp = cp << 6 | (s[i + k] & 0x3Fu);
        }
        static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += len;
    }
    return true;
}

static void check_hits(const tg_search_index *ix, const char *q, size_t ndocs, bool valid)
{
    tg_search_hit hits[NDOCS + 2], few[2];
    size_t n = tg_search_query(ix, q, hits, NDOCS + 2);
    if (n > ndocs) abort();
    if (!valid && n) abort();
    bool seen[NDOCS] = {false};
    for (size_t i = 0; i < n; i++) {
        if (hits[i].doc >= ndocs || seen[hits[i].doc]) abort();
        seen[hits[i].doc] = true;
        if (!isfinite(hits[i].score) || !(hits[i].score > 0)) abort();
        if (i && (hits[i - 1].score < hits[i].score ||
                  (hits[i - 1].score == hits[i].score && hits[i - 1].doc > hits[i].doc)))
            abort();
    }
    size_t k = tg_search_query(ix, q, few, 2);
    if (k != (n < 2 ? n : 2)) abort();
    for (size_t i = 0; i < k; i++)
        if (few[i].doc != hits[i].doc || few[i].score != hits[i].score) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static tg_search_index *fixed;
    static json_t *schema;
    if (!fixed) {
        json_error_t err;
        schema = json_loads(schema_text, 0, &err);
        if (!schema) abort();
        docs[0].input_schema = schema;
        fixed = tg_search_build(docs, NDOCS - 1);
        if (!fixed) abort();
    }
    if (size > 1 << 16) return 0;
    char *q = malloc(size + 1);
    if (!q) abort();
    memcpy(q, data, size);
    q[size] = '\0';
    bool valid = valid_utf8((const unsigned char *)q, strlen(q));

    check_hits(fixed, q, NDOCS - 1, valid);

    tg_search_doc mine[NDOCS];
    memcpy(mine, docs, sizeof mine);
    mine[NDOCS - 1].description = q;
    mine[NDOCS - 1].title = q;
    tg_search_index *ix = tg_search_build(mine, NDOCS);
    if (!ix) abort();
    check_hits(ix, q, NDOCS, valid);
    tg_search_free(ix);
    free(q);
    return 0;
}
