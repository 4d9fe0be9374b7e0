/* libmicrohttpd front; see http.h for the contract.
 *
 * A request's state lives from MHD's first call for it until the completion
 * callback. Its reply is handed over under the request's lock: whichever of
 * the handler's return and the reply comes second queues it (or resumes the
 * suspended connection, whose next access-handler call queues it). */
#include "gateway/http/http.h"

#include "gateway/core/alloc.h"
#include "gateway/core/log.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define DEFAULT_MAX_BODY (1024 * 1024)
#define DEFAULT_THREADS  4
#define MAX_HOSTS        16

struct tg_http_server {
    struct MHD_Daemon *daemon;
    tg_http_handler handler;
    void *userdata;
    size_t max_body;
    uint16_t port;
    char *hosts[MAX_HOSTS];
    size_t hosts_count;
    char **origins;
    size_t origins_count;
};

typedef struct pending_header {
    char *name, *value;
    struct pending_header *next;
} pending_header;

struct tg_http_request {
    tg_http_server *server;
    struct MHD_Connection *conn;
    const char *method, *path; /* MHD's, valid for the request's life */
    char *body;
    size_t len, cap;
    bool too_large, handled, suspended;
    pthread_mutex_t lock;
    pending_header *headers;
    struct MHD_Response *response; /* the reply, once given */
    unsigned status;
};

static void request_free(tg_http_request *r)
{
    while (r->headers) {
        pending_header *next = r->headers->next;
        free(r->headers->name);
        free(r->headers->value);
        free(r->headers);
        r->headers = next;
    }
    if (r->response) MHD_destroy_response(r->response);
    pthread_mutex_destroy(&r->lock);
    /* A body may be a secret's value (PUT /v1/secrets): none stays behind
     * in freed memory. */
    if (r->body) OPENSSL_cleanse(r->body, r->cap);
    free(r->body);
    free(r);
}

const char *tg_http_method(const tg_http_request *req)
{
    return req->method;
}

const char *tg_http_path(const tg_http_request *req)
{
    return req->path;
}

const char *tg_http_header(const tg_http_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *tg_http_query(const tg_http_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *tg_http_body(const tg_http_request *req, size_t *len)
{
    if (len) *len = req->len;
    return req->body ? req->body : "";
}

void tg_http_set_header(tg_http_request *req, const char *name, const char *value)
{
    pending_header *h = tg_xmalloc(sizeof *h);
    h->name = tg_xstrdup(name);
    h->value = tg_xstrdup(value);
    h->next = req->headers;
    req->headers = h;
}

static enum MHD_Result queue(tg_http_request *r)
{
    struct MHD_Response *resp = r->response;
    r->response = NULL;
    enum MHD_Result rc = MHD_queue_response(r->conn, r->status, resp);
    MHD_destroy_response(resp);
    return rc;
}

/* Gives req its reply (with the headers set on it). A suspended connection is
 * woken, and its next access-handler call queues the reply; one not yet
 * suspended is queued when the handler returns. */
static void hand_over(tg_http_request *req, struct MHD_Response *resp, unsigned status)
{
    for (pending_header *h = req->headers; h; h = h->next)
        MHD_add_response_header(resp, h->name, h->value);
    pthread_mutex_lock(&req->lock);
    req->response = resp;
    req->status = status;
    if (req->suspended) {
        req->suspended = false;
        MHD_resume_connection(req->conn);
    }
    pthread_mutex_unlock(&req->lock);
}

void tg_http_reply(tg_http_request *req, unsigned status, const char *content_type, char *body,
                   size_t len)
{
    struct MHD_Response *resp =
        body ? MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE)
             : MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        tg_log_error(NULL, "out of memory building an HTTP response");
        abort();
    }
    if (content_type) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    hand_over(req, resp, status);
}

void tg_http_reply_json(tg_http_request *req, unsigned status, json_t *doc)
{
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (!text) {
        tg_log_error(NULL, "out of memory encoding a JSON response");
        abort();
    }
    tg_http_reply(req, status, "application/json", text, strlen(text));
}

void tg_http_reply_error(tg_http_request *req, unsigned status, const char *code,
                         const char *message)
{
    tg_http_reply_json(req, status,
                       json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message));
}

