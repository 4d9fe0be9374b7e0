/* Contract fixtures: the shape check accepts every expect kind and refuses
 * each malformed part with its JSON Pointer; each kind is met by the result
 * it describes and not met otherwise, and the reason names the first
 * difference by its pointer (a failed call by its error code and message). */
#include "check.h"
#include "gateway/contract/fixture.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static json_t *parse(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, 0, &e);
    if (!v) {
        fprintf(stderr, "bad test JSON: %s: %s\n", e.text, text);
        exit(2);
    }
    return v;
}

/* Returns the tg_fixture_check status of text; its message in msg. */
static int check_text(const char *text, char *msg, size_t size)
{
    json_t *f = parse(text);
    tg_error err = {0};
    int rc = tg_fixture_check(f, &err);
    snprintf(msg, size, "%s", err.message);
    json_decref(f);
    return rc;
}

#define GOOD(text)                                                                                 \
    do {                                                                                           \
        char msg_[256];                                                                            \
        int rc_ = check_text(text, msg_, sizeof msg_);                                             \
        CHECK_INT_EQ(rc_, 0);                                                                      \
        if (rc_ != 0) fprintf(stderr, "  refused: %s\n", msg_);                                    \
    } while (0)

/* The fixture is refused and the message contains needle. */
#define BAD(text, needle)                                                                          \
    do {                                                                                           \
        char msg_[256];                                                                            \
        CHECK_INT_EQ(check_text(text, msg_, sizeof msg_), -1);                                     \
        CHECK(strstr(msg_, needle) != NULL);                                                       \
        if (!strstr(msg_, needle)) fprintf(stderr, "  message: %s\n", msg_);                       \
    } while (0)

static void test_shapes(void)
{
    GOOD("{\"description\": \"d\", \"arguments\": {}, \"expect\": {}}");
    GOOD("{\"description\": \"d\", \"arguments\": {\"text\": \"a\"},"
         " \"expect\": {\"structuredContent\": {\"text\": \"a\"}}, \"generated\": true}");
    GOOD("{\"description\": \"d\", \"arguments\": {},"
         " \"expect\": {\"matches\": {\"type\": \"object\", \"required\": [\"utc\"]}}}");
    GOOD("{\"description\": \"d\", \"arguments\": {}, \"expect\": {\"matches\": true}}");
    GOOD("{\"description\": \"d\", \"arguments\": {},"
         " \"expect\": {\"content\": [{\"type\": \"text\", \"text\": \"hi\"}]}}");
    GOOD("{\"description\": \"d\", \"arguments\": {}, \"expect\": {\"error\":"
         " {\"code\": \"INVALID_ARGUMENTS\", \"paths\": [\"\", \"/a~1b\"],"
         " \"keywords\": [\"required\"]}}, \"generated\": false}");
    GOOD("{\"description\": \"d\", \"arguments\": {}, \"expect\": {\"error\": {\"code\": \"X\"}}}");

    BAD("[]", "must be an object");
    BAD("{\"arguments\": {}, \"expect\": {}}", "/description");
    BAD("{\"description\": \"d\", \"expect\": {}}", "/arguments: missing");
    BAD("{\"description\": \"d\", \"arguments\": {}}", "/expect: missing");
    BAD("{\"description\": 1, \"arguments\": {}, \"expect\": {}}", "/description: must be");
    BAD("{\"description\": \"d\", \"arguments\": [], \"expect\": {}}", "/arguments: must be");
    BAD("{\"description\": \"d\", \"arguments\": {}, \"expect\": {}, \"generated\": \"yes\"}",
        "/generated: must be a boolean");
    BAD("{\"description\": \"d\", \"arguments\": {}, \"expect\": {}, \"name\": \"x\"}",
        "/name: unknown key");
    BAD("{\"description\": \"d\", \"arguments\": {}, \"expect\": []}", "/expect: must be");
    BAD("{\"description\": \"d\", \"arguments\": {}, \"expect\": {\"result\": {}}}",
        "/expect/result: unknown key");
    BAD("{\"description\": \"d\", \"arguments\": {},"
        " \"expect\": {\"content\": [], \"structuredContent\": {}}}",
        "at most one");
    BAD("{\"description\": \"d\", \"arguments\": {}, \"expect\": {\"structuredContent\": 3}}",
        "/expect/structuredContent: must be an object");
    BAD("{\"description\": \"d\", \"arguments\": {}, \"expect\": {\"matches\": 3}}",
        "/expect/matches: must be a JSON Schema");
    BAD("{\"description\": \"d\", \"arguments\": {},"
        " \"expect\": {\"matches\": {\"properties\": {\"a\": {\"minimum\": \"x\"}}}}}",
        "/expect/matches/properties/a/minimum");
    BAD("{\"description\": \"d\", \"arguments\": {}, \"expect\": {\"content\": {}}}",
        "/expect/content: must be an array");
    BAD("{\"description\": \"d\", \"arguments\": {}, \"expect\": {\"content\": [1]}}",
        "/expect/content/0: must be an object");
    BAD("{\"description\": \"d\", \"arguments\": {}, \"expect\": {\"error\": \"X\"}}",
        "/expect/error: must be an object");
    BAD("{\"description\": \"d\", \"arguments\": {}, \"expect\": {\"error\": {}}}",
        "/expect/error/code");
    BAD("{\"description\": \"d\", \"arguments\": {}, \"expect\": {\"error\": {\"code\": 1}}}",
        "/expect/error/code");
    BAD("{\"description\": \"d\", \"arguments\": {},"
        " \"expect\": {\"error\": {\"code\": \"X\", \"paths\": \"/a\"}}}",
        "/expect/error/paths: must be an array");
    BAD("{\"description\": \"d\", \"arguments\": {},"
        " \"expect\": {\"error\": {\"code\": \"X\", \"paths\": [\"/a\", 2]}}}",
        "/expect/error/paths/1: must be a string");
    BAD("{\"description\": \"d\", \"arguments\": {},"
        " \"expect\": {\"error\": {\"code\": \"X\", \"paths\": [\"a\"]}}}",
        "/expect/error/paths/0: must be a JSON Pointer");
    BAD("{\"description\": \"d\", \"arguments\": {},"
        " \"expect\": {\"error\": {\"code\": \"X\", \"keywords\": [null]}}}",
        "/expect/error/keywords/0: must be a string");
    BAD("{\"description\": \"d\", \"arguments\": {},"
        " \"expect\": {\"error\": {\"code\": \"X\", \"message\": \"m\"}}}",
        "/expect/error/message: unknown key");
}

