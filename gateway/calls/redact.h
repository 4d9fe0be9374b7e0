/* Redaction of a tool call's arguments before they are written to the audit
 * log. A tool's inputSchema marks sensitive locations with
 * "x-toolgate-sensitive": true; the caller adds the secret values it knows of.
 *
 * Invariant: when in doubt, redact. Anything the walk cannot follow with
 * certainty (a pattern that does not compile or match cleanly, nesting past
 * the limits, a branch that may or may not have applied) counts as sensitive,
 * because a value needlessly hidden costs less than a credential kept forever
 * in an append-only log. */
#ifndef TG_CALLS_REDACT_H
#define TG_CALLS_REDACT_H

#include <jansson.h>
#include <stddef.h>

/* What every redacted value becomes. */
#define TG_REDACTED "[REDACTED]"

/* Values nested deeper than this (the arguments themselves are at depth 0)
 * are redacted whole, so that the walk's stack stays bounded. */
#define TG_REDACT_MAX_DEPTH 128

/* Returns: new reference, a deep copy of args (borrowed) in which
 *  - every value at a location where some subschema of schema applies that
 *    has "x-toolgate-sensitive": true becomes TG_REDACTED, whole;
 *  - every string value (object keys are kept) that contains one of
 *    secrets[0..nsecrets) as a substring becomes TG_REDACTED. Empty and NULL
 *    secrets are skipped: they would match everything.
 * schema (borrowed) is the tool's inputSchema, already compiled at deploy, or
 * NULL, when only the secrets apply. Subschemas apply through properties,
 * patternProperties, additionalProperties, prefixItems, items, allOf, anyOf,
 * oneOf, if/then/else, dependentSchemas and $ref/$dynamicRef (resolved
 * against the $id of the resource they are in, as the compiler does); every
 * branch counts whether or not the instance took it, and a location a
 * reference leads from into another document, or nowhere, is redacted
 * whole. Returns NULL only when args is NULL. */
json_t *tg_redact_arguments(const json_t *schema, const json_t *args, const char *const *secrets,
                            size_t nsecrets);

#endif
