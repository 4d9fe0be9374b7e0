/* Shared admission: replicas on one PostgreSQL database hold the limits
 * together. Two tg_admission instances play two replicas; threads hammer
 * both; a replica "dies" by losing its heartbeat thread. Time is the
 * database server's, so cases assert what the logic guarantees (a burst is
 * never exceeded, a cap never held beyond, a slot comes back) and wait by
 * polling, never by a fixed sleep. Includes the .c with a short heartbeat
 * window, and to stop a replica's heart. */
#define ADMISSION_HEARTBEAT_MS 200
#define ADMISSION_WINDOW_MS    1500
#include "gateway/calls/admission.c"

#include "check.h"
#include "pgtest.h"

#include <stdatomic.h>

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static tg_admission *replica(const char *url, const char *id, tg_admission_config c)
{
    c.store = url;
    c.replica = id;
    tg_admission *a = NULL;
    tg_error err = {0};
    int rc = tg_admission_new(&c, &a, &err);
    CHECK_INT_EQ(rc, 0);
    if (rc != 0) fprintf(stderr, "tg_admission_new: %s\n", err.message);
    return a;
}

/* The one number sql selects, read on a connection of its own; -1 on
 * failure. */
static long long sql_int(const char *url, const char *sql)
{
    PGconn *c = PQconnectdb(url);
    PGresult *r = PQexec(c, sql);
    long long v = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    else
        fprintf(stderr, "%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return v;
}

/* Calls the store counts as running for tenant (over every replica row,
 * live or not). */
static long long stored_running(const char *url, const char *tenant)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT coalesce(sum(n), 0) FROM admission.running"
             " WHERE tenant = '%s' AND tool = ''",
             tenant);
    return sql_int(url, sql);
}

static int tap(tg_admission *a, const char *tenant, const char *tool, int64_t *retry_ms)
{
    tg_admission_ticket t;
    int rc = tg_admission_enter(a, tenant, tool, 0, &t, retry_ms);
    if (rc == 0) tg_admission_leave(a, &t);
    return rc;
}

/* Refused before any connection: a sqlite store, no replica id, a bad limit,
 * a server that is not there. Runs without PostgreSQL too. */
