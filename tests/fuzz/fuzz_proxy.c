/* libFuzzer target for the sandbox's egress proxy (vm-pool/agent/proxy.h)
 * reading a request from a worker it does not trust, one connection per input.
 *
 * Input: a control byte C, then 2 * (C & 7) bytes of cuts, then the bytes the
 * worker sends (the stream).
 *  - Each cut is a little-endian uint16 taken modulo the stream's length + 1:
 *    the stream arrives in pieces split there, as separate reads.
 *  - (C >> 3) & 7 is how much the first SMALL_READS reads take at most: 8 << k
 *    bytes (16 .. 1024) for k > 0; the other reads, and all of them for 0,
 *    take what room the buffer has (up to 64 KiB, as a fast writer gets).
 *  - (C & 0xc0) == 0xc0 repeats the last piece after the stream, read by
 *    read, until the request is complete or refused or STREAM_MAX bytes went
 *    in: how a small input reaches the 4 MiB body limit. Those reads take at
 *    most REPEAT_READ_MAX bytes, and a piece with more than one line end per
 *    64 bytes is not repeated.
 *    The bounds keep an input's cost in milliseconds: the proxy looks for the
 *    end of the head from its start on every read, and moves its buffer along
 *    once per line of a chunked body, so a stream of tiny reads or tiny
 *    chunks costs time quadratic in the read size (not correctness).
 * The seeds in corpus/proxy/ show the layout ("\0": one piece, no repeat).
 *
 * No sockets for the request: the bytes go into the connection's buffer the
 * way on_readable() puts them there, and parse() runs after each read. The
 * connection's fd is one end of a socketpair, so a "100 Continue" the proxy
 * sends can be read back.
 *
 * Beyond "no crash, no leak, no undefined behaviour", the target abort()s when
 *  - while the request is read, its buffer is full (nothing could be read),
 *    the body or its buffer is past 4 MiB, a body still to come would take it
 *    past, or the trailers read are past 64 KiB;
 *  - there is more than one egress frame, or a frame and a refusal;
 *  - the frame fails tg_frame_check, is larger than TG_FRAME_MAX as JSON text
 *    or does not read back the same, or differs from what the worker's head,
 *    read again here on its own, says it must be: the method as sent; the URL
 *    as "http://" lowercase host [":" port unless 80] and the path and query
 *    as sent ("/" when there is no path); the header fields in order, as
 *    sent less surrounding whitespace, without the hop-by-hop ones
 *    (Connection, Proxy-Connection, Keep-Alive, Proxy-Authorization, TE,
 *    Trailer, Transfer-Encoding, Upgrade), Expect, and the ones Connection
 *    names; the body the Content-Length bytes after the head, or the chunked
 *    body decoded, or nothing;
 *  - a refusal is not "HTTP/1.1 4xx|5xx", with a Content-Length that matches
 *    its body (none for HEAD) and "Connection: close", or is the one the
 *    proxy says it never sends ("the request cannot be passed on");
 *  - the stream ended and there is neither frame nor refusal, yet the proxy
 *    did not read it all;
 *  - a "100 Continue" went out other than once, for an HTTP/1.1 request with
 *    "Expect: 100-continue" and a body;
 *  - the host's answer to the frame does not become a 200 response without
 *    the answer's hop-by-hop fields. */
#include "vm-pool/agent/proxy.c" /* included: the proxy is in no library */

#include <stdint.h>
#include <sys/socket.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define STREAM_MAX      (TG_FRAME_EGRESS_BODY_MAX + 2 * TG_PROXY_HEAD_MAX)
#define REPEAT_READ_MAX 16384
#define SMALL_READS     64
#define CONTINUE        "HTTP/1.1 100 Continue\r\n\r\n"

/* The bytes the worker sends: base, then tile over and over up to len. */
typedef struct stream {
    const uint8_t *base, *tile;
    size_t base_len, tile_len, len;
} stream;

static void stream_copy(const stream *s, size_t off, size_t n, uint8_t *dst)
{
    while (n > 0) {
        const uint8_t *src;
        size_t k;
        if (off < s->base_len) {
            src = s->base + off;
            k = s->base_len - off;
        } else {
            size_t t = (off - s->base_len) % s->tile_len;
            src = s->tile + t;
            k = s->tile_len - t;
        }
        if (k > n) k = n;
        memcpy(dst, src, k);
        dst += k;
        off += k;
        n -= k;
    }
}

