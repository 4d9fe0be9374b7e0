/* The MCP Streamable HTTP endpoint (/mcp): transport rules, sessions and the
 * dispatch of each JSON-RPC message to its method.
 *
 * Transport rules (MCP 2025-11-25, basic/transports): POST carries one client
 * message; requests are answered with one JSON response, except tools/call,
 * answered with an SSE stream that carries the call's progress and log
 * notifications before its response; notifications and responses get 202
 * and no body. Accept must allow application/json and
 * text/event-stream (406), the body must be application/json (415). Every
 * request but initialize names its session in Mcp-Session-Id (400 without,
 * 404 for an unknown or ended one) and may name the protocol version in
 * MCP-Protocol-Version (400 when unsupported). DELETE ends the session. GET
 * opens the session's server-to-client stream, on which the gateway sends
 * notifications/tools/list_changed when a deploy, rollback, delete or
 * deprecation changes the tools.
 *
 * MCP 2026-07-28 (stateless) shares the endpoint: a POST without a session
 * that states a version other than a 2025 one (gateway/mcp/stateless.h) is
 * checked against that revision's rules (Mcp-Method, Mcp-Name and
 * Mcp-Param-* headers against the body, _meta, version, the client
 * capabilities a tool's manifest requires) and answered without a session:
 * server/discover, tools/list with caching hints, tools/call on its own SSE
 * stream (log notifications only at the level its _meta names; the client
 * closing the stream cancels the call), and subscriptions/listen, a POST
 * whose response stream carries the tool list changes the GET stream carries
 * for a session.
 *
 * Toolsets (docs/toolsets.md): /mcp/{toolset} serves the tenant's toolset
 * of that name, and /mcp the toolset "default" when the tenant defines one,
 * else every tool. Each request is checked against its endpoint before
 * anything else (an unknown toolset is 404, one the token's toolsets claim
 * does not name 403); a session is served only on the endpoint it was made
 * on; a toolset in search mode lists search_tools (ranked by
 * gateway/registry/search.h over an index cached per toolset) and, in a
 * session, lets call only the tools a search returned. */
#include "gateway/mcp_front.h"

#include "gateway/auth/auth.h"
#include "gateway/calls/call.h"
#include "gateway/core/alloc.h"
#include "gateway/core/errors.h"
#include "gateway/core/text.h"
#include "gateway/http/headers.h"
#include "gateway/mcp/jsonrpc.h"
#include "gateway/mcp/methods.h"
#include "gateway/mcp/session.h"
#include "gateway/mcp/stateless.h"
#include "gateway/registry/search.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TOOLS_PAGE_SIZE 100
/* How long a 2026-07-28 client may reuse a tools/list (CacheableResult): a
 * deploy, rollback, delete or deprecation shows within a minute even to a
 * client that does not listen for changes. The list is the caller's tenant's, so only
 * caches of the same authorization context may keep it ("private"). */
#define TOOLS_LIST_TTL_MS 60000
/* What server/discover says changes only when the gateway is upgraded, and
 * is the same for every caller. */
#define DISCOVER_TTL_MS 3600000
/* Where tools/list puts a tool's definition hash, and where tools/call takes
 * the one a client pinned. */
#define DEFINITION_HASH_KEY "dev.toolgate/definitionHash"
/* Where tools/list shows the client capabilities a tool requires, as the
 * ClientCapabilities object a refusal names. */
#define REQUIRED_CAPABILITIES_KEY "dev.toolgate/requiredClientCapabilities"
/* Where tools/list and every result of a deprecated tool show its
 * deprecation: {sunset, message, replacement}. */
#define DEPRECATION_KEY "dev.toolgate/deprecation"

/* The tool a toolset in search mode lists in place of its tools. */
#define SEARCH_TOOL          "search_tools"
#define SEARCH_LIMIT_DEFAULT 5
#define SEARCH_LIMIT_MAX     20
#define SEARCH_QUERY_MAX     1000

/* What one request's endpoint serves. */
typedef struct endpoint {
    const char *name;    /* "" for /mcp, else the toolset's name: what sessions bind to */
    tg_toolset *toolset; /* NULL: every tool of the tenant */
} endpoint;

static bool search_mode(const endpoint *ep)
{
    return ep->toolset && tg_toolset_mode_of(ep->toolset) == TG_TOOLSET_SEARCH;
}

/* Answers with the transport's error body and the table's HTTP status. */
static void reply_error(tg_http_request *req, tg_err_code code, const char *message)
{
    tg_http_reply_json(req, (unsigned)tg_err_http_status(code),
                       json_pack("{s:o}", "error", tg_error_json(code, message, NULL, NULL)));
}

/* Looks the session up, or answers: 404 for a session that is gone (the
 * client initializes again), the store's own error (UNAVAILABLE, 503,
 * retryable) when the shared session store cannot be read. */
static bool session_found(tg_http_request *req, tg_mcp_front *front, const endpoint *ep,
                          const char *sid, const tg_caller *who, tg_session **out)
{
    int rc = tg_session_lookup(front->sessions, sid, who->principal, out);
    /* A session made on another endpoint is not one of this endpoint's: its
     * tools and its unlocked ones belong to the toolset it was made for. */
    if (rc == 0 && strcmp(tg_session_endpoint(*out), ep->name) != 0) {
        tg_session_release(*out);
        *out = NULL;
        rc = TG_ENOT_FOUND;
    }
    if (rc == 0) return true;
    reply_error(req, (tg_err_code)rc,
                rc == TG_ENOT_FOUND ? "unknown or ended session: initialize again" : NULL);
    return false;
}

/* A JSON-RPC response to a request: HTTP 200, whatever it says. */
static void reply_rpc(tg_http_request *req, json_t *response)
{
    tg_http_reply_json(req, 200, response);
}

