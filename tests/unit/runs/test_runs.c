/* The runs store: insert and read back, list filters, pages that neither
 * repeat nor skip while other threads keep inserting, results pruned beyond
 * keep_results per (tenant, worker), logs bounded, idempotency keys. Every
 * case runs on sqlite, then on PostgreSQL (when TOOLGATE_TEST_POSTGRES gives
 * a cluster), where two handles on one database also stand for replicas. */
#include "gateway/runs/runs.h"

#include "gateway/core/clock.h"

#include "check.h"
#include "pgtest.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/test_runs.XXXXXX";

/* Which backend the cases run on now. */
static bool on_postgres;

/* Where the store called name lives (pgtest_where). */
static const char *where(const char *name)
{
    return pgtest_where(on_postgres, dir, "test_runs", name);
}

static tg_runs *open_store(const char *name, unsigned keep)
{
    const char *at = where(name);
    tg_runs *r = NULL;
    tg_error err = {0};
    tg_runs_config cfg = {.keep_results = keep};
    int rc = at ? tg_runs_open(at, &cfg, &r, &err) : -1;
    CHECK_INT_EQ(rc, 0);
    if (rc) fprintf(stderr, "%s\n", err.message);
    return r;
}

static int add(tg_runs *r, const char *call_id, const char *tenant, const char *worker,
               const char *trigger, const char *status)
{
    json_t *result = json_pack("{s:[{s:s, s:s}], s:{s:s}}", "content", "type", "text", "text",
                               call_id, "structuredContent", "id", call_id);
    json_t *logs = json_pack("[{s:s, s:s}]", "log", "info", "data", call_id);
    tg_run_summary s = {
        .call_id = call_id,
        .tenant = tenant,
        .worker = worker,
        .version = "v1",
        .trigger_kind = trigger,
        .principal = "t/alice",
        .started_ms = 1700000000000,
        .duration_ms = 12,
        .status = status,
        .error_code = strcmp(status, "ok") ? "NOT_TODAY" : NULL,
        .output_bytes = 42,
        .result = result,
        .stderr_tail = "warning: from stderr\n",
        .logs = logs,
    };
    tg_error err;
    int rc = tg_runs_insert(r, &s, &err);
    if (rc) fprintf(stderr, "insert %s: %s\n", call_id, err.message);
    json_decref(result);
    json_decref(logs);
    return rc;
}

static void test_insert_get(void)
{
    tg_runs *r = open_store("basic.db", 0);
    CHECK_INT_EQ(add(r, "c1", "t", "echo", "button", "ok"), 0);
    CHECK_INT_EQ(add(r, "c2", "t", "fail", "agent", "error"), 0);
    json_t *run = NULL;
    tg_error err;
    CHECK_INT_EQ(tg_runs_get(r, "t", "c2", &run, &err), 0);
    CHECK_STR_EQ(json_string_value(json_object_get(run, "worker")), "fail");
    CHECK_STR_EQ(json_string_value(json_object_get(run, "trigger")), "agent");
    CHECK_STR_EQ(json_string_value(json_object_get(run, "status")), "error");
    CHECK_STR_EQ(json_string_value(json_object_get(run, "error_code")), "NOT_TODAY");
    CHECK_STR_EQ(json_string_value(json_object_get(run, "started_at")), "2023-11-14T22:13:20.000Z");
    CHECK_INT_EQ(json_integer_value(json_object_get(run, "output_bytes")), 42);
    CHECK_INT_EQ(json_integer_value(json_object_get(run, "duration_ms")), 12);
    CHECK(json_is_true(json_object_get(run, "kept")));
    CHECK_STR_EQ(json_string_value(json_object_get(
                     json_object_get(json_object_get(run, "result"), "structuredContent"), "id")),
                 "c2");
    json_decref(run);
    /* Another tenant sees nothing of it. */
    CHECK_INT_EQ(tg_runs_get(r, "u", "c2", &run, &err), TG_ENOT_FOUND);
    CHECK_INT_EQ(tg_runs_logs(r, "u", "c2", &run, &err), TG_ENOT_FOUND);
    CHECK_INT_EQ(tg_runs_get(r, "t", "nope", &run, &err), TG_ENOT_FOUND);
    json_t *logs = NULL;
    CHECK_INT_EQ(tg_runs_logs(r, "t", "c1", &logs, &err), 0);
    CHECK_STR_EQ(json_string_value(json_object_get(logs, "stderr")), "warning: from stderr\n");
    CHECK_STR_EQ(json_string_value(
                     json_object_get(json_array_get(json_object_get(logs, "events"), 0), "data")),
                 "c1");
    CHECK_STR_EQ(json_string_value(json_object_get(logs, "call_id")), "c1");
    json_decref(logs);
    /* The same call id twice is refused, not recorded twice. */
    CHECK(add(r, "c1", "t", "echo", "button", "ok") != 0);
    tg_runs_close(r);
}

