/* libFuzzer target for schedule expressions (gateway/triggers/cron.h), which
 * come from worker manifests' triggers.schedule.
 *
 * Input: byte 0 picks the zone from a fixed list (no filesystem fuzzing);
 * the expression runs from byte 1 to the first '\n' (or the end); 8 bytes
 * after that '\n', if present, give one more start time. Each accepted
 * expression is run from several start times chosen near DST changes, month
 * and year ends, a Feb 29 and past the zone files' last transitions.
 *
 * Invariants, beyond "no crash, no leak, no undefined behaviour, quick":
 *   - next is -1 or strictly after the start; next(next - 1ms) == next;
 *   - @every: next is a multiple of the interval at most one interval on;
 *   - cron: next is a whole local minute whose fields match, checked by a
 *     matcher written here from cron.h that reads the expression text again
 *     and takes the calendar from glibc's gmtime_r; or, when they do not
 *     match, next ends a DST gap that swallowed a matching minute;
 *   - cron, when next is under six hours away: no unambiguous matching minute
 *     (no offset change in the day before it) lies between start and next. */
#include "gateway/triggers/cron.h"
#include "gateway/triggers/tz.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const zones[] = {NULL,           "Europe/Paris",     "America/New_York",
                                    "Asia/Tokyo",   "Australia/Sydney", "Asia/Kolkata",
                                    "Pacific/Apia", "America/Sao_Paulo"};
#define NZONES (sizeof zones / sizeof zones[0])

static const int64_t starts[] = {
    INT64_C(1767225600000), /* 2026-01-01T00:00:00Z */
    INT64_C(1774745999999), /* 2026-03-29T00:59:59.999Z, Paris spring gap */
    INT64_C(1792888200000), /* 2026-10-25T00:30:00Z, Paris fall overlap */
    INT64_C(1772949600000), /* 2026-03-08T06:00:00Z, New York spring gap */
    INT64_C(1793509200000), /* 2026-11-01T05:00:00Z, New York fall overlap */
    INT64_C(1835308800000), /* 2028-02-28T00:00:00Z */
    INT64_C(1798761540000), /* 2026-12-31T23:59:00Z */
    INT64_C(2234995200000), /* 2040-10-28T00:00:00Z, past the zone files */
    INT64_C(0),
};

static tg_tz *tz_cache[NZONES];

static const char *const month_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
static const char *const day_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

static void fail(const char *what, const char *expr, const char *zone, int64_t after, int64_t next)
{
    fprintf(stderr, "fuzz_cron: %s\n  expr: \"%s\" zone %s after %lld next %lld\n", what, expr,
            zone ? zone : "UTC", (long long)after, (long long)next);
    abort();
}

/* ---- reference matcher ---------------------------------------------- */