/* The definition of one tool as tools/list shows it. */
static json_t *tool_definition(const tg_registry_snapshot *tool)
{
    const json_t *m = tg_registry_snapshot_manifest(tool);
    json_t *def = json_pack("{s:s}", "name", tg_registry_snapshot_name(tool));
    static const char *const copied[] = {"title", "inputSchema", "outputSchema", "annotations"};
    for (size_t i = 0; i < sizeof copied / sizeof *copied; i++) {
        json_t *v = json_object_get(m, copied[i]);
        if (v) json_object_set(def, copied[i], v);
    }
    /* A deprecated tool's description starts with its deprecation: the
     * line a model is sure to read. */
    const char *description = tg_registry_snapshot_description(tool);
    if (description) json_object_set_new(def, "description", json_string(description));
    /* Clients pin this to notice a silent change of the definition. */
    json_object_set_new(def, "_meta",
                        json_pack("{s:s, s:s}", DEFINITION_HASH_KEY,
                                  tg_registry_snapshot_definition_hash(tool),
                                  "dev.toolgate/version", tg_registry_snapshot_version(tool)));
    /* What tools/call will insist on, so a client can tell beforehand
     * whether it may call the tool: every requirement, against nothing. */
    json_t *required = tg_stateless_missing_capabilities(m, NULL);
    if (required)
        json_object_set_new(json_object_get(def, "_meta"), REQUIRED_CAPABILITIES_KEY, required);
    const tg_registry_deprecation *deprecation = tg_registry_snapshot_deprecation(tool);
    if (deprecation)
        json_object_set_new(json_object_get(def, "_meta"), DEPRECATION_KEY,
                            tg_registry_deprecation_json(deprecation));
    return def;
}

/* Version pinned (a version id, or a semver: its newest version) of tool
 * name. */
static int resolve_pinned(tg_mcp_front *front, const char *tenant, const char *name,
                          const char *pinned, tg_registry_snapshot **out, tg_registry_error *err)
{
    int rc = tg_registry_resolve_version(front->registry, tenant, name, pinned, out, err);
    if (rc != TG_REGISTRY_ENOTFOUND) return rc;
    tg_registry_error_clear(err);
    json_t *worker = NULL;
    if ((rc = tg_registry_get(front->registry, tenant, name, &worker, err)) != 0) return rc;
    const char *version = NULL;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(worker, "versions"), i,
                       v) if (json_is_string(json_object_get(v, "semver")) &&
                              strcmp(json_string_value(json_object_get(v, "semver")), pinned) == 0)
        version = json_string_value(json_object_get(v, "version"));
    rc = version ? tg_registry_resolve_version(front->registry, tenant, name, version, out, err)
                 : TG_REGISTRY_ENOTFOUND;
    json_decref(worker);
    return rc;
}

/* Tool name as ep serves it: TG_REGISTRY_ENOTFOUND when the endpoint's
 * toolset does not hold it, its pinned version when the toolset pins one. */
static int resolve_tool(tg_mcp_front *front, const tg_caller *who, const endpoint *ep,
                        const char *name, tg_registry_snapshot **out, tg_registry_error *err)
{
    const char *pinned = NULL;
    if (ep->toolset && !tg_toolset_includes(ep->toolset, name, &pinned))
        return TG_REGISTRY_ENOTFOUND;
    if (pinned) return resolve_pinned(front, who->tenant, name, pinned, out, err);
    return tg_registry_resolve(front->registry, who->tenant, name, out, err);
}

/* The definition of search_tools, which tells the model how to use it. */
static json_t *search_tool_definition(void)
{
    return json_pack(
        "{s:s, s:s, s:s, s:{s:s, s:{s:{s:s, s:s, s:i, s:i}, s:{s:s, s:s, s:i, s:i, s:i}}, s:[s],"
        " s:b}, s:{s:b, s:b}}",
        "name", SEARCH_TOOL, "title", "Search tools", "description",
        "Finds the tools of this server that fit a task. This server lists only a few of its "
        "tools; the rest are found with this one. Describe what you want to do in a few words "
        "(for example \"refund a customer's payment\" or \"send an SMS\"); the answer holds the "
        "best-matching tools' full definitions, best first, and those tools can be called "
        "directly from then on. Search again with other words when none fits.",
        "inputSchema", "type", "object", "properties", "query", "type", "string", "description",
        "What you want to do, in a few words", "minLength", 1, "maxLength", SEARCH_QUERY_MAX,
        "limit", "type", "integer", "description", "How many tools to return at most (default 5)",
        "minimum", 1, "maximum", SEARCH_LIMIT_MAX, "default", SEARCH_LIMIT_DEFAULT, "required",
        "query", "additionalProperties", 0, "annotations", "readOnlyHint", 1, "openWorldHint", 0);
}

/* tools/list of ep; session (NULL without one) adds, in search mode, the
 * tools its searches found. */
static json_t *tools_list(tg_mcp_front *front, const tg_caller *who, const endpoint *ep,
                          tg_session *session, json_t *params, tg_error *err)
{
    size_t offset = 0;
    json_t *cursor = params ? json_object_get(params, "cursor") : NULL;
    if (cursor) {
        char *end;
        const char *c = json_string_value(cursor);
        unsigned long long n = c ? strtoull(c, &end, 10) : 0;
        if (!c || !*c || *end) {
            tg_error_set(err, TG_EINVALID_PARAMS, "cursor is not one this server gave out");
            return NULL;
        }
        offset = (size_t)n;
    }
    json_t *workers = NULL;
    tg_registry_error rerr = {0};
    if (tg_registry_list(front->registry, who->tenant, &workers, &rerr) != 0) {
        tg_error_set(err, TG_EUNAVAILABLE, "%s", rerr.message);
        tg_registry_error_clear(&rerr);
        return NULL;
    }
    json_t *tools = json_array();
    bool search = search_mode(ep);
    if (search && offset == 0) json_array_append_new(tools, search_tool_definition());
    size_t count = json_array_size(workers), i;
    for (i = offset; i < count && json_array_size(tools) < TOOLS_PAGE_SIZE; i++) {
        const char *name = json_string_value(json_object_get(json_array_get(workers, i), "name"));
        tg_registry_snapshot *tool = NULL;
        /* In search mode only the always-loaded tools are listed, and in a
         * session those its searches found: the rest are found with
         * search_tools. */
        if (name && search && !tg_toolset_always_loaded(ep->toolset, name) &&
            !(session && tg_session_unlocked(session, name)))
            continue;
        /* A worker deleted since the list was read, or one outside the
         * endpoint's toolset, is simply not shown. */
        if (!name || resolve_tool(front, who, ep, name, &tool, &rerr) != 0) {
            tg_registry_error_clear(&rerr);
            continue;
        }
        json_array_append_new(tools, tool_definition(tool));
        tg_registry_snapshot_unref(tool);
    }
    json_t *result = json_pack("{s:o}", "tools", tools);
    if (i < count) {
        char next[32];
        snprintf(next, sizeof next, "%zu", i);
        json_object_set_new(result, "nextCursor", json_string(next));
    }
    json_decref(workers);
    return result;
}

