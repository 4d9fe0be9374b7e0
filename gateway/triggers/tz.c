/* TZif reader and POSIX TZ rule evaluator (see tz.h). Every length read from
 * the file is checked against the bytes that remain before it is used, so a
 * truncated or hostile file is refused, never read past. */
#include "gateway/triggers/tz.h"

#include "gateway/core/alloc.h"
#include "gateway/core/text.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TZ_DIR       "/usr/share/zoneinfo/"
#define TZ_MAX_FILE  (1024 * 1024)
#define TZ_MAX_NAME  255
#define TZ_MAX_TIMES 100000
#define TZ_MAX_TYPES 256

/* A POSIX TZ rule date: Jn (julian, no Feb 29), n (zero-based, with Feb 29)
 * or Mm.w.d; secs is the local time of day of the change. */
typedef struct {
    char kind; /* 'J', 'D' or 'M' */
    int n, m, w, d;
    int32_t secs;
} tz_rule;

typedef struct {
    bool present;
    int32_t std_off, dst_off; /* seconds east of UTC */
    bool has_dst;
    tz_rule start, end;
} tz_posix;

struct tg_tz {
    char *name;
    size_t ntimes;
    int64_t *times;   /* ascending transition instants */
    uint8_t *idx;     /* type in force from times[i] */
    int32_t *offsets; /* per type */
    size_t ntypes;
    tz_posix footer;
};

/* ---- calendar ------------------------------------------------------- */

int64_t tg__days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void tg__civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

bool tg__is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int tg__days_in_month(int64_t y, int m)
{
    static const int len[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && tg__is_leap(y) ? 29 : len[m - 1];
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* ---- zone names ----------------------------------------------------- */

bool tg_tz_name_valid(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > TZ_MAX_NAME || name[0] == '/' || name[n - 1] == '/') return false;
    if (strstr(name, "..") || strstr(name, "//")) return false;
    for (const char *p = name; *p; p++) {
        char c = *p;
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '+' || c == '-' || c == '/';
        if (!ok) return false;
    }
    return true;
}

/* ---- POSIX TZ footer ------------------------------------------------ */

static bool parse_tz_name(const char **pp)
{
    const char *p = *pp;
    if (*p == '<') {
        const char *e = strchr(p, '>');
        if (!e || e - p < 4) return false;
        *pp = e + 1;
        return true;
    }
    const char *s = p;
    while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))
        p++;
    if (p - s < 3) return false;
    *pp = p;
    return true;
}

static bool parse_num(const char **pp, int max, int *out)
{
    const char *p = *pp;
    int v = 0, n = 0;
    while (*p >= '0' && *p <= '9') {
        v = v * 10 + (*p++ - '0');
        if (++n > 3 || v > max) return false;
    }
    if (n == 0) return false;
    *pp = p;
    *out = v;
    return true;
}

/* [+-]hh[:mm[:ss]], hours up to max_h, into seconds. */
static bool parse_hms(const char **pp, int max_h, int32_t *out)
{
    const char *p = *pp;
    int sign = 1, h, m = 0, s = 0;
    if (*p == '+' || *p == '-') sign = *p++ == '-' ? -1 : 1;
    if (!parse_num(&p, max_h, &h)) return false;
    if (*p == ':') {
        p++;
        if (!parse_num(&p, 59, &m)) return false;
        if (*p == ':') {
            p++;
            if (!parse_num(&p, 59, &s)) return false;
        }
    }
    *pp = p;
    *out = sign * (h * 3600 + m * 60 + s);
    return true;
}

static bool parse_rule(const char **pp, tz_rule *r)
{
    const char *p = *pp;
    memset(r, 0, sizeof *r);
    if (*p == 'J') {
        p++;
        r->kind = 'J';
        if (!parse_num(&p, 365, &r->n) || r->n < 1) return false;
    } else if (*p == 'M') {
        p++;
        r->kind = 'M';
        if (!parse_num(&p, 12, &r->m) || r->m < 1 || *p++ != '.') return false;
        if (!parse_num(&p, 5, &r->w) || r->w < 1 || *p++ != '.') return false;
        if (!parse_num(&p, 6, &r->d)) return false;
    } else {
        r->kind = 'D';
        if (!parse_num(&p, 365, &r->n)) return false;
    }
    r->secs = 7200;
    if (*p == '/') {
        p++;
        if (!parse_hms(&p, 167, &r->secs)) return false;
    }
    *pp = p;
    return true;
}

