/* The JSON Schema 2020-12 compiler and validator.
 *
 * Compiling happens in two passes. The scan pass walks every schema document
 * (the root, embedded resources, remote documents as they are needed) through
 * the keywords that hold subschemas, and records for each subschema the
 * resource it belongs to ($id), its location, and the anchors it defines. The
 * compile pass turns each subschema into a node: keyword values checked and
 * converted (numbers, property tables, PCRE2 patterns, format checkers) and
 * every $ref linked to the node it names. A compiled schema is immutable, so
 * validation needs no lock.
 *
 * Validation walks nodes against the instance. The fast path stops at the first
 * failure and allocates nothing unless unevaluated* keywords need to know which
 * properties or items were evaluated; the collecting path (run only once an
 * instance is known to be invalid) reports every violation with its instance
 * path and schema path. */
#include "schemas/schema.h"

#include "gateway/core/alloc.h"
#include "gateway/core/text.h"
#include "schemas/format.h"
#include "schemas/meta.h"
#include "schemas/regex.h"
#include "schemas/uri.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_NODES      100000
#define DEFAULT_MAX_DEPTH      128
#define DEFAULT_MAX_VIOLATIONS 100
#define DEFAULT_MAX_STEPS      5000000
/* What a pattern search that hit its match limit costs against the step
 * budget: each such search has already burned up to a million PCRE2 steps. */
#define REGEX_LIMIT_COST 250000
/* Nested node evaluations one validation may make: a guard for the C stack
 * against deeply nested instances and recursive schemas. */
#define MAX_EVAL_DEPTH 512

#define META_2020_12 "https://json-schema.org/draft/2020-12/schema"

/* ---- arena: every compile-time allocation lives until tg_schema_free ---- */

typedef struct arena_chunk {
    struct arena_chunk *next;
    size_t used, cap;
    max_align_t data[];
} arena_chunk;

typedef struct arena {
    arena_chunk *head;
} arena;

static void *arena_alloc(arena *a, size_t n)
{
    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    arena_chunk *c = a->head;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > 16384 ? n : 16384;
        c = tg_xmalloc(sizeof *c + cap);
        c->next = a->head;
        c->used = 0;
        c->cap = cap;
        a->head = c;
    }
    void *p = (char *)c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

static char *arena_strdup(arena *a, const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = arena_alloc(a, n);
    memcpy(d, s, n);
    return d;
}

static void arena_free(arena *a)
{
    while (a->head) {
        arena_chunk *next = a->head->next;
        free(a->head);
        a->head = next;
    }
}

/* ---- vocabularies ---- */

enum {
    VOCAB_CORE = 1u << 0,
    VOCAB_APPLICATOR = 1u << 1,
    VOCAB_UNEVALUATED = 1u << 2,
    VOCAB_VALIDATION = 1u << 3,
    VOCAB_METADATA = 1u << 4,
    VOCAB_FORMAT_ANNOTATION = 1u << 5,
    VOCAB_FORMAT_ASSERTION = 1u << 6,
    VOCAB_CONTENT = 1u << 7,
    VOCAB_ALL_2020 = VOCAB_CORE | VOCAB_APPLICATOR | VOCAB_UNEVALUATED | VOCAB_VALIDATION |
                     VOCAB_METADATA | VOCAB_FORMAT_ANNOTATION | VOCAB_CONTENT,
};

static const struct {
    const char *uri;
    uint32_t bit;
} vocabularies[] = {
    {"https://json-schema.org/draft/2020-12/vocab/core", VOCAB_CORE},
    {"https://json-schema.org/draft/2020-12/vocab/applicator", VOCAB_APPLICATOR},
    {"https://json-schema.org/draft/2020-12/vocab/unevaluated", VOCAB_UNEVALUATED},
    {"https://json-schema.org/draft/2020-12/vocab/validation", VOCAB_VALIDATION},
    {"https://json-schema.org/draft/2020-12/vocab/meta-data", VOCAB_METADATA},
    {"https://json-schema.org/draft/2020-12/vocab/format-annotation", VOCAB_FORMAT_ANNOTATION},
    {"https://json-schema.org/draft/2020-12/vocab/format-assertion", VOCAB_FORMAT_ASSERTION},
    {"https://json-schema.org/draft/2020-12/vocab/content", VOCAB_CONTENT},
};

/* Earlier dialects that tool schemas in the wild still declare (many SDKs emit
 * draft-07). They are read with 2020-12 semantics, plus their array form of
 * "items", "additionalItems" and "dependencies". */
static const char *const legacy_dialects[] = {
    "http://json-schema.org/draft-04/schema",
    "http://json-schema.org/draft-06/schema",
    "http://json-schema.org/draft-07/schema",
    "https://json-schema.org/draft/2019-09/schema",
};

/* ---- compiled form ---- */

typedef struct node node;
typedef struct resource resource;

enum {
    T_NULL = 1u << 0,
    T_BOOLEAN = 1u << 1,
    T_OBJECT = 1u << 2,
    T_ARRAY = 1u << 3,
    T_NUMBER = 1u << 4,
    T_INTEGER = 1u << 5,
    T_STRING = 1u << 6,
};

static const char *const type_names[] = {"null",   "boolean", "object", "array",
                                         "number", "integer", "string"};

typedef struct num {
    bool is_int;
    json_int_t i;
    double d;
} num;

typedef struct prop {
    const char *name;
    size_t len;
    uint32_t hash;
    bool required; /* also listed in "required" */
    node *schema;
} prop;

typedef struct pattern_prop {
    const char *source;
    tg_regex *re;
    node *schema;
} pattern_prop;

typedef struct dep_required {
    const char *name;
    const char **names;
    size_t count;
} dep_required;

typedef struct dep_schema {
    const char *name;
    node *schema;
} dep_schema;

typedef struct node_list {
    node **items;
    size_t count;
} node_list;

/* Keyword presence bits, tested before the keyword's fields are read. */
enum {
    K_TYPE = 1u << 0,
    K_CONST = 1u << 1,
    K_ENUM = 1u << 2,
    K_MINIMUM = 1u << 3,
    K_MAXIMUM = 1u << 4,
    K_EXMINIMUM = 1u << 5,
    K_EXMAXIMUM = 1u << 6,
    K_MULTIPLEOF = 1u << 7,
    K_MINLENGTH = 1u << 8,
    K_MAXLENGTH = 1u << 9,
    K_PATTERN = 1u << 10,
    K_FORMAT = 1u << 11,
    K_MINITEMS = 1u << 12,
    K_MAXITEMS = 1u << 13,
    K_UNIQUE = 1u << 14,
    K_MINPROPS = 1u << 15,
    K_MAXPROPS = 1u << 16,
    K_REQUIRED = 1u << 17,
    K_DEPREQUIRED = 1u << 18,
    K_REF = 1u << 19,
    K_DYNREF = 1u << 20,
    K_ALLOF = 1u << 21,
    K_ANYOF = 1u << 22,
    K_ONEOF = 1u << 23,
    K_NOT = 1u << 24,
    K_IF = 1u << 25,
    K_OBJECT_APPLICATORS = 1u << 26, /* properties, patternProperties, additionalProperties */
    K_PROPNAMES = 1u << 27,
    K_DEPSCHEMAS = 1u << 28,
    K_ARRAY_APPLICATORS = 1u << 29, /* prefixItems, items, contains */
    K_UNEVAL_PROPS = 1u << 30,
    K_UNEVAL_ITEMS = 1u << 31,
};

struct node {
    const json_t *json;
    const char *loc; /* where the subschema is, for schemaPath */
    resource *res;
    int boolean; /* -1 for an object schema, else the boolean schema's value */
    uint32_t has;
    uint32_t types;
    const json_t *const_value;
    const json_t *enum_values;
    uint64_t *enum_hashes; /* json_hash_schema of each value, to skip unequal ones */
    num minimum, maximum, exclusive_minimum, exclusive_maximum, multiple_of;
    size_t min_length, max_length, min_items, max_items, min_props, max_props;
    size_t min_contains, max_contains;
    bool has_max_contains;
    const char *pattern_source;
    tg_regex *pattern;
    const char *format_name;
    tg_format_fn format;
    const char **required;
    bool *required_declared; /* required[i] is also in "properties" */
    size_t required_count;
    size_t required_declared_count;
    dep_required *dep_required;
    size_t dep_required_count;
    const char *dep_required_keyword; /* "dependentRequired", or legacy "dependencies" */
    node *ref;
    node *dynref;              /* the static target of $dynamicRef */
    const char *dynref_anchor; /* set when the target may be replaced dynamically */
    node_list all_of, any_of, one_of;
    node *not_, *if_, *then_, *else_;
    prop *props;
    size_t props_count;
    int32_t *props_table; /* open-addressed index into props; size props_mask + 1 */
    uint32_t props_mask;
    pattern_prop *pattern_props;
    size_t pattern_props_count;
    node *additional_props;
    node *property_names;
    dep_schema *dep_schemas;
    size_t dep_schemas_count;
    node_list prefix_items;
    node *items;
    node *contains;
    node *uneval_props;
    node *uneval_items;
    const char *items_keyword; /* "items", or "additionalItems" in legacy dialects */
    bool in_cycle_check;
    bool cycle_checked;
};

typedef struct anchor {
    const char *name;
    json_t *target;
    bool dynamic;
    node *compiled; /* dynamic anchors only: the node a $dynamicRef may jump to */
} anchor;

struct resource {
    const char *uri;
    json_t *root;
    const char *loc;
    uint32_t vocab;
    anchor *anchors;
    size_t anchors_count, anchors_cap;
    resource *next;
};

typedef struct uri_alias {
    const char *uri;
    resource *res;
} uri_alias;

/* What the scan pass knows about a subschema. */
typedef struct subschema_info {
    const json_t *json;
    resource *res;
    const char *loc;
    bool legacy; /* declared by an earlier dialect */
    node *compiled;
} subschema_info;

struct tg_schema {
    arena mem;
    json_t *root_json;
    json_t **owned_docs;
    size_t owned_count, owned_cap;
    tg_regex **regexes;
    size_t regex_count, regex_cap;
    node *root;
    resource *resources;
    size_t max_violations;
    size_t max_steps;
};

/* ---- pointer-keyed hash map from a JSON value to its scan info ---- */

typedef struct info_map {
    subschema_info **slots;
    size_t cap, count;
    subschema_info **order; /* every entry, in the order the scan met them */
} info_map;

static size_t ptr_hash(const void *p)
{
    uintptr_t x = (uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)x;
}

static subschema_info *info_get(const info_map *m, const json_t *j)
{
    if (!m->cap) return NULL;
    for (size_t i = ptr_hash(j) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->slots[i]) return NULL;
        if (m->slots[i]->json == j) return m->slots[i];
    }
}

static void info_put(info_map *m, subschema_info *info)
{
    if ((m->count + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 256;
        subschema_info **slots = tg_xcalloc(cap, sizeof *slots);
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->slots[i]) continue;
            size_t j = ptr_hash(m->slots[i]->json) & (cap - 1);
            while (slots[j])
                j = (j + 1) & (cap - 1);
            slots[j] = m->slots[i];
        }
        free(m->slots);
        m->slots = slots;
        m->cap = cap;
    }
    size_t i = ptr_hash(info->json) & (m->cap - 1);
    while (m->slots[i])
        i = (i + 1) & (m->cap - 1);
    m->slots[i] = info;
    if ((m->count & (m->count - 1)) == 0)
        m->order = tg_xrealloc(m->order, (m->count ? m->count * 2 : 1) * sizeof *m->order);
    m->order[m->count++] = info;
}

/* ---- the compiler ---- */

typedef struct compiler {
    tg_schema *s;
    const tg_schema_options *opts;
    tg_schema_error *err;
    info_map infos;
    uri_alias *aliases;
    size_t alias_count, alias_cap;
    size_t nodes;
    size_t max_nodes, max_depth;
    int rc;
} compiler;