static size_t list_count(tg_runs *r, const tg_runs_filter *f)
{
    json_t *page = NULL;
    char *next = NULL;
    tg_error err;
    if (tg_runs_list(r, f, 1000, NULL, &page, &next, &err) != 0) return (size_t)-1;
    size_t n = json_array_size(page);
    json_decref(page);
    free(next);
    return n;
}

static void test_filters(void)
{
    tg_runs *r = open_store("filters.db", 0);
    add(r, "a1", "t", "echo", "button", "ok");
    add(r, "a2", "t", "echo", "agent", "ok");
    add(r, "a3", "t", "fail", "agent", "error");
    add(r, "a4", "t", "fail", "schedule", "refused");
    add(r, "a5", "u", "echo", "button", "ok");
    CHECK_INT_EQ(list_count(r, &(tg_runs_filter){.tenant = "t"}), 4);
    CHECK_INT_EQ(list_count(r, &(tg_runs_filter){.tenant = "u"}), 1);
    CHECK_INT_EQ(list_count(r, &(tg_runs_filter){.tenant = "t", .worker = "echo"}), 2);
    CHECK_INT_EQ(list_count(r, &(tg_runs_filter){.tenant = "t", .trigger_kind = "agent"}), 2);
    CHECK_INT_EQ(list_count(r, &(tg_runs_filter){.tenant = "t", .status = "refused"}), 1);
    CHECK_INT_EQ(
        list_count(r, &(tg_runs_filter){.tenant = "t", .worker = "fail", .trigger_kind = "agent"}),
        1);
    /* Newest first. */
    json_t *page = NULL;
    char *next = NULL;
    tg_error err;
    CHECK_INT_EQ(tg_runs_list(r, &(tg_runs_filter){.tenant = "t"}, 2, NULL, &page, &next, &err), 0);
    CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(page, 0), "call_id")), "a4");
    CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(page, 1), "call_id")), "a3");
    CHECK(next != NULL);
    json_decref(page);
    char *cursor = next;
    CHECK_INT_EQ(tg_runs_list(r, &(tg_runs_filter){.tenant = "t"}, 2, cursor, &page, &next, &err),
                 0);
    free(cursor);
    CHECK_INT_EQ(json_array_size(page), 2);
    CHECK(next == NULL); /* exactly two left: no empty page after */
    json_decref(page);
    CHECK_INT_EQ(tg_runs_list(r, &(tg_runs_filter){.tenant = "t"}, 2, "x1", &page, &next, &err),
                 TG_EINVALID_PARAMS);
    CHECK_INT_EQ(tg_runs_list(r, &(tg_runs_filter){.tenant = "t"}, 2, "-5", &page, &next, &err),
                 TG_EINVALID_PARAMS);
    tg_runs_close(r);
}

typedef struct inserter {
    tg_runs *r;
    int from, n;
} inserter;

static void *insert_many(void *arg)
{
    inserter *in = arg;
    for (int i = 0; i < in->n; i++) {
        char id[32];
        snprintf(id, sizeof id, "live-%d", in->from + i);
        add(in->r, id, "t", "echo", "agent", "ok");
    }
    return NULL;
}

