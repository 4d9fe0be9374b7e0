/* libFuzzer target for the redaction of a call's arguments before the audit
 * log records them (gateway/calls/redact.h): the schema is a tool's
 * inputSchema, the arguments come from the caller.
 *
 * Input framing: [SCHEMA "\n---\n"] ARGS ["\n---\n" SECRETS], split at the
 * first two separators. Without a separator the whole input is the arguments
 * and the schema is NULL; an empty SCHEMA is NULL too. SECRETS is split at
 * '\n' into up to MAX_SECRETS secrets (empty ones included, which must be
 * skipped), and a NULL entry follows them; without SECRETS, secrets is NULL
 * with a non-zero count. The JSON texts may be of any type; the arguments may
 * hold "\u0000". Inputs that do not parse are skipped quietly.
 *
 * Beyond "no crash, no leak, no undefined behaviour", the target abort()s when
 *  - the result is NULL;
 *  - the result does not have the arguments' shape: a value is either
 *    "[REDACTED]" or of the same type, an object with exactly the same keys,
 *    an array of the same length, a scalar equal to the original;
 *  - a string value in the result other than "[REDACTED]" still holds a
 *    non-empty secret (keys are kept, so only values are searched);
 *  - the arguments or the schema changed;
 *  - redacting the result again changes it (the same locations apply, and
 *    what was hidden stays "[REDACTED]");
 *  - with a NULL schema, the result is not exactly what the contract gives:
 *    the arguments with the secret-holding strings and the values nested
 *    deeper than TG_REDACT_MAX_DEPTH redacted;
 *  - a value is not redacted although a subschema marked
 *    "x-toolgate-sensitive": true applies to it by a route this target can
 *    follow on its own (see check_marks): redaction may hide too much, never
 *    too little. */
#include "gateway/calls/redact.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_INPUT   (64 * 1024)
#define MAX_SECRETS 8
#define SEPARATOR   "\n---\n"
/* Bounds on check_marks, which need not be complete: in-place steps at one
 * location, and calls in all. */
#define MAX_HOPS   16
#define MAX_VISITS 20000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct input {
    const json_t *schema, *args, *result;
    const char *const *secrets;
    size_t nsecrets;
} input;

static void fail(const input *in, const char *what)
{
    char *s = in->schema ? json_dumps(in->schema, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    char *a = json_dumps(in->args, JSON_ENCODE_ANY | JSON_COMPACT);
    char *r = in->result ? json_dumps(in->result, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    fprintf(stderr, "fuzz_redact: %s\n  schema: %s\n  args:   %s\n  result: %s\n", what,
            s ? s : "NULL", a ? a : "?", r ? r : "NULL");
    for (size_t i = 0; in->secrets && i < in->nsecrets; i++)
        if (in->secrets[i]) fprintf(stderr, "  secret: \"%s\"\n", in->secrets[i]);
    free(s);
    free(a);
    free(r);
    abort();
}

static bool is_redacted(const json_t *v)
{
    return json_is_string(v) && json_string_length(v) == strlen(TG_REDACTED) &&
           memcmp(json_string_value(v), TG_REDACTED, strlen(TG_REDACTED)) == 0;
}

static bool holds_secret(const input *in, const json_t *str)
{
    for (size_t i = 0; in->secrets && i < in->nsecrets; i++) {
        const char *secret = in->secrets[i];
        if (secret && *secret &&
            memmem(json_string_value(str), json_string_length(str), secret, strlen(secret)))
            return true;
    }
    return false;
}

/* res is the redacted copy of orig: "[REDACTED]", or orig's shape throughout. */
static void check_shape(const input *in, const json_t *orig, const json_t *res)
{
    if (!res) fail(in, "a value is missing from the result");
    if (is_redacted(res)) return;
    if (json_typeof(res) != json_typeof(orig)) fail(in, "a value changed type");
    if (json_is_object(orig)) {
        if (json_object_size(res) != json_object_size(orig))
            fail(in, "an object has other keys in the result");
        const char *key;
        size_t klen;
        json_t *v;
        json_object_keylen_foreach((json_t *)orig, key, klen, v)
        {
            check_shape(in, v, json_object_getn(res, key, klen));
        }
    } else if (json_is_array(orig)) {
        if (json_array_size(res) != json_array_size(orig))
            fail(in, "an array has another length in the result");
        for (size_t i = 0; i < json_array_size(orig); i++)
            check_shape(in, json_array_get(orig, i), json_array_get(res, i));
    } else if (!json_equal(orig, res)) {
        fail(in, "a value changed without being redacted");
    }
}

static void check_no_secret(const input *in, const json_t *res)
{
    if (json_is_string(res)) {
        if (!is_redacted(res) && holds_secret(in, res)) fail(in, "a secret is left in a value");
    } else if (json_is_object(res)) {
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)res, key, v) check_no_secret(in, v);
    } else if (json_is_array(res)) {
        for (size_t i = 0; i < json_array_size(res); i++)
            check_no_secret(in, json_array_get(res, i));
    }
}

