/* toolgate's errors: one code per row of errors.def, and the JSON shapes every
 * front sends them in.
 *
 * Functions across toolgate return 0 or a negative tg_err_code and fill an
 * optional tg_error with detail. A code maps to exactly one HTTP status, one
 * JSON-RPC code (or none), one retryable flag and one default delay, all taken
 * from the table, so the fronts can never disagree about an error. */
#ifndef TG_CORE_ERRORS_H
#define TG_CORE_ERRORS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* Row numbers of errors.def, only to derive the codes below. */
enum tg__err_row {
#define XX(name, http, rpc, retryable, delay, message, hint) TG__ERR_ROW_##name,
#include "gateway/core/errors.def"
#undef XX
    TG__ERR_ROWS
};

/* TG_OK, or TG_E<NAME> = -(row + 1): negative, so functions can return them. */
typedef enum tg_err_code {
    TG_OK = 0,
#define XX(name, http, rpc, retryable, delay, message, hint) TG_E##name = -1 - TG__ERR_ROW_##name,
#include "gateway/core/errors.def"
#undef XX
} tg_err_code;

/* Detail for an error a function returned: the code again and a concrete,
 * single-line message ("params.name must be a string"). */
typedef struct tg_error {
    tg_err_code code;
    char message[256];
} tg_error;

/* Fills err (when not NULL) and returns code, so a failure is one statement:
 * return tg_error_set(err, TG_EINVALID_PARAMS, "params.%s must be a string", k); */
int tg_error_set(tg_error *err, tg_err_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* True when code is TG_OK or a row of the table. */
bool tg_err_known(int code);
/* Lookups. An unknown code reads as TG_EINTERNAL. */
const char *tg_err_name(int code);       /* "INVALID_ARGUMENTS" */
int tg_err_http_status(int code);        /* 400 */
int tg_err_jsonrpc_code(int code);       /* -32602, or 0 when not a protocol error */
bool tg_err_retryable(int code);         /* may the same call succeed later */
int64_t tg_err_retry_after_ms(int code); /* default delay; 0 when not retryable */
const char *tg_err_message(int code);    /* one line for humans and models */
const char *tg_err_hint(int code);       /* what to do, one sentence */
/* Returns: the code whose name is name, or TG_OK when none is. */
tg_err_code tg_err_from_name(const char *name);

/* Returns: new reference, the JSON error object of a gateway error:
 *   {code, source: "gateway", retryable, retryAfterMs, message, details, callId}
 * message NULL takes the table's; details (borrowed, may be NULL) goes in as is
 * (null when NULL); call_id NULL gives null. retryAfterMs is the table's delay
 * when retryable, else null; set it again to override. */
json_t *tg_error_json(tg_err_code code, const char *message, json_t *details, const char *call_id);

/* Returns: new reference, the MCP CallToolResult of a gateway error:
 *   {isError: true, content: [{type: "text", text}], structuredContent: {error}}
 * where error is tg_error_json(code, message, details, call_id) and text is
 * "CODE: <summary>. <hint>". The summary is the first violation when details is
 * an array of {path, message} ("/since must be a date", plus "(and N more)"),
 * else the message. */
json_t *tg_tool_error_result(tg_err_code code, const char *message, json_t *details,
                             const char *call_id);

/* The structured error a worker reported ({"error": {...}} on its stdout), made
 * into a tool error result with source "worker": the worker's code, message,
 * retryable flag, retryAfterMs and details are kept. worker_error (borrowed) is
 * the inner object. Returns 0 with *out a new reference, or TG_EWORKER_FAILED
 * (err filled) when worker_error is not a well-formed error: code must be
 * 1..64 of [A-Z0-9_] starting with a letter, message a string (cut at 1000
 * bytes), retryable a boolean when present, retryAfterMs a non-negative integer
 * when present. */
int tg_worker_error_result(const json_t *worker_error, const char *call_id, json_t **out,
                           tg_error *err);

/* The error object of a CallToolResult with isError (borrowed from result):
 * structuredContent.error, or _meta["dev.toolgate/error"] where a tool with
 * an outputSchema carries it; NULL for a success or an error without one. */
const json_t *tg_result_error(const json_t *result);

#endif