/* Pages read while two threads insert: every run that existed before the
 * first page shows exactly once, in order, and no run appears twice. */
static void test_pagination_concurrent(void)
{
    tg_runs *r = open_store("pages.db", 5);
    for (int i = 0; i < 200; i++) {
        char id[32];
        snprintf(id, sizeof id, "old-%03d", i);
        add(r, id, "t", "echo", "agent", "ok");
    }
    inserter a = {r, 0, 150}, b = {r, 1000, 150};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, insert_many, &a);
    pthread_create(&tb, NULL, insert_many, &b);
    json_t *seen = json_object();
    char *cursor = NULL;
    int old_expected = 199, old_out_of_order = 0, pages = 0;
    bool dup = false;
    for (;;) {
        json_t *page = NULL;
        char *next = NULL;
        tg_error err;
        if (tg_runs_list(r, &(tg_runs_filter){.tenant = "t"}, 7, cursor, &page, &next, &err)) {
            CHECK(!"list failed");
            break;
        }
        pages++;
        size_t i;
        json_t *run;
        json_array_foreach(page, i, run)
        {
            const char *id = json_string_value(json_object_get(run, "call_id"));
            if (json_object_get(seen, id)) dup = true;
            json_object_set_new(seen, id, json_true());
            if (strncmp(id, "old-", 4) == 0) {
                if (strtol(id + 4, NULL, 10) != old_expected) old_out_of_order++;
                old_expected--;
            }
        }
        json_decref(page);
        free(cursor);
        cursor = next;
        if (!cursor) break;
        usleep(200);
    }
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    CHECK(!dup);
    CHECK_INT_EQ(old_expected, -1);
    CHECK_INT_EQ(old_out_of_order, 0);
    CHECK(pages > 20);
    json_decref(seen);
    CHECK_INT_EQ(list_count(r, &(tg_runs_filter){.tenant = "t"}), 500);
    tg_runs_close(r);
}

static void test_pruning(void)
{
    tg_runs *r = open_store("prune.db", 3);
    for (int i = 0; i < 6; i++) {
        char id[32];
        snprintf(id, sizeof id, "p%d", i);
        add(r, id, "t", "echo", "agent", "ok");
        snprintf(id, sizeof id, "q%d", i);
        if (i < 2) add(r, id, "t", "other", "agent", "ok");
    }
    json_t *run = NULL, *logs = NULL;
    tg_error err;
    for (int i = 0; i < 6; i++) {
        char id[32];
        snprintf(id, sizeof id, "p%d", i);
        bool kept = i >= 3;
        CHECK_INT_EQ(tg_runs_get(r, "t", id, &run, &err), 0);
        CHECK_INT_EQ(json_is_true(json_object_get(run, "kept")), kept);
        CHECK_INT_EQ(json_object_get(run, "result") != NULL, kept);
        CHECK_STR_EQ(json_string_value(json_object_get(run, "status")), "ok");
        json_decref(run);
        CHECK_INT_EQ(tg_runs_logs(r, "t", id, &logs, &err), kept ? 0 : TG_ENOT_FOUND);
        json_decref(logs);
        logs = NULL;
    }
    /* Another worker's results are its own to count. */
    CHECK_INT_EQ(tg_runs_logs(r, "t", "q0", &logs, &err), 0);
    json_decref(logs);
    tg_runs_close(r);
}