static int fail(compiler *c, int rc, const char *loc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(compiler *c, int rc, const char *loc, const char *fmt, ...)
{
    if (c->rc) return c->rc;
    c->rc = rc;
    if (c->err) {
        tg_format(c->err->schema_path, sizeof c->err->schema_path, "%s", loc);
        va_list ap;
        va_start(ap, fmt);
        tg_vformat(c->err->message, sizeof c->err->message, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* Appends a JSON Pointer token (escaped per RFC 6901) to a location. */
static const char *loc_push(compiler *c, const char *loc, const char *token)
{
    size_t n = strlen(loc), extra = 0;
    for (const char *p = token; *p; p++)
        extra += (*p == '~' || *p == '/') ? 2 : 1;
    char *out = arena_alloc(&c->s->mem, n + extra + 2);
    memcpy(out, loc, n);
    char *o = out + n;
    *o++ = '/';
    for (const char *p = token; *p; p++) {
        if (*p == '~') {
            *o++ = '~';
            *o++ = '0';
        } else if (*p == '/') {
            *o++ = '~';
            *o++ = '1';
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return out;
}

static const char *loc_index(compiler *c, const char *loc, size_t i)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%zu", i);
    return loc_push(c, loc, buf);
}

static resource *find_resource(compiler *c, const char *uri)
{
    for (size_t i = 0; i < c->alias_count; i++)
        if (strcmp(c->aliases[i].uri, uri) == 0) return c->aliases[i].res;
    return NULL;
}

static void add_alias(compiler *c, const char *uri, resource *r)
{
    if (find_resource(c, uri)) return;
    if (c->alias_count == c->alias_cap) {
        c->alias_cap = c->alias_cap ? c->alias_cap * 2 : 16;
        c->aliases = tg_xrealloc(c->aliases, c->alias_cap * sizeof *c->aliases);
    }
    c->aliases[c->alias_count++] = (uri_alias){arena_strdup(&c->s->mem, uri), r};
}

static resource *new_resource(compiler *c, const char *uri, json_t *root, const char *loc,
                              uint32_t vocab)
{
    resource *r = arena_alloc(&c->s->mem, sizeof *r);
    r->uri = arena_strdup(&c->s->mem, uri);
    r->root = root;
    r->loc = loc;
    r->vocab = vocab;
    r->next = c->s->resources;
    c->s->resources = r;
    add_alias(c, uri, r);
    return r;
}

static anchor *find_anchor(resource *r, const char *name)
{
    for (size_t i = 0; i < r->anchors_count; i++)
        if (strcmp(r->anchors[i].name, name) == 0) return &r->anchors[i];
    return NULL;
}

/* Equal anchor names share one string, so the dynamic scope is searched by
 * pointer comparison at validation time. */
static const char *intern_anchor_name(compiler *c, const char *name)
{
    for (resource *r = c->s->resources; r; r = r->next)
        for (size_t i = 0; i < r->anchors_count; i++)
            if (strcmp(r->anchors[i].name, name) == 0) return r->anchors[i].name;
    return arena_strdup(&c->s->mem, name);
}

static int add_anchor(compiler *c, resource *r, const char *name, json_t *target, bool dynamic,
                      const char *loc)
{
    anchor *a = find_anchor(r, name);
    if (a) {
        if (a->target != target)
            return fail(c, TG_SCHEMA_EINVALID, loc, "anchor \"%s\" is defined twice in %s", name,
                        r->uri[0] ? r->uri : "the schema");
        a->dynamic = a->dynamic || dynamic;
        return 0;
    }
    if (r->anchors_count == r->anchors_cap) {
        size_t cap = r->anchors_cap ? r->anchors_cap * 2 : 4;
        anchor *n = arena_alloc(&c->s->mem, cap * sizeof *n);
        if (r->anchors_count) memcpy(n, r->anchors, r->anchors_count * sizeof *n);
        r->anchors = n;
        r->anchors_cap = cap;
    }
    const char *interned = intern_anchor_name(c, name);
    r->anchors[r->anchors_count++] = (anchor){interned, target, dynamic, NULL};
    return 0;
}

static bool valid_anchor_name(const char *s)
{
    /* XML NCName-like, as 2020-12 requires: a letter or '_' first. */
    if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_')) return false;
    for (s++; *s; s++) {
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-' || *s == '.'))
            return false;
    }
    return true;
}

static bool is_legacy_dialect(const char *uri)
{
    for (size_t i = 0; i < sizeof legacy_dialects / sizeof *legacy_dialects; i++) {
        size_t n = strlen(legacy_dialects[i]);
        if (strncmp(uri, legacy_dialects[i], n) == 0 &&
            (uri[n] == '\0' || strcmp(uri + n, "#") == 0))
            return true;
    }
    return false;
}

static json_t *load_document(compiler *c, const char *uri);

/* Reads the vocabularies a dialect's meta-schema declares. */
static int dialect_vocab(compiler *c, const char *dialect, const char *loc, uint32_t *vocab,
                         bool *legacy)
{
    *legacy = false;
    char *doc_uri = tg_uri_strip_fragment(dialect, NULL);
    int rc = 0;
    if (strcmp(doc_uri, META_2020_12) == 0) {
        *vocab = VOCAB_ALL_2020;
        goto out;
    }
    if (is_legacy_dialect(dialect)) {
        *vocab = VOCAB_ALL_2020;
        *legacy = true;
        goto out;
    }
    json_t *meta = load_document(c, doc_uri);
    if (!meta) {
        rc = fail(c, TG_SCHEMA_EREF, loc, "unknown $schema \"%s\"", dialect);
        goto out;
    }
    json_t *declared = json_object_get(meta, "$vocabulary");
    if (!json_is_object(declared)) {
        /* A meta-schema that names no vocabularies extends 2020-12 as it is. */
        *vocab = VOCAB_ALL_2020;
        goto out;
    }
    *vocab = 0;
    const char *key;
    json_t *required;
    json_object_foreach(declared, key, required)
    {
        uint32_t bit = 0;
        for (size_t i = 0; i < sizeof vocabularies / sizeof *vocabularies; i++)
            if (strcmp(vocabularies[i].uri, key) == 0) bit = vocabularies[i].bit;
        if (!bit && json_is_true(required)) {
            rc = fail(c, TG_SCHEMA_EINVALID, loc,
                      "$schema \"%s\" requires vocabulary \"%s\", which this engine does not know",
                      dialect, key);
            goto out;
        }
        *vocab |= bit;
    }
out:
    free(doc_uri);
    return rc;
}

static int scan(compiler *c, json_t *s, resource *res, const char *loc, size_t depth, bool legacy);

static int scan_map(compiler *c, json_t *obj, resource *res, const char *loc, const char *kw,
                    size_t depth, bool legacy)
{
    if (!json_is_object(obj)) return fail(c, TG_SCHEMA_EINVALID, loc, "%s must be an object", kw);
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        int rc = scan(c, v, res, loc_push(c, loc, key), depth + 1, legacy);
        if (rc) return rc;
    }
    return 0;
}

static int scan_array(compiler *c, json_t *arr, resource *res, const char *loc, const char *kw,
                      size_t depth, bool legacy)
{
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return fail(c, TG_SCHEMA_EINVALID, loc, "%s must be a non-empty array of schemas", kw);
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        int rc = scan(c, v, res, loc_index(c, loc, i), depth + 1, legacy);
        if (rc) return rc;
    }
    return 0;
}

static const char *const single_schema_keywords[] = {
    "additionalProperties",
    "propertyNames",
    "items",
    "contains",
    "not",
    "if",
    "then",
    "else",
    "unevaluatedItems",
    "unevaluatedProperties",
    "contentSchema",
    "additionalItems",
};
static const char *const array_schema_keywords[] = {"allOf", "anyOf", "oneOf", "prefixItems"};
static const char *const map_schema_keywords[] = {"$defs", "properties", "patternProperties",
                                                  "dependentSchemas", "definitions"};

/* Records s and everything below it reachable through subschema keywords:
 * a value under an unknown keyword, enum or const is data, not a schema, so
 * an "$id" there identifies nothing. */
static int scan(compiler *c, json_t *s, resource *res, const char *loc, size_t depth, bool legacy)
{
    if (c->rc) return c->rc;
    if (depth > c->max_depth)
        return fail(c, TG_SCHEMA_ELIMIT, loc, "schema is nested more than %zu levels deep",
                    c->max_depth);
    if (!json_is_object(s) && !json_is_boolean(s))
        return fail(c, TG_SCHEMA_EINVALID, loc, "a schema must be an object or a boolean");
    if (info_get(&c->infos, s)) return 0;
    if (++c->nodes > c->max_nodes)
        return fail(c, TG_SCHEMA_ELIMIT, loc, "schema has more than %zu subschemas", c->max_nodes);

    subschema_info *info = arena_alloc(&c->s->mem, sizeof *info);
    info->json = s;
    info->loc = loc;
    if (json_is_boolean(s)) {
        info->res = res;
        info->legacy = legacy;
        info_put(&c->infos, info);
        return 0;
    }

    json_t *dialect = json_object_get(s, "$schema");
    uint32_t vocab = res->vocab;
    if (dialect) {
        if (!json_is_string(dialect))
            return fail(c, TG_SCHEMA_EINVALID, loc_push(c, loc, "$schema"),
                        "$schema must be a string");
        int rc = dialect_vocab(c, json_string_value(dialect), loc_push(c, loc, "$schema"), &vocab,
                               &legacy);
        if (rc) return rc;
    }

    json_t *id = json_object_get(s, "$id");
    if (legacy && !id) id = json_object_get(s, "id");
    if (id && json_is_string(id) && json_string_value(id)[0] != '#') {
        const char *fragment;
        char *abs = tg_uri_resolve(res->uri, json_string_value(id));
        char *doc = tg_uri_strip_fragment(abs, &fragment);
        bool has_fragment = fragment && *fragment; /* fragment points into abs */
        free(abs);
        if (has_fragment) {
            free(doc);
            return fail(c, TG_SCHEMA_EINVALID, loc_push(c, loc, "$id"),
                        "$id must not have a fragment (use $anchor)");
        }
        if (res->root == s) {
            /* A document's own $id names the resource it was retrieved as. */
            if (strcmp(doc, res->uri) != 0) {
                res->uri = arena_strdup(&c->s->mem, doc);
                add_alias(c, doc, res);
            }
        } else {
            resource *existing = find_resource(c, doc);
            res = existing && existing->root == s ? existing : new_resource(c, doc, s, loc, vocab);
        }
        res->vocab = vocab;
        free(doc);
    } else if (id && !json_is_string(id) && !legacy) {
        return fail(c, TG_SCHEMA_EINVALID, loc_push(c, loc, "$id"), "$id must be a string");
    } else if (dialect && res->root == s) {
        res->vocab = vocab;
    }
    info->res = res;
    info->legacy = legacy;
    info_put(&c->infos, info);

    json_t *a = json_object_get(s, "$anchor");
    if (a) {
        if (!json_is_string(a) || !valid_anchor_name(json_string_value(a)))
            return fail(c, TG_SCHEMA_EINVALID, loc_push(c, loc, "$anchor"),
                        "$anchor must be a plain name (a letter or '_', then letters, digits, '-', "
                        "'_' or '.')");
        int rc = add_anchor(c, res, json_string_value(a), s, false, loc);
        if (rc) return rc;
    }
    a = json_object_get(s, "$dynamicAnchor");
    if (a) {
        if (!json_is_string(a) || !valid_anchor_name(json_string_value(a)))
            return fail(c, TG_SCHEMA_EINVALID, loc_push(c, loc, "$dynamicAnchor"),
                        "$dynamicAnchor must be a plain name");
        int rc = add_anchor(c, res, json_string_value(a), s, true, loc);
        if (rc) return rc;
    }
    if (legacy && id && json_is_string(id) && json_string_value(id)[0] == '#' &&
        valid_anchor_name(json_string_value(id) + 1)) {
        int rc = add_anchor(c, res, json_string_value(id) + 1, s, false, loc);
        if (rc) return rc;
    }

    for (size_t i = 0; i < sizeof single_schema_keywords / sizeof *single_schema_keywords; i++) {
        const char *kw = single_schema_keywords[i];
        json_t *v = json_object_get(s, kw);
        if (!v) continue;
        if (json_is_array(v) && (strcmp(kw, "items") == 0) && legacy) {
            int rc = scan_array(c, v, res, loc_push(c, loc, kw), kw, depth, legacy);
            if (rc) return rc;
            continue;
        }
        int rc = scan(c, v, res, loc_push(c, loc, kw), depth + 1, legacy);
        if (rc) return rc;
    }
    for (size_t i = 0; i < sizeof array_schema_keywords / sizeof *array_schema_keywords; i++) {
        json_t *v = json_object_get(s, array_schema_keywords[i]);
        if (!v) continue;
        int rc = scan_array(c, v, res, loc_push(c, loc, array_schema_keywords[i]),
                            array_schema_keywords[i], depth, legacy);
        if (rc) return rc;
    }
    for (size_t i = 0; i < sizeof map_schema_keywords / sizeof *map_schema_keywords; i++) {
        json_t *v = json_object_get(s, map_schema_keywords[i]);
        if (!v) continue;
        int rc = scan_map(c, v, res, loc_push(c, loc, map_schema_keywords[i]),
                          map_schema_keywords[i], depth, legacy);
        if (rc) return rc;
    }
    json_t *deps = json_object_get(s, "dependencies");
    if (deps && json_is_object(deps)) {
        const char *key;
        json_t *v;
        json_object_foreach(deps, key, v)
        {
            if (json_is_array(v)) continue;
            int rc = scan(c, v, res, loc_push(c, loc_push(c, loc, "dependencies"), key), depth + 1,
                          legacy);
            if (rc) return rc;
        }
    }
    return 0;
}

static void own_document(compiler *c, json_t *doc)
{
    tg_schema *s = c->s;
    if (s->owned_count == s->owned_cap) {
        s->owned_cap = s->owned_cap ? s->owned_cap * 2 : 8;
        s->owned_docs = tg_xrealloc(s->owned_docs, s->owned_cap * sizeof *s->owned_docs);
    }
    s->owned_docs[s->owned_count++] = doc;
}

/* Finds or loads the document named uri (no fragment): built-in meta-schemas
 * first, then the caller's resolver. Returns the resource's root (borrowed). */
static json_t *load_document(compiler *c, const char *uri)
{
    resource *r = find_resource(c, uri);
    if (r) return r->root;
    json_t *doc = NULL;
    const char *builtin = tg_schema_builtin(uri);
    if (builtin) doc = json_loads(builtin, 0, NULL);
    if (!doc && c->opts->resolve) doc = c->opts->resolve(uri, c->opts->resolve_userdata);
    if (!doc) return NULL;
    own_document(c, doc);
    char *locbuf = tg_xasprintf("%s#", uri);
    const char *loc = arena_strdup(&c->s->mem, locbuf);
    free(locbuf);
    r = new_resource(c, uri, doc, loc, VOCAB_ALL_2020);
    if (scan(c, doc, r, loc, 0, false)) return NULL;
    return doc;
}

/* Resolves a JSON Pointer fragment (already percent-decoded) from root. */
static json_t *walk_pointer(json_t *root, const char *ptr)
{
    json_t *cur = root;
    if (*ptr == '\0') return cur;
    if (*ptr != '/') return NULL;
    const char *p = ptr + 1;
    for (;;) {
        const char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        char *tok = tg_xmalloc(n + 1);
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            if (p[i] == '~' && i + 1 < n && (p[i + 1] == '0' || p[i + 1] == '1')) {
                tok[k++] = p[i + 1] == '0' ? '~' : '/';
                i++;
            } else {
                tok[k++] = p[i];
            }
        }
        tok[k] = '\0';
        if (json_is_object(cur)) {
            cur = json_object_get(cur, tok);
        } else if (json_is_array(cur)) {
            char *endp;
            unsigned long long idx = strtoull(tok, &endp, 10);
            bool ok = k > 0 && *endp == '\0' && (tok[0] != '0' || k == 1);
            cur = ok ? json_array_get(cur, (size_t)idx) : NULL;
        } else {
            cur = NULL;
        }
        free(tok);
        if (!cur || !end) return cur;
        p = end + 1;
    }
}

static node *compile_node(compiler *c, json_t *s, const char *loc);

typedef struct ref_target {
    json_t *json;
    const char *loc; /* where the target is, needed for a boolean target */
    resource *res;
    const char *anchor_name; /* set when the fragment was a plain-name anchor */
} ref_target;

static int resolve_ref(compiler *c, const char *base, const char *ref, const char *loc,
                       ref_target *out)
{
    memset(out, 0, sizeof *out);
    char *abs = tg_uri_resolve(base, ref);
    const char *fragment;
    char *doc_uri = tg_uri_strip_fragment(abs, &fragment);
    int rc = 0;
    char *decoded = NULL;
    json_t *doc = load_document(c, doc_uri);
    if (c->rc) {
        rc = c->rc;
        goto out;
    }
    if (!doc) {
        rc = fail(c, TG_SCHEMA_EREF, loc, "cannot resolve reference \"%s\" (no document \"%s\")",
                  ref, doc_uri);
        goto out;
    }
    resource *r = find_resource(c, doc_uri);
    if (!fragment || !*fragment) {
        out->json = r->root;
        out->loc = r->loc;
        out->res = r;
        goto out;
    }
    decoded = tg_uri_pct_decode(fragment);
    if (!decoded) {
        rc = fail(c, TG_SCHEMA_EREF, loc, "malformed percent-encoding in reference \"%s\"", ref);
        goto out;
    }
    if (decoded[0] == '/') {
        json_t *target = walk_pointer(r->root, decoded);
        if (!target) {
            rc = fail(c, TG_SCHEMA_EREF, loc, "reference \"%s\" points to nothing", ref);
            goto out;
        }
        if (!info_get(&c->infos, target)) {
            /* A pointer into a place the scan did not treat as a schema (an
             * unknown keyword, say): it is a schema now that it is referenced. */
            char *l = tg_xasprintf("%s%s", r->loc, decoded);
            const char *tloc = arena_strdup(&c->s->mem, l);
            free(l);
            if (scan(c, target, r, tloc, 0, false)) {
                rc = c->rc;
                goto out;
            }
        }
        out->json = target;
        char *l = tg_xasprintf("%s%s", r->loc, decoded);
        out->loc = arena_strdup(&c->s->mem, l);
        free(l);
        out->res = info_get(&c->infos, target)->res;
    } else {
        anchor *a = find_anchor(r, decoded);
        if (!a) {
            rc = fail(c, TG_SCHEMA_EREF, loc, "reference \"%s\": no anchor \"%s\" in %s", ref,
                      decoded, doc_uri[0] ? doc_uri : "the schema");
            goto out;
        }
        out->json = a->target;
        out->res = r;
        out->anchor_name = a->name;
    }
out:
    free(decoded);
    free(doc_uri);
    free(abs);
    return rc;
}

/* ---- keyword compilation ---- */

static bool get_num(const json_t *v, num *out)
{
    if (json_is_integer(v)) {
        *out = (num){true, json_integer_value(v), (double)json_integer_value(v)};
        return true;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        *out = (num){false, 0, d};
        if (d == floor(d) && fabs(d) < 9.2e18) *out = (num){true, (json_int_t)d, d};
        return true;
    }
    return false;
}

static bool get_count(const json_t *v, size_t *out)
{
    num n;
    if (!get_num(v, &n) || !n.is_int || n.i < 0) return false;
    *out = (size_t)n.i;
    return true;
}

static uint64_t json_hash_schema(const json_t *v);

/* The property-table hash: eight bytes a step, since it runs for every member
 * of every object validated against "properties". */
static uint32_t key_hash(const char *s, size_t n)
{
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ n;
    for (; n >= 8; s += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
    }
    /* The last 0-7 bytes, read as at most two loads: assembling them byte by
     * byte in memory and reloading the word stalls store forwarding. */
    uint64_t tail = 0;
    if (n >= 4) {
        uint32_t lo, hi;
        memcpy(&lo, s, 4);
        memcpy(&hi, s + n - 4, 4);
        tail = (uint64_t)lo << 32 | hi;
    } else if (n > 0) {
        tail =
            (uint64_t)(uint8_t)s[0] << 16 | (uint64_t)(uint8_t)s[n >> 1] << 8 | (uint8_t)s[n - 1];
    }
    h = (h ^ tail) * 0xc4ceb9fe1a85ec53ULL;
    return (uint32_t)(h ^ (h >> 29));
}

static uint32_t fnv1a(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static node *compile_child(compiler *c, json_t *v, const char *loc)
{
    return compile_node(c, v, loc);
}

static int compile_list(compiler *c, json_t *arr, node_list *out, const char *loc)
{
    out->count = json_array_size(arr);
    out->items = arena_alloc(&c->s->mem, out->count * sizeof *out->items);
    for (size_t i = 0; i < out->count; i++) {
        out->items[i] = compile_child(c, json_array_get(arr, i), loc_index(c, loc, i));
        if (!out->items[i]) return c->rc;
    }
    return 0;
}

static void keep_regex(compiler *c, tg_regex *re)
{
    tg_schema *s = c->s;
    if (s->regex_count == s->regex_cap) {
        s->regex_cap = s->regex_cap ? s->regex_cap * 2 : 8;
        s->regexes = tg_xrealloc(s->regexes, s->regex_cap * sizeof *s->regexes);
    }
    s->regexes[s->regex_count++] = re;
}

static tg_regex *compile_pattern(compiler *c, const char *pattern, size_t len, const char *loc)
{
    char msg[256];
    tg_regex *re = tg_regex_compile(pattern, len, msg, sizeof msg);
    if (!re) {
        fail(c, TG_SCHEMA_EINVALID, loc, "invalid regular expression \"%s\": %s", pattern, msg);
        return NULL;
    }
    keep_regex(c, re);
    return re;
}

static int compile_types(compiler *c, node *n, json_t *v, const char *loc)
{
    json_t *one = v;
    size_t count = json_is_array(v) ? json_array_size(v) : 1;
    if (!json_is_string(v) && !(json_is_array(v) && count > 0))
        return fail(c, TG_SCHEMA_EINVALID, loc, "type must be a type name or an array of them");
    for (size_t i = 0; i < count; i++) {
        if (json_is_array(v)) one = json_array_get(v, i);
        uint32_t bit = 0;
        for (size_t t = 0; t < sizeof type_names / sizeof *type_names; t++)
            if (json_is_string(one) && strcmp(json_string_value(one), type_names[t]) == 0)
                bit = 1u << t;
        if (!bit)
            return fail(
                c, TG_SCHEMA_EINVALID, loc,
                "type must be one of null, boolean, object, array, number, integer, string");
        if (n->types & bit)
            return fail(c, TG_SCHEMA_EINVALID, loc, "type lists \"%s\" twice",
                        json_string_value(one));
        n->types |= bit;
    }
    n->has |= K_TYPE;
    return 0;
}

static int compile_string_array(compiler *c, json_t *v, const char *loc, const char *kw,
                                const char ***out, size_t *count)
{
    if (!json_is_array(v))
        return fail(c, TG_SCHEMA_EINVALID, loc, "%s must be an array of strings", kw);
    *count = json_array_size(v);
    *out = arena_alloc(&c->s->mem, *count * sizeof **out);
    for (size_t i = 0; i < *count; i++) {
        json_t *e = json_array_get(v, i);
        if (!json_is_string(e))
            return fail(c, TG_SCHEMA_EINVALID, loc_index(c, loc, i),
                        "%s must be an array of strings", kw);
        for (size_t j = 0; j < i; j++)
            if (strcmp((*out)[j], json_string_value(e)) == 0)
                return fail(c, TG_SCHEMA_EINVALID, loc_index(c, loc, i), "%s lists \"%s\" twice",
                            kw, json_string_value(e));
        (*out)[i] = json_string_value(e);
    }
    return 0;
}

static int compile_properties(compiler *c, node *n, json_t *v, const char *loc)
{
    n->props_count = json_object_size(v);
    n->props = arena_alloc(&c->s->mem, n->props_count * sizeof *n->props);
    uint32_t size = 8;
    while (size < n->props_count * 2)
        size *= 2;
    n->props_mask = size - 1;
    n->props_table = arena_alloc(&c->s->mem, size * sizeof *n->props_table);
    memset(n->props_table, 0xff, size * sizeof *n->props_table);
    const char *key;
    json_t *sub;
    size_t i = 0;
    json_object_foreach(v, key, sub)
    {
        prop *p = &n->props[i];
        p->name = key;
        p->len = strlen(key);
        p->hash = key_hash(key, p->len);
        p->schema = compile_child(c, sub, loc_push(c, loc, key));
        if (!p->schema) return c->rc;
        uint32_t slot = p->hash & n->props_mask;
        while (n->props_table[slot] >= 0)
            slot = (slot + 1) & n->props_mask;
        n->props_table[slot] = (int32_t)i;
        i++;
    }
    return 0;
}

static const prop *find_prop(const node *n, const char *key)
{
    size_t len = strlen(key);
    uint32_t h = key_hash(key, len);
    for (uint32_t slot = h & n->props_mask;; slot = (slot + 1) & n->props_mask) {
        int32_t i = n->props_table[slot];
        if (i < 0) return NULL;
        const prop *p = &n->props[i];
        if (p->hash == h && p->len == len && memcmp(p->name, key, len) == 0) return p;
    }
}

static int compile_keywords(compiler *c, node *n, json_t *s, const subschema_info *info)
{
    const char *loc = info->loc;
    uint32_t vocab = info->res->vocab;
    bool format_assert = c->opts->format_assert || (vocab & VOCAB_FORMAT_ASSERTION);
    json_t *v;
#define KW(name)   ((v = json_object_get(s, name)) != NULL)
#define KLOC(name) loc_push(c, loc, name)

    if (KW("$ref")) {
        if (!json_is_string(v))
            return fail(c, TG_SCHEMA_EINVALID, KLOC("$ref"), "$ref must be a string");
        ref_target t;
        if (resolve_ref(c, info->res->uri, json_string_value(v), KLOC("$ref"), &t)) return c->rc;
        n->ref = compile_child(c, t.json, t.loc);
        if (!n->ref) return c->rc;
        n->has |= K_REF;
    }
    if (KW("$dynamicRef")) {
        if (!json_is_string(v))
            return fail(c, TG_SCHEMA_EINVALID, KLOC("$dynamicRef"), "$dynamicRef must be a string");
        ref_target t;
        if (resolve_ref(c, info->res->uri, json_string_value(v), KLOC("$dynamicRef"), &t))
            return c->rc;
        n->dynref = compile_child(c, t.json, t.loc);
        if (!n->dynref) return c->rc;
        /* Only a reference to an anchor that is itself dynamic may be redirected
         * by the dynamic scope; anything else is an ordinary $ref. */
        if (t.anchor_name) {
            anchor *a = find_anchor(t.res, t.anchor_name);
            if (a && a->dynamic) n->dynref_anchor = a->name;
        }
        n->has |= K_DYNREF;
    }
    if (vocab & VOCAB_APPLICATOR) {
        if (KW("allOf")) {
            if (compile_list(c, v, &n->all_of, KLOC("allOf"))) return c->rc;
            n->has |= K_ALLOF;
        }
        if (KW("anyOf")) {
            if (compile_list(c, v, &n->any_of, KLOC("anyOf"))) return c->rc;
            n->has |= K_ANYOF;
        }
        if (KW("oneOf")) {
            if (compile_list(c, v, &n->one_of, KLOC("oneOf"))) return c->rc;
            n->has |= K_ONEOF;
        }
        if (KW("not")) {
            if (!(n->not_ = compile_child(c, v, KLOC("not")))) return c->rc;
            n->has |= K_NOT;
        }
        if (KW("if")) {
            if (!(n->if_ = compile_child(c, v, KLOC("if")))) return c->rc;
            if (KW("then") && !(n->then_ = compile_child(c, v, KLOC("then")))) return c->rc;
            if (KW("else") && !(n->else_ = compile_child(c, v, KLOC("else")))) return c->rc;
            n->has |= K_IF;
        }
        if (KW("properties")) {
            if (compile_properties(c, n, v, KLOC("properties"))) return c->rc;
            n->has |= K_OBJECT_APPLICATORS;
        }
        if (KW("patternProperties")) {
            n->pattern_props_count = json_object_size(v);
            n->pattern_props =
                arena_alloc(&c->s->mem, n->pattern_props_count * sizeof *n->pattern_props);
            const char *key;
            json_t *sub;
            size_t i = 0;
            json_object_foreach(v, key, sub)
            {
                pattern_prop *pp = &n->pattern_props[i++];
                pp->source = key;
                pp->re = compile_pattern(c, key, strlen(key),
                                         loc_push(c, KLOC("patternProperties"), key));
                if (!pp->re) return c->rc;
                if (!(pp->schema =
                          compile_child(c, sub, loc_push(c, KLOC("patternProperties"), key))))
                    return c->rc;
            }
            n->has |= K_OBJECT_APPLICATORS;
        }
        if (KW("additionalProperties")) {
            if (!(n->additional_props = compile_child(c, v, KLOC("additionalProperties"))))
                return c->rc;
            n->has |= K_OBJECT_APPLICATORS;
        }
        if (KW("propertyNames")) {
            if (!(n->property_names = compile_child(c, v, KLOC("propertyNames")))) return c->rc;
            n->has |= K_PROPNAMES;
        }
        if (KW("dependentSchemas")) {
            n->dep_schemas_count = json_object_size(v);
            n->dep_schemas = arena_alloc(&c->s->mem, n->dep_schemas_count * sizeof *n->dep_schemas);
            const char *key;
            json_t *sub;
            size_t i = 0;
            json_object_foreach(v, key, sub)
            {
                n->dep_schemas[i].name = key;
                if (!(n->dep_schemas[i++].schema =
                          compile_child(c, sub, loc_push(c, KLOC("dependentSchemas"), key))))
                    return c->rc;
            }
            n->has |= K_DEPSCHEMAS;
        }
        n->items_keyword = "items";
        if (KW("prefixItems")) {
            if (compile_list(c, v, &n->prefix_items, KLOC("prefixItems"))) return c->rc;
            n->has |= K_ARRAY_APPLICATORS;
        }
        if (KW("items")) {
            if (json_is_array(v) && info->legacy) {
                if (compile_list(c, v, &n->prefix_items, KLOC("items"))) return c->rc;
                if (KW("additionalItems")) {
                    if (!(n->items = compile_child(c, v, KLOC("additionalItems")))) return c->rc;
                    n->items_keyword = "additionalItems";
                }
            } else if (!(n->items = compile_child(c, v, KLOC("items")))) {
                return c->rc;
            }
            n->has |= K_ARRAY_APPLICATORS;
        }
        if (KW("contains")) {
            if (!(n->contains = compile_child(c, v, KLOC("contains")))) return c->rc;
            n->min_contains = 1;
            n->has |= K_ARRAY_APPLICATORS;
        }
    }
    if (KW("dependencies") && json_is_object(v)) {
        /* The pre-2019 keyword: an array means dependentRequired, a schema
         * dependentSchemas. Accepted in every dialect, as it was in the past. */
        const char *key;
        json_t *dep;
        size_t nreq = 0, nsch = 0;
        json_object_foreach(v, key, dep)
        {
            if (json_is_array(dep))
                nreq++;
            else
                nsch++;
        }
        n->dep_required = arena_alloc(&c->s->mem, nreq * sizeof *n->dep_required);
        n->dep_schemas = arena_alloc(&c->s->mem, nsch * sizeof *n->dep_schemas);
        json_object_foreach(v, key, dep)
        {
            if (json_is_array(dep)) {
                dep_required *d = &n->dep_required[n->dep_required_count++];
                d->name = key;
                if (compile_string_array(c, dep, loc_push(c, KLOC("dependencies"), key),
                                         "dependencies", &d->names, &d->count))
                    return c->rc;
            } else {
                dep_schema *d = &n->dep_schemas[n->dep_schemas_count++];
                d->name = key;
                if (!(d->schema = compile_child(c, dep, loc_push(c, KLOC("dependencies"), key))))
                    return c->rc;
            }
        }
        if (nreq) {
            n->has |= K_DEPREQUIRED;
            n->dep_required_keyword = "dependencies";
        }
        if (nsch) n->has |= K_DEPSCHEMAS;
    }
    if (vocab & VOCAB_UNEVALUATED) {
        if (KW("unevaluatedProperties")) {
            if (!(n->uneval_props = compile_child(c, v, KLOC("unevaluatedProperties"))))
                return c->rc;
            n->has |= K_UNEVAL_PROPS;
        }
        if (KW("unevaluatedItems")) {
            if (!(n->uneval_items = compile_child(c, v, KLOC("unevaluatedItems")))) return c->rc;
            n->has |= K_UNEVAL_ITEMS;
        }
    }
    if (vocab & VOCAB_VALIDATION) {
        if (KW("type") && compile_types(c, n, v, KLOC("type"))) return c->rc;
        if (KW("const")) {
            n->const_value = v;
            n->has |= K_CONST;
        }
        if (KW("enum")) {
            if (!json_is_array(v))
                return fail(c, TG_SCHEMA_EINVALID, KLOC("enum"), "enum must be an array");
            n->enum_values = v;
            n->enum_hashes = arena_alloc(&c->s->mem, json_array_size(v) * sizeof *n->enum_hashes);
            for (size_t i = 0; i < json_array_size(v); i++)
                n->enum_hashes[i] = json_hash_schema(json_array_get(v, i));
            n->has |= K_ENUM;
        }
        static const struct {
            const char *name;
            uint32_t bit;
            size_t offset;
        } numeric[] = {
            {"minimum", K_MINIMUM, offsetof(node, minimum)},
            {"maximum", K_MAXIMUM, offsetof(node, maximum)},
            {"exclusiveMinimum", K_EXMINIMUM, offsetof(node, exclusive_minimum)},
            {"exclusiveMaximum", K_EXMAXIMUM, offsetof(node, exclusive_maximum)},
            {"multipleOf", K_MULTIPLEOF, offsetof(node, multiple_of)},
        };
        for (size_t i = 0; i < sizeof numeric / sizeof *numeric; i++) {
            if (!KW(numeric[i].name)) continue;
            num *dst = (num *)((char *)n + numeric[i].offset);
            if (!get_num(v, dst))
                return fail(c, TG_SCHEMA_EINVALID, KLOC(numeric[i].name), "%s must be a number",
                            numeric[i].name);
            if (numeric[i].bit == K_MULTIPLEOF && !(dst->d > 0))
                return fail(c, TG_SCHEMA_EINVALID, KLOC("multipleOf"),
                            "multipleOf must be greater than 0");
            n->has |= numeric[i].bit;
        }
        static const struct {
            const char *name;
            uint32_t bit;
            size_t offset;
        } counts[] = {
            {"minLength", K_MINLENGTH, offsetof(node, min_length)},
            {"maxLength", K_MAXLENGTH, offsetof(node, max_length)},
            {"minItems", K_MINITEMS, offsetof(node, min_items)},
            {"maxItems", K_MAXITEMS, offsetof(node, max_items)},
            {"minProperties", K_MINPROPS, offsetof(node, min_props)},
            {"maxProperties", K_MAXPROPS, offsetof(node, max_props)},
        };
        for (size_t i = 0; i < sizeof counts / sizeof *counts; i++) {
            if (!KW(counts[i].name)) continue;
            if (!get_count(v, (size_t *)((char *)n + counts[i].offset)))
                return fail(c, TG_SCHEMA_EINVALID, KLOC(counts[i].name),
                            "%s must be a non-negative integer", counts[i].name);
            n->has |= counts[i].bit;
        }
        if (KW("uniqueItems")) {
            if (!json_is_boolean(v))
                return fail(c, TG_SCHEMA_EINVALID, KLOC("uniqueItems"),
                            "uniqueItems must be a boolean");
            if (json_is_true(v)) n->has |= K_UNIQUE;
        }
        if (KW("pattern")) {
            if (!json_is_string(v))
                return fail(c, TG_SCHEMA_EINVALID, KLOC("pattern"), "pattern must be a string");
            n->pattern_source = json_string_value(v);
            if (!(n->pattern = compile_pattern(c, json_string_value(v), json_string_length(v),
                                               KLOC("pattern"))))
                return c->rc;
            n->has |= K_PATTERN;
        }
        if (KW("required")) {
            if (compile_string_array(c, v, KLOC("required"), "required", &n->required,
                                     &n->required_count))
                return c->rc;
            if (n->required_count) n->has |= K_REQUIRED;
        }
        if (KW("dependentRequired")) {
            if (!json_is_object(v))
                return fail(c, TG_SCHEMA_EINVALID, KLOC("dependentRequired"),
                            "dependentRequired must be an object");
            size_t count = json_object_size(v);
            n->dep_required = arena_alloc(&c->s->mem, count * sizeof *n->dep_required);
            n->dep_required_count = 0;
            const char *key;
            json_t *dep;
            json_object_foreach(v, key, dep)
            {
                dep_required *d = &n->dep_required[n->dep_required_count++];
                d->name = key;
                if (compile_string_array(c, dep, loc_push(c, KLOC("dependentRequired"), key),
                                         "dependentRequired", &d->names, &d->count))
                    return c->rc;
            }
            n->has |= K_DEPREQUIRED;
            n->dep_required_keyword = "dependentRequired";
        }
        if (n->contains) {
            if (KW("minContains") && !get_count(v, &n->min_contains))
                return fail(c, TG_SCHEMA_EINVALID, KLOC("minContains"),
                            "minContains must be a non-negative integer");
            if (KW("maxContains")) {
                if (!get_count(v, &n->max_contains))
                    return fail(c, TG_SCHEMA_EINVALID, KLOC("maxContains"),
                                "maxContains must be a non-negative integer");
                n->has_max_contains = true;
            }
        }
    }
    /* The fast path counts required properties that are also declared while it
     * walks the members for "properties", instead of looking each one up. */
    if (n->required_count) {
        n->required_declared = arena_alloc(&c->s->mem, n->required_count * sizeof(bool));
        for (size_t i = 0; i < n->required_count && n->props_count; i++) {
            prop *p = (prop *)find_prop(n, n->required[i]);
            if (!p) continue;
            p->required = true;
            n->required_declared[i] = true;
            n->required_declared_count++;
        }
    }
    if (KW("format")) {
        if (!json_is_string(v))
            return fail(c, TG_SCHEMA_EINVALID, KLOC("format"), "format must be a string");
        n->format_name = json_string_value(v);
        n->format = format_assert ? tg_format_lookup(n->format_name) : NULL;
        if (n->format) n->has |= K_FORMAT;
    }
#undef KW
#undef KLOC
    return 0;
}

/* Compiles the subschema s. Object schemas are compiled once, however many
 * places refer to them; boolean schemas are jansson singletons shared by every
 * place they appear, so each place gets its own node with its own location. */
static node *compile_node(compiler *c, json_t *s, const char *loc)
{
    if (c->rc) return NULL;
    if (json_is_boolean(s)) {
        node *b = arena_alloc(&c->s->mem, sizeof *b);
        b->json = s;
        b->loc = loc;
        b->boolean = json_is_true(s);
        return b;
    }
    subschema_info *info = info_get(&c->infos, s);
    if (!info) {
        fail(c, TG_SCHEMA_EINVALID, loc, "internal: subschema was not scanned");
        return NULL;
    }
    if (info->compiled) return info->compiled;
    node *n = arena_alloc(&c->s->mem, sizeof *n);
    info->compiled = n;
    n->json = s;
    n->loc = info->loc;
    n->res = info->res;
    n->boolean = -1;
    if (compile_keywords(c, n, s, info)) return NULL;
    return n;
}

/* A chain of applicators that stay on the same instance location and lead back
 * to where they started would recurse forever for every instance that reaches
 * it, so it is refused at compile time. */
static int check_cycles(compiler *c, node *n);

static int check_list_cycles(compiler *c, const node_list *l)
{
    for (size_t i = 0; i < l->count; i++)
        if (check_cycles(c, l->items[i])) return c->rc;
    return 0;
}

static int check_cycles(compiler *c, node *n)
{
    if (!n || n->cycle_checked) return 0;
    if (n->in_cycle_check)
        return fail(c, TG_SCHEMA_EREF, n->loc,
                    "references loop back to this schema without consuming any of the instance");
    n->in_cycle_check = true;
    if (check_cycles(c, n->ref) || check_cycles(c, n->dynref) || check_list_cycles(c, &n->all_of) ||
        check_list_cycles(c, &n->any_of) || check_list_cycles(c, &n->one_of) ||
        check_cycles(c, n->not_) || check_cycles(c, n->if_) || check_cycles(c, n->then_) ||
        check_cycles(c, n->else_))
        return c->rc;
    for (size_t i = 0; i < n->dep_schemas_count; i++)
        if (check_cycles(c, n->dep_schemas[i].schema)) return c->rc;
    n->in_cycle_check = false;
    n->cycle_checked = true;
    return 0;
}

/* Compiles the dynamic anchors of every resource loaded so far, so that a
 * $dynamicRef can reach them at validation time without compiling anything. */
static int compile_dynamic_anchors(compiler *c)
{
    bool progress = true;
    while (progress && !c->rc) {
        progress = false;
        for (resource *r = c->s->resources; r; r = r->next) {
            for (size_t i = 0; i < r->anchors_count; i++) {
                anchor *a = &r->anchors[i];
                if (!a->dynamic || a->compiled) continue;
                a->compiled = compile_node(c, a->target, "");
                if (!a->compiled) return c->rc;
                progress = true;
            }
        }
    }
    return c->rc;
}

static int compile_document(json_t *schema, const tg_schema_options *opts, tg_schema **out,
                            tg_schema_error *err)
{
    *out = NULL;
    tg_schema *s = tg_xcalloc(1, sizeof *s);
    s->root_json = json_incref(schema);
    s->max_violations = opts->max_violations ? opts->max_violations : DEFAULT_MAX_VIOLATIONS;
    s->max_steps = opts->max_steps ? opts->max_steps : DEFAULT_MAX_STEPS;
    compiler c = {
        .s = s,
        .opts = opts,
        .err = err,
        .max_nodes = opts->max_schema_nodes ? opts->max_schema_nodes : DEFAULT_MAX_NODES,
        .max_depth = opts->max_schema_depth ? opts->max_schema_depth : DEFAULT_MAX_DEPTH,
    };
    const char *base = opts->base_uri ? opts->base_uri : "";
    char *base_doc = tg_uri_strip_fragment(base, NULL);
    resource *root = new_resource(&c, base_doc, schema, "", VOCAB_ALL_2020);
    free(base_doc);
    if (scan(&c, schema, root, "", 0, false) == 0) {
        s->root = compile_node(&c, schema, "");
        if (s->root) compile_dynamic_anchors(&c);
        /* Subschemas nothing refers to are compiled too, so that a broken
         * pattern or keyword in an unused $defs entry is still an error. */
        for (size_t i = 0; i < c.infos.count && !c.rc; i++)
            if (json_is_object(c.infos.order[i]->json))
                compile_node(&c, (json_t *)c.infos.order[i]->json, c.infos.order[i]->loc);
        /* From the root first, so a loop is reported where a reader entering
         * the schema meets it. */
        check_cycles(&c, s->root);
        for (size_t i = 0; i < c.infos.count && !c.rc; i++)
            check_cycles(&c, c.infos.order[i]->compiled);
    }
    free(c.infos.slots);
    free(c.infos.order);
    free(c.aliases);
    if (c.rc) {
        tg_schema_free(s);
        return c.rc;
    }
    *out = s;
    return 0;
}

/* The 2020-12 meta-schema, compiled once per process: it checks what the
 * compiler's own keyword checks let through (a "title" that is not a string,
 * say). It lives until the process ends. */
static tg_schema *meta_schema;

static void compile_meta_schema(void)
{
    const char *text = tg_schema_builtin(META_2020_12);
    json_t *doc = text ? json_loads(text, 0, NULL) : NULL;
    tg_schema_options opts = {0};
    if (doc) compile_document(doc, &opts, &meta_schema, NULL);
    json_decref(doc);
}

const char *tg_schema_builtin(const char *uri)
{
    for (size_t i = 0; i < tg_meta_docs_count; i++)
        if (strcmp(tg_meta_docs[i].uri, uri) == 0) return tg_meta_docs[i].text;
    return NULL;
}

static int check_against_meta_schema(json_t *schema, tg_schema_error *err)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, compile_meta_schema);
    json_t *dialect = json_is_object(schema) ? json_object_get(schema, "$schema") : NULL;
    if (!meta_schema ||
        (dialect && !(json_is_string(dialect) && strncmp(json_string_value(dialect), META_2020_12,
                                                         strlen(META_2020_12)) == 0)))
        return 0;
    tg_schema_violations v;
    if (tg_schema_validate(meta_schema, schema, &v) == 0) return 0;
    if (err) {
        /* Instance paths in the meta-schema's eyes are schema paths in ours. */
        const tg_schema_violation *first = &v.items[0];
        tg_format(err->schema_path, sizeof err->schema_path, "%s", first->path);
        tg_format(err->message, sizeof err->message, "not a valid JSON Schema: %s", first->message);
    }
    tg_schema_violations_free(&v);
    return TG_SCHEMA_EINVALID;
}

int tg_schema_compile(json_t *schema, const tg_schema_options *opts, tg_schema **out,
                      tg_schema_error *err)
{
    static const tg_schema_options defaults = {0};
    if (!opts) opts = &defaults;
    if (err) memset(err, 0, sizeof *err);
    int rc = compile_document(schema, opts, out, err);
    if (rc == 0 && (rc = check_against_meta_schema(schema, err)) != 0) {
        tg_schema_free(*out);
        *out = NULL;
    }
    return rc;
}

void tg_schema_free(tg_schema *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->regex_count; i++)
        tg_regex_free(s->regexes[i]);
    free(s->regexes);
    for (size_t i = 0; i < s->owned_count; i++)
        json_decref(s->owned_docs[i]);
    free(s->owned_docs);
    json_decref(s->root_json);
    arena_free(&s->mem);
    free(s);
}

