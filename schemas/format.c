/* The format vocabulary of JSON Schema 2020-12: one strict checker per
 * format, each following the grammar of the RFC that defines the format
 * (RFC 3339 dates, times and durations; RFC 5321/6531 mailboxes; RFC 1123
 * and IDNA2008 host names; RFC 4291 IPv6; RFC 3986/3987 URIs and IRIs;
 * RFC 4122 UUIDs; RFC 6570 URI templates; RFC 6901 JSON Pointers; the
 * relative JSON Pointer draft; ECMA-262 regexes).
 *
 * IDNA2008 (RFC 5890-5893) comes from libidn2's registration protocol
 * (idn2_register_u8: NFC, DISALLOWED code points, CONTEXTJ and CONTEXTO
 * rules, hyphen rules); the Bidi rule across all labels of a domain name is
 * checked here with PCRE2's Bidi_Class property, since libidn2 only looks
 * inside one label.
 *
 * Invariant: a checker reads exactly len bytes (never a terminator), keeps
 * no state between calls and is safe to call from any thread; input that is
 * not well-formed UTF-8 is never valid. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "schemas/format.h"

#include "schemas/regex.h"

#include <idn2.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- characters ------------------------------------------------------- */

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_hex(unsigned char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static unsigned char to_lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

static unsigned char to_upper(unsigned char c)
{
    return c >= 'a' && c <= 'z' ? (unsigned char)(c - 32) : c;
}

/* c is one of the characters of set (never true for NUL). */
static bool in_set(unsigned char c, const char *set)
{
    return c && strchr(set, c) != NULL;
}

/* Decodes one well-formed UTF-8 sequence; returns its length, or 0 for an
 * ill-formed one (overlong, surrogate, above U+10FFFF, truncated). */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    if (n == 0) return 0;
    unsigned char c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len;
    uint32_t v, min;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        v = c & 0x1Fu;
        min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        v = c & 0x0Fu;
        min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        v = c & 0x07u;
        min = 0x10000;
    } else {
        return 0;
    }
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3Fu);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return len;
}

static bool utf8_valid(const unsigned char *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = utf8_decode(s + i, len - i, &cp);
        if (!n) return false;
        i += n;
    }
    return true;
}

/* RFC 3987 ucschar and iprivate. */
static bool is_ucschar(uint32_t c)
{
    if ((c >= 0xA0 && c <= 0xD7FF) || (c >= 0xF900 && c <= 0xFDCF) || (c >= 0xFDF0 && c <= 0xFFEF))
        return true;
    /* %x10000-1FFFD / %x20000-2FFFD / ... / %xE1000-EFFFD: every plane from 1
     * to 14 except its last two code points, and the start of plane 14. */
    if (c >= 0x10000 && c <= 0xEFFFD && (c & 0xFFFF) <= 0xFFFD) return c < 0xE0000 || c >= 0xE1000;
    return false;
}

static bool is_iprivate(uint32_t c)
{
    return (c >= 0xE000 && c <= 0xF8FF) || (c >= 0xF0000 && c <= 0xFFFFD) ||
           (c >= 0x100000 && c <= 0x10FFFD);
}

/* Exactly n ASCII digits at s, as a number. */
static bool digits_n(const char *s, size_t n, int *v)
{
    int x = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit((unsigned char)s[i])) return false;
        x = x * 10 + (s[i] - '0');
    }
    *v = x;
    return true;
}

/* ---- RFC 3339 dates, times, durations --------------------------------- */

static bool is_leap_year(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap_year(y) ? 29 : days[m - 1];
}

/* full-date = date-fullyear "-" date-month "-" date-mday */
static bool full_date(const char *s, size_t len)
{
    int y, m, d;
    if (len != 10 || s[4] != '-' || s[7] != '-') return false;
    if (!digits_n(s, 4, &y) || !digits_n(s + 5, 2, &m) || !digits_n(s + 8, 2, &d)) return false;
    return m >= 1 && m <= 12 && d >= 1 && d <= days_in_month(y, m);
}

