/* ECMA-262 patterns on PCRE2: the JSON Schema Test Suite's regex files
 * (pattern, ecmascript-regex, non-bmp-regex, format "regex"), then the places
 * where ECMA-262 and PCRE2 part ways, the ReDoS limit, error messages and two
 * threads sharing one compiled pattern. */
#include "check.h"
#include "schemas/regex.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The suite lives in ${TOOLGATE_SHARED_DIR}; without the variable, next to
 * the source root (../shared), found from TOOLGATE_SOURCE_DIR or this file. */
static void suite_path(char *out, size_t n, const char *rel)
{
    const char *shared = getenv("TOOLGATE_SHARED_DIR");
    const char *src = getenv("TOOLGATE_SOURCE_DIR");
    if (shared && *shared) {
        snprintf(out, n, "%s/json-schema-test-suite/tests/draft2020-12/%s", shared, rel);
    } else if (src && *src) {
        snprintf(out, n, "%s/../shared/json-schema-test-suite/tests/draft2020-12/%s", src, rel);
    } else {
        const char *self = __FILE__, *tail = strstr(self, "tests/unit/schemas/");
        int root = tail ? (int)(tail - self) : 0;
        snprintf(out, n, "%.*s%s../shared/json-schema-test-suite/tests/draft2020-12/%s", root, self,
                 root ? "" : "./", rel);
    }
}

static json_t *load_suite(const char *rel)
{
    char path[4096];
    json_error_t e;
    suite_path(path, sizeof path, rel);
    json_t *doc = json_load_file(path, JSON_ALLOW_NUL, &e);
    if (!doc) fprintf(stderr, "cannot load %s: %s\n", path, e.text);
    CHECK(doc != NULL);
    return doc;
}

static int suite_cases;

static void expect_search(const char *pattern, const char *s, size_t len, bool want,
                          const char *what)
{
    char err[256];
    tg_regex *re = tg_regex_compile(pattern, strlen(pattern), err, sizeof err);
    if (!re) {
        fprintf(stderr, "%s: /%s/ does not compile: %s\n", what, pattern, err);
        CHECK(re != NULL);
        return;
    }
    int rc = tg_regex_search(re, s, len);
    if (rc != (want ? TG_REGEX_MATCH : TG_REGEX_NOMATCH))
        fprintf(stderr, "%s: /%s/ on \"%.*s\": got %d, want %d\n", what, pattern, (int)len, s, rc,
                want);
    CHECK_INT_EQ(rc, want ? TG_REGEX_MATCH : TG_REGEX_NOMATCH);
    tg_regex_free(re);
}

/* Whether v is valid against a subschema of the simple kinds these files
 * use under patternProperties (true, false, {}, {"type": T}); -1 otherwise. */
static int sub_valid(json_t *sub, json_t *v)
{
    if (json_is_boolean(sub)) return json_is_true(sub);
    if (!json_is_object(sub)) return -1;
    const char *t = json_string_value(json_object_get(sub, "type"));
    if (json_object_size(sub) != (t ? 1u : 0u)) return -1;
    if (!t) return 1;
    if (strcmp(t, "integer") == 0)
        return json_is_integer(v) ||
               (json_is_real(v) && json_real_value(v) == (double)(long long)json_real_value(v));
    if (strcmp(t, "number") == 0) return json_is_number(v);
    if (strcmp(t, "string") == 0) return json_is_string(v);
    if (strcmp(t, "boolean") == 0) return json_is_boolean(v);
    if (strcmp(t, "null") == 0) return json_is_null(v);
    return -1;
}

/* Whether instance is valid against schema, for the shapes of schema these
 * files use: {"pattern"}, {"type": "string", "pattern"} and
 * {"patternProperties": {...}, "additionalProperties": false?} with simple
 * subschemas. Returns -1 for any other shape. */
