/* Contract fixtures: the shape check and the comparison of a CallToolResult
 * with what a fixture expects.
 *
 * Every reason given, for a malformed fixture or for an unmet expectation,
 * names the place it is about with a JSON Pointer (into the fixture, or into
 * the result's structuredContent, content or error), so a failing case can be
 * fixed without rerunning it under a debugger. */
#include "gateway/contract/fixture.h"

#include "gateway/core/alloc.h"
#include "gateway/core/text.h"
#include "schemas/schema.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A value quoted in a reason is cut to this many bytes: enough to recognise
 * it, short enough that a large document does not bury the line. */
#define QUOTE_MAX 160

/* "format" asserts here as it does in the gateway, so a fixture can pin a
 * date-time the way the worker's outputSchema does. */
static const tg_schema_options matches_options = {.format_assert = true};

static int invalid(tg_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int invalid(tg_error *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = TG_EBAD_REQUEST;
        tg_vformat(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Returns: 0 when v is absent or an array of strings, else -1 with err. */
static int check_strings(const json_t *v, const char *where, bool pointers, tg_error *err)
{
    if (!v) return 0;
    if (!json_is_array(v)) return invalid(err, "%s: must be an array of strings", where);
    size_t i;
    const json_t *s;
    json_array_foreach(v, i, s)
    {
        if (!json_is_string(s)) return invalid(err, "%s/%zu: must be a string", where, i);
        const char *text = json_string_value(s);
        if (pointers && *text && *text != '/')
            return invalid(err, "%s/%zu: must be a JSON Pointer (\"\" or starting with \"/\")",
                           where, i);
    }
    return 0;
}

static int check_error_expectation(const json_t *e, tg_error *err)
{
    if (!json_is_object(e)) return invalid(err, "/expect/error: must be an object");
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)e, key, v)
    {
        if (strcmp(key, "code") != 0 && strcmp(key, "paths") != 0 && strcmp(key, "keywords") != 0)
            return invalid(err, "/expect/error/%s: unknown key (code, paths, keywords)", key);
    }
    const json_t *code = json_object_get(e, "code");
    if (!json_is_string(code) || !*json_string_value(code))
        return invalid(err, "/expect/error/code: must be a non-empty string");
    if (check_strings(json_object_get(e, "paths"), "/expect/error/paths", true, err) != 0)
        return -1;
    return check_strings(json_object_get(e, "keywords"), "/expect/error/keywords", false, err);
}

static int check_expect(const json_t *expect, tg_error *err)
{
    if (!json_is_object(expect)) return invalid(err, "/expect: must be an object");
    if (json_object_size(expect) > 1)
        return invalid(err, "/expect: must hold at most one of structuredContent, matches, "
                            "content, error");
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)expect, key, v)
    {
        if (strcmp(key, "structuredContent") == 0) {
            if (!json_is_object(v))
                return invalid(err, "/expect/structuredContent: must be an object");
        } else if (strcmp(key, "matches") == 0) {
            if (!json_is_object(v) && !json_is_boolean(v))
                return invalid(err, "/expect/matches: must be a JSON Schema (object or boolean)");
            tg_schema *schema = NULL;
            tg_schema_error se = {{0}, {0}};
            if (tg_schema_compile((json_t *)v, &matches_options, &schema, &se) != 0)
                return invalid(err, "/expect/matches%s: %s", se.schema_path, se.message);
            tg_schema_free(schema);
        } else if (strcmp(key, "content") == 0) {
            if (!json_is_array(v))
                return invalid(err, "/expect/content: must be an array of content blocks");
            size_t i;
            const json_t *block;
            json_array_foreach(v, i, block)
            {
                if (!json_is_object(block))
                    return invalid(err, "/expect/content/%zu: must be an object", i);
            }
        } else if (strcmp(key, "error") == 0) {
            if (check_error_expectation(v, err) != 0) return -1;
        } else {
            return invalid(err,
                           "/expect/%s: unknown key (structuredContent, matches, content, "
                           "error)",
                           key);
        }
    }
    return 0;
}

int tg_fixture_check(const json_t *fixture, tg_error *err)
{
    if (!json_is_object(fixture)) return invalid(err, "(root): a fixture must be an object");
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)fixture, key, v)
    {
        if (strcmp(key, "description") == 0) {
            if (!json_is_string(v)) return invalid(err, "/description: must be a string");
        } else if (strcmp(key, "arguments") == 0) {
            if (!json_is_object(v)) return invalid(err, "/arguments: must be an object");
        } else if (strcmp(key, "expect") == 0) {
            if (check_expect(v, err) != 0) return -1;
        } else if (strcmp(key, "generated") == 0) {
            if (!json_is_boolean(v)) return invalid(err, "/generated: must be a boolean");
        } else {
            return invalid(err, "/%s: unknown key (description, arguments, expect, generated)",
                           key);
        }
    }
    if (!json_object_get(fixture, "description"))
        return invalid(err, "/description: missing (say what the case checks)");
    if (!json_object_get(fixture, "arguments")) return invalid(err, "/arguments: missing");
    if (!json_object_get(fixture, "expect")) return invalid(err, "/expect: missing");
    return 0;
}

