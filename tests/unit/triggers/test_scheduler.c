/* The scheduler driven by hand: tg_scheduler_poll at chosen times, runs
 * reported with chosen outcomes, and the store closed and reopened as a
 * restart would. Checks slots, jitter, skipped overlaps, retries with
 * backoff, catch-up and skip after downtime, pending runs owed across a
 * stop, and reconciling with the registry; the records in the audit log and
 * the runs history; and the heap against a plain scan under random changes.
 * Every case runs on sqlite, then on PostgreSQL (when TOOLGATE_TEST_POSTGRES
 * gives a cluster), where two handles on one database also stand for a
 * gateway and the one taking over from it. */
#include "gateway/triggers/scheduler.h"

#include "check.h"
#include "gateway/store/store.h"
#include "pgtest.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define T0     INT64_C(1767225600000) /* 2026-01-01T00:00:00Z */
#define SEC    INT64_C(1000)
#define MINUTE (60 * SEC)

static char dir[] = "/tmp/test_scheduler.XXXXXX";
static tg_audit *audit;
static tg_runs *runs;

/* What the start callback saw. */
#define MAX_STARTED 4096
static tg_schedule_run started[MAX_STARTED];
static char started_worker[MAX_STARTED][64];
static size_t nstarted;

static void on_start(void *ctx, const tg_schedule_run *run)
{
    (void)ctx;
    if (nstarted == MAX_STARTED) return;
    started[nstarted] = *run;
    snprintf(started_worker[nstarted], sizeof started_worker[0], "%s", run->worker);
    started[nstarted].worker = started_worker[nstarted];
    started[nstarted].tenant = "";
    nstarted++;
}

/* Which backend the cases run on now. */
static bool on_postgres;

/* Where the store called name lives (pgtest_where). */
static const char *where(const char *name)
{
    return pgtest_where(on_postgres, dir, "test_scheduler", name);
}

static tg_scheduler *open_at(const char *name, int64_t now_ms, int64_t jitter_ms)
{
    const char *at = where(name);
    tg_scheduler_config cfg = {
        .jitter_ms = jitter_ms, .start = on_start, .audit = audit, .runs = runs};
    tg_scheduler *s = NULL;
    tg_error err = {0};
    int rc = at ? tg_scheduler_open(at, &cfg, now_ms, &s, &err) : -1;
    CHECK_INT_EQ(rc, 0);
    if (rc) fprintf(stderr, "open: %s\n", err.message);
    return s;
}

static void set(tg_scheduler *s, const char *worker, const char *expr, int64_t now_ms)
{
    tg_schedule sc = {.expr = expr, .max_retries = 2, .backoff_ms = 1000, .max_backoff_ms = 60000};
    tg_error err;
    int rc = tg_scheduler_set(s, "t", worker, &sc, now_ms, &err);
    CHECK_INT_EQ(rc, 0);
    if (rc) fprintf(stderr, "set %s: %s\n", worker, err.message);
}

static void finish(tg_scheduler *s, const tg_schedule_run *run, tg_schedule_outcome outcome,
                   int64_t now_ms)
{
    tg_schedule_report r = {.id = run->id,
                            .tenant = "t",
                            .worker = run->worker,
                            .outcome = outcome,
                            .call_id = "c0ffee",
                            .error_code = outcome == TG_SCHEDULE_OK ? NULL : "UNAVAILABLE"};
    tg_scheduler_finished(s, &r, now_ms);
}

/* schedule.run records of worker with status, in the audit log. */
static size_t records(const char *worker, const char *status)
{
    tg_audit_filter f = {.tenant = "t", .kind = "schedule.run", .tool = worker, .status = status};
    json_t *page = NULL;
    char *next = NULL;
    tg_error err;
    int rc = tg_audit_query(audit, &f, 1000, NULL, &page, &next, &err);
    CHECK_INT_EQ(rc, 0);
    size_t n = json_array_size(page);
    json_decref(page);
    free(next);
    return n;
}

static void test_manifest(void)
{
    json_t *m = json_pack("{s:{s:s}}", "triggers", "schedule", "*/15 * * * *");
    tg_schedule sc;
    CHECK(tg_schedule_from_manifest(m, &sc));
    CHECK_STR_EQ(sc.expr, "*/15 * * * *");
    CHECK(sc.zone == NULL);
    CHECK(!sc.skip_missed);
    CHECK_INT_EQ(sc.max_retries, TG_SCHEDULE_MAX_RETRIES);
    CHECK_INT_EQ(sc.backoff_ms, TG_SCHEDULE_BACKOFF_MS);
    CHECK_INT_EQ(sc.max_backoff_ms, TG_SCHEDULE_MAX_BACKOFF_MS);
    json_decref(m);
    m = json_pack("{s:{s:s, s:s, s:s, s:{s:i, s:i, s:i}}}", "triggers", "schedule", "@daily",
                  "timezone", "Europe/Paris", "missed", "skip", "retry", "max_retries", 0,
                  "backoff_ms", 500, "max_backoff_ms", 2000);
    CHECK(tg_schedule_from_manifest(m, &sc));
    CHECK_STR_EQ(sc.zone, "Europe/Paris");
    CHECK(sc.skip_missed);
    CHECK_INT_EQ(sc.max_retries, 0);
    CHECK_INT_EQ(sc.backoff_ms, 500);
    CHECK_INT_EQ(sc.max_backoff_ms, 2000);
    json_decref(m);
    m = json_pack("{s:{s:b}}", "triggers", "button", 1);
    CHECK(!tg_schedule_from_manifest(m, &sc));
    json_decref(m);
}

