/* The audit log store: a queue of records, one writer thread that commits
 * them in groups to a sqlite file (WAL, synchronous=FULL), a hash chain over
 * the records in seq order, retention, queries and verification.
 *
 * Concurrency: appenders only touch the queue, under mu. The writer thread
 * alone owns the write connection, the last seq and the last hash, so seqs
 * and hashes are assigned in commit order without a lock around sqlite. A
 * record leaves the queue "in flight" when the writer takes it into a group;
 * its appender learns the outcome when the group's transaction has committed
 * (or failed). A failed group goes back to the head of the queue and is
 * retried, so order is kept; appenders whose deadline passes meanwhile take
 * their records back out and fail closed.
 *
 * Queries and verification use a read-only connection of their own, opened
 * per call: WAL gives it a consistent snapshot while the writer commits. */
#include "audit/audit.h"

#include "gateway/core/alloc.h"
#include "gateway/core/db.h"
#include "gateway/core/metrics.h"
#include "gateway/core/text.h"
#include "gateway/core/clock.h"

#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_QUEUE_MAX 4096
#define DEFAULT_GROUP_MAX 512
#define DEFAULT_BUSY_MS   1000
#define DEFAULT_RETRY_MS  50
#define DEFAULT_PAGE      100
#define MAX_PAGE          1000
#define MAX_FIELD_BYTES   1024
#define MAX_BODY_BYTES    (256u << 10)
#define HASH_LEN          32
#define STATS_EVERY       1000
#define PROBE_NS          1000000000LL /* between tries of a failing log with nothing queued */
#define KIND_RETENTION    "retention"
#define RECORD_COLUMNS                                                                             \
    "seq, time_ms, kind, tenant, principal, trigger_kind, call_id, "                               \
    "trace_id, tool, status, error_code, body, prev_hash, hash"

/* The text columns in table order; a record's strings are kept in this order. */
enum { F_KIND, F_TENANT, F_PRINCIPAL, F_TRIGGER, F_CALL, F_TRACE, F_TOOL, F_STATUS, F_ERROR, NF };
static const char *const field_names[NF] = {"kind",         "tenant",  "principal",
                                            "trigger_kind", "call_id", "trace_id",
                                            "tool",         "status",  "error_code"};

static const char *const kinds[] = {"call.begin",   "call.end",     "egress",      "deploy",
                                    "rollback",     "secret.write", "auth.denied", "trigger",
                                    "schedule.run", "state.write",  "hook"};
static const char *const trigger_kinds[] = {"agent", "button",  "schedule",
                                            "cli",   "webhook", "contract"};

typedef enum { E_RECORD, E_PRUNE } entry_type;
typedef enum { QUEUED, IN_FLIGHT, DONE } entry_state;

typedef struct entry {
    struct entry *next;
    entry_type type;
    entry_state state;
    bool abandoned; /* its appender gave up while it was in flight: the writer frees it */
    int rc;         /* set with state DONE */
    uint64_t seq;   /* of the record, or of the retention record a prune wrote */
    uint64_t dropped;
    int64_t cutoff_ms;
    int64_t time_ms;
    char *f[NF];
    char *body; /* canonical JSON text of the body object */
    /* Its appender waits on this for DONE: one per entry, so that a commit
     * wakes the appenders of its group and no other (a broadcast to all of
     * them cost more CPU than the fsync it waited for). */
    pthread_cond_t done_cv;
} entry;

struct tg_audit {
    char *path;
    tg_audit_options opts;
    sqlite3 *wdb; /* the writer thread's alone after open */

    /* The writer thread's alone: the tail of the chain. */
    uint64_t last_seq;
    unsigned char last_hash[HASH_LEN];
    uint64_t analyzed_seq; /* last_seq when the statistics were last taken */

    pthread_mutex_t mu;      /* guards everything below */
    pthread_cond_t work_cv;  /* the writer waits for entries or stop */
    pthread_cond_t space_cv; /* appenders wait for room in the queue */
    entry *head, *tail;      /* QUEUED entries, oldest first */
    size_t queued;
    bool stop;
    char last_error[256];

    atomic_bool healthy;
    atomic_ullong commits;
    pthread_t writer;
};

/* ---- small helpers --------------------------------------------------- */

/* How the audit log words a failed sqlite call (a tg_db_fail_fn). */
static int db_fail(void *err, tg_db_failure kind, const char *what, const char *detail)
{
    if (kind == TG_DB_EXEC)
        return tg_error_set(err, TG_EAUDIT_UNAVAILABLE, "audit log: %s", detail);
    if (kind == TG_DB_NOT_WAL)
        return tg_error_set(err, TG_EAUDIT_UNAVAILABLE, "audit log %s: cannot use WAL mode", what);
    return tg_error_set(err, TG_EAUDIT_UNAVAILABLE, "audit log: %s: %s", what, detail);
}

static int fail_db(tg_error *err, sqlite3 *db, const char *what)
{
    return tg_db_fail(db, what, db_fail, err);
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Waits on cv until deadline_ns (CLOCK_MONOTONIC, < 0 for none). Returns
 * false when the deadline has passed. */
static bool wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, int64_t deadline_ns)
{
    if (deadline_ns < 0) {
        pthread_cond_wait(cv, mu);
        return true;
    }
    if (mono_ns() >= deadline_ns) return false;
    struct timespec ts = {.tv_sec = deadline_ns / 1000000000, .tv_nsec = deadline_ns % 1000000000};
    pthread_cond_timedwait(cv, mu, &ts);
    return mono_ns() < deadline_ns;
}

static void hex(const unsigned char *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

static bool unhex(const char *s, unsigned char *out, size_t n)
{
    if (!s || strlen(s) != 2 * n) return false;
    for (size_t i = 0; i < 2 * n; i++) {
        char c = s[i];
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (v < 0) return false;
        out[i / 2] = (unsigned char)(i % 2 ? (out[i / 2] << 4) | v : v);
    }
    return true;
}

static bool one_of(const char *s, const char *const *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, set[i]) == 0) return true;
    return false;
}

/* The hash of a record: SHA-256 over prev_hash and the canonical form, a
 * compact JSON object with sorted keys of every column but seq and hash
 * (prev_hash in hex, body as the exact stored text). The writer and verify
 * both come through here, so they cannot disagree on the form. */