/* full-time = partial-time time-offset. A leap second (:60) is valid only
 * where the time, moved to UTC by its offset, is 23:59. */
static bool full_time(const char *s, size_t len)
{
    int h, m, sec;
    if (len < 9 || s[2] != ':' || s[5] != ':') return false;
    if (!digits_n(s, 2, &h) || !digits_n(s + 3, 2, &m) || !digits_n(s + 6, 2, &sec)) return false;
    if (h > 23 || m > 59 || sec > 60) return false;
    size_t i = 8;
    if (s[i] == '.') {
        size_t start = ++i;
        while (i < len && is_digit((unsigned char)s[i]))
            i++;
        if (i == start) return false;
    }
    if (i >= len) return false;
    int off = 0;
    if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == len) {
        off = 0;
    } else if ((s[i] == '+' || s[i] == '-') && len - i == 6 && s[i + 3] == ':') {
        int oh, om;
        if (!digits_n(s + i + 1, 2, &oh) || !digits_n(s + i + 4, 2, &om) || oh > 23 || om > 59)
            return false;
        off = (s[i] == '+' ? 1 : -1) * (oh * 60 + om);
    } else {
        return false;
    }
    if (sec == 60) {
        int utc = ((h * 60 + m - off) % 1440 + 1440) % 1440;
        if (utc != 23 * 60 + 59) return false;
    }
    return true;
}

static bool fmt_date(const char *s, size_t len)
{
    return full_date(s, len);
}

static bool fmt_time(const char *s, size_t len)
{
    return full_time(s, len);
}

static bool fmt_date_time(const char *s, size_t len)
{
    return len > 11 && (s[10] == 'T' || s[10] == 't') && full_date(s, 10) &&
           full_time(s + 11, len - 11);
}

/* RFC 3339 appendix A. Units must run in order without gaps (Y M D, then
 * after "T" H M S), so "P1Y2D" and "PT1H2S" are out; weeks stand alone.
 * ABNF literals are case-insensitive (RFC 5234), hence the folding. */
static bool fmt_duration(const char *s, size_t len)
{
    if (len < 2 || (s[0] != 'P' && s[0] != 'p')) return false;
    size_t i = 1;
    char date[4] = "", time[4] = "";
    size_t nd = 0, nt = 0;
    bool in_time = false, week = false;
    while (i < len) {
        if (to_upper((unsigned char)s[i]) == 'T') {
            if (in_time || week) return false;
            in_time = true;
            i++;
            continue;
        }
        size_t start = i;
        while (i < len && is_digit((unsigned char)s[i]))
            i++;
        if (i == start || i == len) return false;
        unsigned char u = to_upper((unsigned char)s[i++]);
        if (u == 'W' && !in_time) {
            if (week || nd) return false;
            week = true;
        } else if (in_time && in_set(u, "HMS") && nt < 3) {
            time[nt++] = (char)u;
        } else if (!in_time && !week && in_set(u, "YMD") && nd < 3) {
            date[nd++] = (char)u;
        } else {
            return false;
        }
    }
    if (week) return !in_time && !nd;
    if (in_time && !nt) return false;
    if (!nd && !nt) return false;
    return (!nd || strstr("YMD", date)) && (!nt || strstr("HMS", time));
}

/* ---- IP addresses ----------------------------------------------------- */

/* dotted-quad, decimal, no leading zeros */
static bool ipv4(const char *s, size_t len)
{
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        if (part) {
            if (i >= len || s[i] != '.') return false;
            i++;
        }
        size_t start = i;
        int v = 0;
        while (i < len && is_digit((unsigned char)s[i]) && i - start < 3)
            v = v * 10 + (s[i++] - '0');
        size_t n = i - start;
        if (n == 0 || v > 255 || (n > 1 && s[start] == '0')) return false;
    }
    return i == len;
}

/* RFC 4291 section 2.2 text forms: eight groups, one "::", an optional
 * dotted-quad tail; no zone, prefix or brackets. */
