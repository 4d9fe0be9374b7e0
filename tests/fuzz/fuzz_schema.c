/* libFuzzer target for the JSON Schema engine (schemas/schema.h).
 *
 * Input framing: SCHEMA "\n---\n" INSTANCE, split at the first "\n---\n"; with
 * no separator the schema document is validated against itself. Both halves are
 * JSON texts of any type (jansson's defaults: last duplicate key wins, no NUL in
 * strings). "format" is an assertion when the input's first byte is odd: '{' is
 * 0x7b, so a schema that starts with '{' asserts formats, and one that starts
 * with a space keeps "format" an annotation. Inputs over 64 KiB are skipped.
 *
 * Beyond "no crash, no leak, no undefined behaviour", the target abort()s when
 * the engine contradicts itself or the specification:
 *  - tg_schema_valid (the fast path) and tg_schema_validate (with and without
 *    collecting) disagree, or a second validation reports other violations
 *    (a compiled schema is immutable);
 *  - a failing instance has no violation, a passing one has some, more than
 *    max_violations are reported, or "truncated" is set below the limit;
 *  - a violation's path is not a JSON Pointer to a value in the instance, its
 *    schemaPath (when it points into the input's schema) does not end at its
 *    keyword in that document, or it lacks a keyword (empty for a "false"
 *    schema), schema path or message;
 *  - tg_schema_violations_json does not list exactly the violations;
 *  - a schema compiles although the 2020-12 meta-schema rejects it (checked only
 *    when the document names no other "$schema", whose dialect may differ);
 *  - a compile error comes without a message.
 *
 * Remote references go to a resolver that serves fixed documents under
 * https://fuzz.example/ (one of them not a schema, one the input's own schema
 * document), so cross-document $ref, $anchor and $dynamicRef are exercised. */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schemas/schema.h"

#define MAX_INPUT      (64 * 1024)
#define MAX_VIOLATIONS 100
#define SEPARATOR      "\n---\n"
#define DIALECT        "https://json-schema.org/draft/2020-12/schema"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct {
    const char *uri;
    const char *text;
} remotes[] = {
    {"https://fuzz.example/defs.json",
     "{\"$id\": \"https://fuzz.example/defs.json\", \"$defs\": {"
     "\"positive\": {\"type\": \"integer\", \"exclusiveMinimum\": 0},"
     "\"name\": {\"$anchor\": \"name\", \"type\": \"string\", \"minLength\": 1,"
     " \"maxLength\": 64, \"pattern\": \"^[a-z][a-z0-9_]*$\"},"
     "\"email\": {\"type\": \"string\", \"format\": \"email\"},"
     "\"strict\": {\"$id\": \"strict.json\", \"type\": \"object\","
     " \"unevaluatedProperties\": false}}}"},
    {"https://fuzz.example/tree.json",
     "{\"$schema\": \"" DIALECT "\", \"$id\": \"https://fuzz.example/tree.json\","
     " \"$dynamicAnchor\": \"node\", \"type\": \"object\", \"properties\": {"
     "\"data\": true, \"children\": {\"type\": \"array\","
     " \"items\": {\"$dynamicRef\": \"#node\"}}}}"},
    {"https://fuzz.example/number.json", "42"},
};
#define SELF_URI "https://fuzz.example/self.json"

/* The 2020-12 meta-schema, compiled once: the reference for "is this a schema". */
static tg_schema *meta;

static void fail(const char *what, const json_t *schema, const json_t *instance)
{
    char *s = json_dumps(schema, JSON_ENCODE_ANY | JSON_COMPACT);
    char *i = json_dumps(instance, JSON_ENCODE_ANY | JSON_COMPACT);
    fprintf(stderr, "fuzz_schema: %s\n  schema:   %s\n  instance: %s\n", what, s ? s : "?",
            i ? i : "?");
    free(s);
    free(i);
    abort();
}

