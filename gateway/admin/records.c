/* The audit log's read side of the admin API: /v1/audit and /v1/usage. A
 * caller reads its own tenant's records only: the tenant is the token's,
 * never a parameter. */
#include "gateway/admin/admin.h"

#include "gateway/auth/auth.h"
#include "gateway/core/alloc.h"
#include "gateway/core/errors.h"
#include "gateway/core/text.h"
#include "gateway/core/clock.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static void reply_error(tg_http_request *req, tg_err_code code, const char *message)
{
    tg_http_reply_json(req, (unsigned)tg_err_http_status(code),
                       json_pack("{s:o}", "error", tg_error_json(code, message, NULL, NULL)));
}

/* Reads the time parameter name into *ms (left alone when absent). Returns
 * false after answering 400 when it is not a time. */
static bool time_param(tg_http_request *req, const char *name, int64_t *ms)
{
    const char *v = tg_http_query(req, name);
    if (!v || tg_parse_time_ms(v, tg_now_ms(), ms)) return true;
    char *msg = tg_xasprintf("%s must be milliseconds since the epoch, an RFC 3339 time or an age "
                             "such as 24h",
                             name);
    reply_error(req, TG_EBAD_REQUEST, msg);
    free(msg);
    return false;
}

bool tg_admin_may_read(tg_http_request *req, const tg_caller *who, uint32_t scope)
{
    if (!tg_caller_may(who, scope)) {
        tg_caller_refuse(req, who, scope);
        return false;
    }
    if (strcmp(tg_http_method(req), "GET") == 0) return true;
    tg_http_set_header(req, "Allow", "GET");
    reply_error(req, TG_EMETHOD_NOT_ALLOWED, NULL);
    return false;
}

/* The store's failure as the error table words it: a bad cursor is the
 * caller's, anything else is the log being unreadable. */
static void reply_store_error(tg_http_request *req, const tg_error *err)
{
    reply_error(req, err->code == TG_EINVALID_PARAMS ? TG_EBAD_REQUEST : TG_EAUDIT_UNAVAILABLE,
                err->message);
}

bool tg_admin_page_limit(tg_http_request *req, size_t *limit)
{
    const char *text = tg_http_query(req, "limit");
    char *end = NULL;
    long n = text ? strtol(text, &end, 10) : 0;
    if (text && (end == text || *end || n < 1 || n > 1000)) {
        reply_error(req, TG_EBAD_REQUEST, "limit must be an integer from 1 to 1000");
        return false;
    }
    *limit = (size_t)n;
    return true;
}

void tg_admin_reply_page(tg_http_request *req, const char *name, json_t *page, char *next)
{
    json_t *doc = json_pack("{s:o}", name, page);
    if (next) json_object_set_new(doc, "next_cursor", json_string(next));
    free(next);
    tg_http_reply_json(req, 200, doc);
}

void tg_admin_audit(const tg_admin *admin, const tg_caller *who, tg_http_request *req)
{
    if (!tg_admin_may_read(req, who, TG_SCOPE_AUDIT_READ)) return;
    tg_audit_filter f = {
        .tenant = who->tenant,
        .tool = tg_http_query(req, "tool"),
        .principal = tg_http_query(req, "principal"),
        .status = tg_http_query(req, "status"),
        .error_code = tg_http_query(req, "error_code"),
        .trigger_kind = tg_http_query(req, "trigger"),
        .call_id = tg_http_query(req, "call_id"),
        .kind = tg_http_query(req, "kind"),
    };
    if (!time_param(req, "since", &f.since_ms) || !time_param(req, "until", &f.until_ms)) return;
    size_t limit;
    if (!tg_admin_page_limit(req, &limit)) return;
    json_t *page = NULL;
    char *next = NULL;
    tg_error err;
    if (tg_audit_query(admin->audit, &f, limit, tg_http_query(req, "cursor"), &page, &next, &err) !=
        0) {
        reply_store_error(req, &err);
        return;
    }
    tg_admin_reply_page(req, "records", page, next);
}