static int stream_byte(const stream *s, size_t off)
{
    uint8_t b;
    if (off >= s->len) return -1;
    stream_copy(s, off, 1, &b);
    return b;
}

/* Where the line at off ends (its '\n'), or s->len when none does. */
static size_t line_end(const stream *s, size_t off)
{
    while (off < s->len && stream_byte(s, off) != '\n')
        off++;
    return off;
}

/* The chunked body from off on, decoded as RFC 9112 7.1 reads it: hex size,
 * then ';' and extensions or whitespace, lines ending in LF or CRLF, trailer
 * lines up to an empty one. Returns: malloc'd bytes, or NULL when the stream
 * holds no whole chunked body there. */
static uint8_t *dechunk(const stream *s, size_t off, size_t *len)
{
    uint8_t *out = NULL;
    size_t n = 0;
    for (;;) {
        size_t eol = line_end(s, off);
        if (eol == s->len) goto bad;
        uint64_t size = 0;
        size_t digits = 0;
        int ch;
        for (;; digits++) {
            ch = stream_byte(s, off + digits);
            int d = ch >= '0' && ch <= '9'   ? ch - '0'
                    : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                    : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                             : -1;
            if (d < 0) break;
            if (size >> 60) goto bad;
            size = size * 16 + (uint64_t)d;
        }
        bool crlf = ch == '\r' && off + digits + 1 == eol;
        if (digits == 0 || (ch != ';' && ch != ' ' && ch != '\t' && ch != '\n' && !crlf)) goto bad;
        off = eol + 1;
        if (size == 0) break;
        if (size > s->len - off || n + size > STREAM_MAX) goto bad;
        uint8_t *grown = realloc(out, n + (size_t)size);
        if (!grown) abort();
        out = grown;
        stream_copy(s, off, (size_t)size, out + n);
        n += (size_t)size;
        off += (size_t)size;
        /* The chunk's own line end: "\n" or "\r\n". */
        eol = line_end(s, off);
        if (eol == s->len || eol - off > 1 || (eol - off == 1 && stream_byte(s, off) != '\r'))
            goto bad;
        off = eol + 1;
    }
    for (;;) {
        size_t eol = line_end(s, off);
        if (eol == s->len) goto bad;
        bool empty = eol == off || (eol == off + 1 && stream_byte(s, off) == '\r');
        off = eol + 1;
        if (empty) break;
    }
    *len = n;
    return out ? out : malloc(1);
bad:
    free(out);
    return NULL;
}

/* The worker's head as this file reads it, for a head the proxy took. */
typedef struct head {
    size_t end; /* where the body starts in the stream */
    char *text; /* the head's bytes */
    const char *method, *target;
    size_t method_len, target_len;
    bool http11, chunked, has_length, expect_continue;
    uint64_t length;
    json_t *fields; /* [[name, value], ...] as sent */
} head;

static bool eq_nocase(const char *a, size_t alen, const char *b)
{
    return alen == strlen(b) && strncasecmp(a, b, alen) == 0;
}

static size_t trim_len(const char *v, size_t n, const char **start)
{
    while (n && (*v == ' ' || *v == '\t')) {
        v++;
        n--;
    }
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    *start = v;
    return n;
}

/* Reads the head at the stream's start. Returns false when there is none
 * this file can read: not for a head the proxy took. */