static void test_slots_and_overlap(void)
{
    nstarted = 0;
    tg_scheduler *s = open_at("slots.db", T0, -1);
    set(s, "every", "@every 10s", T0 + 1);
    CHECK_INT_EQ(tg_scheduler_count(s), 1);
    CHECK_INT_EQ(tg_scheduler_poll(s, T0 + 5 * SEC), T0 + 10 * SEC);
    CHECK_INT_EQ(nstarted, 0);
    CHECK_INT_EQ(tg_scheduler_poll(s, T0 + 10 * SEC), T0 + 20 * SEC);
    CHECK_INT_EQ(nstarted, 1);
    CHECK_INT_EQ(started[0].scheduled_ms, T0 + 10 * SEC);
    CHECK_INT_EQ(started[0].attempt, 1);
    CHECK(!started[0].catch_up);

    /* Still running at the next two slots: both skipped, nothing started. */
    tg_scheduler_poll(s, T0 + 20 * SEC);
    tg_scheduler_poll(s, T0 + 30 * SEC + 1);
    CHECK_INT_EQ(nstarted, 1);
    CHECK_INT_EQ(records("every", "skipped"), 2);
    tg_runs_filter f = {.tenant = "t", .worker = "every", .status = "skipped"};
    json_t *page = NULL;
    char *next = NULL;
    tg_error err;
    CHECK_INT_EQ(tg_runs_list(runs, &f, 10, NULL, &page, &next, &err), 0);
    CHECK_INT_EQ(json_array_size(page), 2);
    json_t *newest = json_array_get(page, 0);
    CHECK_INT_EQ(json_integer_value(json_object_get(newest, "scheduled_ms")), T0 + 30 * SEC);
    CHECK_STR_EQ(json_string_value(json_object_get(newest, "trigger")), "schedule");
    json_decref(page);
    free(next);

    /* A late poll takes one slot, not every slot it slept through. */
    finish(s, &started[0], TG_SCHEDULE_OK, T0 + 35 * SEC);
    CHECK_INT_EQ(records("every", "ok"), 1);
    CHECK_INT_EQ(tg_scheduler_poll(s, T0 + 75 * SEC), T0 + 80 * SEC);
    CHECK_INT_EQ(nstarted, 2);
    CHECK_INT_EQ(started[1].scheduled_ms, T0 + 40 * SEC);
    finish(s, &started[1], TG_SCHEDULE_OK, T0 + 76 * SEC);

    /* A report for a run no longer followed changes nothing. */
    finish(s, &started[1], TG_SCHEDULE_RETRYABLE, T0 + 77 * SEC);
    CHECK_INT_EQ(tg_scheduler_poll(s, T0 + 78 * SEC), T0 + 80 * SEC);
    CHECK_INT_EQ(nstarted, 2);

    /* Removing the schedule stops it. */
    tg_error err2;
    CHECK_INT_EQ(tg_scheduler_set(s, "t", "every", NULL, T0 + 79 * SEC, &err2), 0);
    CHECK_INT_EQ(tg_scheduler_count(s), 0);
    CHECK_INT_EQ(tg_scheduler_poll(s, T0 + 200 * SEC), INT64_MAX);
    CHECK_INT_EQ(nstarted, 2);
    tg_scheduler_close(s);
}

