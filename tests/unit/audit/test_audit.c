/* The audit log store: group commit, durability across reopen, the hash
 * chain against tampering done with SQL on the file, calls cut off by a
 * crash, failing closed (locked, moved, full disk), retention, and queries
 * with pagination under concurrent appends (newest or oldest first, by kind,
 * across tenants from the file), and usage sums per worker and per day.
 *
 * Every case runs on sqlite, then again on PostgreSQL (a database of its own
 * per log, tests/unit/pgtest.h) when a cluster is given, except those about
 * the sqlite file itself (moved, removed, full disk, from before schema
 * versions). PostgreSQL adds a lost connection, and two gateway replicas
 * appending to one chain at once. */
#include "audit/audit.h"

#include "check.h"
#include "pgtest.h"

#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/tg-audit-XXXXXX";

/* The second run of the cases: on PostgreSQL. */
static bool on_pg;

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t in_ms(int64_t ms)
{
    return mono_ns() + ms * 1000000;
}

/* The PostgreSQL databases made in this run, by log name. */
static struct {
    char name[64];
    char *url;
} pg_made[64];
static size_t pg_nmade;

/* Where the log called name lives: a file in tmpdir, or on PostgreSQL a
 * database of its own, made empty on the first use of the name ("" when it
 * could not be, which fails the open). */
static void log_where(char *buf, size_t size, const char *name)
{
    if (!on_pg) {
        snprintf(buf, size, "%s/%s", tmpdir, name);
        return;
    }
    size_t i = 0;
    while (i < pg_nmade && strcmp(pg_made[i].name, name) != 0)
        i++;
    if (i == pg_nmade && i < sizeof pg_made / sizeof pg_made[0]) {
        /* "retention-all.db" is the database audit_retention_all. */
        char db[80] = "audit_";
        size_t k = strlen(db);
        for (const char *c = name; *c && *c != '.' && k + 1 < sizeof db; c++)
            db[k++] = *c == '-' ? '_' : *c;
        db[k] = '\0';
        snprintf(pg_made[i].name, sizeof pg_made[i].name, "%s", name);
        pg_made[i].url = pgtest_database(db);
        pg_nmade++;
    }
    snprintf(buf, size, "%s", i < pg_nmade && pg_made[i].url ? pg_made[i].url : "");
}

/* A connection of the test's own to the log's database, its tables on the
 * search path; NULL when it failed (said on stderr). */
static PGconn *pg_connect(const char *url)
{
    PGconn *c = PQconnectdb(url);
    PGresult *r = PQstatus(c) == CONNECTION_OK ? PQexec(c, "SET search_path TO audit") : NULL;
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        fprintf(stderr, "pg_connect: %s", PQerrorMessage(c));
        PQfinish(c);
        c = NULL;
    }
    PQclear(r);
    return c;
}

/* Runs sql on the log with a connection of its own, as an attacker would. */
static int tamper(const char *where, const char *sql)
{
    if (on_pg) {
        PGconn *c = pg_connect(where);
        if (!c) return -1;
        PGresult *r = PQexec(c, sql);
        int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
        if (rc) fprintf(stderr, "tamper: %s", PQerrorMessage(c));
        PQclear(r);
        PQfinish(c);
        return rc;
    }
    sqlite3 *db = NULL;
    int rc = sqlite3_open(where, &db);
    if (rc == SQLITE_OK) rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK) fprintf(stderr, "tamper: %s\n", sqlite3_errmsg(db));
    sqlite3_close(db);
    return rc;
}

/* Another process holding the log's lock: sqlite's on the whole file,
 * PostgreSQL's on the records table. */
typedef struct locker {
    sqlite3 *lite;
    PGconn *pg;
} locker;

static int lock_log(const char *where, locker *l)
{
    *l = (locker){0};
    if (on_pg) {
        l->pg = pg_connect(where);
        PGresult *r =
            l->pg ? PQexec(l->pg, "BEGIN; LOCK TABLE records IN ACCESS EXCLUSIVE MODE") : NULL;
        int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
        PQclear(r);
        return rc;
    }
    sqlite3_open(where, &l->lite);
    return sqlite3_exec(l->lite, "BEGIN EXCLUSIVE", NULL, NULL, NULL);
}

static void unlock_log(locker *l)
{
    if (l->pg) {
        PQclear(PQexec(l->pg, "ROLLBACK"));
        PQfinish(l->pg);
    }
    if (l->lite) {
        sqlite3_exec(l->lite, "ROLLBACK", NULL, NULL, NULL);
        sqlite3_close(l->lite);
    }
}

static int append_simple(tg_audit *a, const char *kind, const char *tenant, const char *call_id,
                         uint64_t *seq)
{
    json_t *body = json_pack("{s:s}", "note", "x");
    tg_audit_record rec = {.kind = kind, .tenant = tenant, .call_id = call_id, .body = body};
    tg_error err = {0};
    int rc = tg_audit_append(a, &rec, in_ms(5000), seq, &err);
    if (rc) fprintf(stderr, "append: %s\n", err.message);
    json_decref(body);
    return rc;
}

static tg_audit *open_log(const char *name, const tg_audit_options *opts)
{
    char path[512];
    log_where(path, sizeof path, name);
    tg_audit *a = NULL;
    tg_error err = {0};
    if (tg_audit_open(path, opts, &a, &err)) fprintf(stderr, "open: %s\n", err.message);
    return a;
}

/* Verifies the file and returns its problem; report filled for more checks. */
static tg_audit_problem verify_path(const char *path, tg_audit_report *r)
{
    tg_error err = {0};
    int rc = tg_audit_verify_file(path, r, &err);
    if (rc) {
        fprintf(stderr, "verify: %s\n", err.message);
        return (tg_audit_problem)-1;
    }
    if (r->problem) fprintf(stderr, "verify (expected in tamper tests): %s\n", r->message);
    return r->problem;
}

/* ---- group commit, durability, chain --------------------------------- */

#define THREADS    8
#define PER_THREAD 200

typedef struct {
    tg_audit *a;
    int id;
    int failures;
    uint64_t seqs[PER_THREAD];
} appender;

static void *append_many(void *arg)
{
    appender *ap = arg;
    char call[32];
    for (int i = 0; i < PER_THREAD; i++) {
        snprintf(call, sizeof call, "c-%d-%d", ap->id, i);
        const char *kind = i % 2 ? "call.end" : "call.begin";
        if (i % 2) snprintf(call, sizeof call, "c-%d-%d", ap->id, i - 1);
        if (append_simple(ap->a, kind, "t1", call, &ap->seqs[i])) ap->failures++;
    }
    return NULL;
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return (a > b) - (a < b);
}

/* THREADS appenders at once, alternating between two writers (or the same
 * one twice): no append fails, and every seq is handed out once, 1..N with
 * no hole. */
