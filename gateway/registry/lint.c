/* The tool definition linter: one pre-order walk over inputSchema and
 * outputSchema that appends warnings as it meets them, so they come out in
 * document order, plus a size estimate of the whole definition. Nothing here
 * writes to the manifest; jansson's iterators take a non-const object, hence
 * the casts. */
#include "gateway/registry/lint.h"

#include "gateway/core/alloc.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_ENUM     50
#define DEFAULT_TOKEN_BUDGET 2000
#define BYTES_PER_TOKEN      4
/* Real input schemas nest a handful of levels; past this the walk stops. */
#define MAX_DEPTH 64
/* Bounds the walk over shared subtrees (see lint.h). */
#define MAX_SCHEMAS 10000
/* A "$ref" to a "$ref" is followed this many times, so a cycle ends. */
#define MAX_REF_HOPS 8
/* Counting the definition's size stops here (or just past the budget, if
 * that is larger): enough to say it is too big, without walking a value
 * whose shared subtrees stand for more bytes than memory holds. */
#define MAX_COUNTED_BYTES (4u << 20)

typedef struct lint {
    json_t *warnings;
    size_t max_enum;
    size_t token_budget;
    const json_t *input_root; /* where "$ref" pointers resolve */
    size_t schemas_seen;
    char *path; /* the JSON Pointer of the value being looked at */
    size_t path_len, path_cap;
} lint;

/* What the walk knows about the place a schema sits in. */
typedef struct place {
    bool input;            /* inside inputSchema: argument rules apply */
    bool property;         /* the schema of a named property */
    bool closed_by_parent; /* an allOf/anyOf/oneOf branch of a closed schema */
} place;

static void path_append(lint *l, const char *s, size_t n)
{
    if (l->path_len + n + 1 > l->path_cap) {
        while (l->path_len + n + 1 > l->path_cap)
            l->path_cap *= 2;
        l->path = tg_xrealloc(l->path, l->path_cap);
    }
    memcpy(l->path + l->path_len, s, n);
    l->path_len += n;
    l->path[l->path_len] = '\0';
}

/* Appends one reference token, escaped as RFC 6901 says ("~" as "~0", "/" as
 * "~1"). Returns: the length to cut back to afterwards. */
static size_t path_push_key(lint *l, const char *key)
{
    size_t mark = l->path_len;
    path_append(l, "/", 1);
    for (const char *p = key; *p; p++) {
        if (*p == '~')
            path_append(l, "~0", 2);
        else if (*p == '/')
            path_append(l, "~1", 2);
        else
            path_append(l, p, 1);
    }
    return mark;
}

static size_t path_push_index(lint *l, size_t i)
{
    size_t mark = l->path_len;
    char tok[32];
    int n = snprintf(tok, sizeof tok, "/%zu", i);
    path_append(l, tok, (size_t)n);
    return mark;
}

static void path_pop(lint *l, size_t mark)
{
    l->path_len = mark;
    l->path[mark] = '\0';
}

/* Adds a warning at the current path; takes ownership of message. */
static void warn(lint *l, const char *rule, char *message)
{
    json_t *w = json_object();
    /* Keys come from jansson objects, which hold UTF-8 unless built against
     * its contract with json_object_set_nocheck; such a path becomes "". */
    json_t *path = json_string(l->path);
    json_object_set_new(w, "path", path ? path : json_string(""));
    json_object_set_new(w, "rule", json_string(rule));
    json_object_set_new(w, "message", json_string(message));
    json_array_append_new(l->warnings, w);
    free(message);
}

static bool has_text(const json_t *v)
{
    const char *s = json_string_value(v);
    if (!s) return false;
    for (; *s; s++)
        if (!strchr(" \t\n\v\f\r", *s)) return true;
    return false;
}

/* Returns: the value at the JSON Pointer ptr (RFC 6901, without the "#")
 * inside root, or NULL. Array indices are plain decimal. */
