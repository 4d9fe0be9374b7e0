/* Fixture generation from a tool's inputSchema.
 *
 * Valid arguments are built by walking the schema: every subschema that
 * applies at one instance location ($ref targets, allOf members, the chosen
 * anyOf/oneOf branch, if+then or else) is gathered into a conjunction, and a
 * value is made that meets all of them. Choices between branches are explored
 * depth first until the whole object validates. Invalid arguments take the
 * valid ones and break a single keyword at a single location.
 *
 * The invariant: the validation engine is the judge of every case. A valid
 * case is emitted only when the compiled inputSchema accepts its arguments; an
 * invalid case only when the engine refuses them and reports the fixture's
 * path and keyword among its violations. What the generator cannot build it
 * leaves out; it never emits a case that could be wrong. */
#include "gateway/contract/gen.h"
#include "gateway/core/alloc.h"
#include "schemas/schema.h"

#include <ctype.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    MAX_ATTEMPTS = 256,  /* branch combinations tried for one valid case */
    MAX_CHOICES = 64,    /* branch points remembered in one attempt */
    MAX_CONJ = 128,      /* subschemas gathered for one instance location */
    MAX_DEPTH = 32,      /* nesting of generated values */
    MAX_REENTRY = 2,     /* times one $ref target may shape a value and its ancestors */
    MAX_ITEMS = 64,      /* items generated in one array */
    MAX_STRING = 100001, /* characters in one generated string */
    MAX_ENUM_CASES = 16, /* valid cases from the members of one enum */
    MAX_NAME = 96,       /* bytes of a case name */
    /* Work limits, so that a hostile schema (arrays of arrays with large
     * minItems, long minLength) costs bounded time and memory. */
    MAX_NODES = 2000,    /* values made in one attempt */
    MAX_TOTAL = 20000,   /* values made for one valid case, across attempts */
    MAX_BYTES = 1 << 18, /* string bytes in one attempt */
    /* Candidate cases validated in one call, each weighing 1 per started
     * 4 KiB of the base arguments, which every case copies. */
    MAX_CHECKS = 2000,
    MAX_CHECKERS = 256, /* leaf checkers kept for reuse */
};

/* The subschemas (borrowed from the inputSchema) that all apply at one
 * instance location. */
typedef struct conj {
    const json_t **v;
    size_t n, cap;
} conj;

/* An instance location of the valid arguments, with the subschemas that shaped
 * it: the places where one keyword can be broken. */
typedef struct site {
    char *path;
    conj c;
} site;

typedef struct gen {
    const json_t *root; /* the inputSchema */
    tg_schema *schema;  /* compiled as the gateway compiles it */
    json_t *object;     /* {"type": "object"}: arguments are always an object */
    struct {
        size_t index, count;
    } choices[MAX_CHOICES];
    size_t nchoices, cursor;
    bool full;                        /* every property, rather than only the required ones */
    const conj *stack[MAX_DEPTH + 1]; /* the subschemas of the value being made and its ancestors */
    site *sites;
    size_t nsites, capsites;
    size_t nodes, total, bytes, checks; /* work done, against the MAX_ limits */
    size_t check_weight;                /* of one candidate case */
    struct checker {
        conj c;
        tg_schema *schema; /* NULL: nothing to check */
    } * checkers;
    size_t ncheckers;
} gen;

/* ---- conjunctions and sites ---- */

static void conj_push(conj *c, const json_t *s)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 8;
        c->v = tg_xrealloc(c->v, c->cap * sizeof *c->v);
    }
    c->v[c->n++] = s;
}

static void conj_copy(conj *dst, const conj *src)
{
    *dst = (conj){0};
    for (size_t i = 0; i < src->n; i++)
        conj_push(dst, src->v[i]);
}

static void conj_free(conj *c)
{
    free(c->v);
    *c = (conj){0};
}

static void site_push(gen *g, const char *path, const conj *c)
{
    if (g->nsites == g->capsites) {
        g->capsites = g->capsites ? g->capsites * 2 : 16;
        g->sites = tg_xrealloc(g->sites, g->capsites * sizeof *g->sites);
    }
    site *s = &g->sites[g->nsites++];
    s->path = tg_xstrdup(path);
    conj_copy(&s->c, c);
}

static void sites_truncate(site *sites, size_t *n, size_t keep)
{
    while (*n > keep) {
        site *s = &sites[--*n];
        free(s->path);
        conj_free(&s->c);
    }
}

/* The first value of keyword kw among the subschemas, or NULL. */
static const json_t *first_kw(const conj *c, const char *kw)
{
    for (size_t i = 0; i < c->n; i++) {
        const json_t *v = json_is_object(c->v[i]) ? json_object_get(c->v[i], kw) : NULL;
        if (v) return v;
    }
    return NULL;
}

/* Whether any subschema requires property name. */
static bool is_required(const conj *c, const char *name)
{
    for (size_t i = 0; i < c->n; i++) {
        const json_t *req = json_is_object(c->v[i]) ? json_object_get(c->v[i], "required") : NULL;
        size_t k;
        const json_t *r;
        json_array_foreach(req, k, r)
        {
            if (json_is_string(r) && strcmp(json_string_value(r), name) == 0) return true;
        }
    }
    return false;
}

/* The tightest bound of kw across the subschemas: the largest when lower,
 * the smallest otherwise. Returns false when no subschema has kw. */
static bool bound(const conj *c, const char *kw, bool lower, double *out)
{
    bool found = false;
    for (size_t i = 0; i < c->n; i++) {
        const json_t *v = json_is_object(c->v[i]) ? json_object_get(c->v[i], kw) : NULL;
        if (!json_is_number(v)) continue;
        double d = json_number_value(v);
        if (!found || (lower ? d > *out : d < *out)) *out = d;
        found = true;
    }
    return found;
}

/* ---- JSON Pointers ---- */