static void append_from_threads(tg_audit *first, tg_audit *second)
{
    static appender aps[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        aps[i] = (appender){.a = i % 2 ? second : first, .id = i};
        pthread_create(&th[i], NULL, append_many, &aps[i]);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    int failures = 0;
    static uint64_t all[THREADS * PER_THREAD];
    for (int i = 0; i < THREADS; i++) {
        failures += aps[i].failures;
        memcpy(all + i * PER_THREAD, aps[i].seqs, sizeof aps[i].seqs);
    }
    CHECK_INT_EQ(failures, 0);
    qsort(all, THREADS * PER_THREAD, sizeof all[0], cmp_u64);
    int dense = 1;
    for (int i = 0; i < THREADS * PER_THREAD; i++)
        if (all[i] != (uint64_t)i + 1) dense = 0;
    CHECK(dense);
}

static void test_group_commit_and_reopen(void)
{
    char path[512];
    log_where(path, sizeof path, "group.db");
    tg_audit *a = open_log("group.db", NULL);
    CHECK(a != NULL);
    if (!a) return;
    append_from_threads(a, a);
    uint64_t commits = tg_audit_commits(a);
    printf("group commit: %d records in %llu transactions\n", THREADS * PER_THREAD,
           (unsigned long long)commits);
    CHECK(commits > 0);
    CHECK(commits < THREADS * PER_THREAD);
    CHECK(tg_audit_healthy(a));
    tg_audit_close(a);

    /* After reopen every record is there and the chain continues. */
    a = open_log("group.db", NULL);
    CHECK(a != NULL);
    if (!a) return;
    uint64_t seq = 0;
    CHECK_INT_EQ(append_simple(a, "deploy", "t1", NULL, &seq), 0);
    CHECK_INT_EQ(seq, THREADS * PER_THREAD + 1);
    tg_audit_report r = {0};
    tg_error err = {0};
    CHECK_INT_EQ(tg_audit_verify(a, &r, &err), 0);
    CHECK_INT_EQ(r.problem, TG_AUDIT_INTACT);
    CHECK_INT_EQ(r.records, THREADS * PER_THREAD + 1);
    CHECK_INT_EQ(r.first_seq, 1);
    CHECK_INT_EQ(r.last_seq, THREADS * PER_THREAD + 1);
    CHECK_INT_EQ(json_array_size(r.open_calls), 0);
    tg_audit_report_clear(&r);
    tg_audit_close(a);
}

/* ---- tampering ------------------------------------------------------- */

/* A fresh log of n records (seq 1..n), closed. */
static void make_log(const char *name, int n, char *path, size_t size)
{
    log_where(path, size, name);
    tg_audit *a = open_log(name, NULL);
    CHECK(a != NULL);
    if (!a) return;
    char call[32];
    for (int i = 0; i < n; i++) {
        snprintf(call, sizeof call, "call-%d", i / 2);
        append_simple(a, i % 2 ? "call.end" : "call.begin", "t1", call, NULL);
    }
    tg_audit_close(a);
}

static void test_tamper(void)
{
    char path[512];
    tg_audit_report r = {0};

    make_log("edit.db", 10, path, sizeof path);
    CHECK_INT_EQ(verify_path(path, &r), TG_AUDIT_INTACT);
    CHECK_INT_EQ(tamper(path, "UPDATE records SET body = '{\"note\":\"y\"}' WHERE seq = 4"), 0);
    CHECK_INT_EQ(verify_path(path, &r), TG_AUDIT_EDITED);
    CHECK_INT_EQ(r.bad_seq, 4);
    tg_audit_report_clear(&r);

    make_log("editcol.db", 10, path, sizeof path);
    CHECK_INT_EQ(tamper(path, "UPDATE records SET status = 'ok' WHERE seq = 7"), 0);
    CHECK_INT_EQ(verify_path(path, &r), TG_AUDIT_EDITED);
    CHECK_INT_EQ(r.bad_seq, 7);
    tg_audit_report_clear(&r);

    make_log("delete.db", 10, path, sizeof path);
    CHECK_INT_EQ(tamper(path, "DELETE FROM records WHERE seq = 5"), 0);
    CHECK_INT_EQ(verify_path(path, &r), TG_AUDIT_REMOVED);
    CHECK_INT_EQ(r.bad_seq, 5);
    tg_audit_report_clear(&r);

    /* Deleting and renumbering hides the gap in seq, not the broken link. */
    make_log("renumber.db", 10, path, sizeof path);
    /* Through negative seqs: PostgreSQL checks the key row by row, in no
     * set order. */
    CHECK_INT_EQ(tamper(path, "DELETE FROM records WHERE seq = 5;"
                              "UPDATE records SET seq = -seq WHERE seq > 5;"
                              "UPDATE records SET seq = -seq - 1 WHERE seq < 0"),
                 0);
    CHECK_INT_EQ(verify_path(path, &r), TG_AUDIT_REMOVED);
    CHECK_INT_EQ(r.bad_seq, 5);
    tg_audit_report_clear(&r);

    make_log("first.db", 10, path, sizeof path);
    CHECK_INT_EQ(tamper(path, "DELETE FROM records WHERE seq = 1"), 0);
    CHECK_INT_EQ(verify_path(path, &r), TG_AUDIT_REMOVED);
    CHECK_INT_EQ(r.bad_seq, 1);
    tg_audit_report_clear(&r);

    make_log("swapseq.db", 10, path, sizeof path);
    CHECK_INT_EQ(tamper(path, "UPDATE records SET seq = -1 WHERE seq = 5;"
                              "UPDATE records SET seq = 5 WHERE seq = 6;"
                              "UPDATE records SET seq = 6 WHERE seq = -1"),
                 0);
    CHECK_INT_EQ(verify_path(path, &r), TG_AUDIT_REORDERED);
    CHECK_INT_EQ(r.bad_seq, 5);
    tg_audit_report_clear(&r);

    /* Swapping the content of two records (the begin and end of one call). */
    make_log("swapbody.db", 10, path, sizeof path);
    CHECK_INT_EQ(tamper(path, "UPDATE records SET kind = CASE kind WHEN 'call.begin' THEN "
                              "'call.end' ELSE 'call.begin' END WHERE seq IN (3, 4)"),
                 0);
    CHECK_INT_EQ(verify_path(path, &r), TG_AUDIT_EDITED);
    CHECK_INT_EQ(r.bad_seq, 3);
    tg_audit_report_clear(&r);

    /* Replacing a hash to match an edit breaks the next link instead. */
    make_log("rehash.db", 10, path, sizeof path);
    CHECK_INT_EQ(tamper(path, on_pg ? "UPDATE records SET hash = decode(repeat('00', 32), 'hex')"
                                      " WHERE seq = 8"
                                    : "UPDATE records SET hash = zeroblob(32) WHERE seq = 8"),
                 0);
    CHECK_INT_EQ(verify_path(path, &r), TG_AUDIT_EDITED);
    CHECK_INT_EQ(r.bad_seq, 8);
    tg_audit_report_clear(&r);
}

static void test_open_calls(void)
{
    char path[512];
    log_where(path, sizeof path, "open.db");
    tg_audit *a = open_log("open.db", NULL);
    CHECK(a != NULL);
    if (!a) return;
    append_simple(a, "call.begin", "t1", "c1", NULL);
    append_simple(a, "call.begin", "t1", "c2", NULL);
    append_simple(a, "call.begin", "t1", "c3", NULL);
    append_simple(a, "call.end", "t1", "c2", NULL);
    append_simple(a, "egress", "t1", "c1", NULL);
    tg_audit_close(a);
    tg_audit_report r = {0};
    CHECK_INT_EQ(verify_path(path, &r), TG_AUDIT_INTACT);
    CHECK_INT_EQ(json_array_size(r.open_calls), 2);
    CHECK_STR_EQ(json_string_value(json_array_get(r.open_calls, 0)), "c1");
    CHECK_STR_EQ(json_string_value(json_array_get(r.open_calls, 1)), "c3");
    tg_audit_report_clear(&r);
}

/* A file from before the schema had versions (user_version 0, its tables
 * made with IF NOT EXISTS) opens as it is, and its chain goes on. */
static void test_unversioned_file(void)
{
    char path[512];
    make_log("unversioned.db", 4, path, sizeof path);
    CHECK_INT_EQ(tamper(path, "PRAGMA user_version = 0"), 0);
    tg_audit *a = open_log("unversioned.db", NULL);
    CHECK(a != NULL);
    if (!a) return;
    uint64_t seq = 0;
    CHECK_INT_EQ(append_simple(a, "deploy", "t1", NULL, &seq), 0);
    CHECK_INT_EQ(seq, 5);
    tg_audit_close(a);
    tg_audit_report r = {0};
    CHECK_INT_EQ(verify_path(path, &r), TG_AUDIT_INTACT);
    CHECK_INT_EQ(r.records, 5);
    tg_audit_report_clear(&r);
}

/* A log longer than verify reads in one statement (10000 records): the walk
 * goes on across the batches, and still finds a record removed in the
 * second. */
#define LONG_THREADS 50
#define LONG_EACH    202

typedef struct {
    tg_audit *a;
    int failures;
} long_arg;

static void *append_long(void *arg)
{
    long_arg *l = arg;
    for (int i = 0; i < LONG_EACH; i++)
        if (append_simple(l->a, "egress", "t1", NULL, NULL)) l->failures++;
    return NULL;
}

static void test_verify_batches(void)
{
    char path[512];
    log_where(path, sizeof path, "long.db");
    tg_audit *a = open_log("long.db", NULL);
    CHECK(a != NULL);
    if (!a) return;
    static long_arg args[LONG_THREADS];
    pthread_t th[LONG_THREADS];
    for (int i = 0; i < LONG_THREADS; i++) {
        args[i] = (long_arg){.a = a};
        pthread_create(&th[i], NULL, append_long, &args[i]);
    }
    int failures = 0;
    for (int i = 0; i < LONG_THREADS; i++) {
        pthread_join(th[i], NULL);
        failures += args[i].failures;
    }
    tg_audit_close(a);
    CHECK_INT_EQ(failures, 0);
    tg_audit_report r = {0};
    CHECK_INT_EQ(verify_path(path, &r), TG_AUDIT_INTACT);
    CHECK_INT_EQ(r.records, LONG_THREADS * LONG_EACH);
    CHECK_INT_EQ(r.last_seq, LONG_THREADS * LONG_EACH);
    tg_audit_report_clear(&r);
    CHECK_INT_EQ(tamper(path, "DELETE FROM records WHERE seq = 10050"), 0);
    CHECK_INT_EQ(verify_path(path, &r), TG_AUDIT_REMOVED);
    CHECK_INT_EQ(r.bad_seq, 10050);
    CHECK_INT_EQ(r.records, LONG_THREADS * LONG_EACH - 1);
    tg_audit_report_clear(&r);
}

/* ---- invalid input --------------------------------------------------- */

static void test_invalid(void)
{
    tg_audit *a = open_log("invalid.db", NULL);
    CHECK(a != NULL);
    if (!a) return;
    tg_error err = {0};
    tg_audit_record rec = {.kind = "call.started", .tenant = "t1"};
    CHECK_INT_EQ(tg_audit_append(a, &rec, in_ms(1000), NULL, &err), TG_EINVALID_PARAMS);
    rec.kind = "retention"; /* only a prune writes anchors */
    CHECK_INT_EQ(tg_audit_append(a, &rec, in_ms(1000), NULL, &err), TG_EINVALID_PARAMS);
    rec.kind = "trigger";
    rec.trigger_kind = "robot";
    CHECK_INT_EQ(tg_audit_append(a, &rec, in_ms(1000), NULL, &err), TG_EINVALID_PARAMS);
    rec.trigger_kind = "button";
    json_t *arr = json_array();
    rec.body = arr;
    CHECK_INT_EQ(tg_audit_append(a, &rec, in_ms(1000), NULL, &err), TG_EINVALID_PARAMS);
    json_decref(arr);
    rec.body = NULL;
    CHECK_INT_EQ(tg_audit_append(a, &rec, in_ms(1000), NULL, &err), 0);

    json_t *page = NULL;
    char *next = NULL;
    tg_audit_filter f = {0};
    CHECK_INT_EQ(tg_audit_query(a, &f, 10, NULL, &page, &next, &err), TG_EINVALID_PARAMS);
    f.tenant = "t1";
    CHECK_INT_EQ(tg_audit_query(a, &f, 10, "12x", &page, &next, &err), TG_EINVALID_PARAMS);
    CHECK_INT_EQ(tg_audit_query(a, &f, 10, "-3", &page, &next, &err), TG_EINVALID_PARAMS);
    CHECK_INT_EQ(tg_audit_query(a, &f, 10, NULL, &page, &next, &err), 0);
    CHECK_INT_EQ(json_array_size(page), 1);
    CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(page, 0), "trigger_kind")),
                 "button");
    CHECK(next == NULL);
    json_decref(page);
    tg_audit_close(a);
}

