/* The sandbox's HTTP forward proxy (see proxy.h).
 *
 * A connection goes through: reading the head (request line and headers),
 * then the body (by Content-Length, or chunk by chunk, then trailers), then
 * waiting for the host's answer, then writing the response, then lingering:
 * after its response the proxy shuts its side down and reads until the
 * worker closes, so that a request body it refused to read (413) does not
 * turn the response into a reset before the worker has read it.
 *
 * Input from the worker is parsed strictly and answered with a status and a
 * one-line explanation when it is refused: a worker's author reads these.
 * Linked into the static agents: libc, jansson and frame.c only. */
#include "vm-pool/agent/proxy.h"

#include "vm-pool/frame.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define CHUNK_LINE_MAX   1024                 /* a chunk-size line with its extensions */
#define LINGER_NS        (2 * 1000000000LL)   /* reading after the response, at most */
#define LINGER_BYTES_MAX (8u * 1024u * 1024u) /* and this much */
#define SCRATCH          16384

enum conn_state {
    C_HEAD,       /* reading the request line and headers */
    C_BODY,       /* reading left more bytes of a Content-Length body */
    C_CHUNK_SIZE, /* reading a chunk-size line */
    C_CHUNK_DATA, /* reading left more bytes of a chunk */
    C_CHUNK_END,  /* reading the CRLF after a chunk */
    C_TRAILER,    /* reading trailer lines up to the empty one */
    C_WAIT,       /* the request went to the host; waiting for its answer */
    C_WRITE,      /* writing the response */
    C_LINGER,     /* response written; reading until the worker closes */
};

typedef struct conn {
    int fd;
    enum conn_state st;
    char *in_buf; /* TG_PROXY_HEAD_MAX bytes, while reading the request */
    char *in;     /* the unparsed input, in in_buf */
    size_t in_len;
    json_t *frame;  /* the egress frame being built: method, url, headers */
    bool head_only; /* a HEAD request: the response carries no body */
    unsigned char *body;
    size_t body_len, body_cap;
    uint64_t left;        /* bytes still to come of the body or the chunk */
    size_t trailer_bytes; /* trailers read so far */
    json_int_t id;        /* the egress id, once sent */
    char *out;            /* the response, while writing it */
    size_t out_len, out_off;
    int64_t linger_until;
    size_t linger_bytes;
} conn;

struct tg_proxy {
    int listen_fd;
    uint16_t port;
    tg_proxy_send_fn send;
    void *userdata;
    json_int_t next_id;
    conn *conns[TG_PROXY_CONNS_MAX]; /* NULL: a free slot */
};

/* A growing output buffer. Out of memory aborts: the agent then dies, and
 * the host reports the sandbox as broken, as it does for the OOM killer. */
typedef struct outbuf {
    char *p;
    size_t len, cap;
} outbuf;

static void out_add(outbuf *b, const void *data, size_t len)
{
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + len + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) abort();
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, len);
    b->len += len;
    b->p[b->len] = '\0';
}

static void out_str(outbuf *b, const char *s)
{
    out_add(b, s, strlen(s));
}

static const char *reason(int status)
{
    static const struct {
        int status;
        const char *text;
    } reasons[] = {
        {200, "OK"},
        {201, "Created"},
        {202, "Accepted"},
        {203, "Non-Authoritative Information"},
        {204, "No Content"},
        {205, "Reset Content"},
        {206, "Partial Content"},
        {207, "Multi-Status"},
        {300, "Multiple Choices"},
        {301, "Moved Permanently"},
        {302, "Found"},
        {303, "See Other"},
        {304, "Not Modified"},
        {307, "Temporary Redirect"},
        {308, "Permanent Redirect"},
        {400, "Bad Request"},
        {401, "Unauthorized"},
        {402, "Payment Required"},
        {403, "Forbidden"},
        {404, "Not Found"},
        {405, "Method Not Allowed"},
        {406, "Not Acceptable"},
        {407, "Proxy Authentication Required"},
        {408, "Request Timeout"},
        {409, "Conflict"},
        {410, "Gone"},
        {411, "Length Required"},
        {412, "Precondition Failed"},
        {413, "Content Too Large"},
        {414, "URI Too Long"},
        {415, "Unsupported Media Type"},
        {416, "Range Not Satisfiable"},
        {417, "Expectation Failed"},
        {421, "Misdirected Request"},
        {422, "Unprocessable Content"},
        {425, "Too Early"},
        {426, "Upgrade Required"},
        {428, "Precondition Required"},
        {429, "Too Many Requests"},
        {431, "Request Header Fields Too Large"},
        {451, "Unavailable For Legal Reasons"},
        {500, "Internal Server Error"},
        {501, "Not Implemented"},
        {502, "Bad Gateway"},
        {503, "Service Unavailable"},
        {504, "Gateway Timeout"},
        {505, "HTTP Version Not Supported"},
    };
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
        if (reasons[i].status == status) return reasons[i].text;
    return ""; /* the reason phrase may be empty (RFC 9112 4) */
}

