/* MCP 2026-07-28 requests (gateway/mcp/stateless.h): which requests speak the
 * revision, and the header and _meta checks with each failure's code. */
#include <jansson.h>
#include <string.h>

#include "check.h"
#include "gateway/mcp/stateless.h"

static const char *const meta_ok = "{\"io.modelcontextprotocol/protocolVersion\": \"2026-07-28\","
                                   " \"io.modelcontextprotocol/clientCapabilities\": {}}";

/* params with meta_ok as _meta, and name when not NULL. */
static json_t *params_with(const char *name)
{
    json_t *p = json_pack("{s:o}", "_meta", json_loads(meta_ok, 0, NULL));
    if (name) json_object_set_new(p, "name", json_string(name));
    return p;
}

/* Runs the check and returns the error code (0: it passed), checking the
 * response's shape and status on the way. */
static long long check_code(const tg_stateless_headers *h, const char *method, json_t *params,
                            tg_stateless_request *asked)
{
    json_t *id = json_integer(42), *error = NULL;
    unsigned status = 0;
    int rc = tg_stateless_check(h, method, id, params, asked, &error, &status);
    long long code = 0;
    if (rc == 0) {
        CHECK(error == NULL);
        CHECK_INT_EQ(status, 200);
    } else {
        CHECK_INT_EQ(status, 400);
        CHECK(json_equal(json_object_get(error, "id"), id));
        CHECK(json_is_string(json_object_get(json_object_get(error, "error"), "message")));
        code = json_integer_value(json_object_get(json_object_get(error, "error"), "code"));
    }
    json_decref(error);
    json_decref(id);
    return code;
}

static void test_selected(void)
{
    json_t *p = params_with(NULL);
    CHECK(tg_stateless_selected(NULL, p));
    CHECK(tg_stateless_selected("2025-11-25", p)); /* _meta says it first */
    json_decref(p);
    CHECK(tg_stateless_selected("2026-07-28", NULL));
    CHECK(tg_stateless_selected("1900-01-01", NULL)); /* told it is unsupported */
    CHECK(!tg_stateless_selected(NULL, NULL));        /* initialize, 2025-03-26 */
    CHECK(!tg_stateless_selected("2025-11-25", NULL));
    p = json_pack("{s:{s:s}}", "_meta", "io.modelcontextprotocol/protocolVersion", "2025-06-18");
    CHECK(!tg_stateless_selected("2026-07-28", p)); /* a dual-era client's 2025 probe */
    json_decref(p);
}

