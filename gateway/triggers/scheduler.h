/* The scheduler: runs each worker whose manifest has triggers.schedule at the
 * schedule's run times ("slots", see cron.h), through whatever start callback
 * it is given (the gateway's runs the call pipeline, trigger kind
 * "schedule").
 *
 * State: a row per scheduled worker in a sqlite file of its own (WAL,
 * synchronous=FULL), or in the "scheduler" schema of a PostgreSQL database:
 * the schedule, its next slot, and the slot whose run has
 * not finished yet ("pending"). A slot is taken (next moves past it, pending
 * is set) in a committed write before its run starts, and pending is
 * cleared once that run is over for good: it succeeded, failed without a
 * retry, or used up its retries. Hence:
 *   - a restart never takes a slot twice;
 *   - a restart never loses one: a slot taken whose run had not finished (its
 *     call still queued or running, or waiting to retry, when the gateway
 *     stopped) runs again at start; slots that passed while the gateway was
 *     down give one catch-up run at start, however many passed, or none with
 *     missed "skip" (recorded as missed);
 *   - a run the process died under (SIGKILL, power loss) runs again at start:
 *     at least once per slot, which a sync worker keeping its cursor in
 *     state is built for.
 * Replicas: several gateways may share one PostgreSQL store, each following
 * every schedule, each with its own id (tg_scheduler_config.replica).
 *   - While the replicas live, exactly one runs each slot: taking a slot is
 *     a compare-and-set on the row, so of replicas polling together one
 *     takes it and the others see it taken (and skip nothing: they move to
 *     the next slot).
 *   - The replica that took a slot owns its run, retries included, under a
 *     lease on the row that it renews every lease_ms / 3 while the run lasts.
 *     If it dies or is cut off from the store, the lease lapses and another
 *     replica resumes the run from its first try, as a catch-up: at least
 *     once for that run, as for a crashed single gateway. A run that was
 *     still going where its lease was lost ends there as a duplicate whose
 *     report changes nothing. A replica that stops releases its waiting
 *     retries and interrupted runs at once; one restarting under its old id
 *     resumes its own runs without waiting.
 *   - Leases are written and compared by the database server's clock, so
 *     replicas on hosts whose clocks disagree agree on them. Slots are the
 *     hosts' own wall-clock times: a host whose clock runs ahead takes its
 *     slots early, still once each.
 *   - Schedules change on every replica (the gateway calls
 *     tg_scheduler_set on each, as the registry tells them): the first to
 *     write the change sets its slot, the others take the row as it is.
 *     A replica reads a row again whenever its write finds that another
 *     wrote it since, and no more often.
 * With sqlite one process follows the store; leases are not looked at.
 * Overlap: a slot that comes while the worker's previous scheduled run (its
 * retries included) is still going is skipped, and recorded as skipped in the
 * runs history and the audit log.
 * Jitter: a worker's runs start at a fixed offset after each slot, a hash of
 * tenant and worker below min(jitter_ms, a tenth of the schedule's
 * interval), so a thousand workers due every fifteen minutes start spread
 * over seconds, and each at the same offset every time.
 * Retries: a run that fails with a retryable error runs again after
 * backoff_ms * 2^(try - 1), at most max_backoff_ms, of which a random half
 * to all is waited, up to max_retries more times. Waits are not persisted: a
 * restart runs a pending slot again from its first try.
 * Cost: due runs are found in a binary heap of fire times, O(log n) a run, and
 * the thread sleeps until the earliest (waking at least once a minute to
 * follow the wall clock), so an idle scheduler costs nothing per schedule.
 *
 * Every function is thread-safe. */
#ifndef TG_TRIGGERS_SCHEDULER_H
#define TG_TRIGGERS_SCHEDULER_H

#include "audit/audit.h"
#include "gateway/core/errors.h"
#include "gateway/runs/runs.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct tg_scheduler tg_scheduler;

/* A worker's schedule, from its manifest's triggers. */
typedef struct tg_schedule {
    const char *expr; /* triggers.schedule */
    const char *zone; /* triggers.timezone; NULL: UTC */
    bool skip_missed; /* triggers.missed is "skip" */
    unsigned max_retries;
    int64_t backoff_ms, max_backoff_ms;
} tg_schedule;

#define TG_SCHEDULE_MAX_RETRIES    3
#define TG_SCHEDULE_BACKOFF_MS     1000
#define TG_SCHEDULE_MAX_BACKOFF_MS 60000

/* Reads manifest's triggers into *out (strings borrowed from manifest), with
 * the defaults above. Returns false when the manifest has no schedule. */
bool tg_schedule_from_manifest(const json_t *manifest, tg_schedule *out);

/* One run the scheduler starts. Strings are borrowed for the call. */
typedef struct tg_schedule_run {
    const char *tenant, *worker;
    int64_t scheduled_ms; /* the slot, ms since the epoch */
    unsigned attempt;     /* 1 for the first try */
    bool catch_up;        /* the slot passed while the gateway was down */
    uint64_t id;          /* names the run in tg_scheduler_finished */
} tg_schedule_run;

