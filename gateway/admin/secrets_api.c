/* The admin REST API for secrets (/v1/secrets): set, list, delete. A value
 * comes in as a PUT body and never goes out: answers carry names and times,
 * audit records the name, and errors and log lines are worded without the
 * value or the body.
 *
 * The body is the value's raw bytes whatever the Content-Type: a credential
 * that is itself JSON (a cloud service account key) is kept as sent, and
 * binary values need no encoding.
 *
 * ?principal=SUB names a principal's own value instead of the tenant's
 * ("me": the caller's own sub). A caller with secrets:write may set, delete
 * and list any principal's of its tenant; a caller with tools:call alone
 * only its own (principal=me or its sub), so that a user can connect an
 * account without holding the tenant's secrets. */
#include "gateway/admin/admin.h"

#include "gateway/auth/auth.h"
#include "gateway/core/alloc.h"
#include "gateway/core/errors.h"
#include "gateway/core/log.h"
#include "gateway/egress/egress.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX "/v1/secrets"

static void reply_error(tg_http_request *req, tg_err_code code, const char *message)
{
    if (tg_err_retryable(code)) tg_http_set_header(req, "Retry-After", "5");
    tg_http_reply_json(req, (unsigned)tg_err_http_status(code),
                       json_pack("{s:o}", "error", tg_error_json(code, message, NULL, NULL)));
}

/* The store's failure as the error table words it. */
static void reply_store_error(tg_http_request *req, const tg_error *err)
{
    tg_err_code code = err->code == TG_EINVALID_PARAMS ? TG_EBAD_REQUEST : err->code;
    reply_error(req, tg_err_known(code) ? code : TG_EINTERNAL, err->message);
}

/* What the store's confirm callback needs to record a change. */
typedef struct change {
    const tg_caller *who;
    const char *name, *principal, *status; /* principal NULL: the tenant's value */
    bool recorded; /* the record is durable: a later failure is the store's */
} change;

/* Records the change while its transaction is still open: a change whose
 * record fails is rolled back, so none stands unrecorded. */
static int record(void *userdata)
{
    change *c = userdata;
    int rc = tg_caller_record(c->who, "secret.write", NULL, c->status,
                              json_pack("{s:s, s:s*}", "name", c->name, "principal", c->principal));
    c->recorded = rc == 0;
    return rc ? TG_EAUDIT_UNAVAILABLE : 0;
}

/* A change that failed: the audit log's refusal is told as such; a record
 * already written for a change that then failed to commit is logged, since
 * the log now says more than happened. */
static void reply_change_error(tg_http_request *req, const change *c, int rc, const tg_error *err)
{
    if (rc == TG_EAUDIT_UNAVAILABLE) {
        reply_error(req, TG_EAUDIT_UNAVAILABLE,
                    "the audit log cannot be written, so the secret was not changed");
        return;
    }
    if (c->recorded)
        tg_log_error(&(tg_log_ctx){.tenant = c->who->tenant},
                     "secret.write (%s) of %s recorded, but not made: %s", c->status, c->name,
                     err->message);
    reply_store_error(req, err);
}

/* Changes are made only while the audit log takes records: answers 503 and
 * returns false when it does not. */
static bool audit_ready(const tg_caller *who, tg_http_request *req)
{
    if (tg_audit_healthy(who->audit)) return true;
    reply_error(req, TG_EAUDIT_UNAVAILABLE, "the audit log cannot be written, so nothing changes");
    return false;
}

static void put_secret(tg_secrets *secrets, const tg_caller *who, tg_http_request *req,
                       const char *name, const char *principal, const unsigned char *value,
                       size_t len)
{
    change c = {.who = who, .name = name, .principal = principal, .status = "set"};
    tg_secrets_change done;
    tg_error err = {0};
    int rc = tg_secrets_put_for(secrets, who->tenant, name, principal, value, len, record, &c,
                                &done, &err);
    if (rc != 0) {
        reply_change_error(req, &c, rc, &err);
        return;
    }
    char when[40];
    tg_secrets_format_time(done.updated_at_ms, when, sizeof when);
    tg_http_reply_json(
        req, done.created ? 201 : 200,
        json_pack("{s:s, s:s*, s:s}", "name", name, "principal", principal, "updated_at", when));
}

static void delete_secret(tg_secrets *secrets, const tg_caller *who, tg_http_request *req,
                          const char *name, const char *principal)
{
    change c = {.who = who, .name = name, .principal = principal, .status = "deleted"};
    tg_error err = {0};
    int rc = tg_secrets_delete_for(secrets, who->tenant, name, principal, record, &c, &err);
    if (rc != 0)
        reply_change_error(req, &c, rc, &err);
    else
        tg_http_reply(req, 204, NULL, NULL, 0);
}

