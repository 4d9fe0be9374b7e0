/* A linter for tool definitions: warnings, at deploy, about the parts of a
 * manifest's MCP tool definition that make models call the tool badly
 * (missing descriptions, open argument objects, huge enums, definitions that
 * eat the context window). It never rejects a deploy; the manifest schema
 * does that.
 *
 * Invariant: any JSON value is accepted and left untouched, and the work is
 * bounded whatever its shape: schemas nested deeper than 64 levels, and
 * schemas past the 10000th visited, are not looked into (a value built
 * through the jansson API may share subtrees, so a tree of depth 64 can
 * stand for far more paths than it has nodes). */
#ifndef TG_REGISTRY_LINT_H
#define TG_REGISTRY_LINT_H

#include <jansson.h>
#include <stddef.h>

/* 0 in a field takes its default. */
typedef struct tg_lint_options {
    size_t max_enum;     /* an enum with more values than this is flagged (default 50) */
    size_t token_budget; /* estimated tokens of the whole definition (default 2000) */
} tg_lint_options;

/* Returns: new reference, an array of warnings {path, rule, message} about the
 * tool definition in manifest (borrowed), in document order; empty when none.
 * opts may be NULL (defaults).
 *
 * path is a JSON Pointer into the manifest naming what should change: the
 * schema or the enum at fault, or "" for the tool as a whole. rule is one of:
 *
 *   description-missing  the tool (path "") has no description, or a property
 *       of an object schema in inputSchema has none. Only text that is not
 *       all whitespace counts. A property that is only a local "$ref" counts
 *       as described when the schema it points to has a description, since a
 *       model reading the schema finds it there; a reference that does not
 *       resolve to a JSON Pointer inside inputSchema does not.
 *   additional-properties-open  an object schema in inputSchema (its type is
 *       "object", or it has properties) that lets a model add names of its
 *       own: neither additionalProperties nor unevaluatedProperties is false.
 *       A schema given as either keyword's value is a deliberate map, whose
 *       keys are data, and is not flagged; nor is an allOf/anyOf/oneOf branch
 *       whose enclosing schema is closed, nor a schema closed by an allOf
 *       branch or by every anyOf/oneOf branch.
 *   enum-too-large  an enum (inputSchema or outputSchema) with more than
 *       max_enum values; path names the enum array.
 *   token-budget  the definition (name, title, description, inputSchema,
 *       outputSchema, annotations as compact JSON) is estimated, at one token
 *       per four bytes, above token_budget; path "".
 *   input-not-object  inputSchema is absent or its type is not "object",
 *       which MCP requires; path "/inputSchema".
 *
 * Schemas are followed through properties, patternProperties,
 * additionalProperties, items, prefixItems, $defs, definitions, allOf, anyOf
 * and oneOf; not through if/then/else, not or dependentSchemas, which
 * constrain arguments rather than declare them. */
json_t *tg_lint_tool(const json_t *manifest, const tg_lint_options *opts);

#endif
