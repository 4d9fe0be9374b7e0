/* The error table (gateway/core/errors.def) and the JSON error shapes of
 * DESIGN.md's "Errors": the error object, the tool error result, worker errors. */
#include <string.h>

#include "check.h"
#include "gateway/core/errors.h"
#include "json_check.h"

static void test_table(void)
{
    CHECK_INT_EQ(TG_OK, 0);
    CHECK(TG_EINVALID_ARGUMENTS < 0);
    CHECK_STR_EQ(tg_err_name(TG_EINVALID_ARGUMENTS), "INVALID_ARGUMENTS");
    CHECK_INT_EQ(tg_err_http_status(TG_EINVALID_ARGUMENTS), 400);
    CHECK_STR_EQ(tg_err_message(TG_EINVALID_ARGUMENTS),
                 "arguments do not match the tool's inputSchema");
    CHECK_INT_EQ(tg_err_http_status(TG_ERATE_LIMITED), 429);
    CHECK(tg_err_retryable(TG_ERATE_LIMITED));
    CHECK_INT_EQ(tg_err_retry_after_ms(TG_ERATE_LIMITED), 1000);
    CHECK(tg_err_retryable(TG_ECAPACITY));
    CHECK(!tg_err_retryable(TG_EOUTPUT_SCHEMA_VIOLATION));
    CHECK_INT_EQ(tg_err_jsonrpc_code(TG_EPARSE_ERROR), -32700);
    CHECK_INT_EQ(tg_err_jsonrpc_code(TG_EINVALID_REQUEST), -32600);
    CHECK_INT_EQ(tg_err_jsonrpc_code(TG_EMETHOD_NOT_FOUND), -32601);
    CHECK_INT_EQ(tg_err_jsonrpc_code(TG_EINVALID_PARAMS), -32602);
    CHECK_INT_EQ(tg_err_jsonrpc_code(TG_EINVALID_ARGUMENTS), 0);
    CHECK_INT_EQ(tg_err_http_status(TG_EUNAUTHORIZED), 401);
    CHECK_INT_EQ(tg_err_http_status(TG_EFORBIDDEN), 403);
    CHECK_INT_EQ(tg_err_http_status(TG_ENOT_FOUND), 404);
    CHECK_INT_EQ(tg_err_http_status(TG_EMETHOD_NOT_ALLOWED), 405);
    CHECK_INT_EQ(tg_err_http_status(TG_ENOT_ACCEPTABLE), 406);
    CHECK_INT_EQ(tg_err_http_status(TG_EPAYLOAD_TOO_LARGE), 413);
    CHECK_INT_EQ(tg_err_http_status(TG_EUNSUPPORTED_MEDIA_TYPE), 415);
    CHECK_INT_EQ(tg_err_http_status(TG_EBAD_REQUEST), 400);
    CHECK_INT_EQ(tg_err_from_name("CAPACITY"), TG_ECAPACITY);
    /* A retired tool stays retired: a retry can only fail again. */
    CHECK_STR_EQ(tg_err_name(TG_ETOOL_RETIRED), "TOOL_RETIRED");
    CHECK_INT_EQ(tg_err_http_status(TG_ETOOL_RETIRED), 410);
    CHECK(!tg_err_retryable(TG_ETOOL_RETIRED));
    CHECK_INT_EQ(tg_err_jsonrpc_code(TG_ETOOL_RETIRED), 0);
    /* A missing per-principal credential is fixed by the user, not by the
     * gateway: retryable, but only after a while. */
    CHECK_STR_EQ(tg_err_name(TG_ECREDENTIAL_MISSING), "CREDENTIAL_MISSING");
    CHECK_INT_EQ(tg_err_http_status(TG_ECREDENTIAL_MISSING), 424);
    CHECK(tg_err_retryable(TG_ECREDENTIAL_MISSING));
    CHECK_INT_EQ(tg_err_retry_after_ms(TG_ECREDENTIAL_MISSING), 60000);
    CHECK_INT_EQ(tg_err_jsonrpc_code(TG_ECREDENTIAL_MISSING), 0);
    CHECK_INT_EQ(tg_err_from_name("NO_SUCH"), TG_OK);
    CHECK(tg_err_known(TG_EUNSUPPORTED_MEDIA_TYPE));
    CHECK(!tg_err_known(-1000));
    CHECK_STR_EQ(tg_err_name(-1000), "INTERNAL");

    /* Every row: a name from_name finds again, a message and a hint, a delay
     * exactly when retryable, and no protocol error answered with 404 (to an
     * MCP client that means "session gone"). */
    for (int c = -1; tg_err_known(c); c--) {
        CHECK_INT_EQ(tg_err_from_name(tg_err_name(c)), c);
        CHECK(strlen(tg_err_message(c)) > 0);
        CHECK(strlen(tg_err_hint(c)) > 0);
        CHECK_INT_EQ(tg_err_retryable(c), tg_err_retry_after_ms(c) > 0);
        if (tg_err_jsonrpc_code(c) != 0 && c != TG_EINTERNAL)
            CHECK_INT_EQ(tg_err_http_status(c), 400);
    }
}

