/* The one pipeline every invocation goes through, whatever its front:
 * resolve (done by the caller, who holds the tool's snapshot), validate the
 * arguments, admission (RATE_LIMITED with an honest retryAfterMs), the audit
 * log's call.begin record, acquire a sandbox, run, check the output, the
 * call.end record, respond, destroy the sandbox. Calls run on the pipeline's
 * own threads, so a front never blocks on a worker; the answer comes through
 * a callback.
 *
 * No unaudited execution: a call whose call.begin cannot be made durable
 * answers AUDIT_UNAVAILABLE and never reaches a sandbox, and a call whose
 * call.end cannot be made durable answers AUDIT_UNAVAILABLE instead of its
 * result, so every result a client sees has both records. Calls refused
 * before they run (arguments, admission) leave one call.end record with
 * status "refused". Every result carries its call id in
 * _meta["dev.toolgate/callId"], the key to its records. */
#ifndef TG_CALLS_CALL_H
#define TG_CALLS_CALL_H

#include "audit/audit.h"
#include "gateway/calls/admission.h"
#include "gateway/egress/egress.h"
#include "gateway/registry/registry.h"
#include "gateway/runs/runs.h"
#include "gateway/state/state.h"
#include "vm-pool/pool.h"

#include <jansson.h>

typedef struct tg_calls tg_calls;

/* Receives the CallToolResult (stolen) on a pipeline thread. */
typedef void (*tg_call_done_fn)(json_t *result, void *userdata);

/* A progress or log line the worker wrote on fd 3 while it ran (borrowed). */
typedef void (*tg_call_event_fn)(const json_t *event, void *userdata);

typedef struct tg_call_request {
    tg_registry_snapshot *tool; /* borrowed; the pipeline takes its own reference */
    const json_t *arguments;    /* borrowed; an object */
    const char *session_id;     /* with request_id, names the call for cancellation; may be NULL */
    const json_t *request_id;   /* borrowed; may be NULL */
    const char *principal;      /* who asked, for the audit log ("<tenant>/<sub>") */
    const char *trigger_kind;   /* agent, button, webhook, schedule, cli or contract */
    const char *trace_id; /* 32 hex digits from the caller's traceparent, or NULL for a new one */
    /* With trace_id, the sampled flag of the caller's traceparent. The worker
     * gets TRACEPARENT: the call's trace id, a fresh parent id (its span)
     * and this flag; a new trace is sampled. */
    bool trace_sampled;
    int64_t scheduled_ms; /* a scheduled run: the run time it is for, kept in the history */
    unsigned attempt;     /* a scheduled run: its try, from 1; 0 for any other call */
    /* The definition hash the caller pinned (from tools/list _meta), or NULL:
     * a call made against a definition that has since changed is refused
     * with DEFINITION_CHANGED before its arguments are even read, since the
     * caller built them for a tool that no longer exists as it saw it. */
    const char *pinned_definition;
    tg_call_event_fn on_event; /* may be NULL */
    tg_call_done_fn done;
    void *userdata;
} tg_call_request;

typedef struct tg_calls_config {
    tg_pool *pool;         /* borrowed */
    tg_audit *audit;       /* borrowed; required */
    tg_egress *egress;     /* borrowed; NULL: workers' requests are all refused */
    tg_registry *registry; /* borrowed: egress rules set at runtime; NULL: the manifests' */
    /* borrowed: the sync state workers with "capabilities": ["state"] reach
     * at http://toolgate.internal/v1/state, through the egress channel (so
     * only with egress set); NULL: those requests answer 503 */
    tg_state *state;
    /* The values of tenant's secrets and of principal's own (the sub of a
     * "<tenant>/<sub>" caller, else NULL), redacted wherever they appear in
     * a call's logged arguments; NULL when there are none. The pipeline
     * wipes and frees each value and the array. */
    int (*secret_values)(void *ctx, const char *tenant, const char *principal, char ***values,
                         size_t *n);
    void *secrets_ctx;
    int64_t
        audit_deadline_ms; /* how long a call waits for its record to be durable; default 2000 */
    tg_admission_config admission; /* rate limits and concurrency caps (0: defaults) */
    unsigned threads;              /* calls running at once; default 32 */
    int64_t acquire_ms; /* how long a call waits for a sandbox before CAPACITY; default 5000 */
    /* Called once per call, refused ones included, on the pipeline thread
     * after the answer went out and the sandbox is gone, with the result the
     * caller got, the worker's stderr tail and its fd-3 log lines (at most
     * TG_RUNS_MAX_LOG_BYTES of them; the rest are counted). Must not block
     * for long: the thread takes the next call after it. May be NULL. */
    void (*on_finished)(void *ctx, const tg_run_summary *run);
    void *finished_ctx;
} tg_calls_config;

int tg_calls_new(const tg_calls_config *config, tg_calls **out);
/* Fails every queued call with UNAVAILABLE (retryable), waits for running
 * ones, then frees. */
void tg_calls_free(tg_calls *calls);

/* Makes tool's version ready to call: runs the setup its manifest names
 * ("install once, start from the snapshot") unless that version's template
 * exists. Blocks for as long as the setup runs. Returns NULL when the
 * version can be called, else a tool error result (new reference):
 * SETUP_FAILED with the setup's exit and stderr tail, or UNAVAILABLE. A
 * failed setup is remembered: calls of that version answer SETUP_FAILED
 * without running it again. */
json_t *tg_calls_prepare(tg_calls *calls, const tg_registry_snapshot *tool);

/* How many calls have been handed to a sandbox to run since tg_calls_new. */
/* Puts new admission limits in force for the calls that come next
 * (tg_admission_reconfigure). Returns 0, or non-zero with err set and the
 * old limits still in force. */
int tg_calls_set_admission(tg_calls *calls, const tg_admission_config *config, tg_error *err);
uint64_t tg_calls_runs(tg_calls *calls);

/* Queues the call; done is called exactly once, from a pipeline thread. */
void tg_call_start(tg_calls *calls, const tg_call_request *request);
/* Cancels the call the session made with request_id, if it is still queued
 * or running: its sandbox is killed and it answers CANCELLED. With
 * session_id NULL, the call made without a session under request_id: a
 * front that cancels such calls gives each an id unique among them. */
void tg_call_cancel(tg_calls *calls, const char *session_id, const json_t *request_id);

#endif
