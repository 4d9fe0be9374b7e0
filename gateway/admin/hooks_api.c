/* Webhooks: the admin side (/v1/workers/{name}/hooks: create, list, delete)
 * and the endpoint senders call, POST /v1/hooks/{id}.
 *
 * The endpoint has no token: the hook's signing secret, through the
 * Toolgate-Signature header, is the authentication, so it is checked before
 * anything of the request is believed, and every refusal is in the audit log
 * under the hook's tenant. An unknown id is 404 with nothing else: ids are
 * unguessable, and the answer must not help anyone find one. A request that
 * passes runs its worker through the one call pipeline (tg_admin_start_call,
 * shared with button triggers), as a "webhook" call of the principal that
 * created the hook ("hook:<id>" for a hook made before creators were
 * recorded). */
#include "gateway/admin/admin.h"

#include "gateway/core/alloc.h"
#include "gateway/core/errors.h"
#include "gateway/core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HOOKS              "/v1/hooks/"
#define RECORD_DEADLINE_NS 2000000000LL

static void reply_error(tg_http_request *req, tg_err_code code, const char *message)
{
    if (tg_err_retryable(code)) tg_http_set_header(req, "Retry-After", "5");
    tg_http_reply_json(req, (unsigned)tg_err_http_status(code),
                       json_pack("{s:o}", "error", tg_error_json(code, message, NULL, NULL)));
}

static void reply_store_error(tg_http_request *req, const tg_error *err)
{
    reply_error(req, tg_err_known(err->code) ? err->code : TG_EINTERNAL, err->message);
}

/* ---- /v1/workers/{name}/hooks ------------------------------------------ */

/* The body of a create: empty, or {"mapping": {...} | null}. Returns false
 * after answering 400. */
static bool read_mapping(tg_http_request *req, json_t **doc, json_t **mapping)
{
    *doc = *mapping = NULL;
    size_t len;
    const char *body = tg_http_body(req, &len);
    if (len == 0) return true;
    *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    json_t *m = json_object_get(*doc, "mapping");
    size_t known = m ? 1 : 0;
    if (!json_is_object(*doc) || json_object_size(*doc) != known ||
        (m && !json_is_object(m) && !json_is_null(m))) {
        reply_error(req, TG_EBAD_REQUEST,
                    "the body must be empty or {\"mapping\": {\"<argument>\": \"<JSON Pointer "
                    "into the incoming body>\"}}");
        json_decref(*doc);
        *doc = NULL;
        return false;
    }
    *mapping = json_is_object(m) ? m : NULL;
    return true;
}

static void create(const tg_admin *admin, tg_http_request *req, const char *name)
{
    json_t *doc, *mapping;
    if (!read_mapping(req, &doc, &mapping)) return;
    json_t *hook = NULL;
    tg_error err;
    if (tg_hooks_create(admin->hooks, admin->tenant, name, admin->who->principal, mapping, &hook,
                        &err) != 0) {
        reply_store_error(req, &err);
        json_decref(doc);
        return;
    }
    const char *id = json_string_value(json_object_get(hook, "id"));
    if (tg_caller_record(admin->who, "hook", name, "created",
                         json_pack("{s:s, s:s}", "id", id, "worker", name)) != 0) {
        /* Nobody has seen the secret yet: the hook can go again unused. */
        if (tg_hooks_delete(admin->hooks, admin->tenant, name, id, &err) != 0)
            tg_log_error(&(tg_log_ctx){.tenant = admin->tenant},
                         "hook %s of %s made but not recorded, and not deleted: %s", id, name,
                         err.message);
        reply_error(req, TG_EAUDIT_UNAVAILABLE,
                    "the audit log cannot be written, so no hook was created");
    } else {
        tg_http_reply_json(req, 201, json_incref(hook));
    }
    json_decref(hook);
    json_decref(doc);
}