typedef enum tg_schedule_outcome {
    TG_SCHEDULE_OK,
    TG_SCHEDULE_FAILED,    /* an error no retry would change */
    TG_SCHEDULE_RETRYABLE, /* an error that may go otherwise next time */
} tg_schedule_outcome;

/* How a started run went; strings borrowed. */
typedef struct tg_schedule_report {
    uint64_t id; /* the run's */
    const char *tenant, *worker;
    tg_schedule_outcome outcome;
    const char *call_id;    /* the call that ran it; may be NULL */
    const char *error_code; /* NULL when it succeeded */
} tg_schedule_report;

typedef struct tg_scheduler_config {
    int64_t jitter_ms; /* the widest spread after a slot; 0: 5000; negative: none */
    /* Starts run (borrowed for the call) without waiting for it; its end is
     * reported with tg_scheduler_finished, from any thread, exactly once.
     * Called on the scheduler's thread, or the caller of tg_scheduler_poll,
     * with no lock of the scheduler's held. */
    void (*start)(void *ctx, const tg_schedule_run *run);
    void *ctx;
    /* schedule.run records (trigger kind "schedule"): skipped, missed,
     * retrying, and each slot's final ok or failed. Required. */
    tg_audit *audit;
    tg_runs *runs; /* skipped runs are recorded here; may be NULL */
    /* This replica's id, unique among the live replicas sharing a
     * PostgreSQL store, and readable in logs; copied. A replica that
     * restarts under its old id resumes its own runs at once, without
     * waiting for their leases. NULL: "local", enough for sqlite, where
     * one process follows the store. */
    const char *replica;
    int64_t lease_ms; /* how long a run's owner holds it unrenewed; 0: 10000 */
} tg_scheduler_config;

/* Opens (creating) the store at path (a sqlite file, which one gateway
 * process follows, or a PostgreSQL URL, which replicas may share) and loads
 * its schedules. With sqlite, they are taken to have been left by a gateway
 * that stopped before now_ms: their pending slots run again at the first
 * poll, their missed slots as the schedule says. With PostgreSQL, a pending
 * slot runs again at once only when its run is nobody's (its lease lapsed,
 * released, or this replica's id before a restart); otherwise when its lease
 * lapses. Returns 0, or TG_EUNAVAILABLE with err set. */
int tg_scheduler_open(const char *path, const tg_scheduler_config *config, int64_t now_ms,
                      tg_scheduler **out, tg_error *err);

/* Follows the worker's current schedule (NULL: it has none, or the worker is
 * gone). A new schedule, or a changed expression or zone, runs first at its
 * next slot after now_ms; an unchanged one keeps its slot and pending run.
 * Returns 0, TG_EINVALID_PARAMS (err says why) for an expression or zone that
 * does not parse, or TG_EUNAVAILABLE when the store fails. */
int tg_scheduler_set(tg_scheduler *s, const char *tenant, const char *worker,
                     const tg_schedule *schedule, int64_t now_ms, tg_error *err);

/* Reconciling with the registry, before tg_scheduler_start: between begin
 * and end, every worker given to tg_scheduler_set is kept, and at end, when
 * the caller saw the complete list, the store's other schedules are dropped.
 * sqlite: all in one transaction. PostgreSQL: each write on its own, and a
 * row another replica wrote since this one read it is kept (and followed):
 * that replica follows a worker deployed after this one's listing. */
int tg_scheduler_sync_begin(tg_scheduler *s, tg_error *err);
int tg_scheduler_sync_end(tg_scheduler *s, bool complete, tg_error *err);

/* Takes every slot and retry due at now_ms (persisted first), then starts
 * their runs and records the skipped and missed ones; with PostgreSQL, also
 * takes over runs whose lease lapsed, and renews this replica's leases when
 * lease_ms / 3 has passed since it last did. Returns the time of the next due
 * slot or retry, or of the next look at another replica's lease (INT64_MAX
 * when none). The scheduler's thread calls this, waking for the renewals
 * too; tests and benchmarks may instead of starting it. */
int64_t tg_scheduler_poll(tg_scheduler *s, int64_t now_ms);

/* Reports a started run's end at now_ms. A report for a run the scheduler no
 * longer follows (its schedule changed or went, or another replica took it
 * over) only leaves its record. */
void tg_scheduler_finished(tg_scheduler *s, const tg_schedule_report *report, int64_t now_ms);

/* How many schedules are followed. */
size_t tg_scheduler_count(tg_scheduler *s);

/* Returns: new reference to an array of tenant's schedules, in no order:
 * {worker, schedule, timezone, state (idle|running|retrying), next_run_at
 * (ms since the epoch, when the next run is due; null when none is)}. */
json_t *tg_scheduler_list(tg_scheduler *s, const char *tenant);

/* Starts the thread that polls at each due time. Returns 0 or -1. */
int tg_scheduler_start(tg_scheduler *s);
/* Stops the thread: nothing starts after it returns, and a retryable failure
 * reported after it leaves its slot pending for the next start, or, with
 * PostgreSQL, for another replica to take at once (as are retries waiting
 * here). */
void tg_scheduler_stop(tg_scheduler *s);
/* Frees; after tg_scheduler_stop and after every started run reported. */
void tg_scheduler_close(tg_scheduler *s);

#endif
