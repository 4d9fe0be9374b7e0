/* Redacting arguments for the audit log; see redact.h.
 *
 * The instance and the schema are walked together. At each instance location
 * the walk gathers the set of subschemas that apply there (following the
 * in-place applicators and references), redacts the whole value if any of
 * them is marked sensitive, and otherwise derives each child's set from the
 * child applicators of the set. Every uncertainty resolves towards redaction.
 *
 * The work is bounded on hostile input: a subschema enters a location's set at
 * most once, which ends $ref cycles and keeps fans of references linear; the
 * applicator chain at one location and the instance nesting have depth limits.
 *
 * jansson's iteration macros take json_t *, so const inputs are cast for
 * them; nothing here modifies the schema or the arguments. */
#include "gateway/calls/redact.h"

#include "gateway/core/alloc.h"
#include "schemas/regex.h"
#include "schemas/uri.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* In-place applicators (allOf inside anyOf inside $ref ...) followed at one
 * instance location. A chain longer than any real schema needs makes the
 * location count as sensitive rather than be cut short silently. */
#define MAX_APPLY_DEPTH 64

/* ---- pointer-keyed open-addressing map ---- */

typedef struct ptrmap {
    const void **keys; /* NULL marks a free slot */
    void **vals;
    size_t cap, count; /* cap is 0 or a power of two, at least twice count */
} ptrmap;

static size_t ptr_hash(const void *p)
{
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= UINT64_C(0xff51afd7ed558ccd);
    x ^= x >> 33;
    return (size_t)x;
}

static size_t ptrmap_slot(const ptrmap *m, const void *key)
{
    size_t mask = m->cap - 1, i = ptr_hash(key) & mask;
    while (m->keys[i] && m->keys[i] != key)
        i = (i + 1) & mask;
    return i;
}

static void *ptrmap_get(const ptrmap *m, const void *key)
{
    if (m->cap == 0) return NULL;
    size_t i = ptrmap_slot(m, key);
    return m->keys[i] ? m->vals[i] : NULL;
}

static void ptrmap_grow(ptrmap *m)
{
    ptrmap old = *m;
    m->cap = old.cap ? old.cap * 2 : 16;
    m->keys = tg_xcalloc(m->cap, sizeof *m->keys);
    m->vals = tg_xcalloc(m->cap, sizeof *m->vals);
    for (size_t i = 0; i < old.cap; i++) {
        if (!old.keys[i]) continue;
        size_t j = ptrmap_slot(m, old.keys[i]);
        m->keys[j] = old.keys[i];
        m->vals[j] = old.vals[i];
    }
    free(old.keys);
    free(old.vals);
}

/* Returns false, changing nothing, when key is already there. */
static bool ptrmap_put(ptrmap *m, const void *key, void *val)
{
    if (2 * (m->count + 1) > m->cap) ptrmap_grow(m);
    size_t i = ptrmap_slot(m, key);
    if (m->keys[i]) return false;
    m->keys[i] = key;
    m->vals[i] = val;
    m->count++;
    return true;
}