static void test_error_set(void)
{
    tg_error e = {0};
    CHECK_INT_EQ(tg_error_set(&e, TG_EINVALID_PARAMS, "params.%s bad", "name"), TG_EINVALID_PARAMS);
    CHECK_INT_EQ(e.code, TG_EINVALID_PARAMS);
    CHECK_STR_EQ(e.message, "params.name bad");
    CHECK_INT_EQ(tg_error_set(NULL, TG_ECAPACITY, "x"), TG_ECAPACITY);
}

static void test_error_json(void)
{
    CHECK_JSON(tg_error_json(TG_ERATE_LIMITED, NULL, NULL, "c_1"),
               "{\"code\":\"RATE_LIMITED\",\"source\":\"gateway\",\"retryable\":true,"
               "\"retryAfterMs\":1000,\"message\":\"too many calls; the rate limit for this tool "
               "or tenant is reached\",\"details\":null,\"callId\":\"c_1\"}");
    json_t *details = json_loads("{\"header\":\"MCP-Session-Id\"}", 0, NULL);
    CHECK_JSON(tg_error_json(TG_EBAD_REQUEST, "missing Mcp-Session-Id", details, NULL),
               "{\"code\":\"BAD_REQUEST\",\"source\":\"gateway\",\"retryable\":false,"
               "\"retryAfterMs\":null,\"message\":\"missing Mcp-Session-Id\","
               "\"details\":{\"header\":\"MCP-Session-Id\"},\"callId\":null}");
    json_decref(details);
    /* A message that is not UTF-8 cannot be a JSON string: the table's stands in. */
    CHECK_JSON(tg_error_json(TG_EINTERNAL, "bad \xff byte", NULL, NULL),
               "{\"code\":\"INTERNAL\",\"source\":\"gateway\",\"retryable\":false,"
               "\"retryAfterMs\":null,\"message\":\"internal error in the gateway\","
               "\"details\":null,\"callId\":null}");
}

/* DESIGN.md's example, whole. */
static void test_tool_error_result(void)
{
    json_t *details =
        json_loads("[{\"path\":\"/since\",\"keyword\":\"format\",\"message\":\"must be a date "
                   "(got \\\"yesterday\\\")\"}]",
                   0, NULL);
    CHECK_JSON(tg_tool_error_result(TG_EINVALID_ARGUMENTS, NULL, details, "c_01J"),
               "{\"isError\":true,\"content\":[{\"type\":\"text\",\"text\":\"INVALID_ARGUMENTS: "
               "/since must be a date (got \\\"yesterday\\\"). Fix the arguments and call "
               "again.\"}],\"structuredContent\":{\"error\":{\"code\":\"INVALID_ARGUMENTS\","
               "\"source\":\"gateway\",\"retryable\":false,\"retryAfterMs\":null,\"message\":"
               "\"arguments do not match the tool's inputSchema\",\"details\":[{\"path\":"
               "\"/since\",\"keyword\":\"format\",\"message\":\"must be a date (got "
               "\\\"yesterday\\\")\"}],\"callId\":\"c_01J\"}}}");
    json_array_append_new(details, json_pack("{s:s,s:s,s:s}", "path", "", "keyword", "required",
                                             "message", "must have property 'x'"));
    json_t *r = tg_tool_error_result(TG_EINVALID_ARGUMENTS, NULL, details, NULL);
    CHECK_STR_EQ(json_string_value(
                     json_object_get(json_array_get(json_object_get(r, "content"), 0), "text")),
                 "INVALID_ARGUMENTS: /since must be a date (got \"yesterday\") (and 1 more). Fix "
                 "the arguments and call again.");
    json_decref(r);
    json_decref(details);

    CHECK_JSON(tg_tool_error_result(TG_ECAPACITY, NULL, NULL, "c_2"),
               "{\"isError\":true,\"content\":[{\"type\":\"text\",\"text\":\"CAPACITY: no sandbox "
               "became free in time. Wait retryAfterMs, then call again.\"}],"
               "\"structuredContent\":{\"error\":{\"code\":\"CAPACITY\",\"source\":\"gateway\","
               "\"retryable\":true,\"retryAfterMs\":1000,\"message\":\"no sandbox became free in "
               "time\",\"details\":null,\"callId\":\"c_2\"}}}");
    /* A message override ending in '.' does not give "..". */
    r = tg_tool_error_result(TG_ETIMEOUT, "took longer than 10000 ms.", NULL, NULL);
    CHECK_STR_EQ(json_string_value(
                     json_object_get(json_array_get(json_object_get(r, "content"), 0), "text")),
                 "TIMEOUT: took longer than 10000 ms. Call again later, or with a smaller "
                 "request.");
    json_decref(r);
}

