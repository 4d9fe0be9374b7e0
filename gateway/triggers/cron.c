/* Schedule expressions and their next run (see cron.h). A cron schedule is
 * five bit sets; the next run is found by skipping whole months, days, hours
 * and minutes that cannot match, in the zone's local (wall) time, then mapped
 * back to an instant. Every search is bounded by a year limit, so next
 * terminates on any input. */
#include "gateway/triggers/cron.h"

#include "gateway/core/alloc.h"
#include "gateway/core/text.h"
#include "gateway/triggers/tz.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define CRON_MAX_EXPR   256
#define CRON_MAX_YEARS  9 /* Feb 29 may be 8 years away (2096 -> 2104) */
#define CRON_MIN_YEAR   1
#define CRON_MAX_YEAR   9999
#define EVERY_MAX_MS    (INT64_C(24) * 3600 * 1000)
#define CRON_MAX_PASSES 100000

enum { F_MIN, F_HOUR, F_DOM, F_MON, F_DOW, F_COUNT };

struct tg_cron {
    int64_t every_ms; /* > 0: an @every schedule */
    uint64_t bits[F_COUNT];
    bool dom_star, dow_star;
    tg_tz *tz;
};

static const struct {
    const char *name;
    int min, max;
} fields[F_COUNT] = {
    {"minute", 0, 59}, {"hour", 0, 23},       {"day-of-month", 1, 31},
    {"month", 1, 12},  {"day-of-week", 0, 7},
};

static const char *const month_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
static const char *const day_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

static const struct {
    const char *alias, *expr;
} aliases[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

/* ---- parsing -------------------------------------------------------- */

/* One value of field f at s[0..n): a number or, for month and day-of-week, a
 * three-letter name. Returns -1 when it is neither or out of range. */
static int field_value(int f, const char *s, size_t n)
{
    if (n == 3 && (f == F_MON || f == F_DOW)) {
        const char *const *names = f == F_MON ? month_names : day_names;
        int count = f == F_MON ? 12 : 7;
        for (int i = 0; i < count; i++) {
            if (toupper((unsigned char)s[0]) == names[i][0] &&
                toupper((unsigned char)s[1]) == names[i][1] &&
                toupper((unsigned char)s[2]) == names[i][2])
                return f == F_MON ? i + 1 : i;
        }
    }
    if (n == 0 || n > 2) return -1;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v >= fields[f].min && v <= fields[f].max ? v : -1;
}

static int field_error(char *err, size_t errlen, int f, const char *tok, size_t n, const char *why)
{
    tg_format(err, errlen, "%s field: bad token \"%.*s\": %s", fields[f].name,
              (int)(n > 32 ? 32 : n), tok, why);
    return -1;
}

/* Parses field f from s[0..n) into *bits. */
static int parse_field(int f, const char *s, size_t n, uint64_t *bits, bool *star, char *err,
                       size_t errlen)
{
    *bits = 0;
    *star = n > 0 && s[0] == '*';
    const char *end = s + n;
    while (s < end) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *item_end = comma ? comma : end;
        size_t len = (size_t)(item_end - s);
        if (len == 0) return field_error(err, errlen, f, s, n, "empty list item");
        const char *slash = memchr(s, '/', len);
        const char *base_end = slash ? slash : item_end;
        int lo, hi, step = 1;
        if (base_end - s == 1 && s[0] == '*') {
            lo = fields[f].min;
            hi = fields[f].max;
        } else {
            const char *dash = memchr(s, '-', (size_t)(base_end - s));
            lo = field_value(f, s, (size_t)((dash ? dash : base_end) - s));
            if (lo < 0)
                return field_error(err, errlen, f, s, len, "not a value in range or a name");
            if (dash) {
                hi = field_value(f, dash + 1, (size_t)(base_end - dash - 1));
                if (hi < 0)
                    return field_error(err, errlen, f, s, len, "not a value in range or a name");
                if (hi < lo) return field_error(err, errlen, f, s, len, "range runs backwards");
            } else {
                hi = slash ? fields[f].max : lo;
            }
        }
        if (slash) {
            const char *st = slash + 1;
            size_t sl = (size_t)(item_end - st);
            step = 0;
            for (size_t i = 0; i < sl && step <= 1000; i++) {
                if (st[i] < '0' || st[i] > '9') {
                    step = 0;
                    break;
                }
                step = step * 10 + (st[i] - '0');
            }
            if (sl == 0 || step < 1 || step > fields[f].max + 1)
                return field_error(err, errlen, f, s, len, "bad step");
        }
        for (int v = lo; v <= hi; v += step)
            *bits |= UINT64_C(1) << v;
        s = comma ? comma + 1 : end;
        if (comma && s == end) return field_error(err, errlen, f, comma, 1, "empty list item");
    }
    if (f == F_DOW && (*bits & (UINT64_C(1) << 7))) *bits = (*bits | 1) & ~(UINT64_C(1) << 7);
    return 0;
}

