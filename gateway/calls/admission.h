/* Admission control: per-tenant and per-tool rate limits (token buckets) and
 * concurrency caps, so that one noisy agent cannot starve the other tenants of
 * a shared gateway.
 *
 * A call is admitted only when four limits all allow it: the tenant's bucket
 * and the (tenant, tool) bucket each have a token, and the tenant and the
 * (tenant, tool) worker each run fewer calls than their cap. Admission takes
 * from all four at once or from none. A refusal is immediate (nothing ever
 * waits in here) and says when to retry.
 *
 * In memory (no store configured) the limits hold for this process. Time
 * comes in as CLOCK_MONOTONIC nanoseconds from the caller, so the arithmetic
 * is exact and testable.
 *
 * Shared (config.store is a PostgreSQL URL) the limits hold for the sum of
 * every replica using that database: the buckets and each replica's running
 * counts are rows there, and one admission is one statement (one round trip,
 * one transaction) that checks and takes all four under a lock on the tenant;
 * a leave is one more. Time is the database server's clock, so the replicas'
 * clocks do not matter and now_ns is not used. A bucket the store found
 * empty is refused from memory until its token is due (no replica can add
 * tokens, only take them). Each replica's heartbeat is refreshed by its
 * admissions and by a thread of its own every 2 s; the running counts of a
 * replica not heard from for 10 s no longer count, and the next heartbeat of
 * any replica deletes them. The state is soft (UNLOGGED tables: not written
 * to the WAL, emptied by a crash of the database). Its error bounds:
 * - a replica that dies without tg_admission_free holds its slots until 10 s
 *   after its last heartbeat (so 8 to 10 s after it died); one that frees
 *   gives them back at once;
 * - a live replica cut off from the database (or stalled) longer than 10 s
 *   is taken for dead: the others may admit up to the caps again while its
 *   calls still run. When it is back it writes its running calls again, so a
 *   sum may exceed a cap until they end (new calls are refused till then);
 * - a leave the store did not take (it failed, or had failed less than
 *   TG_ADMISSION_STORE_RETRY_MS before) keeps its slot counted until this
 *   replica's next admission or heartbeat that reaches the store, which
 *   writes its counts again;
 * - a database crash or failover empties the tables: buckets start full
 *   again (at most one burst more), and each replica writes its running calls
 *   again at its next admission or heartbeat;
 * - a bucket refills, from its last use, at the rate in force when it is next
 *   used: a reconfigure between the two applies the new rate to the time
 *   before it too. Buckets are floating point: a retryAfterMs may be early by
 *   a rounding error, and then the next try says to wait 1 ms more;
 * - the server's clock stepping back refills nothing until it has caught up;
 *   stepping forward fills buckets early and, by more than 10 s, takes every
 *   replica for dead at once (each writes its rows again at once).
 * When the store fails, admission fails closed (see tg_admission_enter). */
#ifndef TG_CALLS_ADMISSION_H
#define TG_CALLS_ADMISSION_H

#include "gateway/core/errors.h"

#include <stddef.h>
#include <stdint.h>

typedef struct tg_admission tg_admission;

/* Disables the limit it is given to: a rate or burst of TG_ADMISSION_OFF turns
 * that bucket off, a concurrency of TG_ADMISSION_OFF removes that cap. */
#define TG_ADMISSION_OFF (-1)

/* Tenant and tool names longer than this are refused as TG_EINTERNAL: the
 * registry never resolves such names (tool names are at most 128 bytes). */
#define TG_ADMISSION_NAME_MAX 256

/* retryAfterMs of a refusal by a concurrency cap or a full table: when a slot
 * frees depends on running calls, not on the clock. */
#define TG_ADMISSION_BUSY_RETRY_MS 100

/* retryAfterMs of TG_EUNAVAILABLE: the shared store failed. */
#define TG_ADMISSION_STORE_RETRY_MS 1000

/* Replica ids longer than this are refused as TG_EINTERNAL. */
#define TG_ADMISSION_REPLICA_MAX 200

/* Each field: 0 takes the default in parentheses. Rates are tokens per second
 * (0.001 to 1000000), bursts are the tokens a full bucket holds (1 to 1000000). */
