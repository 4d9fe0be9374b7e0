/* bench_audit: what the durable audit log (audit/) costs a call, and how its
 * queries and its verification hold up on a log of a million records.
 *
 *   bench_audit [--threads T] [--seconds S] [--records N] [--fill-threads F] DIR
 *
 * 1. Durable audited calls a second: T threads (32, as many as the gateway's
 *    call threads) each run calls back to back: append call.begin, then
 *    call.end, each durable before the next step, with no work between, so
 *    the rate is the ceiling the audit log puts on calls. Once with the
 *    default options (group commit: the writer commits what is queued, up to
 *    group_max records, in one transaction, one fsync) and once with
 *    group_max 1 (a transaction and an fsync per record, the naive way).
 * 2. The latency the audit log adds to a call: begin's append plus end's.
 * 3. A log of N records (N/2 calls, 20 tenants, 30 days), filled through
 *    tg_audit_append by F threads with big groups; the median time of
 *    tg_audit_query per filter with the plan sqlite chose for the SQL audit.c
 *    built (caught by a trace on every connection the process opens after
 *    the fill), and tg_audit_verify_file over the whole log. N 0 skips it.
 *
 * The logs are files in DIR, which must be on the filesystem the gateway's
 * data dir would be on: on tmpfs an fsync costs nothing and the durable
 * figures would lie, so the filesystem is printed and tmpfs is a finding.
 * Findings start with "!!!". */
#include "audit/audit.h"
#include "gateway/core/alloc.h"

#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

enum { TENANTS = 20, PRINCIPALS = 50, DAYS = 30, QUERY_RUNS = 7, SLOW_MS = 10 };

#define DAY_MS            (24LL * 3600 * 1000)
#define WARMUP_NS         500000000LL
#define APPEND_TIMEOUT_NS 60000000000LL

static const char *const tools[] = {
    "web_search",      "fetch_url", "run_sql",      "send_email",  "create_issue", "update_record",
    "read_file",       "summarize", "translate",    "get_weather", "list_events",  "create_invoice",
    "lookup_customer", "geocode",   "resize_image", "post_message"};
#define NTOOLS (sizeof tools / sizeof tools[0])

/* How the filled log's calls end, per thousand: most succeed; the errors are
 * the gateway's codes for failures after call.begin, "refused" for a call
 * that never ran. A search for the rarest finds the fewest matches, the
 * worst case for a scan. */