static void test_retries(void)
{
    nstarted = 0;
    tg_scheduler *s = open_at("retries.db", T0, -1);
    set(s, "flaky", "* * * * *", T0);
    tg_scheduler_poll(s, T0 + MINUTE);
    CHECK_INT_EQ(nstarted, 1);
    /* First retry after 500..1000 ms, the second after 1000..2000 ms. */
    finish(s, &started[0], TG_SCHEDULE_RETRYABLE, T0 + MINUTE + 100);
    CHECK_INT_EQ(records("flaky", "retrying"), 1);
    int64_t due = tg_scheduler_poll(s, T0 + MINUTE + 100);
    CHECK(due >= T0 + MINUTE + 600 && due <= T0 + MINUTE + 1100);
    CHECK_INT_EQ(nstarted, 1);
    tg_scheduler_poll(s, due);
    CHECK_INT_EQ(nstarted, 2);
    CHECK_INT_EQ(started[1].attempt, 2);
    CHECK_INT_EQ(started[1].scheduled_ms, T0 + MINUTE);
    finish(s, &started[1], TG_SCHEDULE_RETRYABLE, due + 10);
    int64_t due2 = tg_scheduler_poll(s, due + 10);
    CHECK(due2 >= due + 10 + 1000 && due2 <= due + 10 + 2000);
    tg_scheduler_poll(s, due2);
    CHECK_INT_EQ(nstarted, 3);
    CHECK_INT_EQ(started[2].attempt, 3);
    /* max_retries 2: the third failure is final. */
    finish(s, &started[2], TG_SCHEDULE_RETRYABLE, due2 + 10);
    CHECK_INT_EQ(records("flaky", "failed"), 1);
    CHECK_INT_EQ(tg_scheduler_poll(s, due2 + 20), T0 + 2 * MINUTE);
    CHECK_INT_EQ(nstarted, 3);

    /* A slot during retries is skipped; a non-retryable failure is final. */
    tg_scheduler_poll(s, T0 + 2 * MINUTE);
    CHECK_INT_EQ(nstarted, 4);
    finish(s, &started[3], TG_SCHEDULE_FAILED, T0 + 2 * MINUTE + 10);
    CHECK_INT_EQ(records("flaky", "failed"), 2);
    CHECK_INT_EQ(tg_scheduler_poll(s, T0 + 2 * MINUTE + 20), T0 + 3 * MINUTE);
    tg_scheduler_poll(s, T0 + 3 * MINUTE);
    CHECK_INT_EQ(nstarted, 5);
    finish(s, &started[4], TG_SCHEDULE_RETRYABLE, T0 + 3 * MINUTE + 10);
    tg_scheduler_poll(s, T0 + 4 * MINUTE);
    CHECK_INT_EQ(nstarted, 6);
    CHECK_INT_EQ(started[5].attempt, 2);
    CHECK_INT_EQ(started[5].scheduled_ms, T0 + 3 * MINUTE);
    CHECK_INT_EQ(records("flaky", "skipped"), 1);
    tg_scheduler_close(s);
}

/* A restart at several points: neither a slot twice nor one lost. */
static void test_restart(void)
{
    nstarted = 0;
    tg_scheduler *s = open_at("restart.db", T0, -1);
    set(s, "sync", "@every 1m", T0);
    set(s, "owed", "@every 1m", T0);
    set(s, "lazy", "@every 1m", T0);
    tg_schedule skip = {
        .expr = "@every 1m", .skip_missed = true, .backoff_ms = 1000, .max_backoff_ms = 1000};
    tg_error err;
    CHECK_INT_EQ(tg_scheduler_set(s, "t", "skipper", &skip, T0, &err), 0);
    tg_scheduler_poll(s, T0 + MINUTE);
    CHECK_INT_EQ(nstarted, 4);
    for (size_t i = 0; i < 4; i++)
        if (strcmp(started[i].worker, "owed") != 0)
            finish(s, &started[i], TG_SCHEDULE_OK, T0 + MINUTE + 5);
    /* "owed" still runs as the process dies. */
    tg_scheduler_close(s);

    /* Back within the same minute: the finished slot does not run again,
     * the unfinished one does, at once, as a catch-up. */
    nstarted = 0;
    s = open_at("restart.db", T0 + MINUTE + 30 * SEC, -1);
    CHECK_INT_EQ(tg_scheduler_count(s), 4);
    tg_scheduler_poll(s, T0 + MINUTE + 30 * SEC);
    CHECK_INT_EQ(nstarted, 1);
    CHECK_STR_EQ(started[0].worker, "owed");
    CHECK_INT_EQ(started[0].scheduled_ms, T0 + MINUTE);
    CHECK(started[0].catch_up);
    /* Stopped gracefully with that run failing retryably: owed again. */
    tg_scheduler_stop(s);
    finish(s, &started[0], TG_SCHEDULE_RETRYABLE, T0 + MINUTE + 31 * SEC);
    CHECK_INT_EQ(records("owed", "interrupted"), 1);
    tg_scheduler_poll(s, T0 + 2 * MINUTE);
    CHECK_INT_EQ(nstarted, 1);
    tg_scheduler_close(s);

    /* Down from minute 1:31 to 5:10: slots 2, 3, 4 and 5 passed. One
     * catch-up run each (the owed run standing for owed's), none for the
     * skipper, whose missed slots are recorded. */
    nstarted = 0;
    s = open_at("restart.db", T0 + 5 * MINUTE + 10 * SEC, -1);
    int64_t next = tg_scheduler_poll(s, T0 + 5 * MINUTE + 10 * SEC);
    CHECK_INT_EQ(next, T0 + 6 * MINUTE);
    CHECK_INT_EQ(nstarted, 3);
    size_t skipper_runs = 0;
    for (size_t i = 0; i < nstarted; i++) {
        CHECK(started[i].catch_up);
        if (strcmp(started[i].worker, "skipper") == 0) skipper_runs++;
        if (strcmp(started[i].worker, "owed") == 0)
            CHECK_INT_EQ(started[i].scheduled_ms, T0 + MINUTE);
        else
            CHECK_INT_EQ(started[i].scheduled_ms, T0 + 2 * MINUTE);
        finish(s, &started[i], TG_SCHEDULE_OK, T0 + 5 * MINUTE + 20 * SEC);
    }
    CHECK_INT_EQ(skipper_runs, 0);
    CHECK_INT_EQ(records("skipper", "missed"), 1);
    CHECK_INT_EQ(records("owed", "missed"), 1);
    /* Then every worker on its own slots again, not as catch-ups. */
    tg_scheduler_poll(s, T0 + 6 * MINUTE);
    CHECK_INT_EQ(nstarted, 7);
    for (size_t i = 3; i < nstarted; i++) {
        CHECK(!started[i].catch_up);
        CHECK_INT_EQ(started[i].scheduled_ms, T0 + 6 * MINUTE);
    }
    tg_scheduler_close(s);
}

