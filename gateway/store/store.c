/* The store interface; see store.h. This file checks arguments, keeps the
 * binds, and hands each call to the connection's backend. */
#include "gateway/store/backend.h"

#include "gateway/core/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool tg_store_is_url(const char *where)
{
    return where &&
           (strncmp(where, "postgres://", 11) == 0 || strncmp(where, "postgresql://", 13) == 0);
}

int tg__store_failed(tg_store *db, tg_store_failure kind, const char *what, const char *detail,
                     tg_store_fail_fn fail, void *err)
{
    (void)db;
    return fail(err, kind, what, detail);
}

/* A component name becomes a PostgreSQL schema name unquoted. */
static bool component_ok(const char *c)
{
    if (!c || !*c || strlen(c) > 48) return false;
    for (; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || *c == '_' || (*c >= '0' && *c <= '9'))) return false;
    return true;
}

int tg_store_open(const char *where, const char *component, unsigned flags, int busy_ms,
                  const char *const *sqlite_setup, const char *const *postgres_setup,
                  tg_store **out, tg_store_fail_fn fail, void *err)
{
    *out = NULL;
    if (!where || !*where) return fail(err, TG_STORE_FAILED, "open", "no store location");
    if (!component_ok(component))
        return fail(err, TG_STORE_FAILED, "open", "a component is a short lowercase name");
    tg_store *db = tg_xcalloc(1, sizeof *db);
    db->kind = tg_store_is_url(where) ? TG_STORE_POSTGRES : TG_STORE_SQLITE;
    db->component = tg_xstrdup(component);
    db->where = tg_xstrdup(where);
    db->flags = flags;
    db->busy_ms = busy_ms;
    db->setup = db->kind == TG_STORE_POSTGRES ? postgres_setup : sqlite_setup;
    int rc = db->kind == TG_STORE_POSTGRES ? tg__pg_open(db, busy_ms, fail, err)
                                           : tg__lite_open(db, busy_ms, fail, err);
    if (rc) {
        tg_store_close(db);
        return rc;
    }
    *out = db;
    return 0;
}

void tg_store_close(tg_store *db)
{
    if (!db) return;
    if (db->kind == TG_STORE_POSTGRES)
        tg__pg_close(db);
    else
        tg__lite_close(db);
    free(db->component);
    free(db->where);
    free(db);
}

tg_store_backend_kind tg_store_backend(const tg_store *db)
{
    return db->kind;
}

int tg_store_migrate(tg_store *db, const tg_store_migration *steps, size_t n, tg_store_fail_fn fail,
                     void *err)
{
    return db->kind == TG_STORE_POSTGRES ? tg__pg_migrate(db, steps, n, fail, err)
                                         : tg__lite_migrate(db, steps, n, fail, err);
}

int tg_store_exec(tg_store *db, const char *sql, tg_store_fail_fn fail, void *err)
{
    if (!db) return fail(err, TG_STORE_FAILED, "exec", "no store");
    return db->kind == TG_STORE_POSTGRES ? tg__pg_exec(db, sql, fail, err)
                                         : tg__lite_exec(db, sql, fail, err);
}

int tg_store_begin(tg_store *db, tg_store_fail_fn fail, void *err)
{
    /* IMMEDIATE takes sqlite's write lock now rather than at the first write,
     * so two read-then-write transactions cannot deadlock; PostgreSQL locks
     * rows as they are written or selected FOR UPDATE. */
    return tg_store_exec(db, db && db->kind == TG_STORE_SQLITE ? "BEGIN IMMEDIATE" : "BEGIN", fail,
                         err);
}

int tg_store_commit(tg_store *db, tg_store_fail_fn fail, void *err)
{
    if (db && db->kind == TG_STORE_POSTGRES) return tg__pg_commit(db, fail, err);
    return tg_store_exec(db, "COMMIT", fail, err);
}

static int quiet(void *err, tg_store_failure kind, const char *what, const char *detail)
{
    (void)err, (void)kind, (void)what, (void)detail;
    return -1;
}

void tg_store_rollback(tg_store *db)
{
    if (!db || !tg_store_in_transaction(db)) return;
    if (db->kind == TG_STORE_POSTGRES)
        tg__pg_rollback(db);
    else
        tg_store_exec(db, "ROLLBACK", quiet, NULL);
}

bool tg_store_in_transaction(const tg_store *db)
{
    if (db->kind == TG_STORE_SQLITE) return !sqlite3_get_autocommit(db->lite);
    return db->pg_tx;
}

int tg_store_ping(tg_store *db, tg_store_fail_fn fail, void *err)
{
    if (!db) return fail(err, TG_STORE_FAILED, "ping", "no store");
    return db->kind == TG_STORE_POSTGRES ? tg__pg_ping(db, fail, err)
                                         : tg__lite_ping(db, fail, err);
}

