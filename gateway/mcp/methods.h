/* The MCP method table (methods.def) and its lookup: the dispatcher's first
 * step. Each method says whether it is a request or a notification, whether a
 * client may send it, whether it needs a session, and the scope it needs. The
 * table is constant data; lookups are safe from any thread. */
#ifndef TG_MCP_METHODS_H
#define TG_MCP_METHODS_H

#include <stdbool.h>

#include "gateway/core/errors.h"

typedef enum tg_mcp_method_id {
#define XX(id, name, kind, from_client, needs_session, eras, scope) TG_MCP_##id,
#include "gateway/mcp/methods.def"
#undef XX
    TG_MCP__COUNT
} tg_mcp_method_id;

/* The protocol eras (bits, so a method can belong to both). */
typedef enum tg_mcp_era {
    TG_MCP_ERA_SESSION = 1,   /* 2025-03-26 to 2025-11-25: initialize, Mcp-Session-Id */
    TG_MCP_ERA_STATELESS = 2, /* 2026-07-28: per-request _meta, no handshake */
} tg_mcp_era;

typedef struct tg_mcp_method {
    tg_mcp_method_id id;
    const char *name;
    bool is_request; /* false: a notification */
    bool from_client;
    bool needs_session;
    unsigned eras;     /* tg_mcp_era bits */
    const char *scope; /* NULL: no scope beyond authentication */
} tg_mcp_method;

/* Returns: the entry named name (borrowed, static), or NULL. */
const tg_mcp_method *tg_mcp_method_find(const char *name);
/* Returns: the entry of id (borrowed, static), or NULL when out of range. */
const tg_mcp_method *tg_mcp_method_get(tg_mcp_method_id id);

/* The lookup a client's message goes through: 0 with *out set when name is a
 * method a client may send as this kind (is_request: it carried an id) in
 * era, else TG_EMETHOD_NOT_FOUND with *out NULL and err filled. A request
 * named like a notification, or the reverse, or a method of the other era, is
 * "not found": no such method exists there. */
int tg_mcp_method_lookup(const char *name, bool is_request, tg_mcp_era era,
                         const tg_mcp_method **out, tg_error *err);

#endif