/* Headers that describe one connection, not the message (RFC 9110 7.6.1),
 * and Expect, which the proxy answers itself. */
static bool hop_by_hop(const char *name)
{
    static const char *const names[] = {
        "Connection", "Proxy-Connection", "Keep-Alive",        "Proxy-Authorization",
        "TE",         "Trailer",          "Transfer-Encoding", "Upgrade",
        "Expect",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcasecmp(name, names[i]) == 0) return true;
    return false;
}

/* Whether the comma-separated list of Connection values names name. */
static bool listed(const json_t *connection, const char *name)
{
    size_t n = strlen(name);
    size_t i;
    const json_t *v;
    json_array_foreach(connection, i, v)
    {
        for (const char *p = json_string_value(v); *p;) {
            p += strspn(p, " \t,");
            size_t len = strcspn(p, " \t,");
            if (len == n && strncasecmp(p, name, n) == 0) return true;
            p += len;
        }
    }
    return false;
}

/* Headers from the host's answer that go into the response: all but the
 * hop-by-hop ones, and Content-Length, which the proxy writes itself. */
static void out_headers(outbuf *b, const json_t *headers)
{
    json_t *connection = json_array();
    size_t i;
    const json_t *h;
    json_array_foreach(headers, i, h)
    {
        if (strcasecmp(json_string_value(json_array_get(h, 0)), "Connection") == 0)
            json_array_append(connection, json_array_get(h, 1));
    }
    json_array_foreach(headers, i, h)
    {
        const char *name = json_string_value(json_array_get(h, 0));
        if (hop_by_hop(name) || strcasecmp(name, "Content-Length") == 0 || listed(connection, name))
            continue;
        out_str(b, name);
        out_str(b, ": ");
        out_str(b, json_string_value(json_array_get(h, 1)));
        out_str(b, "\r\n");
    }
    json_decref(connection);
}

/* Forgets what the request kept: its input, body and frame. */
static void drop_request(conn *c)
{
    free(c->in_buf);
    c->in_buf = c->in = NULL;
    c->in_len = 0;
    free(c->body);
    c->body = NULL;
    c->body_len = c->body_cap = 0;
    json_decref(c->frame);
    c->frame = NULL;
}

/* Makes the response the connection writes next, and closes afterwards. */
static void respond(conn *c, int status, const json_t *headers, const void *body, size_t len)
{
    drop_request(c);
    outbuf b = {0};
    char line[64];
    snprintf(line, sizeof line, "HTTP/1.1 %d %s\r\n", status, reason(status));
    out_str(&b, line);
    if (headers) out_headers(&b, headers);
    /* 204 and 304 have no body and must not say how long it is. */
    bool bodiless = status == 204 || status == 304;
    if (!bodiless) {
        snprintf(line, sizeof line, "Content-Length: %zu\r\n", len);
        out_str(&b, line);
    }
    out_str(&b, "Connection: close\r\n\r\n");
    if (!bodiless && !c->head_only) out_add(&b, body, len);
    free(c->out);
    c->out = b.p;
    c->out_len = b.len;
    c->out_off = 0;
    c->st = C_WRITE;
}