/* ---- validation ---- */

/* Which properties (by iteration position in the instance object) or items an
 * evaluation has covered, for unevaluatedProperties and unevaluatedItems. */
typedef struct eval_track {
    uint64_t inline_bits;
    uint64_t *bits; /* inline_bits, or heap when the instance has over 64 members */
    size_t words;
    bool all;
} eval_track;

static void track_init(eval_track *t, size_t members)
{
    t->inline_bits = 0;
    t->all = false;
    t->words = (members + 63) / 64;
    t->bits = t->words <= 1 ? &t->inline_bits : tg_xcalloc(t->words, sizeof *t->bits);
    if (t->words == 0) t->words = 1;
}

static void track_free(eval_track *t)
{
    if (t->bits != &t->inline_bits) free(t->bits);
}

static inline void track_mark(eval_track *t, size_t i)
{
    if (t) t->bits[i / 64] |= 1ull << (i % 64);
}

static inline bool track_has(const eval_track *t, size_t i)
{
    return t->all || (t->bits[i / 64] >> (i % 64)) & 1;
}

static void track_merge(eval_track *into, const eval_track *from)
{
    if (!into) return;
    into->all = into->all || from->all;
    for (size_t i = 0; i < into->words && i < from->words; i++)
        into->bits[i] |= from->bits[i];
}