/* The entries of list that are principal's (a list with ?principal=).
 * Steals list. */
static json_t *own_entries(json_t *list, const char *principal)
{
    json_t *own = json_array();
    size_t i;
    json_t *item;
    json_array_foreach(list, i, item)
    {
        const char *p = json_string_value(json_object_get(item, "principal"));
        if (p && principal && strcmp(p, principal) == 0) json_array_append(own, item);
    }
    json_decref(list);
    return own;
}

/* The principal ?principal= names ("me" is the caller's sub), into
 * *principal (NULL: the tenant's value; borrowed from the request or who),
 * and whether the caller may reach it: secrets:write reaches every value
 * of the tenant, tools:call its own. Answers and returns false when not. */
static bool target(const tg_caller *who, tg_http_request *req, const char **principal)
{
    bool any = tg_caller_may(who, TG_SCOPE_SECRETS_WRITE);
    if (!any && !tg_caller_may(who, TG_SCOPE_TOOLS_CALL)) {
        tg_caller_refuse(req, who, TG_SCOPE_SECRETS_WRITE);
        return false;
    }
    const char *asked = tg_http_query(req, "principal");
    const char *own = tg_egress_principal_sub(who->tenant, who->principal);
    *principal = asked && strcmp(asked, "me") == 0 ? own : asked;
    if (asked && !*principal) {
        reply_error(req, TG_EBAD_REQUEST,
                    "principal=me names the caller's own values, and this caller is no "
                    "principal of the tenant");
        return false;
    }
    if (*principal && !tg_secrets_valid_principal(*principal)) {
        /* Not quoted, as a name is not. */
        reply_error(req, TG_EBAD_REQUEST,
                    "a principal must be 1 to 256 bytes without control characters");
        return false;
    }
    if (any || (*principal && own && strcmp(*principal, own) == 0)) return true;
    tg_caller_refuse(req, who, TG_SCOPE_SECRETS_WRITE);
    return false;
}

static void route(const tg_admin *admin, const tg_caller *who, tg_http_request *req,
                  const unsigned char *value, size_t len)
{
    const char *principal = NULL;
    if (!target(who, req, &principal)) return;
    if (!admin->secrets) {
        reply_error(req, TG_EUNAVAILABLE, "this gateway has no secret store");
        return;
    }
    const char *method = tg_http_method(req);
    const char *path = tg_http_path(req) + strlen(PREFIX);
    if (*path == '\0' || strcmp(path, "/") == 0) {
        if (strcmp(method, "GET") != 0) {
            tg_http_set_header(req, "Allow", "GET");
            reply_error(req, TG_EMETHOD_NOT_ALLOWED, NULL);
            return;
        }
        json_t *list = NULL;
        tg_error err = {0};
        if (tg_secrets_list(admin->secrets, who->tenant, &list, &err) != 0) {
            reply_store_error(req, &err);
            return;
        }
        if (principal) list = own_entries(list, principal);
        tg_http_reply_json(req, 200, json_pack("{s:o}", "secrets", list));
        return;
    }
    const char *name = path + 1;
    if (strchr(name, '/')) {
        reply_error(req, TG_ENOT_FOUND, "no such admin endpoint");
        return;
    }
    bool is_put = strcmp(method, "PUT") == 0, is_delete = strcmp(method, "DELETE") == 0;
    if (!is_put && !is_delete) {
        tg_http_set_header(req, "Allow", "PUT, DELETE");
        reply_error(req, TG_EMETHOD_NOT_ALLOWED,
                    "a secret is set with PUT and deleted with DELETE; its value is never read "
                    "back");
        return;
    }
    if (!tg_secrets_valid_name(name)) {
        /* Not quoted: the path may hold anything, a value included. */
        reply_error(req, TG_EBAD_REQUEST,
                    "a secret's name must match ^[A-Za-z_][A-Za-z0-9_]{0,127}$");
        return;
    }
    if (!audit_ready(who, req)) return;
    if (is_put)
        put_secret(admin->secrets, who, req, name, principal, value, len);
    else
        delete_secret(admin->secrets, who, req, name, principal);
}

void tg_admin_secrets(const tg_admin *admin, const tg_caller *who, tg_http_request *req)
{
    /* The body (a value, for a PUT) moves into a buffer of ours at once, and
     * the request's copy is wiped: tg_http_body is the request's own heap
     * buffer (http.c), which outlives the reply and is freed unwiped. Ours is
     * wiped when the request is answered, whatever the answer. */
    size_t len;
    char *body = (char *)tg_http_body(req, &len);
    unsigned char *value = tg_xmalloc(len ? len : 1);
    memcpy(value, body, len);
    OPENSSL_cleanse(body, len);
    route(admin, who, req, value, len);
    tg_secrets_value_free(value, len);
}
