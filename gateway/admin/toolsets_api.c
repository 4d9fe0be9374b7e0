/* /v1/toolsets: an admin defines the tenant's toolsets (docs/toolsets.md),
 * and the check every endpoint that runs a tool makes for a token restricted
 * to toolsets (its "toolsets" claim).
 *
 * A token restricted to toolsets reads only those and changes none: one
 * that could edit a toolset could widen its own restriction. */
#include "gateway/admin/admin.h"

#include "gateway/auth/auth.h"
#include "gateway/core/alloc.h"
#include "gateway/core/errors.h"
#include "gateway/core/log.h"

#include <stdlib.h>
#include <string.h>

#define TOOLSETS "/v1/toolsets"

static void reply_error(tg_http_request *req, tg_err_code code, const char *message,
                        json_t *details)
{
    tg_http_reply_json(req, (unsigned)tg_err_http_status(code),
                       json_pack("{s:o}", "error", tg_error_json(code, message, details, NULL)));
}

bool tg_admin_tool_allowed(const tg_admin *admin, const tg_caller *who, tg_http_request *req,
                           const char *tool)
{
    if (!who->toolsets_restricted) return true;
    for (size_t i = 0; i < who->n_toolsets; i++) {
        tg_toolset *t = NULL;
        tg_error err = {0};
        int rc = admin->toolsets
                     ? tg_toolsets_get(admin->toolsets, who->tenant, who->toolsets[i], &t, &err)
                     : TG_ENOT_FOUND;
        bool in = rc == 0 && tg_toolset_includes(t, tool, NULL);
        tg_toolset_unref(t);
        /* Without a toolset "default", /mcp serves every tool, and so does
         * a claim that names it. */
        if (in || (rc == TG_ENOT_FOUND && strcmp(who->toolsets[i], TG_TOOLSET_DEFAULT) == 0))
            return true;
        if (rc != 0 && rc != TG_ENOT_FOUND) {
            reply_error(req, TG_EUNAVAILABLE, err.message, NULL);
            return false;
        }
    }
    char *message = tg_xasprintf("this token is restricted to toolsets (its toolsets claim), "
                                 "and none of them holds tool \"%s\"",
                                 tool);
    tg_caller_refuse_toolset(req, who, message);
    free(message);
    return false;
}

/* Tells the front (and other replicas) that a toolset changed. */
static void changed(const tg_admin *admin, const char *tenant, const char *name)
{
    if (admin->toolsets_changed) admin->toolsets_changed(admin->changed_ctx, tenant, name);
}

static void put_toolset(const tg_admin *admin, const tg_caller *who, tg_http_request *req,
                        const char *name)
{
    size_t len;
    const char *body = tg_http_body(req, &len);
    json_error_t jerr;
    json_t *def = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!def) {
        char *message =
            tg_xasprintf("the body is not JSON: %s (at byte %d)", jerr.text, jerr.position);
        reply_error(req, TG_EBAD_REQUEST, message, NULL);
        free(message);
        return;
    }
    tg_toolset *t = NULL;
    json_t *problems = NULL;
    tg_error err = {0};
    bool created = false;
    if (tg_toolset_parse(name, def, &t, &problems, &err) != 0) {
        reply_error(req, TG_EBAD_REQUEST, err.message, problems);
    } else if (!tg_audit_healthy(who->audit)) {
        tg_http_set_header(req, "Retry-After", "5");
        reply_error(req, TG_EAUDIT_UNAVAILABLE,
                    "the audit log cannot be written, so nothing changes", NULL);
    } else if (tg_toolsets_put(admin->toolsets, who->tenant, t, &created, &err) != 0) {
        reply_error(req, TG_EUNAVAILABLE, err.message, NULL);
    } else {
        changed(admin, who->tenant, name);
        json_t *doc = tg_toolset_json(t);
        if (tg_caller_record(who, "toolset.write", NULL, created ? "created" : "replaced",
                             json_pack("{s:s, s:O}", "name", name, "definition", doc)) != 0) {
            tg_log_error(&(tg_log_ctx){.tenant = who->tenant},
                         "toolset %s changed but not recorded: the audit log is unwritable", name);
            reply_error(req, TG_EAUDIT_UNAVAILABLE,
                        "the change was made, but its audit record could not be written", NULL);
            json_decref(doc);
        } else {
            tg_http_reply_json(req, created ? 201 : 200, doc);
        }
    }
    json_decref(problems);
    tg_toolset_unref(t);
    json_decref(def);
}