typedef struct path_seg {
    const char *key; /* NULL for an array index */
    size_t index;
} path_seg;

typedef struct ref_frame {
    const node *target;
    const json_t *instance;
} ref_frame;

typedef struct vctx {
    const tg_schema *schema;
    bool collect;
    tg_schema_violations *out;
    path_seg path[MAX_EVAL_DEPTH];
    size_t path_len;
    const resource *scope[MAX_EVAL_DEPTH];
    size_t scope_len;
    ref_frame refs[MAX_EVAL_DEPTH];
    size_t refs_len;
    size_t depth;
    /* Work left before validation gives up: schemas can fan out (allOf of two
     * refs to allOf of two refs ...) into exponential work on a small instance. */
    size_t budget;
} vctx;

static size_t json_member_count(const json_t *x)
{
    return json_is_object(x) ? json_object_size(x) : json_is_array(x) ? json_array_size(x) : 0;
}

/* The i-th token of the instance path (extra_key past the end), with idx as
 * the buffer for an index. */
static const char *path_token(const vctx *c, size_t i, const char *extra_key, char idx[32])
{
    if (i == c->path_len) return extra_key;
    if (c->path[i].key) return c->path[i].key;
    snprintf(idx, 32, "%zu", c->path[i].index);
    return idx;
}