static char *pointer_append(const char *path, const char *segment)
{
    size_t len = strlen(path), n = len + 1;
    for (const char *p = segment; *p; p++)
        n += (*p == '~' || *p == '/') ? 2 : 1;
    char *out = tg_xmalloc(n + 1), *o = out + len;
    memcpy(out, path, len);
    *o++ = '/';
    for (const char *p = segment; *p; p++) {
        if (*p == '~' || *p == '/') {
            *o++ = '~';
            *o++ = *p == '~' ? '0' : '1';
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return out;
}

static char *pointer_index(const char *path, size_t i)
{
    char segment[32];
    snprintf(segment, sizeof segment, "%zu", i);
    return pointer_append(path, segment);
}

/* Decodes one reference token (up to end) into a new string: ~1, ~0 and,
 * when percent is set (a URI fragment), %XX. */
static char *pointer_token(const char *p, const char *end, bool percent)
{
    char *out = tg_xmalloc((size_t)(end - p) + 1), *o = out;
    while (p < end) {
        if (*p == '~' && p + 1 < end && (p[1] == '0' || p[1] == '1')) {
            *o++ = p[1] == '0' ? '~' : '/';
            p += 2;
        } else if (percent && *p == '%' && p + 2 < end && isxdigit((unsigned char)p[1]) &&
                   isxdigit((unsigned char)p[2])) {
            char hex[3] = {p[1], p[2], '\0'};
            *o++ = (char)strtol(hex, NULL, 16);
            p += 3;
        } else {
            *o++ = *p++;
        }
    }
    *o = '\0';
    return out;
}

/* The value at ptr in doc, or NULL. Object members and array indexes. */
static json_t *pointer_get(const json_t *doc, const char *ptr, bool percent)
{
    json_t *cur = (json_t *)doc;
    while (cur && *ptr == '/') {
        const char *start = ptr + 1, *end = strchr(start, '/');
        if (!end) end = start + strlen(start);
        char *token = pointer_token(start, end, percent);
        if (json_is_object(cur)) {
            cur = json_object_get(cur, token);
        } else if (json_is_array(cur)) {
            char *rest;
            unsigned long i = strtoul(token, &rest, 10);
            cur = *token && !*rest ? json_array_get(cur, i) : NULL;
        } else {
            cur = NULL;
        }
        free(token);
        ptr = end;
    }
    return *ptr ? NULL : cur;
}

/* Puts value (stolen) at ptr, which must name a member or an item. */
static bool pointer_set(json_t *doc, const char *ptr, json_t *value)
{
    const char *slash = strrchr(ptr, '/');
    if (!slash) {
        json_decref(value);
        return false;
    }
    char *parent_path = tg_xstrndup(ptr, (size_t)(slash - ptr));
    json_t *parent = pointer_get(doc, parent_path, false);
    free(parent_path);
    char *token = pointer_token(slash + 1, slash + 1 + strlen(slash + 1), false);
    bool ok = false;
    if (json_is_object(parent)) {
        ok = json_object_set_new(parent, token, value) == 0;
    } else if (json_is_array(parent)) {
        ok = json_array_set_new(parent, strtoul(token, NULL, 10), value) == 0;
    } else {
        json_decref(value);
    }
    free(token);
    return ok;
}

/* ---- $ref ---- */

static const json_t *find_anchor(const json_t *node, const char *name, int depth)
{
    if (depth > 64) return NULL;
    if (json_is_object(node)) {
        const json_t *a = json_object_get(node, "$anchor");
        const json_t *d = json_object_get(node, "$dynamicAnchor");
        if ((json_is_string(a) && strcmp(json_string_value(a), name) == 0) ||
            (json_is_string(d) && strcmp(json_string_value(d), name) == 0))
            return node;
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)node, k, v)
        {
            const json_t *found = find_anchor(v, name, depth + 1);
            if (found) return found;
        }
    } else if (json_is_array(node)) {
        size_t i;
        const json_t *v;
        json_array_foreach(node, i, v)
        {
            const json_t *found = find_anchor(v, name, depth + 1);
            if (found) return found;
        }
    }
    return NULL;
}

/* The subschema a local reference names ("#", "#/json/pointer", "#anchor"),
 * or NULL for references the generator does not follow. */
static const json_t *resolve(const gen *g, const char *ref)
{
    if (ref[0] != '#') return NULL;
    if (ref[1] == '\0') return g->root;
    if (ref[1] == '/') return pointer_get(g->root, ref + 1, true);
    return find_anchor(g->root, ref + 1, 0);
}

/* ---- branch choices ---- */

/* The branch to take at the next branch point of count branches: the
 * attempt's recorded choice, or the first one when the point is new. */
static size_t choose(gen *g, size_t count)
{
    if (g->cursor >= MAX_CHOICES) return 0;
    if (g->cursor == g->nchoices) {
        g->choices[g->nchoices].index = 0;
        g->choices[g->nchoices].count = count;
        g->nchoices++;
    }
    size_t i = g->choices[g->cursor++].index;
    return i < count ? i : 0;
}

/* Moves to the next combination of choices, depth first. Returns false when
 * every combination was tried. */
static bool next_choices(gen *g)
{
    g->nchoices = g->cursor < g->nchoices ? g->cursor : g->nchoices;
    while (g->nchoices > 0 &&
           g->choices[g->nchoices - 1].index + 1 >= g->choices[g->nchoices - 1].count)
        g->nchoices--;
    if (g->nchoices == 0) return false;
    g->choices[g->nchoices - 1].index++;
    return true;
}

/* Whether target already shaped MAX_REENTRY of the ancestors: a recursive
 * schema is followed that far, so a tree gets a child but not an endless line
 * of them. */
static bool too_deep(const gen *g, int depth, const json_t *target)
{
    int seen = 0;
    for (int d = 0; d < depth; d++)
        for (size_t i = 0; i < g->stack[d]->n; i++)
            if (g->stack[d]->v[i] == target) {
                seen++;
                break;
            }
    return seen >= MAX_REENTRY;
}

/* Adds to c what each of its subschemas brings along: $ref targets, allOf
 * members, one anyOf/oneOf branch, if+then or else. Returns false when the
 * location cannot hold any value (a false schema, an unfollowed reference, a
 * recursion followed far enough). */
static bool expand(gen *g, conj *c, int depth)
{
    for (size_t i = 0; i < c->n; i++) {
        const json_t *s = c->v[i];
        if (json_is_false(s)) return false;
        if (!json_is_object(s)) continue;
        static const char *const refs[] = {"$ref", "$dynamicRef"};
        for (size_t r = 0; r < 2; r++) {
            const json_t *ref = json_object_get(s, refs[r]);
            if (!ref) continue;
            const json_t *target = json_is_string(ref) ? resolve(g, json_string_value(ref)) : NULL;
            if (!target || too_deep(g, depth, target)) return false;
            conj_push(c, target);
        }
        size_t k;
        const json_t *sub;
        json_array_foreach(json_object_get(s, "allOf"), k, sub)
        {
            conj_push(c, sub);
        }
        static const char *const alternatives[] = {"anyOf", "oneOf"};
        for (size_t a = 0; a < 2; a++) {
            const json_t *branches = json_object_get(s, alternatives[a]);
            if (!json_is_array(branches)) continue;
            if (json_array_size(branches) == 0) return false;
            conj_push(c, json_array_get(branches, choose(g, json_array_size(branches))));
        }
        const json_t *cond = json_object_get(s, "if"), *then = json_object_get(s, "then"),
                     *els = json_object_get(s, "else");
        if (cond && (then || els)) {
            if (choose(g, 2) == 0) {
                conj_push(c, cond);
                if (then) conj_push(c, then);
            } else if (els) {
                conj_push(c, els);
            }
        }
        if (c->n > MAX_CONJ) return false;
    }
    return true;
}

/* ---- types ---- */

enum {
    T_NULL = 1,
    T_BOOLEAN = 2,
    T_OBJECT = 4,
    T_ARRAY = 8,
    T_STRING = 16,
    T_INTEGER = 32,
    T_FRACTION = 64, /* a number that is not an integer */
    T_ANY = 127,
};

static unsigned type_bits(const char *name)
{
    static const struct {
        const char *name;
        unsigned bits;
    } types[] = {
        {"null", T_NULL},
        {"boolean", T_BOOLEAN},
        {"object", T_OBJECT},
        {"array", T_ARRAY},
        {"string", T_STRING},
        {"integer", T_INTEGER},
        {"number", T_INTEGER | T_FRACTION},
    };
    for (size_t i = 0; i < sizeof types / sizeof *types; i++)
        if (strcmp(types[i].name, name) == 0) return types[i].bits;
    return 0;
}