/* The proxy's own answer: status and a line saying why. */
static void refuse(conn *c, int status, const char *why)
{
    json_t *headers = json_pack("[[s, s]]", "Content-Type", "text/plain; charset=utf-8");
    outbuf b = {0};
    out_str(&b, why);
    out_str(&b, "\n");
    respond(c, status, headers, b.p, b.len);
    free(b.p);
    json_decref(headers);
}

static bool is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Parses "http://authority/path?query" (t, len bytes, lowercase scheme
 * already checked) into the normal form the frame carries:
 * "http://" lowercase host, ":port" unless it is 80, and a path that starts
 * with "/". Returns: new reference, or NULL with *why set. */
static json_t *normal_url(const char *t, size_t len, const char **why)
{
    const char *auth = t + 7, *end = t + len;
    const char *path = auth;
    while (path < end && *path != '/' && *path != '?')
        path++;
    for (const char *p = t; p < end; p++) {
        if (*p == '#') {
            *why = "a request URL has no #fragment";
            return NULL;
        }
        if ((unsigned char)*p <= ' ' || (unsigned char)*p > '~') {
            *why = "the URL must be printable ASCII (percent-encode the rest)";
            return NULL;
        }
    }
    if (memchr(auth, '@', (size_t)(path - auth))) {
        *why = "no credentials in the URL: the gateway adds them";
        return NULL;
    }
    const char *host = auth, *host_end, *port = NULL;
    if (host < path && *host == '[') {
        host_end = memchr(host, ']', (size_t)(path - host));
        if (!host_end || host_end == host + 1) {
            *why = "bad IPv6 address in the URL";
            return NULL;
        }
        host_end++;
        for (const char *p = host + 1; p < host_end - 1; p++)
            if (!strchr("0123456789abcdefABCDEF:.", *p)) {
                *why = "bad IPv6 address in the URL";
                return NULL;
            }
        if (host_end < path && *host_end != ':') {
            *why = "bad host in the URL";
            return NULL;
        }
    } else {
        host_end = memchr(host, ':', (size_t)(path - host));
        if (!host_end) host_end = path;
        for (const char *p = host; p < host_end; p++) {
            unsigned char ch = (unsigned char)*p;
            bool ok = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
                      (ch >= 'A' && ch <= 'Z') || ch == '-' || ch == '.' || ch == '_' || ch == '~';
            if (!ok) {
                *why = "bad host in the URL";
                return NULL;
            }
        }
    }
    if (host_end == host) {
        *why = "the URL has no host";
        return NULL;
    }
    unsigned long portnum = 80;
    if (host_end < path) {
        port = host_end + 1;
        size_t n = (size_t)(path - port);
        portnum = 0;
        for (size_t i = 0; i < n && portnum <= 65535; i++) {
            if (port[i] < '0' || port[i] > '9') {
                portnum = 0;
                break;
            }
            portnum = portnum * 10 + (unsigned long)(port[i] - '0');
        }
        if (n == 0 || portnum == 0 || portnum > 65535) {
            *why = "bad port in the URL";
            return NULL;
        }
    }
    outbuf b = {0};
    out_str(&b, "http://");
    for (const char *p = host; p < host_end; p++) {
        char ch = *p >= 'A' && *p <= 'Z' ? (char)(*p - 'A' + 'a') : *p;
        out_add(&b, &ch, 1);
    }
    if (portnum != 80) {
        char num[16];
        snprintf(num, sizeof num, ":%lu", portnum);
        out_str(&b, num);
    }
    if (path == end || *path == '?') out_str(&b, "/");
    out_add(&b, path, (size_t)(end - path));
    json_t *url = NULL;
    if (b.len > TG_FRAME_EGRESS_URL_MAX)
        *why = "the URL is longer than 8 KiB";
    else
        url = json_stringn(b.p, b.len);
    free(b.p);
    return url;
}

/* The request line. Returns 0, or the status to refuse it with (*why says
 * why). Sets the frame's method and url. */
