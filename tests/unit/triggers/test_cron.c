/* Schedule expressions (gateway/triggers/cron.h) and the zone reader under
 * them. The expected instants were computed apart from the code under test,
 * with Python's datetime and zoneinfo (the same tzdata), from the semantics
 * cron.h states; each is noted beside its literal as UTC and local time. */
#include "gateway/core/text.h"
#include "gateway/triggers/cron.h"
#include "gateway/triggers/tz.h"

#include "check.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- next run ------------------------------------------------------- */

static const struct {
    const char *expr, *zone;
    int64_t after, want;
} next_cases[] = {
    {"* * * * *", NULL, INT64_C(1767225600000),
     INT64_C(1767225660000)}, /* 2026-01-01T00:00:00Z -> 2026-01-01T00:01:00Z */
    {"* * * * *", NULL, INT64_C(1767225630500),
     INT64_C(1767225660000)}, /* 2026-01-01T00:00:30.500Z -> 2026-01-01T00:01:00Z */
    {"* * * * *", NULL, INT64_C(1767225659999),
     INT64_C(1767225660000)}, /* 2026-01-01T00:00:59.999Z -> 2026-01-01T00:01:00Z */
    {"5 * * * *", NULL, INT64_C(1767225900000),
     INT64_C(1767229500000)}, /* 2026-01-01T00:05:00Z -> 2026-01-01T01:05:00Z */
    {"0 12 * * *", NULL, INT64_C(1767268800000),
     INT64_C(1767355200000)}, /* 2026-01-01T12:00:00Z -> 2026-01-02T12:00:00Z */
    {"10-12 * * * *", NULL, INT64_C(1767226320000),
     INT64_C(1767229800000)}, /* 2026-01-01T00:12:00Z -> 2026-01-01T01:10:00Z */
    {"1,31,59 * * * *", NULL, INT64_C(1767227460000),
     INT64_C(1767229140000)}, /* 2026-01-01T00:31:00Z -> 2026-01-01T00:59:00Z */
    {"*/15 * * * *", NULL, INT64_C(1767228360000),
     INT64_C(1767229200000)}, /* 2026-01-01T00:46:00Z -> 2026-01-01T01:00:00Z */
    {"10-40/15 * * * *", NULL, INT64_C(1767227160000),
     INT64_C(1767228000000)}, /* 2026-01-01T00:26:00Z -> 2026-01-01T00:40:00Z */
    {"10-40/15 * * * *", NULL, INT64_C(1767228000000),
     INT64_C(1767229800000)}, /* 2026-01-01T00:40:00Z -> 2026-01-01T01:10:00Z */
    {"50/5 * * * *", NULL, INT64_C(1767228960000),
     INT64_C(1767232200000)}, /* 2026-01-01T00:56:00Z -> 2026-01-01T01:50:00Z */
    {"0 9-17/4 * * *", NULL, INT64_C(1767272400000),
     INT64_C(1767286800000)}, /* 2026-01-01T13:00:00Z -> 2026-01-01T17:00:00Z */
    {"0 0 * JAN,jul *", NULL, INT64_C(1769904000000),
     INT64_C(1782864000000)}, /* 2026-02-01T00:00:00Z -> 2026-07-01T00:00:00Z */
    {"0 0 1 feb-Apr *", NULL, INT64_C(1775001600000),
     INT64_C(1801440000000)}, /* 2026-04-01T00:00:00Z -> 2027-02-01T00:00:00Z */
    {"0 0 * * sun", NULL, INT64_C(1767225600000),
     INT64_C(1767484800000)}, /* 2026-01-01T00:00:00Z -> 2026-01-04T00:00:00Z */
    {"0 0 * * 7", NULL, INT64_C(1767225600000),
     INT64_C(1767484800000)}, /* 2026-01-01T00:00:00Z -> 2026-01-04T00:00:00Z */
    {"0 0 * * 0", NULL, INT64_C(1767225600000),
     INT64_C(1767484800000)}, /* 2026-01-01T00:00:00Z -> 2026-01-04T00:00:00Z */
    {"0 0 * * 5-7", NULL, INT64_C(1767398400000),
     INT64_C(1767484800000)}, /* 2026-01-03T00:00:00Z -> 2026-01-04T00:00:00Z */
    {"0 0 * * Mon-Wed", NULL, INT64_C(1767225600000),
     INT64_C(1767571200000)}, /* 2026-01-01T00:00:00Z -> 2026-01-05T00:00:00Z */
    {"0 0 13 * 5", NULL, INT64_C(1767398400000),
     INT64_C(1767916800000)}, /* 2026-01-03T00:00:00Z -> 2026-01-09T00:00:00Z */
    {"0 0 13 * 5", NULL, INT64_C(1767916800000),
     INT64_C(1768262400000)}, /* 2026-01-09T00:00:00Z -> 2026-01-13T00:00:00Z */
    {"0 0 */2 * 5", NULL, INT64_C(1767139200000),
     INT64_C(1767916800000)}, /* 2025-12-31T00:00:00Z -> 2026-01-09T00:00:00Z */
    {"0 0 1 * */2", NULL, INT64_C(1767225600000),
     INT64_C(1769904000000)}, /* 2026-01-01T00:00:00Z -> 2026-02-01T00:00:00Z */
    {"0 0 31 * *", NULL, INT64_C(1769817600000),
     INT64_C(1774915200000)}, /* 2026-01-31T00:00:00Z -> 2026-03-31T00:00:00Z */
    {"0 0 31 * *", NULL, INT64_C(1780185600000),
     INT64_C(1785456000000)}, /* 2026-05-31T00:00:00Z -> 2026-07-31T00:00:00Z */
    {"0 0 29 2 *", NULL, INT64_C(1740787200000),
     INT64_C(1835395200000)}, /* 2025-03-01T00:00:00Z -> 2028-02-29T00:00:00Z */
    {"0 0 29 2 *", NULL, INT64_C(3981398400000),
     INT64_C(4233686400000)}, /* 2096-03-01T00:00:00Z -> 2104-02-29T00:00:00Z */
    {"0 0 1 1 *", NULL, INT64_C(1798761540000),
     INT64_C(1798761600000)}, /* 2026-12-31T23:59:00Z -> 2027-01-01T00:00:00Z */
    {"59 23 31 12 *", NULL, INT64_C(1798761540000),
     INT64_C(1830297540000)}, /* 2026-12-31T23:59:00Z -> 2027-12-31T23:59:00Z */
    {"@yearly", NULL, INT64_C(1777939200000),
     INT64_C(1798761600000)}, /* 2026-05-05T00:00:00Z -> 2027-01-01T00:00:00Z */
    {"@annually", NULL, INT64_C(1777939200000),
     INT64_C(1798761600000)}, /* 2026-05-05T00:00:00Z -> 2027-01-01T00:00:00Z */
    {"@monthly", NULL, INT64_C(1769860800000),
     INT64_C(1769904000000)}, /* 2026-01-31T12:00:00Z -> 2026-02-01T00:00:00Z */
    {"@weekly", NULL, INT64_C(1767225600000),
     INT64_C(1767484800000)}, /* 2026-01-01T00:00:00Z -> 2026-01-04T00:00:00Z */
    {"@daily", NULL, INT64_C(1767225600000),
     INT64_C(1767312000000)}, /* 2026-01-01T00:00:00Z -> 2026-01-02T00:00:00Z */
    {"@midnight", NULL, INT64_C(1767225600000),
     INT64_C(1767312000000)}, /* 2026-01-01T00:00:00Z -> 2026-01-02T00:00:00Z */
    {"@HOURLY", NULL, INT64_C(1767225601000),
     INT64_C(1767229200000)}, /* 2026-01-01T00:00:01Z -> 2026-01-01T01:00:00Z */
    {"30 2 * * *", "Europe/Paris", INT64_C(1774656000000),
     INT64_C(1774661400000)}, /* 2026-03-28T00:00:00Z -> 2026-03-28T02:30:00 Europe/Paris =
                                 2026-03-28T01:30:00+00:00 */
    {"30 2 * * *", "Europe/Paris", INT64_C(1774699200000),
     INT64_C(1774746000000)}, /* 2026-03-28T12:00:00Z -> 2026-03-29T03:00:00 Europe/Paris =
                                 2026-03-29T01:00:00+00:00 */
    {"30 2 * * *", "Europe/Paris", INT64_C(1774746000000),
     INT64_C(1774830600000)}, /* 2026-03-29T01:00:00Z -> 2026-03-30T02:30:00 Europe/Paris =
                                 2026-03-30T00:30:00+00:00 */
    {"*/30 2 * * *", "Europe/Paris", INT64_C(1774699200000),
     INT64_C(1774746000000)}, /* 2026-03-28T12:00:00Z -> 2026-03-29T03:00:00 Europe/Paris =
                                 2026-03-29T01:00:00+00:00 */
    {"*/30 2 * * *", "Europe/Paris", INT64_C(1774746000000),
     INT64_C(1774828800000)}, /* 2026-03-29T01:00:00Z -> 2026-03-30T02:00:00 Europe/Paris =
                                 2026-03-30T00:00:00+00:00 */
    {"0 3 * * *", "Europe/Paris", INT64_C(1774699200000),
     INT64_C(1774746000000)}, /* 2026-03-28T12:00:00Z -> 2026-03-29T03:00:00 Europe/Paris =
                                 2026-03-29T01:00:00+00:00 */
    {"30 2 * * *", "Europe/Paris", INT64_C(1792843200000),
     INT64_C(1792888200000)}, /* 2026-10-24T12:00:00Z -> 2026-10-25T02:30:00 Europe/Paris =
                                 2026-10-25T00:30:00+00:00 */
    {"30 2 * * *", "Europe/Paris", INT64_C(1792888200000),
     INT64_C(1792978200000)}, /* 2026-10-25T00:30:00Z -> 2026-10-26T02:30:00 Europe/Paris =
                                 2026-10-26T01:30:00+00:00 */
    {"30 2 * * *", "Europe/Paris", INT64_C(1792891740000),
     INT64_C(1792978200000)}, /* 2026-10-25T01:29:00Z -> 2026-10-26T02:30:00 Europe/Paris =
                                 2026-10-26T01:30:00+00:00 */
    {"* * * * *", "Europe/Paris", INT64_C(1792889880000),
     INT64_C(1792889940000)}, /* 2026-10-25T00:58:00Z -> 2026-10-25T02:59:00 Europe/Paris =
                                 2026-10-25T00:59:00+00:00 */
    {"* * * * *", "Europe/Paris", INT64_C(1792889940000),
     INT64_C(1792893600000)}, /* 2026-10-25T00:59:00Z -> 2026-10-25T03:00:00 Europe/Paris =
                                 2026-10-25T02:00:00+00:00 */
    {"0 * * * *", "Europe/Paris", INT64_C(1792886400000),
     INT64_C(1792893600000)}, /* 2026-10-25T00:00:00Z -> 2026-10-25T03:00:00 Europe/Paris =
                                 2026-10-25T02:00:00+00:00 */
    {"30 2 * * *", "America/New_York", INT64_C(1772884800000),
     INT64_C(1772953200000)}, /* 2026-03-07T12:00:00Z -> 2026-03-08T03:00:00 America/New_York =
                                 2026-03-08T07:00:00+00:00 */
    {"30 2 * * *", "America/New_York", INT64_C(1772953200000),
     INT64_C(1773037800000)}, /* 2026-03-08T07:00:00Z -> 2026-03-09T02:30:00 America/New_York =
                                 2026-03-09T06:30:00+00:00 */
    {"30 1 * * *", "America/New_York", INT64_C(1793448000000),
     INT64_C(1793511000000)}, /* 2026-10-31T12:00:00Z -> 2026-11-01T01:30:00 America/New_York =
                                 2026-11-01T05:30:00+00:00 */
    {"30 1 * * *", "America/New_York", INT64_C(1793511000000),
     INT64_C(1793601000000)}, /* 2026-11-01T05:30:00Z -> 2026-11-02T01:30:00 America/New_York =
                                 2026-11-02T06:30:00+00:00 */
    {"30 2 * * *", "America/New_York", INT64_C(1793448000000),
     INT64_C(1793518200000)}, /* 2026-10-31T12:00:00Z -> 2026-11-01T02:30:00 America/New_York =
                                 2026-11-01T07:30:00+00:00 */
    {"0 9 * * 1-5", "America/New_York", INT64_C(1783087200000),
     INT64_C(1783342800000)}, /* 2026-07-03T14:00:00Z -> 2026-07-06T09:00:00 America/New_York =
                                 2026-07-06T13:00:00+00:00 */
    {"30 2 * * *", "Europe/Paris", INT64_C(2216203200000),
     INT64_C(2216250000000)}, /* 2040-03-24T12:00:00Z -> 2040-03-25T03:00:00 Europe/Paris =
                                 2040-03-25T01:00:00+00:00 */
    {"30 2 * * *", "Europe/Paris", INT64_C(2234952000000),
     INT64_C(2234997000000)}, /* 2040-10-27T12:00:00Z -> 2040-10-28T02:30:00 Europe/Paris =
                                 2040-10-28T00:30:00+00:00 */
    {"30 2 * * *", "Europe/Paris", INT64_C(2234997000000),
     INT64_C(2235087000000)}, /* 2040-10-28T00:30:00Z -> 2040-10-29T02:30:00 Europe/Paris =
                                 2040-10-29T01:30:00+00:00 */
    {"0 12 * * *", "Australia/Sydney", INT64_C(2208988800000),
     INT64_C(2208992400000)}, /* 2040-01-01T00:00:00Z -> 2040-01-01T12:00:00 Australia/Sydney =
                                 2040-01-01T01:00:00+00:00 */
    {"0 12 * * *", "Australia/Sydney", INT64_C(2224713600000),
     INT64_C(2224720800000)}, /* 2040-07-01T00:00:00Z -> 2040-07-01T12:00:00 Australia/Sydney =
                                 2040-07-01T02:00:00+00:00 */
    {"0 9 * * *", "Asia/Tokyo", INT64_C(1767225600000),
     INT64_C(1767312000000)}, /* 2026-01-01T00:00:00Z -> 2026-01-02T09:00:00 Asia/Tokyo =
                                 2026-01-02T00:00:00+00:00 */
    {"0 0 30 2 *", NULL, INT64_C(1767225600000), INT64_C(-1)}, /* 2026-01-01T00:00:00Z -> never */
    {"0 0 31 4,6,9,11 *", NULL, INT64_C(1767225600000),
     INT64_C(-1)}, /* 2026-01-01T00:00:00Z -> never */
};