static const struct {
    const char *status, *error_code;
    unsigned per_mille;
} outcomes[] = {
    {"ok", NULL, 940},
    {"error", "TIMEOUT", 20},
    {"error", "WORKER_FAILED", 20},
    {"refused", "CAPACITY", 8},
    {"error", "EGRESS_DENIED", 5},
    {"error", "CANCELLED", 4},
    {"error", "OUTPUT_SCHEMA_VIOLATION", 3},
};
#define NOUTCOMES (sizeof outcomes / sizeof outcomes[0])

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ns(int64_t ns)
{
    struct timespec ts = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest rank of sorted samples, in ms. */
static double percentile_ms(const int64_t *sorted, size_t n, double q)
{
    if (n == 0) return 0;
    size_t rank = (size_t)((double)n * q + 0.999999);
    return (double)sorted[rank ? rank - 1 : 0] / 1e6;
}

/* splitmix64's finalizer: a bijection, so distinct inputs give distinct ids. */
static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* ---- calls ------------------------------------------------------------ */

/* The records' shapes follow the call pipeline's (gateway/calls/call.c):
 * 128-bit hex call and trace ids, "tenant/subject" principals, bodies with
 * the arguments' hash and redacted arguments, durations by phase in us. */
typedef struct call {
    char tenant[32], principal[48], call_id[40], trace_id[40], sandbox_id[48], args_sha256[72];
    const char *tool, *trigger_kind, *status, *error_code;
    uint64_t r; /* more randomness for the bodies */
    int64_t run_us;
} call;

/* Call number i: every field comes from i alone, so the queries can name
 * what the fill wrote. Without varied, every call is an agent's and
 * succeeds, as part 1 wants. */
static void describe(uint64_t i, bool varied, call *c)
{
    uint64_t r = mix(i);
    unsigned tenant = (unsigned)(r % TENANTS);
    snprintf(c->tenant, sizeof c->tenant, "tenant-%02u", tenant);
    snprintf(c->principal, sizeof c->principal, "tenant-%02u/user-%03u", tenant,
             (unsigned)((r >> 8) % PRINCIPALS));
    c->tool = tools[(r >> 16) % NTOOLS];
    /* mix is a bijection: distinct calls get distinct ids. */
    snprintf(c->call_id, sizeof c->call_id, "%016" PRIx64 "%016" PRIx64, r, mix(r + 1));
    snprintf(c->trace_id, sizeof c->trace_id, "%016" PRIx64 "%016" PRIx64, mix(r + 2), mix(r + 3));
    for (int k = 0; k < 4; k++)
        snprintf(c->args_sha256 + 16 * k, 17, "%016" PRIx64, mix(r + 4 + (uint64_t)k));
    c->r = mix(r + 8);
    snprintf(c->sandbox_id, sizeof c->sandbox_id, "jail-%016" PRIx64 "-%" PRIu64, mix(r + 9),
             c->r % 100000);
    c->run_us = (int64_t)(20000 + (c->r >> 8) % 2000000);
    c->trigger_kind = "agent";
    c->status = "ok";
    c->error_code = NULL;
    if (!varied) return;
    unsigned t = (unsigned)((r >> 24) % 100);
    c->trigger_kind = t < 90 ? "agent" : t < 96 ? "schedule" : t < 99 ? "button" : "cli";
    unsigned o = (unsigned)((r >> 32) % 1000);
    for (size_t k = 0; k < NOUTCOMES; o -= outcomes[k++].per_mille) {
        if (o < outcomes[k].per_mille) {
            c->status = outcomes[k].status;
            c->error_code = outcomes[k].error_code;
            break;
        }
    }
}

/* call.begin's body: the arguments' hash and the arguments as stored where
 * the worker allows it, a secret redacted (about 200 bytes of JSON).
 * Returns: new reference. */
static json_t *begin_body(const call *c)
{
    static const char *const regions[] = {"emea", "amer", "apac", "latam"};
    return json_pack("{s:s, s:s, s:{s:s, s:i, s:s, s:{s:s, s:s}, s:[s, s, s]}, s:s}", "version",
                     "1.4.2", "arguments_sha256", c->args_sha256, "arguments", "query",
                     "quarterly revenue by region, excluding refunds and internal accounts",
                     "max_results", (int)(10 + c->r % 90), "api_key", "[REDACTED]", "filters",
                     "since", "2025-01-01", "region", regions[c->r % 4], "fields", "amount",
                     "customer_id", "invoice_date", "session_id", c->trace_id);
}

/* call.end's body: wall time and durations by phase; for a call that ran,
 * its sandbox, cpu, exit code, output size and egress summary.
 * Returns: new reference. */
static json_t *end_body(const call *c)
{
    bool ran = strcmp(c->status, "refused") != 0;
    json_int_t acquire = (json_int_t)(500 + (c->r >> 20) % 12000);
    json_int_t run = ran ? (json_int_t)c->run_us : 0;
    json_t *body = json_pack(
        "{s:s, s:I, s:{s:i, s:i, s:I, s:I, s:I, s:i}}", "version", "1.4.2", "wall_us",
        acquire + run + 3000, "durations_us", "validate", 180, "admission", 12, "audit_begin",
        (json_int_t)(1000 + (c->r >> 30) % 4000), "acquire", acquire, "run", run, "result", 90);
    if (ran) {
        json_object_set_new(body, "sandbox",
                            json_pack("{s:s, s:s}", "id", c->sandbox_id, "driver", "jail"));
        json_object_set_new(body, "cpu_us", json_integer(run / 3));
        json_object_set_new(body, "agent_cpu_us", json_integer(run / 20));
        json_object_set_new(body, "exit_code", json_integer(c->error_code ? 1 : 0));
        json_object_set_new(body, "output_bytes",
                            json_integer((json_int_t)(200 + (c->r >> 32) % 8000)));
        json_object_set_new(body, "egress",
                            json_pack("{s:i, s:I, s:i}", "requests", (int)((c->r >> 40) % 4),
                                      "bytes", (json_int_t)((c->r >> 44) % 50000), "denied",
                                      c->error_code && !strcmp(c->error_code, "EGRESS_DENIED")));
    }
    if (c->error_code)
        json_object_set_new(body, "error_source", json_string(ran ? "worker" : "gateway"));
    return body;
}

/* Appends c's call.end (end) or call.begin at time_ms (0: now); *took_ns
 * (may be NULL) gets the time tg_audit_append took, building the record
 * aside. */
static int append_call(tg_audit *log, const call *c, bool end, int64_t time_ms, int64_t *took_ns,
                       tg_error *err)
{
    json_t *body = end ? end_body(c) : begin_body(c);
    tg_audit_record rec = {.time_ms = time_ms,
                           .kind = end ? "call.end" : "call.begin",
                           .tenant = c->tenant,
                           .principal = c->principal,
                           .trigger_kind = c->trigger_kind,
                           .call_id = c->call_id,
                           .trace_id = c->trace_id,
                           .tool = c->tool,
                           .status = end ? c->status : NULL,
                           .error_code = end ? c->error_code : NULL,
                           .body = body};
    int64_t t0 = mono_ns();
    int rc = tg_audit_append(log, &rec, t0 + APPEND_TIMEOUT_NS, NULL, err);
    if (took_ns) *took_ns = mono_ns() - t0;
    json_decref(body);
    return rc;
}

/* Removes the log file at path and its WAL and shared-memory files. */
static void remove_log(const char *path)
{
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        char *p = tg_xasprintf("%s%s", path, suffixes[i]);
        unlink(p);
        free(p);
    }
}

