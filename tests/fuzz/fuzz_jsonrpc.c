/* libFuzzer target for the JSON-RPC envelope (gateway/mcp/jsonrpc.h) and what
 * the MCP front does right after it: method lookup, initialize's session
 * creation, the worker error shape, and the checks of a 2026-07-28 request
 * (gateway/mcp/stateless.h).
 *
 * Input: a request body, as is. The first byte also picks the limits: when it
 * is odd, batches are allowed (a 2025-03-26 session) and the depth limit is 8,
 * so both the batch path and the depth pre-scan are reached; '{' (0x7b) is odd,
 * ' ' (0x20) is even.
 *
 * Every message gets the response the front would send, and the target
 * abort()s unless:
 *  - the response serialises and parses back as a JSON object with "jsonrpc":
 *    "2.0" and exactly one of "result" and "error";
 *  - its id is the request's id (json_equal), or null when the message was
 *    invalid and no id could be read;
 *  - an error has an integer code and a string message, and the code is the
 *    JSON-RPC code of the parse result (or -32603 for a non-protocol error);
 *  - a parse that returns 0 never yields an INVALID message, and one that fails
 *    returns the code the INVALID message carries;
 *  - a request's id is a string or an integer, a notification has none;
 *  - a 2026-07-28 request either passes its checks with no error, or gets an
 *    HTTP 400 and one of -32020, -32602 and -32022 in a response as above.
 *    Its headers mirror the body, but Mcp-Name comes from
 *    params._meta["x-fuzz/mcp-name"] when that is a string, so that Base64
 *    decoding and every mismatch are reached. The Mcp-Param-{Name} check
 *    runs on params.arguments with params._meta["x-fuzz/schema"] as the
 *    tool's inputSchema and the members of params._meta["x-fuzz/headers"]
 *    as the request's headers; it passes, or fails with a -32020 response.
 * Notifications get no response; a batch gets an array of the answers. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/core/errors.h"
#include "gateway/mcp/jsonrpc.h"
#include "gateway/mcp/methods.h"
#include "gateway/mcp/session.h"
#include "gateway/mcp/stateless.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static tg_session_table *sessions;

static void fail(const char *what, const uint8_t *data, size_t size, const json_t *resp)
{
    char *r = resp ? json_dumps(resp, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    fprintf(stderr, "fuzz_jsonrpc: %s\n  input:    %.*s\n  response: %s\n", what, (int)size,
            (const char *)data, r ? r : "(none)");
    free(r);
    abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    tg_session_options o = {.max_sessions = 64};
    if (tg_session_table_new(&o, &sessions) != 0) abort();
    return 0;
}

/* Returns: new reference, the answer to one non-batch message, or NULL when it
 * is a notification or a response (neither is answered). */
static json_t *answer(const tg_jsonrpc_msg *m)
{
    tg_jsonrpc_kind kind = tg_jsonrpc_msg_kind(m);
    if (kind == TG_JSONRPC_INVALID) return tg_jsonrpc_error_for(m);
    if (kind != TG_JSONRPC_REQUEST) return NULL;

    json_t *id = tg_jsonrpc_msg_id(m);
    json_t *params = tg_jsonrpc_msg_params(m);
    const tg_mcp_method *method = NULL;
    tg_error err = {0};
    if (tg_mcp_method_lookup(tg_jsonrpc_msg_method(m), true, TG_MCP_ERA_SESSION, &method, &err) !=
        0)
        return tg_jsonrpc_error(id, err.code, err.message, NULL);

    switch (method->id) {
    case TG_MCP_INITIALIZE: {
        tg_session *s = NULL;
        int rc = tg_session_create(sessions, params, NULL, &s, &err);
        if (rc != 0) return tg_jsonrpc_error(id, err.code, err.message, NULL);
        json_t *r = tg_session_initialize_result(s, NULL);
        tg_session_end(sessions, tg_session_id(s), NULL);
        tg_session_release(s);
        return tg_jsonrpc_result(id, r);
    }
    case TG_MCP_TOOLS_CALL: {
        /* The arguments stand in for a worker's structured error, and as
         * violation details for a gateway error. */
        json_t *args = json_object_get(params, "arguments");
        json_t *r = NULL;
        if (tg_worker_error_result(args, "c_fuzz", &r, &err) != 0)
            r = tg_tool_error_result(TG_EINVALID_ARGUMENTS, NULL, args, "c_fuzz");
        return tg_jsonrpc_result(id, r);
    }
    default:
        return tg_jsonrpc_result(id, NULL);
    }
}

