/* The egress proxy: the host end of a worker's only way out. Each HTTP
 * request the worker sends through its sandbox's proxy (plain http://, in
 * absolute form) arrives here as a frame; it is checked against the
 * worker's egress rules, sent by libcurl over https to the rule's origin with
 * the rule's credential added from the secret store, and answered with the
 * upstream's response, from which every secret value the request used has
 * been redacted.
 *
 * Invariants: no request leaves without a rule that allows its origin,
 * method and path; a credential goes only to its rule's origin (never across
 * a redirect to another); no secret value reaches the sandbox; every request,
 * allowed or denied, leaves an `egress` audit record, and none is sent while
 * the audit log cannot take records. */
#ifndef TG_EGRESS_EGRESS_H
#define TG_EGRESS_EGRESS_H

#include "audit/audit.h"
#include "gateway/core/errors.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tg_egress tg_egress;

/* 0 takes the default. */
typedef struct tg_egress_config {
    const char *ca_file;       /* CA certificates for upstreams besides the system's; NULL: none */
    size_t max_request_bytes;  /* a request's body (1 MiB) */
    size_t max_response_bytes; /* a response's body, decoded (4 MiB) */
    int64_t timeout_ms;        /* one request, redirects included (10000; the call's end first) */
    unsigned max_requests;     /* outbound requests per call, redirects included (64) */
    unsigned max_redirects;    /* redirects followed for one request (5) */
} tg_egress_config;

/* Looks up the value of tenant's secret name: principal's own (the sub of
 * "<tenant>/<sub>") or, with principal NULL, the tenant's. Returns 0 with
 * *value (malloc'd; the egress wipes and frees it) and *len, TG_ENOT_FOUND
 * when there is no such value, or another non-zero code when the store
 * fails. */
typedef int (*tg_egress_secret_fn)(void *ctx, const char *tenant, const char *principal,
                                   const char *name, unsigned char **value, size_t *len);

/* The sub of principal when it is "<tenant>/<sub>" of tenant, else NULL
 * (borrowed from principal). */
const char *tg_egress_principal_sub(const char *tenant, const char *principal);

/* Returns 0, or TG_EINTERNAL (err set) when libcurl cannot be set up.
 * audit is borrowed and required. */
int tg_egress_new(const tg_egress_config *config, tg_egress_secret_fn secret, void *secret_ctx,
                  tg_audit *audit, tg_egress **out, tg_error *err);
void tg_egress_free(tg_egress *egress);

/* Returns: new reference, the egress rules in force for the call's worker
 * now (an array, possibly empty), asked at every request so that rules an
 * admin changes apply to a worker already running. */
typedef json_t *(*tg_egress_rules_fn)(void *ctx);

/* One call's use of the egress: who it is for the audit log, where its
 * rules come from, and what it has sent so far (the call.end summary). The
 * caller fills the first part; tg_egress_handle updates the counts. Used by
 * one thread at a time. */
typedef struct tg_egress_call {
    tg_egress *egress;
    /* principal: "<tenant>/<sub>" when the call is a principal's of the
     * tenant, whose own secrets a rule with per_principal may inject;
     * anything else ("schedule", "hook:ID") has only the tenant's. */
    const char *tenant, *worker, *principal, *trigger_kind, *call_id, *trace_id;
    tg_egress_rules_fn rules;
    void *rules_ctx;

    unsigned requests; /* sent upstream, redirects included */
    unsigned denied;
    uint64_t bytes_sent, bytes_received;
    /* Requests sent with the principal's own credential, and with the
     * tenant's. */
    unsigned principal_credentials, tenant_credentials;
    /* The first secret a "required" rule needed of the principal, who has
     * none ("" while none was missing): the call fails CREDENTIAL_MISSING
     * whatever the worker then answers. */
    char missing_secret[129];
} tg_egress_call;

/* Answers one "egress" frame (borrowed: {id, method, url, headers, body})
 * before deadline_ns (CLOCK_MONOTONIC). Returns: new reference, the response
 * {status, headers: [[name, value]...], body: base64}: the upstream's, or the
 * proxy's own error with a JSON body {"error": {code, message}}:
 * EGRESS_DENIED 403 (no rule), EGRESS_LIMIT 429, PAYLOAD_TOO_LARGE 413,
 * UPSTREAM_FAILED 502, UPSTREAM_TIMEOUT 504, RESPONSE_TOO_LARGE 502,
 * AUDIT_UNAVAILABLE 503, CREDENTIAL_MISSING 424 (a "required" rule and a
 * principal without its own value: never the tenant's instead), INTERNAL 500
 * (a rule's secret is missing). */
json_t *tg_egress_handle(tg_egress_call *call, const json_t *request, int64_t deadline_ns);

/* The call.end summary of call: {requests, denied, bytes}, and credential:
 * "principal", "tenant" or "both" when requests carried a credential (whose
 * value is never in it). New reference. */
json_t *tg_egress_summary(const tg_egress_call *call);

#endif