static void test_worker_error(void)
{
    json_t *we = json_loads("{\"code\":\"UPSTREAM_UNAVAILABLE\",\"message\":\"CRM is down\","
                            "\"retryable\":true,\"retryAfterMs\":250,\"details\":{\"status\":503}}",
                            0, NULL);
    json_t *out = NULL;
    tg_error err = {0};
    CHECK_INT_EQ(tg_worker_error_result(we, "c_3", &out, &err), 0);
    CHECK_JSON(out, "{\"isError\":true,\"content\":[{\"type\":\"text\",\"text\":"
                    "\"UPSTREAM_UNAVAILABLE: CRM is down. The call may succeed if made again "
                    "later.\"}],\"structuredContent\":{\"error\":{\"code\":"
                    "\"UPSTREAM_UNAVAILABLE\",\"source\":\"worker\",\"retryable\":true,"
                    "\"retryAfterMs\":250,\"message\":\"CRM is down\",\"details\":{\"status\":503},"
                    "\"callId\":\"c_3\"}}}");
    json_decref(we);

    we = json_loads("{\"code\":\"NOT_FOUND_IN_CRM\",\"message\":\"no such contact\"}", 0, NULL);
    CHECK_INT_EQ(tg_worker_error_result(we, NULL, &out, &err), 0);
    CHECK_JSON(out, "{\"isError\":true,\"content\":[{\"type\":\"text\",\"text\":"
                    "\"NOT_FOUND_IN_CRM: no such contact. Do not retry unchanged.\"}],"
                    "\"structuredContent\":{\"error\":{\"code\":\"NOT_FOUND_IN_CRM\",\"source\":"
                    "\"worker\",\"retryable\":false,\"retryAfterMs\":null,\"message\":\"no such "
                    "contact\",\"details\":null,\"callId\":null}}}");
    json_decref(we);

    static const char *const bad[] = {
        "[]",
        "{\"message\":\"m\"}",
        "{\"code\":\"lower\",\"message\":\"m\"}",
        "{\"code\":\"9LEADING\",\"message\":\"m\"}",
        "{\"code\":\"\",\"message\":\"m\"}",
        "{\"code\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\","
        "\"message\":\"m\"}",
        "{\"code\":\"OK\"}",
        "{\"code\":\"OK\",\"message\":\"m\",\"retryable\":\"yes\"}",
        "{\"code\":\"OK\",\"message\":\"m\",\"retryable\":true,\"retryAfterMs\":-1}",
        "{\"code\":\"OK\",\"message\":\"m\",\"retryable\":true,\"retryAfterMs\":1.5}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        we = json_loads(bad[i], 0, NULL);
        CHECK(we != NULL);
        out = (json_t *)1;
        CHECK_INT_EQ(tg_worker_error_result(we, NULL, &out, &err), TG_EWORKER_FAILED);
        CHECK(out == NULL);
        CHECK_INT_EQ(err.code, TG_EWORKER_FAILED);
        json_decref(we);
    }

    /* A long message is cut at 1000 bytes, never inside a UTF-8 sequence. */
    char msg[1200];
    memset(msg, 'a', 999);
    for (size_t i = 999; i < 1190; i += 2) {
        msg[i] = (char)0xc3;
        msg[i + 1] = (char)0xa9;
    }
    msg[1191] = '\0';
    we = json_pack("{s:s,s:s}", "code", "LONG", "message", msg);
    CHECK_INT_EQ(tg_worker_error_result(we, NULL, &out, &err), 0);
    const char *m = json_string_value(json_object_get(
        json_object_get(json_object_get(out, "structuredContent"), "error"), "message"));
    CHECK(m && strlen(m) == 999);
    json_decref(out);
    json_decref(we);
}

int main(void)
{
    test_table();
    test_error_set();
    test_error_json();
    test_tool_error_result();
    test_worker_error();
    return check_report();
}
