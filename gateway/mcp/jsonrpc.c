/* JSON-RPC 2.0 envelope: see jsonrpc.h for the rules and why each is strict.
 * A message owns one reference to its JSON value; every other pointer in it is
 * borrowed from that value, so freeing the message frees everything. */
#include "gateway/mcp/jsonrpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/core/alloc.h"
#include "gateway/core/log.h"

struct tg_jsonrpc_msg {
    tg_jsonrpc_kind kind;
    json_t *root; /* owned */
    const char *method;
    json_t *id, *params, *result, *error;
    tg_err_code err;
    char err_message[200];
    tg_jsonrpc_msg *items; /* a batch's elements */
    size_t n_items;
};

static int invalid(tg_jsonrpc_msg *m, tg_err_code code, const char *message)
{
    m->kind = TG_JSONRPC_INVALID;
    m->err = code;
    snprintf(m->err_message, sizeof m->err_message, "%s", message);
    m->method = NULL;
    m->params = m->result = m->error = NULL;
    return code;
}

/* An id is a string or an integer; MCP forbids null, and a fractional number
 * would not compare equal to the same id sent back. */
static bool id_ok(const json_t *id)
{
    return json_is_string(id) || json_is_integer(id);
}

/* Classifies one message object; m->root already holds a reference to v. */
static int classify(tg_jsonrpc_msg *m, json_t *v)
{
    if (!json_is_object(v))
        return invalid(m, TG_EINVALID_REQUEST, "a JSON-RPC message must be an object");
    /* Echo the id in the error when it is readable, even if the rest is not. */
    json_t *id = json_object_get(v, "id");
    if (id_ok(id)) m->id = id;

    const char *version = json_string_value(json_object_get(v, "jsonrpc"));
    if (!version || strcmp(version, "2.0") != 0)
        return invalid(m, TG_EINVALID_REQUEST, "\"jsonrpc\" must be \"2.0\"");
    json_t *method = json_object_get(v, "method");
    json_t *result = json_object_get(v, "result");
    json_t *error = json_object_get(v, "error");
    if (method) {
        if (!json_is_string(method))
            return invalid(m, TG_EINVALID_REQUEST, "\"method\" must be a string");
        if (result || error)
            return invalid(m, TG_EINVALID_REQUEST,
                           "a request cannot also carry \"result\" or \"error\"");
        if (id && !id_ok(id))
            return invalid(m, TG_EINVALID_REQUEST,
                           json_is_null(id) ? "\"id\" must not be null"
                                            : "\"id\" must be a string or an integer");
        json_t *params = json_object_get(v, "params");
        if (params && !json_is_object(params))
            return json_is_array(params)
                       ? invalid(m, TG_EINVALID_PARAMS, "\"params\" must be an object")
                       : invalid(m, TG_EINVALID_REQUEST,
                                 "\"params\" must be a structured value (an object)");
        m->kind = id ? TG_JSONRPC_REQUEST : TG_JSONRPC_NOTIFICATION;
        m->method = json_string_value(method);
        m->params = params;
        return 0;
    }

    /* A response: the id (null only for an error about an unreadable id) and
     * exactly one of result and error. */
    if (!result && !error)
        return invalid(m, TG_EINVALID_REQUEST,
                       "a message needs \"method\" (request) or \"result\"/\"error\" (response)");
    if (result && error)
        return invalid(m, TG_EINVALID_REQUEST, "a response cannot carry both result and error");
    if (!id_ok(id) && !(error && json_is_null(id)))
        return invalid(m, TG_EINVALID_REQUEST,
                       "a response needs a string or integer \"id\" (null only with \"error\")");
    if (error) {
        if (!json_is_object(error) || !json_is_integer(json_object_get(error, "code")) ||
            !json_is_string(json_object_get(error, "message")))
            return invalid(m, TG_EINVALID_REQUEST,
                           "\"error\" must be an object with integer code and string message");
    }
    m->kind = TG_JSONRPC_RESPONSE;
    m->result = result;
    m->error = error;
    return 0;
}

/* Nesting depth of body, counting brackets outside strings; stops early once
 * over max. Structure errors are left to the parser. */
static size_t nesting_depth(const char *body, size_t len, size_t max)
{
    size_t depth = 0, deepest = 0;
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        char c = body[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            if (++depth > deepest) deepest = depth;
            if (deepest > max) break;
        } else if ((c == '}' || c == ']') && depth > 0) {
            depth--;
        }
    }
    return deepest;
}

