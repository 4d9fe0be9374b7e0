/* Fixture generation: for schemas covering each keyword kind, the example
 * workers' real schemas and every schema of the JSON Schema test suite, each
 * case passes the fixture check, each valid case validates, each invalid case
 * is refused with the fixture's path and keyword among the engine's
 * violations, names are unique and well-formed, every fixture is marked
 * generated, the output is the same on every run, the tool is left as it was,
 * expensive schemas end quickly, and schemas that do not compile are refused. */
#include "check.h"
#include "gateway/contract/fixture.h"
#include "gateway/contract/gen.h"
#include "schemas/schema.h"

#include <dirent.h>
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

static bool quiet; /* the sweep over the test suite reports only failures */

static bool well_formed_name(const char *name)
{
    if (!*name) return false;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
            return false;
    return true;
}

/* Whether validating args reports a violation of keyword at path. */
static bool reports(const tg_schema *schema, const json_t *args, const char *path,
                    const char *keyword)
{
    tg_schema_violations v;
    bool found = false;
    if (tg_schema_validate(schema, args, &v) == 1)
        for (size_t i = 0; i < v.count; i++)
            if (strcmp(v.items[i].path, path) == 0 && strcmp(v.items[i].keyword, keyword) == 0)
                found = true;
    tg_schema_violations_free(&v);
    return found;
}

/* Generates the cases of tool and checks every property that holds for any
 * tool. Returns: new reference, the cases (NULL when generation failed). */
static json_t *generate_checked(json_t *tool)
{
    json_t *before = json_deep_copy(tool);
    json_t *cases = NULL, *again = NULL;
    tg_error err = {0};
    int rc = tg_contract_generate(tool, &cases, &err);
    if (!quiet) CHECK_INT_EQ(rc, 0);
    if (rc != 0) {
        if (!quiet) fprintf(stderr, "  generation failed: %s\n", err.message);
        json_decref(before);
        return NULL;
    }
    CHECK(json_equal(before, tool));
    json_decref(before);

    CHECK_INT_EQ(tg_contract_generate(tool, &again, NULL), 0);
    char *first = json_dumps(cases, 0), *second = json_dumps(again, 0);
    CHECK_STR_EQ(first, second);
    free(first);
    free(second);
    json_decref(again);

    tg_schema *schema = NULL;
    tg_schema_options opts = {.format_assert = true};
    CHECK_INT_EQ(tg_schema_compile(json_object_get(tool, "inputSchema"), &opts, &schema, NULL), 0);
    const json_t *output = json_object_get(tool, "outputSchema");
    const char *name;
    json_t *fixture;
    json_object_foreach(cases, name, fixture)
    {
        CHECK(well_formed_name(name));
        CHECK_INT_EQ(tg_fixture_check(fixture, NULL), 0);
        CHECK(json_is_true(json_object_get(fixture, "generated")));
        CHECK(json_is_string(json_object_get(fixture, "description")));
        CHECK_INT_EQ(json_object_size(fixture), 4);
        json_t *args = json_object_get(fixture, "arguments");
        json_t *expect = json_object_get(fixture, "expect");
        CHECK(json_is_object(args));
        json_t *error = json_object_get(expect, "error");
        if (error) {
            CHECK(strncmp(name, "invalid-", 8) == 0);
            CHECK_STR_EQ(json_string_value(json_object_get(error, "code")), "INVALID_ARGUMENTS");
            json_t *paths = json_object_get(error, "paths");
            json_t *keywords = json_object_get(error, "keywords");
            CHECK_INT_EQ(json_array_size(paths), 1);
            CHECK_INT_EQ(json_array_size(keywords), 1);
            const char *path = json_string_value(json_array_get(paths, 0));
            const char *keyword = json_string_value(json_array_get(keywords, 0));
            CHECK(path && keyword);
            if (!path || !keyword) continue;
            CHECK(!tg_schema_valid(schema, args));
            if (!reports(schema, args, path, keyword))
                fprintf(stderr, "  %s: no %s violation at \"%s\"\n", name, keyword, path);
            CHECK(reports(schema, args, path, keyword));
        } else {
            CHECK(strncmp(name, "valid-", 6) == 0);
            if (!tg_schema_valid(schema, args)) fprintf(stderr, "  %s does not validate\n", name);
            CHECK(tg_schema_valid(schema, args));
            if (output && !json_is_null(output))
                CHECK(json_equal(json_object_get(expect, "matches"), output));
            else
                CHECK_INT_EQ(json_object_size(expect), 0);
        }
    }
    tg_schema_free(schema);
    return cases;
}

