/* The admin REST API (/v1/...): workers, the audit log and usage; secrets
 * and runs arrive with their modules. */
#ifndef TG_GATEWAY_ADMIN_H
#define TG_GATEWAY_ADMIN_H

#include "gateway/http/http.h"
#include "gateway/caller.h"
#include "gateway/calls/call.h"
#include "gateway/registry/registry.h"
#include "gateway/registry/secrets.h"

typedef struct tg_admin {
    tg_registry *registry; /* borrowed */
    tg_calls *calls;       /* borrowed: deploys run a worker's setup through it */
    tg_audit *audit;       /* borrowed: the log /v1/audit and /v1/usage read */
    tg_secrets *secrets;   /* borrowed: the store /v1/secrets writes */
    const tg_caller *who;  /* set per request */
    const char *tenant;    /* set per request from the caller */
} tg_admin;

/* Answers one request under /v1/workers for who (its tenant's workers only;
 * every endpoint needs the workers:deploy scope):
 *   GET    /v1/workers                   {"workers": [...]}
 *   POST   /v1/workers                   deploy {"manifest", "files": [{path, content_base64}]};
 *                                        a manifest's setup runs before the answer
 *   GET    /v1/workers/{name}            the worker with its versions
 *   POST   /v1/workers/{name}/rollback   {"version"}
 *   GET|PUT|DELETE /v1/workers/{name}/egress   the rules in force, set, or back to the manifest's
 *   DELETE /v1/workers/{name}
 * Each change is recorded in the audit log (deploy, rollback; a delete is a
 * deploy record with status "deleted"): none is made while the log is
 * unwritable, and one whose record then fails answers AUDIT_UNAVAILABLE. */
void tg_admin_handle(const tg_admin *admin, const tg_caller *who, tg_http_request *req);

/* GET /v1/audit (scope audit:read): the caller's tenant's records, newest
 * first, filtered by the query parameters since, until (tg_parse_time_ms),
 * tool, principal, status, error_code, trigger, call_id, kind, limit and
 * cursor: {"records": [...], "next_cursor": "..." (absent on the last
 * page)}. */
void tg_admin_audit(const tg_admin *admin, const tg_caller *who, tg_http_request *req);

/* GET /v1/usage?from=&to=&group=worker|day (scope audit:read): the caller's
 * tenant's calls, active CPU seconds, wall seconds and egress bytes. */
void tg_admin_usage(const tg_admin *admin, const tg_caller *who, tg_http_request *req);

/* Answers one request under /v1/secrets for who (its tenant's secrets only;
 * every endpoint needs the secrets:write scope, listing names included):
 *   GET    /v1/secrets          {"secrets": [{name, updated_at}]}, sorted by name
 *   PUT    /v1/secrets/{name}   the body is the value: its raw bytes, whatever
 *                               the Content-Type (1 byte to 64 KiB); 201 when
 *                               created, 200 when replaced: {name, updated_at}
 *   DELETE /v1/secrets/{name}   204, or 404
 * No answer ever holds a value. Each change is recorded (secret.write, status
 * "set" or "deleted", body {"name"}) before it commits: none is made while
 * the audit log is unwritable, and one whose record fails is rolled back and
 * answers AUDIT_UNAVAILABLE, so every change that stands has its record. */
void tg_admin_secrets(const tg_admin *admin, const tg_caller *who, tg_http_request *req);

#endif