/* The types every subschema's "type" allows. */
static unsigned type_mask(const conj *c)
{
    unsigned mask = T_ANY;
    for (size_t i = 0; i < c->n; i++) {
        const json_t *t = json_is_object(c->v[i]) ? json_object_get(c->v[i], "type") : NULL;
        if (json_is_string(t)) {
            mask &= type_bits(json_string_value(t));
        } else if (json_is_array(t)) {
            unsigned any = 0;
            size_t k;
            const json_t *name;
            json_array_foreach(t, k, name)
            {
                if (json_is_string(name)) any |= type_bits(json_string_value(name));
            }
            mask &= any;
        }
    }
    return mask;
}

static bool has_any_kw(const conj *c, const char *const *kws)
{
    for (; *kws; kws++)
        if (first_kw(c, *kws)) return true;
    return false;
}

/* The types to try, best first, as single bits: the order of the first
 * "type" keyword with null last, or a guess from the keywords present. */
static size_t type_order(const conj *c, unsigned mask, unsigned order[7])
{
    size_t n = 0;
    unsigned seen = 0;
#define ADD_TYPE(bit)                                                                              \
    do {                                                                                           \
        if ((mask & (bit)) && !(seen & (bit))) {                                                   \
            order[n++] = (bit);                                                                    \
            seen |= (bit);                                                                         \
        }                                                                                          \
    } while (0)
    const json_t *t = first_kw(c, "type");
    if (json_is_string(t) || json_is_array(t)) {
        json_t *names = json_is_string(t) ? json_pack("[O]", t) : json_incref((json_t *)t);
        size_t k;
        const json_t *name;
        json_array_foreach(names, k, name)
        {
            unsigned bits = json_is_string(name) ? type_bits(json_string_value(name)) : 0;
            if (bits == T_NULL) continue;
            if (bits & T_INTEGER) ADD_TYPE(T_INTEGER);
            if (bits & T_FRACTION) ADD_TYPE(T_FRACTION);
            if (bits & ~(unsigned)(T_INTEGER | T_FRACTION)) ADD_TYPE(bits);
        }
        json_decref(names);
    }
    static const char *const object_kws[] = {"properties",           "required",
                                             "additionalProperties", "minProperties",
                                             "patternProperties",    NULL};
    static const char *const array_kws[] = {"items", "prefixItems", "minItems", "contains", NULL};
    static const char *const number_kws[] = {"minimum",          "maximum",    "exclusiveMinimum",
                                             "exclusiveMaximum", "multipleOf", NULL};
    if (has_any_kw(c, object_kws)) ADD_TYPE(T_OBJECT);
    if (has_any_kw(c, array_kws)) ADD_TYPE(T_ARRAY);
    if (has_any_kw(c, number_kws)) ADD_TYPE(T_INTEGER);
    ADD_TYPE(T_STRING);
    ADD_TYPE(T_INTEGER);
    ADD_TYPE(T_FRACTION);
    ADD_TYPE(T_BOOLEAN);
    ADD_TYPE(T_OBJECT);
    ADD_TYPE(T_ARRAY);
    ADD_TYPE(T_NULL);
#undef ADD_TYPE
    return n;
}

/* ---- local checks ---- */

/* A schema of only the keywords that judge a value by itself (no structure, no
 * references), compiled so candidates for one location can be checked before
 * the whole object is. NULL when there is nothing to check. */