/* ---- part 1 and 2: audited calls -------------------------------------- */

typedef struct call_run {
    tg_audit *log;
    atomic_llong since_ns; /* the window's start; 0 during the warm-up */
    atomic_llong stop_ns;  /* the window's end; 0 until it has closed */
} call_run;

typedef struct caller {
    pthread_t thread;
    call_run *run;
    uint64_t id;
    int64_t *lat_ns; /* begin's plus end's append time, per call counted */
    size_t n, cap;
    int rc;
    tg_error err;
} caller;

static void *caller_main(void *arg)
{
    caller *w = arg;
    call_run *run = w->run;
    for (uint64_t k = 0; !atomic_load(&run->stop_ns); k++) {
        call c;
        describe(w->id << 32 | k, false, &c);
        int64_t begin_ns, end_ns;
        w->rc = append_call(run->log, &c, false, 0, &begin_ns, &w->err);
        if (!w->rc) w->rc = append_call(run->log, &c, true, 0, &end_ns, &w->err);
        if (w->rc) break;
        /* Closed loops: a call counts in the window it ends in, so the
         * window holds every call completed in it, however long calls are. */
        int64_t done = mono_ns(), since = atomic_load(&run->since_ns);
        int64_t stop = atomic_load(&run->stop_ns);
        if (!since || done < since || (stop && done >= stop)) continue;
        if (w->n == w->cap) {
            w->cap = w->cap ? 2 * w->cap : 1024;
            w->lat_ns = tg_xrealloc(w->lat_ns, w->cap * sizeof *w->lat_ns);
        }
        w->lat_ns[w->n++] = begin_ns + end_ns;
    }
    return NULL;
}

typedef struct mode_result {
    double calls_per_s, p50_ms, p99_ms, records_per_commit;
    size_t calls;
} mode_result;

/* Runs threads callers on a new log in dir named name with group_max (0:
 * the default) for a warm-up and then seconds. Returns 0, or -1 after
 * printing a finding. */
