/* PostgreSQL for unit tests. ctest starts one throwaway cluster for the
 * tests that need it (the postgres fixture in tests/unit/CMakeLists.txt, made
 * by scripts/pg-cluster.sh) and passes its URL in TOOLGATE_TEST_POSTGRES.
 * Each test takes a fresh database of its own, so tests running in parallel
 * never see each other's rows. Outside ctest, with no URL, the PostgreSQL
 * half of a test says it is skipped; CI always runs it. */
#ifndef TG_TESTS_PGTEST_H
#define TG_TESTS_PGTEST_H

#include <libpq-fe.h>
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

#endif
