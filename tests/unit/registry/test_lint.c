/* The tool definition linter: each rule fires at the exact path where it
 * should and nowhere else, warnings come in document order, options replace
 * the defaults, the example workers lint cleanly enough to print, and hostile
 * values (very deep nesting, shared subtrees, wrong types everywhere) return
 * without crashing and without touching the input. */
#include "check.h"
#include "gateway/registry/lint.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A described manifest around the inputSchema text given. */
static json_t *manifest_with(const char *input_schema)
{
    char text[8192];
    snprintf(text, sizeof text,
             "{\"name\": \"t\", \"version\": \"1.0.0\", \"description\": \"Does a thing.\","
             " \"runtime\": \"sh\", \"entry\": \"main.sh\", \"inputSchema\": %s}",
             input_schema);
    json_error_t err;
    json_t *m = json_loads(text, 0, &err);
    if (!m) {
        fprintf(stderr, "bad test JSON: %s: %s\n", err.text, text);
        exit(2);
    }
    return m;
}

static json_t *parse(const char *text)
{
    json_error_t err;
    json_t *v = json_loads(text, 0, &err);
    if (!v) {
        fprintf(stderr, "bad test JSON: %s: %s\n", err.text, text);
        exit(2);
    }
    return v;
}

/* Lints m and checks the input came back unchanged. Returns: new reference. */
static json_t *lint(json_t *m, const tg_lint_options *opts)
{
    json_t *before = json_deep_copy(m);
    json_t *w = tg_lint_tool(m, opts);
    CHECK(json_equal(before, m));
    json_decref(before);
    CHECK(json_is_array(w));
    return w;
}

static const char *field(const json_t *warnings, size_t i, const char *name)
{
    return json_string_value(json_object_get(json_array_get(warnings, i), name));
}

/* Checks that warnings are exactly the (path, rule) pairs in want, in order,
 * and that each has a message. */
static void check_warnings(const json_t *warnings, const char *const want[][2], size_t n)
{
    CHECK_INT_EQ(json_array_size(warnings), n);
    for (size_t i = 0; i < n && i < json_array_size(warnings); i++) {
        CHECK_STR_EQ(field(warnings, i, "path"), want[i][0]);
        CHECK_STR_EQ(field(warnings, i, "rule"), want[i][1]);
        CHECK(field(warnings, i, "message") && strlen(field(warnings, i, "message")) > 10);
    }
    if (json_array_size(warnings) != n) {
        char *s = json_dumps(warnings, JSON_INDENT(1));
        fprintf(stderr, "got: %s\n", s);
        free(s);
    }
}

#define EXPECT(m, opts, ...)                                                                       \
    do {                                                                                           \
        static const char *const want_[][2] = {__VA_ARGS__};                                       \
        json_t *m_ = (m);                                                                          \
        json_t *w_ = lint(m_, opts);                                                               \
        check_warnings(w_, want_, sizeof want_ / sizeof *want_);                                   \
        json_decref(w_);                                                                           \
        json_decref(m_);                                                                           \
    } while (0)

#define EXPECT_NONE(m, opts)                                                                       \
    do {                                                                                           \
        json_t *m_ = (m);                                                                          \
        json_t *w_ = lint(m_, opts);                                                               \
        check_warnings(w_, NULL, 0);                                                               \
        json_decref(w_);                                                                           \
        json_decref(m_);                                                                           \
    } while (0)

