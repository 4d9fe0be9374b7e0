#include "gateway/core/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t tg_utf8_whole(const char *s, size_t len)
{
    size_t lead = len;
    while (lead > 0 && ((unsigned char)s[lead - 1] & 0xC0) == 0x80)
        lead--;
    if (lead == 0) return len;
    unsigned char b = (unsigned char)s[lead - 1];
    size_t need = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
    return len - (lead - 1) < need ? lead - 1 : len;
}

int tg_utf8_excerpt(const char *s, size_t max)
{
    return (int)tg_utf8_whole(s, strnlen(s, max));
}

size_t tg_utf8_char_len(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    if (p[0] < 0x80) return 1;
    size_t len = p[0] >= 0xC2 && p[0] <= 0xDF   ? 2
                 : p[0] >= 0xE0 && p[0] <= 0xEF ? 3
                 : p[0] >= 0xF0 && p[0] <= 0xF4 ? 4
                                                : 0;
    /* The terminating NUL is no continuation byte: a short string stops here. */
    for (size_t i = 1; i < len; i++)
        if ((p[i] & 0xC0) != 0x80) return 0;
    if ((p[0] == 0xE0 && p[1] < 0xA0) || (p[0] == 0xED && p[1] >= 0xA0) ||
        (p[0] == 0xF0 && p[1] < 0x90) || (p[0] == 0xF4 && p[1] >= 0x90))
        return 0;
    return len;
}

void tg_vformat(char *buf, size_t size, const char *fmt, va_list ap)
{
    if (size == 0) return;
    int n = vsnprintf(buf, size, fmt, ap);
    if (n >= 0 && (size_t)n >= size) buf[tg_utf8_whole(buf, size - 1)] = '\0';
}

void tg_format(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tg_vformat(buf, size, fmt, ap);
    va_end(ap);
}

static bool digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil), so no time zone or locale is involved. */
static int64_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool parse_rfc3339(const char *s, int64_t *ms)
{
    int y, mo, d, h = 0, mi = 0, sec = 0, frac = 0, off = 0;
    size_t n = strlen(s);
    if (n < 10 || s[4] != '-' || s[7] != '-' || !digits(s, 4, &y) || !digits(s + 5, 2, &mo) ||
        !digits(s + 8, 2, &d) || mo < 1 || mo > 12 || d < 1)
        return false;
    static const int month_days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > month_days[mo - 1] + (mo == 2 && leap)) return false;
    const char *p = s + 10;
    if (*p) {
        if ((*p != 'T' && *p != 't' && *p != ' ') || strlen(p) < 9 || p[3] != ':' || p[6] != ':' ||
            !digits(p + 1, 2, &h) || !digits(p + 4, 2, &mi) || !digits(p + 7, 2, &sec) || h > 23 ||
            mi > 59 || sec > 60)
            return false;
        p += 9;
        if (*p == '.') {
            int scale = 100;
            for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
                frac += (*p - '0') * scale;
            if (scale == 100) return false;
        }
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int oh, om;
            if (strlen(p) != 6 || p[3] != ':' || !digits(p + 1, 2, &oh) || !digits(p + 4, 2, &om) ||
                oh > 23 || om > 59)
                return false;
            off = (*p == '-' ? -1 : 1) * (oh * 60 + om);
            p += 6;
        } else {
            return false;
        }
        if (*p) return false;
    }
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off * 60;
    *ms = secs * 1000 + frac;
    return true;
}

bool tg_parse_time_ms(const char *s, int64_t now_ms, int64_t *ms)
{
    if (!s || !*s) return false;
    size_t n = strlen(s);
    size_t nd = strspn(s, "0123456789");
    if (nd == n) {
        if (n > 15) return false; /* beyond year 33658: a typo, not a time */
        *ms = strtoll(s, NULL, 10);
        return true;
    }
    if (nd > 0 && nd <= 9 && nd + 1 == n && strchr("smhd", s[n - 1])) {
        static const int64_t unit_ms[] = {
            ['s'] = 1000, ['m'] = 60000, ['h'] = 3600000, ['d'] = 86400000};
        *ms = now_ms - strtoll(s, NULL, 10) * unit_ms[(unsigned char)s[n - 1]];
        return true;
    }
    return parse_rfc3339(s, ms);
}