static json_t *tool_with(const char *input_schema)
{
    json_t *tool = json_pack("{s:s,s:o}", "name", "t", "inputSchema", parse(input_schema));
    return tool;
}

/* Checks the case name exists and, for an invalid one, its path and keyword. */
static void expect_case(const json_t *cases, const char *name, const char *path,
                        const char *keyword)
{
    json_t *fixture = json_object_get(cases, name);
    if (!fixture) fprintf(stderr, "  missing case %s\n", name);
    CHECK(fixture != NULL);
    if (!fixture || !path) return;
    json_t *error = json_object_get(json_object_get(fixture, "expect"), "error");
    CHECK_STR_EQ(json_string_value(json_array_get(json_object_get(error, "paths"), 0)), path);
    CHECK_STR_EQ(json_string_value(json_array_get(json_object_get(error, "keywords"), 0)), keyword);
}

static void test_since(void)
{
    json_t *tool = tool_with(
        "{\"type\": \"object\", \"properties\": {"
        " \"since\": {\"type\": \"string\", \"format\": \"date\"},"
        " \"limit\": {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 100, \"default\": 10}},"
        " \"required\": [\"since\"], \"additionalProperties\": false}");
    json_object_set_new(tool, "outputSchema", parse("{\"type\": \"object\"}"));
    json_t *cases = generate_checked(tool);
    expect_case(cases, "valid-minimal", NULL, NULL);
    expect_case(cases, "valid-full", NULL, NULL);
    expect_case(cases, "invalid-required-since", "", "required");
    expect_case(cases, "invalid-since-format", "/since", "format");
    expect_case(cases, "invalid-since-type", "/since", "type");
    expect_case(cases, "invalid-limit-minimum", "/limit", "minimum");
    expect_case(cases, "invalid-limit-maximum", "/limit", "maximum");
    expect_case(cases, "invalid-additional-properties", "/unexpected_property",
                "additionalProperties");
    json_t *minimal = json_object_get(json_object_get(cases, "valid-minimal"), "arguments");
    CHECK_INT_EQ(json_object_size(minimal), 1);
    CHECK_STR_EQ(json_string_value(json_object_get(minimal, "since")), "2024-01-15");
    json_t *full = json_object_get(json_object_get(cases, "valid-full"), "arguments");
    CHECK_INT_EQ(json_integer_value(json_object_get(full, "limit")), 10);
    json_decref(cases);
    json_decref(tool);
}

static void test_strings(void)
{
    json_t *tool = tool_with(
        "{\"type\": \"object\", \"properties\": {"
        " \"code\": {\"type\": \"string\", \"pattern\": \"^[A-Z]{3}$\", \"examples\": [\"EUR\"]},"
        " \"name\": {\"type\": \"string\", \"minLength\": 2, \"maxLength\": 5},"
        " \"mode\": {\"enum\": [\"fast\", \"slow\", 3]},"
        " \"kind\": {\"const\": \"fixed\"},"
        " \"tag\": {\"type\": \"string\", \"minLength\": 12}},"
        " \"required\": [\"code\", \"name\", \"mode\", \"kind\"]}");
    json_t *cases = generate_checked(tool);
    expect_case(cases, "invalid-code-pattern", "/code", "pattern");
    expect_case(cases, "invalid-name-min-length", "/name", "minLength");
    expect_case(cases, "invalid-name-max-length", "/name", "maxLength");
    expect_case(cases, "invalid-tag-min-length", "/tag", "minLength");
    expect_case(cases, "invalid-mode-enum", "/mode", "enum");
    expect_case(cases, "invalid-kind-const", "/kind", "const");
    expect_case(cases, "valid-mode-slow", NULL, NULL);
    expect_case(cases, "valid-mode-enum-3", NULL, NULL);
    json_t *args = json_object_get(json_object_get(cases, "valid-minimal"), "arguments");
    CHECK_STR_EQ(json_string_value(json_object_get(args, "code")), "EUR");
    CHECK_STR_EQ(json_string_value(json_object_get(args, "kind")), "fixed");
    json_decref(cases);
    json_decref(tool);
}

