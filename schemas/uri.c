/* RFC 3986 reference resolution. Components are kept as (pointer, length)
 * slices of the inputs, and "defined but empty" (e.g. "http://h?" has an empty
 * query) is distinguished from "absent", as section 5.3 requires when the
 * result is recomposed. */
#include "schemas/uri.h"

#include "gateway/core/alloc.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

typedef struct slice {
    const char *p;
    size_t n;
    bool defined;
} slice;

typedef struct uri_parts {
    slice scheme, authority, path, query, fragment;
} uri_parts;

static bool is_scheme_char(char c)
{
    return isalnum((unsigned char)c) || c == '+' || c == '-' || c == '.';
}

static size_t scheme_length(const char *s)
{
    if (!isalpha((unsigned char)s[0])) return 0;
    size_t i = 1;
    while (is_scheme_char(s[i]))
        i++;
    return s[i] == ':' ? i : 0;
}

bool tg_uri_has_scheme(const char *uri)
{
    return uri && scheme_length(uri) > 0;
}

static void parse(const char *s, uri_parts *u)
{
    memset(u, 0, sizeof *u);
    size_t sl = scheme_length(s);
    if (sl) {
        u->scheme = (slice){s, sl, true};
        s += sl + 1;
    }
    if (s[0] == '/' && s[1] == '/') {
        s += 2;
        size_t n = strcspn(s, "/?#");
        u->authority = (slice){s, n, true};
        s += n;
    }
    size_t n = strcspn(s, "?#");
    u->path = (slice){s, n, true};
    s += n;
    if (*s == '?') {
        s++;
        n = strcspn(s, "#");
        u->query = (slice){s, n, true};
        s += n;
    }
    if (*s == '#') {
        s++;
        u->fragment = (slice){s, strlen(s), true};
    }
}

/* A growable string with no size limit: its inputs are schema URIs, which the
 * schema size limit already bounds. */
typedef struct sbuf {
    char *p;
    size_t n, cap;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = tg_xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void sb_slice(sbuf *b, slice s)
{
    sb_put(b, s.p, s.n);
}

/* Section 5.2.4, applied to in[0..n) and written to a new buffer. */
static char *remove_dot_segments(const char *in, size_t n)
{
    sbuf out = {0};
    sb_put(&out, "", 0);
    size_t i = 0;
    while (i < n) {
        const char *s = in + i;
        size_t left = n - i;
        if (left >= 3 && memcmp(s, "../", 3) == 0) {
            i += 3;
        } else if (left >= 2 && memcmp(s, "./", 2) == 0) {
            i += 2;
        } else if (left >= 3 && memcmp(s, "/./", 3) == 0) {
            i += 2;
        } else if (left == 2 && memcmp(s, "/.", 2) == 0) {
            i += 1;
            sb_put(&out, "/", 1);
            break;
        } else if ((left >= 4 && memcmp(s, "/../", 4) == 0) ||
                   (left == 3 && memcmp(s, "/..", 3) == 0)) {
            char *slash = out.n ? memrchr(out.p, '/', out.n) : NULL;
            out.n = slash ? (size_t)(slash - out.p) : 0;
            out.p[out.n] = '\0';
            if (left == 3) {
                sb_put(&out, "/", 1);
                break;
            }
            i += 3;
        } else if ((left == 1 && s[0] == '.') || (left == 2 && memcmp(s, "..", 2) == 0)) {
            break;
        } else {
            size_t seg = s[0] == '/' ? 1 : 0;
            while (seg < left && s[seg] != '/')
                seg++;
            sb_put(&out, s, seg);
            i += seg;
        }
    }
    return out.p;
}

char *tg_uri_resolve(const char *base, const char *ref)
{
    if (!base || !*base) return tg_xstrdup(ref);
    uri_parts b, r, t;
    parse(base, &b);
    parse(ref, &r);
    char *path = NULL;
    memset(&t, 0, sizeof t);
    if (r.scheme.defined) {
        t = r;
        path = remove_dot_segments(r.path.p, r.path.n);
    } else {
        t.scheme = b.scheme;
        if (r.authority.defined) {
            t.authority = r.authority;
            path = remove_dot_segments(r.path.p, r.path.n);
            t.query = r.query;
        } else {
            t.authority = b.authority;
            if (r.path.n == 0) {
                path = tg_xstrndup(b.path.p, b.path.n);
                t.query = r.query.defined ? r.query : b.query;
            } else {
                sbuf merged = {0};
                if (r.path.p[0] == '/') {
                    sb_slice(&merged, r.path);
                } else if (b.authority.defined && b.path.n == 0) {
                    sb_put(&merged, "/", 1);
                    sb_slice(&merged, r.path);
                } else {
                    const char *slash = b.path.n ? memrchr(b.path.p, '/', b.path.n) : NULL;
                    if (slash) sb_put(&merged, b.path.p, (size_t)(slash - b.path.p) + 1);
                    sb_slice(&merged, r.path);
                }
                /* A base without a hierarchical path (urn:, tag:) keeps the
                 * reference's segments as written: dot removal is for paths. */
                if (b.authority.defined || (b.path.n && b.path.p[0] == '/'))
                    path = remove_dot_segments(merged.p, merged.n);
                else
                    path = tg_xstrndup(merged.p, merged.n);
                free(merged.p);
                t.query = r.query;
            }
        }
        t.fragment = r.fragment;
    }

    sbuf out = {0};
    sb_put(&out, "", 0);
    if (t.scheme.defined) {
        sb_slice(&out, t.scheme);
        sb_put(&out, ":", 1);
    }
    if (t.authority.defined) {
        sb_put(&out, "//", 2);
        sb_slice(&out, t.authority);
    }
    sb_put(&out, path, strlen(path));
    free(path);
    if (t.query.defined) {
        sb_put(&out, "?", 1);
        sb_slice(&out, t.query);
    }
    if (t.fragment.defined) {
        sb_put(&out, "#", 1);
        sb_slice(&out, t.fragment);
    }
    return out.p;
}

char *tg_uri_strip_fragment(const char *uri, const char **fragment)
{
    const char *hash = strchr(uri, '#');
    if (fragment) *fragment = hash ? hash + 1 : NULL;
    return hash ? tg_xstrndup(uri, (size_t)(hash - uri)) : tg_xstrdup(uri);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

char *tg_uri_pct_decode(const char *s)
{
    size_t n = strlen(s);
    char *d = tg_xmalloc(n + 1), *o = d;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            *o++ = s[i];
            continue;
        }
        /* The string is NUL-terminated, so reading s[i + 2] is safe once
         * s[i + 1] has been seen to be a hex digit. */
        int hi = hexval(s[i + 1]);
        int lo = hi >= 0 ? hexval(s[i + 2]) : -1;
        if (hi < 0 || lo < 0) {
            free(d);
            return NULL;
        }
        *o++ = (char)(hi * 16 + lo);
        i += 2;
    }
    *o = '\0';
    return d;
}