/* Returns: new string, v as compact JSON cut to QUOTE_MAX bytes. */
static char *quote(const json_t *v)
{
    if (!v) return tg_xstrdup("nothing");
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text) return tg_xstrdup("(unprintable)");
    size_t len = strlen(text);
    if (len <= QUOTE_MAX) return text;
    char *cut = tg_xasprintf("%.*s...", (int)tg_utf8_whole(text, QUOTE_MAX), text);
    free(text);
    return cut;
}

/* Returns: new string, path with key appended as one JSON Pointer token. */
static char *pointer_key(const char *path, const char *key)
{
    size_t n = strlen(path), extra = 0;
    for (const char *k = key; *k; k++)
        extra += (*k == '~' || *k == '/');
    char *out = tg_xmalloc(n + 1 + strlen(key) + extra + 1), *o = out;
    memcpy(o, path, n);
    o += n;
    *o++ = '/';
    for (const char *k = key; *k; k++) {
        if (*k == '~' || *k == '/') {
            *o++ = '~';
            *o++ = *k == '~' ? '0' : '1';
        } else {
            *o++ = *k;
        }
    }
    *o = '\0';
    return out;
}

static char *pointer_index(const char *path, size_t i)
{
    return tg_xasprintf("%s/%zu", path, i);
}

/* Returns: new string, "what at PATH: ..." for two values known to differ. */
static char *difference(const char *what, const char *path, const char *detail)
{
    return tg_xasprintf("%s at %s: %s", what, *path ? path : "the root (\"\")", detail);
}

static char *mismatch(const char *what, const char *path, const json_t *want, const json_t *got)
{
    char *w = quote(want), *g = quote(got);
    char *detail = tg_xasprintf("expected %s, got %s", w, g);
    char *out = difference(what, path, detail);
    free(detail);
    free(w);
    free(g);
    return out;
}

/* Returns: NULL when want and got are equal (json_equal), else a new string
 * naming the first difference: object keys in want's order, then keys only
 * got has, then array items in order. */
static char *first_difference(const char *what, const char *path, const json_t *want,
                              const json_t *got)
{
    if (json_equal((json_t *)want, (json_t *)got)) return NULL;
    if (json_is_object(want) && json_is_object(got)) {
        const char *key;
        const json_t *w;
        json_object_foreach((json_t *)want, key, w)
        {
            char *at = pointer_key(path, key);
            const json_t *g = json_object_get(got, key);
            char *why = NULL;
            if (!g) {
                char *q = quote(w), *detail = tg_xasprintf("missing (expected %s)", q);
                why = difference(what, at, detail);
                free(detail);
                free(q);
            } else {
                why = first_difference(what, at, w, g);
            }
            free(at);
            if (why) return why;
        }
        const json_t *g;
        json_object_foreach((json_t *)got, key, g)
        {
            if (json_object_get(want, key)) continue;
            char *at = pointer_key(path, key), *q = quote(g);
            char *detail = tg_xasprintf("not expected (got %s)", q);
            char *why = difference(what, at, detail);
            free(detail);
            free(q);
            free(at);
            return why;
        }
    } else if (json_is_array(want) && json_is_array(got)) {
        size_t nw = json_array_size(want), ng = json_array_size(got);
        for (size_t i = 0; i < nw && i < ng; i++) {
            char *at = pointer_index(path, i);
            char *why = first_difference(what, at, json_array_get(want, i), json_array_get(got, i));
            free(at);
            if (why) return why;
        }
        char *detail = tg_xasprintf("expected %zu items, got %zu", nw, ng);
        char *why = difference(what, path, detail);
        free(detail);
        return why;
    }
    return mismatch(what, path, want, got);
}

/* Returns: new string, why a result with isError is not the success that was
 * expected: its error's code and message, or its first text block. */
static char *failed_call(const json_t *result)
{
    const json_t *error = tg_result_error(result);
    if (error) {
        const char *code = json_string_value(json_object_get(error, "code"));
        const char *message = json_string_value(json_object_get(error, "message"));
        char *details = NULL;
        const json_t *d = json_object_get(error, "details");
        if (json_is_array(d) && json_array_size(d) > 0) {
            char *q = quote(d);
            details = tg_xasprintf(" (details: %s)", q);
            free(q);
        }
        char *why = tg_xasprintf("the call failed: %s: %s%s", code ? code : "(no code)",
                                 message ? message : "(no message)", details ? details : "");
        free(details);
        return why;
    }
    const json_t *first = json_array_get(json_object_get(result, "content"), 0);
    const char *text = json_string_value(json_object_get(first, "text"));
    return tg_xasprintf("the call failed: %s", text ? text : "(no error object, no text)");
}