static void test_numbers(void)
{
    json_t *tool = tool_with(
        "{\"type\": \"object\", \"properties\": {"
        " \"ratio\": {\"type\": \"number\", \"exclusiveMinimum\": 0, \"exclusiveMaximum\": 1},"
        " \"step\": {\"type\": \"integer\", \"multipleOf\": 5, \"minimum\": 12},"
        " \"price\": {\"type\": \"number\", \"multipleOf\": 0.5, \"maximum\": -3},"
        " \"count\": {\"type\": \"integer\", \"maximum\": 0}},"
        " \"required\": [\"ratio\", \"step\", \"price\", \"count\"]}");
    json_t *cases = generate_checked(tool);
    expect_case(cases, "valid-minimal", NULL, NULL);
    expect_case(cases, "invalid-ratio-exclusive-minimum", "/ratio", "exclusiveMinimum");
    expect_case(cases, "invalid-ratio-exclusive-maximum", "/ratio", "exclusiveMaximum");
    expect_case(cases, "invalid-step-multiple-of", "/step", "multipleOf");
    expect_case(cases, "invalid-step-minimum", "/step", "minimum");
    expect_case(cases, "invalid-price-multiple-of", "/price", "multipleOf");
    expect_case(cases, "invalid-count-maximum", "/count", "maximum");
    expect_case(cases, "invalid-count-type", "/count", "type");
    json_t *args = json_object_get(json_object_get(cases, "valid-minimal"), "arguments");
    CHECK_INT_EQ(json_integer_value(json_object_get(args, "step")), 15);
    json_decref(cases);
    json_decref(tool);
}

static void test_arrays(void)
{
    json_t *tool = tool_with(
        "{\"type\": \"object\", \"properties\": {"
        " \"tags\": {\"type\": \"array\", \"items\": {\"type\": \"string\"},"
        "   \"minItems\": 2, \"maxItems\": 4, \"uniqueItems\": true},"
        " \"point\": {\"type\": \"array\", \"prefixItems\": [{\"type\": \"number\"},"
        "   {\"type\": \"string\", \"format\": \"uuid\"}], \"items\": false},"
        " \"ids\": {\"type\": \"array\", \"items\": {\"type\": \"integer\", \"minimum\": 7},"
        "   \"uniqueItems\": true, \"minItems\": 3},"
        " \"some\": {\"type\": \"array\", \"contains\": {\"type\": \"integer\", \"minimum\": 5},"
        "   \"maxContains\": 2, \"items\": {\"type\": [\"integer\", \"string\"]}}},"
        " \"required\": [\"tags\"]}");
    json_t *cases = generate_checked(tool);
    expect_case(cases, "invalid-tags-min-items", "/tags", "minItems");
    expect_case(cases, "invalid-tags-max-items", "/tags", "maxItems");
    expect_case(cases, "invalid-tags-unique-items", "/tags", "uniqueItems");
    expect_case(cases, "invalid-tags-0-type", "/tags/0", "type");
    expect_case(cases, "invalid-point-1-format", "/point/1", "format");
    expect_case(cases, "invalid-ids-0-minimum", "/ids/0", "minimum");
    expect_case(cases, "invalid-point-items", "/point", "items");
    expect_case(cases, "invalid-some-contains", "/some", "contains");
    expect_case(cases, "invalid-some-max-contains", "/some", "maxContains");
    json_t *args = json_object_get(json_object_get(cases, "valid-full"), "arguments");
    CHECK_INT_EQ(json_array_size(json_object_get(args, "ids")), 3);
    CHECK_INT_EQ(json_array_size(json_object_get(args, "point")), 2);
    json_decref(cases);
    json_decref(tool);
}