static void test_log_bounds(void)
{
    tg_runs *r = open_store("bounds.db", 0);
    json_t *events = json_array();
    char *line = malloc(1001);
    memset(line, 'x', 1000);
    line[1000] = '\0';
    for (int i = 0; i < 200; i++)
        json_array_append_new(events, json_pack("{s:s, s:s}", "log", "info", "data", line));
    char *tail = malloc(40001);
    memset(tail, 'e', 40000);
    tail[40000] = '\0';
    tg_run_summary s = {.call_id = "big",
                        .tenant = "t",
                        .worker = "w",
                        .status = "ok",
                        .stderr_tail = tail,
                        .logs = events,
                        .logs_dropped = 3};
    tg_error err;
    CHECK_INT_EQ(tg_runs_insert(r, &s, &err), 0);
    json_t *logs = NULL;
    CHECK_INT_EQ(tg_runs_logs(r, "t", "big", &logs, &err), 0);
    char *text = json_dumps(logs, JSON_COMPACT);
    CHECK(strlen(text) < TG_RUNS_MAX_LOG_BYTES + 8192);
    CHECK_INT_EQ(strlen(json_string_value(json_object_get(logs, "stderr"))),
                 TG_RUNS_MAX_LOG_BYTES / 2);
    size_t kept = json_array_size(json_object_get(logs, "events"));
    CHECK(kept > 10 && kept < 200);
    CHECK_INT_EQ(json_integer_value(json_object_get(logs, "events_dropped")), 3 + 200 - kept);
    free(text);
    json_decref(logs);
    json_decref(events);
    free(line);
    free(tail);
    tg_runs_close(r);
}

static void test_idempotency(void)
{
    tg_runs *r = open_store("idem.db", 0);
    const char *sha = "aaaa", *other = "bbbb";
    int64_t now = 1700000000000;
    tg_runs_claim state;
    json_t *answer = NULL;
    tg_error err;
    CHECK_INT_EQ(tg_runs_claim_key(r, "t", "w", "k1", sha, now, &state, &answer, &err), 0);
    CHECK_INT_EQ(state, TG_RUNS_CLAIMED);
    CHECK_INT_EQ(tg_runs_claim_key(r, "t", "w", "k1", sha, now + 1, &state, &answer, &err), 0);
    CHECK_INT_EQ(state, TG_RUNS_RUNNING);
    CHECK_INT_EQ(tg_runs_claim_key(r, "t", "w", "k1", other, now + 1, &state, &answer, &err), 0);
    CHECK_INT_EQ(state, TG_RUNS_MISMATCH);
    /* Keys are per tenant and per worker. */
    CHECK_INT_EQ(tg_runs_claim_key(r, "u", "w", "k1", other, now, &state, &answer, &err), 0);
    CHECK_INT_EQ(state, TG_RUNS_CLAIMED);
    CHECK_INT_EQ(tg_runs_claim_key(r, "t", "w2", "k1", other, now, &state, &answer, &err), 0);
    CHECK_INT_EQ(state, TG_RUNS_CLAIMED);
    json_t *stored = json_pack("{s:s}", "call_id", "abc");
    CHECK_INT_EQ(tg_runs_complete_key(r, "t", "w", "k1", stored, &err), 0);
    json_decref(stored);
    CHECK_INT_EQ(tg_runs_claim_key(r, "t", "w", "k1", sha, now + 2, &state, &answer, &err), 0);
    CHECK_INT_EQ(state, TG_RUNS_ANSWERED);
    CHECK_STR_EQ(json_string_value(json_object_get(answer, "call_id")), "abc");
    json_decref(answer);
    CHECK_INT_EQ(tg_runs_claim_key(r, "t", "w", "k1", other, now + 2, &state, &answer, &err), 0);
    CHECK_INT_EQ(state, TG_RUNS_MISMATCH);
    /* After 24 hours the key is new again. */
    CHECK_INT_EQ(tg_runs_claim_key(r, "t", "w", "k1", other, now + TG_RUNS_IDEMPOTENCY_MS + 1,
                                   &state, &answer, &err),
                 0);
    CHECK_INT_EQ(state, TG_RUNS_CLAIMED);
    /* A released key may be claimed again. */
    CHECK_INT_EQ(tg_runs_complete_key(r, "u", "w", "k1", NULL, &err), 0);
    CHECK_INT_EQ(tg_runs_claim_key(r, "u", "w", "k1", sha, now + 3, &state, &answer, &err), 0);
    CHECK_INT_EQ(state, TG_RUNS_CLAIMED);
    tg_runs_close(r);
    /* Reopening releases keys whose call never answered ("t"/"w2" ran). */
    r = open_store("idem.db", 0);
    CHECK_INT_EQ(tg_runs_claim_key(r, "t", "w2", "k1", sha, now + 4, &state, &answer, &err), 0);
    CHECK_INT_EQ(state, TG_RUNS_CLAIMED);
    tg_runs_close(r);
}

