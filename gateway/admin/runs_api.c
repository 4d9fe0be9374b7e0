/* The runs history (/v1/runs) and button triggers (POST
 * /v1/workers/{name}/run). A caller sees and runs its own tenant's only: the
 * tenant is the token's, never a parameter.
 *
 * A button call goes through the one call pipeline like an agent's, with
 * trigger_kind "button" and the caller's principal, so it is audited,
 * admitted and recorded in the history the same way. Its handler returns at
 * once; the pipeline's done callback answers the suspended request.
 * Webhooks (hooks_api.c) start their calls through the same
 * tg_admin_start_call. */
#include "gateway/admin/admin.h"

#include "gateway/auth/auth.h"
#include "gateway/core/alloc.h"
#include "gateway/core/errors.h"
#include "gateway/core/log.h"
#include "gateway/core/clock.h"
#include "gateway/http/headers.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RUNS     "/v1/runs"
#define WORKERS  "/v1/workers/"
#define MAX_KEY  255
#define MAX_NAME 256

static void reply_error(tg_http_request *req, tg_err_code code, const char *message)
{
    if (tg_err_retryable(code)) tg_http_set_header(req, "Retry-After", "5");
    tg_http_reply_json(req, (unsigned)tg_err_http_status(code),
                       json_pack("{s:o}", "error", tg_error_json(code, message, NULL, NULL)));
}

static void reply_store_error(tg_http_request *req, const tg_error *err)
{
    tg_err_code code = err->code == TG_EINVALID_PARAMS ? TG_EBAD_REQUEST : err->code;
    reply_error(req, tg_err_known(code) ? code : TG_EINTERNAL, err->message);
}

/* ---- GET /v1/runs ---------------------------------------------------- */

static void list(const tg_admin *admin, const tg_caller *who, tg_http_request *req)
{
    tg_runs_filter f = {
        .tenant = who->tenant,
        .worker = tg_http_query(req, "worker"),
        .trigger_kind = tg_http_query(req, "trigger"),
        .status = tg_http_query(req, "status"),
    };
    size_t limit;
    if (!tg_admin_page_limit(req, &limit)) return;
    json_t *page = NULL;
    char *next = NULL;
    tg_error err;
    if (tg_runs_list(admin->runs, &f, limit, tg_http_query(req, "cursor"), &page, &next, &err) !=
        0) {
        reply_store_error(req, &err);
        return;
    }
    tg_admin_reply_page(req, "runs", page, next);
}

void tg_admin_runs(const tg_admin *admin, const tg_caller *who, tg_http_request *req)
{
    if (!tg_admin_may_read(req, who, TG_SCOPE_AUDIT_READ)) return;
    const char *path = tg_http_path(req) + strlen(RUNS);
    if (*path == '\0' || strcmp(path, "/") == 0) {
        list(admin, who, req);
        return;
    }
    /* /{call_id} or /{call_id}/logs */
    char id[MAX_NAME];
    const char *slash = strchr(path + 1, '/');
    size_t n = slash ? (size_t)(slash - path - 1) : strlen(path + 1);
    bool logs = slash && strcmp(slash, "/logs") == 0;
    if (n == 0 || n >= sizeof id || (slash && !logs)) {
        reply_error(req, TG_ENOT_FOUND, "no such runs endpoint");
        return;
    }
    memcpy(id, path + 1, n);
    id[n] = '\0';
    json_t *doc = NULL;
    tg_error err;
    int rc = logs ? tg_runs_logs(admin->runs, who->tenant, id, &doc, &err)
                  : tg_runs_get(admin->runs, who->tenant, id, &doc, &err);
    if (rc)
        reply_store_error(req, &err);
    else
        tg_http_reply_json(req, 200, doc);
}

void tg_admin_schedules(const tg_admin *admin, const tg_caller *who, tg_http_request *req)
{
    if (!tg_admin_may_read(req, who, TG_SCOPE_WORKERS_DEPLOY)) return;
    tg_http_reply_json(
        req, 200,
        json_pack("{s:o}", "schedules", tg_schedules_list(admin->schedules, who->tenant)));
}

