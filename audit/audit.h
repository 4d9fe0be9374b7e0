/* The audit log: a durable, tamper-evident record of every call, deploy,
 * secret write, denied request and retention run, in its own sqlite file (WAL,
 * synchronous=FULL) or in the schema "audit" of a PostgreSQL database, where
 * several gateway replicas append to one chain.
 *
 * Invariants: tg_audit_append returns 0 only once the transaction holding the
 * record has committed durably; anything else means the record may not be
 * there, and the caller must not run what it meant to audit (fail closed).
 * Records form a hash chain in seq order: hash = SHA-256(prev_hash ||
 * canonical record), the first prev_hash being 32 zero bytes, so
 * tg_audit_verify finds any edit, removal or reordering inside the chain.
 * One writer thread commits queued records in groups, so many concurrent
 * appends share one fsync. */
#ifndef TG_AUDIT_AUDIT_H
#define TG_AUDIT_AUDIT_H

#include "gateway/core/errors.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tg_audit tg_audit;

/* 0 takes the default. */
typedef struct tg_audit_options {
    size_t queue_max;    /* records waiting for the writer (default 4096) */
    size_t group_max;    /* records committed in one transaction (default 512) */
    int busy_timeout_ms; /* how long a write waits for another process's lock (default 1000) */
    int retry_ms;        /* pause before the writer retries after a failed write (default 50) */
} tg_audit_options;

/* One record. Strings are borrowed for the call and may be NULL (stored as
 * NULL), except kind: one of call.begin, call.end, egress, deploy, rollback,
 * secret.write, auth.denied, trigger, schedule.run, state.write, hook,
 * toolset.write. trigger_kind, when set, is one of agent, button, schedule,
 * cli, webhook, contract (a deploy's fixture check). body (borrowed, NULL for {}) holds the
 * kind-specific fields and must be an object. */
typedef struct tg_audit_record {
    int64_t time_ms; /* ms since the epoch; 0 takes the time of the append */
    const char *kind;
    const char *tenant;
    const char *principal;
    const char *trigger_kind;
    const char *call_id;
    const char *trace_id;
    const char *tool;
    const char *status;
    const char *error_code;
    const json_t *body;
} tg_audit_record;

/* Opens (creating when missing) the log at path, a sqlite file's path or a
 * "postgres://" or "postgresql://" URL, checks the last record can be read,
 * and starts the writer thread. opts may be NULL. Fails with
 * TG_EAUDIT_UNAVAILABLE when the file or database cannot be opened or
 * written. */
int tg_audit_open(const char *path, const tg_audit_options *opts, tg_audit **out, tg_error *err);
/* Commits what is queued (one last try), fails what cannot be, stops the
 * writer. No append may run concurrently with close. */
void tg_audit_close(tg_audit *a);

/* Queues rec and waits until it is durable; *seq_out (may be NULL) gets its
 * seq. deadline_ns is CLOCK_MONOTONIC, < 0 for none. Returns 0, or
 * TG_EAUDIT_UNAVAILABLE when the deadline passes first (queue full, disk full,
 * file removed or read-only, database locked): the record was not committed,
 * except when the deadline passed while its transaction was already
 * committing, in which case it may still be there. TG_EINVALID_PARAMS for a
 * record that breaks the rules above. */
int tg_audit_append(tg_audit *a, const tg_audit_record *rec, int64_t deadline_ns, uint64_t *seq_out,
                    tg_error *err);

/* False from a failed write until the next write that succeeds: the writer
 * keeps retrying what is queued and, with nothing queued, tries a write of
 * its own every second, so the log turns healthy again by itself. */
bool tg_audit_healthy(tg_audit *a);

/* The number of transactions the writer has committed since open. */
uint64_t tg_audit_commits(tg_audit *a);

/* Retention: deletes the longest run of records at the start of the chain
 * whose time_ms is older than older_than_ms, and in the same transaction
 * appends a retention record whose body is {cutoff_ms, dropped,
 * last_dropped_seq, last_dropped_hash}, the anchor verify starts from.
 * *dropped (may be NULL) gets the count. Deadline and errors as for append. */
int tg_audit_prune(tg_audit *a, int64_t older_than_ms, int64_t deadline_ns, uint64_t *dropped,
                   tg_error *err);

