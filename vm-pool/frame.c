/* Length-prefixed JSON frames (see frame.h). The reader allocates only after
 * checking the prefix against its limit, and a frame is handed on only after
 * tg_frame_check accepted its shape, so no caller sees unchecked input.
 * This file is also linked into the static agents (jail and microVM): it uses only libc,
 * jansson and libcrypto's base64, never the gateway's own libraries. */
#include "vm-pool/frame.h"

#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int64_t tg_frame_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Waits until fd is ready for events or the deadline passes. */
static int wait_fd(int fd, short events, int64_t deadline_ns)
{
    for (;;) {
        int timeout = -1;
        if (deadline_ns >= 0) {
            int64_t left = deadline_ns - tg_frame_now_ns();
            if (left <= 0) return TG_FRAME_ETIMEDOUT;
            int64_t ms = (left + 999999) / 1000000;
            timeout = ms > INT_MAX ? INT_MAX : (int)ms;
        }
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, timeout);
        if (n > 0) return 0;
        if (n < 0 && errno != EINTR) return TG_FRAME_EIO;
    }
}

/* send() where fd is a socket, which keeps a closed peer from raising
 * SIGPIPE; write() on anything else, which the first ENOTSOCK reveals. */
static int write_all(int fd, const unsigned char *p, size_t len, int64_t deadline_ns)
{
    bool is_socket = true;
    while (len > 0) {
        int rc = wait_fd(fd, POLLOUT, deadline_ns);
        if (rc < 0) return rc;
        ssize_t n = is_socket ? send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT) : write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            if (errno == ENOTSOCK && is_socket) {
                is_socket = false;
                continue;
            }
            return TG_FRAME_EIO;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads exactly len bytes. A clean end before the first byte is EOF when
 * eof_ok; anywhere else the stream was cut inside a frame. */
static int read_all(int fd, unsigned char *p, size_t len, int64_t deadline_ns, bool eof_ok)
{
    size_t got = 0;
    while (got < len) {
        int rc = wait_fd(fd, POLLIN, deadline_ns);
        if (rc < 0) return rc;
        ssize_t n = read(fd, p + got, len - got);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            return TG_FRAME_EIO;
        }
        if (n == 0) return got == 0 && eof_ok ? TG_FRAME_EOF : TG_FRAME_EIO;
        got += (size_t)n;
    }
    return 0;
}

int tg_frame_write(int fd, const json_t *obj, int64_t deadline_ns)
{
    char *text = json_dumps(obj, JSON_COMPACT);
    if (!text) return TG_FRAME_EINVAL;
    size_t len = strlen(text);
    int rc = TG_FRAME_ETOOBIG;
    if (len <= TG_FRAME_MAX) {
        unsigned char hdr[4] = {(unsigned char)(len >> 24), (unsigned char)(len >> 16),
                                (unsigned char)(len >> 8), (unsigned char)len};
        rc = write_all(fd, hdr, sizeof hdr, deadline_ns);
        if (rc == 0) rc = write_all(fd, (const unsigned char *)text, len, deadline_ns);
    }
    free(text);
    return rc;
}

int tg_frame_read(int fd, size_t max, int64_t deadline_ns, json_t **out, tg_frame_type *type)
{
    unsigned char hdr[4];
    *out = NULL;
    int rc = read_all(fd, hdr, sizeof hdr, deadline_ns, true);
    if (rc < 0) return rc;
    size_t len = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3];
    if (max > TG_FRAME_MAX) max = TG_FRAME_MAX;
    if (len > max) return TG_FRAME_ETOOBIG;
    unsigned char *body = malloc(len ? len : 1);
    if (!body) return TG_FRAME_EIO;
    rc = read_all(fd, body, len, deadline_ns, false);
    if (rc == 0) rc = tg_frame_decode(body, len, out, type);
    free(body);
    return rc;
}

int tg_frame_decode(const void *body, size_t len, json_t **out, tg_frame_type *type)
{
    *out = NULL;
    if (len > TG_FRAME_MAX) return TG_FRAME_ETOOBIG;
    json_t *obj = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    if (!obj) return TG_FRAME_EINVAL;
    if (tg_frame_check(obj, type) < 0) {
        json_decref(obj);
        return TG_FRAME_EINVAL;
    }
    *out = obj;
    return 0;
}

static bool is_str(const json_t *obj, const char *key)
{
    return json_is_string(json_object_get(obj, key));
}

/* An integer field within [lo, hi]. */
static bool is_int(const json_t *obj, const char *key, json_int_t lo, json_int_t hi)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_integer(v) && json_integer_value(v) >= lo && json_integer_value(v) <= hi;
}

