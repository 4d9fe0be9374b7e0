/* The HTTP front of toolgate, on libmicrohttpd.
 *
 * The server reads each request whole (bounded by max_body), checks Host and
 * Origin against allow-lists (a page in a browser must not reach a gateway on
 * loopback through DNS rebinding), then hands it to one handler. The handler
 * replies at once or later, from any thread: a request not yet answered when
 * the handler returns has its connection suspended, so a slow tool call holds
 * no server thread and other requests keep being served. Every request gets
 * exactly one reply; errors of the transport itself are JSON bodies. */
#ifndef TG_GATEWAY_HTTP_H
#define TG_GATEWAY_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tg_http_server tg_http_server;
typedef struct tg_http_request tg_http_request;

/* Called once per request that passed the transport's checks, on a server
 * thread. It must lead to exactly one tg_http_reply* call, now or later. */
typedef void (*tg_http_handler)(tg_http_request *req, void *userdata);

typedef struct tg_http_config {
    const char *listen; /* "127.0.0.1:8080"; port 0 picks a free one */
    size_t max_body;    /* bytes; default 1 MiB; larger bodies get 413 */
    unsigned threads;   /* server threads; default 4 */
    /* Host header values accepted besides the listen address's own
     * ("127.0.0.1:PORT", "localhost:PORT"). */
    const char *const *extra_hosts;
    size_t extra_hosts_count;
    /* Origins a browser may call from besides the gateway's own ("http://" and
     * an accepted Host); a request with any other Origin gets 403. */
    const char *const *allowed_origins;
    size_t allowed_origins_count;
} tg_http_config;

enum {
    TG_HTTP_EADDR = -1,  /* the listen address is malformed */
    TG_HTTP_ESTART = -2, /* the server could not start (port in use, ...) */
};

/* Starts serving. Returns 0, or a negative TG_HTTP_E* code with a reason in err. */
int tg_http_start(const tg_http_config *config, tg_http_handler handler, void *userdata,
                  tg_http_server **out, char *err, size_t errlen);
/* The port the server listens on (the one picked when the config said 0). */
uint16_t tg_http_port(const tg_http_server *server);
/* Stops accepting, gives open connections up to 2 s to finish sending what
 * was answered, closes them and frees the server. Requests whose reply is
 * still pending must be answered, and streams ended, before this is called. */
void tg_http_stop(tg_http_server *server);

/* Borrowed strings, valid until the request is answered. */
const char *tg_http_method(const tg_http_request *req);
const char *tg_http_path(const tg_http_request *req);
/* A request header (case-insensitive name), or NULL. */
const char *tg_http_header(const tg_http_request *req, const char *name);
/* A query-string argument of the URL, or NULL. */
const char *tg_http_query(const tg_http_request *req, const char *name);
const char *tg_http_body(const tg_http_request *req, size_t *len);

/* Adds a header to the reply to come. Call before the reply. */
void tg_http_set_header(tg_http_request *req, const char *name, const char *value);
/* Answers req with body (steals the malloc'd buffer; NULL for none). After this
 * call req must not be touched. Thread-safe. */
void tg_http_reply(tg_http_request *req, unsigned status, const char *content_type, char *body,
                   size_t len);
/* Answers with a JSON document (steals doc). */
void tg_http_reply_json(tg_http_request *req, unsigned status, json_t *doc);
/* Answers with the transport's error shape: {"error": {"code", "message"}}. */
void tg_http_reply_error(tg_http_request *req, unsigned status, const char *code,
                         const char *message);

/* A streamed reply (Server-Sent Events): the status and headers go out now,
 * the body in pieces as they come, from any thread. */
typedef struct tg_http_stream tg_http_stream;

/* Answers req with a body to come. After this call req must not be touched;
 * the stream must be ended with tg_http_stream_end. */
tg_http_stream *tg_http_stream_start(tg_http_request *req, unsigned status,
                                     const char *content_type);
/* Queues bytes for the client. A stream whose client went away swallows them. */
void tg_http_stream_write(tg_http_stream *stream, const char *data, size_t len);
/* True once the client is gone: writes are swallowed from then on. */
bool tg_http_stream_closed(tg_http_stream *stream);

typedef void (*tg_http_close_fn)(void *ctx);
/* Has fn(ctx) called once if the client goes away before the stream is ended
 * (call this at most once per stream): on a server thread,
 * soon after the connection drops, even while nothing is being sent; or
 * before this returns if the client has gone already. Never called once
 * tg_http_stream_end has begun, and tg_http_stream_end waits for a call in
 * progress, so ctx need live only until tg_http_stream_end returns; fn must
 * not end the stream itself. A stream started in the handler goes out when
 * the handler returns, so fn registered there runs only after that. */
void tg_http_stream_on_close(tg_http_stream *stream, tg_http_close_fn fn, void *ctx);
/* Ends the body and releases the caller's hold on the stream. */
void tg_http_stream_end(tg_http_stream *stream);

#endif