static int parse_request_line(conn *c, const char *line, size_t len, const char **why)
{
    const char *sp1 = memchr(line, ' ', len);
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', len - (size_t)(sp1 + 1 - line)) : NULL;
    *why = "malformed request line: expected METHOD http://host/path HTTP/1.1";
    if (!sp1 || !sp2 || memchr(sp2 + 1, ' ', len - (size_t)(sp2 + 1 - line))) return 400;
    const char *version = sp2 + 1;
    size_t vlen = len - (size_t)(version - line);
    if (vlen != 8 || memcmp(version, "HTTP/1.", 7) != 0 || (version[7] != '0' && version[7] != '1'))
        return vlen >= 5 && memcmp(version, "HTTP/", 5) == 0 ? 505 : 400;
    size_t mlen = (size_t)(sp1 - line);
    if (mlen == 7 && memcmp(line, "CONNECT", 7) == 0) {
        *why = "CONNECT is not supported: request http://host/... and the gateway upgrades it "
               "to https";
        return 405;
    }
    if (mlen == 0 || mlen > TG_FRAME_EGRESS_METHOD_MAX) return 400;
    for (size_t i = 0; i < mlen; i++)
        if (line[i] < 'A' || line[i] > 'Z') {
            *why = "the method must be 1 to 16 uppercase letters";
            return 400;
        }
    const char *t = sp1 + 1;
    size_t tlen = (size_t)(sp2 - t);
    if (tlen > 0 && t[0] == '/') {
        *why = "this is a proxy: the request line needs an absolute URL (GET http://host/path "
               "HTTP/1.1); use HTTP_PROXY";
        return 400;
    }
    if (tlen > TG_FRAME_EGRESS_URL_MAX) {
        *why = "the URL is longer than 8 KiB";
        return 414;
    }
    if (tlen >= 8 && strncasecmp(t, "https://", 8) == 0) {
        *why = "request http://host/... and the gateway upgrades it to https";
        return 400;
    }
    if (tlen < 7 || strncasecmp(t, "http://", 7) != 0) {
        *why = "only http:// URLs go through this proxy";
        return 400;
    }
    json_t *url = normal_url(t, tlen, why);
    if (!url) return strcmp(*why, "the URL is longer than 8 KiB") == 0 ? 414 : 400;
    json_object_set_new(c->frame, "method", json_stringn(line, mlen));
    json_object_set_new(c->frame, "url", url);
    c->head_only = mlen == 4 && memcmp(line, "HEAD", 4) == 0;
    return 0;
}

/* The head, in[0, len), which ends with its empty line. Returns 0, or the
 * status to refuse the request with. On success the frame has its method,
 * url and headers, and *content_length / *chunked / *expect_continue say
 * what follows. */