void tg_admin_usage(const tg_admin *admin, const tg_caller *who, tg_http_request *req)
{
    if (!tg_admin_may_read(req, who, TG_SCOPE_AUDIT_READ)) return;
    int64_t from = 0, to = 0;
    if (!time_param(req, "from", &from) || !time_param(req, "to", &to)) return;
    const char *group = tg_http_query(req, "group");
    if (!group) group = "worker";
    if (strcmp(group, "worker") != 0 && strcmp(group, "day") != 0) {
        reply_error(req, TG_EBAD_REQUEST, "group must be worker or day");
        return;
    }
    json_t *rows = NULL;
    tg_error err;
    if (tg_audit_usage(admin->audit, who->tenant, from, to,
                       strcmp(group, "day") == 0 ? TG_AUDIT_BY_DAY : TG_AUDIT_BY_WORKER, &rows,
                       &err) != 0) {
        reply_store_error(req, &err);
        return;
    }
    json_t *doc =
        json_pack("{s:s, s:s, s:o}", "tenant", who->tenant, "group", group, "usage", rows);
    if (from) json_object_set_new(doc, "from_ms", json_integer(from));
    if (to) json_object_set_new(doc, "to_ms", json_integer(to));
    tg_http_reply_json(req, 200, doc);
}

struct tg_admin_verify_cache {
    pthread_mutex_t mu; /* held through a walk: one runs at a time */
    json_t *answer;     /* the last walk's, or NULL */
    int64_t at_ms;      /* when it was made */
};

tg_admin_verify_cache *tg_admin_verify_cache_new(void)
{
    tg_admin_verify_cache *cache = tg_xcalloc(1, sizeof *cache);
    pthread_mutex_init(&cache->mu, NULL);
    return cache;
}

void tg_admin_verify_cache_free(tg_admin_verify_cache *cache)
{
    if (!cache) return;
    json_decref(cache->answer);
    pthread_mutex_destroy(&cache->mu);
    free(cache);
}

static const char *problem_code(tg_audit_problem problem)
{
    switch (problem) {
    case TG_AUDIT_INTACT:
        return NULL;
    case TG_AUDIT_EDITED:
        return "EDITED";
    case TG_AUDIT_REMOVED:
        return "REMOVED";
    case TG_AUDIT_REORDERED:
        return "REORDERED";
    }
    return "BROKEN";
}

static json_t *walk_chain(tg_audit *audit, int64_t now_ms)
{
    tg_audit_report report = {0};
    tg_error err;
    json_t *answer;
    if (tg_audit_verify(audit, &report, &err) != 0) {
        answer =
            json_pack("{s:b, s:n, s:I, s:{s:s, s:s}}", "ok", 0, "records", "checked_at",
                      (json_int_t)now_ms, "error", "code", "UNREADABLE", "message", err.message);
    } else {
        const char *code = problem_code(report.problem);
        answer =
            json_pack("{s:b, s:I, s:I, s:I, s:I}", "ok", code == NULL, "records",
                      (json_int_t)report.records, "first_seq", (json_int_t)report.first_seq,
                      "last_seq", (json_int_t)report.last_seq, "checked_at", (json_int_t)now_ms);
        json_object_set_new(answer, "error",
                            code ? json_pack("{s:s, s:s}", "code", code, "message", report.message)
                                 : json_null());
    }
    tg_audit_report_clear(&report);
    return answer;
}

void tg_admin_audit_verify(const tg_admin *admin, const tg_caller *who, tg_http_request *req)
{
    if (!tg_admin_may_read(req, who, TG_SCOPE_AUDIT_READ)) return;
    tg_admin_verify_cache *cache = admin->verified;
    pthread_mutex_lock(&cache->mu);
    int64_t now = tg_now_ms();
    if (!cache->answer || now - cache->at_ms >= TG_ADMIN_VERIFY_REUSE_MS || now < cache->at_ms) {
        json_decref(cache->answer);
        cache->answer = walk_chain(admin->audit, now);
        cache->at_ms = now;
    }
    json_t *answer = json_deep_copy(cache->answer);
    pthread_mutex_unlock(&cache->mu);
    tg_http_reply_json(req, 200, answer);
}