static void delete_hook(const tg_admin *admin, tg_http_request *req, const char *name,
                        const char *id)
{
    tg_error err;
    if (tg_hooks_delete(admin->hooks, admin->tenant, name, id, &err) != 0) {
        reply_store_error(req, &err);
        return;
    }
    if (tg_caller_record(admin->who, "hook", name, "deleted",
                         json_pack("{s:s, s:s}", "id", id, "worker", name)) != 0) {
        tg_log_error(&(tg_log_ctx){.tenant = admin->tenant},
                     "hook %s of %s deleted but not recorded: the audit log is unwritable", id,
                     name);
        reply_error(req, TG_EAUDIT_UNAVAILABLE,
                    "the hook was deleted, but its audit record could not be written");
        return;
    }
    tg_http_reply(req, 204, NULL, NULL, 0);
}

void tg_admin_hooks(const tg_admin *admin, tg_http_request *req, const char *name, const char *rest)
{
    if (!admin->hooks) {
        reply_error(req, TG_EUNAVAILABLE, "this gateway has no hook store");
        return;
    }
    const char *method = tg_http_method(req);
    bool collection = *rest == '\0' || strcmp(rest, "/") == 0;
    const char *id = collection ? NULL : rest + 1;
    if (id && strchr(id, '/')) {
        reply_error(req, TG_ENOT_FOUND, "no such admin endpoint");
        return;
    }
    if (collection && strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0) {
        tg_http_set_header(req, "Allow", "GET, POST");
        reply_error(req, TG_EMETHOD_NOT_ALLOWED, NULL);
        return;
    }
    if (!collection && strcmp(method, "DELETE") != 0) {
        tg_http_set_header(req, "Allow", "DELETE");
        reply_error(req, TG_EMETHOD_NOT_ALLOWED, NULL);
        return;
    }
    json_t *worker = NULL;
    tg_registry_error rerr = {0};
    int rc = tg_registry_get(admin->registry, admin->tenant, name, &worker, &rerr);
    json_decref(worker);
    if (rc != 0) {
        reply_error(req, rc == TG_REGISTRY_ENOTFOUND ? TG_ENOT_FOUND : TG_EUNAVAILABLE,
                    rc == TG_REGISTRY_ENOTFOUND ? "no such worker" : rerr.message);
        tg_registry_error_clear(&rerr);
        return;
    }
    if (!collection) {
        delete_hook(admin, req, name, id);
    } else if (strcmp(method, "POST") == 0) {
        create(admin, req, name);
    } else {
        json_t *list = NULL;
        tg_error err;
        if (tg_hooks_list(admin->hooks, admin->tenant, name, &list, &err) != 0)
            reply_store_error(req, &err);
        else
            tg_http_reply_json(req, 200, json_pack("{s:o}", "hooks", list));
    }
}

/* ---- POST /v1/hooks/{id} ----------------------------------------------- */

bool tg_admin_is_hook(const char *path)
{
    return strncmp(path, HOOKS, strlen(HOOKS)) == 0 && path[strlen(HOOKS)] != '\0';
}

/* Records the refusal (it stands whether or not the record is written) and
 * answers 401 with the reason. */
static void deny(const tg_admin *admin, tg_http_request *req, const tg_hook *hook,
                 const char *principal, const char *reason)
{
    json_t *body = json_pack("{s:s, s:s}", "hook", hook->id, "reason", reason);
    tg_audit_record rec = {
        .kind = "auth.denied",
        .tenant = hook->tenant,
        .principal = principal,
        .tool = hook->worker,
        .status = "unauthorized",
        .error_code = tg_err_name(TG_EUNAUTHORIZED),
        .body = body,
    };
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    tg_error err;
    if (admin->audit &&
        tg_audit_append(admin->audit, &rec,
                        (int64_t)now.tv_sec * 1000000000 + now.tv_nsec + RECORD_DEADLINE_NS, NULL,
                        &err) != 0)
        tg_log_error(&(tg_log_ctx){.tenant = hook->tenant},
                     "refused request to hook %s not recorded: %s", hook->id, err.message);
    json_decref(body);
    reply_error(req, TG_EUNAUTHORIZED, reason);
}

