/* `toolgate serve`: the daemon. It opens the registry in the data dir, starts
 * the sandbox pool and the call pipeline, serves HTTP, and on SIGTERM or
 * SIGINT stops accepting, fails queued calls with a retryable error, lets
 * running ones finish, and closes the store.
 *
 * Every call, change and refused request is recorded in the audit log
 * (audit/, its own file in the data dir); while it cannot be written, calls
 * fail closed and /readyz says unready. */
#include "gateway/commands.h"

#include "gateway/config.h"
#include "gateway/core/log.h"
#include "audit/audit.h"
#include "gateway/admin/admin.h"
#include "gateway/authn.h"
#include "gateway/calls/call.h"
#include "gateway/core/alloc.h"
#include "gateway/core/metrics.h"
#include "gateway/http/http.h"
#include "gateway/mcp/session.h"
#include "gateway/mcp_front.h"
#include "gateway/registry/registry.h"
#include "gateway/egress/egress.h"
#include "gateway/registry/secrets.h"
#include "gateway/registry/toolsets.h"
#include "gateway/runs/runs.h"
#include "gateway/schedules.h"
#include "gateway/state/state.h"
#include "gateway/store/store.h"
#include "gateway/ui/ui.h"
#include "vm-pool/pool.h"

#include <curl/curl.h>
#include <openssl/rand.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_DEPLOYS 64
#define TENANT                                                                                     \
    "demo" /* where --deploy puts workers; the local caller and the dev token are its              \
            */

static const char usage_text[] =
    "usage: toolgate serve [--config FILE] [--listen 127.0.0.1:8080] [--insecure-no-auth]\n"
    "                      [--data-dir DIR] [--store postgres://...]\n"
    "                      [--deploy WORKER_DIR]... [--warm N]\n"
    "                      [--driver auto|microvm|jail] [--image DIR] [--log-level LEVEL]\n"
    "  --config FILE        a JSON configuration (docs/configuration.md); flags override it\n"
    "  --listen ADDR        address to serve on (default 127.0.0.1:8080; port 0 picks one)\n"
    "  --data-dir DIR       where the registry lives (default ./toolgate-data)\n"
    "  --store URL          keep every store in this PostgreSQL database instead of\n"
    "                       sqlite files in the data dir: replicas share it\n"
    "  --deploy DIR         deploy this worker folder, or every worker folder in DIR,\n"
    "                       before serving (repeatable)\n"
    "  --warm N             idle sandboxes kept ready per runtime (default 4)\n"
    "  --driver NAME        what runs workers: microvm (a VM per call), jail (namespaces),\n"
    "                       auto (default: microvm when KVM runs its guest, else jail)\n"
    "  --image DIR          the microVM guest image (default: guest-image beside the binary)\n"
    "  --insecure-no-auth   serve without authentication (loopback addresses only)\n"
    "  --log-level LEVEL    debug, info (default), warn or error\n"
    "Every key of the configuration can also be set by a variable (TOOLGATE_POOL_WARM\n"
    "for pool.warm; toolgate config variables lists them); flags override both.\n"
    "SIGHUP reloads the configuration's auth keys, admission limits and log level.\n"
    "Without an \"auth\" section in the configuration, tokens are signed with a\n"
    "development key made in the data dir (toolgate token mints them).\n";

typedef struct server_ctx {
    tg_mcp_front front;
    tg_admin admin;
    tg_authn authn;
    const char *auth_mode; /* for /readyz */
    const char *driver;    /* what runs the sandboxes, as the pool describes it */
    tg_audit *audit;
    tg_calls *calls;
    tg_pool *pool;
    tg_schedules *schedules;
    tg_state *state;
    /* With a PostgreSQL store: this replica's id, and the connection that
     * tells the other replicas of its registry changes (under notify_lock:
     * changes come from any handler thread). */
    char replica[80];
    tg_store *notifier;
    pthread_mutex_t notify_lock;
    /* Handlers hold it for reading; shutdown takes it for writing to set
     * stopping, after which no handler can hand a call to the pipeline. */
    pthread_rwlock_t lock;
    bool stopping;
} server_ctx;

/* A Prometheus label value: backslash, quote and newline escaped. */
static void label_value(FILE *out, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            fprintf(out, "\\%c", *v);
        else if (*v == '\n')
            fputs("\\n", out);
        else
            fputc(*v, out);
    }
}

static void violation_sample(void *ctx, const char *tenant, const char *name, const char *version,
                             int64_t count)
{
    FILE *out = ctx;
    fputs("toolgate_output_schema_violations_total{tenant=\"", out);
    label_value(out, tenant);
    fputs("\",worker=\"", out);
    label_value(out, name);
    fprintf(out, "\",version=\"%s\"} %lld\n", version, (long long)count);
}

/* Prometheus text format (docs/metrics.md): the counts this daemon's audit
 * log and pipeline keep, the process-wide registry (calls, pool, egress,
 * audit queue, scheduler), and which worker versions drift from their
 * outputSchema, which the registry store counts. */
static void metrics(server_ctx *ctx, tg_http_request *req)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (!out) {
        tg_http_reply_error(req, 500, "INTERNAL", "out of memory");
        return;
    }
    fprintf(out,
            "# HELP toolgate_sandbox_runs_total Calls handed to a sandbox to run.\n"
            "# TYPE toolgate_sandbox_runs_total counter\n"
            "toolgate_sandbox_runs_total %llu\n"
            "# HELP toolgate_audit_writable Whether the audit log takes records (0 fails calls).\n"
            "# TYPE toolgate_audit_writable gauge\n"
            "toolgate_audit_writable %d\n"
            "# HELP toolgate_audit_commits_total Transactions the audit log writer committed.\n"
            "# TYPE toolgate_audit_commits_total counter\n"
            "toolgate_audit_commits_total %llu\n",
            (unsigned long long)tg_calls_runs(ctx->calls), tg_audit_healthy(ctx->audit) ? 1 : 0,
            (unsigned long long)tg_audit_commits(ctx->audit));
    tg_metrics_render(tg_metrics_default(), out);
    fputs("# HELP toolgate_output_schema_violations_total Results that did not match the "
          "worker version's outputSchema.\n"
          "# TYPE toolgate_output_schema_violations_total counter\n",
          out);
    tg_registry_error err = {0};
    if (tg_registry_violations(ctx->admin.registry, violation_sample, out, &err) != 0) {
        tg_log_warn(NULL, "/metrics without drift counts: %s", err.message);
        tg_registry_error_clear(&err);
    }
    fclose(out);
    tg_http_reply(req, 200, "text/plain; version=0.0.4", text, len);
}