static void test_changes_and_sync(void)
{
    nstarted = 0;
    tg_scheduler *s = open_at("sync.db", T0, -1);
    set(s, "a", "@every 1m", T0);
    set(s, "b", "@every 1m", T0);
    set(s, "c", "@every 1m", T0);
    /* Unchanged: keeps its slot. Changed: its next slot after now. */
    set(s, "a", "@every 1m", T0 + 30 * SEC);
    set(s, "b", "@every 5m", T0 + 30 * SEC);
    tg_scheduler_poll(s, T0 + MINUTE);
    CHECK_INT_EQ(nstarted, 2);
    tg_error err;
    tg_schedule bad = {.expr = "61 * * * *"};
    CHECK_INT_EQ(tg_scheduler_set(s, "t", "d", &bad, T0, &err), TG_EINVALID_PARAMS);
    CHECK(strstr(err.message, "minute") != NULL);
    bad.expr = "* * * * *";
    bad.zone = "Mars/Olympus";
    CHECK_INT_EQ(tg_scheduler_set(s, "t", "d", &bad, T0, &err), TG_EINVALID_PARAMS);
    CHECK_INT_EQ(tg_scheduler_count(s), 3);
    tg_scheduler_close(s);

    /* The registry now has a and b only: c goes, at the end of the sync. */
    s = open_at("sync.db", T0 + MINUTE + 1, -1);
    CHECK_INT_EQ(tg_scheduler_sync_begin(s, &err), 0);
    set(s, "a", "@every 1m", T0 + MINUTE + 1);
    set(s, "b", "@every 5m", T0 + MINUTE + 1);
    CHECK_INT_EQ(tg_scheduler_sync_end(s, true, &err), 0);
    CHECK_INT_EQ(tg_scheduler_count(s), 2);
    /* An incomplete listing drops nothing. */
    CHECK_INT_EQ(tg_scheduler_sync_begin(s, &err), 0);
    CHECK_INT_EQ(tg_scheduler_sync_end(s, false, &err), 0);
    CHECK_INT_EQ(tg_scheduler_count(s), 2);
    tg_scheduler_close(s);
    s = open_at("sync.db", T0 + MINUTE + 2, -1);
    CHECK_INT_EQ(tg_scheduler_count(s), 2);
    tg_scheduler_close(s);
}

static int store_fail(void *err, tg_store_failure kind, const char *what, const char *detail)
{
    (void)kind;
    snprintf(err, 256, "%s: %s", what, detail ? detail : "");
    return -1;
}

/* A row whose zone this host does not know is not followed, and the
 * registry's schedule for the worker replaces it. */
static void test_unknown_zone(void)
{
    nstarted = 0;
    tg_scheduler *s = open_at("zone.db", T0, -1);
    set(s, "z", "@every 1m", T0);
    tg_scheduler_close(s);
    tg_store *db = NULL;
    char why[256] = "";
    const char *at = where("zone.db");
    int rc = at ? tg_store_open(at, "scheduler", 0, 1000, NULL, NULL, &db, store_fail, why) : -1;
    if (!rc) rc = tg_store_exec(db, "UPDATE schedules SET zone = 'Mars/Olympus'", store_fail, why);
    CHECK_INT_EQ(rc, 0);
    if (rc) fprintf(stderr, "zone: %s\n", why);
    tg_store_close(db);
    s = open_at("zone.db", T0 + 1, -1);
    CHECK_INT_EQ(tg_scheduler_count(s), 0);
    set(s, "z", "@every 1m", T0 + 1);
    CHECK_INT_EQ(tg_scheduler_count(s), 1);
    tg_scheduler_poll(s, T0 + MINUTE);
    CHECK_INT_EQ(nstarted, 1);
    tg_scheduler_close(s);
    s = open_at("zone.db", T0 + MINUTE + 1, -1);
    CHECK_INT_EQ(tg_scheduler_count(s), 1);
    tg_scheduler_close(s);
}

/* A thousand workers on one cron line: each at its own fixed offset within
 * the window, so they start spread out, and all of them by its end. */
