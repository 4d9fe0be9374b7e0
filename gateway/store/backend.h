/* What store.c shares with its two backends (sqlite.c, postgres.c): the
 * connection and statement structs and each backend's entry points.
 * store.c checks arguments and dispatches; a backend only speaks its
 * library. */
#ifndef TG_STORE_BACKEND_H
#define TG_STORE_BACKEND_H

#include "gateway/store/store.h"

#include <libpq-fe.h>
#include <sqlite3.h>

struct tg_store {
    tg_store_backend_kind kind;
    char *component;
    char *where; /* the path or URL, for messages */
    unsigned flags;
    int busy_ms;
    const char *const *setup; /* borrowed: the backend's per-connection SQL */
    sqlite3 *lite;
    PGconn *pg;
    bool pg_tx; /* a transaction is open on pg, as last seen */
};

/* A PostgreSQL statement keeps its parameters until it runs: libpq takes
 * them all at once. */
typedef struct tg__pg_param {
    const char *value; /* borrowed, or points into num */
    int length;
    int format; /* 0 text, 1 binary */
    Oid type;
    char num[32];
} tg__pg_param;

struct tg_stmt {
    tg_store *db;
    int bad_bind; /* the first parameter index a bind could not take, else 0 */
    int64_t changes;
    sqlite3_stmt *lite;
    char *sql; /* PostgreSQL: with $N placeholders */
    int nparams;
    tg__pg_param *params;
    PGresult *res; /* NULL until the first step */
    int row;       /* the row the statement is on; -1 before the first */
    void **blobs;  /* decoded bytea of the current row, by column */
};

int tg__store_failed(tg_store *db, tg_store_failure kind, const char *what, const char *detail,
                     tg_store_fail_fn fail, void *err);

int tg__lite_open(tg_store *db, int busy_ms, tg_store_fail_fn fail, void *err);
void tg__lite_close(tg_store *db);
int tg__lite_exec(tg_store *db, const char *sql, tg_store_fail_fn fail, void *err);
int tg__lite_migrate(tg_store *db, const tg_store_migration *steps, size_t n, tg_store_fail_fn fail,
                     void *err);
int tg__lite_ping(tg_store *db, tg_store_fail_fn fail, void *err);
int tg__lite_prepare(tg_stmt *st, const char *sql, tg_store_fail_fn fail, void *err);
int tg__lite_step(tg_stmt *st, tg_store_fail_fn fail, void *err);

int tg__pg_open(tg_store *db, int busy_ms, tg_store_fail_fn fail, void *err);
void tg__pg_close(tg_store *db);
int tg__pg_exec(tg_store *db, const char *sql, tg_store_fail_fn fail, void *err);
void tg__pg_rollback(tg_store *db);
int tg__pg_commit(tg_store *db, tg_store_fail_fn fail, void *err);
int tg__pg_migrate(tg_store *db, const tg_store_migration *steps, size_t n, tg_store_fail_fn fail,
                   void *err);
int tg__pg_ping(tg_store *db, tg_store_fail_fn fail, void *err);
int tg__pg_prepare(tg_stmt *st, const char *sql, tg_store_fail_fn fail, void *err);
int tg__pg_step(tg_stmt *st, tg_store_fail_fn fail, void *err);
void tg__pg_clear(tg_stmt *st);

#endif
