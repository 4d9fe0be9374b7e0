/* Sync state: a small key-value store per (tenant, worker) that outlives the
 * single-use sandbox, so that a scheduled sync keeps its cursor ("changed
 * since") from one run to the next. A worker opts in with "capabilities":
 * ["state"] in its manifest and reaches it through the egress channel at
 * http://toolgate.internal/v1/state/KEY (GET, PUT, DELETE; GET /v1/state
 * lists the keys): no key, token or socket of it is ever in the sandbox.
 *
 * The store is its own sqlite file, <data_dir>/state.db, in WAL mode with
 * synchronous=FULL, or the "state" schema of a PostgreSQL database the
 * gateway's replicas share: a write the worker was told succeeded survives a power
 * loss, since a cursor that went backwards would make the next run import
 * again what it already imported.
 *
 * Invariants: every read and write is scoped by (tenant, worker); a worker
 * whose manifest does not declare the capability gets 403 and never reaches
 * the store; keys are 1..256 bytes of [A-Za-z0-9._~-]; a value is at most
 * max_value_bytes, and a (tenant, worker) holds at most max_keys keys and
 * max_worker_bytes bytes of keys and values together (a write that would
 * grow past either is refused; one that does not grow always passes); every
 * PUT and DELETE, done or refused, leaves a `state.write` audit record (the
 * key and a size, never the value), and a write whose record cannot be made
 * durable is rolled back and answers 503 AUDIT_UNAVAILABLE.
 *
 * Threads: any number may read while one writes; writes of one (tenant,
 * worker) are serialized, across replicas too. */
#ifndef TG_STATE_STATE_H
#define TG_STATE_STATE_H

#include "audit/audit.h"
#include "gateway/core/errors.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tg_state tg_state;

/* The host platform capabilities answer at, inside every sandbox. */
#define TG_STATE_HOST    "toolgate.internal"
#define TG_STATE_KEY_MAX 256
/* An ETag is 32 hex digits (the first 128 bits of the value's SHA-256). */
#define TG_STATE_ETAG_HEX 32
/* GET /v1/state lists at most this many keys (in key order). */
#define TG_STATE_LIST_MAX 1000

/* 0 takes the default. */
typedef struct tg_state_config {
    size_t max_value_bytes;  /* one value (64 KiB; at most 4 MiB, what a frame carries) */
    size_t max_worker_bytes; /* a (tenant, worker)'s keys and values together (1 MiB) */
    unsigned max_keys;       /* a (tenant, worker)'s keys (1000) */
} tg_state_config;

/* Opens (creating when missing) the store at path, a sqlite file or a
 * PostgreSQL URL. Returns 0, or
 * TG_EUNAVAILABLE with err filled. */
int tg_state_open(const char *path, const tg_state_config *config, tg_state **out, tg_error *err);
/* No other call may run concurrently. */
void tg_state_close(tg_state *s);

/* The limits in force (the defaults filled in). */
tg_state_config tg_state_limits(const tg_state *s);

/* True when key[0..len) is 1..TG_STATE_KEY_MAX bytes of [A-Za-z0-9._~-]
 * (an unreserved URL path segment, so no percent-decoding is ever needed). */
bool tg_state_valid_key(const char *key, size_t len);

typedef struct tg_state_value {
    unsigned char *data; /* malloc'd, len bytes and a NUL after them */
    size_t len;
    char *content_type; /* malloc'd; NULL when the PUT sent none */
    char etag[TG_STATE_ETAG_HEX + 1];
    int64_t updated_ms; /* ms since the epoch */
} tg_state_value;

/* Reads (tenant, worker)'s key into *out (cleared first). Returns 0,
 * TG_EBAD_REQUEST (a bad key), TG_ENOT_FOUND or TG_EUNAVAILABLE. */
int tg_state_get(tg_state *s, const char *tenant, const char *worker, const char *key,
                 tg_state_value *out, tg_error *err);
void tg_state_value_clear(tg_state_value *v);

/* What a put or delete did, given to confirm before it commits. */
typedef struct tg_state_change {
    bool created;                     /* put: the key did not exist */
    size_t bytes;                     /* put: the value written; delete: the value removed */
    char etag[TG_STATE_ETAG_HEX + 1]; /* put: the new value's */
} tg_state_change;

/* Called by put and delete with the change written but not committed, under
 * the store's write lock (it must not call the store): 0 commits it,
 * anything else rolls it back and becomes put's or delete's result. The
 * request handler writes the audit record here, so that no change stands
 * without its record. */
