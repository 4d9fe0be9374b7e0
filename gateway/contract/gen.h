/* Fixtures generated from a tool's schemas (`toolgate contract gen`): valid
 * arguments built from "examples", "default", "const"/"enum" and the
 * constraints, expected to succeed (and to match the outputSchema when there
 * is one); and for each constraint of the inputSchema one invalid case that
 * the gateway must refuse with INVALID_ARGUMENTS at the right path with the
 * right keyword. Every fixture carries "generated": true: generated files are
 * regenerated, never merged by hand. */
#ifndef TG_CONTRACT_GEN_H
#define TG_CONTRACT_GEN_H

#include "gateway/core/errors.h"

#include <jansson.h>

/* tool: an object with "name", "inputSchema" and optionally "outputSchema"
 * (a manifest, or a tool as tools/list shows it; borrowed). Returns 0 and
 * *out (new reference): an object from case name (a file stem of
 * [a-z0-9_-]) to fixture (gateway/contract/fixture.h), in a stable order;
 * or -1 with err when a schema does not compile. */
int tg_contract_generate(const json_t *tool, json_t **out, tg_error *err);

#endif
