/* From what a worker did to what the agent reads: the MCP CallToolResult of a
 * finished run, and the refusal of arguments that do not match the tool's
 * inputSchema. The rules are docs/workers.md's; nothing here knows how the
 * sandbox ran. */
#ifndef TG_CALLS_RESULT_H
#define TG_CALLS_RESULT_H

#include "gateway/registry/registry.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* How a run ended, as the sandbox reported it. */
typedef struct tg_run_outcome {
    int exit_code;           /* meaningful when signal == 0 */
    int signal;              /* the signal that ended the worker, or 0 */
    bool timed_out;          /* killed at its time limit */
    bool output_truncated;   /* stdout went past max_output_bytes */
    const char *stdout_data; /* borrowed */
    size_t stdout_len;
    const char *stderr_tail; /* borrowed, may be NULL */
} tg_run_outcome;

/* Returns 0 when args match the tool's inputSchema. Otherwise returns
 * TG_EINVALID_ARGUMENTS with *refusal a new reference: the tool error result
 * listing every violation as {path, keyword, message}. */
int tg_call_check_arguments(const tg_registry_snapshot *tool, const json_t *args,
                            const char *call_id, json_t **refusal);

/* Returns: new reference, the CallToolResult for outcome: the worker's result
 * (checked against the outputSchema, shaped per the manifest's "output"), its
 * own structured error, or a gateway error (TIMEOUT, OUTPUT_TOO_LARGE,
 * WORKER_FAILED, OUTPUT_SCHEMA_VIOLATION). */
json_t *tg_call_result(const tg_registry_snapshot *tool, const tg_run_outcome *outcome,
                       const char *call_id);

#endif