static int record_hash(const unsigned char prev[HASH_LEN], int64_t time_ms, const char *const f[NF],
                       const char *body, unsigned char out[HASH_LEN])
{
    char prev_hex[2 * HASH_LEN + 1];
    hex(prev, HASH_LEN, prev_hex);
    /* A member jansson could not set (out of memory) would leave it out of
     * the form, and the hash would then not match the stored record. */
    json_t *o = json_object();
    int set_failed = 0;
    for (int i = 0; i < NF; i++)
        set_failed |=
            json_object_set_new(o, field_names[i], f[i] ? json_string(f[i]) : json_null());
    set_failed |= json_object_set_new(o, "time_ms", json_integer(time_ms));
    set_failed |= json_object_set_new(o, "body", body ? json_string(body) : json_null());
    set_failed |= json_object_set_new(o, "prev_hash", json_string(prev_hex));
    char *canon = set_failed ? NULL : json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    if (!canon) return -1;
    unsigned int len = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(ctx, prev, HASH_LEN) == 1 &&
             EVP_DigestUpdate(ctx, canon, strlen(canon)) == 1 &&
             EVP_DigestFinal_ex(ctx, out, &len) == 1 && len == HASH_LEN;
    EVP_MD_CTX_free(ctx);
    free(canon);
    return ok ? 0 : -1;
}

static void entry_free(entry *e)
{
    if (!e) return;
    pthread_cond_destroy(&e->done_cv);
    for (int i = 0; i < NF; i++)
        free(e->f[i]);
    free(e->body);
    free(e);
}

/* ---- sqlite ---------------------------------------------------------- */

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS records ("
    "  seq INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL, kind TEXT NOT NULL,"
    "  tenant TEXT, principal TEXT, trigger_kind TEXT, call_id TEXT, trace_id TEXT,"
    "  tool TEXT, status TEXT, error_code TEXT, body TEXT NOT NULL,"
    "  prev_hash BLOB NOT NULL, hash BLOB NOT NULL);"
    /* Pages come newest first by seq, the rowid: an index on (tenant, x)
     * holds each x's records in rowid order, so a page of them reads no
     * more rows than it returns. Time ranges have their own. */
    /* Outside the chain: what the writer rewrites to learn that the file
     * takes writes again after a failure. */
    "CREATE TABLE IF NOT EXISTS writable (id INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS records_tenant ON records (tenant);"
    "CREATE INDEX IF NOT EXISTS records_tenant_time ON records (tenant, time_ms);"
    "CREATE INDEX IF NOT EXISTS records_tenant_tool ON records (tenant, tool);"
    "CREATE INDEX IF NOT EXISTS records_tenant_principal ON records (tenant, principal);"
    "CREATE INDEX IF NOT EXISTS records_tenant_error ON records (tenant, error_code);"
    "CREATE INDEX IF NOT EXISTS records_tenant_kind ON records (tenant, kind);"
    /* Usage sums a tenant's call.end records over a time range. */
    "CREATE INDEX IF NOT EXISTS records_tenant_kind_time ON records (tenant, kind, time_ms);"
    "CREATE INDEX IF NOT EXISTS records_call ON records (call_id);";

static int exec(sqlite3 *db, const char *sql, tg_error *err)
{
    return tg_db_exec(db, sql, db_fail, err);
}

static int prep(sqlite3 *db, const char *sql, sqlite3_stmt **st, tg_error *err)
{
    return tg_db_prepare(db, st, db_fail, err, sql, 0);
}

static int open_conn(const char *path, bool readonly, int busy_ms, sqlite3 **out, tg_error *err)
{
    static const char *const setup[] = {schema_sql, NULL};
    int flags = SQLITE_OPEN_NOMUTEX |
                (readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    return tg_db_open(path, flags, busy_ms, !readonly, readonly ? NULL : setup, out, db_fail, err);
}

/* Reads the tail of the chain (the last seq and hash) into a. */
static int load_tail(tg_audit *a, tg_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc = prep(a->wdb, "SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1", &st, err);
    if (rc) return rc;
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        if (sqlite3_column_bytes(st, 1) != HASH_LEN) {
            rc = tg_error_set(err, TG_EAUDIT_UNAVAILABLE,
                              "audit log: the last record's hash is malformed");
        } else {
            a->last_seq = (uint64_t)sqlite3_column_int64(st, 0);
            memcpy(a->last_hash, sqlite3_column_blob(st, 1), HASH_LEN);
        }
    } else if (s == SQLITE_DONE) {
        a->last_seq = 0;
        memset(a->last_hash, 0, HASH_LEN);
    } else {
        rc = fail_db(err, a->wdb, "read the last record");
    }
    sqlite3_finalize(st);
    return rc;
}

/* ---- the writer ------------------------------------------------------ */

static int insert_record(tg_audit *a, sqlite3_stmt *ins, uint64_t seq, int64_t time_ms,
                         char *const f[NF], const char *body, const unsigned char prev[HASH_LEN],
                         unsigned char hash[HASH_LEN], tg_error *err)
{
    if (record_hash(prev, time_ms, (const char *const *)f, body, hash))
        return tg_error_set(err, TG_EAUDIT_UNAVAILABLE, "audit log: hashing failed");
    sqlite3_reset(ins);
    sqlite3_clear_bindings(ins);
    int ok = sqlite3_bind_int64(ins, 1, (sqlite3_int64)seq) == SQLITE_OK &&
             sqlite3_bind_int64(ins, 2, time_ms) == SQLITE_OK;
    for (int i = 0; ok && i < NF; i++)
        ok = (f[i] ? sqlite3_bind_text(ins, 3 + i, f[i], -1, SQLITE_STATIC)
                   : sqlite3_bind_null(ins, 3 + i)) == SQLITE_OK;
    ok = ok && sqlite3_bind_text(ins, 3 + NF, body, -1, SQLITE_STATIC) == SQLITE_OK &&
         sqlite3_bind_blob(ins, 4 + NF, prev, HASH_LEN, SQLITE_STATIC) == SQLITE_OK &&
         sqlite3_bind_blob(ins, 5 + NF, hash, HASH_LEN, SQLITE_STATIC) == SQLITE_OK &&
         sqlite3_step(ins) == SQLITE_DONE;
    return ok ? 0 : fail_db(err, a->wdb, "insert");
}

/* Runs one select that yields one integer (NULL reads as dflt). */
static int select_int(sqlite3 *db, const char *sql, int64_t arg, int64_t dflt, int64_t *out,
                      tg_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc = prep(db, sql, &st, err);
    if (rc) return rc;
    sqlite3_bind_int64(st, 1, arg);
    if (sqlite3_step(st) == SQLITE_ROW)
        *out = sqlite3_column_type(st, 0) == SQLITE_NULL ? dflt : sqlite3_column_int64(st, 0);
    else
        rc = fail_db(err, db, "select");
    sqlite3_finalize(st);
    return rc;
}

/* Copies the hash (or, with prev, the prev_hash) of record seq into out. */
static int select_hash(sqlite3 *db, uint64_t seq, bool prev, unsigned char out[HASH_LEN],
                       tg_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc = prep(db,
                  prev ? "SELECT prev_hash FROM records WHERE seq = ?"
                       : "SELECT hash FROM records WHERE seq = ?",
                  &st, err);
    if (rc) return rc;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 0) == HASH_LEN)
        memcpy(out, sqlite3_column_blob(st, 0), HASH_LEN);
    else
        rc = tg_error_set(err, TG_EAUDIT_UNAVAILABLE, "audit log: record %llu has no hash",
                          (unsigned long long)seq);
    sqlite3_finalize(st);
    return rc;
}