static bool parse_posix(const char *s, tz_posix *tz)
{
    const char *p = s;
    int32_t off;
    memset(tz, 0, sizeof *tz);
    if (!parse_tz_name(&p) || !parse_hms(&p, 24, &off)) return false;
    tz->std_off = tz->dst_off = -off;
    if (*p) {
        if (!parse_tz_name(&p)) return false;
        tz->has_dst = true;
        tz->dst_off = tz->std_off + 3600;
        if (*p && *p != ',') {
            if (!parse_hms(&p, 24, &off)) return false;
            tz->dst_off = -off;
        }
        if (*p == ',') {
            p++;
            if (!parse_rule(&p, &tz->start) || *p++ != ',' || !parse_rule(&p, &tz->end))
                return false;
        } else {
            const char *us = "M3.2.0,M11.1.0"; /* POSIX leaves it open; US rules as glibc */
            parse_rule(&us, &tz->start);
            us++;
            parse_rule(&us, &tz->end);
        }
    }
    if (*p) return false;
    tz->present = true;
    return true;
}

/* The local (wall, as if UTC) second at which rule r takes effect in year y. */
static int64_t rule_local(const tz_rule *r, int64_t y)
{
    int64_t day;
    if (r->kind == 'J') {
        day = tg__days_from_civil(y, 1, 1) + r->n - 1 + (tg__is_leap(y) && r->n >= 60);
    } else if (r->kind == 'D') {
        day = tg__days_from_civil(y, 1, 1) + r->n;
    } else {
        int64_t first = tg__days_from_civil(y, r->m, 1);
        int dow1 = (int)((first % 7 + 11) % 7); /* 1970-01-01 was a Thursday (4) */
        int mday = 1 + (r->d - dow1 + 7) % 7 + (r->w - 1) * 7;
        while (mday > tg__days_in_month(y, r->m))
            mday -= 7;
        day = first + mday - 1;
    }
    return day * 86400 + r->secs;
}

static int32_t posix_offset(const tz_posix *tz, int64_t t)
{
    if (!tz->has_dst) return tz->std_off;
    int64_t y;
    int m, d;
    tg__civil_from_days(floor_div(t + tz->std_off, 86400), &y, &m, &d);
    int64_t start = rule_local(&tz->start, y) - tz->std_off;
    int64_t end = rule_local(&tz->end, y) - tz->dst_off;
    bool dst = start < end ? (t >= start && t < end) : (t < end || t >= start);
    return dst ? tz->dst_off : tz->std_off;
}

/* ---- TZif ----------------------------------------------------------- */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

typedef struct {
    uint32_t isut, isstd, leap, time, type, chr;
} tzif_counts;

static bool read_header(const unsigned char *p, size_t left, tzif_counts *c, char *version)
{
    if (left < 44 || memcmp(p, "TZif", 4) != 0) return false;
    *version = (char)p[4];
    c->isut = be32(p + 20);
    c->isstd = be32(p + 24);
    c->leap = be32(p + 28);
    c->time = be32(p + 32);
    c->type = be32(p + 36);
    c->chr = be32(p + 40);
    return c->time <= TZ_MAX_TIMES && c->type <= TZ_MAX_TYPES && c->chr <= 65536 &&
           c->leap <= 65536 && c->isut <= TZ_MAX_TYPES && c->isstd <= TZ_MAX_TYPES;
}

static size_t block_len(const tzif_counts *c, size_t tsize)
{
    return c->time * tsize + c->time + c->type * 6 + c->chr + c->leap * (tsize + 4) + c->isstd +
           c->isut;
}

static int fail(char *err, size_t errlen, const char *name, const char *why)
{
    tg_format(err, errlen, "time zone \"%s\": %s", name, why);
    return -1;
}