static int run_calls(const char *dir, const char *name, size_t group_max, unsigned threads,
                     double seconds, mode_result *out)
{
    char *path = tg_xasprintf("%s/%s.db", dir, name);
    remove_log(path);
    tg_audit_options opts = {.group_max = group_max};
    tg_audit *log = NULL;
    tg_error err = {0};
    int rc = -1;
    if (tg_audit_open(path, &opts, &log, &err) != 0) {
        printf("!!! %s: cannot open %s: %s\n", name, path, err.message);
        goto out;
    }
    call_run run = {.log = log};
    atomic_init(&run.since_ns, 0);
    atomic_init(&run.stop_ns, 0);
    caller *w = tg_xcalloc(threads, sizeof *w);
    unsigned started = 0;
    for (; started < threads; started++) {
        w[started].run = &run;
        w[started].id = started + 1;
        if (pthread_create(&w[started].thread, NULL, caller_main, &w[started]) != 0) {
            printf("!!! %s: cannot start thread %u\n", name, started);
            break;
        }
    }
    sleep_ns(WARMUP_NS);
    int64_t since = mono_ns();
    uint64_t commits = tg_audit_commits(log);
    atomic_store(&run.since_ns, since);
    sleep_ns((int64_t)(seconds * 1e9));
    int64_t stop = mono_ns();
    commits = tg_audit_commits(log) - commits;
    atomic_store(&run.stop_ns, stop);

    size_t n = 0;
    for (unsigned i = 0; i < started; i++) {
        pthread_join(w[i].thread, NULL);
        n += w[i].n;
    }
    int64_t *all = tg_xmalloc((n ? n : 1) * sizeof *all);
    size_t at = 0;
    rc = started == threads ? 0 : -1;
    for (unsigned i = 0; i < started; i++) {
        if (w[i].rc && !rc) {
            printf("!!! %s: an append failed (%d): %s\n", name, w[i].rc, w[i].err.message);
            rc = -1;
        }
        memcpy(all + at, w[i].lat_ns, w[i].n * sizeof *all);
        at += w[i].n;
        free(w[i].lat_ns);
    }
    qsort(all, n, sizeof *all, cmp_i64);
    *out = (mode_result){
        .calls = n,
        .calls_per_s = (double)n / ((double)(stop - since) / 1e9),
        .p50_ms = percentile_ms(all, n, 0.50),
        .p99_ms = percentile_ms(all, n, 0.99),
        /* Two records a call; the calls at the window's edges make it an
         * estimate. */
        .records_per_commit = commits ? 2.0 * (double)n / (double)commits : 0,
    };
    free(all);
    free(w);
out:
    tg_audit_close(log);
    remove_log(path);
    free(path);
    return rc;
}

/* ---- part 3: a big log ------------------------------------------------ */

typedef struct fill {
    tg_audit *log;
    uint64_t ncalls;
    int64_t first_ms; /* call 0 begins then; the others follow evenly over DAYS */
    atomic_ullong next;
    atomic_bool failed;
} fill;

typedef struct filler {
    pthread_t thread;
    fill *f;
    int rc;
    tg_error err;
} filler;

static int64_t begin_ms_of(const fill *f, uint64_t i)
{
    return f->first_ms + (int64_t)i * (DAYS * DAY_MS) / (int64_t)f->ncalls;
}

static void *filler_main(void *arg)
{
    filler *w = arg;
    fill *f = w->f;
    while (!atomic_load(&f->failed)) {
        uint64_t i = atomic_fetch_add(&f->next, 1);
        if (i >= f->ncalls) break;
        call c;
        describe(i, true, &c);
        int64_t begin_ms = begin_ms_of(f, i);
        w->rc = append_call(f->log, &c, false, begin_ms, NULL, &w->err);
        if (!w->rc)
            w->rc = append_call(f->log, &c, true, begin_ms + c.run_us / 1000 + 5, NULL, &w->err);
        if (w->rc) atomic_store(&f->failed, true);
    }
    return NULL;
}

/* Appends ncalls calls' records to log from threads threads. Returns 0, or
 * -1 after printing a finding. */
