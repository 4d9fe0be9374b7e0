/* The store: where the registry, secrets, runs, hooks, schedules, state,
 * sessions and the audit log keep their rows, behind one interface with two
 * backends.
 *
 *   sqlite    the embedded default: each component keeps its own file in
 *             the data dir, opened by its path;
 *   postgres  one database shared by every replica, opened by a
 *             "postgres://" or "postgresql://" URL (libpq's syntax).
 *
 * The interface is sqlite's own shape (prepare, bind, step, read columns,
 * finalize), so the components keep their SQL and their logic and only the
 * dialect differs: placeholders are written "?" or "?N" and become "$N" for
 * PostgreSQL; SQL that is not common to both (DDL, upserts that need sqlite's
 * older forms, advisory locks) is chosen with tg_store_backend().
 *
 * A tg_store is one connection and is not safe to use from two threads at
 * once: each component already serializes its use under its own mutex.
 * Failures are reported the way the components word them: a function hands
 * the failure to the caller's tg_store_fail_fn and returns what that returns
 * (a negative code). */
#ifndef TG_STORE_STORE_H
#define TG_STORE_STORE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tg_store tg_store;
typedef struct tg_stmt tg_stmt;

typedef enum tg_store_backend_kind {
    TG_STORE_SQLITE,
    TG_STORE_POSTGRES,
} tg_store_backend_kind;

typedef enum tg_store_failure {
    TG_STORE_FAILED,  /* what names the call ("prepare", a path), detail is the backend's message */
    TG_STORE_EXEC,    /* what is the SQL that failed, detail the backend's message */
    TG_STORE_NOT_WAL, /* what is the path of a sqlite file that refused WAL mode, detail NULL */
    TG_STORE_CONFLICT, /* a unique or primary key constraint refused the row; detail the message */
    TG_STORE_RETRY,    /* PostgreSQL ended the transaction to break a deadlock or keep it
                          serializable: running it again may succeed */
} tg_store_failure;

/* Fills the component's own error (err, may be NULL) and returns its
 * negative code. */
typedef int (*tg_store_fail_fn)(void *err, tg_store_failure kind, const char *what,
                                const char *detail);

/* tg_store_open flags. */
enum {
    TG_STORE_READONLY = 1 << 0, /* no writes through this connection */
    TG_STORE_CREATE = 1 << 1,   /* sqlite: create the file if missing */
    TG_STORE_DURABLE = 1 << 2,  /* sqlite: WAL with synchronous=FULL (else the file's own mode) */
};

/* True when where names a PostgreSQL database rather than a sqlite file. */
bool tg_store_is_url(const char *where);

/* Opens one connection for component ("registry", "audit", ...: a short
 * lowercase SQL identifier). where is a sqlite file path or a PostgreSQL URL.
 * In PostgreSQL each component's tables live in a schema of its name (on the
 * connection's search_path), so components sharing one database keep their
 * own table names and SQL. setup is SQL run on every new connection
 * (NULL-terminated, may be NULL), given per backend because it is pragmas or
 * settings. On failure nothing stays open and *out is NULL. */
int tg_store_open(const char *where, const char *component, unsigned flags, int busy_ms,
                  const char *const *sqlite_setup, const char *const *postgres_setup,
                  tg_store **out, tg_store_fail_fn fail, void *err);
void tg_store_close(tg_store *db);

tg_store_backend_kind tg_store_backend(const tg_store *db);

/* One step of a component's schema: the SQL that moves it from version i to
 * i + 1 in each backend (several statements allowed; NULL: nothing to do in
 * that backend). */
typedef struct tg_store_migration {
    const char *sqlite;
    const char *postgres;
} tg_store_migration;

/* Brings the component's schema to version n, in one transaction. sqlite
 * keeps the version in the file's user_version (a file holds one component);
 * PostgreSQL in public.toolgate_schema, under an advisory lock, so replicas
 * starting together apply each step once (the component's schema is created
 * there too). A store newer than n is refused: an older gateway must not
 * write a schema it does not know. */
int tg_store_migrate(tg_store *db, const tg_store_migration *steps, size_t n, tg_store_fail_fn fail,
                     void *err);

/* Runs SQL that takes no parameters and returns no rows (several statements
 * allowed). */