int tg_tz_load_mem(const char *name, const unsigned char *data, size_t len, tg_tz **out, char *err,
                   size_t errlen)
{
    tzif_counts c;
    char version;
    *out = NULL;
    if (!read_header(data, len, &c, &version)) return fail(err, errlen, name, "not a TZif file");
    if (version < '2') return fail(err, errlen, name, "TZif version 1 is not supported");
    size_t v1 = block_len(&c, 4);
    if (len - 44 < v1) return fail(err, errlen, name, "truncated TZif file");
    const unsigned char *p = data + 44 + v1;
    size_t left = len - 44 - v1;
    if (!read_header(p, left, &c, &version)) return fail(err, errlen, name, "bad TZif v2 header");
    p += 44;
    left -= 44;
    if (left < block_len(&c, 8)) return fail(err, errlen, name, "truncated TZif file");
    if (c.type == 0) return fail(err, errlen, name, "no local time types");
    if (c.leap) return fail(err, errlen, name, "leap-second zones are not supported");

    tg_tz *tz = tg_xcalloc(1, sizeof *tz);
    tz->name = tg_xstrdup(name);
    tz->ntimes = c.time;
    tz->ntypes = c.type;
    tz->times = tg_xcalloc(c.time ? c.time : 1, sizeof *tz->times);
    tz->idx = tg_xcalloc(c.time ? c.time : 1, 1);
    tz->offsets = tg_xcalloc(c.type, sizeof *tz->offsets);
    for (size_t i = 0; i < c.time; i++) {
        tz->times[i] = be64(p + 8 * i);
        if (i && tz->times[i] <= tz->times[i - 1]) {
            tg_tz_free(tz);
            return fail(err, errlen, name, "transitions out of order");
        }
    }
    p += 8 * c.time;
    for (size_t i = 0; i < c.time; i++) {
        tz->idx[i] = p[i];
        if (p[i] >= c.type) {
            tg_tz_free(tz);
            return fail(err, errlen, name, "transition to an unknown type");
        }
    }
    p += c.time;
    for (size_t i = 0; i < c.type; i++) {
        int32_t off = (int32_t)be32(p + 6 * i);
        if (off <= -25 * 3600 || off >= 26 * 3600) {
            tg_tz_free(tz);
            return fail(err, errlen, name, "offset out of range");
        }
        tz->offsets[i] = off;
    }
    size_t used = block_len(&c, 8);
    p = p - 8 * c.time - c.time + used;
    left -= used;

    /* Footer: "\n" POSIX-TZ "\n"; an empty one means none. RFC 8536 requires
     * it from version 2 on; a file cut just before it still reads. */
    if (left > 0) {
        const unsigned char *e = left >= 2 && p[0] == '\n' ? memchr(p + 1, '\n', left - 1) : NULL;
        size_t n = e ? (size_t)(e - p - 1) : 0;
        char buf[128];
        if (!e || n >= sizeof buf) {
            tg_tz_free(tz);
            return fail(err, errlen, name, "bad footer");
        }
        memcpy(buf, p + 1, n);
        buf[n] = '\0';
        if (n > 0 && !parse_posix(buf, &tz->footer)) {
            tg_tz_free(tz);
            return fail(err, errlen, name, "bad POSIX TZ footer");
        }
    }
    *out = tz;
    return 0;
}

int tg_tz_load(const char *name, tg_tz **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!name || !*name || strcmp(name, "UTC") == 0) {
        tg_tz *tz = tg_xcalloc(1, sizeof *tz);
        tz->name = tg_xstrdup("UTC");
        tz->offsets = tg_xcalloc(1, sizeof *tz->offsets);
        tz->ntypes = 1;
        *out = tz;
        return 0;
    }
    if (!tg_tz_name_valid(name)) {
        tg_format(err, errlen, "time zone \"%.*s\": invalid name", tg_utf8_excerpt(name, 64), name);
        return -1;
    }
    char path[sizeof TZ_DIR + TZ_MAX_NAME];
    tg_format(path, sizeof path, "%s%s", TZ_DIR, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC); /* the name was checked: it stays in TZ_DIR */
    if (fd < 0) return fail(err, errlen, name, "unknown time zone");
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > TZ_MAX_FILE) {
        close(fd);
        return fail(err, errlen, name, "unknown time zone");
    }
    size_t len = (size_t)st.st_size, got = 0;
    unsigned char *buf = tg_xmalloc(len ? len : 1);
    while (got < len) {
        ssize_t r = read(fd, buf + got, len - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    int rc = got == len ? tg_tz_load_mem(name, buf, len, out, err, errlen)
                        : fail(err, errlen, name, "cannot read zone file");
    free(buf);
    return rc;
}

void tg_tz_free(tg_tz *tz)
{
    if (!tz) return;
    free(tz->name);
    free(tz->times);
    free(tz->idx);
    free(tz->offsets);
    free(tz);
}

const char *tg_tz_name(const tg_tz *tz)
{
    return tz->name;
}

int32_t tg_tz_offset(const tg_tz *tz, int64_t t)
{
    if (tz->ntimes == 0 || t >= tz->times[tz->ntimes - 1]) {
        if (tz->footer.present) return posix_offset(&tz->footer, t);
        if (tz->ntimes == 0) return tz->offsets[0];
        return tz->offsets[tz->idx[tz->ntimes - 1]];
    }
    if (t < tz->times[0]) return tz->offsets[0];
    size_t lo = 0, hi = tz->ntimes - 1; /* times[lo] <= t < times[hi] */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (tz->times[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return tz->offsets[tz->idx[lo]];
}