static int fill_log(fill *f, unsigned threads)
{
    filler *w = tg_xcalloc(threads, sizeof *w);
    unsigned started = 0;
    for (; started < threads; started++) {
        w[started].f = f;
        if (pthread_create(&w[started].thread, NULL, filler_main, &w[started]) != 0) {
            atomic_store(&f->failed, true);
            printf("!!! fill: cannot start thread %u\n", started);
            break;
        }
    }
    int rc = started == threads ? 0 : -1;
    for (unsigned i = 0; i < started; i++) {
        pthread_join(w[i].thread, NULL);
        if (w[i].rc && !rc) {
            printf("!!! fill: an append failed (%d): %s\n", w[i].rc, w[i].err.message);
            rc = -1;
        }
    }
    free(w);
    return rc;
}

/* The SQL of the last records query a connection ran: the text audit.c
 * built, so the plan printed is the plan of what was timed. Only the main
 * thread runs queries once tracing is on. */
static char query_sql[2048];

static int trace_query(unsigned type, void *ctx, void *stmt, void *sql_text)
{
    (void)type, (void)ctx, (void)sql_text;
    const char *sql = sqlite3_sql(stmt);
    if (sql && strncmp(sql, "SELECT ", 7) == 0 && strstr(sql, " FROM records WHERE ") &&
        strstr(sql, " LIMIT ?"))
        snprintf(query_sql, sizeof query_sql, "%s", sql);
    return 0;
}

static int trace_connection(sqlite3 *db, char **errmsg, const sqlite3_api_routines *api)
{
    (void)errmsg, (void)api;
    return sqlite3_trace_v2(db, SQLITE_TRACE_STMT, trace_query, NULL);
}

/* sqlite's plan for sql on the file at path, its steps joined by "; ". */
static void print_plan(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    char *eqp = tg_xasprintf("EXPLAIN QUERY PLAN %s", sql);
    printf("      plan: ");
    if (!*sql) {
        printf("(the query's SQL was not seen)\n");
    } else if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
               sqlite3_prepare_v2(db, eqp, -1, &st, NULL) != SQLITE_OK) {
        printf("(cannot explain: %s)\n", sqlite3_errmsg(db));
    } else {
        for (int first = 1; sqlite3_step(st) == SQLITE_ROW; first = 0)
            printf("%s%s", first ? "" : "; ", (const char *)sqlite3_column_text(st, 3));
        printf("\n");
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    free(eqp);
}

typedef struct query {
    const char *name;
    tg_audit_filter f;
    bool second_page; /* the page after the first, by its cursor */
} query;

/* Runs q once (warming the cache, catching its SQL, finding the cursor for a
 * second page), then QUERY_RUNS timed times; prints the median and the
 * plan. Returns 1 when it was slower than SLOW_MS, 0, or -1 on error. */
static int time_query(tg_audit *log, const char *path, const query *q)
{
    json_t *page = NULL;
    char *cursor = NULL, *next = NULL;
    tg_error err = {0};
    int rc = -1;
    query_sql[0] = '\0';
    if (tg_audit_query(log, &q->f, 0, NULL, &page, &cursor, &err) != 0) goto fail;
    if (q->second_page) {
        json_decref(page);
        page = NULL;
        if (!cursor) {
            printf("!!! %s: the first page is the last, no cursor\n", q->name);
            goto out;
        }
        if (tg_audit_query(log, &q->f, 0, cursor, &page, &next, &err) != 0) goto fail;
        free(next);
        next = NULL;
    }
    size_t rows = json_array_size(page);
    json_decref(page);
    page = NULL;
    int64_t took[QUERY_RUNS];
    for (int i = 0; i < QUERY_RUNS; i++) {
        int64_t t0 = mono_ns();
        if (tg_audit_query(log, &q->f, 0, q->second_page ? cursor : NULL, &page, &next, &err) != 0)
            goto fail;
        took[i] = mono_ns() - t0;
        json_decref(page);
        page = NULL;
        free(next);
        next = NULL;
    }
    qsort(took, QUERY_RUNS, sizeof took[0], cmp_i64);
    double median = (double)took[QUERY_RUNS / 2] / 1e6;
    printf("  %-46s %5zu %9.2f %9.2f %9.2f\n", q->name, rows, median, (double)took[0] / 1e6,
           (double)took[QUERY_RUNS - 1] / 1e6);
    print_plan(path, query_sql);
    rc = median > SLOW_MS;
    goto out;
fail:
    printf("!!! %s: tg_audit_query failed: %s\n", q->name, err.message);
out:
    json_decref(page);
    free(cursor);
    free(next);
    return rc;
}