static bool ipv6(const char *s, size_t len)
{
    size_t i = 0, groups = 0;
    bool gap = false;
    if (len < 2) return false;
    if (s[0] == ':') {
        if (s[1] != ':') return false;
        gap = true;
        i = 2;
    }
    while (i < len) {
        size_t end = i;
        bool dot = false;
        while (end < len && s[end] != ':') {
            if (s[end] == '.') dot = true;
            end++;
        }
        if (dot) {
            if (end != len || !ipv4(s + i, len - i)) return false;
            groups += 2;
            i = len;
            break;
        }
        size_t n = end - i;
        if (n == 0 || n > 4) return false;
        for (size_t k = i; k < end; k++)
            if (!is_hex((unsigned char)s[k])) return false;
        groups++;
        i = end;
        if (i == len) break;
        i++; /* ':' */
        if (i < len && s[i] == ':') {
            if (gap) return false;
            gap = true;
            i++;
        } else if (i == len) {
            return false;
        }
    }
    return gap ? groups <= 7 : groups == 8;
}

static bool fmt_ipv4(const char *s, size_t len)
{
    return ipv4(s, len);
}

static bool fmt_ipv6(const char *s, size_t len)
{
    return ipv6(s, len);
}

/* ---- host names ------------------------------------------------------- */

/* PCRE2 patterns over Bidi_Class (RFC 5893): whether a label makes the name
 * a Bidi domain name, and the six rules a label of such a name must pass. */
#define BC(x) "\\p{bc=" x "}"
static const char bidi_rtl_pattern[] = "[" BC("R") BC("AL") BC("AN") "]";
static const char bidi_rule_pattern[] =
    "(?s)\\A(?:"
    /* rules 5 and 6: an LTR label */
    "(?=" BC("L") ")[" BC("L") BC("EN") BC("ES") BC("CS") BC("ET") BC("ON") BC("BN")
        BC("NSM") "]*"
                  "(?<=[" BC("L") BC("EN") "])" BC(
                      "NSM") "*"
                             "|"
                             /* rules 1 to 4: an RTL label, EN and AN not both present */
                             "(?=[" BC("R")
                                 BC("AL") "])"
                                          "(?!.*" BC("EN") ".*" BC("AN") ")(?!.*" BC("AN") ".*" BC(
                                              "EN") ")"
                                                    "[" BC("R") BC("AL") BC("AN") BC("EN") BC("ES")
                                                        BC("CS") BC("ET") BC("ON") BC("BN")
                                                            BC("NSM") "]*"
                                                                      "(?<=[" BC("R") BC("AL")
                                                                          BC("EN") BC("AN") "])" BC(
                                                                              "NSM") "*"
                                                                                     ")\\z";

static pcre2_code *bidi_rtl, *bidi_rule;
static pthread_once_t bidi_once = PTHREAD_ONCE_INIT;

static void bidi_init(void)
{
    int ec;
    PCRE2_SIZE eo;
    bidi_rtl = pcre2_compile((PCRE2_SPTR)bidi_rtl_pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &ec,
                             &eo, NULL);
    bidi_rule = pcre2_compile((PCRE2_SPTR)bidi_rule_pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &ec,
                              &eo, NULL);
}

/* 1 match, 0 no match, -1 could not tell (treated as invalid by callers). */
static int pcre_test(const pcre2_code *re, const char *s, size_t len)
{
    if (!re) return -1;
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    if (!md) return -1;
    int rc = pcre2_match(re, (PCRE2_SPTR)s, len, 0, 0, md, NULL);
    pcre2_match_data_free(md);
    return rc >= 0 ? 1 : rc == PCRE2_ERROR_NOMATCH ? 0 : -1;
}

enum {
    HOST_MAX = 253,   /* RFC 1123 / RFC 1035, without the root's length octet */
    LABEL_MAX = 63,   /* octets of a label, in A-label form for IDNs */
    ULABEL_MAX = 252, /* bytes of a U-label: a longer one cannot fit 63 octets */
};

/* Returns the length of the label separator at s (".", or for IDNs also
 * U+3002, U+FF0E, U+FF61 as RFC 3490 section 3.1 lists them), else 0. */