int tg_jsonrpc_parse(const char *body, size_t len, const tg_jsonrpc_limits *limits,
                     tg_jsonrpc_msg **out)
{
    tg_jsonrpc_msg *m = tg_xcalloc(1, sizeof *m);
    *out = m;
    size_t max_bytes =
        limits && limits->max_bytes ? limits->max_bytes : TG_JSONRPC_DEFAULT_MAX_BYTES;
    size_t max_depth =
        limits && limits->max_depth ? limits->max_depth : TG_JSONRPC_DEFAULT_MAX_DEPTH;
    char why[200];

    if (len > max_bytes) {
        snprintf(why, sizeof why, "the body is over %zu bytes", max_bytes);
        return invalid(m, TG_EPAYLOAD_TOO_LARGE, why);
    }
    if (nesting_depth(body, len, max_depth) > max_depth) {
        snprintf(why, sizeof why, "JSON nested deeper than %zu levels", max_depth);
        return invalid(m, TG_EPARSE_ERROR, why);
    }
    json_error_t jerr;
    json_t *v = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!v) {
        snprintf(why, sizeof why, "parse error at line %d, column %d: %s", jerr.line, jerr.column,
                 jerr.text);
        return invalid(m, TG_EPARSE_ERROR, why);
    }
    m->root = v;
    if (!json_is_array(v)) return classify(m, v);

    if (!limits || !limits->allow_batch)
        return invalid(m, TG_EINVALID_REQUEST,
                       "batches are not part of MCP since protocol version 2025-06-18");
    size_t n = json_array_size(v);
    if (n == 0) return invalid(m, TG_EINVALID_REQUEST, "an empty batch");
    if (n > TG_JSONRPC_MAX_BATCH) {
        snprintf(why, sizeof why, "a batch of more than %u messages", TG_JSONRPC_MAX_BATCH);
        return invalid(m, TG_EINVALID_REQUEST, why);
    }
    m->kind = TG_JSONRPC_BATCH;
    m->items = tg_xcalloc(n, sizeof *m->items);
    m->n_items = n;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(v, i);
        m->items[i].root = json_incref(e);
        classify(&m->items[i], e);
    }
    return 0;
}

void tg_jsonrpc_msg_free(tg_jsonrpc_msg *msg)
{
    if (!msg) return;
    for (size_t i = 0; i < msg->n_items; i++)
        json_decref(msg->items[i].root);
    free(msg->items);
    json_decref(msg->root);
    free(msg);
}

tg_jsonrpc_kind tg_jsonrpc_msg_kind(const tg_jsonrpc_msg *msg)
{
    return msg->kind;
}

const char *tg_jsonrpc_msg_method(const tg_jsonrpc_msg *msg)
{
    return msg->method;
}

json_t *tg_jsonrpc_msg_id(const tg_jsonrpc_msg *msg)
{
    return msg->id;
}

json_t *tg_jsonrpc_msg_params(const tg_jsonrpc_msg *msg)
{
    return msg->params;
}

json_t *tg_jsonrpc_msg_result(const tg_jsonrpc_msg *msg)
{
    return msg->result;
}

json_t *tg_jsonrpc_msg_error(const tg_jsonrpc_msg *msg)
{
    return msg->error;
}

tg_err_code tg_jsonrpc_msg_err(const tg_jsonrpc_msg *msg)
{
    return msg->kind == TG_JSONRPC_INVALID ? msg->err : TG_OK;
}

const char *tg_jsonrpc_msg_err_message(const tg_jsonrpc_msg *msg)
{
    return msg->kind == TG_JSONRPC_INVALID ? msg->err_message : "";
}

size_t tg_jsonrpc_batch_size(const tg_jsonrpc_msg *msg)
{
    return msg->n_items;
}

const tg_jsonrpc_msg *tg_jsonrpc_batch_get(const tg_jsonrpc_msg *msg, size_t i)
{
    return i < msg->n_items ? &msg->items[i] : NULL;
}

static _Noreturn void out_of_memory(void)
{
    tg_log_error(NULL, "out of memory building a JSON-RPC message");
    abort();
}

static json_t *must(json_t *v)
{
    if (!v) out_of_memory();
    return v;
}

/* Steals v. A response without its id or its result would be a different
 * answer, so a member that cannot be set fails like the value itself. */
static void must_set(json_t *o, const char *key, json_t *v)
{
    if (json_object_set_new(o, key, v) != 0) out_of_memory();
}

static json_t *envelope(json_t *id)
{
    json_t *r = must(json_object());
    must_set(r, "jsonrpc", must(json_string("2.0")));
    must_set(r, "id", id ? json_incref(id) : json_null());
    return r;
}

json_t *tg_jsonrpc_result(json_t *id, json_t *result)
{
    json_t *r = envelope(id);
    must_set(r, "result", result ? result : must(json_object()));
    return r;
}

json_t *tg_jsonrpc_error(json_t *id, tg_err_code code, const char *message, json_t *data)
{
    int rpc = tg_err_jsonrpc_code(code);
    if (rpc == 0) {
        if (!data) data = tg_error_json(code, message, NULL, NULL);
        rpc = -32603;
    }
    json_t *msg = message ? json_string(message) : NULL;
    if (!msg) msg = must(json_string(tg_err_message(code)));
    json_t *e = must(json_object());
    must_set(e, "code", must(json_integer(rpc)));
    must_set(e, "message", msg);
    if (data) must_set(e, "data", data);
    json_t *r = envelope(id);
    must_set(r, "error", e);
    return r;
}

json_t *tg_jsonrpc_error_for(const tg_jsonrpc_msg *msg)
{
    if (msg->kind != TG_JSONRPC_INVALID) return NULL;
    return tg_jsonrpc_error(msg->id, msg->err, msg->err_message, NULL);
}

json_t *tg_jsonrpc_notification(const char *method, json_t *params)
{
    json_t *r = must(json_object());
    must_set(r, "jsonrpc", must(json_string("2.0")));
    must_set(r, "method", must(json_string(method)));
    if (params) must_set(r, "params", params);
    return r;
}