static tg_schema *leaf_checker(const conj *c)
{
    static const char *const leaf_kws[] = {
        "type",   "enum",    "const",   "minLength",        "maxLength",        "pattern",
        "format", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"};
    json_t *all = json_array();
    for (size_t i = 0; i < c->n; i++) {
        if (!json_is_object(c->v[i])) continue;
        json_t *leaf = json_object();
        for (size_t k = 0; k < sizeof leaf_kws / sizeof *leaf_kws; k++) {
            const json_t *v = json_object_get(c->v[i], leaf_kws[k]);
            if (v) json_object_set_new(leaf, leaf_kws[k], json_deep_copy(v));
        }
        if (json_object_size(leaf))
            json_array_append_new(all, leaf);
        else
            json_decref(leaf);
    }
    tg_schema *checker = NULL;
    if (json_array_size(all)) {
        json_t *schema = json_pack("{s:O}", "allOf", all);
        tg_schema_options opts = {.format_assert = true};
        if (tg_schema_compile(schema, &opts, &checker, NULL) != TG_SCHEMA_OK) checker = NULL;
        json_decref(schema);
    }
    json_decref(all);
    return checker;
}

/* Sets *out to the leaf checker of c (borrowed), compiled once per distinct
 * conjunction. Returns false when the cache is full. */
static bool cached_checker(gen *g, const conj *c, const tg_schema **out)
{
    for (size_t i = 0; i < g->ncheckers; i++) {
        const conj *k = &g->checkers[i].c;
        if (k->n == c->n && (c->n == 0 || memcmp(k->v, c->v, c->n * sizeof *c->v) == 0)) {
            *out = g->checkers[i].schema;
            return true;
        }
    }
    if (g->ncheckers == MAX_CHECKERS) return false;
    if (!g->checkers) g->checkers = tg_xcalloc(MAX_CHECKERS, sizeof *g->checkers);
    conj_copy(&g->checkers[g->ncheckers].c, c);
    *out = g->checkers[g->ncheckers++].schema = leaf_checker(c);
    return true;
}

static bool fits(const tg_schema *checker, const json_t *v)
{
    return v && (!checker || tg_schema_valid(checker, v));
}

/* ---- scalar samples ---- */

static const char *format_sample(const char *format)
{
    static const struct {
        const char *format, *sample;
    } samples[] = {
        {"date", "2024-01-15"},
        {"date-time", "2024-01-15T09:30:00Z"},
        {"time", "09:30:00Z"},
        {"duration", "P1D"},
        {"email", "user@example.com"},
        {"idn-email", "user@example.com"},
        {"hostname", "example.com"},
        {"idn-hostname", "example.com"},
        {"ipv4", "192.0.2.1"},
        {"ipv6", "2001:db8::1"},
        {"uri", "https://example.com/"},
        {"uri-reference", "https://example.com/"},
        {"iri", "https://example.com/"},
        {"iri-reference", "https://example.com/"},
        {"uri-template", "https://example.com/{id}"},
        {"uuid", "123e4567-e89b-42d3-a456-426614174000"},
        {"json-pointer", "/example"},
        {"relative-json-pointer", "0"},
        {"regex", "^example$"},
    };
    for (size_t i = 0; i < sizeof samples / sizeof *samples; i++)
        if (strcmp(samples[i].format, format) == 0) return samples[i].sample;
    return NULL;
}

/* The variant-th sample string for c, or NULL when c has a pattern (regexes
 * are not inverted) or its lengths cannot be met. */
static json_t *string_sample(const conj *c, size_t variant)
{
    if (first_kw(c, "pattern")) return NULL;
    const json_t *format = first_kw(c, "format");
    const char *sample = json_is_string(format) ? format_sample(json_string_value(format)) : NULL;
    if (sample) return variant == 0 ? json_string(sample) : NULL;
    double min = 0, max = MAX_STRING;
    bound(c, "minLength", true, &min);
    bound(c, "maxLength", false, &max);
    if (min > max || min > MAX_STRING) return NULL;
    size_t lo = (size_t)min, hi = max < MAX_STRING ? (size_t)max : MAX_STRING;
    char word[32];
    if (variant)
        snprintf(word, sizeof word, "example-%zu", variant + 1);
    else
        snprintf(word, sizeof word, "example");
    size_t wlen = strlen(word);
    if (wlen > hi) {
        /* Too short for the word: a base-26 spelling of the variant. */
        size_t v = variant;
        wlen = 0;
        do {
            word[wlen++] = (char)('a' + v % 26);
            v /= 26;
        } while (v && wlen < sizeof word - 1);
        if (v || wlen > hi) return NULL;
    }
    size_t len = wlen > lo ? wlen : lo;
    char *s = tg_xmalloc(len + 1);
    memcpy(s, word, wlen);
    memset(s + wlen, 'x', len - wlen);
    s[len] = '\0';
    json_t *out = json_stringn(s, len);
    free(s);
    return out;
}

static json_t *number_json(double d)
{
    if (d == floor(d) && fabs(d) < 9007199254740992.0) return json_integer((json_int_t)d);
    return json_real(d);
}

/* The variant-th number on the grid of multipleOf (or of 1) within the
 * bounds; for a non-integer number without a grid point in range, the middle
 * of the range. NULL when nothing fits. */
static json_t *number_sample(const conj *c, bool integer, size_t variant)
{
    double lo = -INFINITY, hi = INFINITY, xlo = -INFINITY, xhi = INFINITY, step = 1;
    bound(c, "minimum", true, &lo);
    bound(c, "maximum", false, &hi);
    bound(c, "exclusiveMinimum", true, &xlo);
    bound(c, "exclusiveMaximum", false, &xhi);
    const json_t *m = first_kw(c, "multipleOf");
    if (json_is_number(m) && json_number_value(m) > 0) step = json_number_value(m);
    double k;
    if (isfinite(lo) || isfinite(xlo)) {
        k = isfinite(lo) ? ceil(lo / step) : -INFINITY;
        if (isfinite(xlo)) {
            double kx = floor(xlo / step) + 1;
            if (kx > k) k = kx;
        }
        k += (double)variant;
    } else if ((isfinite(hi) && hi < step) || (isfinite(xhi) && xhi <= step)) {
        k = isfinite(hi) ? floor(hi / step) : INFINITY;
        if (isfinite(xhi)) {
            double kx = ceil(xhi / step) - 1;
            if (kx < k) k = kx;
        }
        k -= (double)variant;
    } else {
        k = 1 + (double)variant;
    }
    double d = k * step;
    bool in_range = d >= lo && d <= hi && d > xlo && d < xhi && isfinite(d);
    if (in_range && (!integer || d == floor(d))) return number_json(d);
    if (integer || variant) return NULL;
    double a = isfinite(lo) ? lo : xlo, b = isfinite(hi) ? hi : xhi;
    if (!isfinite(a) || !isfinite(b)) return NULL;
    return json_real(a + (b - a) / 2);
}

/* ---- values ---- */

static json_t *gen_value(gen *g, const conj *in, const char *path, int depth, size_t variant);

/* The subschemas that apply to property name of an object shaped by c. */
static void property_conj(const conj *c, const char *name, conj *out)
{
    *out = (conj){0};
    for (size_t i = 0; i < c->n; i++) {
        if (!json_is_object(c->v[i])) continue;
        const json_t *props = json_object_get(c->v[i], "properties");
        const json_t *p = json_is_object(props) ? json_object_get(props, name) : NULL;
        const json_t *extra = json_object_get(c->v[i], "additionalProperties");
        if (p)
            conj_push(out, p);
        else if (extra && !json_object_get(c->v[i], "patternProperties"))
            conj_push(out, extra);
    }
}

/* Whether some subschema closes the object to name. */
static bool property_closed(const conj *c, const char *name)
{
    for (size_t i = 0; i < c->n; i++) {
        if (!json_is_object(c->v[i])) continue;
        const json_t *extra = json_object_get(c->v[i], "additionalProperties");
        const json_t *props = json_object_get(c->v[i], "properties");
        if (json_is_false(extra) && !json_object_get(c->v[i], "patternProperties") &&
            !(json_is_object(props) && json_object_get(props, name)))
            return true;
    }
    return false;
}

/* Adds property name to obj with a generated value. */
static bool add_property(gen *g, json_t *obj, const conj *c, const char *name, const char *path,
                         int depth)
{
    conj pc;
    property_conj(c, name, &pc);
    char *child = pointer_append(path, name);
    json_t *v = gen_value(g, &pc, child, depth + 1, 0);
    free(child);
    conj_free(&pc);
    if (!v) return false;
    json_object_set_new(obj, name, v);
    return true;
}

static json_t *object_value(gen *g, const conj *c, const char *path, int depth)
{
    /* Property names in the order the schemas list them, then the required
     * ones no "properties" lists. */
    json_t *names = json_array();
    for (size_t i = 0; i < c->n; i++) {
        const json_t *props =
            json_is_object(c->v[i]) ? json_object_get(c->v[i], "properties") : NULL;
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)props, k, v)
        {
            (void)v;
            json_array_append_new(names, json_string(k));
        }
    }
    for (size_t i = 0; i < c->n; i++) {
        const json_t *req = json_is_object(c->v[i]) ? json_object_get(c->v[i], "required") : NULL;
        size_t k;
        const json_t *r;
        json_array_foreach(req, k, r)
        {
            if (json_is_string(r)) json_array_append(names, (json_t *)r);
        }
    }
    double minp = 0, maxp = 1e9;
    bound(c, "minProperties", true, &minp);
    bound(c, "maxProperties", false, &maxp);
    size_t nrequired = 0;
    json_t *seen = json_object();
    size_t k;
    json_t *n;
    json_array_foreach(names, k, n)
    {
        const char *name = json_string_value(n);
        if (json_object_get(seen, name)) continue;
        json_object_set_new(seen, name, json_true());
        if (is_required(c, name)) nrequired++;
    }
    double wanted = g->full ? maxp : minp;
    size_t optional = wanted > (double)nrequired ? (size_t)(wanted - (double)nrequired) : 0;

    json_t *obj = json_object();
    bool ok = true;
    json_array_foreach(names, k, n)
    {
        const char *name = json_string_value(n);
        if (json_object_get(obj, name)) continue;
        bool required = is_required(c, name);
        if (!required && (optional == 0 || property_closed(c, name))) continue;
        if (add_property(g, obj, c, name, path, depth)) {
            if (!required) optional--;
        } else if (required) {
            ok = false;
            break;
        }
    }
    /* Properties that the present ones make required. */
    for (size_t i = 0; ok && i < c->n; i++) {
        const json_t *deps =
            json_is_object(c->v[i]) ? json_object_get(c->v[i], "dependentRequired") : NULL;
        const char *key;
        const json_t *list;
        json_object_foreach((json_t *)deps, key, list)
        {
            if (!json_object_get(obj, key)) continue;
            size_t d;
            const json_t *dep;
            json_array_foreach(list, d, dep)
            {
                if (ok && json_is_string(dep) && !json_object_get(obj, json_string_value(dep)))
                    ok = add_property(g, obj, c, json_string_value(dep), path, depth);
            }
        }
    }
    for (size_t i = 1; ok && (double)json_object_size(obj) < minp && i <= 64; i++) {
        char name[32];
        snprintf(name, sizeof name, "property_%zu", i);
        if (json_object_get(obj, name)) continue;
        ok = !property_closed(c, name) && add_property(g, obj, c, name, path, depth);
    }
    json_decref(seen);
    json_decref(names);
    if (!ok) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

