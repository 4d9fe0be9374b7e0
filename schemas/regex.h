/* ECMA-262 regular expressions, as JSON Schema's "pattern" means them, run by
 * PCRE2. Patterns are translated where the two dialects differ, compiled once
 * in UTF mode, and every match runs under match and depth limits so that a
 * hostile pattern fails fast instead of stalling the caller. */
#ifndef TG_SCHEMAS_REGEX_H
#define TG_SCHEMAS_REGEX_H

#include <stdbool.h>
#include <stddef.h>

typedef struct tg_regex tg_regex;

enum {
    TG_REGEX_NOMATCH = 0,
    TG_REGEX_MATCH = 1,
    TG_REGEX_ELIMIT = -1, /* a match, depth, heap or JIT-stack limit was hit */
    TG_REGEX_EFAIL = -2,  /* any other matching error */
};

/* Returns NULL, with the reason in err, for a pattern that is not valid
 * ECMA-262, and for the few valid ones PCRE2 cannot run as ECMA-262 means them
 * (variable-length lookbehind, say) or that exceed the length and nesting
 * limits. */
tg_regex *tg_regex_compile(const char *pattern, size_t len, char *err, size_t errlen);
/* Searches s (UTF-8) for the pattern anywhere, as ECMA-262 RegExp.test does.
 * Thread-safe. Returns TG_REGEX_MATCH, TG_REGEX_NOMATCH or a negative code;
 * a subject that is not valid UTF-8 gives TG_REGEX_EFAIL. */
int tg_regex_search(const tg_regex *re, const char *s, size_t len);
/* True when pattern is a valid ECMA-262 regular expression. */
bool tg_regex_is_valid(const char *pattern, size_t len);
void tg_regex_free(tg_regex *re);

#endif