/* A tools/call in flight. Its answer is an SSE stream: the notifications the
 * worker causes (progress, log messages) as they happen, then the response. */
typedef struct pending_call {
    tg_http_stream *stream;
    json_t *id;
    json_t *progress_token; /* NULL when the client asked for no progress */
    tg_session *session;    /* NULL for a stateless (2026-07-28) call */
    /* A stateless call's log level comes with the request, and without one
     * the client gets no log notifications at all. */
    tg_stateless_request stateless;
    /* A stateless call's name in the pipeline, for cancelling it: the
     * client's id would not do, since clients without a session cannot be
     * told apart. NULL for a session's call. */
    json_t *cancel_id;
    tg_calls *calls;
} pending_call;

/* Where the stateless calls' cancel ids come from: unique among the calls
 * of every front, which may share a pipeline. */
static atomic_llong stateless_calls;

/* Sends one JSON-RPC message as an SSE event (steals msg). */
static void sse_send(tg_http_stream *stream, json_t *msg)
{
    char *text = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    char *event = tg_xasprintf("event: message\ndata: %s\n\n", text);
    tg_http_stream_write(stream, event, strlen(event));
    free(event);
    free(text);
}

/* A line the worker wrote on fd 3 (docs/workers.md), as an MCP notification. */
static void call_event(const json_t *event, void *userdata)
{
    pending_call *p = userdata;
    json_t *progress = json_object_get(event, "progress");
    const char *level_name = json_string_value(json_object_get(event, "log"));
    if (json_is_number(progress) && p->progress_token) {
        json_t *params =
            json_pack("{s:O, s:O}", "progressToken", p->progress_token, "progress", progress);
        json_t *total = json_object_get(event, "total");
        json_t *message = json_object_get(event, "message");
        if (json_is_number(total)) json_object_set(params, "total", total);
        if (json_is_string(message)) json_object_set(params, "message", message);
        sse_send(p->stream, tg_jsonrpc_notification("notifications/progress", params));
    } else if (level_name) {
        tg_mcp_log_level level;
        if (!p->session && !p->stateless.wants_logs) return;
        tg_mcp_log_level least =
            p->session ? tg_session_log_level(p->session) : p->stateless.log_level;
        if (tg_mcp_log_level_parse(level_name, &level) != 0 || level < least) return;
        json_t *data = json_object_get(event, "data");
        json_t *params = json_pack("{s:s, s:O}", "level", tg_mcp_log_level_name(level), "data",
                                   data ? data : json_null());
        json_t *logger = json_object_get(event, "logger");
        if (json_is_string(logger)) json_object_set(params, "logger", logger);
        sse_send(p->stream, tg_jsonrpc_notification("notifications/message", params));
    }
}

/* The pipeline's answer to a tools/call, on whatever thread finished it. */
static void call_done(json_t *result, void *userdata)
{
    pending_call *p = userdata;
    if (!p->session) tg_stateless_complete(result);
    sse_send(p->stream, tg_jsonrpc_result(p->id, result));
    tg_http_stream_end(p->stream);
    json_decref(p->id);
    json_decref(p->progress_token);
    json_decref(p->cancel_id);
    tg_session_release(p->session);
    free(p);
}

/* A stateless call's client closed its response stream, which in 2026-07-28
 * cancels the call. p lives on until call_done, whose tg_http_stream_end
 * waits for this to return. */
static void call_abandoned(void *userdata)
{
    pending_call *p = userdata;
    tg_call_cancel(p->calls, NULL, p->cancel_id);
}

static const char *request_header(void *req, const char *name)
{
    return tg_http_header(req, name);
}

/* ---- search mode ---- */

/* Tells the GET streams of session sid that its tool list changed. */
static void session_tools_changed(tg_mcp_front *front, const char *sid);

/* One toolset's search index: the tools it ranks, as tools/list shows
 * them, built once per change of the registry or of the toolsets. */
struct tg_mcp_search_index {
    char *tenant, *toolset;
    unsigned long generation; /* front->search_generation when it was built */
    tg_search_index *index;
    json_t *definitions; /* doc i's tools/list entry */
    tg_mcp_search_index *next;
};

static void search_index_free(tg_mcp_search_index *x)
{
    tg_search_free(x->index);
    json_decref(x->definitions);
    free(x->tenant);
    free(x->toolset);
    free(x);
}

/* Builds ep's index: every tool of its toolset, at the version it serves. */
static tg_mcp_search_index *search_index_build(tg_mcp_front *front, const tg_caller *who,
                                               const endpoint *ep, unsigned long generation,
                                               tg_error *err)
{
    json_t *workers = NULL;
    tg_registry_error rerr = {0};
    if (tg_registry_list(front->registry, who->tenant, &workers, &rerr) != 0) {
        tg_error_set(err, TG_EUNAVAILABLE, "%s", rerr.message);
        tg_registry_error_clear(&rerr);
        return NULL;
    }
    json_t *definitions = json_array();
    size_t i;
    json_t *w;
    json_array_foreach(workers, i, w)
    {
        const char *name = json_string_value(json_object_get(w, "name"));
        tg_registry_snapshot *tool = NULL;
        if (!name || resolve_tool(front, who, ep, name, &tool, &rerr) != 0) {
            tg_registry_error_clear(&rerr);
            continue;
        }
        json_array_append_new(definitions, tool_definition(tool));
        tg_registry_snapshot_unref(tool);
    }
    json_decref(workers);
    size_t n = json_array_size(definitions);
    tg_search_doc *docs = tg_xcalloc(n ? n : 1, sizeof *docs);
    for (i = 0; i < n; i++) {
        const json_t *def = json_array_get(definitions, i);
        docs[i] = (tg_search_doc){
            .name = json_string_value(json_object_get(def, "name")),
            .title = json_string_value(json_object_get(def, "title")),
            .description = json_string_value(json_object_get(def, "description")),
            .input_schema = json_object_get(def, "inputSchema"),
        };
    }
    tg_search_index *index = tg_search_build(docs, n);
    free(docs);
    if (!index) abort(); /* only out of memory, which ends the process as tg_xmalloc does */
    tg_mcp_search_index *x = tg_xcalloc(1, sizeof *x);
    x->tenant = tg_xstrdup(who->tenant);
    x->toolset = tg_xstrdup(ep->name);
    x->generation = generation;
    x->index = index;
    x->definitions = definitions;
    return x;
}