/* ---- failing closed -------------------------------------------------- */

/* A lock held by another process: appends fail by their deadline, and
 * succeed again once it is released. */
static void test_locked(void)
{
    char path[512];
    log_where(path, sizeof path, "locked.db");
    tg_audit_options o = {.busy_timeout_ms = 50, .retry_ms = 10};
    tg_audit *a = open_log("locked.db", &o);
    CHECK(a != NULL);
    if (!a) return;
    CHECK_INT_EQ(append_simple(a, "deploy", "t1", NULL, NULL), 0);
    locker l;
    CHECK_INT_EQ(lock_log(path, &l), 0);

    tg_error err = {0};
    tg_audit_record rec = {.kind = "call.begin", .tenant = "t1", .call_id = "locked"};
    int64_t t0 = mono_ns();
    CHECK_INT_EQ(tg_audit_append(a, &rec, in_ms(300), NULL, &err), TG_EAUDIT_UNAVAILABLE);
    /* It waited for its deadline, not less (a lower bound cannot flake). */
    CHECK((mono_ns() - t0) / 1000000 >= 250);
    CHECK_INT_EQ(err.code, TG_EAUDIT_UNAVAILABLE);
    CHECK(!tg_audit_healthy(a));

    unlock_log(&l);
    uint64_t seq = 0;
    CHECK_INT_EQ(tg_audit_append(a, &rec, in_ms(5000), &seq, &err), 0);
    CHECK(tg_audit_healthy(a));
    tg_audit_close(a);
    /* The failed record was taken back: only the deploy and the retry are there. */
    tg_audit_report r = {0};
    CHECK_INT_EQ(verify_path(path, &r), TG_AUDIT_INTACT);
    CHECK(r.records >= 2 && r.records <= 3);
    CHECK_INT_EQ(r.last_seq, seq);
    tg_audit_report_clear(&r);
}

/* The file renamed away under the gateway (as a careless rotation would):
 * sqlite refuses to write a file that is no longer at its path. */
static void test_moved(void)
{
    char path[512], moved[520];
    log_where(path, sizeof path, "moved.db");
    snprintf(moved, sizeof moved, "%s.away", path);
    tg_audit_options o = {.retry_ms = 10};
    tg_audit *a = open_log("moved.db", &o);
    CHECK(a != NULL);
    if (!a) return;
    CHECK_INT_EQ(append_simple(a, "deploy", "t1", NULL, NULL), 0);
    CHECK_INT_EQ(rename(path, moved), 0);
    tg_error err = {0};
    tg_audit_record rec = {.kind = "secret.write", .tenant = "t1"};
    CHECK_INT_EQ(tg_audit_append(a, &rec, in_ms(300), NULL, &err), TG_EAUDIT_UNAVAILABLE);
    CHECK(!tg_audit_healthy(a));
    CHECK_INT_EQ(rename(moved, path), 0);
    CHECK_INT_EQ(tg_audit_append(a, &rec, in_ms(5000), NULL, &err), 0);
    CHECK(tg_audit_healthy(a));
    tg_audit_close(a);
    tg_audit_report r = {0};
    CHECK_INT_EQ(verify_path(path, &r), TG_AUDIT_INTACT);
    tg_audit_report_clear(&r);
}

/* The file unlinked under the gateway: sqlite would go on writing to the
 * deleted inode, where the records vanish at close, so appends fail. */
static void test_removed(void)
{
    char path[512];
    log_where(path, sizeof path, "removed.db");
    tg_audit_options o = {.retry_ms = 10};
    tg_audit *a = open_log("removed.db", &o);
    CHECK(a != NULL);
    if (!a) return;
    CHECK_INT_EQ(append_simple(a, "deploy", "t1", NULL, NULL), 0);
    CHECK_INT_EQ(unlink(path), 0);
    tg_error err = {0};
    tg_audit_record rec = {.kind = "call.begin", .tenant = "t1", .call_id = "gone"};
    CHECK_INT_EQ(tg_audit_append(a, &rec, in_ms(200), NULL, &err), TG_EAUDIT_UNAVAILABLE);
    CHECK(strstr(err.message, "moved") != NULL);
    CHECK(!tg_audit_healthy(a));
    tg_audit_close(a);
}

/* A log that failed turns healthy again once its file is back, with no
 * append to find out: /readyz must not stay unready for want of traffic. */
static void test_recovers_alone(void)
{
    char path[512], away[600];
    log_where(path, sizeof path, "recovers.db");
    snprintf(away, sizeof away, "%s.away", path);
    tg_audit_options o = {.retry_ms = 10};
    tg_audit *a = open_log("recovers.db", &o);
    CHECK(a != NULL);
    if (!a) return;
    CHECK_INT_EQ(append_simple(a, "deploy", "t1", NULL, NULL), 0);
    CHECK_INT_EQ(rename(path, away), 0);
    tg_error err = {0};
    tg_audit_record rec = {.kind = "call.begin", .tenant = "t1", .call_id = "away"};
    CHECK_INT_EQ(tg_audit_append(a, &rec, in_ms(200), NULL, &err), TG_EAUDIT_UNAVAILABLE);
    CHECK(!tg_audit_healthy(a));
    CHECK_INT_EQ(rename(away, path), 0);
    bool healthy = false;
    for (int i = 0; i < 100 && !healthy; i++) {
        usleep(50000);
        healthy = tg_audit_healthy(a);
    }
    CHECK(healthy);
    CHECK_INT_EQ(append_simple(a, "deploy", "t1", NULL, NULL), 0);
    tg_audit_close(a);
    tg_audit_report r = {0};
    CHECK_INT_EQ(verify_path(path, &r), TG_AUDIT_INTACT);
    tg_audit_report_clear(&r);
}