static int parse_head(conn *c, size_t len, uint64_t *content_length, bool *chunked,
                      bool *expect_continue, const char **why)
{
    json_t *all = json_array(), *connection = json_array();
    const char *p = c->in, *end = c->in + len;
    bool request_line = true, have_length = false, http10 = false;
    int status = 0;
    *content_length = 0;
    *chunked = *expect_continue = false;
    while (status == 0 && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = (size_t)(nl - p);
        const char *line = p;
        if (n && line[n - 1] == '\r') n--;
        p = nl + 1;
        if (request_line) {
            /* A recipient should skip empty lines before the request line. */
            if (n == 0) continue;
            if (memchr(line, '\r', n) || memchr(line, '\0', n)) {
                *why = "malformed request line";
                status = 400;
                break;
            }
            status = parse_request_line(c, line, n, why);
            http10 = n >= 3 && memcmp(line + n - 3, "1.0", 3) == 0;
            request_line = false;
            continue;
        }
        if (n == 0) break; /* the end of the head */
        if (json_array_size(all) == TG_FRAME_EGRESS_HEADERS_MAX) {
            *why = "more than 200 header fields";
            status = 431;
            break;
        }
        if (line[0] == ' ' || line[0] == '\t') {
            *why = "folded header lines are not accepted";
            status = 400;
            break;
        }
        const char *colon = memchr(line, ':', n);
        size_t nlen = colon ? (size_t)(colon - line) : 0;
        for (size_t i = 0; i < nlen && colon; i++)
            if (!is_tchar((unsigned char)line[i])) colon = NULL;
        if (!colon || nlen == 0) {
            *why = "malformed header line: expected Name: value";
            status = 400;
            break;
        }
        const char *v = colon + 1, *vend = line + n;
        while (v < vend && (*v == ' ' || *v == '\t'))
            v++;
        while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t'))
            vend--;
        for (const char *q = v; q < vend; q++)
            if (((unsigned char)*q < ' ' && *q != '\t') || *q == 0x7f) {
                *why = "a header value holds a control character";
                status = 400;
            }
        if (status) break;
        json_t *name = json_stringn(line, nlen), *value = json_stringn(v, (size_t)(vend - v));
        if (!name || !value) {
            json_decref(name);
            json_decref(value);
            *why = "header values must be UTF-8";
            status = 400;
            break;
        }
        const char *nm = json_string_value(name), *val = json_string_value(value);
        if (strcasecmp(nm, "Content-Length") == 0) {
            uint64_t cl = 0;
            size_t vl = json_string_length(value);
            bool ok = vl > 0 && vl <= 19 && strspn(val, "0123456789") == vl;
            for (size_t i = 0; ok && i < vl; i++)
                cl = cl * 10 + (uint64_t)(val[i] - '0');
            if (!ok || (have_length && cl != *content_length)) {
                *why = "bad Content-Length";
                status = 400;
            }
            *content_length = cl;
            have_length = true;
        } else if (strcasecmp(nm, "Transfer-Encoding") == 0) {
            if (strcasecmp(val, "chunked") != 0 || *chunked) {
                *why = "the only transfer coding understood is a single \"chunked\"";
                status = 501;
            }
            *chunked = true;
        } else if (strcasecmp(nm, "Expect") == 0) {
            if (strcasecmp(val, "100-continue") != 0) {
                *why = "the only expectation understood is 100-continue";
                status = 417;
            }
            *expect_continue = true;
        } else if (strcasecmp(nm, "Connection") == 0) {
            json_array_append(connection, value);
        }
        json_array_append_new(all, json_pack("[o, o]", name, value));
    }
    if (status == 0 && request_line) {
        *why = "no request line";
        status = 400;
    }
    if (status == 0 && *chunked && (have_length || http10)) {
        *why = "a request may not have both Transfer-Encoding and Content-Length, nor "
               "Transfer-Encoding in HTTP/1.0";
        status = 400;
    }
    /* An HTTP/1.0 client cannot mean 100-continue (RFC 9110 10.1.1). */
    if (http10) *expect_continue = false;
    if (status == 0 && *content_length > TG_FRAME_EGRESS_BODY_MAX) {
        *why = "the request body is larger than 4 MiB";
        status = 413;
    }
    if (status == 0) {
        json_t *kept = json_array();
        size_t i;
        json_t *h;
        json_array_foreach(all, i, h)
        {
            const char *name = json_string_value(json_array_get(h, 0));
            if (!hop_by_hop(name) && !listed(connection, name)) json_array_append(kept, h);
        }
        json_object_set_new(c->frame, "headers", kept);
    }
    json_decref(all);
    json_decref(connection);
    return status;
}

static void close_conn(tg_proxy *p, size_t slot)
{
    conn *c = p->conns[slot];
    if (!c) return;
    drop_request(c);
    free(c->out);
    close(c->fd);
    free(c);
    p->conns[slot] = NULL;
}

/* Appends n bytes of input to the body. The limit was checked before. */
static void add_body(conn *c, const char *data, size_t n)
{
    if (n == 0) return; /* a NULL body has nothing to append to */
    if (c->body_len + n > c->body_cap) {
        size_t cap = c->body_cap ? c->body_cap : 4096;
        while (cap < c->body_len + n)
            cap *= 2;
        if (cap > TG_FRAME_EGRESS_BODY_MAX) cap = TG_FRAME_EGRESS_BODY_MAX;
        unsigned char *b = realloc(c->body, cap);
        if (!b) abort();
        c->body = b;
        c->body_cap = cap;
    }
    memcpy(c->body + c->body_len, data, n);
    c->body_len += n;
}

