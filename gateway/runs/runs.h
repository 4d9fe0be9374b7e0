/* Runs history: every call, whatever its trigger, is a run. The store keeps
 * each run's summary in a sqlite file of its own (<data_dir>/runs.db, WAL),
 * or in the "runs" schema of a PostgreSQL database the gateway's replicas
 * share, and for the last keep_results runs of each (tenant, worker) its result and
 * logs (stderr tail and fd-3 log lines); an older run keeps its summary only.
 * The same file holds the idempotency keys of button triggers, for 24 hours.
 *
 * History is not the audit log: the audit log is the durable record of every
 * call; this is a convenience for people looking at what ran. Its file is
 * written with synchronous=NORMAL (no fsync per run), so a power loss may
 * forget the last runs, never corrupt the file. */
#ifndef TG_RUNS_RUNS_H
#define TG_RUNS_RUNS_H

#include "gateway/core/errors.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tg_runs tg_runs;

/* How one call went, as the call pipeline reports it once it answered. Every
 * pointer is borrowed for the call's duration. */
typedef struct tg_run_summary {
    const char *call_id, *tenant, *worker, *version;
    const char *trigger_kind; /* agent, button, webhook, schedule, cli or contract */
    const char *principal;
    int64_t started_ms;      /* wall clock, milliseconds since the epoch */
    int64_t duration_ms;     /* from taking the call to answering it */
    const char *status;      /* ok, error (it ran and failed), refused (it never ran), or skipped (a
                              * scheduled run whose previous run was still going) */
    const char *error_code;  /* NULL when status is ok */
    int64_t output_bytes;    /* the worker's stdout */
    const json_t *result;    /* the CallToolResult; may be NULL */
    const char *stderr_tail; /* the worker's last stderr bytes; may be NULL */
    const json_t *logs;      /* array of the fd-3 events with a "log" field; may be NULL */
    unsigned logs_dropped;   /* log events beyond the bound, counted only */
    int64_t scheduled_ms;    /* a scheduled run: the run time it is for */
    unsigned attempt;        /* a scheduled run: 1 for the first try; 0 for other runs */
} tg_run_summary;

/* Per-run bound on what the log part keeps (stderr tail and events). */
#define TG_RUNS_MAX_LOG_BYTES (64u << 10)
/* A result larger than this, serialized, is not kept (its summary is). */
#define TG_RUNS_MAX_RESULT_BYTES (4u << 20)
/* How long an idempotency key is remembered. */
#define TG_RUNS_IDEMPOTENCY_MS (24 * 3600 * 1000LL)

typedef struct tg_runs_config {
    unsigned keep_results; /* results kept per (tenant, worker); 0: the default, 20 */
} tg_runs_config;

/* Opens (creating) the store at path, a sqlite file or a PostgreSQL URL.
 * Idempotency keys whose call was still running when the last process ended
 * are released: that call's answer was never stored, so a retry with the key
 * runs the worker. (In PostgreSQL, shared with replicas whose calls may be
 * running, only keys older than any call can run are.) Returns 0, or
 * TG_EUNAVAILABLE with err filled. */
int tg_runs_open(const char *path, const tg_runs_config *config, tg_runs **out, tg_error *err);
void tg_runs_close(tg_runs *runs);

/* Records a run, and drops the result and logs of the (tenant, worker)'s
 * runs beyond the newest keep_results, in one transaction. */
int tg_runs_insert(tg_runs *runs, const tg_run_summary *run, tg_error *err);

typedef struct tg_runs_filter {
    const char *tenant;                         /* required */
    const char *worker, *trigger_kind, *status; /* NULL: any */
} tg_runs_filter;

/* A page of runs matching f, newest recorded first: *page a new array of
 * summaries, *next a new cursor string for the page after (NULL on the last
 * page). cursor is NULL for the first page. A page continues exactly where
 * the last one stopped, whatever was recorded since: the cursor is the
 * position of the last run shown in recording order, and later runs only
 * ever come before it. limit 0 means 50. Returns 0, TG_EINVALID_PARAMS for
 * a malformed cursor, or TG_EUNAVAILABLE. */
int tg_runs_list(tg_runs *runs, const tg_runs_filter *f, size_t limit, const char *cursor,
                 json_t **page, char **next, tg_error *err);

/* One run of tenant's: its summary, with "result" when it is still kept.
 * Returns 0, TG_ENOT_FOUND, or TG_EUNAVAILABLE. */
int tg_runs_get(tg_runs *runs, const char *tenant, const char *call_id, json_t **run,
                tg_error *err);

/* A kept run's logs: {"call_id", "stderr", "events": [...], "events_dropped"}.
 * TG_ENOT_FOUND for a run unknown to tenant or whose logs were pruned. */
int tg_runs_logs(tg_runs *runs, const char *tenant, const char *call_id, json_t **logs,
                 tg_error *err);

/* ---- idempotency keys --------------------------------------------------- */

typedef enum tg_runs_claim {
    TG_RUNS_CLAIMED,  /* the key is new: the caller runs the call, then completes it */
    TG_RUNS_ANSWERED, /* the key's call has finished: *answer is its stored answer */
    TG_RUNS_RUNNING,  /* the key's call is still running */
    TG_RUNS_MISMATCH, /* the key was used with another body */
} tg_runs_claim;

/* Claims (tenant, worker, key) for a call whose body hashes to body_sha256
 * (64 hex digits), at now_ms; keys older than TG_RUNS_IDEMPOTENCY_MS are
 * forgotten first, and so are keys whose call has not answered within an
 * hour (its process died: no call runs that long). Of concurrent claimers,
 * in this process or another sharing the store, exactly one gets
 * TG_RUNS_CLAIMED. *answer is a new reference for TG_RUNS_ANSWERED, else
 * NULL. Returns 0 with *state set, or TG_EUNAVAILABLE. */
int tg_runs_claim_key(tg_runs *runs, const char *tenant, const char *worker, const char *key,
                      const char *body_sha256, int64_t now_ms, tg_runs_claim *state,
                      json_t **answer, tg_error *err);

/* Stores the answer of a claimed key's call (borrowed), or with answer NULL
 * releases the key, so that a retry runs the call again. */
int tg_runs_complete_key(tg_runs *runs, const char *tenant, const char *worker, const char *key,
                         const json_t *answer, tg_error *err);

/* Milliseconds since the epoch as RFC 3339 UTC with milliseconds, into buf
 * (at least 25 bytes). */
void tg_runs_format_time(int64_t ms, char *buf, size_t size);

#endif