/* The cached index of (tenant, toolset), or the link to put it at; the
 * search lock is held. */
static tg_mcp_search_index **find_index(tg_mcp_front *front, const char *tenant,
                                        const char *toolset)
{
    tg_mcp_search_index **link = &front->searches;
    while (*link &&
           (strcmp((*link)->tenant, tenant) != 0 || strcmp((*link)->toolset, toolset) != 0))
        link = &(*link)->next;
    return link;
}

/* The tools ep's index ranks best for query: new array of their
 * definitions, best first; NULL with err set when the tools cannot be
 * read. */
static json_t *search(tg_mcp_front *front, const tg_caller *who, const endpoint *ep,
                      const char *query, size_t limit, tg_error *err)
{
    pthread_mutex_lock(&front->search_lock);
    unsigned long generation = front->search_generation;
    tg_mcp_search_index **link = find_index(front, who->tenant, ep->name);
    if (!*link || (*link)->generation != generation) {
        /* Built outside the lock, since it reads the registry; a change
         * meanwhile makes it stale at once, and the next search builds
         * again. Of two built at once, the newer stays. */
        pthread_mutex_unlock(&front->search_lock);
        tg_mcp_search_index *x = search_index_build(front, who, ep, generation, err);
        if (!x) return NULL;
        pthread_mutex_lock(&front->search_lock);
        link = find_index(front, who->tenant, ep->name);
        if (!*link) {
            *link = x;
        } else if ((*link)->generation <= x->generation) {
            x->next = (*link)->next;
            search_index_free(*link);
            *link = x;
        } else {
            search_index_free(x);
        }
    }
    /* Held while ranking, so no rebuild frees the index under the query. */
    const tg_mcp_search_index *x = *link;
    tg_search_hit hits[SEARCH_LIMIT_MAX];
    size_t n = tg_search_query(x->index, query, hits, limit);
    json_t *found = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append(found, json_array_get(x->definitions, hits[i].doc));
    pthread_mutex_unlock(&front->search_lock);
    return found;
}

/* search_tools: the best matches' definitions as structuredContent
 * {tools}, and a line per tool in the text, for a model that reads only
 * text. In a session the tools found become callable in it. */
static void search_call(tg_mcp_front *front, const tg_caller *who, tg_http_request *req,
                        const endpoint *ep, tg_session *session, json_t *id, json_t *params)
{
    const json_t *args = json_object_get(params, "arguments");
    const json_t *query = json_object_get(args, "query");
    const json_t *limit = json_object_get(args, "limit");
    json_t *details = json_array();
    if (!json_is_string(query) || json_string_length(query) == 0 ||
        json_string_length(query) > SEARCH_QUERY_MAX)
        json_array_append_new(details,
                              json_pack("{s:s, s:s, s:s}", "path", "/query", "keyword",
                                        !json_is_string(query)           ? "type"
                                        : json_string_length(query) == 0 ? "minLength"
                                                                         : "maxLength",
                                        "message", "must be a string of 1 to 1000 characters"));
    if (limit && (!json_is_integer(limit) || json_integer_value(limit) < 1 ||
                  json_integer_value(limit) > SEARCH_LIMIT_MAX))
        json_array_append_new(details,
                              json_pack("{s:s, s:s, s:s}", "path", "/limit", "keyword", "maximum",
                                        "message", "must be an integer from 1 to 20"));
    json_t *result;
    if (json_array_size(details)) {
        result = tg_tool_error_result(TG_EINVALID_ARGUMENTS, NULL, details, NULL);
    } else {
        tg_error err = {0};
        size_t n = limit ? (size_t)json_integer_value(limit) : SEARCH_LIMIT_DEFAULT;
        json_t *found = search(front, who, ep, json_string_value(query), n, &err);
        if (!found) {
            result = tg_tool_error_result(err.code, err.message, NULL, NULL);
        } else {
            size_t count = json_array_size(found), i;
            const char **names = tg_xcalloc(count ? count : 1, sizeof *names);
            char *text = tg_xasprintf("%zu tool%s found%s", count, count == 1 ? "" : "s",
                                      count ? ", now callable:" : ". Try other words.");
            json_t *def;
            json_array_foreach(found, i, def)
            {
                names[i] = json_string_value(json_object_get(def, "name"));
                const char *d = json_string_value(json_object_get(def, "description"));
                char *line = tg_xasprintf("%s\n- %s: %.*s", text, names[i],
                                          tg_utf8_excerpt(d ? d : "", 200), d ? d : "");
                free(text);
                text = line;
            }
            bool news = false;
            for (i = 0; session && i < count; i++)
                news = news || !tg_session_unlocked(session, names[i]);
            int rc = session ? tg_session_unlock(session, names, count) : 0;
            free(names);
            /* The session's tools/list now shows them: a client that offers
             * its model only listed tools lists again. */
            if (!rc && news) session_tools_changed(front, tg_session_id(session));
            if (rc) {
                result = tg_tool_error_result((tg_err_code)rc, NULL, NULL, NULL);
                json_decref(found);
            } else {
                result = json_pack("{s:[{s:s, s:s}], s:{s:o}}", "content", "type", "text", "text",
                                   text, "structuredContent", "tools", found);
            }
            free(text);
        }
    }
    json_decref(details);
    if (!session) tg_stateless_complete(result);
    reply_rpc(req, tg_jsonrpc_result(id, result));
}

/* A tools/call of a session (2025), or without one (session NULL: 2026-07-28,
 * with what its _meta asked for in stateless). */