/* "@every" duration: one or more <digits><h|m|s>, 1s to 24h. */
static int parse_every(const char *s, int64_t *ms, char *err, size_t errlen)
{
    const char *p = s;
    int64_t total = 0;
    while (*p == ' ' || *p == '\t')
        p++;
    if (!*p) goto bad;
    while (*p && *p != ' ' && *p != '\t') {
        int64_t v = 0;
        int digits = 0;
        while (*p >= '0' && *p <= '9') {
            v = v * 10 + (*p++ - '0');
            if (++digits > 6) goto bad;
        }
        int64_t unit = *p == 'h' ? 3600000 : *p == 'm' ? 60000 : *p == 's' ? 1000 : 0;
        if (digits == 0 || unit == 0) goto bad;
        p++;
        total += v * unit;
        if (total > EVERY_MAX_MS) break;
    }
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p) goto bad;
    if (total < 1000 || total > EVERY_MAX_MS) {
        tg_format(err, errlen, "@every: duration \"%.*s\" out of range 1s to 24h",
                  tg_utf8_excerpt(s, 32), s);
        return -1;
    }
    *ms = total;
    return 0;
bad:
    tg_format(err, errlen, "@every: bad duration \"%.*s\" (want e.g. 30s, 15m, 1h30m)",
              tg_utf8_excerpt(s, 32), s);
    return -1;
}

int tg_cron_parse(const char *expr, const char *zone, tg_cron **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!expr) expr = "";
    if (strlen(expr) > CRON_MAX_EXPR) {
        tg_format(err, errlen, "schedule longer than %d characters", CRON_MAX_EXPR);
        return -1;
    }
    while (*expr == ' ' || *expr == '\t')
        expr++;
    tg_cron *c = tg_xcalloc(1, sizeof *c);
    if (strncmp(expr, "@every", 6) == 0 && (expr[6] == ' ' || expr[6] == '\t')) {
        if (parse_every(expr + 7, &c->every_ms, err, errlen) != 0) goto fail;
    } else {
        if (expr[0] == '@') {
            size_t n = strcspn(expr, " \t");
            const char *rest = expr + n + strspn(expr + n, " \t");
            const char *found = NULL;
            for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++) {
                if (strlen(aliases[i].alias) == n && strncasecmp(expr, aliases[i].alias, n) == 0)
                    found = aliases[i].expr;
            }
            if (!found || *rest) {
                tg_format(err, errlen, "unknown schedule alias \"%.*s\"", (int)(n > 32 ? 32 : n),
                          expr);
                goto fail;
            }
            expr = found;
        }
        const char *p = expr;
        for (int f = 0; f < F_COUNT; f++) {
            size_t n = strcspn(p, " \t");
            if (n == 0) {
                tg_format(err, errlen, "%s field missing: want 5 fields \"min hour dom mon dow\"",
                          fields[f].name);
                goto fail;
            }
            bool star;
            if (parse_field(f, p, n, &c->bits[f], &star, err, errlen) != 0) goto fail;
            if (f == F_DOM) c->dom_star = star;
            if (f == F_DOW) c->dow_star = star;
            p += n;
            p += strspn(p, " \t");
        }
        if (*p) {
            tg_format(err, errlen, "unexpected 6th field \"%.*s\": want 5 fields",
                      tg_utf8_excerpt(p, 32), p);
            goto fail;
        }
    }
    if (tg_tz_load(zone, &c->tz, err, errlen) != 0) goto fail;
    *out = c;
    return 0;
fail:
    tg_cron_free(c);
    return -1;
}

void tg_cron_free(tg_cron *c)
{
    if (!c) return;
    tg_tz_free(c->tz);
    free(c);
}

int64_t tg_cron_interval_ms(const tg_cron *c)
{
    return c->every_ms;
}

/* ---- next run ------------------------------------------------------- */

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static bool has(uint64_t bits, int v)
{
    return (bits >> v) & 1;
}

static bool day_matches(const tg_cron *c, int64_t days, int mday)
{
    int dow = (int)((days % 7 + 11) % 7); /* 1970-01-01 was a Thursday */
    bool dom = has(c->bits[F_DOM], mday), dw = has(c->bits[F_DOW], dow);
    return c->dom_star || c->dow_star ? dom && dw : dom || dw;
}