static void test_clean(void)
{
    EXPECT_NONE(manifest_with("{\"type\": \"object\", \"properties\": {}, "
                              "\"additionalProperties\": false}"),
                NULL);
    EXPECT_NONE(
        parse("{\"name\": \"t\", \"title\": \"T\", \"description\": \"Finds contacts.\","
              " \"inputSchema\": {\"type\": \"object\", \"$defs\": {\"when\": "
              "{\"type\": \"string\", \"description\": \"A date.\"}},"
              " \"properties\": {\"since\": {\"$ref\": \"#/$defs/when\"},"
              " \"tags\": {\"type\": \"array\", \"description\": \"Tags.\","
              " \"items\": {\"type\": \"object\", \"additionalProperties\": false,"
              " \"properties\": {\"k\": {\"type\": \"string\", \"description\": \"Key.\"}}}},"
              " \"mode\": {\"enum\": [\"a\", \"b\"], \"description\": \"Mode.\"},"
              " \"labels\": {\"type\": \"object\", \"description\": \"Labels.\","
              " \"additionalProperties\": {\"type\": \"string\"}}},"
              " \"required\": [\"since\"], \"additionalProperties\": false},"
              " \"outputSchema\": {\"type\": \"object\", \"properties\": {\"n\": {}}},"
              " \"annotations\": {\"readOnlyHint\": true}}"),
        NULL);
}

static void test_tool_description(void)
{
    EXPECT(parse("{\"name\": \"t\", \"inputSchema\": {\"type\": \"object\","
                 " \"additionalProperties\": false}}"),
           NULL, {"", "description-missing"});
    EXPECT(parse("{\"name\": \"t\", \"description\": \"\", \"inputSchema\": "
                 "{\"type\": \"object\", \"additionalProperties\": false}}"),
           NULL, {"", "description-missing"});
    EXPECT(parse("{\"name\": \"t\", \"description\": \" \\t\\n \", \"inputSchema\": "
                 "{\"type\": \"object\", \"additionalProperties\": false}}"),
           NULL, {"", "description-missing"});
    EXPECT(parse("{\"name\": \"t\", \"description\": 7, \"inputSchema\": "
                 "{\"type\": \"object\", \"additionalProperties\": false}}"),
           NULL, {"", "description-missing"});
}

static void test_property_description(void)
{
    EXPECT(
        manifest_with(
            "{\"type\": \"object\", \"additionalProperties\": false, \"properties\": {"
            " \"since\": {\"type\": \"string\"},"
            " \"ok\": {\"type\": \"string\", \"description\": \"Fine.\"},"
            " \"blank\": {\"type\": \"string\", \"description\": \"  \"},"
            " \"a/b~c\": true,"
            " \"never\": false,"
            " \"list\": {\"type\": \"array\", \"description\": \"L.\", \"items\": {"
            "   \"type\": \"object\", \"additionalProperties\": false,"
            "   \"properties\": {\"x\": {}}}},"
            " \"pair\": {\"description\": \"P.\", \"prefixItems\": [{}, {"
            "   \"type\": \"object\", \"unevaluatedProperties\": false,"
            "   \"properties\": {\"y\": {}}}]},"
            " \"tuple\": {\"description\": \"T.\", \"items\": [{\"properties\": {\"z\": {}},"
            "   \"additionalProperties\": false}]},"
            " \"map\": {\"description\": \"M.\", \"type\": \"object\","
            "   \"additionalProperties\": {\"type\": \"object\", \"additionalProperties\": false,"
            "   \"properties\": {\"v\": {}}}},"
            " \"choice\": {\"description\": \"C.\", \"anyOf\": [{\"type\": \"object\","
            "   \"additionalProperties\": false, \"properties\": {\"w\": {}}}]}"
            "}, \"$defs\": {\"d\": {\"type\": \"object\", \"additionalProperties\": false,"
            " \"properties\": {\"u\": {\"type\": \"integer\"}}}},"
            " \"allOf\": [{\"properties\": {\"q\": {}}}], \"oneOf\": [{\"required\": "
            "[\"since\"]}]}"),
        NULL, {"/inputSchema/properties/since", "description-missing"},
        {"/inputSchema/properties/blank", "description-missing"},
        {"/inputSchema/properties/a~1b~0c", "description-missing"},
        {"/inputSchema/properties/list/items/properties/x", "description-missing"},
        {"/inputSchema/properties/pair/prefixItems/1/properties/y", "description-missing"},
        {"/inputSchema/properties/tuple/items/0/properties/z", "description-missing"},
        {"/inputSchema/properties/map/additionalProperties/properties/v", "description-missing"},
        {"/inputSchema/properties/choice/anyOf/0/properties/w", "description-missing"},
        {"/inputSchema/$defs/d/properties/u", "description-missing"},
        {"/inputSchema/allOf/0/properties/q", "description-missing"});

    /* Output properties are the tool's business, not the caller's. */
    json_t *m = manifest_with("{\"type\": \"object\", \"additionalProperties\": false}");
    json_object_set_new(m, "outputSchema",
                        parse("{\"type\": \"object\", \"properties\": {\"n\": {}}}"));
    EXPECT_NONE(m, NULL);

    /* Conditions constrain arguments; they do not declare them. */
    EXPECT_NONE(manifest_with("{\"type\": \"object\", \"additionalProperties\": false,"
                              " \"if\": {\"properties\": {\"a\": {\"const\": 1}}},"
                              " \"then\": {\"properties\": {\"b\": {}}}, \"not\": {\"properties\":"
                              " {\"c\": {}}}}"),
                NULL);
}

