/* The admin REST API (/v1/...): workers, the audit log and usage; secrets
 * and runs arrive with their modules. */
#ifndef TG_GATEWAY_ADMIN_H
#define TG_GATEWAY_ADMIN_H

#include "gateway/http/http.h"
#include "gateway/caller.h"
#include "gateway/calls/call.h"
#include "gateway/registry/registry.h"
#include "gateway/registry/secrets.h"
#include "gateway/runs/runs.h"

typedef struct tg_admin {
    tg_registry *registry; /* borrowed */
    tg_calls *calls;       /* borrowed: deploys run a worker's setup through it */
    tg_audit *audit;       /* borrowed: the log /v1/audit and /v1/usage read */
    tg_secrets *secrets;   /* borrowed: the store /v1/secrets writes */
    tg_runs *runs;         /* borrowed: the history /v1/runs reads, button idempotency keys */
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

/* The paging parameters every listing takes: limit (1 to 1000) read into
 * *limit (0 when absent). Returns false after answering 400. */
bool tg_admin_page_limit(tg_http_request *req, size_t *limit);
/* Answers {"<name>": page, "next_cursor": next} (next absent on the last
 * page); steals page and frees next. */
void tg_admin_reply_page(tg_http_request *req, const char *name, json_t *page, char *next);

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

/* Answers one request under /v1/runs for who (scope audit:read; its tenant's
 * runs only):
 *   GET /v1/runs?worker=&trigger=&status=&limit=&cursor=
 *                              {"runs": [...], "next_cursor"} newest recorded
 *                              first; limit 1..1000 (default 50)
 *   GET /v1/runs/{call_id}       the summary, with "result" while it is kept
 *   GET /v1/runs/{call_id}/logs  {"stderr", "events", "events_dropped"}; 404
 *                                once pruned, or for a run unknown to who */
void tg_admin_runs(const tg_admin *admin, const tg_caller *who, tg_http_request *req);

/* True when path is a button trigger's, /v1/workers/{name}/run. */
bool tg_admin_is_trigger(const char *path);

/* POST /v1/workers/{name}/run (scope workers:trigger): runs the worker with
 * the body as its arguments (an object; an empty body is {}) as a "button"
 * call of who's, and answers 200 with the CallToolResult, isError or not,
 * plus "call_id". The answer comes from the pipeline's thread: no HTTP
 * thread waits for the call.
 *
 * Idempotency-Key (1..255 printable ASCII): the first request with a key runs
 * the worker; its answer is kept for 24 hours per (tenant, worker, key) with
 * the SHA-256 of the canonical body (keys sorted, compact). A retry with the
 * same key and body gets that answer again (header Idempotent-Replayed: true)
 * without running anything; one while the first still runs gets 409 CONFLICT
 * with Retry-After: 1 (retry later; nothing waits); the same key with another
 * body gets 409 CONFLICT. An answer with a retryable error is not kept, so a
 * retry with the key runs the call again. */
void tg_admin_trigger(const tg_admin *admin, const tg_caller *who, tg_http_request *req);

#endif