static json_t *array_value(gen *g, const conj *c, const char *path, int depth)
{
    const json_t *prefix = first_kw(c, "prefixItems");
    size_t nprefix = json_is_array(prefix) ? json_array_size(prefix) : 0;
    conj items = {0};
    bool closed = false;
    for (size_t i = 0; i < c->n; i++) {
        const json_t *it = json_is_object(c->v[i]) ? json_object_get(c->v[i], "items") : NULL;
        if (json_is_false(it)) closed = true;
        if (it) conj_push(&items, it);
    }
    double min = 0, max = MAX_ITEMS;
    bound(c, "minItems", true, &min);
    bound(c, "maxItems", false, &max);
    const json_t *contains = first_kw(c, "contains");
    bool unique = json_is_true(first_kw(c, "uniqueItems"));
    double want = g->full ? (double)(nprefix > 1 ? nprefix : 1) : 0;
    if (want < min) want = min;
    if (contains && want < 1) want = 1;
    if (want > max) want = max;
    if (closed && want > (double)nprefix) want = (double)nprefix;
    json_t *arr = NULL;
    if (want < min || want > MAX_ITEMS) goto out;
    arr = json_array();
    size_t count = (size_t)want;
    for (size_t i = 0; i < count; i++) {
        conj ic = {0};
        if (i < nprefix)
            conj_push(&ic, json_array_get(prefix, i));
        else
            conj_copy(&ic, &items);
        if (i == 0 && contains) conj_push(&ic, contains);
        size_t variant = unique && i >= nprefix ? i - nprefix : 0;
        char *child = pointer_index(path, i);
        json_t *v = gen_value(g, &ic, child, depth + 1, variant);
        free(child);
        conj_free(&ic);
        if (!v) {
            json_decref(arr);
            arr = NULL;
            goto out;
        }
        json_array_append_new(arr, v);
    }
out:
    conj_free(&items);
    return arr;
}

/* The variant-th of the explicit candidates (const, else examples, defaults
 * and the enum's members) that fits, counting down *variant
 * past the fitting ones it skips. exclusive: only explicit values may do. */
static json_t *explicit_value(const conj *c, const tg_schema *checker, size_t *variant,
                              bool *exclusive)
{
    json_t *candidates = json_array();
    const json_t *cst = first_kw(c, "const");
    const json_t *en = first_kw(c, "enum");
    *exclusive = cst || json_is_array(en);
    if (cst) {
        json_array_append(candidates, (json_t *)cst);
    } else {
        for (size_t i = 0; i < c->n; i++) {
            if (!json_is_object(c->v[i])) continue;
            const json_t *ex = json_object_get(c->v[i], "examples");
            size_t k;
            const json_t *v;
            json_array_foreach(ex, k, v)
            {
                if (!json_is_object(v) && !json_is_array(v))
                    json_array_append(candidates, (json_t *)v);
            }
            const json_t *def = json_object_get(c->v[i], "default");
            if (def && !json_is_object(def) && !json_is_array(def))
                json_array_append(candidates, (json_t *)def);
        }
        if (json_is_array(en)) json_array_extend(candidates, (json_t *)en);
    }
    json_t *out = NULL;
    size_t k;
    json_t *v;
    json_array_foreach(candidates, k, v)
    {
        bool repeated = false;
        for (size_t j = 0; j < k && !repeated; j++)
            repeated = json_equal(json_array_get(candidates, j), v);
        if (repeated || !fits(checker, v)) continue;
        if (*variant == 0) {
            out = json_deep_copy(v);
            break;
        }
        --*variant;
    }
    json_decref(candidates);
    return out;
}

/* Returns: new reference, a value meeting every subschema of in (as far as
 * the generator can tell; the caller validates the whole), or NULL. variant
 * asks for a different value than variant 0, for uniqueItems. Records a site
 * for the value and each one inside it. */
static json_t *gen_value(gen *g, const conj *in, const char *path, int depth, size_t variant)
{
    if (depth > MAX_DEPTH || ++g->nodes > MAX_NODES || ++g->total > MAX_TOTAL) return NULL;
    size_t mark = g->nsites;
    conj c;
    conj_copy(&c, in);
    json_t *out = NULL;
    const tg_schema *checker = NULL;
    unsigned mask;
    if (!expand(g, &c, depth) || !(mask = type_mask(&c)) || !cached_checker(g, &c, &checker))
        goto out;
    g->stack[depth] = &c;
    site_push(g, path, &c);
    bool exclusive;
    out = explicit_value(&c, checker, &variant, &exclusive);
    if (out || exclusive) goto out;
    unsigned order[7];
    size_t ntypes = type_order(&c, mask, order);
    for (size_t t = 0; t < ntypes && !out; t++) {
        switch (order[t]) {
        case T_OBJECT:
            out = object_value(g, &c, path, depth);
            break;
        case T_ARRAY:
            out = array_value(g, &c, path, depth);
            break;
        case T_STRING:
            out = string_sample(&c, variant);
            break;
        case T_INTEGER:
            out = number_sample(&c, true, variant);
            break;
        case T_FRACTION:
            out = number_sample(&c, false, variant);
            break;
        case T_BOOLEAN:
            out = variant < 2 ? json_boolean(variant == 0) : NULL;
            break;
        default:
            out = variant == 0 ? json_null() : NULL;
            break;
        }
        if (out && !fits(checker, out)) {
            json_decref(out);
            out = NULL;
            sites_truncate(g->sites, &g->nsites, mark + 1);
        }
    }
    if (json_is_string(out) && (g->bytes += json_string_length(out)) > MAX_BYTES) {
        json_decref(out);
        out = NULL;
    }
out:
    if (!out) sites_truncate(g->sites, &g->nsites, mark);
    conj_free(&c);
    return out;
}

/* Returns: new reference, arguments the inputSchema accepts, with g->sites
 * describing them; or NULL when no combination of branches gave any. */
static json_t *generate_valid(gen *g, bool full)
{
    g->full = full;
    g->nchoices = 0;
    g->total = 0;
    for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        g->cursor = 0;
        g->nodes = g->bytes = 0;
        sites_truncate(g->sites, &g->nsites, 0);
        conj root = {0};
        conj_push(&root, g->root);
        conj_push(&root, g->object);
        json_t *v = gen_value(g, &root, "", 0, 0);
        conj_free(&root);
        if (json_is_object(v) && tg_schema_valid(g->schema, v)) return v;
        json_decref(v);
        if (!next_choices(g)) break;
    }
    sites_truncate(g->sites, &g->nsites, 0);
    return NULL;
}

/* ---- cases ---- */

/* Appends to buf a case-name form of s: lower case, camelCase split with
 * '-', anything outside [a-z0-9_] turned into one '-'. */
static void slug_append(char *buf, size_t size, const char *s)
{
    size_t len = strlen(buf);
    bool dash = len == 0 || buf[len - 1] == '-';
    for (const char *p = s; *p && len + 1 < size; p++) {
        unsigned char ch = (unsigned char)*p;
        if (isupper(ch) && p > s && islower((unsigned char)p[-1]) && !dash) {
            buf[len++] = '-';
            dash = true;
            if (len + 1 >= size) break;
        }
        if (isalnum(ch) || ch == '_') {
            buf[len++] = (char)tolower(ch);
            dash = false;
        } else if (!dash) {
            buf[len++] = '-';
            dash = true;
        }
    }
    while (len > 0 && buf[len - 1] == '-')
        len--;
    buf[len] = '\0';
}