static bool read_head(const stream *s, head *h)
{
    memset(h, 0, sizeof *h);
    size_t n = s->len < TG_PROXY_HEAD_MAX ? s->len : TG_PROXY_HEAD_MAX;
    h->text = malloc(n + 1);
    if (!h->text) abort();
    stream_copy(s, 0, n, (uint8_t *)h->text);
    h->text[n] = '\0';
    const char *t = h->text;
    size_t i = strspn(t, "\r\n");
    if (i >= n) return false;
    for (size_t j = i; j < n && !h->end; j++)
        if (t[j] == '\n' && j + 1 < n && t[j + 1] == '\n')
            h->end = j + 2;
        else if (t[j] == '\n' && j + 2 < n && t[j + 1] == '\r' && t[j + 2] == '\n')
            h->end = j + 3;
    if (!h->end) return false;
    h->fields = json_array();
    bool first = true;
    for (const char *p = t + i; p < t + h->end;) {
        const char *nl = memchr(p, '\n', (size_t)(t + h->end - p));
        size_t len = (size_t)(nl - p);
        if (len && p[len - 1] == '\r') len--;
        const char *line = p;
        p = nl + 1;
        if (len == 0) break;
        if (first) {
            first = false;
            const char *sp1 = memchr(line, ' ', len);
            const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', len - (size_t)(sp1 + 1 - line)) : NULL;
            if (!sp2) return false;
            h->method = line;
            h->method_len = (size_t)(sp1 - line);
            h->target = sp1 + 1;
            h->target_len = (size_t)(sp2 - sp1 - 1);
            h->http11 = line + len - sp2 - 1 == 8 && memcmp(sp2 + 1, "HTTP/1.1", 8) == 0;
            continue;
        }
        const char *colon = memchr(line, ':', len);
        if (!colon) return false;
        const char *v;
        size_t vlen = trim_len(colon + 1, (size_t)(line + len - colon - 1), &v);
        size_t nlen = (size_t)(colon - line);
        json_array_append_new(h->fields, json_pack("[s%, s%]", line, nlen, v, vlen));
        if (eq_nocase(line, nlen, "Content-Length")) {
            h->has_length = true;
            h->length = strtoull(v, NULL, 10);
        } else if (eq_nocase(line, nlen, "Transfer-Encoding")) {
            h->chunked = true;
        } else if (eq_nocase(line, nlen, "Expect")) {
            h->expect_continue = eq_nocase(v, vlen, "100-continue");
        }
    }
    return !first;
}

static void free_head(head *h)
{
    free(h->text);
    json_decref(h->fields);
}

/* Whether a Connection field of h names the field name. */
static bool named_by_connection(const head *h, const char *name)
{
    size_t i;
    json_t *f;
    json_array_foreach(h->fields, i, f)
    {
        if (strcasecmp(json_string_value(json_array_get(f, 0)), "Connection") != 0) continue;
        const char *v = json_string_value(json_array_get(f, 1));
        while (*v) {
            size_t len = strcspn(v, ", \t");
            if (len && eq_nocase(v, len, name)) return true;
            v += len ? len : 1;
        }
    }
    return false;
}

static bool dropped(const head *h, const char *name)
{
    static const char *const hop[] = {
        "Connection", "Proxy-Connection", "Keep-Alive",        "Proxy-Authorization",
        "TE",         "Trailer",          "Transfer-Encoding", "Upgrade",
        "Expect",
    };
    for (size_t i = 0; i < sizeof hop / sizeof hop[0]; i++)
        if (strcasecmp(name, hop[i]) == 0) return true;
    return named_by_connection(h, name);
}

/* The URL the frame must carry for the target h names. Returns malloc'd. */
static char *expected_url(const head *h)
{
    if (h->target_len < 7 || strncasecmp(h->target, "http://", 7) != 0) abort();
    const char *auth = h->target + 7, *end = h->target + h->target_len, *path = auth;
    while (path < end && *path != '/' && *path != '?')
        path++;
    const char *host_end = auth;
    if (auth < path && *auth == '[') {
        while (host_end < path && *host_end != ']')
            host_end++;
        host_end++;
    } else {
        while (host_end < path && *host_end != ':')
            host_end++;
    }
    unsigned long port = 80;
    if (host_end < path) {
        if (*host_end != ':') abort();
        port = 0;
        for (const char *p = host_end + 1; p < path; p++)
            port = port > 65535 ? port : port * 10 + (unsigned long)(*p - '0');
    }
    size_t cap = h->target_len + 16;
    char *url = malloc(cap);
    if (!url) abort();
    size_t n = 0;
    memcpy(url, "http://", 7);
    n = 7;
    for (const char *p = auth; p < host_end; p++)
        url[n++] = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
    if (port != 80) n += (size_t)snprintf(url + n, cap - n, ":%lu", port);
    if (path == end || *path == '?') url[n++] = '/';
    memcpy(url + n, path, (size_t)(end - path));
    n += (size_t)(end - path);
    url[n] = '\0';
    return url;
}