/* Inside the group's transaction: drops the longest prefix of the chain older
 * than the cutoff and writes the retention record naming the anchor, the
 * record just before the first one kept, which verify starts from. */
static int do_prune(tg_audit *a, sqlite3_stmt *ins, entry *e, uint64_t *seq,
                    unsigned char prev[HASH_LEN], tg_error *err)
{
    int64_t first = 0, through = 0, dropped = 0;
    int rc = select_int(a->wdb, "SELECT min(seq) FROM records WHERE seq > ?", 0, 0, &first, err);
    if (!rc)
        rc = select_int(a->wdb, "SELECT min(seq) - 1 FROM records WHERE time_ms >= ?", e->cutoff_ms,
                        (int64_t)*seq, &through, err);
    if (rc) return rc;
    unsigned char anchor[HASH_LEN] = {0};
    uint64_t anchor_seq = 0;
    if (first == 0) {
        /* An empty log: the anchor is the start of the chain. */
    } else if (through < first) {
        anchor_seq = (uint64_t)first - 1;
        rc = select_hash(a->wdb, (uint64_t)first, true, anchor, err);
    } else {
        anchor_seq = (uint64_t)through;
        rc = select_hash(a->wdb, anchor_seq, false, anchor, err);
        if (!rc)
            rc = select_int(a->wdb, "SELECT count(*) FROM records WHERE seq <= ?", through, 0,
                            &dropped, err);
        sqlite3_stmt *del = NULL;
        if (!rc) rc = prep(a->wdb, "DELETE FROM records WHERE seq <= ?", &del, err);
        if (!rc) {
            sqlite3_bind_int64(del, 1, through);
            if (sqlite3_step(del) != SQLITE_DONE) rc = fail_db(err, a->wdb, "delete");
        }
        sqlite3_finalize(del);
    }
    if (rc) return rc;

    char anchor_hex[2 * HASH_LEN + 1];
    hex(anchor, HASH_LEN, anchor_hex);
    json_t *body = json_pack("{s:I, s:I, s:I, s:s}", "cutoff_ms", (json_int_t)e->cutoff_ms,
                             "dropped", (json_int_t)dropped, "last_dropped_seq",
                             (json_int_t)anchor_seq, "last_dropped_hash", anchor_hex);
    char *text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(body);
    char *f[NF] = {KIND_RETENTION};
    unsigned char hash[HASH_LEN];
    rc = text ? insert_record(a, ins, *seq + 1, tg_now_ms(), f, text, prev, hash, err)
              : tg_error_set(err, TG_EAUDIT_UNAVAILABLE,
                             "audit log: cannot encode the retention record");
    free(text);
    if (rc) return rc;
    *seq += 1;
    memcpy(prev, hash, HASH_LEN);
    e->seq = *seq;
    e->dropped = (uint64_t)dropped;
    return 0;
}

/* Writes the group in one transaction. On success the tail of the chain
 * moves; on failure nothing changed, in the file or in memory. */
static int write_group(tg_audit *a, entry **group, size_t n, tg_error *err)
{
    sqlite3_stmt *ins = NULL;
    int rc = exec(a->wdb, "BEGIN IMMEDIATE", err);
    if (rc) return rc;
    uint64_t seq = a->last_seq;
    unsigned char prev[HASH_LEN];
    memcpy(prev, a->last_hash, HASH_LEN);
    rc = prep(a->wdb,
              "INSERT INTO records (" RECORD_COLUMNS ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", &ins,
              err);
    for (size_t i = 0; !rc && i < n; i++) {
        entry *e = group[i];
        if (e->type == E_PRUNE) {
            rc = do_prune(a, ins, e, &seq, prev, err);
            continue;
        }
        unsigned char hash[HASH_LEN];
        rc = insert_record(a, ins, seq + 1, e->time_ms, e->f, e->body, prev, hash, err);
        if (rc) break;
        e->seq = ++seq;
        memcpy(prev, hash, HASH_LEN);
    }
    sqlite3_finalize(ins);
    /* In WAL mode sqlite goes on writing to a file renamed or unlinked under
     * it, where no one would find the records: that is not durable, so the
     * group fails until the file is back at its path. */
    int moved = 0;
    if (!rc && (sqlite3_file_control(a->wdb, "main", SQLITE_FCNTL_HAS_MOVED, &moved) != SQLITE_OK ||
                moved))
        rc =
            tg_error_set(err, TG_EAUDIT_UNAVAILABLE, "audit log: %s was moved or removed", a->path);
    if (!rc) rc = exec(a->wdb, "COMMIT", err);
    if (rc) {
        if (!sqlite3_get_autocommit(a->wdb)) exec(a->wdb, "ROLLBACK", NULL);
        return rc;
    }
    a->last_seq = seq;
    memcpy(a->last_hash, prev, HASH_LEN);
    return 0;
}

/* A real write outside the chain, through the same checks as a group: it
 * succeeds only when a group would. */
