/* The sandbox's end of the egress channel: an HTTP/1.1 forward proxy on the
 * sandbox's own loopback (127.0.0.1:3128, what HTTP_PROXY names), which the
 * runner drives from its event loop.
 *
 * It reads one request per connection (absolute-form http:// URLs only),
 * hands it to the host as one "egress" frame (vm-pool/frame.h), writes the
 * host's "egress_response" back as the HTTP response, and closes the
 * connection. Invariant: every byte a worker sends is bounded before it is
 * kept (a head of TG_PROXY_HEAD_MAX, a body of TG_FRAME_EGRESS_BODY_MAX, at
 * most TG_PROXY_CONNS_MAX connections at once: the rest wait in the listen
 * backlog), and nothing reaches the host that tg_frame_check would refuse.
 * Single-threaded: no function here may run concurrently with another. */
#ifndef TG_VMPOOL_AGENT_PROXY_H
#define TG_VMPOOL_AGENT_PROXY_H

#include <jansson.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#define TG_PROXY_PORT      3128
#define TG_PROXY_URL       "http://127.0.0.1:3128"
#define TG_PROXY_HEAD_MAX  (64u * 1024u) /* request line and headers; also the trailers */
#define TG_PROXY_CONNS_MAX 8
/* How many pollfds tg_proxy_poll_fds fills at most. */
#define TG_PROXY_POLLFDS (1 + TG_PROXY_CONNS_MAX)

typedef struct tg_proxy tg_proxy;

/* Sends one egress frame (stolen) to the host. It may call tg_proxy_answer
 * before it returns (the runner reads the channel while it writes). */
typedef void (*tg_proxy_send_fn)(json_t *frame, void *userdata);

/* Listens on 127.0.0.1:port (0: a free port, see tg_proxy_port). Returns
 * NULL with errno set when it cannot. */
tg_proxy *tg_proxy_open(uint16_t port, tg_proxy_send_fn send, void *userdata);

/* The port it listens on. */
uint16_t tg_proxy_port(const tg_proxy *p);

/* Fills fds (room for TG_PROXY_POLLFDS) with what the proxy waits for.
 * Returns how many it filled. */
size_t tg_proxy_poll_fds(tg_proxy *p, struct pollfd *fds);

/* Acts on what poll() reported in the n fds tg_proxy_poll_fds filled, and
 * closes connections whose lingering time is up; call it after every poll,
 * events or not. */
void tg_proxy_handle(tg_proxy *p, const struct pollfd *fds, size_t n);

/* Hands the host's answer (borrowed, a checked "egress_response" frame) to
 * the connection waiting for its id; drops it when none waits (the worker
 * closed the connection, or the id was never asked for). */
void tg_proxy_answer(tg_proxy *p, const json_t *frame);

/* Closes the listener and every connection. NULL is a no-op. */
void tg_proxy_close(tg_proxy *p);

#endif
