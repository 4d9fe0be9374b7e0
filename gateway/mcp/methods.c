/* The MCP method table, expanded from methods.def. Fourteen rows: a linear scan
 * with strcmp is as fast as anything cleverer and needs no initialisation. */
#include "gateway/mcp/methods.h"

#include <stddef.h>
#include <string.h>

#define REQUEST      true
#define NOTIFICATION false
#define SESSION      TG_MCP_ERA_SESSION
#define STATELESS    TG_MCP_ERA_STATELESS
#define BOTH         (TG_MCP_ERA_SESSION | TG_MCP_ERA_STATELESS)

static const tg_mcp_method methods[] = {
#define XX(id, name, kind, from_client, needs_session, eras, scope)                                \
    {TG_MCP_##id, name, kind, from_client, needs_session, eras, scope},
#include "gateway/mcp/methods.def"
#undef XX
};

_Static_assert(sizeof methods / sizeof methods[0] == TG_MCP__COUNT, "one row per method");

const tg_mcp_method *tg_mcp_method_find(const char *name)
{
    for (size_t i = 0; name && i < TG_MCP__COUNT; i++)
        if (strcmp(methods[i].name, name) == 0) return &methods[i];
    return NULL;
}

const tg_mcp_method *tg_mcp_method_get(tg_mcp_method_id id)
{
    return (unsigned)id < TG_MCP__COUNT ? &methods[id] : NULL;
}

int tg_mcp_method_lookup(const char *name, bool is_request, tg_mcp_era era,
                         const tg_mcp_method **out, tg_error *err)
{
    const tg_mcp_method *m = tg_mcp_method_find(name);
    *out = NULL;
    if (!m || !m->from_client || m->is_request != is_request || !(m->eras & era)) {
        /* The name is client input: cut it (at a UTF-8 boundary, so the message
         * stays a valid JSON string) to keep the message one short line. */
        size_t n = name ? strlen(name) : 0, cut = n > 64 ? 64 : n;
        while (cut < n && cut > 0 && ((unsigned char)name[cut] & 0xC0) == 0x80)
            cut--;
        return tg_error_set(err, TG_EMETHOD_NOT_FOUND, "method not found: %.*s%s", (int)cut,
                            name ? name : "", cut < n ? "..." : "");
    }
    *out = m;
    return 0;
}
