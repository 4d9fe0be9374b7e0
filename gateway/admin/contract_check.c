/* The deploy-time contract check: the fixtures a worker folder keeps in
 * fixtures/ (gateway/contract/fixture.h) are replayed against the new
 * version through the one call pipeline, before the version is made current,
 * so a version whose output drifted from its promises is caught while the
 * one before still serves. Calls run one after another: a contract check is
 * a handful of calls, and running them in order keeps the load it adds to
 * the tenant's admission limits at one call. */
#include "gateway/admin/admin.h"

#include "gateway/contract/fixture.h"
#include "gateway/core/alloc.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define FIXTURES_DIR   "fixtures/"
#define MAX_FIXTURES   200
#define FIXTURE_SUFFIX ".json"

typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    json_t *result;
    bool done;
} waiter;

static void call_done(json_t *result, void *userdata)
{
    waiter *w = userdata;
    pthread_mutex_lock(&w->mu);
    w->result = result;
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* One call of tool with arguments; returns its CallToolResult (new
 * reference). The pipeline answers every call exactly once, so this waits
 * at most for the worker's own time limit. */
static json_t *call(tg_calls *calls, tg_registry_snapshot *tool, const json_t *arguments,
                    const char *principal)
{
    waiter w = {.result = NULL, .done = false};
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    tg_call_request request = {
        .tool = tool,
        .arguments = arguments,
        .principal = principal,
        .trigger_kind = "contract",
        .done = call_done,
        .userdata = &w,
    };
    tg_call_start(calls, &request);
    pthread_mutex_lock(&w.mu);
    while (!w.done)
        pthread_cond_wait(&w.cv, &w.mu);
    pthread_mutex_unlock(&w.mu);
    pthread_cond_destroy(&w.cv);
    pthread_mutex_destroy(&w.mu);
    return w.result;
}

/* The case's name: the file's name under fixtures/ without ".json", or NULL
 * when path is not a fixture. */
static char *case_name(const char *path)
{
    size_t n = strlen(path), prefix = strlen(FIXTURES_DIR), suffix = strlen(FIXTURE_SUFFIX);
    if (n <= prefix + suffix || strncmp(path, FIXTURES_DIR, prefix) != 0 ||
        strcmp(path + n - suffix, FIXTURE_SUFFIX) != 0)
        return NULL;
    return tg_xstrndup(path + prefix, n - prefix - suffix);
}

static json_t *outcome(const char *name, const char *why)
{
    json_t *o = json_pack("{s:s, s:b}", "name", name, "passed", why == NULL);
    if (why) json_object_set_new(o, "why", json_string(why));
    return o;
}

json_t *tg_admin_run_fixtures(tg_calls *calls, tg_registry_snapshot *tool, const char *principal)
{
    json_t *cases = json_array();
    size_t passed = 0, failed = 0;
    for (size_t i = 0; i < tg_registry_snapshot_file_count(tool); i++) {
        const tg_registry_file *f = tg_registry_snapshot_file(tool, i);
        char *name = case_name(f->path);
        if (!name) continue;
        if (passed + failed == MAX_FIXTURES) {
            json_array_append_new(cases,
                                  outcome(name, "more fixtures than a deploy runs (200); the "
                                                "rest are not run"));
            failed++;
            free(name);
            break;
        }
        json_error_t jerr;
        json_t *fixture = json_loadb((const char *)f->data, f->len, JSON_REJECT_DUPLICATES, &jerr);
        tg_error err;
        char *why = NULL;
        if (!fixture) {
            why = tg_xasprintf("not JSON: %s (line %d)", jerr.text, jerr.line);
        } else if (tg_fixture_check(fixture, &err) != 0) {
            why = tg_xasprintf("not a fixture: %s", err.message);
        } else {
            json_t *result = call(calls, tool, json_object_get(fixture, "arguments"), principal);
            tg_fixture_met(fixture, result, &why);
            json_decref(result);
        }
        json_array_append_new(cases, outcome(name, why));
        if (why)
            failed++;
        else
            passed++;
        free(why);
        json_decref(fixture);
        free(name);
    }
    return json_pack("{s:I, s:I, s:o}", "passed", (json_int_t)passed, "failed", (json_int_t)failed,
                     "cases", cases);
}