static long long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : 0;
}

/* Fills a new log of records records in dir, times the queries and verify.
 * Returns 0, or -1 after printing a finding. */
static int run_big_log(const char *dir, uint64_t records, unsigned threads)
{
    char *path = tg_xasprintf("%s/big.db", dir);
    char *wal = tg_xasprintf("%s-wal", path);
    remove_log(path);
    /* Big groups: each filler waits for its record, so a group holds at most
     * one record a thread, and the queue must hold them all. */
    tg_audit_options opts = {.queue_max = 4 * (size_t)threads, .group_max = 4 * (size_t)threads};
    tg_audit *log = NULL;
    tg_error err = {0};
    int rc = -1;
    if (tg_audit_open(path, &opts, &log, &err) != 0) {
        printf("!!! fill: cannot open %s: %s\n", path, err.message);
        goto out;
    }
    fill f = {.log = log, .ncalls = records / 2};
    int64_t last_ms = wall_ms();
    f.first_ms = last_ms - DAYS * DAY_MS;
    atomic_init(&f.next, 0);
    atomic_init(&f.failed, false);
    int64_t t0 = mono_ns();
    uint64_t commits = tg_audit_commits(log);
    if (fill_log(&f, threads) != 0) goto out;
    double fill_s = (double)(mono_ns() - t0) / 1e9;
    commits = tg_audit_commits(log) - commits;
    uint64_t written = 2 * f.ncalls;
    long long bytes = file_size(path) + file_size(wal);
    printf(
        "a log of %" PRIu64 " records (%" PRIu64 " calls: %d tenants, %zu tools, %d principals a "
        "tenant, %.1f%% errors, over %d days)\n",
        written, f.ncalls, TENANTS, NTOOLS, PRINCIPALS, 100.0 - outcomes[0].per_mille / 10.0, DAYS);
    printf("  filled in %.1f s by %u threads: %.0f records/s, %.0f records a commit; "
           "%.0f MB with its WAL, %.0f bytes a record\n",
           fill_s, threads, (double)written / fill_s,
           commits ? (double)written / (double)commits : 0, (double)bytes / 1e6,
           (double)bytes / (double)written);

    /* What the queries name: the tenant, tool and principal the fill spread
     * calls over, and a call of that tenant's from about 20 days ago. */
    const char *tenant = "tenant-07";
    uint64_t target = f.ncalls / 3;
    call c;
    for (uint64_t i = target; i < f.ncalls; i++) {
        describe(i, true, &c);
        if (strcmp(c.tenant, tenant) == 0) {
            target = i;
            break;
        }
    }
    describe(target, true, &c);
    const query queries[] = {
        {"tenant, newest page", {.tenant = tenant}, false},
        {"tenant, second page (cursor)", {.tenant = tenant}, true},
        {"tenant + tool", {.tenant = tenant, .tool = "run_sql"}, false},
        {"tenant + tool, second page (cursor)", {.tenant = tenant, .tool = "run_sql"}, true},
        {"tenant + principal + a week, 2 weeks ago",
         {.tenant = tenant,
          .principal = "tenant-07/user-017",
          .since_ms = last_ms - 14 * DAY_MS,
          .until_ms = last_ms - 7 * DAY_MS},
         false},
        {"tenant + a day, 20 days ago",
         {.tenant = tenant, .since_ms = last_ms - 21 * DAY_MS, .until_ms = last_ms - 20 * DAY_MS},
         false},
        {"tenant + call_id", {.tenant = tenant, .call_id = c.call_id}, false},
        {"tenant + error TIMEOUT (2% of calls)",
         {.tenant = tenant, .status = "error", .error_code = "TIMEOUT"},
         false},
        {"tenant + error OUTPUT_SCHEMA_VIOLATION (0.3%)",
         {.tenant = tenant, .status = "error", .error_code = "OUTPUT_SCHEMA_VIOLATION"},
         false},
    };
    sqlite3_auto_extension((void (*)(void))trace_connection);
    printf("\ntg_audit_query, pages of 100 (newest first), %d runs each after one untimed:\n",
           QUERY_RUNS);
    printf("  %-46s %5s %9s %9s %9s\n", "filter", "rows", "median ms", "min ms", "max ms");
    rc = 0;
    for (size_t i = 0; i < sizeof queries / sizeof queries[0]; i++) {
        int r = time_query(log, path, &queries[i]);
        if (r < 0) rc = -1;
        if (r > 0)
            printf("!!! %s: slower than %d ms on %" PRIu64 " records\n", queries[i].name, SLOW_MS,
                   written);
    }

    tg_audit_report report = {0};
    t0 = mono_ns();
    if (tg_audit_verify_file(path, &report, &err) != 0) {
        printf("!!! tg_audit_verify_file failed: %s\n", err.message);
        rc = -1;
    } else {
        double s = (double)(mono_ns() - t0) / 1e9;
        printf("\ntg_audit_verify_file: %" PRIu64 " records in %.2f s (%.0f records/s), %s, "
               "%zu open calls\n",
               report.records, s, (double)report.records / s,
               report.problem == TG_AUDIT_INTACT ? "intact" : report.message,
               json_array_size(report.open_calls));
        if (report.problem != TG_AUDIT_INTACT || report.records != written) {
            printf("!!! verify: %" PRIu64 " records, expected %" PRIu64 " intact\n", report.records,
                   written);
            rc = -1;
        }
    }
    tg_audit_report_clear(&report);
out:
    tg_audit_close(log);
    remove_log(path);
    free(wal);
    free(path);
    return rc;
}