static int evaluate(json_t *schema, json_t *inst)
{
    json_t *pat = json_object_get(schema, "pattern");
    json_t *pp = json_object_get(schema, "patternProperties");
    json_t *type = json_object_get(schema, "type");
    size_t known = (json_object_get(schema, "$schema") ? 1u : 0u) + (type ? 1u : 0u);
    if (json_is_string(pat) && json_object_size(schema) == known + 1) {
        if (!json_is_string(inst)) return type ? 0 : 1;
        tg_regex *re = tg_regex_compile(json_string_value(pat), json_string_length(pat), NULL, 0);
        CHECK(re != NULL);
        if (!re) return -1;
        int rc = tg_regex_search(re, json_string_value(inst), json_string_length(inst));
        tg_regex_free(re);
        return rc == TG_REGEX_MATCH;
    }
    json_t *ap = json_object_get(schema, "additionalProperties");
    if (!json_is_object(pp) ||
        json_object_size(schema) != known + 1 + (json_is_false(ap) ? 1u : 0u))
        return -1;
    if (!json_is_object(inst)) return type ? 0 : 1;
    int valid = 1;
    const char *key, *p;
    json_t *v, *sub;
    json_object_foreach(inst, key, v)
    {
        bool matched = false;
        json_object_foreach(pp, p, sub)
        {
            tg_regex *re = tg_regex_compile(p, strlen(p), NULL, 0);
            CHECK(re != NULL);
            if (!re) return -1;
            bool m = tg_regex_search(re, key, strlen(key)) == TG_REGEX_MATCH;
            tg_regex_free(re);
            if (!m) continue;
            matched = true;
            int sv = sub_valid(sub, v);
            if (sv < 0) return -1;
            if (!sv) valid = 0;
        }
        if (!matched && json_is_false(ap)) valid = 0;
    }
    return valid;
}

static void run_pattern_file(const char *rel)
{
    json_t *doc = load_suite(rel);
    size_t i, j;
    json_t *group, *test;
    json_array_foreach(doc, i, group)
    {
        json_t *schema = json_object_get(group, "schema");
        json_array_foreach(json_object_get(group, "tests"), j, test)
        {
            int got = evaluate(schema, json_object_get(test, "data"));
            if (got < 0) continue;
            bool want = json_is_true(json_object_get(test, "valid"));
            if (got != want)
                fprintf(stderr, "%s: %s / %s: got %d\n", rel,
                        json_string_value(json_object_get(group, "description")),
                        json_string_value(json_object_get(test, "description")), got);
            CHECK_INT_EQ(got, want);
            suite_cases++;
        }
    }
    json_decref(doc);
}

static void run_format_regex_file(const char *rel)
{
    json_t *doc = load_suite(rel);
    size_t i, j;
    json_t *group, *test;
    json_array_foreach(doc, i, group)
    {
        json_array_foreach(json_object_get(group, "tests"), j, test)
        {
            json_t *data = json_object_get(test, "data");
            if (!json_is_string(data)) continue;
            bool want = json_is_true(json_object_get(test, "valid"));
            bool got = tg_regex_is_valid(json_string_value(data), json_string_length(data));
            if (got != want)
                fprintf(stderr, "%s: \"%s\": got %d\n", rel, json_string_value(data), got);
            CHECK_INT_EQ(got, want);
            suite_cases++;
        }
    }
    json_decref(doc);
}

static void match(const char *pattern, const char *s)
{
    expect_search(pattern, s, strlen(s), true, "match");
}

static void no_match(const char *pattern, const char *s)
{
    expect_search(pattern, s, strlen(s), false, "no match");
}

static void valid(const char *pattern)
{
    if (!tg_regex_is_valid(pattern, strlen(pattern)))
        fprintf(stderr, "/%s/ should be valid ECMA-262\n", pattern);
    CHECK(tg_regex_is_valid(pattern, strlen(pattern)));
}

/* Invalid ECMA-262: is_valid says so, compile refuses with a message. */
static void invalid(const char *pattern)
{
    char err[256] = "";
    bool v = tg_regex_is_valid(pattern, strlen(pattern));
    if (v) fprintf(stderr, "/%s/ should be invalid ECMA-262\n", pattern);
    CHECK(!v);
    tg_regex *re = tg_regex_compile(pattern, strlen(pattern), err, sizeof err);
    CHECK(re == NULL);
    CHECK(strstr(err, "offset") != NULL);
    tg_regex_free(re);
}