static void tools_call(tg_mcp_front *front, const tg_caller *who, tg_http_request *req,
                       const endpoint *ep, tg_session *session,
                       const tg_stateless_request *stateless, json_t *id, json_t *params)
{
    const char *name = json_string_value(json_object_get(params, "name"));
    json_t *args = json_object_get(params, "arguments");
    if (!name) {
        reply_rpc(req,
                  tg_jsonrpc_error(id, TG_EINVALID_PARAMS, "params.name must be a string", NULL));
        return;
    }
    if (args && !json_is_object(args)) {
        reply_rpc(req, tg_jsonrpc_error(id, TG_EINVALID_PARAMS,
                                        "params.arguments must be an object", NULL));
        return;
    }
    json_t *pinned = json_object_get(json_object_get(params, "_meta"), DEFINITION_HASH_KEY);
    if (pinned && !json_is_string(pinned)) {
        reply_rpc(req, tg_jsonrpc_error(id, TG_EINVALID_PARAMS,
                                        "params._meta[\"" DEFINITION_HASH_KEY
                                        "\"] must be the string tools/list gave",
                                        NULL));
        return;
    }
    if (search_mode(ep) && strcmp(name, SEARCH_TOOL) == 0) {
        search_call(front, who, req, ep, session, id, params);
        return;
    }
    tg_registry_snapshot *tool = NULL;
    tg_registry_error rerr = {0};
    int rc = resolve_tool(front, who, ep, name, &tool, &rerr);
    /* In a search-mode session a tool is callable once a search returned
     * it (or it is always loaded); without a session (2026-07-28) there is
     * nowhere to keep what was found, and the toolset is the boundary. */
    bool hidden = rc == 0 && session && search_mode(ep) &&
                  !tg_toolset_always_loaded(ep->toolset, name) &&
                  !tg_session_unlocked(session, name);
    if (hidden) {
        tg_registry_snapshot_unref(tool);
        char *msg = tg_xasprintf("unknown tool \"%s\": this server lists its tools through "
                                 "search_tools; search for it, and call it once found",
                                 name);
        reply_rpc(req, tg_jsonrpc_error(id, TG_EINVALID_PARAMS, msg, NULL));
        free(msg);
        return;
    }
    if (rc == TG_REGISTRY_ENOTFOUND) {
        char *msg = tg_xasprintf("unknown tool \"%s\"", name);
        reply_rpc(req, tg_jsonrpc_error(id, TG_EINVALID_PARAMS, msg, NULL));
        free(msg);
        tg_registry_error_clear(&rerr);
        return;
    }
    if (rc != 0) {
        reply_rpc(req, tg_jsonrpc_error(id, TG_EUNAVAILABLE, rerr.message, NULL));
        tg_registry_error_clear(&rerr);
        return;
    }
    /* A tool whose manifest requires client capabilities runs only for a
     * client that declared them: in _meta (2026-07-28, -32021 and HTTP 400)
     * or at initialize (2025, which has no code of its own: -32602). */
    const json_t *declared = session ? tg_session_client_capabilities(session)
                                     : tg_stateless_client_capabilities(params);
    json_t *missing =
        tg_stateless_missing_capabilities(tg_registry_snapshot_manifest(tool), declared);
    if (missing) {
        if (session)
            reply_rpc(req, tg_jsonrpc_error(id, TG_EINVALID_PARAMS,
                                            "the tool requires client capabilities the session "
                                            "did not declare at initialize",
                                            json_pack("{s:o}", "requiredCapabilities", missing)));
        else
            tg_http_reply_json(req, 400, tg_stateless_missing_capability_error(id, missing));
        tg_registry_snapshot_unref(tool);
        return;
    }
    json_t *mismatch = NULL;
    if (!session && tg_stateless_check_params(
                        json_object_get(tg_registry_snapshot_manifest(tool), "inputSchema"), args,
                        request_header, req, id, &mismatch) != 0) {
        tg_http_reply_json(req, 400, mismatch);
        tg_registry_snapshot_unref(tool);
        return;
    }
    pending_call *p = tg_xmalloc(sizeof *p);
    p->id = json_incref(id);
    json_t *token = json_object_get(json_object_get(params, "_meta"), "progressToken");
    p->progress_token = json_is_string(token) || json_is_integer(token) ? json_incref(token) : NULL;
    if (session) tg_session_retain(session);
    p->session = session;
    p->stateless = stateless ? *stateless : (tg_stateless_request){0};
    p->calls = front->calls;
    p->cancel_id = session ? NULL : json_integer(atomic_fetch_add(&stateless_calls, 1));
    p->stream = tg_http_stream_start(req, 200, "text/event-stream");
    /* The stream goes out when this handler returns, so the call below is
     * listed before its client can be seen to leave. A 2025 client that
     * drops its stream has not cancelled (it says so with
     * notifications/cancelled): its call runs on. */
    if (!session) tg_http_stream_on_close(p->stream, call_abandoned, p);
    json_t *empty = args ? NULL : json_object();
    const char *traceparent = tg_http_header(req, "traceparent");
    char trace_id[33];
    tg_call_request call = {
        .principal = who->principal,
        .trigger_kind = "agent",
        .trace_id = tg_http_traceparent_trace_id(traceparent, trace_id),
        .trace_sampled = tg_http_traceparent_sampled(traceparent),
        .tool = tool,
        .pinned_definition = json_string_value(pinned),
        .arguments = args ? args : empty,
        .session_id = session ? tg_session_id(session) : NULL,
        .request_id = session ? id : p->cancel_id,
        .on_event = call_event,
        .done = call_done,
        .userdata = p,
    };
    /* The pipeline takes its own references; events and the answer arrive
     * on a pipeline thread and go out on the stream. */
    tg_call_start(front->calls, &call);
    json_decref(empty);
    tg_registry_snapshot_unref(tool);
}

static void handle_request(tg_mcp_front *front, const tg_caller *who, tg_http_request *req,
                           const endpoint *ep, tg_session *session, const tg_mcp_method *method,
                           json_t *id, json_t *params)
{
    tg_error err = {0};
    uint32_t scope = tg_scopes_parse(method->scope);
    if (scope && !tg_caller_may(who, scope)) {
        tg_caller_refuse(req, who, scope);
        return;
    }
    switch (method->id) {
    case TG_MCP_INITIALIZE: {
        tg_session *created = NULL;
        if (tg_session_create_at(front->sessions, params, who->principal, ep->name, &created,
                                 &err) != 0) {
            reply_rpc(req, tg_jsonrpc_error(id, err.code, err.message, NULL));
            return;
        }
        tg_http_set_header(req, "Mcp-Session-Id", tg_session_id(created));
        reply_rpc(req, tg_jsonrpc_result(
                           id, tg_session_initialize_result(
                                   created, search_mode(ep)
                                                ? "Most tools of this server are found with "
                                                  "search_tools: call it with what you want to do."
                                                : NULL)));
        tg_session_release(created);
        return;
    }
    case TG_MCP_PING:
        reply_rpc(req, tg_jsonrpc_result(id, json_object()));
        return;
    case TG_MCP_TOOLS_LIST: {
        json_t *result = tools_list(front, who, ep, session, params, &err);
        reply_rpc(req, result ? tg_jsonrpc_result(id, result)
                              : tg_jsonrpc_error(id, err.code, err.message, NULL));
        return;
    }
    case TG_MCP_TOOLS_CALL:
        tools_call(front, who, req, ep, session, NULL, id, params);
        return;
    case TG_MCP_LOGGING_SET_LEVEL: {
        tg_mcp_log_level level;
        const char *name = json_string_value(json_object_get(params, "level"));
        if (!name || tg_mcp_log_level_parse(name, &level) != 0) {
            reply_rpc(req, tg_jsonrpc_error(id, TG_EINVALID_PARAMS,
                                            "params.level must be a log level name", NULL));
            return;
        }
        /* The level is kept with the session in the store: a write that
         * failed leaves the old level, and the client is told. */
        int rc = tg_session_set_log_level(session, level);
        reply_rpc(req, rc ? tg_jsonrpc_error(id, (tg_err_code)rc, NULL, NULL)
                          : tg_jsonrpc_result(id, json_object()));
        return;
    }
    default:
        reply_rpc(req, tg_jsonrpc_error(id, TG_EMETHOD_NOT_FOUND, NULL, NULL));
        return;
    }
}

