/* The gateway's side of the scheduler: which workers are scheduled comes from
 * the registry (all of it at start, each change after), and each due run goes
 * through the one call pipeline as a "schedule" call, so it is validated,
 * admitted, sandboxed, audited and kept in the runs history like any other. */
#ifndef TG_GATEWAY_SCHEDULES_H
#define TG_GATEWAY_SCHEDULES_H

#include "gateway/calls/call.h"
#include "gateway/core/errors.h"
#include "gateway/registry/registry.h"
#include "gateway/triggers/scheduler.h"

typedef struct tg_schedules tg_schedules;

typedef struct tg_schedules_config {
    const char *path;      /* the schedule store: <data dir>/schedules.db, or a PostgreSQL URL */
    int64_t jitter_ms;     /* see tg_scheduler_config */
    tg_registry *registry; /* borrowed */
    tg_calls *calls;       /* borrowed */
    tg_audit *audit;       /* borrowed */
    tg_runs *runs;         /* borrowed; may be NULL */
    /* This replica's id among those sharing a PostgreSQL store (see
     * tg_scheduler_config); borrowed for tg_schedules_start. NULL: one
     * process follows the store. */
    const char *replica;
} tg_schedules_config;

/* Opens the store, follows every scheduled worker in the registry, and starts
 * the scheduler's thread. Returns 0, or non-zero with err set. */
int tg_schedules_start(const tg_schedules_config *config, tg_schedules **out, tg_error *err);

/* The registry's change of tenant's worker name: follows its schedule now. */
void tg_schedules_changed(tg_schedules *s, const char *tenant, const char *name);

/* Returns: new reference, tenant's schedules sorted by worker (tg_scheduler_list). */
json_t *tg_schedules_list(tg_schedules *s, const char *tenant);

/* Stops starting runs; runs already started still report. Then, once the
 * call pipeline is gone, tg_schedules_close. */
void tg_schedules_stop(tg_schedules *s);
void tg_schedules_close(tg_schedules *s);

#endif
