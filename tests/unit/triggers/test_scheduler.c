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
#include "pgtest.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* The databases made so far, by case file name: a name opened again (a
 * restart) is the same database. */
static struct {
    char *name, *url;
} databases[16];

/* Where the store called name lives: a file in dir, or a PostgreSQL
 * database of its own. Returns: borrowed, NULL when it cannot be made. */
static const char *where(const char *name)
{
    static char path[256];
    if (!on_postgres) {
        snprintf(path, sizeof path, "%s/%s", dir, name);
        return path;
    }
    size_t i = 0;
    for (; i < sizeof databases / sizeof *databases && databases[i].name; i++)
        if (strcmp(databases[i].name, name) == 0) return databases[i].url;
    if (i == sizeof databases / sizeof *databases) return NULL;
    char db[64];
    snprintf(db, sizeof db, "test_scheduler_%.*s", (int)strcspn(name, "."), name);
    databases[i].url = pgtest_database(db);
    if (!databases[i].url) return NULL;
    databases[i].name = strdup(name);
    return databases[i].url;
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

/* Two gateways on one database. Both writing the same rows at once (a
 * registry change each follows) store them without a conflict; and a
 * gateway that dies with a run owed leaves it to the one that opens the
 * database next, which runs it as a catch-up and does not run the slots the
 * first one finished. (That two live gateways would both run a slot is what
 * the scheduler's one-process assumption leaves open; see scheduler.h.) */
static void test_replicas(void)
{
    nstarted = 0;
    tg_scheduler *a = open_at("replicas.db", T0, -1), *b = open_at("replicas.db", T0, -1);
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
    tg_scheduler_close(b);

    set(a, "done", "@every 1m", T0);
    set(a, "owed", "@every 1m", T0);
    nstarted = 0;
    tg_scheduler_poll(a, T0 + MINUTE);
    CHECK_INT_EQ(nstarted, 52);
    for (size_t i = 0; i < nstarted; i++)
        if (strcmp(started[i].worker, "owed") != 0)
            finish(a, &started[i], TG_SCHEDULE_OK, T0 + MINUTE + 5);
    tg_scheduler_close(a); /* dies with "owed" running */

    nstarted = 0;
    b = open_at("replicas.db", T0 + MINUTE + 30 * SEC, -1);
    CHECK_INT_EQ(tg_scheduler_count(b), 52);
    tg_scheduler_poll(b, T0 + MINUTE + 30 * SEC);
    CHECK_INT_EQ(nstarted, 1);
    CHECK_STR_EQ(started[0].worker, "owed");
    CHECK_INT_EQ(started[0].scheduled_ms, T0 + MINUTE);
    CHECK(started[0].catch_up);
    finish(b, &started[0], TG_SCHEDULE_OK, T0 + MINUTE + 31 * SEC);
    tg_scheduler_close(b);
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
        close_records();
    }
    for (size_t i = 0; i < sizeof databases / sizeof *databases && databases[i].name; i++) {
        free(databases[i].name);
        free(databases[i].url);
    }
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return check_report();
}