static void test_next(void)
{
    for (size_t i = 0; i < sizeof next_cases / sizeof next_cases[0]; i++) {
        char err[256] = "";
        tg_cron *c = NULL;
        int rc = tg_cron_parse(next_cases[i].expr, next_cases[i].zone, &c, err, sizeof err);
        if (rc != 0) fprintf(stderr, "case %zu \"%s\": %s\n", i, next_cases[i].expr, err);
        CHECK_INT_EQ(rc, 0);
        if (rc != 0) continue;
        int64_t got = tg_cron_next(c, next_cases[i].after);
        if (got != next_cases[i].want)
            fprintf(stderr, "case %zu \"%s\" in %s\n", i, next_cases[i].expr,
                    next_cases[i].zone ? next_cases[i].zone : "UTC");
        CHECK_INT_EQ(got, next_cases[i].want);
        CHECK_INT_EQ(tg_cron_interval_ms(c), 0);
        /* A run is found again from just before it: restarts do not skip it. */
        if (got > 0) CHECK_INT_EQ(tg_cron_next(c, got - 1), got);
        tg_cron_free(c);
    }
}

/* Counts the runs in (from, to]. */
static int count_runs(const char *expr, const char *zone, int64_t from, int64_t to)
{
    char err[256];
    tg_cron *c = NULL;
    if (tg_cron_parse(expr, zone, &c, err, sizeof err) != 0) return -1;
    int n = 0;
    for (int64_t t = tg_cron_next(c, from); t > 0 && t <= to; t = tg_cron_next(c, t))
        n++;
    tg_cron_free(c);
    return n;
}