static int probe(tg_audit *a, tg_error *err)
{
    char sql[96];
    snprintf(sql, sizeof sql, "INSERT OR REPLACE INTO writable (id, at_ms) VALUES (1, %lld)",
             (long long)tg_now_ms());
    int rc = exec(a->wdb, "BEGIN IMMEDIATE", err);
    if (!rc) rc = exec(a->wdb, sql, err);
    int moved = 0;
    if (!rc && (sqlite3_file_control(a->wdb, "main", SQLITE_FCNTL_HAS_MOVED, &moved) != SQLITE_OK ||
                moved))
        rc =
            tg_error_set(err, TG_EAUDIT_UNAVAILABLE, "audit log: %s was moved or removed", a->path);
    if (!rc) rc = exec(a->wdb, "COMMIT", err);
    if (rc && !sqlite3_get_autocommit(a->wdb)) exec(a->wdb, "ROLLBACK", NULL);
    return rc;
}

static void *writer_main(void *arg)
{
    tg_audit *a = arg;
    size_t cap = a->opts.group_max;
    entry **group = tg_xcalloc(cap, sizeof *group);
    bool failing = false;
    pthread_mutex_lock(&a->mu);
    for (;;) {
        while (!a->head && !a->stop) {
            if (atomic_load(&a->healthy)) {
                pthread_cond_wait(&a->work_cv, &a->mu);
                continue;
            }
            /* Failing with nothing queued, nothing would learn that writes
             * work again (a gateway that fails its calls and says unready
             * gets none to try), so the writer tries now and then itself. */
            if (wait_until(&a->work_cv, &a->mu, mono_ns() + PROBE_NS)) continue;
            pthread_mutex_unlock(&a->mu);
            tg_error perr = {0};
            if (load_tail(a, &perr) == 0 && probe(a, &perr) == 0) {
                failing = false;
                atomic_store(&a->healthy, true);
            }
            pthread_mutex_lock(&a->mu);
        }
        if (!a->head) break;
        size_t n = 0;
        while (a->head && n < cap) {
            entry *e = a->head;
            a->head = e->next;
            e->next = NULL;
            e->state = IN_FLIGHT;
            group[n++] = e;
        }
        if (!a->head) a->tail = NULL;
        a->queued -= n;
        pthread_cond_broadcast(&a->space_cv);
        bool stopping = a->stop;
        pthread_mutex_unlock(&a->mu);

        tg_error err = {0};
        /* After a failure the file may have been changed under us (restored
         * from a copy, another process wrote): start from what it holds. */
        int rc = failing ? load_tail(a, &err) : 0;
        int64_t began = mono_ns();
        if (!rc) rc = write_group(a, group, n, &err);
        failing = rc != 0;
        if (!rc) {
            tg_metrics_observe(tg_metrics_get(TG_METRIC_AUDIT_COMMIT), NULL,
                               (double)(mono_ns() - began) / 1e9);
            atomic_fetch_add(&a->commits, 1);
            atomic_store(&a->healthy, true);
            /* The planner's statistics, taken again each time the log has
             * about doubled: cheap (sampled), and a log that grew from empty
             * gets them while it grows, not at the next start. */
            if (a->last_seq >= 2 * a->analyzed_seq + STATS_EVERY) {
                exec(a->wdb, "ANALYZE", NULL);
                a->analyzed_seq = a->last_seq;
            }
        } else {
            atomic_store(&a->healthy, false);
        }

        pthread_mutex_lock(&a->mu);
        if (rc) tg_format(a->last_error, sizeof a->last_error, "%s", err.message);
        /* On failure the group goes back to the head, in order, to be retried;
         * on close there is no retry and it fails. */
        entry *requeue = NULL, *last = NULL;
        for (size_t i = 0; i < n; i++) {
            entry *e = group[i];
            if (e->abandoned) {
                entry_free(e);
            } else if (rc && !stopping) {
                e->state = QUEUED;
                if (last)
                    last->next = e;
                else
                    requeue = e;
                last = e;
                a->queued++;
            } else {
                e->state = DONE;
                e->rc = rc ? TG_EAUDIT_UNAVAILABLE : 0;
                pthread_cond_signal(&e->done_cv);
            }
        }
        if (requeue) {
            last->next = a->head;
            if (!a->head) a->tail = last;
            a->head = requeue;
        }
        if (rc && !stopping) {
            int64_t until = mono_ns() + (int64_t)a->opts.retry_ms * 1000000;
            while (!a->stop && wait_until(&a->work_cv, &a->mu, until))
                ;
        }
    }
    pthread_mutex_unlock(&a->mu);
    free(group);
    return NULL;
}

/* ---- open / close / append ------------------------------------------- */

/* toolgate_audit_queue_depth, read as /metrics renders. */
static void read_queue(void *ctx, tg_metrics_sink *sink)
{
    tg_audit *a = ctx;
    pthread_mutex_lock(&a->mu);
    double depth = (double)a->queued;
    pthread_mutex_unlock(&a->mu);
    tg_metrics_put(sink, NULL, depth);
}

int tg_audit_open(const char *path, const tg_audit_options *opts, tg_audit **out, tg_error *err)
{
    if (!path || !*path || !out) return tg_error_set(err, TG_EINVALID_PARAMS, "audit log: no path");
    *out = NULL;
    tg_audit *a = tg_xcalloc(1, sizeof *a);
    a->path = tg_xstrdup(path);
    if (opts) a->opts = *opts;
    if (!a->opts.queue_max) a->opts.queue_max = DEFAULT_QUEUE_MAX;
    if (!a->opts.group_max) a->opts.group_max = DEFAULT_GROUP_MAX;
    if (a->opts.busy_timeout_ms <= 0) a->opts.busy_timeout_ms = DEFAULT_BUSY_MS;
    if (a->opts.retry_ms <= 0) a->opts.retry_ms = DEFAULT_RETRY_MS;
    int rc = open_conn(path, false, a->opts.busy_timeout_ms, &a->wdb, err);
    if (!rc) rc = load_tail(a, err);
    /* Without statistics sqlite cannot tell a tenant's time range (few rows
     * of an index) from a tenant's newest page (many, in rowid order) and
     * picks badly for one of them; a sampled ANALYZE takes milliseconds even
     * on millions of records. */
    if (!rc) rc = exec(a->wdb, "PRAGMA analysis_limit = 1000; ANALYZE", err);
    a->analyzed_seq = a->last_seq;
    if (rc) {
        sqlite3_close(a->wdb);
        free(a->path);
        free(a);
        return rc;
    }
    pthread_mutex_init(&a->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&a->work_cv, &ca);
    pthread_cond_init(&a->space_cv, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&a->healthy, true);
    atomic_init(&a->commits, 0);
    if (pthread_create(&a->writer, NULL, writer_main, a) != 0) {
        pthread_cond_destroy(&a->work_cv);
        pthread_cond_destroy(&a->space_cv);
        pthread_mutex_destroy(&a->mu);
        sqlite3_close(a->wdb);
        free(a->path);
        free(a);
        return tg_error_set(err, TG_EAUDIT_UNAVAILABLE,
                            "audit log: cannot start the writer thread");
    }
    tg_metrics_reader_add(tg_metrics_get(TG_METRIC_AUDIT_QUEUE), read_queue, a);
    *out = a;
    return 0;
}