static void ecma_versus_pcre(void)
{
    /* \d and \w are ASCII-only, \D and \W take everything else. */
    match("^\\d$", "7");
    no_match("^\\d$", "\u0663"); /* ARABIC-INDIC DIGIT THREE */
    match("^\\D$", "\u0663");
    no_match("^\\w$", "\u00e9");
    match("^\\W$", "\u00e9");
    match("^[\\w]+$", "abc_09");
    no_match("^[\\w]$", "\u00e9");
    match("^[\\W]$", "\u00e9");
    no_match("\\b", "\u00e9\u00e9");
    match("\\bx\\b", "\u00e9x\u00e9");

    /* \s is ECMA WhiteSpace plus LineTerminator, inside and outside classes. */
    const char *ws[] = {"\t",     "\n",     "\v",     "\f",     "\r",     " ",
                        "\u00a0", "\u1680", "\u2000", "\u200a", "\u2028", "\u2029",
                        "\u202f", "\u205f", "\u3000", "\ufeff"};
    for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++) {
        match("^\\s$", ws[i]);
        match("^[\\s]$", ws[i]);
        match("^[^\\S]$", ws[i]);
        no_match("^\\S$", ws[i]);
        no_match("^[\\S]$", ws[i]);
        no_match("^[^\\s]$", ws[i]);
        match("^[x\\S]*\\s$", ws[i]);
    }
    const char *not_ws[] = {"a", "\x01", "\u180e", "\u200b", "\u2013", "\U0001F432"};
    for (size_t i = 0; i < sizeof not_ws / sizeof not_ws[0]; i++) {
        no_match("^\\s$", not_ws[i]);
        match("^\\S$", not_ws[i]);
        match("^[\\S]$", not_ws[i]);
    }

    /* $ is the very end; ^ the very start (no multiline flag). */
    no_match("^abc$", "abc\n");
    match("^abc$", "abc");
    no_match("^b", "a\nb");
    /* "." is one code point other than a line terminator. */
    match("^.$", "\U0001F432");
    match("^.$", "\u00e9");
    no_match("^.$", "\n");
    no_match("^.$", "\r");
    no_match("^.$", "\u2028");
    no_match("^.$", "\u2029");
    match("^[^]$", "\n");
    no_match("[]", "anything");
    match("^[^]*$", "a\nb\u2028");

    /* Escapes PCRE2 spells differently. */
    match("^\\u00e9$", "\u00e9");
    match("^\\u{1F432}$", "\U0001F432");
    match("^\\u{00000041}$", "A");
    match("^\\uD83D\\uDC32$", "\U0001F432");
    match("^[\\uD83D\\uDC32]$", "\U0001F432");
    match("^[\\u{1F400}-\\u{1F4FF}]$", "\U0001F432");
    no_match("^\\uD83D$", "\U0001F432"); /* a lone surrogate matches no UTF-8 text */
    match("^\\cA$", "\x01");
    match("^\\cz$", "\x1a");
    expect_search("^\\x41\\0$", "A\0", 2, true, "NUL");
    match("^\\t\\n\\v\\f\\r$", "\t\n\v\f\r");
    match("^[\\b]$", "\b");
    match("^\\/\\^\\$\\\\\\.\\*\\+\\?\\(\\)\\[\\]\\{\\}\\|$", "/^$\\.*+?()[]{}|");
    match("^[\\-]$", "-");
    match("^[a-]$", "-");
    match("^[-a]$", "-");
    match("^[a-c-e]$", "-");
    no_match("^[a-c-e]$", "d");
    match("^[--a]$", "0");

    /* Non-BMP code points are single characters in patterns and subjects. */
    match("^\U0001F432*$", "\U0001F432\U0001F432");
    no_match("^\U0001F432*$", "\U0001F409");
    match("^.{2}$", "\U0001F432\U0001F409");
    match("^[\U0001F409\U0001F432]{2}$", "\U0001F432\U0001F409");

    /* Groups, names, backreferences. */
    match("^(?<a>x)\\k<a>$", "xx");
    no_match("^(?<a>x)\\k<a>$", "xy");
    match("^(?<$\u00e9t\u00e9_1>x)\\k<$\u00e9t\u00e9_1>$", "xx");
    match("^(?<\\u0061b>x)\\k<ab>$", "xx");
    match("^(a)\\1$", "aa");
    match("^(?:(a)|b)\\1$", "b"); /* an unset group matches empty */
    match("^\\1(a)$", "a");       /* so does a forward reference */
    match("^(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)\\10$", "abcdefghijj");
    match("^(?=a)[a-z]$", "a");
    no_match("^(?!a)[a-z]$", "a");
    match("(?<=\\$)\\d+", "cost: $42");
    no_match("(?<!\\$)\\b\\d+", "$42");
    match("^(?i:abc)$", "AbC");
    no_match("^(?i:a)b$", "AB");
    match("^(?i:a(?-i:b))$", "Ab");
    no_match("^(?i:a(?-i:b))$", "AB");
    match("^a(?m:$)\\n(?m:^)b$", "a\nb");
    /* Under i, \w and \b also take U+017F and U+212A (they fold to s and k). */
    match("^(?i:\\w)$", "\u212a");
    no_match("^\\w$", "\u212a");
    match("^(?i:[\\w])$", "\u017f");
    no_match("^(?i:\\W)$", "\u017f");
    match("^(?i:\\W)$", "\u0131");
    match("(?i:\\b)\u017f", " \u017f");
    match("a(?i:\\B)\u212a", "a\u212a");
    no_match("a(?i:\\b)\u212a", "a\u212a");
    match("^(?i:[a-z]+)$", "ABC");
    match("^(?i:\\u00e9)$", "\u00c9");
    match("^(?s:.)$", "\n");
    match("^a{2,3}$", "aaa");
    no_match("^a{2,3}$", "aaaa");
    match("^a{2,}?$", "aaaa");
    match("x*?y", "xxy");

    /* Unicode properties in ECMA-262 spelling. */
    match("^\\p{L}+$", "\u00e9t\u00e9");
    match("^\\p{Letter}+$", "\u00e9t\u00e9");
    match("^\\p{General_Category=Uppercase_Letter}$", "\u00c9");
    match("^\\p{gc=Lu}$", "\u00c9");
    no_match("^\\p{Lu}$", "\u00e9");
    match("^\\P{Lu}$", "\u00e9");
    match("^\\p{LC}$", "a");
    match("^\\p{Script=Greek}+$", "\u03b1\u03b2");
    match("^\\p{sc=Grek}$", "\u03b1");
    match("^\\p{scx=Greek}$", "\u03b1");
    match("^[\\p{Nd}x]+$", "x\u0663");
    match("^\\p{digit}$", "\u09ea");
    match("^\\p{Assigned}$", "a");
    no_match("^\\p{Assigned}$", "\U000E0080");
    match("^\\P{Assigned}$", "\U000E0080");
    match("^[\\P{Assigned}]$", "\U000E0080");
    match("^\\p{ASCII}$", "~");
    no_match("^\\p{ASCII}$", "\u00e9");
    match("^\\p{Emoji}$", "\U0001F432");
    match("^\\p{Any}$", "\n");
    match("^\\p{White_Space}$", "\u3000");
    valid("\\p{Changes_When_NFKC_Casefolded}");
}

