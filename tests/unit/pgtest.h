/* PostgreSQL for unit tests. ctest starts one throwaway cluster for the
 * tests that need it (the postgres fixture in tests/unit/CMakeLists.txt, made
 * by scripts/pg-cluster.sh) and passes its URL in TOOLGATE_TEST_POSTGRES.
 * Each test takes a fresh database of its own, so tests running in parallel
 * never see each other's rows. Outside ctest, with no URL, the PostgreSQL
 * half of a test says it is skipped; CI always runs it. */
#ifndef TG_TESTS_PGTEST_H
#define TG_TESTS_PGTEST_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "database ... does not exist, skipping" is no news. */
static inline void pgtest_quiet(void *arg, const char *message)
{
    (void)arg, (void)message;
}

/* Returns: a new URL of an empty database called name (dropped first if a
 * previous run left it), or NULL when no cluster was given or it failed
 * (said on stderr). */
static inline char *pgtest_database(const char *name)
{
    const char *base = getenv("TOOLGATE_TEST_POSTGRES");
    if (!base || !*base) {
        fprintf(stderr, "TOOLGATE_TEST_POSTGRES is not set: PostgreSQL cases skipped\n");
        return NULL;
    }
    PGconn *c = PQconnectdb(base);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "pgtest: %s: %s", base, PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    PQsetNoticeProcessor(c, pgtest_quiet, NULL);
    char sql[256];
    char *ident = PQescapeIdentifier(c, name, strlen(name));
    int ok = ident != NULL;
    for (int i = 0; ok && i < 2; i++) {
        snprintf(sql, sizeof sql,
                 i == 0 ? "DROP DATABASE IF EXISTS %s WITH (FORCE)" : "CREATE DATABASE %s", ident);
        PGresult *r = PQexec(c, sql);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            fprintf(stderr, "pgtest: %s: %s", sql, PQerrorMessage(c));
            ok = 0;
        }
        PQclear(r);
    }
    PQfreemem(ident);
    PQfinish(c);
    if (!ok) return NULL;
    /* The base URL's database is the last path segment before any '?'. */
    const char *query = strchr(base, '?');
    size_t head = query ? (size_t)(query - base) : strlen(base);
    while (head > 0 && base[head - 1] != '/')
        head--;
    size_t size = strlen(base) + strlen(name) + 2;
    char *url = malloc(size);
    if (!url) abort();
    snprintf(url, size, "%.*s%s%s", (int)head, base, name, query ? query : "");
    return url;
}

/* Where a test's store called name lives: a file in dir for sqlite, or on
 * PostgreSQL a database of its own, prefix_NAME (name up to its first dot),
 * the same database each time name is asked for again (a restart).
 * Returns: borrowed, NULL when the database cannot be made. */
static struct {
    char *name, *url;
} pgtest_databases[16];

static inline const char *pgtest_where(bool on_postgres, const char *dir, const char *prefix,
                                       const char *name)
{
    static char path[256];
    if (!on_postgres) {
        snprintf(path, sizeof path, "%s/%s", dir, name);
        return path;
    }
    size_t i = 0;
    size_t n = sizeof pgtest_databases / sizeof *pgtest_databases;
    for (; i < n && pgtest_databases[i].name; i++)
        if (strcmp(pgtest_databases[i].name, name) == 0) return pgtest_databases[i].url;
    if (i == n) return NULL;
    char db[64];
    snprintf(db, sizeof db, "%s_%.*s", prefix, (int)strcspn(name, "."), name);
    pgtest_databases[i].url = pgtest_database(db);
    if (!pgtest_databases[i].url) return NULL;
    pgtest_databases[i].name = strdup(name);
    return pgtest_databases[i].url;
}

/* Forgets the databases pgtest_where made (they stay in the cluster). */
static inline void pgtest_forget(void)
{
    for (size_t i = 0; i < sizeof pgtest_databases / sizeof *pgtest_databases; i++) {
        free(pgtest_databases[i].name);
        free(pgtest_databases[i].url);
        pgtest_databases[i].name = pgtest_databases[i].url = NULL;
    }
}

#endif
