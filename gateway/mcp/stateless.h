/* MCP 2026-07-28, the stateless revision: which requests speak it, and the
 * checks each such request passes before its method runs.
 *
 * The 2025 revisions open with initialize and name their session in
 * Mcp-Session-Id on every later request; 2026-07-28 has no handshake and no
 * session: every request carries its protocol version and the client's
 * capabilities in params._meta, and on HTTP mirrors its version, method and
 * name into the MCP-Protocol-Version, Mcp-Method and Mcp-Name headers. One
 * endpoint serves both: a request without a session that states a version
 * (in _meta, else in the header) other than a 2025 one is stateless; anything
 * else keeps the 2025 flow, so a client that probes with a 2025 version, or
 * none, falls back to initialize as the revision's compatibility rules expect.
 *
 * Invariant: a request is handed to its method only when every header agrees
 * with its body (basic/transports/streamable-http, Server Validation), its
 * _meta has the required fields, and it asks for 2026-07-28. */
#ifndef TG_MCP_STATELESS_H
#define TG_MCP_STATELESS_H

#include <jansson.h>
#include <stdbool.h>

#include "gateway/mcp/session.h"

#define TG_MCP_VERSION_STATELESS "2026-07-28"

/* JSON-RPC codes the revision reserves for itself (basic/index, Error Codes). */
#define TG_MCP_CODE_HEADER_MISMATCH     (-32020)
#define TG_MCP_CODE_MISSING_CAPABILITY  (-32021)
#define TG_MCP_CODE_UNSUPPORTED_VERSION (-32022)

/* The headers the transport mirrors from the body; NULL when absent. */
typedef struct tg_stateless_headers {
    const char *protocol_version; /* MCP-Protocol-Version */
    const char *method;           /* Mcp-Method */
    const char *name;             /* Mcp-Name, maybe =?base64?...?= */
} tg_stateless_headers;

/* What a request that passed the checks asks for beyond its method. */
typedef struct tg_stateless_request {
    bool wants_logs;            /* _meta named a log level: only then notifications/message */
    tg_mcp_log_level log_level; /* the lowest level it wants, when wants_logs */
} tg_stateless_request;

/* Whether a request without a session speaks 2026-07-28 (or a later or
 * unknown version, which it is told is unsupported): params (borrowed, may be
 * NULL) is the request's, header_version the MCP-Protocol-Version header. */
bool tg_stateless_selected(const char *header_version, const json_t *params);

/* Checks one stateless request: the headers against method and params, the
 * required _meta fields, the version, the log level. Returns 0 with *out set,
 * or -1 with *error a new reference to the JSON-RPC error response (carrying
 * id, borrowed) and *http_status its status: 400 for every failure, with
 * -32020 (a header missing, malformed or disagreeing with the body), -32602
 * (_meta incomplete, or an unknown log level) or -32022 (not 2026-07-28). */
int tg_stateless_check(const tg_stateless_headers *h, const char *method, json_t *id,
                       const json_t *params, tg_stateless_request *out, json_t **error,
                       unsigned *http_status);

/* A request header's value by name (case-insensitive), or NULL. */
typedef const char *(*tg_stateless_header_fn)(void *ctx, const char *name);

/* Checks a tools/call's Mcp-Param-{Name} headers: every argument whose
 * property in input_schema (borrowed; properties followed into nested
 * objects) names a header with "x-mcp-header" and has a value (not null)
 * must arrive in that header too, Base64 sentinel form decoded, equal to the
 * value (numbers compared as numbers). Returns 0, or -1 with *error a new
 * reference to the -32020 response (id borrowed), to go out with HTTP 400. */
int tg_stateless_check_params(const json_t *input_schema, const json_t *arguments,
                              tg_stateless_header_fn header, void *ctx, json_t *id, json_t **error);

/* The client capabilities a request declares: params._meta's
 * clientCapabilities (borrowed from params), or NULL. */
const json_t *tg_stateless_client_capabilities(const json_t *params);

/* The client capabilities a tool's calls need (its manifest's
 * requires.clientCapabilities, manifest borrowed) that client_capabilities
 * (borrowed, NULL for none) does not declare: a capability counts as
 * declared when its member is an object, as in the ClientCapabilities the
 * client sent. Returns: new reference, a ClientCapabilities object with an
 * empty object per missing capability ({"sampling": {}}), or NULL when
 * nothing is missing. */
json_t *tg_stateless_missing_capabilities(const json_t *manifest,
                                          const json_t *client_capabilities);

/* Returns: new reference, the MissingRequiredClientCapabilityError (-32021)
 * response (id borrowed) naming missing (stolen, from
 * tg_stateless_missing_capabilities) in data.requiredCapabilities, to go out
 * with HTTP 400. */
json_t *tg_stateless_missing_capability_error(json_t *id, json_t *missing);

/* Returns: new reference, every version the endpoint serves, newest first:
 * 2026-07-28 statelessly, the others after initialize. */
json_t *tg_stateless_versions(void);

/* Returns: new reference, {"name": "toolgate", "version": ...}: the server's
 * identity, which every stateless result carries in its _meta. */
json_t *tg_stateless_server_info(void);

/* Makes result (borrowed, an object) a 2026-07-28 result: resultType
 * "complete" and the server's identity in _meta, beside what _meta holds. */
void tg_stateless_complete(json_t *result);

#endif