/* Returns: new string, the first violation of structuredContent against the
 * schema, or NULL when it matches. */
static char *violation(const json_t *schema_doc, const json_t *sc)
{
    tg_schema *schema = NULL;
    tg_schema_error se = {{0}, {0}};
    if (tg_schema_compile((json_t *)schema_doc, &matches_options, &schema, &se) != 0)
        return tg_xasprintf("expect/matches%s does not compile: %s", se.schema_path, se.message);
    tg_schema_violations v = {0};
    char *why = NULL;
    if (tg_schema_validate(schema, sc, &v) != 0) {
        if (v.count > 0) {
            const tg_schema_violation *first = &v.items[0];
            char *detail =
                tg_xasprintf("%s (%s at %s of the schema)%s", first->message, first->keyword,
                             first->schema_path, v.count > 1 ? " and more" : "");
            why = difference("structuredContent does not match", first->path, detail);
            free(detail);
        } else {
            why = tg_xstrdup("structuredContent does not match the schema");
        }
    }
    tg_schema_violations_free(&v);
    tg_schema_free(schema);
    return why;
}

/* Returns: new string, the listed values of key among details[] that no
 * detail has, with the ones present; NULL when every one is there. */
static char *missing_among(const json_t *details, const char *key, const json_t *wanted,
                           const char *what)
{
    size_t i, j;
    const json_t *w, *d;
    json_array_foreach(wanted, i, w)
    {
        bool found = false;
        json_array_foreach(details, j, d)
        {
            const char *have = json_string_value(json_object_get(d, key));
            if (have && strcmp(have, json_string_value(w)) == 0) found = true;
        }
        if (found) continue;
        json_t *present = json_array();
        json_array_foreach(details, j, d)
        {
            json_t *have = json_object_get(d, key);
            if (json_is_string(have)) json_array_append(present, have);
        }
        char *q = quote(present);
        json_decref(present);
        char *why = tg_xasprintf("no error detail has %s \"%s\" (the details have %s)", what,
                                 json_string_value(w), q);
        free(q);
        return why;
    }
    return NULL;
}

static char *error_unmet(const json_t *expected, const json_t *result)
{
    const char *want = json_string_value(json_object_get(expected, "code"));
    if (!json_is_true(json_object_get(result, "isError"))) {
        char *q = quote(json_object_get(result, "structuredContent"));
        char *why = tg_xasprintf(
            "expected error %s, but the call succeeded (structuredContent: %s)", want, q);
        free(q);
        return why;
    }
    const json_t *error = tg_result_error(result);
    if (!error)
        return tg_xasprintf("expected error %s, but the error result carries no error object "
                            "(neither /structuredContent/error nor /_meta/dev.toolgate~1error)",
                            want);
    const char *code = json_string_value(json_object_get(error, "code"));
    if (!code || strcmp(code, want) != 0) {
        const char *message = json_string_value(json_object_get(error, "message"));
        return tg_xasprintf("expected error %s, got %s: %s", want, code ? code : "(no code)",
                            message ? message : "(no message)");
    }
    const json_t *details = json_object_get(error, "details");
    char *why = missing_among(details, "path", json_object_get(expected, "paths"), "path");
    if (!why)
        why = missing_among(details, "keyword", json_object_get(expected, "keywords"), "keyword");
    return why;
}

bool tg_fixture_met(const json_t *fixture, const json_t *result, char **why)
{
    const json_t *expect = json_object_get(fixture, "expect");
    char *reason = NULL;
    if (!json_is_object(result)) {
        reason = tg_xstrdup("the result is not an object");
    } else if (json_object_get(expect, "error")) {
        reason = error_unmet(json_object_get(expect, "error"), result);
    } else if (json_is_true(json_object_get(result, "isError"))) {
        reason = failed_call(result);
    } else if (json_object_get(expect, "structuredContent")) {
        const json_t *sc = json_object_get(result, "structuredContent");
        reason = sc ? first_difference("structuredContent differs", "",
                                       json_object_get(expect, "structuredContent"), sc)
                    : tg_xstrdup("the result has no structuredContent");
    } else if (json_object_get(expect, "matches")) {
        const json_t *sc = json_object_get(result, "structuredContent");
        reason = sc ? violation(json_object_get(expect, "matches"), sc)
                    : tg_xstrdup("the result has no structuredContent");
    } else if (json_object_get(expect, "content")) {
        const json_t *content = json_object_get(result, "content");
        reason = content ? first_difference("content differs", "",
                                            json_object_get(expect, "content"), content)
                         : tg_xstrdup("the result has no content");
    }
    if (why)
        *why = reason;
    else
        free(reason);
    return reason == NULL;
}
