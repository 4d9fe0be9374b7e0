/* Header values as the RFCs define them, read with bounds on every step:
 * they are the first bytes of a request anyone can send. */
#include "gateway/http/headers.h"

#include <stddef.h>
#include <string.h>
#include <strings.h>

#define WHITESPACE " \t"

bool tg_http_media_type_is(const char *value, const char *type)
{
    if (!value || !type) return false;
    size_t n = strlen(type);
    return strncasecmp(value, type, n) == 0 &&
           (value[n] == '\0' || value[n] == ';' || value[n] == ' ' || value[n] == '\t');
}

/* The q of one media range's parameters (";q=0.5;level=1"), in thousandths;
 * 1000 when absent, -1 when malformed. */
static int quality(const char *params, size_t len)
{
    const char *p = params, *end = params + len;
    while (p < end) {
        while (p < end && (*p == ';' || *p == ' ' || *p == '\t'))
            p++;
        const char *name = p;
        while (p < end && *p != '=' && *p != ';')
            p++;
        size_t nlen = (size_t)(p - name);
        while (nlen && (name[nlen - 1] == ' ' || name[nlen - 1] == '\t'))
            nlen--;
        if (p == end || *p == ';') continue;
        p++; /* '=' */
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        const char *value = p;
        while (p < end && *p != ';')
            p++;
        size_t vlen = (size_t)(p - value);
        while (vlen && (value[vlen - 1] == ' ' || value[vlen - 1] == '\t'))
            vlen--;
        if (nlen != 1 || (name[0] != 'q' && name[0] != 'Q')) continue;
        /* qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ) */
        if (vlen == 0 || vlen > 5 || (value[0] != '0' && value[0] != '1')) return -1;
        if (vlen > 1 && value[1] != '.') return -1;
        int q = (value[0] - '0') * 1000, scale = 100;
        for (size_t i = 2; i < vlen; i++, scale /= 10) {
            if (value[i] < '0' || value[i] > '9') return -1;
            q += (value[i] - '0') * scale;
        }
        return q > 1000 ? -1 : q;
    }
    return 1000;
}

bool tg_http_accepts(const char *accept, const char *type)
{
    if (!accept || !type) return false;
    const char *slash = strchr(type, '/');
    if (!slash) return false;
    size_t tlen = (size_t)(slash - type), full = strlen(type);
    /* Specificity: 3 for the exact type, 2 for its type with any subtype, 1
     * for any type; the first range of the highest specificity decides. */
    int best = 0, best_q = 0;
    for (const char *p = accept; *p;) {
        size_t len = strcspn(p, ",");
        size_t lead = strspn(p, WHITESPACE);
        if (lead > len) lead = len;
        const char *range = p + lead;
        size_t rlen = len - lead;
        size_t mlen = strcspn(range, ";,");
        if (mlen > rlen) mlen = rlen;
        const char *params = range + mlen;
        size_t plen = rlen - mlen;
        while (mlen && (range[mlen - 1] == ' ' || range[mlen - 1] == '\t'))
            mlen--;
        int spec = 0;
        if (mlen == full && strncasecmp(range, type, full) == 0)
            spec = 3;
        else if (mlen == tlen + 2 && strncasecmp(range, type, tlen + 1) == 0 &&
                 range[tlen + 1] == '*')
            spec = 2;
        else if (mlen == 3 && strncmp(range, "*/*", 3) == 0)
            spec = 1;
        int q = spec ? quality(params, plen) : -1;
        if (spec > best && q >= 0) {
            best = spec;
            best_q = q;
        }
        p += len;
        if (*p == ',') p++;
    }
    return best > 0 && best_q > 0;
}

static bool lower_hex(const char *s, size_t n)
{
    return strspn(s, "0123456789abcdef") >= n;
}

static bool all_zero(const char *s, size_t n)
{
    return strspn(s, "0") >= n;
}

const char *tg_http_traceparent_trace_id(const char *header, char out[33])
{
    /* version "-" trace-id "-" parent-id "-" flags: 2 + 1 + 32 + 1 + 16 + 1 + 2 */
    if (!header || strnlen(header, 56) < 55) return NULL;
    if (!lower_hex(header, 2) || strncmp(header, "ff", 2) == 0 || header[2] != '-' ||
        !lower_hex(header + 3, 32) || header[35] != '-' || !lower_hex(header + 36, 16) ||
        header[52] != '-' || !lower_hex(header + 53, 2))
        return NULL;
    /* Version 00 is exactly this long; a later version may append fields. */
    if (strncmp(header, "00", 2) == 0 ? header[55] != '\0'
                                      : header[55] != '\0' && header[55] != '-')
        return NULL;
    if (all_zero(header + 3, 32) || all_zero(header + 36, 16)) return NULL;
    memcpy(out, header + 3, 32);
    out[32] = '\0';
    return out;
}

bool tg_http_traceparent_sampled(const char *header)
{
    char id[33];
    if (!tg_http_traceparent_trace_id(header, id)) return false;
    /* trace-flags is one byte in two lowercase hex digits; sampled is its lowest bit. */
    char low = header[54];
    return ((low >= 'a' ? low - 'a' + 10 : low - '0') & 1) != 0;
}