static void test_ref(void)
{
    /* Described where it points: fine. Undescribed target, anchors, remote
     * and broken pointers: the property itself needs a description. A
     * description next to the $ref is enough whatever it points to. */
    EXPECT(
        manifest_with("{\"type\": \"object\", \"additionalProperties\": false,"
                      " \"$defs\": {\"good\": {\"description\": \"Good.\", \"$anchor\": \"g\"},"
                      " \"bare\": {\"type\": \"string\"}, \"hop\": {\"$ref\": \"#/$defs/good\"},"
                      " \"loop\": {\"$ref\": \"#/$defs/loop\"}, \"a/b\": {\"description\": \"S.\"},"
                      " \"arr\": [{\"description\": \"In an array.\"}]},"
                      " \"properties\": {"
                      " \"p1\": {\"$ref\": \"#/$defs/good\"},"
                      " \"p2\": {\"$ref\": \"#/$defs/bare\"},"
                      " \"p3\": {\"$ref\": \"#g\"},"
                      " \"p4\": {\"$ref\": \"other.json#/x\"},"
                      " \"p5\": {\"$ref\": \"#/$defs/missing\"},"
                      " \"p6\": {\"$ref\": \"#/$defs/bare\", \"description\": \"Own.\"},"
                      " \"p7\": {\"$ref\": \"#/$defs/hop\"},"
                      " \"p8\": {\"$ref\": \"#/$defs/loop\"},"
                      " \"p9\": {\"$ref\": \"#/$defs/a~1b\"},"
                      " \"p10\": {\"$ref\": \"#/$defs/arr/0\"},"
                      " \"p11\": {\"$ref\": \"#/$defs/arr/01x\"},"
                      " \"p12\": {\"$ref\": \"#/$defs/a~2b\"},"
                      " \"p13\": {\"$ref\": \"#\"},"
                      " \"p14\": {\"$ref\": 5}"
                      "}}"),
        NULL, {"/inputSchema/properties/p2", "description-missing"},
        {"/inputSchema/properties/p3", "description-missing"},
        {"/inputSchema/properties/p4", "description-missing"},
        {"/inputSchema/properties/p5", "description-missing"},
        {"/inputSchema/properties/p8", "description-missing"},
        {"/inputSchema/properties/p11", "description-missing"},
        {"/inputSchema/properties/p12", "description-missing"},
        {"/inputSchema/properties/p13", "description-missing"},
        {"/inputSchema/properties/p14", "description-missing"});

    /* A token longer than any key the resolver reads is simply unresolved. */
    char long_ref[1024] = "#/$defs/";
    memset(long_ref + 8, 'k', 600);
    json_t *m = manifest_with("{\"type\": \"object\", \"additionalProperties\": false}");
    json_t *props = json_object();
    json_object_set_new(props, "p", json_pack("{ss}", "$ref", long_ref));
    json_object_set_new(json_object_get(m, "inputSchema"), "properties", props);
    EXPECT(m, NULL, {"/inputSchema/properties/p", "description-missing"});
}

