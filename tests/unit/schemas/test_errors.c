/* The violations a model reads to fix its next call: for each keyword, the
 * instance path, the schema path, the keyword and the exact message. */
#include "check.h"
#include "schemas/schema.h"

#include <stdlib.h>
#include <string.h>

static json_t *parse(const char *text)
{
    json_error_t err;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &err);
    if (!v) fprintf(stderr, "bad test JSON: %s: %s\n", text, err.text);
    return v;
}

static tg_schema *compile(const char *schema_text, bool format_assert)
{
    json_t *doc = parse(schema_text);
    tg_schema_options opts = {.format_assert = format_assert};
    tg_schema *s = NULL;
    tg_schema_error err;
    int rc = tg_schema_compile(doc, &opts, &s, &err);
    if (rc) fprintf(stderr, "compile failed: %s at %s\n", err.message, err.schema_path);
    json_decref(doc);
    return s;
}

/* Validates and checks that violation `index` is exactly (path, schema_path,
 * keyword, message), and that there are `count` violations in all. */
static void expect(const tg_schema *s, const char *instance, size_t count, size_t index,
                   const char *path, const char *schema_path, const char *keyword,
                   const char *message)
{
    json_t *x = parse(instance);
    tg_schema_violations v;
    CHECK_INT_EQ(tg_schema_validate(s, x, &v), 1);
    CHECK_INT_EQ(v.count, count);
    if (index < v.count && v.count == count) {
        CHECK_STR_EQ(v.items[index].path, path);
        CHECK_STR_EQ(v.items[index].schema_path, schema_path);
        CHECK_STR_EQ(v.items[index].keyword, keyword);
        CHECK_STR_EQ(v.items[index].message, message);
    } else {
        fprintf(stderr, "  for instance %s\n", instance);
        for (size_t i = 0; i < v.count; i++)
            fprintf(stderr, "  got %s %s %s: %s\n", v.items[i].path, v.items[i].schema_path,
                    v.items[i].keyword, v.items[i].message);
    }
    tg_schema_violations_free(&v);
    json_decref(x);
}

static void test_tool_arguments(void)
{
    tg_schema *s = compile("{\"type\":\"object\",\"properties\":{"
                           "\"since\":{\"type\":\"string\",\"format\":\"date\"},"
                           "\"limit\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":100},"
                           "\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\","
                           "\"maxLength\":5},\"uniqueItems\":true},"
                           "\"mode\":{\"enum\":[\"full\",\"delta\"]}},"
                           "\"required\":[\"since\"],\"additionalProperties\":false}",
                           true);
    CHECK(s != NULL);
    if (!s) return;

    json_t *ok = parse("{\"since\":\"2026-01-31\",\"limit\":5,\"tags\":[\"a\",\"b\"]}");
    tg_schema_violations v;
    CHECK_INT_EQ(tg_schema_validate(s, ok, &v), 0);
    CHECK_INT_EQ(v.count, 0);
    CHECK(tg_schema_valid(s, ok));
    json_decref(ok);

    expect(s, "{}", 1, 0, "", "/required", "required", "missing required property \"since\"");
    expect(s, "{\"since\":\"2026-01-01\",\"limit\":500}", 1, 0, "/limit",
           "/properties/limit/maximum", "maximum", "must be <= 100 (got 500)");
    expect(s, "{\"since\":\"2026-01-01\",\"limit\":0}", 1, 0, "/limit", "/properties/limit/minimum",
           "minimum", "must be >= 1 (got 0)");
    expect(s, "{\"since\":\"yesterday\"}", 1, 0, "/since", "/properties/since/format", "format",
           "must be a date (got \"yesterday\")");
    expect(s, "{\"since\":\"2026-01-01\",\"sinc\":1}", 1, 0, "/sinc", "/additionalProperties",
           "additionalProperties", "unexpected property \"sinc\"");
    /* A near miss of a property the call left out is named. */
    expect(s, "{\"sinc\":\"2026-01-01\"}", 2, 1, "/sinc", "/additionalProperties",
           "additionalProperties", "unexpected property \"sinc\" (did you mean \"since\"?)");
    expect(s, "{\"since\":\"2026-01-01\",\"limit\":\"5\"}", 1, 0, "/limit",
           "/properties/limit/type", "type", "must be integer (got string)");
    expect(s, "{\"since\":\"2026-01-01\",\"limit\":2.5}", 1, 0, "/limit", "/properties/limit/type",
           "type", "must be integer (got number)");
    expect(s, "{\"since\":\"2026-01-01\",\"tags\":[\"ok\",\"toolong\"]}", 1, 0, "/tags/1",
           "/properties/tags/items/maxLength", "maxLength",
           "must be at most 5 characters long (got 7)");
    expect(s, "{\"since\":\"2026-01-01\",\"tags\":[\"a\",\"b\",\"a\"]}", 1, 0, "/tags",
           "/properties/tags/uniqueItems", "uniqueItems",
           "must not contain duplicates (items 0 and 2 are equal)");
    expect(s, "{\"since\":\"2026-01-01\",\"mode\":\"half\"}", 1, 0, "/mode",
           "/properties/mode/enum", "enum", "must be one of \"full\", \"delta\" (got \"half\")");
    /* Every violation is reported, not only the first. */
    expect(s, "{\"limit\":1000,\"extra\":true}", 3, 2, "/extra", "/additionalProperties",
           "additionalProperties", "unexpected property \"extra\"");
    expect(s, "[]", 1, 0, "", "/type", "type", "must be object (got array)");
    tg_schema_free(s);
}

