/* libFuzzer target for contract fixtures (gateway/contract/): the fixture
 * files a deploy reads from a worker's fixtures/ folder and the answers they
 * are compared with, and the generator that turns a tool's schemas into
 * fixtures (`toolgate contract gen`, fed by whatever schemas a deploy
 * accepted).
 *
 * Input: byte 0 picks the mode.
 *   even: a fixture's JSON text, then a NUL byte, then a CallToolResult's
 *         JSON text. An accepted fixture is compared with the result.
 *   odd:  a tool's JSON text ({name, inputSchema, outputSchema}), handed to
 *         the generator.
 *
 * Invariants, beyond "no crash, no leak":
 *   - a refused fixture or tool comes with a message; a failed comparison
 *     says why, a met one says nothing;
 *   - every generated case is a well-formed fixture under a name of
 *     [a-z0-9_-], marked generated; its arguments are accepted by the
 *     compiled inputSchema when it expects success, and refused with a
 *     violation at the fixture's path and keyword when it expects
 *     INVALID_ARGUMENTS; generating twice gives the same fixtures. */
#include "gateway/contract/fixture.h"
#include "gateway/contract/gen.h"
#include "schemas/schema.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_INPUT (64 * 1024)

static void compare(const char *text, size_t size)
{
    const char *nul = memchr(text, '\0', size);
    size_t flen = nul ? (size_t)(nul - text) : size;
    json_t *fixture = json_loadb(text, flen, JSON_REJECT_DUPLICATES, NULL);
    json_t *result = nul ? json_loadb(nul + 1, size - flen - 1, 0, NULL) : NULL;
    tg_error err = {0};
    if (fixture && tg_fixture_check(fixture, &err) != 0) {
        if (!err.message[0]) abort();
    } else if (fixture) {
        char *why = NULL;
        bool met = tg_fixture_met(fixture, result ? result : json_null(), &why);
        if (met == (why != NULL)) abort();
        if (why && !why[0]) abort();
        free(why);
    }
    json_decref(result);
    json_decref(fixture);
}

static bool has_violation(const tg_schema_violations *v, const char *path, const char *keyword)
{
    json_t *all = tg_schema_violations_json(v);
    bool found = false;
    size_t i;
    json_t *x;
    json_array_foreach(all, i, x)
    {
        found = found || (strcmp(json_string_value(json_object_get(x, "path")), path) == 0 &&
                          strcmp(json_string_value(json_object_get(x, "keyword")), keyword) == 0);
    }
    json_decref(all);
    return found;
}

/* The engine's verdict agrees with what the case expects. */
static void judge(const tg_schema *input, const json_t *fixture)
{
    const json_t *args = json_object_get(fixture, "arguments");
    const json_t *error = json_object_get(json_object_get(fixture, "expect"), "error");
    tg_schema_violations v;
    int invalid = tg_schema_validate(input, args, &v);
    if (!error) {
        if (invalid) abort();
    } else {
        const char *code = json_string_value(json_object_get(error, "code"));
        if (!code || strcmp(code, "INVALID_ARGUMENTS") != 0 || !invalid) abort();
        const json_t *paths = json_object_get(error, "paths");
        const json_t *keywords = json_object_get(error, "keywords");
        if (json_array_size(paths) != 1 || json_array_size(keywords) != 1) abort();
        if (!has_violation(&v, json_string_value(json_array_get(paths, 0)),
                           json_string_value(json_array_get(keywords, 0))))
            abort();
    }
    tg_schema_violations_free(&v);
}

static void generate(const char *text, size_t size)
{
    json_t *tool = json_loadb(text, size, JSON_REJECT_DUPLICATES, NULL);
    if (!tool) return;
    json_t *cases = NULL, *again = NULL;
    tg_error err = {0};
    if (tg_contract_generate(tool, &cases, &err) != 0) {
        if (!err.message[0]) abort();
        json_decref(tool);
        return;
    }
    tg_schema *input = NULL;
    tg_schema_options opts = {.format_assert = true};
    if (tg_schema_compile(json_object_get(tool, "inputSchema"), &opts, &input, NULL) != 0) abort();
    const char *name;
    json_t *fixture;
    json_object_foreach(cases, name, fixture)
    {
        if (!*name || strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_-") != strlen(name))
            abort();
        if (tg_fixture_check(fixture, &err) != 0) abort();
        if (!json_is_true(json_object_get(fixture, "generated"))) abort();
        judge(input, fixture);
    }
    if (tg_contract_generate(tool, &again, &err) != 0 || !json_equal(cases, again)) abort();
    tg_schema_free(input);
    json_decref(again);
    json_decref(cases);
    json_decref(tool);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > MAX_INPUT) return 0;
    if (data[0] % 2 == 0)
        compare((const char *)data + 1, size - 1);
    else
        generate((const char *)data + 1, size - 1);
    return 0;
}