static size_t separator(const unsigned char *s, size_t n, bool idn)
{
    if (n >= 1 && s[0] == '.') return 1;
    if (!idn || n < 3) return 0;
    if (s[0] == 0xE3 && s[1] == 0x80 && s[2] == 0x82) /* U+3002 */
        return 3;
    if (s[0] == 0xEF && s[1] == 0xBC && s[2] == 0x8E) /* U+FF0E */
        return 3;
    if (s[0] == 0xEF && s[1] == 0xBD && s[2] == 0xA1) /* U+FF61 */
        return 3;
    return 0;
}

/* An "xn--" label: valid punycode of a valid U-label that encodes back to
 * itself (so no ASCII-only or non-canonical encodings). DNS compares labels
 * case-insensitively, so the check runs on the lower-cased label. Returns
 * the decoded U-label (free with idn2_free) or NULL. */
static char *a_label(const char *s, size_t len)
{
    char lower[LABEL_MAX + 1];
    if (len > LABEL_MAX) return NULL;
    for (size_t i = 0; i < len; i++)
        lower[i] = (char)to_lower((unsigned char)s[i]);
    lower[len] = '\0';
    uint8_t *again = NULL;
    char *u = NULL;
    bool ok = idn2_register_u8(NULL, (const uint8_t *)lower, &again, 0) == IDN2_OK && again &&
              strcmp((const char *)again, lower) == 0 &&
              idn2_to_unicode_8z8z(lower, &u, 0) == IDN2_OK && u;
    idn2_free(again);
    bool non_ascii = false;
    for (size_t i = 0; ok && u[i]; i++)
        if ((unsigned char)u[i] >= 0x80) non_ascii = true;
    if (!ok || !non_ascii) {
        idn2_free(u);
        return NULL;
    }
    return u;
}

/* An LDH label (RFC 1123). Labels with "--" in positions 3 and 4 are
 * reserved (RFC 5890): only A-labels ("xn--") may have it, and *is_a is set
 * for those. */
static bool ldh_label(const char *s, size_t len, bool *is_a)
{
    *is_a = false;
    if (len == 0 || len > LABEL_MAX || s[0] == '-' || s[len - 1] == '-') return false;
    for (size_t i = 0; i < len; i++)
        if (!is_alpha((unsigned char)s[i]) && !is_digit((unsigned char)s[i]) && s[i] != '-')
            return false;
    if (len >= 4 && s[2] == '-' && s[3] == '-') {
        if (to_lower((unsigned char)s[0]) != 'x' || to_lower((unsigned char)s[1]) != 'n')
            return false;
        *is_a = true;
    }
    return true;
}

/* A U-label through IDNA2008 registration; returns its A-label length, or 0
 * if it is not a valid U-label. */
static size_t u_label(const char *s, size_t len, bool nfc)
{
    char z[ULABEL_MAX + 1];
    if (len > ULABEL_MAX) return 0;
    memcpy(z, s, len);
    z[len] = '\0';
    uint8_t *a = NULL;
    size_t alen = 0;
    if (idn2_register_u8((const uint8_t *)z, NULL, &a, nfc ? IDN2_NFC_INPUT : 0) == IDN2_OK && a)
        alen = strlen((const char *)a);
    idn2_free(a);
    return alen <= LABEL_MAX ? alen : 0;
}

/* The label [s, s+len) in Unicode form for the Bidi checks: A-labels are
 * decoded (into *owned, to be freed with idn2_free). */
static const char *label_unicode(const char *s, size_t len, size_t *ulen, char **owned)
{
    bool is_a = false;
    *owned = NULL;
    if (ldh_label(s, len, &is_a) && is_a && (*owned = a_label(s, len)) != NULL) {
        *ulen = strlen(*owned);
        return *owned;
    }
    *ulen = len;
    return s;
}

/* Splits [s, s+len) at the next separator: returns the label length and
 * sets *sep to the separator's length (0 at the end). */