/* Whether this gateway should be sent calls. One whose audit log takes no
 * records fails every call, one whose store cannot be read resolves no tool,
 * one whose sandboxes no longer start runs none: each is unready, with why,
 * so that a load balancer drains it until it recovers. */
static void readyz(server_ctx *ctx, tg_http_request *req)
{
    bool audit_ok = tg_audit_healthy(ctx->audit);
    tg_registry_error err = {0};
    bool store_ok = tg_registry_ping(ctx->admin.registry, &err) == 0;
    char pool_why[160] = "";
    bool pool_ok = tg_pool_healthy(ctx->pool, pool_why, sizeof pool_why);
    bool ready = audit_ok && store_ok && pool_ok;
    json_t *doc =
        json_pack("{s:s, s:s, s:s, s:s}", "status", ready ? "ready" : "unready", "driver",
                  ctx->driver, "auth", ctx->auth_mode, "audit", audit_ok ? "ok" : "unwritable");
    json_object_set_new(doc, "store", json_string(store_ok ? "ok" : err.message));
    json_object_set_new(doc, "pool", json_string(pool_ok ? "ok" : pool_why));
    tg_registry_error_clear(&err);
    tg_http_reply_json(req, ready ? 200 : 503, doc);
}

static void route(server_ctx *ctx, tg_http_request *req)
{
    const char *path = tg_http_path(req);
    if (ctx->stopping) {
        tg_http_set_header(req, "Retry-After", "5");
        tg_http_reply_error(req, 503, "UNAVAILABLE", "the gateway is shutting down");
    } else if (strcmp(path, "/healthz") == 0) {
        tg_http_reply_json(req, 200, json_pack("{s:s}", "status", "ok"));
    } else if (tg_ui_is(path)) {
        /* The console's files hold no data: what it shows comes from /v1
         * with the token its user signs in with. */
        tg_ui_serve(req);
    } else if (tg_admin_is_hook(path)) {
        /* No token: the request's signature is its authentication. */
        tg_admin_hook_call(&ctx->admin, req);
    } else if (strcmp(path, "/readyz") == 0) {
        readyz(ctx, req);
    } else if (strcmp(path, "/metrics") == 0) {
        metrics(ctx, req);
    } else if (tg_authn_public(path)) {
        tg_authn_metadata(&ctx->authn, req);
    } else {
        tg_authn_request caller;
        if (!tg_authn_check(&ctx->authn, req, &caller)) return;
        if (strcmp(path, "/mcp") == 0)
            tg_mcp_front_handle(&ctx->front, &caller.who, req, NULL);
        else if (strncmp(path, "/mcp/", 5) == 0 && path[5] != '\0')
            tg_mcp_front_handle(&ctx->front, &caller.who, req, path + 5);
        else if (tg_admin_is_toolsets(path))
            tg_admin_toolsets(&ctx->admin, &caller.who, req);
        else if (tg_admin_is_trigger(path))
            tg_admin_trigger(&ctx->admin, &caller.who, req);
        else if (strncmp(path, "/v1/workers", 11) == 0 && (path[11] == '\0' || path[11] == '/'))
            tg_admin_handle(&ctx->admin, &caller.who, req);
        else if (strncmp(path, "/v1/secrets", 11) == 0 && (path[11] == '\0' || path[11] == '/'))
            tg_admin_secrets(&ctx->admin, &caller.who, req);
        else if (strcmp(path, "/v1/audit") == 0)
            tg_admin_audit(&ctx->admin, &caller.who, req);
        else if (strcmp(path, "/v1/audit/verify") == 0)
            tg_admin_audit_verify(&ctx->admin, &caller.who, req);
        else if (strcmp(path, "/v1/schedules") == 0)
            tg_admin_schedules(&ctx->admin, &caller.who, req);
        else if (strncmp(path, "/v1/runs", 8) == 0 && (path[8] == '\0' || path[8] == '/'))
            tg_admin_runs(&ctx->admin, &caller.who, req);
        else if (strcmp(path, "/v1/usage") == 0)
            tg_admin_usage(&ctx->admin, &caller.who, req);
        else
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

/* What a registry change means here: tools/list may now read differently,
 * and the worker's schedule may have come, changed or gone. */
static void apply_change(server_ctx *ctx, const tg_registry_change *change)
{
    /* New code under the same definition is nothing a client must relist. */
    if (change->definition_changed) tg_mcp_front_tools_changed(&ctx->front, change->tenant);
    tg_schedules_changed(ctx->schedules, change->tenant, change->name);
}

static const char *const event_names[] = {
    [TG_REGISTRY_DEPLOYED] = "deployed",
    [TG_REGISTRY_ROLLED_BACK] = "rolled_back",
    [TG_REGISTRY_DELETED] = "deleted",
    [TG_REGISTRY_DEPRECATED] = "deprecated",
};

static int notify_fail(void *err, tg_store_failure kind, const char *what, const char *detail)
{
    (void)kind;
    snprintf(err, 256, "%s: %s", what, detail ? detail : "");
    return -1;
}

/* Tells the other replicas of a change (doc stolen), which they apply as
 * their own (remote_changed). */
static void notify_replicas(server_ctx *ctx, json_t *doc, const char *tenant, const char *name)
{
    char *payload = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    char why[256] = "out of memory";
    pthread_mutex_lock(&ctx->notify_lock);
    int rc = payload
                 ? tg_store_notify(ctx->notifier, "toolgate_registry", payload, notify_fail, why)
                 : -1;
    pthread_mutex_unlock(&ctx->notify_lock);
    if (rc)
        tg_log_warn(&(tg_log_ctx){.tenant = tenant},
                    "other replicas may list %s late (until their next tools/list): %s", name, why);
    free(payload);
}

static void tell_replicas(server_ctx *ctx, const tg_registry_change *change)
{
    notify_replicas(ctx,
                    json_pack("{s:s, s:s, s:s, s:s, s:b}", "replica", ctx->replica, "event",
                              event_names[change->event], "tenant", change->tenant, "name",
                              change->name, "definition_changed", change->definition_changed),
                    change->tenant, change->name);
}

/* A toolset was put or deleted through this replica: its clients, and
 * those of every replica, list their tools again. */
static void toolsets_changed(void *userdata, const char *tenant, const char *name)
{
    server_ctx *ctx = userdata;
    tg_mcp_front_tools_changed(&ctx->front, tenant);
    if (ctx->notifier)
        notify_replicas(ctx,
                        json_pack("{s:s, s:s, s:s, s:s}", "replica", ctx->replica, "event",
                                  "toolset", "tenant", tenant, "name", name),
                        tenant, name);
}

/* The registry's change callback, for changes made through this replica.
 * A deleted worker's state goes with it, so that a worker deployed later
 * under its name starts clean; the state is shared, so only the replica
 * that deleted the worker deletes it. */
static void registry_changed(const tg_registry_change *change, void *userdata)
{
    server_ctx *ctx = userdata;
    apply_change(ctx, change);
    if (ctx->notifier) tell_replicas(ctx, change);
    tg_error err;
    if (change->event == TG_REGISTRY_DELETED &&
        tg_state_delete_worker(ctx->state, change->tenant, change->name, NULL, &err) != 0)
        tg_log_warn(&(tg_log_ctx){.tenant = change->tenant},
                    "the state of deleted worker %s/%s stays: %s", change->tenant, change->name,
                    err.message);
}

/* A change another replica made (its own are skipped: they were applied
 * when made). NULL: notifications may have been missed while the listening
 * connection was down, so every client is told to list its tools again. */
static void remote_changed(const char *payload, void *userdata)
{
    server_ctx *ctx = userdata;
    if (!payload) {
        tg_log_warn(NULL, "the store's notifications were interrupted: clients relist tools");
        tg_mcp_front_tools_changed(&ctx->front, NULL);
        return;
    }
    json_t *doc = json_loads(payload, 0, NULL);
    const char *replica = json_string_value(json_object_get(doc, "replica"));
    const char *event = json_string_value(json_object_get(doc, "event"));
    tg_registry_change change = {
        .tenant = json_string_value(json_object_get(doc, "tenant")),
        .name = json_string_value(json_object_get(doc, "name")),
        .definition_changed = json_is_true(json_object_get(doc, "definition_changed")),
    };
    bool known = false;
    if (event && strcmp(event, "toolset") == 0) {
        if (replica && change.tenant && strcmp(replica, ctx->replica) != 0)
            tg_mcp_front_tools_changed(&ctx->front, change.tenant);
        json_decref(doc);
        return;
    }
    for (size_t i = 0; event && i < sizeof event_names / sizeof *event_names; i++)
        if (strcmp(event, event_names[i]) == 0) {
            change.event = (tg_registry_event)i;
            known = true;
        }
    if (known && replica && change.tenant && change.name && strcmp(replica, ctx->replica) != 0)
        apply_change(ctx, &change);
    json_decref(doc);
}

/* A replica's id: unique among the replicas of one store, and readable in
 * logs (the host, the process, and random bits against a reused pid). */
static void make_replica_id(char *out, size_t size)
{
    char host[64] = "host";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    unsigned char r[4] = {0};
    RAND_bytes(r, sizeof r);
    snprintf(out, size, "%s-%ld-%02x%02x%02x%02x", host, (long)getpid(), r[0], r[1], r[2], r[3]);
}

/* The gateway's own URL, as clients on this host reach it. A wildcard
 * address is reached on loopback; a public name comes from auth.audience. */
static char *base_url(const char *listen, unsigned port)
{
    const char *colon = strrchr(listen, ':');
    size_t n = colon ? (size_t)(colon - listen) : strlen(listen);
    if ((n == 7 && strncmp(listen, "0.0.0.0", 7) == 0))
        return tg_xasprintf("http://127.0.0.1:%u", port);
    if (n == 4 && strncmp(listen, "[::]", 4) == 0) return tg_xasprintf("http://[::1]:%u", port);
    return tg_xasprintf("http://%.*s:%u", (int)n, listen, port);
}

/* Deploys the worker folder dir into TENANT, recorded as the operator's. */
static int deploy_one(tg_registry *registry, tg_audit *audit, const char *dir)
{
    tg_registry_deploy_result res;
    tg_registry_error err = {0};
    if (tg_registry_deploy_dir(registry, TENANT, dir, &res, &err) != 0) {
        char *details = err.details ? json_dumps(err.details, JSON_INDENT(2)) : NULL;
        tg_log_error(NULL, "cannot deploy %s: %s%s%s", dir, err.message, details ? " " : "",
                     details ? details : "");
        free(details);
        tg_registry_error_clear(&err);
        return -1;
    }
    tg_caller operator= {.tenant = TENANT, .principal = "operator/serve --deploy", .audit = audit};
    char *manifest_path = tg_xasprintf("%s/toolgate.json", dir);
    json_t *manifest = json_load_file(manifest_path, 0, NULL);
    free(manifest_path);
    json_t *body = json_pack("{s:s, s:s, s:b, s:b}", "version", res.version, "source", dir,
                             "created", res.created, "current_changed", res.changed);
    int recorded = tg_caller_record(
        &operator, "deploy", json_string_value(json_object_get(manifest, "name")), "ok", body);
    json_decref(manifest);
    if (recorded != 0) {
        tg_log_error(NULL, "cannot record the deploy of %s: the audit log is unwritable", dir);
        return -1;
    }
    tg_log_info(NULL, "deployed %s (version %.12s)", dir, res.version);
    return 0;
}

/* A worker folder (it holds toolgate.json), or a folder of worker folders. */
static int deploy_path(tg_registry *registry, tg_audit *audit, const char *path)
{
    char *manifest = tg_xasprintf("%s/toolgate.json", path);
    bool is_worker = access(manifest, F_OK) == 0;
    free(manifest);
    if (is_worker) return deploy_one(registry, audit, path);
    struct dirent **entries;
    int n = scandir(path, &entries, NULL, alphasort);
    if (n < 0) {
        tg_log_error(NULL, "cannot deploy %s: %s", path, strerror(errno));
        return -1;
    }
    int rc = 0, found = 0;
    for (int i = 0; i < n; i++) {
        char *sub = tg_xasprintf("%s/%s", path, entries[i]->d_name);
        char *sub_manifest = tg_xasprintf("%s/toolgate.json", sub);
        if (entries[i]->d_name[0] != '.' && access(sub_manifest, F_OK) == 0) {
            found++;
            if (rc == 0) rc = deploy_one(registry, audit, sub);
        }
        free(sub_manifest);
        free(sub);
        free(entries[i]);
    }
    free(entries);
    if (rc == 0 && found == 0) {
        tg_log_error(NULL, "cannot deploy %s: no toolgate.json in it or its folders", path);
        rc = -1;
    }
    return rc;
}

/* Runs the setups of the deployed workers that have one: templates live in
 * memory and in the data dir's templates/, which a restart starts afresh. A
 * failing setup is reported; its worker's calls answer SETUP_FAILED. */
static void prepare_all(tg_registry *registry, tg_calls *calls)
{
    json_t *list = NULL;
    if (tg_registry_list(registry, TENANT, &list, NULL) != 0) return;
    size_t i;
    json_t *w;
    json_array_foreach(list, i, w)
    {
        const char *name = json_string_value(json_object_get(w, "name"));
        tg_registry_snapshot *tool = NULL;
        if (tg_registry_resolve(registry, TENANT, name, &tool, NULL) != 0) continue;
        json_t *error = tg_calls_prepare(calls, tool);
        if (error) {
            json_t *e = json_object_get(json_object_get(error, "structuredContent"), "error");
            tg_log_error(NULL, "%s: %s", name, json_string_value(json_object_get(e, "message")));
        } else if (json_object_get(tg_registry_snapshot_manifest(tool), "setup")) {
            tg_log_info(NULL, "%s: setup done, calls start from its template", name);
        }
        json_decref(error);
        tg_registry_snapshot_unref(tool);
    }
    json_decref(list);
}

/* Where the egress proxy finds the credentials it injects. */
static int egress_secret(void *ctx, const char *tenant, const char *principal, const char *name,
                         unsigned char **value, size_t *len)
{
    return tg_secrets_get_for(ctx, tenant, name, principal, value, len, NULL);
}

/* The tenant's secret values and the caller's own, which no call's logged
 * arguments may hold. */
static int secret_values(void *ctx, const char *tenant, const char *principal, char ***values,
                         size_t *n)
{
    return tg_secrets_values(ctx, tenant, principal, values, n, NULL);
}

/* The pipeline's report of a finished call, into the runs history. History
 * is best effort: a failure is logged and the call, already answered, stands.
 * The insert runs here, on the pipeline thread after the answer went out:
 * without an fsync (runs.h) it costs tens of microseconds, less than a queue
 * and a writer thread would be worth. */
typedef struct finished_ctx {
    tg_runs *runs;
    tg_registry *registry;
} finished_ctx;

/* Drift (a result that broke the tool's outputSchema) is also counted on
 * the version, where /metrics and GET /v1/workers/{name} show it. */
static void run_finished(void *ctx, const tg_run_summary *run)
{
    finished_ctx *fin = ctx;
    tg_error err;
    if (tg_runs_insert(fin->runs, run, &err) != 0)
        tg_log_warn(&(tg_log_ctx){.tenant = run->tenant, .call_id = run->call_id},
                    "run %s not kept in the history: %s", run->call_id, err.message);
    tg_registry_error rerr = {0};
    if (run->error_code && strcmp(run->error_code, tg_err_name(TG_EOUTPUT_SCHEMA_VIOLATION)) == 0 &&
        tg_registry_note_violation(fin->registry, run->tenant, run->worker, run->version, &rerr)) {
        tg_log_warn(&(tg_log_ctx){.tenant = run->tenant, .call_id = run->call_id},
                    "drift of %s/%s not counted: %s", run->tenant, run->worker, rerr.message);
        tg_registry_error_clear(&rerr);
    }
}

/* Retention: once at start and then hourly, records older than the
 * configured age are dropped, the chain noting where it now starts. */
typedef struct retention {
    tg_audit *audit;
    int64_t max_age_ms;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC */
    bool stop;
    pthread_t thread;
} retention;

#define RETENTION_PERIOD_S 3600

static void *retention_main(void *arg)
{
    retention *r = arg;
    pthread_mutex_lock(&r->mu);
    while (!r->stop) {
        pthread_mutex_unlock(&r->mu);
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        int64_t now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
        uint64_t dropped = 0;
        tg_error err;
        if (tg_audit_prune(r->audit, now_ms - r->max_age_ms, -1, &dropped, &err) != 0)
            tg_log_error(NULL, "audit retention: %s", err.message);
        else if (dropped)
            tg_log_info(NULL, "audit retention dropped %llu records", (unsigned long long)dropped);
        clock_gettime(CLOCK_MONOTONIC, &now);
        now.tv_sec += RETENTION_PERIOD_S;
        pthread_mutex_lock(&r->mu);
        while (!r->stop && pthread_cond_timedwait(&r->cv, &r->mu, &now) == 0) {
        }
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

static bool retention_start(retention *r, tg_audit *audit, unsigned days)
{
    *r = (retention){.audit = audit, .max_age_ms = (int64_t)days * 86400000};
    pthread_mutex_init(&r->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cv, &ca);
    pthread_condattr_destroy(&ca);
    return pthread_create(&r->thread, NULL, retention_main, r) == 0;
}

static void retention_stop(retention *r)
{
    pthread_mutex_lock(&r->mu);
    r->stop = true;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
}

/* The configuration file's shape: anything else is refused with every
 * problem listed, before the gateway starts. */

static const char *const runtimes[] = {"sh", "python3"};
#define NRUNTIMES (sizeof runtimes / sizeof *runtimes)

typedef struct serve_options {
    const char *listen, *data_dir;
    const char *store; /* a PostgreSQL URL, or NULL: sqlite files in data_dir */
    const char *driver, *image;
    tg_pool_runtime_size sizes[NRUNTIMES];
    const char *deploys[MAX_DEPLOYS];
    size_t ndeploys;
    bool no_auth;
    const json_t *auth; /* the configuration's "auth" section, or NULL */
    const char *audit_path;
    unsigned retention_days; /* 0: records are kept for ever */
    const char *secrets_key; /* secrets.master_key_file, or NULL: <data_dir>/secrets.key */
    tg_runs_config runs;
    int64_t jitter_ms; /* scheduler.jitter_ms: 0 for the default, negative for none */
    tg_state_config state;
    tg_egress_config egress;
    tg_pool_config pool;
    tg_calls_config calls;
    tg_http_config http;
    const char *hosts[8], *origins[64];
    const char *log_level; /* debug, info, warn or error */
} serve_options;

/* Where a component keeps its rows: the shared PostgreSQL database, or its
 * own sqlite file in the data dir. Returns: a new string. */
static char *store_at(const serve_options *o, const char *file)
{
    return o->store ? tg_xstrdup(o->store) : tg_xasprintf("%s/%s", o->data_dir, file);
}

/* A store as messages name it: a URL may carry a password. */
static const char *shown(const char *where)
{
    return tg_store_is_url(where) ? "(PostgreSQL)" : where;
}

/* The pool on the driver o asks for. "auto" takes the microvm only where KVM
 * runs its guest: under TCG every instruction of a worker is emulated, and
 * the jail serves such a host better. */
static tg_pool *create_pool(serve_options *o)
{
    tg_pool *pool = NULL;
    bool want_vm = strcmp(o->driver, "microvm") == 0;
    if (want_vm || strcmp(o->driver, "auto") == 0) {
        o->pool.driver = &tg_microvm_driver;
        const char *accel = o->pool.driver_config.accel;
        if (!want_vm) o->pool.driver_config.accel = "kvm";
        bool usable =
            o->pool.driver_config.image_dir && (want_vm || access("/dev/kvm", R_OK | W_OK) == 0);
        if (usable && tg_pool_create(&o->pool, &pool) == 0) return pool;
        o->pool.driver_config.accel = accel;
        if (want_vm) {
            tg_log_error(
                NULL, "the microvm driver cannot run sandboxes on this host%s",
                o->pool.driver_config.image_dir ? "" : " (no guest image: toolgate image build)");
            return NULL;
        }
        tg_log_warn(NULL, "KVM cannot run the microVM guest here; workers run in jails");
    }
    o->pool.driver = &tg_jail_driver;
    if (tg_pool_create(&o->pool, &pool) != 0) {
        tg_log_error(NULL, "the jail driver cannot run sandboxes on this host");
        return NULL;
    }
    return pool;
}

static unsigned config_uint(const json_t *section, const char *key, unsigned fallback)
{
    json_t *v = json_object_get(section, key);
    return json_is_integer(v) ? (unsigned)json_integer_value(v) : fallback;
}

/* Reads the configuration (the file at path, or none, with the TOOLGATE_*
 * variables over it) into o. Returns: new reference to the document (o's
 * strings are borrowed from it), or NULL after logging every problem. */
static json_t *load_config(const char *path, serve_options *o)
{
    json_t *problems = NULL;
    json_t *doc = tg_config_read(path, environ, &problems);
    if (!doc) {
        size_t i;
        json_t *p;
        json_array_foreach(problems, i, p) tg_log_error(
            NULL, "configuration%s%s: %s", path ? " " : "", path ? path : "", json_string_value(p));
        tg_log_error(NULL, "configuration%s%s is refused: %zu problem%s", path ? " " : "",
                     path ? path : "", json_array_size(problems),
                     json_array_size(problems) == 1 ? "" : "s");
        json_decref(problems);
        return NULL;
    }

    const char *str;
    if ((str = json_string_value(json_object_get(doc, "listen")))) o->listen = str;
    if ((str = json_string_value(json_object_get(doc, "data_dir")))) o->data_dir = str;
    if ((str = json_string_value(json_object_get(doc, "store")))) o->store = str;
    if (json_is_true(json_object_get(doc, "insecure_no_auth"))) o->no_auth = true;
    o->auth = json_object_get(doc, "auth");
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(doc, "deploy"), i, item) o->deploys[o->ndeploys++] =
        json_string_value(item);
    json_t *pool = json_object_get(doc, "pool"), *calls = json_object_get(doc, "calls");
    json_t *http = json_object_get(doc, "http");
    o->pool.warm = config_uint(pool, "warm", o->pool.warm);
    o->pool.max = config_uint(pool, "max", o->pool.max);
    o->pool.spawners = config_uint(pool, "spawners", o->pool.spawners);
    for (size_t r = 0; r < NRUNTIMES; r++) {
        json_t *size = json_object_get(json_object_get(pool, "runtimes"), runtimes[r]);
        o->sizes[r].warm = config_uint(size, "warm", 0);
        o->sizes[r].max = config_uint(size, "max", 0);
    }
    json_t *sandbox = json_object_get(doc, "sandbox");
    if ((str = json_string_value(json_object_get(sandbox, "driver")))) o->driver = str;
    if ((str = json_string_value(json_object_get(sandbox, "image")))) o->image = str;
    o->pool.driver_config.accel = json_string_value(json_object_get(sandbox, "accel"));
    o->pool.driver_config.memory_bytes = (uint64_t)config_uint(sandbox, "memory_mb", 0) << 20;
    o->pool.driver_config.cpu_seconds = config_uint(sandbox, "cpu_seconds", 0);
    o->calls.threads = config_uint(calls, "threads", o->calls.threads);
    json_t *admission = json_object_get(doc, "admission");
    tg_admission_config *ac = &o->calls.admission;
    ac->tenant_rate = json_number_value(json_object_get(admission, "tenant_rate"));
    ac->tool_rate = json_number_value(json_object_get(admission, "tool_rate"));
    ac->tenant_burst = json_integer_value(json_object_get(admission, "tenant_burst"));
    ac->tool_burst = json_integer_value(json_object_get(admission, "tool_burst"));
    ac->tenant_concurrency = json_integer_value(json_object_get(admission, "tenant_concurrency"));
    ac->worker_concurrency = json_integer_value(json_object_get(admission, "worker_concurrency"));
    o->calls.acquire_ms = config_uint(calls, "acquire_ms", (unsigned)o->calls.acquire_ms);
    json_t *audit = json_object_get(doc, "audit");
    o->audit_path = json_string_value(json_object_get(audit, "path"));
    o->calls.audit_deadline_ms = config_uint(audit, "deadline_ms", 0);
    o->retention_days = config_uint(audit, "retention_days", 0);
    json_t *egress = json_object_get(doc, "egress");
    o->egress.ca_file = json_string_value(json_object_get(egress, "ca_file"));
    o->egress.max_request_bytes = config_uint(egress, "max_request_bytes", 0);
    o->egress.max_response_bytes = config_uint(egress, "max_response_bytes", 0);
    o->egress.timeout_ms = config_uint(egress, "timeout_ms", 0);
    o->egress.max_requests = config_uint(egress, "max_requests", 0);
    o->runs.keep_results = config_uint(json_object_get(doc, "runs"), "keep_results", 0);
    json_t *jitter = json_object_get(json_object_get(doc, "scheduler"), "jitter_ms");
    if (jitter) o->jitter_ms = json_integer_value(jitter) ? json_integer_value(jitter) : -1;
    json_t *state = json_object_get(doc, "state");
    o->state.max_value_bytes = config_uint(state, "max_value_bytes", 0);
    o->state.max_worker_bytes = config_uint(state, "max_worker_bytes", 0);
    o->state.max_keys = config_uint(state, "max_keys", 0);
    o->secrets_key =
        json_string_value(json_object_get(json_object_get(doc, "secrets"), "master_key_file"));
    o->http.max_body = config_uint(http, "max_body_bytes", (unsigned)o->http.max_body);
    o->http.threads = config_uint(http, "threads", o->http.threads);
    json_array_foreach(json_object_get(http, "allowed_hosts"), i, item) o->hosts[i] =
        json_string_value(item);
    o->http.extra_hosts = o->hosts;
    o->http.extra_hosts_count = json_array_size(json_object_get(http, "allowed_hosts"));
    json_array_foreach(json_object_get(http, "allowed_origins"), i, item) o->origins[i] =
        json_string_value(item);
    o->http.allowed_origins = o->origins;
    o->http.allowed_origins_count = json_array_size(json_object_get(http, "allowed_origins"));
    if ((str = json_string_value(json_object_get(json_object_get(doc, "log"), "level"))))
        o->log_level = str;
    return doc;
}

/* At debug level, what the file and the variables said, secrets hidden. */
static void log_configuration(const json_t *doc)
{
    if (tg_log_level_get() > TG_LOG_DEBUG) return;
    json_t *shown = tg_config_redacted(doc);
    char *text = json_dumps(shown, JSON_COMPACT | JSON_SORT_KEYS);
    tg_log_debug(NULL, "configuration in force: %s", text ? text : "{}");
    free(text);
    json_decref(shown);
}

/* Applies the command line over o. Returns false on a usage error. */
static bool parse_flags(int argc, char **argv, serve_options *o)
{
    for (int i = 0; i < argc; i++) {
        bool has_value = i + 1 < argc;
        if (strcmp(argv[i], "--config") == 0 && has_value) {
            i++;
        } else if (strcmp(argv[i], "--listen") == 0 && has_value) {
            o->listen = argv[++i];
        } else if (strcmp(argv[i], "--data-dir") == 0 && has_value) {
            o->data_dir = argv[++i];
        } else if (strcmp(argv[i], "--store") == 0 && has_value && tg_store_is_url(argv[i + 1])) {
            o->store = argv[++i];
        } else if (strcmp(argv[i], "--deploy") == 0 && has_value && o->ndeploys < MAX_DEPLOYS) {
            o->deploys[o->ndeploys++] = argv[++i];
        } else if (strcmp(argv[i], "--warm") == 0 && has_value) {
            char *end;
            unsigned long n = strtoul(argv[++i], &end, 10);
            if (*end || n > 64) return false;
            o->pool.warm = (unsigned)n;
        } else if (strcmp(argv[i], "--driver") == 0 && has_value) {
            o->driver = argv[++i];
            if (strcmp(o->driver, "auto") && strcmp(o->driver, "microvm") &&
                strcmp(o->driver, "jail"))
                return false;
        } else if (strcmp(argv[i], "--image") == 0 && has_value) {
            o->image = argv[++i];
        } else if (strcmp(argv[i], "--insecure-no-auth") == 0) {
            o->no_auth = true;
        } else if (strcmp(argv[i], "--log-level") == 0 && has_value) {
            tg_log_level level;
            o->log_level = argv[++i];
            if (!tg_log_level_parse(o->log_level, &level)) return false;
        } else {
            return false;
        }
    }
    return true;
}

/* The defaults, then the configuration file, then the TOOLGATE_* variables,
 * then the flags, into o: at start and at each reload. Returns: new
 * reference to the document o borrows from, or NULL after saying why, with
 * *usage set when the command line was at fault. */
static json_t *read_options(int argc, char **argv, serve_options *o, bool *usage)
{
    *o = (serve_options){
        .listen = "127.0.0.1:8080",
        .data_dir = "./toolgate-data",
        .driver = "auto",
        .log_level = "info",
        .pool = {.warm = 4, .spawners = 2},
    };
    *usage = false;
    const char *path = NULL;
    for (int i = 0; i + 1 < argc; i++)
        if (strcmp(argv[i], "--config") == 0) path = argv[i + 1];
    json_t *doc = load_config(path, o);
    if (!doc) return NULL;
    if (!parse_flags(argc, argv, o)) {
        *usage = true;
        json_decref(doc);
        return NULL;
    }
    if (o->no_auth && !tg_config_loopback(o->listen)) {
        tg_log_error(NULL,
                     "--insecure-no-auth is refused on %s: only loopback addresses may be "
                     "served without authentication",
                     o->listen);
        json_decref(doc);
        return NULL;
    }
    return doc;
}

static const char *auth_mode(const serve_options *o)
{
    return o->no_auth ? "off (--insecure-no-auth)"
           : o->auth  ? "bearer tokens"
                      : "bearer tokens (development key)";
}

/* What SIGHUP needs to read the configuration again and put it in force. */
typedef struct reloader {
    int argc;
    char **argv;
    json_t *running;    /* the configuration in force */
    json_t *superseded; /* those before it: the gateway's parts still borrow their strings */
    server_ctx *ctx;
    const char *base; /* the gateway's URL */
} reloader;

/* The sections a reload puts in force; the others wait for a restart. */
static bool reloadable(const char *key)
{
    return strcmp(key, "auth") == 0 || strcmp(key, "admission") == 0 || strcmp(key, "log") == 0;
}

static void warn_restart_only(const json_t *running, const json_t *next)
{
    const char *key;
    const json_t *value;
    json_object_foreach((json_t *)next, key, value)
    {
        if (!reloadable(key) && !json_equal(value, json_object_get(running, key)))
            tg_log_warn(NULL, "configuration: \"%s\" changed; it takes effect at the next start",
                        key);
    }
    json_object_foreach((json_t *)running, key, value)
    {
        if (!reloadable(key) && !json_object_get(next, key))
            tg_log_warn(NULL, "configuration: \"%s\" removed; it takes effect at the next start",
                        key);
    }
}

/* SIGHUP: the configuration is read again as at start, and its keys, limits
 * and log level are put in force. A configuration with any problem changes
 * nothing. Calls are never dropped: running ones keep their admission, and
 * the front door is swapped under the server's lock, which requests hold
 * only while they are routed. */
static void reload(reloader *r)
{
    serve_options next;
    bool usage;
    json_t *doc = read_options(r->argc, r->argv, &next, &usage);
    if (!doc) {
        tg_log_error(NULL, "reload refused: the configuration in force stays");
        return;
    }
    warn_restart_only(r->running, doc);
    tg_error err;
    if (tg_calls_set_admission(r->ctx->calls, &next.calls.admission, &err) != 0) {
        tg_log_error(NULL, "reload refused: admission: %s", err.message);
        json_decref(doc);
        return;
    }
    tg_authn fresh;
    char why[256];
    if (tg_authn_setup(&fresh, next.auth, next.no_auth, next.data_dir, r->base, why, sizeof why) !=
        0) {
        tg_log_error(NULL, "reload: auth: %s; the keys in force stay", why);
    } else {
        fresh.audit = r->ctx->audit;
        pthread_rwlock_wrlock(&r->ctx->lock);
        tg_authn old = r->ctx->authn;
        r->ctx->authn = fresh;
        r->ctx->auth_mode = auth_mode(&next);
        pthread_rwlock_unlock(&r->ctx->lock);
        tg_authn_free(&old);
    }
    tg_log_level level;
    tg_log_level_parse(next.log_level, &level);
    tg_log_set_level(level);
    log_configuration(doc);
    if (!r->superseded) r->superseded = json_array();
    json_array_append_new(r->superseded, r->running);
    r->running = doc;
    tg_log_info(NULL, "configuration reloaded: auth %s, log level %s", r->ctx->auth_mode,
                tg_log_level_name(level));
}

int tg_cmd_serve(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage_text, stdout);
            return 0;
        }
    }
    serve_options o;
    bool usage;
    json_t *config = read_options(argc, argv, &o, &usage);
    if (!config) {
        if (usage) fputs(usage_text, stderr);
        return 2;
    }
    /* Signals are taken by sigwait below, never by a handler: blocked before
     * the first thread starts, so that every thread inherits the mask and
     * none dies of a SIGHUP's default action. */
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);
    tg_log_level level;
    tg_log_level_parse(o.log_level, &level);
    tg_log_set_level(level);
    log_configuration(config);
    if (o.no_auth) tg_log_warn(NULL, "serving without authentication (--insecure-no-auth)");

    int rc = 1;
    tg_registry *registry = NULL;
    finished_ctx finished;
    tg_audit *audit = NULL;
    tg_secrets *secrets = NULL;
    tg_runs *runs = NULL;
    tg_state *state = NULL;
    tg_hooks *hooks = NULL;
    tg_toolsets *toolsets = NULL;
    tg_schedules *schedules = NULL;
    tg_egress *egress = NULL;
    retention keeper;
    bool keeping = false;
    char *audit_path = NULL;
    tg_pool *pool = NULL;
    tg_calls *calls = NULL;
    tg_session_table *sessions = NULL;
    tg_http_server *http = NULL;
    char *agent = NULL, *image = NULL, *templates = NULL, *db = NULL;
    server_ctx ctx = {.stopping = false};
    tg_store_listener *listener = NULL;
    pthread_mutex_init(&ctx.notify_lock, NULL);
    make_replica_id(ctx.replica, sizeof ctx.replica);
    bool front_ready = false, authn_ready = false;
    /* Writers first: a reload waits for routed requests, not for a stream of them. */
    pthread_rwlockattr_t lock_attr;
    pthread_rwlockattr_init(&lock_attr);
    pthread_rwlockattr_setkind_np(&lock_attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&ctx.lock, &lock_attr);
    pthread_rwlockattr_destroy(&lock_attr);

    /* Before any thread: libcurl's global state (TLS) is not thread-safe to set up. */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (mkdir(o.data_dir, 0700) != 0 && errno != EEXIST) {
        tg_log_error(NULL, "cannot create data dir %s: %s", o.data_dir, strerror(errno));
        goto out;
    }
    db = store_at(&o, "registry.db");
    tg_registry_error rerr = {0};
    if (tg_registry_open(db, NULL, &registry, &rerr) != 0) {
        tg_log_error(NULL, "cannot open the registry %s: %s", shown(db), rerr.message);
        tg_registry_error_clear(&rerr);
        goto out;
    }
    audit_path = o.audit_path && !o.store ? tg_xstrdup(o.audit_path) : store_at(&o, "audit.db");
    tg_error aerr;
    if (tg_audit_open(audit_path, NULL, &audit, &aerr) != 0) {
        tg_log_error(NULL, "cannot open the audit log %s: %s", shown(audit_path), aerr.message);
        goto out;
    }
    {
        /* A configured key must exist; the data dir's own is made on first start. */
        char *store = store_at(&o, "secrets.db");
        char *key =
            o.secrets_key ? tg_xstrdup(o.secrets_key) : tg_xasprintf("%s/secrets.key", o.data_dir);
        tg_error serr;
        int opened = tg_secrets_open(store, key, !o.secrets_key, &secrets, &serr);
        if (opened != 0) tg_log_error(NULL, "cannot open the secret store: %s", serr.message);
        free(key);
        free(store);
        if (opened != 0) goto out;
    }
    {
        char *path = store_at(&o, "runs.db");
        tg_error rerr2;
        int opened = tg_runs_open(path, &o.runs, &runs, &rerr2);
        if (opened != 0) tg_log_error(NULL, "cannot open the runs history: %s", rerr2.message);
        free(path);
        if (opened != 0) goto out;
    }
    {
        char *path = store_at(&o, "state.db");
        tg_error serr2;
        int opened = tg_state_open(path, &o.state, &state, &serr2);
        if (opened != 0) tg_log_error(NULL, "cannot open the state store: %s", serr2.message);
        free(path);
        if (opened != 0) goto out;
    }
    {
        char *path = store_at(&o, "hooks.db");
        tg_error herr;
        int opened = tg_hooks_open(path, secrets, &hooks, &herr);
        if (opened != 0) tg_log_error(NULL, "cannot open the hook store: %s", herr.message);
        free(path);
        if (opened != 0) goto out;
    }
    {
        char *path = store_at(&o, "toolsets.db");
        tg_error terr;
        int opened = tg_toolsets_open(path, &toolsets, &terr);
        if (opened != 0) tg_log_error(NULL, "cannot open the toolset store: %s", terr.message);
        free(path);
        if (opened != 0) goto out;
    }
    if (o.retention_days) {
        if (!(keeping = retention_start(&keeper, audit, o.retention_days))) {
            tg_log_error(NULL, "cannot start audit retention");
            goto out;
        }
    }
    for (size_t i = 0; i < o.ndeploys; i++)
        if (deploy_path(registry, audit, o.deploys[i]) != 0) goto out;

    agent = tg_beside_binary("toolgate-agent");
    image = o.image ? tg_xstrdup(o.image) : tg_beside_binary("guest-image");
    if (!agent) {
        tg_log_error(NULL, "the sandbox agent (toolgate-agent) is not beside the binary");
        goto out;
    }
    o.pool.driver_config.agent_path = agent;
    o.pool.driver_config.image_dir = image;
    templates = tg_xasprintf("%s/templates", o.data_dir);
    o.pool.driver_config.template_dir = templates;
    o.pool.runtimes = runtimes;
    o.pool.nruntimes = NRUNTIMES;
    o.pool.sizes = o.sizes;
    if (!(pool = create_pool(&o))) goto out;
    tg_error eerr;
    if (tg_egress_new(&o.egress, egress_secret, secrets, audit, &egress, &eerr) != 0) {
        tg_log_error(NULL, "%s", eerr.message);
        goto out;
    }
    o.calls.pool = pool;
    o.calls.audit = audit;
    o.calls.egress = egress;
    o.calls.registry = registry;
    o.calls.state = state;
    o.calls.secret_values = secret_values;
    o.calls.secrets_ctx = secrets;
    finished.runs = runs;
    finished.registry = registry;
    o.calls.on_finished = run_finished;
    o.calls.finished_ctx = &finished;
    /* Limits shared by every replica of the store; NULL keeps them in memory. */
    o.calls.admission.store = o.store;
    o.calls.admission.replica = ctx.replica;
    if (tg_calls_new(&o.calls, &calls) != 0) {
        tg_log_error(NULL, "cannot start the call pipeline");
        goto out;
    }
    {
        /* 2025 sessions live in the shared store, so any replica continues
         * one; with sqlite files there is one process and they stay in memory. */
        tg_session_options so = {.store = o.store};
        tg_error sserr = {0};
        if (tg_session_table_open(&so, &sessions, &sserr) != 0) {
            tg_log_error(NULL, "cannot open the session store: %s", sserr.message);
            goto out;
        }
    }

    prepare_all(registry, calls);

    tg_mcp_front_init(&ctx.front, registry, sessions, calls, toolsets);
    front_ready = true;
    {
        char *path = store_at(&o, "schedules.db");
        tg_schedules_config sc = {.path = path,
                                  .replica = ctx.replica,
                                  .jitter_ms = o.jitter_ms,
                                  .registry = registry,
                                  .calls = calls,
                                  .audit = audit,
                                  .runs = runs};
        tg_error serr3;
        int started = tg_schedules_start(&sc, &schedules, &serr3);
        if (started != 0) tg_log_error(NULL, "cannot start the scheduler: %s", serr3.message);
        free(path);
        if (started != 0) goto out;
    }
    ctx.schedules = schedules;
    ctx.state = state;
    if (o.store) {
        /* Before the callback is set, so no change goes untold. */
        char why[256] = "";
        if (tg_store_open(o.store, "registry", 0, 5000, NULL, NULL, &ctx.notifier, notify_fail,
                          why) != 0 ||
            tg_store_listen(o.store, "toolgate_registry", remote_changed, &ctx, &listener,
                            notify_fail, why) != 0) {
            tg_log_error(NULL, "cannot hear the other replicas: %s", why);
            goto out;
        }
    }
    tg_registry_set_change_callback(registry, registry_changed, &ctx);
    ctx.admin = (tg_admin){.registry = registry,
                           .calls = calls,
                           .audit = audit,
                           .secrets = secrets,
                           .runs = runs,
                           .hooks = hooks,
                           .schedules = schedules,
                           .verified = tg_admin_verify_cache_new(),
                           .toolsets = toolsets,
                           .toolsets_changed = toolsets_changed,
                           .changed_ctx = &ctx};
    ctx.audit = audit;
    ctx.calls = calls;
    ctx.pool = pool;
    ctx.driver = tg_pool_driver_description(pool);
    o.http.listen = o.listen;
    char err[256];
    /* Requests wait for the front door, which needs the port the server got. */
    pthread_rwlock_wrlock(&ctx.lock);
    if (tg_http_start(&o.http, handle, &ctx, &http, err, sizeof err) != 0) {
        pthread_rwlock_unlock(&ctx.lock);
        tg_log_error(NULL, "%s", err);
        goto out;
    }
    char *base = base_url(o.listen, tg_http_port(http));
    bool door =
        tg_authn_setup(&ctx.authn, o.auth, o.no_auth, o.data_dir, base, err, sizeof err) == 0;
    ctx.authn.audit = audit;
    ctx.auth_mode = auth_mode(&o);
    if (!door) ctx.stopping = true;
    pthread_rwlock_unlock(&ctx.lock);
    if (!door) {
        tg_log_error(NULL, "auth: %s", err);
        free(base);
        goto out;
    }
    authn_ready = true;
    printf("toolgate: serving MCP at %s/mcp (sandbox driver: %s)\n", base, ctx.driver);
    if (ctx.authn.dev_secret) {
        /* The demo tenant's token, so the README's run command can be used at once. */
        char *token =
            tg_auth_mint_hs256(TG_DEV_KID, ctx.authn.dev_secret, TG_DEV_ISSUER, ctx.authn.audience,
                               "demo", "demo", "admin", (int64_t)time(NULL), 24 * 3600);
        if (token) printf("toolgate: token for tenant demo (all scopes, 24 h): %s\n", token);
        free(token);
    }
    fflush(stdout);

    reloader r = {.argc = argc, .argv = argv, .running = config, .ctx = &ctx, .base = base};
    int sig = 0;
    while (sigwait(&signals, &sig) == 0 && sig == SIGHUP)
        reload(&r);
    tg_log_info(NULL, "stopping (signal %d)", sig);
    config = r.running;
    json_decref(r.superseded);
    free(base);
    pthread_rwlock_wrlock(&ctx.lock);
    ctx.stopping = true;
    pthread_rwlock_unlock(&ctx.lock);
    rc = 0;
