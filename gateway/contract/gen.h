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
 * (a manifest, or a tool as tools/list shows it; borrowed, left unchanged).
 * Returns 0 and *out (new reference): an object from case name (a file stem
 * of [a-z0-9_-]) to fixture (gateway/contract/fixture.h), in the same order on
 * every run; or -1 with err (TG_EINVALID_PARAMS) when the inputSchema is
 * missing or a schema does not compile.
 *
 * The cases, each checked against the inputSchema compiled as the gateway
 * compiles it (format asserted), so none can be wrong; what cannot be built
 * is left out (a required string with a pattern and no example, default or
 * enum to take a value from gives no valid arguments, hence no case at all):
 *   valid-example-<n>  the inputSchema's n-th example, when it validates
 *   valid-default      its default
 *   valid-minimal      only the required properties
 *   valid-full         every property (left out when equal to valid-minimal)
 *   valid-<path>-<v>   valid-full with another member v of an enum at path
 *   invalid-required-<path>  a required property left out; the error's path
 *                      is the object's ("" at the top), keyword "required"
 *   invalid[-<path>]-additional-properties (or -unevaluated-properties)
 *                      a property "unexpected_property" added; the error's
 *                      path is the added property's
 *   invalid[-<path>]-property-names  a property with a name the schema
 *                      refuses; the error's path is the added property's
 *   invalid[-<path>]-<keyword>  one keyword broken at path (type, enum,
 *                      const, min-length, pattern, format, minimum,
 *                      multiple-of, min-items, unique-items, contains,
 *                      items, min-properties, ...); the error's path is path
 *   invalid-dependent-required-<path>  a property another one requires left
 *                      out; the error's path is the object's
 * where <path> is the JSON Pointer's segments joined by '-', in lower case
 * with camelCase split by '-' ("/address/zipCode" gives "address-zip-code"). */
int tg_contract_generate(const json_t *tool, json_t **out, tg_error *err);

#endif
