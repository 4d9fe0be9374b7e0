/* The runs store; see runs.h.
 *
 * One connection under one mutex: an insert is a few row writes with no
 * fsync (sqlite: synchronous=NORMAL in WAL mode), tens of microseconds, so
 * call threads taking turns cost nothing a caller would notice, and reads of
 * a page or a run are index lookups of the same size. In PostgreSQL several
 * gateways may share the tables: every write below is either one statement
 * or keyed so that a concurrent replica's write cannot make it wrong.
 *
 * Order is the order runs were recorded: seq, an AUTOINCREMENT (sqlite) or
 * identity (PostgreSQL) key, never reused, so a cursor (the seq of the last
 * run shown) stays valid and exact whatever is recorded meanwhile. Results
 * and logs live in run_results, one row per kept run; pruning deletes the
 * rows of a (tenant, worker)'s runs older than its keep_results newest,
 * through the index, so an insert costs the same however long the history. */
#include "gateway/runs/runs.h"

#include "gateway/core/alloc.h"
#include "gateway/core/clock.h"
#include "gateway/store/store.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_KEEP    20
#define DEFAULT_LIMIT   50
#define MAX_LIMIT       1000
#define BUSY_TIMEOUT_MS 5000
/* A claimed key whose call has not answered after this long never will: a
 * call runs at most 15 minutes (limits.timeout_ms), queueing included with a
 * wide margin. */
#define ABANDONED_MS (3600 * 1000LL)
/* Claims that lose a race with a release start over at most this often. */
#define CLAIM_TRIES 5

struct tg_runs {
    pthread_mutex_t mu; /* guards db */
    tg_store *db;
    unsigned keep;
};

/* History, not the record: no fsync per run (see runs.h). */
static const char *const sqlite_setup[] = {"PRAGMA synchronous = NORMAL", NULL};

static const tg_store_migration migrations[] = {
    {
        /* What every file had before versions were kept, so it is a no-op on
         * those (add_schedule_columns brings the oldest up to date). */
        .sqlite =
            "CREATE TABLE IF NOT EXISTS runs ("
            " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
            " call_id TEXT NOT NULL, tenant TEXT NOT NULL, worker TEXT NOT NULL,"
            " version TEXT NOT NULL, trigger_kind TEXT NOT NULL, principal TEXT NOT NULL,"
            " started_ms INTEGER NOT NULL, duration_ms INTEGER NOT NULL,"
            " status TEXT NOT NULL, error_code TEXT, output_bytes INTEGER NOT NULL,"
            " scheduled_ms INTEGER, attempt INTEGER);" /* a scheduled run's slot and try */
            "CREATE UNIQUE INDEX IF NOT EXISTS runs_call ON runs (call_id);"
            "CREATE INDEX IF NOT EXISTS runs_tenant ON runs (tenant, seq);"
            "CREATE INDEX IF NOT EXISTS runs_worker ON runs (tenant, worker, seq);"
            "CREATE TABLE IF NOT EXISTS run_results ("
            " seq INTEGER PRIMARY KEY, tenant TEXT NOT NULL, worker TEXT NOT NULL,"
            " result TEXT," /* NULL when too large to keep */
            " logs TEXT NOT NULL);"
            "CREATE INDEX IF NOT EXISTS run_results_worker ON run_results (tenant, worker, seq);"
            "CREATE TABLE IF NOT EXISTS idempotency ("
            " tenant TEXT NOT NULL, worker TEXT NOT NULL, key TEXT NOT NULL,"
            " body_sha256 TEXT NOT NULL, created_ms INTEGER NOT NULL,"
            " answer TEXT," /* NULL while the key's call runs */
            " PRIMARY KEY (tenant, worker, key)) WITHOUT ROWID;"
            "CREATE INDEX IF NOT EXISTS idempotency_age ON idempotency (created_ms);",
        .postgres = "CREATE TABLE runs ("
                    " seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
                    " call_id TEXT NOT NULL, tenant TEXT NOT NULL, worker TEXT NOT NULL,"
                    " version TEXT NOT NULL, trigger_kind TEXT NOT NULL, principal TEXT NOT NULL,"
                    " started_ms BIGINT NOT NULL, duration_ms BIGINT NOT NULL,"
                    " status TEXT NOT NULL, error_code TEXT, output_bytes BIGINT NOT NULL,"
                    " scheduled_ms BIGINT, attempt BIGINT);"
                    "CREATE UNIQUE INDEX runs_call ON runs (call_id);"
                    "CREATE INDEX runs_tenant ON runs (tenant, seq);"
                    "CREATE INDEX runs_worker ON runs (tenant, worker, seq);"
                    "CREATE TABLE run_results ("
                    " seq BIGINT PRIMARY KEY, tenant TEXT NOT NULL, worker TEXT NOT NULL,"
                    " result TEXT, logs TEXT NOT NULL);"
                    "CREATE INDEX run_results_worker ON run_results (tenant, worker, seq);"
                    "CREATE TABLE idempotency ("
                    " tenant TEXT NOT NULL, worker TEXT NOT NULL, key TEXT NOT NULL,"
                    " body_sha256 TEXT NOT NULL, created_ms BIGINT NOT NULL, answer TEXT,"
                    " PRIMARY KEY (tenant, worker, key));"
                    "CREATE INDEX idempotency_age ON idempotency (created_ms);",
    },
};

