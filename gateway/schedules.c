/* The gateway's side of the scheduler (see schedules.h). */
#include "gateway/schedules.h"

#include "gateway/core/alloc.h"
#include "gateway/core/clock.h"
#include "gateway/core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tg_schedules {
    tg_scheduler *scheduler;
    tg_registry *registry;
    tg_calls *calls;
};

/* What a run's done callback needs to report it. */
typedef struct scheduled_call {
    tg_schedules *owner;
    char *tenant, *worker;
    uint64_t id;
} scheduled_call;

static void report(tg_schedules *s, const char *tenant, const char *worker, uint64_t id,
                   tg_schedule_outcome outcome, const char *call_id, const char *error_code)
{
    tg_schedule_report r = {
        .id = id,
        .tenant = tenant,
        .worker = worker,
        .outcome = outcome,
        .call_id = call_id,
        .error_code = error_code,
    };
    tg_scheduler_finished(s->scheduler, &r, tg_now_ms());
}

static void call_done(json_t *result, void *userdata)
{
    scheduled_call *c = userdata;
    const json_t *error = tg_result_error(result);
    tg_schedule_outcome outcome = !json_is_true(json_object_get(result, "isError")) ? TG_SCHEDULE_OK
                                  : json_is_true(json_object_get(error, "retryable"))
                                      ? TG_SCHEDULE_RETRYABLE
                                      : TG_SCHEDULE_FAILED;
    const char *code = json_string_value(json_object_get(error, "code"));
    if (outcome != TG_SCHEDULE_OK && !code) code = "WORKER_FAILED";
    report(
        c->owner, c->tenant, c->worker, c->id, outcome,
        json_string_value(json_object_get(json_object_get(result, "_meta"), "dev.toolgate/callId")),
        code);
    json_decref(result);
    free(c->tenant);
    free(c->worker);
    free(c);
}

/* The scheduler's start callback: the worker's current version, run with the
 * arguments its manifest gives scheduled runs. */
static void start_run(void *ctx, const tg_schedule_run *run)
{
    tg_schedules *s = ctx;
    tg_registry_snapshot *tool = NULL;
    tg_registry_error rerr = {0};
    if (tg_registry_resolve(s->registry, run->tenant, run->worker, &tool, &rerr) != 0) {
        /* Deleted since the slot was taken: nothing to run, ever. */
        tg_registry_error_clear(&rerr);
        report(s, run->tenant, run->worker, run->id, TG_SCHEDULE_FAILED, NULL, "NOT_FOUND");
        return;
    }
    const json_t *arguments = json_object_get(
        json_object_get(tg_registry_snapshot_manifest(tool), "triggers"), "arguments");
    /* A run acts for whoever deployed the version; a version deployed
     * before deployers were recorded runs as "schedule", with the tenant's
     * secrets alone. */
    char *deployer = NULL;
    if (tg_registry_deployer(s->registry, run->tenant, run->worker,
                             tg_registry_snapshot_version(tool), &deployer, &rerr) != 0) {
        tg_log_warn(&(tg_log_ctx){.tenant = run->tenant},
                    "deployer of %s unknown, its run goes as \"schedule\": %s", run->worker,
                    rerr.message);
        tg_registry_error_clear(&rerr);
    }
    json_t *empty = json_object();
    scheduled_call *c = tg_xcalloc(1, sizeof *c);
    c->owner = s;
    c->tenant = tg_xstrdup(run->tenant);
    c->worker = tg_xstrdup(run->worker);
    c->id = run->id;
    tg_call_request request = {
        .tool = tool,
        .arguments = json_is_object(arguments) ? arguments : empty,
        .principal = deployer ? deployer : "schedule",
        .trigger_kind = "schedule",
        .scheduled_ms = run->scheduled_ms,
        .attempt = run->attempt,
        .done = call_done,
        .userdata = c,
    };
    tg_call_start(s->calls, &request);
    free(deployer);
    json_decref(empty);
    tg_registry_snapshot_unref(tool);
}

typedef struct sync_state {
    tg_scheduler *scheduler;
    int64_t now_ms;
} sync_state;

