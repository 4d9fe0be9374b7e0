/* Text helpers of core: cutting UTF-8 only between characters (so a cut
 * message is still a valid JSON string), and reading points in time. The
 * expected epoch values were computed apart from the code under test
 * (Python's datetime), not derived from it. */
#include "gateway/core/text.h"

#include "check.h"

#include <jansson.h>
#include <stdint.h>
#include <string.h>

/* ---- tg_utf8_whole --------------------------------------------------- */

static void test_utf8_whole(void)
{
    struct {
        const char *s;
        size_t len, want;
    } cases[] = {
        {"", 0, 0},
        {"abc", 3, 3},
        {"abc", 2, 2},
        {"\xC3\xA9", 2, 2},             /* é whole */
        {"\xC3\xA9", 1, 0},             /* é cut after its lead byte */
        {"a\xC3\xA9", 2, 1},            /* a, then half of é */
        {"\xC3\xA9\x61", 3, 3},         /* a whole character (a) after é */
        {"\xE2\x82\xAC", 3, 3},         /* € whole */
        {"\xE2\x82\xAC", 2, 0},         /* € missing one byte */
        {"\xE2\x82\xAC", 1, 0},         /* € missing two */
        {"x\xE2\x82\xAC", 3, 1},        /* x, then two thirds of € */
        {"\xF0\x9F\x98\x80", 4, 4},     /* 😀 whole */
        {"\xF0\x9F\x98\x80", 3, 0},     /* 😀 missing one byte */
        {"\xF0\x9F\x98\x80", 2, 0},     /* 😀 missing two */
        {"\xF0\x9F\x98\x80", 1, 0},     /* 😀 missing three */
        {"ab\xF0\x9F\x98\x80", 5, 2},   /* ab, then a quarter of 😀 */
        {"\xC3\xA9\xE2\x82\xAC", 4, 2}, /* é whole, € cut */
        {"\xC3\xA9\xE2\x82\xAC", 5, 5}, /* both whole */
        {"\xF0\x9F\x98\x80\x61", 5, 5}, /* 😀 then a */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t got = tg_utf8_whole(cases[i].s, cases[i].len);
        if (got != cases[i].want) fprintf(stderr, "utf8_whole case %zu\n", i);
        CHECK_INT_EQ(got, cases[i].want);
    }
}

/* ---- tg_utf8_excerpt ------------------------------------------------ */

static void test_utf8_excerpt(void)
{
    CHECK_INT_EQ(tg_utf8_excerpt("abc", 32), 3);
    CHECK_INT_EQ(tg_utf8_excerpt("abcdef", 4), 4);
    CHECK_INT_EQ(tg_utf8_excerpt("", 4), 0);
    CHECK_INT_EQ(tg_utf8_excerpt("ab\xC3\xA9", 3), 2);        /* é would be cut: left out */
    CHECK_INT_EQ(tg_utf8_excerpt("ab\xC3\xA9", 4), 4);        /* é whole */
    CHECK_INT_EQ(tg_utf8_excerpt("a\xE2\x82\xAC", 3), 1);     /* two thirds of € */
    CHECK_INT_EQ(tg_utf8_excerpt("\xF0\x9F\x98\x80z", 4), 4); /* 😀 whole */
}

/* ---- tg_format ------------------------------------------------------- */

static void test_format_fits(void)
{
    char buf[16];
    tg_format(buf, sizeof buf, "%s-%d", "ab", 7);
    CHECK_STR_EQ(buf, "ab-7");
    tg_format(buf, 5, "%s", "abcd"); /* exactly: four bytes and the NUL */
    CHECK_STR_EQ(buf, "abcd");
    tg_format(buf, 4, "%s", "abcdef");
    CHECK_STR_EQ(buf, "abc");
    tg_format(buf, 1, "%s", "abc");
    CHECK_STR_EQ(buf, "");
    /* Size 0: nothing is written at all. */
    memcpy(buf, "untouched", 10);
    tg_format(buf, 0, "%s", "abc");
    CHECK_STR_EQ(buf, "untouched");
}