static const json_t *resolve_pointer(const json_t *root, const char *ptr)
{
    const json_t *at = root;
    char token[256];
    while (*ptr && at) {
        if (*ptr != '/') return NULL;
        ptr++;
        size_t n = 0;
        for (; *ptr && *ptr != '/'; ptr++) {
            char c = *ptr;
            if (c == '~') {
                if (ptr[1] != '0' && ptr[1] != '1') return NULL;
                c = ptr[1] == '0' ? '~' : '/';
                ptr++;
            }
            if (n + 1 >= sizeof token) return NULL;
            token[n++] = c;
        }
        token[n] = '\0';
        if (json_is_object(at)) {
            at = json_object_get(at, token);
        } else if (json_is_array(at)) {
            char *end;
            unsigned long long i = strtoull(token, &end, 10);
            /* RFC 6901 indices: digits, no sign, no leading zero. */
            if (n == 0 || *end || token[0] < '0' || token[0] > '9' || (n > 1 && token[0] == '0'))
                return NULL;
            at = i < json_array_size(at) ? json_array_get(at, (size_t)i) : NULL;
        } else {
            return NULL;
        }
    }
    return at;
}

/* A property is described by its own description or, when it is a local
 * reference, by the description of the schema the reference leads to. */
static bool is_described(const lint *l, const json_t *schema)
{
    for (int hop = 0; hop <= MAX_REF_HOPS; hop++) {
        if (has_text(json_object_get(schema, "description"))) return true;
        const char *ref = json_string_value(json_object_get(schema, "$ref"));
        if (!ref || ref[0] != '#') return false;
        schema = resolve_pointer(l->input_root, ref + 1);
        if (!json_is_object(schema)) return false;
    }
    return false;
}

static bool is_object_schema(const json_t *schema)
{
    const json_t *type = json_object_get(schema, "type");
    if (json_is_string(type) && strcmp(json_string_value(type), "object") == 0) return true;
    size_t i;
    const json_t *t;
    json_array_foreach((json_t *)type, i, t)
    {
        if (json_is_string(t) && strcmp(json_string_value(t), "object") == 0) return true;
    }
    return json_is_object(json_object_get(schema, "properties"));
}

static bool closes_itself(const json_t *schema)
{
    return json_is_false(json_object_get(schema, "additionalProperties")) ||
           json_is_false(json_object_get(schema, "unevaluatedProperties"));
}

/* A schema that names what extra keys must hold is a map whose keys are
 * data; its author chose to leave the names open. */
static bool is_map(const json_t *schema)
{
    return json_is_object(json_object_get(schema, "additionalProperties")) ||
           json_is_object(json_object_get(schema, "unevaluatedProperties"));
}

/* Only the branches right below are looked at, which keeps this check
 * linear in the size of the schema. */
static bool is_closed(const json_t *schema)
{
    if (closes_itself(schema)) return true;
    size_t i;
    const json_t *b;
    json_array_foreach(json_object_get(schema, "allOf"), i, b)
    {
        if (closes_itself(b)) return true;
    }
    static const char *const every_branch[] = {"anyOf", "oneOf"};
    for (size_t k = 0; k < 2; k++) {
        const json_t *branches = json_object_get(schema, every_branch[k]);
        if (json_array_size(branches) == 0) continue;
        bool all = true;
        json_array_foreach((json_t *)branches, i, b) all = all && closes_itself(b);
        if (all) return true;
    }
    return false;
}

static void walk_schema(lint *l, const json_t *schema, int depth, place at);

static void walk_members(lint *l, const json_t *obj, int depth, place at)
{
    const char *key;
    json_t *sub;
    json_object_foreach((json_t *)obj, key, sub)
    {
        size_t mark = path_push_key(l, key);
        walk_schema(l, sub, depth, at);
        path_pop(l, mark);
    }
}

static void walk_elements(lint *l, const json_t *arr, int depth, place at)
{
    size_t i;
    json_t *sub;
    json_array_foreach((json_t *)arr, i, sub)
    {
        size_t mark = path_push_index(l, i);
        walk_schema(l, sub, depth, at);
        path_pop(l, mark);
    }
}

/* Checks one schema at the current path, then the schemas inside it in the
 * order of its keys. depth is this schema's. */