typedef struct tg_admission_config {
    double tenant_rate;         /* (50) */
    int64_t tenant_burst;       /* (100) */
    double tool_rate;           /* per (tenant, tool) (20) */
    int64_t tool_burst;         /* (40) */
    int64_t tenant_concurrency; /* calls one tenant runs at once (64) */
    int64_t worker_concurrency; /* calls one (tenant, tool) runs at once (16) */
    /* Tenants plus (tenant, tool) pairs remembered at once (100000), and the
     * pairs one tenant may hold of them (1024), so that no caller can make
     * the table grow without bound. */
    size_t max_entries;
    size_t max_tools_per_tenant;
    /* Shared mode: a "postgres://" or "postgresql://" URL (NULL: in memory),
     * and this process's id among the replicas that use it (1 to
     * TG_ADMISSION_REPLICA_MAX bytes, unique: two replicas with one id would
     * share their running counts). Both borrowed for tg_admission_new only. */
    const char *store;
    const char *replica;
} tg_admission_config;

/* What an admitted call holds until it leaves. Its fields are private to
 * admission.c; a zeroed ticket holds nothing. */
typedef struct tg_admission_ticket {
    struct tg__admission_entry *tenant, *tool;
} tg_admission_ticket;

/* config NULL takes every default. Returns 0 with *out, or (err filled):
 * TG_EINTERNAL when a field is out of range, or store is not a PostgreSQL URL
 * (a sqlite store belongs to one process, whose in-memory limits are exact
 * already), or replica is missing; TG_EUNAVAILABLE when the store cannot be
 * opened, migrated or joined. */
int tg_admission_new(const tg_admission_config *config, tg_admission **out, tg_error *err);
/* Puts config's limits in force from now_ns on, for names already seen too
 * (max_entries, max_tools_per_tenant, store and replica stay as created). In
 * shared mode the limits are this replica's: each replica applies its own to
 * the shared rows, so replicas should be given the same. Returns 0, or
 * TG_EINTERNAL (err filled) when a field is out of range; then nothing
 * changed. */
int tg_admission_reconfigure(tg_admission *a, const tg_admission_config *config, int64_t now_ns,
                             tg_error *err);
/* Call once every ticket has left. In shared mode this also takes the
 * replica's rows out of the store, so its slots come back at once. */
void tg_admission_free(tg_admission *a);

/* Admits one call of tool in tenant at now_ns (CLOCK_MONOTONIC): returns 0
 * and fills *ticket, which the caller hands back to tg_admission_leave when the
 * call ends. Or refuses with TG_ERATE_LIMITED and *retry_after_ms (>= 1):
 * - a bucket is empty: the exact time until both buckets hold a token,
 *   rounded up to the millisecond (entering then succeeds, unless other calls
 *   took the tokens first);
 * - a concurrency cap is reached, or the table is full of entries that cannot
 *   be forgotten yet: TG_ADMISSION_BUSY_RETRY_MS (or the bucket's wait, when
 *   longer).
 * A refusal takes nothing. TG_EINTERNAL: a name is NULL, empty or longer than
 * TG_ADMISSION_NAME_MAX.
 * Shared mode: TG_EUNAVAILABLE, with *retry_after_ms TG_ADMISSION_STORE_RETRY_MS,
 * when the store failed (the failure is logged once, and its end): the call
 * must not run, and may be tried again. Admission fails closed because a
 * limit that lapses whenever the database does would let the noisiest tenant
 * through exactly when the gateway is weakest, and because the audit log, in
 * the same database, could not record the call anyway.
 * Thread-safe; in shared mode admissions and leaves of one process take turns
 * on one connection. */
int tg_admission_enter(tg_admission *a, const char *tenant, const char *tool, int64_t now_ns,
                       tg_admission_ticket *ticket, int64_t *retry_after_ms);
/* Gives back the ticket's concurrency slots (tokens are spent, not returned)
 * and zeroes it, so leaving twice is harmless. In shared mode a store that
 * fails here is caught up later (see the error bounds above). Thread-safe. */
void tg_admission_leave(tg_admission *a, tg_admission_ticket *ticket);

#endif