static void handle_notification(tg_mcp_front *front, tg_session *session,
                                const tg_mcp_method *method, json_t *params)
{
    if (method->id == TG_MCP_INITIALIZED) {
        tg_session_set_initialized(session);
    } else if (method->id == TG_MCP_CANCELLED) {
        json_t *request_id = json_object_get(params, "requestId");
        if (request_id) tg_call_cancel(front->calls, tg_session_id(session), request_id);
    }
}

/* server/discover: the versions this endpoint serves, what it offers, who it is. */
static json_t *discover(void)
{
    json_t *result = json_pack("{s:o, s:{s:{s:b}}, s:i, s:s}", "supportedVersions",
                               tg_stateless_versions(), "capabilities", "tools", "listChanged", 1,
                               "ttlMs", (json_int_t)DISCOVER_TTL_MS, "cacheScope", "public");
    tg_stateless_complete(result);
    return result;
}

/* subscriptions/listen, with the other streams that hear changes below. */
static void subscribe(tg_mcp_front *front, const tg_caller *who, tg_http_request *req,
                      const endpoint *ep, json_t *id, json_t *params);

/* One 2026-07-28 request (no session): its headers and _meta checked, then
 * the method of that revision answered. Errors of the transport's checks are
 * HTTP 400 and an unknown method 404, each with its JSON-RPC error, so a
 * client can tell this endpoint speaks the revision. */
static void handle_stateless(tg_mcp_front *front, const tg_caller *who, tg_http_request *req,
                             const endpoint *ep, const tg_jsonrpc_msg *msg)
{
    /* The revision defines no client notifications over HTTP (cancellation
     * is closing the response stream): accepted, and nothing to do. */
    if (tg_jsonrpc_msg_kind(msg) != TG_JSONRPC_REQUEST) {
        tg_http_reply(req, 202, NULL, NULL, 0);
        return;
    }
    const char *name = tg_jsonrpc_msg_method(msg);
    json_t *id = tg_jsonrpc_msg_id(msg);
    json_t *params = tg_jsonrpc_msg_params(msg);
    tg_stateless_headers headers = {
        .protocol_version = tg_http_header(req, "MCP-Protocol-Version"),
        .method = tg_http_header(req, "Mcp-Method"),
        .name = tg_http_header(req, "Mcp-Name"),
    };
    tg_stateless_request asked;
    json_t *error = NULL;
    unsigned status;
    if (tg_stateless_check(&headers, name, id, params, &asked, &error, &status) != 0) {
        tg_http_reply_json(req, status, error);
        return;
    }
    const tg_mcp_method *method = NULL;
    tg_error err = {0};
    if (tg_mcp_method_lookup(name, true, TG_MCP_ERA_STATELESS, &method, &err) != 0) {
        tg_http_reply_json(req, 404, tg_jsonrpc_error(id, err.code, err.message, NULL));
        return;
    }
    uint32_t scope = tg_scopes_parse(method->scope);
    if (scope && !tg_caller_may(who, scope)) {
        tg_caller_refuse(req, who, scope);
        return;
    }
    switch (method->id) {
    case TG_MCP_DISCOVER:
        reply_rpc(req, tg_jsonrpc_result(id, discover()));
        return;
    case TG_MCP_TOOLS_LIST: {
        json_t *result = tools_list(front, who, ep, NULL, params, &err);
        if (!result) {
            reply_rpc(req, tg_jsonrpc_error(id, err.code, err.message, NULL));
            return;
        }
        json_object_set_new(result, "ttlMs", json_integer(TOOLS_LIST_TTL_MS));
        json_object_set_new(result, "cacheScope", json_string("private"));
        tg_stateless_complete(result);
        reply_rpc(req, tg_jsonrpc_result(id, result));
        return;
    }
    case TG_MCP_TOOLS_CALL:
        tools_call(front, who, req, ep, NULL, &asked, id, params);
        return;
    case TG_MCP_SUBSCRIPTIONS_LISTEN:
        subscribe(front, who, req, ep, id, params);
        return;
    default:
        /* The table lists no other request of this era. */
        tg_http_reply_json(req, 404, tg_jsonrpc_error(id, TG_EMETHOD_NOT_FOUND, NULL, NULL));
        return;
    }
}