static void test_dst_counts(void)
{
    /* Fall back in Paris: 2026-10-24T22:00Z (00:00 CEST) to 2026-10-25T04:00Z
     * (05:00 CET) is five hours of wall clock, six of real time; each wall
     * quarter runs once: 20 runs, not 24. */
    CHECK_INT_EQ(
        count_runs("*/15 * * * *", "Europe/Paris", INT64_C(1792879200000), INT64_C(1792900800000)),
        20);
    /* Spring forward: 2026-03-28T22:00Z (23:00 CET) to 2026-03-29T04:00Z
     * (06:00 CEST): 28 wall quarters, the four in the gap and 03:00 share
     * one instant (01:00Z): 24 runs, one per real quarter hour. */
    CHECK_INT_EQ(
        count_runs("*/15 * * * *", "Europe/Paris", INT64_C(1774735200000), INT64_C(1774756800000)),
        24);
    /* A day of minutes in UTC. */
    CHECK_INT_EQ(count_runs("* * * * *", NULL, INT64_C(1767225600000), INT64_C(1767312000000)),
                 1440);
}

static void test_every(void)
{
    struct {
        const char *expr;
        int64_t interval, after, want;
    } cases[] = {
        {"@every 30s", 30000, 1000, 30000},
        {"@every 30s", 30000, 30000, 60000},
        {"@every 30s", 30000, 29999, 30000},
        {"@every 15m", 900000, INT64_C(1767225600000), INT64_C(1767226500000)},
        {"@every 1h30m", 5400000, 0, 5400000},
        {"@every 1h30m", 5400000, INT64_C(1767225600000), INT64_C(1767231000000)},
        {"@every 1h30m", 5400000, INT64_C(1767225600001), INT64_C(1767231000000)},
        {"@every 1s", 1000, 999, 1000},
        {"@every 24h", 86400000, 1, 86400000},
        {"@every   2m30s  ", 150000, 0, 150000},
        {"@every 90m", 5400000, -1, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[256] = "";
        tg_cron *c = NULL;
        /* The zone is read and checked but does not move an interval. */
        int rc = tg_cron_parse(cases[i].expr, "Europe/Paris", &c, err, sizeof err);
        if (rc != 0) fprintf(stderr, "\"%s\": %s\n", cases[i].expr, err);
        CHECK_INT_EQ(rc, 0);
        if (rc != 0) continue;
        CHECK_INT_EQ(tg_cron_interval_ms(c), cases[i].interval);
        CHECK_INT_EQ(tg_cron_next(c, cases[i].after), cases[i].want);
        tg_cron_free(c);
    }
}

/* ---- errors --------------------------------------------------------- */

static void test_invalid(void)
{
    struct {
        const char *expr, *zone, *want; /* want: a part of the message */
    } cases[] = {
        {"", NULL, "minute field missing"},
        {"   ", NULL, "minute field missing"},
        {"* * * *", NULL, "day-of-week field missing"},
        {"* * * * * *", NULL, "unexpected 6th field \"*\""},
        {"60 * * * *", NULL, "minute field: bad token \"60\""},
        {"* 24 * * *", NULL, "hour field: bad token \"24\""},
        {"* * 0 * *", NULL, "day-of-month field: bad token \"0\""},
        {"* * 32 * *", NULL, "day-of-month field: bad token \"32\""},
        {"* * * 13 *", NULL, "month field: bad token \"13\""},
        {"* * * 0 *", NULL, "month field: bad token \"0\""},
        {"* * * * 8", NULL, "day-of-week field: bad token \"8\""},
        {"* * * FOO *", NULL, "month field: bad token \"FOO\""},
        {"* * * * MONDAY", NULL, "day-of-week field: bad token \"MONDAY\""},
        {"* * * * MON-FOO", NULL, "day-of-week field: bad token \"MON-FOO\""},
        {"* * SUN * *", NULL, "day-of-month field: bad token \"SUN\""},
        {"* * * SUN *", NULL, "month field: bad token \"SUN\""},
        {"5-1 * * * *", NULL, "minute field: bad token \"5-1\": range runs backwards"},
        {"*/0 * * * *", NULL, "minute field: bad token \"*/0\": bad step"},
        {"*/ * * * *", NULL, "minute field: bad token \"*/\": bad step"},
        {"*/x * * * *", NULL, "minute field: bad token \"*/x\": bad step"},
        {"*/61 * * * *", NULL, "minute field: bad token \"*/61\": bad step"},
        {"1,,2 * * * *", NULL, "minute field: bad token"},
        {"1, * * * *", NULL, "minute field: bad token \",\": empty list item"},
        {"-5 * * * *", NULL, "minute field: bad token \"-5\""},
        {"1-2-3 * * * *", NULL, "minute field: bad token \"1-2-3\""},
        {"007 * * * *", NULL, "minute field: bad token \"007\""},
        {"** * * * *", NULL, "minute field: bad token \"**\""},
        {"0 0 L * *", NULL, "day-of-month field: bad token \"L\""},
        {"@often", NULL, "unknown schedule alias \"@often\""},
        {"@daily x", NULL, "unknown schedule alias \"@daily\""},
        {"@every", NULL, "unknown schedule alias \"@every\""},
        {"@every ", NULL, "@every: bad duration"},
        {"@every 0s", NULL, "@every: duration \"0s\" out of range 1s to 24h"},
        {"@every 25h", NULL, "@every: duration \"25h\" out of range"},
        {"@every 24h1s", NULL, "out of range"},
        {"@every 500ms", NULL, "@every: bad duration \"500ms\""},
        {"@every 10", NULL, "@every: bad duration \"10\""},
        {"@every 1x", NULL, "@every: bad duration"},
        {"@every 9999999s", NULL, "@every: bad duration"},
        {"@every 1m 1s", NULL, "@every: bad duration"},
        {"* * * * *", "../etc/passwd", "invalid name"},
        {"* * * * *", "/etc/passwd", "invalid name"},
        {"* * * * *", "Europe/../../etc/passwd", "invalid name"},
        {"* * * * *", "Europe/Paris/", "invalid name"},
        {"* * * * *", "Europe//Paris", "invalid name"},
        {"* * * * *", "Europe Paris", "invalid name"},
        {"* * * * *", "Europe/Paris\n", "invalid name"},
        {"* * * * *", "Europe/Par%s", "invalid name"},
        {"* * * * *", "Nowhere/City", "time zone \"Nowhere/City\": unknown time zone"},
        {"* * * * *", "Europe", "time zone \"Europe\": unknown time zone"},
        {"@every 1m", "Mars/Olympus", "unknown time zone"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[256] = "";
        tg_cron *c = (tg_cron *)&err; /* must come back NULL */
        int rc = tg_cron_parse(cases[i].expr, cases[i].zone, &c, err, sizeof err);
        CHECK_INT_EQ(rc, -1);
        CHECK(c == NULL);
        if (!strstr(err, cases[i].want))
            fprintf(stderr, "case %zu \"%s\": message \"%s\" lacks \"%s\"\n", i, cases[i].expr, err,
                    cases[i].want);
        CHECK(strstr(err, cases[i].want) != NULL);
        tg_cron_free(c);
    }
    /* A message quotes at most 32 or 64 bytes of what it refuses, and never
     * half a character: it becomes a JSON string in the deploy's problems. */
    const char *cut[][2] = {
        {"@every 1111111111111111111111111111111\xC3\xA9", NULL},
        {"@every 1111111111111111111111111111111\xE2\x82\xAC", NULL},
        {"* * * * * xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\xC3\xA9", NULL},
        {"* * * * *", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\xC3\xA9"},
    };
    for (size_t i = 0; i < sizeof cut / sizeof cut[0]; i++) {
        char err[256] = "";
        tg_cron *c = NULL;
        CHECK_INT_EQ(tg_cron_parse(cut[i][0], cut[i][1], &c, err, sizeof err), -1);
        size_t at = 0, n;
        while (err[at] && (n = tg_utf8_char_len(err + at)) != 0)
            at += n;
        if (err[at]) fprintf(stderr, "cut case %zu: \"%s\" is not UTF-8\n", i, err);
        CHECK(err[at] == '\0');
    }

    /* Over-long expressions are refused before any parsing. */
    char longexpr[400];
    memset(longexpr, '1', sizeof longexpr - 1);
    longexpr[sizeof longexpr - 1] = '\0';
    char err[256] = "";
    tg_cron *c = NULL;
    CHECK_INT_EQ(tg_cron_parse(longexpr, NULL, &c, err, sizeof err), -1);
    CHECK(strstr(err, "longer than") != NULL);
}

static void test_valid_forms(void)
{
    const char *ok[] = {
        "0 0 * * *",       "*/5 * * * *",      "0,15,30,45 * * * *", "0 9-17 * * MON-FRI",
        "0 0 1 JAN-DEC *", "0 0 * * sun,sat",  "0 0 * * 0-7",        " 0  0\t* * * ",
        "59 23 31 12 7",   "30 4 1-7/2 */3 *", "0 0 * * 7/1",        "@Yearly",
        "  @weekly  ",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char err[256] = "";
        tg_cron *c = NULL;
        int rc = tg_cron_parse(ok[i], NULL, &c, err, sizeof err);
        if (rc != 0) fprintf(stderr, "\"%s\": %s\n", ok[i], err);
        CHECK_INT_EQ(rc, 0);
        tg_cron_free(c);
    }
}

/* ---- zones ---------------------------------------------------------- */

static void test_zone_names(void)
{
    CHECK(tg_tz_name_valid("Europe/Paris"));
    CHECK(tg_tz_name_valid("America/Argentina/Buenos_Aires"));
    CHECK(tg_tz_name_valid("Etc/GMT+5"));
    CHECK(tg_tz_name_valid("Etc/GMT-14"));
    CHECK(!tg_tz_name_valid(""));
    CHECK(!tg_tz_name_valid(NULL));
    CHECK(!tg_tz_name_valid(".."));
    CHECK(!tg_tz_name_valid("a/../b"));
    CHECK(!tg_tz_name_valid("/usr/share/zoneinfo/UTC"));
    CHECK(!tg_tz_name_valid("Europe/Paris."));
    CHECK(!tg_tz_name_valid("Europe\\Paris"));
    char longname[300];
    memset(longname, 'A', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    CHECK(!tg_tz_name_valid(longname));
}

static void test_zone_offsets(void)
{
    char err[256] = "";
    tg_tz *tz = NULL;
    CHECK_INT_EQ(tg_tz_load(NULL, &tz, err, sizeof err), 0);
    CHECK_STR_EQ(tg_tz_name(tz), "UTC");
    CHECK_INT_EQ(tg_tz_offset(tz, 1767225600), 0);
    tg_tz_free(tz);

    CHECK_INT_EQ(tg_tz_load("America/New_York", &tz, err, sizeof err), 0);
    CHECK_INT_EQ(tg_tz_offset(tz, 1772953199), -5 * 3600); /* 2026-03-08T06:59:59Z */
    CHECK_INT_EQ(tg_tz_offset(tz, 1772953200), -4 * 3600); /* 2026-03-08T07:00:00Z */
    CHECK_INT_EQ(tg_tz_offset(tz, 1793512799), -4 * 3600); /* 2026-11-01T05:59:59Z */
    CHECK_INT_EQ(tg_tz_offset(tz, 1793512800), -5 * 3600); /* 2026-11-01T06:00:00Z */
    /* Past the last transition (2037): the footer "EST5EDT,M3.2.0,M11.1.0".
     * 2050-03-13T07:00:00Z starts DST, 2050-11-06T06:00:00Z ends it. */
    CHECK_INT_EQ(tg_tz_offset(tz, INT64_C(2530767599)), -5 * 3600);
    CHECK_INT_EQ(tg_tz_offset(tz, INT64_C(2530767600)), -4 * 3600);
    CHECK_INT_EQ(tg_tz_offset(tz, INT64_C(2551327199)), -4 * 3600);
    CHECK_INT_EQ(tg_tz_offset(tz, INT64_C(2551327200)), -5 * 3600);
    /* Before the first transition: type 0, local mean time -4:56:02. */
    CHECK_INT_EQ(tg_tz_offset(tz, INT64_C(-3000000000)), -17762);
    tg_tz_free(tz);

    /* Southern hemisphere past the last transition: DST spans the new year.
     * Sydney 2050: DST ends 2050-04-02T16:00:00Z, starts 2050-10-01T16:00:00Z. */
    CHECK_INT_EQ(tg_tz_load("Australia/Sydney", &tz, err, sizeof err), 0);
    CHECK_INT_EQ(tg_tz_offset(tz, INT64_C(2524608000)), 11 * 3600); /* 2050-01-01 */
    CHECK_INT_EQ(tg_tz_offset(tz, INT64_C(2532527999)), 11 * 3600);
    CHECK_INT_EQ(tg_tz_offset(tz, INT64_C(2532528000)), 10 * 3600);
    CHECK_INT_EQ(tg_tz_offset(tz, INT64_C(2548252799)), 10 * 3600);
    CHECK_INT_EQ(tg_tz_offset(tz, INT64_C(2548252800)), 11 * 3600);
    tg_tz_free(tz);
}

/* A broken zone file is refused, whatever its damage. */
static void test_zone_corrupt(void)
{
    FILE *f = fopen("/usr/share/zoneinfo/Europe/Paris", "rb");
    CHECK(f != NULL);
    if (!f) return;
    static unsigned char buf[8192];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    char err[256];
    tg_tz *tz = NULL;
    CHECK_INT_EQ(tg_tz_load_mem("Europe/Paris", buf, n, &tz, err, sizeof err), 0);
    tg_tz_free(tz);
    int refused = 0;
    for (size_t cut = 0; cut < n; cut++) {
        tz = NULL;
        if (tg_tz_load_mem("x", buf, cut, &tz, err, sizeof err) != 0) refused++;
        tg_tz_free(tz);
    }
    /* Cut anywhere, it is refused, except just before the footer: the
     * footer is optional to this reader. */
    CHECK_INT_EQ(refused, (int)n - 1);
    unsigned char v1[sizeof buf];
    memcpy(v1, buf, n);
    v1[4] = '\0';
    tz = NULL;
    CHECK_INT_EQ(tg_tz_load_mem("x", v1, n, &tz, err, sizeof err), -1);
    CHECK(strstr(err, "version 1") != NULL);
}

int main(void)
{
    test_next();
    test_dst_counts();
    test_every();
    test_invalid();
    test_valid_forms();
    test_zone_names();
    test_zone_offsets();
    test_zone_corrupt();
    return check_report();
}