/* Serves the fixed remotes, and the input's own schema (userdata) as SELF_URI. */
static json_t *resolve(const char *uri, void *userdata)
{
    if (strcmp(uri, SELF_URI) == 0) return json_incref((json_t *)userdata);
    for (size_t i = 0; i < sizeof remotes / sizeof remotes[0]; i++)
        if (strcmp(uri, remotes[i].uri) == 0)
            return json_loads(remotes[i].text, JSON_DECODE_ANY, NULL);
    return NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    json_t *ref = json_pack("{ss}", "$ref", DIALECT);
    tg_schema_error err = {{0}, {0}};
    tg_schema_options opts = {0};
    if (!ref) abort();
    if (tg_schema_compile(ref, &opts, &meta, &err) != 0) {
        fprintf(stderr, "fuzz_schema: the built-in meta-schema does not compile: %s: %s\n",
                err.schema_path, err.message);
        abort();
    }
    json_decref(ref);
    return 0;
}

/* True when every "$schema" member in doc names the 2020-12 dialect, so the
 * meta-schema oracle applies. Members of that name under "properties" and the
 * like count too: that only makes the check skip more inputs, never misfire. */
static bool dialect_is_2020_12(const json_t *doc)
{
    if (json_is_array(doc)) {
        for (size_t i = 0; i < json_array_size(doc); i++)
            if (!dialect_is_2020_12(json_array_get(doc, i))) return false;
    } else if (json_is_object(doc)) {
        for (void *it = json_object_iter((json_t *)doc); it;
             it = json_object_iter_next((json_t *)doc, it)) {
            const json_t *v = json_object_iter_value(it);
            if (strcmp(json_object_iter_key(it), "$schema") == 0) {
                const char *s = json_string_value(v);
                if (!s || (strcmp(s, DIALECT) != 0 && strcmp(s, DIALECT "#") != 0)) return false;
            }
            if (!dialect_is_2020_12(v)) return false;
        }
    }
    return true;
}

/* Returns: borrowed, the value at JSON Pointer ptr in doc, or NULL (RFC 6901). */
static const json_t *pointer_get(const json_t *doc, const char *ptr)
{
    char *tok = malloc(strlen(ptr) + 1);
    if (!tok) abort();
    while (doc && *ptr) {
        if (*ptr++ != '/') {
            doc = NULL;
            break;
        }
        size_t n = 0;
        for (; *ptr && *ptr != '/'; ptr++) {
            char c = *ptr;
            if (c == '~') {
                ptr++;
                if (*ptr != '0' && *ptr != '1') {
                    doc = NULL;
                    break;
                }
                c = *ptr == '0' ? '~' : '/';
            }
            tok[n++] = c;
        }
        if (!doc) break;
        if (json_is_object(doc)) {
            doc = json_object_getn(doc, tok, n);
        } else if (json_is_array(doc)) {
            /* An index is "0" or digits without a leading zero. */
            size_t idx = 0;
            bool ok = n > 0 && (n == 1 || tok[0] != '0');
            for (size_t i = 0; ok && i < n; i++) {
                ok = tok[i] >= '0' && tok[i] <= '9' && idx < SIZE_MAX / 10;
                idx = idx * 10 + (size_t)(tok[i] - '0');
            }
            doc = ok ? json_array_get(doc, idx) : NULL;
        } else {
            doc = NULL;
        }
    }
    free(tok);
    return doc;
}