static void test_format_cuts(void)
{
    struct {
        const char *s;
        size_t size;
        const char *want;
    } cases[] = {
        {"a\xC3\xA9", 3, "a"},                           /* room for a and half of é */
        {"a\xC3\xA9", 4, "a\xC3\xA9"},                   /* room for both */
        {"\xE2\x82\xAC\xE2\x82\xAC", 5, "\xE2\x82\xAC"}, /* €, then one byte of € */
        {"\xE2\x82\xAC\xE2\x82\xAC", 6, "\xE2\x82\xAC"}, /* €, then two bytes of € */
        {"\xE2\x82\xAC\xE2\x82\xAC", 7, "\xE2\x82\xAC\xE2\x82\xAC"},
        {"\xE2\x82\xAC", 3, ""}, /* not even one character */
        {"\xF0\x9F\x98\x80\xF0\x9F\x98\x80", 8, "\xF0\x9F\x98\x80"},
        {"\xF0\x9F\x98\x80\xF0\x9F\x98\x80", 5, "\xF0\x9F\x98\x80"},
        {"\xF0\x9F\x98\x80\xF0\x9F\x98\x80", 4, ""},
    };
    char buf[32];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tg_format(buf, cases[i].size, "%s", cases[i].s);
        if (strcmp(buf, cases[i].want) != 0) fprintf(stderr, "format cut case %zu\n", i);
        CHECK_STR_EQ(buf, cases[i].want);
    }
}

/* Every buffer size over a mixed string: the output is the longest prefix
 * that fits and ends between characters, and jansson takes it. */
static void test_format_every_size(void)
{
    const char *s = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\x62"; /* a é € 😀 b */
    size_t len = strlen(s);
    char buf[64];
    for (size_t size = 1; size <= len + 1; size++) {
        tg_format(buf, size, "%s", s);
        size_t n = strlen(buf);
        /* The longest prefix of s within size - 1 that does not end inside a character. */
        size_t want = size - 1 < len ? size - 1 : len;
        while (want > 0 && want < len && ((unsigned char)s[want] & 0xC0) == 0x80)
            want--;
        if (n != want || memcmp(buf, s, n) != 0) fprintf(stderr, "format size %zu\n", size);
        CHECK_INT_EQ(n, want);
        CHECK(memcmp(buf, s, n) == 0);
        json_t *str = json_string(buf);
        CHECK(str != NULL);
        json_decref(str);
    }
    tg_format(buf, 9, "%d:%s", 42, "\xE2\x82\xAC\xE2\x82\xAC"); /* "42:" + € + 2 bytes */
    CHECK_STR_EQ(buf, "42:\xE2\x82\xAC");
}

/* ---- tg_parse_time_ms ------------------------------------------------ */

#define NOW INT64_C(1795413600000) /* 2026-11-23T06:00:00Z */

