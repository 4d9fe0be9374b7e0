/* `toolgate serve`: the daemon. It opens the registry in the data dir, starts
 * the sandbox pool and the call pipeline, serves HTTP, and on SIGTERM or
 * SIGINT stops accepting, fails queued calls with a retryable error, lets
 * running ones finish, and closes the store.
 *
 * Authentication arrives with JWT support; until then the daemon refuses to
 * start unless told --insecure-no-auth, and then only on loopback addresses,
 * so that nobody runs an open gateway by accident. */
#include "gateway/commands.h"

#include "gateway/admin/admin.h"
#include "gateway/calls/call.h"
#include "gateway/core/alloc.h"
#include "gateway/http/http.h"
#include "gateway/mcp/session.h"
#include "gateway/mcp_front.h"
#include "gateway/registry/registry.h"
#include "vm-pool/pool.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_DEPLOYS 64
#define TENANT      "default"

static const char usage_text[] =
    "usage: toolgate serve --insecure-no-auth [--listen 127.0.0.1:8080] [--data-dir DIR]\n"
    "                      [--deploy WORKER_DIR]... [--warm N]\n"
    "  --listen ADDR        address to serve on (default 127.0.0.1:8080; port 0 picks one)\n"
    "  --data-dir DIR       where the registry lives (default ./toolgate-data)\n"
    "  --deploy DIR         deploy this worker folder, or every worker folder in DIR,\n"
    "                       before serving (repeatable)\n"
    "  --warm N             idle sandboxes kept ready per runtime (default 4)\n"
    "  --insecure-no-auth   serve without authentication (loopback addresses only)\n";

typedef struct server_ctx {
    tg_mcp_front front;
    tg_admin admin;
    const char *driver;
    /* Handlers hold it for reading; shutdown takes it for writing to set
     * stopping, after which no handler can hand a call to the pipeline. */
    pthread_rwlock_t lock;
    bool stopping;
} server_ctx;

static void route(server_ctx *ctx, tg_http_request *req)
{
    const char *path = tg_http_path(req);
    if (ctx->stopping) {
        tg_http_set_header(req, "Retry-After", "5");
        tg_http_reply_error(req, 503, "UNAVAILABLE", "the gateway is shutting down");
    } else if (strcmp(path, "/mcp") == 0) {
        tg_mcp_front_handle(&ctx->front, req);
    } else if (strncmp(path, "/v1/workers", 11) == 0 && (path[11] == '\0' || path[11] == '/')) {
        tg_admin_handle(&ctx->admin, req);
    } else if (strcmp(path, "/healthz") == 0) {
        tg_http_reply_json(req, 200, json_pack("{s:s}", "status", "ok"));
    } else if (strcmp(path, "/readyz") == 0) {
        tg_http_reply_json(req, 200,
                           json_pack("{s:s, s:s, s:s}", "status", "ready", "driver", ctx->driver,
                                     "auth", "off (--insecure-no-auth)"));
    } else {
        tg_http_reply_error(req, 404, "NOT_FOUND", "no such endpoint");
    }
}

static void handle(tg_http_request *req, void *userdata)
{
    server_ctx *ctx = userdata;
    pthread_rwlock_rdlock(&ctx->lock);
    route(ctx, req);
    pthread_rwlock_unlock(&ctx->lock);
}

/* The registry's change callback: tools/list may now read differently. */
static void tools_changed(const char *tenant, const char *name, tg_registry_event event,
                          void *userdata)
{
    (void)tenant;
    (void)name;
    (void)event;
    tg_mcp_front_tools_changed(userdata);
}

static bool is_loopback(const char *listen)
{
    return strncmp(listen, "127.", 4) == 0 || strncmp(listen, "localhost:", 10) == 0 ||
           strncmp(listen, "[::1]:", 6) == 0;
}