typedef int (*tg_state_confirm_fn)(void *userdata, const tg_state_change *change);

/* One write. Strings are borrowed. The conditions are the request's
 * If-Match and If-None-Match header values as sent (NULL when absent): "*"
 * or a list of entity tags ("\"<etag>\", ..."; weak tags never match). */
typedef struct tg_state_write {
    const char *tenant, *worker, *key;
    const void *value; /* put */
    size_t len;
    const char *content_type; /* put; NULL: none */
    const char *if_match;
    const char *if_none_match;
    tg_state_confirm_fn confirm; /* may be NULL */
    void *userdata;
} tg_state_write;

/* Creates or replaces the key's value. Returns 0 with *change (may be
 * NULL) filled, or: TG_EBAD_REQUEST (a bad key or content type),
 * TG_EPAYLOAD_TOO_LARGE (the value alone is over max_value_bytes),
 * TG_ESTATE_LIMIT (the worker's keys or bytes would grow past their limit),
 * TG_EPRECONDITION_FAILED, TG_EUNAVAILABLE, or confirm's result. */
int tg_state_put(tg_state *s, const tg_state_write *w, tg_state_change *change, tg_error *err);

/* Removes the key (value and content_type of w unused). Returns 0,
 * TG_EBAD_REQUEST, TG_ENOT_FOUND (confirm is not called),
 * TG_EPRECONDITION_FAILED, TG_EUNAVAILABLE, or confirm's result. */
int tg_state_delete(tg_state *s, const tg_state_write *w, tg_state_change *change, tg_error *err);

/* *out: new reference, {"keys": [the first TG_STATE_LIST_MAX keys in byte
 * order], "count", "bytes", "truncated", "limits": {max_keys,
 * max_worker_bytes, max_value_bytes}}. Returns 0 or TG_EUNAVAILABLE. */
int tg_state_list(tg_state *s, const char *tenant, const char *worker, json_t **out, tg_error *err);

/* Removes everything (tenant, worker) stored, for when the worker itself is
 * deleted. *removed (may be NULL) gets the number of keys. */
int tg_state_delete_worker(tg_state *s, const char *tenant, const char *worker, size_t *removed,
                           tg_error *err);

/* ---- requests from the sandbox ------------------------------------------ */

/* True when url (an egress frame's) names the host toolgate.internal, on any
 * port (the sandbox's proxy writes it in lowercase; the trailing-dot form
 * counts too). Such a request is the platform's and never egress: no egress
 * rule is consulted for it or can grant it. */
bool tg_state_is_internal(const char *url);

/* One call's use of the state: who it is (for the store's scope and the
 * audit log) and whether its manifest declared the capability. */
typedef struct tg_state_call {
    tg_state *state; /* borrowed; NULL: this gateway has no store (503) */
    tg_audit *audit; /* borrowed; NULL: nothing can be written (503) */
    const char *tenant, *worker, *principal, *trigger_kind, *call_id, *trace_id;
    bool capable;              /* "capabilities" holds "state" */
    int64_t audit_deadline_ms; /* how long a write waits for its record; 0: 2000 */
} tg_state_call;

/* Answers one egress frame for toolgate.internal (borrowed: {method, url,
 * headers, body}). Returns: new reference, the response {status, headers:
 * [[name, value]...], body: base64}:
 *   GET|HEAD /v1/state/KEY  200 the value (its Content-Type, ETag), or 404
 *   PUT /v1/state/KEY       201 created or 204 replaced (ETag); the body is the value
 *   DELETE /v1/state/KEY    204, or 404
 *   GET|HEAD /v1/state[/]   200 the tg_state_list document
 * and otherwise a JSON body {"error": {code, message, ...}} with the code's
 * status: BAD_REQUEST 400 (a bad key, a query, a malformed request),
 * CAPABILITY_DENIED 403, NOT_FOUND 404 (another path), METHOD_NOT_ALLOWED
 * 405 (with Allow), PRECONDITION_FAILED 412, PAYLOAD_TOO_LARGE 413,
 * STATE_LIMIT 413, UNAVAILABLE 503, AUDIT_UNAVAILABLE 503. deadline_ns
 * (CLOCK_MONOTONIC) bounds the wait for a write's audit record. */
json_t *tg_state_handle(const tg_state_call *call, const json_t *request, int64_t deadline_ns);

#endif
