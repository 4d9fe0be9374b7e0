/* The admin REST API (/v1/...): workers, the audit log and usage; secrets
 * and runs arrive with their modules. */
#ifndef TG_GATEWAY_ADMIN_H
#define TG_GATEWAY_ADMIN_H

#include "gateway/http/http.h"
#include "gateway/caller.h"
#include "gateway/calls/call.h"
#include "gateway/registry/registry.h"
#include "gateway/registry/secrets.h"
#include "gateway/registry/toolsets.h"
#include "gateway/runs/runs.h"
#include "gateway/schedules.h"
#include "gateway/triggers/hooks.h"

typedef struct tg_admin_verify_cache tg_admin_verify_cache;

typedef struct tg_admin {
    tg_registry *registry;   /* borrowed */
    tg_calls *calls;         /* borrowed: deploys run a worker's setup through it */
    tg_audit *audit;         /* borrowed: the log /v1/audit and /v1/usage read */
    tg_secrets *secrets;     /* borrowed: the store /v1/secrets writes */
    tg_runs *runs;           /* borrowed: the history /v1/runs reads, button idempotency keys */
    tg_hooks *hooks;         /* borrowed: the webhooks /v1/workers/{name}/hooks manages */
    tg_schedules *schedules; /* borrowed: what /v1/schedules lists */
    tg_admin_verify_cache *verified; /* GET /v1/audit/verify's last answer */
    tg_toolsets *toolsets;           /* borrowed: the store /v1/toolsets writes */
    /* Told of each toolset put or deleted, so its clients relist their
     * tools (the front, and other replicas). */
    void (*toolsets_changed)(void *ctx, const char *tenant, const char *name);
    void *changed_ctx;
    const tg_caller *who; /* set per request */
    const char *tenant;   /* set per request from the caller */
} tg_admin;

/* Answers one request under /v1/workers for who (its tenant's workers only;
 * every endpoint needs the workers:deploy scope):
 *   GET    /v1/workers                   {"workers": [...]}
 *   POST   /v1/workers                   deploy {"manifest", "files": [{path, content_base64}],
 *                                        "require_fixtures", "strict"}: the version is
 *                                        staged, linted, set up and replayed against
 *                                        its fixtures (fixtures/NAME.json) before it is current
 *   GET    /v1/workers/{name}            the worker with its versions
 *   GET    /v1/workers/{name}/versions   {"name", "versions": [...]}, each with its
 *                                        definition hash and drift count
 *   POST   /v1/workers/{name}/rollback   {"version"}
 *   GET|PUT|DELETE /v1/workers/{name}/egress   the rules in force, set, or back to the manifest's
 *   DELETE /v1/workers/{name}               its hooks go with it
 *   GET|POST /v1/workers/{name}/hooks, DELETE /v1/workers/{name}/hooks/{id}
 *                                        webhooks (tg_admin_hooks)
 * Each change is recorded in the audit log (deploy, rollback; a delete is a
 * deploy record with status "deleted"): none is made while the log is
 * unwritable, and one whose record then fails answers AUDIT_UNAVAILABLE. */
void tg_admin_handle(const tg_admin *admin, const tg_caller *who, tg_http_request *req);

/* Replays the fixtures kept with tool's version (its files fixtures/NAME.json,
 * gateway/contract/fixture.h) through the call pipeline as principal, one
 * after another, and waits for them. Returns: new reference,
 * {passed, failed, cases: [{name, passed, why}]} (why only when failed);
 * passed + failed is 0 when the version has no fixtures. */
json_t *tg_admin_run_fixtures(tg_calls *calls, tg_registry_snapshot *tool, const char *principal);

/* Whether who may read with scope and req is a GET; else answers (403 with
 * the challenge, or 405) and returns false. */
bool tg_admin_may_read(tg_http_request *req, const tg_caller *who, uint32_t scope);

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

/* GET /v1/audit/verify (scope audit:read): walks the whole hash chain (every
 * tenant's records link into it) and answers {ok, records, first_seq,
 * last_seq, checked_at, error: null | {code (EDITED, REMOVED, REORDERED or
 * UNREADABLE), message}}. A walk reads every record, so one answer serves every caller for
 * TG_ADMIN_VERIFY_REUSE_MS, and one walk runs at a time. */
#define TG_ADMIN_VERIFY_REUSE_MS 10000
void tg_admin_audit_verify(const tg_admin *admin, const tg_caller *who, tg_http_request *req);
tg_admin_verify_cache *tg_admin_verify_cache_new(void);
void tg_admin_verify_cache_free(tg_admin_verify_cache *cache);