static void walk_schema(lint *l, const json_t *schema, int depth, place at)
{
    if (depth > MAX_DEPTH || ++l->schemas_seen > MAX_SCHEMAS) return;
    /* true accepts anything and has nowhere to put a description. */
    if (json_is_true(schema) && at.input && at.property)
        warn(l, "description-missing",
             tg_xstrdup("Describe this property, so a model knows what to pass."));
    if (!json_is_object(schema)) return;
    if (at.input && at.property && !is_described(l, schema))
        warn(l, "description-missing",
             tg_xstrdup("Describe this property, so a model knows what to pass."));
    bool closed = at.closed_by_parent || is_closed(schema);
    if (at.input && is_object_schema(schema) && !closed && !is_map(schema))
        warn(l, "additional-properties-open",
             tg_xstrdup("Set additionalProperties to false, so a model cannot invent arguments "
                        "the tool does not take."));

    place plain = {.input = at.input};
    place property = {.input = at.input, .property = true};
    place branch = {.input = at.input, .closed_by_parent = closed};
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)schema, key, v)
    {
        size_t mark = path_push_key(l, key);
        if (strcmp(key, "enum") == 0) {
            if (json_array_size(v) > l->max_enum)
                warn(l, "enum-too-large",
                     tg_xasprintf("This enum has %zu values, more than %zu: take a described "
                                  "string instead, or split the tool.",
                                  json_array_size(v), l->max_enum));
        } else if (strcmp(key, "properties") == 0) {
            walk_members(l, v, depth + 1, property);
        } else if (strcmp(key, "patternProperties") == 0 || strcmp(key, "$defs") == 0 ||
                   strcmp(key, "definitions") == 0) {
            walk_members(l, v, depth + 1, plain);
        } else if (strcmp(key, "additionalProperties") == 0) {
            walk_schema(l, v, depth + 1, plain);
        } else if (strcmp(key, "items") == 0) {
            /* An array here is the tuple form of drafts before 2020-12. */
            if (json_is_array(v))
                walk_elements(l, v, depth + 1, plain);
            else
                walk_schema(l, v, depth + 1, plain);
        } else if (strcmp(key, "prefixItems") == 0) {
            walk_elements(l, v, depth + 1, plain);
        } else if (strcmp(key, "allOf") == 0 || strcmp(key, "anyOf") == 0 ||
                   strcmp(key, "oneOf") == 0) {
            walk_elements(l, v, depth + 1, branch);
        }
        path_pop(l, mark);
    }
}

/* Bytes of a JSON string's text once quoted and escaped as jansson does. */
static size_t string_size(const char *s, size_t len)
{
    size_t n = 2;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t')
            n += 2;
        else if (c < 0x20)
            n += 6;
        else
            n += 1;
    }
    return n;
}

