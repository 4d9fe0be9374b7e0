/* The /mcp endpoint: MCP's Streamable HTTP transport over gateway/http, with
 * sessions from gateway/mcp and tool calls handed to gateway/calls. */
#ifndef TG_GATEWAY_MCP_FRONT_H
#define TG_GATEWAY_MCP_FRONT_H

#include "gateway/calls/call.h"
#include "gateway/http/http.h"
#include "gateway/mcp/session.h"
#include "gateway/registry/registry.h"

typedef struct tg_mcp_front {
    tg_registry *registry;      /* borrowed */
    tg_session_table *sessions; /* borrowed */
    tg_calls *calls;            /* borrowed */
    const char *tenant;         /* the workspace served (one until auth arrives) */
} tg_mcp_front;

/* Answers one request to /mcp (now, or later for a tools/call). */
void tg_mcp_front_handle(tg_mcp_front *front, tg_http_request *req);

#endif
