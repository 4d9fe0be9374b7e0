/* The audit log store: a queue of records, one writer thread that commits
 * them in groups through the store (a sqlite file in WAL mode with
 * synchronous=FULL, or a PostgreSQL database), a hash chain over the records
 * in seq order, retention, queries and verification.
 *
 * Concurrency: appenders only touch the queue, under mu. The writer thread
 * alone owns the write connection. A record leaves the queue "in flight" when
 * the writer takes it into a group; its appender learns the outcome when the
 * group's transaction has committed (or failed). A failed group goes back to
 * the head of the queue and is retried, so order is kept; appenders whose
 * deadline passes meanwhile take their records back out and fail closed.
 *
 * One chain, several writers. Other processes may append to the same log:
 * gateway replicas sharing one PostgreSQL database (or, rarely, two
 * processes on one sqlite file). So the tail of the chain is never kept in
 * memory between groups: each group's transaction first takes the chain's
 * write lock (sqlite's BEGIN IMMEDIATE; in PostgreSQL the transaction-scoped
 * advisory lock CHAIN_LOCK, in READ COMMITTED so that the statements after it
 * see every group committed before it was granted), then reads the last seq
 * and hash from the table, then inserts the group after them. The lock is
 * held until commit, so groups from every writer commit in seq order, one
 * after the other, and the chain has no fork and no gap. Seqs are given to
 * records inside that transaction and handed to appenders only once it has
 * committed; a group that fails is numbered afresh from the then tail when it
 * is retried. Readers may therefore rely on seqs only growing in commit
 * order, which the query cursor does.
 *
 * Queries and verification use a read-only connection of their own, opened
 * per call: WAL (sqlite) or MVCC (PostgreSQL) gives it a consistent snapshot
 * while writers commit. */
#include "audit/audit.h"

#include "gateway/core/alloc.h"
#include "gateway/core/metrics.h"
#include "gateway/core/text.h"
#include "gateway/core/clock.h"
#include "gateway/store/store.h"

#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
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
#define VERIFY_BATCH      10000        /* records verify reads in one statement */
#define PROBE_NS          1000000000LL /* between tries of a failing log with nothing queued */
#define KIND_RETENTION    "retention"
#define RECORD_COLUMNS                                                                             \
    "seq, time_ms, kind, tenant, principal, trigger_kind, call_id, "                               \
    "trace_id, tool, status, error_code, body, prev_hash, hash"
/* The PostgreSQL advisory lock key of the chain ("tgaudit1"): one per
 * database, so it must differ from every other component's key. */
#define CHAIN_LOCK "8387779987824538673"

/* The text columns in table order; a record's strings are kept in this order. */
enum { F_KIND, F_TENANT, F_PRINCIPAL, F_TRIGGER, F_CALL, F_TRACE, F_TOOL, F_STATUS, F_ERROR, NF };
static const char *const field_names[NF] = {"kind",         "tenant",  "principal",
                                            "trigger_kind", "call_id", "trace_id",
                                            "tool",         "status",  "error_code"};

static const char *const kinds[] = {"call.begin",   "call.end",     "egress",      "deploy",
                                    "rollback",     "secret.write", "auth.denied", "trigger",
                                    "schedule.run", "state.write",  "hook",        "toolset.write"};
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
    char *where; /* the sqlite path or PostgreSQL URL */
    tg_audit_options opts;
    tg_store *wdb; /* the writer thread's alone after open */

    /* The writer thread's alone: sqlite's planner statistics are taken again
     * when the last seq it committed has about doubled since. */
    uint64_t last_seq;
    uint64_t analyzed_seq;

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

/* How the audit log words a failed store call (a tg_store_fail_fn). */
static int db_fail(void *err, tg_store_failure kind, const char *what, const char *detail)
{
    if (kind == TG_STORE_EXEC || kind == TG_STORE_CONFLICT)
        return tg_error_set(err, TG_EAUDIT_UNAVAILABLE, "audit log: %s", detail);
    if (kind == TG_STORE_NOT_WAL)
        return tg_error_set(err, TG_EAUDIT_UNAVAILABLE, "audit log %s: cannot use WAL mode", what);
    return tg_error_set(err, TG_EAUDIT_UNAVAILABLE, "audit log: %s: %s", what, detail);
}