static void test_keywords(void)
{
    tg_schema *s = compile(
        "{\"$defs\":{\"pos\":{\"type\":\"number\",\"exclusiveMinimum\":0,"
        "\"multipleOf\":0.5}},"
        "\"type\":\"object\",\"properties\":{"
        "\"n\":{\"$ref\":\"#/$defs/pos\"},"
        "\"s\":{\"type\":\"string\",\"minLength\":2,\"pattern\":\"^[a-z]+$\"},"
        "\"c\":{\"const\":\"x\"},"
        "\"a\":{\"type\":\"array\",\"minItems\":1,\"maxItems\":2,"
        "\"contains\":{\"type\":\"integer\"}},"
        "\"o\":{\"type\":\"object\",\"minProperties\":1,\"propertyNames\":{\"maxLength\":4},"
        "\"dependentRequired\":{\"card\":[\"cvv\"]}},"
        "\"u\":{\"oneOf\":[{\"type\":\"string\"},{\"type\":\"integer\"}]},"
        "\"v\":{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"null\"}]},"
        "\"w\":{\"not\":{\"type\":\"null\"}},"
        "\"f\":false}}",
        false);
    CHECK(s != NULL);
    if (!s) return;
    expect(s, "{\"n\":0}", 1, 0, "/n", "/$defs/pos/exclusiveMinimum", "exclusiveMinimum",
           "must be > 0 (got 0)");
    expect(s, "{\"n\":0.7}", 1, 0, "/n", "/$defs/pos/multipleOf", "multipleOf",
           "must be a multiple of 0.5 (got 0.7)");
    expect(s, "{\"s\":\"A\"}", 2, 0, "/s", "/properties/s/minLength", "minLength",
           "must be at least 2 characters long (got 1)");
    expect(s, "{\"s\":\"A\"}", 2, 1, "/s", "/properties/s/pattern", "pattern",
           "must match pattern \"^[a-z]+$\"");
    expect(s, "{\"c\":\"y\"}", 1, 0, "/c", "/properties/c/const", "const",
           "must be \"x\" (got \"y\")");
    expect(s, "{\"a\":[]}", 2, 0, "/a", "/properties/a/minItems", "minItems",
           "must have at least 1 item (got 0)");
    expect(s, "{\"a\":[\"x\",\"y\",\"z\"]}", 2, 1, "/a", "/properties/a/contains", "contains",
           "must contain at least 1 item matching contains (got 0)");
    expect(s, "{\"o\":{}}", 1, 0, "/o", "/properties/o/minProperties", "minProperties",
           "must have at least 1 property (got 0)");
    expect(s, "{\"o\":{\"longer\":1}}", 1, 0, "/o/longer", "/properties/o/propertyNames",
           "propertyNames",
           "invalid property name \"longer\": must be at most 4 characters long (got 6)");
    expect(s, "{\"o\":{\"card\":1}}", 1, 0, "/o", "/properties/o/dependentRequired",
           "dependentRequired", "missing property \"cvv\" (required when \"card\" is present)");
    expect(s, "{\"u\":true}", 3, 0, "/u", "/properties/u/oneOf", "oneOf",
           "must match exactly one of the 2 schemas in oneOf (matched none)");
    expect(s, "{\"u\":true}", 3, 1, "/u", "/properties/u/oneOf/0/type", "type",
           "must be string (got boolean)");
    expect(s, "{\"v\":1}", 3, 0, "/v", "/properties/v/anyOf", "anyOf",
           "must match at least one of the 2 schemas in anyOf");
    expect(s, "{\"w\":null}", 1, 0, "/w", "/properties/w/not", "not",
           "must not match the schema in not");
    expect(s, "{\"f\":1}", 1, 0, "/f", "/properties/f", "", "no value is allowed here");
    tg_schema_free(s);

    s = compile("{\"type\":\"array\",\"prefixItems\":[{\"type\":\"integer\"}],\"items\":false}",
                false);
    expect(s, "[1,2,3]", 1, 0, "", "/items", "items", "must have at most 1 item (got 3)");
    tg_schema_free(s);

    s = compile("{\"properties\":{\"a~b/c\":{\"type\":\"string\"}},"
                "\"unevaluatedProperties\":false}",
                false);
    expect(s, "{\"a~b/c\":1}", 1, 0, "/a~0b~1c", "/properties/a~0b~1c/type", "type",
           "must be string (got integer)");
    expect(s, "{\"zz\":1}", 1, 0, "/zz", "/unevaluatedProperties", "unevaluatedProperties",
           "unexpected property \"zz\"");
    tg_schema_free(s);
}