static int db_fail(void *err, tg_store_failure kind, const char *what, const char *detail)
{
    if (kind == TG_STORE_NOT_WAL)
        return tg_error_set(err, TG_EUNAVAILABLE, "runs store %s: cannot use WAL mode", what);
    return tg_error_set(err, TG_EUNAVAILABLE, "runs store: %s: %s", what, detail);
}

void tg_runs_format_time(int64_t ms, char *buf, size_t size)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char whole[32];
    strftime(whole, sizeof whole, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, size, "%s.%03dZ", whole, (int)(ms % 1000));
}

/* A sqlite history written before scheduled runs were recorded lacks their
 * columns (PostgreSQL tables were made with them). */
static int add_schedule_columns(tg_store *db, tg_error *err)
{
    tg_stmt *st = NULL;
    int rc = tg_store_prepare(db, &st, db_fail, err,
                              "SELECT count(*) FROM pragma_table_info('runs')"
                              " WHERE name = 'scheduled_ms'",
                              0);
    int row = rc ? rc : tg_stmt_step(st, db_fail, err);
    bool present = row == 1 && tg_stmt_int64(st, 0) > 0;
    tg_stmt_finalize(st);
    if (row < 0) return row;
    if (present) return 0;
    return tg_store_exec(db,
                         "ALTER TABLE runs ADD COLUMN scheduled_ms INTEGER;"
                         "ALTER TABLE runs ADD COLUMN attempt INTEGER",
                         db_fail, err);
}

/* Releases the keys of calls that will never answer. A sqlite file belongs to
 * one gateway, so at its start every unanswered key was its last process's.
 * A PostgreSQL database is shared with replicas whose calls are still
 * running: only keys claimed longer ago than any call can run are released
 * (claims release such keys too, see claim_locked). */
static int release_abandoned(tg_store *db, tg_error *err)
{
    if (tg_store_backend(db) == TG_STORE_SQLITE)
        return tg_store_exec(db, "DELETE FROM idempotency WHERE answer IS NULL", db_fail, err);
    tg_stmt *st = NULL;
    int rc =
        tg_store_prepare(db, &st, db_fail, err,
                         "DELETE FROM idempotency WHERE answer IS NULL AND created_ms < ?1", 0);
    if (!rc) {
        tg_stmt_bind_int64(st, 1, tg_now_ms() - ABANDONED_MS);
        rc = tg_stmt_run(st, db_fail, err);
    }
    tg_stmt_finalize(st);
    return rc;
}