/* GET /v1/schedules (scope workers:deploy): the caller's tenant's scheduled
 * workers, {"schedules": [{worker, schedule, timezone, state, next_run_at}]}
 * sorted by worker (tg_scheduler_list). */
void tg_admin_schedules(const tg_admin *admin, const tg_caller *who, tg_http_request *req);

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

/* True for /v1/toolsets and what is under it. */
bool tg_admin_is_toolsets(const char *path);

/* The tenant's toolsets (docs/toolsets.md); reads take tools:list or
 * workers:deploy, changes workers:deploy:
 *   GET    /v1/toolsets          {"toolsets": [...]} sorted by name
 *   GET    /v1/toolsets/{name}   {name, tools, mode, alwaysLoaded, description, updated_at}
 *   PUT    /v1/toolsets/{name}   the definition: 201 created or 200 replaced, with it;
 *                                400 with every problem as details
 *   DELETE /v1/toolsets/{name}   204, or 404
 * A token restricted to toolsets reads only those (403 for others) and
 * changes none (403). Each change is a toolset.write record (status
 * created, replaced or deleted) and tells toolsets_changed. */
void tg_admin_toolsets(const tg_admin *admin, const tg_caller *who, tg_http_request *req);

/* Whether who may run tool: a token without a toolsets claim may run any,
 * a restricted one only the tools of its toolsets (with "default" standing
 * for every tool while the tenant defines no toolset of that name). Else
 * answers (403, recorded as auth.denied; 503 when the toolsets cannot be
 * read) and returns false. */
bool tg_admin_tool_allowed(const tg_admin *admin, const tg_caller *who, tg_http_request *req,
                           const char *tool);

/* True when path is a button trigger's, /v1/workers/{name}/run. */
bool tg_admin_is_trigger(const char *path);

/* POST /v1/workers/{name}/run (scope workers:trigger; a token restricted to
 * toolsets only for their tools): runs the worker with
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

/* A call a trigger starts for a request. */
typedef struct tg_admin_call {
    tg_registry_snapshot *tool;  /* borrowed: the resolved worker, in its tenant */
    const json_t *arguments;     /* borrowed: an object */
    const char *principal;       /* who runs it, for the audit log and the history */
    const char *trigger_kind;    /* button or webhook */
    const char *idempotency_key; /* the request's Idempotency-Key header, or NULL */
} tg_admin_call;

/* Runs call through the pipeline and answers req from its done callback
 * with 200 and the CallToolResult plus "call_id", as tg_admin_trigger
 * describes, Idempotency-Key included (400 for a malformed key; keys are
 * per tenant and worker, whatever the trigger). A valid W3C traceparent
 * header on req puts the call in the sender's trace, as on /mcp. */
void tg_admin_start_call(const tg_admin *admin, tg_http_request *req, const tg_admin_call *call);

/* The webhooks of who's worker name; called by tg_admin_handle, which has
 * checked the workers:deploy scope, with rest the path after
 * /v1/workers/{name}/hooks:
 *   POST   /v1/workers/{name}/hooks        body optional: {"mapping": {arg: JSON Pointer}};
 *                                          201 {id, secret, url, worker, mapping,
 *                                          created_at}: the only answer with the secret
 *   GET    /v1/workers/{name}/hooks        {"hooks": [...]}, oldest first, no secrets
 *   DELETE /v1/workers/{name}/hooks/{id}   204, or 404
 * The worker must exist (404). Each change is recorded in the audit log
 * (kind "hook", status "created" or "deleted", body {id, worker}; never the
 * secret): a hook whose record fails is removed again and the answer is
 * AUDIT_UNAVAILABLE. */
void tg_admin_hooks(const tg_admin *admin, tg_http_request *req, const char *name,
                    const char *rest);

/* True when path is a webhook's, /v1/hooks/{id}. */
bool tg_admin_is_hook(const char *path);

/* POST /v1/hooks/{id}, with no token: the Toolgate-Signature header
 * authenticates the request (gateway/triggers/hooks.h). An unknown id is
 * 404 and nothing more. A refused signature (missing, malformed, not
 * matching, outside the 5-minute window, already used) is 401 UNAUTHORIZED
 * with the reason, recorded as auth.denied (tenant the hook's, principal
 * "hook:<id>", tool the worker, body {hook, reason}). Then the body (JSON;
 * empty reads as {}) goes through the hook's mapping to the worker's
 * arguments (400 when it cannot), and the worker runs as a "webhook" call
 * of principal "hook:<id>", answered as tg_admin_start_call does. */
void tg_admin_hook_call(const tg_admin *admin, tg_http_request *req);

#endif
