/* Every rule of the JSON-RPC envelope (gateway/mcp/jsonrpc.h) with the code it
 * answers, and the response builders, compared as whole documents. */
#include <string.h>

#include "check.h"
#include "gateway/mcp/jsonrpc.h"
#include "json_check.h"

/* Parses text and checks the return code and the kind. Returns the message. */
static tg_jsonrpc_msg *parse_as(const char *text, const tg_jsonrpc_limits *lim, int want_rc,
                                tg_jsonrpc_kind want_kind, int line)
{
    tg_jsonrpc_msg *m = NULL;
    int rc = tg_jsonrpc_parse(text, strlen(text), lim, &m);
    if (rc != want_rc || !m || tg_jsonrpc_msg_kind(m) != want_kind) {
        check_failed++;
        fprintf(stderr, "test_jsonrpc.c:%d: %s: rc %d (want %d), kind %d (want %d): %s\n", line,
                text, rc, want_rc, m ? (int)tg_jsonrpc_msg_kind(m) : -1, (int)want_kind,
                m ? tg_jsonrpc_msg_err_message(m) : "");
    } else {
        check_passed++;
    }
    return m;
}

/* An invalid body: its code, and the whole error response it gets. */
static void expect_error(const char *text, int want_rc, const char *want_response, int line)
{
    tg_jsonrpc_msg *m = parse_as(text, NULL, want_rc, TG_JSONRPC_INVALID, line);
    json_t *r = tg_jsonrpc_error_for(m);
    /* The concrete message varies; the code and id are the contract. */
    json_t *e = json_object_get(r, "error");
    CHECK(json_is_string(json_object_get(e, "message")));
    json_object_del(e, "message");
    CHECK_JSON(r, want_response);
    tg_jsonrpc_msg_free(m);
}

#define EXPECT_ERROR(text, rc, resp)  expect_error(text, rc, resp, __LINE__)
#define PARSE_AS(text, lim, rc, kind) parse_as(text, lim, rc, kind, __LINE__)

static void test_requests(void)
{
    tg_jsonrpc_msg *m = PARSE_AS("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}", NULL,
                                 0, TG_JSONRPC_REQUEST);
    CHECK_STR_EQ(tg_jsonrpc_msg_method(m), "tools/list");
    CHECK_INT_EQ(json_integer_value(tg_jsonrpc_msg_id(m)), 1);
    CHECK(tg_jsonrpc_msg_params(m) == NULL);
    CHECK_INT_EQ(tg_jsonrpc_msg_err(m), TG_OK);
    CHECK_JSON(tg_jsonrpc_result(tg_jsonrpc_msg_id(m), json_pack("{s:[]}", "tools")),
               "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[]}}");
    tg_jsonrpc_msg_free(m);

    m = PARSE_AS("{\"jsonrpc\":\"2.0\",\"id\":\"a-1\",\"method\":\"tools/call\",\"params\":"
                 "{\"name\":\"x\"},\"extra\":true}",
                 NULL, 0, TG_JSONRPC_REQUEST);
    CHECK_STR_EQ(json_string_value(tg_jsonrpc_msg_id(m)), "a-1");
    CHECK_STR_EQ(json_string_value(json_object_get(tg_jsonrpc_msg_params(m), "name")), "x");
    CHECK_JSON(tg_jsonrpc_error(tg_jsonrpc_msg_id(m), TG_EINVALID_PARAMS, "unknown tool: x", NULL),
               "{\"jsonrpc\":\"2.0\",\"id\":\"a-1\",\"error\":{\"code\":-32602,\"message\":"
               "\"unknown tool: x\"}}");
    tg_jsonrpc_msg_free(m);

    m = PARSE_AS("{\"jsonrpc\":\"2.0\",\"id\":-9007199254740993,\"method\":\"ping\"}", NULL, 0,
                 TG_JSONRPC_REQUEST);
    CHECK_JSON(tg_jsonrpc_result(tg_jsonrpc_msg_id(m), NULL),
               "{\"jsonrpc\":\"2.0\",\"id\":-9007199254740993,\"result\":{}}");
    tg_jsonrpc_msg_free(m);

    m = PARSE_AS("  {\"method\":\"notifications/initialized\",\"jsonrpc\":\"2.0\"}\n", NULL, 0,
                 TG_JSONRPC_NOTIFICATION);
    CHECK_STR_EQ(tg_jsonrpc_msg_method(m), "notifications/initialized");
    CHECK(tg_jsonrpc_msg_id(m) == NULL);
    tg_jsonrpc_msg_free(m);
}