static size_t scalar_size(const json_t *v)
{
    char buf[64];
    switch (json_typeof(v)) {
    case JSON_STRING:
        return string_size(json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        return (size_t)snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    case JSON_REAL: {
        /* jansson writes %.17g, adds ".0" when that looks like an integer,
         * and drops an exponent's "+" and leading zeros ("1e+05" is "1e5"). */
        size_t n = (size_t)snprintf(buf, sizeof buf, "%.17g", json_real_value(v));
        const char *e = strchr(buf, 'e');
        if (!e) return n + (strchr(buf, '.') ? 0 : 2);
        if (*++e == '+')
            n--, e++;
        else if (*e == '-')
            e++;
        for (; e[0] == '0' && e[1]; e++)
            n--;
        return n;
    }
    case JSON_TRUE:
    case JSON_NULL:
        return 4;
    case JSON_FALSE:
        return 5;
    default:
        return 0;
    }
}

/* Returns: the bytes of v as compact JSON, or a number above cap once the
 * count passes it. Containers wait on a heap stack rather than the C stack,
 * so any nesting depth is safe; each one popped adds at least as many bytes
 * as it pushes children, so the stack never outgrows the count. */
static size_t compact_size(const json_t *v, size_t cap)
{
    size_t total = 0, len = 0, size = 64;
    const json_t **stack = tg_xmalloc(size * sizeof *stack);
    stack[len++] = v;
    while (len > 0 && total <= cap) {
        const json_t *cur = stack[--len];
        size_t n = json_is_object(cur) ? json_object_size(cur) : json_array_size(cur);
        if (!json_is_object(cur) && !json_is_array(cur)) {
            total += scalar_size(cur);
            continue;
        }
        /* Brackets, and a comma between members. */
        total += 2 + (n > 0 ? n - 1 : 0);
        if (len + n > size) {
            while (len + n > size)
                size *= 2;
            stack = tg_xrealloc(stack, size * sizeof *stack);
        }
        if (json_is_object(cur)) {
            const char *key;
            size_t key_len;
            json_t *sub;
            json_object_keylen_foreach((json_t *)cur, key, key_len, sub)
            {
                total += string_size(key, key_len) + 1;
                stack[len++] = sub;
            }
        } else {
            size_t i;
            json_t *sub;
            json_array_foreach((json_t *)cur, i, sub) stack[len++] = sub;
        }
    }
    free(stack);
    return total;
}

/* The members of the manifest a client lists as the tool, as the MCP tool
 * object holds them. */
static const char *const definition_keys[] = {"name",        "title",        "description",
                                              "inputSchema", "outputSchema", "annotations"};

static void check_token_budget(lint *l, const json_t *manifest)
{
    /* No definition held in memory can pass a budget this large. */
    if (l->token_budget >= SIZE_MAX / BYTES_PER_TOKEN - 1) return;
    size_t cap = l->token_budget * BYTES_PER_TOKEN + BYTES_PER_TOKEN;
    if (cap < MAX_COUNTED_BYTES) cap = MAX_COUNTED_BYTES;
    size_t bytes = 2, members = 0;
    for (size_t i = 0; i < sizeof definition_keys / sizeof *definition_keys && bytes <= cap; i++) {
        const json_t *v = json_object_get(manifest, definition_keys[i]);
        if (!v) continue;
        bytes += (members++ ? 1 : 0) + string_size(definition_keys[i], strlen(definition_keys[i])) +
                 1 + compact_size(v, cap - bytes);
    }
    size_t tokens = bytes / BYTES_PER_TOKEN + (bytes % BYTES_PER_TOKEN ? 1 : 0);
    if (tokens <= l->token_budget) return;
    warn(l, "token-budget",
         tg_xasprintf("The definition is %s %zu tokens, over the budget of %zu: shorten its "
                      "descriptions or split the tool.",
                      bytes > cap ? "more than" : "about", tokens, l->token_budget));
}

static void check_input_root(lint *l, const json_t *input)
{
    const char *type = json_string_value(json_object_get(input, "type"));
    if (type && strcmp(type, "object") == 0) return;
    size_t mark = path_push_key(l, "inputSchema");
    warn(l, "input-not-object",
         tg_xstrdup("Make inputSchema a schema of \"type\": \"object\", as MCP requires of "
                    "tool arguments."));
    path_pop(l, mark);
}

json_t *tg_lint_tool(const json_t *manifest, const tg_lint_options *opts)
{
    lint l = {
        .warnings = json_array(),
        .max_enum = opts && opts->max_enum ? opts->max_enum : DEFAULT_MAX_ENUM,
        .token_budget = opts && opts->token_budget ? opts->token_budget : DEFAULT_TOKEN_BUDGET,
        .input_root = json_object_get(manifest, "inputSchema"),
        .path = tg_xmalloc(64),
        .path_cap = 64,
    };
    l.path[0] = '\0';

    if (!has_text(json_object_get(manifest, "description")))
        warn(&l, "description-missing",
             tg_xstrdup("Describe what the tool does and when to use it, so a model knows when "
                        "to call it."));
    check_token_budget(&l, manifest);
    if (!l.input_root) check_input_root(&l, NULL);

    const char *key;
    json_t *v;
    json_object_foreach((json_t *)manifest, key, v)
    {
        bool input = strcmp(key, "inputSchema") == 0;
        if (!input && strcmp(key, "outputSchema") != 0) continue;
        if (input) check_input_root(&l, v);
        size_t mark = path_push_key(&l, key);
        walk_schema(&l, v, 0, (place){.input = input});
        path_pop(&l, mark);
    }
    free(l.path);
    return l.warnings;
}