void tg_audit_close(tg_audit *a)
{
    if (!a) return;
    tg_metrics_reader_remove(tg_metrics_get(TG_METRIC_AUDIT_QUEUE), read_queue, a);
    pthread_mutex_lock(&a->mu);
    a->stop = true;
    pthread_cond_broadcast(&a->work_cv);
    pthread_mutex_unlock(&a->mu);
    pthread_join(a->writer, NULL);
    sqlite3_close(a->wdb);
    pthread_cond_destroy(&a->work_cv);
    pthread_cond_destroy(&a->space_cv);
    pthread_mutex_destroy(&a->mu);
    free(a->path);
    free(a);
}

bool tg_audit_healthy(tg_audit *a)
{
    return atomic_load(&a->healthy);
}

uint64_t tg_audit_commits(tg_audit *a)
{
    return atomic_load(&a->commits);
}

/* Queues e and waits for its outcome. e is freed here, or by the writer when
 * the deadline passes while it is in flight. */
static int submit(tg_audit *a, entry *e, int64_t deadline_ns, uint64_t *seq_out,
                  uint64_t *dropped_out, tg_error *err)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&e->done_cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_lock(&a->mu);
    while (a->queued >= a->opts.queue_max && !a->stop) {
        if (!wait_until(&a->space_cv, &a->mu, deadline_ns)) {
            pthread_mutex_unlock(&a->mu);
            entry_free(e);
            return tg_error_set(err, TG_EAUDIT_UNAVAILABLE, "audit log: the write queue is full");
        }
    }
    if (a->stop) {
        pthread_mutex_unlock(&a->mu);
        entry_free(e);
        return tg_error_set(err, TG_EAUDIT_UNAVAILABLE, "audit log: closing");
    }
    if (a->tail)
        a->tail->next = e;
    else
        a->head = e;
    a->tail = e;
    a->queued++;
    pthread_cond_signal(&a->work_cv);
    while (e->state != DONE) {
        if (wait_until(&e->done_cv, &a->mu, deadline_ns) || e->state == DONE) continue;
        if (e->state == QUEUED) {
            entry **p = &a->head, *before = NULL;
            while (*p != e) {
                before = *p;
                p = &(*p)->next;
            }
            *p = e->next;
            if (a->tail == e) a->tail = before;
            a->queued--;
            pthread_cond_broadcast(&a->space_cv);
            entry_free(e);
        } else {
            e->abandoned = true;
        }
        /* The writer's last error says why, when writes are failing. */
        bool healthy = atomic_load(&a->healthy);
        int rc = tg_error_set(err, TG_EAUDIT_UNAVAILABLE,
                              "audit log: not written before the deadline%s%s", healthy ? "" : ": ",
                              healthy ? "" : a->last_error);
        pthread_mutex_unlock(&a->mu);
        return rc;
    }
    int rc = e->rc;
    if (rc) {
        tg_error_set(err, rc, "audit log: %s", a->last_error);
    } else {
        if (seq_out) *seq_out = e->seq;
        if (dropped_out) *dropped_out = e->dropped;
    }
    pthread_mutex_unlock(&a->mu);
    entry_free(e);
    return rc;
}

int tg_audit_append(tg_audit *a, const tg_audit_record *rec, int64_t deadline_ns, uint64_t *seq_out,
                    tg_error *err)
{
    if (!a || !rec) return tg_error_set(err, TG_EINVALID_PARAMS, "audit log: no record");
    if (!rec->kind || !one_of(rec->kind, kinds, sizeof kinds / sizeof kinds[0]))
        return tg_error_set(err, TG_EINVALID_PARAMS, "audit record: unknown kind \"%s\"",
                            rec->kind ? rec->kind : "(null)");
    if (rec->trigger_kind &&
        !one_of(rec->trigger_kind, trigger_kinds, sizeof trigger_kinds / sizeof trigger_kinds[0]))
        return tg_error_set(err, TG_EINVALID_PARAMS, "audit record: unknown trigger_kind \"%s\"",
                            rec->trigger_kind);
    if (rec->body && !json_is_object(rec->body))
        return tg_error_set(err, TG_EINVALID_PARAMS, "audit record: body must be an object");
    const char *in[NF] = {rec->kind,         rec->tenant,  rec->principal,
                          rec->trigger_kind, rec->call_id, rec->trace_id,
                          rec->tool,         rec->status,  rec->error_code};
    for (int i = 0; i < NF; i++)
        if (in[i] && strnlen(in[i], MAX_FIELD_BYTES + 1) > MAX_FIELD_BYTES)
            return tg_error_set(err, TG_EINVALID_PARAMS, "audit record: %s is longer than %d bytes",
                                field_names[i], MAX_FIELD_BYTES);
    char *body =
        rec->body ? json_dumps(rec->body, JSON_COMPACT | JSON_SORT_KEYS) : tg_xstrdup("{}");
    if (!body) return tg_error_set(err, TG_EINVALID_PARAMS, "audit record: body cannot be encoded");
    if (strlen(body) > MAX_BODY_BYTES) {
        free(body);
        return tg_error_set(err, TG_EINVALID_PARAMS, "audit record: body is larger than %u bytes",
                            MAX_BODY_BYTES);
    }
    entry *e = tg_xcalloc(1, sizeof *e);
    e->type = E_RECORD;
    e->time_ms = rec->time_ms ? rec->time_ms : tg_now_ms();
    for (int i = 0; i < NF; i++)
        e->f[i] = in[i] ? tg_xstrdup(in[i]) : NULL;
    e->body = body;
    return submit(a, e, deadline_ns, seq_out, NULL, err);
}

