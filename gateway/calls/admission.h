/* Admission control: per-tenant and per-tool rate limits (token buckets) and
 * concurrency caps, so that one noisy agent cannot starve the other tenants of
 * a shared gateway.
 *
 * A call is admitted only when four limits all allow it: the tenant's bucket
 * and the (tenant, tool) bucket each have a token, and the tenant and the
 * (tenant, tool) worker each run fewer calls than their cap. Admission takes
 * from all four at once or from none. A refusal is immediate (nothing ever
 * waits in here) and says when to retry. Time comes in as CLOCK_MONOTONIC
 * nanoseconds from the caller, so the arithmetic is exact and testable. */
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
} tg_admission_config;

/* What an admitted call holds until it leaves. Its fields are private to
 * admission.c; a zeroed ticket holds nothing. */
typedef struct tg_admission_ticket {
    struct tg__admission_entry *tenant, *tool;
} tg_admission_ticket;

/* config NULL takes every default. Returns 0 with *out, or TG_EINTERNAL (err
 * filled) when a field is out of range. */
int tg_admission_new(const tg_admission_config *config, tg_admission **out, tg_error *err);
/* Puts config's limits in force from now_ns on, for names already seen too
 * (max_entries and max_tools_per_tenant stay as created). Returns 0, or
 * TG_EINTERNAL (err filled) when a field is out of range; then nothing
 * changed. */
int tg_admission_reconfigure(tg_admission *a, const tg_admission_config *config, int64_t now_ns,
                             tg_error *err);
/* Call once every ticket has left. */
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
 * TG_ADMISSION_NAME_MAX. Thread-safe. */
int tg_admission_enter(tg_admission *a, const char *tenant, const char *tool, int64_t now_ns,
                       tg_admission_ticket *ticket, int64_t *retry_after_ms);
/* Gives back the ticket's concurrency slots (tokens are spent, not returned)
 * and zeroes it, so leaving twice is harmless. Thread-safe. */
void tg_admission_leave(tg_admission *a, tg_admission_ticket *ticket);

#endif