static size_t next_label(const unsigned char *s, size_t len, bool idn, size_t *sep)
{
    size_t i = 0;
    *sep = 0;
    while (i < len && !(*sep = separator(s + i, len - i, idn)))
        i++;
    return i;
}

/* A host name: labels of 1 to 63 octets, 253 in all; for IDNs the lengths
 * are those of the A-label forms. nfc: normalize U-labels first (mail
 * domains, where RFC 6531 does not ask for NFC input). */
static bool host_name(const char *str, size_t len, bool idn, bool nfc)
{
    const unsigned char *s = (const unsigned char *)str;
    if (len == 0 || (idn && !utf8_valid(s, len))) return false;
    pthread_once(&bidi_once, bidi_init);
    size_t total = 0, i = 0;
    bool bidi = false;
    for (;;) {
        size_t sep, n = next_label(s + i, len - i, idn, &sep);
        const char *label = str + i;
        bool ascii = true, is_a;
        for (size_t k = 0; k < n; k++)
            if (s[i + k] >= 0x80) ascii = false;
        if (n == 0) return false;
        if (ascii) {
            if (!ldh_label(label, n, &is_a)) return false;
            if (is_a) {
                char *u = a_label(label, n);
                if (!u) return false;
                bidi = bidi || pcre_test(bidi_rtl, u, strlen(u)) != 0;
                idn2_free(u);
            }
            total += n;
        } else {
            size_t alen = idn ? u_label(label, n, nfc) : 0;
            if (!alen) return false;
            bidi = bidi || pcre_test(bidi_rtl, label, n) != 0;
            total += alen;
        }
        i += n;
        if (total > HOST_MAX) return false;
        if (!sep) break;
        i += sep;
        total++;
        if (i == len) return false; /* a trailing separator leaves an empty last label */
    }
    if (!bidi) return true;
    /* RFC 5893: in a name with a right-to-left label, every label, ASCII
     * ones included, must satisfy the Bidi rule. */
    for (i = 0;;) {
        size_t sep, n = next_label(s + i, len - i, idn, &sep), ulen;
        char *owned;
        const char *u = label_unicode(str + i, n, &ulen, &owned);
        int ok = pcre_test(bidi_rule, u, ulen);
        idn2_free(owned);
        if (ok != 1) return false;
        if (!sep) return true;
        i += n + sep;
    }
}

static bool fmt_hostname(const char *s, size_t len)
{
    return host_name(s, len, false, false);
}

static bool fmt_idn_hostname(const char *s, size_t len)
{
    return host_name(s, len, true, false);
}

/* ---- e-mail addresses ------------------------------------------------- */

enum { LOCAL_MAX = 64 };

static bool is_atext(unsigned char c)
{
    return is_alpha(c) || is_digit(c) || in_set(c, "!#$%&'*+-/=?^_`{|}~");
}

/* RFC 5321 Mailbox; intl adds RFC 6531's UTF8-non-ascii to atext and
 * qtextSMTP and allows U-labels in the domain. */
static bool mailbox(const char *str, size_t len, bool intl)
{
    const unsigned char *s = (const unsigned char *)str;
    if (!utf8_valid(s, len)) return false;
    size_t i = 0;
    if (len && s[0] == '"') {
        /* Quoted-string = DQUOTE *QcontentSMTP DQUOTE */
        for (i = 1;; i++) {
            if (i >= len) return false;
            if (s[i] == '"') break;
            if (s[i] == '\\') {
                if (++i >= len || s[i] < 32 || s[i] > 126) return false;
            } else if (s[i] >= 0x80) {
                if (!intl) return false;
            } else if (s[i] < 32 || s[i] == 127) {
                return false;
            }
        }
        i++;
    } else {
        /* Dot-string = Atom *("." Atom) */
        bool atom_empty = true;
        for (; i < len && s[i] != '@'; i++) {
            if (s[i] == '.') {
                if (atom_empty) return false;
                atom_empty = true;
            } else if (is_atext(s[i]) || (intl && s[i] >= 0x80)) {
                atom_empty = false;
            } else {
                return false;
            }
        }
        if (atom_empty) return false;
    }
    if (i > LOCAL_MAX || i >= len || s[i] != '@') return false;
    const char *d = str + i + 1;
    size_t dlen = len - i - 1;
    if (dlen >= 2 && d[0] == '[' && d[dlen - 1] == ']') {
        /* address-literal: IPv4, or "IPv6:" and an IPv6 address; a
         * General-address-literal needs a registered tag, and IPv6 is the
         * only one there is. */
        const char *a = d + 1;
        size_t alen = dlen - 2;
        if (alen > 5 && strncasecmp(a, "IPv6:", 5) == 0) return ipv6(a + 5, alen - 5);
        return ipv4(a, alen);
    }
    return intl ? host_name(d, dlen, true, true) : host_name(d, dlen, false, false);
}