static void check_response(const json_t *resp, const tg_jsonrpc_msg *m, const uint8_t *data,
                           size_t size)
{
    char *text = json_dumps(resp, JSON_COMPACT);
    if (!text) fail("the response does not serialise", data, size, resp);
    json_t *back = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    free(text);
    if (!json_is_object(back)) fail("the response is not a JSON object", data, size, resp);
    if (!json_equal(json_object_get(back, "jsonrpc"), json_object_get(resp, "jsonrpc")) ||
        !json_is_string(json_object_get(back, "jsonrpc")) ||
        strcmp(json_string_value(json_object_get(back, "jsonrpc")), "2.0") != 0)
        fail("the response lacks \"jsonrpc\": \"2.0\"", data, size, resp);

    json_t *id = json_object_get(back, "id");
    json_t *want = tg_jsonrpc_msg_id(m);
    if (want ? !json_equal(id, want) : !json_is_null(id))
        fail("the response does not echo the id", data, size, resp);

    json_t *result = json_object_get(back, "result");
    json_t *error = json_object_get(back, "error");
    if (!result == !error)
        fail("the response needs exactly one of result and error", data, size, resp);
    if (error) {
        json_t *code = json_object_get(error, "code");
        if (!json_is_integer(code) || !json_is_string(json_object_get(error, "message")))
            fail("an error without integer code and string message", data, size, resp);
        if (tg_jsonrpc_msg_kind(m) == TG_JSONRPC_INVALID) {
            int rpc = tg_err_jsonrpc_code(tg_jsonrpc_msg_err(m));
            if (json_integer_value(code) != (rpc ? rpc : -32603))
                fail("the error code is not the parse result's", data, size, resp);
        }
    } else if (!json_is_object(result)) {
        fail("a result that is not an object", data, size, resp);
    }
    json_decref(back);
}

static const char *fuzz_header(void *headers, const char *name)
{
    return json_string_value(json_object_get(headers, name));
}

static void check_params(const tg_jsonrpc_msg *m, const uint8_t *data, size_t size)
{
    json_t *params = tg_jsonrpc_msg_params(m);
    json_t *meta = json_object_get(params, "_meta");
    json_t *error = NULL;
    if (tg_stateless_check_params(json_object_get(meta, "x-fuzz/schema"),
                                  json_object_get(params, "arguments"), fuzz_header,
                                  json_object_get(meta, "x-fuzz/headers"), tg_jsonrpc_msg_id(m),
                                  &error) == 0) {
        if (error) fail("a passed Mcp-Param check with an error", data, size, error);
        return;
    }
    if (!error) fail("a failed Mcp-Param check without an error", data, size, NULL);
    check_response(error, m, data, size);
    if (json_integer_value(json_object_get(json_object_get(error, "error"), "code")) !=
        TG_MCP_CODE_HEADER_MISMATCH)
        fail("an Mcp-Param check failed with another code", data, size, error);
    json_decref(error);
}