/* A case name: prefix, then each of the parts (a JSON Pointer's segments
 * count as parts) in slug form, joined by '-'. */
static void case_name(char *buf, size_t size, const char *prefix, const char *a, const char *b)
{
    snprintf(buf, size, "%s", prefix);
    const char *parts[] = {a, b};
    for (size_t i = 0; i < 2; i++) {
        if (!parts[i] || !*parts[i]) continue;
        size_t len = strlen(buf);
        if (len + 2 >= size) break;
        buf[len] = '-';
        buf[len + 1] = '\0';
        slug_append(buf, size, parts[i]);
    }
}

static void add_fixture(json_t *cases, const char *name, json_t *description, json_t *arguments,
                        json_t *expect)
{
    json_t *fixture = json_object();
    json_object_set_new(fixture, "description", description);
    json_object_set_new(fixture, "arguments", arguments);
    json_object_set_new(fixture, "expect", expect);
    json_object_set_new(fixture, "generated", json_true());
    json_object_set_new(cases, name, fixture);
}

/* Counts one more candidate case; false once MAX_CHECKS were made. */
static bool spend(gen *g)
{
    g->checks += g->check_weight;
    return g->checks <= MAX_CHECKS;
}

/* Adds a valid case when the inputSchema accepts args (stolen). */
static bool emit_valid(gen *g, json_t *cases, const char *name, const char *description,
                       json_t *args, const json_t *expect)
{
    if (json_object_get(cases, name) || !json_is_object(args) ||
        !tg_schema_valid(g->schema, args)) {
        json_decref(args);
        return false;
    }
    add_fixture(cases, name, json_string(description), args, json_deep_copy(expect));
    return true;
}

/* Adds an invalid case when the engine refuses args (stolen) with a violation
 * of keyword at path; its message makes the description. */
static bool emit_invalid(gen *g, json_t *cases, const char *name, json_t *args, const char *path,
                         const char *keyword)
{
    bool done = json_object_get(cases, name) != NULL;
    tg_schema_violations v = {0};
    if (done || !json_is_object(args) || tg_schema_validate(g->schema, args, &v) == 0) {
        tg_schema_violations_free(&v);
        json_decref(args);
        return done;
    }
    const char *message = NULL;
    for (size_t i = 0; i < v.count && !message; i++)
        if (strcmp(v.items[i].path, path) == 0 && strcmp(v.items[i].keyword, keyword) == 0)
            message = v.items[i].message;
    if (message) {
        json_t *expect =
            json_pack("{s:{s:s,s:[s],s:[s]}}", "error", "code", tg_err_name(TG_EINVALID_ARGUMENTS),
                      "paths", path, "keywords", keyword);
        add_fixture(cases, name, json_sprintf("arguments%s: %s", path, message), args, expect);
    } else {
        json_decref(args);
    }
    tg_schema_violations_free(&v);
    return message != NULL;
}

/* Tries each of candidates (stolen) at path in a copy of base until one makes
 * the engine report keyword there. */
static bool try_values(gen *g, json_t *cases, const char *name, const json_t *base,
                       const char *path, const char *keyword, json_t *candidates)
{
    bool done = false;
    size_t i;
    json_t *v;
    json_array_foreach(candidates, i, v)
    {
        if (done || !*path || !spend(g)) break;
        json_t *args = json_deep_copy(base);
        if (pointer_set(args, path, json_deep_copy(v)))
            done = emit_invalid(g, cases, name, args, path, keyword);
        else
            json_decref(args);
    }
    json_decref(candidates);
    return done;
}

/* Returns: new string, s cut to n code points, or padded with 'x' to n. */
static json_t *utf8_resize(const char *s, size_t n)
{
    size_t bytes = 0, cps = 0;
    while (s[bytes] && cps < n) {
        bytes++;
        while (((unsigned char)s[bytes] & 0xC0) == 0x80)
            bytes++;
        cps++;
    }
    size_t pad = n - cps;
    char *buf = tg_xmalloc(bytes + pad + 1);
    memcpy(buf, s, bytes);
    memset(buf + bytes, 'x', pad);
    buf[bytes + pad] = '\0';
    json_t *out = json_stringn(buf, bytes + pad);
    free(buf);
    return out;
}

/* Values unlike v, of its own type first, for enum and const. */
static json_t *other_values(const json_t *v)
{
    json_t *out = json_array();
    if (json_is_string(v)) {
        json_array_append_new(out, json_sprintf("%s-invalid", json_string_value(v)));
    } else if (json_is_integer(v)) {
        json_array_append_new(out, json_integer(json_integer_value(v) + 1000));
    } else if (json_is_real(v)) {
        json_array_append_new(out, json_real(json_real_value(v) + 1000.5));
    } else if (json_is_boolean(v)) {
        json_array_append_new(out, json_boolean(!json_is_true(v)));
    }
    json_array_append_new(out, json_string("invalid-value"));
    json_array_append_new(out, json_integer(987654321));
    json_array_append_new(out, json_null());
    return out;
}