/* Drops n parsed bytes. Only the start moves: shifting the rest each time
 * would make a body of many tiny chunks cost time quadratic in its size. */
static void consume(conn *c, size_t n)
{
    c->in += n;
    c->in_len -= n;
}

/* Where the next read goes, and how much fits: the unparsed input moves
 * back to the start of the buffer first, once per read. */
static char *read_space(conn *c, size_t *room)
{
    if (c->in != c->in_buf) {
        memmove(c->in_buf, c->in, c->in_len);
        c->in = c->in_buf;
    }
    *room = TG_PROXY_HEAD_MAX - c->in_len;
    return c->in + c->in_len;
}

/* The request is complete: it goes to the host, and the connection waits. */
static void send_request(tg_proxy *p, conn *c)
{
    json_t *f = c->frame;
    c->frame = NULL;
    json_object_set_new(f, "type", json_string("egress"));
    json_object_set_new(f, "id", json_integer(p->next_id));
    json_object_set_new(f, "body", tg_frame_b64(c->body, c->body_len));
    tg_frame_type type;
    if (tg_frame_check(f, &type) != 0) {
        /* Not reached for a request this file parsed; never sent either way. */
        json_decref(f);
        refuse(c, 400, "the request cannot be passed on");
        return;
    }
    c->id = p->next_id++;
    drop_request(c);
    c->st = C_WAIT;
    /* Last: the answer may come before send returns. */
    p->send(f, p->userdata);
}

/* A line in the input buffer: its length without the line end, and how many
 * bytes it takes with it; false when no whole line is there yet. */
static bool next_line(const conn *c, size_t *len, size_t *taken)
{
    const char *nl = memchr(c->in, '\n', c->in_len);
    if (!nl) return false;
    *taken = (size_t)(nl - c->in) + 1;
    *len = *taken - 1;
    if (*len && c->in[*len - 1] == '\r') (*len)--;
    return true;
}

/* Where the head ends (after its empty line) in the input, or 0. */
static size_t head_end(const conn *c)
{
    size_t i = 0;
    /* Empty lines before the request line are skipped, not the end. */
    while (i < c->in_len && (c->in[i] == '\r' || c->in[i] == '\n'))
        i++;
    for (; i < c->in_len; i++) {
        if (c->in[i] != '\n') continue;
        if (i + 1 < c->in_len && c->in[i + 1] == '\n') return i + 2;
        if (i + 2 < c->in_len && c->in[i + 1] == '\r' && c->in[i + 2] == '\n') return i + 3;
    }
    return 0;
}