/* A string without embedded NUL, so C code reading it as a C string sees all of it. */
static bool is_cstr(const json_t *v)
{
    return json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v);
}

/* An integer field within [lo, hi], or no such field. */
static bool is_opt_int(const json_t *obj, const char *key, json_int_t lo, json_int_t hi)
{
    return !json_object_get(obj, key) || is_int(obj, key, lo, hi);
}

/* Canonical base64 of at most TG_FRAME_SEED_MAX bytes, or no seed. */
static bool is_opt_seed(const json_t *obj)
{
    const json_t *seed = json_object_get(obj, "seed");
    if (!seed) return true;
    if (!json_is_string(seed) || json_string_length(seed) > 4 * ((TG_FRAME_SEED_MAX + 2) / 3))
        return false;
    unsigned char *bytes;
    size_t len;
    if (tg_frame_unb64(seed, &bytes, &len) != 0) return false;
    free(bytes);
    return len <= TG_FRAME_SEED_MAX;
}

static bool check_run(const json_t *obj)
{
    if (!is_cstr(json_object_get(obj, "runtime")) || !is_cstr(json_object_get(obj, "entry")) ||
        !is_str(obj, "stdin"))
        return false;
    const json_t *files = json_object_get(obj, "files");
    if (!json_is_array(files) || json_array_size(files) > 1024) return false;
    size_t i;
    const json_t *f;
    json_array_foreach(files, i, f)
    {
        if (!json_is_object(f) || !is_cstr(json_object_get(f, "path")) || !is_str(f, "data"))
            return false;
    }
    const json_t *env = json_object_get(obj, "env");
    if (!json_is_object(env) || json_object_size(env) > 256) return false;
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)env, k, v)
    {
        if (!is_cstr(v) || strlen(k) != strcspn(k, "=")) return false;
    }
    const json_t *limits = json_object_get(obj, "limits");
    const json_t *setup = json_object_get(obj, "setup");
    return (!setup || json_is_boolean(setup)) && is_opt_seed(obj) &&
           is_opt_int(obj, "now_ms", 0, INT64_MAX) && json_is_object(limits) &&
           is_int(limits, "timeout_ms", 1, INT32_MAX) &&
           is_int(limits, "max_output_bytes", 0, TG_FRAME_MAX) &&
           is_opt_int(limits, "cpu_seconds", 1, 86400) &&
           is_opt_int(limits, "max_files", 1, 1048576) &&
           is_opt_int(limits, "max_file_bytes", 0, (json_int_t)1 << 40) &&
           is_opt_int(limits, "max_pids", 1, 65536);
}

/* An HTTP token (RFC 9110 5.6.2): a header name. */
static bool is_token(const char *s, size_t len)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";
    if (len == 0) return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        bool alnum = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
        if (!alnum && (c == '\0' || !strchr(extra, c))) return false;
    }
    return true;
}

/* [[name, value], ...]: what either side writes as header lines, so no value
 * may end a line early. */
static bool is_headers(const json_t *headers)
{
    if (!json_is_array(headers) || json_array_size(headers) > TG_FRAME_EGRESS_HEADERS_MAX)
        return false;
    size_t i;
    const json_t *h;
    json_array_foreach(headers, i, h)
    {
        const json_t *name = json_array_get(h, 0), *value = json_array_get(h, 1);
        if (!json_is_array(h) || json_array_size(h) != 2 || !json_is_string(name) ||
            !json_is_string(value) || !is_token(json_string_value(name), json_string_length(name)))
            return false;
        const char *v = json_string_value(value);
        size_t len = json_string_length(value);
        if (strcspn(v, "\r\n") != len) return false; /* also finds an embedded NUL */
    }
    return true;
}

/* Canonical base64 of at most TG_FRAME_EGRESS_BODY_MAX bytes. */
static bool is_body(const json_t *body)
{
    if (!json_is_string(body) ||
        json_string_length(body) > 4 * ((TG_FRAME_EGRESS_BODY_MAX + 2) / 3))
        return false;
    unsigned char *bytes;
    size_t len;
    if (tg_frame_unb64(body, &bytes, &len) != 0) return false;
    free(bytes);
    return len <= TG_FRAME_EGRESS_BODY_MAX;
}

/* "http://" and printable ASCII: the proxy's normal form of a request URL. */
static bool is_url(const json_t *url)
{
    if (!json_is_string(url)) return false;
    const char *s = json_string_value(url);
    size_t len = json_string_length(url);
    if (len > TG_FRAME_EGRESS_URL_MAX || len <= 7 || strncmp(s, "http://", 7) != 0) return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] <= ' ' || s[i] > '~') return false;
    return true;
}

