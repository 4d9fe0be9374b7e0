/* The JSON-RPC 2.0 envelope as MCP uses it: one body in, one classified message
 * out, and the response builders.
 *
 * Invariant: parsing never fails silently. tg_jsonrpc_parse always hands back a
 * message; an unusable body becomes a TG_JSONRPC_INVALID message that carries
 * the error code, a message, and the request id when one could be read, so
 * tg_jsonrpc_error_for can always answer it.
 *
 * Strictness, and why:
 *  - bodies over max_bytes: TG_EPAYLOAD_TOO_LARGE (HTTP 413), before parsing;
 *  - nesting deeper than max_depth: -32700. jansson's own limit is a compile-time
 *    2048, so a pre-scan over the bytes (outside strings) enforces ours;
 *  - not JSON, not UTF-8, a NUL in a string, or a duplicate key: -32700. RFC 8259
 *    leaves duplicate keys to the implementation; rejecting them means no layer
 *    can read another "method" or "id" than the one we act on;
 *  - a top-level scalar: -32700 (jansson's JSON_DECODE_ANY stays off);
 *  - "jsonrpc" missing or not "2.0", method not a string, an id that is null,
 *    fractional, boolean or structured, a member "method" together with "result"
 *    or "error", a response without exactly one of them: -32600;
 *  - params that are not an object: an array is valid JSON-RPC but MCP methods
 *    take named params, so -32602; a scalar or null is invalid JSON-RPC, -32600;
 *  - arrays (batches): MCP 2025-06-18 removed batching; 2025-03-26 required
 *    servers to accept it. The caller passes allow_batch for sessions that
 *    negotiated 2025-03-26 (tg_session_version_allows_batch); otherwise a batch
 *    is -32600. An empty batch is always -32600 (JSON-RPC 2.0, section 6).
 * Unknown members are ignored, for forward compatibility. */
#ifndef TG_MCP_JSONRPC_H
#define TG_MCP_JSONRPC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "gateway/core/errors.h"

#define TG_JSONRPC_DEFAULT_MAX_BYTES (4u * 1024 * 1024)
#define TG_JSONRPC_DEFAULT_MAX_DEPTH 128u
#define TG_JSONRPC_MAX_BATCH         100u

typedef enum tg_jsonrpc_kind {
    TG_JSONRPC_INVALID = 0,
    TG_JSONRPC_REQUEST,      /* method, id, params */
    TG_JSONRPC_NOTIFICATION, /* method, params; never answered */
    TG_JSONRPC_RESPONSE,     /* id, and result or error */
    TG_JSONRPC_BATCH,        /* only with allow_batch: tg_jsonrpc_batch_* */
} tg_jsonrpc_kind;

typedef struct tg_jsonrpc_limits {
    size_t max_bytes; /* 0: TG_JSONRPC_DEFAULT_MAX_BYTES */
    size_t max_depth; /* 0: TG_JSONRPC_DEFAULT_MAX_DEPTH; the top-level object is depth 1 */
    bool allow_batch; /* the session negotiated 2025-03-26 */
} tg_jsonrpc_limits;

typedef struct tg_jsonrpc_msg tg_jsonrpc_msg;

/* Parses body[0..len) (not NUL-terminated; limits NULL takes the defaults).
 * Always sets *out to a new message the caller frees. Returns 0 for a request,
 * notification, response or batch, or the negative code of the INVALID message
 * (TG_EPARSE_ERROR, TG_EINVALID_REQUEST, TG_EINVALID_PARAMS,
 * TG_EPAYLOAD_TOO_LARGE). A batch returns 0 even when elements are invalid;
 * each element answers for itself. */
int tg_jsonrpc_parse(const char *body, size_t len, const tg_jsonrpc_limits *limits,
                     tg_jsonrpc_msg **out);
void tg_jsonrpc_msg_free(tg_jsonrpc_msg *msg);

tg_jsonrpc_kind tg_jsonrpc_msg_kind(const tg_jsonrpc_msg *msg);
/* Borrowed from msg; NULL unless a request or notification. */
const char *tg_jsonrpc_msg_method(const tg_jsonrpc_msg *msg);
/* Borrowed: the id of a request or response, the id of an INVALID message when
 * it could be read, else NULL (a notification, or no readable id). */
json_t *tg_jsonrpc_msg_id(const tg_jsonrpc_msg *msg);
/* Borrowed: the params object, or NULL when absent. */
json_t *tg_jsonrpc_msg_params(const tg_jsonrpc_msg *msg);
/* Borrowed: a response's result or error object (one is NULL). */
json_t *tg_jsonrpc_msg_result(const tg_jsonrpc_msg *msg);
json_t *tg_jsonrpc_msg_error(const tg_jsonrpc_msg *msg);
/* An INVALID message's code and concrete message; TG_OK and "" otherwise. */
tg_err_code tg_jsonrpc_msg_err(const tg_jsonrpc_msg *msg);
const char *tg_jsonrpc_msg_err_message(const tg_jsonrpc_msg *msg);
/* A batch's elements (borrowed from msg), each a message of its own kind. */
size_t tg_jsonrpc_batch_size(const tg_jsonrpc_msg *msg);
const tg_jsonrpc_msg *tg_jsonrpc_batch_get(const tg_jsonrpc_msg *msg, size_t i);

/* Returns: new reference, {"jsonrpc":"2.0","id":id,"result":result}.
 * id is borrowed, result is stolen (NULL gives {}). */
json_t *tg_jsonrpc_result(json_t *id, json_t *result);
/* Returns: new reference, {"jsonrpc":"2.0","id":id,"error":{code,message,data?}}.
 * id borrowed (NULL gives null: the id could not be read); message NULL takes
 * the table's; data stolen, may be NULL. A code without a JSON-RPC number goes
 * out as -32603 with tg_error_json(code, ...) as data when data is NULL. */
json_t *tg_jsonrpc_error(json_t *id, tg_err_code code, const char *message, json_t *data);
/* Returns: new reference, the error response that answers an INVALID message,
 * or NULL when msg is not INVALID. */
json_t *tg_jsonrpc_error_for(const tg_jsonrpc_msg *msg);
/* Returns: new reference, {"jsonrpc":"2.0","method":method,"params":params};
 * params stolen, may be NULL (then absent). */
json_t *tg_jsonrpc_notification(const char *method, json_t *params);

#endif