/* Parses what the input buffer holds, as far as it goes. */
static void parse(tg_proxy *p, conn *c)
{
    for (;;) {
        size_t len, taken;
        switch (c->st) {
        case C_HEAD: {
            size_t end = head_end(c);
            if (end == 0) {
                if (c->in_len == TG_PROXY_HEAD_MAX)
                    refuse(c, 431, "the request head is larger than 64 KiB");
                return;
            }
            uint64_t content_length;
            bool chunked, expect_continue;
            const char *why = NULL;
            c->frame = json_object();
            int status = parse_head(c, end, &content_length, &chunked, &expect_continue, &why);
            if (status) {
                refuse(c, status, why);
                return;
            }
            consume(c, end);
            if (expect_continue && (chunked || content_length > 0)) {
                /* The worker waits for this before it sends the body; best
                 * effort, as a client that gets nothing sends it anyway. */
                static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
                ssize_t w = send(c->fd, cont, sizeof cont - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
                (void)w;
            }
            c->left = content_length;
            c->st = chunked ? C_CHUNK_SIZE : C_BODY;
            break;
        }
        case C_BODY:
        case C_CHUNK_DATA: {
            size_t n = c->left < c->in_len ? (size_t)c->left : c->in_len;
            add_body(c, c->in, n);
            consume(c, n);
            c->left -= n;
            if (c->left > 0) return;
            if (c->st == C_BODY) {
                send_request(p, c);
                return;
            }
            c->st = C_CHUNK_END;
            break;
        }
        case C_CHUNK_SIZE: {
            if (!next_line(c, &len, &taken)) {
                if (c->in_len > CHUNK_LINE_MAX) refuse(c, 400, "malformed chunked body");
                return;
            }
            uint64_t size = 0;
            size_t digits = 0;
            while (digits < len && digits < 16 && c->in[digits] &&
                   strchr("0123456789abcdefABCDEF", c->in[digits])) {
                char ch = c->in[digits++];
                int d = ch <= '9' ? ch - '0' : (ch | 0x20) - 'a' + 10;
                size = size * 16 + (uint64_t)d;
            }
            /* What follows the size may only be whitespace and extensions. */
            char after = digits < len ? c->in[digits] : ';';
            if (digits == 0 || (after != ';' && after != ' ' && after != '\t') ||
                taken > CHUNK_LINE_MAX) {
                refuse(c, 400, "malformed chunked body");
                return;
            }
            consume(c, taken);
            if (size > TG_FRAME_EGRESS_BODY_MAX - c->body_len) {
                refuse(c, 413, "the request body is larger than 4 MiB");
                return;
            }
            c->left = size;
            c->st = size ? C_CHUNK_DATA : C_TRAILER;
            break;
        }
        case C_CHUNK_END:
            if (!next_line(c, &len, &taken)) {
                if (c->in_len > 2) refuse(c, 400, "malformed chunked body");
                return;
            }
            if (len != 0) {
                refuse(c, 400, "malformed chunked body");
                return;
            }
            consume(c, taken);
            c->st = C_CHUNK_SIZE;
            break;
        case C_TRAILER:
            if (!next_line(c, &len, &taken)) {
                if (c->in_len == TG_PROXY_HEAD_MAX)
                    refuse(c, 431, "the request trailers are larger than 64 KiB");
                return;
            }
            consume(c, taken);
            /* Trailer fields are dropped (a hop's business, RFC 9110 6.5). */
            if (len == 0) {
                send_request(p, c);
                return;
            }
            c->trailer_bytes += taken;
            if (c->trailer_bytes > TG_PROXY_HEAD_MAX) {
                refuse(c, 431, "the request trailers are larger than 64 KiB");
                return;
            }
            break;
        default:
            return;
        }
    }
}

/* Reads what the worker sent on c, for its state. Returns false when the
 * connection is to be closed. */
static bool on_readable(tg_proxy *p, conn *c)
{
    char scratch[SCRATCH];
    bool reading = c->st < C_WAIT; /* still reading the request */
    size_t room = sizeof scratch;
    char *dst = reading ? read_space(c, &room) : scratch;
    if (room == 0) return false; /* not reached: parse() refuses a full buffer */
    ssize_t n = recv(c->fd, dst, room, MSG_DONTWAIT);
    if (n < 0) return errno == EAGAIN || errno == EINTR;
    /* The worker closed (or half-closed) before its answer: the answer, when
     * it comes, finds no one and is dropped. */
    if (n == 0) return false;
    if (c->st == C_LINGER) {
        c->linger_bytes += (size_t)n;
        return c->linger_bytes <= LINGER_BYTES_MAX;
    }
    if (!reading) return true; /* bytes after the request: not ours to read */
    c->in_len += (size_t)n;
    parse(p, c);
    return true;
}

/* Writes what is left of the response. Returns false when the connection is
 * to be closed. */
static bool on_writable(conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n =
            send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) return errno == EAGAIN || errno == EINTR;
        c->out_off += (size_t)n;
    }
    free(c->out);
    c->out = NULL;
    shutdown(c->fd, SHUT_WR);
    c->st = C_LINGER;
    c->linger_until = tg_frame_now_ns() + LINGER_NS;
    return true;
}