int tg_store_fail(tg_store *db, const char *what, tg_store_fail_fn fail, void *err)
{
    if (!db) return fail(err, TG_STORE_FAILED, what, "no store");
    if (db->kind == TG_STORE_SQLITE)
        return fail(err, TG_STORE_FAILED, what,
                    db->lite ? sqlite3_errmsg(db->lite) : "no database");
    char msg[512];
    snprintf(msg, sizeof msg, "%s", db->pg ? PQerrorMessage(db->pg) : "no connection");
    size_t len = strlen(msg);
    while (len && (msg[len - 1] == '\n' || msg[len - 1] == ' '))
        msg[--len] = '\0';
    return fail(err, TG_STORE_FAILED, what, msg);
}

int tg_store_vprepare(tg_store *db, tg_stmt **out, tg_store_fail_fn fail, void *err,
                      const char *sql, int n, va_list ap)
{
    *out = NULL;
    if (!db) return fail(err, TG_STORE_FAILED, "prepare", "no store");
    tg_stmt *st = tg_xcalloc(1, sizeof *st);
    st->db = db;
    st->row = -1;
    int rc = db->kind == TG_STORE_POSTGRES ? tg__pg_prepare(st, sql, fail, err)
                                           : tg__lite_prepare(st, sql, fail, err);
    if (rc) {
        tg_stmt_finalize(st);
        return rc;
    }
    for (int i = 1; i <= n; i++)
        tg_stmt_bind_text(st, i, va_arg(ap, const char *));
    if (st->bad_bind) {
        tg_stmt_finalize(st);
        return fail(err, TG_STORE_FAILED, "bind", "more arguments than the statement takes");
    }
    *out = st;
    return 0;
}

int tg_store_prepare(tg_store *db, tg_stmt **st, tg_store_fail_fn fail, void *err, const char *sql,
                     int n, ...)
{
    va_list ap;
    va_start(ap, n);
    int rc = tg_store_vprepare(db, st, fail, err, sql, n, ap);
    va_end(ap);
    return rc;
}

static void bad_bind(tg_stmt *st, int i)
{
    if (!st->bad_bind) st->bad_bind = i > 0 ? i : -1;
}

/* The PostgreSQL parameter i, or NULL (and the bind recorded as bad). */
static tg__pg_param *pg_param(tg_stmt *st, int i)
{
    if (i < 1 || i > st->nparams) {
        bad_bind(st, i);
        return NULL;
    }
    tg__pg_param *p = &st->params[i - 1];
    memset(p, 0, sizeof *p);
    return p;
}

void tg_stmt_bind_text(tg_stmt *st, int i, const char *v)
{
    if (st->db->kind == TG_STORE_SQLITE) {
        int rc = v ? sqlite3_bind_text(st->lite, i, v, -1, SQLITE_STATIC)
                   : sqlite3_bind_null(st->lite, i);
        if (rc != SQLITE_OK) bad_bind(st, i);
        return;
    }
    tg__pg_param *p = pg_param(st, i);
    if (!p) return;
    p->value = v;
    p->type = 25; /* text: a NULL too, so "?1 IS NULL OR col = ?1" has one type */
}

void tg_stmt_bind_int64(tg_stmt *st, int i, int64_t v)
{
    if (st->db->kind == TG_STORE_SQLITE) {
        if (sqlite3_bind_int64(st->lite, i, v) != SQLITE_OK) bad_bind(st, i);
        return;
    }
    tg__pg_param *p = pg_param(st, i);
    if (!p) return;
    snprintf(p->num, sizeof p->num, "%lld", (long long)v);
    p->value = p->num;
    p->type = 20; /* int8 */
}

void tg_stmt_bind_double(tg_stmt *st, int i, double v)
{
    if (st->db->kind == TG_STORE_SQLITE) {
        if (sqlite3_bind_double(st->lite, i, v) != SQLITE_OK) bad_bind(st, i);
        return;
    }
    tg__pg_param *p = pg_param(st, i);
    if (!p) return;
    snprintf(p->num, sizeof p->num, "%.17g", v);
    p->value = p->num;
    p->type = 701; /* float8 */
}

void tg_stmt_bind_blob(tg_stmt *st, int i, const void *v, size_t len)
{
    if (st->db->kind == TG_STORE_SQLITE) {
        /* sqlite reads a NULL pointer as SQL NULL; an empty blob is not one. */
        if (sqlite3_bind_blob64(st->lite, i, v ? v : "", len, SQLITE_STATIC) != SQLITE_OK)
            bad_bind(st, i);
        return;
    }
    tg__pg_param *p = pg_param(st, i);
    if (!p) return;
    if (len > INT32_MAX) {
        bad_bind(st, i);
        return;
    }
    p->value = v ? v : "";
    p->length = (int)len;
    p->format = 1;
    p->type = 17; /* bytea */
}