static void delete_toolset(const tg_admin *admin, const tg_caller *who, tg_http_request *req,
                           const char *name)
{
    tg_error err = {0};
    if (!tg_audit_healthy(who->audit)) {
        tg_http_set_header(req, "Retry-After", "5");
        reply_error(req, TG_EAUDIT_UNAVAILABLE,
                    "the audit log cannot be written, so nothing changes", NULL);
        return;
    }
    int rc = tg_toolsets_delete(admin->toolsets, who->tenant, name, &err);
    if (rc != 0) {
        reply_error(req, rc == TG_ENOT_FOUND ? TG_ENOT_FOUND : TG_EUNAVAILABLE, err.message, NULL);
        return;
    }
    changed(admin, who->tenant, name);
    if (tg_caller_record(who, "toolset.write", NULL, "deleted", json_pack("{s:s}", "name", name)) !=
        0) {
        reply_error(req, TG_EAUDIT_UNAVAILABLE,
                    "the change was made, but its audit record could not be written", NULL);
        return;
    }
    tg_http_reply(req, 204, NULL, NULL, 0);
}

/* GET /v1/toolsets: the tenant's toolsets, or those of a restricted token. */
static void list_toolsets(const tg_admin *admin, const tg_caller *who, tg_http_request *req)
{
    json_t *all = NULL;
    tg_error err = {0};
    if (tg_toolsets_list(admin->toolsets, who->tenant, &all, &err) != 0) {
        reply_error(req, TG_EUNAVAILABLE, err.message, NULL);
        return;
    }
    json_t *shown = json_array();
    size_t i;
    json_t *t;
    json_array_foreach(all, i, t) if (tg_caller_may_use_toolset(
                                          who, json_string_value(json_object_get(t, "name"))))
        json_array_append(shown, t);
    json_decref(all);
    tg_http_reply_json(req, 200, json_pack("{s:o}", "toolsets", shown));
}

bool tg_admin_is_toolsets(const char *path)
{
    size_t n = strlen(TOOLSETS);
    return strncmp(path, TOOLSETS, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

void tg_admin_toolsets(const tg_admin *admin, const tg_caller *who, tg_http_request *req)
{
    const char *method = tg_http_method(req);
    bool read = strcmp(method, "GET") == 0;
    /* Reading takes either scope: an agent lists what it may use, an admin
     * what it manages. */
    uint32_t scope = read && !tg_caller_may(who, TG_SCOPE_WORKERS_DEPLOY) ? TG_SCOPE_TOOLS_LIST
                                                                          : TG_SCOPE_WORKERS_DEPLOY;
    if (!tg_caller_may(who, scope)) {
        tg_caller_refuse(req, who, scope);
        return;
    }
    if (!admin->toolsets) {
        reply_error(req, TG_EUNAVAILABLE, "this gateway has no toolset store", NULL);
        return;
    }
    const char *rest = tg_http_path(req) + strlen(TOOLSETS);
    if (*rest == '\0' || strcmp(rest, "/") == 0) {
        if (read) {
            list_toolsets(admin, who, req);
        } else {
            tg_http_set_header(req, "Allow", "GET");
            reply_error(req, TG_EMETHOD_NOT_ALLOWED, "PUT /v1/toolsets/{name} defines a toolset",
                        NULL);
        }
        return;
    }
    const char *name = rest + 1;
    if (!tg_toolset_valid_name(name)) {
        reply_error(req, TG_ENOT_FOUND,
                    "no such toolset (a name is 1 to 64 of a-z 0-9 _ -, starting with a-z or 0-9)",
                    NULL);
        return;
    }
    if (!read && who->toolsets_restricted) {
        tg_caller_refuse_toolset(req, who,
                                 "a token restricted to toolsets (its toolsets claim) cannot "
                                 "change toolsets");
        return;
    }
    if (read && !tg_caller_may_use_toolset(who, name)) {
        tg_caller_refuse_toolset(req, who,
                                 "this token's toolsets claim does not name this toolset");
        return;
    }
    if (read) {
        tg_toolset *t = NULL;
        tg_error err = {0};
        int rc = tg_toolsets_get(admin->toolsets, who->tenant, name, &t, &err);
        if (rc != 0)
            reply_error(req, rc == TG_ENOT_FOUND ? TG_ENOT_FOUND : TG_EUNAVAILABLE, err.message,
                        NULL);
        else
            tg_http_reply_json(req, 200, tg_toolset_json(t));
        tg_toolset_unref(t);
    } else if (strcmp(method, "PUT") == 0) {
        put_toolset(admin, who, req, name);
    } else if (strcmp(method, "DELETE") == 0) {
        delete_toolset(admin, who, req, name);
    } else {
        tg_http_set_header(req, "Allow", "GET, PUT, DELETE");
        reply_error(req, TG_EMETHOD_NOT_ALLOWED, NULL, NULL);
    }
}