int tg_audit_prune(tg_audit *a, int64_t older_than_ms, int64_t deadline_ns, uint64_t *dropped,
                   tg_error *err)
{
    if (!a) return tg_error_set(err, TG_EINVALID_PARAMS, "audit log: no log");
    entry *e = tg_xcalloc(1, sizeof *e);
    e->type = E_PRUNE;
    e->cutoff_ms = older_than_ms;
    return submit(a, e, deadline_ns, NULL, dropped, err);
}

/* ---- reading --------------------------------------------------------- */

/* A record as it was read, for verify. */
typedef struct row {
    uint64_t seq;
    int64_t time_ms;
    const char *f[NF];
    const char *body;
    const unsigned char *prev, *hash; /* NULL when not HASH_LEN bytes */
} row;

/* Reads the columns of RECORD_COLUMNS; pointers are valid until the next step. */
static void read_row(sqlite3_stmt *st, row *r)
{
    r->seq = (uint64_t)sqlite3_column_int64(st, 0);
    r->time_ms = sqlite3_column_int64(st, 1);
    for (int i = 0; i < NF; i++)
        r->f[i] = (const char *)sqlite3_column_text(st, 2 + i);
    r->body = (const char *)sqlite3_column_text(st, 2 + NF);
    r->prev = sqlite3_column_bytes(st, 3 + NF) == HASH_LEN ? sqlite3_column_blob(st, 3 + NF) : NULL;
    r->hash = sqlite3_column_bytes(st, 4 + NF) == HASH_LEN ? sqlite3_column_blob(st, 4 + NF) : NULL;
}

static json_t *row_json(const row *r)
{
    json_t *o = json_object();
    json_object_set_new(o, "seq", json_integer((json_int_t)r->seq));
    json_object_set_new(o, "time_ms", json_integer(r->time_ms));
    for (int i = 0; i < NF; i++)
        json_object_set_new(o, field_names[i], r->f[i] ? json_string(r->f[i]) : json_null());
    json_t *body = r->body ? json_loads(r->body, 0, NULL) : NULL;
    json_object_set_new(o, "body", body ? body : json_null());
    char h[2 * HASH_LEN + 1];
    if (r->prev) hex(r->prev, HASH_LEN, h);
    json_object_set_new(o, "prev_hash", r->prev ? json_string(h) : json_null());
    if (r->hash) hex(r->hash, HASH_LEN, h);
    json_object_set_new(o, "hash", r->hash ? json_string(h) : json_null());
    return o;
}

static int query_path(const char *path, int busy_ms, const tg_audit_filter *f, size_t limit,
                      const char *cursor, json_t **page, char **next_cursor, tg_error *err)
{
    if (!f || (f->tenant && !*f->tenant) || !page || !next_cursor)
        return tg_error_set(err, TG_EINVALID_PARAMS, "audit query: bad arguments");
    *page = NULL;
    *next_cursor = NULL;
    int64_t after = f->oldest_first ? 0 : INT64_MAX;
    if (cursor) {
        char *end = NULL;
        errno = 0;
        long long v = strtoll(cursor, &end, 10);
        if (errno || end == cursor || *end || v <= 0 || cursor[0] < '0' || cursor[0] > '9')
            return tg_error_set(err, TG_EINVALID_PARAMS, "audit query: cursor is not valid");
        after = v;
    }
    if (limit == 0) limit = DEFAULT_PAGE;
    if (limit > MAX_PAGE) limit = MAX_PAGE;

    /* Each optional filter is a fixed clause; absent ones are skipped, so
     * only values are bound and the text never holds user input. Pages come
     * in seq (rowid) order, which an index on (tenant, x) gives for free: the
     * most selective filter present keeps its index and every other column
     * is written +column, which sqlite never looks up by index, so a page
     * reads about as many rows as it returns instead of sorting all of a
     * tenant's records (the planner's statistics cannot be relied on to
     * see that). Time alone uses the (tenant, time_ms) index. */
    const char *lead = f->call_id                   ? "call_id"
                       : f->tool                    ? "tool"
                       : f->principal               ? "principal"
                       : f->error_code              ? "error_code"
                       : f->kind                    ? "kind"
                       : f->since_ms || f->until_ms ? "time_ms"
                                                    : "";
#define CLAUSE(col, op)                                                                            \
    (strcmp(lead, col) == 0 ? " AND " col " " op " ?" : " AND +" col " " op " ?")
    struct {
        const char *clause;
        const char *text;
        int64_t num;
        bool set;
    } conds[] = {
        {" AND tenant = ?", f->tenant, 0, f->tenant != NULL},
        {CLAUSE("kind", "="), f->kind, 0, f->kind != NULL},
        {CLAUSE("time_ms", ">="), NULL, f->since_ms, f->since_ms != 0},
        {CLAUSE("time_ms", "<"), NULL, f->until_ms, f->until_ms != 0},
        {CLAUSE("tool", "="), f->tool, 0, f->tool != NULL},
        {CLAUSE("principal", "="), f->principal, 0, f->principal != NULL},
        {" AND +status = ?", f->status, 0, f->status != NULL},
        {CLAUSE("error_code", "="), f->error_code, 0, f->error_code != NULL},
        {" AND +trigger_kind = ?", f->trigger_kind, 0, f->trigger_kind != NULL},
        {CLAUSE("call_id", "="), f->call_id, 0, f->call_id != NULL},
    };
#undef CLAUSE
    size_t nconds = sizeof conds / sizeof conds[0];
    char sql[1024];
    size_t used = (size_t)snprintf(
        sql, sizeof sql, "SELECT " RECORD_COLUMNS " FROM records%s WHERE %s",
        /* Left to itself, sqlite walks the whole tenant in
         * seq order rather than sort one day of it. */
        f->tenant && strcmp(lead, "time_ms") == 0 ? " INDEXED BY records_tenant_time" : "",
        f->oldest_first ? "seq > ?" : "seq < ?");
    for (size_t i = 0; i < nconds; i++)
        if (conds[i].set)
            used += (size_t)snprintf(sql + used, sizeof sql - used, "%s", conds[i].clause);
    snprintf(sql + used, sizeof sql - used, " ORDER BY seq %s LIMIT ?",
             f->oldest_first ? "ASC" : "DESC");

    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    json_t *arr = json_array();
    int rc = open_conn(path, true, busy_ms, &db, err);
    if (!rc) rc = prep(db, sql, &st, err);
    if (rc) goto out;
    int idx = 1;
    sqlite3_bind_int64(st, idx++, after);
    for (size_t i = 0; i < nconds; i++) {
        if (!conds[i].set) continue;
        if (conds[i].text)
            sqlite3_bind_text(st, idx++, conds[i].text, -1, SQLITE_STATIC);
        else
            sqlite3_bind_int64(st, idx++, conds[i].num);
    }
    /* One row more than the page tells whether another page follows. */
    sqlite3_bind_int64(st, idx, (sqlite3_int64)limit + 1);
    uint64_t last = 0;
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        if (json_array_size(arr) == limit) {
            *next_cursor = tg_xasprintf("%llu", (unsigned long long)last);
            break;
        }
        row r;
        read_row(st, &r);
        json_array_append_new(arr, row_json(&r));
        last = r.seq;
    }
    if (s != SQLITE_ROW && s != SQLITE_DONE) rc = fail_db(err, db, "query");