void tg_stmt_bind_null(tg_stmt *st, int i)
{
    if (st->db->kind == TG_STORE_SQLITE) {
        if (sqlite3_bind_null(st->lite, i) != SQLITE_OK) bad_bind(st, i);
        return;
    }
    pg_param(st, i);
}

int tg_stmt_step(tg_stmt *st, tg_store_fail_fn fail, void *err)
{
    if (st->bad_bind) {
        char what[48];
        snprintf(what, sizeof what, "bind of parameter %d", st->bad_bind);
        return fail(err, TG_STORE_FAILED, what, "no such parameter, or out of memory");
    }
    return st->db->kind == TG_STORE_POSTGRES ? tg__pg_step(st, fail, err)
                                             : tg__lite_step(st, fail, err);
}

int tg_stmt_run(tg_stmt *st, tg_store_fail_fn fail, void *err)
{
    int rc = tg_stmt_step(st, fail, err);
    return rc < 0 ? rc : 0;
}

int64_t tg_stmt_changes(const tg_stmt *st)
{
    return st->changes;
}

void tg_stmt_reset(tg_stmt *st)
{
    st->bad_bind = 0;
    st->changes = 0;
    st->row = -1;
    if (st->db->kind == TG_STORE_SQLITE) {
        sqlite3_reset(st->lite);
        sqlite3_clear_bindings(st->lite);
        return;
    }
    tg__pg_clear(st);
    memset(st->params, 0, (size_t)st->nparams * sizeof *st->params);
}

void tg_stmt_finalize(tg_stmt *st)
{
    if (!st) return;
    sqlite3_finalize(st->lite);
    tg__pg_clear(st);
    free(st->params);
    free(st->sql);
    free(st);
}

bool tg_stmt_is_null(tg_stmt *st, int col)
{
    if (st->db->kind == TG_STORE_SQLITE) return sqlite3_column_type(st->lite, col) == SQLITE_NULL;
    if (!st->res || st->row < 0 || col >= PQnfields(st->res)) return true;
    return PQgetisnull(st->res, st->row, col);
}

const char *tg_stmt_text(tg_stmt *st, int col)
{
    if (st->db->kind == TG_STORE_SQLITE) {
        const unsigned char *s = sqlite3_column_text(st->lite, col);
        return s ? (const char *)s : "";
    }
    if (!st->res || st->row < 0 || col >= PQnfields(st->res)) return "";
    return PQgetvalue(st->res, st->row, col);
}

int64_t tg_stmt_int64(tg_stmt *st, int col)
{
    if (st->db->kind == TG_STORE_SQLITE) return sqlite3_column_int64(st->lite, col);
    const char *s = tg_stmt_text(st, col);
    if (PQftype(st->res, col) == 16) return s[0] == 't'; /* bool */
    return strtoll(s, NULL, 10);
}

double tg_stmt_double(tg_stmt *st, int col)
{
    if (st->db->kind == TG_STORE_SQLITE) return sqlite3_column_double(st->lite, col);
    return strtod(tg_stmt_text(st, col), NULL);
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

const void *tg_stmt_blob(tg_stmt *st, int col, size_t *len)
{
    *len = 0;
    if (st->db->kind == TG_STORE_SQLITE) {
        const void *v = sqlite3_column_blob(st->lite, col);
        if (!v) return "";
        *len = (size_t)sqlite3_column_bytes(st->lite, col);
        return v;
    }
    if (!st->res || st->row < 0 || col < 0 || col >= PQnfields(st->res)) return "";
    if (PQgetisnull(st->res, st->row, col)) return "";
    /* Results come as text, where bytea reads "\x" and two hex digits a byte. */
    const char *s = PQgetvalue(st->res, st->row, col);
    size_t n = (size_t)PQgetlength(st->res, st->row, col);
    if (n < 2 || s[0] != '\\' || s[1] != 'x') {
        *len = n;
        return s;
    }
    if (!st->blobs) st->blobs = tg_xcalloc((size_t)PQnfields(st->res), sizeof *st->blobs);
    free(st->blobs[col]);
    unsigned char *out = tg_xmalloc((n - 2) / 2 + 1);
    size_t k = 0;
    for (size_t i = 2; i + 1 < n; i += 2) {
        int hi = hex_digit(s[i]), lo = hex_digit(s[i + 1]);
        if (hi < 0 || lo < 0) break;
        out[k++] = (unsigned char)(hi << 4 | lo);
    }
    st->blobs[col] = out;
    *len = k;
    return out;
}