static bool fmt_email(const char *s, size_t len)
{
    return mailbox(s, len, false);
}

static bool fmt_idn_email(const char *s, size_t len)
{
    return mailbox(s, len, true);
}

/* ---- URIs and IRIs ---------------------------------------------------- */

typedef struct {
    const unsigned char *s;
    size_t len, pos;
    bool iri;
} uri_parser;

enum {
    U_UNRESERVED = 1, /* ALPHA DIGIT - . _ ~ */
    U_SUBDELIM = 2,   /* ! $ & ' ( ) * + , ; = */
    U_COLON = 4,
    U_AT = 8,
    U_SLASH = 16,
    U_QUESTION = 32,
    U_PRIVATE = 64, /* IRI iprivate (query only) */
    U_PCHAR = U_UNRESERVED | U_SUBDELIM | U_COLON | U_AT,
};

/* Reads one character of the class at pos (a pct-encoded triplet counts as
 * one); false, pos unchanged, if the next character is not in it. */
static bool uri_take(uri_parser *p, unsigned cls)
{
    if (p->pos >= p->len) return false;
    unsigned char c = p->s[p->pos];
    if (c == '%') {
        if (p->pos + 2 < p->len && is_hex(p->s[p->pos + 1]) && is_hex(p->s[p->pos + 2])) {
            p->pos += 3;
            return true;
        }
        return false;
    }
    if (c >= 0x80) {
        uint32_t cp;
        size_t n = utf8_decode(p->s + p->pos, p->len - p->pos, &cp);
        if (!n || !p->iri) return false;
        if ((cls & U_UNRESERVED) && is_ucschar(cp)) {
            p->pos += n;
            return true;
        }
        if ((cls & U_PRIVATE) && is_iprivate(cp)) {
            p->pos += n;
            return true;
        }
        return false;
    }
    bool ok = ((cls & U_UNRESERVED) && (is_alpha(c) || is_digit(c) || in_set(c, "-._~"))) ||
              ((cls & U_SUBDELIM) && in_set(c, "!$&'()*+,;=")) || ((cls & U_COLON) && c == ':') ||
              ((cls & U_AT) && c == '@') || ((cls & U_SLASH) && c == '/') ||
              ((cls & U_QUESTION) && c == '?');
    if (ok) p->pos++;
    return ok;
}

static void uri_take_all(uri_parser *p, unsigned cls)
{
    while (uri_take(p, cls)) {
    }
}