out:
    sqlite3_finalize(st);
    sqlite3_close(db);
    if (rc) {
        json_decref(arr);
        free(*next_cursor);
        *next_cursor = NULL;
        return rc;
    }
    *page = arr;
    return 0;
}

int tg_audit_query(tg_audit *a, const tg_audit_filter *f, size_t limit, const char *cursor,
                   json_t **page, char **next_cursor, tg_error *err)
{
    if (!a || !f || !f->tenant || !*f->tenant)
        return tg_error_set(err, TG_EINVALID_PARAMS, "audit query: a tenant is required");
    return query_path(a->path, a->opts.busy_timeout_ms, f, limit, cursor, page, next_cursor, err);
}

int tg_audit_query_file(const char *path, const tg_audit_filter *f, size_t limit,
                        const char *cursor, json_t **page, char **next_cursor, tg_error *err)
{
    if (!path) return tg_error_set(err, TG_EINVALID_PARAMS, "audit query: no path");
    return query_path(path, DEFAULT_BUSY_MS, f, limit, cursor, page, next_cursor, err);
}

int tg_audit_usage(tg_audit *a, const char *tenant, int64_t since_ms, int64_t until_ms,
                   tg_audit_usage_group group, json_t **out, tg_error *err)
{
    if (!a || !tenant || !*tenant || !out)
        return tg_error_set(err, TG_EINVALID_PARAMS, "audit usage: a tenant is required");
    *out = NULL;
    /* The key is a column or an expression fixed here, never caller text. */
    const char *key =
        group == TG_AUDIT_BY_DAY ? "strftime('%Y-%m-%d', time_ms / 1000, 'unixepoch')" : "tool";
    char sql[1024];
    snprintf(sql, sizeof sql,
             "SELECT %s AS k, total(status IN ('ok', 'error')), total(status = 'error'),"
             " total(status = 'refused'),"
             /* -1: the host could not measure it, which is no CPU to bill. */
             " total(max(coalesce(json_extract(body, '$.cpu_us'), 0), 0)),"
             " total(json_extract(body, '$.wall_us')),"
             " total(json_extract(body, '$.egress.bytes'))"
             " FROM records WHERE tenant = ? AND kind = 'call.end' AND time_ms >= ? AND time_ms < ?"
             " GROUP BY k ORDER BY k",
             key);
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc = open_conn(a->path, true, a->opts.busy_timeout_ms, &db, err);
    if (!rc) rc = prep(db, sql, &st, err);
    if (rc) goto out;
    sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, since_ms);
    sqlite3_bind_int64(st, 3, until_ms ? until_ms : INT64_MAX);
    json_t *rows = json_array();
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(st, 0);
        json_array_append_new(rows,
                              json_pack("{s:s?, s:I, s:I, s:I, s:f, s:f, s:I}",
                                        group == TG_AUDIT_BY_DAY ? "day" : "worker", k, "calls",
                                        (json_int_t)sqlite3_column_int64(st, 1), "errors",
                                        (json_int_t)sqlite3_column_int64(st, 2), "refused",
                                        (json_int_t)sqlite3_column_int64(st, 3), "cpu_seconds",
                                        sqlite3_column_double(st, 4) / 1e6, "wall_seconds",
                                        sqlite3_column_double(st, 5) / 1e6, "egress_bytes",
                                        (json_int_t)sqlite3_column_double(st, 6)));
    }
    if (s != SQLITE_DONE) {
        rc = fail_db(err, db, "usage");
        json_decref(rows);
    } else {
        *out = rows;
    }
out:
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

/* ---- verify ---------------------------------------------------------- */

void tg_audit_report_clear(tg_audit_report *r)
{
    if (!r) return;
    json_decref(r->open_calls);
    memset(r, 0, sizeof *r);
}

__attribute__((format(printf, 4, 5))) static void problem(tg_audit_report *r, tg_audit_problem p,
                                                          uint64_t seq, const char *fmt, ...)
{
    r->problem = p;
    r->bad_seq = seq;
    va_list ap;
    va_start(ap, fmt);
    tg_vformat(r->message, sizeof r->message, fmt, ap);
    va_end(ap);
}

/* The anchor the chain starts from: the record before the first one kept, as
 * the latest retention record names it; seq 0 and zeros when none does. */
