/* libmicrohttpd front; see http.h for the contract.
 *
 * A request's state lives from MHD's first call for it until the completion
 * callback. Its reply is handed over under the request's lock: whichever of
 * the handler's return and the reply comes second queues it (or resumes the
 * suspended connection, whose next access-handler call queues it).
 *
 * MHD does not watch a suspended connection, so a client that leaves a stream
 * with nothing to send would go unnoticed until the server next writes. The
 * server's watcher thread polls the sockets of those streams ("parked") for
 * the client's hangup, and resumes the connection so that MHD closes it. */
#include "gateway/http/http.h"

#include "gateway/core/alloc.h"
#include "gateway/core/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define DEFAULT_MAX_BODY (1024 * 1024)
#define DEFAULT_THREADS  4
#define MAX_HOSTS        16

/* The streams parked on suspended connections, watched for hangups. Lock
 * order: a stream's lock, then the watcher's. */
typedef struct watcher {
    pthread_mutex_t lock;
    tg_http_stream *parked; /* linked by parked_next; each holds a reference */
    int wake;               /* an eventfd: the list changed, or stop */
    bool stopping;
    pthread_t thread;
} watcher;

struct tg_http_server {
    struct MHD_Daemon *daemon;
    watcher watch;
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
    pthread_cond_t notified; /* on_close returned */
    struct MHD_Connection *conn;
    watcher *watch;
    int fd; /* the connection's socket, which the watcher polls while parked */
    char *buf;
    size_t len, cap, sent;
    bool ended;
    bool waiting;   /* the connection is suspended until there is more to send */
    bool closed;    /* MHD is done with the response: nothing reaches the client */
    bool hung_up;   /* the watcher saw the client leave: MHD is to close it */
    bool notifying; /* on_close is running, without the lock */
    tg_http_close_fn on_close;
    void *close_ctx;
    int refs;                           /* the writer's, MHD's and the watcher's */
    struct tg_http_stream *parked_next; /* guarded by the watcher's lock */
};

static void stream_unref(tg_http_stream *st)
{
    pthread_mutex_lock(&st->lock);
    bool last = --st->refs == 0;
    pthread_mutex_unlock(&st->lock);
    if (!last) return;
    pthread_cond_destroy(&st->notified);
    pthread_mutex_destroy(&st->lock);
    free(st->buf);
    free(st);
}

static void watcher_wake(watcher *w)
{
    uint64_t one = 1;
    /* A full counter already wakes the thread. */
    if (write(w->wake, &one, sizeof one) < 0 && errno != EAGAIN)
        tg_log_error(NULL, "cannot wake the stream watcher: %s", strerror(errno));
}

/* Called with st->lock held, the connection just suspended: MHD's reference
 * stays while it is, and the list takes one of its own. */
static void stream_park(tg_http_stream *st)
{
    watcher *w = st->watch;
    st->refs++;
    pthread_mutex_lock(&w->lock);
    st->parked_next = w->parked;
    w->parked = st;
    pthread_mutex_unlock(&w->lock);
    watcher_wake(w);
}

/* Called with st->lock held, before the connection is resumed: once it is,
 * MHD may close the socket, so the watcher must poll it no more. The list's
 * reference goes unless the watcher took the stream off (and the reference
 * with it) already. */
static void stream_unpark(tg_http_stream *st)
{
    watcher *w = st->watch;
    bool found = false;
    pthread_mutex_lock(&w->lock);
    for (tg_http_stream **p = &w->parked; *p; p = &(*p)->parked_next) {
        if (*p == st) {
            *p = st->parked_next;
            found = true;
            break;
        }
    }
    pthread_mutex_unlock(&w->lock);
    if (!found) return;
    st->refs--; /* never the last: MHD holds the suspended connection's */
    watcher_wake(w);
}

/* Called with st->lock held. */
static void stream_resume(tg_http_stream *st)
{
    st->waiting = false;
    stream_unpark(st);
    MHD_resume_connection(st->conn);
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
    if (st->hung_up) {
        n = MHD_CONTENT_READER_END_WITH_ERROR;
    } else if (avail) {
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
        stream_park(st);
        n = 0;
    }
    pthread_mutex_unlock(&st->lock);
    return n;
}

/* MHD is done with the response: the body went out whole, or the connection
 * ended first. Only the latter, before the server ended the stream, is the
 * client going away. */
static void stream_released(void *cls)
{
    tg_http_stream *st = cls;
    pthread_mutex_lock(&st->lock);
    st->closed = true;
    tg_http_close_fn fn = st->ended ? NULL : st->on_close;
    st->on_close = NULL;
    st->notifying = fn != NULL;
    pthread_mutex_unlock(&st->lock);
    if (fn) {
        fn(st->close_ctx);
        pthread_mutex_lock(&st->lock);
        st->notifying = false;
        pthread_cond_broadcast(&st->notified);
        pthread_mutex_unlock(&st->lock);
    }
    stream_unref(st);
}

/* Called with st->lock held. */
static void stream_wake(tg_http_stream *st)
{
    if (st->waiting && !st->closed) stream_resume(st);
}

/* The watcher saw the client of parked stream st leave. */
static void stream_hang_up(tg_http_stream *st)
{
    pthread_mutex_lock(&st->lock);
    st->hung_up = true;
    stream_wake(st);
    pthread_mutex_unlock(&st->lock);
}

