/* MCP sessions (Streamable HTTP's Mcp-Session-Id) and protocol versions.
 *
 * A session is made by initialize and lives in a thread-safe table until the
 * client ends it (DELETE), it sits idle past the table's idle timeout, or the
 * table is freed. Lookups hand out counted references, so a session that ends
 * while a call runs stays valid for that call (tg_session_ended tells it).
 *
 * Invariants: a session id is 32 characters of base64url (0x21..0x7E, as the
 * transport requires) from 192 bits of OpenSSL RAND_bytes; the negotiated
 * version, client info and capabilities never change after creation; a session
 * is bound to the principal that made it, and looking it up as anyone else is
 * "not found" (session hijacking mitigation in the MCP security practices). */
#ifndef TG_MCP_SESSION_H
#define TG_MCP_SESSION_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/core/errors.h"

#define TG_SESSION_ID_LEN 32

/* Protocol versions, newest first. */
#define TG_MCP_VERSION_LATEST  "2025-11-25"
#define TG_MCP_VERSION_DEFAULT "2025-03-26" /* assumed without an MCP-Protocol-Version header */
extern const char *const tg_session_versions[];
extern const size_t tg_session_n_versions;

/* Returns: the supported version string (static) equal to v, or NULL. */
const char *tg_session_version_supported(const char *v);
/* Version negotiation (lifecycle): the client's version when supported, else
 * the latest. Returns a static string. */
const char *tg_session_version_negotiate(const char *requested);
/* Whether JSON-RPC batches are allowed: only 2025-03-26 had them. */
bool tg_session_version_allows_batch(const char *version);
/* The MCP-Protocol-Version header check. header is the header's value or NULL
 * when absent; negotiated is the session's version or NULL when there is no
 * session (initialize). Absent: the negotiated version, else 2025-03-26.
 * Present: must be supported (the transport refuses only invalid or
 * unsupported versions); within a session the negotiated one is spoken.
 * Returns 0 with *out the version to speak (static), or TG_EBAD_REQUEST. */
int tg_session_version_check(const char *header, const char *negotiated, const char **out,
                             tg_error *err);

/* Log levels of logging/setLevel (RFC 5424 order, debug lowest), for the
 * notifications a client gets; the daemon's own are in gateway/core/log.h. */
typedef enum tg_mcp_log_level {
    TG_MCP_LOG_DEBUG,
    TG_MCP_LOG_INFO,
    TG_MCP_LOG_NOTICE,
    TG_MCP_LOG_WARNING,
    TG_MCP_LOG_ERROR,
    TG_MCP_LOG_CRITICAL,
    TG_MCP_LOG_ALERT,
    TG_MCP_LOG_EMERGENCY,
} tg_mcp_log_level;
/* Returns 0 with *out set, or TG_EINVALID_PARAMS for an unknown name. */
int tg_mcp_log_level_parse(const char *name, tg_mcp_log_level *out);
const char *tg_mcp_log_level_name(tg_mcp_log_level level);

typedef struct tg_session_table tg_session_table;
typedef struct tg_session tg_session;

typedef struct tg_session_options {
    size_t max_sessions;     /* 0: 10000; creation beyond answers TG_ECAPACITY */
    int64_t idle_timeout_ms; /* 0: 30 minutes */
    /* Clock in milliseconds (monotonic); NULL: CLOCK_MONOTONIC. Tests inject one. */
    int64_t (*now_ms)(void *userdata);
    void *now_userdata;
} tg_session_options;

/* opts may be NULL. Returns 0 with *out set. */
int tg_session_table_new(const tg_session_options *opts, tg_session_table **out);
/* Ends every session; references still held stay valid until released. */
void tg_session_table_free(tg_session_table *t);
size_t tg_session_table_count(tg_session_table *t);

/* Creates a session from initialize's params (borrowed): protocolVersion (a
 * string), capabilities (an object) and clientInfo (an object with string name
 * and version) are required, else TG_EINVALID_PARAMS. principal (may be NULL:
 * no auth) is the caller the session is bound to. Returns 0 with *out a new
 * reference, TG_EINVALID_PARAMS, TG_ECAPACITY (table full after expiring idle
 * sessions) or TG_EINTERNAL (no randomness). */
int tg_session_create(tg_session_table *t, const json_t *init_params, const char *principal,
                      tg_session **out, tg_error *err);
/* Finds a live session by id for principal and marks it used. Returns 0 with
 * *out a new reference, or TG_ENOT_FOUND (unknown, ended, expired, or another
 * principal's). */
int tg_session_lookup(tg_session_table *t, const char *id, const char *principal, tg_session **out);
/* Ends the session (DELETE /mcp). Returns 0 or TG_ENOT_FOUND. */
int tg_session_end(tg_session_table *t, const char *id, const char *principal);
/* Ends every session idle for longer than the timeout; returns how many. The
 * server calls it from a timer; lookups also refuse expired sessions. */
size_t tg_session_expire(tg_session_table *t);

/* Reference counting: lookup and create return new references. */
void tg_session_retain(tg_session *s);
void tg_session_release(tg_session *s);

/* Borrowed, valid while the reference is held. */
const char *tg_session_id(const tg_session *s);
const char *tg_session_version(const tg_session *s); /* the negotiated version */
const json_t *tg_session_client_info(const tg_session *s);
const json_t *tg_session_client_capabilities(const tg_session *s);
/* notifications/initialized arrived. */
bool tg_session_initialized(tg_session *s);
void tg_session_set_initialized(tg_session *s);
tg_mcp_log_level tg_session_log_level(tg_session *s); /* TG_MCP_LOG_INFO until set */
void tg_session_set_log_level(tg_session *s, tg_mcp_log_level level);
/* The session ended (DELETE, expiry, table freed) after this reference was taken. */
bool tg_session_ended(tg_session *s);

/* Returns: new reference, the InitializeResult for s: {protocolVersion,
 * capabilities: {tools: {listChanged: true}, logging: {}}, serverInfo: {name:
 * "toolgate", version}, instructions (when not NULL)}. */
json_t *tg_session_initialize_result(const tg_session *s, const char *instructions);

#endif
