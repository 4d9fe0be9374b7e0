#include "gateway/caller.h"

#include "gateway/auth/auth.h"
#include "gateway/core/alloc.h"
#include "gateway/core/errors.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RECORD_DEADLINE_NS 2000000000LL

int tg_caller_record(const tg_caller *who, const char *kind, const char *tool, const char *status,
                     json_t *body)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    tg_audit_record rec = {
        .kind = kind,
        .tenant = who->tenant,
        .principal = who->principal,
        .tool = tool,
        .status = status,
        .body = body,
    };
    tg_error err;
    int rc = tg_audit_append(who->audit, &rec,
                             (int64_t)now.tv_sec * 1000000000 + now.tv_nsec + RECORD_DEADLINE_NS,
                             NULL, &err);
    json_decref(body);
    return rc;
}

bool tg_caller_may(const tg_caller *who, uint32_t scope)
{
    return (who->scopes & (scope | TG_SCOPE_ADMIN)) != 0;
}

void tg_caller_refuse(tg_http_request *req, const tg_caller *who, uint32_t scope)
{
    const char *name = tg_scope_name(scope);
    char *challenge = tg_xasprintf("Bearer error=\"insufficient_scope\", scope=\"%s\", "
                                   "resource_metadata=\"%s\"",
                                   name, who->metadata_url ? who->metadata_url : "");
    tg_http_set_header(req, "WWW-Authenticate", challenge);
    free(challenge);
    /* The refusal stands whether or not it could be recorded. */
    tg_caller_record(who, "auth.denied", NULL, "forbidden",
                     json_pack("{s:s, s:s, s:s}", "method", tg_http_method(req), "path",
                               tg_http_path(req), "scope", name));
    char *message = tg_xasprintf("this token lacks the scope %s", name);
    tg_http_reply_json(
        req, (unsigned)tg_err_http_status(TG_EFORBIDDEN),
        json_pack("{s:o}", "error", tg_error_json(TG_EFORBIDDEN, message, NULL, NULL)));
    free(message);
}

bool tg_caller_may_use_toolset(const tg_caller *who, const char *name)
{
    if (!who->toolsets_restricted) return true;
    for (size_t i = 0; i < who->n_toolsets; i++)
        if (strcmp(who->toolsets[i], name) == 0) return true;
    return false;
}

void tg_caller_refuse_toolset(tg_http_request *req, const tg_caller *who, const char *message)
{
    /* The refusal stands whether or not it could be recorded. */
    tg_caller_record(who, "auth.denied", NULL, "forbidden",
                     json_pack("{s:s, s:s, s:s}", "method", tg_http_method(req), "path",
                               tg_http_path(req), "reason", message));
    tg_http_reply_json(
        req, (unsigned)tg_err_http_status(TG_EFORBIDDEN),
        json_pack("{s:o}", "error", tg_error_json(TG_EFORBIDDEN, message, NULL, NULL)));
}