static void test_refs(void)
{
    json_t *tool = tool_with(
        "{\"type\": \"object\", \"$defs\": {"
        " \"address\": {\"$anchor\": \"addr\", \"type\": \"object\","
        "   \"properties\": {\"city\": {\"type\": \"string\", \"minLength\": 1},"
        "   \"zip\": {\"$ref\": \"#/$defs/zip\"}}, \"required\": [\"city\", \"zip\"],"
        "   \"additionalProperties\": false},"
        " \"zip\": {\"type\": \"string\", \"pattern\": \"^[0-9]{5}$\", \"default\": \"12345\"},"
        " \"node\": {\"type\": \"object\", \"properties\": {\"value\": {\"type\": \"integer\"},"
        "   \"children\": {\"type\": \"array\", \"items\": {\"$ref\": \"#/$defs/node\"}}},"
        "   \"required\": [\"value\"]}},"
        " \"properties\": {\"home\": {\"$ref\": \"#addr\"}, \"work\": {\"$ref\": "
        "\"#/$defs/address\"},"
        "   \"tree\": {\"$ref\": \"#/$defs/node\"}},"
        " \"required\": [\"home\"]}");
    json_t *cases = generate_checked(tool);
    expect_case(cases, "valid-minimal", NULL, NULL);
    expect_case(cases, "valid-full", NULL, NULL);
    expect_case(cases, "invalid-required-home", "", "required");
    expect_case(cases, "invalid-required-home-city", "/home", "required");
    expect_case(cases, "invalid-home-zip-pattern", "/home/zip", "pattern");
    expect_case(cases, "invalid-home-additional-properties", "/home/unexpected_property",
                "additionalProperties");
    expect_case(cases, "invalid-tree-children-0-value-type", "/tree/children/0/value", "type");
    json_decref(cases);
    json_decref(tool);
}

static void test_combinators(void)
{
    json_t *tool =
        tool_with("{\"type\": \"object\","
                  " \"allOf\": [{\"properties\": {\"a\": {\"type\": \"integer\", \"minimum\": 3}},"
                  "   \"required\": [\"a\"]},"
                  "   {\"properties\": {\"a\": {\"maximum\": 9}, \"b\": {\"type\": \"boolean\"}}}],"
                  " \"properties\": {"
                  "  \"id\": {\"anyOf\": [{\"type\": \"string\", \"format\": \"email\"},"
                  "   {\"type\": \"integer\"}]},"
                  "  \"shape\": {\"oneOf\": [{\"type\": \"string\", \"maxLength\": 3},"
                  "   {\"type\": \"string\", \"minLength\": 2}]}},"
                  " \"required\": [\"id\", \"shape\"]}");
    json_t *cases = generate_checked(tool);
    expect_case(cases, "valid-minimal", NULL, NULL);
    expect_case(cases, "invalid-a-minimum", "/a", "minimum");
    expect_case(cases, "invalid-a-maximum", "/a", "maximum");
    expect_case(cases, "invalid-required-a", "", "required");
    expect_case(cases, "invalid-b-type", "/b", "type");
    json_t *args = json_object_get(json_object_get(cases, "valid-minimal"), "arguments");
    CHECK_STR_EQ(json_string_value(json_object_get(args, "id")), "user@example.com");
    CHECK(json_is_string(json_object_get(args, "shape")));
    json_decref(cases);
    json_decref(tool);
}

static void test_nullable_and_formats(void)
{
    json_t *tool = tool_with("{\"type\": \"object\", \"properties\": {"
                             " \"note\": {\"type\": [\"string\", \"null\"], \"maxLength\": 3},"
                             " \"at\": {\"type\": \"string\", \"format\": \"date-time\"},"
                             " \"time\": {\"type\": \"string\", \"format\": \"time\"},"
                             " \"mail\": {\"type\": \"string\", \"format\": \"email\"},"
                             " \"site\": {\"type\": \"string\", \"format\": \"uri\"},"
                             " \"id\": {\"type\": \"string\", \"format\": \"uuid\"},"
                             " \"ip\": {\"type\": \"string\", \"format\": \"ipv4\"},"
                             " \"host\": {\"type\": \"string\", \"format\": \"hostname\"}},"
                             " \"required\": [\"note\", \"at\", \"time\", \"mail\", \"site\", "
                             "\"id\", \"ip\", \"host\"]}");
    json_t *cases = generate_checked(tool);
    expect_case(cases, "valid-minimal", NULL, NULL);
    expect_case(cases, "invalid-note-type", "/note", "type");
    expect_case(cases, "invalid-note-max-length", "/note", "maxLength");
    static const char *const names[] = {"at", "time", "mail", "site", "id", "ip", "host"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char name[64], path[32];
        snprintf(name, sizeof name, "invalid-%s-format", names[i]);
        snprintf(path, sizeof path, "/%s", names[i]);
        expect_case(cases, name, path, "format");
    }
    json_decref(cases);
    json_decref(tool);
}