static void test_additional_properties(void)
{
    EXPECT(manifest_with("{\"type\": \"object\"}"), NULL,
           {"/inputSchema", "additional-properties-open"});
    EXPECT(manifest_with("{\"type\": \"object\", \"additionalProperties\": true}"), NULL,
           {"/inputSchema", "additional-properties-open"});
    EXPECT(manifest_with("{\"type\": \"object\", \"additionalProperties\": false,"
                         " \"properties\": {\"o\": {\"type\": [\"object\", \"null\"],"
                         " \"description\": \"O.\"}, \"p\": {\"description\": \"P.\","
                         " \"properties\": {}}, \"s\": {\"type\": \"string\","
                         " \"description\": \"S.\"}}}"),
           NULL, {"/inputSchema/properties/o", "additional-properties-open"},
           {"/inputSchema/properties/p", "additional-properties-open"});
    /* Closed in each of the ways the rule accepts: no warning. */
    EXPECT_NONE(manifest_with("{\"type\": \"object\", \"unevaluatedProperties\": false,"
                              " \"allOf\": [{\"type\": \"object\", \"properties\": {\"a\":"
                              " {\"description\": \"A.\"}}}]}"),
                NULL);
    EXPECT_NONE(manifest_with("{\"type\": \"object\", \"allOf\": [{\"additionalProperties\": false,"
                              " \"properties\": {\"a\": {\"description\": \"A.\"}}}]}"),
                NULL);
    EXPECT_NONE(
        manifest_with("{\"type\": \"object\", \"oneOf\": [{\"additionalProperties\": false},"
                      " {\"unevaluatedProperties\": false}]}"),
        NULL);
    EXPECT_NONE(manifest_with("{\"type\": \"object\", \"additionalProperties\": false,"
                              " \"properties\": {\"m\": {\"description\": \"M.\", \"type\": "
                              "\"object\", \"unevaluatedProperties\": {\"type\": \"integer\"}}}}"),
                NULL);
    /* One open anyOf branch leaves the whole open, and is open itself. */
    EXPECT(manifest_with("{\"type\": \"object\", \"anyOf\": [{\"additionalProperties\": false},"
                         " {\"type\": \"object\"}]}"),
           NULL, {"/inputSchema", "additional-properties-open"},
           {"/inputSchema/anyOf/1", "additional-properties-open"});
    /* Closing an object does not close the objects in its properties. */
    EXPECT(manifest_with("{\"type\": \"object\", \"additionalProperties\": false, \"properties\":"
                         " {\"f\": {\"description\": \"F.\", \"type\": \"object\"}},"
                         " \"$defs\": {\"d\": {\"properties\": {}}}}"),
           NULL, {"/inputSchema/properties/f", "additional-properties-open"},
           {"/inputSchema/$defs/d", "additional-properties-open"});
    /* Results are not arguments: an open outputSchema is fine. */
    json_t *m = manifest_with("{\"type\": \"object\", \"additionalProperties\": false}");
    json_object_set_new(m, "outputSchema", parse("{\"type\": \"object\"}"));
    EXPECT_NONE(m, NULL);
}

static json_t *enum_of(size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_integer((json_int_t)i));
    return a;
}