/* Returns: a new string, the JSON Pointer of the current instance location
 * (and extra_key below it, when not NULL), with `reserve` spare bytes after
 * its terminator for the caller. */
static char *instance_pointer(const vctx *c, const char *extra_key, size_t reserve)
{
    size_t tokens = c->path_len + (extra_key != NULL), len = 0;
    char idx[32];
    for (size_t i = 0; i < tokens; i++) {
        const char *tok = path_token(c, i, extra_key, idx);
        len++;
        for (const char *p = tok; *p; p++)
            len += (*p == '~' || *p == '/') ? 2 : 1;
    }
    char *out = tg_xmalloc(len + 1 + reserve), *o = out;
    for (size_t i = 0; i < tokens; i++) {
        const char *tok = path_token(c, i, extra_key, idx);
        *o++ = '/';
        for (const char *p = tok; *p; p++) {
            if (*p == '~' || *p == '/') {
                *o++ = '~';
                *o++ = *p == '~' ? '0' : '1';
            } else {
                *o++ = *p;
            }
        }
    }
    *o = '\0';
    return out;
}

/* Returns a new slot in the context's violation list, or NULL when the list
 * is full (and then marks it truncated). */
static tg_schema_violation *push_violation(vctx *c)
{
    tg_schema_violations *out = c->out;
    if (out->count >= c->schema->max_violations) {
        out->truncated = true;
        return NULL;
    }
    /* Capacity doubles at each power of two (and at 0), so it is never stored. */
    if ((out->count & (out->count - 1)) == 0) {
        size_t cap = out->count ? out->count * 2 : 4;
        out->items = tg_xrealloc(out->items, cap * sizeof *out->items);
    }
    return &out->items[out->count++];
}

/* Records a violation. extra_key names a member below the current instance
 * location (the offending property itself, for "unexpected property"). */