tg_proxy *tg_proxy_open(uint16_t port, tg_proxy_send_fn send, void *userdata)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return NULL;
    /* SO_REUSEADDR: a microVM template's snapshot keeps the setup run's
     * connections in TIME_WAIT, and every call started from it binds this
     * port again. Linux never lets it share a port a socket listens on, so
     * the worker (our uid) still cannot bind beside us; SO_REUSEPORT, which
     * would let it, stays off. */
    int one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 64) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &alen) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return NULL;
    }
    tg_proxy *p = calloc(1, sizeof *p);
    if (!p) {
        close(fd);
        errno = ENOMEM;
        return NULL;
    }
    p->listen_fd = fd;
    p->port = ntohs(a.sin_port);
    p->send = send;
    p->userdata = userdata;
    p->next_id = 1;
    return p;
}

uint16_t tg_proxy_port(const tg_proxy *p)
{
    return p->port;
}

size_t tg_proxy_poll_fds(tg_proxy *p, struct pollfd *fds)
{
    size_t n = 0;
    bool room = false;
    for (size_t i = 0; i < TG_PROXY_CONNS_MAX; i++) {
        conn *c = p->conns[i];
        if (!c) {
            room = true;
            continue;
        }
        fds[n++] = (struct pollfd){c->fd, c->st == C_WRITE ? POLLOUT : POLLIN, 0};
    }
    /* Without a free slot, new connections wait in the listen backlog. */
    fds[n++] = (struct pollfd){p->listen_fd, room ? POLLIN : 0, 0};
    return n;
}

static void accept_all(tg_proxy *p)
{
    for (size_t i = 0; i < TG_PROXY_CONNS_MAX; i++) {
        if (p->conns[i]) continue;
        int fd = accept4(p->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return;
        conn *c = calloc(1, sizeof *c);
        char *in = malloc(TG_PROXY_HEAD_MAX);
        if (!c || !in) abort();
        c->fd = fd;
        c->in_buf = c->in = in;
        c->st = C_HEAD;
        p->conns[i] = c;
    }
}

void tg_proxy_handle(tg_proxy *p, const struct pollfd *fds, size_t n)
{
    int64_t now = tg_frame_now_ns();
    for (size_t i = 0; i < n; i++) {
        if (fds[i].fd == p->listen_fd) {
            if (fds[i].revents & POLLIN) accept_all(p);
            continue;
        }
        if (!fds[i].revents) continue;
        /* The slot still holding this fd: answers and closes may have come
         * in between (send can deliver answers). */
        for (size_t s = 0; s < TG_PROXY_CONNS_MAX; s++) {
            conn *c = p->conns[s];
            if (!c || c->fd != fds[i].fd) continue;
            bool keep = true;
            if (c->st == C_WRITE)
                keep = on_writable(c);
            else if (fds[i].revents & (POLLIN | POLLHUP | POLLERR))
                keep = on_readable(p, c);
            if (!keep) close_conn(p, s);
            break;
        }
    }
    for (size_t s = 0; s < TG_PROXY_CONNS_MAX; s++) {
        conn *c = p->conns[s];
        if (c && c->st == C_LINGER && now >= c->linger_until) close_conn(p, s);
    }
}

void tg_proxy_answer(tg_proxy *p, const json_t *frame)
{
    json_int_t id = json_integer_value(json_object_get(frame, "id"));
    conn *c = NULL;
    for (size_t s = 0; s < TG_PROXY_CONNS_MAX && !c; s++)
        if (p->conns[s] && p->conns[s]->st == C_WAIT && p->conns[s]->id == id) c = p->conns[s];
    if (!c) return;
    int status = (int)json_integer_value(json_object_get(frame, "status"));
    if (status < 200) {
        /* An interim status cannot end a request, and nothing else follows. */
        refuse(c, 502, "the gateway answered with an interim (1xx) status");
        return;
    }
    unsigned char *body;
    size_t len;
    if (tg_frame_unb64(json_object_get(frame, "body"), &body, &len) != 0) {
        refuse(c, 502, "the gateway's answer has a bad body");
        return;
    }
    respond(c, status, json_object_get(frame, "headers"), body, len);
    free(body);
}

void tg_proxy_close(tg_proxy *p)
{
    if (!p) return;
    for (size_t s = 0; s < TG_PROXY_CONNS_MAX; s++)
        close_conn(p, s);
    close(p->listen_fd);
    free(p);
}