/* authority = [ userinfo "@" ] host [ ":" port ], ending at / ? # or end. */
static bool uri_authority(uri_parser *p)
{
    size_t end = p->pos;
    while (end < p->len && p->s[end] != '/' && p->s[end] != '?' && p->s[end] != '#')
        end++;
    const unsigned char *at = memchr(p->s + p->pos, '@', end - p->pos);
    uri_parser sub = {p->s, end, p->pos, p->iri};
    if (at) {
        uri_take_all(&sub, U_UNRESERVED | U_SUBDELIM | U_COLON);
        if (sub.s + sub.pos != at) return false;
        sub.pos++;
    }
    if (sub.pos < end && sub.s[sub.pos] == '[') {
        const unsigned char *close = memchr(sub.s + sub.pos, ']', end - sub.pos);
        if (!close) return false;
        const char *lit = (const char *)sub.s + sub.pos + 1;
        size_t litlen = (size_t)(close - sub.s) - sub.pos - 1;
        if (litlen >= 1 && (lit[0] == 'v' || lit[0] == 'V')) {
            /* IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" ) */
            uri_parser f = {(const unsigned char *)lit, litlen, 1, false};
            size_t h = 1;
            while (h < litlen && is_hex((unsigned char)lit[h]))
                h++;
            if (h == 1 || h >= litlen || lit[h] != '.') return false;
            f.pos = h + 1;
            uri_take_all(&f, U_UNRESERVED | U_SUBDELIM | U_COLON);
            if (f.pos == h + 1 || f.pos != litlen) return false;
        } else if (!ipv6(lit, litlen)) {
            return false;
        }
        sub.pos = (size_t)(close - sub.s) + 1;
    } else {
        /* reg-name, of which IPv4address is a special case */
        uri_take_all(&sub, U_UNRESERVED | U_SUBDELIM);
    }
    if (sub.pos < end && sub.s[sub.pos] == ':') {
        sub.pos++;
        while (sub.pos < end && is_digit(sub.s[sub.pos]))
            sub.pos++;
    }
    if (sub.pos != end) return false;
    p->pos = end;
    return true;
}

/* URI / IRI (RFC 3986 section 3, RFC 3987 section 2.2); with ref, also
 * relative references (section 4.1). */
static bool uri(const char *str, size_t len, bool iri, bool ref)
{
    uri_parser p = {(const unsigned char *)str, len, 0, iri};
    if (iri ? !utf8_valid(p.s, len) : false) return false;
    /* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":" */
    size_t i = 0;
    bool scheme = false;
    if (len && is_alpha(p.s[0])) {
        i = 1;
        while (i < len && (is_alpha(p.s[i]) || is_digit(p.s[i]) || in_set(p.s[i], "+-.")))
            i++;
        scheme = i < len && p.s[i] == ':';
    }
    if (scheme)
        p.pos = i + 1;
    else if (!ref)
        return false;
    if (p.pos + 1 < len && p.s[p.pos] == '/' && p.s[p.pos + 1] == '/') {
        p.pos += 2;
        if (!uri_authority(&p)) return false;
    } else if (!scheme) {
        /* path-noscheme: no ":" in the first segment (it would read as a
         * scheme) */
        for (size_t k = p.pos; k < len && p.s[k] != '/' && p.s[k] != '?' && p.s[k] != '#'; k++)
            if (p.s[k] == ':') return false;
    }
    uri_take_all(&p, U_PCHAR | U_SLASH);
    if (p.pos < len && p.s[p.pos] == '?') {
        p.pos++;
        uri_take_all(&p, U_PCHAR | U_SLASH | U_QUESTION | U_PRIVATE);
    }
    if (p.pos < len && p.s[p.pos] == '#') {
        p.pos++;
        uri_take_all(&p, U_PCHAR | U_SLASH | U_QUESTION);
    }
    return p.pos == len;
}

static bool fmt_uri(const char *s, size_t len)
{
    return uri(s, len, false, false);
}

static bool fmt_uri_reference(const char *s, size_t len)
{
    return uri(s, len, false, true);
}

static bool fmt_iri(const char *s, size_t len)
{
    return uri(s, len, true, false);
}

static bool fmt_iri_reference(const char *s, size_t len)
{
    return uri(s, len, true, true);
}

/* ---- the rest ----------------------------------------------------------- */

/* RFC 4122 section 3: 8-4-4-4-12 hex digits, any version and variant. */
static bool fmt_uuid(const char *s, size_t len)
{
    if (len != 36) return false;
    for (size_t i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !is_hex((unsigned char)s[i])) return false;
    }
    return true;
}

static bool pct_at(const unsigned char *s, size_t len, size_t i)
{
    return i + 2 < len && s[i] == '%' && is_hex(s[i + 1]) && is_hex(s[i + 2]);
}

/* RFC 6570 section 2. The apostrophe is accepted in literals: it is a
 * sub-delim in RFC 3986 and the ABNF's omission of it is a known erratum. */