static void test_jitter(void)
{
    nstarted = 0;
    tg_scheduler *s = open_at("jitter.db", T0, 5000);
    char name[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof name, "w%04d", i);
        set(s, name, "*/15 * * * *", T0);
    }
    int64_t first = tg_scheduler_poll(s, T0);
    CHECK(first >= T0 + 15 * MINUTE && first < T0 + 15 * MINUTE + 50);
    tg_scheduler_poll(s, T0 + 15 * MINUTE + 2500);
    size_t half = nstarted;
    CHECK(half > 350 && half < 650);
    tg_scheduler_poll(s, T0 + 15 * MINUTE + 5000);
    CHECK_INT_EQ(nstarted, 1000);
    for (size_t i = 0; i < nstarted; i++)
        CHECK_INT_EQ(started[i].scheduled_ms, T0 + 15 * MINUTE);
    /* @every 1s: the window is a tenth of the interval. */
    set(s, "fast", "@every 1s", T0 + 15 * MINUTE + 5000);
    int64_t fast = tg_scheduler_poll(s, T0 + 15 * MINUTE + 5000);
    CHECK(fast >= T0 + 15 * MINUTE + 6000 && fast < T0 + 15 * MINUTE + 6100);
    tg_scheduler_close(s);
}

/* The heap and hash table against a plain scan, under random changes. */
static void test_random(void)
{
    nstarted = 0;
    tg_scheduler *s = open_at("random.db", T0, -1);
    static const char *const exprs[] = {"@every 7s", "@every 13s", "* * * * *", "*/2 * * * *",
                                        "@every 1m30s"};
    bool present[300] = {false};
    uint64_t seed = 12345;
    char name[32];
    int64_t now = T0;
    for (int step = 0; step < 3000; step++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        unsigned r = (unsigned)(seed >> 33);
        int w = (int)(r % 300);
        snprintf(name, sizeof name, "r%03d", w);
        if (r % 7 == 0 && present[w]) {
            tg_error err;
            CHECK_INT_EQ(tg_scheduler_set(s, "t", name, NULL, now, &err), 0);
            present[w] = false;
        } else if (!present[w] || r % 5 == 0) {
            set(s, name, exprs[r % 5], now);
            present[w] = true;
        }
        if (step % 10 == 0) {
            now += 4 * SEC;
            size_t before = nstarted;
            int64_t next = tg_scheduler_poll(s, now);
            CHECK(next > now);
            /* Finished at once, so no slot is ever skipped. */
            for (size_t i = before; i < nstarted; i++)
                finish(s, &started[i], TG_SCHEDULE_OK, now);
            if (nstarted > MAX_STARTED - 400) nstarted = 0;
        }
    }
    size_t expect = 0;
    for (int w = 0; w < 300; w++)
        expect += present[w];
    CHECK_INT_EQ(tg_scheduler_count(s), expect);
    tg_scheduler_close(s);
    s = open_at("random.db", now, -1);
    CHECK_INT_EQ(tg_scheduler_count(s), expect);
    tg_scheduler_close(s);
}

/* ---- replicas: several schedulers on one PostgreSQL database ----------- */

/* One replica: its scheduler, and the runs it started (under replicas_mu:
 * replicas poll on threads of their own). */
#define NWORKERS 4
#define NTICKS   40

typedef struct replica {
    tg_scheduler *s;
    bool finish_at_once; /* report each run ok as it starts */
    size_t nruns;
    tg_schedule_run runs[NWORKERS * NTICKS];
    char workers[NWORKERS * NTICKS][16];
    pthread_barrier_t *tick; /* polling on a thread: every replica polls each tick together */
} replica;

static pthread_mutex_t replicas_mu = PTHREAD_MUTEX_INITIALIZER;
/* Runs started of worker w for the slot at second k, over every replica. */
static int slot_runs[NWORKERS][NTICKS + 2];

static void on_replica_start(void *ctx, const tg_schedule_run *run)
{
    replica *r = ctx;
    pthread_mutex_lock(&replicas_mu);
    int w = run->worker[1] - '0';
    int64_t k = (run->scheduled_ms - T0) / SEC;
    if (w >= 0 && w < NWORKERS && k >= 0 && k < NTICKS + 2) slot_runs[w][k]++;
    if (r->nruns < sizeof r->runs / sizeof *r->runs) {
        tg_schedule_run *kept = &r->runs[r->nruns];
        *kept = *run;
        snprintf(r->workers[r->nruns], sizeof r->workers[0], "%s", run->worker);
        kept->worker = r->workers[r->nruns];
        kept->tenant = "t";
        r->nruns++;
    }
    pthread_mutex_unlock(&replicas_mu);
    if (r->finish_at_once) finish(r->s, run, TG_SCHEDULE_OK, run->scheduled_ms);
}

static tg_scheduler *open_replica(replica *r, const char *name, const char *id, int64_t now_ms,
                                  int64_t lease_ms)
{
    const char *at = where(name);
    tg_scheduler_config cfg = {.jitter_ms = -1,
                               .start = on_replica_start,
                               .ctx = r,
                               .audit = audit,
                               .runs = runs,
                               .replica = id,
                               .lease_ms = lease_ms};
    tg_error err = {0};
    r->s = NULL;
    int rc = at ? tg_scheduler_open(at, &cfg, now_ms, &r->s, &err) : -1;
    CHECK_INT_EQ(rc, 0);
    if (rc) fprintf(stderr, "open %s: %s\n", id, at ? err.message : "no database");
    return r->s;
}