/* ---- main ------------------------------------------------------------- */

/* The filesystem dir is on, and whether an fsync there is free (tmpfs and
 * ramfs keep everything in memory). */
static const char *filesystem(const char *dir, bool *free_fsync)
{
    static char unknown[32];
    struct statfs sf;
    *free_fsync = false;
    if (statfs(dir, &sf) != 0) return "unknown (statfs failed)";
    switch ((unsigned long)sf.f_type) {
    case 0x01021994UL:
        *free_fsync = true;
        return "tmpfs";
    case 0x858458f6UL:
        *free_fsync = true;
        return "ramfs";
    case 0xef53UL:
        return "ext2/ext3/ext4";
    case 0x58465342UL:
        return "xfs";
    case 0x9123683eUL:
        return "btrfs";
    case 0x2fc12fc1UL:
        return "zfs";
    case 0xf2f52010UL:
        return "f2fs";
    case 0x794c7630UL:
        return "overlayfs";
    case 0x6969UL:
        return "nfs";
    }
    snprintf(unknown, sizeof unknown, "type 0x%lx", (unsigned long)sf.f_type);
    return unknown;
}

/* The median time of a 4 KiB write and fdatasync (what sqlite syncs the WAL
 * with) in dir, over one block (as a WAL reused after a checkpoint is) or
 * appended (as a growing WAL is, its size to sync too). Returns ms, or -1
 * when the file cannot be written. */
