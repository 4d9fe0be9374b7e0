/* The /mcp endpoint: MCP's Streamable HTTP transport over gateway/http, with
 * sessions (2025 revisions) or none (2026-07-28) from gateway/mcp and tool
 * calls handed to gateway/calls. */
#ifndef TG_GATEWAY_MCP_FRONT_H
#define TG_GATEWAY_MCP_FRONT_H

#include "gateway/caller.h"
#include "gateway/calls/call.h"
#include "gateway/http/http.h"
#include "gateway/mcp/session.h"
#include "gateway/registry/registry.h"
#include "gateway/registry/toolsets.h"

#include <pthread.h>

typedef struct tg_mcp_listener tg_mcp_listener;
typedef struct tg_mcp_search_index tg_mcp_search_index;

typedef struct tg_mcp_front {
    tg_registry *registry;      /* borrowed */
    tg_session_table *sessions; /* borrowed */
    tg_calls *calls;            /* borrowed */
    tg_toolsets *toolsets;      /* borrowed; NULL: no toolsets, /mcp serves every tool */
    pthread_mutex_t lock;       /* guards listeners */
    tg_mcp_listener *listeners; /* open GET and subscriptions/listen streams */
    /* Search mode's indexes, one per (tenant, toolset), and the generation
     * of the tools they were built from, which every change moves on. */
    pthread_mutex_t search_lock;
    tg_mcp_search_index *searches;
    unsigned long search_generation;
} tg_mcp_front;

/* Sets the front up over its borrowed parts. */
void tg_mcp_front_init(tg_mcp_front *front, tg_registry *registry, tg_session_table *sessions,
                       tg_calls *calls, tg_toolsets *toolsets);
/* Ends every open GET stream and subscription (a subscription with its
 * final response). */
void tg_mcp_front_close(tg_mcp_front *front);

/* Answers one request to /mcp (toolset NULL) or /mcp/{toolset} (now, or
 * later for a tools/call) for who: the tools of its tenant the endpoint
 * serves (docs/toolsets.md), its own sessions made on this endpoint (another
 * principal's session id, or one made on another endpoint, is unknown: 404),
 * and each method's scope (403 without it). An unknown toolset is 404, one
 * the token's toolsets claim does not name 403 (and /mcp, unless it names
 * "default"). */
void tg_mcp_front_handle(tg_mcp_front *front, const tg_caller *who, tg_http_request *req,
                         const char *toolset);

/* Tells every client of tenant with an open GET stream, or a subscription
 * that asked for toolsListChanged, whatever its endpoint, that the tool list
 * changed (notifications/tools/list_changed); tenant NULL tells every
 * tenant's clients. Call it for every change of the tools or of a toolset:
 * it also makes the search indexes stale. Any thread. */
void tg_mcp_front_tools_changed(tg_mcp_front *front, const char *tenant);

#endif