static void test_parse_time_ok(void)
{
    struct {
        const char *s;
        int64_t want;
    } cases[] = {
        /* integers of milliseconds */
        {"0", 0},
        {"1795413600000", INT64_C(1795413600000)},
        {"42", 42},
        {"123456789012345", INT64_C(123456789012345)},
        /* RFC 3339 */
        {"2026-11-23T06:00:00Z", INT64_C(1795413600000)},
        {"2026-11-23t06:00:00z", INT64_C(1795413600000)},
        {"1970-01-01T00:00:00Z", 0},
        {"2026-12-31T23:59:59.999Z", INT64_C(1798761599999)},
        {"2026-11-23T06:00:00.5Z", INT64_C(1795413600500)},
        {"2026-11-23T06:00:00.123Z", INT64_C(1795413600123)},
        {"2026-11-23T06:00:00.123456Z", INT64_C(1795413600123)}, /* below a ms: dropped */
        {"1969-12-31T23:59:59.250Z", -750},
        {"2026-11-23T06:00:00.250+01:00", INT64_C(1795410000250)},
        {"2026-11-23T06:00:00-05:30", INT64_C(1795433400000)},
        {"2026-11-23T00:30:00+01:00", INT64_C(1795390200000)}, /* the day before in UTC */
        {"2026-11-23T06:00:00+00:00", INT64_C(1795413600000)},
        {"2026-11-23T06:00:00-00:00", INT64_C(1795413600000)},
        /* a date: its UTC midnight */
        {"2026-11-23", INT64_C(1795392000000)},
        {"2024-02-29", INT64_C(1709164800000)},
        {"2024-02-29T12:00:00Z", INT64_C(1709208000000)},
        {"2023-02-28", INT64_C(1677542400000)},
        {"2000-02-29", INT64_C(951782400000)}, /* divisible by 400: a leap year */
        /* ages before now */
        {"90s", NOW - 90 * 1000},
        {"15m", NOW - 15 * 60 * 1000},
        {"24h", NOW - INT64_C(24) * 3600 * 1000},
        {"7d", NOW - INT64_C(7) * 86400 * 1000},
        {"0s", NOW},
        {"365d", NOW - INT64_C(365) * 86400 * 1000},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t got = -1;
        bool ok = tg_parse_time_ms(cases[i].s, NOW, &got);
        if (!ok || got != cases[i].want) fprintf(stderr, "parse_time \"%s\"\n", cases[i].s);
        CHECK(ok);
        CHECK_INT_EQ(got, cases[i].want);
    }
    /* An age follows now. */
    int64_t got = 0;
    CHECK(tg_parse_time_ms("90s", 100000, &got));
    CHECK_INT_EQ(got, 10000);
}

static void test_parse_time_refused(void)
{
    const char *cases[] = {
        "",
        "2023-02-29", /* not a leap year */
        "1900-02-29", /* divisible by 100, not by 400 */
        "2026-04-31",
        "2026-13-01",
        "2026-00-10",
        "2026-11-00",
        "2026-11-32",
        "2026-11-23T24:00:00Z",
        "2026-11-23T23:60:00Z",
        "2026-11-23T06:00:00+24:00",
        "2026-11-23T06:00:00+01:60",
        "2026-11-23T06:00:00",   /* no offset */
        "2026-11-23T06:00:00.Z", /* a point without digits */
        "2026-11-23T06:00Z",     /* no seconds */
        "2026-11-23T",
        "2026-11-23T6:00:00Z",
        "2026-11-23T06:00:00+0100",
        "2026-11-23T06:00:00+01",
        "2026-1-23",
        "26-11-23",
        "2026/11/23",
        /* trailing junk */
        "2026-11-23x",
        "2026-11-23 ",
        "2026-11-23T06:00:00Zjunk",
        "2026-11-23T06:00:00ZZ",
        "2026-11-23T06:00:00+01:00x",
        "2026-11-23T06:00:00.5Zx",
        "1795413600000x",
        "1795413600000 ",
        "90sx",
        "90 s",
        " 90s",
        /* not ages */
        "s",
        "1w",
        "90ms",
        "-5m",
        "1.5h",
        "+90s",
        "-1",
        "now",
        "yesterday",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t got = 12345;
        bool ok = tg_parse_time_ms(cases[i], NOW, &got);
        if (ok) fprintf(stderr, "parse_time \"%s\" accepted as %lld\n", cases[i], (long long)got);
        CHECK(!ok);
    }
    int64_t got = 0;
    CHECK(!tg_parse_time_ms(NULL, NOW, &got));
}

int main(void)
{
    test_utf8_whole();
    test_utf8_excerpt();
    test_format_fits();
    test_format_cuts();
    test_format_every_size();
    test_parse_time_ok();
    test_parse_time_refused();
    return check_report();
}
