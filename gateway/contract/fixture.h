/* Contract fixtures: one call of a worker with the answer its schemas
 * promise. A fixture is a JSON document
 *
 *   { "description": "...", "arguments": {...},
 *     "expect": { "structuredContent": <exact value> }
 *             | { "matches": <JSON Schema the structuredContent must match> }
 *             | { "content": [<exact MCP content blocks>] }
 *             | { "error": { "code": "INVALID_ARGUMENTS", "paths": ["/since"],
 *                            "keywords": ["format"] } }
 *             | {} (the call succeeds, whatever it answers),
 *     "generated": true (written by `toolgate contract gen`; absent otherwise) }
 *
 * The same checks serve `toolgate contract run` (over MCP, against a running
 * gateway) and the gateway's own deploy check (the version's fixtures/
 * folder, before the version becomes current). */
#ifndef TG_CONTRACT_FIXTURE_H
#define TG_CONTRACT_FIXTURE_H

#include "gateway/core/errors.h"

#include <jansson.h>
#include <stdbool.h>

/* Checks that fixture has the shape above (unknown keys refused, "matches"
 * compiles). Returns 0, or -1 with err (when not NULL) naming the problem
 * with its JSON Pointer. */
int tg_fixture_check(const json_t *fixture, tg_error *err);

/* Whether the CallToolResult result meets the fixture's expect. On false,
 * *why (when not NULL) is a new string saying the first difference found,
 * with its JSON Pointer; free it. fixture must have passed tg_fixture_check.
 * An error expectation reads the error object wherever the gateway put it
 * (structuredContent.error, or _meta["dev.toolgate/error"] for a tool with an
 * outputSchema); every other expectation is unmet by an isError result, and
 * *why then says its error code and message. */
bool tg_fixture_met(const json_t *fixture, const json_t *result, char **why);

#endif