static void test_headers(void)
{
    tg_stateless_request asked;
    json_t *p = params_with("greet");
    tg_stateless_headers h = {"2026-07-28", "tools/call", "greet"};
    CHECK_INT_EQ(check_code(&h, "tools/call", p, &asked), 0);
    CHECK(!asked.wants_logs);

    h = (tg_stateless_headers){"2026-07-28", NULL, "greet"};
    CHECK_INT_EQ(check_code(&h, "tools/call", p, &asked), TG_MCP_CODE_HEADER_MISMATCH);
    h = (tg_stateless_headers){"2026-07-28", "tools/list", "greet"};
    CHECK_INT_EQ(check_code(&h, "tools/call", p, &asked), TG_MCP_CODE_HEADER_MISMATCH);
    h = (tg_stateless_headers){NULL, "tools/call", "greet"};
    CHECK_INT_EQ(check_code(&h, "tools/call", p, &asked), TG_MCP_CODE_HEADER_MISMATCH);
    h = (tg_stateless_headers){"2026-07-28", "tools/call", NULL};
    CHECK_INT_EQ(check_code(&h, "tools/call", p, &asked), TG_MCP_CODE_HEADER_MISMATCH);
    h = (tg_stateless_headers){"2026-07-28", "tools/call", "greeter"};
    CHECK_INT_EQ(check_code(&h, "tools/call", p, &asked), TG_MCP_CODE_HEADER_MISMATCH);
    h = (tg_stateless_headers){"2026-07-28", "tools/call", "gree"};
    CHECK_INT_EQ(check_code(&h, "tools/call", p, &asked), TG_MCP_CODE_HEADER_MISMATCH);
    h = (tg_stateless_headers){"2026-07-28", "tools/call",
                               "gr\x01"
                               "eet"};
    CHECK_INT_EQ(check_code(&h, "tools/call", p, &asked), TG_MCP_CODE_HEADER_MISMATCH);

    /* Whitespace around a value is not part of it (RFC 9110, 5.5). */
    h = (tg_stateless_headers){" 2026-07-28\t", " tools/call ", "  greet "};
    CHECK_INT_EQ(check_code(&h, "tools/call", p, &asked), 0);

    /* The Base64 form, decoded before comparing; broken forms never match. */
    h = (tg_stateless_headers){"2026-07-28", "tools/call", "=?base64?Z3JlZXQ=?="};
    CHECK_INT_EQ(check_code(&h, "tools/call", p, &asked), 0);
    h = (tg_stateless_headers){"2026-07-28", "tools/call", "=?base64?Z3JlZXQ?="};
    CHECK_INT_EQ(check_code(&h, "tools/call", p, &asked), TG_MCP_CODE_HEADER_MISMATCH);
    h = (tg_stateless_headers){"2026-07-28", "tools/call", "=?base64?Z3JlZXQh?="};
    CHECK_INT_EQ(check_code(&h, "tools/call", p, &asked), TG_MCP_CODE_HEADER_MISMATCH);
    h = (tg_stateless_headers){"2026-07-28", "tools/call", "=?base64?****?="};
    CHECK_INT_EQ(check_code(&h, "tools/call", p, &asked), TG_MCP_CODE_HEADER_MISMATCH);
    json_decref(p);

    /* A name that is not plain ASCII travels only in the Base64 form. */
    p = params_with("h\xc3\xa9llo");
    h = (tg_stateless_headers){"2026-07-28", "tools/call", "=?base64?aMOpbGxv?="};
    CHECK_INT_EQ(check_code(&h, "tools/call", p, &asked), 0);
    json_decref(p);

    /* Mcp-Name is for tools/call (and prompts/get, resources/read) only. */
    p = params_with(NULL);
    h = (tg_stateless_headers){"2026-07-28", "tools/list", NULL};
    CHECK_INT_EQ(check_code(&h, "tools/list", p, &asked), 0);
    h = (tg_stateless_headers){"2026-07-28", "tools/call", "greet"};
    CHECK_INT_EQ(check_code(&h, "tools/call", p, &asked), TG_MCP_CODE_HEADER_MISMATCH);
    h = (tg_stateless_headers){"2026-07-28", "resources/read", NULL};
    CHECK_INT_EQ(check_code(&h, "resources/read", p, &asked), TG_MCP_CODE_HEADER_MISMATCH);
    json_decref(p);
}

static void test_meta(void)
{
    tg_stateless_request asked;
    tg_stateless_headers h = {"2026-07-28", "tools/list", NULL};
    CHECK_INT_EQ(check_code(&h, "tools/list", NULL, &asked), -32602);
    json_t *p =
        json_pack("{s:{s:s}}", "_meta", "io.modelcontextprotocol/protocolVersion", "2026-07-28");
    CHECK_INT_EQ(check_code(&h, "tools/list", p, &asked), -32602);
    json_decref(p);
    p = json_pack("{s:{s:{}}}", "_meta", "io.modelcontextprotocol/clientCapabilities");
    CHECK_INT_EQ(check_code(&h, "tools/list", p, &asked), -32602);
    json_decref(p);

    /* The header and _meta must agree before the version is judged. */
    p = params_with(NULL);
    h = (tg_stateless_headers){"1900-01-01", "tools/list", NULL};
    CHECK_INT_EQ(check_code(&h, "tools/list", p, &asked), TG_MCP_CODE_HEADER_MISMATCH);
    json_decref(p);

    p = json_pack("{s:{s:s, s:{}}}", "_meta", "io.modelcontextprotocol/protocolVersion",
                  "1900-01-01", "io.modelcontextprotocol/clientCapabilities");
    json_t *id = json_string("x"), *error = NULL;
    unsigned status = 0;
    CHECK_INT_EQ(tg_stateless_check(&h, "tools/list", id, p, &asked, &error, &status), -1);
    json_t *e = json_object_get(error, "error");
    CHECK_INT_EQ(json_integer_value(json_object_get(e, "code")), TG_MCP_CODE_UNSUPPORTED_VERSION);
    json_t *data = json_object_get(e, "data");
    CHECK_STR_EQ(json_string_value(json_object_get(data, "requested")), "1900-01-01");
    CHECK_STR_EQ(json_string_value(json_array_get(json_object_get(data, "supported"), 0)),
                 TG_MCP_VERSION_STATELESS);
    CHECK_INT_EQ(json_array_size(json_object_get(data, "supported")), tg_session_n_versions + 1);
    json_decref(error);
    json_decref(id);
    json_decref(p);

    /* A log level names the least a client wants; an unknown one is refused. */
    p = params_with(NULL);
    h = (tg_stateless_headers){"2026-07-28", "tools/list", NULL};
    json_object_set_new(json_object_get(p, "_meta"), "io.modelcontextprotocol/logLevel",
                        json_string("warning"));
    CHECK_INT_EQ(check_code(&h, "tools/list", p, &asked), 0);
    CHECK(asked.wants_logs);
    CHECK_INT_EQ(asked.log_level, TG_MCP_LOG_WARNING);
    json_object_set_new(json_object_get(p, "_meta"), "io.modelcontextprotocol/logLevel",
                        json_string("loud"));
    CHECK_INT_EQ(check_code(&h, "tools/list", p, &asked), -32602);
    json_decref(p);
}

