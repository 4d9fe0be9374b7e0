/* The sqlite helpers shared by the stores that keep a sqlite file (the audit
 * log, the worker registry). The stores word and code their errors each their
 * own way, so a helper never formats a message: it hands the failure to the
 * caller's tg_db_fail_fn and returns what that returns. */
#ifndef TG_CORE_DB_H
#define TG_CORE_DB_H

#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>

typedef enum tg_db_failure {
    TG_DB_FAILED,  /* what names the call ("prepare", a path), detail is sqlite's message */
    TG_DB_EXEC,    /* what is the SQL that failed, detail sqlite's message */
    TG_DB_NOT_WAL, /* what is the path of a file that refused WAL mode, detail is NULL */
} tg_db_failure;

/* Fills the store's own error (err, may be NULL) and returns its negative code. */
typedef int (*tg_db_fail_fn)(void *err, tg_db_failure kind, const char *what, const char *detail);

/* Reports the last failure on db (NULL when it could not even be allocated). */
int tg_db_fail(sqlite3 *db, const char *what, tg_db_fail_fn fail, void *err);

/* Opens path with flags and a busy timeout; with wal, in WAL mode with
 * synchronous=FULL. Then runs each SQL text of setup (NULL-terminated, may be
 * NULL). On failure nothing stays open. */
int tg_db_open(const char *path, int flags, int busy_ms, bool wal, const char *const *setup,
               sqlite3 **out, tg_db_fail_fn fail, void *err);

int tg_db_exec(sqlite3 *db, const char *sql, tg_db_fail_fn fail, void *err);

/* Prepares sql and binds the n text arguments that follow (borrowed: they
 * must outlive the statement). On failure *st is NULL. */
int tg_db_prepare(sqlite3 *db, sqlite3_stmt **st, tg_db_fail_fn fail, void *err, const char *sql,
                  int n, ...);
int tg_db_vprepare(sqlite3 *db, sqlite3_stmt **st, tg_db_fail_fn fail, void *err, const char *sql,
                   int n, va_list ap);

/* Steps a statement that returns no row (or whose rows are ignored). */
int tg_db_step_done(sqlite3 *db, sqlite3_stmt *st, tg_db_fail_fn fail, void *err);

/* Returns 1 for a row, 0 at the end, negative on error. */
int tg_db_step_row(sqlite3 *db, sqlite3_stmt *st, tg_db_fail_fn fail, void *err);

/* A TEXT column; "" rather than NULL (only out of memory gives NULL for a
 * NOT NULL column), so callers can compare and copy it safely. */
const char *tg_db_text(sqlite3_stmt *st, int col);

#endif
