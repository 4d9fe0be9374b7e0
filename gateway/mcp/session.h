/* MCP sessions (Streamable HTTP's Mcp-Session-Id) and protocol versions.
 *
 * A session is made by initialize and lives in a thread-safe table until the
 * client ends it (DELETE), it sits idle past the table's idle timeout, or the
 * table is freed. Lookups hand out counted references, so a session that ends
 * while a call runs stays valid for that call (tg_session_ended tells it).
 *
 * With a store (tg_session_options.store), sessions live in the store's
 * "sessions" component and the table is this replica's cache in front of it:
 * a session made on one replica continues on any other replica of the same
 * store, and ending it anywhere ends it everywhere. Without one, the table is
 * the only place a session exists (one process).
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
    /* 0: 10000. The sessions this replica holds: with a store, its cache
     * (the sessions it made or served within the idle timeout), not the
     * store's rows, which would cost a count of the shared table at every
     * initialize; the rows are bounded by the idle timeout and the sweeps.
     * Creation beyond it, after dropping idle sessions, answers TG_ECAPACITY
     * (retryable: another replica may have room); a lookup of a live session
     * when the cache is full still succeeds, uncached. */
    size_t max_sessions;
    int64_t idle_timeout_ms; /* 0: 30 minutes */
    /* Clock in milliseconds; NULL: CLOCK_MONOTONIC without a store, and
     * CLOCK_REALTIME with one, since replicas compare each other's times and
     * share no monotonic clock. Tests inject one (wall-clock with a store). */
    int64_t (*now_ms)(void *userdata);
    void *now_userdata;
    /* Where sessions are kept: a "postgres://" URL (shared by replicas) or a
     * sqlite file path (shared by processes on one host). NULL: in memory
     * only. Borrowed for tg_session_table_open. */
    const char *store;
} tg_session_options;

/* opts may be NULL. With a store, opens it and brings its schema up to date.
 * Returns 0 with *out set, or TG_EUNAVAILABLE (err says why) when the store
 * cannot be opened. */
int tg_session_table_open(const tg_session_options *opts, tg_session_table **out, tg_error *err);
/* tg_session_table_open without the detail. */
int tg_session_table_new(const tg_session_options *opts, tg_session_table **out);
/* Ends every session for this table; references still held stay valid until
 * released. A store keeps its rows: the sessions continue on other replicas
 * (and on this one once it opens the store again). */
void tg_session_table_free(tg_session_table *t);
/* The sessions the table holds (with a store: the cached ones). */
size_t tg_session_table_count(tg_session_table *t);

/* Creates a session from initialize's params (borrowed): protocolVersion (a
 * string), capabilities (an object) and clientInfo (an object with string name
 * and version) are required, else TG_EINVALID_PARAMS. principal (may be NULL:
 * no auth) is the caller the session is bound to. Returns 0 with *out a new
 * reference, TG_EINVALID_PARAMS, TG_ECAPACITY (table full after expiring idle
 * sessions), TG_EUNAVAILABLE (the store cannot be written) or TG_EINTERNAL
 * (no randomness). */
int tg_session_create(tg_session_table *t, const json_t *init_params, const char *principal,
                      tg_session **out, tg_error *err);
/* tg_session_create for a session bound to endpoint (a toolset's name;
 * NULL or "" for /mcp itself), which the front compares at every use: a
 * session is served only on the endpoint it was made on. */
int tg_session_create_at(tg_session_table *t, const json_t *init_params, const char *principal,
                         const char *endpoint, tg_session **out, tg_error *err);
/* Finds a live session by id for principal and marks it used. With a store,
 * asks the store every time (one round trip), so an end or expiry on another
 * replica is seen, and refreshes the cached log level and initialized flag
 * from it. Returns 0 with *out a new reference, TG_ENOT_FOUND (unknown,
 * ended, expired, or another principal's), TG_EUNAVAILABLE when the store
 * cannot be asked or holds a version this gateway does not speak (a newer
 * replica's): the session may well be live, so the caller must answer a
 * retryable error, never "not found", which would make the client start
 * over; or TG_EINTERNAL for a row that is not a session's (malformed JSON). */
int tg_session_lookup(tg_session_table *t, const char *id, const char *principal, tg_session **out);
/* Ends the session (DELETE /mcp). Returns 0, TG_ENOT_FOUND, or
 * TG_EUNAVAILABLE (the store cannot be written). */
int tg_session_end(tg_session_table *t, const char *id, const char *principal);
/* Ends every session idle for longer than the timeout; returns how many. The
 * server calls it from a timer; lookups also refuse expired sessions. With a
 * store, deletes the idle rows (whichever replica sweeps first ends them for
 * all), counts those, and drops from the cache what this replica has not used
 * within the timeout and nobody holds; creation also sweeps now and then, so
 * rows do not pile up without a timer. A store failure counts 0 and is logged. */
size_t tg_session_expire(tg_session_table *t);

/* Reference counting: lookup and create return new references. */
void tg_session_retain(tg_session *s);
void tg_session_release(tg_session *s);

/* Borrowed, valid while the reference is held. */
const char *tg_session_id(const tg_session *s);
const char *tg_session_version(const tg_session *s);  /* the negotiated version */
const char *tg_session_endpoint(const tg_session *s); /* "" for /mcp */
const json_t *tg_session_client_info(const tg_session *s);
const json_t *tg_session_client_capabilities(const tg_session *s);
/* notifications/initialized arrived. */
bool tg_session_initialized(tg_session *s);
tg_mcp_log_level tg_session_log_level(tg_session *s); /* TG_MCP_LOG_INFO until set */
/* The setters write through to the store (even after the table is freed:
 * the session holds its own reference to the store). Return 0, or
 * TG_EUNAVAILABLE when the store cannot be written; the session's value is
 * then left as it was, so it never says what other replicas will not see. */
int tg_session_set_initialized(tg_session *s);
int tg_session_set_log_level(tg_session *s, tg_mcp_log_level level);
/* The session ended after this reference was taken, as far as this replica
 * knows: its DELETE or expiry here, a lookup here that found the store's row
 * gone, or the table freed. An end on another replica shows at the next
 * lookup or sweep here. */
bool tg_session_ended(tg_session *s);

/* The tools search_tools made callable in a session of a toolset in search
 * mode (docs/toolsets.md). A session keeps at most this many. */
#define TG_SESSION_MAX_UNLOCKED 1000
bool tg_session_unlocked(tg_session *s, const char *tool);
/* Adds tools[0..n) to the session's unlocked tools, writing through to the
 * store (another replica's lookup sees them). Returns 0, or TG_EUNAVAILABLE
 * when the store cannot be written (nothing is unlocked then). Two replicas
 * unlocking in one session at the same instant may lose one's additions: the
 * client searches again. */
int tg_session_unlock(tg_session *s, const char *const *tools, size_t n);

/* Returns: new reference, the InitializeResult for s: {protocolVersion,
 * capabilities: {tools: {listChanged: true}, logging: {}}, serverInfo: {name:
 * "toolgate", version}, instructions (when not NULL)}. */
json_t *tg_session_initialize_result(const tg_session *s, const char *instructions);

#endif