/* Returns tg_fixture_met of the fixture whose expect is expect_text against
 * result_text; *why is set (free it) when not met. */
static bool met(const char *expect_text, const char *result_text, char **why)
{
    char fixture_text[4096];
    snprintf(fixture_text, sizeof fixture_text,
             "{\"description\": \"d\", \"arguments\": {}, \"expect\": %s}", expect_text);
    json_t *fixture = parse(fixture_text), *result = parse(result_text);
    tg_error err = {0};
    if (tg_fixture_check(fixture, &err) != 0) {
        fprintf(stderr, "test fixture refused: %s\n", err.message);
        exit(2);
    }
    *why = NULL;
    bool ok = tg_fixture_met(fixture, result, why);
    json_decref(fixture);
    json_decref(result);
    return ok;
}

#define MET(expect, result)                                                                        \
    do {                                                                                           \
        char *why_;                                                                                \
        CHECK(met(expect, result, &why_));                                                         \
        if (why_) fprintf(stderr, "  why: %s\n", why_);                                            \
        free(why_);                                                                                \
    } while (0)

/* Not met, and the reason contains needle. */
#define UNMET(expect, result, needle)                                                              \
    do {                                                                                           \
        char *why_;                                                                                \
        CHECK(!met(expect, result, &why_));                                                        \
        CHECK(why_ &&strstr(why_, needle));                                                        \
        if (!why_ || !strstr(why_, needle)) fprintf(stderr, "  why: %s\n", why_);                  \
        free(why_);                                                                                \
    } while (0)

