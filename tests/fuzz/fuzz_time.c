/* libFuzzer target for tg_parse_time_ms (gateway/core/text.h), which reads
 * the since/until that GET /v1/audit and `toolgate audit query` receive.
 *
 * Input: the time text, up to its first NUL byte. It is copied into a buffer
 * of exactly its length plus the terminator, so ASan sees any read past the
 * end; now is fixed.
 *
 * Beyond "no crash, no leak, no undefined behaviour", the target abort()s when
 * the parser disagrees with a reference written here from the contract in
 * text.h: the reference recognizes the forms on its own and computes their
 * values another way (digit by digit; now - n * unit; glibc's timegm() for
 * RFC 3339, which also decides whether a date exists). The parser must accept
 * exactly what the reference accepts, with the same value. The two length
 * limits (15 digits of milliseconds, 9 digits of age) are text.c's. timegm()
 * is glibc's (the build defines _GNU_SOURCE). */
#include "gateway/core/text.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NOW_MS         INT64_C(1779517800123) /* 2026-05-23T06:30:00.123Z */
#define MAX_MS_DIGITS  15
#define MAX_AGE_DIGITS 9

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const char *s, bool ok, int64_t ms, bool ref_ok, int64_t ref_ms)
{
    fprintf(stderr, "fuzz_time: %s\n  input:     \"", what);
    for (const char *p = s; *p; p++)
        fprintf(stderr, *p >= 0x20 && *p < 0x7f && *p != '"' ? "%c" : "\\x%02x", (unsigned char)*p);
    fprintf(stderr, "\"\n  parser:    %s %lld\n  reference: %s %lld\n", ok ? "accepts" : "refuses",
            (long long)ms, ref_ok ? "accepts" : "refuses", (long long)ref_ms);
    abort();
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Whether s starts with the shape of pat, where '9' stands for any digit and
 * every other character for itself. */
static bool shaped(const char *s, const char *pat)
{
    for (; *pat; s++, pat++) {
        if (*pat == '9' ? !is_digit(*s) : *s != *pat) return false;
    }
    return true;
}

static int number(const char *s, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

/* RFC 3339 as text.h describes it: a date, or a date, 'T' (or 't' or ' '), a
 * time with optional fraction, and 'Z' (or 'z') or a numeric offset. */
static bool reference_rfc3339(const char *s, int64_t *ms)
{
    if (!shaped(s, "9999-99-99")) return false;
    struct tm date = {0};
    date.tm_year = number(s, 4) - 1900;
    date.tm_mon = number(s + 5, 2) - 1;
    date.tm_mday = number(s + 8, 2);
    if (date.tm_mon < 0 || date.tm_mon > 11 || date.tm_mday < 1) return false;
    /* A date exists when timegm() leaves it as it is: 2026-02-29 becomes March. */
    struct tm check = date, back;
    time_t midnight = timegm(&check);
    if (!gmtime_r(&midnight, &back) || back.tm_year != date.tm_year || back.tm_mon != date.tm_mon ||
        back.tm_mday != date.tm_mday)
        return false;
    if (s[10] == '\0') {
        *ms = (int64_t)midnight * 1000;
        return true;
    }

    if ((s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !shaped(s + 11, "99:99:99")) return false;
    struct tm t = date;
    t.tm_hour = number(s + 11, 2);
    t.tm_min = number(s + 14, 2);
    t.tm_sec = number(s + 17, 2); /* 60, a leap second, is the next minute's 00 */
    if (t.tm_hour > 23 || t.tm_min > 59 || t.tm_sec > 60) return false;
    const char *p = s + 19;
    int frac_ms = 0;
    if (*p == '.') {
        size_t n = strspn(++p, "0123456789");
        if (n == 0) return false;
        for (size_t i = 0; i < 3; i++)
            frac_ms = frac_ms * 10 + (i < n ? p[i] - '0' : 0);
        p += n;
    }
    int offset_min = 0;
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
        /* UTC */
    } else if ((*p == '+' || *p == '-') && shaped(p + 1, "99:99") && p[6] == '\0') {
        int oh = number(p + 1, 2), om = number(p + 4, 2);
        if (oh > 23 || om > 59) return false;
        offset_min = (*p == '-' ? -1 : 1) * (oh * 60 + om);
    } else {
        return false;
    }
    *ms = ((int64_t)timegm(&t) - (int64_t)offset_min * 60) * 1000 + frac_ms;
    return true;
}

static bool reference(const char *s, int64_t *ms)
{
    size_t n = strlen(s), nd = strspn(s, "0123456789");
    if (n == 0) return false;
    if (nd == n) {
        if (n > MAX_MS_DIGITS) return false;
        int64_t v = 0;
        for (size_t i = 0; i < n; i++)
            v = v * 10 + (s[i] - '0');
        *ms = v;
        return true;
    }
    if (nd >= 1 && nd <= MAX_AGE_DIGITS && nd + 1 == n) {
        int64_t unit;
        switch (s[nd]) {
        case 's':
            unit = 1000;
            break;
        case 'm':
            unit = 60 * 1000;
            break;
        case 'h':
            unit = 60 * 60 * 1000;
            break;
        case 'd':
            unit = 24 * 60 * 60 * 1000;
            break;
        default:
            unit = 0;
        }
        if (unit) {
            int64_t age = 0;
            for (size_t i = 0; i < nd; i++)
                age = age * 10 + (s[i] - '0');
            *ms = NOW_MS - age * unit;
            return true;
        }
    }
    return reference_rfc3339(s, ms);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096) return 0;
    char *s = malloc(size + 1);
    if (!s) abort();
    memcpy(s, data, size);
    s[size] = '\0';

    int64_t ms = INT64_MIN, ref_ms = INT64_MIN;
    bool ok = tg_parse_time_ms(s, NOW_MS, &ms);
    bool ref_ok = reference(s, &ref_ms);
    if (ok != ref_ok)
        fail(ok ? "accepts what the reference refuses" : "refuses what the reference accepts", s,
             ok, ms, ref_ok, ref_ms);
    if (ok && ms != ref_ms) fail("accepts with another value", s, ok, ms, ref_ok, ref_ms);

    free(s);
    return 0;
}