static bool is_sqlite(const tg_store *db)
{
    return tg_store_backend(db) == TG_STORE_SQLITE;
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

/* ---- the store ------------------------------------------------------- */

/* The schema, one step per version. Step 1 in sqlite is the schema files had
 * before versions were kept (IF NOT EXISTS throughout), so those files open
 * as they are. body is TEXT in both: the hash covers its exact text, which
 * PostgreSQL's jsonb would not keep. */
static const tg_store_migration migrations[] = {
    {
        "CREATE TABLE IF NOT EXISTS records ("
        "  seq INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL, kind TEXT NOT NULL,"
        "  tenant TEXT, principal TEXT, trigger_kind TEXT, call_id TEXT, trace_id TEXT,"
        "  tool TEXT, status TEXT, error_code TEXT, body TEXT NOT NULL,"
        "  prev_hash BLOB NOT NULL, hash BLOB NOT NULL);"
        /* Outside the chain: what the writer rewrites to learn that the file
         * takes writes again after a failure. */
        "CREATE TABLE IF NOT EXISTS writable (id INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL);"
        /* Pages come newest first by seq, the rowid: an index on (tenant, x)
         * holds each x's records in rowid order, so a page of them reads no
         * more rows than it returns. Time ranges have their own. */
        "CREATE INDEX IF NOT EXISTS records_tenant ON records (tenant);"
        "CREATE INDEX IF NOT EXISTS records_tenant_time ON records (tenant, time_ms);"
        "CREATE INDEX IF NOT EXISTS records_tenant_tool ON records (tenant, tool);"
        "CREATE INDEX IF NOT EXISTS records_tenant_principal ON records (tenant, principal);"
        "CREATE INDEX IF NOT EXISTS records_tenant_error ON records (tenant, error_code);"
        "CREATE INDEX IF NOT EXISTS records_tenant_kind ON records (tenant, kind);"
        /* Usage sums a tenant's call.end records over a time range. */
        "CREATE INDEX IF NOT EXISTS records_tenant_kind_time ON records (tenant, kind, time_ms);"
        "CREATE INDEX IF NOT EXISTS records_call ON records (call_id);",

        "CREATE TABLE records ("
        "  seq BIGINT PRIMARY KEY, time_ms BIGINT NOT NULL, kind TEXT NOT NULL,"
        "  tenant TEXT, principal TEXT, trigger_kind TEXT, call_id TEXT, trace_id TEXT,"
        "  tool TEXT, status TEXT, error_code TEXT, body TEXT NOT NULL,"
        "  prev_hash BYTEA NOT NULL, hash BYTEA NOT NULL);"
        "CREATE TABLE writable (id BIGINT PRIMARY KEY, at_ms BIGINT NOT NULL);"
        /* A PostgreSQL index holds no rowid order, so seq ends each one a
         * page is read by: the page is then a walk down the index. */
        "CREATE INDEX records_tenant ON records (tenant, seq);"
        "CREATE INDEX records_tenant_time ON records (tenant, time_ms);"
        "CREATE INDEX records_tenant_tool ON records (tenant, tool, seq);"
        "CREATE INDEX records_tenant_principal ON records (tenant, principal, seq);"
        "CREATE INDEX records_tenant_error ON records (tenant, error_code, seq);"
        "CREATE INDEX records_tenant_kind ON records (tenant, kind, seq);"
        "CREATE INDEX records_tenant_kind_time ON records (tenant, kind, time_ms);"
        "CREATE INDEX records_call ON records (call_id, seq);",
    },
};

/* Opens a connection to the log at where (a path or a URL). The writer's
 * creates the log when missing and brings its schema up to date; a reader's
 * never writes, so it fails on a log that is not there. */
static int open_conn(const char *where, bool readonly, int busy_ms, tg_store **out, tg_error *err)
{
    unsigned flags = readonly ? TG_STORE_READONLY : TG_STORE_CREATE | TG_STORE_DURABLE;
    int rc = tg_store_open(where, "audit", flags, busy_ms, NULL, NULL, out, db_fail, err);
    if (rc || readonly) return rc;
    rc = tg_store_migrate(*out, migrations, sizeof migrations / sizeof migrations[0], db_fail, err);
    if (rc) {
        tg_store_close(*out);
        *out = NULL;
    }
    return rc;
}

/* Reads the tail of the chain: the last seq and its hash, 0 and zeros when
 * the log is empty. */
static int read_tail(tg_store *db, uint64_t *seq, unsigned char hash[HASH_LEN], tg_error *err)
{
    tg_stmt *st = NULL;
    int rc = tg_store_prepare(db, &st, db_fail, err,
                              "SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1", 0);
    if (rc) return rc;
    int s = tg_stmt_step(st, db_fail, err);
    if (s == 1) {
        size_t len = 0;
        const void *h = tg_stmt_blob(st, 1, &len);
        if (len != HASH_LEN) {
            rc = tg_error_set(err, TG_EAUDIT_UNAVAILABLE,
                              "audit log: the last record's hash is malformed");
        } else {
            *seq = (uint64_t)tg_stmt_int64(st, 0);
            memcpy(hash, h, HASH_LEN);
        }
    } else if (s == 0) {
        *seq = 0;
        memset(hash, 0, HASH_LEN);
    } else {
        rc = s;
    }
    tg_stmt_finalize(st);
    return rc;
}

/* ---- the writer ------------------------------------------------------ */

static int insert_record(tg_stmt *ins, uint64_t seq, int64_t time_ms, char *const f[NF],
                         const char *body, const unsigned char prev[HASH_LEN],
                         unsigned char hash[HASH_LEN], tg_error *err)
{
    if (record_hash(prev, time_ms, (const char *const *)f, body, hash))
        return tg_error_set(err, TG_EAUDIT_UNAVAILABLE, "audit log: hashing failed");
    tg_stmt_reset(ins);
    tg_stmt_bind_int64(ins, 1, (int64_t)seq);
    tg_stmt_bind_int64(ins, 2, time_ms);
    for (int i = 0; i < NF; i++)
        tg_stmt_bind_text(ins, 3 + i, f[i]);
    tg_stmt_bind_text(ins, 3 + NF, body);
    tg_stmt_bind_blob(ins, 4 + NF, prev, HASH_LEN);
    tg_stmt_bind_blob(ins, 5 + NF, hash, HASH_LEN);
    return tg_stmt_run(ins, db_fail, err);
}

/* Runs one select that yields one integer (NULL reads as dflt). */
static int select_int(tg_store *db, const char *sql, int64_t arg, int64_t dflt, int64_t *out,
                      tg_error *err)
{
    tg_stmt *st = NULL;
    int rc = tg_store_prepare(db, &st, db_fail, err, sql, 0);
    if (rc) return rc;
    tg_stmt_bind_int64(st, 1, arg);
    int s = tg_stmt_step(st, db_fail, err);
    if (s == 1)
        *out = tg_stmt_is_null(st, 0) ? dflt : tg_stmt_int64(st, 0);
    else
        rc = s < 0 ? s : tg_error_set(err, TG_EAUDIT_UNAVAILABLE, "audit log: %s: no row", sql);
    tg_stmt_finalize(st);
    return rc;
}

/* Copies the hash (or, with prev, the prev_hash) of record seq into out. */
static int select_hash(tg_store *db, uint64_t seq, bool prev, unsigned char out[HASH_LEN],
                       tg_error *err)
{
    tg_stmt *st = NULL;
    int rc = tg_store_prepare(db, &st, db_fail, err,
                              prev ? "SELECT prev_hash FROM records WHERE seq = ?"
                                   : "SELECT hash FROM records WHERE seq = ?",
                              0);
    if (rc) return rc;
    tg_stmt_bind_int64(st, 1, (int64_t)seq);
    int s = tg_stmt_step(st, db_fail, err);
    size_t len = 0;
    const void *h = s == 1 ? tg_stmt_blob(st, 0, &len) : NULL;
    if (h && len == HASH_LEN)
        memcpy(out, h, HASH_LEN);
    else
        rc = s < 0 ? s
                   : tg_error_set(err, TG_EAUDIT_UNAVAILABLE, "audit log: record %llu has no hash",
                                  (unsigned long long)seq);
    tg_stmt_finalize(st);
    return rc;
}

/* Inside the group's transaction: drops the longest prefix of the chain older
 * than the cutoff and writes the retention record naming the anchor, the
 * record just before the first one kept, which verify starts from. */
static int do_prune(tg_store *db, tg_stmt *ins, entry *e, uint64_t *seq,
                    unsigned char prev[HASH_LEN], tg_error *err)
{
    int64_t first = 0, through = 0, dropped = 0;
    int rc = select_int(db, "SELECT min(seq) FROM records WHERE seq > ?", 0, 0, &first, err);
    if (!rc)
        rc = select_int(db, "SELECT min(seq) - 1 FROM records WHERE time_ms >= ?", e->cutoff_ms,
                        (int64_t)*seq, &through, err);
    if (rc) return rc;
    unsigned char anchor[HASH_LEN] = {0};
    uint64_t anchor_seq = 0;
    if (first == 0) {
        /* An empty log: the anchor is the start of the chain. */
    } else if (through < first) {
        anchor_seq = (uint64_t)first - 1;
        rc = select_hash(db, (uint64_t)first, true, anchor, err);
    } else {
        anchor_seq = (uint64_t)through;
        rc = select_hash(db, anchor_seq, false, anchor, err);
        if (!rc)
            rc = select_int(db, "SELECT count(*) FROM records WHERE seq <= ?", through, 0, &dropped,
                            err);
        tg_stmt *del = NULL;
        if (!rc)
            rc = tg_store_prepare(db, &del, db_fail, err, "DELETE FROM records WHERE seq <= ?", 0);
        if (!rc) {
            tg_stmt_bind_int64(del, 1, through);
            rc = tg_stmt_run(del, db_fail, err);
        }
        tg_stmt_finalize(del);
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
    rc = text ? insert_record(ins, *seq + 1, tg_now_ms(), f, text, prev, hash, err)
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

/* Begins a transaction that holds the chain's write lock until it ends (see
 * the top of the file). */
static int begin_chain(tg_store *db, tg_error *err)
{
    int rc = tg_store_begin(db, db_fail, err);
    if (rc || is_sqlite(db)) return rc;
    /* The lock is granted after this transaction began: only READ COMMITTED,
     * which takes a snapshot per statement, shows the tail another writer
     * committed while this one waited. */
    rc = tg_store_exec(db, "SET TRANSACTION ISOLATION LEVEL READ COMMITTED", db_fail, err);
    tg_stmt *st = NULL;
    if (!rc)
        rc = tg_store_prepare(db, &st, db_fail, err, "SELECT pg_advisory_xact_lock(" CHAIN_LOCK ")",
                              0);
    if (!rc) rc = tg_stmt_run(st, db_fail, err);
    tg_stmt_finalize(st);
    if (rc) tg_store_rollback(db);
    return rc;
}

/* Before a commit: in WAL mode sqlite goes on writing to a file renamed or
 * unlinked under it, where no one would find the records, which is not
 * durable, so the transaction fails until the file is back at its path
 * (tg_store_ping checks that). A PostgreSQL commit that succeeds is durable
 * as it is, and a ping there could reconnect, losing the transaction. */
static int still_in_place(tg_store *db, tg_error *err)
{
    return is_sqlite(db) ? tg_store_ping(db, db_fail, err) : 0;
}

/* Writes the group in one transaction after the tail it reads there, and on
 * success leaves a->last_seq at the new tail. On failure nothing changed. */
static int write_group(tg_audit *a, entry **group, size_t n, tg_error *err)
{
    tg_store *db = a->wdb;
    tg_stmt *ins = NULL;
    uint64_t seq = 0;
    unsigned char prev[HASH_LEN];
    int rc = begin_chain(db, err);
    if (rc) return rc;
    rc = read_tail(db, &seq, prev, err);
    if (!rc)
        rc = tg_store_prepare(
            db, &ins, db_fail, err,
            "INSERT INTO records (" RECORD_COLUMNS ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", 0);
    for (size_t i = 0; !rc && i < n; i++) {
        entry *e = group[i];
        if (e->type == E_PRUNE) {
            rc = do_prune(db, ins, e, &seq, prev, err);
            continue;
        }
        unsigned char hash[HASH_LEN];
        rc = insert_record(ins, seq + 1, e->time_ms, e->f, e->body, prev, hash, err);
        if (rc) break;
        e->seq = ++seq;
        memcpy(prev, hash, HASH_LEN);
    }
    tg_stmt_finalize(ins);
    if (!rc) rc = still_in_place(db, err);
    if (!rc) rc = tg_store_commit(db, db_fail, err);
    if (rc) {
        tg_store_rollback(db);
        return rc;
    }
    a->last_seq = seq;
    return 0;
}

/* A real write outside the chain, through the same checks as a group: it
 * succeeds only when a group would. */
static int probe(tg_audit *a, tg_error *err)
{
    tg_store *db = a->wdb;
    tg_stmt *st = NULL;
    int rc = tg_store_begin(db, db_fail, err);
    if (!rc)
        rc = tg_store_prepare(db, &st, db_fail, err,
                              "INSERT INTO writable (id, at_ms) VALUES (1, ?)"
                              " ON CONFLICT (id) DO UPDATE SET at_ms = excluded.at_ms",
                              0);
    if (!rc) {
        tg_stmt_bind_int64(st, 1, tg_now_ms());
        rc = tg_stmt_run(st, db_fail, err);
    }
    tg_stmt_finalize(st);
    if (!rc) rc = still_in_place(db, err);
    if (!rc) rc = tg_store_commit(db, db_fail, err);
    if (rc) tg_store_rollback(db);
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
            if (tg_store_ping(a->wdb, db_fail, &perr) == 0 && probe(a, &perr) == 0) {
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
        /* After a failure the connection may be what failed: a lost
         * PostgreSQL connection is made again here, a sqlite file moved away
         * fails here. The group reads the tail afresh in any case. */
        int rc = failing ? tg_store_ping(a->wdb, db_fail, &err) : 0;
        int64_t began = mono_ns();
        if (!rc) rc = write_group(a, group, n, &err);
        failing = rc != 0;
        if (!rc) {
            tg_metrics_observe(tg_metrics_get(TG_METRIC_AUDIT_COMMIT), NULL,
                               (double)(mono_ns() - began) / 1e9);
            atomic_fetch_add(&a->commits, 1);
            atomic_store(&a->healthy, true);
            /* sqlite's planner statistics, taken again each time the log has
             * about doubled: cheap (sampled), and a log that grew from empty
             * gets them while it grows, not at the next start. PostgreSQL's
             * autovacuum keeps its own. */
            if (is_sqlite(a->wdb) && a->last_seq >= 2 * a->analyzed_seq + STATS_EVERY) {
                tg_store_exec(a->wdb, "ANALYZE", db_fail, NULL);
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
    a->where = tg_xstrdup(path);
    if (opts) a->opts = *opts;
    if (!a->opts.queue_max) a->opts.queue_max = DEFAULT_QUEUE_MAX;
    if (!a->opts.group_max) a->opts.group_max = DEFAULT_GROUP_MAX;
    if (a->opts.busy_timeout_ms <= 0) a->opts.busy_timeout_ms = DEFAULT_BUSY_MS;
    if (a->opts.retry_ms <= 0) a->opts.retry_ms = DEFAULT_RETRY_MS;
    int rc = open_conn(path, false, a->opts.busy_timeout_ms, &a->wdb, err);
    /* A log whose tail cannot be read could not be appended to. */
    unsigned char tail_hash[HASH_LEN];
    if (!rc) rc = read_tail(a->wdb, &a->last_seq, tail_hash, err);
    /* Without statistics sqlite cannot tell a tenant's time range (few rows
     * of an index) from a tenant's newest page (many, in rowid order) and
     * picks badly for one of them; a sampled ANALYZE takes milliseconds even
     * on millions of records. */
    if (!rc && is_sqlite(a->wdb))
        rc = tg_store_exec(a->wdb, "PRAGMA analysis_limit = 1000; ANALYZE", db_fail, err);
    a->analyzed_seq = a->last_seq;
    if (rc) {
        tg_store_close(a->wdb);
        free(a->where);
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
        tg_store_close(a->wdb);
        free(a->where);
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
    tg_store_close(a->wdb);
    pthread_cond_destroy(&a->work_cv);
    pthread_cond_destroy(&a->space_cv);
    pthread_mutex_destroy(&a->mu);
    free(a->where);
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

static const char *column_text(tg_stmt *st, int col)
{
    return tg_stmt_is_null(st, col) ? NULL : tg_stmt_text(st, col);
}

static const unsigned char *column_hash(tg_stmt *st, int col)
{
    size_t len = 0;
    const unsigned char *h = tg_stmt_blob(st, col, &len);
    return len == HASH_LEN ? h : NULL;
}

/* Reads the columns of RECORD_COLUMNS; pointers are valid until the next step. */
static void read_row(tg_stmt *st, row *r)
{
    r->seq = (uint64_t)tg_stmt_int64(st, 0);
    r->time_ms = tg_stmt_int64(st, 1);
    for (int i = 0; i < NF; i++)
        r->f[i] = column_text(st, 2 + i);
    r->body = column_text(st, 2 + NF);
    r->prev = column_hash(st, 3 + NF);
    r->hash = column_hash(st, 4 + NF);
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

static int query_at(const char *where, int busy_ms, const tg_audit_filter *f, size_t limit,
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

    tg_store *db = NULL;
    tg_stmt *st = NULL;
    json_t *arr = json_array();
    int rc = open_conn(where, true, busy_ms, &db, err);
    if (rc) goto out;
    bool lite = is_sqlite(db);

    /* Each optional filter is a fixed clause; absent ones are skipped, so
     * only values are bound and the text never holds user input. Pages come
     * in seq (rowid) order, which a sqlite index on (tenant, x) gives for
     * free: the most selective filter present keeps its index and every
     * other column is written +column, which sqlite never looks up by index,
     * so a page reads about as many rows as it returns instead of sorting all
     * of a tenant's records (the planner's statistics cannot be relied on to
     * see that). Time alone uses the (tenant, time_ms) index. PostgreSQL's
     * indexes end in seq for the same walk, and its planner takes no hints. */
    const char *lead = f->call_id                   ? "call_id"
                       : f->tool                    ? "tool"
                       : f->principal               ? "principal"
                       : f->error_code              ? "error_code"
                       : f->kind                    ? "kind"
                       : f->since_ms || f->until_ms ? "time_ms"
                                                    : "";
    struct {
        const char *col, *op;
        const char *text;
        int64_t num;
        bool set;
    } conds[] = {
        {"tenant", "=", f->tenant, 0, f->tenant != NULL},
        {"kind", "=", f->kind, 0, f->kind != NULL},
        {"time_ms", ">=", NULL, f->since_ms, f->since_ms != 0},
        {"time_ms", "<", NULL, f->until_ms, f->until_ms != 0},
        {"tool", "=", f->tool, 0, f->tool != NULL},
        {"principal", "=", f->principal, 0, f->principal != NULL},
        {"status", "=", f->status, 0, f->status != NULL},
        {"error_code", "=", f->error_code, 0, f->error_code != NULL},
        {"trigger_kind", "=", f->trigger_kind, 0, f->trigger_kind != NULL},
        {"call_id", "=", f->call_id, 0, f->call_id != NULL},
    };
    size_t nconds = sizeof conds / sizeof conds[0];
    char sql[1024];
    size_t used = (size_t)snprintf(
        sql, sizeof sql, "SELECT " RECORD_COLUMNS " FROM records%s WHERE %s",
        /* Left to itself, sqlite walks the whole tenant in
         * seq order rather than sort one day of it. */
        lite && f->tenant && strcmp(lead, "time_ms") == 0 ? " INDEXED BY records_tenant_time" : "",
        f->oldest_first ? "seq > ?" : "seq < ?");
    for (size_t i = 0; i < nconds; i++) {
        if (!conds[i].set) continue;
        bool hint = lite && strcmp(conds[i].col, "tenant") != 0 && strcmp(conds[i].col, lead) != 0;
        used += (size_t)snprintf(sql + used, sizeof sql - used, " AND %s%s %s ?", hint ? "+" : "",
                                 conds[i].col, conds[i].op);
    }
    snprintf(sql + used, sizeof sql - used, " ORDER BY seq %s LIMIT ?",
             f->oldest_first ? "ASC" : "DESC");

    rc = tg_store_prepare(db, &st, db_fail, err, sql, 0);
    if (rc) goto out;
    int idx = 1;
    tg_stmt_bind_int64(st, idx++, after);
    for (size_t i = 0; i < nconds; i++) {
        if (!conds[i].set) continue;
        if (conds[i].text)
            tg_stmt_bind_text(st, idx++, conds[i].text);
        else
            tg_stmt_bind_int64(st, idx++, conds[i].num);
    }
    /* One row more than the page tells whether another page follows. */
    tg_stmt_bind_int64(st, idx, (int64_t)limit + 1);
    uint64_t last = 0;
    int s;
    while ((s = tg_stmt_step(st, db_fail, err)) == 1) {
        if (json_array_size(arr) == limit) {
            *next_cursor = tg_xasprintf("%llu", (unsigned long long)last);
            break;
        }
        row r;
        read_row(st, &r);
        json_array_append_new(arr, row_json(&r));
        last = r.seq;
    }
    if (s < 0) rc = s;
out:
    tg_stmt_finalize(st);
    tg_store_close(db);
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
    return query_at(a->where, a->opts.busy_timeout_ms, f, limit, cursor, page, next_cursor, err);
}

int tg_audit_query_file(const char *path, const tg_audit_filter *f, size_t limit,
                        const char *cursor, json_t **page, char **next_cursor, tg_error *err)
{
    if (!path) return tg_error_set(err, TG_EINVALID_PARAMS, "audit query: no path");
    return query_at(path, DEFAULT_BUSY_MS, f, limit, cursor, page, next_cursor, err);
}

/* What tg_audit_usage sums, per backend: the SQL around the key. */
static const char *const usage_sqlite[] = {
    "SELECT ",
    " AS k, total(status IN ('ok', 'error')), total(status = 'error'),"
    " total(status = 'refused'),"
    /* -1: the host could not measure it, which is no CPU to bill. */
    " total(max(coalesce(json_extract(body, '$.cpu_us'), 0), 0)),"
    " total(json_extract(body, '$.wall_us')),"
    " total(json_extract(body, '$.egress.bytes'))"
    " FROM records WHERE tenant = ? AND kind = 'call.end' AND time_ms >= ? AND time_ms < ?"
    " GROUP BY k ORDER BY k",
};
/* The same sums. A body member that is not a number (absent, a string) adds
 * nothing rather than fail the query. Keys are ordered byte by byte, as
 * sqlite orders them, whatever the database's collation. */
static const char *const usage_postgres[] = {
    "SELECT k, count(*) FILTER (WHERE status IN ('ok', 'error')),"
    " count(*) FILTER (WHERE status = 'error'), count(*) FILTER (WHERE status = 'refused'),"
    " coalesce(sum(greatest(coalesce(cpu, 0), 0)), 0), coalesce(sum(wall), 0),"
    " coalesce(sum(egress), 0) FROM (SELECT (",
    ") COLLATE \"C\" AS k, status,"
    " CASE jsonb_typeof(b -> 'cpu_us') WHEN 'number' THEN (b ->> 'cpu_us')::float8 END AS cpu,"
    " CASE jsonb_typeof(b -> 'wall_us') WHEN 'number' THEN (b ->> 'wall_us')::float8 END AS wall,"
    " CASE jsonb_typeof(b #> '{egress,bytes}') WHEN 'number'"
    " THEN (b #>> '{egress,bytes}')::float8 END AS egress"
    " FROM (SELECT tool, time_ms, status, body::jsonb AS b FROM records"
    " WHERE tenant = ? AND kind = 'call.end' AND time_ms >= ? AND time_ms < ?) r) s"
    " GROUP BY k ORDER BY k",
};

int tg_audit_usage(tg_audit *a, const char *tenant, int64_t since_ms, int64_t until_ms,
                   tg_audit_usage_group group, json_t **out, tg_error *err)
{
    if (!a || !tenant || !*tenant || !out)
        return tg_error_set(err, TG_EINVALID_PARAMS, "audit usage: a tenant is required");
    *out = NULL;
    tg_store *db = NULL;
    tg_stmt *st = NULL;
    int rc = open_conn(a->where, true, a->opts.busy_timeout_ms, &db, err);
    if (rc) goto out;
    bool lite = is_sqlite(db);
    /* The key is a column or an expression fixed here, never caller text. */
    const char *key = group != TG_AUDIT_BY_DAY ? "tool"
                      : lite                   ? "strftime('%Y-%m-%d', time_ms / 1000, 'unixepoch')"
                             : "to_char(to_timestamp(time_ms / 1000.0) AT TIME ZONE 'UTC', "
                               "'YYYY-MM-DD')";
    const char *const *around = lite ? usage_sqlite : usage_postgres;
    char sql[2048];
    snprintf(sql, sizeof sql, "%s%s%s", around[0], key, around[1]);
    rc = tg_store_prepare(db, &st, db_fail, err, sql, 0);
    if (rc) goto out;
    tg_stmt_bind_text(st, 1, tenant);
    tg_stmt_bind_int64(st, 2, since_ms);
    tg_stmt_bind_int64(st, 3, until_ms ? until_ms : INT64_MAX);
    json_t *rows = json_array();
    int s;
    while ((s = tg_stmt_step(st, db_fail, err)) == 1) {
        json_array_append_new(
            rows,
            json_pack("{s:s?, s:I, s:I, s:I, s:f, s:f, s:I}",
                      group == TG_AUDIT_BY_DAY ? "day" : "worker", column_text(st, 0), "calls",
                      (json_int_t)tg_stmt_int64(st, 1), "errors", (json_int_t)tg_stmt_int64(st, 2),
                      "refused", (json_int_t)tg_stmt_int64(st, 3), "cpu_seconds",
                      tg_stmt_double(st, 4) / 1e6, "wall_seconds", tg_stmt_double(st, 5) / 1e6,
                      "egress_bytes", (json_int_t)tg_stmt_double(st, 6)));
    }
    if (s < 0) {
        rc = s;
        json_decref(rows);
    } else {
        *out = rows;
    }
out:
    tg_stmt_finalize(st);
    tg_store_close(db);
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
static int read_anchor(tg_store *db, uint64_t *seq, unsigned char hash[HASH_LEN], tg_error *err)
{
    *seq = 0;
    memset(hash, 0, HASH_LEN);
    tg_stmt *st = NULL;
    int rc = tg_store_prepare(
        db, &st, db_fail, err,
        "SELECT body FROM records WHERE kind = '" KIND_RETENTION "' ORDER BY seq DESC LIMIT 1", 0);
    if (rc) return rc;
    int s = tg_stmt_step(st, db_fail, err);
    if (s == 1) {
        json_t *body = json_loads(tg_stmt_text(st, 0), 0, NULL);
        json_t *jseq = json_object_get(body, "last_dropped_seq");
        /* A retention record that names no anchor leaves the start unanchored:
         * the walk then reports the first record as not linked. */
        if (json_is_integer(jseq) && json_integer_value(jseq) >= 0 &&
            unhex(json_string_value(json_object_get(body, "last_dropped_hash")), hash, HASH_LEN))
            *seq = (uint64_t)json_integer_value(jseq);
        else
            memset(hash, 0xff, HASH_LEN);
        json_decref(body);
    } else if (s < 0) {
        rc = s;
    }
    tg_stmt_finalize(st);
    return rc;
}

/* Where the record with this hash sits, to tell a moved record from a lost
 * one; 0 when none does or the lookup failed (the removal is reported). */
static uint64_t find_hash(tg_store *db, const unsigned char hash[HASH_LEN])
{
    tg_stmt *st = NULL;
    uint64_t seq = 0;
    if (tg_store_prepare(db, &st, db_fail, NULL, "SELECT seq FROM records WHERE hash = ?", 0) ==
        0) {
        tg_stmt_bind_blob(st, 1, hash, HASH_LEN);
        if (tg_stmt_step(st, db_fail, NULL) == 1) seq = (uint64_t)tg_stmt_int64(st, 0);
    }
    tg_stmt_finalize(st);
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

/* Checks one record against the chain so far (expect_seq, expect_prev) and
 * moves the chain on, until the first problem. */
static void check_link(tg_store *db, const row *w, tg_audit_report *r, uint64_t *expect_seq,
                       unsigned char expect_prev[HASH_LEN], bool *oom)
{
    unsigned char h[HASH_LEN];
    bool whole = w->prev && w->hash && w->f[F_KIND] && w->body;
    if (whole && record_hash(w->prev, w->time_ms, w->f, w->body, h) != 0) {
        *oom = true;
        return;
    }
    bool intact = whole && memcmp(h, w->hash, HASH_LEN) == 0;
    uint64_t at;
    if (!intact) {
        problem(r, TG_AUDIT_EDITED, w->seq, "record %llu does not match its hash",
                (unsigned long long)w->seq);
    } else if (w->seq != *expect_seq) {
        problem(r, TG_AUDIT_REMOVED, *expect_seq, "records %llu to %llu are missing",
                (unsigned long long)*expect_seq, (unsigned long long)w->seq - 1);
    } else if (memcmp(w->prev, expect_prev, HASH_LEN) != 0) {
        if ((at = find_hash(db, w->prev)) != 0)
            problem(r, TG_AUDIT_REORDERED, w->seq,
                    "record %llu follows record %llu, not the one before it",
                    (unsigned long long)w->seq, (unsigned long long)at);
        else
            problem(r, TG_AUDIT_REMOVED, w->seq, "the record before %llu is missing or replaced",
                    (unsigned long long)w->seq);
    }
    memcpy(expect_prev, w->hash ? w->hash : expect_prev, HASH_LEN);
    *expect_seq = w->seq + 1;
}

static int verify_db(tg_store *db, tg_audit_report *r, tg_error *err)
{
    tg_stmt *st = NULL;
    json_t *open = json_object(); /* call_id -> seq of its call.begin */
    unsigned char expect_prev[HASH_LEN];
    uint64_t expect_seq = 0;
    /* One read transaction: every select below sees the same snapshot, which
     * PostgreSQL's default (READ COMMITTED) would take per statement. Not
     * tg_store_begin: sqlite's BEGIN IMMEDIATE would take the write lock. */
    int rc = tg_store_exec(
        db, is_sqlite(db) ? "BEGIN" : "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", db_fail,
        err);
    if (!rc) rc = read_anchor(db, &expect_seq, expect_prev, err);
    /* In batches, so that no backend holds the whole log in memory at once
     * (libpq hands a result over whole). */
    if (!rc)
        rc = tg_store_prepare(
            db, &st, db_fail, err,
            "SELECT " RECORD_COLUMNS " FROM records WHERE seq >= ? ORDER BY seq LIMIT ?", 0);
    if (rc) goto out;
    expect_seq++;
    /* Every row, whatever seq an edit gave it. */
    int64_t from = INT64_MIN, last = INT64_MIN;
    for (bool more = true; more;) {
        tg_stmt_reset(st);
        tg_stmt_bind_int64(st, 1, from);
        tg_stmt_bind_int64(st, 2, VERIFY_BATCH);
        int64_t rows = 0;
        int s;
        while ((s = tg_stmt_step(st, db_fail, err)) == 1) {
            /* A record that fails its hash was edited, not misread: a step
             * hands over its values whole (sqlite copies each text with its
             * terminator there, and reports a failure to), and a column read
             * allocates only to convert a type, which no record written here
             * needs. */
            row w;
            read_row(st, &w);
            rows++;
            last = (int64_t)w.seq;
            if (r->records++ == 0) r->first_seq = w.seq;
            r->last_seq = w.seq;
            bool oom = false;
            if (r->problem == TG_AUDIT_INTACT)
                check_link(db, &w, r, &expect_seq, expect_prev, &oom);
            const char *kind = w.f[F_KIND], *call = w.f[F_CALL];
            if (!oom && kind && call && strcmp(kind, "call.begin") == 0)
                oom = json_object_set_new(open, call, json_integer((json_int_t)w.seq)) != 0;
            else if (kind && call && strcmp(kind, "call.end") == 0)
                json_object_del(open, call);
            if (oom) {
                rc = tg_error_set(err, TG_EINTERNAL, "audit verify: out of memory");
                goto out;
            }
        }
        if (s < 0) {
            rc = s;
            goto out;
        }
        more = rows == VERIFY_BATCH && last < INT64_MAX;
        if (more) from = last + 1;
    }
out:
    tg_stmt_finalize(st);
    tg_store_rollback(db);
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
    tg_store *db = NULL;
    int rc = open_conn(path, true, DEFAULT_BUSY_MS, &db, err);
    if (!rc) rc = verify_db(db, report, err);
    tg_store_close(db);
    return rc;
}

int tg_audit_verify(tg_audit *a, tg_audit_report *report, tg_error *err)
{
    if (!a) return tg_error_set(err, TG_EINVALID_PARAMS, "audit verify: no log");
    return tg_audit_verify_file(a->where, report, err);
}
