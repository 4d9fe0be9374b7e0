/* The sqlite backend: one file per component in the data dir. A connection
 * is opened without sqlite's own mutex (SQLITE_OPEN_NOMUTEX) because every
 * component already serializes its connection under its own lock. */
#include "gateway/store/backend.h"

#include <stdio.h>
#include <string.h>

static int lite_fail(tg_store *db, const char *what, tg_store_fail_fn fail, void *err)
{
    int code = db->lite ? sqlite3_extended_errcode(db->lite) : SQLITE_NOMEM;
    tg_store_failure kind = code == SQLITE_CONSTRAINT_UNIQUE || code == SQLITE_CONSTRAINT_PRIMARYKEY
                                ? TG_STORE_CONFLICT
                                : TG_STORE_FAILED;
    return fail(err, kind, what, db->lite ? sqlite3_errmsg(db->lite) : "no database");
}

int tg__lite_exec(tg_store *db, const char *sql, tg_store_fail_fn fail, void *err)
{
    char *msg = NULL;
    if (sqlite3_exec(db->lite, sql, NULL, NULL, &msg) != SQLITE_OK) {
        int rc = fail(err, TG_STORE_EXEC, sql, msg ? msg : sqlite3_errmsg(db->lite));
        sqlite3_free(msg);
        return rc;
    }
    return 0;
}

/* journal_mode answers with the mode it ended up in. */
static int use_wal(tg_store *db, tg_store_fail_fn fail, void *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db->lite, "PRAGMA journal_mode = WAL", -1, &st, NULL) != SQLITE_OK)
        return lite_fail(db, "journal_mode", fail, err);
    int rc = 0;
    if (sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *mode = sqlite3_column_text(st, 0);
        if (!mode || strcmp((const char *)mode, "wal") != 0)
            rc = fail(err, TG_STORE_NOT_WAL, db->where, NULL);
    } else {
        rc = lite_fail(db, "journal_mode", fail, err);
    }
    sqlite3_finalize(st);
    if (!rc) rc = tg__lite_exec(db, "PRAGMA synchronous = FULL", fail, err);
    return rc;
}

int tg__lite_open(tg_store *db, int busy_ms, tg_store_fail_fn fail, void *err)
{
    int flags = SQLITE_OPEN_NOMUTEX;
    if (db->flags & TG_STORE_READONLY)
        flags |= SQLITE_OPEN_READONLY;
    else
        flags |= SQLITE_OPEN_READWRITE | (db->flags & TG_STORE_CREATE ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2(db->where, &db->lite, flags, NULL) != SQLITE_OK)
        return lite_fail(db, db->where, fail, err);
    if (sqlite3_busy_timeout(db->lite, busy_ms) != SQLITE_OK)
        return lite_fail(db, "busy_timeout", fail, err);
    int rc = 0;
    if (db->flags & TG_STORE_DURABLE) rc = use_wal(db, fail, err);
    for (const char *const *s = db->setup; !rc && s && *s; s++)
        rc = tg__lite_exec(db, *s, fail, err);
    return rc;
}

void tg__lite_close(tg_store *db)
{
    sqlite3_close(db->lite);
    db->lite = NULL;
}

static int user_version(tg_store *db, int *v, tg_store_fail_fn fail, void *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db->lite, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
        return lite_fail(db, "user_version", fail, err);
    int rc = 0;
    if (sqlite3_step(st) == SQLITE_ROW)
        *v = sqlite3_column_int(st, 0);
    else
        rc = lite_fail(db, "user_version", fail, err);
    sqlite3_finalize(st);
    return rc;
}

/* user_version is read inside the write transaction, so two processes
 * opening a new file at once cannot both run the same step. */
int tg__lite_migrate(tg_store *db, const tg_store_migration *steps, size_t n, tg_store_fail_fn fail,
                     void *err)
{
    int rc = tg__lite_exec(db, "BEGIN IMMEDIATE", fail, err);
    if (rc) return rc;
    int v = 0;
    rc = user_version(db, &v, fail, err);
    if (!rc && v > (int)n) {
        char detail[160];
        snprintf(detail, sizeof detail,
                 "the %s store is at schema version %d; this gateway knows up to %zu",
                 db->component, v, n);
        rc = fail(err, TG_STORE_FAILED, db->where, detail);
    }
    for (; !rc && v < (int)n; v++) {
        if (steps[v].sqlite) rc = tg__lite_exec(db, steps[v].sqlite, fail, err);
        if (!rc) {
            char bump[48];
            snprintf(bump, sizeof bump, "PRAGMA user_version = %d", v + 1);
            rc = tg__lite_exec(db, bump, fail, err);
        }
    }
    if (!rc) rc = tg__lite_exec(db, "COMMIT", fail, err);
    if (rc && !sqlite3_get_autocommit(db->lite)) sqlite3_exec(db->lite, "ROLLBACK", 0, 0, 0);
    return rc;
}

/* A file deleted or replaced under a running gateway still answers queries
 * from the open descriptor; HAS_MOVED tells. */
int tg__lite_ping(tg_store *db, tg_store_fail_fn fail, void *err)
{
    int moved = 0;
    if (sqlite3_file_control(db->lite, "main", SQLITE_FCNTL_HAS_MOVED, &moved) != SQLITE_OK)
        return lite_fail(db, "file_control", fail, err);
    if (moved) return fail(err, TG_STORE_FAILED, db->where, "the file was moved or deleted");
    return tg__lite_exec(db, "SELECT 1", fail, err);
}

int tg__lite_prepare(tg_stmt *st, const char *sql, tg_store_fail_fn fail, void *err)
{
    if (sqlite3_prepare_v2(st->db->lite, sql, -1, &st->lite, NULL) != SQLITE_OK)
        return lite_fail(st->db, "prepare", fail, err);
    return 0;
}

int tg__lite_step(tg_stmt *st, tg_store_fail_fn fail, void *err)
{
    int s = sqlite3_step(st->lite);
    if (s == SQLITE_ROW || s == SQLITE_DONE)
        st->changes = sqlite3_stmt_readonly(st->lite) ? 0 : sqlite3_changes64(st->db->lite);
    if (s == SQLITE_ROW) return 1;
    if (s == SQLITE_DONE) return 0;
    return lite_fail(st->db, "step", fail, err);
}