/* A history from before schedules were recorded and before its schema had
 * versions (user_version 0) opens, gains the schedule columns, keeps its
 * runs, and releases the key its last process left running. */
static void test_old_file(void)
{
    char path[256];
    snprintf(path, sizeof path, "%s/old.db", dir);
    sqlite3 *db = NULL;
    CHECK_INT_EQ(sqlite3_open(path, &db), SQLITE_OK);
    CHECK_INT_EQ(
        sqlite3_exec(db,
                     "CREATE TABLE runs (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
                     " call_id TEXT NOT NULL, tenant TEXT NOT NULL, worker TEXT NOT NULL,"
                     " version TEXT NOT NULL, trigger_kind TEXT NOT NULL,"
                     " principal TEXT NOT NULL, started_ms INTEGER NOT NULL,"
                     " duration_ms INTEGER NOT NULL, status TEXT NOT NULL, error_code TEXT,"
                     " output_bytes INTEGER NOT NULL);"
                     "CREATE UNIQUE INDEX runs_call ON runs (call_id);"
                     "CREATE TABLE run_results (seq INTEGER PRIMARY KEY, tenant TEXT NOT NULL,"
                     " worker TEXT NOT NULL, result TEXT, logs TEXT NOT NULL);"
                     "CREATE TABLE idempotency (tenant TEXT NOT NULL, worker TEXT NOT NULL,"
                     " key TEXT NOT NULL, body_sha256 TEXT NOT NULL,"
                     " created_ms INTEGER NOT NULL, answer TEXT,"
                     " PRIMARY KEY (tenant, worker, key)) WITHOUT ROWID;"
                     "INSERT INTO runs (call_id, tenant, worker, version, trigger_kind,"
                     " principal, started_ms, duration_ms, status, output_bytes)"
                     " VALUES ('old1', 't', 'echo', 'v1', 'agent', 'p', 1700000000000, 5,"
                     " 'ok', 1);"
                     "INSERT INTO idempotency VALUES ('t', 'w', 'k', 'aaaa', 1700000000000,"
                     " NULL);",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    tg_runs *r = open_store("old.db", 0);
    if (!r) return;
    json_t *run = NULL;
    tg_error err;
    CHECK_INT_EQ(tg_runs_get(r, "t", "old1", &run, &err), 0);
    CHECK_STR_EQ(json_string_value(json_object_get(run, "status")), "ok");
    CHECK(json_object_get(run, "attempt") == NULL);
    json_decref(run);
    tg_run_summary s = {.call_id = "new1",
                        .tenant = "t",
                        .worker = "echo",
                        .status = "skipped",
                        .scheduled_ms = 1700000060000,
                        .attempt = 1};
    CHECK_INT_EQ(tg_runs_insert(r, &s, &err), 0);
    CHECK_INT_EQ(tg_runs_get(r, "t", "new1", &run, &err), 0);
    CHECK_INT_EQ(json_integer_value(json_object_get(run, "attempt")), 1);
    json_decref(run);
    tg_runs_claim state;
    json_t *answer = NULL;
    CHECK_INT_EQ(tg_runs_claim_key(r, "t", "w", "k", "aaaa", 1700000000001, &state, &answer, &err),
                 0);
    CHECK_INT_EQ(state, TG_RUNS_CLAIMED);
    tg_runs_close(r);
}

typedef struct claimer {
    tg_runs *r;
    const char *key;
    pthread_barrier_t *go;
    tg_runs_claim state;
    int rc;
} claimer;

static void *claim_one(void *arg)
{
    claimer *c = arg;
    json_t *answer = NULL;
    tg_error err;
    pthread_barrier_wait(c->go);
    c->rc =
        tg_runs_claim_key(c->r, "t", "w", c->key, "aaaa", tg_now_ms(), &c->state, &answer, &err);
    if (c->rc) fprintf(stderr, "claim %s: %s\n", c->key, err.message);
    json_decref(answer);
    return NULL;
}

/* Two replicas (two handles on one database) claiming the same keys at the
 * same moment: exactly one claims each key, the other sees it running. A
 * replica starting meanwhile leaves the other's running keys alone. */
static void test_replicas(void)
{
    tg_runs *a = open_store("replicas.db", 0), *b = open_store("replicas.db", 0);
    if (!a || !b) {
        tg_runs_close(a);
        tg_runs_close(b);
        return;
    }
    enum { KEYS = 40, SIDES = 4 };
    int claimed_once = 0;
    for (int k = 0; k < KEYS; k++) {
        char key[32];
        snprintf(key, sizeof key, "race-%d", k);
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, SIDES);
        claimer c[SIDES];
        pthread_t t[SIDES];
        for (int i = 0; i < SIDES; i++) {
            c[i] = (claimer){.r = i % 2 ? b : a, .key = key, .go = &go};
            pthread_create(&t[i], NULL, claim_one, &c[i]);
        }
        int claimed = 0, running = 0;
        for (int i = 0; i < SIDES; i++) {
            pthread_join(t[i], NULL);
            CHECK_INT_EQ(c[i].rc, 0);
            claimed += c[i].state == TG_RUNS_CLAIMED;
            running += c[i].state == TG_RUNS_RUNNING;
        }
        pthread_barrier_destroy(&go);
        CHECK_INT_EQ(running, SIDES - 1);
        claimed_once += claimed == 1;
    }
    CHECK_INT_EQ(claimed_once, KEYS);
    /* b restarts while a's call of race-0 still runs: the key stays a's. */
    tg_runs_close(b);
    b = open_store("replicas.db", 0);
    tg_runs_claim state;
    json_t *answer = NULL;
    tg_error err;
    CHECK_INT_EQ(
        tg_runs_claim_key(b, "t", "w", "race-0", "aaaa", tg_now_ms(), &state, &answer, &err), 0);
    CHECK_INT_EQ(state, TG_RUNS_RUNNING);
    /* a answers it; b sees the answer. */
    json_t *stored = json_pack("{s:s}", "call_id", "from-a");
    CHECK_INT_EQ(tg_runs_complete_key(a, "t", "w", "race-0", stored, &err), 0);
    json_decref(stored);
    CHECK_INT_EQ(
        tg_runs_claim_key(b, "t", "w", "race-0", "aaaa", tg_now_ms(), &state, &answer, &err), 0);
    CHECK_INT_EQ(state, TG_RUNS_ANSWERED);
    CHECK_STR_EQ(json_string_value(json_object_get(answer, "call_id")), "from-a");
    json_decref(answer);
    /* Runs recorded by either replica are one history. */
    CHECK_INT_EQ(add(a, "ra", "t", "echo", "agent", "ok"), 0);
    CHECK_INT_EQ(add(b, "rb", "t", "echo", "agent", "ok"), 0);
    CHECK_INT_EQ(add(b, "ra", "t", "echo", "agent", "ok") != 0, 1);
    CHECK_INT_EQ(list_count(a, &(tg_runs_filter){.tenant = "t"}), 2);
    tg_runs_close(a);
    tg_runs_close(b);
}

static void run_cases(void)
{
    test_insert_get();
    test_filters();
    test_pagination_concurrent();
    test_pruning();
    test_log_bounds();
    test_idempotency();
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    run_cases();
    test_old_file();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", dir);
    on_postgres = true;
    if (where("basic.db")) {
        printf("PostgreSQL:\n");
        run_cases();
        test_replicas();
    }
    pgtest_forget();
    return check_report();
}