static void invalid_patterns(void)
{
    const char *bad[] = {
        "\\a",
        "\\Z",
        "\\z",
        "\\A",
        "\\e",
        "\\h",
        "\\Q",
        "\\E",
        "\\K",
        "\\G",
        "\\X",
        "\\R",
        "\\N",
        "\\-",
        "\\_",
        "\\ ",
        "\\i",
        "a++",
        "a*+",
        "a?+",
        "a{1}+",
        "a**",
        "a{1}{2}",
        "(?>a)",
        "(?#c)a",
        "(?i)a",
        "(?ims)a",
        "(?P<n>x)",
        "(?P<n>a)(?P=n)",
        "(?|a)",
        "(?R)",
        "(?1)",
        "(?C1)",
        "(*FAIL)",
        "(?<a>x)(?<a>y)",
        "(?<1a>x)",
        "(?<>x)",
        "(?<a-b>x)",
        "(?-:a)",
        "(?ii:a)",
        "(?i-i:a)",
        "(?x:a)",
        "]",
        "}",
        "{",
        "a{",
        "a{1",
        "a{,5}",
        "a{2,1}",
        "x{1,2",
        "\\1",
        "(a)\\2",
        "\\k<x>",
        "(?<x>a)\\k<y>",
        "\\k",
        "\\kx",
        "[z-a]",
        "[\\d-z]",
        "[a-\\w]",
        "[\\s-x]",
        "[\\1]",
        "[\\B]",
        "[\\k]",
        "[\\c0]",
        "\\c",
        "\\c1",
        "\\x4",
        "\\xg0",
        "\\u12",
        "\\u{}",
        "\\u{110000}",
        "\\u{12",
        "\\00",
        "\\01",
        "\\p",
        "\\p{}",
        "\\pL",
        "\\p{Foo}",
        "\\p{letter}",
        "\\p{Greek}",
        "\\p{Script=Foo}",
        "\\p{sc}",
        "\\p{gc=Foo}",
        "\\p{Foo=Bar}",
        "\\p{L",
        "(",
        ")",
        "a)",
        "(a",
        "[",
        "[a",
        "\\",
        "(?<=a)*",
        "(?=a)+",
        "(?!a){2}",
        "^*",
        "$+",
        "\\b+",
        "\\B?",
        "*",
        "+a",
        "?",
        "a|*",
        "(?",
        "(?<",
        "(?<a",
        "[[:alpha:]]",
        "\xff",
        "\xc3",
        "\xed\xa0\x80",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        invalid(bad[i]);

    const char *good[] = {
        "",
        "a|",
        "|",
        "()",
        "(?:)",
        "[]",
        "[^]",
        "\\cA",
        "(?<=a+)b",
        "(?<!a*)b",
        "(?<n>x)",
        "(?<n>a)\\k<n>",
        "\\k<n>(?<n>a)",
        "[\\b]",
        "\\0",
        "[\\0]",
        "[-]",
        "a{0}",
        "a{0,0}",
        "a{1,}",
        "a{99999999999}",
        "[\\d]",
        "[\\p{L}-]",
        "(?i-ms:a)",
        "(?m:^$)",
        "(?s-i:.)",
        "\\u{0}",
        "\\uD800",
        "[\\uDC00-\\uDFFF]",
        "\\/",
        "[/]",
        "/",
        "a{2}?",
        "(?=a)",
        "(?!a)b",
        "$^",
        "\\p{Script_Extensions=Latin}",
        "\\p{General_Category=digit}",
        "\\P{Any}",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        valid(good[i]);
}

static void errors_and_limits(void)
{
    char err[256];
    tg_regex *re = tg_regex_compile("ab(c", 4, err, sizeof err);
    CHECK(re == NULL);
    CHECK(strstr(err, "missing ')'") != NULL);
    CHECK(strstr(err, "offset 2") != NULL);

    re = tg_regex_compile("abc\\a", 5, err, sizeof err);
    CHECK(re == NULL);
    CHECK(strstr(err, "\\a") != NULL);
    CHECK(strstr(err, "offset 3") != NULL);

    /* Valid ECMA-262 past PCRE2's limits: valid, but compile says why not. */
    valid("a{100000}");
    re = tg_regex_compile("a{100000}", 9, err, sizeof err);
    CHECK(re == NULL);
    CHECK(strstr(err, "65535") != NULL);

    /* So is a variable-length lookbehind; fixed-length ones run. */
    valid("(?<=a+)b");
    re = tg_regex_compile("x(?<=a+)b", 9, err, sizeof err);
    CHECK(re == NULL);
    CHECK(strstr(err, "lookbehind") != NULL);
    CHECK(strstr(err, "offset 1") != NULL);
    re = tg_regex_compile("(?<=ab|c)d", 10, err, sizeof err);
    CHECK(re != NULL);
    CHECK_INT_EQ(tg_regex_search(re, "abd", 3), TG_REGEX_MATCH);
    CHECK_INT_EQ(tg_regex_search(re, "bd", 2), TG_REGEX_NOMATCH);
    tg_regex_free(re);

    /* Length limit. */
    size_t n = 5000;
    char *big = malloc(n + 1);
    memset(big, 'a', n);
    big[n] = '\0';
    re = tg_regex_compile(big, n, err, sizeof err);
    CHECK(re == NULL);
    CHECK(strstr(err, "too long") != NULL);
    CHECK(tg_regex_is_valid(big, n));
    re = tg_regex_compile(big, 4096, err, sizeof err);
    CHECK(re != NULL);
    CHECK_INT_EQ(tg_regex_search(re, big, n), TG_REGEX_MATCH);
    tg_regex_free(re);
    free(big);

    /* Deep nesting: refused cleanly, not by running out of stack. */
    size_t depth = 100000;
    char *deep = malloc(2 * depth + 1);
    memset(deep, '(', depth);
    memset(deep + depth, ')', depth);
    CHECK(!tg_regex_is_valid(deep, 2 * depth));
    CHECK(tg_regex_is_valid(deep + depth - 150, 300));
    free(deep);

    /* A subject that is not UTF-8 is an error, not a crash. */
    re = tg_regex_compile("a", 1, err, sizeof err);
    CHECK_INT_EQ(tg_regex_search(re, "a\xff", 2), TG_REGEX_EFAIL);
    CHECK_INT_EQ(tg_regex_search(re, NULL, 0), TG_REGEX_NOMATCH);
    tg_regex_free(re);
    re = tg_regex_compile("", 0, err, sizeof err);
    CHECK(re != NULL);
    CHECK_INT_EQ(tg_regex_search(re, "", 0), TG_REGEX_MATCH);
    tg_regex_free(re);
    tg_regex_free(NULL);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void redos(void)
{
    char err[256];
    const char *hostile[] = {"^(a+)+$",      "^(a|a)*$",      "^(a|aa)+$",
                             "^(a*)*[bc]?$", "^(\\w+\\s?)*$", "^(?:a+|(?:a|a)+)*$"};
    char subject[64];
    memset(subject, 'a', 30);
    subject[30] = '!';
    subject[31] = '\0';
    for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
        tg_regex *re = tg_regex_compile(hostile[i], strlen(hostile[i]), err, sizeof err);
        CHECK(re != NULL);
        double t0 = now_ms();
        int rc = tg_regex_search(re, subject, 31);
        double dt = now_ms() - t0;
        if (rc != TG_REGEX_ELIMIT || dt > 100)
            fprintf(stderr, "/%s/: rc %d in %.1f ms\n", hostile[i], rc, dt);
        CHECK_INT_EQ(rc, TG_REGEX_ELIMIT);
        CHECK(dt < 100);
        /* The limit is per search: the next one on the thread is unaffected. */
        CHECK_INT_EQ(tg_regex_search(re, "aa", 2), TG_REGEX_MATCH);
        tg_regex_free(re);
    }

    /* Ordinary patterns on long subjects stay within the budget. */
    size_t n = 1 << 20;
    char *s = malloc(n);
    for (size_t i = 0; i < n; i++)
        s[i] = (char)('a' + i % 26);
    const char *ordinary[] = {"^[a-z]*$", "[0-9]+", "^(?:[a-z]|[0-9])+$", "z[^q]*q", "a.d"};
    int want[] = {TG_REGEX_MATCH, TG_REGEX_NOMATCH, TG_REGEX_MATCH, TG_REGEX_MATCH,
                  TG_REGEX_NOMATCH};
#ifdef TG_REGEX_NO_JIT
    /* The interpreter needs some 400 bytes of frames per repetition; its
     * heap allowance covers repeats over tens of thousands of characters,
     * not a million. */
    want[2] = TG_REGEX_ELIMIT;
#endif
    for (size_t i = 0; i < sizeof ordinary / sizeof ordinary[0]; i++) {
        tg_regex *re = tg_regex_compile(ordinary[i], strlen(ordinary[i]), err, sizeof err);
        CHECK(re != NULL);
        double t0 = now_ms();
        int rc = tg_regex_search(re, s, n);
        double dt = now_ms() - t0;
        if (rc != want[i])
            fprintf(stderr, "/%s/ on 1 MiB: rc %d in %.1f ms\n", ordinary[i], rc, dt);
        CHECK_INT_EQ(rc, want[i]);
        tg_regex_free(re);
    }
    free(s);
}

typedef struct {
    const tg_regex *re;
    int matches, nomatches, other;
} thread_arg;

static void *thread_main(void *p)
{
    thread_arg *a = p;
    char buf[64];
    for (int i = 0; i < 20000; i++) {
        int len = snprintf(buf, sizeof buf, "user-%d@example.com", i);
        if (i % 2) buf[4] = '!';
        int rc = tg_regex_search(a->re, buf, (size_t)len);
        if (rc == TG_REGEX_MATCH)
            a->matches++;
        else if (rc == TG_REGEX_NOMATCH)
            a->nomatches++;
        else
            a->other++;
    }
    return NULL;
}

static void threads(void)
{
    const char *p = "^[a-z]+-\\d+@(?:[a-z]+\\.)+[a-z]{2,}$";
    tg_regex *re = tg_regex_compile(p, strlen(p), NULL, 0);
    CHECK(re != NULL);
    thread_arg a[2] = {{re, 0, 0, 0}, {re, 0, 0, 0}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        CHECK_INT_EQ(pthread_create(&t[i], NULL, thread_main, &a[i]), 0);
    for (int i = 0; i < 2; i++) {
        pthread_join(t[i], NULL);
        CHECK_INT_EQ(a[i].matches, 10000);
        CHECK_INT_EQ(a[i].nomatches, 10000);
        CHECK_INT_EQ(a[i].other, 0);
    }
    tg_regex_free(re);
}

int main(void)
{
    run_pattern_file("pattern.json");
    run_pattern_file("patternProperties.json");
    run_pattern_file("optional/ecmascript-regex.json");
    run_pattern_file("optional/non-bmp-regex.json");
    run_format_regex_file("optional/format/regex.json");
    run_format_regex_file("optional/format/ecmascript-regex.json");
    printf("suite cases: %d\n", suite_cases);
    CHECK(suite_cases > 100);

    ecma_versus_pcre();
    invalid_patterns();
    errors_and_limits();
    redos();
    threads();
    return check_report();
}