/* Authenticates the request, maps its body and starts the call. */
static void call_hook(const tg_admin *admin, tg_http_request *req, const tg_hook *hook)
{
    /* A refusal is the hook's; a call runs as whoever created the hook (a
     * hook made before creators were recorded, as itself: no principal's
     * own secret is then injected). */
    char *principal = tg_xasprintf("hook:%s", hook->id);
    size_t len;
    const char *body = tg_http_body(req, &len);
    tg_error err;
    int rc = tg_hooks_check(admin->hooks, hook, tg_http_header(req, "Toolgate-Signature"), body,
                            len, (int64_t)time(NULL), &err);
    if (rc == TG_EUNAUTHORIZED) {
        deny(admin, req, hook, principal, err.message);
        free(principal);
        return;
    }
    if (rc != 0) {
        tg_log_error(&(tg_log_ctx){.tenant = hook->tenant}, "webhook %s not checked: %s", hook->id,
                     err.message);
        reply_error(req, TG_EUNAVAILABLE, NULL);
        free(principal);
        return;
    }
    json_t *doc =
        len ? json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL) : json_object();
    json_t *arguments = NULL;
    if (!doc) {
        reply_error(req, TG_EBAD_REQUEST, "the body is not valid JSON");
    } else if (tg_hooks_map(hook->mapping, doc, &arguments, &err) != 0) {
        reply_error(req, TG_EBAD_REQUEST, err.message);
    } else {
        tg_registry_snapshot *tool = NULL;
        tg_registry_error rerr = {0};
        rc = tg_registry_resolve(admin->registry, hook->tenant, hook->worker, &tool, &rerr);
        if (rc != 0) {
            reply_error(req, rc == TG_REGISTRY_ENOTFOUND ? TG_ENOT_FOUND : TG_EUNAVAILABLE,
                        rc == TG_REGISTRY_ENOTFOUND ? "the hook's worker is not deployed"
                                                    : rerr.message);
            tg_registry_error_clear(&rerr);
        } else {
            tg_admin_call call = {
                .tool = tool,
                .arguments = arguments,
                .principal = hook->principal ? hook->principal : principal,
                .trigger_kind = "webhook",
                .idempotency_key = tg_http_header(req, "Idempotency-Key"),
            };
            tg_admin_start_call(admin, req, &call);
            tg_registry_snapshot_unref(tool);
        }
    }
    json_decref(arguments);
    json_decref(doc);
    free(principal);
}

void tg_admin_hook_call(const tg_admin *admin, tg_http_request *req)
{
    if (strcmp(tg_http_method(req), "POST") != 0) {
        tg_http_set_header(req, "Allow", "POST");
        reply_error(req, TG_EMETHOD_NOT_ALLOWED, NULL);
        return;
    }
    if (!admin->hooks) {
        reply_error(req, TG_EUNAVAILABLE, "this gateway has no hook store");
        return;
    }
    tg_hook *hook = NULL;
    tg_error err;
    int rc = tg_hooks_get(admin->hooks, tg_http_path(req) + strlen(HOOKS), &hook, &err);
    if (rc == TG_ENOT_FOUND) {
        reply_error(req, TG_ENOT_FOUND, "no such hook");
        return;
    }
    if (rc != 0) {
        /* The detail (a store or key problem) is the operator's, not the sender's. */
        tg_log_error(NULL, "webhook lookup failed: %s", err.message);
        reply_error(req, rc == TG_EUNAVAILABLE ? TG_EUNAVAILABLE : TG_EINTERNAL, NULL);
        return;
    }
    call_hook(admin, req, hook);
    tg_hook_free(hook);
}
