/* Who made a request, as the front door established it (a verified token,
 * or --insecure-no-auth's one local caller), and what the handlers need of
 * it: the tenant every lookup is scoped to, the principal sessions are bound
 * to, and the scopes each endpoint and MCP method checks. */
#ifndef TG_GATEWAY_CALLER_H
#define TG_GATEWAY_CALLER_H

#include "audit/audit.h"
#include "gateway/http/http.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct tg_caller {
    const char *tenant;
    const char *principal;    /* "<tenant>/<sub>" */
    uint32_t scopes;          /* TG_SCOPE_* bits (gateway/auth/auth.h) */
    const char *metadata_url; /* RFC 9728 resource metadata, for WWW-Authenticate */
    tg_audit *audit;          /* where what the caller does is recorded */
    /* The token's "toolsets" claim (docs/toolsets.md): when restricted, the
     * only toolsets it may use, and the only tools it may run are theirs. */
    bool toolsets_restricted;
    size_t n_toolsets;
    const char *const *toolsets;
} tg_caller;

/* True when who may use toolset name: its token has no toolsets claim, or
 * the claim names it. */
bool tg_caller_may_use_toolset(const tg_caller *who, const char *name);

/* 403 FORBIDDEN with message (what the token's toolsets claim does not
 * allow), recorded as auth.denied with the method, path and message. */
void tg_caller_refuse_toolset(tg_http_request *req, const tg_caller *who, const char *message);

/* True when who holds scope, or admin, which holds them all. */
bool tg_caller_may(const tg_caller *who, uint32_t scope);

/* 403 with WWW-Authenticate: Bearer error="insufficient_scope" naming scope,
 * recorded as auth.denied. */
void tg_caller_refuse(tg_http_request *req, const tg_caller *who, uint32_t scope);

/* Records what who did (deploy, rollback, auth.denied, ...; tool and status
 * may be NULL) in the audit log and waits, two seconds at most, until it is
 * durable. body (stolen; NULL for {}) holds the kind's own fields. Returns 0,
 * or TG_EAUDIT_UNAVAILABLE. */
int tg_caller_record(const tg_caller *who, const char *kind, const char *tool, const char *status,
                     json_t *body);

#endif