static double sync_ms(const char *dir, bool append)
{
    enum { RUNS = 200 };
    static const char block[4096];
    int64_t took[RUNS];
    char *path = tg_xasprintf("%s/sync-probe", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    double ms = -1;
    int i = 0;
    for (; fd >= 0 && i < RUNS; i++) {
        off_t at = append ? (off_t)i * (off_t)sizeof block : 0;
        int64_t t0 = mono_ns();
        if (pwrite(fd, block, sizeof block, at) != (ssize_t)sizeof block || fdatasync(fd) != 0)
            break;
        took[i] = mono_ns() - t0;
    }
    if (i == RUNS) {
        qsort(took, RUNS, sizeof took[0], cmp_i64);
        ms = (double)took[RUNS / 2] / 1e6;
    }
    if (fd >= 0) close(fd);
    unlink(path);
    free(path);
    return ms;
}

/* The number s names, from lo to hi; otherwise says so and exits 2. */
static double number(const char *opt, const char *s, double lo, double hi)
{
    char *end = NULL;
    double v = s ? strtod(s, &end) : 0;
    if (!s || end == s || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "bench_audit: %s must be a number from %g to %g\n", opt, lo, hi);
        exit(2);
    }
    return v;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_audit [--threads T] [--seconds S] [--records N] "
                    "[--fill-threads F] DIR\n");
    exit(2);
}

int main(int argc, char **argv)
{
    unsigned threads = 32, fill_threads = 1024;
    double seconds = 3;
    uint64_t records = 1000000;
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--threads") == 0)
            threads = (unsigned)number(argv[i++], v, 1, 1024);
        else if (strcmp(argv[i], "--seconds") == 0)
            seconds = number(argv[i++], v, 0.1, 3600);
        else if (strcmp(argv[i], "--records") == 0)
            records = (uint64_t)number(argv[i++], v, 0, 1e9);
        else if (strcmp(argv[i], "--fill-threads") == 0)
            fill_threads = (unsigned)number(argv[i++], v, 1, 4096);
        else if (argv[i][0] != '-' && !dir)
            dir = argv[i];
        else
            usage();
    }
    if (!dir || records == 1) usage();

    bool free_fsync;
    const char *fs = filesystem(dir, &free_fsync);
    printf("audit/ on sqlite %s (WAL, synchronous=FULL); logs in %s, on %s\n", sqlite3_libversion(),
           dir, fs);
    double over = sync_ms(dir, false), grow = sync_ms(dir, true);
    if (over < 0 || grow < 0)
        printf("!!! cannot write and fdatasync a file in %s\n", dir);
    else
        printf("a 4 KiB write + fdatasync there (median of 200): %.3f ms over a block, %.3f ms "
               "appended\n",
               over, grow);
    if (free_fsync)
        printf("!!! %s is on %s: an fsync costs nothing there, so the durable figures below are "
               "not real\n",
               dir, fs);

    static const struct {
        const char *name, *label;
        size_t group_max;
    } modes[] = {{"calls-group", "group commit (default options)", 0},
                 {"calls-naive", "naive (group_max 1)", 1}};
    mode_result res[2] = {0};
    int status = 0;
    printf("\ndurable audited calls: %u threads, each call a call.begin then a call.end, each "
           "durable\nbefore the next, nothing between; %.1f s measured after a %.1f s warm-up\n",
           threads, seconds, (double)WARMUP_NS / 1e9);
    printf("  %-30s %9s %8s %9s %9s %15s\n", "mode", "calls/s", "calls", "p50 ms", "p99 ms",
           "records/commit");
    for (int m = 0; m < 2; m++) {
        if (run_calls(dir, modes[m].name, modes[m].group_max, threads, seconds, &res[m]) != 0) {
            status = 1;
            continue;
        }
        printf("  %-30s %9.0f %8zu %9.2f %9.2f %15.1f\n", modes[m].label, res[m].calls_per_s,
               res[m].calls, res[m].p50_ms, res[m].p99_ms, res[m].records_per_commit);
    }
    if (res[0].calls && res[1].calls)
        printf("  group/naive: %.1fx the calls/s; the audit's latency a call %.3fx at p50, %.3fx "
               "at p99\n",
               res[0].calls_per_s / res[1].calls_per_s, res[0].p50_ms / res[1].p50_ms,
               res[0].p99_ms / res[1].p99_ms);

    if (records > 0) {
        printf("\n");
        if (run_big_log(dir, records, fill_threads) != 0) status = 1;
    }
    return status;
}