struct tg_http_stream {
    pthread_mutex_t lock;
    struct MHD_Connection *conn;
    char *buf;
    size_t len, cap, sent;
    bool ended;
    bool waiting; /* the connection is suspended until there is more to send */
    bool closed;  /* MHD is done with the response: nothing reaches the client */
    int refs;     /* the writer's and MHD's */
};

static void stream_unref(tg_http_stream *st)
{
    pthread_mutex_lock(&st->lock);
    bool last = --st->refs == 0;
    pthread_mutex_unlock(&st->lock);
    if (!last) return;
    pthread_mutex_destroy(&st->lock);
    free(st->buf);
    free(st);
}

/* MHD asks for more body. With nothing queued the connection is suspended
 * rather than polled: returning 0 alone would make MHD spin. */
static ssize_t stream_read(void *cls, uint64_t pos, char *out, size_t max)
{
    (void)pos;
    tg_http_stream *st = cls;
    pthread_mutex_lock(&st->lock);
    ssize_t n;
    size_t avail = st->len - st->sent;
    if (avail) {
        size_t take = avail < max ? avail : max;
        memcpy(out, st->buf + st->sent, take);
        st->sent += take;
        if (st->sent == st->len) st->sent = st->len = 0;
        n = (ssize_t)take;
    } else if (st->ended) {
        n = MHD_CONTENT_READER_END_OF_STREAM;
    } else {
        st->waiting = true;
        MHD_suspend_connection(st->conn);
        n = 0;
    }
    pthread_mutex_unlock(&st->lock);
    return n;
}

static void stream_released(void *cls)
{
    tg_http_stream *st = cls;
    pthread_mutex_lock(&st->lock);
    st->closed = true;
    pthread_mutex_unlock(&st->lock);
    stream_unref(st);
}

/* Called with st->lock held. */
static void stream_wake(tg_http_stream *st)
{
    if (st->waiting && !st->closed) {
        st->waiting = false;
        MHD_resume_connection(st->conn);
    }
}

tg_http_stream *tg_http_stream_start(tg_http_request *req, unsigned status,
                                     const char *content_type)
{
    tg_http_stream *st = tg_xcalloc(1, sizeof *st);
    pthread_mutex_init(&st->lock, NULL);
    st->conn = req->conn;
    st->refs = 2;
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024,
                                                                  stream_read, st, stream_released);
    if (!resp) {
        tg_log_error(NULL, "out of memory building an HTTP response");
        abort();
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    hand_over(req, resp, status);
    return st;
}

void tg_http_stream_write(tg_http_stream *st, const char *data, size_t len)
{
    pthread_mutex_lock(&st->lock);
    if (!st->closed) {
        if (st->len + len > st->cap) {
            st->cap = (st->len + len) * 2;
            st->buf = tg_xrealloc(st->buf, st->cap);
        }
        memcpy(st->buf + st->len, data, len);
        st->len += len;
        stream_wake(st);
    }
    pthread_mutex_unlock(&st->lock);
}

bool tg_http_stream_closed(tg_http_stream *st)
{
    pthread_mutex_lock(&st->lock);
    bool closed = st->closed;
    pthread_mutex_unlock(&st->lock);
    return closed;
}

void tg_http_stream_end(tg_http_stream *st)
{
    pthread_mutex_lock(&st->lock);
    st->ended = true;
    stream_wake(st);
    pthread_mutex_unlock(&st->lock);
    stream_unref(st);
}

static bool host_allowed(const tg_http_server *s, const char *host)
{
    if (!host) return false;
    for (size_t i = 0; i < s->hosts_count; i++)
        if (strcasecmp(s->hosts[i], host) == 0) return true;
    return false;
}

static bool origin_allowed(const tg_http_server *s, const char *origin)
{
    if (!origin) return true; /* not a browser: nothing to rebind */
    for (size_t i = 0; i < s->origins_count; i++)
        if (strcasecmp(s->origins[i], origin) == 0) return true;
    return false;
}

/* Checks done on the headers alone, before any body is read. Returns false
 * with r's reply set when the request is refused. */