int tg_runs_open(const char *path, const tg_runs_config *config, tg_runs **out, tg_error *err)
{
    *out = NULL;
    tg_store *db = NULL;
    int rc = tg_store_open(path, "runs", TG_STORE_CREATE | TG_STORE_DURABLE, BUSY_TIMEOUT_MS,
                           sqlite_setup, NULL, &db, db_fail, err);
    if (rc) return rc;
    rc = tg_store_migrate(db, migrations, sizeof migrations / sizeof *migrations, db_fail, err);
    if (!rc && tg_store_backend(db) == TG_STORE_SQLITE) rc = add_schedule_columns(db, err);
    if (!rc) rc = release_abandoned(db, err);
    if (rc) {
        tg_store_close(db);
        return rc;
    }
    tg_runs *r = tg_xcalloc(1, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    r->db = db;
    r->keep = config && config->keep_results ? config->keep_results : DEFAULT_KEEP;
    *out = r;
    return 0;
}

void tg_runs_close(tg_runs *r)
{
    if (!r) return;
    tg_store_close(r->db);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

/* The log part of a run: its stderr tail and events, within
 * TG_RUNS_MAX_LOG_BYTES (the stderr tail's own last bytes first, then as
 * many events as fit). Returns: a new string. */
static char *logs_text(const tg_run_summary *run)
{
    const char *tail = run->stderr_tail ? run->stderr_tail : "";
    size_t tail_len = strlen(tail);
    if (tail_len > TG_RUNS_MAX_LOG_BYTES / 2) {
        tail += tail_len - TG_RUNS_MAX_LOG_BYTES / 2;
        /* Start on a character, not inside one. */
        while ((*tail & 0xC0) == 0x80)
            tail++;
        tail_len = strlen(tail);
    }
    json_t *events = json_array();
    size_t used = tail_len;
    unsigned dropped = run->logs_dropped;
    size_t i;
    json_t *e;
    json_array_foreach(run->logs, i, e)
    {
        char *text = json_dumps(e, JSON_COMPACT);
        size_t n = text ? strlen(text) : 0;
        free(text);
        if (used + n > TG_RUNS_MAX_LOG_BYTES) {
            dropped++;
            continue;
        }
        used += n;
        json_array_append(events, e);
    }
    json_t *doc = json_pack("{s:s%, s:o, s:i}", "stderr", tail, tail_len, "events", events,
                            "events_dropped", (int)dropped);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    /* A stderr tail that is not UTF-8 cannot be a JSON string: keep the events. */
    if (!text)
        text = tg_xasprintf("{\"stderr\":\"\",\"events\":[],\"events_dropped\":%u}", dropped);
    return text;
}

static int insert_locked(tg_runs *r, const tg_run_summary *run, tg_error *err)
{
    tg_store *db = r->db;
    tg_stmt *st = NULL;
    int rc = tg_store_prepare(
        db, &st, db_fail, err,
        "INSERT INTO runs (call_id, tenant, worker, version, trigger_kind, principal, status,"
        " error_code, started_ms, duration_ms, output_bytes, scheduled_ms, attempt)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?) RETURNING seq",
        8, run->call_id, run->tenant, run->worker, run->version ? run->version : "",
        run->trigger_kind ? run->trigger_kind : "", run->principal ? run->principal : "",
        run->status, run->error_code);
    int64_t seq = 0;
    if (!rc) {
        tg_stmt_bind_int64(st, 9, run->started_ms);
        tg_stmt_bind_int64(st, 10, run->duration_ms);
        tg_stmt_bind_int64(st, 11, run->output_bytes);
        if (run->attempt) {
            tg_stmt_bind_int64(st, 12, run->scheduled_ms);
            tg_stmt_bind_int64(st, 13, run->attempt);
        } else {
            tg_stmt_bind_null(st, 12);
            tg_stmt_bind_null(st, 13);
        }
        int row = tg_stmt_step(st, db_fail, err);
        if (row == 1) seq = tg_stmt_int64(st, 0);
        if (row == 0) rc = tg_error_set(err, TG_EUNAVAILABLE, "runs store: no seq for the run");
        if (row < 0) rc = row;
    }
    tg_stmt_finalize(st);
    if (rc) return rc;

    char *result = run->result ? json_dumps(run->result, JSON_COMPACT) : NULL;
    if (result && strlen(result) > TG_RUNS_MAX_RESULT_BYTES) {
        free(result);
        result = NULL;
    }
    char *logs = logs_text(run);
    rc = tg_store_prepare(db, &st, db_fail, err,
                          "INSERT INTO run_results (tenant, worker, result, logs, seq)"
                          " VALUES (?,?,?,?,?)",
                          4, run->tenant, run->worker, result, logs);
    if (!rc) {
        tg_stmt_bind_int64(st, 5, seq);
        rc = tg_stmt_run(st, db_fail, err);
    }
    tg_stmt_finalize(st);
    free(result);
    free(logs);
    if (rc) return rc;

    /* The oldest run still kept, then everything kept before it goes. A
     * replica pruning the same (tenant, worker) at once deletes a subset or
     * superset of the same rows: either way the newest keep_results stay. */
    rc = tg_store_prepare(db, &st, db_fail, err,
                          "SELECT seq FROM run_results WHERE tenant = ? AND worker = ?"
                          " ORDER BY seq DESC LIMIT 1 OFFSET ?",
                          2, run->tenant, run->worker);
    int64_t oldest = 0;
    if (!rc) {
        tg_stmt_bind_int64(st, 3, (int64_t)r->keep - 1);
        int row = tg_stmt_step(st, db_fail, err);
        if (row < 0) rc = row;
        if (row == 1) oldest = tg_stmt_int64(st, 0);
    }
    tg_stmt_finalize(st);
    if (rc || !oldest) return rc;
    rc = tg_store_prepare(db, &st, db_fail, err,
                          "DELETE FROM run_results WHERE tenant = ? AND worker = ? AND seq < ?", 2,
                          run->tenant, run->worker);
    if (!rc) {
        tg_stmt_bind_int64(st, 3, oldest);
        rc = tg_stmt_run(st, db_fail, err);
    }
    tg_stmt_finalize(st);
    return rc;
}

int tg_runs_insert(tg_runs *r, const tg_run_summary *run, tg_error *err)
{
    if (!run->call_id || !run->tenant || !run->worker || !run->status)
        return tg_error_set(err, TG_EINVALID_PARAMS,
                            "a run needs a call id, tenant, worker and status");
    pthread_mutex_lock(&r->mu);
    int rc = tg_store_begin(r->db, db_fail, err);
    if (!rc) {
        rc = insert_locked(r, run, err);
        if (!rc) rc = tg_store_commit(r->db, db_fail, err);
        if (rc) tg_store_rollback(r->db);
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

#define SUMMARY_COLUMNS                                                                            \
    "r.seq, r.call_id, r.worker, r.version, r.trigger_kind, r.principal, r.started_ms,"            \
    " r.duration_ms, r.status, r.error_code, r.output_bytes, k.seq IS NOT NULL,"                   \
    " r.scheduled_ms, r.attempt"

/* The summary of the row st is on (SUMMARY_COLUMNS). Returns: new reference. */
static json_t *summary(tg_stmt *st)
{
    char when[40];
    int64_t started = tg_stmt_int64(st, 6);
    tg_runs_format_time(started, when, sizeof when);
    json_t *run = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:I, s:b}", "call_id",
                            tg_stmt_text(st, 1), "worker", tg_stmt_text(st, 2), "version",
                            tg_stmt_text(st, 3), "trigger", tg_stmt_text(st, 4), "principal",
                            tg_stmt_text(st, 5), "started_at", when, "started_ms",
                            (json_int_t)started, "duration_ms", (json_int_t)tg_stmt_int64(st, 7),
                            "status", tg_stmt_text(st, 8), "output_bytes",
                            (json_int_t)tg_stmt_int64(st, 10), "kept", tg_stmt_int64(st, 11) != 0);
    json_object_set_new(run, "error_code",
                        tg_stmt_is_null(st, 9) ? json_null() : json_string(tg_stmt_text(st, 9)));
    if (!tg_stmt_is_null(st, 13)) {
        int64_t slot = tg_stmt_int64(st, 12);
        tg_runs_format_time(slot, when, sizeof when);
        json_object_set_new(run, "scheduled_at", json_string(when));
        json_object_set_new(run, "scheduled_ms", json_integer((json_int_t)slot));
        json_object_set_new(run, "attempt", json_integer((json_int_t)tg_stmt_int64(st, 13)));
    }
    return run;
}

static bool parse_cursor(const char *cursor, int64_t *seq)
{
    if (!cursor) {
        *seq = INT64_MAX;
        return true;
    }
    char *end = NULL;
    errno = 0;
    long long v = strtoll(cursor, &end, 10);
    if (errno || end == cursor || *end || v < 1 || cursor[0] == '+' || cursor[0] == ' ')
        return false;
    *seq = v;
    return true;
}

int tg_runs_list(tg_runs *r, const tg_runs_filter *f, size_t limit, const char *cursor,
                 json_t **page, char **next, tg_error *err)
{
    *page = NULL;
    *next = NULL;
    int64_t before;
    if (!parse_cursor(cursor, &before))
        return tg_error_set(err, TG_EINVALID_PARAMS, "the cursor is not one this API gave");
    if (!limit) limit = DEFAULT_LIMIT;
    if (limit > MAX_LIMIT) limit = MAX_LIMIT;
    /* Unused filters bind NULL and match everything. */
    const char *sql = "SELECT " SUMMARY_COLUMNS " FROM runs r LEFT JOIN run_results k USING (seq)"
                      " WHERE r.tenant = ?1 AND (?2 IS NULL OR r.worker = ?2)"
                      " AND (?3 IS NULL OR r.trigger_kind = ?3) AND (?4 IS NULL OR r.status = ?4)"
                      " AND r.seq < ?5 ORDER BY r.seq DESC LIMIT ?6";
    pthread_mutex_lock(&r->mu);
    tg_stmt *st = NULL;
    int rc = tg_store_prepare(r->db, &st, db_fail, err, sql, 4, f->tenant, f->worker,
                              f->trigger_kind, f->status);
    if (!rc) {
        tg_stmt_bind_int64(st, 5, before);
        tg_stmt_bind_int64(st, 6, (int64_t)limit + 1);
    }
    json_t *runs = json_array();
    int64_t last = 0;
    bool more = false;
    while (!rc) {
        int row = tg_stmt_step(st, db_fail, err);
        if (row <= 0) {
            rc = row;
            break;
        }
        if (json_array_size(runs) == limit) {
            more = true;
            break;
        }
        last = tg_stmt_int64(st, 0);
        json_array_append_new(runs, summary(st));
    }
    tg_stmt_finalize(st);
    pthread_mutex_unlock(&r->mu);
    if (rc) {
        json_decref(runs);
        return rc;
    }
    *page = runs;
    if (more) *next = tg_xasprintf("%lld", (long long)last);
    return 0;
}

int tg_runs_get(tg_runs *r, const char *tenant, const char *call_id, json_t **out, tg_error *err)
{
    *out = NULL;
    pthread_mutex_lock(&r->mu);
    tg_stmt *st = NULL;
    int rc = tg_store_prepare(r->db, &st, db_fail, err,
                              "SELECT " SUMMARY_COLUMNS ", k.result FROM runs r"
                              " LEFT JOIN run_results k USING (seq)"
                              " WHERE r.call_id = ? AND r.tenant = ?",
                              2, call_id, tenant);
    int row = rc ? rc : tg_stmt_step(st, db_fail, err);
    if (row == 1) {
        json_t *run = summary(st);
        if (!tg_stmt_is_null(st, 14)) {
            json_t *result = json_loads(tg_stmt_text(st, 14), 0, NULL);
            if (result) json_object_set_new(run, "result", result);
        }
        *out = run;
        rc = 0;
    } else if (row == 0) {
        rc = tg_error_set(err, TG_ENOT_FOUND, "no run %s", call_id);
    } else {
        rc = row;
    }
    tg_stmt_finalize(st);
    pthread_mutex_unlock(&r->mu);
    return rc;
}

int tg_runs_logs(tg_runs *r, const char *tenant, const char *call_id, json_t **out, tg_error *err)
{
    *out = NULL;
    pthread_mutex_lock(&r->mu);
    tg_stmt *st = NULL;
    int rc = tg_store_prepare(r->db, &st, db_fail, err,
                              "SELECT k.logs FROM runs r JOIN run_results k USING (seq)"
                              " WHERE r.call_id = ? AND r.tenant = ?",
                              2, call_id, tenant);
    int row = rc ? rc : tg_stmt_step(st, db_fail, err);
    if (row == 1) {
        json_t *logs = json_loads(tg_stmt_text(st, 0), 0, NULL);
        if (!logs) logs = json_object();
        json_object_set_new(logs, "call_id", json_string(call_id));
        *out = logs;
        rc = 0;
    } else if (row == 0) {
        rc = tg_error_set(err, TG_ENOT_FOUND, "no logs kept for run %s", call_id);
    } else {
        rc = row;
    }
    tg_stmt_finalize(st);
    pthread_mutex_unlock(&r->mu);
    return rc;
}

/* Claims the key, or reads who has it. The key's primary key decides
 * between claimers, whichever process they are in: the INSERT that adds the
 * row is the claim, and one that finds a row there reads it instead. A row
 * released between the two (its call failed) is tried again. */
static int claim_locked(tg_runs *r, const char *tenant, const char *worker, const char *key,
                        const char *sha, int64_t now_ms, tg_runs_claim *state, json_t **answer,
                        tg_error *err)
{
    tg_store *db = r->db;
    tg_stmt *st = NULL;
    /* Forgotten: keys past their day, and keys whose call can no longer be
     * running (its process died: see release_abandoned). */
    int rc = tg_store_prepare(db, &st, db_fail, err,
                              "DELETE FROM idempotency WHERE created_ms < ?1"
                              " OR (answer IS NULL AND created_ms < ?2)",
                              0);
    if (!rc) {
        tg_stmt_bind_int64(st, 1, now_ms - TG_RUNS_IDEMPOTENCY_MS);
        tg_stmt_bind_int64(st, 2, now_ms - ABANDONED_MS);
        rc = tg_stmt_run(st, db_fail, err);
    }
    tg_stmt_finalize(st);
    for (int tries = 0; !rc; tries++) {
        if (tries == CLAIM_TRIES)
            return tg_error_set(err, TG_EUNAVAILABLE,
                                "runs store: the key kept changing hands; try again");
        rc = tg_store_prepare(db, &st, db_fail, err,
                              "INSERT INTO idempotency (tenant, worker, key, body_sha256,"
                              " created_ms) VALUES (?,?,?,?,?)"
                              " ON CONFLICT (tenant, worker, key) DO NOTHING",
                              4, tenant, worker, key, sha);
        bool claimed = false;
        if (!rc) {
            tg_stmt_bind_int64(st, 5, now_ms);
            rc = tg_stmt_run(st, db_fail, err);
            claimed = !rc && tg_stmt_changes(st) == 1;
        }
        tg_stmt_finalize(st);
        if (rc) return rc;
        if (claimed) {
            *state = TG_RUNS_CLAIMED;
            return 0;
        }
        rc = tg_store_prepare(db, &st, db_fail, err,
                              "SELECT body_sha256, answer FROM idempotency"
                              " WHERE tenant = ? AND worker = ? AND key = ?",
                              3, tenant, worker, key);
        int row = rc ? rc : tg_stmt_step(st, db_fail, err);
        if (row == 1) {
            if (strcmp(tg_stmt_text(st, 0), sha) != 0) {
                *state = TG_RUNS_MISMATCH;
            } else if (tg_stmt_is_null(st, 1)) {
                *state = TG_RUNS_RUNNING;
            } else {
                *state = TG_RUNS_ANSWERED;
                *answer = json_loads(tg_stmt_text(st, 1), 0, NULL);
                if (!*answer)
                    row = tg_error_set(err, TG_EUNAVAILABLE, "a stored answer is unreadable");
            }
        }
        tg_stmt_finalize(st);
        if (row != 0) return row < 0 ? row : 0;
    }
    return rc;
}

int tg_runs_claim_key(tg_runs *r, const char *tenant, const char *worker, const char *key,
                      const char *body_sha256, int64_t now_ms, tg_runs_claim *state,
                      json_t **answer, tg_error *err)
{
    *answer = NULL;
    pthread_mutex_lock(&r->mu);
    int rc = claim_locked(r, tenant, worker, key, body_sha256, now_ms, state, answer, err);
    pthread_mutex_unlock(&r->mu);
    if (rc) {
        json_decref(*answer);
        *answer = NULL;
    }
    return rc;
}
int tg_runs_complete_key(tg_runs *r, const char *tenant, const char *worker, const char *key,
                         const json_t *answer, tg_error *err)
{
    char *text = answer ? json_dumps(answer, JSON_COMPACT) : NULL;
    pthread_mutex_lock(&r->mu);
    tg_stmt *st = NULL;
    int rc = text ? tg_store_prepare(r->db, &st, db_fail, err,
                                     "UPDATE idempotency SET answer = ?"
                                     " WHERE tenant = ? AND worker = ? AND key = ?",
                                     4, text, tenant, worker, key)
                  : tg_store_prepare(
                        r->db, &st, db_fail, err,
                        "DELETE FROM idempotency WHERE tenant = ? AND worker = ? AND key = ?", 3,
                        tenant, worker, key);
    if (!rc) rc = tg_stmt_run(st, db_fail, err);
    tg_stmt_finalize(st);
    pthread_mutex_unlock(&r->mu);
    free(text);
    return rc;
}