/* Breaks each scalar keyword of the site's subschemas at its location. */
static void break_scalar(gen *g, json_t *cases, const json_t *base, const site *s,
                         const json_t *node)
{
    static const char *const kws[] = {
        "type",   "enum",    "const",   "minLength",        "maxLength",        "pattern",
        "format", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"};
    for (size_t k = 0; k < sizeof kws / sizeof *kws; k++) {
        const char *kw = kws[k];
        char name[MAX_NAME];
        case_name(name, sizeof name, "invalid", s->path, kw);
        for (size_t i = 0; i < s->c.n; i++) {
            const json_t *value = json_is_object(s->c.v[i]) ? json_object_get(s->c.v[i], kw) : NULL;
            if (!value) continue;
            json_t *cand = json_array();
            double d = json_is_number(value) ? json_number_value(value) : 0;
            if (strcmp(kw, "type") == 0) {
                json_decref(cand);
                cand = json_pack("[i,s,b,n,[],{}]", 12345, "wrong type", 1);
            } else if (strcmp(kw, "enum") == 0 || strcmp(kw, "const") == 0) {
                json_decref(cand);
                cand = other_values(node);
            } else if (strcmp(kw, "minLength") == 0 && json_is_string(node) && d >= 1) {
                json_array_append_new(cand, utf8_resize(json_string_value(node), (size_t)d - 1));
            } else if (strcmp(kw, "maxLength") == 0 && json_is_string(node) &&
                       d + 1 <= MAX_STRING) {
                json_array_append_new(cand, utf8_resize(json_string_value(node), (size_t)d + 1));
            } else if (strcmp(kw, "pattern") == 0) {
                json_decref(cand);
                cand = json_pack("[s,s,s,s,s,s]", "", "!", " ", "0", "a", "invalid value");
                if (json_is_string(node)) {
                    json_array_insert_new(cand, 0, json_sprintf("!%s", json_string_value(node)));
                    json_array_insert_new(cand, 1, json_sprintf("%s!", json_string_value(node)));
                }
            } else if (strcmp(kw, "format") == 0 && json_is_string(value)) {
                json_array_append_new(cand,
                                      json_sprintf("not a valid %s", json_string_value(value)));
                json_array_append_new(cand, json_string("("));
                json_array_append_new(cand, json_string(""));
            } else if (strcmp(kw, "minimum") == 0) {
                /* Integers first, so that an integer stays one. */
                json_array_append_new(cand, number_json(ceil(d) - 1));
                json_array_append_new(cand, number_json(d - 1));
            } else if (strcmp(kw, "maximum") == 0) {
                json_array_append_new(cand, number_json(floor(d) + 1));
                json_array_append_new(cand, number_json(d + 1));
            } else if (strcmp(kw, "exclusiveMinimum") == 0) {
                json_array_append_new(cand, number_json(floor(d)));
                json_array_append_new(cand, number_json(d));
            } else if (strcmp(kw, "exclusiveMaximum") == 0) {
                json_array_append_new(cand, number_json(ceil(d)));
                json_array_append_new(cand, number_json(d));
            } else if (strcmp(kw, "multipleOf") == 0 && json_is_number(node) && d > 0) {
                double n = json_number_value(node);
                if (d > 1 && d == floor(d)) json_array_append_new(cand, number_json(n + 1));
                json_array_append_new(cand, json_real(n + d / 2));
            }
            if (try_values(g, cases, name, base, s->path, kw, cand)) break;
        }
    }
}

/* Breaks the object keywords of the site: each required property left out,
 * a property no schema allows, too few or too many properties, a dependency
 * left out. */
static void break_object(gen *g, json_t *cases, const json_t *base, const site *s,
                         const json_t *node)
{
    char name[MAX_NAME];
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)node, key, v)
    {
        if (!is_required(&s->c, key) || !spend(g)) continue;
        char *prop = pointer_append(s->path, key);
        case_name(name, sizeof name, "invalid-required", prop, NULL);
        free(prop);
        json_t *args = json_deep_copy(base);
        json_object_del(pointer_get(args, s->path, false), key);
        emit_invalid(g, cases, name, args, s->path, "required");
    }
    static const char *const closers[] = {"additionalProperties", "unevaluatedProperties"};
    for (size_t k = 0; k < 2; k++) {
        if (!json_is_false(first_kw(&s->c, closers[k])) || !spend(g)) continue;
        char extra[32] = "unexpected_property";
        for (int i = 2; json_object_get(node, extra); i++)
            snprintf(extra, sizeof extra, "unexpected_property_%d", i);
        json_t *args = json_deep_copy(base);
        json_object_set_new(pointer_get(args, s->path, false), extra, json_string("unexpected"));
        char *prop = pointer_append(s->path, extra);
        case_name(name, sizeof name, "invalid", s->path, closers[k]);
        emit_invalid(g, cases, name, args, prop, closers[k]);
        free(prop);
    }
    if (first_kw(&s->c, "propertyNames")) {
        static const char *const odd_names[] = {"INVALID NAME", "!", "0", "invalid-name", ""};
        case_name(name, sizeof name, "invalid", s->path, "propertyNames");
        for (size_t k = 0; k < sizeof odd_names / sizeof *odd_names; k++) {
            if (json_object_get(node, odd_names[k]) || !spend(g)) continue;
            json_t *args = json_deep_copy(base);
            json_object_set_new(pointer_get(args, s->path, false), odd_names[k], json_string("x"));
            char *prop = pointer_append(s->path, odd_names[k]);
            bool done = emit_invalid(g, cases, name, args, prop, "propertyNames");
            free(prop);
            if (done) break;
        }
    }
    double minp, maxp;
    if (bound(&s->c, "minProperties", true, &minp) && minp >= 1 &&
        (double)json_object_size(node) >= minp && spend(g)) {
        json_t *args = json_deep_copy(base);
        json_t *obj = pointer_get(args, s->path, false);
        /* Optional properties go first, from the end. */
        for (int pass = 0; pass < 2 && (double)json_object_size(obj) > minp - 1; pass++) {
            json_t *keys = json_array();
            json_object_foreach(obj, key, v)
            {
                json_array_insert_new(keys, 0, json_string(key));
            }
            size_t i;
            json_t *kj;
            json_array_foreach(keys, i, kj)
            {
                const char *kname = json_string_value(kj);
                if ((double)json_object_size(obj) <= minp - 1) break;
                if (pass == 1 || !is_required(&s->c, kname)) json_object_del(obj, kname);
            }
            json_decref(keys);
        }
        case_name(name, sizeof name, "invalid", s->path, "minProperties");
        emit_invalid(g, cases, name, args, s->path, "minProperties");
    }
    if (bound(&s->c, "maxProperties", false, &maxp) && maxp < 64 && spend(g)) {
        json_t *args = json_deep_copy(base);
        json_t *obj = pointer_get(args, s->path, false);
        for (int i = 1; (double)json_object_size(obj) <= maxp; i++) {
            char extra[32];
            snprintf(extra, sizeof extra, "extra_property_%d", i);
            if (!json_object_get(obj, extra)) json_object_set_new(obj, extra, json_string("extra"));
        }
        case_name(name, sizeof name, "invalid", s->path, "maxProperties");
        emit_invalid(g, cases, name, args, s->path, "maxProperties");
    }
    const json_t *deps = first_kw(&s->c, "dependentRequired");
    const json_t *list;
    json_object_foreach((json_t *)deps, key, list)
    {
        if (!json_object_get(node, key)) continue;
        size_t i;
        const json_t *dep;
        json_array_foreach(list, i, dep)
        {
            if (!json_is_string(dep) || !json_object_get(node, json_string_value(dep)) || !spend(g))
                continue;
            json_t *args = json_deep_copy(base);
            json_object_del(pointer_get(args, s->path, false), json_string_value(dep));
            char *prop = pointer_append(s->path, json_string_value(dep));
            case_name(name, sizeof name, "invalid-dependent-required", prop, NULL);
            free(prop);
            emit_invalid(g, cases, name, args, s->path, "dependentRequired");
        }
    }
}

/* Breaks the array keywords of the site: too few items, too many, a
 * duplicate. */
static void break_array(gen *g, json_t *cases, const json_t *base, const site *s,
                        const json_t *node)
{
    char name[MAX_NAME];
    size_t size = json_array_size(node);
    double min, max;
    if (bound(&s->c, "minItems", true, &min) && min >= 1 && (double)size >= min && spend(g)) {
        json_t *args = json_deep_copy(base);
        json_t *arr = pointer_get(args, s->path, false);
        while ((double)json_array_size(arr) > min - 1)
            json_array_remove(arr, json_array_size(arr) - 1);
        case_name(name, sizeof name, "invalid", s->path, "minItems");
        emit_invalid(g, cases, name, args, s->path, "minItems");
    }
    if (size > 0 && bound(&s->c, "maxItems", false, &max) && max < MAX_ITEMS * 16 && spend(g)) {
        json_t *args = json_deep_copy(base);
        json_t *arr = pointer_get(args, s->path, false);
        for (size_t i = 0; (double)json_array_size(arr) <= max; i++)
            json_array_append_new(arr, json_deep_copy(json_array_get(arr, i % size)));
        case_name(name, sizeof name, "invalid", s->path, "maxItems");
        emit_invalid(g, cases, name, args, s->path, "maxItems");
    }
    if (size > 0 && json_is_true(first_kw(&s->c, "uniqueItems")) && spend(g)) {
        json_t *args = json_deep_copy(base);
        json_t *arr = pointer_get(args, s->path, false);
        json_t *copy = json_deep_copy(json_array_get(arr, 0));
        if (size >= 2)
            json_array_set_new(arr, size - 1, copy);
        else
            json_array_append_new(arr, copy);
        case_name(name, sizeof name, "invalid", s->path, "uniqueItems");
        emit_invalid(g, cases, name, args, s->path, "uniqueItems");
    }
    /* No item at all matches an empty array's "contains". */
    if (first_kw(&s->c, "contains") && spend(g)) {
        json_t *args = json_deep_copy(base);
        json_array_clear(pointer_get(args, s->path, false));
        case_name(name, sizeof name, "invalid", s->path, "contains");
        emit_invalid(g, cases, name, args, s->path, "contains");
    }
    /* The first item was made to match "contains": copies of it match too. */
    if (size > 0 && first_kw(&s->c, "contains") && bound(&s->c, "maxContains", false, &max) &&
        max < MAX_ITEMS * 16 && spend(g)) {
        json_t *args = json_deep_copy(base);
        json_t *arr = pointer_get(args, s->path, false);
        for (double i = 0; i <= max; i++)
            json_array_append_new(arr, json_deep_copy(json_array_get(arr, 0)));
        case_name(name, sizeof name, "invalid", s->path, "maxContains");
        emit_invalid(g, cases, name, args, s->path, "maxContains");
    }
    /* An item past the last one "items": false allows. */
    bool closed = false;
    for (size_t i = 0; i < s->c.n; i++)
        closed = closed ||
                 (json_is_object(s->c.v[i]) && json_is_false(json_object_get(s->c.v[i], "items")));
    if (closed && spend(g)) {
        json_t *args = json_deep_copy(base);
        json_t *arr = pointer_get(args, s->path, false);
        json_array_append_new(arr,
                              size ? json_deep_copy(json_array_get(arr, size - 1)) : json_null());
        case_name(name, sizeof name, "invalid", s->path, "items");
        emit_invalid(g, cases, name, args, s->path, "items");
    }
}