static void ptrmap_free(ptrmap *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

/* ---- the walk ---- */

typedef struct anchor {
    const char *name; /* borrowed from the schema */
    const json_t *schema;
} anchor;

/* A schema resource: the document itself or a subschema with an $id of its
 * own, which is the base its references resolve against. */
typedef struct resource {
    char *uri; /* absolute, without fragment; "" for a root without $id */
    const json_t *schema;
} resource;

typedef struct redactor {
    const json_t *root; /* the schema document (borrowed), or NULL */
    char *root_uri;     /* its $id without fragment, or NULL when it has none */
    /* Every object of the document to the URI of the resource it is in
     * (borrowed from resources), and the resources: found on first need. */
    ptrmap bases;
    resource *resources;
    size_t nresources, resources_cap;
    bool resources_found;
    const char *const *secrets;
    size_t nsecrets;
    /* A patternProperties key (borrowed, so its address is stable) to its
     * tg_regex, or to &uncompilable: each pattern compiles once per call. */
    ptrmap regexes;
    anchor *anchors; /* every $anchor and $dynamicAnchor in root, found on first need */
    size_t nanchors, anchors_cap;
    bool anchors_found;
} redactor;

/* The subschemas that apply at one instance location. */
typedef struct applying {
    ptrmap schemas; /* keys only */
    bool unsure;    /* some applicator chain was too deep, or a reference unresolvable */
} applying;

static char uncompilable;

#define FOREACH_SCHEMA(a, s)                                                                       \
    for (size_t s##_i = 0; s##_i < (a)->schemas.cap; s##_i++)                                      \
        for (const json_t *s = (a)->schemas.keys[s##_i]; s; s = NULL)

static void add_anchor(redactor *r, const char *name, const json_t *schema)
{
    if (!name) return;
    if (r->nanchors == r->anchors_cap) {
        r->anchors_cap = r->anchors_cap ? 2 * r->anchors_cap : 8;
        r->anchors = tg_xrealloc(r->anchors, r->anchors_cap * sizeof *r->anchors);
    }
    r->anchors[r->nanchors++] = (anchor){name, schema};
}

/* Looks everywhere, not only under schema keywords: an "$anchor" found inside
 * data (a const, say) can only make more subschemas apply, never fewer. */
static void find_anchors(redactor *r, const json_t *v, int depth)
{
    if (depth > TG_REDACT_MAX_DEPTH) return;
    if (json_is_object(v)) {
        add_anchor(r, json_string_value(json_object_get(v, "$anchor")), v);
        add_anchor(r, json_string_value(json_object_get(v, "$dynamicAnchor")), v);
        /* Drafts before 2019-09 spell an anchor as an "$id" fragment. */
        const char *id = json_string_value(json_object_get(v, "$id"));
        if (id && id[0] == '#') add_anchor(r, id + 1, v);
        const char *key;
        json_t *sub;
        json_object_foreach((json_t *)v, key, sub) find_anchors(r, sub, depth + 1);
    } else if (json_is_array(v)) {
        size_t i;
        const json_t *sub;
        json_array_foreach(v, i, sub) find_anchors(r, sub, depth + 1);
    }
}

/* Records which resource each object of v is in, base being the URI of the
 * one v is in. Like the compiler, an $id that is not a bare fragment starts
 * a resource, resolved against the enclosing one. Objects deeper than the
 * limit get no base, so references from them count as unresolvable. */
static void find_resources(redactor *r, const json_t *v, const char *base, int depth)
{
    if (depth > TG_REDACT_MAX_DEPTH) return;
    if (json_is_object(v)) {
        const char *id = json_string_value(json_object_get(v, "$id"));
        if (id && id[0] != '#') {
            char *abs = tg_uri_resolve(base, id);
            char *uri = tg_uri_strip_fragment(abs, NULL);
            free(abs);
            if (r->nresources == r->resources_cap) {
                r->resources_cap = r->resources_cap ? 2 * r->resources_cap : 4;
                r->resources = tg_xrealloc(r->resources, r->resources_cap * sizeof *r->resources);
            }
            r->resources[r->nresources++] = (resource){uri, v};
            base = uri;
        }
        ptrmap_put(&r->bases, v, (void *)base);
        const char *key;
        json_t *sub;
        json_object_foreach((json_t *)v, key, sub) find_resources(r, sub, base, depth + 1);
    } else if (json_is_array(v)) {
        size_t i;
        const json_t *sub;
        json_array_foreach(v, i, sub) find_resources(r, sub, base, depth + 1);
    }
}

static const json_t *find_resource(const redactor *r, const char *uri)
{
    for (size_t i = 0; i < r->nresources; i++)
        if (strcmp(r->resources[i].uri, uri) == 0) return r->resources[i].schema;
    return NULL;
}

/* ptr is a percent-decoded JSON Pointer: "" or "/a/b". */
static const json_t *walk_pointer(const json_t *root, const char *ptr)
{
    const json_t *cur = root;
    char *tok = tg_xmalloc(strlen(ptr) + 1);
    while (cur && *ptr == '/') {
        ptr++;
        size_t k = 0;
        for (; *ptr && *ptr != '/'; ptr++) {
            if (*ptr == '~' && (ptr[1] == '0' || ptr[1] == '1')) {
                tok[k++] = ptr[1] == '0' ? '~' : '/';
                ptr++;
            } else {
                tok[k++] = *ptr;
            }
        }
        if (json_is_array(cur)) {
            size_t idx = 0;
            bool ok = k > 0 && (tok[0] != '0' || k == 1);
            for (size_t i = 0; ok && i < k; i++) {
                ok = tok[i] >= '0' && tok[i] <= '9' && idx <= (SIZE_MAX - 9) / 10;
                idx = idx * 10 + (size_t)(tok[i] - '0');
            }
            cur = ok ? json_array_get(cur, idx) : NULL;
        } else {
            cur = json_object_getn(cur, tok, k);
        }
    }
    free(tok);
    return *ptr ? NULL : cur;
}

static void apply(redactor *r, applying *a, const json_t *schema, const json_t *instance,
                  int depth);

/* Resolves ref, found in holder, against the resource holder is in, as the
 * compiler did at deploy, and applies its target. Only the schema's own
 * document is at hand here, so a reference into another one (or one that
 * leads nowhere) makes the location unsure: redacted whole. */
static void apply_ref(redactor *r, applying *a, const json_t *holder, const char *ref,
                      const json_t *instance, int depth)
{
    if (!ref || !r->root) return;
    if (!r->resources_found) {
        r->resources = tg_xcalloc(4, sizeof *r->resources);
        r->resources_cap = 4;
        r->resources[r->nresources++] =
            (resource){tg_xstrdup(r->root_uri ? r->root_uri : ""), r->root};
        find_resources(r, r->root, r->resources[0].uri, 0);
        r->resources_found = true;
    }
    const char *base = ptrmap_get(&r->bases, holder);
    if (!base) {
        a->unsure = true;
        return;
    }
    char *abs = tg_uri_resolve(base, ref);
    const char *fragment;
    char *doc = tg_uri_strip_fragment(abs, &fragment);
    char *name = NULL;
    const json_t *target = find_resource(r, doc);
    if (!target) {
        a->unsure = true;
    } else if (!fragment || !*fragment) {
        apply(r, a, target, instance, depth);
    } else if (!(name = tg_uri_pct_decode(fragment))) {
        a->unsure = true;
    } else if (name[0] == '/') {
        const json_t *at = walk_pointer(target, name);
        if (at)
            apply(r, a, at, instance, depth);
        else
            a->unsure = true;
    } else {
        if (!r->anchors_found) {
            find_anchors(r, r->root, 0);
            r->anchors_found = true;
        }
        /* $dynamicRef picks one of the same-named dynamic anchors according
         * to the dynamic scope, and an anchor's resource is not tracked:
         * applying every anchor of that name covers whichever is meant. */
        bool found = false;
        for (size_t i = 0; i < r->nanchors; i++) {
            if (strcmp(r->anchors[i].name, name) == 0) {
                apply(r, a, r->anchors[i].schema, instance, depth);
                found = true;
            }
        }
        if (!found) a->unsure = true;
    }
    free(name);
    free(doc);
    free(abs);
}

/* Adds schema and every subschema it applies in place to a. Which of anyOf,
 * oneOf and if/then/else the instance satisfied does not matter: each branch
 * is applied, so that a sensitive mark anywhere in them takes effect. */
static void apply(redactor *r, applying *a, const json_t *schema, const json_t *instance, int depth)
{
    if (!json_is_object(schema)) return; /* boolean schemas mark nothing */
    if (!ptrmap_put(&a->schemas, schema, NULL)) return;
    if (depth > MAX_APPLY_DEPTH) {
        a->unsure = true;
        return;
    }

    static const char *const lists[] = {"allOf", "anyOf", "oneOf"};
    for (size_t k = 0; k < sizeof lists / sizeof *lists; k++) {
        size_t i;
        const json_t *sub;
        json_array_foreach(json_object_get(schema, lists[k]), i, sub)
            apply(r, a, sub, instance, depth + 1);
    }
    static const char *const singles[] = {"if", "then", "else"};
    for (size_t k = 0; k < sizeof singles / sizeof *singles; k++)
        apply(r, a, json_object_get(schema, singles[k]), instance, depth + 1);
    /* "dependencies" is the older dialects' dependentSchemas (its array
     * values are dependentRequired, and not schemas, so apply skips them). */
    static const char *const dependents[] = {"dependentSchemas", "dependencies"};
    for (size_t k = 0; k < sizeof dependents / sizeof *dependents; k++) {
        const char *key;
        size_t klen;
        json_t *sub;
        json_object_keylen_foreach(json_object_get(schema, dependents[k]), key, klen, sub)
        {
            if (json_object_getn(instance, key, klen)) apply(r, a, sub, instance, depth + 1);
        }
    }
    apply_ref(r, a, schema, json_string_value(json_object_get(schema, "$ref")), instance,
              depth + 1);
    apply_ref(r, a, schema, json_string_value(json_object_get(schema, "$dynamicRef")), instance,
              depth + 1);
}

static bool marks_sensitive(const applying *a)
{
    FOREACH_SCHEMA(a, s)
    {
        if (json_is_true(json_object_get(s, "x-toolgate-sensitive"))) return true;
    }
    return false;
}

static bool holds_secret(const redactor *r, const json_t *str)
{
    const char *text = json_string_value(str);
    size_t len = json_string_length(str);
    for (size_t i = 0; i < r->nsecrets; i++) {
        const char *secret = r->secrets[i];
        if (secret && *secret && memmem(text, len, secret, strlen(secret))) return true;
    }
    return false;
}

enum { KEY_NOMATCH, KEY_MATCH, KEY_UNSURE };

static int key_matches(redactor *r, const char *pattern, size_t plen, const char *key, size_t klen)
{
    void *re = ptrmap_get(&r->regexes, pattern);
    if (!re) {
        re = tg_regex_compile(pattern, plen, NULL, 0);
        if (!re) re = &uncompilable;
        ptrmap_put(&r->regexes, pattern, re);
    }
    if (re == &uncompilable) return KEY_UNSURE;
    switch (tg_regex_search(re, key, klen)) {
    case TG_REGEX_MATCH:
        return KEY_MATCH;
    case TG_REGEX_NOMATCH:
        return KEY_NOMATCH;
    default:
        return KEY_UNSURE; /* a limit hit, or a key that is not UTF-8 */
    }
}

static json_t *redact(redactor *r, const applying *a, const json_t *v, int depth);

static json_t *redact_object(redactor *r, const applying *a, const json_t *obj, int depth)
{
    json_t *out = json_object();
    const char *key;
    size_t klen;
    json_t *val;
    json_object_keylen_foreach((json_t *)obj, key, klen, val)
    {
        applying child = {0};
        FOREACH_SCHEMA(a, s)
        {
            bool named = false;
            const json_t *sub = json_object_getn(json_object_get(s, "properties"), key, klen);
            if (sub) {
                named = true;
                apply(r, &child, sub, val, 0);
            }
            const char *pat;
            size_t plen;
            json_t *psub;
            json_object_keylen_foreach(json_object_get(s, "patternProperties"), pat, plen, psub)
            {
                /* A pattern we cannot decide applies its schema but leaves
                 * the key to additionalProperties as well. */
                int m = key_matches(r, pat, plen, key, klen);
                if (m != KEY_NOMATCH) apply(r, &child, psub, val, 0);
                if (m == KEY_MATCH) named = true;
            }
            if (!named) apply(r, &child, json_object_get(s, "additionalProperties"), val, 0);
            /* Which keys count as evaluated depends on which branches the
             * instance satisfied; applying unevaluatedProperties to every key
             * may hide too much but never too little. */
            apply(r, &child, json_object_get(s, "unevaluatedProperties"), val, 0);
        }
        json_object_setn_new_nocheck(out, key, klen, redact(r, &child, val, depth + 1));
        ptrmap_free(&child.schemas);
    }
    return out;
}

static json_t *redact_array(redactor *r, const applying *a, const json_t *arr, int depth)
{
    json_t *out = json_array();
    size_t i;
    const json_t *el;
    json_array_foreach(arr, i, el)
    {
        applying child = {0};
        FOREACH_SCHEMA(a, s)
        {
            const json_t *prefix = json_object_get(s, "prefixItems");
            const json_t *rest = json_object_get(s, "items");
            if (json_is_array(rest)) { /* the tuple form of the older dialects */
                prefix = rest;
                rest = json_object_get(s, "additionalItems");
            }
            apply(r, &child, i < json_array_size(prefix) ? json_array_get(prefix, i) : rest, el, 0);
            /* Which elements matched "contains", and which count as
             * evaluated, is not tracked: both apply to every element. */
            apply(r, &child, json_object_get(s, "contains"), el, 0);
            apply(r, &child, json_object_get(s, "unevaluatedItems"), el, 0);
        }
        json_array_append_new(out, redact(r, &child, el, depth + 1));
        ptrmap_free(&child.schemas);
    }
    return out;
}

/* Returns: new reference, the redacted copy of v, at which a applies. */
static json_t *redact(redactor *r, const applying *a, const json_t *v, int depth)
{
    if (depth > TG_REDACT_MAX_DEPTH || a->unsure || marks_sensitive(a))
        return json_string(TG_REDACTED);
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return redact_object(r, a, v, depth);
    case JSON_ARRAY:
        return redact_array(r, a, v, depth);
    case JSON_STRING:
        if (holds_secret(r, v)) return json_string(TG_REDACTED);
        return json_stringn(json_string_value(v), json_string_length(v));
    default:
        return json_deep_copy(v);
    }
}

json_t *tg_redact_arguments(const json_t *schema, const json_t *args, const char *const *secrets,
                            size_t nsecrets)
{
    if (!args) return NULL;
    redactor r = {.root = schema, .secrets = secrets, .nsecrets = secrets ? nsecrets : 0};
    const char *id = json_string_value(json_object_get(schema, "$id"));
    if (id) {
        /* Resolving "#" normalizes the $id the way each $ref will be. */
        char *abs = tg_uri_resolve(id, "#");
        r.root_uri = tg_uri_strip_fragment(abs, NULL);
        free(abs);
    }
    applying top = {0};
    apply(&r, &top, schema, args, 0);
    json_t *out = redact(&r, &top, args, 0);

    ptrmap_free(&top.schemas);
    for (size_t i = 0; i < r.regexes.cap; i++)
        if (r.regexes.keys[i] && r.regexes.vals[i] != &uncompilable)
            tg_regex_free(r.regexes.vals[i]);
    ptrmap_free(&r.regexes);
    ptrmap_free(&r.bases);
    for (size_t i = 0; i < r.nresources; i++)
        free(r.resources[i].uri);
    free(r.resources);
    free(r.anchors);
    free(r.root_uri);
    return out;
}