/* Validates in every way the API offers and checks that the answers agree. */
static void check_instance(const tg_schema *s, const json_t *schema, const json_t *instance)
{
    bool valid = tg_schema_valid(s, instance);
    int quick = tg_schema_validate(s, instance, NULL);
    tg_schema_violations v = {0}, again = {0};
    int rc = tg_schema_validate(s, instance, &v);
    int rc2 = tg_schema_validate(s, instance, &again);

    if (rc != 0 && rc != 1) fail("tg_schema_validate returned neither 0 nor 1", schema, instance);
    if (valid != (rc == 0))
        fail(valid ? "tg_schema_valid accepts what tg_schema_validate rejects"
                   : "tg_schema_valid rejects what tg_schema_validate accepts",
             schema, instance);
    if (quick != rc || rc2 != rc)
        fail("tg_schema_validate gives different answers for the same instance", schema, instance);
    if ((rc == 0) != (v.count == 0))
        fail(rc == 0 ? "valid instance with violations" : "invalid instance without violations",
             schema, instance);
    if (v.count > MAX_VIOLATIONS || (v.truncated && v.count != MAX_VIOLATIONS))
        fail("violation count and max_violations disagree", schema, instance);

    for (size_t i = 0; i < v.count; i++) {
        const tg_schema_violation *x = &v.items[i];
        if (!x->path || !x->schema_path || !x->keyword || !x->message || !*x->message)
            fail("violation with a missing field", schema, instance);
        if (!pointer_get(instance, x->path)) {
            fprintf(stderr, "fuzz_schema: path \"%s\" (keyword %s: %s)\n", x->path, x->keyword,
                    x->message);
            fail("violation path is not a location in the instance", schema, instance);
        }
        /* A schemaPath without a URI points into the input's own schema document
         * and ends at the keyword (or is the "false" schema itself). */
        if (x->schema_path[0] == '\0' || x->schema_path[0] == '/') {
            const char *last = strrchr(x->schema_path, '/');
            if (!pointer_get(schema, x->schema_path) ||
                (*x->keyword && (!last || strcmp(last + 1, x->keyword) != 0))) {
                fprintf(stderr, "fuzz_schema: schemaPath \"%s\" (keyword %s: %s)\n", x->schema_path,
                        x->keyword, x->message);
                fail("violation schemaPath does not name the keyword in the schema", schema,
                     instance);
            }
        }
    }

    json_t *j = tg_schema_violations_json(&v);
    json_t *j2 = tg_schema_violations_json(&again);
    if (!json_is_array(j) || json_array_size(j) != v.count)
        fail("tg_schema_violations_json does not list the violations", schema, instance);
    for (size_t i = 0; i < v.count; i++) {
        const json_t *e = json_array_get(j, i);
        const char *path = json_string_value(json_object_get(e, "path"));
        const char *kw = json_string_value(json_object_get(e, "keyword"));
        if (!path || strcmp(path, v.items[i].path) != 0 || !kw ||
            strcmp(kw, v.items[i].keyword) != 0 ||
            !json_is_string(json_object_get(e, "schemaPath")) ||
            !json_is_string(json_object_get(e, "message")))
            fail("tg_schema_violations_json entry differs from its violation", schema, instance);
    }
    if (!json_equal(j, j2))
        fail("two validations of one instance report different violations", schema, instance);

    json_decref(j);
    json_decref(j2);
    tg_schema_violations_free(&v);
    tg_schema_violations_free(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > MAX_INPUT) return 0;
    const char *text = (const char *)data;
    const char *sep = memmem(text, size, SEPARATOR, strlen(SEPARATOR));
    size_t schema_len = sep ? (size_t)(sep - text) : size;

    json_t *schema = json_loadb(text, schema_len, JSON_DECODE_ANY, NULL);
    if (!schema) return 0;
    json_t *instance = schema;
    if (sep) {
        const char *rest = sep + strlen(SEPARATOR);
        instance = json_loadb(rest, size - (size_t)(rest - text), JSON_DECODE_ANY, NULL);
        if (!instance) {
            json_decref(schema);
            return 0;
        }
    }

    tg_schema_options opts = {
        .resolve = resolve,
        .resolve_userdata = schema,
        .base_uri = "https://fuzz.example/input.json",
        .format_assert = (data[0] & 1) != 0,
        .max_violations = MAX_VIOLATIONS,
    };
    tg_schema *s = NULL;
    tg_schema_error err = {{0}, {0}};
    int rc = tg_schema_compile(schema, &opts, &s, &err);
    if (rc == TG_SCHEMA_OK) {
        if (!s) fail("tg_schema_compile succeeded without a schema", schema, instance);
        if (dialect_is_2020_12(schema) && !tg_schema_valid(meta, schema))
            fail("compiled a schema that the 2020-12 meta-schema rejects", schema, instance);
        check_instance(s, schema, instance);
        tg_schema_free(s);
    } else {
        if (rc != TG_SCHEMA_EINVALID && rc != TG_SCHEMA_ELIMIT && rc != TG_SCHEMA_EREF)
            fail("tg_schema_compile returned an undocumented code", schema, instance);
        if (!memchr(err.message, '\0', sizeof err.message) || !err.message[0] ||
            !memchr(err.schema_path, '\0', sizeof err.schema_path))
            fail("compile error without a terminated message", schema, instance);
    }

    if (instance != schema) json_decref(instance);
    json_decref(schema);
    return 0;
}
