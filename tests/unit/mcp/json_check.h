/* CHECK_JSON: compares a whole JSON document with the expected text, and
 * prints both when they differ. Takes a new reference to actual and frees it. */
#ifndef TG_TESTS_MCP_JSON_CHECK_H
#define TG_TESTS_MCP_JSON_CHECK_H

#include <jansson.h>
#include <stdlib.h>

#include "check.h"

#define CHECK_JSON(actual, expected_text) check_json_(actual, expected_text, __FILE__, __LINE__)

static inline void check_json_(json_t *actual, const char *expected_text, const char *file,
                               int line)
{
    json_error_t e;
    json_t *expected = json_loads(expected_text, JSON_DECODE_ANY, &e);
    if (!expected) {
        check_failed++;
        fprintf(stderr, "%s:%d: expected text is not JSON: %s\n", file, line, e.text);
    } else if (actual && json_equal(actual, expected)) {
        check_passed++;
    } else {
        check_failed++;
        char *a =
            actual ? json_dumps(actual, JSON_ENCODE_ANY | JSON_SORT_KEYS | JSON_COMPACT) : NULL;
        char *x = json_dumps(expected, JSON_ENCODE_ANY | JSON_SORT_KEYS | JSON_COMPACT);
        fprintf(stderr, "%s:%d: JSON differs\n  actual:   %s\n  expected: %s\n", file, line,
                a ? a : "(null)", x ? x : "(null)");
        free(a);
        free(x);
    }
    json_decref(expected);
    json_decref(actual);
}

#endif