int tg_store_exec(tg_store *db, const char *sql, tg_store_fail_fn fail, void *err);

/* Transactions. begin takes the write lock at once in sqlite (BEGIN
 * IMMEDIATE), so a transaction that reads then writes cannot deadlock with
 * another connection; rollback is quiet, for cleanup paths, and does nothing
 * outside a transaction. */
int tg_store_begin(tg_store *db, tg_store_fail_fn fail, void *err);
int tg_store_commit(tg_store *db, tg_store_fail_fn fail, void *err);
void tg_store_rollback(tg_store *db);
bool tg_store_in_transaction(const tg_store *db);

/* Checks the connection works: a trivial query, and for sqlite that the file
 * is still where it was opened. PostgreSQL reconnects once if the connection
 * was lost. */
int tg_store_ping(tg_store *db, tg_store_fail_fn fail, void *err);

/* Reports the last failure on db ("no store" when db is NULL). */
int tg_store_fail(tg_store *db, const char *what, tg_store_fail_fn fail, void *err);

/* Prepares sql and binds the n text arguments that follow to ?1..?n (a NULL
 * argument binds NULL). Arguments and later binds are borrowed: they must
 * outlive the statement's steps. On failure *st is NULL. */
int tg_store_prepare(tg_store *db, tg_stmt **st, tg_store_fail_fn fail, void *err, const char *sql,
                     int n, ...);
int tg_store_vprepare(tg_store *db, tg_stmt **st, tg_store_fail_fn fail, void *err, const char *sql,
                      int n, va_list ap);

/* Binds parameter i (from 1). A bind that fails (an index out of range) is
 * reported by the next step, so callers need not check each one. */
void tg_stmt_bind_text(tg_stmt *st, int i, const char *v); /* NULL binds NULL */
void tg_stmt_bind_int64(tg_stmt *st, int i, int64_t v);
void tg_stmt_bind_double(tg_stmt *st, int i, double v);
void tg_stmt_bind_blob(tg_stmt *st, int i, const void *v, size_t len);
void tg_stmt_bind_null(tg_stmt *st, int i);

/* Returns 1 when st is on a row, 0 at the end, negative on error. */
int tg_stmt_step(tg_stmt *st, tg_store_fail_fn fail, void *err);
/* Steps a statement whose rows, if any, are not wanted. */
int tg_stmt_run(tg_stmt *st, tg_store_fail_fn fail, void *err);
/* Rows the last step of st inserted, changed or deleted. */
int64_t tg_stmt_changes(const tg_stmt *st);
/* Makes st ready to run again; binds are cleared too. */
void tg_stmt_reset(tg_stmt *st);
void tg_stmt_finalize(tg_stmt *st);

/* Columns of the current row, from 0. A NULL reads as "" (never NULL, so
 * callers can compare and copy), 0, or an empty blob. */
bool tg_stmt_is_null(tg_stmt *st, int col);
const char *tg_stmt_text(tg_stmt *st, int col);
int64_t tg_stmt_int64(tg_stmt *st, int col); /* PostgreSQL booleans read 0 or 1 */
double tg_stmt_double(tg_stmt *st, int col);
/* Returns: borrowed until the next step; *len its size. */
const void *tg_stmt_blob(tg_stmt *st, int col, size_t *len);

/* Notifications between replicas: PostgreSQL's LISTEN/NOTIFY. A replica
 * that changed something tells the others on a channel; each listens on a
 * connection of its own, on a thread that calls fn for every payload. With
 * sqlite there is one process and nothing to tell: notify does nothing, and
 * listen is refused. */
int tg_store_notify(tg_store *db, const char *channel, const char *payload, tg_store_fail_fn fail,
                    void *err);

/* payload is borrowed for the call. NULL means notifications may have been
 * missed (the connection was lost and is back): the listener should assume
 * anything changed. */
typedef void (*tg_store_notify_fn)(const char *payload, void *userdata);
typedef struct tg_store_listener tg_store_listener;

/* url is a PostgreSQL URL; channel a short lowercase name. */
int tg_store_listen(const char *url, const char *channel, tg_store_notify_fn fn, void *userdata,
                    tg_store_listener **out, tg_store_fail_fn fail, void *err);
/* Stops the thread (fn is not called after this returns) and closes. */
void tg_store_listen_stop(tg_store_listener *l);

#endif