/* A full disk: a tiny tmpfs filled up. Needs root (mount); skipped without. */
static void test_disk_full(void)
{
    char dir[512], path[600], filler[600];
    log_where(dir, sizeof dir, "tiny");
    mkdir(dir, 0700);
    if (mount("tmpfs", dir, "tmpfs", 0, "size=1m") != 0) {
        printf("disk full: skipped (mount: %s)\n", strerror(errno));
        return;
    }
    snprintf(path, sizeof path, "%s/audit.db", dir);
    snprintf(filler, sizeof filler, "%s/filler", dir);
    tg_audit_options o = {.retry_ms = 10};
    tg_audit *a = NULL;
    tg_error err = {0};
    CHECK_INT_EQ(tg_audit_open(path, &o, &a, &err), 0);
    if (a) {
        for (int i = 0; i < 5; i++)
            CHECK_INT_EQ(append_simple(a, "deploy", "t1", NULL, NULL), 0);
        int fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        char block[4096];
        memset(block, 'x', sizeof block);
        while (write(fd, block, sizeof block) > 0)
            ;
        close(fd);
        json_t *body = json_pack("{s:s}", "big", "0123456789abcdef0123456789abcdef");
        tg_audit_record rec = {
            .kind = "call.begin", .tenant = "t1", .call_id = "full", .body = body};
        int failed = 0;
        /* The WAL may still have room in its last frames: write until it has none. */
        for (int i = 0; i < 50 && !failed; i++)
            failed = tg_audit_append(a, &rec, in_ms(300), NULL, &err) == TG_EAUDIT_UNAVAILABLE;
        CHECK(failed);
        CHECK(!tg_audit_healthy(a));
        unlink(filler);
        CHECK_INT_EQ(tg_audit_append(a, &rec, in_ms(5000), NULL, &err), 0);
        CHECK(tg_audit_healthy(a));
        json_decref(body);
        tg_audit_close(a);
        tg_audit_report r = {0};
        CHECK_INT_EQ(verify_path(path, &r), TG_AUDIT_INTACT);
        tg_audit_report_clear(&r);
    }
    umount(dir);
    rmdir(dir);
}

/* ---- retention ------------------------------------------------------- */

static int append_at(tg_audit *a, int64_t time_ms, const char *tool)
{
    tg_audit_record rec = {.kind = "call.end", .tenant = "t1", .tool = tool, .time_ms = time_ms};
    tg_error err = {0};
    return tg_audit_append(a, &rec, in_ms(5000), NULL, &err);
}

static void test_retention(void)
{
    char path[512];
    log_where(path, sizeof path, "retention.db");
    tg_audit *a = open_log("retention.db", NULL);
    CHECK(a != NULL);
    if (!a) return;
    for (int i = 0; i < 10; i++)
        CHECK_INT_EQ(append_at(a, 1000 + i, "old"), 0);
    for (int i = 0; i < 5; i++)
        CHECK_INT_EQ(append_at(a, 5000 + i, "new"), 0);
    tg_error err = {0};
    uint64_t dropped = 99;
    CHECK_INT_EQ(tg_audit_prune(a, 5000, in_ms(5000), &dropped, &err), 0);
    CHECK_INT_EQ(dropped, 10);
    tg_audit_report r = {0};
    CHECK_INT_EQ(verify_path(path, &r), TG_AUDIT_INTACT);
    CHECK_INT_EQ(r.first_seq, 11);
    CHECK_INT_EQ(r.records, 6);
    tg_audit_report_clear(&r);

    /* Nothing older than the cutoff: the anchor is restated, nothing dropped. */
    CHECK_INT_EQ(tg_audit_prune(a, 10, in_ms(5000), &dropped, &err), 0);
    CHECK_INT_EQ(dropped, 0);
    for (int i = 0; i < 3; i++)
        CHECK_INT_EQ(append_at(a, 9000 + i, "later"), 0);
    /* A second prune drops the first retention record too. */
    CHECK_INT_EQ(tg_audit_prune(a, 5003, in_ms(5000), &dropped, &err), 0);
    CHECK_INT_EQ(dropped, 3);
    CHECK_INT_EQ(verify_path(path, &r), TG_AUDIT_INTACT);
    CHECK_INT_EQ(r.first_seq, 14);
    tg_audit_report_clear(&r);
    tg_audit_close(a);

    /* The chain still catches removals after the anchor. */
    CHECK_INT_EQ(tamper(path, "DELETE FROM records WHERE seq = 14"), 0);
    CHECK_INT_EQ(verify_path(path, &r), TG_AUDIT_REMOVED);
    CHECK_INT_EQ(r.bad_seq, 14);
    tg_audit_report_clear(&r);
}

/* Everything older than the cutoff: only the retention record remains. */
static void test_retention_all(void)
{
    char path[512];
    log_where(path, sizeof path, "retention-all.db");
    tg_audit *a = open_log("retention-all.db", NULL);
    CHECK(a != NULL);
    if (!a) return;
    for (int i = 0; i < 4; i++)
        CHECK_INT_EQ(append_at(a, 1000 + i, "old"), 0);
    uint64_t dropped = 0;
    tg_error err = {0};
    CHECK_INT_EQ(tg_audit_prune(a, 2000, in_ms(5000), &dropped, &err), 0);
    CHECK_INT_EQ(dropped, 4);
    CHECK_INT_EQ(append_at(a, 3000, "new"), 0);
    tg_audit_close(a);
    tg_audit_report r = {0};
    CHECK_INT_EQ(verify_path(path, &r), TG_AUDIT_INTACT);
    CHECK_INT_EQ(r.first_seq, 5);
    CHECK_INT_EQ(r.records, 2);
    tg_audit_report_clear(&r);
}

/* ---- queries --------------------------------------------------------- */