static void follow(void *ctx, const char *tenant, const char *name, const json_t *manifest)
{
    sync_state *st = ctx;
    tg_schedule sc;
    if (!tg_schedule_from_manifest(manifest, &sc)) return;
    tg_error err;
    if (tg_scheduler_set(st->scheduler, tenant, name, &sc, st->now_ms, &err) != 0)
        tg_log_warn(&(tg_log_ctx){.tenant = tenant}, "schedule of %s not followed: %s", name,
                    err.message);
}

int tg_schedules_start(const tg_schedules_config *config, tg_schedules **out, tg_error *err)
{
    *out = NULL;
    tg_schedules *s = tg_xcalloc(1, sizeof *s);
    s->registry = config->registry;
    s->calls = config->calls;
    tg_scheduler_config sc = {
        .jitter_ms = config->jitter_ms,
        .start = start_run,
        .ctx = s,
        .audit = config->audit,
        .runs = config->runs,
        .replica = config->replica,
    };
    int64_t now = tg_now_ms();
    int rc = tg_scheduler_open(config->path, &sc, now, &s->scheduler, err);
    if (!rc) rc = tg_scheduler_sync_begin(s->scheduler, err);
    if (!rc) {
        sync_state st = {s->scheduler, now};
        tg_registry_error rerr = {0};
        if (tg_registry_scheduled(s->registry, follow, &st, &rerr) != 0) {
            rc = tg_error_set(err, TG_EUNAVAILABLE, "the registry cannot list schedules: %s",
                              rerr.message);
            tg_registry_error_clear(&rerr);
        }
        tg_error end_err;
        int end = tg_scheduler_sync_end(s->scheduler, rc == 0, &end_err);
        if (!rc && end) {
            rc = end;
            *err = end_err;
        }
    }
    if (!rc && tg_scheduler_start(s->scheduler) != 0)
        rc = tg_error_set(err, TG_EINTERNAL, "cannot start the scheduler's thread");
    if (rc) {
        tg_schedules_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

void tg_schedules_changed(tg_schedules *s, const char *tenant, const char *name)
{
    tg_registry_snapshot *tool = NULL;
    tg_registry_error rerr = {0};
    tg_schedule sc;
    bool scheduled = false;
    int rc = tg_registry_resolve(s->registry, tenant, name, &tool, &rerr);
    if (rc == 0)
        scheduled = tg_schedule_from_manifest(tg_registry_snapshot_manifest(tool), &sc);
    else if (rc != TG_REGISTRY_ENOTFOUND) {
        /* Unknown now; the next change or start puts it right. */
        tg_log_warn(&(tg_log_ctx){.tenant = tenant}, "schedule of %s not updated: %s", name,
                    rerr.message);
        tg_registry_error_clear(&rerr);
        return;
    }
    tg_registry_error_clear(&rerr);
    tg_error err;
    if (tg_scheduler_set(s->scheduler, tenant, name, scheduled ? &sc : NULL, tg_now_ms(), &err) !=
        0)
        tg_log_warn(&(tg_log_ctx){.tenant = tenant}, "schedule of %s not followed: %s", name,
                    err.message);
    tg_registry_snapshot_unref(tool);
}

static int by_worker(const void *a, const void *b)
{
    return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "worker")),
                  json_string_value(json_object_get(*(json_t *const *)b, "worker")));
}

json_t *tg_schedules_list(tg_schedules *s, const char *tenant)
{
    json_t *list = tg_scheduler_list(s->scheduler, tenant);
    size_t n = json_array_size(list);
    json_t **items = tg_xcalloc(n ? n : 1, sizeof *items);
    for (size_t i = 0; i < n; i++)
        items[i] = json_incref(json_array_get(list, i));
    qsort(items, n, sizeof *items, by_worker);
    json_array_clear(list);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, items[i]);
    free(items);
    return list;
}

void tg_schedules_stop(tg_schedules *s)
{
    if (s) tg_scheduler_stop(s->scheduler);
}

void tg_schedules_close(tg_schedules *s)
{
    if (!s) return;
    tg_scheduler_close(s->scheduler);
    free(s);
}
