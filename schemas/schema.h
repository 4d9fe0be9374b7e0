/* The JSON Schema draft 2020-12 engine.
 *
 * A schema is compiled once (every $ref resolved, every pattern compiled, every
 * keyword checked) into an immutable tg_schema, which then validates any number
 * of instances, from any number of threads at once. Nothing is fetched from the
 * network: references outside the schema go through the caller's resolver, and
 * the 2020-12 meta-schemas are built in. */
#ifndef TG_SCHEMAS_SCHEMA_H
#define TG_SCHEMAS_SCHEMA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct tg_schema tg_schema;

/* Returns: new reference to the document whose URI (without fragment) is uri,
 * or NULL when the resolver does not know it. */
typedef json_t *(*tg_schema_resolver)(const char *uri, void *userdata);

typedef struct tg_schema_options {
    tg_schema_resolver resolve; /* optional */
    void *resolve_userdata;
    /* Base URI of the root schema when it has no $id of its own. */
    const char *base_uri;
    /* Makes "format" an assertion instead of an annotation. */
    bool format_assert;
    /* Limits for hostile schemas; 0 takes the default. */
    size_t max_schema_nodes; /* subschemas across every resource (default 100000) */
    size_t max_schema_depth; /* nesting of JSON values in a schema document (default 128) */
    size_t max_violations;   /* violations reported by one validation (default 100) */
    size_t max_steps;        /* subschema evaluations one validation may make (default 5000000) */
} tg_schema_options;

/* Why a schema did not compile: where in the schema, and what is wrong. */
typedef struct tg_schema_error {
    char schema_path[512]; /* JSON Pointer into the schema, prefixed by its URI when remote */
    char message[512];
} tg_schema_error;

/* One reason an instance does not match. The strings are owned by the list
 * (one allocation per violation); tg_schema_violations_free releases them. */
typedef struct tg_schema_violation {
    char *path;        /* JSON Pointer into the instance ("" is the root) */
    char *schema_path; /* JSON Pointer to the failing keyword in its schema document */
    const char *keyword;
    char *message; /* short and concrete: "must be <= 100 (got 500)" */
} tg_schema_violation;

typedef struct tg_schema_violations {
    tg_schema_violation *items;
    size_t count;
    bool truncated; /* more violations existed than max_violations */
} tg_schema_violations;

enum {
    TG_SCHEMA_OK = 0,
    TG_SCHEMA_EINVALID = -1, /* the schema is not a valid 2020-12 schema */
    TG_SCHEMA_ELIMIT = -2,   /* the schema exceeds a size or depth limit */
    TG_SCHEMA_EREF = -3,     /* a reference cannot be resolved, or loops */
};

/* Compiles schema (borrowed; the compiled schema keeps its own reference).
 * Returns 0, or a negative TG_SCHEMA_E* code with err filled when err != NULL. */
int tg_schema_compile(json_t *schema, const tg_schema_options *opts, tg_schema **out,
                      tg_schema_error *err);

/* Returns true when instance matches. Stops at the first violation and
 * allocates nothing on the way: the fast path for the common, valid case. */
bool tg_schema_valid(const tg_schema *schema, const json_t *instance);

/* Validates and, when out != NULL, collects every violation (up to the limit).
 * Returns 0 when instance matches, 1 when it does not. */
int tg_schema_validate(const tg_schema *schema, const json_t *instance, tg_schema_violations *out);

/* Returns: new reference, an array of {path, schemaPath, keyword, message}. */
json_t *tg_schema_violations_json(const tg_schema_violations *v);
void tg_schema_violations_free(tg_schema_violations *v);

void tg_schema_free(tg_schema *schema);

/* The text of a document built into the engine (a 2020-12 meta-schema, or a
 * schema toolgate publishes, such as the worker manifest's) by its "$id", or
 * NULL. References to these resolve without a resolver. */
const char *tg_schema_builtin(const char *uri);

#endif