static const char *header_of(void *headers, const char *name)
{
    return json_string_value(json_object_get(headers, name));
}

/* The error code of the Mcp-Param check (0: it passed) with headers given
 * as a JSON object. */
static long long params_code(const json_t *schema, const char *arguments, const char *headers)
{
    json_t *args = json_loads(arguments, 0, NULL), *h = json_loads(headers, 0, NULL);
    json_t *id = json_integer(1), *error = NULL;
    int rc = tg_stateless_check_params(schema, args, header_of, h, id, &error);
    long long code = 0;
    if (rc == 0) {
        CHECK(error == NULL);
    } else {
        CHECK(json_equal(json_object_get(error, "id"), id));
        code = json_integer_value(json_object_get(json_object_get(error, "error"), "code"));
    }
    json_decref(error);
    json_decref(id);
    json_decref(h);
    json_decref(args);
    return code;
}

static void test_params(void)
{
    json_t *schema = json_loads("{\"type\": \"object\", \"properties\": {"
                                " \"region\": {\"type\": \"string\", \"x-mcp-header\": \"Region\"},"
                                " \"shard\": {\"type\": \"integer\", \"x-mcp-header\": \"Shard\"},"
                                " \"dry\": {\"type\": \"boolean\", \"x-mcp-header\": \"Dry\"},"
                                " \"where\": {\"type\": \"object\", \"properties\": {"
                                "   \"zone\": {\"type\": \"string\", \"x-mcp-header\": \"Zone\"}}},"
                                " \"query\": {\"type\": \"string\"}}}",
                                0, NULL);
    CHECK(schema != NULL);
    const long long mismatch = TG_MCP_CODE_HEADER_MISMATCH;
    CHECK_INT_EQ(params_code(schema, "{\"query\": \"q\"}", "{}"), 0);
    CHECK_INT_EQ(params_code(schema, "{\"region\": null}", "{}"), 0);
    CHECK_INT_EQ(params_code(schema, "{\"region\": \"us\"}", "{\"Mcp-Param-Region\": \"us\"}"), 0);
    CHECK_INT_EQ(params_code(schema, "{\"region\": \"us\"}", "{}"), mismatch);
    CHECK_INT_EQ(params_code(schema, "{\"region\": \"us\"}", "{\"Mcp-Param-Region\": \"eu\"}"),
                 mismatch);
    CHECK_INT_EQ(params_code(schema, "{\"region\": \"Hello\"}",
                             "{\"Mcp-Param-Region\": \"=?base64?SGVsbG8=?=\"}"),
                 0);
    CHECK_INT_EQ(params_code(schema, "{\"region\": \"Hello\"}",
                             "{\"Mcp-Param-Region\": \"=?base64?SGVsbG8?=\"}"),
                 mismatch);
    CHECK_INT_EQ(params_code(schema, "{\"region\": \"Hello\"}",
                             "{\"Mcp-Param-Region\": \"=?base64?SGVs!!!bG8=?=\"}"),
                 mismatch);
    /* Without both markers a value is literal, whatever it looks like. */
    CHECK_INT_EQ(params_code(schema, "{\"region\": \"=?base64?SGVsbG8=\"}",
                             "{\"Mcp-Param-Region\": \"=?base64?SGVsbG8=\"}"),
                 0);
    CHECK_INT_EQ(params_code(schema, "{\"shard\": 42}", "{\"Mcp-Param-Shard\": \"42.0\"}"), 0);
    CHECK_INT_EQ(params_code(schema, "{\"shard\": 42}", "{\"Mcp-Param-Shard\": \"42x\"}"),
                 mismatch);
    CHECK_INT_EQ(params_code(schema, "{\"shard\": 42}", "{\"Mcp-Param-Shard\": \"\"}"), mismatch);
    CHECK_INT_EQ(params_code(schema, "{\"dry\": false}", "{\"Mcp-Param-Dry\": \"false\"}"), 0);
    CHECK_INT_EQ(params_code(schema, "{\"dry\": false}", "{\"Mcp-Param-Dry\": \"0\"}"), mismatch);
    CHECK_INT_EQ(
        params_code(schema, "{\"where\": {\"zone\": \"b\"}}", "{\"Mcp-Param-Zone\": \"b\"}"), 0);
    CHECK_INT_EQ(params_code(schema, "{\"where\": {\"zone\": \"b\"}}", "{}"), mismatch);
    CHECK_INT_EQ(params_code(NULL, "{\"region\": \"us\"}", "{}"), 0);
    json_decref(schema);
}