static void test_refusals(void)
{
    struct {
        tg_admission_config c;
        int rc;
        const char *says;
    } cases[] = {
        {{.store = "/tmp/toolgate-data/admission.db", .replica = "r1"}, TG_EINTERNAL, "PostgreSQL"},
        {{.store = "postgresql://postgres@/x?host=/nonexistent"}, TG_EINTERNAL, "replica"},
        {{.store = "postgresql://postgres@/x?host=/nonexistent", .replica = ""},
         TG_EINTERNAL,
         "replica"},
        {{.store = "postgresql://postgres@/x?host=/nonexistent", .replica = "r1", .tool_rate = 2e6},
         TG_EINTERNAL,
         "tool_rate"},
        {{.store = "postgresql://postgres@/x?host=/nonexistent", .replica = "r1"},
         TG_EUNAVAILABLE,
         "admission store"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tg_admission *a = NULL;
        tg_error err = {0};
        CHECK_INT_EQ(tg_admission_new(&cases[i].c, &a, &err), cases[i].rc);
        CHECK(a == NULL);
        CHECK(strstr(err.message, cases[i].says) != NULL);
        if (!strstr(err.message, cases[i].says)) fprintf(stderr, "message: %s\n", err.message);
    }
}

enum { THREADS_PER_REPLICA = 4 };

struct drain {
    tg_admission *a;
    atomic_long *admitted, *failed;
    atomic_llong *retry_ms;
};

/* Takes tokens until the bucket refuses. */
static void *drain_thread(void *arg)
{
    struct drain *d = arg;
    for (;;) {
        int64_t retry = 0;
        int rc = tap(d->a, "acme", "t", &retry);
        if (rc == 0) {
            atomic_fetch_add(d->admitted, 1);
            continue;
        }
        if (rc == TG_ERATE_LIMITED)
            atomic_store(d->retry_ms, retry);
        else
            atomic_fetch_add(d->failed, 1);
        return NULL;
    }
}

/* Eight threads on two replicas share one burst: it is handed out exactly
 * once (the refill at 0.001 a second adds no whole token meanwhile), and the
 * refusal waits for the next token at that rate. */
static void test_burst_across_replicas(const char *url)
{
    tg_admission_config c = {.tenant_rate = 0.001,
                             .tenant_burst = 300,
                             .tool_rate = TG_ADMISSION_OFF,
                             .tenant_concurrency = TG_ADMISSION_OFF,
                             .worker_concurrency = TG_ADMISSION_OFF};
    tg_admission *r[2] = {replica(url, "r1", c), replica(url, "r2", c)};
    if (!r[0] || !r[1]) return;
    atomic_long admitted = 0, failed = 0;
    atomic_llong retry_ms = 0;
    struct drain d[2];
    pthread_t th[2 * THREADS_PER_REPLICA];
    for (int i = 0; i < 2; i++)
        d[i] = (struct drain){r[i], &admitted, &failed, &retry_ms};
    for (int i = 0; i < 2 * THREADS_PER_REPLICA; i++)
        pthread_create(&th[i], NULL, drain_thread, &d[i % 2]);
    for (int i = 0; i < 2 * THREADS_PER_REPLICA; i++)
        pthread_join(th[i], NULL);
    CHECK_INT_EQ(atomic_load(&admitted), 300);
    CHECK_INT_EQ(atomic_load(&failed), 0);
    /* Nearly a whole token at 0.001 a second: about 1000 s. */
    long long retry = atomic_load(&retry_ms);
    CHECK(retry > 990000 && retry <= 1000000);
    int64_t ms;
    CHECK_INT_EQ(tap(r[1], "acme", "other", &ms), TG_ERATE_LIMITED);
    /* Another tenant has its own bucket. */
    CHECK_INT_EQ(tap(r[0], "globex", "t", &ms), 0);
    tg_admission_free(r[0]);
    tg_admission_free(r[1]);
}

enum { ROUNDS = 150, TENANT_CAP = 5, WORKER_CAP = 3 };

struct hold {
    tg_admission *a;
    int seed;
    atomic_int *held_tool;  /* [2]: calls holding tool "a" and "b" */
    atomic_int *held_total; /* calls holding any */
    atomic_int *max_tool, *max_total;
    atomic_long *admitted, *failed;
};

static void raise_to(atomic_int *max, int v)
{
    int m = atomic_load(max);
    while (v > m && !atomic_compare_exchange_weak(max, &m, v))
        ;
}

/* Enters, holds the slot a little while counting the holders, leaves. */
static void *hold_thread(void *arg)
{
    struct hold *h = arg;
    static const char *tools[] = {"a", "b"};
    unsigned r = (unsigned)h->seed;
    for (int i = 0; i < ROUNDS; i++) {
        r = r * 1103515245u + 12345u;
        int k = (int)((r >> 16) & 1);
        tg_admission_ticket t;
        int64_t retry;
        int rc = tg_admission_enter(h->a, "acme", tools[k], 0, &t, &retry);
        if (rc == TG_ERATE_LIMITED) {
            if (retry != TG_ADMISSION_BUSY_RETRY_MS) atomic_fetch_add(h->failed, 1);
            continue;
        }
        if (rc != 0) {
            atomic_fetch_add(h->failed, 1);
            continue;
        }
        atomic_fetch_add(h->admitted, 1);
        raise_to(h->max_tool, atomic_fetch_add(&h->held_tool[k], 1) + 1);
        raise_to(h->max_total, atomic_fetch_add(h->held_total, 1) + 1);
        sleep_ms(1 + (long)((r >> 8) % 3));
        atomic_fetch_sub(&h->held_tool[k], 1);
        atomic_fetch_sub(h->held_total, 1);
        tg_admission_leave(h->a, &t);
    }
    return NULL;
}

/* Calls held at once across both replicas never pass the caps, and every
 * slot comes back after its leave. */
static void test_caps_across_replicas(const char *url)
{
    tg_admission_config c = {.tenant_rate = TG_ADMISSION_OFF,
                             .tool_rate = TG_ADMISSION_OFF,
                             .tenant_concurrency = TENANT_CAP,
                             .worker_concurrency = WORKER_CAP};
    tg_admission *r[2] = {replica(url, "r1", c), replica(url, "r2", c)};
    if (!r[0] || !r[1]) return;
    atomic_int held_tool[2] = {0, 0}, held_total = 0, max_tool = 0, max_total = 0;
    atomic_long admitted = 0, failed = 0;
    struct hold h[2 * THREADS_PER_REPLICA];
    pthread_t th[2 * THREADS_PER_REPLICA];
    double start = now_s();
    for (int i = 0; i < 2 * THREADS_PER_REPLICA; i++) {
        h[i] = (struct hold){r[i % 2],  i + 1,      held_tool, &held_total,
                             &max_tool, &max_total, &admitted, &failed};
        pthread_create(&th[i], NULL, hold_thread, &h[i]);
    }
    for (int i = 0; i < 2 * THREADS_PER_REPLICA; i++)
        pthread_join(th[i], NULL);
    double took = now_s() - start;
    CHECK_INT_EQ(atomic_load(&failed), 0);
    CHECK(atomic_load(&admitted) > 0);
    CHECK(atomic_load(&max_tool) <= WORKER_CAP);
    CHECK(atomic_load(&max_total) <= TENANT_CAP);
    printf("caps: %ld admitted of %d tries in %.2f s, at most %d of a tool and %d in all held\n",
           atomic_load(&admitted), 2 * THREADS_PER_REPLICA * ROUNDS, took, atomic_load(&max_tool),
           atomic_load(&max_total));
    CHECK_INT_EQ(stored_running(url, "acme"), 0);

    /* Every slot is back: a cap's worth enters, the next is refused. */
    tg_admission_ticket t[WORKER_CAP + 1];
    int64_t retry;
    for (int i = 0; i < WORKER_CAP; i++)
        CHECK_INT_EQ(tg_admission_enter(r[i % 2], "acme", "a", 0, &t[i], &retry), 0);
    CHECK_INT_EQ(tg_admission_enter(r[0], "acme", "a", 0, &t[WORKER_CAP], &retry),
                 TG_ERATE_LIMITED);
    CHECK_INT_EQ(retry, TG_ADMISSION_BUSY_RETRY_MS);
    /* The tenant's cap counts both tools: two more fit, not three. */
    tg_admission_ticket u[3];
    CHECK_INT_EQ(tg_admission_enter(r[1], "acme", "b", 0, &u[0], &retry), 0);
    CHECK_INT_EQ(tg_admission_enter(r[0], "acme", "b", 0, &u[1], &retry), 0);
    CHECK_INT_EQ(tg_admission_enter(r[1], "acme", "b", 0, &u[2], &retry), TG_ERATE_LIMITED);
    CHECK_INT_EQ(stored_running(url, "acme"), TENANT_CAP);
    for (int i = 0; i < WORKER_CAP; i++)
        tg_admission_leave(r[i % 2], &t[i]);
    tg_admission_leave(r[1], &u[0]);
    tg_admission_leave(r[0], &u[1]);
    tg_admission_leave(r[0], &u[1]); /* twice: harmless */
    CHECK_INT_EQ(stored_running(url, "acme"), 0);
    tg_admission_free(r[0]);
    tg_admission_free(r[1]);
}

/* Polls enter every 20 ms, for at most 30 s, until it is neither refused
 * nor the store unavailable. */
static int enter_eventually(tg_admission *a, const char *tenant, const char *tool,
                            tg_admission_ticket *t)
{
    int rc = TG_ERATE_LIMITED;
    for (int i = 0; i < 1500 && (rc == TG_ERATE_LIMITED || rc == TG_EUNAVAILABLE); i++) {
        int64_t retry;
        rc = tg_admission_enter(a, tenant, tool, 0, t, &retry);
        if (rc != 0) sleep_ms(20);
    }
    return rc;
}

/* Ends the replica's connection to the store, as a restart of the server
 * or a failover would, and waits until it is gone. */
static void cut(const char *url)
{
    CHECK(sql_int(url, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                       " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                       " AND application_name = 'toolgate'") == 1);
    for (int i = 0; i < 250 && sql_int(url, "SELECT count(*) FROM pg_stat_activity"
                                            " WHERE datname = current_database()"
                                            " AND application_name = 'toolgate'") != 0;
         i++)
        sleep_ms(20);
}

/* A replica that stops its heartbeats holding slots: they stop counting
 * once its heartbeat is older than the window, and its rows are deleted.
 * When it comes back it writes its running calls again, and they count. A
 * replica that is freed gives its slots back at once. */
static void test_dead_replica(const char *url)
{
    tg_admission_config c = {.tenant_rate = TG_ADMISSION_OFF,
                             .tool_rate = TG_ADMISSION_OFF,
                             .tenant_concurrency = TG_ADMISSION_OFF,
                             .worker_concurrency = 2};
    tg_admission *a = replica(url, "alive", c), *b = replica(url, "dies", c);
    if (!a || !b) return;
    tg_admission_ticket held[2], mine[2], extra;
    int64_t retry;
    CHECK_INT_EQ(tg_admission_enter(b, "acme", "t", 0, &held[0], &retry), 0);
    CHECK_INT_EQ(tg_admission_enter(b, "acme", "t", 0, &held[1], &retry), 0);
    CHECK_INT_EQ(tg_admission_enter(a, "acme", "t", 0, &mine[0], &retry), TG_ERATE_LIMITED);
    CHECK_INT_EQ(retry, TG_ADMISSION_BUSY_RETRY_MS);

    heart_stop(b->shared);
    CHECK_INT_EQ(enter_eventually(a, "acme", "t", &mine[0]), 0);
    /* a's heartbeats delete the dead replica's rows. */
    for (int i = 0; i < 1500 && sql_int(url, "SELECT count(*) FROM admission.replicas"
                                             " WHERE replica = 'dies'") != 0;
         i++)
        sleep_ms(20);
    CHECK_INT_EQ(sql_int(url, "SELECT count(*) FROM admission.running WHERE replica = 'dies'"), 0);

    /* Back: its two calls count again with a's one, so it is refused. */
    CHECK_INT_EQ(tg_admission_enter(b, "acme", "t", 0, &extra, &retry), TG_ERATE_LIMITED);
    CHECK_INT_EQ(retry, TG_ADMISSION_BUSY_RETRY_MS);
    CHECK_INT_EQ(stored_running(url, "acme"), 3);
    tg_admission_leave(b, &held[0]);
    tg_admission_leave(b, &held[1]);
    CHECK_INT_EQ(tg_admission_enter(a, "acme", "t", 0, &mine[1], &retry), 0);
    tg_admission_leave(a, &mine[0]);
    tg_admission_leave(a, &mine[1]);
    tg_admission_free(b);

    /* Freed without leaving: its slots are back at once. */
    tg_admission *d = replica(url, "frees", c);
    if (!d) return;
    CHECK_INT_EQ(tg_admission_enter(d, "acme", "t", 0, &held[0], &retry), 0);
    CHECK_INT_EQ(tg_admission_enter(d, "acme", "t", 0, &held[1], &retry), 0);
    CHECK_INT_EQ(tg_admission_enter(a, "acme", "t", 0, &mine[0], &retry), TG_ERATE_LIMITED);
    tg_admission_free(d);
    CHECK_INT_EQ(tg_admission_enter(a, "acme", "t", 0, &mine[0], &retry), 0);
    tg_admission_leave(a, &mine[0]);
    CHECK_INT_EQ(stored_running(url, "acme"), 0);
    tg_admission_free(a);
}

/* retryAfterMs is the wait for the emptier of the two buckets, and after
 * it the token is there. */
static void test_retry_after(const char *url)
{
    tg_admission_config c = {.tenant_rate = TG_ADMISSION_OFF, .tool_rate = 20, .tool_burst = 2};
    tg_admission *a = replica(url, "r1", c);
    if (!a) return;
    int64_t retry = 0;
    CHECK_INT_EQ(tap(a, "acme", "t", &retry), 0);
    CHECK_INT_EQ(tap(a, "acme", "t", &retry), 0);
    CHECK_INT_EQ(tap(a, "acme", "t", &retry), TG_ERATE_LIMITED);
    CHECK(retry >= 1 && retry <= 50); /* 20 a second: a token every 50 ms */
    sleep_ms((long)retry);
    CHECK_INT_EQ(tap(a, "acme", "t", &retry), 0);

    /* The tenant's bucket (5 a second) is the emptier: its wait is told. */
    tg_admission_config both = {.tenant_rate = 5, .tenant_burst = 1, .tool_rate = 20};
    tg_error err;
    CHECK_INT_EQ(tg_admission_reconfigure(a, &both, 0, &err), 0);
    CHECK_INT_EQ(tap(a, "globex", "t", &retry), 0);
    CHECK_INT_EQ(tap(a, "globex", "t", &retry), TG_ERATE_LIMITED);
    CHECK(retry > 50 && retry <= 200);
    tg_admission_free(a);
}

/* New limits apply to the shared buckets: what a bucket holds is capped by
 * the new burst and refills at the new rate, a bucket that was off starts
 * full, running calls keep their slots, and a bad config changes nothing. */
static void test_reconfigure(const char *url)
{
    tg_admission_config c = {.tenant_rate = TG_ADMISSION_OFF, .tool_rate = 10, .tool_burst = 10};
    tg_admission *a = replica(url, "r1", c);
    if (!a) return;
    int64_t retry;
    for (int i = 0; i < 4; i++)
        CHECK_INT_EQ(tap(a, "acme", "t", &retry), 0);
    tg_admission_ticket held;
    CHECK_INT_EQ(tg_admission_enter(a, "acme", "t", 0, &held, &retry), 0);
    tg_admission_config tight = {.tenant_rate = 1,
                                 .tenant_burst = 3,
                                 .tool_rate = 1,
                                 .tool_burst = 2,
                                 .worker_concurrency = 1};
    tg_error err;
    CHECK_INT_EQ(tg_admission_reconfigure(a, &tight, 0, &err), 0);
    CHECK_INT_EQ(tap(a, "acme", "t", &retry), TG_ERATE_LIMITED);
    CHECK_INT_EQ(retry, TG_ADMISSION_BUSY_RETRY_MS);
    tg_admission_leave(a, &held);
    /* Five of ten left, capped to two. */
    CHECK_INT_EQ(tap(a, "acme", "t", &retry), 0);
    CHECK_INT_EQ(tap(a, "acme", "t", &retry), 0);
    CHECK_INT_EQ(tap(a, "acme", "t", &retry), TG_ERATE_LIMITED);
    /* One a second now: the old rate would have said at most 100 ms. */
    CHECK(retry > 100 && retry <= 1000);
    /* The tenant had no bucket: it starts full (three), two of which went. */
    CHECK_INT_EQ(tap(a, "acme", "u", &retry), 0);
    CHECK_INT_EQ(tap(a, "acme", "u", &retry), TG_ERATE_LIMITED);
    CHECK(retry > 100 && retry <= 1000);
    tg_admission_config bad = {.tool_rate = 2e6};
    CHECK(tg_admission_reconfigure(a, &bad, 0, &err) != 0);
    CHECK(strstr(err.message, "tool_rate") != NULL);
    CHECK_INT_EQ(tap(a, "acme", "v", &retry), TG_ERATE_LIMITED);
    CHECK(retry > 100 && retry <= 1000);
    tg_admission_free(a);
}

/* The store fails: admission fails closed with UNAVAILABLE, a leave
 * meanwhile is counted locally, and once the connection is back the
 * replica's rows are written again, so no count is lost or doubled. */
static void test_store_failure(const char *url)
{
    tg_admission_config c = {
        .tenant_rate = TG_ADMISSION_OFF, .tool_rate = TG_ADMISSION_OFF, .worker_concurrency = 5};
    tg_admission *a = replica(url, "r1", c);
    if (!a) return;
    heart_stop(a->shared); /* so that the enter below is the first to find it broken */
    tg_admission_ticket held[3];
    int64_t retry;
    CHECK_INT_EQ(tg_admission_enter(a, "acme", "t", 0, &held[0], &retry), 0);
    CHECK_INT_EQ(tg_admission_enter(a, "acme", "t", 0, &held[1], &retry), 0);
    cut(url);
    CHECK_INT_EQ(tg_admission_enter(a, "acme", "t", 0, &held[2], &retry), TG_EUNAVAILABLE);
    CHECK_INT_EQ(retry, TG_ADMISSION_STORE_RETRY_MS);
    CHECK(held[2].tenant == NULL);
    tg_admission_leave(a, &held[1]);
    CHECK_INT_EQ(enter_eventually(a, "acme", "t", &held[2]), 0);
    CHECK_INT_EQ(stored_running(url, "acme"), 2);
    tg_admission_leave(a, &held[0]);
    tg_admission_leave(a, &held[2]);
    CHECK_INT_EQ(stored_running(url, "acme"), 0);
    tg_admission_free(a);
}

/* A bucket the store said is empty refuses locally until its token is due,
 * without asking the store (shown by a broken connection nobody notices);
 * other buckets still ask, and a reconfigure forgets what was said. */
static void test_refusal_cached(const char *url)
{
    tg_admission_config c = {.tenant_rate = TG_ADMISSION_OFF, .tool_rate = 0.001, .tool_burst = 1};
    tg_admission *a = replica(url, "r1", c);
    if (!a) return;
    heart_stop(a->shared);
    int64_t retry, again;
    CHECK_INT_EQ(tap(a, "acme", "t", &retry), 0);
    CHECK_INT_EQ(tap(a, "acme", "t", &retry), TG_ERATE_LIMITED);
    CHECK(retry > 990000 && retry <= 1000000);
    cut(url);
    CHECK_INT_EQ(tap(a, "acme", "t", &again), TG_ERATE_LIMITED);
    CHECK(again >= 1 && again <= retry);
    CHECK_INT_EQ(tap(a, "acme", "u", &again), TG_EUNAVAILABLE);
    tg_admission_config fast = {.tenant_rate = TG_ADMISSION_OFF, .tool_rate = 1000};
    tg_error err;
    CHECK_INT_EQ(tg_admission_reconfigure(a, &fast, 0, &err), 0);
    tg_admission_ticket t;
    CHECK_INT_EQ(enter_eventually(a, "acme", "t", &t), 0);
    tg_admission_leave(a, &t);
    tg_admission_free(a);
}

/* The store admits but the replica's table is full of running names: the
 * store's slots go back, and the call is refused as busy. */
static void test_table_full(const char *url)
{
    tg_admission_config c = {
        .tenant_rate = TG_ADMISSION_OFF, .tool_rate = TG_ADMISSION_OFF, .max_entries = 2};
    tg_admission *a = replica(url, "r1", c);
    if (!a) return;
    tg_admission_ticket held, t;
    int64_t retry;
    CHECK_INT_EQ(tg_admission_enter(a, "acme", "t", 0, &held, &retry), 0);
    CHECK_INT_EQ(tg_admission_enter(a, "globex", "t", 0, &t, &retry), TG_ERATE_LIMITED);
    CHECK_INT_EQ(retry, TG_ADMISSION_BUSY_RETRY_MS);
    CHECK_INT_EQ(stored_running(url, "globex"), 0);
    tg_admission_leave(a, &held);
    CHECK_INT_EQ(tg_admission_enter(a, "globex", "t", 0, &t, &retry), 0);
    tg_admission_leave(a, &t);
    tg_admission_free(a);
}

int main(void)
{
    test_refusals();
    static const struct {
        const char *db;
        void (*run)(const char *url);
    } cases[] = {
        {"admission_burst", test_burst_across_replicas},
        {"admission_caps", test_caps_across_replicas},
        {"admission_dead", test_dead_replica},
        {"admission_retry", test_retry_after},
        {"admission_reconfigure", test_reconfigure},
        {"admission_failure", test_store_failure},
        {"admission_cached", test_refusal_cached},
        {"admission_table_full", test_table_full},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *url = pgtest_database(cases[i].db);
        if (!url) break;
        cases[i].run(url);
        free(url);
    }
    return check_report();
}
