/* Time zones for the scheduler: an IANA zone read from the system tz database
 * (/usr/share/zoneinfo/NAME, TZif version 2 or later) by our own reader, so a
 * daemon never touches the process-wide TZ/tzset/localtime state. A loaded
 * zone is immutable and may be shared between threads.
 *
 * Times before the file's first transition use its time type 0; times past
 * its last transition follow the POSIX TZ string in the file's footer (tzdata
 * built with "-b slim" has few transitions and relies on it). Leap-second
 * ("right/") zones are refused. */
#ifndef TG_TRIGGERS_TZ_H
#define TG_TRIGGERS_TZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tg_tz tg_tz;

/* Whether name may be looked up: 1 to 255 characters of [A-Za-z0-9_+-/],
 * not starting or ending with '/', no empty component, no "..". */
bool tg_tz_name_valid(const char *name);

/* Loads zone name (NULL, "" or "UTC": UTC without reading a file) into *out.
 * Returns 0, or -1 with a message in err[errlen]. Returns: new zone. */
int tg_tz_load(const char *name, tg_tz **out, char *err, size_t errlen);

/* Same, reading TZif bytes already in memory (tests, fuzzing). */
int tg_tz_load_mem(const char *name, const unsigned char *data, size_t len, tg_tz **out, char *err,
                   size_t errlen);

void tg_tz_free(tg_tz *tz);

/* The zone's name as given ("UTC" for the default). Borrowed. */
const char *tg_tz_name(const tg_tz *tz);

/* Seconds east of UTC in force at t (seconds since the epoch). */
int32_t tg_tz_offset(const tg_tz *tz, int64_t t);

/* Shared by the triggers module's own files: proleptic Gregorian calendar
 * arithmetic on days since 1970-01-01 (Howard Hinnant's algorithms). */
int64_t tg__days_from_civil(int64_t y, int m, int d);
void tg__civil_from_days(int64_t z, int64_t *y, int *m, int *d);
bool tg__is_leap(int64_t y);
int tg__days_in_month(int64_t y, int m);

#endif