static void emit(vctx *c, const node *n, const char *keyword, const char *extra_key,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void emit(vctx *c, const node *n, const char *keyword, const char *extra_key,
                 const char *fmt, ...)
{
    if (!c->collect) return;
    tg_schema_violation *v = push_violation(c);
    if (!v) return;
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    int ml = vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    size_t mlen = ml < 0 ? 0 : (size_t)ml < sizeof message ? (size_t)ml : sizeof message - 1;
    if (ml >= 0 && (size_t)ml >= sizeof message) mlen = tg_utf8_whole(message, mlen);
    /* The three strings share one allocation, headed by the path. */
    size_t llen = strlen(n->loc), klen = strlen(keyword);
    size_t slen = llen + (klen ? klen + 1 : 0);
    char *block = instance_pointer(c, extra_key, slen + 1 + mlen + 1);
    size_t plen = strlen(block);
    char *schema_path = block + plen + 1;
    memcpy(schema_path, n->loc, llen);
    if (klen) {
        schema_path[llen] = '/';
        memcpy(schema_path + llen + 1, keyword, klen);
    }
    schema_path[slen] = '\0';
    char *msg = schema_path + slen + 1;
    memcpy(msg, message, mlen);
    msg[mlen] = '\0';
    v->path = block;
    v->schema_path = schema_path;
    v->keyword = keyword;
    v->message = msg;
}

/* Shortest decimal form that reads back as the same double. */
static void format_double(char *buf, size_t size, double d)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, d);
        if (strtod(buf, NULL) == d) return;
    }
}

/* A JSON value shown inside a message, cut short when long. */
static void show(char *buf, size_t size, const json_t *v)
{
    if (json_is_real(v)) {
        format_double(buf, size, json_real_value(v));
        return;
    }
    char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    if (!text) {
        snprintf(buf, size, "(value)");
        return;
    }
    size_t len = strlen(text);
    if (len < size) {
        memcpy(buf, text, len + 1);
    } else {
        /* Cut on a UTF-8 boundary and mark the cut. */
        size_t keep = size > 4 ? size - 4 : 0;
        while (keep > 0 && ((unsigned char)text[keep] & 0xC0) == 0x80)
            keep--;
        memcpy(buf, text, keep);
        memcpy(buf + keep, "...", 4);
    }
    free(text);
}

static void show_num(char *buf, size_t size, const num *n)
{
    if (n->is_int && fabs(n->d) < 9e15)
        snprintf(buf, size, "%lld", (long long)n->i);
    else
        format_double(buf, size, n->d);
}

static const char *json_type_name(const json_t *x)
{
    switch (json_typeof(x)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return json_real_value(x) == floor(json_real_value(x)) ? "integer" : "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    default:
        return "null";
    }
}

static uint32_t instance_types(const json_t *x)
{
    switch (json_typeof(x)) {
    case JSON_OBJECT:
        return T_OBJECT;
    case JSON_ARRAY:
        return T_ARRAY;
    case JSON_STRING:
        return T_STRING;
    case JSON_INTEGER:
        return T_INTEGER | T_NUMBER;
    case JSON_REAL: {
        double d = json_real_value(x);
        return d == floor(d) && isfinite(d) ? T_INTEGER | T_NUMBER : T_NUMBER;
    }
    case JSON_TRUE:
    case JSON_FALSE:
        return T_BOOLEAN;
    default:
        return T_NULL;
    }
}

/* Compares an instance number with a schema number without losing precision:
 * long double holds every int64 exactly. Returns <0, 0 or >0. */
static int num_cmp(const json_t *x, const num *limit)
{
    if (json_is_integer(x) && limit->is_int) {
        json_int_t a = json_integer_value(x);
        return a < limit->i ? -1 : a > limit->i;
    }
    long double a = json_is_integer(x) ? (long double)json_integer_value(x) : json_real_value(x);
    long double b = limit->is_int ? (long double)limit->i : limit->d;
    return a < b ? -1 : a > b;
}

/* A number as the decimal its author wrote: digits * 10^exp, read from the
 * shortest representation that converts back to the same double. */
typedef struct decimal {
    uint64_t digits;
    int exp;
} decimal;

static decimal to_decimal(double d)
{
    char buf[40];
    d = fabs(d);
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*e", prec - 1, d);
        if (strtod(buf, NULL) == d) break;
    }
    decimal out = {0, 0};
    const char *p = buf;
    int fraction_digits = 0;
    bool after_point = false;
    for (; *p && *p != 'e'; p++) {
        if (*p == '.') {
            after_point = true;
            continue;
        }
        out.digits = out.digits * 10 + (uint64_t)(*p - '0');
        fraction_digits += after_point;
    }
    out.exp = (*p == 'e' ? (int)strtol(p + 1, NULL, 10) : 0) - fraction_digits;
    return out;
}

static decimal int_decimal(json_int_t i)
{
    return (decimal){i < 0 ? (uint64_t)0 - (uint64_t)i : (uint64_t)i, 0};
}

/* 10^k mod m, by repeated squaring in 128 bits. */
static uint64_t pow10_mod(unsigned k, uint64_t m)
{
    unsigned __int128 result = 1 % m, base = 10 % m;
    for (; k; k >>= 1) {
        if (k & 1) result = result * base % m;
        base = base * base % m;
    }
    return (uint64_t)result;
}

/* multipleOf is decided on the decimals, not on binary floating point, so
 * that 19.99 is a multiple of 0.01 as the person who wrote the schema meant,
 * and 1e308 is a multiple of 0.5 although 1e308 / 0.5 overflows. */
static bool is_multiple(const json_t *x, const num *m)
{
    if (json_is_integer(x) && m->is_int) {
        if (m->i == -1 || m->i == 1) return true;
        return json_integer_value(x) % m->i == 0;
    }
    decimal a =
        json_is_integer(x) ? int_decimal(json_integer_value(x)) : to_decimal(json_real_value(x));
    decimal b = m->is_int ? int_decimal(m->i) : to_decimal(m->d);
    if (a.digits == 0) return true;
    if (b.digits == 0) return false;
    if (a.exp >= b.exp) {
        /* a.digits * 10^(a.exp - b.exp) divisible by b.digits? */
        unsigned __int128 r = a.digits % b.digits;
        return r * pow10_mod((unsigned)(a.exp - b.exp), b.digits) % b.digits == 0;
    }
    /* a.digits divisible by b.digits * 10^(b.exp - a.exp)? */
    unsigned __int128 divisor = b.digits;
    for (int k = a.exp; k < b.exp; k++) {
        divisor *= 10;
        if (divisor > a.digits) return false;
    }
    return a.digits % divisor == 0;
}

static size_t utf8_length(const char *s, size_t n)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        count += ((unsigned char)s[i] & 0xC0) != 0x80;
    return count;
}

/* JSON Schema equality: numbers by value (1 equals 1.0), objects regardless
 * of member order. */
static bool json_equal_schema(const json_t *a, const json_t *b)
{
    bool an = json_is_number(a), bn = json_is_number(b);
    if (an || bn) {
        if (!(an && bn)) return false;
        if (json_is_integer(a) && json_is_integer(b))
            return json_integer_value(a) == json_integer_value(b);
        long double x =
            json_is_integer(a) ? (long double)json_integer_value(a) : json_real_value(a);
        long double y =
            json_is_integer(b) ? (long double)json_integer_value(b) : json_real_value(b);
        return x == y;
    }
    if (json_typeof(a) != json_typeof(b)) return false;
    switch (json_typeof(a)) {
    case JSON_STRING:
        return json_string_length(a) == json_string_length(b) &&
               memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
    case JSON_ARRAY: {
        size_t n = json_array_size(a);
        if (n != json_array_size(b)) return false;
        for (size_t i = 0; i < n; i++)
            if (!json_equal_schema(json_array_get(a, i), json_array_get(b, i))) return false;
        return true;
    }
    case JSON_OBJECT: {
        if (json_object_size(a) != json_object_size(b)) return false;
        const char *key;
        const json_t *v;
        json_object_foreach((json_t *)a, key, v)
        {
            const json_t *w = json_object_get(b, key);
            if (!w || !json_equal_schema(v, w)) return false;
        }
        return true;
    }
    default:
        return true;
    }
}

/* A hash consistent with json_equal_schema, for finding duplicates in large arrays. */
static uint64_t json_hash_schema(const json_t *v)
{
    uint64_t h = 1469598103934665603ULL;
    switch (json_typeof(v)) {
    case JSON_INTEGER:
    case JSON_REAL: {
        double d = json_is_integer(v) ? (double)json_integer_value(v) : json_real_value(v);
        if (d == 0) d = 0; /* -0 equals 0 */
        uint64_t bits;
        memcpy(&bits, &d, sizeof bits);
        return bits * 0x9E3779B97F4A7C15ULL;
    }
    case JSON_STRING: {
        const char *s = json_string_value(v);
        for (size_t i = 0; i < json_string_length(v); i++)
            h = (h ^ (uint8_t)s[i]) * 1099511628211ULL;
        return h;
    }
    case JSON_ARRAY:
        for (size_t i = 0; i < json_array_size(v); i++)
            h = (h ^ json_hash_schema(json_array_get(v, i))) * 1099511628211ULL;
        return h ^ 0xA5;
    case JSON_OBJECT: {
        uint64_t sum = 0;
        const char *key;
        const json_t *m;
        json_object_foreach((json_t *)v, key, m)
        {
            uint64_t kh = fnv1a(key);
            sum += (kh * 31) ^ json_hash_schema(m);
        }
        return sum ^ 0x5A;
    }
    case JSON_TRUE:
        return 1;
    case JSON_FALSE:
        return 2;
    default:
        return 3;
    }
}

typedef struct hashed_item {
    uint64_t hash;
    size_t index;
} hashed_item;