static void test_responses(void)
{
    tg_jsonrpc_msg *m =
        PARSE_AS("{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{}}", NULL, 0, TG_JSONRPC_RESPONSE);
    CHECK(json_is_object(tg_jsonrpc_msg_result(m)));
    CHECK(tg_jsonrpc_msg_error(m) == NULL);
    tg_jsonrpc_msg_free(m);
    m = PARSE_AS("{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-1,\"message\":\"m\"}}",
                 NULL, 0, TG_JSONRPC_RESPONSE);
    CHECK(tg_jsonrpc_msg_id(m) == NULL);
    CHECK(json_is_object(tg_jsonrpc_msg_error(m)));
    tg_jsonrpc_msg_free(m);
}

static void test_invalid(void)
{
    const char *null_600 = "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600}}";
    const char *null_700 = "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700}}";
    const char *id5_600 = "{\"jsonrpc\":\"2.0\",\"id\":5,\"error\":{\"code\":-32600}}";

    /* -32700: not JSON, a scalar, a NUL in a string, not UTF-8, duplicate keys. */
    EXPECT_ERROR("{\"jsonrpc\":\"2.0\",", TG_EPARSE_ERROR, null_700);
    EXPECT_ERROR("", TG_EPARSE_ERROR, null_700);
    EXPECT_ERROR("<html>", TG_EPARSE_ERROR, null_700);
    EXPECT_ERROR("42", TG_EPARSE_ERROR, null_700);
    EXPECT_ERROR("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\\u0000b\"}", TG_EPARSE_ERROR,
                 null_700);
    EXPECT_ERROR("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\"}", TG_EPARSE_ERROR, null_700);
    EXPECT_ERROR("{\"jsonrpc\":\"2.0\",\"id\":1,\"id\":2,\"method\":\"ping\"}", TG_EPARSE_ERROR,
                 null_700);
    EXPECT_ERROR("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"} {}", TG_EPARSE_ERROR,
                 null_700);

    /* -32600: the envelope. */
    EXPECT_ERROR("{\"id\":5,\"method\":\"ping\"}", TG_EINVALID_REQUEST, id5_600);
    EXPECT_ERROR("{\"jsonrpc\":\"1.0\",\"id\":5,\"method\":\"ping\"}", TG_EINVALID_REQUEST,
                 id5_600);
    EXPECT_ERROR("{\"jsonrpc\":2.0,\"id\":5,\"method\":\"ping\"}", TG_EINVALID_REQUEST, id5_600);
    EXPECT_ERROR("{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"ping\"}", TG_EINVALID_REQUEST,
                 null_600);
    EXPECT_ERROR("{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"ping\"}", TG_EINVALID_REQUEST,
                 null_600);
    EXPECT_ERROR("{\"jsonrpc\":\"2.0\",\"id\":1.0,\"method\":\"ping\"}", TG_EINVALID_REQUEST,
                 null_600);
    EXPECT_ERROR("{\"jsonrpc\":\"2.0\",\"id\":true,\"method\":\"ping\"}", TG_EINVALID_REQUEST,
                 null_600);
    EXPECT_ERROR("{\"jsonrpc\":\"2.0\",\"id\":[1],\"method\":\"ping\"}", TG_EINVALID_REQUEST,
                 null_600);
    EXPECT_ERROR("{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":7}", TG_EINVALID_REQUEST, id5_600);
    EXPECT_ERROR("{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"ping\",\"result\":{}}",
                 TG_EINVALID_REQUEST, id5_600);
    EXPECT_ERROR("{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"ping\",\"params\":\"x\"}",
                 TG_EINVALID_REQUEST, id5_600);
    EXPECT_ERROR("{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"ping\",\"params\":null}",
                 TG_EINVALID_REQUEST, id5_600);
    EXPECT_ERROR("{\"jsonrpc\":\"2.0\",\"id\":5}", TG_EINVALID_REQUEST, id5_600);
    EXPECT_ERROR("{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{},\"error\":{\"code\":1,\"message\":"
                 "\"m\"}}",
                 TG_EINVALID_REQUEST, id5_600);
    EXPECT_ERROR("{\"jsonrpc\":\"2.0\",\"id\":5,\"error\":{\"code\":\"x\",\"message\":\"m\"}}",
                 TG_EINVALID_REQUEST, id5_600);
    EXPECT_ERROR("{\"jsonrpc\":\"2.0\",\"result\":{}}", TG_EINVALID_REQUEST, null_600);
    EXPECT_ERROR("{\"jsonrpc\":\"2.0\",\"id\":null,\"result\":{}}", TG_EINVALID_REQUEST, null_600);

    /* -32602: params as an array is JSON-RPC, but not MCP. */
    EXPECT_ERROR("{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"ping\",\"params\":[]}",
                 TG_EINVALID_PARAMS, "{\"jsonrpc\":\"2.0\",\"id\":5,\"error\":{\"code\":-32602}}");

    /* Batches: -32600 unless the session negotiated 2025-03-26. */
    EXPECT_ERROR("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]", TG_EINVALID_REQUEST,
                 null_600);
    EXPECT_ERROR("[]", TG_EINVALID_REQUEST, null_600);
}

