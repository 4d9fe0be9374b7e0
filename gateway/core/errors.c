/* The error table expanded into lookups, and the JSON error shapes of DESIGN.md
 * ("Errors"). Everything here is derived from errors.def; nothing is stateful. */
#include "gateway/core/errors.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/core/alloc.h"
#include "gateway/core/log.h"
#include "gateway/core/text.h"

#define WORKER_CODE_MAX    64
#define WORKER_MESSAGE_MAX 1000

static const struct err_row {
    const char *name;
    int http;
    int rpc;
    bool retryable;
    int64_t delay_ms;
    const char *message;
    const char *hint;
} rows[] = {
#define XX(name, http, rpc, retryable, delay, message, hint)                                       \
    {#name, http, rpc, retryable, delay, message, hint},
#include "gateway/core/errors.def"
#undef XX
};

_Static_assert(sizeof rows / sizeof rows[0] == TG__ERR_ROWS, "one row per code");

static const struct err_row *row_of(int code)
{
    if (code < 0 && -code <= (int)TG__ERR_ROWS) return &rows[-code - 1];
    return &rows[TG__ERR_ROW_INTERNAL];
}

int tg_error_set(tg_error *err, tg_err_code code, const char *fmt, ...)
{
    if (err) {
        err->code = code;
        va_list ap;
        va_start(ap, fmt);
        tg_vformat(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return code;
}

bool tg_err_known(int code)
{
    return code <= 0 && -code <= (int)TG__ERR_ROWS;
}

const char *tg_err_name(int code)
{
    return row_of(code)->name;
}

int tg_err_http_status(int code)
{
    return row_of(code)->http;
}

int tg_err_jsonrpc_code(int code)
{
    return row_of(code)->rpc;
}

bool tg_err_retryable(int code)
{
    return row_of(code)->retryable;
}

int64_t tg_err_retry_after_ms(int code)
{
    return row_of(code)->delay_ms;
}

const char *tg_err_message(int code)
{
    return row_of(code)->message;
}

const char *tg_err_hint(int code)
{
    return row_of(code)->hint;
}

tg_err_code tg_err_from_name(const char *name)
{
    for (size_t i = 0; name && i < TG__ERR_ROWS; i++)
        if (strcmp(rows[i].name, name) == 0) return (tg_err_code)(-1 - (int)i);
    return TG_OK;
}

static _Noreturn void out_of_memory(void)
{
    tg_log_error(NULL, "out of memory building an error");
    abort();
}

/* Returns: new reference; jansson fails only on memory, which aborts. */
static json_t *must(json_t *v)
{
    if (!v) out_of_memory();
    return v;
}

/* Steals v. Setting a member fails only on memory too: an error sent with a
 * member missing would be an answer no client expects. */
static void must_set(json_t *o, const char *key, json_t *v)
{
    if (json_object_set_new(o, key, v) != 0) out_of_memory();
}

static json_t *string_or_null(const char *s)
{
    return s ? must(json_string(s)) : json_null();
}

/* Builds the shared error object; the fields come in DESIGN.md's order. */
static json_t *error_object(const char *code, const char *source, bool retryable,
                            int64_t retry_after_ms, const char *message, json_t *details,
                            const char *call_id)
{
    json_t *e = must(json_object());
    must_set(e, "code", must(json_string(code)));
    must_set(e, "source", must(json_string(source)));
    must_set(e, "retryable", json_boolean(retryable));
    must_set(e, "retryAfterMs",
             retry_after_ms >= 0 ? must(json_integer(retry_after_ms)) : json_null());
    must_set(e, "message", must(json_string(message)));
    must_set(e, "details", details ? json_incref(details) : json_null());
    must_set(e, "callId", string_or_null(call_id));
    return e;
}

json_t *tg_error_json(tg_err_code code, const char *message, json_t *details, const char *call_id)
{
    const struct err_row *r = row_of(code);
    /* A message that is not UTF-8 cannot become a JSON string; keep the table's. */
    json_t *probe = message ? json_string(message) : NULL;
    if (!probe) message = r->message;
    json_decref(probe);
    return error_object(r->name, "gateway", r->retryable, r->retryable ? r->delay_ms : -1, message,
                        details, call_id);
}

/* Returns: new reference, the CallToolResult around error with the given text. */
static json_t *tool_result(const char *text, json_t *error)
{
    json_t *block = must(json_pack("{s:s, s:s}", "type", "text", "text", text));
    json_t *res = must(json_object());
    must_set(res, "isError", json_true());
    must_set(res, "content", must(json_pack("[o]", block)));
    must_set(res, "structuredContent", must(json_pack("{s:o}", "error", error)));
    return res;
}

/* Drops one trailing '.', so "CODE: summary. hint" never shows "..". */
static char *text_of(const char *code, const char *summary, const char *hint)
{
    size_t n = strlen(summary);
    if (n > 0 && summary[n - 1] == '.') n--;
    return tg_xasprintf("%s: %.*s. %s", code, (int)n, summary, hint);
}

json_t *tg_tool_error_result(tg_err_code code, const char *message, json_t *details,
                             const char *call_id)
{
    json_t *error = tg_error_json(code, message, details, call_id);
    const char *msg = json_string_value(json_object_get(error, "message"));
    char *summary = NULL;
    const json_t *first = json_array_get(details, 0);
    const char *path = json_string_value(json_object_get(first, "path"));
    const char *vmsg = json_string_value(json_object_get(first, "message"));
    if (path && vmsg) {
        size_t more = json_array_size(details) - 1;
        if (more > 0)
            summary = tg_xasprintf("%s %s (and %zu more)", *path ? path : "/", vmsg, more);
        else
            summary = tg_xasprintf("%s %s", *path ? path : "/", vmsg);
    }
    char *text = text_of(tg_err_name(code), summary ? summary : msg, tg_err_hint(code));
    json_t *res = tool_result(text, error);
    free(text);
    free(summary);
    return res;
}

static bool worker_code_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > WORKER_CODE_MAX || s[0] < 'A' || s[0] > 'Z') return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    return true;
}

/* Cuts s to at most max bytes without splitting a UTF-8 sequence. */
static char *cut_utf8(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n > max) {
        n = max;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    return tg_xstrndup(s, n);
}

int tg_worker_error_result(const json_t *worker_error, const char *call_id, json_t **out,
                           tg_error *err)
{
    *out = NULL;
    if (!json_is_object(worker_error))
        return tg_error_set(err, TG_EWORKER_FAILED, "the worker's error is not an object");
    const char *code = json_string_value(json_object_get(worker_error, "code"));
    if (!code || !worker_code_ok(code))
        return tg_error_set(err, TG_EWORKER_FAILED,
                            "the worker's error code must be 1 to %d of A-Z, 0-9 and _",
                            WORKER_CODE_MAX);
    const json_t *m = json_object_get(worker_error, "message");
    if (!json_is_string(m))
        return tg_error_set(err, TG_EWORKER_FAILED, "the worker's error has no message");
    const json_t *r = json_object_get(worker_error, "retryable");
    if (r && !json_is_boolean(r))
        return tg_error_set(err, TG_EWORKER_FAILED, "the worker's retryable must be a boolean");
    bool retryable = json_is_true(r);
    const json_t *ra = json_object_get(worker_error, "retryAfterMs");
    int64_t retry_after = -1;
    if (ra && !json_is_null(ra)) {
        if (!json_is_integer(ra) || json_integer_value(ra) < 0)
            return tg_error_set(err, TG_EWORKER_FAILED,
                                "the worker's retryAfterMs must be a non-negative integer");
        retry_after = json_integer_value(ra);
    }
    if (!retryable) retry_after = -1;

    char *message = cut_utf8(json_string_value(m), WORKER_MESSAGE_MAX);
    json_t *error = error_object(code, "worker", retryable, retry_after, message,
                                 (json_t *)json_object_get(worker_error, "details"), call_id);
    char *text = text_of(code, message,
                         retryable ? "The call may succeed if made again later."
                                   : "Do not retry unchanged.");
    *out = tool_result(text, error);
    free(text);
    free(message);
    return 0;
}

const json_t *tg_result_error(const json_t *result)
{
    if (!json_is_true(json_object_get(result, "isError"))) return NULL;
    const json_t *error = json_object_get(json_object_get(result, "structuredContent"), "error");
    if (!error) error = json_object_get(json_object_get(result, "_meta"), "dev.toolgate/error");
    return json_is_object(error) ? error : NULL;
}
