/* The admin REST API (/v1/...): workers for now; secrets, runs and audit
 * arrive with their modules. */
#ifndef TG_GATEWAY_ADMIN_H
#define TG_GATEWAY_ADMIN_H

#include "gateway/http/http.h"
#include "gateway/caller.h"
#include "gateway/calls/call.h"
#include "gateway/registry/registry.h"

typedef struct tg_admin {
    tg_registry *registry; /* borrowed */
    tg_calls *calls;       /* borrowed: deploys run a worker's setup through it */
    const char *tenant;    /* set per request from the caller */
} tg_admin;

/* Answers one request under /v1/workers for who (its tenant's workers only;
 * every endpoint needs the workers:deploy scope):
 *   GET    /v1/workers                   {"workers": [...]}
 *   POST   /v1/workers                   deploy {"manifest", "files": [{path, content_base64}]};
 *                                        a manifest's setup runs before the answer
 *   GET    /v1/workers/{name}            the worker with its versions
 *   POST   /v1/workers/{name}/rollback   {"version"}
 *   DELETE /v1/workers/{name} */
void tg_admin_handle(const tg_admin *admin, const tg_caller *who, tg_http_request *req);

#endif