static bool admit(tg_http_request *r)
{
    const tg_http_server *s = r->server;
    if (!host_allowed(s, tg_http_header(r, MHD_HTTP_HEADER_HOST))) {
        tg_http_reply_error(r, MHD_HTTP_FORBIDDEN, "FORBIDDEN",
                            "the Host header names a host this gateway does not serve");
        return false;
    }
    if (!origin_allowed(s, tg_http_header(r, "Origin"))) {
        tg_http_reply_error(r, MHD_HTTP_FORBIDDEN, "FORBIDDEN",
                            "requests from this Origin are not allowed");
        return false;
    }
    const char *cl = tg_http_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char *end;
        unsigned long long n = strtoull(cl, &end, 10);
        if (*end == '\0' && n > s->max_body) {
            r->too_large = true;
            tg_http_reply_error(r, MHD_HTTP_CONTENT_TOO_LARGE, "PAYLOAD_TOO_LARGE",
                                "the request body is larger than this gateway accepts");
            return false;
        }
    }
    return true;
}

static void append_body(tg_http_request *r, const char *data, size_t n)
{
    if (r->too_large) return;
    if (r->len + n > r->server->max_body) {
        r->too_large = true;
        return;
    }
    if (r->len + n + 1 > r->cap) {
        size_t cap = (r->len + n + 1) * 2;
        if (cap > r->server->max_body + 1) cap = r->server->max_body + 1;
        /* By hand, not realloc, so the old buffer is wiped before it is freed. */
        char *grown = tg_xmalloc(cap);
        if (r->body) {
            memcpy(grown, r->body, r->len);
            OPENSSL_cleanse(r->body, r->cap);
            free(r->body);
        }
        r->body = grown;
        r->cap = cap;
    }
    memcpy(r->body + r->len, data, n);
    r->len += n;
    r->body[r->len] = '\0';
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **state)
{
    (void)version;
    tg_http_server *s = cls;
    tg_http_request *r = *state;
    if (!r) {
        r = tg_xcalloc(1, sizeof *r);
        r->server = s;
        r->conn = conn;
        r->method = method;
        r->path = url;
        pthread_mutex_init(&r->lock, NULL);
        *state = r;
        if (!admit(r)) {
            r->handled = true;
            return queue(r);
        }
        return MHD_YES;
    }
    if (*upload_size) {
        append_body(r, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    if (!r->handled) {
        r->handled = true;
        if (r->too_large) {
            tg_http_reply_error(r, MHD_HTTP_CONTENT_TOO_LARGE, "PAYLOAD_TOO_LARGE",
                                "the request body is larger than this gateway accepts");
            return queue(r);
        }
        s->handler(r, s->userdata);
        pthread_mutex_lock(&r->lock);
        if (!r->response) {
            r->suspended = true;
            MHD_suspend_connection(conn);
            pthread_mutex_unlock(&r->lock);
            return MHD_YES;
        }
        pthread_mutex_unlock(&r->lock);
        return queue(r);
    }
    /* Resumed after a late reply. */
    pthread_mutex_lock(&r->lock);
    bool ready = r->response != NULL;
    pthread_mutex_unlock(&r->lock);
    return ready ? queue(r) : MHD_NO;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **state,
                         enum MHD_RequestTerminationCode why)
{
    (void)cls;
    (void)conn;
    (void)why;
    if (*state) request_free(*state);
    *state = NULL;
}

/* Parses "A.B.C.D:PORT", "[v6]:PORT" or "localhost:PORT". */
static int parse_listen(const char *listen, struct sockaddr_storage *addr, socklen_t *len,
                        char *host, size_t hostlen)
{
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen) return TG_HTTP_EADDR;
    char *end;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (*end || colon[1] == '\0' || port > 65535) return TG_HTTP_EADDR;
    size_t n = (size_t)(colon - listen);
    if (n >= hostlen) return TG_HTTP_EADDR;
    memcpy(host, listen, n);
    host[n] = '\0';
    memset(addr, 0, sizeof *addr);
    if (host[0] == '[' && n > 2 && host[n - 1] == ']') {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)addr;
        char inner[64];
        if (n - 2 >= sizeof inner) return TG_HTTP_EADDR;
        memcpy(inner, host + 1, n - 2);
        inner[n - 2] = '\0';
        if (inet_pton(AF_INET6, inner, &a6->sin6_addr) != 1) return TG_HTTP_EADDR;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *len = sizeof *a6;
        return 0;
    }
    struct sockaddr_in *a4 = (struct sockaddr_in *)addr;
    const char *ip = strcmp(host, "localhost") == 0 ? "127.0.0.1" : host;
    if (inet_pton(AF_INET, ip, &a4->sin_addr) != 1) return TG_HTTP_EADDR;
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    *len = sizeof *a4;
    return 0;
}