/* Returns: new reference, what redact.h promises for v at depth when no
 * schema applies. */
static json_t *expected_without_schema(const input *in, const json_t *v, int depth)
{
    if (depth > TG_REDACT_MAX_DEPTH || (json_is_string(v) && holds_secret(in, v)))
        return json_string(TG_REDACTED);
    if (json_is_object(v)) {
        json_t *out = json_object();
        const char *key;
        size_t klen;
        json_t *sub;
        json_object_keylen_foreach((json_t *)v, key, klen, sub)
        {
            json_object_setn_new(out, key, klen, expected_without_schema(in, sub, depth + 1));
        }
        return out;
    }
    if (json_is_array(v)) {
        json_t *out = json_array();
        for (size_t i = 0; i < json_array_size(v); i++)
            json_array_append_new(out,
                                  expected_without_schema(in, json_array_get(v, i), depth + 1));
        return out;
    }
    return json_deep_copy(v);
}

/* Returns: borrowed, the subschema a same-document $ref names, for the plain
 * forms only: "#", "#/$defs/NAME" and "#/definitions/NAME" with NAME of
 * letters, digits, '_' and '-', in a root without "$id" (so no URI resolution
 * or pointer escaping is involved); NULL for any other reference. */
static const json_t *plain_ref(const json_t *root, const json_t *schema)
{
    const char *ref = json_string_value(json_object_get(schema, "$ref"));
    if (!ref || json_string_value(json_object_get(root, "$id"))) return NULL;
    if (strcmp(ref, "#") == 0) return root;
    static const char *const prefixes[] = {"#/$defs/", "#/definitions/"};
    for (size_t k = 0; k < 2; k++) {
        size_t plen = strlen(prefixes[k]);
        if (strncmp(ref, prefixes[k], plen) != 0) continue;
        const char *name = ref + plen;
        if (!*name ||
            strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") !=
                strlen(name))
            return NULL;
        return json_object_get(json_object_get(root, prefixes[k] + 2), name);
    }
    return NULL;
}

typedef struct marks {
    const input *in;
    long visits;
} marks;

/* schema applies at res (the redacted copy of a value). Follows a part of
 * what redact.h lists, each step a certain one: in place, allOf, anyOf,
 * oneOf, if, then, else and plain_ref; to an object's members, properties,
 * additionalProperties (only where no patternProperties could claim the key)
 * and unevaluatedProperties; to an array's elements, prefixItems and items
 * (or the older tuple form with additionalItems), contains and
 * unevaluatedItems. Where a schema so reached is marked, res must be
 * redacted. */