out:
    /* Order matters: no new requests, then no calls, then no sandboxes, then
     * the store. Calls still queued answer UNAVAILABLE (retryable) through
     * their suspended connections before the server goes. */
    tg_schedules_stop(schedules);
    tg_calls_free(calls);
    /* The listener applies other replicas' changes to the front. */
    tg_store_listen_stop(listener);
    if (front_ready) {
        tg_registry_set_change_callback(registry, NULL, NULL);
        tg_mcp_front_close(&ctx.front);
    }
    tg_store_close(ctx.notifier);
    pthread_mutex_destroy(&ctx.notify_lock);
    /* After the pipeline, whose last scheduled runs report here, and after
     * the registry stopped telling it of changes. */
    tg_schedules_close(schedules);
    tg_http_stop(http);
    tg_session_table_free(sessions);
    if (authn_ready) tg_authn_free(&ctx.authn);
    tg_admin_verify_cache_free(ctx.admin.verified);
    tg_pool_destroy(pool);
    if (keeping) retention_stop(&keeper);
    tg_audit_close(audit);
    free(audit_path);
    tg_egress_free(egress);
    curl_global_cleanup();
    /* After the server: its handlers read the hooks. */
    tg_hooks_close(hooks);
    tg_toolsets_close(toolsets); /* after the server: its handlers read the toolsets */
    tg_secrets_close(secrets);
    tg_runs_close(runs);   /* after the pipeline: its last calls report here */
    tg_state_close(state); /* after the pipeline: its calls read and write here */
    tg_registry_close(registry);
    pthread_rwlock_destroy(&ctx.lock);
    free(agent);
    free(image);
    free(templates);
    free(db);
    json_decref(config);
    return rc;
}