static void check_stateless(const tg_jsonrpc_msg *m, const uint8_t *data, size_t size)
{
    json_t *params = tg_jsonrpc_msg_params(m);
    if (tg_jsonrpc_msg_kind(m) != TG_JSONRPC_REQUEST ||
        !tg_stateless_selected(TG_MCP_VERSION_STATELESS, params))
        return;
    json_t *meta = json_object_get(params, "_meta");
    const char *name = json_string_value(json_object_get(meta, "x-fuzz/mcp-name"));
    tg_stateless_headers h = {
        .protocol_version = TG_MCP_VERSION_STATELESS,
        .method = tg_jsonrpc_msg_method(m),
        .name = name ? name : json_string_value(json_object_get(params, "name")),
    };
    tg_stateless_request asked;
    json_t *error = NULL;
    unsigned status = 0;
    int rc =
        tg_stateless_check(&h, h.method, tg_jsonrpc_msg_id(m), params, &asked, &error, &status);
    if (rc == 0) {
        if (error || status != 200) fail("a passed check with an error", data, size, error);
        check_params(m, data, size);
        if (asked.wants_logs && (unsigned)asked.log_level > TG_MCP_LOG_EMERGENCY)
            fail("a log level out of range", data, size, NULL);
        return;
    }
    if (!error || status != 400) fail("a failed check without a 400 error", data, size, error);
    check_response(error, m, data, size);
    json_int_t code = json_integer_value(json_object_get(json_object_get(error, "error"), "code"));
    if (code != TG_MCP_CODE_HEADER_MISMATCH && code != -32602 &&
        code != TG_MCP_CODE_UNSUPPORTED_VERSION)
        fail("a stateless check failed with another code", data, size, error);
    json_decref(error);
}

static void check_message(const tg_jsonrpc_msg *m, const uint8_t *data, size_t size)
{
    tg_jsonrpc_kind kind = tg_jsonrpc_msg_kind(m);
    json_t *id = tg_jsonrpc_msg_id(m);
    if (kind == TG_JSONRPC_REQUEST &&
        (!(json_is_string(id) || json_is_integer(id)) || !tg_jsonrpc_msg_method(m)))
        fail("a request without a string or integer id and a method", data, size, NULL);
    if (kind == TG_JSONRPC_NOTIFICATION && (id || !tg_jsonrpc_msg_method(m)))
        fail("a notification with an id, or without a method", data, size, NULL);
    if (kind == TG_JSONRPC_INVALID && !tg_err_known(tg_jsonrpc_msg_err(m)))
        fail("an invalid message with an unknown code", data, size, NULL);
    json_t *params = tg_jsonrpc_msg_params(m);
    if (params && !json_is_object(params)) fail("params that are not an object", data, size, NULL);

    check_stateless(m, data, size);
    json_t *resp = answer(m);
    if (resp) {
        check_response(resp, m, data, size);
        json_decref(resp);
    } else if (kind == TG_JSONRPC_INVALID || kind == TG_JSONRPC_REQUEST) {
        fail("no response to a request or an invalid message", data, size, NULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tg_jsonrpc_limits lim = {.max_bytes = 64 * 1024};
    if (size > 0 && (data[0] & 1)) {
        lim.allow_batch = true;
        lim.max_depth = 8;
    }
    tg_jsonrpc_msg *m = NULL;
    int rc = tg_jsonrpc_parse((const char *)data, size, &lim, &m);
    if (!m) fail("parse gave no message", data, size, NULL);
    if (rc != (int)tg_jsonrpc_msg_err(m))
        fail("the return code is not the message's", data, size, NULL);
    if ((rc == 0) == (tg_jsonrpc_msg_kind(m) == TG_JSONRPC_INVALID))
        fail("the return code and the kind disagree", data, size, NULL);

    if (tg_jsonrpc_msg_kind(m) == TG_JSONRPC_BATCH) {
        if (!lim.allow_batch || tg_jsonrpc_batch_size(m) == 0 ||
            tg_jsonrpc_batch_size(m) > TG_JSONRPC_MAX_BATCH)
            fail("a batch that should have been refused", data, size, NULL);
        for (size_t i = 0; i < tg_jsonrpc_batch_size(m); i++) {
            const tg_jsonrpc_msg *e = tg_jsonrpc_batch_get(m, i);
            if (tg_jsonrpc_msg_kind(e) == TG_JSONRPC_BATCH)
                fail("a batch inside a batch", data, size, NULL);
            check_message(e, data, size);
        }
    } else {
        check_message(m, data, size);
    }
    tg_jsonrpc_msg_free(m);
    return 0;
}