static void test_tagged_union(void)
{
    tg_schema *s = compile("{\"oneOf\":["
                           "{\"type\":\"object\",\"properties\":{\"kind\":{\"const\":\"email\"},"
                           "\"to\":{\"type\":\"string\"}},\"required\":[\"kind\",\"to\"]},"
                           "{\"type\":\"object\",\"properties\":{\"kind\":{\"const\":\"sms\"},"
                           "\"phone\":{\"type\":\"string\"}},\"required\":[\"kind\",\"phone\"]}]}",
                           false);
    /* Only the variant the tag names is reported, not the other variant's tag. */
    expect(s, "{\"kind\":\"sms\"}", 2, 1, "", "/oneOf/1/required", "required",
           "missing required property \"phone\"");
    expect(s, "{\"kind\":\"sms\",\"phone\":7}", 2, 1, "/phone", "/oneOf/1/properties/phone/type",
           "type", "must be string (got integer)");
    /* No variant is meant: all of them say why. */
    expect(s, "{\"kind\":\"fax\"}", 5, 0, "", "/oneOf", "oneOf",
           "must match exactly one of the 2 schemas in oneOf (matched none)");
    tg_schema_free(s);
}

/* Regressions found by fuzz_schema. */
static void test_fuzz_findings(void)
{
    tg_schema *s = compile("{\"dependencies\":{\"a\":[\"b\"]}}", false);
    expect(s, "{\"a\":1}", 1, 0, "", "/dependencies", "dependencies",
           "missing property \"b\" (required when \"a\" is present)");
    tg_schema_free(s);

    /* false is one shared jansson value; each place it stands is reported. */
    s = compile("{\"properties\":{\"no\":false},\"items\":false}", false);
    expect(s, "{\"no\":1}", 1, 0, "/no", "/properties/no", "", "no value is allowed here");
    tg_schema_free(s);

    /* A message cut at its size limit stays valid UTF-8, so it can be sent. */
    s = compile("{\"propertyNames\":{\"maxLength\":2}}", false);
    json_t *x = json_object();
    char key[2000] = "a";
    for (size_t i = 1; i + 2 < sizeof key; i += 2)
        memcpy(key + i, "\xc3\xa9", 2);
    key[sizeof key - 1] = '\0';
    json_object_set_new(x, key, json_true());
    tg_schema_violations v;
    CHECK_INT_EQ(tg_schema_validate(s, x, &v), 1);
    json_t *out = tg_schema_violations_json(&v);
    CHECK_INT_EQ(json_array_size(out), 1);
    json_decref(out);
    tg_schema_violations_free(&v);
    json_decref(x);
    tg_schema_free(s);
}

static void valid_against(const char *schema_text, const char *instance, bool want)
{
    tg_schema *s = compile(schema_text, false);
    json_t *x = parse(instance);
    bool got = s && tg_schema_valid(s, x);
    if (got != want) fprintf(stderr, "  %s against %s\n", instance, schema_text);
    CHECK(got == want);
    json_decref(x);
    tg_schema_free(s);
}