static size_t runs_of(replica *r)
{
    pthread_mutex_lock(&replicas_mu);
    size_t n = r->nruns;
    pthread_mutex_unlock(&replicas_mu);
    return n;
}

/* Real time since the first call, in ms: leases run on the database's clock,
 * so a case waiting for one to lapse lets real time pass, and moves the
 * replicas' own clock along with it. */
static int64_t elapsed_ms(void)
{
    static struct timespec start;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (!start.tv_sec) start = now;
    return (int64_t)(now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
}

typedef struct setter {
    tg_scheduler *s;
    pthread_barrier_t *go;
    int rc;
} setter;

static void *set_one(void *arg)
{
    setter *t = arg;
    tg_schedule sc = {.expr = "@every 1m", .backoff_ms = 1000, .max_backoff_ms = 1000};
    tg_error err;
    pthread_barrier_wait(t->go);
    for (int i = 0; i < 50 && !t->rc; i++) {
        char worker[32];
        snprintf(worker, sizeof worker, "both-%d", i);
        t->rc = tg_scheduler_set(t->s, "t", worker, &sc, T0, &err);
        if (t->rc) fprintf(stderr, "set %s: %s\n", worker, err.message);
    }
    return NULL;
}

/* Two replicas on one database. Both following the same registry changes at
 * once store them without a conflict; and a replica that dies (closed
 * without its run reported) leaves its run to the other once the run's lease
 * lapses, as a catch-up, while the slots it finished do not run again. */
static void test_replicas(void)
{
    replica ra = {0}, rb = {0};
    tg_scheduler *a = open_replica(&ra, "replicas.db", "a", T0, 500);
    tg_scheduler *b = open_replica(&rb, "replicas.db", "b", T0, 500);
    if (!a || !b) {
        tg_scheduler_close(a);
        tg_scheduler_close(b);
        return;
    }
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, 2);
    setter sa = {.s = a, .go = &go}, sb = {.s = b, .go = &go};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, set_one, &sa);
    pthread_create(&tb, NULL, set_one, &sb);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    pthread_barrier_destroy(&go);
    CHECK_INT_EQ(sa.rc, 0);
    CHECK_INT_EQ(sb.rc, 0);
    CHECK_INT_EQ(tg_scheduler_count(a), 50);
    CHECK_INT_EQ(tg_scheduler_count(b), 50);
    tg_scheduler_close(b);

    set(a, "done", "@every 1m", T0);
    set(a, "owed", "@every 1m", T0);
    tg_scheduler_poll(a, T0 + MINUTE);
    CHECK_INT_EQ(runs_of(&ra), 52);
    for (size_t i = 0; i < ra.nruns; i++)
        if (strcmp(ra.runs[i].worker, "owed") != 0)
            finish(a, &ra.runs[i], TG_SCHEDULE_OK, T0 + MINUTE + 5);
    tg_scheduler_close(a); /* dies with "owed" running */

    b = open_replica(&rb, "replicas.db", "b", T0 + MINUTE + 30 * SEC, 500);
    if (!b) return;
    CHECK_INT_EQ(tg_scheduler_count(b), 52);
    int64_t base = elapsed_ms();
    for (int i = 0; i < 1000 && runs_of(&rb) == 0; i++) {
        tg_scheduler_poll(b, T0 + MINUTE + 30 * SEC + elapsed_ms() - base);
        usleep(10000);
    }
    CHECK_INT_EQ(rb.nruns, 1);
    CHECK_STR_EQ(rb.runs[0].worker, "owed");
    CHECK_INT_EQ(rb.runs[0].scheduled_ms, T0 + MINUTE);
    CHECK(rb.runs[0].catch_up);
    CHECK_INT_EQ(rb.runs[0].attempt, 1);
    finish(b, &rb.runs[0], TG_SCHEDULE_OK, T0 + MINUTE + 50 * SEC);
    tg_scheduler_poll(b, T0 + MINUTE + 50 * SEC);
    CHECK_INT_EQ(rb.nruns, 1);
    tg_scheduler_close(b);
}

static void *poll_ticks(void *arg)
{
    replica *r = arg;
    for (int k = 1; k <= NTICKS; k++) {
        pthread_barrier_wait(r->tick);
        tg_scheduler_poll(r->s, T0 + k * SEC);
    }
    return NULL;
}

/* Three replicas polling together at every tick of "@every 1s" schedules:
 * each slot runs exactly once across them, none is skipped. */