static void check_marks(marks *m, const json_t *schema, const json_t *res, int hops)
{
    if (!json_is_object(schema) || is_redacted(res) || hops > MAX_HOPS || ++m->visits > MAX_VISITS)
        return;
    if (json_is_true(json_object_get(schema, "x-toolgate-sensitive")))
        fail(m->in, "a value that a sensitive subschema applies to is not redacted");

    static const char *const lists[] = {"allOf", "anyOf", "oneOf"};
    for (size_t k = 0; k < 3; k++) {
        const json_t *list = json_object_get(schema, lists[k]);
        for (size_t i = 0; i < json_array_size(list); i++)
            check_marks(m, json_array_get(list, i), res, hops + 1);
    }
    static const char *const singles[] = {"if", "then", "else"};
    for (size_t k = 0; k < 3; k++)
        check_marks(m, json_object_get(schema, singles[k]), res, hops + 1);
    check_marks(m, plain_ref(m->in->schema, schema), res, hops + 1);

    if (json_is_object(res)) {
        const json_t *props = json_object_get(schema, "properties");
        bool patterns = json_object_size(json_object_get(schema, "patternProperties")) > 0;
        const char *key;
        size_t klen;
        json_t *v;
        json_object_keylen_foreach((json_t *)res, key, klen, v)
        {
            const json_t *named = json_object_getn(props, key, klen);
            check_marks(m, named, v, 0);
            if (!named && !patterns)
                check_marks(m, json_object_get(schema, "additionalProperties"), v, 0);
            check_marks(m, json_object_get(schema, "unevaluatedProperties"), v, 0);
        }
    } else if (json_is_array(res)) {
        const json_t *prefix = json_object_get(schema, "prefixItems");
        const json_t *rest = json_object_get(schema, "items");
        if (json_is_array(rest)) {
            prefix = rest;
            rest = json_object_get(schema, "additionalItems");
        }
        for (size_t i = 0; i < json_array_size(res); i++) {
            const json_t *el = json_array_get(res, i);
            check_marks(m, i < json_array_size(prefix) ? json_array_get(prefix, i) : rest, el, 0);
            check_marks(m, json_object_get(schema, "contains"), el, 0);
            check_marks(m, json_object_get(schema, "unevaluatedItems"), el, 0);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > MAX_INPUT) return 0;
    const char *text = (const char *)data, *end = text + size;
    const char *sep1 = memmem(text, size, SEPARATOR, strlen(SEPARATOR));
    const char *sep2 = NULL;
    const char *args_text = text;
    if (sep1) {
        args_text = sep1 + strlen(SEPARATOR);
        sep2 = memmem(args_text, (size_t)(end - args_text), SEPARATOR, strlen(SEPARATOR));
    }
    const char *args_end = sep2 ? sep2 : end;

    json_t *schema = NULL, *args = NULL;
    if (sep1 && sep1 > text) {
        schema = json_loadb(text, (size_t)(sep1 - text), JSON_DECODE_ANY, NULL);
        if (!schema) return 0;
    }
    args = json_loadb(args_text, (size_t)(args_end - args_text), JSON_DECODE_ANY | JSON_ALLOW_NUL,
                      NULL);
    if (!args) {
        json_decref(schema);
        return 0;
    }

    /* Up to MAX_SECRETS lines, then a NULL entry. */
    char *secret_text = NULL;
    const char *secrets[MAX_SECRETS + 1];
    size_t nsecrets = 0;
    const char *const *secrets_arg = NULL;
    if (sep2) {
        const char *s = sep2 + strlen(SEPARATOR);
        size_t slen = (size_t)(end - s);
        secret_text = malloc(slen + 1);
        if (!secret_text) abort();
        memcpy(secret_text, s, slen);
        secret_text[slen] = '\0';
        char *line = secret_text;
        while (nsecrets < MAX_SECRETS) {
            secrets[nsecrets++] = line;
            char *nl = strchr(line, '\n');
            if (!nl) break;
            *nl = '\0';
            line = nl + 1;
        }
        secrets[nsecrets++] = NULL;
        secrets_arg = secrets;
    } else {
        nsecrets = 3; /* with secrets NULL, the count must be ignored */
    }

    json_t *args_before = json_deep_copy(args);
    json_t *schema_before = schema ? json_deep_copy(schema) : NULL;
    json_t *result = tg_redact_arguments(schema, args, secrets_arg, nsecrets);
    input in = {schema, args, result, secrets_arg, nsecrets};

    if (!result) fail(&in, "NULL result for non-NULL arguments");
    if (!json_equal(args, args_before)) fail(&in, "the arguments changed");
    if (schema && !json_equal(schema, schema_before)) fail(&in, "the schema changed");
    check_shape(&in, args, result);
    check_no_secret(&in, result);
    if (!schema) {
        json_t *expected = expected_without_schema(&in, args, 0);
        if (!json_equal(result, expected))
            fail(&in, "without a schema, not what redact.h promises");
        json_decref(expected);
    } else {
        marks m = {&in, 0};
        check_marks(&m, schema, result, 0);
    }
    json_t *again = tg_redact_arguments(schema, result, secrets_arg, nsecrets);
    if (!json_equal(again, result)) fail(&in, "redacting the result again changes it");

    json_decref(again);
    json_decref(result);
    json_decref(schema_before);
    json_decref(args_before);
    json_decref(args);
    json_decref(schema);
    free(secret_text);
    return 0;
}