static void handle_post(tg_mcp_front *front, const tg_caller *who, tg_http_request *req,
                        const endpoint *ep)
{
    const char *accept = tg_http_header(req, "Accept");
    if (!tg_http_accepts(accept, "application/json") ||
        !tg_http_accepts(accept, "text/event-stream")) {
        reply_error(req, TG_ENOT_ACCEPTABLE,
                    "Accept must list application/json and text/event-stream");
        return;
    }
    if (!tg_http_media_type_is(tg_http_header(req, "Content-Type"), "application/json")) {
        reply_error(req, TG_EUNSUPPORTED_MEDIA_TYPE, "the body must be application/json");
        return;
    }
    tg_session *session = NULL;
    const char *sid = tg_http_header(req, "Mcp-Session-Id");
    const char *header_version = tg_http_header(req, "MCP-Protocol-Version");
    if (sid && !session_found(req, front, ep, sid, who, &session)) return;
    size_t len;
    const char *body = tg_http_body(req, &len);
    tg_jsonrpc_limits limits = {
        .allow_batch = session && tg_session_version_allows_batch(tg_session_version(session)),
    };
    tg_jsonrpc_msg *msg = NULL;
    tg_jsonrpc_parse(body, len, &limits, &msg);
    tg_jsonrpc_kind kind = tg_jsonrpc_msg_kind(msg);
    const tg_mcp_method *method = NULL;
    tg_error err = {0};

    if (kind == TG_JSONRPC_INVALID) {
        tg_http_reply_json(req, 400, tg_jsonrpc_error_for(msg));
    } else if (kind == TG_JSONRPC_RESPONSE) {
        /* This gateway sends clients no requests, so there is nothing to match. */
        tg_http_reply(req, 202, NULL, NULL, 0);
    } else if (kind == TG_JSONRPC_BATCH) {
        tg_http_reply_json(req, 400,
                           tg_jsonrpc_error(NULL, TG_EINVALID_REQUEST,
                                            "batches are not served by this gateway", NULL));
    } else if (!sid && tg_stateless_selected(header_version, tg_jsonrpc_msg_params(msg))) {
        handle_stateless(front, who, req, ep, msg);
    } else if (tg_mcp_method_lookup(tg_jsonrpc_msg_method(msg), kind == TG_JSONRPC_REQUEST,
                                    TG_MCP_ERA_SESSION, &method, &err) != 0) {
        if (kind == TG_JSONRPC_REQUEST)
            reply_rpc(req, tg_jsonrpc_error(tg_jsonrpc_msg_id(msg), err.code, err.message, NULL));
        else
            tg_http_reply(req, 202, NULL, NULL, 0);
    } else if (method->needs_session && !session) {
        reply_error(req, TG_EBAD_REQUEST, "Mcp-Session-Id is required after initialize");
    } else {
        const char *version;
        if (method->id != TG_MCP_INITIALIZE &&
            tg_session_version_check(header_version, session ? tg_session_version(session) : NULL,
                                     &version, &err) != 0) {
            reply_error(req, TG_EBAD_REQUEST, err.message);
        } else if (kind == TG_JSONRPC_NOTIFICATION) {
            if (session) handle_notification(front, session, method, tg_jsonrpc_msg_params(msg));
            tg_http_reply(req, 202, NULL, NULL, 0);
        } else {
            handle_request(front, who, req, ep, session, method, tg_jsonrpc_msg_id(msg),
                           tg_jsonrpc_msg_params(msg));
        }
    }
    tg_jsonrpc_msg_free(msg);
    if (session) tg_session_release(session);
}

/* A stream the gateway sends change notifications on: a 2025 session's GET
 * stream, or a 2026-07-28 subscriptions/listen response stream. */
struct tg_mcp_listener {
    tg_http_stream *stream;
    char *session_id;     /* a session's GET stream; NULL for a subscription */
    json_t *subscription; /* a subscription's id, which tags all it is sent; else NULL */
    bool tools;           /* wants notifications/tools/list_changed */
    char *tenant;         /* hears only its own tenant's changes */
    tg_mcp_listener *next;
};

void tg_mcp_front_init(tg_mcp_front *front, tg_registry *registry, tg_session_table *sessions,
                       tg_calls *calls, tg_toolsets *toolsets)
{
    *front = (tg_mcp_front){
        .registry = registry, .sessions = sessions, .calls = calls, .toolsets = toolsets};
    pthread_mutex_init(&front->lock, NULL);
    pthread_mutex_init(&front->search_lock, NULL);
}

static void listener_free(tg_mcp_listener *l)
{
    tg_http_stream_end(l->stream);
    json_decref(l->subscription);
    free(l->session_id);
    free(l->tenant);
    free(l);
}

/* Returns: new reference, params._meta naming subscription l, for what goes
 * out on its stream. */
static json_t *subscription_meta(const tg_mcp_listener *l)
{
    return json_pack("{s:O}", "io.modelcontextprotocol/subscriptionId", l->subscription);
}

void tg_mcp_front_close(tg_mcp_front *front)
{
    pthread_mutex_lock(&front->lock);
    while (front->listeners) {
        tg_mcp_listener *next = front->listeners->next, *l = front->listeners;
        /* A subscription the server ends gets its response, so the client
         * can tell a clean end from a dropped connection. */
        if (l->subscription && !tg_http_stream_closed(l->stream)) {
            json_t *result = json_pack("{s:o}", "_meta", subscription_meta(l));
            tg_stateless_complete(result);
            sse_send(l->stream, tg_jsonrpc_result(l->subscription, result));
        }
        listener_free(l);
        front->listeners = next;
    }
    pthread_mutex_unlock(&front->lock);
    pthread_mutex_destroy(&front->lock);
    while (front->searches) {
        tg_mcp_search_index *next = front->searches->next;
        search_index_free(front->searches);
        front->searches = next;
    }
    pthread_mutex_destroy(&front->search_lock);
}

/* Drops listeners whose client left or whose session ended (NULL: only the
 * former). Called with front->lock held. */
static void prune(tg_mcp_front *front, const char *ended_session)
{
    for (tg_mcp_listener **p = &front->listeners; *p;) {
        tg_mcp_listener *l = *p;
        if (tg_http_stream_closed(l->stream) ||
            (ended_session && l->session_id && strcmp(l->session_id, ended_session) == 0)) {
            *p = l->next;
            listener_free(l);
        } else {
            p = &l->next;
        }
    }
}

void tg_mcp_front_tools_changed(tg_mcp_front *front, const char *tenant)
{
    /* Every cached search index is stale from here: the next search of each
     * toolset builds its index again, once. */
    pthread_mutex_lock(&front->search_lock);
    front->search_generation++;
    pthread_mutex_unlock(&front->search_lock);
    pthread_mutex_lock(&front->lock);
    prune(front, NULL);
    for (tg_mcp_listener *l = front->listeners; l; l = l->next) {
        if (!l->tools || (tenant && strcmp(l->tenant, tenant) != 0)) continue;
        json_t *params = l->subscription ? json_pack("{s:o}", "_meta", subscription_meta(l)) : NULL;
        sse_send(l->stream, tg_jsonrpc_notification("notifications/tools/list_changed", params));
    }
    pthread_mutex_unlock(&front->lock);
}

static void session_tools_changed(tg_mcp_front *front, const char *sid)
{
    pthread_mutex_lock(&front->lock);
    prune(front, NULL);
    for (tg_mcp_listener *l = front->listeners; l; l = l->next)
        if (l->tools && l->session_id && strcmp(l->session_id, sid) == 0)
            sse_send(l->stream, tg_jsonrpc_notification("notifications/tools/list_changed", NULL));
    pthread_mutex_unlock(&front->lock);
}