/* ---- POST /v1/workers/{name}/run -------------------------------------- */

bool tg_admin_is_trigger(const char *path)
{
    if (strncmp(path, WORKERS, strlen(WORKERS)) != 0) return false;
    const char *name = path + strlen(WORKERS);
    const char *slash = strchr(name, '/');
    return slash && slash > name && strcmp(slash, "/run") == 0;
}

/* 1..255 printable ASCII characters, spaces included. */
static bool valid_key(const char *key)
{
    size_t n = strlen(key);
    if (n == 0 || n > MAX_KEY) return false;
    for (size_t i = 0; i < n; i++)
        if (key[i] < 0x20 || key[i] > 0x7e) return false;
    return true;
}

/* SHA-256 of the arguments in canonical form (keys sorted, compact). */
static void body_hash(const json_t *arguments, char out[65])
{
    char *text = json_dumps(arguments, JSON_COMPACT | JSON_SORT_KEYS);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    /* Fails only without memory, which ends the process everywhere (alloc.h). */
    if (!text || EVP_Digest(text, strlen(text), md, &len, EVP_sha256(), NULL) != 1 || len != 32)
        abort();
    free(text);
    for (size_t i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* A button call on its way: what the done callback needs to answer. */
typedef struct button {
    tg_http_request *req;
    tg_runs *runs;
    char *tenant, *worker, *key; /* key NULL without Idempotency-Key */
} button;

/* A retryable error may go differently next time: its answer is not kept. */
static bool keepable(const json_t *result)
{
    return !json_is_true(json_object_get(tg_result_error(result), "retryable"));
}

/* The pipeline's answer, on its thread: kept for the key, then sent. */
static void button_done(json_t *result, void *userdata)
{
    button *b = userdata;
    const char *call_id =
        json_string_value(json_object_get(json_object_get(result, "_meta"), "dev.toolgate/callId"));
    if (call_id) json_object_set_new(result, "call_id", json_string(call_id));
    if (b->key) {
        tg_error err;
        if (tg_runs_complete_key(b->runs, b->tenant, b->worker, b->key,
                                 keepable(result) ? result : NULL, &err) != 0)
            tg_log_warn(&(tg_log_ctx){.tenant = b->tenant, .call_id = call_id},
                        "idempotency key of %s not completed: %s", b->worker, err.message);
    }
    tg_http_reply_json(b->req, 200, result);
    free(b->tenant);
    free(b->worker);
    free(b->key);
    free(b);
}

/* Claims the request's key. Returns true when the call should run; false
 * after answering (a stored answer, a conflict, or a store failure). */
static bool claim(const tg_admin *admin, tg_http_request *req, const char *tenant, const char *name,
                  const char *key, const json_t *arguments)
{
    char sha[65];
    body_hash(arguments, sha);
    tg_runs_claim state;
    json_t *answer = NULL;
    tg_error err;
    if (tg_runs_claim_key(admin->runs, tenant, name, key, sha, tg_now_ms(), &state, &answer,
                          &err) != 0) {
        reply_error(req, TG_EUNAVAILABLE, "the idempotency key cannot be checked now");
        return false;
    }
    switch (state) {
    case TG_RUNS_CLAIMED:
        return true;
    case TG_RUNS_ANSWERED:
        tg_http_set_header(req, "Idempotent-Replayed", "true");
        tg_http_reply_json(req, 200, answer);
        return false;
    case TG_RUNS_RUNNING:
        tg_http_set_header(req, "Retry-After", "1");
        tg_http_reply_error(req, 409, "CONFLICT",
                            "a request with this Idempotency-Key is still running; retry later");
        return false;
    case TG_RUNS_MISMATCH:
        tg_http_reply_error(req, 409, "CONFLICT",
                            "this Idempotency-Key was used with a different body");
        return false;
    }
    return false;
}

void tg_admin_start_call(const tg_admin *admin, tg_http_request *req, const tg_admin_call *call)
{
    const char *key = call->idempotency_key;
    if (key && !valid_key(key)) {
        reply_error(req, TG_EBAD_REQUEST,
                    "Idempotency-Key must be 1 to 255 printable ASCII "
                    "characters");
        return;
    }
    const char *tenant = tg_registry_snapshot_tenant(call->tool);
    const char *name = tg_registry_snapshot_name(call->tool);
    if (key && !claim(admin, req, tenant, name, key, call->arguments)) return;
    button *b = tg_xcalloc(1, sizeof *b);
    b->req = req;
    b->runs = admin->runs;
    b->tenant = tg_xstrdup(tenant);
    b->worker = tg_xstrdup(name);
    b->key = key ? tg_xstrdup(key) : NULL;
    const char *traceparent = tg_http_header(req, "traceparent");
    char trace_id[33];
    tg_call_request request = {
        .tool = call->tool,
        .arguments = call->arguments,
        .principal = call->principal,
        .trigger_kind = call->trigger_kind,
        .trace_id = tg_http_traceparent_trace_id(traceparent, trace_id),
        .trace_sampled = tg_http_traceparent_sampled(traceparent),
        .done = button_done,
        .userdata = b,
    };
    /* The pipeline takes its own references; the answer arrives on its thread. */
    tg_call_start(admin->calls, &request);
}

void tg_admin_trigger(const tg_admin *admin, const tg_caller *who, tg_http_request *req)
{
    if (!tg_caller_may(who, TG_SCOPE_WORKERS_TRIGGER)) {
        tg_caller_refuse(req, who, TG_SCOPE_WORKERS_TRIGGER);
        return;
    }
    if (strcmp(tg_http_method(req), "POST") != 0) {
        tg_http_set_header(req, "Allow", "POST");
        reply_error(req, TG_EMETHOD_NOT_ALLOWED, NULL);
        return;
    }
    const char *path = tg_http_path(req) + strlen(WORKERS);
    size_t n = (size_t)(strchr(path, '/') - path);
    if (n >= MAX_NAME) {
        reply_error(req, TG_ENOT_FOUND, "no such worker");
        return;
    }
    char name[MAX_NAME];
    memcpy(name, path, n);
    name[n] = '\0';
    if (!tg_admin_tool_allowed(admin, who, req, name)) return;
    size_t len;
    const char *body = tg_http_body(req, &len);
    json_t *arguments = len ? json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL) : json_object();
    if (!json_is_object(arguments)) {
        json_decref(arguments);
        reply_error(req, TG_EBAD_REQUEST, "the body must be the arguments, a JSON object");
        return;
    }
    tg_registry_snapshot *tool = NULL;
    tg_registry_error rerr = {0};
    int rc = tg_registry_resolve(admin->registry, who->tenant, name, &tool, &rerr);
    if (rc != 0) {
        reply_error(req, rc == TG_REGISTRY_ENOTFOUND ? TG_ENOT_FOUND : TG_EUNAVAILABLE,
                    rc == TG_REGISTRY_ENOTFOUND ? "no such worker" : rerr.message);
        tg_registry_error_clear(&rerr);
        json_decref(arguments);
        return;
    }
    const json_t *triggers = json_object_get(tg_registry_snapshot_manifest(tool), "triggers");
    if (json_is_false(json_object_get(triggers, "button"))) {
        reply_error(req, TG_EFORBIDDEN,
                    "this worker's manifest turns button runs off (\"triggers\": {\"button\": "
                    "false})");
        tg_registry_snapshot_unref(tool);
        json_decref(arguments);
        return;
    }
    tg_admin_call call = {
        .tool = tool,
        .arguments = arguments,
        .principal = who->principal,
        .trigger_kind = "button",
        .idempotency_key = tg_http_header(req, "Idempotency-Key"),
    };
    tg_admin_start_call(admin, req, &call);
    tg_registry_snapshot_unref(tool);
    json_decref(arguments);
}
