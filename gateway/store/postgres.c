/* The PostgreSQL backend, through libpq: one database shared by every
 * replica, each component in a schema of its own name.
 *
 * Statements are sent with PQexecParams (parse, bind and execute in one
 * round trip), with results as text. Placeholders are sqlite's "?" and "?N",
 * rewritten to "$N" once at prepare. A connection lost between transactions
 * (the server restarted, a failover) is made again on the next use, with its
 * settings; one lost inside a transaction fails that transaction, as it must. */
#include "gateway/store/backend.h"

#include "gateway/core/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The advisory lock key that serializes schema migrations across replicas
 * (any fixed number; "tgschema" in ASCII). */
#define MIGRATE_LOCK_KEY 0x7467736368656d61LL

/* libpq's messages end in a newline; the components' messages do not. */
static void trim(char *msg)
{
    size_t len = strlen(msg);
    while (len && (msg[len - 1] == '\n' || msg[len - 1] == ' '))
        msg[--len] = '\0';
}

static int conn_fail(tg_store *db, const char *what, tg_store_fail_fn fail, void *err)
{
    char msg[512];
    snprintf(msg, sizeof msg, "%s", db->pg ? PQerrorMessage(db->pg) : "out of memory");
    trim(msg);
    return fail(err, TG_STORE_FAILED, what, msg);
}

/* Reports a result that is not what was wanted; a unique violation (SQLSTATE
 * 23505) is a conflict, which components answer differently. */
static int result_fail(tg_store *db, PGresult *res, tg_store_failure kind, const char *what,
                       tg_store_fail_fn fail, void *err)
{
    if (!res) return conn_fail(db, what, fail, err);
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    char msg[512];
    snprintf(msg, sizeof msg, "%s", PQresultErrorMessage(res));
    trim(msg);
    if (!msg[0]) snprintf(msg, sizeof msg, "%s", PQresStatus(PQresultStatus(res)));
    if (state && strcmp(state, "23505") == 0) kind = TG_STORE_CONFLICT;
    if (state && (strcmp(state, "40P01") == 0 || strcmp(state, "40001") == 0))
        kind = TG_STORE_RETRY;
    return fail(err, kind, what, msg);
}

static bool res_ok(const PGresult *res)
{
    ExecStatusType s = PQresultStatus(res);
    return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
}

/* libpq prints the server's notices (CREATE ... IF NOT EXISTS "skipping")
 * on stderr, where only the gateway's JSON log lines belong. */
static void drop_notice(void *arg, const char *message)
{
    (void)arg, (void)message;
}

/* Remembers whether a transaction is open, for when the connection is lost:
 * libpq no longer knows then. */
static void track(tg_store *db)
{
    PGTransactionStatusType t = PQtransactionStatus(db->pg);
    if (t != PQTRANS_UNKNOWN) db->pg_tx = t == PQTRANS_INTRANS || t == PQTRANS_INERROR;
}

static int run_simple(tg_store *db, const char *sql, tg_store_fail_fn fail, void *err)
{
    PGresult *res = PQexec(db->pg, sql);
    track(db);
    int rc = res_ok(res) ? 0 : result_fail(db, res, TG_STORE_EXEC, sql, fail, err);
    PQclear(res);
    return rc;
}

/* The settings every connection of the component carries. */
static int settle(tg_store *db, int busy_ms, tg_store_fail_fn fail, void *err)
{
    PQsetNoticeProcessor(db->pg, drop_notice, NULL);
    char sql[256];
    /* A component's tables first, then public (where toolgate_schema is). */
    snprintf(sql, sizeof sql,
             "SET search_path TO %s, public; SET lock_timeout = %d;"
             " SET default_transaction_read_only = %s",
             db->component, busy_ms > 0 ? busy_ms : 0,
             db->flags & TG_STORE_READONLY ? "on" : "off");
    int rc = run_simple(db, sql, fail, err);
    for (const char *const *s = db->setup; !rc && s && *s; s++)
        rc = run_simple(db, *s, fail, err);
    return rc;
}

int tg__pg_open(tg_store *db, int busy_ms, tg_store_fail_fn fail, void *err)
{
    /* A server that does not answer fails the start in seconds rather than
     * at the kernel's TCP timeout; the URL's own connect_timeout wins. */
    const char *const keys[] = {"connect_timeout", "application_name", "dbname", NULL};
    const char *const values[] = {"10", "toolgate", db->where, NULL};
    db->pg = PQconnectdbParams(keys, values, 1);
    if (!db->pg || PQstatus(db->pg) != CONNECTION_OK) return conn_fail(db, "connect", fail, err);
    return settle(db, busy_ms, fail, err);
}