/* multipleOf follows the decimals people write, not binary rounding. */
static void test_multiple_of(void)
{
    valid_against("{\"multipleOf\":0.01}", "19.99", true);
    valid_against("{\"multipleOf\":0.01}", "19.999", false);
    valid_against("{\"multipleOf\":0.1}", "0.7", true);
    valid_against("{\"multipleOf\":0.1}", "0.75", false);
    valid_against("{\"multipleOf\":2.5}", "10", true);
    valid_against("{\"multipleOf\":2.5}", "-12.5", true);
    valid_against("{\"multipleOf\":0.5}", "1e308", true);
    valid_against("{\"multipleOf\":0.123456789}", "1e308", false);
    valid_against("{\"multipleOf\":3}", "9007199254740993", true);
    valid_against("{\"multipleOf\":1e-8}", "12391239123", true);
    valid_against("{\"multipleOf\":1e-8}", "1e-9", false);
}

static void test_json_output(void)
{
    tg_schema *s = compile("{\"properties\":{\"x\":{\"maximum\":3}}}", false);
    json_t *x = parse("{\"x\":4}");
    tg_schema_violations v;
    tg_schema_validate(s, x, &v);
    json_t *out = tg_schema_violations_json(&v);
    char *text = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS);
    CHECK_STR_EQ(text, "[{\"keyword\":\"maximum\",\"message\":\"must be <= 3 (got 4)\","
                       "\"path\":\"/x\",\"schemaPath\":\"/properties/x/maximum\"}]");
    free(text);
    json_decref(out);
    tg_schema_violations_free(&v);
    json_decref(x);
    tg_schema_free(s);
}

static void compile_fails(const char *schema_text, int code, const char *schema_path,
                          const char *message)
{
    json_t *doc = parse(schema_text);
    tg_schema *s = NULL;
    tg_schema_error err;
    CHECK_INT_EQ(tg_schema_compile(doc, NULL, &s, &err), code);
    CHECK(s == NULL);
    CHECK_STR_EQ(err.schema_path, schema_path);
    if (message) CHECK_STR_EQ(err.message, message);
    json_decref(doc);
}

static void test_bad_schemas(void)
{
    compile_fails("{\"type\":\"strng\"}", TG_SCHEMA_EINVALID, "/type",
                  "type must be one of null, boolean, object, array, number, integer, string");
    compile_fails("{\"properties\":{\"a\":{\"minLength\":-1}}}", TG_SCHEMA_EINVALID,
                  "/properties/a/minLength", "minLength must be a non-negative integer");
    compile_fails("{\"properties\":{\"a\":3}}", TG_SCHEMA_EINVALID, "/properties/a",
                  "a schema must be an object or a boolean");
    compile_fails("{\"required\":[\"a\",\"a\"]}", TG_SCHEMA_EINVALID, "/required/1",
                  "required lists \"a\" twice");
    compile_fails("{\"multipleOf\":0}", TG_SCHEMA_EINVALID, "/multipleOf",
                  "multipleOf must be greater than 0");
    compile_fails("{\"$ref\":\"#/$defs/missing\"}", TG_SCHEMA_EREF, "/$ref",
                  "reference \"#/$defs/missing\" points to nothing");
    compile_fails("{\"$ref\":\"other.json\"}", TG_SCHEMA_EREF, "/$ref",
                  "cannot resolve reference \"other.json\" (no document \"other.json\")");
    compile_fails(
        "{\"$defs\":{\"a\":{\"$ref\":\"#/$defs/b\"},\"b\":{\"allOf\":[{\"$ref\":\"#/$defs/a\"}]}},"
        "\"$ref\":\"#/$defs/a\"}",
        TG_SCHEMA_EREF, "/$defs/a",
        "references loop back to this schema without consuming any of the instance");
    compile_fails("{\"allOf\":[]}", TG_SCHEMA_EINVALID, "/allOf",
                  "allOf must be a non-empty array of schemas");
    compile_fails("[]", TG_SCHEMA_EINVALID, "", "a schema must be an object or a boolean");
    compile_fails("{\"$defs\":{\"unused\":{\"pattern\":\"(\"}}}", TG_SCHEMA_EINVALID,
                  "/$defs/unused/pattern", NULL);
    compile_fails("{\"$id\":\"/a#b\",\"properties\":{\"x\":{\"$ref\":\"#\"}}}", TG_SCHEMA_EINVALID,
                  "/$id", "$id must not have a fragment (use $anchor)");
    /* What the compiler's own checks let through, the meta-schema catches. */
    compile_fails("{\"properties\":{\"a\":{\"title\":5}}}", TG_SCHEMA_EINVALID,
                  "/properties/a/title", "not a valid JSON Schema: must be string (got integer)");
}

int main(void)
{
    test_tool_arguments();
    test_keywords();
    test_tagged_union();
    test_fuzz_findings();
    test_multiple_of();
    test_json_output();
    test_bad_schemas();
    return check_report();
}