static int cmp_hashed(const void *a, const void *b)
{
    const hashed_item *x = a, *y = b;
    if (x->hash != y->hash) return x->hash < y->hash ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Finds two equal items; returns false when all are distinct. */
static bool find_duplicate(const json_t *arr, size_t *first, size_t *second)
{
    size_t n = json_array_size(arr);
    if (n <= 16) {
        for (size_t i = 0; i < n; i++)
            for (size_t j = i + 1; j < n; j++)
                if (json_equal_schema(json_array_get(arr, i), json_array_get(arr, j))) {
                    *first = i;
                    *second = j;
                    return true;
                }
        return false;
    }
    hashed_item *items = tg_xmalloc(n * sizeof *items);
    for (size_t i = 0; i < n; i++)
        items[i] = (hashed_item){json_hash_schema(json_array_get(arr, i)), i};
    qsort(items, n, sizeof *items, cmp_hashed);
    bool found = false;
    for (size_t i = 0; i < n && !found; i++) {
        for (size_t j = i + 1; j < n && items[j].hash == items[i].hash; j++) {
            if (json_equal_schema(json_array_get(arr, items[i].index),
                                  json_array_get(arr, items[j].index))) {
                *first = items[i].index;
                *second = items[j].index;
                found = true;
                break;
            }
        }
    }
    free(items);
    return found;
}

static bool v_node(vctx *c, const node *n, const json_t *x, eval_track *t);

static inline void spend(vctx *c, size_t cost)
{
    c->budget = c->budget > cost ? c->budget - cost : 0;
}

static inline void path_push_key(vctx *c, const char *key)
{
    if (c->collect) c->path[c->path_len++] = (path_seg){key, 0};
}

static inline void path_push_index(vctx *c, size_t i)
{
    if (c->collect) c->path[c->path_len++] = (path_seg){NULL, i};
}

static inline void path_pop(vctx *c)
{
    if (c->collect) c->path_len--;
}

/* Runs n on x without recording violations: for the subschemas whose failure
 * is not by itself an error (anyOf branches, if, not, contains). */
static bool v_quiet(vctx *c, const node *n, const json_t *x, eval_track *t)
{
    bool saved = c->collect;
    c->collect = false;
    bool ok = v_node(c, n, x, t);
    c->collect = saved;
    return ok;
}

/* Runs n in its own evaluation record, merged into t only when n passes:
 * annotations of failed subschemas do not count. */
static bool v_branch(vctx *c, const node *n, const json_t *x, eval_track *t, bool quiet)
{
    if (!t) return quiet ? v_quiet(c, n, x, NULL) : v_node(c, n, x, NULL);
    eval_track own;
    track_init(&own, json_member_count(x));
    bool ok = quiet ? v_quiet(c, n, x, &own) : v_node(c, n, x, &own);
    if (ok) track_merge(t, &own);
    track_free(&own);
    return ok;
}

static bool v_ref(vctx *c, const node *from, const node *target, const json_t *x, eval_track *t,
                  const char *keyword)
{
    /* The same schema on the same instance location already on the stack
     * means the references recurse without consuming the instance. */
    for (size_t i = c->refs_len; i-- > 0 && c->refs[i].instance == x;) {
        if (c->refs[i].target == target) {
            emit(c, from, keyword, NULL, "schema recursion does not consume the instance");
            return false;
        }
    }
    c->refs[c->refs_len++] = (ref_frame){target, x};
    bool ok = v_node(c, target, x, t);
    c->refs_len--;
    return ok;
}

static const node *dynamic_target(const vctx *c, const node *n)
{
    if (!n->dynref_anchor) return n->dynref;
    /* The outermost resource in the dynamic scope that has the anchor wins. */
    for (size_t i = 0; i < c->scope_len; i++) {
        const resource *r = c->scope[i];
        for (size_t j = 0; j < r->anchors_count; j++) {
            const anchor *a = &r->anchors[j];
            if (a->dynamic && a->name == n->dynref_anchor) return a->compiled;
        }
    }
    return n->dynref;
}

static bool v_types(vctx *c, const node *n, const json_t *x)
{
    if (n->types & instance_types(x)) return true;
    if (c->collect) {
        char want[128] = "";
        size_t len = 0;
        for (size_t t = 0; t < sizeof type_names / sizeof *type_names; t++) {
            if (!(n->types & (1u << t))) continue;
            int w =
                snprintf(want + len, sizeof want - len, "%s%s", len ? " or " : "", type_names[t]);
            if (w > 0) len += (size_t)w;
        }
        emit(c, n, "type", NULL, "must be %s (got %s)", want, json_type_name(x));
    }
    return false;
}

static bool v_enum(vctx *c, const node *n, const json_t *x)
{
    size_t i;
    const json_t *e;
    uint64_t h = json_hash_schema(x);
    json_array_foreach(n->enum_values, i,
                       e) if (n->enum_hashes[i] == h && json_equal_schema(x, e)) return true;
    if (c->collect) {
        char list[384] = "", got[128];
        size_t len = 0;
        json_array_foreach(n->enum_values, i, e)
        {
            char one[96];
            show(one, sizeof one, e);
            int w = snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", one);
            if (w < 0 || (size_t)w >= sizeof list - len) {
                snprintf(list + (len < sizeof list - 6 ? len : sizeof list - 6), 6, ", ...");
                break;
            }
            len += (size_t)w;
        }
        show(got, sizeof got, x);
        emit(c, n, "enum", NULL, "must be one of %s (got %s)", list, got);
    }
    return false;
}

static bool v_number(vctx *c, const node *n, const json_t *x)
{
    bool ok = true;
    char a[64], b[64];
#define NUM_CHECK(bit, field, kw, cond, op)                                                        \
    if ((n->has & bit) && !(num_cmp(x, &n->field) cond)) {                                         \
        ok = false;                                                                                \
        if (!c->collect) return false;                                                             \
        show_num(a, sizeof a, &n->field);                                                          \
        show(b, sizeof b, x);                                                                      \
        emit(c, n, kw, NULL, "must be " op " %s (got %s)", a, b);                                  \
    }
    NUM_CHECK(K_MINIMUM, minimum, "minimum", >= 0, ">=")
    NUM_CHECK(K_MAXIMUM, maximum, "maximum", <= 0, "<=")
    NUM_CHECK(K_EXMINIMUM, exclusive_minimum, "exclusiveMinimum", > 0, ">")
    NUM_CHECK(K_EXMAXIMUM, exclusive_maximum, "exclusiveMaximum", < 0, "<")
#undef NUM_CHECK
    if ((n->has & K_MULTIPLEOF) && !is_multiple(x, &n->multiple_of)) {
        ok = false;
        if (!c->collect) return false;
        show_num(a, sizeof a, &n->multiple_of);
        show(b, sizeof b, x);
        emit(c, n, "multipleOf", NULL, "must be a multiple of %s (got %s)", a, b);
    }
    return ok;
}

static const char *format_article(const char *name)
{
    return strchr("aeiAEI", name[0]) && name[0] ? "an" : "a";
}

static bool v_string(vctx *c, const node *n, const json_t *x)
{
    bool ok = true;
    const char *s = json_string_value(x);
    size_t bytes = json_string_length(x);
    if (n->has & (K_MINLENGTH | K_MAXLENGTH)) {
        size_t len = utf8_length(s, bytes);
        if ((n->has & K_MINLENGTH) && len < n->min_length) {
            ok = false;
            if (!c->collect) return false;
            emit(c, n, "minLength", NULL, "must be at least %zu character%s long (got %zu)",
                 n->min_length, n->min_length == 1 ? "" : "s", len);
        }
        if ((n->has & K_MAXLENGTH) && len > n->max_length) {
            ok = false;
            if (!c->collect) return false;
            emit(c, n, "maxLength", NULL, "must be at most %zu character%s long (got %zu)",
                 n->max_length, n->max_length == 1 ? "" : "s", len);
        }
    }
    if (n->has & K_PATTERN) {
        int m = tg_regex_search(n->pattern, s, bytes);
        if (m == TG_REGEX_ELIMIT) spend(c, REGEX_LIMIT_COST);
        if (m != TG_REGEX_MATCH) {
            ok = false;
            if (!c->collect) return false;
            if (m == TG_REGEX_NOMATCH)
                emit(c, n, "pattern", NULL, "must match pattern \"%s\"", n->pattern_source);
            else if (m == TG_REGEX_ELIMIT)
                emit(c, n, "pattern", NULL,
                     "pattern \"%s\" is too costly to match against this value", n->pattern_source);
            else
                emit(c, n, "pattern", NULL,
                     "pattern \"%s\" could not be matched against this value", n->pattern_source);
        }
    }
    if ((n->has & K_FORMAT) && !n->format(s, bytes)) {
        ok = false;
        if (!c->collect) return false;
        char got[128];
        show(got, sizeof got, x);
        emit(c, n, "format", NULL, "must be %s %s (got %s)", format_article(n->format_name),
             n->format_name, got);
    }
    return ok;
}

/* Edit distance, bounded by small inputs: a hint for a misspelled property. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64) return SIZE_MAX;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best) best = row[j] + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static void emit_unexpected(vctx *c, const node *n, const char *keyword, const node *owner,
                            const json_t *obj, const char *key)
{
    if (!c->collect) return;
    /* Suggest the nearest declared property the instance does not already have. */
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    for (size_t i = 0; owner && i < owner->props_count; i++) {
        const char *name = owner->props[i].name;
        size_t nl = strlen(name), kl = strlen(key);
        /* Lengths that differ by more than the accepted distance cannot match. */
        if ((nl > kl ? nl - kl : kl - nl) > 2 || json_object_get(obj, name)) continue;
        size_t d = edit_distance(key, name);
        if (d < best_d) {
            best_d = d;
            best = owner->props[i].name;
        }
    }
    size_t keylen = strlen(key);
    if (best && best_d <= (keylen > 5 ? 2 : 1))
        emit(c, n, keyword, key, "unexpected property \"%s\" (did you mean \"%s\"?)", key, best);
    else
        emit(c, n, keyword, key, "unexpected property \"%s\"", key);
}

static bool v_object(vctx *c, const node *n, const json_t *x, eval_track *t)
{
    bool ok = true;
    size_t size = json_object_size(x);
    if ((n->has & K_MINPROPS) && size < n->min_props) {
        ok = false;
        if (!c->collect) return false;
        emit(c, n, "minProperties", NULL, "must have at least %zu propert%s (got %zu)",
             n->min_props, n->min_props == 1 ? "y" : "ies", size);
    }
    if ((n->has & K_MAXPROPS) && size > n->max_props) {
        ok = false;
        if (!c->collect) return false;
        emit(c, n, "maxProperties", NULL, "must have at most %zu propert%s (got %zu)", n->max_props,
             n->max_props == 1 ? "y" : "ies", size);
    }
    if (n->has & K_REQUIRED) {
        for (size_t i = 0; i < n->required_count; i++) {
            if ((!c->collect && n->required_declared[i]) || json_object_get(x, n->required[i]))
                continue;
            ok = false;
            if (!c->collect) return false;
            emit(c, n, "required", NULL, "missing required property \"%s\"", n->required[i]);
        }
    }
    if (n->has & K_DEPREQUIRED) {
        for (size_t i = 0; i < n->dep_required_count; i++) {
            const dep_required *d = &n->dep_required[i];
            if (!json_object_get(x, d->name)) continue;
            for (size_t j = 0; j < d->count; j++) {
                if (json_object_get(x, d->names[j])) continue;
                ok = false;
                if (!c->collect) return false;
                emit(c, n, n->dep_required_keyword, NULL,
                     "missing property \"%s\" (required when \"%s\" is present)", d->names[j],
                     d->name);
            }
        }
    }
    if (n->has & K_OBJECT_APPLICATORS) {
        const char *key;
        const json_t *v;
        size_t i = 0, seen_required = 0;
        json_object_foreach((json_t *)x, key, v)
        {
            bool matched = false;
            if (n->props_count) {
                const prop *p = find_prop(n, key);
                if (p) {
                    seen_required += p->required;
                    matched = true;
                    track_mark(t, i);
                    path_push_key(c, key);
                    bool pok = v_node(c, p->schema, v, NULL);
                    path_pop(c);
                    if (!pok) {
                        ok = false;
                        if (!c->collect) return false;
                    }
                }
            }
            for (size_t k = 0; k < n->pattern_props_count; k++) {
                const pattern_prop *pp = &n->pattern_props[k];
                int m = tg_regex_search(pp->re, key, strlen(key));
                if (m == TG_REGEX_ELIMIT) spend(c, REGEX_LIMIT_COST);
                if (m < 0) {
                    ok = false;
                    if (!c->collect) return false;
                    emit(c, n, "patternProperties", key,
                         "pattern \"%s\" is too costly to match against this property name",
                         pp->source);
                    continue;
                }
                if (m != TG_REGEX_MATCH) continue;
                matched = true;
                track_mark(t, i);
                path_push_key(c, key);
                bool pok = v_node(c, pp->schema, v, NULL);
                path_pop(c);
                if (!pok) {
                    ok = false;
                    if (!c->collect) return false;
                }
            }
            if (!matched && n->additional_props) {
                track_mark(t, i);
                if (n->additional_props->boolean == 0) {
                    ok = false;
                    if (!c->collect) return false;
                    emit_unexpected(c, n, "additionalProperties", n, x, key);
                } else {
                    path_push_key(c, key);
                    bool pok = v_node(c, n->additional_props, v, NULL);
                    path_pop(c);
                    if (!pok) {
                        ok = false;
                        if (!c->collect) return false;
                    }
                }
            }
            i++;
        }
        if (!c->collect && seen_required < n->required_declared_count) return false;
    }
    if (n->has & K_PROPNAMES) {
        const char *key;
        const json_t *v;
        json_object_foreach((json_t *)x, key, v)
        {
            json_t *name = json_string(key);
            bool nok = v_quiet(c, n->property_names, name, NULL);
            if (!nok && c->collect) {
                /* Say why the name is refused, at the member it names. */
                tg_schema_violations inner = {0}, *saved = c->out;
                c->out = &inner;
                v_node(c, n->property_names, name, NULL);
                c->out = saved;
                emit(c, n, "propertyNames", key, "invalid property name \"%s\": %s", key,
                     inner.count ? inner.items[0].message : "refused by propertyNames");
                tg_schema_violations_free(&inner);
            }
            json_decref(name);
            if (!nok) {
                ok = false;
                if (!c->collect) return false;
            }
        }
    }
    if (n->has & K_DEPSCHEMAS) {
        for (size_t i = 0; i < n->dep_schemas_count; i++) {
            if (!json_object_get(x, n->dep_schemas[i].name)) continue;
            if (!v_node(c, n->dep_schemas[i].schema, x, t)) {
                ok = false;
                if (!c->collect) return false;
            }
        }
    }
    return ok;
}