static const char format_text_result[] =
    "{\"content\": [{\"type\": \"text\", \"text\": \"{}\"}],"
    " \"structuredContent\": {\"text\": \"HELLO WORLD\", \"words\": 2, \"characters\": 11,"
    " \"tags\": [\"a\", \"b\"]}, \"_meta\": {\"dev.toolgate/callId\": \"c1\"}}";

/* The result of a tool with an outputSchema that refused its arguments: the
 * error travels in _meta. */
static const char invalid_in_meta[] =
    "{\"isError\": true, \"content\": [{\"type\": \"text\", \"text\": \"INVALID_ARGUMENTS: ...\"}],"
    " \"_meta\": {\"dev.toolgate/error\": {\"code\": \"INVALID_ARGUMENTS\","
    " \"message\": \"arguments do not match the tool's inputSchema\", \"details\": ["
    " {\"path\": \"\", \"keyword\": \"required\", \"message\": \"missing required property\"},"
    " {\"path\": \"/x\", \"keyword\": \"additionalProperties\", \"message\": \"unexpected\"}]}}}";

/* The same error where the tool has no outputSchema: in structuredContent. */
static const char worker_error[] =
    "{\"isError\": true, \"content\": [{\"type\": \"text\", \"text\": \"TEST_ERROR: no\"}],"
    " \"structuredContent\": {\"error\": {\"code\": \"TEST_ERROR\", \"source\": \"worker\","
    " \"message\": \"This tool intentionally fails\", \"details\": null}}}";

static void test_structured_content(void)
{
    MET("{\"structuredContent\": {\"words\": 2, \"text\": \"HELLO WORLD\", \"characters\": 11,"
        " \"tags\": [\"a\", \"b\"]}}",
        format_text_result);
    UNMET("{\"structuredContent\": {\"text\": \"HELLO\", \"words\": 2, \"characters\": 11,"
          " \"tags\": [\"a\", \"b\"]}}",
          format_text_result, "structuredContent differs at /text: expected \"HELLO\", got");
    UNMET("{\"structuredContent\": {\"text\": \"HELLO WORLD\", \"words\": 2, \"characters\": 11,"
          " \"tags\": [\"a\", \"c\"]}}",
          format_text_result, "at /tags/1: expected \"c\", got \"b\"");
    UNMET("{\"structuredContent\": {\"text\": \"HELLO WORLD\", \"words\": 2, \"characters\": 11,"
          " \"tags\": [\"a\"]}}",
          format_text_result, "at /tags: expected 1 items, got 2");
    UNMET("{\"structuredContent\": {\"text\": \"HELLO WORLD\", \"words\": 2,"
          " \"tags\": [\"a\", \"b\"]}}",
          format_text_result, "at /characters: not expected (got 11)");
    UNMET("{\"structuredContent\": {\"text\": \"HELLO WORLD\", \"words\": 2, \"characters\": 11,"
          " \"tags\": [\"a\", \"b\"], \"a/b~c\": 1}}",
          format_text_result, "at /a~1b~0c: missing (expected 1)");
    /* json_equal's rule: an integer is not a real of the same value. */
    UNMET("{\"structuredContent\": {\"text\": \"HELLO WORLD\", \"words\": 2.0, \"characters\": 11,"
          " \"tags\": [\"a\", \"b\"]}}",
          format_text_result, "at /words: expected 2.0, got 2");
    UNMET("{\"structuredContent\": {}}", "{\"content\": []}", "no structuredContent");
    UNMET("{\"structuredContent\": {\"text\": \"a\"}}", invalid_in_meta,
          "INVALID_ARGUMENTS: arguments do not match the tool's inputSchema");
}

static void test_matches(void)
{
    static const char schema[] =
        "{\"matches\": {\"type\": \"object\", \"required\": [\"utc\", \"unix\"],"
        " \"properties\": {\"utc\": {\"type\": \"string\", \"format\": \"date-time\"},"
        " \"unix\": {\"type\": \"integer\", \"minimum\": 1700000000}}}}";
    MET(schema, "{\"content\": [], \"structuredContent\": {\"utc\": \"2026-11-23T14:00:00Z\","
                " \"unix\": 1795442400}}");
    UNMET(schema,
          "{\"content\": [], \"structuredContent\": {\"utc\": \"yesterday\","
          " \"unix\": 1795442400}}",
          "structuredContent does not match at /utc: ");
    UNMET(schema,
          "{\"content\": [], \"structuredContent\": {\"utc\": \"2026-11-23T14:00:00Z\","
          " \"unix\": 5}}",
          "at /unix: ");
    UNMET(schema, "{\"content\": [], \"structuredContent\": {\"utc\": \"2026-11-23T14:00:00Z\"}}",
          "at the root (\"\"): ");
    UNMET(schema, "{\"content\": []}", "no structuredContent");
    UNMET(schema, worker_error, "TEST_ERROR: This tool intentionally fails");
}