static void test_enum(void)
{
    json_t *m = manifest_with("{\"type\": \"object\", \"additionalProperties\": false,"
                              " \"properties\": {\"big\": {\"description\": \"B.\"},"
                              " \"ok\": {\"description\": \"O.\"}}}");
    json_t *props = json_object_get(json_object_get(m, "inputSchema"), "properties");
    json_object_set_new(json_object_get(props, "big"), "enum", enum_of(51));
    json_object_set_new(json_object_get(props, "ok"), "enum", enum_of(50));
    json_t *out = parse("{\"type\": \"object\", \"properties\": {\"r\": {\"items\": {}}}}");
    json_object_set_new(
        json_object_get(json_object_get(json_object_get(out, "properties"), "r"), "items"), "enum",
        enum_of(60));
    json_object_set_new(out, "enum", json_string("not an array"));
    json_object_set_new(m, "outputSchema", out);

    json_t *w = lint(m, NULL);
    static const char *const want[][2] = {
        {"/inputSchema/properties/big/enum", "enum-too-large"},
        {"/outputSchema/properties/r/items/enum", "enum-too-large"},
    };
    check_warnings(w, want, 2);
    CHECK(strstr(field(w, 0, "message"), "51 values, more than 50") != NULL);
    CHECK(strstr(field(w, 1, "message"), "60 values") != NULL);
    json_decref(w);
    json_decref(m);
}

/* The estimate the rule should give: the definition's members, as compact
 * JSON by jansson itself, a token per started four bytes. */
static size_t expected_tokens(const json_t *m)
{
    static const char *const keys[] = {"name",        "title",        "description",
                                       "inputSchema", "outputSchema", "annotations"};
    json_t *def = json_object();
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        if (json_object_get(m, keys[i])) json_object_set(def, keys[i], json_object_get(m, keys[i]));
    char *s = json_dumps(def, JSON_COMPACT | JSON_PRESERVE_ORDER);
    size_t tokens = (strlen(s) + 3) / 4;
    free(s);
    json_decref(def);
    return tokens;
}

static void test_token_budget(void)
{
    json_t *m = manifest_with("{\"type\": \"object\", \"additionalProperties\": false}");
    char *text = malloc(9001);
    for (size_t i = 0; i < 9000; i++)
        text[i] = "ab \"\\\n\x01\xc3\xa9"[i % 9];
    text[9000] = '\0';
    json_object_set_new(m, "title", json_string("Title"));
    json_object_set_new(m, "description", json_string(text));
    json_object_set_new(m, "annotations",
                        parse("{\"readOnlyHint\": true, \"w\": [1.5, 2.0, 1e300,"
                              " -7, null, false, {}, []]}"));
    json_object_set_new(m, "limits", json_string(text)); /* not part of the definition */
    free(text);
    size_t want = expected_tokens(m);
    CHECK(want > 2000);

    json_t *w = lint(m, NULL);
    static const char *const want_w[][2] = {{"", "token-budget"}};
    check_warnings(w, want_w, 1);
    char msg[200];
    snprintf(msg, sizeof msg,
             "The definition is about %zu tokens, over the budget of 2000: shorten its "
             "descriptions or split the tool.",
             want);
    CHECK_STR_EQ(field(w, 0, "message"), msg);
    json_decref(w);

    /* Exactly at the budget is within it. */
    tg_lint_options at = {.token_budget = want};
    w = lint(m, &at);
    CHECK_INT_EQ(json_array_size(w), 0);
    json_decref(w);
    at.token_budget = want - 1;
    w = lint(m, &at);
    CHECK_INT_EQ(json_array_size(w), 1);
    json_decref(w);
    at.token_budget = (size_t)-1;
    w = lint(m, &at);
    CHECK_INT_EQ(json_array_size(w), 0);
    json_decref(w);
    json_decref(m);
}

static void test_input_not_object(void)
{
    EXPECT(manifest_with("{\"type\": \"string\"}"), NULL, {"/inputSchema", "input-not-object"});
    EXPECT(manifest_with("{\"properties\": {}, \"additionalProperties\": false}"), NULL,
           {"/inputSchema", "input-not-object"});
    EXPECT(manifest_with("{\"type\": [\"object\"], \"additionalProperties\": false}"), NULL,
           {"/inputSchema", "input-not-object"});
    EXPECT(manifest_with("[{\"type\": \"object\"}]"), NULL, {"/inputSchema", "input-not-object"});
    EXPECT(manifest_with("true"), NULL, {"/inputSchema", "input-not-object"});
    EXPECT(parse("{\"description\": \"D.\"}"), NULL, {"/inputSchema", "input-not-object"});
}