static int read_anchor(sqlite3 *db, uint64_t *seq, unsigned char hash[HASH_LEN], tg_error *err)
{
    *seq = 0;
    memset(hash, 0, HASH_LEN);
    sqlite3_stmt *st = NULL;
    int rc = prep(
        db, "SELECT body FROM records WHERE kind = '" KIND_RETENTION "' ORDER BY seq DESC LIMIT 1",
        &st, err);
    if (rc) return rc;
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        json_t *body = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
        json_t *jseq = json_object_get(body, "last_dropped_seq");
        /* A retention record that names no anchor leaves the start unanchored:
         * the walk then reports the first record as not linked. */
        if (json_is_integer(jseq) && json_integer_value(jseq) >= 0 &&
            unhex(json_string_value(json_object_get(body, "last_dropped_hash")), hash, HASH_LEN))
            *seq = (uint64_t)json_integer_value(jseq);
        else
            memset(hash, 0xff, HASH_LEN);
        json_decref(body);
    } else if (s != SQLITE_DONE) {
        rc = fail_db(err, db, "read the retention record");
    }
    sqlite3_finalize(st);
    return rc;
}

/* Where the record with this hash sits, to tell a moved record from a lost one. */
static uint64_t find_hash(sqlite3 *db, const unsigned char hash[HASH_LEN])
{
    sqlite3_stmt *st = NULL;
    uint64_t seq = 0;
    if (sqlite3_prepare_v2(db, "SELECT seq FROM records WHERE hash = ?", -1, &st, NULL) ==
        SQLITE_OK) {
        sqlite3_bind_blob(st, 1, hash, HASH_LEN, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) seq = (uint64_t)sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return seq;
}

typedef struct open_call {
    json_int_t seq;
    const char *id;
} open_call;

static int by_seq(const void *x, const void *y)
{
    json_int_t a = ((const open_call *)x)->seq, b = ((const open_call *)y)->seq;
    return (a > b) - (a < b);
}

static int verify_db(sqlite3 *db, tg_audit_report *r, tg_error *err)
{
    sqlite3_stmt *st = NULL;
    json_t *open = json_object(); /* call_id -> seq of its call.begin */
    unsigned char expect_prev[HASH_LEN];
    uint64_t expect_seq = 0;
    /* One read transaction: every select below sees the same snapshot. */
    int rc = exec(db, "BEGIN", err);
    if (!rc) rc = read_anchor(db, &expect_seq, expect_prev, err);
    if (!rc) rc = prep(db, "SELECT " RECORD_COLUMNS " FROM records ORDER BY seq", &st, err);
    if (rc) goto out;
    expect_seq++;
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        row w;
        read_row(st, &w);
        if (r->records++ == 0) r->first_seq = w.seq;
        r->last_seq = w.seq;
        /* A column sqlite could not hand over for want of memory is not an
         * edit: the verify fails rather than report one. */
        if (sqlite3_errcode(db) == SQLITE_NOMEM) {
            rc = fail_db(err, db, "read the records");
            goto out;
        }
        if (r->problem == TG_AUDIT_INTACT) {
            unsigned char h[HASH_LEN];
            bool whole = w.prev && w.hash && w.f[F_KIND] && w.body;
            if (whole && record_hash(w.prev, w.time_ms, w.f, w.body, h) != 0) {
                rc = tg_error_set(err, TG_EINTERNAL, "audit verify: out of memory");
                goto out;
            }
            bool intact = whole && memcmp(h, w.hash, HASH_LEN) == 0;
            uint64_t at;
            if (!intact) {
                problem(r, TG_AUDIT_EDITED, w.seq, "record %llu does not match its hash",
                        (unsigned long long)w.seq);
            } else if (w.seq != expect_seq) {
                problem(r, TG_AUDIT_REMOVED, expect_seq, "records %llu to %llu are missing",
                        (unsigned long long)expect_seq, (unsigned long long)w.seq - 1);
            } else if (memcmp(w.prev, expect_prev, HASH_LEN) != 0) {
                if ((at = find_hash(db, w.prev)) != 0)
                    problem(r, TG_AUDIT_REORDERED, w.seq,
                            "record %llu follows record %llu, not the one before it",
                            (unsigned long long)w.seq, (unsigned long long)at);
                else
                    problem(r, TG_AUDIT_REMOVED, w.seq,
                            "the record before %llu is missing or replaced",
                            (unsigned long long)w.seq);
            }
            memcpy(expect_prev, w.hash ? w.hash : expect_prev, HASH_LEN);
            expect_seq = w.seq + 1;
        }
        const char *kind = w.f[F_KIND], *call = w.f[F_CALL];
        if (kind && call && strcmp(kind, "call.begin") == 0 &&
            json_object_set_new(open, call, json_integer((json_int_t)w.seq)) != 0) {
            rc = tg_error_set(err, TG_EINTERNAL, "audit verify: out of memory");
            goto out;
        } else if (kind && call && strcmp(kind, "call.end") == 0) {
            json_object_del(open, call);
        }
    }
    if (s != SQLITE_DONE) rc = fail_db(err, db, "read the records");
out:
    sqlite3_finalize(st);
    if (!sqlite3_get_autocommit(db)) exec(db, "ROLLBACK", NULL);
    if (!rc) {
        /* Open calls in the order they began. */
        size_t n = json_object_size(open), i = 0;
        open_call *calls = tg_xcalloc(n ? n : 1, sizeof *calls);
        const char *key;
        json_t *v;
        json_object_foreach(open, key, v)
        {
            calls[i].seq = json_integer_value(v);
            calls[i++].id = key;
        }
        qsort(calls, n, sizeof *calls, by_seq);
        r->open_calls = json_array();
        int append_failed = 0;
        for (i = 0; i < n; i++)
            append_failed |= json_array_append_new(r->open_calls, json_string(calls[i].id));
        free(calls);
        if (append_failed || !r->open_calls) {
            json_decref(r->open_calls);
            r->open_calls = NULL;
            rc = tg_error_set(err, TG_EINTERNAL, "audit verify: out of memory");
        }
    }
    json_decref(open);
    return rc;
}

int tg_audit_verify_file(const char *path, tg_audit_report *report, tg_error *err)
{
    if (!path || !report) return tg_error_set(err, TG_EINVALID_PARAMS, "audit verify: no file");
    tg_audit_report_clear(report);
    sqlite3 *db = NULL;
    int rc = open_conn(path, true, DEFAULT_BUSY_MS, &db, err);
    if (!rc) rc = verify_db(db, report, err);
    sqlite3_close(db);
    return rc;
}

int tg_audit_verify(tg_audit *a, tg_audit_report *report, tg_error *err)
{
    if (!a) return tg_error_set(err, TG_EINVALID_PARAMS, "audit verify: no log");
    return tg_audit_verify_file(a->path, report, err);
}
