/* Host <-> sandbox frames: a 4-byte big-endian length, then that many bytes of
 * JSON text holding one object with a string "type".
 *
 * Both ends use this code, and neither trusts the other: a frame longer than
 * the reader's limit, text that is not a JSON object, or an object whose fields
 * do not have the shape tg_frame_check expects is rejected, never acted on.
 * Binary payloads (files, stdout, stderr, HTTP bodies) travel as base64 strings.
 *
 * The egress channel: a worker's HTTP request, read by the sandbox's proxy,
 * goes up as
 *   {"type":"egress","id":7,"method":"GET","url":"http://host[:port]/path?q",
 *    "headers":[["Name","value"],...],"body":"<base64>"}
 * and the host answers it, on the same stream, with
 *   {"type":"egress_response","id":7,"status":200,
 *    "headers":[["Name","value"],...],"body":"<base64>"}
 * Ids are unique within a run; a response may come at any time during the
 * run (or after it, when the worker stopped waiting), and is dropped when no
 * request waits for it. */
#ifndef TG_VMPOOL_FRAME_H
#define TG_VMPOOL_FRAME_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* No frame is ever larger than this, in either direction. */
#define TG_FRAME_MAX (8u * 1024u * 1024u)
/* The most bytes a run frame's "seed" decodes to. */
#define TG_FRAME_SEED_MAX 512
/* Egress frames: the most bytes a body decodes to (either direction), the
 * longest url, the most header pairs, the longest method. Together they keep
 * an egress frame well under TG_FRAME_MAX. */
#define TG_FRAME_EGRESS_BODY_MAX    (4u * 1024u * 1024u)
#define TG_FRAME_EGRESS_URL_MAX     8192
#define TG_FRAME_EGRESS_HEADERS_MAX 200
#define TG_FRAME_EGRESS_METHOD_MAX  16

enum {
    TG_FRAME_OK = 0,
    TG_FRAME_EOF = -1,       /* the peer closed the stream between frames */
    TG_FRAME_ETIMEDOUT = -2, /* the deadline passed first */
    TG_FRAME_ETOOBIG = -3,   /* the length prefix exceeds the limit */
    TG_FRAME_EINVAL = -4,    /* not a JSON object with a known type and valid fields */
    TG_FRAME_EIO = -5,       /* read/write failed, or the stream ended inside a frame */
};

typedef enum tg_frame_type {
    TG_FRAME_READY,  /* guest -> host: setup done, waiting for run */
    TG_FRAME_RUN,    /* host -> guest: what to run */
    TG_FRAME_STDOUT, /* guest -> host: {data: base64} */
    TG_FRAME_STDERR, /* guest -> host: {data: base64}, the tail of stderr */
    TG_FRAME_EVENT,  /* guest -> host: {event: object}, one line from fd 3 */
    TG_FRAME_RESULT, /* guest -> host: {exit_code, signal, output_truncated, cpu_us} */
    TG_FRAME_PING,   /* host -> guest, before run: answered with "ready" */
    /* guest -> host: {id, method, url, headers, body}, one HTTP request */
    TG_FRAME_EGRESS,
    /* host -> guest: {id, status, headers, body}, the answer to egress id */
    TG_FRAME_EGRESS_RESPONSE,
} tg_frame_type;

/* Writes obj (borrowed) as one frame. deadline_ns is CLOCK_MONOTONIC, < 0 for none.
 * On a socket it uses send(MSG_NOSIGNAL); on anything else (the microVM's
 * virtio port) write(), so a caller writing to a pipe ignores SIGPIPE. */
int tg_frame_write(int fd, const json_t *obj, int64_t deadline_ns);

/* Reads one frame of at most max bytes and checks it (tg_frame_check).
 * Returns: 0 with *out a new reference and *type set, or a negative TG_FRAME_E* code. */
int tg_frame_read(int fd, size_t max, int64_t deadline_ns, json_t **out, tg_frame_type *type);

/* Parses one frame body (without its prefix) and checks it. Returns as tg_frame_read. */
int tg_frame_decode(const void *body, size_t len, json_t **out, tg_frame_type *type);

/* Checks that obj has the fields its "type" requires, with the right JSON types
 * and within bounds. Returns 0 and sets *type, or TG_FRAME_EINVAL.
 * A "run" frame may carry a "seed" (base64 of at most TG_FRAME_SEED_MAX bytes)
 * and, in "limits", cpu_seconds, max_files, max_file_bytes and max_pids.
 * Egress frames: id an integer in [0, 2^53), method 1..16 uppercase letters,
 * url a string of printable ASCII starting with "http://" of at most
 * TG_FRAME_EGRESS_URL_MAX bytes, headers an array of at most
 * TG_FRAME_EGRESS_HEADERS_MAX [name, value] pairs (names HTTP tokens, values
 * without CR, LF or NUL), body canonical base64 of at most
 * TG_FRAME_EGRESS_BODY_MAX bytes, status an integer in [100, 599]. */
int tg_frame_check(const json_t *obj, tg_frame_type *type);

/* Returns: new reference, a JSON string holding data as base64. */
json_t *tg_frame_b64(const void *data, size_t len);
/* Decodes the base64 string s. Returns 0 with *out (malloc'd, NUL-terminated
 * for convenience, caller frees) and *len, or TG_FRAME_EINVAL. */
int tg_frame_unb64(const json_t *s, unsigned char **out, size_t *len);

/* CLOCK_MONOTONIC now, in nanoseconds. */
int64_t tg_frame_now_ns(void);

#endif