static void test_document_order(void)
{
    /* outputSchema first in the file, so its warnings come first; tool-wide
     * warnings lead. */
    json_t *m = parse("{\"name\": \"t\", \"outputSchema\": {\"type\": \"object\", \"properties\":"
                      " {\"e\": {\"enum\": [1, 2, 3]}}}, \"inputSchema\": {\"type\": \"string\","
                      " \"properties\": {\"b\": {\"enum\": [1, 2, 3, 4]}, \"a\": {\"description\":"
                      " \"A.\", \"type\": \"object\"}}, \"enum\": [1, 2, 3]}}");
    tg_lint_options small = {.max_enum = 2, .token_budget = 10};
    EXPECT(m, &small, {"", "description-missing"}, {"", "token-budget"},
           {"/outputSchema/properties/e/enum", "enum-too-large"},
           {"/inputSchema", "input-not-object"}, {"/inputSchema", "additional-properties-open"},
           {"/inputSchema/properties/b", "description-missing"},
           {"/inputSchema/properties/b/enum", "enum-too-large"},
           {"/inputSchema/properties/a", "additional-properties-open"},
           {"/inputSchema/enum", "enum-too-large"});
}

static void test_options(void)
{
    const char *schema = "{\"type\": \"object\", \"additionalProperties\": false, \"properties\":"
                         " {\"c\": {\"description\": \"C.\", \"enum\": [1, 2, 3, 4]}}}";
    EXPECT_NONE(manifest_with(schema), NULL);
    tg_lint_options zero = {0};
    EXPECT_NONE(manifest_with(schema), &zero);
    tg_lint_options three = {.max_enum = 3};
    EXPECT(manifest_with(schema), &three, {"/inputSchema/properties/c/enum", "enum-too-large"});
    tg_lint_options four = {.max_enum = 4};
    EXPECT_NONE(manifest_with(schema), &four);
    tg_lint_options tiny = {.token_budget = 5};
    EXPECT(manifest_with(schema), &tiny, {"", "token-budget"});
}

static void test_examples(void)
{
    const char *src = getenv("TOOLGATE_SOURCE_DIR");
    CHECK(src != NULL);
    if (!src) return;
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/examples/workers", src);
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);
    CHECK(n > 0);
    if (n < 0) return;
    int linted = 0;
    for (int k = 0; k < n; k++) {
        char path[2048];
        snprintf(path, sizeof path, "%s/%s/toolgate.json", dir, names[k]->d_name);
        struct stat st;
        if (names[k]->d_name[0] == '.' || stat(path, &st) != 0) {
            free(names[k]);
            continue;
        }
        json_error_t err;
        json_t *m = json_load_file(path, 0, &err);
        CHECK(m != NULL);
        json_t *w = m ? lint(m, NULL) : json_array();
        printf("example %s: %zu warnings\n", names[k]->d_name, json_array_size(w));
        size_t i;
        json_t *one;
        json_array_foreach(w, i, one)
        {
            CHECK(json_is_string(json_object_get(one, "path")));
            CHECK(json_is_string(json_object_get(one, "rule")));
            CHECK(json_is_string(json_object_get(one, "message")));
            printf("  %s: %s\n", field(w, i, "path"), field(w, i, "rule"));
        }
        json_decref(w);
        json_decref(m);
        free(names[k]);
        linted++;
    }
    free(names);
    CHECK(linted >= 2);
}

/* Lints without the unchanged-input check, whose deep copy and compare
 * recurse through jansson once per level. */
static size_t lint_count(json_t *m, const tg_lint_options *opts)
{
    json_t *w = tg_lint_tool(m, opts);
    CHECK(json_is_array(w));
    size_t n = json_array_size(w);
    json_decref(w);
    return n;
}