static bool is_method(const json_t *method)
{
    if (!json_is_string(method)) return false;
    const char *s = json_string_value(method);
    size_t len = json_string_length(method);
    if (len == 0 || len > TG_FRAME_EGRESS_METHOD_MAX) return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] < 'A' || s[i] > 'Z') return false;
    return true;
}

/* Both egress frames: an id below 2^53 (exact in every JSON reader), headers
 * and a body; then the request's method and url, or the response's status. */
static bool check_egress(const json_t *obj, bool response)
{
    if (!is_int(obj, "id", 0, ((json_int_t)1 << 53) - 1) ||
        !is_headers(json_object_get(obj, "headers")) || !is_body(json_object_get(obj, "body")))
        return false;
    if (response) return is_int(obj, "status", 100, 599);
    return is_method(json_object_get(obj, "method")) && is_url(json_object_get(obj, "url"));
}

int tg_frame_check(const json_t *obj, tg_frame_type *type)
{
    static const struct {
        const char *name;
        tg_frame_type type;
    } names[] = {
        {"ready", TG_FRAME_READY},
        {"run", TG_FRAME_RUN},
        {"stdout", TG_FRAME_STDOUT},
        {"stderr", TG_FRAME_STDERR},
        {"event", TG_FRAME_EVENT},
        {"result", TG_FRAME_RESULT},
        {"ping", TG_FRAME_PING},
        {"egress", TG_FRAME_EGRESS},
        {"egress_response", TG_FRAME_EGRESS_RESPONSE},
    };
    if (!json_is_object(obj)) return TG_FRAME_EINVAL;
    const char *name = json_string_value(json_object_get(obj, "type"));
    if (!name) return TG_FRAME_EINVAL;
    size_t i = 0;
    while (i < sizeof names / sizeof names[0] && strcmp(names[i].name, name) != 0)
        i++;
    if (i == sizeof names / sizeof names[0]) return TG_FRAME_EINVAL;
    bool ok = false;
    switch (names[i].type) {
    case TG_FRAME_READY:
        ok = true;
        break;
    case TG_FRAME_RUN:
        ok = check_run(obj);
        break;
    case TG_FRAME_STDOUT:
    case TG_FRAME_STDERR:
        ok = is_str(obj, "data");
        break;
    case TG_FRAME_EVENT:
        ok = json_is_object(json_object_get(obj, "event"));
        break;
    case TG_FRAME_RESULT:
        ok = is_int(obj, "exit_code", -1, 255) && is_int(obj, "signal", 0, 128) &&
             json_is_boolean(json_object_get(obj, "output_truncated")) &&
             is_int(obj, "cpu_us", 0, INT64_MAX);
        break;
    case TG_FRAME_PING:
        ok = json_object_size(obj) == 1;
        break;
    case TG_FRAME_EGRESS:
        ok = check_egress(obj, false);
        break;
    case TG_FRAME_EGRESS_RESPONSE:
        ok = check_egress(obj, true);
        break;
    }
    if (!ok) return TG_FRAME_EINVAL;
    *type = names[i].type;
    return 0;
}

json_t *tg_frame_b64(const void *data, size_t len)
{
    if (len > TG_FRAME_MAX) return NULL;
    size_t olen = 4 * ((len + 2) / 3);
    unsigned char *buf = malloc(olen + 1);
    if (!buf) return NULL;
    EVP_EncodeBlock(buf, data, (int)len);
    json_t *s = json_stringn((const char *)buf, olen);
    free(buf);
    return s;
}

int tg_frame_unb64(const json_t *s, unsigned char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    if (!json_is_string(s)) return TG_FRAME_EINVAL;
    const char *in = json_string_value(s);
    size_t ilen = json_string_length(s);
    /* EVP_DecodeBlock skips surrounding blanks and cannot say how much padding
     * it decoded; demanding the canonical form keeps both questions away. */
    if (ilen % 4 != 0 || ilen > TG_FRAME_MAX || strcspn(in, " \t\r\n") != ilen)
        return TG_FRAME_EINVAL;
    unsigned char *buf = malloc(ilen / 4 * 3 + 1);
    if (!buf) return TG_FRAME_EINVAL;
    int n = ilen ? EVP_DecodeBlock(buf, (const unsigned char *)in, (int)ilen) : 0;
    if (n < 0) {
        free(buf);
        return TG_FRAME_EINVAL;
    }
    size_t pad = 0;
    if (ilen && in[ilen - 1] == '=') pad = ilen >= 2 && in[ilen - 2] == '=' ? 2 : 1;
    *len = (size_t)n - pad;
    buf[*len] = '\0';
    *out = buf;
    return 0;
}