#define HANGUP (POLLRDHUP | POLLHUP | POLLERR)

/* Takes parked stream st off the list, with the list's reference, if it is
 * still parked and its client has left. Its socket is asked again, under
 * the lock: the poll that saw the hangup may have seen a socket since closed,
 * and its number taken by another connection, but a parked stream's socket
 * stays open while it is listed. */
static bool take_hung_up(watcher *w, const tg_http_stream *st)
{
    bool taken = false;
    pthread_mutex_lock(&w->lock);
    for (tg_http_stream **p = &w->parked; *p; p = &(*p)->parked_next) {
        if (*p != st) continue;
        struct pollfd pfd = {.fd = st->fd, .events = POLLRDHUP};
        if (poll(&pfd, 1, 0) == 1 && (pfd.revents & HANGUP)) {
            *p = st->parked_next;
            taken = true;
        }
        break;
    }
    pthread_mutex_unlock(&w->lock);
    return taken;
}

static void *watch_loop(void *arg)
{
    watcher *w = arg;
    struct pollfd *fds = NULL;
    tg_http_stream **streams = NULL;
    size_t cap = 0;
    for (;;) {
        pthread_mutex_lock(&w->lock);
        if (w->stopping) {
            pthread_mutex_unlock(&w->lock);
            break;
        }
        size_t n = 1;
        for (tg_http_stream *st = w->parked; st; st = st->parked_next)
            n++;
        if (n > cap) {
            cap = n * 2;
            fds = tg_xrealloc(fds, cap * sizeof *fds);
            streams = tg_xrealloc(streams, cap * sizeof *streams);
        }
        fds[0] = (struct pollfd){.fd = w->wake, .events = POLLIN};
        n = 1;
        for (tg_http_stream *st = w->parked; st; st = st->parked_next, n++) {
            fds[n] = (struct pollfd){.fd = st->fd, .events = POLLRDHUP};
            streams[n] = st;
        }
        pthread_mutex_unlock(&w->lock);
        if (poll(fds, n, -1) < 0) {
            if (errno == EINTR) continue;
            tg_log_error(NULL, "the stream watcher stops: poll: %s", strerror(errno));
            break;
        }
        uint64_t count;
        if (fds[0].revents && read(w->wake, &count, sizeof count) < 0 && errno != EAGAIN)
            tg_log_error(NULL, "the stream watcher's wakeup: %s", strerror(errno));
        for (size_t i = 1; i < n; i++) {
            /* streams[i] is only compared until the list says it is alive. */
            if (!(fds[i].revents & HANGUP) || !take_hung_up(w, streams[i])) continue;
            stream_hang_up(streams[i]);
            stream_unref(streams[i]);
        }
    }
    free(fds);
    free(streams);
    return NULL;
}

tg_http_stream *tg_http_stream_start(tg_http_request *req, unsigned status,
                                     const char *content_type)
{
    tg_http_stream *st = tg_xcalloc(1, sizeof *st);
    pthread_mutex_init(&st->lock, NULL);
    pthread_cond_init(&st->notified, NULL);
    st->conn = req->conn;
    st->watch = &req->server->watch;
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    st->fd = info ? info->connect_fd : -1;
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

void tg_http_stream_on_close(tg_http_stream *st, tg_http_close_fn fn, void *ctx)
{
    pthread_mutex_lock(&st->lock);
    bool gone = st->closed;
    if (!gone) {
        st->on_close = fn;
        st->close_ctx = ctx;
    }
    pthread_mutex_unlock(&st->lock);
    if (gone) fn(ctx);
}

void tg_http_stream_end(tg_http_stream *st)
{
    pthread_mutex_lock(&st->lock);
    st->ended = true;
    stream_wake(st);
    /* The caller may free on_close's context once this returns. */
    while (st->notifying)
        pthread_cond_wait(&st->notified, &st->lock);
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

static int watcher_start(watcher *w)
{
    w->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->wake < 0) return -1;
    pthread_mutex_init(&w->lock, NULL);
    int rc = pthread_create(&w->thread, NULL, watch_loop, w);
    if (rc != 0) {
        pthread_mutex_destroy(&w->lock);
        close(w->wake);
        errno = rc;
        return -1;
    }
    return 0;
}

/* After MHD stopped: no stream is parked then, since the streams were
 * ended (so resumed) before. */
static void watcher_stop(watcher *w)
{
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    pthread_mutex_unlock(&w->lock);
    watcher_wake(w);
    pthread_join(w->thread, NULL);
    pthread_mutex_destroy(&w->lock);
    close(w->wake);
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
    if (watcher_start(&s->watch) != 0) {
        snprintf(err, errlen, "cannot start the stream watcher: %s", strerror(errno));
        free(s);
        return TG_HTTP_ESTART;
    }
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
        watcher_stop(&s->watch);
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
    watcher_stop(&s->watch);
    if (listener != MHD_INVALID_SOCKET) close(listener);
    for (size_t i = 0; i < s->hosts_count; i++)
        free(s->hosts[i]);
    for (size_t i = 0; i < s->origins_count; i++)
        free(s->origins[i]);
    free(s->origins);
    free(s);
}