static void test_object_counts(void)
{
    json_t *tool =
        tool_with("{\"type\": \"object\", \"minProperties\": 2, \"maxProperties\": 3,"
                  " \"properties\": {\"a\": {\"type\": \"string\"}, \"b\": {\"type\": \"string\"},"
                  "  \"c\": {\"type\": \"string\"}, \"d\": {\"type\": \"string\"}},"
                  " \"dependentRequired\": {\"a\": [\"b\"]},"
                  " \"propertyNames\": {\"pattern\": \"^[a-z]+$\"}}");
    json_t *cases = generate_checked(tool);
    expect_case(cases, "valid-minimal", NULL, NULL);
    expect_case(cases, "valid-full", NULL, NULL);
    expect_case(cases, "invalid-min-properties", "", "minProperties");
    expect_case(cases, "invalid-max-properties", "", "maxProperties");
    expect_case(cases, "invalid-property-names", "/INVALID NAME", "propertyNames");
    expect_case(cases, "invalid-dependent-required-b", "", "dependentRequired");
    json_t *full = json_object_get(json_object_get(cases, "valid-full"), "arguments");
    CHECK_INT_EQ(json_object_size(full), 3);
    json_decref(cases);
    json_decref(tool);
}

/* A required property with a pattern and nothing to take a value from: no
 * valid arguments can be built, so nothing at all is emitted. */
static void test_pattern_without_example(void)
{
    json_t *tool = tool_with("{\"type\": \"object\", \"properties\": {"
                             " \"code\": {\"type\": \"string\", \"pattern\": \"^[A-Z]{3}$\"},"
                             " \"n\": {\"type\": \"integer\"}},"
                             " \"required\": [\"code\"]}");
    json_t *cases = generate_checked(tool);
    CHECK_INT_EQ(json_object_size(cases), 0);
    json_decref(cases);
    json_decref(tool);
}

static void test_examples_and_unevaluated(void)
{
    json_t *tool =
        tool_with("{\"type\": \"object\", \"properties\": {"
                  " \"q\": {\"type\": \"string\", \"minLength\": 1}},"
                  " \"unevaluatedProperties\": false,"
                  " \"examples\": [{\"q\": \"weather\"}, {\"q\": \"\"}, {\"q\": \"x\"}]}");
    json_t *cases = generate_checked(tool);
    expect_case(cases, "valid-example-1", NULL, NULL);
    CHECK(json_object_get(cases, "valid-example-2") == NULL);
    expect_case(cases, "valid-example-3", NULL, NULL);
    expect_case(cases, "invalid-unevaluated-properties", "/unexpected_property",
                "unevaluatedProperties");
    json_decref(cases);
    json_decref(tool);
}

/* Arguments are always an object: a schema that says nothing about them gets
 * an empty object, and a schema that allows no object gets no case. */
static void test_non_object_root(void)
{
    json_t *tool = tool_with("{\"type\": \"string\", \"minLength\": 2}");
    json_t *cases = generate_checked(tool);
    CHECK_INT_EQ(json_object_size(cases), 0);
    json_decref(cases);
    json_decref(tool);

    tool = tool_with("{\"description\": \"anything\"}");
    cases = generate_checked(tool);
    json_t *minimal = json_object_get(json_object_get(cases, "valid-minimal"), "arguments");
    CHECK(json_is_object(minimal) && json_object_size(minimal) == 0);
    json_decref(cases);
    json_decref(tool);
}

/* Schemas built to make generation expensive end quickly, with whatever they
 * give still true: arrays of arrays of long strings, choices that multiply,
 * recursion with nothing to stop it. */
