/* Redaction of arguments for the audit log: every case compares the whole
 * output document with the one expected, and checks that the input was left
 * as it was. JSON is written with single quotes for readability. */
#include "gateway/calls/redact.h"

#include "check.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define R "'[REDACTED]'"

/* Returns: new reference, the document text with ' read as ". */
static json_t *J(const char *text)
{
    char *s = strdup(text);
    for (char *p = s; *p; p++)
        if (*p == '\'') *p = '"';
    json_error_t err;
    json_t *doc = json_loads(s, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    if (!doc) fprintf(stderr, "bad test JSON (%s): %s\n", err.text, s);
    free(s);
    return doc;
}

static void check_doc(int line, json_t *got, const json_t *want)
{
    bool ok = got && want && json_equal(got, want);
    CHECK(ok);
    if (ok) return;
    char *g = got ? json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    char *w = want ? json_dumps(want, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    fprintf(stderr, "  line %d:\n    got  %s\n    want %s\n", line, g ? g : "(null)",
            w ? w : "(null)");
    free(g);
    free(w);
}

static void check_redacts(int line, const char *schema, const char *args,
                          const char *const *secrets, size_t nsecrets, const char *expected)
{
    json_t *s = schema ? J(schema) : NULL, *a = J(args), *want = J(expected);
    json_t *before = json_deep_copy(a);
    json_t *got = tg_redact_arguments(s, a, secrets, nsecrets);
    check_doc(line, got, want);
    /* The input is borrowed: it must come back untouched. */
    check_doc(line, a, before);
    json_decref(got);
    json_decref(before);
    json_decref(want);
    json_decref(a);
    json_decref(s);
}

#define CHECK_REDACTS(schema, args, expected)                                                      \
    check_redacts(__LINE__, schema, args, NULL, 0, expected)
#define CHECK_REDACTS_SECRETS(schema, args, secrets, expected)                                     \
    check_redacts(__LINE__, schema, args, secrets, sizeof secrets / sizeof *secrets, expected)

static void test_nested_objects(void)
{
    const char *schema = "{'type': 'object', 'properties': {"
                         " 'user': {'type': 'object', 'properties': {"
                         "  'name': {'type': 'string'},"
                         "  'password': {'type': 'string', 'x-toolgate-sensitive': true},"
                         "  'profile': {'properties': {'ssn': {'x-toolgate-sensitive': true}}}}},"
                         " 'token': {'x-toolgate-sensitive': true},"
                         " 'note': {'x-toolgate-sensitive': false},"
                         " 'flag': {'x-toolgate-sensitive': 'true'}}}";
    CHECK_REDACTS(schema,
                  "{'user': {'name': 'ann', 'password': 'pw', 'profile': {'ssn': 123, 'age': 4}},"
                  " 'token': {'a': [1, 2]}, 'note': 'n', 'flag': 'f', 'other': null}",
                  "{'user': {'name': 'ann', 'password': " R ", 'profile': {'ssn': " R
                  ", 'age': 4}}, 'token': " R ", 'note': 'n', 'flag': 'f', 'other': null}");
    /* Sensitive locations that are absent change nothing. */
    CHECK_REDACTS(schema, "{'user': {'name': 'ann'}}", "{'user': {'name': 'ann'}}");
    /* A sensitive root hides everything. */
    CHECK_REDACTS("{'x-toolgate-sensitive': true, 'properties': {'a': {}}}", "{'a': 1}", R);
}

static void test_arrays(void)
{
    CHECK_REDACTS("{'items': {'properties': {'k': {'x-toolgate-sensitive': true}}}}",
                  "[{'k': 1, 'j': 2}, {'j': 3}, 4, {'k': [5]}]",
                  "[{'k': " R ", 'j': 2}, {'j': 3}, 4, {'k': " R "}]");
    /* items covers only what prefixItems does not. */
    CHECK_REDACTS("{'prefixItems': [{}, {'x-toolgate-sensitive': true}],"
                  " 'items': {'properties': {'k': {'x-toolgate-sensitive': true}}}}",
                  "['a', 'b', {'k': 1, 'j': 2}, {'k': 'c'}]",
                  "['a', " R ", {'k': " R ", 'j': 2}, {'k': " R "}]");
    CHECK_REDACTS("{'prefixItems': [{'x-toolgate-sensitive': true}], 'items': false}", "['a']",
                  "[" R "]");
    CHECK_REDACTS("{'properties': {'m': {'items': {'items': {'x-toolgate-sensitive': true}}}}}",
                  "{'m': [[1, 2], [], [3]]}", "{'m': [[" R ", " R "], [], [" R "]]}");
    /* The tuple form of the older dialects. */
    CHECK_REDACTS("{'items': [{}, {'x-toolgate-sensitive': true}],"
                  " 'additionalItems': {'x-toolgate-sensitive': true}}",
                  "[1, 2, 3, 4]", "[1, " R ", " R ", " R "]");
    /* Which elements matched contains is not tracked, so it covers all. */
    CHECK_REDACTS("{'contains': {'type': 'string', 'x-toolgate-sensitive': true}}", "[1, 'a']",
                  "[" R ", " R "]");
}

static void test_pattern_and_additional_properties(void)
{
    const char *schema = "{'properties': {'name': {}},"
                         " 'patternProperties': {'^secret_': {'x-toolgate-sensitive': true},"
                         "  '_pin$': {'x-toolgate-sensitive': true}, '^n': {}},"
                         " 'additionalProperties': {"
                         "  'properties': {'pin': {'x-toolgate-sensitive': true}}}}";
    CHECK_REDACTS(schema,
                  "{'name': 'n', 'secret_a': 's', 'secret_b': {'x': 1}, 'card_pin': 1,"
                  " 'extra': {'pin': 1, 'other': 2}, 'nick': {'pin': 3}, 'my_secret_': 4}",
                  "{'name': 'n', 'secret_a': " R ", 'secret_b': " R ", 'card_pin': " R ","
                  " 'extra': {'pin': " R ", 'other': 2}, 'nick': {'pin': 3}, 'my_secret_': 4}");
    /* additionalProperties skips keys that properties or patternProperties
     * name, in the same schema object only. */
    CHECK_REDACTS("{'properties': {'id': {}}, 'patternProperties': {'^x': {}},"
                  " 'additionalProperties': {'x-toolgate-sensitive': true},"
                  " 'allOf': [{'properties': {'pw': {}}}]}",
                  "{'id': 1, 'xy': 2, 'pw': 'p', 'other': 'o'}",
                  "{'id': 1, 'xy': 2, 'pw': " R ", 'other': " R "}");
    /* A pattern that does not compile may match any key: its schema applies
     * everywhere, and additionalProperties still does too. */
    CHECK_REDACTS("{'patternProperties': {'[': {'x-toolgate-sensitive': true}}}",
                  "{'a': 1, 'b': {'c': 2}}", "{'a': " R ", 'b': " R "}");
    CHECK_REDACTS("{'patternProperties': {'(?<=a+)b': {}},"
                  " 'additionalProperties': {'x-toolgate-sensitive': true}}",
                  "{'a': 1}", "{'a': " R "}");
    /* Keys are matched as ECMA-262 does, anywhere in the key. */
    CHECK_REDACTS("{'patternProperties': {'[Tt]oken': {'x-toolgate-sensitive': true}}}",
                  "{'apiToken': 1, 'tok': 2, '\\u00e9token\\u00e9': 3}",
                  "{'apiToken': " R ", 'tok': 2, '\\u00e9token\\u00e9': " R "}");
    /* Over-redaction by design: which keys count as evaluated is not tracked. */
    CHECK_REDACTS(
        "{'properties': {'a': {}}, 'unevaluatedProperties': {'x-toolgate-sensitive': true}}",
        "{'a': 1, 'b': 2}", "{'a': " R ", 'b': " R "}");
}

static void test_refs(void)
{
    const char *schema =
        "{'properties': {"
        "  'creds': {'$ref': '#/$defs/creds'},"
        "  'list': {'items': {'$ref': '#/definitions/key'}},"
        "  'slash': {'$ref': '#/$defs/a~1b'}, 'tilde': {'$ref': '#/$defs/c~0d'},"
        "  'space': {'$ref': '#/$defs/e%20f'}, 'anchored': {'$ref': '#hidden'},"
        "  'indexed': {'$ref': '#/$defs/creds/allOf/1'},"
        "  'missing': {'$ref': '#/$defs/nope'}, 'bad': {'$ref': '#/$defs/creds/allOf/01'},"
        "  'remote': {'$ref': 'other.json#/$defs/a~1b'},"
        "  'bool': {'$ref': '#/$defs/never'}},"
        " '$defs': {"
        "  'creds': {'properties': {'user': {}, 'secret': {'x-toolgate-sensitive': true}},"
        "            'allOf': [{}, {'properties': {'otp': {'x-toolgate-sensitive': true}}}]},"
        "  'a/b': {'x-toolgate-sensitive': true}, 'c~d': {'x-toolgate-sensitive': true},"
        "  'e f': {'x-toolgate-sensitive': true},"
        "  'anchor': {'$anchor': 'hidden', 'x-toolgate-sensitive': true},"
        "  'never': false},"
        " 'definitions': {'key': {'x-toolgate-sensitive': true}}}";
    CHECK_REDACTS(schema,
                  "{'creds': {'user': 'u', 'secret': 's', 'otp': 1}, 'list': [1, 'x'],"
                  " 'slash': 1, 'tilde': 2, 'space': 3, 'anchored': 4, 'indexed': {'otp': 5},"
                  " 'missing': 6, 'bad': {'otp': 7}, 'remote': 8, 'bool': 9}",
                  "{'creds': {'user': 'u', 'secret': " R ", 'otp': " R "}, 'list': [" R ", " R
                  "], 'slash': " R ", 'tilde': " R ", 'space': " R ", 'anchored': " R
                  ", 'indexed': {'otp': " R "}, 'missing': " R ", 'bad': " R ", 'remote': " R
                  ", 'bool': 9}");
    /* With an $id, references may name the document absolutely. */
    CHECK_REDACTS("{'$id': 'https://example.com/tools/t.json',"
                  " 'properties': {'a': {'$ref': 'https://example.com/tools/t.json#/$defs/s'},"
                  "  'b': {'$ref': 't.json#/$defs/s'}, 'c': {'$ref': '#/$defs/s'},"
                  "  'd': {'$ref': 'https://example.com/other.json#/$defs/s'}},"
                  " '$defs': {'s': {'x-toolgate-sensitive': true}}}",
                  "{'a': 1, 'b': 2, 'c': 3, 'd': 4}",
                  "{'a': " R ", 'b': " R ", 'c': " R ", 'd': " R "}");
    /* A reference inside an embedded resource resolves against that
     * resource's $id, as the compiler resolves it: here to inner's $defs,
     * not to a same-named definition of the root. */
    CHECK_REDACTS(
        "{'$id': 'https://tools.example/root.json',"
        " '$defs': {'s': {'type': 'string'},"
        "  'inner': {'$id': 'https://tools.example/inner.json',"
        "   '$defs': {'s': {'x-toolgate-sensitive': true}},"
        "   'properties': {'p': {'$ref': '#/$defs/s'}, 'q': {'$ref': 'root.json#/$defs/s'}}}},"
        " 'properties': {'a': {'$ref': '#/$defs/inner'},"
        "  'b': {'$ref': 'inner.json#/$defs/s'}}}",
        "{'a': {'p': 'secret-value', 'q': 'plain'}, 'b': 'x'}",
        "{'a': {'p': " R ", 'q': 'plain'}, 'b': " R "}");
}

static void test_applicators(void)
{
    /* Every branch applies, whichever the instance satisfied. */
    CHECK_REDACTS("{'anyOf': [{'properties': {'a': {'x-toolgate-sensitive': true}}},"
                  "           {'properties': {'b': {'x-toolgate-sensitive': true}}}],"
                  " 'oneOf': [{'properties': {'c': {'x-toolgate-sensitive': true}}}, true],"
                  " 'allOf': [{'properties': {'d': {'x-toolgate-sensitive': true}}}]}",
                  "{'a': 1, 'b': 2, 'c': 3, 'd': 4, 'e': 5}",
                  "{'a': " R ", 'b': " R ", 'c': " R ", 'd': " R ", 'e': 5}");
    CHECK_REDACTS(
        "{'properties': {'v': {'anyOf': [{'type': 'string', 'x-toolgate-sensitive': true},"
        "                                  {'type': 'integer'}]}}}",
        "{'v': 5}", "{'v': " R "}");
    CHECK_REDACTS("{'if': {'properties': {'a': {'x-toolgate-sensitive': true}}},"
                  " 'then': {'properties': {'b': {'x-toolgate-sensitive': true}}},"
                  " 'else': {'properties': {'c': {'x-toolgate-sensitive': true}}}}",
                  "{'a': 1, 'b': 2, 'c': 3, 'd': 4}",
                  "{'a': " R ", 'b': " R ", 'c': " R ", 'd': 4}");
    /* dependentSchemas applies only when its key is present. */
    const char *deps =
        "{'dependentSchemas': {'card': {'properties': {'cvv': {'x-toolgate-sensitive': "
        "true}}}}, 'dependencies': {'legacy': {'properties': {'pin': "
        "{'x-toolgate-sensitive': true}}}, 'x': ['y']}}";
    CHECK_REDACTS(deps, "{'card': 1, 'cvv': 2, 'pin': 3}", "{'card': 1, 'cvv': " R ", 'pin': 3}");
    CHECK_REDACTS(deps, "{'legacy': 1, 'cvv': 2, 'pin': 3, 'x': 4}",
                  "{'legacy': 1, 'cvv': 2, 'pin': " R ", 'x': 4}");
    /* "not" describes what the value is not: it marks nothing. */
    CHECK_REDACTS("{'properties': {'a': {'not': {'x-toolgate-sensitive': true}}}}", "{'a': 1}",
                  "{'a': 1}");
    /* Boolean schemas apply nothing. */
    CHECK_REDACTS("true", "{'a': 1}", "{'a': 1}");
    CHECK_REDACTS("{'properties': {'a': false, 'b': true}}", "{'a': 1, 'b': 2}",
                  "{'a': 1, 'b': 2}");
}

static void test_cyclic_refs(void)
{
    /* A tree through a cycle of references. */
    CHECK_REDACTS("{'$ref': '#/$defs/node', '$defs': {'node': {"
                  "  'allOf': [{'$ref': '#/$defs/node'}],"
                  "  'properties': {'token': {'x-toolgate-sensitive': true},"
                  "   'kids': {'items': {'$ref': '#/$defs/node'}}}}}}",
                  "{'name': 'r', 'token': 1, 'kids': [{'token': 2, 'kids': [{'token': 3,"
                  " 'kids': [{'name': 'leaf', 'token': 4}]}]}, {'name': 'k'}]}",
                  "{'name': 'r', 'token': " R ", 'kids': [{'token': " R ", 'kids': [{'token': " R
                  ", 'kids': [{'name': 'leaf', 'token': " R "}]}]}, {'name': 'k'}]}");
    /* References that only ever lead to each other end, marking nothing. */
    CHECK_REDACTS("{'$ref': '#/$defs/x', '$defs': {'x': {'$ref': '#/$defs/y'},"
                  " 'y': {'anyOf': [{'$ref': '#/$defs/x'}, {'$ref': '#'}]}},"
                  " 'properties': {'a': {'$ref': '#'}}}",
                  "{'a': {'a': {'a': 1}}, 'b': 2}", "{'a': {'a': {'a': 1}}, 'b': 2}");
    /* 2020-12 recursion through $dynamicRef and a dynamic anchor. */
    CHECK_REDACTS("{'$id': 'https://example.com/tree', '$dynamicAnchor': 'node',"
                  " 'properties': {'secret': {'x-toolgate-sensitive': true},"
                  "  'kids': {'items': {'$dynamicRef': '#node'}}}}",
                  "{'secret': 1, 'name': 'a', 'kids': [{'secret': 2, 'kids': [{'secret': 3}]}]}",
                  "{'secret': " R ", 'name': 'a', 'kids': [{'secret': " R ", 'kids': [{'secret': " R
                  "}]}]}");
}

static void test_secrets(void)
{
    static const char *const secrets[] = {"hunter2", "tok_123"};
    CHECK_REDACTS_SECRETS(
        NULL,
        "{'a': 'xx hunter2 yy', 'b': ['ok', {'c': 'Bearer tok_123'}],"
        " 'hunter2': 'keys are kept', 'd': 5, 'e': 'hunter', 'f': 'a\\u0000hunter2',"
        " 'g': 'tok_12'}",
        secrets,
        "{'a': " R ", 'b': ['ok', {'c': " R "}], 'hunter2': 'keys are kept',"
        " 'd': 5, 'e': 'hunter', 'f': " R ", 'g': 'tok_12'}");
    /* Secrets and the schema both apply. */
    CHECK_REDACTS_SECRETS("{'properties': {'pw': {'x-toolgate-sensitive': true}}}",
                          "{'pw': 'x', 'q': 'my hunter2', 'r': 'fine'}", secrets,
                          "{'pw': " R ", 'q': " R ", 'r': 'fine'}");
    /* An empty secret would match every string: it is skipped. */
    static const char *const empty[] = {""};
    CHECK_REDACTS_SECRETS(NULL, "{'a': 'x', 'b': ''}", empty, "{'a': 'x', 'b': ''}");
    static const char *const mixed[] = {"", NULL, "abc"};
    CHECK_REDACTS_SECRETS(NULL, "{'a': 'x', 'b': 'xabcx'}", mixed, "{'a': 'x', 'b': " R "}");
    /* nsecrets counts; a NULL list with a count is nothing. */
    json_t *args = J("{'a': 'hunter2'}");
    json_t *got = tg_redact_arguments(NULL, args, NULL, 3);
    json_t *want = J("{'a': 'hunter2'}");
    check_doc(__LINE__, got, want);
    json_decref(got);
    json_decref(want);
    got = tg_redact_arguments(NULL, args, secrets, 1);
    want = J("{'a': " R "}");
    check_doc(__LINE__, got, want);
    json_decref(got);
    json_decref(want);
    json_decref(args);
}

static void test_schema_null(void)
{
    CHECK_REDACTS(NULL, "{'a': {'b': [1, 'two', null, true, 2.5]}}",
                  "{'a': {'b': [1, 'two', null, true, 2.5]}}");
    /* The result is a copy: changing it leaves the arguments alone. */
    json_t *args = J("{'a': {'b': [1]}, 's': 'str'}");
    json_t *got = tg_redact_arguments(NULL, args, NULL, 0);
    CHECK(got != args);
    CHECK(json_object_get(got, "a") != json_object_get(args, "a"));
    CHECK(json_object_get(got, "s") != json_object_get(args, "s"));
    json_array_append_new(json_object_get(json_object_get(got, "a"), "b"), json_integer(2));
    CHECK_INT_EQ(json_array_size(json_object_get(json_object_get(args, "a"), "b")), 1);
    json_decref(got);
    json_decref(args);
    CHECK(tg_redact_arguments(NULL, NULL, NULL, 0) == NULL);
}

static void test_non_object_args(void)
{
    static const char *const secrets[] = {"hunter2"};
    CHECK_REDACTS_SECRETS(NULL, "'hunter2'", secrets, R);
    CHECK_REDACTS_SECRETS(NULL, "'fine'", secrets, "'fine'");
    CHECK_REDACTS_SECRETS(NULL, "['a', 'hunter2']", secrets, "['a', " R "]");
    CHECK_REDACTS("{'x-toolgate-sensitive': true}", "42", R);
    CHECK_REDACTS("{'properties': {'a': {'x-toolgate-sensitive': true}}}", "42", "42");
    CHECK_REDACTS("{'properties': {'a': {'x-toolgate-sensitive': true}}}", "null", "null");
    CHECK_REDACTS("{'items': {'x-toolgate-sensitive': true}}", "{'0': 1}", "{'0': 1}");
    CHECK_REDACTS("false", "[true, false]", "[true, false]");
}

/* Returns: new reference, n arrays, one inside the other, around leaf (stolen). */
static json_t *nest(size_t n, json_t *leaf)
{
    json_t *v = leaf;
    for (size_t i = 0; i < n; i++) {
        json_t *a = json_array();
        json_array_append_new(a, v);
        v = a;
    }
    return v;
}

static void test_deep_nesting(void)
{
    /* The arrays sit at depths 0 to n-1 and the leaf at depth n. */
    json_t *args = nest(TG_REDACT_MAX_DEPTH, json_string("x"));
    json_t *got = tg_redact_arguments(NULL, args, NULL, 0);
    check_doc(__LINE__, got, args);
    json_decref(got);
    json_decref(args);

    args = nest(TG_REDACT_MAX_DEPTH + 1, json_string("x"));
    got = tg_redact_arguments(NULL, args, NULL, 0);
    json_t *want = nest(TG_REDACT_MAX_DEPTH + 1, json_string(TG_REDACTED));
    check_doc(__LINE__, got, want);
    json_decref(got);
    json_decref(want);
    json_decref(args);

    /* Far deeper, through a schema that recurses with it. */
    json_t *schema =
        J("{'items': {'$ref': '#'}, 'properties': {'k': {'x-toolgate-sensitive': true}}}");
    args = nest(1000, json_pack("{s:i, s:i}", "k", 1, "j", 2));
    got = tg_redact_arguments(schema, args, NULL, 0);
    want = nest(TG_REDACT_MAX_DEPTH + 1, json_string(TG_REDACTED));
    check_doc(__LINE__, got, want);
    json_decref(got);
    json_decref(want);
    json_decref(args);
    json_decref(schema);

    /* Within the limit the same schema reaches the leaf. */
    schema = J("{'items': {'$ref': '#'}, 'properties': {'k': {'x-toolgate-sensitive': true}}}");
    args = nest(100, json_pack("{s:i, s:i}", "k", 1, "j", 2));
    got = tg_redact_arguments(schema, args, NULL, 0);
    want = nest(100, json_pack("{s:s, s:i}", "k", TG_REDACTED, "j", 2));
    check_doc(__LINE__, got, want);
    json_decref(got);
    json_decref(want);
    json_decref(args);
    json_decref(schema);
}

/* Returns: new reference, n allOf nested in one another around inner (stolen). */
static json_t *nest_allof(size_t n, json_t *inner)
{
    json_t *v = inner;
    for (size_t i = 0; i < n; i++)
        v = json_pack("{s:[o]}", "allOf", v);
    return v;
}

static void test_hostile_schemas(void)
{
    /* A shallow chain of applicators is followed... */
    json_t *schema = nest_allof(10, json_object());
    json_t *args = J("{'a': 1}");
    json_t *got = tg_redact_arguments(schema, args, NULL, 0);
    check_doc(__LINE__, got, args);
    json_decref(got);
    json_decref(schema);
    /* ...one too deep to follow hides the value, sensitive or not. */
    schema = nest_allof(100, json_object());
    got = tg_redact_arguments(schema, args, NULL, 0);
    json_t *want = json_string(TG_REDACTED);
    check_doc(__LINE__, got, want);
    json_decref(got);
    json_decref(want);
    json_decref(schema);
    json_decref(args);

    /* Each level refers twice to the next: 2^30 paths, one subschema each. */
    enum { LEVELS = 30 };
    json_t *defs = json_object();
    for (int i = 0; i < LEVELS; i++) {
        char ref[32], name[16];
        snprintf(ref, sizeof ref, "#/$defs/a%d", i + 1);
        snprintf(name, sizeof name, "a%d", i);
        json_object_set_new(defs, name,
                            json_pack("{s:[{s:s},{s:s}]}", "anyOf", "$ref", ref, "$ref", ref));
    }
    char last[16];
    snprintf(last, sizeof last, "a%d", LEVELS);
    json_object_set_new(defs, last, J("{'properties': {'p': {'x-toolgate-sensitive': true}}}"));
    schema = json_pack("{s:s, s:o}", "$ref", "#/$defs/a0", "$defs", defs);
    args = J("{'p': 1, 'q': [{'p': 2}]}");
    clock_t t0 = clock();
    got = tg_redact_arguments(schema, args, NULL, 0);
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    want = J("{'p': " R ", 'q': [{'p': 2}]}");
    check_doc(__LINE__, got, want);
    CHECK(secs < 1.0);
    json_decref(got);
    json_decref(want);
    json_decref(args);
    json_decref(schema);
}

int main(void)
{
    test_nested_objects();
    test_arrays();
    test_pattern_and_additional_properties();
    test_refs();
    test_applicators();
    test_cyclic_refs();
    test_secrets();
    test_schema_null();
    test_non_object_args();
    test_deep_nesting();
    test_hostile_schemas();
    return check_report();
}
