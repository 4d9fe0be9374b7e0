/* libFuzzer target for the ECMA-262 pattern bridge (schemas/regex.h) and the
 * format checkers (schemas/format.h), which read patterns and strings from
 * schemas and instances that callers send.
 *
 * Input framing: PATTERN "\n" SUBJECT. The pattern is compiled and, when it
 * compiles, searched in the subject; the whole input is also run through every
 * format checker, whether or not it is UTF-8. Beyond "no crash, no leak, no
 * hang", the target abort()s when a pattern compiles but tg_regex_is_valid
 * calls it invalid, or a search answers something other than its four codes. */
#include "schemas/format.h"
#include "schemas/regex.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const formats[] = {
    "date",         "time",          "date-time",
    "duration",     "email",         "idn-email",
    "hostname",     "idn-hostname",  "ipv4",
    "ipv6",         "uri",           "uri-reference",
    "iri",          "iri-reference", "uuid",
    "uri-template", "json-pointer",  "relative-json-pointer",
    "regex",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 16384) return 0;
    const char *text = (const char *)data;
    const char *nl = memchr(text, '\n', size);
    size_t plen = nl ? (size_t)(nl - text) : size;
    const char *subject = nl ? nl + 1 : "";
    size_t slen = nl ? size - plen - 1 : 0;

    char err[256];
    tg_regex *re = tg_regex_compile(text, plen, err, sizeof err);
    if (re) {
        if (!tg_regex_is_valid(text, plen)) abort();
        int m = tg_regex_search(re, subject, slen);
        if (m != TG_REGEX_MATCH && m != TG_REGEX_NOMATCH && m != TG_REGEX_ELIMIT &&
            m != TG_REGEX_EFAIL)
            abort();
        tg_regex_free(re);
    } else if (err[0] == '\0') {
        abort();
    }

    for (size_t i = 0; i < sizeof formats / sizeof *formats; i++) {
        tg_format_fn check = tg_format_lookup(formats[i]);
        if (!check) abort();
        /* A copy of exactly size bytes, so reading past the length is caught. */
        char *copy = malloc(size ? size : 1);
        memcpy(copy, data, size);
        (void)check(copy, size);
        free(copy);
    }
    return 0;
}