/* Adds l to the streams that hear changes (the front owns it from here). */
static void listen_on(tg_mcp_front *front, tg_mcp_listener *l)
{
    pthread_mutex_lock(&front->lock);
    prune(front, NULL);
    l->next = front->listeners;
    front->listeners = l;
    pthread_mutex_unlock(&front->lock);
}

static void handle_get(tg_mcp_front *front, const tg_caller *who, tg_http_request *req,
                       const endpoint *ep)
{
    if (!tg_http_accepts(tg_http_header(req, "Accept"), "text/event-stream")) {
        reply_error(req, TG_ENOT_ACCEPTABLE, "Accept must list text/event-stream");
        return;
    }
    const char *sid = tg_http_header(req, "Mcp-Session-Id");
    tg_session *session = NULL;
    if (!sid) {
        reply_error(req, TG_EBAD_REQUEST, "Mcp-Session-Id is required");
        return;
    }
    if (!session_found(req, front, ep, sid, who, &session)) return;
    tg_mcp_listener *l = tg_xcalloc(1, sizeof *l);
    l->session_id = tg_xstrdup(sid);
    l->tools = true;
    l->tenant = tg_xstrdup(who->tenant);
    l->stream = tg_http_stream_start(req, 200, "text/event-stream");
    /* A comment line, so the client sees the stream open at once. */
    tg_http_stream_write(l->stream, ": toolgate\n\n", 12);
    listen_on(front, l);
    tg_session_release(session);
}

/* subscriptions/listen (2026-07-28): the response is a stream that stays
 * open, acknowledges the filter as the gateway honors it (tool list changes
 * only: it serves no prompts or resources), then carries those changes. */
static void subscribe(tg_mcp_front *front, const tg_caller *who, tg_http_request *req,
                      const endpoint *ep, json_t *id, json_t *params)
{
    (void)ep; /* every endpoint of a tenant hears the tenant's changes */
    json_t *filter = json_object_get(params, "notifications");
    if (!json_is_object(filter)) {
        reply_rpc(req, tg_jsonrpc_error(id, TG_EINVALID_PARAMS,
                                        "params.notifications must be an object", NULL));
        return;
    }
    tg_mcp_listener *l = tg_xcalloc(1, sizeof *l);
    l->subscription = json_incref(id);
    l->tools = json_is_true(json_object_get(filter, "toolsListChanged"));
    l->tenant = tg_xstrdup(who->tenant);
    l->stream = tg_http_stream_start(req, 200, "text/event-stream");
    json_t *honored = json_object();
    if (l->tools) json_object_set_new(honored, "toolsListChanged", json_true());
    sse_send(l->stream,
             tg_jsonrpc_notification(
                 "notifications/subscriptions/acknowledged",
                 json_pack("{s:o, s:o}", "_meta", subscription_meta(l), "notifications", honored)));
    listen_on(front, l);
}

/* DELETE: ends the session, if it is this endpoint's. */
static void end_session(tg_mcp_front *front, const tg_caller *who, tg_http_request *req,
                        const endpoint *ep)
{
    const char *sid = tg_http_header(req, "Mcp-Session-Id");
    tg_session *session = NULL;
    if (!sid) {
        reply_error(req, TG_EBAD_REQUEST, "Mcp-Session-Id is required");
        return;
    }
    if (!session_found(req, front, ep, sid, who, &session)) return;
    tg_session_release(session);
    int rc = tg_session_end(front->sessions, sid, who->principal);
    if (rc != 0) {
        reply_error(req, (tg_err_code)rc, rc == TG_ENOT_FOUND ? "unknown or ended session" : NULL);
        return;
    }
    pthread_mutex_lock(&front->lock);
    prune(front, sid);
    pthread_mutex_unlock(&front->lock);
    tg_http_reply(req, 204, NULL, NULL, 0);
}

/* Which toolset the request's endpoint serves, into ep; answers (404 for an
 * unknown toolset, 403 for one the token may not use, 503 when the store
 * cannot say) and returns false when it may not be served. */
static bool open_endpoint(tg_mcp_front *front, const tg_caller *who, tg_http_request *req,
                          endpoint *ep)
{
    bool named = *ep->name != '\0';
    const char *wanted = named ? ep->name : TG_TOOLSET_DEFAULT;
    if (!tg_caller_may_use_toolset(who, wanted)) {
        char *message =
            named ? tg_xasprintf("this token may not use toolset \"%s\" (its toolsets claim "
                                 "does not name it)",
                                 ep->name)
                  : tg_xstrdup("this token is restricted to toolsets (its toolsets claim): use "
                               "/mcp/{toolset} for one of them");
        tg_caller_refuse_toolset(req, who, message);
        free(message);
        return false;
    }
    if (!front->toolsets) {
        if (named) reply_error(req, TG_ENOT_FOUND, "no such toolset");
        return !named;
    }
    tg_error err = {0};
    int rc = tg_toolsets_get(front->toolsets, who->tenant, wanted, &ep->toolset, &err);
    /* Without a toolset "default", /mcp serves every tool of the tenant. */
    if (rc == 0 || (rc == TG_ENOT_FOUND && !named)) return true;
    reply_error(req, rc == TG_ENOT_FOUND ? TG_ENOT_FOUND : TG_EUNAVAILABLE,
                rc == TG_ENOT_FOUND ? "no such toolset" : err.message);
    return false;
}

void tg_mcp_front_handle(tg_mcp_front *front, const tg_caller *who, tg_http_request *req,
                         const char *toolset)
{
    endpoint ep = {.name = toolset ? toolset : ""};
    if (!open_endpoint(front, who, req, &ep)) return;
    const char *method = tg_http_method(req);
    if (strcmp(method, "POST") == 0) {
        handle_post(front, who, req, &ep);
    } else if (strcmp(method, "DELETE") == 0) {
        end_session(front, who, req, &ep);
    } else if (strcmp(method, "GET") == 0) {
        handle_get(front, who, req, &ep);
    } else {
        tg_http_set_header(req, "Allow", "GET, POST, DELETE");
        reply_error(req, TG_EMETHOD_NOT_ALLOWED,
                    "use POST for messages and DELETE to end a session");
    }
    tg_toolset_unref(ep.toolset);
}