/* The first matching local minute at or after local second l (a minute
 * boundary), or false when there is none before the end of year max_year. */
static bool next_local(const tg_cron *c, int64_t l, int64_t max_year, int64_t *out)
{
    int64_t days = floor_div(l, 86400), y;
    int mon, mday;
    int secs = (int)(l - days * 86400), hour = secs / 3600, min = secs % 3600 / 60;
    tg__civil_from_days(days, &y, &mon, &mday);
    while (y <= max_year) {
        if (!has(c->bits[F_MON], mon)) {
            mday = 1, hour = 0, min = 0;
            if (++mon > 12) mon = 1, y++;
            continue;
        }
        if (mday > tg__days_in_month(y, mon) ||
            !day_matches(c, tg__days_from_civil(y, mon, mday), mday)) {
            hour = 0, min = 0;
            if (++mday > tg__days_in_month(y, mon)) {
                mday = 1;
                if (++mon > 12) mon = 1, y++;
            }
            continue;
        }
        while (hour < 24 && !has(c->bits[F_HOUR], hour))
            hour++, min = 0;
        while (hour < 24 && min < 60 && !has(c->bits[F_MIN], min))
            min++;
        if (hour < 24 && min == 60) {
            hour++, min = 0;
            continue;
        }
        if (hour == 24) {
            hour = 0, min = 0;
            if (++mday > tg__days_in_month(y, mon)) {
                mday = 1;
                if (++mon > 12) mon = 1, y++;
            }
            continue;
        }
        *out = tg__days_from_civil(y, mon, mday) * 86400 + hour * 3600 + min * 60;
        return true;
    }
    return false;
}

/* The instant local second l runs at: its first occurrence, or, when l falls
 * in a gap, the first instant after the gap. This is the first instant u at
 * which the wall clock u + offset(u) reaches l, so it never decreases as l
 * grows. */
static int64_t run_instant(const tg_tz *tz, int64_t l)
{
    int32_t cand[6];
    int n = 0;
    int32_t seed[3] = {tg_tz_offset(tz, l - 90000), tg_tz_offset(tz, l),
                       tg_tz_offset(tz, l + 90000)};
    for (int i = 0; i < 3; i++) {
        cand[n++] = seed[i];
        cand[n++] = tg_tz_offset(tz, l - seed[i]);
    }
    bool found = false;
    int64_t best = 0;
    int32_t omin = cand[0], omax = cand[0];
    for (int i = 0; i < n; i++) {
        if (cand[i] < omin) omin = cand[i];
        if (cand[i] > omax) omax = cand[i];
        int64_t u = l - cand[i];
        if (tg_tz_offset(tz, u) == cand[i] && (!found || u < best)) best = u, found = true;
    }
    if (found) return best;
    /* In a gap: wall(lo) < l <= wall(hi); find the first u with wall(u) >= l. */
    int64_t lo = l - omax, hi = l - omin;
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if (mid + tg_tz_offset(tz, mid) >= l)
            hi = mid;
        else
            lo = mid;
    }
    return hi;
}

int64_t tg_cron_next(const tg_cron *c, int64_t after_ms)
{
    /* Year 1 to 9999 with a day of margin, so no arithmetic below overflows. */
    const int64_t min_ms = (INT64_C(-62135596800) + 86400) * 1000;
    const int64_t max_ms = (INT64_C(253402300799) - 86400) * 1000;
    if (after_ms < min_ms || after_ms > max_ms) return -1;
    if (c->every_ms > 0) return (floor_div(after_ms, c->every_ms) + 1) * c->every_ms;

    int64_t after_s = floor_div(after_ms, 1000);
    int64_t wall = after_s + tg_tz_offset(c->tz, after_s);
    int64_t l = floor_div(wall, 60) * 60, y;
    int mon, mday;
    tg__civil_from_days(floor_div(l, 86400), &y, &mon, &mday);
    int64_t max_year = y + CRON_MAX_YEARS;
    if (max_year > CRON_MAX_YEAR) max_year = CRON_MAX_YEAR;
    /* Local minutes whose run instant is not after after_ms are passed over:
     * at most the length of one fall-back overlap or one gap. */
    for (int pass = 0; pass < CRON_MAX_PASSES; pass++) {
        if (!next_local(c, l, max_year, &l)) return -1;
        int64_t u = run_instant(c->tz, l);
        if (u * 1000 > after_ms) return u * 1000;
        l += 60;
    }
    return -1;
}