static bool v_array(vctx *c, const node *n, const json_t *x, eval_track *t)
{
    bool ok = true;
    size_t size = json_array_size(x);
    if ((n->has & K_MINITEMS) && size < n->min_items) {
        ok = false;
        if (!c->collect) return false;
        emit(c, n, "minItems", NULL, "must have at least %zu item%s (got %zu)", n->min_items,
             n->min_items == 1 ? "" : "s", size);
    }
    if ((n->has & K_MAXITEMS) && size > n->max_items) {
        ok = false;
        if (!c->collect) return false;
        emit(c, n, "maxItems", NULL, "must have at most %zu item%s (got %zu)", n->max_items,
             n->max_items == 1 ? "" : "s", size);
    }
    if (n->has & K_UNIQUE) {
        size_t a, b;
        if (find_duplicate(x, &a, &b)) {
            ok = false;
            if (!c->collect) return false;
            emit(c, n, "uniqueItems", NULL,
                 "must not contain duplicates (items %zu and %zu are equal)", a, b);
        }
    }
    if (n->has & K_ARRAY_APPLICATORS) {
        size_t prefix = n->prefix_items.count < size ? n->prefix_items.count : size;
        for (size_t i = 0; i < prefix; i++) {
            track_mark(t, i);
            path_push_index(c, i);
            bool iok = v_node(c, n->prefix_items.items[i], json_array_get(x, i), NULL);
            path_pop(c);
            if (!iok) {
                ok = false;
                if (!c->collect) return false;
            }
        }
        if (n->items) {
            if (t && size > prefix) t->all = true;
            for (size_t i = prefix; i < size; i++) {
                if (n->items->boolean == 0) {
                    ok = false;
                    if (!c->collect) return false;
                    emit(c, n, n->items_keyword, NULL, "must have at most %zu item%s (got %zu)",
                         prefix, prefix == 1 ? "" : "s", size);
                    break;
                }
                path_push_index(c, i);
                bool iok = v_node(c, n->items, json_array_get(x, i), NULL);
                path_pop(c);
                if (!iok) {
                    ok = false;
                    if (!c->collect) return false;
                }
            }
        }
        if (n->contains) {
            size_t found = 0;
            for (size_t i = 0; i < size; i++) {
                if (v_quiet(c, n->contains, json_array_get(x, i), NULL)) {
                    found++;
                    track_mark(t, i);
                    /* Without unevaluatedItems or maxContains, enough is enough. */
                    if (!t && !n->has_max_contains && found >= n->min_contains) break;
                }
            }
            if (found < n->min_contains) {
                ok = false;
                if (!c->collect) return false;
                const char *kw = n->min_contains == 1 ? "contains" : "minContains";
                emit(c, n, kw, NULL, "must contain at least %zu item%s matching contains (got %zu)",
                     n->min_contains, n->min_contains == 1 ? "" : "s", found);
            }
            if (n->has_max_contains && found > n->max_contains) {
                ok = false;
                if (!c->collect) return false;
                emit(c, n, "maxContains", NULL,
                     "must contain at most %zu item%s matching contains (got %zu)", n->max_contains,
                     n->max_contains == 1 ? "" : "s", found);
            }
        }
    }
    return ok;
}

/* True when path is a direct member of parent: "/a/b" of "/a". */
static bool is_member_path(const char *path, const char *parent)
{
    size_t n = strlen(parent);
    return strncmp(path, parent, n) == 0 && path[n] == '/' && !strchr(path + n + 1, '/');
}

/* Reports why no branch of an anyOf or oneOf matched. A branch that fails on
 * its discriminator (the instance's type, or a member's const or enum) was
 * plainly not meant; when some branch was meant, only its violations are
 * reported, so a tagged union's error names the missing field and not every
 * other variant's tag. */
static void emit_branches(vctx *c, const node_list *branches, const json_t *x)
{
    tg_schema_violations *saved = c->out;
    tg_schema_violations *per = tg_xcalloc(branches->count, sizeof *per);
    bool *rejected = tg_xcalloc(branches->count, sizeof *rejected);
    char *here = instance_pointer(c, NULL, 0);
    size_t meant = 0;
    for (size_t i = 0; i < branches->count; i++) {
        c->out = &per[i];
        v_node(c, branches->items[i], x, NULL);
        for (size_t j = 0; j < per[i].count && !rejected[i]; j++) {
            const tg_schema_violation *v = &per[i].items[j];
            rejected[i] = (strcmp(v->keyword, "type") == 0 && strcmp(v->path, here) == 0) ||
                          ((strcmp(v->keyword, "const") == 0 || strcmp(v->keyword, "enum") == 0) &&
                           is_member_path(v->path, here));
        }
        meant += !rejected[i];
    }
    c->out = saved;
    for (size_t i = 0; i < branches->count; i++) {
        for (size_t j = 0; j < per[i].count; j++) {
            tg_schema_violation *slot = (meant == 0 || !rejected[i]) ? push_violation(c) : NULL;
            if (slot) {
                *slot = per[i].items[j];
            } else {
                free(per[i].items[j].path);
            }
        }
        saved->truncated = saved->truncated || per[i].truncated;
        free(per[i].items);
    }
    free(here);
    free(rejected);
    free(per);
}

static bool v_combinators(vctx *c, const node *n, const json_t *x, eval_track *t)
{
    bool ok = true;
    if (n->has & K_ALLOF) {
        for (size_t i = 0; i < n->all_of.count; i++) {
            if (!v_node(c, n->all_of.items[i], x, t)) {
                ok = false;
                if (!c->collect) return false;
            }
        }
    }
    if (n->has & K_ANYOF) {
        size_t matched = 0;
        for (size_t i = 0; i < n->any_of.count; i++) {
            if (v_branch(c, n->any_of.items[i], x, t, true)) {
                matched++;
                /* Annotations of every passing branch count for unevaluated*. */
                if (!t) break;
            }
        }
        if (!matched) {
            ok = false;
            if (!c->collect) return false;
            emit(c, n, "anyOf", NULL, "must match at least one of the %zu schemas in anyOf",
                 n->any_of.count);
            emit_branches(c, &n->any_of, x);
        }
    }
    if (n->has & K_ONEOF) {
        size_t matched = 0, first = 0, second = 0;
        for (size_t i = 0; i < n->one_of.count && matched < 2; i++) {
            if (v_branch(c, n->one_of.items[i], x, t, true)) {
                if (matched++)
                    second = i;
                else
                    first = i;
            }
        }
        if (matched != 1) {
            ok = false;
            if (!c->collect) return false;
            if (matched == 0) {
                emit(c, n, "oneOf", NULL,
                     "must match exactly one of the %zu schemas in oneOf (matched none)",
                     n->one_of.count);
                emit_branches(c, &n->one_of, x);
            } else {
                emit(c, n, "oneOf", NULL,
                     "must match exactly one of the %zu schemas in oneOf (matched %zu and %zu)",
                     n->one_of.count, first, second);
            }
        }
    }
    if (n->has & K_NOT) {
        if (v_quiet(c, n->not_, x, NULL)) {
            ok = false;
            if (!c->collect) return false;
            emit(c, n, "not", NULL, "must not match the schema in not");
        }
    }
    if (n->has & K_IF) {
        bool cond = v_branch(c, n->if_, x, t, true);
        const node *next = cond ? n->then_ : n->else_;
        if (next && !v_node(c, next, x, t)) {
            ok = false;
            if (!c->collect) return false;
        }
    }
    return ok;
}

static bool v_unevaluated(vctx *c, const node *n, const json_t *x, eval_track *own)
{
    bool ok = true;
    if ((n->has & K_UNEVAL_PROPS) && json_is_object(x)) {
        const char *key;
        const json_t *v;
        size_t i = 0;
        json_object_foreach((json_t *)x, key, v)
        {
            if (!track_has(own, i)) {
                if (n->uneval_props->boolean == 0) {
                    ok = false;
                    if (!c->collect) return false;
                    emit_unexpected(c, n, "unevaluatedProperties", n, x, key);
                } else {
                    path_push_key(c, key);
                    bool pok = v_node(c, n->uneval_props, v, NULL);
                    path_pop(c);
                    if (!pok) {
                        ok = false;
                        if (!c->collect) return false;
                    }
                }
            }
            i++;
        }
        own->all = true;
    }
    if ((n->has & K_UNEVAL_ITEMS) && json_is_array(x)) {
        size_t size = json_array_size(x);
        for (size_t i = 0; i < size; i++) {
            if (track_has(own, i)) continue;
            if (n->uneval_items->boolean == 0) {
                ok = false;
                if (!c->collect) return false;
                emit(c, n, "unevaluatedItems", NULL, "unexpected item at index %zu", i);
                continue;
            }
            path_push_index(c, i);
            bool iok = v_node(c, n->uneval_items, json_array_get(x, i), NULL);
            path_pop(c);
            if (!iok) {
                ok = false;
                if (!c->collect) return false;
            }
        }
        own->all = true;
    }
    return ok;
}

static bool v_node_body(vctx *c, const node *n, const json_t *x, eval_track *t)
{
    bool ok = true;
#define STEP(expr)                                                                                 \
    if (!(expr)) {                                                                                 \
        ok = false;                                                                                \
        if (!c->collect) return false;                                                             \
    }
    if (n->has & K_TYPE) STEP(v_types(c, n, x));
    if (n->has & K_CONST) {
        if (!json_equal_schema(x, n->const_value)) {
            ok = false;
            if (!c->collect) return false;
            char want[128], got[128];
            show(want, sizeof want, n->const_value);
            show(got, sizeof got, x);
            emit(c, n, "const", NULL, "must be %s (got %s)", want, got);
        }
    }
    if (n->has & K_ENUM) STEP(v_enum(c, n, x));
    switch (json_typeof(x)) {
    case JSON_INTEGER:
    case JSON_REAL:
        STEP(v_number(c, n, x));
        break;
    case JSON_STRING:
        STEP(v_string(c, n, x));
        break;
    case JSON_OBJECT:
        STEP(v_object(c, n, x, t));
        break;
    case JSON_ARRAY:
        STEP(v_array(c, n, x, t));
        break;
    default:
        break;
    }
    if (n->has & K_REF) STEP(v_ref(c, n, n->ref, x, t, "$ref"));
    if (n->has & K_DYNREF) STEP(v_ref(c, n, dynamic_target(c, n), x, t, "$dynamicRef"));
    if (n->has & (K_ALLOF | K_ANYOF | K_ONEOF | K_NOT | K_IF)) STEP(v_combinators(c, n, x, t));
#undef STEP
    return ok;
}

static bool v_node(vctx *c, const node *n, const json_t *x, eval_track *t)
{
    /* Once the budget is spent every evaluation fails, and the caller reports
     * the instance invalid whatever the failures combined into. */
    if (c->budget == 0) return false;
    c->budget--;
    if (n->boolean >= 0) {
        if (n->boolean) return true;
        emit(c, n, "", NULL, "no value is allowed here");
        return false;
    }
    if (c->depth >= MAX_EVAL_DEPTH - 1 || c->path_len >= MAX_EVAL_DEPTH - 1) {
        emit(c, n, "", NULL, "instance is nested too deeply to validate");
        return false;
    }
    c->depth++;
    bool pushed = false;
    if (c->scope_len == 0 || c->scope[c->scope_len - 1] != n->res) {
        c->scope[c->scope_len++] = n->res;
        pushed = true;
    }
    bool ok;
    if ((n->has & (K_UNEVAL_PROPS | K_UNEVAL_ITEMS)) && (json_is_object(x) || json_is_array(x))) {
        /* unevaluated* sees only what this schema's own keywords evaluated,
         * so it keeps its own record and hands it up afterwards. */
        eval_track own;
        track_init(&own, json_member_count(x));
        ok = v_node_body(c, n, x, &own);
        if (ok || c->collect) ok = v_unevaluated(c, n, x, &own) && ok;
        if (ok) track_merge(t, &own);
        track_free(&own);
    } else {
        ok = v_node_body(c, n, x, t);
    }
    if (pushed) c->scope_len--;
    c->depth--;
    return ok;
}

/* The context lives on the caller's stack (about 20 KiB): the fast path must
 * not allocate. */
static void vctx_start(vctx *c, const tg_schema *s, tg_schema_violations *out)
{
    c->schema = s;
    c->collect = out != NULL;
    c->out = out;
    c->path_len = c->scope_len = c->refs_len = c->depth = 0;
    c->budget = s->max_steps;
}

bool tg_schema_valid(const tg_schema *s, const json_t *instance)
{
    vctx c;
    vctx_start(&c, s, NULL);
    return v_node(&c, s->root, instance, NULL) && c.budget > 0;
}

int tg_schema_validate(const tg_schema *s, const json_t *instance, tg_schema_violations *out)
{
    if (!out) return tg_schema_valid(s, instance) ? 0 : 1;
    memset(out, 0, sizeof *out);
    /* One collecting pass: on a valid instance it costs little more than the
     * fast path, and an invalid one is not walked twice. */
    vctx c;
    vctx_start(&c, s, out);
    bool ok = v_node(&c, s->root, instance, NULL);
    if (c.budget == 0) {
        c.budget = 1;
        emit(&c, s->root, "", NULL,
             "validation stopped: the schema takes more than %zu steps on this instance",
             s->max_steps);
        return 1;
    }
    return ok ? 0 : 1;
}

json_t *tg_schema_violations_json(const tg_schema_violations *v)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < v->count; i++) {
        const tg_schema_violation *e = &v->items[i];
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s}", "path", e->path, "schemaPath",
                                             e->schema_path, "keyword", e->keyword, "message",
                                             e->message));
    }
    return arr;
}

void tg_schema_violations_free(tg_schema_violations *v)
{
    if (!v) return;
    for (size_t i = 0; i < v->count; i++)
        free(v->items[i].path);
    free(v->items);
    memset(v, 0, sizeof *v);
}