void tg__pg_rollback(tg_store *db)
{
    if (PQstatus(db->pg) != CONNECTION_OK) {
        db->pg_tx = false; /* the server rolled it back when the connection went */
        return;
    }
    PQclear(PQexec(db->pg, "ROLLBACK"));
    track(db);
}

void tg__pg_close(tg_store *db)
{
    PQfinish(db->pg);
    db->pg = NULL;
}

/* Makes a lost connection again, outside a transaction only: inside one,
 * what follows would run outside it, so the transaction fails until it is
 * rolled back. */
static int ready(tg_store *db, tg_store_fail_fn fail, void *err)
{
    if (PQstatus(db->pg) == CONNECTION_OK) return 0;
    if (db->pg_tx)
        return fail(err, TG_STORE_FAILED, "connection",
                    "lost inside a transaction; it was rolled back");
    PQreset(db->pg);
    if (PQstatus(db->pg) != CONNECTION_OK) return conn_fail(db, "reconnect", fail, err);
    return settle(db, db->busy_ms, fail, err);
}

int tg__pg_exec(tg_store *db, const char *sql, tg_store_fail_fn fail, void *err)
{
    int rc = ready(db, fail, err);
    return rc ? rc : run_simple(db, sql, fail, err);
}

/* COMMIT of a transaction that already failed answers "ROLLBACK" and
 * succeeds; for the caller nothing was committed, so it is a failure. */
int tg__pg_commit(tg_store *db, tg_store_fail_fn fail, void *err)
{
    bool aborted = PQtransactionStatus(db->pg) == PQTRANS_INERROR;
    int rc = ready(db, fail, err);
    if (rc) return rc;
    PGresult *res = PQexec(db->pg, "COMMIT");
    track(db);
    if (!res_ok(res))
        rc = result_fail(db, res, TG_STORE_EXEC, "COMMIT", fail, err);
    else if (aborted || strcmp(PQcmdStatus(res), "ROLLBACK") == 0)
        rc = fail(err, TG_STORE_EXEC, "COMMIT", "the transaction had failed and was rolled back");
    PQclear(res);
    return rc;
}

int tg__pg_ping(tg_store *db, tg_store_fail_fn fail, void *err)
{
    return tg__pg_exec(db, "SELECT 1", fail, err);
}

static int pg_version(tg_store *db, int *v, tg_store_fail_fn fail, void *err)
{
    const char *params[] = {db->component};
    PGresult *res =
        PQexecParams(db->pg, "SELECT version FROM public.toolgate_schema WHERE component = $1", 1,
                     NULL, params, NULL, NULL, 0);
    int rc = 0;
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        rc = result_fail(db, res, TG_STORE_FAILED, "schema version", fail, err);
    else
        *v = PQntuples(res) ? (int)strtol(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    PQclear(res);
    return rc;
}

int tg__pg_migrate(tg_store *db, const tg_store_migration *steps, size_t n, tg_store_fail_fn fail,
                   void *err)
{
    int rc = tg__pg_exec(db, "BEGIN", fail, err);
    if (rc) return rc;
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT pg_advisory_xact_lock(%lld);"
             " CREATE TABLE IF NOT EXISTS public.toolgate_schema"
             " (component TEXT PRIMARY KEY, version INTEGER NOT NULL);"
             " CREATE SCHEMA IF NOT EXISTS %s",
             (long long)MIGRATE_LOCK_KEY, db->component);
    rc = run_simple(db, sql, fail, err);
    int v = 0;
    if (!rc) rc = pg_version(db, &v, fail, err);
    if (!rc && v > (int)n) {
        char detail[160];
        snprintf(detail, sizeof detail,
                 "the %s store is at schema version %d; this gateway knows up to %zu",
                 db->component, v, n);
        rc = fail(err, TG_STORE_FAILED, "migrate", detail);
    }
    int from = v;
    for (; !rc && v < (int)n; v++)
        if (steps[v].postgres) rc = run_simple(db, steps[v].postgres, fail, err);
    if (!rc && from < (int)n) {
        char version[16];
        snprintf(version, sizeof version, "%zu", n);
        const char *params[] = {db->component, version};
        PGresult *res = PQexecParams(db->pg,
                                     "INSERT INTO public.toolgate_schema (component, version)"
                                     " VALUES ($1, $2::integer) ON CONFLICT (component)"
                                     " DO UPDATE SET version = excluded.version",
                                     2, NULL, params, NULL, NULL, 0);
        if (!res_ok(res)) rc = result_fail(db, res, TG_STORE_FAILED, "schema version", fail, err);
        PQclear(res);
    }
    if (!rc) rc = tg__pg_commit(db, fail, err);
    if (rc) {
        tg_store_rollback(db);
        return rc;
    }
    /* The search path was resolved when the schema may not have existed yet
     * (another replica made it meanwhile): set it again so it is looked up
     * afresh. */
    snprintf(sql, sizeof sql, "SET search_path TO %s, public", db->component);
    return run_simple(db, sql, fail, err);
}