static void test_query_filters(void)
{
    tg_audit *a = open_log("query.db", NULL);
    CHECK(a != NULL);
    if (!a) return;
    const char *tenants[] = {"acme", "other"};
    const char *tools[] = {"search", "send"};
    const char *principals[] = {"alice", "bob", "carol"};
    tg_error err = {0};
    for (int i = 0; i < 60; i++) {
        char call[16];
        snprintf(call, sizeof call, "q%d", i);
        tg_audit_record rec = {.kind = "call.end",
                               .time_ms = 10000 + i,
                               .tenant = tenants[i % 2],
                               .tool = tools[(i / 2) % 2],
                               .principal = principals[i % 3],
                               .trigger_kind = i % 5 == 0 ? "schedule" : "agent",
                               .status = i % 4 == 0 ? "error" : "ok",
                               .error_code = i % 4 == 0 ? "TIMEOUT" : NULL,
                               .call_id = call};
        CHECK_INT_EQ(tg_audit_append(a, &rec, in_ms(5000), NULL, &err), 0);
    }
    struct {
        tg_audit_filter f;
        size_t want;
    } cases[] = {
        {{.tenant = "acme"}, 30},
        {{.tenant = "nobody"}, 0},
        {{.tenant = "acme", .tool = "search"}, 15},
        {{.tenant = "acme", .principal = "alice"}, 10},
        {{.tenant = "acme", .status = "error"}, 15},
        {{.tenant = "acme", .error_code = "TIMEOUT"}, 15},
        {{.tenant = "acme", .trigger_kind = "schedule"}, 6},
        {{.tenant = "acme", .call_id = "q4"}, 1},
        {{.tenant = "other", .call_id = "q4"}, 0},
        {{.tenant = "acme", .since_ms = 10010, .until_ms = 10020}, 5},
        {{.tenant = "acme", .tool = "send", .principal = "bob", .since_ms = 10030}, 3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *page = NULL;
        char *next = NULL;
        CHECK_INT_EQ(tg_audit_query(a, &cases[i].f, 1000, NULL, &page, &next, &err), 0);
        if (json_array_size(page) != cases[i].want) fprintf(stderr, "filter case %zu\n", i);
        CHECK_INT_EQ(json_array_size(page), cases[i].want);
        size_t k;
        json_t *rec;
        int tenant_ok = 1;
        json_array_foreach(page, k, rec)
        {
            const char *tenant = json_string_value(json_object_get(rec, "tenant"));
            if (!tenant || strcmp(tenant, cases[i].f.tenant) != 0) tenant_ok = 0;
        }
        CHECK(tenant_ok);
        CHECK(next == NULL);
        json_decref(page);
    }
    tg_audit_close(a);
}

typedef struct {
    tg_audit *a;
    atomic_int stop;
    atomic_int appended;
} writer_arg;

static void *keep_appending(void *arg)
{
    writer_arg *w = arg;
    while (!atomic_load(&w->stop)) {
        if (append_simple(w->a, "egress", "acme", "live", NULL) == 0)
            atomic_fetch_add(&w->appended, 1);
    }
    return NULL;
}

/* Pages read while another thread appends: each record that existed at the
 * first page comes exactly once, newest first. */
static void test_query_pagination(void)
{
    tg_audit *a = open_log("pages.db", NULL);
    CHECK(a != NULL);
    if (!a) return;
    enum { EXISTING = 103 };
    static uint64_t existing[EXISTING];
    for (int i = 0; i < EXISTING; i++)
        append_simple(a, "call.begin", "acme", "old", &existing[i]);
    append_simple(a, "call.begin", "other", "old", NULL);

    writer_arg w = {.a = a};
    pthread_t th;
    pthread_create(&th, NULL, keep_appending, &w);
    while (atomic_load(&w.appended) < 5)
        usleep(1000);

    tg_audit_filter f = {.tenant = "acme"};
    char *cursor = NULL;
    uint64_t prev = UINT64_MAX;
    int decreasing = 1, pages = 0, seen_existing = 0, seen_total = 0;
    tg_error err = {0};
    do {
        json_t *page = NULL;
        char *next = NULL;
        int rc = tg_audit_query(a, &f, 7, cursor, &page, &next, &err);
        CHECK_INT_EQ(rc, 0);
        free(cursor);
        cursor = next;
        if (rc) break;
        pages++;
        size_t k;
        json_t *rec;
        json_array_foreach(page, k, rec)
        {
            uint64_t seq = (uint64_t)json_integer_value(json_object_get(rec, "seq"));
            if (seq >= prev) decreasing = 0;
            prev = seq;
            seen_total++;
            for (int i = 0; i < EXISTING; i++)
                if (existing[i] == seq) seen_existing++;
        }
        json_decref(page);
        usleep(200); /* let appends land between pages */
    } while (cursor);
    atomic_store(&w.stop, 1);
    pthread_join(th, NULL);
    CHECK(decreasing);
    CHECK_INT_EQ(seen_existing, EXISTING);
    CHECK(pages >= EXISTING / 7);
    CHECK(seen_total >= EXISTING);
    printf("pagination: %d pages, %d records read while %d were appended\n", pages, seen_total,
           atomic_load(&w.appended));
    tg_audit_close(a);
}

/* A kind filter narrows to that kind and still to the tenant. */
static void test_query_kind(void)
{
    tg_audit *a = open_log("kind.db", NULL);
    CHECK(a != NULL);
    if (!a) return;
    const char *acme[] = {"call.begin", "call.end", "call.begin", "egress",
                          "call.end",   "deploy",   "call.begin"};
    for (size_t i = 0; i < sizeof acme / sizeof acme[0]; i++)
        CHECK_INT_EQ(append_simple(a, acme[i], "acme", "k", NULL), 0);
    CHECK_INT_EQ(append_simple(a, "call.end", "other", "k", NULL), 0);
    CHECK_INT_EQ(append_simple(a, "deploy", "other", NULL, NULL), 0);
    struct {
        const char *kind;
        size_t want;
    } cases[] = {
        {"call.begin", 3}, {"call.end", 2}, {"egress", 1},
        {"deploy", 1},     {"rollback", 0}, {"call", 0}, /* exact, not a prefix */
    };
    tg_error err = {0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tg_audit_filter f = {.tenant = "acme", .kind = cases[i].kind};
        json_t *page = NULL;
        char *next = NULL;
        CHECK_INT_EQ(tg_audit_query(a, &f, 100, NULL, &page, &next, &err), 0);
        if (json_array_size(page) != cases[i].want) fprintf(stderr, "kind %s\n", cases[i].kind);
        CHECK_INT_EQ(json_array_size(page), cases[i].want);
        size_t k;
        json_t *rec;
        int match = 1;
        json_array_foreach(page, k, rec)
        {
            const char *kind = json_string_value(json_object_get(rec, "kind"));
            const char *tenant = json_string_value(json_object_get(rec, "tenant"));
            if (!kind || strcmp(kind, cases[i].kind) != 0) match = 0;
            if (!tenant || strcmp(tenant, "acme") != 0) match = 0;
        }
        CHECK(match);
        CHECK(next == NULL);
        json_decref(page);
    }
    /* Together with another field. */
    tg_audit_filter f = {.tenant = "other", .kind = "deploy"};
    json_t *page = NULL;
    char *next = NULL;
    CHECK_INT_EQ(tg_audit_query(a, &f, 100, NULL, &page, &next, &err), 0);
    CHECK_INT_EQ(json_array_size(page), 1);
    CHECK_INT_EQ(json_integer_value(json_object_get(json_array_get(page, 0), "seq")), 9);
    json_decref(page);
    tg_audit_close(a);
}

/* The seqs of page, in order, appended to seqs[*n] (at most max). */
static void page_seqs(const json_t *page, uint64_t *seqs, size_t *n, size_t max)
{
    size_t k;
    json_t *rec;
    json_array_foreach(page, k, rec)
    {
        if (*n < max) seqs[*n] = (uint64_t)json_integer_value(json_object_get(rec, "seq"));
        (*n)++;
    }
}

/* Oldest first: ascending seq from the first record, the cursor continues
 * after the page, and records appended between pages show up at the end. */
static void test_query_oldest_first(void)
{
    tg_audit *a = open_log("oldest.db", NULL);
    CHECK(a != NULL);
    if (!a) return;
    enum { FIRST = 20, LATER = 4, PAGE = 6 };
    uint64_t want[FIRST + LATER];
    for (int i = 0; i < FIRST; i++) {
        CHECK_INT_EQ(append_simple(a, "call.begin", "acme", "old", &want[i]), 0);
        if (i % 3 == 0) CHECK_INT_EQ(append_simple(a, "call.begin", "other", "old", NULL), 0);
    }
    tg_audit_filter f = {.tenant = "acme", .oldest_first = true};
    tg_error err = {0};
    uint64_t got[64];
    size_t n = 0;
    int pages = 0;
    char *cursor = NULL;
    do {
        json_t *page = NULL;
        char *next = NULL;
        int rc = tg_audit_query(a, &f, PAGE, cursor, &page, &next, &err);
        CHECK_INT_EQ(rc, 0);
        free(cursor);
        cursor = next;
        if (rc) break;
        pages++;
        /* Every page but the last is full; the cursor is its last seq. */
        if (next) {
            CHECK_INT_EQ(json_array_size(page), PAGE);
            CHECK_INT_EQ(strtoull(next, NULL, 10), json_integer_value(json_object_get(
                                                       json_array_get(page, PAGE - 1), "seq")));
        }
        page_seqs(page, got, &n, sizeof got / sizeof got[0]);
        json_decref(page);
        if (pages == 1) /* after the first page: these belong at the end */
            for (int i = 0; i < LATER; i++) {
                CHECK_INT_EQ(append_simple(a, "egress", "acme", "new", &want[FIRST + i]), 0);
                CHECK_INT_EQ(append_simple(a, "egress", "other", "new", NULL), 0);
            }
    } while (cursor && pages < 100);
    CHECK_INT_EQ(pages, (FIRST + LATER + PAGE - 1) / PAGE);
    CHECK_INT_EQ(n, FIRST + LATER);
    int same = n == FIRST + LATER;
    for (size_t i = 0; same && i < n; i++)
        if (got[i] != want[i]) {
            fprintf(stderr, "oldest first: record %zu is seq %llu, want %llu\n", i,
                    (unsigned long long)got[i], (unsigned long long)want[i]);
            same = 0;
        }
    CHECK(same);
    CHECK_INT_EQ(got[0], 1);

    /* Where the last page ended, the next record appended is found. */
    char last[32];
    snprintf(last, sizeof last, "%llu", (unsigned long long)got[n - 1]);
    json_t *page = NULL;
    char *next = NULL;
    CHECK_INT_EQ(tg_audit_query(a, &f, PAGE, last, &page, &next, &err), 0);
    CHECK_INT_EQ(json_array_size(page), 0);
    CHECK(next == NULL);
    json_decref(page);
    uint64_t seq = 0;
    CHECK_INT_EQ(append_simple(a, "deploy", "acme", NULL, &seq), 0);
    CHECK_INT_EQ(tg_audit_query(a, &f, PAGE, last, &page, &next, &err), 0);
    CHECK_INT_EQ(json_array_size(page), 1);
    CHECK_INT_EQ(json_integer_value(json_object_get(json_array_get(page, 0), "seq")), seq);
    CHECK(next == NULL);
    json_decref(page);

    /* The default order on the same log is the reverse: newest first. */
    tg_audit_filter newest = {.tenant = "acme"};
    CHECK_INT_EQ(tg_audit_query(a, &newest, 2, NULL, &page, &next, &err), 0);
    CHECK_INT_EQ(json_array_size(page), 2);
    CHECK_INT_EQ(json_integer_value(json_object_get(json_array_get(page, 0), "seq")), seq);
    CHECK_INT_EQ(json_integer_value(json_object_get(json_array_get(page, 1), "seq")),
                 want[FIRST + LATER - 1]);
    CHECK(next != NULL);
    free(next);
    json_decref(page);
    tg_audit_close(a);
}

/* The tenant of each record of page, counted: acme, other, none (NULL). */
static void count_tenants(const json_t *page, int *acme, int *other, int *none)
{
    size_t k;
    json_t *rec;
    *acme = *other = *none = 0;
    json_array_foreach(page, k, rec)
    {
        const char *tenant = json_string_value(json_object_get(rec, "tenant"));
        if (!tenant)
            (*none)++;
        else if (strcmp(tenant, "acme") == 0)
            (*acme)++;
        else if (strcmp(tenant, "other") == 0)
            (*other)++;
    }
}

/* The operator's view of the file: every tenant without one, one with. The
 * per-tenant query still requires a tenant. */
static void test_query_file(void)
{
    char path[512];
    log_where(path, sizeof path, "opview.db");
    tg_audit *a = open_log("opview.db", NULL);
    CHECK(a != NULL);
    if (!a) return;
    for (int i = 0; i < 4; i++)
        CHECK_INT_EQ(append_simple(a, "call.begin", "acme", "a", NULL), 0);
    for (int i = 0; i < 3; i++)
        CHECK_INT_EQ(append_simple(a, "call.end", "other", "o", NULL), 0);
    tg_audit_record denied = {.kind = "auth.denied"}; /* no tenant: the token named none */
    tg_error err = {0};
    CHECK_INT_EQ(tg_audit_append(a, &denied, in_ms(5000), NULL, &err), 0);

    json_t *page = NULL;
    char *next = NULL;
    int acme, other, none;
    tg_audit_filter all = {0};
    /* Readable while the gateway has it open. */
    CHECK_INT_EQ(tg_audit_query_file(path, &all, 100, NULL, &page, &next, &err), 0);
    CHECK_INT_EQ(json_array_size(page), 8);
    count_tenants(page, &acme, &other, &none);
    CHECK_INT_EQ(acme, 4);
    CHECK_INT_EQ(other, 3);
    CHECK_INT_EQ(none, 1);
    CHECK(next == NULL);
    json_decref(page);

    /* A tenant is still required of the tenant's own query. */
    CHECK_INT_EQ(tg_audit_query(a, &all, 100, NULL, &page, &next, &err), TG_EINVALID_PARAMS);
    tg_audit_filter empty = {.tenant = ""};
    CHECK_INT_EQ(tg_audit_query(a, &empty, 100, NULL, &page, &next, &err), TG_EINVALID_PARAMS);
    tg_audit_filter kind_only = {.kind = "call.end"};
    CHECK_INT_EQ(tg_audit_query(a, &kind_only, 100, NULL, &page, &next, &err), TG_EINVALID_PARAMS);
    tg_audit_close(a);

    /* After close: paging across tenants, newest first. */
    uint64_t seqs[16];
    size_t n = 0;
    CHECK_INT_EQ(tg_audit_query_file(path, &all, 5, NULL, &page, &next, &err), 0);
    CHECK_INT_EQ(json_array_size(page), 5);
    page_seqs(page, seqs, &n, 16);
    json_decref(page);
    CHECK(next != NULL);
    char *cursor = next;
    CHECK_INT_EQ(tg_audit_query_file(path, &all, 5, cursor, &page, &next, &err), 0);
    free(cursor);
    CHECK_INT_EQ(json_array_size(page), 3);
    page_seqs(page, seqs, &n, 16);
    json_decref(page);
    CHECK(next == NULL);
    CHECK_INT_EQ(n, 8);
    int descending = n == 8;
    for (size_t i = 0; descending && i < n; i++)
        if (seqs[i] != 8 - i) descending = 0;
    CHECK(descending);

    struct {
        tg_audit_filter f;
        int acme, other;
    } cases[] = {
        {{.tenant = "acme"}, 4, 0},
        {{.tenant = "other"}, 0, 3},
        {{.tenant = "nobody"}, 0, 0},
        {{.kind = "call.end"}, 0, 3},
        {{.tenant = "acme", .kind = "call.end"}, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECK_INT_EQ(tg_audit_query_file(path, &cases[i].f, 100, NULL, &page, &next, &err), 0);
        count_tenants(page, &acme, &other, &none);
        if (acme != cases[i].acme || other != cases[i].other)
            fprintf(stderr, "query_file case %zu\n", i);
        CHECK_INT_EQ(json_array_size(page), cases[i].acme + cases[i].other);
        CHECK_INT_EQ(acme, cases[i].acme);
        CHECK_INT_EQ(other, cases[i].other);
        CHECK_INT_EQ(none, 0);
        json_decref(page);
    }
    tg_audit_filter auth = {.kind = "auth.denied"};
    CHECK_INT_EQ(tg_audit_query_file(path, &auth, 100, NULL, &page, &next, &err), 0);
    CHECK_INT_EQ(json_array_size(page), 1);
    CHECK(json_is_null(json_object_get(json_array_get(page, 0), "tenant")));
    json_decref(page);

    CHECK_INT_EQ(tg_audit_query_file(path, &empty, 100, NULL, &page, &next, &err),
                 TG_EINVALID_PARAMS);
    CHECK_INT_EQ(tg_audit_query_file(NULL, &all, 100, NULL, &page, &next, &err),
                 TG_EINVALID_PARAMS);
    /* A log that is not there: on PostgreSQL a database where no gateway
     * wrote one. */
    char missing[512];
    log_where(missing, sizeof missing, "no-such.db");
    page = NULL;
    CHECK(tg_audit_query_file(missing, &all, 100, NULL, &page, &next, &err) != 0);
    CHECK(page == NULL);
    if (!on_pg) CHECK(access(missing, F_OK) != 0); /* read-only: not created */
}

/* ---- usage ----------------------------------------------------------- */

/* 2026-11-23T00:00:00Z, and the two UTC midnights after it. */
#define DAY1 INT64_C(1795392000000)
#define DAY2 (DAY1 + 86400000)
#define DAY3 (DAY2 + 86400000)

/* Appends a record at time_ms; cpu_us, wall_us, egress < 0 leave the field out. */
static int append_usage(tg_audit *a, const char *kind, const char *tenant, int64_t time_ms,
                        const char *tool, const char *status, int64_t cpu_us, int64_t wall_us,
                        int64_t egress)
{
    json_t *body = json_object();
    if (cpu_us >= 0) json_object_set_new(body, "cpu_us", json_integer(cpu_us));
    if (wall_us >= 0) json_object_set_new(body, "wall_us", json_integer(wall_us));
    if (egress >= 0)
        json_object_set_new(
            body, "egress",
            json_pack("{s:i, s:I, s:i}", "requests", 1, "bytes", egress, "denied", 0));
    tg_audit_record rec = {.kind = kind,
                           .tenant = tenant,
                           .time_ms = time_ms,
                           .tool = tool,
                           .status = status,
                           .body = body};
    tg_error err = {0};
    int rc = tg_audit_append(a, &rec, in_ms(5000), NULL, &err);
    if (rc) fprintf(stderr, "append: %s\n", err.message);
    json_decref(body);
    return rc;
}

typedef struct {
    const char *key; /* worker or day */
    long long calls, errors, refused;
    double cpu, wall;
    long long egress;
} usage_row;

/* Compares rows with want[n] exactly, field by field, in order. */
static void check_usage(const json_t *rows, const char *key_name, const usage_row *want, size_t n,
                        int line)
{
    int before = check_failed;
    CHECK_INT_EQ(json_array_size(rows), n);
    for (size_t i = 0; i < n && i < json_array_size(rows); i++) {
        const json_t *r = json_array_get(rows, i);
        CHECK_INT_EQ(json_object_size(r), 7);
        CHECK_STR_EQ(json_string_value(json_object_get(r, key_name)), want[i].key);
        CHECK(json_is_integer(json_object_get(r, "calls")));
        CHECK_INT_EQ(json_integer_value(json_object_get(r, "calls")), want[i].calls);
        CHECK_INT_EQ(json_integer_value(json_object_get(r, "errors")), want[i].errors);
        CHECK_INT_EQ(json_integer_value(json_object_get(r, "refused")), want[i].refused);
        CHECK_INT_EQ(json_integer_value(json_object_get(r, "egress_bytes")), want[i].egress);
        /* Sums of whole microseconds divided once: exact to the nearest double. */
        double cpu = json_number_value(json_object_get(r, "cpu_seconds"));
        double wall = json_number_value(json_object_get(r, "wall_seconds"));
        CHECK(json_is_real(json_object_get(r, "cpu_seconds")));
        CHECK(cpu == want[i].cpu);
        CHECK(wall == want[i].wall);
        if (cpu != want[i].cpu || wall != want[i].wall)
            fprintf(stderr, "  %s: cpu %.9g want %.9g, wall %.9g want %.9g\n", want[i].key, cpu,
                    want[i].cpu, wall, want[i].wall);
    }
    if (check_failed != before) {
        char *s = json_dumps(rows, JSON_COMPACT);
        fprintf(stderr, "  usage checked at line %d got %s\n", line, s);
        free(s);
    }
}

static void test_usage(void)
{
    tg_audit *a = open_log("usage.db", NULL);
    CHECK(a != NULL);
    if (!a) return;
    /* acme's calls; "in" marks those inside [DAY1, DAY3). */
    CHECK_INT_EQ(append_usage(a, "call.end", "acme", DAY1 - 1, "search", "ok", 2000000, 4000000, 7),
                 0);
    CHECK_INT_EQ(
        append_usage(a, "call.end", "acme", DAY1 + 1000, "search", "ok", 250000, 500000, 100),
        0); /* in */
    CHECK_INT_EQ(
        append_usage(a, "call.end", "acme", DAY1 + 3600000, "send", "refused", -1, 1000, -1),
        0); /* in */
    CHECK_INT_EQ(
        append_usage(a, "call.end", "acme", DAY2 - 1, "search", "error", 500000, 1000000, 200),
        0); /* in: the last ms of day 1 */
    CHECK_INT_EQ(append_usage(a, "call.end", "acme", DAY2, "send", "ok", 1000000, 2000000, 1000),
                 0); /* in: the first ms of day 2 */
    CHECK_INT_EQ(
        append_usage(a, "call.end", "acme", DAY2 + 10000, "search", "error", 125000, 250000, -1),
        0); /* in */
    CHECK_INT_EQ(
        append_usage(a, "call.end", "acme", DAY2 + 7200000, "search", "ok", 125000, 250000, 50),
        0); /* in */
    CHECK_INT_EQ(append_usage(a, "call.end", "acme", DAY3, "send", "ok", 4000000, 8000000, 3), 0);
    /* Not call.end: ignored whatever their bodies say. */
    CHECK_INT_EQ(
        append_usage(a, "call.begin", "acme", DAY1 + 2000, "search", NULL, 9000000, 9000000, 9000),
        0);
    CHECK_INT_EQ(append_usage(a, "egress", "acme", DAY2 + 1, "search", "ok", -1, -1, 5000), 0);
    CHECK_INT_EQ(append_usage(a, "call.begin", "acme", DAY2 + 2, "lonely", "ok", 1, 1, 1), 0);
    /* Another tenant's calls: never in acme's sums. */
    CHECK_INT_EQ(
        append_usage(a, "call.end", "other", DAY1 + 5000, "search", "ok", 8000000, 8000000, 8000),
        0);
    CHECK_INT_EQ(
        append_usage(a, "call.end", "other", DAY2 + 5000, "other-tool", "refused", -1, 3000, -1),
        0);

    json_t *rows = NULL;
    tg_error err = {0};

    CHECK_INT_EQ(tg_audit_usage(a, "acme", DAY1, DAY3, TG_AUDIT_BY_WORKER, &rows, &err), 0);
    usage_row by_worker[] = {
        {"search", 4, 2, 0, 1.0, 2.0, 350},
        {"send", 1, 0, 1, 1.0, 2.001, 1000},
    };
    check_usage(rows, "worker", by_worker, 2, __LINE__);
    json_decref(rows);

    CHECK_INT_EQ(tg_audit_usage(a, "acme", DAY1, DAY3, TG_AUDIT_BY_DAY, &rows, &err), 0);
    usage_row by_day[] = {
        {"2026-11-23", 2, 1, 1, 0.75, 1.501, 300},
        {"2026-11-24", 3, 1, 0, 1.25, 2.5, 1050},
    };
    check_usage(rows, "day", by_day, 2, __LINE__);
    json_decref(rows);

    /* 0 for both bounds: every call.end of the tenant. */
    CHECK_INT_EQ(tg_audit_usage(a, "acme", 0, 0, TG_AUDIT_BY_DAY, &rows, &err), 0);
    usage_row all_days[] = {
        {"2026-11-22", 1, 0, 0, 2.0, 4.0, 7},
        {"2026-11-23", 2, 1, 1, 0.75, 1.501, 300},
        {"2026-11-24", 3, 1, 0, 1.25, 2.5, 1050},
        {"2026-11-25", 1, 0, 0, 4.0, 8.0, 3},
    };
    check_usage(rows, "day", all_days, 4, __LINE__);
    json_decref(rows);

    CHECK_INT_EQ(tg_audit_usage(a, "acme", 0, 0, TG_AUDIT_BY_WORKER, &rows, &err), 0);
    usage_row all_workers[] = {
        {"search", 5, 2, 0, 3.0, 6.0, 357},
        {"send", 2, 0, 1, 5.0, 10.001, 1003},
    };
    check_usage(rows, "worker", all_workers, 2, __LINE__);
    json_decref(rows);

    /* since is inclusive, until exclusive: DAY1 + 1000 in, DAY2 + 10000 out. */
    CHECK_INT_EQ(
        tg_audit_usage(a, "acme", DAY1 + 1000, DAY2 + 10000, TG_AUDIT_BY_WORKER, &rows, &err), 0);
    usage_row edges[] = {
        {"search", 2, 1, 0, 0.75, 1.5, 300},
        {"send", 1, 0, 1, 1.0, 2.001, 1000},
    };
    check_usage(rows, "worker", edges, 2, __LINE__);
    json_decref(rows);

    CHECK_INT_EQ(
        tg_audit_usage(a, "acme", DAY1 + 1001, DAY2 + 10001, TG_AUDIT_BY_WORKER, &rows, &err), 0);
    usage_row edges2[] = {
        {"search", 2, 2, 0, 0.625, 1.25, 200},
        {"send", 1, 0, 1, 1.0, 2.001, 1000},
    };
    check_usage(rows, "worker", edges2, 2, __LINE__);
    json_decref(rows);

    /* Only a since; only an until. */
    CHECK_INT_EQ(tg_audit_usage(a, "acme", DAY2, 0, TG_AUDIT_BY_DAY, &rows, &err), 0);
    usage_row from_day2[] = {
        {"2026-11-24", 3, 1, 0, 1.25, 2.5, 1050},
        {"2026-11-25", 1, 0, 0, 4.0, 8.0, 3},
    };
    check_usage(rows, "day", from_day2, 2, __LINE__);
    json_decref(rows);
    CHECK_INT_EQ(tg_audit_usage(a, "acme", 0, DAY1, TG_AUDIT_BY_DAY, &rows, &err), 0);
    usage_row before_day1[] = {{"2026-11-22", 1, 0, 0, 2.0, 4.0, 7}};
    check_usage(rows, "day", before_day1, 1, __LINE__);
    json_decref(rows);

    CHECK_INT_EQ(tg_audit_usage(a, "other", 0, 0, TG_AUDIT_BY_WORKER, &rows, &err), 0);
    usage_row other[] = {
        {"other-tool", 0, 0, 1, 0.0, 0.003, 0},
        {"search", 1, 0, 0, 8.0, 8.0, 8000},
    };
    check_usage(rows, "worker", other, 2, __LINE__);
    json_decref(rows);

    /* A window with nothing in it, a tenant with nothing: an empty array. */
    CHECK_INT_EQ(tg_audit_usage(a, "acme", DAY3 + 1, 0, TG_AUDIT_BY_DAY, &rows, &err), 0);
    check_usage(rows, "day", NULL, 0, __LINE__);
    json_decref(rows);
    CHECK_INT_EQ(tg_audit_usage(a, "nobody", 0, 0, TG_AUDIT_BY_WORKER, &rows, &err), 0);
    check_usage(rows, "worker", NULL, 0, __LINE__);
    json_decref(rows);

    rows = NULL;
    CHECK_INT_EQ(tg_audit_usage(a, NULL, 0, 0, TG_AUDIT_BY_WORKER, &rows, &err),
                 TG_EINVALID_PARAMS);
    CHECK_INT_EQ(tg_audit_usage(a, "", 0, 0, TG_AUDIT_BY_DAY, &rows, &err), TG_EINVALID_PARAMS);
    CHECK(rows == NULL);
    tg_audit_close(a);
}

/* ---- a full queue ---------------------------------------------------- */

typedef struct {
    tg_audit *a;
    int rc;
} one_arg;

static void *append_one(void *arg)
{
    one_arg *o = arg;
    tg_audit_record rec = {.kind = "deploy", .tenant = "t1"};
    tg_error err = {0};
    o->rc = tg_audit_append(o->a, &rec, in_ms(5000), NULL, &err);
    return NULL;
}

/* With the writer stuck on a lock and the queue at its bound, one more
 * append waits only until its own deadline. */
static void test_queue_full(void)
{
    char path[512];
    log_where(path, sizeof path, "queue.db");
    tg_audit_options o = {.queue_max = 1, .group_max = 1, .busy_timeout_ms = 100, .retry_ms = 10};
    tg_audit *a = open_log("queue.db", &o);
    CHECK(a != NULL);
    if (!a) return;
    locker l;
    CHECK_INT_EQ(lock_log(path, &l), 0);
    one_arg first = {.a = a}, second = {.a = a};
    pthread_t t1, t2;
    pthread_create(&t1, NULL, append_one, &first);
    usleep(50000);
    pthread_create(&t2, NULL, append_one, &second);
    usleep(50000);
    tg_audit_record rec = {.kind = "deploy", .tenant = "t1"};
    tg_error err = {0};
    CHECK_INT_EQ(tg_audit_append(a, &rec, in_ms(100), NULL, &err), TG_EAUDIT_UNAVAILABLE);
    unlock_log(&l);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    CHECK_INT_EQ(first.rc, 0);
    CHECK_INT_EQ(second.rc, 0);
    tg_audit_close(a);
}

/* ---- PostgreSQL: replicas, a lost connection -------------------------- */

static void *prune_while(void *arg)
{
    one_arg *o = arg;
    uint64_t dropped = 0;
    tg_error err = {0};
    /* Everything committed so far is older than this. */
    o->rc = tg_audit_prune(o->a, INT64_MAX, in_ms(5000), &dropped, &err);
    if (o->rc) fprintf(stderr, "prune: %s\n", err.message);
    return NULL;
}

/* Two gateway replicas on one database, each with its own writer, append at
 * once from several threads each: every seq is handed out once, both
 * replicas commit groups, and verify finds one intact chain holding every
 * record. A prune from one while the other appends keeps it intact. */
static void test_replicas(void)
{
    char url[512];
    log_where(url, sizeof url, "replicas");
    tg_audit *r[2] = {open_log("replicas", NULL), open_log("replicas", NULL)};
    CHECK(r[0] != NULL && r[1] != NULL);
    if (!r[0] || !r[1]) {
        tg_audit_close(r[0]);
        tg_audit_close(r[1]);
        return;
    }
    append_from_threads(r[0], r[1]);
    uint64_t c0 = tg_audit_commits(r[0]), c1 = tg_audit_commits(r[1]);
    printf("replicas: %d records in %llu + %llu transactions\n", THREADS * PER_THREAD,
           (unsigned long long)c0, (unsigned long long)c1);
    CHECK(c0 > 0 && c1 > 0);
    CHECK(c0 + c1 < THREADS * PER_THREAD);

    tg_audit_report rep = {0};
    CHECK_INT_EQ(verify_path(url, &rep), TG_AUDIT_INTACT);
    CHECK_INT_EQ(rep.records, THREADS * PER_THREAD);
    CHECK_INT_EQ(rep.first_seq, 1);
    CHECK_INT_EQ(rep.last_seq, THREADS * PER_THREAD);
    CHECK_INT_EQ(json_array_size(rep.open_calls), 0);
    tg_audit_report_clear(&rep);

    static appender aps[2];
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        aps[i] = (appender){.a = r[0], .id = 100 + i};
        pthread_create(&th[i], NULL, append_many, &aps[i]);
    }
    one_arg pruner = {.a = r[1]};
    pthread_t pt;
    pthread_create(&pt, NULL, prune_while, &pruner);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    pthread_join(pt, NULL);
    CHECK_INT_EQ(pruner.rc, 0);
    CHECK_INT_EQ(aps[0].failures + aps[1].failures, 0);
    uint64_t last = 0;
    CHECK_INT_EQ(append_simple(r[1], "deploy", "t1", NULL, &last), 0);
    CHECK_INT_EQ(last, (THREADS + 2) * PER_THREAD + 2);
    CHECK_INT_EQ(verify_path(url, &rep), TG_AUDIT_INTACT);
    CHECK_INT_EQ(rep.last_seq, last);
    CHECK(rep.records <= 2 * PER_THREAD + 2);
    tg_audit_report_clear(&rep);
    tg_audit_close(r[0]);
    tg_audit_close(r[1]);
}

/* The writer's connection killed by the server (a restart, a failover):
 * the group fails and is retried on a new connection, so an append with
 * time to spare still succeeds, and the chain goes on. */
static void test_reconnect(void)
{
    char url[512];
    log_where(url, sizeof url, "reconnect");
    tg_audit_options o = {.retry_ms = 10};
    tg_audit *a = open_log("reconnect", &o);
    CHECK(a != NULL);
    if (!a) return;
    CHECK_INT_EQ(append_simple(a, "deploy", "t1", NULL, NULL), 0);
    PGconn *c = pg_connect(url);
    PGresult *res = c ? PQexec(c, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                                  " WHERE datname = current_database() AND pid <> pg_backend_pid()")
                      : NULL;
    CHECK_INT_EQ(PQntuples(res), 1);
    PQclear(res);
    PQfinish(c);
    uint64_t seq = 0;
    CHECK_INT_EQ(append_simple(a, "deploy", "t1", NULL, &seq), 0);
    CHECK_INT_EQ(seq, 2);
    CHECK(tg_audit_healthy(a));
    tg_audit_close(a);
    tg_audit_report r = {0};
    CHECK_INT_EQ(verify_path(url, &r), TG_AUDIT_INTACT);
    CHECK_INT_EQ(r.records, 2);
    tg_audit_report_clear(&r);
}

/* The cases every backend runs. */
static void run_cases(void)
{
    test_group_commit_and_reopen();
    test_tamper();
    test_open_calls();
    test_verify_batches();
    test_invalid();
    test_locked();
    if (!on_pg) {
        /* The file itself: moved, removed, on a full disk, from before
         * schema versions. */
        test_moved();
        test_removed();
        test_recovers_alone();
        test_disk_full();
        test_unversioned_file();
    } else {
        test_replicas();
        test_reconnect();
    }
    test_retention();
    test_retention_all();
    test_query_filters();
    test_query_pagination();
    test_query_kind();
    test_query_oldest_first();
    test_query_file();
    test_usage();
    test_queue_full();
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    printf("-- sqlite\n");
    run_cases();
    const char *pg = getenv("TOOLGATE_TEST_POSTGRES");
    if (pg && *pg) {
        printf("-- postgresql\n");
        on_pg = true;
        run_cases();
        for (size_t i = 0; i < pg_nmade; i++)
            free(pg_made[i].url);
    } else {
        printf("TOOLGATE_TEST_POSTGRES is not set: PostgreSQL cases skipped\n");
    }
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return check_report();
}