/* A notification whose params are `arrays` nested arrays: depth arrays + 1. */
static tg_jsonrpc_msg *deep_params(int arrays, int want_rc)
{
    char deep[1024];
    int n = snprintf(deep, sizeof deep, "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":");
    for (int i = 0; i < arrays; i++)
        deep[n++] = '[';
    for (int i = 0; i < arrays; i++)
        deep[n++] = ']';
    deep[n++] = '}';
    deep[n] = '\0';
    return PARSE_AS(deep, NULL, want_rc, TG_JSONRPC_INVALID);
}

static void test_limits(void)
{
    tg_jsonrpc_limits lim = {.max_bytes = 64, .max_depth = 3};
    const char *ok = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":{\"a\":[1]}}";
    tg_jsonrpc_msg *m = PARSE_AS(ok, &lim, 0, TG_JSONRPC_REQUEST);
    tg_jsonrpc_msg_free(m);
    m = PARSE_AS("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":{\"a\":[[1]]}}", &lim,
                 TG_EPARSE_ERROR, TG_JSONRPC_INVALID);
    tg_jsonrpc_msg_free(m);
    /* Brackets inside strings, escaped quotes included, are not nesting. */
    m = PARSE_AS("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"[[[\\\"{{{\"}", &lim, 0,
                 TG_JSONRPC_REQUEST);
    tg_jsonrpc_msg_free(m);
    char big[100];
    memset(big, ' ', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    big[0] = '{';
    big[98] = '}';
    m = PARSE_AS(big, &lim, TG_EPAYLOAD_TOO_LARGE, TG_JSONRPC_INVALID);
    json_t *r = tg_jsonrpc_error_for(m);
    /* Not a JSON-RPC error: -32603 with the gateway's error object as data. */
    CHECK_INT_EQ(json_integer_value(json_object_get(json_object_get(r, "error"), "code")), -32603);
    CHECK_STR_EQ(json_string_value(
                     json_object_get(json_object_get(json_object_get(r, "error"), "data"), "code")),
                 "PAYLOAD_TOO_LARGE");
    json_decref(r);
    tg_jsonrpc_msg_free(m);

    /* The default depth: 128 levels pass, 129 do not. */
    m = deep_params(127, TG_EINVALID_PARAMS);
    tg_jsonrpc_msg_free(m);
    m = deep_params(128, TG_EPARSE_ERROR);
    tg_jsonrpc_msg_free(m);
}

static void test_batch(void)
{
    tg_jsonrpc_limits lim = {.allow_batch = true};
    tg_jsonrpc_msg *m =
        PARSE_AS("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"},"
                 "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}, 3,"
                 "{\"jsonrpc\":\"2.0\",\"id\":\"z\",\"method\":\"ping\",\"params\":[]}]",
                 &lim, 0, TG_JSONRPC_BATCH);
    CHECK_INT_EQ(tg_jsonrpc_batch_size(m), 4);
    CHECK_INT_EQ(tg_jsonrpc_msg_kind(tg_jsonrpc_batch_get(m, 0)), TG_JSONRPC_REQUEST);
    CHECK_INT_EQ(tg_jsonrpc_msg_kind(tg_jsonrpc_batch_get(m, 1)), TG_JSONRPC_NOTIFICATION);
    CHECK_INT_EQ(tg_jsonrpc_msg_err(tg_jsonrpc_batch_get(m, 2)), TG_EINVALID_REQUEST);
    CHECK_INT_EQ(tg_jsonrpc_msg_err(tg_jsonrpc_batch_get(m, 3)), TG_EINVALID_PARAMS);
    CHECK_JSON(tg_jsonrpc_error_for(tg_jsonrpc_batch_get(m, 3)),
               "{\"jsonrpc\":\"2.0\",\"id\":\"z\",\"error\":{\"code\":-32602,\"message\":"
               "\"\\\"params\\\" must be an object\"}}");
    CHECK(tg_jsonrpc_batch_get(m, 4) == NULL);
    CHECK(tg_jsonrpc_error_for(tg_jsonrpc_batch_get(m, 0)) == NULL);
    tg_jsonrpc_msg_free(m);
    m = PARSE_AS("[]", &lim, TG_EINVALID_REQUEST, TG_JSONRPC_INVALID);
    tg_jsonrpc_msg_free(m);
}

static void test_builders(void)
{
    CHECK_JSON(tg_jsonrpc_error(NULL, TG_EPARSE_ERROR, NULL, NULL),
               "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,\"message\":"
               "\"the body is not valid JSON\"}}");
    json_t *id = json_integer(3);
    CHECK_JSON(tg_jsonrpc_error(id, TG_EMETHOD_NOT_FOUND, "method not found: x",
                                json_pack("{s:s}", "method", "x")),
               "{\"jsonrpc\":\"2.0\",\"id\":3,\"error\":{\"code\":-32601,\"message\":"
               "\"method not found: x\",\"data\":{\"method\":\"x\"}}}");
    CHECK_JSON(tg_jsonrpc_error(id, TG_EUNAVAILABLE, NULL, NULL),
               "{\"jsonrpc\":\"2.0\",\"id\":3,\"error\":{\"code\":-32603,\"message\":"
               "\"the gateway is shutting down or its store is unavailable\",\"data\":{\"code\":"
               "\"UNAVAILABLE\",\"source\":\"gateway\",\"retryable\":true,\"retryAfterMs\":5000,"
               "\"message\":\"the gateway is shutting down or its store is unavailable\","
               "\"details\":null,\"callId\":null}}}");
    json_decref(id);
    CHECK_JSON(tg_jsonrpc_notification("notifications/progress",
                                       json_pack("{s:s,s:i}", "progressToken", "t", "progress", 5)),
               "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":"
               "{\"progressToken\":\"t\",\"progress\":5}}");
    CHECK_JSON(tg_jsonrpc_notification("notifications/tools/list_changed", NULL),
               "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}");
}

int main(void)
{
    test_requests();
    test_responses();
    test_invalid();
    test_limits();
    test_batch();
    test_builders();
    return check_report();
}