/* The static agent installed beside the binary, or where the build put it. */
static char *agent_path(const char *argv0)
{
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = '\0';
            static const char *const places[] = {"/toolgate-agent", "/vm-pool/toolgate-agent"};
            for (size_t i = 0; i < sizeof places / sizeof *places; i++) {
                char *p = tg_xasprintf("%s%s", self, places[i]);
                if (access(p, X_OK) == 0) return p;
                free(p);
            }
        }
    }
    (void)argv0;
    return NULL;
}

static int deploy_one(tg_registry *registry, const char *dir)
{
    tg_registry_deploy_result res;
    tg_registry_error err = {0};
    if (tg_registry_deploy_dir(registry, TENANT, dir, &res, &err) != 0) {
        char *details = err.details ? json_dumps(err.details, JSON_INDENT(2)) : NULL;
        fprintf(stderr, "toolgate: cannot deploy %s: %s\n%s\n", dir, err.message,
                details ? details : "");
        free(details);
        tg_registry_error_clear(&err);
        return -1;
    }
    fprintf(stderr, "toolgate: deployed %s (version %.12s)\n", dir, res.version);
    return 0;
}

/* A worker folder (it holds toolgate.json), or a folder of worker folders. */
static int deploy_path(tg_registry *registry, const char *path)
{
    char *manifest = tg_xasprintf("%s/toolgate.json", path);
    bool is_worker = access(manifest, F_OK) == 0;
    free(manifest);
    if (is_worker) return deploy_one(registry, path);
    struct dirent **entries;
    int n = scandir(path, &entries, NULL, alphasort);
    if (n < 0) {
        fprintf(stderr, "toolgate: cannot deploy %s: %s\n", path, strerror(errno));
        return -1;
    }
    int rc = 0, found = 0;
    for (int i = 0; i < n; i++) {
        char *sub = tg_xasprintf("%s/%s", path, entries[i]->d_name);
        char *sub_manifest = tg_xasprintf("%s/toolgate.json", sub);
        if (entries[i]->d_name[0] != '.' && access(sub_manifest, F_OK) == 0) {
            found++;
            if (rc == 0) rc = deploy_one(registry, sub);
        }
        free(sub_manifest);
        free(sub);
        free(entries[i]);
    }
    free(entries);
    if (rc == 0 && found == 0) {
        fprintf(stderr, "toolgate: cannot deploy %s: no toolgate.json in it or its folders\n",
                path);
        rc = -1;
    }
    return rc;
}