static void test_limits(void)
{
    static const char *const schemas[] = {
        "{\"type\": \"object\", \"required\": [\"a\"], \"properties\": {\"a\": {\"type\": "
        "\"array\","
        " \"minItems\": 60, \"items\": {\"type\": \"array\", \"minItems\": 60, \"items\": {"
        " \"type\": \"string\", \"minLength\": 90000}}}}}",
        "{\"type\": \"object\", \"properties\": {\"s\": {\"type\": \"array\", \"minItems\": 60,"
        " \"items\": {\"type\": \"object\", \"properties\": {\"b\": {\"type\": \"array\","
        " \"minItems\": 30, \"items\": {\"type\": \"integer\", \"minimum\": 3,"
        " \"multipleOf\": 2}}}}}}}",
        "{\"type\": \"object\", \"required\": [\"a\", \"b\", \"c\", \"d\"], \"$defs\": {\"x\": {"
        " \"anyOf\": [{\"type\": \"string\"}, {\"type\": \"integer\"}, {\"type\": \"null\"}]}},"
        " \"properties\": {\"a\": {\"$ref\": \"#/$defs/x\"}, \"b\": {\"$ref\": \"#/$defs/x\"},"
        " \"c\": {\"$ref\": \"#/$defs/x\"}, \"d\": {\"oneOf\": [{\"type\": \"string\"},"
        " {\"type\": \"string\"}]}}}",
        "{\"type\": \"object\", \"required\": [\"self\"], \"properties\": {\"self\": {\"$ref\": "
        "\"#\"}}}",
    };
    for (size_t i = 0; i < sizeof schemas / sizeof *schemas; i++) {
        json_t *tool = tool_with(schemas[i]);
        json_t *cases = generate_checked(tool);
        CHECK(cases != NULL);
        json_decref(cases);
        json_decref(tool);
    }
}

static json_t *load_worker(const char *worker)
{
    const char *src = getenv("TOOLGATE_SOURCE_DIR");
    CHECK(src != NULL);
    if (!src) return NULL;
    char path[1024];
    snprintf(path, sizeof path, "%s/examples/workers/%s/toolgate.json", src, worker);
    json_error_t e;
    json_t *tool = json_load_file(path, 0, &e);
    if (!tool) fprintf(stderr, "%s: %s\n", path, e.text);
    CHECK(tool != NULL);
    return tool;
}

static void test_workers(void)
{
    json_t *tool = load_worker("format_text");
    json_t *cases = tool ? generate_checked(tool) : NULL;
    expect_case(cases, "valid-minimal", NULL, NULL);
    expect_case(cases, "valid-full", NULL, NULL);
    expect_case(cases, "valid-case-upper", NULL, NULL);
    expect_case(cases, "invalid-required-text", "", "required");
    expect_case(cases, "invalid-text-type", "/text", "type");
    expect_case(cases, "invalid-text-max-length", "/text", "maxLength");
    expect_case(cases, "invalid-case-enum", "/case", "enum");
    expect_case(cases, "invalid-squeeze_whitespace-type", "/squeeze_whitespace", "type");
    expect_case(cases, "invalid-additional-properties", "/unexpected_property",
                "additionalProperties");
    json_t *full = json_object_get(json_object_get(cases, "valid-full"), "arguments");
    CHECK_STR_EQ(json_string_value(json_object_get(full, "case")), "keep");
    json_decref(cases);
    json_decref(tool);

    tool = load_worker("date_time");
    cases = tool ? generate_checked(tool) : NULL;
    expect_case(cases, "valid-minimal", NULL, NULL);
    expect_case(cases, "invalid-additional-properties", "/unexpected_property",
                "additionalProperties");
    json_decref(cases);
    json_decref(tool);

    tool = load_worker("json_schema_2020_12_tool");
    cases = tool ? generate_checked(tool) : NULL;
    expect_case(cases, "valid-minimal", NULL, NULL);
    expect_case(cases, "valid-full", NULL, NULL);
    expect_case(cases, "invalid-contact-method-enum", "/contactMethod", "enum");
    expect_case(cases, "invalid-address-city-type", "/address/city", "type");
    expect_case(cases, "invalid-required-phone", "", "required");
    expect_case(cases, "invalid-additional-properties", "/unexpected_property",
                "additionalProperties");
    json_decref(cases);
    json_decref(tool);
}

/* ${TOOLGATE_SHARED_DIR}/json-schema-test-suite; without it, ../shared next to
 * the source root. */