static void check_frame(const stream *s, json_t *f)
{
    tg_frame_type type;
    if (tg_frame_check(f, &type) != 0 || type != TG_FRAME_EGRESS) abort();
    /* As tg_frame_write puts it on the wire, and the host reads it back. */
    char *text = json_dumps(f, JSON_COMPACT);
    json_t *back = NULL;
    if (!text || strlen(text) > TG_FRAME_MAX ||
        tg_frame_decode(text, strlen(text), &back, &type) != 0 || type != TG_FRAME_EGRESS ||
        !json_equal(back, f))
        abort();
    json_decref(back);
    free(text);
    if (json_integer_value(json_object_get(f, "id")) != 1) abort();
    head h;
    if (!read_head(s, &h)) abort();

    const char *method = json_string_value(json_object_get(f, "method"));
    if (strlen(method) != h.method_len || memcmp(h.method, method, h.method_len) != 0) abort();
    for (const char *m = method; *m; m++)
        if (*m < 'A' || *m > 'Z') abort();

    char *url = expected_url(&h);
    const char *got_url = json_string_value(json_object_get(f, "url"));
    if (strncmp(got_url, "http://", 7) != 0 || strcmp(url, got_url) != 0) abort();
    free(url);

    /* The fields, in order, less the dropped ones. */
    const json_t *headers = json_object_get(f, "headers");
    size_t i, k = 0;
    json_t *field;
    json_array_foreach(h.fields, i, field)
    {
        const char *name = json_string_value(json_array_get(field, 0));
        if (dropped(&h, name)) continue;
        const json_t *got = json_array_get(headers, k++);
        if (!json_equal(got, field)) abort();
    }
    if (k != json_array_size(headers)) abort();

    unsigned char *body;
    size_t len;
    if (tg_frame_unb64(json_object_get(f, "body"), &body, &len) != 0) abort();
    if (len > TG_FRAME_EGRESS_BODY_MAX) abort();
    if (h.chunked) {
        size_t want_len;
        uint8_t *want = dechunk(s, h.end, &want_len);
        if (!want || want_len != len || memcmp(want, body, len) != 0) abort();
        free(want);
    } else if (h.has_length) {
        if (h.length != len || h.end + len > s->len) abort();
        uint8_t *want = malloc(len + 1);
        if (!want) abort();
        stream_copy(s, h.end, len, want);
        if (memcmp(want, body, len) != 0) abort();
        free(want);
    } else if (len != 0) {
        abort();
    }
    free(body);
    free_head(&h);
}

/* c->out as a response: "HTTP/1.1 " status, where the body starts, and its
 * Content-Length (SIZE_MAX: none). Aborts when it is not one. */
static int check_response(const conn *c, size_t *body_at, size_t *length)
{
    const char *r = c->out;
    if (!r || c->out_len < 13 || memcmp(r, "HTTP/1.1 ", 9) != 0) abort();
    int status = 0;
    for (size_t i = 9; i < 12; i++) {
        if (r[i] < '0' || r[i] > '9') abort();
        status = status * 10 + (r[i] - '0');
    }
    if (r[12] != ' ') abort();
    const char *end = strstr(r, "\r\n\r\n");
    if (!end || end - r < 13 + 17 || (size_t)(end - r) + 4 > c->out_len) abort();
    *body_at = (size_t)(end - r) + 4;
    /* The last header is always Connection: close. */
    if (memcmp(end - 17, "Connection: close", 17) != 0) abort();
    const char *cl = strstr(r, "\r\nContent-Length: ");
    *length = cl && cl < end ? strtoull(cl + 18, NULL, 10) : SIZE_MAX;
    return status;
}

static void check_refusal(const conn *c)
{
    size_t body_at, length;
    int status = check_response(c, &body_at, &length);
    if (status < 400 || status > 599 || length == SIZE_MAX) abort();
    size_t body_len = c->out_len - body_at;
    if (body_len != (c->head_only ? 0 : length)) abort();
    if (strstr(c->out + body_at, "the request cannot be passed on")) abort();
}

/* What parse() keeps while it reads a request stays within its limits. */
static void check_bounds(const conn *c)
{
    if (c->in_len > TG_PROXY_HEAD_MAX || c->body_len > c->body_cap ||
        c->body_cap > TG_FRAME_EGRESS_BODY_MAX || c->trailer_bytes > TG_PROXY_HEAD_MAX)
        abort();
    if ((c->st == C_BODY || c->st == C_CHUNK_DATA) &&
        c->left > TG_FRAME_EGRESS_BODY_MAX - c->body_len)
        abort();
}

static json_t *sent; /* the frames the proxy sent for this input */