int tg_cmd_serve(int argc, char **argv)
{
    const char *listen = "127.0.0.1:8080", *data_dir = "./toolgate-data";
    const char *deploys[MAX_DEPLOYS];
    size_t ndeploys = 0;
    unsigned warm = 4;
    bool no_auth = false;
    for (int i = 0; i < argc; i++) {
        bool has_value = i + 1 < argc;
        if (strcmp(argv[i], "--listen") == 0 && has_value) {
            listen = argv[++i];
        } else if (strcmp(argv[i], "--data-dir") == 0 && has_value) {
            data_dir = argv[++i];
        } else if (strcmp(argv[i], "--deploy") == 0 && has_value && ndeploys < MAX_DEPLOYS) {
            deploys[ndeploys++] = argv[++i];
        } else if (strcmp(argv[i], "--warm") == 0 && has_value) {
            char *end;
            unsigned long n = strtoul(argv[++i], &end, 10);
            if (*end || n > 64) {
                fputs(usage_text, stderr);
                return 2;
            }
            warm = (unsigned)n;
        } else if (strcmp(argv[i], "--insecure-no-auth") == 0) {
            no_auth = true;
        } else {
            fputs(usage_text, stderr);
            return 2;
        }
    }
    if (!no_auth) {
        fprintf(stderr, "toolgate: authentication is not available in this build yet; start with "
                        "--insecure-no-auth to serve on loopback without it\n");
        return 2;
    }
    if (!is_loopback(listen)) {
        fprintf(stderr,
                "toolgate: --insecure-no-auth is refused on %s: only loopback addresses "
                "may be served without authentication\n",
                listen);
        return 2;
    }
    fprintf(stderr, "toolgate: WARNING: serving without authentication (--insecure-no-auth)\n");

    int rc = 1;
    tg_registry *registry = NULL;
    tg_pool *pool = NULL;
    tg_calls *calls = NULL;
    tg_session_table *sessions = NULL;
    tg_http_server *http = NULL;
    char *agent = NULL, *db = NULL;
    server_ctx ctx = {.stopping = false};
    bool front_ready = false;
    pthread_rwlock_init(&ctx.lock, NULL);

    if (mkdir(data_dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "toolgate: cannot create data dir %s: %s\n", data_dir, strerror(errno));
        goto out;
    }
    db = tg_xasprintf("%s/registry.db", data_dir);
    tg_registry_error rerr = {0};
    if (tg_registry_open(db, NULL, &registry, &rerr) != 0) {
        fprintf(stderr, "toolgate: cannot open the registry %s: %s\n", db, rerr.message);
        tg_registry_error_clear(&rerr);
        goto out;
    }
    for (size_t i = 0; i < ndeploys; i++)
        if (deploy_path(registry, deploys[i]) != 0) goto out;

    agent = agent_path(argv[0]);
    if (!agent) {
        fprintf(stderr, "toolgate: the sandbox agent (toolgate-agent) is not beside the binary\n");
        goto out;
    }
    static const char *const runtimes[] = {"sh", "python3"};
    tg_pool_config pool_config = {
        .driver = &tg_jail_driver,
        .driver_config = {.agent_path = agent},
        .runtimes = runtimes,
        .nruntimes = sizeof runtimes / sizeof *runtimes,
        .warm = warm,
    };
    if (tg_pool_create(&pool_config, &pool) != 0) {
        fprintf(stderr, "toolgate: the jail driver cannot run sandboxes on this host\n");
        goto out;
    }
    tg_calls_config calls_config = {.pool = pool};
    if (tg_calls_new(&calls_config, &calls) != 0 || tg_session_table_new(NULL, &sessions) != 0) {
        fprintf(stderr, "toolgate: cannot start the call pipeline\n");
        goto out;
    }

    /* Signals are taken by sigwait below, never by a handler in another thread. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    tg_mcp_front_init(&ctx.front, registry, sessions, calls, TENANT);
    front_ready = true;
    tg_registry_set_change_callback(registry, tools_changed, &ctx.front);
    ctx.admin = (tg_admin){.registry = registry, .tenant = TENANT};
    ctx.driver = tg_jail_driver.name;
    tg_http_config http_config = {.listen = listen};
    char err[256];
    if (tg_http_start(&http_config, handle, &ctx, &http, err, sizeof err) != 0) {
        fprintf(stderr, "toolgate: %s\n", err);
        goto out;
    }
    const char *host = strncmp(listen, "[", 1) == 0 ? "[::1]" : "127.0.0.1";
    printf("toolgate: serving MCP at http://%s:%u/mcp (sandbox driver: %s)\n", host,
           tg_http_port(http), tg_jail_driver.name);
    fflush(stdout);

    int sig = 0;
    sigwait(&stop, &sig);
    fprintf(stderr, "toolgate: stopping (signal %d)\n", sig);
    pthread_rwlock_wrlock(&ctx.lock);
    ctx.stopping = true;
    pthread_rwlock_unlock(&ctx.lock);
    rc = 0;
out:
    /* Order matters: no new requests, then no calls, then no sandboxes, then
     * the store. Calls still queued answer UNAVAILABLE (retryable) through
     * their suspended connections before the server goes. */
    tg_calls_free(calls);
    if (front_ready) {
        tg_registry_set_change_callback(registry, NULL, NULL);
        tg_mcp_front_close(&ctx.front);
    }
    tg_http_stop(http);
    tg_session_table_free(sessions);
    tg_pool_destroy(pool);
    tg_registry_close(registry);
    pthread_rwlock_destroy(&ctx.lock);
    free(agent);
    free(db);
    return rc;
}