static bool fmt_uri_template(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c == '{') {
            i++;
            if (i < len && in_set(s[i], "+#./;?&=,!@|")) i++;
            for (;;) {
                /* varname = varchar *( ["."] varchar ) */
                bool need = true;
                for (;;) {
                    if (i < len && (is_alpha(s[i]) || is_digit(s[i]) || s[i] == '_')) {
                        i++;
                    } else if (pct_at(s, len, i)) {
                        i += 3;
                    } else if (!need && i < len && s[i] == '.') {
                        i++;
                        need = true;
                        continue;
                    } else {
                        break;
                    }
                    need = false;
                }
                if (need) return false;
                if (i < len && s[i] == ':') {
                    /* prefix max-length: 1 to 9999, no leading zero */
                    size_t start = ++i;
                    while (i < len && is_digit(s[i]))
                        i++;
                    if (i == start || i - start > 4 || s[start] == '0') return false;
                } else if (i < len && s[i] == '*') {
                    i++;
                }
                if (i < len && s[i] == ',') {
                    i++;
                    continue;
                }
                if (i < len && s[i] == '}') {
                    i++;
                    break;
                }
                return false;
            }
        } else if (c == '%') {
            if (!pct_at(s, len, i)) return false;
            i += 3;
        } else if (c >= 0x80) {
            uint32_t cp;
            size_t n = utf8_decode(s + i, len - i, &cp);
            if (!n || !(is_ucschar(cp) || is_iprivate(cp))) return false;
            i += n;
        } else {
            bool ok = c == 0x21 || (c >= 0x23 && c <= 0x24) || (c >= 0x26 && c <= 0x3B) ||
                      c == 0x3D || (c >= 0x3F && c <= 0x5B) || c == 0x5D || c == 0x5F ||
                      (c >= 0x61 && c <= 0x7A) || c == 0x7E;
            if (!ok) return false;
            i++;
        }
    }
    return true;
}

/* RFC 6901: "" or ("/" reference-token)*, "~" only as "~0" or "~1". */
static bool json_pointer(const unsigned char *s, size_t len)
{
    if (len && s[0] != '/') return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] == '~' && (i + 1 >= len || (s[i + 1] != '0' && s[i + 1] != '1'))) return false;
    return utf8_valid(s, len);
}

static bool fmt_json_pointer(const char *s, size_t len)
{
    return json_pointer((const unsigned char *)s, len);
}

/* draft-handrews-relative-json-pointer: a non-negative integer without
 * leading zeros, then "#" or a JSON Pointer. */
static bool fmt_relative_json_pointer(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len && is_digit(s[i]))
        i++;
    if (i == 0 || (s[0] == '0' && i > 1)) return false;
    if (i + 1 == len && s[i] == '#') return true;
    return json_pointer(s + i, len - i);
}

static bool fmt_regex(const char *s, size_t len)
{
    return tg_regex_is_valid(s, len);
}

static const struct {
    const char *name;
    tg_format_fn fn;
} formats[] = {
    {"date", fmt_date},
    {"time", fmt_time},
    {"date-time", fmt_date_time},
    {"duration", fmt_duration},
    {"email", fmt_email},
    {"idn-email", fmt_idn_email},
    {"hostname", fmt_hostname},
    {"idn-hostname", fmt_idn_hostname},
    {"ipv4", fmt_ipv4},
    {"ipv6", fmt_ipv6},
    {"uri", fmt_uri},
    {"uri-reference", fmt_uri_reference},
    {"iri", fmt_iri},
    {"iri-reference", fmt_iri_reference},
    {"uuid", fmt_uuid},
    {"uri-template", fmt_uri_template},
    {"json-pointer", fmt_json_pointer},
    {"relative-json-pointer", fmt_relative_json_pointer},
    {"regex", fmt_regex},
};

tg_format_fn tg_format_lookup(const char *name)
{
    if (!name) return NULL;
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++)
        if (strcmp(formats[i].name, name) == 0) return formats[i].fn;
    return NULL;
}