static void add_host(tg_http_server *s, const char *host)
{
    if (s->hosts_count < MAX_HOSTS) s->hosts[s->hosts_count++] = tg_xstrdup(host);
}

int tg_http_start(const tg_http_config *config, tg_http_handler handler, void *userdata,
                  tg_http_server **out, char *err, size_t errlen)
{
    *out = NULL;
    struct sockaddr_storage addr;
    socklen_t addrlen = 0;
    char host[128];
    if (parse_listen(config->listen, &addr, &addrlen, host, sizeof host) != 0) {
        snprintf(err, errlen, "listen address \"%s\" is not HOST:PORT with an IP address host",
                 config->listen);
        return TG_HTTP_EADDR;
    }
    tg_http_server *s = tg_xcalloc(1, sizeof *s);
    s->handler = handler;
    s->userdata = userdata;
    s->max_body = config->max_body ? config->max_body : DEFAULT_MAX_BODY;
    unsigned threads = config->threads ? config->threads : DEFAULT_THREADS;
    s->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
            (addr.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
        0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024), MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)120, MHD_OPTION_END);
    if (!s->daemon) {
        snprintf(err, errlen, "cannot listen on %s (address in use, or not this machine's)",
                 config->listen);
        free(s);
        return TG_HTTP_ESTART;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : 0;

    char buf[192];
    snprintf(buf, sizeof buf, "%s:%u", host, s->port);
    add_host(s, buf);
    bool loopback = strcmp(host, "127.0.0.1") == 0 || strcmp(host, "localhost") == 0 ||
                    strcmp(host, "[::1]") == 0;
    if (loopback) {
        snprintf(buf, sizeof buf, "localhost:%u", s->port);
        add_host(s, buf);
        snprintf(buf, sizeof buf, "127.0.0.1:%u", s->port);
        add_host(s, buf);
    }
    for (size_t i = 0; i < config->extra_hosts_count; i++)
        add_host(s, config->extra_hosts[i]);
    /* A page served by the gateway itself (under any of its own host names)
     * is same-origin; any other Origin must be listed. */
    s->origins_count = s->hosts_count + config->allowed_origins_count;
    s->origins = tg_xcalloc(s->origins_count, sizeof *s->origins);
    for (size_t i = 0; i < s->hosts_count; i++)
        s->origins[i] = tg_xasprintf("http://%s", s->hosts[i]);
    for (size_t i = 0; i < config->allowed_origins_count; i++)
        s->origins[s->hosts_count + i] = tg_xstrdup(config->allowed_origins[i]);
    *out = s;
    return 0;
}

uint16_t tg_http_port(const tg_http_server *server)
{
    return server->port;
}

/* How long stopping waits for answers already given to reach their clients. */
#define DRAIN_MS 2000

void tg_http_stop(tg_http_server *s)
{
    if (!s) return;
    /* No new connections; the open ones get a bounded time to finish sending
     * what was already answered (the last events of a stream, say). */
    MHD_socket listener = MHD_quiesce_daemon(s->daemon);
    for (int waited = 0; waited < DRAIN_MS; waited += 10) {
        const union MHD_DaemonInfo *info =
            MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
        if (!info || info->num_connections == 0) break;
        usleep(10 * 1000);
    }
    MHD_stop_daemon(s->daemon);
    if (listener != MHD_INVALID_SOCKET) close(listener);
    for (size_t i = 0; i < s->hosts_count; i++)
        free(s->hosts[i]);
    for (size_t i = 0; i < s->origins_count; i++)
        free(s->origins[i]);
    free(s->origins);
    free(s);
}