static int ref_value(const char *s, size_t n, int field)
{
    if (n == 3 && field == 3)
        for (int i = 0; i < 12; i++)
            if (strncasecmp(s, month_names[i], 3) == 0) return i + 1;
    if (n == 3 && field == 4)
        for (int i = 0; i < 7; i++)
            if (strncasecmp(s, day_names[i], 3) == 0) return i;
    int v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

/* Whether value v is in one comma item of field (limits min..max). */
static bool ref_item(const char *s, size_t n, int field, int min, int max, int v)
{
    const char *slash = memchr(s, '/', n);
    size_t bn = slash ? (size_t)(slash - s) : n;
    int lo, hi, step = slash ? (int)strtol(slash + 1, NULL, 10) : 1;
    if (bn == 1 && s[0] == '*') {
        lo = min, hi = max;
    } else {
        const char *dash = memchr(s, '-', bn);
        lo = ref_value(s, dash ? (size_t)(dash - s) : bn, field);
        hi = dash ? ref_value(dash + 1, bn - (size_t)(dash - s) - 1, field) : slash ? max : lo;
    }
    return v >= lo && v <= hi && (v - lo) % step == 0;
}

static bool ref_field(const char *tok, size_t n, int field, int v)
{
    static const int mins[] = {0, 0, 1, 1, 0}, maxs[] = {59, 23, 31, 12, 7};
    const char *p = tok, *end = tok + n;
    while (p < end) {
        const char *c = memchr(p, ',', (size_t)(end - p));
        size_t len = (size_t)((c ? c : end) - p);
        if (ref_item(p, len, field, mins[field], maxs[field], v)) return true;
        if (field == 4 && v == 0 && ref_item(p, len, field, mins[field], maxs[field], 7))
            return true;
        p = c ? c + 1 : end;
    }
    return false;
}

/* Whether local second l matches expr (already accepted by the parser). */
static bool ref_match(const char *expr, int64_t l)
{
    static const char *const al[][2] = {{"@yearly", "0 0 1 1 *"},  {"@annually", "0 0 1 1 *"},
                                        {"@monthly", "0 0 1 * *"}, {"@weekly", "0 0 * * 0"},
                                        {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
                                        {"@hourly", "0 * * * *"}};
    while (*expr == ' ' || *expr == '\t')
        expr++;
    if (*expr == '@') {
        size_t n = strcspn(expr, " \t");
        for (size_t i = 0; i < sizeof al / sizeof al[0]; i++)
            if (strlen(al[i][0]) == n && strncasecmp(expr, al[i][0], n) == 0) expr = al[i][1];
    }
    time_t t = (time_t)l;
    struct tm tm;
    if (!gmtime_r(&t, &tm)) abort();
    int vals[5] = {tm.tm_min, tm.tm_hour, tm.tm_mday, tm.tm_mon + 1, tm.tm_wday};
    bool ok[5], star[5];
    const char *p = expr;
    for (int f = 0; f < 5; f++) {
        p += strspn(p, " \t");
        size_t n = strcspn(p, " \t");
        star[f] = p[0] == '*';
        ok[f] = ref_field(p, n, f, vals[f]);
        p += n;
    }
    bool day = star[2] || star[4] ? ok[2] && ok[4] : ok[2] || ok[4];
    return ok[0] && ok[1] && ok[3] && day;
}

/* ---- invariants ----------------------------------------------------- */

static void check(const tg_cron *c, const tg_tz *tz, const char *expr, const char *zone,
                  int64_t after)
{
    int64_t next = tg_cron_next(c, after);
    if (next == -1) return;
    if (next <= after) fail("next not after start", expr, zone, after, next);
    if (tg_cron_next(c, next - 1) != next) fail("next(next - 1) differs", expr, zone, after, next);
    int64_t every = tg_cron_interval_ms(c);
    if (every) {
        if (next % every != 0 || next - after > every)
            fail("@every off its grid", expr, zone, after, next);
        return;
    }
    if (next % 1000 != 0) fail("next not a whole second", expr, zone, after, next);
    int64_t s = next / 1000, wall = s + tg_tz_offset(tz, s);
    if (wall % 60 != 0) fail("next not a whole local minute", expr, zone, after, next);
    if (!ref_match(expr, wall)) {
        int32_t before = tg_tz_offset(tz, s - 1);
        if (before >= tg_tz_offset(tz, s)) fail("fields do not match", expr, zone, after, next);
        bool swallowed = false;
        for (int64_t l = (s - 1 + before) / 60 * 60 + 60; l < wall && !swallowed; l += 60)
            swallowed = ref_match(expr, l);
        if (!swallowed) fail("gap end without a matching minute", expr, zone, after, next);
    }
    if (next - after <= INT64_C(6) * 3600 * 1000) {
        for (int64_t u = (after / 60000 + 1) * 60; u * 1000 < next; u += 60) {
            int32_t off = tg_tz_offset(tz, u);
            if (off % 60 != 0 || off != tg_tz_offset(tz, u - 86400)) continue;
            if (ref_match(expr, u + off)) fail("skipped a matching minute", expr, zone, after, u);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 512) return 0;
    size_t zi = data[0] % NZONES;
    const uint8_t *nl = memchr(data + 1, '\n', size - 1);
    size_t elen = nl ? (size_t)(nl - data - 1) : size - 1;
    char *expr = malloc(elen + 1);
    if (!expr) abort();
    memcpy(expr, data + 1, elen);
    expr[elen] = '\0';

    char err[256];
    err[0] = 'x';
    tg_cron *c = NULL;
    if (tg_cron_parse(expr, zones[zi], &c, err, sizeof err) != 0) {
        if (c || strlen(err) == 0) abort();
        free(expr);
        return 0;
    }
    if (strlen(expr) != elen) {
        free(expr); /* a NUL inside: the parser saw less; fine, nothing to check */
        tg_cron_free(c);
        return 0;
    }
    if (!tz_cache[zi] && tg_tz_load(zones[zi], &tz_cache[zi], err, sizeof err) != 0) abort();
    for (size_t i = 0; i < sizeof starts / sizeof starts[0]; i++)
        check(c, tz_cache[zi], expr, zones[zi], starts[i]);
    if (nl && (size_t)(data + size - nl - 1) >= 8) {
        uint64_t v = 0;
        for (int i = 1; i <= 8; i++)
            v = v << 8 | nl[i];
        /* 1970 to 2200: where the zones' data and the 64-bit calendar agree. */
        check(c, tz_cache[zi], expr, zones[zi], (int64_t)(v % UINT64_C(7258118400000)));
    }
    tg_cron_free(c);
    free(expr);
    return 0;
}
