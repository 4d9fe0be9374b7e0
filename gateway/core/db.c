/* The stores' shared sqlite helpers: every failure goes to the caller's
 * tg_db_fail_fn, with sqlite's message read before anything can reset it. */
#include "gateway/core/db.h"

#include <string.h>

int tg_db_fail(sqlite3 *db, const char *what, tg_db_fail_fn fail, void *err)
{
    return fail(err, TG_DB_FAILED, what, db ? sqlite3_errmsg(db) : "no database");
}

int tg_db_exec(sqlite3 *db, const char *sql, tg_db_fail_fn fail, void *err)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        int rc = fail(err, TG_DB_EXEC, sql, msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return rc;
    }
    return 0;
}

int tg_db_vprepare(sqlite3 *db, sqlite3_stmt **st, tg_db_fail_fn fail, void *err, const char *sql,
                   int n, va_list ap)
{
    if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK) {
        *st = NULL;
        return tg_db_fail(db, "prepare", fail, err);
    }
    int rc = 0;
    for (int i = 1; i <= n && rc == 0; i++) {
        const char *v = va_arg(ap, const char *);
        if (sqlite3_bind_text(*st, i, v, -1, SQLITE_STATIC) != SQLITE_OK)
            rc = tg_db_fail(db, "bind", fail, err);
    }
    if (rc) {
        sqlite3_finalize(*st); /* the bind error is the one reported */
        *st = NULL;
    }
    return rc;
}

int tg_db_prepare(sqlite3 *db, sqlite3_stmt **st, tg_db_fail_fn fail, void *err, const char *sql,
                  int n, ...)
{
    va_list ap;
    va_start(ap, n);
    int rc = tg_db_vprepare(db, st, fail, err, sql, n, ap);
    va_end(ap);
    return rc;
}

int tg_db_step_done(sqlite3 *db, sqlite3_stmt *st, tg_db_fail_fn fail, void *err)
{
    int s = sqlite3_step(st);
    if (s != SQLITE_DONE && s != SQLITE_ROW) return tg_db_fail(db, "step", fail, err);
    return 0;
}

int tg_db_step_row(sqlite3 *db, sqlite3_stmt *st, tg_db_fail_fn fail, void *err)
{
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) return 1;
    if (s == SQLITE_DONE) return 0;
    return tg_db_fail(db, "step", fail, err);
}

const char *tg_db_text(sqlite3_stmt *st, int col)
{
    const unsigned char *s = sqlite3_column_text(st, col);
    return s ? (const char *)s : "";
}

/* journal_mode answers with the mode it ended up in. */
static int use_wal(sqlite3 *db, const char *path, tg_db_fail_fn fail, void *err)
{
    sqlite3_stmt *st = NULL;
    int rc = tg_db_prepare(db, &st, fail, err, "PRAGMA journal_mode = WAL", 0);
    if (!rc && sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *mode = sqlite3_column_text(st, 0);
        if (!mode || strcmp((const char *)mode, "wal") != 0)
            rc = fail(err, TG_DB_NOT_WAL, path, NULL);
    } else if (!rc) {
        rc = tg_db_fail(db, "journal_mode", fail, err);
    }
    sqlite3_finalize(st);
    if (!rc) rc = tg_db_exec(db, "PRAGMA synchronous = FULL", fail, err);
    return rc;
}

int tg_db_open(const char *path, int flags, int busy_ms, bool wal, const char *const *setup,
               sqlite3 **out, tg_db_fail_fn fail, void *err)
{
    sqlite3 *db = NULL;
    int rc = 0;
    if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK)
        rc = tg_db_fail(db, path, fail, err);
    else if (sqlite3_busy_timeout(db, busy_ms) != SQLITE_OK)
        rc = tg_db_fail(db, "busy_timeout", fail, err);
    if (!rc && wal) rc = use_wal(db, path, fail, err);
    for (; !rc && setup && *setup; setup++)
        rc = tg_db_exec(db, *setup, fail, err);
    if (rc) {
        sqlite3_close(db);
        return rc;
    }
    *out = db;
    return 0;
}