static void test_exactly_once(void)
{
    memset(slot_runs, 0, sizeof slot_runs);
    replica r[3] = {{.finish_at_once = true}, {.finish_at_once = true}, {.finish_at_once = true}};
    const char *ids[] = {"r1", "r2", "r3"};
    pthread_barrier_t tick;
    pthread_barrier_init(&tick, NULL, 3);
    bool opened = true;
    for (int i = 0; i < 3; i++) {
        opened = open_replica(&r[i], "once.db", ids[i], T0, 0) && opened;
        r[i].tick = &tick;
    }
    if (opened) {
        /* Each replica follows the registry's change, as notified. */
        for (int i = 0; i < 3; i++)
            for (int w = 0; w < NWORKERS; w++) {
                char name[8];
                snprintf(name, sizeof name, "w%d", w);
                set(r[i].s, name, "@every 1s", T0);
            }
        pthread_t t[3];
        for (int i = 0; i < 3; i++)
            pthread_create(&t[i], NULL, poll_ticks, &r[i]);
        for (int i = 0; i < 3; i++)
            pthread_join(t[i], NULL);
        int wrong = 0;
        for (int w = 0; w < NWORKERS; w++)
            for (int k = 1; k <= NTICKS; k++)
                if (slot_runs[w][k] != 1) {
                    if (wrong++ < 5)
                        fprintf(stderr, "slot %d of w%d ran %d times\n", k, w, slot_runs[w][k]);
                }
        CHECK_INT_EQ(wrong, 0);
        CHECK_INT_EQ(r[0].nruns + r[1].nruns + r[2].nruns, NWORKERS * NTICKS);
        for (int w = 0; w < NWORKERS; w++) {
            char name[8];
            snprintf(name, sizeof name, "w%d", w);
            CHECK_INT_EQ(records(name, "skipped"), 0);
            CHECK_INT_EQ(records(name, "ok"), NTICKS);
        }
    }
    for (int i = 0; i < 3; i++)
        tg_scheduler_close(r[i].s);
    pthread_barrier_destroy(&tick);
}

/* A replica that stops renewing (it hangs, or its host is cut off) has its
 * run taken over by exactly one other once the lease lapses, and not before
 * while it renews; its late report then changes nothing, and the slots after
 * run as before: each once, the one during the taken-over run skipped as an
 * overlap. */
static void test_takeover(void)
{
    replica ra = {0}, rb = {0}, rc = {0};
    const int64_t lease = 1500;
    bool opened = open_replica(&ra, "takeover.db", "a", T0, lease) != NULL;
    opened = open_replica(&rb, "takeover.db", "b", T0, lease) && opened;
    opened = open_replica(&rc, "takeover.db", "c", T0, lease) && opened;
    if (!opened) goto out;
    replica *all[] = {&ra, &rb, &rc};
    for (int i = 0; i < 3; i++)
        set(all[i]->s, "tk", "@every 1m", T0);
    for (int i = 0; i < 3; i++)
        tg_scheduler_poll(all[i]->s, T0 + MINUTE);
    CHECK_INT_EQ(runs_of(&ra), 1);
    CHECK_INT_EQ(runs_of(&rb) + runs_of(&rc), 0);

    /* While a renews, its run stays its own. */
    int64_t base = elapsed_ms();
    while (elapsed_ms() - base < 2 * lease) {
        int64_t now = T0 + MINUTE + elapsed_ms() - base;
        for (int i = 0; i < 3; i++)
            tg_scheduler_poll(all[i]->s, now);
        usleep(20000);
    }
    CHECK_INT_EQ(runs_of(&ra), 1);
    CHECK_INT_EQ(runs_of(&rb) + runs_of(&rc), 0);

    /* a stops polling: b or c takes its run over, once. */
    int64_t now = T0 + MINUTE;
    for (int i = 0; i < 1500 && runs_of(&rb) + runs_of(&rc) == 0; i++) {
        now = T0 + MINUTE + elapsed_ms() - base;
        tg_scheduler_poll(rb.s, now);
        tg_scheduler_poll(rc.s, now);
        usleep(10000);
    }
    for (int i = 0; i < 5; i++) {
        tg_scheduler_poll(rb.s, now + i);
        tg_scheduler_poll(rc.s, now + i);
    }
    CHECK_INT_EQ(runs_of(&rb) + runs_of(&rc), 1);
    replica *owner = runs_of(&rb) ? &rb : &rc;
    if (owner->nruns != 1) goto out;
    CHECK_INT_EQ(owner->runs[0].scheduled_ms, T0 + MINUTE);
    CHECK(owner->runs[0].catch_up);
    CHECK_INT_EQ(owner->runs[0].attempt, 1);

    /* a comes back and reports: the run is no longer its to end. The next
     * slot overlaps the new owner's run, still going. */
    finish(ra.s, &ra.runs[0], TG_SCHEDULE_OK, now + 1);
    for (int i = 0; i < 3; i++)
        tg_scheduler_poll(all[i]->s, T0 + 2 * MINUTE);
    CHECK_INT_EQ(runs_of(&ra) + runs_of(&rb) + runs_of(&rc), 2);
    CHECK_INT_EQ(records("tk", "skipped"), 1);
    finish(owner->s, &owner->runs[0], TG_SCHEDULE_OK, T0 + 2 * MINUTE + 1);
    for (int i = 0; i < 3; i++)
        tg_scheduler_poll(all[i]->s, T0 + 3 * MINUTE);
    CHECK_INT_EQ(runs_of(&ra) + runs_of(&rb) + runs_of(&rc), 3);
    CHECK_INT_EQ(records("tk", "ok"), 2);
out:
    tg_scheduler_close(ra.s);
    tg_scheduler_close(rb.s);
    tg_scheduler_close(rc.s);
}