static void test_results(void)
{
    json_t *r = json_pack("{s:{s:s}}", "_meta", "dev.toolgate/version", "1");
    tg_stateless_complete(r);
    CHECK_STR_EQ(json_string_value(json_object_get(r, "resultType")), "complete");
    json_t *meta = json_object_get(r, "_meta");
    CHECK_STR_EQ(json_string_value(json_object_get(meta, "dev.toolgate/version")), "1");
    CHECK_STR_EQ(json_string_value(json_object_get(
                     json_object_get(meta, "io.modelcontextprotocol/serverInfo"), "name")),
                 "toolgate");
    json_decref(r);
}

/* requires.clientCapabilities against what the client declared: only the
 * missing ones come back, each as an empty object, and a member that is not
 * an object does not count as declared. */
static void test_capabilities(void)
{
    json_t *manifest = json_loads(
        "{\"requires\": {\"clientCapabilities\": [\"sampling\", \"elicitation\"]}}", 0, NULL);
    json_t *params =
        json_pack("{s:{s:s, s:{s:{}}}}", "_meta", "io.modelcontextprotocol/protocolVersion",
                  "2026-07-28", "io.modelcontextprotocol/clientCapabilities", "elicitation");
    const json_t *declared = tg_stateless_client_capabilities(params);
    CHECK(json_is_object(json_object_get(declared, "elicitation")));

    json_t *missing = tg_stateless_missing_capabilities(manifest, declared);
    json_t *want = json_pack("{s:{}}", "sampling");
    CHECK(json_equal(missing, want));
    json_decref(want);

    json_t *id = json_integer(401);
    json_t *error = tg_stateless_missing_capability_error(id, missing);
    json_t *e = json_object_get(error, "error");
    CHECK(json_equal(json_object_get(error, "id"), id));
    CHECK_INT_EQ(json_integer_value(json_object_get(e, "code")), TG_MCP_CODE_MISSING_CAPABILITY);
    CHECK(json_is_object(json_object_get(
        json_object_get(json_object_get(e, "data"), "requiredCapabilities"), "sampling")));
    CHECK(strstr(json_string_value(json_object_get(e, "message")), "sampling") != NULL);
    json_decref(error);
    json_decref(id);

    /* Nothing declared: both are missing. */
    missing = tg_stateless_missing_capabilities(manifest, NULL);
    CHECK_INT_EQ(json_object_size(missing), 2);
    json_decref(missing);

    /* true is not a capability object. */
    json_t *odd = json_pack("{s:b, s:{}}", "sampling", 1, "elicitation");
    missing = tg_stateless_missing_capabilities(manifest, odd);
    CHECK_INT_EQ(json_object_size(missing), 1);
    CHECK(json_object_get(missing, "sampling") != NULL);
    json_decref(missing);
    json_decref(odd);

    /* Everything declared, or nothing required. */
    json_t *all = json_pack("{s:{}, s:{s:{}}, s:{}}", "sampling", "elicitation", "form", "roots");
    CHECK(tg_stateless_missing_capabilities(manifest, all) == NULL);
    json_t *plain = json_pack("{s:s}", "name", "greet");
    CHECK(tg_stateless_missing_capabilities(plain, NULL) == NULL);
    json_decref(plain);
    json_decref(all);

    /* A request without _meta declares nothing. */
    CHECK(tg_stateless_client_capabilities(NULL) == NULL);
    json_decref(params);
    json_decref(manifest);
}

int main(void)
{
    test_selected();
    test_headers();
    test_meta();
    test_params();
    test_results();
    test_capabilities();
    return check_report();
}
