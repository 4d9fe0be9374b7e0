/* The MCP method table (gateway/mcp/methods.def) and its lookup. */
#include <jansson.h>
#include <string.h>

#include "check.h"
#include "gateway/mcp/methods.h"

static void expect_found(const char *name, bool is_request, tg_mcp_method_id id, bool needs_session,
                         const char *scope)
{
    const tg_mcp_method *m = NULL;
    tg_error err = {0};
    CHECK_INT_EQ(tg_mcp_method_lookup(name, is_request, TG_MCP_ERA_SESSION, &m, &err), 0);
    if (!m) return;
    CHECK_INT_EQ(m->id, id);
    CHECK_STR_EQ(m->name, name);
    CHECK_INT_EQ(m->is_request, is_request);
    CHECK_INT_EQ(m->needs_session, needs_session);
    CHECK(m->from_client);
    if (scope)
        CHECK_STR_EQ(m->scope, scope);
    else
        CHECK(m->scope == NULL);
}

static void expect_not_found(const char *name, bool is_request)
{
    const tg_mcp_method *m = (const tg_mcp_method *)1;
    tg_error err = {0};
    CHECK_INT_EQ(tg_mcp_method_lookup(name, is_request, TG_MCP_ERA_SESSION, &m, &err),
                 TG_EMETHOD_NOT_FOUND);
    CHECK(m == NULL);
    CHECK_INT_EQ(err.code, TG_EMETHOD_NOT_FOUND);
    CHECK(strncmp(err.message, "method not found: ", 18) == 0);
}

int main(void)
{
    expect_found("initialize", true, TG_MCP_INITIALIZE, false, NULL);
    expect_found("notifications/initialized", false, TG_MCP_INITIALIZED, true, NULL);
    expect_found("ping", true, TG_MCP_PING, false, NULL);
    expect_found("tools/list", true, TG_MCP_TOOLS_LIST, true, "tools:list");
    expect_found("tools/call", true, TG_MCP_TOOLS_CALL, true, "tools:call");
    expect_found("notifications/cancelled", false, TG_MCP_CANCELLED, true, NULL);
    expect_found("logging/setLevel", true, TG_MCP_LOGGING_SET_LEVEL, true, NULL);

    /* Unknown names, the wrong kind, and what only the server sends. */
    expect_not_found("tools/unknown", true);
    expect_not_found("", true);
    expect_not_found(NULL, true);
    expect_not_found("Tools/List", true);
    expect_not_found("initialize", false);
    expect_not_found("notifications/initialized", true);
    expect_not_found("notifications/progress", false);
    expect_not_found("notifications/message", false);
    expect_not_found("resources/list", true);

    /* server/discover is 2026-07-28's alone; ping, initialize and
     * logging/setLevel are the session era's alone; tools serve both. */
    expect_not_found("server/discover", true);
    const tg_mcp_method *s = NULL;
    tg_error serr = {0};
    CHECK_INT_EQ(tg_mcp_method_lookup("server/discover", true, TG_MCP_ERA_STATELESS, &s, &serr), 0);
    CHECK(s && s->id == TG_MCP_DISCOVER && !s->needs_session);
    CHECK_INT_EQ(tg_mcp_method_lookup("tools/call", true, TG_MCP_ERA_STATELESS, &s, &serr), 0);
    CHECK(s && s->id == TG_MCP_TOOLS_CALL);
    CHECK_INT_EQ(
        tg_mcp_method_lookup("subscriptions/listen", true, TG_MCP_ERA_STATELESS, &s, &serr), 0);
    CHECK(s && s->id == TG_MCP_SUBSCRIPTIONS_LISTEN && s->scope &&
          strcmp(s->scope, "tools:list") == 0);
    expect_not_found("subscriptions/listen", true);
    CHECK_INT_EQ(tg_mcp_method_lookup("notifications/subscriptions/acknowledged", false,
                                      TG_MCP_ERA_STATELESS, &s, &serr),
                 TG_EMETHOD_NOT_FOUND);
    static const char *const session_only[] = {"initialize", "ping", "logging/setLevel"};
    for (size_t i = 0; i < sizeof session_only / sizeof *session_only; i++) {
        CHECK_INT_EQ(tg_mcp_method_lookup(session_only[i], true, TG_MCP_ERA_STATELESS, &s, &serr),
                     TG_EMETHOD_NOT_FOUND);
        CHECK(s == NULL);
    }

    /* A long name is cut in the message. */
    char longname[300];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    const tg_mcp_method *m = NULL;
    tg_error err = {0};
    CHECK_INT_EQ(tg_mcp_method_lookup(longname, true, TG_MCP_ERA_SESSION, &m, &err),
                 TG_EMETHOD_NOT_FOUND);
    CHECK(strlen(err.message) < 100);
    /* ... and never inside a UTF-8 sequence: the message must stay a JSON string. */
    memset(longname, 'x', 63);
    for (size_t i = 63; i + 2 < sizeof longname; i += 2) {
        longname[i] = (char)0xc3;
        longname[i + 1] = (char)0xa9;
    }
    longname[sizeof longname - 2] = '\0';
    CHECK_INT_EQ(tg_mcp_method_lookup(longname, true, TG_MCP_ERA_SESSION, &m, &err),
                 TG_EMETHOD_NOT_FOUND);
    json_t *js = json_string(err.message);
    CHECK(js != NULL);
    json_decref(js);

    /* Find and get agree, in table order. */
    for (int i = 0; i < TG_MCP__COUNT; i++) {
        const tg_mcp_method *e = tg_mcp_method_get((tg_mcp_method_id)i);
        CHECK(e != NULL && (int)e->id == i);
        if (e) CHECK(tg_mcp_method_find(e->name) == e);
    }
    CHECK(tg_mcp_method_get(TG_MCP__COUNT) == NULL);
    CHECK(!tg_mcp_method_find("notifications/progress")->from_client);
    return check_report();
}