static void on_send(json_t *frame, void *userdata)
{
    (void)userdata;
    json_array_append_new(sent, frame);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int pair[2] = {-1, -1};
    if (pair[0] < 0 && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) abort();
    if (size < 1) return 0;
    size_t ncuts = data[0] & 7, read_bits = (data[0] >> 3) & 7;
    bool repeat = (data[0] & 0xc0) == 0xc0;
    if (size < 1 + 2 * ncuts) return 0;
    stream s = {.base = data + 1 + 2 * ncuts, .base_len = size - 1 - 2 * ncuts};
    s.len = s.base_len;
    size_t cuts[8];
    for (size_t i = 0; i < ncuts; i++)
        cuts[i] = (size_t)(data[1 + 2 * i] | data[2 + 2 * i] << 8) % (s.base_len + 1);
    size_t last = 0;
    for (size_t i = 0; i < ncuts; i++)
        if (cuts[i] > last && cuts[i] < s.base_len) last = cuts[i];
    size_t line_ends = 0;
    for (size_t i = last; i < s.base_len; i++)
        line_ends += s.base[i] == '\n';
    if (repeat && last < s.base_len && line_ends * 64 <= s.base_len - last) {
        s.tile = s.base + last;
        s.tile_len = s.base_len - last;
        s.len = STREAM_MAX;
    }
    size_t read_max = read_bits ? (size_t)8 << read_bits : TG_PROXY_HEAD_MAX;

    sent = json_array();
    tg_proxy px = {.listen_fd = -1, .send = on_send, .next_id = 1};
    conn *c = calloc(1, sizeof *c);
    if (!c) abort();
    c->fd = pair[0];
    c->in_buf = c->in = malloc(TG_PROXY_HEAD_MAX);
    if (!c->in) abort();
    c->st = C_HEAD;
    px.conns[0] = c;

    size_t off = 0, reads = 0;
    while (off < s.len && c->st < C_WAIT) {
        /* This read ends at the next cut, or the end of the base. */
        size_t until = off < s.base_len ? s.base_len : s.len;
        for (size_t i = 0; i < ncuts; i++)
            if (cuts[i] > off && cuts[i] < until) until = cuts[i];
        size_t room;
        uint8_t *dst = (uint8_t *)read_space(c, &room);
        size_t n = until - off;
        if (room == 0) abort(); /* on_readable would close the connection */
        if (n > room) n = room;
        if (n > read_max && reads < SMALL_READS) n = read_max;
        reads++;
        if (off >= s.base_len && n > REPEAT_READ_MAX) n = REPEAT_READ_MAX;
        stream_copy(&s, off, n, dst);
        c->in_len += n;
        off += n;
        parse(&px, c);
        if (c->st < C_WAIT) check_bounds(c);
    }

    char got[2 * sizeof CONTINUE];
    ssize_t continued = recv(pair[1], got, sizeof got, MSG_DONTWAIT);
    if (continued > 0) {
        head h;
        if ((size_t)continued != sizeof CONTINUE - 1 ||
            memcmp(got, CONTINUE, sizeof CONTINUE - 1) || !read_head(&s, &h) || !h.http11 ||
            !h.expect_continue || !(h.chunked || h.length > 0))
            abort();
        free_head(&h);
    }

    size_t frames = json_array_size(sent);
    if (frames > 1) abort();
    if (c->st == C_WAIT) {
        if (frames != 1) abort();
        check_frame(&s, json_array_get(sent, 0));
        /* The answer's own hop-by-hop fields stay out of the response. */
        json_t *answer =
            json_pack("{s:s, s:i, s:i, s:[[s, s], [s, s], [s, s]], s:o}", "type", "egress_response",
                      "id", 1, "status", 200, "headers", "Connection", "X-Drop", "X-Drop", "1",
                      "X-Keep", "1", "body", tg_frame_b64("ok", 2));
        tg_proxy_answer(&px, answer);
        json_decref(answer);
        size_t body_at, length;
        if (c->st != C_WRITE || check_response(c, &body_at, &length) != 200 || length != 2 ||
            c->out_len - body_at != (c->head_only ? 0u : 2u) ||
            !strstr(c->out, "\r\nX-Keep: 1\r\n") || strstr(c->out, "X-Drop"))
            abort();
    } else if (c->st == C_WRITE) {
        if (frames != 0) abort();
        check_refusal(c);
    } else if (c->st < C_WAIT) {
        if (frames != 0 || off != s.len) abort();
    } else {
        abort();
    }

    drop_request(c);
    free(c->out);
    free(c);
    json_decref(sent);
    sent = NULL;
    return 0;
}