static void suite_dir(char *out, size_t n)
{
    const char *shared = getenv("TOOLGATE_SHARED_DIR");
    const char *src = getenv("TOOLGATE_SOURCE_DIR");
    const char *rel = "json-schema-test-suite/tests/draft2020-12";
    if (shared && *shared)
        snprintf(out, n, "%s/%s", shared, rel);
    else
        snprintf(out, n, "%s/../shared/%s", src ? src : ".", rel);
}

/* Every schema of the JSON Schema test suite, as the inputSchema itself, as
 * the schema of a required property, and with the suite's instances as
 * examples: whatever comes out must hold (schemas that do not compile on
 * their own, such as those with remote references, are refused and skipped). */
static void test_suite_sweep(void)
{
    char dir[1024];
    suite_dir(dir, sizeof dir);
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "  %s not found; sweep skipped\n", dir);
        return;
    }
    int tools = 0, cases = 0;
    quiet = true;
    struct dirent *entry;
    while ((entry = readdir(d))) {
        size_t len = strlen(entry->d_name);
        if (len < 6 || strcmp(entry->d_name + len - 5, ".json") != 0) continue;
        char path[1536];
        snprintf(path, sizeof path, "%s/%s", dir, entry->d_name);
        json_t *groups = json_load_file(path, 0, NULL);
        size_t i;
        json_t *group;
        json_array_foreach(groups, i, group)
        {
            json_t *schema = json_object_get(group, "schema");
            json_t *examples = json_array();
            size_t k;
            json_t *test;
            json_array_foreach(json_object_get(group, "tests"), k, test)
            {
                json_array_append_new(examples,
                                      json_pack("{s:O}", "x", json_object_get(test, "data")));
            }
            json_t *inputs[] = {
                json_incref(schema),
                json_pack("{s:s,s:{s:O},s:[s]}", "type", "object", "properties", "x", schema,
                          "required", "x"),
                json_pack("{s:s,s:{s:O},s:o}", "type", "object", "properties", "x", schema,
                          "examples", examples),
            };
            for (size_t n = 0; n < sizeof inputs / sizeof *inputs; n++) {
                json_t *tool = json_pack("{s:s,s:o}", "name", "t", "inputSchema", inputs[n]);
                json_t *out = generate_checked(tool);
                if (out) {
                    tools++;
                    cases += (int)json_object_size(out);
                }
                json_decref(out);
                json_decref(tool);
            }
        }
        json_decref(groups);
    }
    closedir(d);
    quiet = false;
    printf("suite sweep: %d schemas, %d cases\n", tools, cases);
    CHECK(tools > 500);
    CHECK(cases > 1000);
}

static void test_errors(void)
{
    json_t *cases = (json_t *)1;
    tg_error err = {0};
    json_t *tool = parse("{\"name\": \"t\"}");
    CHECK_INT_EQ(tg_contract_generate(tool, &cases, &err), -1);
    CHECK(cases == NULL);
    CHECK_INT_EQ(err.code, TG_EINVALID_PARAMS);
    json_decref(tool);

    tool = tool_with("{\"type\": 12}");
    CHECK_INT_EQ(tg_contract_generate(tool, &cases, &err), -1);
    CHECK(strstr(err.message, "inputSchema") != NULL);
    json_decref(tool);

    tool = tool_with("{\"properties\": {\"a\": {\"$ref\": \"#/$defs/missing\"}}}");
    CHECK_INT_EQ(tg_contract_generate(tool, &cases, NULL), -1);
    json_decref(tool);

    tool = tool_with("{\"type\": \"object\"}");
    json_object_set_new(tool, "outputSchema", parse("{\"minimum\": \"x\"}"));
    CHECK_INT_EQ(tg_contract_generate(tool, &cases, &err), -1);
    CHECK(strstr(err.message, "outputSchema") != NULL);
    json_decref(tool);
}

int main(void)
{
    test_since();
    test_strings();
    test_numbers();
    test_arrays();
    test_refs();
    test_combinators();
    test_nullable_and_formats();
    test_object_counts();
    test_pattern_without_example();
    test_examples_and_unevaluated();
    test_non_object_root();
    test_limits();
    test_workers();
    test_suite_sweep();
    test_errors();
    return check_report();
}