static void test_hostile(void)
{
    /* 10000 levels of items, and 5000 of properties (two JSON levels each). */
    json_t *deep = json_object();
    for (int i = 0; i < 10000; i++)
        deep = json_pack("{so}", "items", deep);
    json_t *m = manifest_with("{}");
    json_object_set_new(m, "inputSchema", deep);
    /* The root is no object schema, and 10000 levels are over the budget. */
    json_t *w = tg_lint_tool(m, NULL);
    static const char *const want_deep[][2] = {{"", "token-budget"},
                                               {"/inputSchema", "input-not-object"}};
    check_warnings(w, want_deep, 2);
    json_decref(w);
    json_decref(m);

    deep = json_pack("{ss}", "type", "object");
    for (int i = 0; i < 5000; i++)
        deep = json_pack("{s{so}}", "properties", "p", deep);
    m = manifest_with("{}");
    json_object_set_new(m, "inputSchema", deep);
    /* The walk stops at its depth limit, so some, not 5000, warnings. */
    size_t n = lint_count(m, NULL);
    CHECK(n > 10 && n < 200);
    json_decref(m);

    /* A tree 64 levels deep sharing every subtree stands for 2^64 paths. */
    json_t *shared = json_pack("{ss}", "type", "object");
    for (int i = 0; i < 64; i++) {
        json_t *next = json_pack("{s[OO]s{sOsO}}", "anyOf", shared, shared, "properties", "a",
                                 shared, "b", shared);
        json_decref(shared);
        shared = next;
    }
    m = manifest_with("{}");
    json_object_set_new(m, "inputSchema", shared);
    json_object_set_new(m, "outputSchema", json_incref(shared));
    /* Too big to count in full, so the estimate is a lower bound. */
    w = tg_lint_tool(m, NULL);
    CHECK_STR_EQ(field(w, 0, "rule"), "token-budget");
    CHECK(field(w, 0, "message") && strstr(field(w, 0, "message"), "more than"));
    CHECK(json_array_size(w) > 1 && json_array_size(w) <= 20001);
    json_decref(w);
    json_decref(m);

    /* Wrong types wherever a schema or a list of them belongs. */
    static const char *const odd[] = {
        "null",
        "[]",
        "\"object\"",
        "3.5",
        "{\"type\": 7, \"properties\": [1, 2], \"items\": \"x\", \"prefixItems\": {},"
        " \"allOf\": {\"a\": 1}, \"anyOf\": null, \"oneOf\": [null, 1, [], \"s\"], \"$defs\": [],"
        " \"enum\": {\"a\": 1}, \"additionalProperties\": 3, \"patternProperties\": 1}",
        "{\"type\": \"object\", \"properties\": {\"a\": null, \"b\": 1, \"c\": [], \"d\": \"s\","
        " \"e\": {\"description\": [\"x\"]}}, \"items\": [true, false, null]}",
    };
    for (size_t i = 0; i < sizeof odd / sizeof *odd; i++) {
        json_t *v = manifest_with(odd[i]);
        json_decref(lint(v, NULL));
        json_decref(v);
    }

    /* Manifests that are not objects. */
    json_t *not_objects[] = {json_null(), json_array(), json_string("x"), json_integer(1),
                             json_true()};
    for (size_t i = 0; i < sizeof not_objects / sizeof *not_objects; i++) {
        json_t *nw = lint(not_objects[i], NULL);
        static const char *const want[][2] = {{"", "description-missing"},
                                              {"/inputSchema", "input-not-object"}};
        check_warnings(nw, want, 2);
        json_decref(nw);
        json_decref(not_objects[i]);
    }
    w = tg_lint_tool(NULL, NULL);
    CHECK_INT_EQ(json_array_size(w), 2);
    json_decref(w);
}

int main(void)
{
    test_clean();
    test_tool_description();
    test_property_description();
    test_ref();
    test_additional_properties();
    test_enum();
    test_token_budget();
    test_input_not_object();
    test_document_order();
    test_options();
    test_examples();
    test_hostile();
    return check_report();
}