/* What tg_audit_query selects. tenant is required there (tg_audit_query_file,
 * the operator's, takes NULL for every tenant); every other field, when set
 * (non-NULL, or non-zero for the times), must match exactly. */
typedef struct tg_audit_filter {
    const char *tenant;
    const char *kind;
    int64_t since_ms; /* time_ms >= since_ms */
    int64_t until_ms; /* time_ms < until_ms */
    const char *tool;
    const char *principal;
    const char *status;
    const char *error_code;
    const char *trigger_kind;
    const char *call_id;
    bool oldest_first; /* ascending seq (exports); the default is newest first */
} tg_audit_filter;

/* One page of matching records, newest first (descending seq) unless
 * f->oldest_first. *page: new reference, an array of {seq, time_ms, kind,
 * tenant, principal, trigger_kind, call_id, trace_id, tool, status,
 * error_code, body, prev_hash, hash} (hashes in hex). cursor NULL starts at
 * the newest (oldest) record; *next_cursor (caller frees) continues after the
 * page, NULL when no record is left. The cursor is the last seq returned,
 * and seqs only grow, so records appended meanwhile never shift a page: no
 * record is repeated or skipped (oldest first, the last page may grow). limit
 * 0 takes 100, and at most 1000 are returned. */
int tg_audit_query(tg_audit *a, const tg_audit_filter *f, size_t limit, const char *cursor,
                   json_t **page, char **next_cursor, tg_error *err);
/* The same on the log at path (a file or a URL; read-only, a snapshot), with
 * f->tenant optional: the operator's view, which sees every tenant. */
int tg_audit_query_file(const char *path, const tg_audit_filter *f, size_t limit,
                        const char *cursor, json_t **page, char **next_cursor, tg_error *err);

typedef enum tg_audit_usage_group { TG_AUDIT_BY_WORKER, TG_AUDIT_BY_DAY } tg_audit_usage_group;

/* Sums the tenant's call.end records with since_ms <= time_ms < until_ms
 * (0: unbounded) per worker or per UTC day. *out: new reference, an array of
 * {worker | day ("YYYY-MM-DD"), calls, errors, refused, cpu_seconds,
 * wall_seconds, egress_bytes}, ordered by worker or day. calls counts those
 * that ran (status ok or error), errors those of them that failed, refused
 * those that never ran; cpu is the host's measure of the sandbox
 * (body.cpu_us), wall the call's (body.wall_us), egress body.egress.bytes. */
int tg_audit_usage(tg_audit *a, const char *tenant, int64_t since_ms, int64_t until_ms,
                   tg_audit_usage_group group, json_t **out, tg_error *err);

typedef enum tg_audit_problem {
    TG_AUDIT_INTACT = 0,
    TG_AUDIT_EDITED,    /* a record's content no longer matches its hash */
    TG_AUDIT_REMOVED,   /* records are missing (a gap in seq, or a broken link) */
    TG_AUDIT_REORDERED, /* an intact record links to one that is not its predecessor */
} tg_audit_problem;

/* Start it zeroed; tg_audit_report_clear releases it. */
typedef struct tg_audit_report {
    uint64_t records; /* records read */
    uint64_t first_seq, last_seq;
    tg_audit_problem problem; /* the first one found in seq order */
    uint64_t bad_seq;         /* where: the edited or moved record, or the first missing seq */
    char message[256];
    json_t *open_calls; /* array of call ids: call.begin with no call.end (cut off) */
} tg_audit_report;

void tg_audit_report_clear(tg_audit_report *r);

/* Walks the chain of the log at path (a file or a URL) in seq order, reading
 * a snapshot (safe while gateways write to it). The first remaining record
 * links to 32 zero bytes when its seq is 1, else to the anchor named by the
 * latest retention record. Returns 0 whether or not the chain is intact (see
 * report->problem); an error only when the file cannot be read. Records cut
 * off at the end of the file leave no trace the file alone can show: compare
 * last_seq with what the gateway reported. */
int tg_audit_verify_file(const char *path, tg_audit_report *report, tg_error *err);
/* The same on the file of an open log. */
int tg_audit_verify(tg_audit *a, tg_audit_report *report, tg_error *err);

#endif
