/* LISTEN/NOTIFY; see store.h. The listener's thread waits on its
 * connection's socket and on a pipe that stop writes to, so stopping never
 * waits for a notification or a timeout. A lost connection is made again
 * every second until it is back; then the listener says it may have missed
 * something (a NULL payload), because PostgreSQL does not keep
 * notifications for a listener that was away. */
#include "gateway/store/backend.h"

#include "gateway/core/alloc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RECONNECT_MS 1000

struct tg_store_listener {
    char *url;
    char *channel;
    tg_store_notify_fn fn;
    void *userdata;
    PGconn *pg;
    int stop_pipe[2];
    pthread_t thread;
};

int tg_store_notify(tg_store *db, const char *channel, const char *payload, tg_store_fail_fn fail,
                    void *err)
{
    if (db->kind == TG_STORE_SQLITE) return 0;
    tg_stmt *st = NULL;
    int rc = tg_store_prepare(db, &st, fail, err, "SELECT pg_notify(?1, ?2)", 2, channel, payload);
    if (!rc) rc = tg_stmt_run(st, fail, err);
    tg_stmt_finalize(st);
    return rc;
}

static void drop_notice(void *arg, const char *message)
{
    (void)arg, (void)message;
}

/* Connects and listens. Returns false (connection closed) on failure. */
static bool connect_listen(tg_store_listener *l, char *why, size_t size)
{
    const char *const keys[] = {"connect_timeout", "application_name", "dbname", NULL};
    const char *const values[] = {"10", "toolgate-listen", l->url, NULL};
    PQfinish(l->pg);
    l->pg = PQconnectdbParams(keys, values, 1);
    bool ok = l->pg && PQstatus(l->pg) == CONNECTION_OK;
    if (ok) {
        PQsetNoticeProcessor(l->pg, drop_notice, NULL);
        char sql[96];
        snprintf(sql, sizeof sql, "LISTEN %s", l->channel);
        PGresult *res = PQexec(l->pg, sql);
        ok = PQresultStatus(res) == PGRES_COMMAND_OK;
        PQclear(res);
    }
    if (!ok) {
        snprintf(why, size, "%s", l->pg ? PQerrorMessage(l->pg) : "out of memory");
        PQfinish(l->pg);
        l->pg = NULL;
    }
    return ok;
}

/* Waits up to ms for the socket (fd, or -1 for none) or the stop pipe.
 * Returns true when asked to stop. */
static bool wait_for(tg_store_listener *l, int fd, int ms)
{
    struct pollfd p[2] = {{.fd = l->stop_pipe[0], .events = POLLIN}, {.fd = fd, .events = POLLIN}};
    int n = poll(p, fd >= 0 ? 2 : 1, ms);
    return n > 0 && (p[0].revents & (POLLIN | POLLHUP));
}

static void *listen_thread(void *arg)
{
    tg_store_listener *l = arg;
    char why[256];
    for (;;) {
        if (!l->pg) {
            if (wait_for(l, -1, RECONNECT_MS)) break;
            if (!connect_listen(l, why, sizeof why)) continue;
            l->fn(NULL, l->userdata);
        }
        if (wait_for(l, PQsocket(l->pg), -1)) break;
        if (!PQconsumeInput(l->pg) || PQstatus(l->pg) != CONNECTION_OK) {
            PQfinish(l->pg);
            l->pg = NULL;
            continue;
        }
        PGnotify *n;
        while ((n = PQnotifies(l->pg))) {
            l->fn(n->extra, l->userdata);
            PQfreemem(n);
        }
    }
    return NULL;
}

int tg_store_listen(const char *url, const char *channel, tg_store_notify_fn fn, void *userdata,
                    tg_store_listener **out, tg_store_fail_fn fail, void *err)
{
    *out = NULL;
    if (!tg_store_is_url(url)) return fail(err, TG_STORE_FAILED, "listen", "not a PostgreSQL URL");
    tg_store_listener *l = tg_xcalloc(1, sizeof *l);
    l->url = tg_xstrdup(url);
    l->channel = tg_xstrdup(channel);
    l->fn = fn;
    l->userdata = userdata;
    l->stop_pipe[0] = l->stop_pipe[1] = -1;
    char why[256];
    int rc = 0;
    if (!connect_listen(l, why, sizeof why)) {
        size_t len = strlen(why);
        while (len && why[len - 1] == '\n')
            why[--len] = '\0';
        rc = fail(err, TG_STORE_FAILED, "listen", why);
    } else if (pipe2(l->stop_pipe, O_CLOEXEC) != 0) {
        rc = fail(err, TG_STORE_FAILED, "listen", strerror(errno));
    } else if ((errno = pthread_create(&l->thread, NULL, listen_thread, l)) != 0) {
        rc = fail(err, TG_STORE_FAILED, "listen", strerror(errno));
        close(l->stop_pipe[0]);
        close(l->stop_pipe[1]);
        l->stop_pipe[0] = -1;
    }
    if (rc) {
        PQfinish(l->pg);
        if (l->stop_pipe[0] >= 0) {
            close(l->stop_pipe[0]);
            close(l->stop_pipe[1]);
        }
        free(l->url);
        free(l->channel);
        free(l);
        return rc;
    }
    *out = l;
    return 0;
}

void tg_store_listen_stop(tg_store_listener *l)
{
    if (!l) return;
    ssize_t w = write(l->stop_pipe[1], "x", 1);
    (void)w; /* a full pipe already says stop */
    pthread_join(l->thread, NULL);
    PQfinish(l->pg);
    close(l->stop_pipe[0]);
    close(l->stop_pipe[1]);
    free(l->url);
    free(l->channel);
    free(l);
}
