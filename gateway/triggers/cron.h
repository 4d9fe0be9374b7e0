/* Schedule expressions of a worker manifest's triggers.schedule, and when they
 * next fire.
 *
 * Forms:
 *   - 5-field cron "minute hour day-of-month month day-of-week". Each field is
 *     a comma list of items: "*", "n", "a-b", each optionally "/step", and
 *     "a/step" meaning a-max/step. Months may be JAN-DEC, days SUN-SAT (any
 *     case); day-of-week is 0-7, 0 and 7 both Sunday. Ranges must ascend.
 *   - Day rule (Vixie cron): when both day fields are restricted, a day
 *     matches if EITHER matches; when either starts with '*' (a stepped
 *     star included), both must match.
 *   - Aliases @yearly = @annually = "0 0 1 1 *", @monthly = "0 0 1 * *",
 *     @weekly = "0 0 * * 0", @daily = @midnight = "0 0 * * *", @hourly =
 *     "0 * * * *".
 *   - "@every <duration>": h/m/s parts such as 30s, 15m, 1h30m; 1s to 24h.
 *     Runs at every multiple of the interval since the epoch (UTC), so a
 *     restart neither drifts nor bunches; the zone does not matter.
 *
 * Cron fields are matched in the local time of the zone (UTC by default, or
 * an IANA name such as "Europe/Paris"). Across DST changes:
 *   - a local time that does not exist (spring forward) runs once, at the
 *     first instant after the gap (Paris 02:30 on the last Sunday of March
 *     runs at 03:00 CEST); several such times run once together;
 *   - a local time that occurs twice (fall back) runs once, at its first
 *     occurrence.
 * This assumes at most one offset change within a day of any instant, true of
 * every zone since 1900. The zone is read once at parse time; a tzdata update
 * takes effect on the next parse. */
#ifndef TG_TRIGGERS_CRON_H
#define TG_TRIGGERS_CRON_H

#include <stddef.h>
#include <stdint.h>

typedef struct tg_cron tg_cron;

/* Parses expr in zone (NULL: UTC) into *out. Returns 0, or -1 with a message
 * that names the field and the bad token in err[errlen]. Returns: new. */
int tg_cron_parse(const char *expr, const char *zone, tg_cron **out, char *err, size_t errlen);

/* The first run time strictly after after_ms (ms since the epoch), in ms; -1
 * when there is none within 9 years (enough for every Feb 29 — "0 0 30 2 *"
 * never runs) or after year 9999, or when after_ms is before year 1. Cron
 * runs fall on whole local minutes. Thread-safe on a shared tg_cron. */
int64_t tg_cron_next(const tg_cron *c, int64_t after_ms);

/* The interval of an "@every" schedule in ms, 0 for a cron schedule. */
int64_t tg_cron_interval_ms(const tg_cron *c);

void tg_cron_free(tg_cron *c);

#endif