/* Rewrites "?" and "?N" outside quotes and comments to "$N", as sqlite
 * numbers them: a bare "?" is one more than the largest number before it. */
static char *translate(const char *sql, int *nparams)
{
    size_t len = strlen(sql);
    char *out = tg_xmalloc(len * 4 + 1);
    size_t k = 0;
    int largest = 0;
    for (size_t i = 0; i < len;) {
        char c = sql[i];
        if (c == '\'' || c == '"') {
            size_t j = i + 1;
            while (j < len && sql[j] != c)
                j++;
            j = j < len ? j + 1 : len;
            memcpy(out + k, sql + i, j - i);
            k += j - i;
            i = j;
        } else if (c == '-' && sql[i + 1] == '-') {
            while (i < len && sql[i] != '\n')
                out[k++] = sql[i++];
        } else if (c == '?') {
            i++;
            int num = 0;
            if (sql[i] >= '0' && sql[i] <= '9') {
                while (sql[i] >= '0' && sql[i] <= '9' && num < 100000)
                    num = num * 10 + (sql[i++] - '0');
            } else {
                num = largest + 1;
            }
            if (num > largest) largest = num;
            k += (size_t)snprintf(out + k, 12, "$%d", num);
        } else {
            out[k++] = sql[i++];
        }
    }
    out[k] = '\0';
    *nparams = largest;
    return out;
}

int tg__pg_prepare(tg_stmt *st, const char *sql, tg_store_fail_fn fail, void *err)
{
    int rc = ready(st->db, fail, err);
    if (rc) return rc;
    st->sql = translate(sql, &st->nparams);
    st->params = tg_xcalloc((size_t)st->nparams + 1, sizeof *st->params);
    return 0;
}

void tg__pg_clear(tg_stmt *st)
{
    if (st->blobs && st->res) {
        for (int i = 0; i < PQnfields(st->res); i++)
            free(st->blobs[i]);
    }
    free(st->blobs);
    st->blobs = NULL;
    PQclear(st->res);
    st->res = NULL;
}

static int execute(tg_stmt *st, tg_store_fail_fn fail, void *err)
{
    int n = st->nparams;
    const char **values = tg_xcalloc((size_t)n + 1, sizeof *values);
    int *lengths = tg_xcalloc((size_t)n + 1, sizeof *lengths);
    int *formats = tg_xcalloc((size_t)n + 1, sizeof *formats);
    Oid *types = tg_xcalloc((size_t)n + 1, sizeof *types);
    for (int i = 0; i < n; i++) {
        values[i] = st->params[i].value;
        lengths[i] = st->params[i].length;
        formats[i] = st->params[i].format;
        types[i] = st->params[i].type;
    }
    st->res = PQexecParams(st->db->pg, st->sql, n, types, values, lengths, formats, 0);
    track(st->db);
    free(values);
    free(lengths);
    free(formats);
    free(types);
    if (!res_ok(st->res)) {
        int rc = result_fail(st->db, st->res, TG_STORE_FAILED, "step", fail, err);
        PQclear(st->res);
        st->res = NULL;
        return rc;
    }
    /* A SELECT's count is of rows read, not changed. */
    bool select = strncmp(PQcmdStatus(st->res), "SELECT", 6) == 0;
    st->changes = select ? 0 : strtoll(PQcmdTuples(st->res), NULL, 10);
    return 0;
}

int tg__pg_step(tg_stmt *st, tg_store_fail_fn fail, void *err)
{
    if (!st->res) {
        int rc = execute(st, fail, err);
        if (rc) return rc;
    } else if (st->blobs) {
        for (int i = 0; i < PQnfields(st->res); i++) {
            free(st->blobs[i]);
            st->blobs[i] = NULL;
        }
    }
    if (st->row + 1 >= PQntuples(st->res)) {
        st->row = PQntuples(st->res);
        return 0;
    }
    st->row++;
    return 1;
}