static void test_content(void)
{
    static const char result[] =
        "{\"content\": [{\"type\": \"text\", \"text\": \"Multiple\"},"
        " {\"type\": \"image\", \"mimeType\": \"image/png\", \"data\": \"iVBO\"}],"
        " \"_meta\": {\"dev.toolgate/callId\": \"c\"}}";
    MET("{\"content\": [{\"type\": \"text\", \"text\": \"Multiple\"},"
        " {\"type\": \"image\", \"data\": \"iVBO\", \"mimeType\": \"image/png\"}]}",
        result);
    UNMET("{\"content\": [{\"type\": \"text\", \"text\": \"Multiple\"},"
          " {\"type\": \"image\", \"data\": \"iVBO\", \"mimeType\": \"image/jpeg\"}]}",
          result, "content differs at /1/mimeType: expected \"image/jpeg\", got \"image/png\"");
    UNMET("{\"content\": [{\"type\": \"text\", \"text\": \"Multiple\"}]}", result,
          "content differs at the root (\"\"): expected 1 items, got 2");
    UNMET("{\"content\": [{\"type\": \"text\", \"text\": \"x\"}]}", worker_error,
          "the call failed: TEST_ERROR");
}

static void test_error(void)
{
    MET("{\"error\": {\"code\": \"INVALID_ARGUMENTS\"}}", invalid_in_meta);
    MET("{\"error\": {\"code\": \"INVALID_ARGUMENTS\", \"paths\": [\"\", \"/x\"],"
        " \"keywords\": [\"additionalProperties\", \"required\"]}}",
        invalid_in_meta);
    MET("{\"error\": {\"code\": \"TEST_ERROR\"}}", worker_error);
    UNMET("{\"error\": {\"code\": \"TEST_ERROR\"}}", invalid_in_meta,
          "expected error TEST_ERROR, got INVALID_ARGUMENTS: arguments do not match");
    UNMET("{\"error\": {\"code\": \"INVALID_ARGUMENTS\", \"paths\": [\"/text\"]}}", invalid_in_meta,
          "no error detail has path \"/text\" (the details have [\"\",\"/x\"])");
    UNMET("{\"error\": {\"code\": \"INVALID_ARGUMENTS\", \"keywords\": [\"type\"]}}",
          invalid_in_meta, "no error detail has keyword \"type\"");
    UNMET("{\"error\": {\"code\": \"TEST_ERROR\", \"paths\": [\"\"]}}", worker_error,
          "no error detail has path \"\"");
    UNMET("{\"error\": {\"code\": \"TEST_ERROR\"}}", format_text_result,
          "expected error TEST_ERROR, but the call succeeded");
    UNMET("{\"error\": {\"code\": \"TEST_ERROR\"}}",
          "{\"isError\": true, \"content\": [{\"type\": \"text\", \"text\": \"boom\"}]}",
          "no error object");
}

static void test_success(void)
{
    MET("{}", format_text_result);
    MET("{}", "{\"content\": [], \"isError\": false}");
    UNMET("{}", worker_error, "the call failed: TEST_ERROR: This tool intentionally fails");
    UNMET("{}", invalid_in_meta, "(details: [{\"path\":\"\"");
    UNMET("{}", "{\"isError\": true, \"content\": [{\"type\": \"text\", \"text\": \"boom\"}]}",
          "the call failed: boom");
    UNMET("{}", "[]", "not an object");
}

int main(void)
{
    test_shapes();
    test_structured_content();
    test_matches();
    test_content();
    test_error();
    test_success();
    return check_report();
}