/* For each enum of the base arguments, a valid case per other member. */
static void enum_cases(gen *g, json_t *cases, const json_t *base, const site *sites, size_t nsites,
                       const json_t *expect)
{
    for (size_t i = 0; i < nsites; i++) {
        const site *s = &sites[i];
        const json_t *en = first_kw(&s->c, "enum");
        const json_t *node = pointer_get(base, s->path, false);
        if (!*s->path || !json_is_array(en) || !node) continue;
        size_t k;
        const json_t *member;
        json_array_foreach(en, k, member)
        {
            if (k >= MAX_ENUM_CASES || !spend(g)) break;
            if (json_equal(member, node)) continue;
            char name[MAX_NAME], index[32];
            snprintf(index, sizeof index, "enum-%zu", k + 1);
            const char *label = index;
            if (json_is_string(member)) {
                char slug[MAX_NAME] = "";
                slug_append(slug, sizeof slug, json_string_value(member));
                if (*slug) label = json_string_value(member);
            }
            case_name(name, sizeof name, "valid", s->path, label);
            char *text = json_dumps(member, JSON_ENCODE_ANY | JSON_COMPACT);
            char *description = tg_xasprintf("arguments%s is %s", s->path, text);
            free(text);
            json_t *args = json_deep_copy(base);
            if (pointer_set(args, s->path, json_deep_copy(member)))
                emit_valid(g, cases, name, description, args, expect);
            else
                json_decref(args);
            free(description);
        }
    }
}

int tg_contract_generate(const json_t *tool, json_t **out, tg_error *err)
{
    *out = NULL;
    const json_t *input = json_is_object(tool) ? json_object_get(tool, "inputSchema") : NULL;
    const json_t *output = json_is_object(tool) ? json_object_get(tool, "outputSchema") : NULL;
    if (!json_is_object(input) && !json_is_boolean(input)) {
        tg_error_set(err, TG_EINVALID_PARAMS, "the tool has no inputSchema");
        return -1;
    }
    tg_schema_options opts = {.format_assert = true};
    tg_schema_error serr;
    gen g = {.root = input};
    if (tg_schema_compile((json_t *)input, &opts, &g.schema, &serr) != TG_SCHEMA_OK) {
        tg_error_set(err, TG_EINVALID_PARAMS, "inputSchema%s: %s", serr.schema_path, serr.message);
        return -1;
    }
    json_t *expect;
    if (output && !json_is_null(output)) {
        tg_schema *check;
        if (tg_schema_compile((json_t *)output, &opts, &check, &serr) != TG_SCHEMA_OK) {
            tg_error_set(err, TG_EINVALID_PARAMS, "outputSchema%s: %s", serr.schema_path,
                         serr.message);
            tg_schema_free(g.schema);
            return -1;
        }
        tg_schema_free(check);
        expect = json_pack("{s:O}", "matches", output);
    } else {
        expect = json_object();
    }
    g.object = json_pack("{s:s}", "type", "object");
    json_t *cases = json_object();

    const json_t *examples = json_is_object(input) ? json_object_get(input, "examples") : NULL;
    size_t i;
    const json_t *example;
    json_array_foreach(examples, i, example)
    {
        char name[MAX_NAME], description[64];
        snprintf(name, sizeof name, "valid-example-%zu", i + 1);
        snprintf(description, sizeof description, "example %zu of the inputSchema", i + 1);
        emit_valid(&g, cases, name, description, json_deep_copy(example), expect);
    }
    const json_t *def = json_is_object(input) ? json_object_get(input, "default") : NULL;
    if (def)
        emit_valid(&g, cases, "valid-default", "the inputSchema's default", json_deep_copy(def),
                   expect);

    /* The full arguments are the base of the invalid cases: with every
     * property present, every property's keywords can be broken. */
    json_t *full = generate_valid(&g, true);
    site *base_sites = g.sites;
    size_t nbase = g.nsites;
    g.sites = NULL;
    g.nsites = g.capsites = 0;
    json_t *minimal = generate_valid(&g, false);
    json_t *base = full;
    if (!full && minimal) {
        base = minimal;
        sites_truncate(base_sites, &nbase, 0);
        free(base_sites);
        base_sites = g.sites;
        nbase = g.nsites;
        g.sites = NULL;
        g.nsites = g.capsites = 0;
    }
    if (base) {
        char *text = json_dumps(base, JSON_COMPACT);
        g.check_weight = 1 + strlen(text) / 4096;
        free(text);
    }
    if (minimal)
        emit_valid(&g, cases, "valid-minimal", "only the required properties",
                   json_deep_copy(minimal), expect);
    if (full && !(minimal && json_equal(full, minimal)))
        emit_valid(&g, cases, "valid-full", "every property", json_deep_copy(full), expect);
    if (base) {
        enum_cases(&g, cases, base, base_sites, nbase, expect);
        for (size_t s = 0; s < nbase; s++) {
            const json_t *node = pointer_get(base, base_sites[s].path, false);
            if (json_is_object(node))
                break_object(&g, cases, base, &base_sites[s], node);
            else if (json_is_array(node))
                break_array(&g, cases, base, &base_sites[s], node);
            if (node) break_scalar(&g, cases, base, &base_sites[s], node);
        }
    }

    sites_truncate(base_sites, &nbase, 0);
    free(base_sites);
    sites_truncate(g.sites, &g.nsites, 0);
    free(g.sites);
    for (size_t c = 0; c < g.ncheckers; c++) {
        conj_free(&g.checkers[c].c);
        tg_schema_free(g.checkers[c].schema);
    }
    free(g.checkers);
    json_decref(full);
    json_decref(minimal);
    json_decref(expect);
    tg_schema_free(g.schema);
    json_decref(g.object);
    *out = cases;
    return 0;
}