/* Replicas following a change of schedule at different times: the one
 * behind, acting on the old schedule, finds the row changed and follows it,
 * and learning of the change late keeps the first one's slot. A replica that
 * stops leaves its waiting retry to another at once, not after its lease. */
static void test_replica_changes(void)
{
    replica ra = {0}, rb = {0};
    bool opened = open_replica(&ra, "changes.db", "a", T0, 0) != NULL;
    opened = open_replica(&rb, "changes.db", "b", T0, 0) && opened;
    if (!opened) goto out;
    set(ra.s, "ch", "@every 1m", T0);
    set(rb.s, "ch", "@every 1m", T0);
    set(ra.s, "ch", "@every 2m", T0 + 10 * SEC);
    /* b has not heard yet: its slot at 1m is no longer the row's. */
    CHECK_INT_EQ(tg_scheduler_poll(rb.s, T0 + MINUTE), T0 + 2 * MINUTE);
    CHECK_INT_EQ(tg_scheduler_poll(ra.s, T0 + MINUTE), T0 + 2 * MINUTE);
    CHECK_INT_EQ(runs_of(&ra) + runs_of(&rb), 0);
    set(rb.s, "ch", "@every 2m", T0 + 70 * SEC);
    tg_scheduler_poll(rb.s, T0 + 2 * MINUTE);
    tg_scheduler_poll(ra.s, T0 + 2 * MINUTE);
    CHECK_INT_EQ(runs_of(&ra) + runs_of(&rb), 1);
    CHECK_INT_EQ(rb.nruns ? rb.runs[0].scheduled_ms : ra.runs[0].scheduled_ms, T0 + 2 * MINUTE);
    replica *first = rb.nruns ? &rb : &ra, *other = rb.nruns ? &ra : &rb;

    /* The run fails retryably, and its replica stops while the retry waits:
     * the other takes it over at its next look, with the lease (10 s) not
     * lapsed. */
    finish(first->s, &first->runs[0], TG_SCHEDULE_RETRYABLE, T0 + 2 * MINUTE + 1);
    tg_scheduler_stop(first->s);
    tg_scheduler_poll(other->s, T0 + 2 * MINUTE + 11 * SEC);
    CHECK_INT_EQ(runs_of(other), 1);
    if (runs_of(other) != 1) goto out;
    CHECK_INT_EQ(other->runs[0].scheduled_ms, T0 + 2 * MINUTE);
    CHECK_INT_EQ(other->runs[0].attempt, 1);
    CHECK(other->runs[0].catch_up);
    finish(other->s, &other->runs[0], TG_SCHEDULE_OK, T0 + 2 * MINUTE + 12 * SEC);
    CHECK_INT_EQ(tg_scheduler_poll(other->s, T0 + 2 * MINUTE + 13 * SEC), T0 + 4 * MINUTE);
out:
    tg_scheduler_close(ra.s);
    tg_scheduler_close(rb.s);
}

/* Opens the audit log and runs history the cases record into. */
static int open_records(const char *audit_name, const char *runs_name)
{
    char path[256];
    tg_error err;
    snprintf(path, sizeof path, "%s/%s", dir, audit_name);
    if (tg_audit_open(path, NULL, &audit, &err) != 0) {
        fprintf(stderr, "audit: %s\n", err.message);
        return -1;
    }
    const char *at = where(runs_name);
    if (!at || tg_runs_open(at, NULL, &runs, &err) != 0) {
        fprintf(stderr, "runs: %s\n", at ? err.message : "no database");
        tg_audit_close(audit);
        return -1;
    }
    return 0;
}

static void close_records(void)
{
    tg_runs_close(runs);
    tg_audit_close(audit);
}

static void run_cases(void)
{
    test_slots_and_overlap();
    test_retries();
    test_restart();
    test_changes_and_sync();
    test_unknown_zone();
    test_jitter();
    test_random();
}

int main(void)
{
    if (!mkdtemp(dir)) return 1;
    test_manifest();
    if (open_records("audit.db", "runs.db") != 0) return 1;
    run_cases();
    close_records();
    /* A fresh audit log, so that counts of records start from none. */
    on_postgres = true;
    const char *pg = getenv("TOOLGATE_TEST_POSTGRES");
    if (!pg || !*pg) {
        fprintf(stderr, "TOOLGATE_TEST_POSTGRES is not set: PostgreSQL cases skipped\n");
    } else if (open_records("audit-pg.db", "runs.db") != 0) {
        CHECK(!"the PostgreSQL cases can start");
    } else {
        printf("PostgreSQL:\n");
        run_cases();
        test_replicas();
        test_exactly_once();
        test_takeover();
        test_replica_changes();
        close_records();
    }
    pgtest_forget();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return check_report();
}
