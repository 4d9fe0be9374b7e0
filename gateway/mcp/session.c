/* Session table and protocol versions: see session.h for the contract.
 *
 * One mutex guards the table (buckets, chains, last-use times, the count);
 * a session's own mutable state (reference count, flags, log level) is atomic,
 * so it can be read and released without the table, even after the table is
 * gone. A session is in the table exactly while it is not ended; the table
 * holds one reference to each. */
#include "gateway/mcp/session.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway/core/alloc.h"

#define DEFAULT_MAX_SESSIONS 10000
#define DEFAULT_IDLE_MS      (30 * 60 * 1000)
#define ID_RANDOM_BYTES      24 /* 192 bits; base64 makes 32 characters, no padding */

_Static_assert(ID_RANDOM_BYTES / 3 * 4 == TG_SESSION_ID_LEN, "the id length follows the bytes");

const char *const tg_session_versions[] = {"2025-11-25", "2025-06-18", "2025-03-26"};
const size_t tg_session_n_versions = sizeof tg_session_versions / sizeof tg_session_versions[0];

struct tg_session {
    atomic_int refs;
    atomic_bool initialized;
    atomic_bool ended;
    atomic_int log_level;
    char id[TG_SESSION_ID_LEN + 1];
    const char *version; /* static */
    char *principal;     /* NULL: no auth */
    json_t *client_info; /* owned, never changed */
    json_t *capabilities;
    int64_t last_used_ms; /* table mutex */
    tg_session *next;     /* bucket chain, table mutex */
};

struct tg_session_table {
    pthread_mutex_t lock;
    tg_session **buckets;
    size_t n_buckets; /* a power of two */
    size_t count;
    size_t max_sessions;
    int64_t idle_ms;
    int64_t (*now_ms)(void *);
    void *now_userdata;
};

/* ---- versions ---- */

const char *tg_session_version_supported(const char *v)
{
    for (size_t i = 0; v && i < tg_session_n_versions; i++)
        if (strcmp(v, tg_session_versions[i]) == 0) return tg_session_versions[i];
    return NULL;
}

const char *tg_session_version_negotiate(const char *requested)
{
    const char *v = tg_session_version_supported(requested);
    return v ? v : TG_MCP_VERSION_LATEST;
}

bool tg_session_version_allows_batch(const char *version)
{
    return version && strcmp(version, "2025-03-26") == 0;
}

int tg_session_version_check(const char *header, const char *negotiated, const char **out,
                             tg_error *err)
{
    *out = NULL;
    if (!header) {
        const char *v = tg_session_version_supported(negotiated);
        *out = v ? v : TG_MCP_VERSION_DEFAULT;
        return 0;
    }
    const char *v = tg_session_version_supported(header);
    if (!v)
        return tg_error_set(err, TG_EBAD_REQUEST,
                            "unsupported MCP-Protocol-Version \"%.32s\" (supported: %s, %s, %s)",
                            header, tg_session_versions[0], tg_session_versions[1],
                            tg_session_versions[2]);
    /* The transport refuses only invalid or unsupported versions; a session
     * keeps speaking the version it negotiated whatever a request names. */
    *out = negotiated ? negotiated : v;
    return 0;
}

/* ---- log levels ---- */

static const char *const level_names[] = {"debug", "info",     "notice", "warning",
                                          "error", "critical", "alert",  "emergency"};

int tg_mcp_log_level_parse(const char *name, tg_mcp_log_level *out)
{
    for (size_t i = 0; name && i < sizeof level_names / sizeof level_names[0]; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (tg_mcp_log_level)i;
            return 0;
        }
    }
    return TG_EINVALID_PARAMS;
}

const char *tg_mcp_log_level_name(tg_mcp_log_level level)
{
    return (unsigned)level < sizeof level_names / sizeof level_names[0] ? level_names[level]
                                                                        : "info";
}

/* ---- the table ---- */

static int64_t monotonic_ms(void *userdata)
{
    (void)userdata;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int tg_session_table_new(const tg_session_options *opts, tg_session_table **out)
{
    tg_session_table *t = tg_xcalloc(1, sizeof *t);
    t->max_sessions = opts && opts->max_sessions ? opts->max_sessions : DEFAULT_MAX_SESSIONS;
    t->idle_ms = opts && opts->idle_timeout_ms > 0 ? opts->idle_timeout_ms : DEFAULT_IDLE_MS;
    t->now_ms = opts && opts->now_ms ? opts->now_ms : monotonic_ms;
    t->now_userdata = opts ? opts->now_userdata : NULL;
    /* About four sessions a chain when full; ids are random, so chains stay even. */
    t->n_buckets = 16;
    while (t->n_buckets < t->max_sessions / 4 && t->n_buckets < ((size_t)1 << 20))
        t->n_buckets <<= 1;
    t->buckets = tg_xcalloc(t->n_buckets, sizeof *t->buckets);
    pthread_mutex_init(&t->lock, NULL);
    *out = t;
    return 0;
}

static void session_free(tg_session *s)
{
    free(s->principal);
    json_decref(s->client_info);
    json_decref(s->capabilities);
    free(s);
}

void tg_session_retain(tg_session *s)
{
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

void tg_session_release(tg_session *s)
{
    if (s && atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1) session_free(s);
}

/* Unlinks every session and drops the table's reference; returns them counted. */
void tg_session_table_free(tg_session_table *t)
{
    if (!t) return;
    for (size_t i = 0; i < t->n_buckets; i++) {
        tg_session *s = t->buckets[i];
        while (s) {
            tg_session *next = s->next;
            atomic_store(&s->ended, true);
            tg_session_release(s);
            s = next;
        }
    }
    pthread_mutex_destroy(&t->lock);
    free(t->buckets);
    free(t);
}

size_t tg_session_table_count(tg_session_table *t)
{
    pthread_mutex_lock(&t->lock);
    size_t n = t->count;
    pthread_mutex_unlock(&t->lock);
    return n;
}

static size_t bucket_of(const tg_session_table *t, const char *id)
{
    uint64_t h = 1469598103934665603u; /* FNV-1a */
    for (; *id; id++)
        h = (h ^ (unsigned char)*id) * 1099511628211u;
    return (size_t)h & (t->n_buckets - 1);
}

static bool same_principal(const char *a, const char *b)
{
    if (!a || !b) return a == b;
    return strcmp(a, b) == 0;
}

/* Removes *link's session from the table; the table mutex is held. */
static void unlink_at(tg_session_table *t, tg_session **link)
{
    tg_session *s = *link;
    *link = s->next;
    s->next = NULL;
    t->count--;
    atomic_store(&s->ended, true);
    tg_session_release(s);
}

static size_t expire_locked(tg_session_table *t, int64_t now)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n_buckets; i++) {
        tg_session **link = &t->buckets[i];
        while (*link) {
            if (now - (*link)->last_used_ms > t->idle_ms) {
                unlink_at(t, link);
                n++;
            } else {
                link = &(*link)->next;
            }
        }
    }
    return n;
}

size_t tg_session_expire(tg_session_table *t)
{
    pthread_mutex_lock(&t->lock);
    size_t n = expire_locked(t, t->now_ms(t->now_userdata));
    pthread_mutex_unlock(&t->lock);
    return n;
}

static int new_id(char out[TG_SESSION_ID_LEN + 1])
{
    unsigned char raw[ID_RANDOM_BYTES];
    unsigned char b64[TG_SESSION_ID_LEN + 1];
    if (RAND_bytes(raw, sizeof raw) != 1) return TG_EINTERNAL;
    EVP_EncodeBlock(b64, raw, sizeof raw);
    /* base64url: safe in a header and in a URL, no padding at this length. */
    for (size_t i = 0; i < TG_SESSION_ID_LEN; i++)
        out[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : (char)b64[i];
    out[TG_SESSION_ID_LEN] = '\0';
    OPENSSL_cleanse(raw, sizeof raw);
    return 0;
}

static int check_init_params(const json_t *p, tg_error *err)
{
    if (!json_is_object(p))
        return tg_error_set(err, TG_EINVALID_PARAMS, "initialize needs params (an object)");
    if (!json_is_string(json_object_get(p, "protocolVersion")))
        return tg_error_set(err, TG_EINVALID_PARAMS, "params.protocolVersion must be a string");
    if (!json_is_object(json_object_get(p, "capabilities")))
        return tg_error_set(err, TG_EINVALID_PARAMS, "params.capabilities must be an object");
    const json_t *ci = json_object_get(p, "clientInfo");
    if (!json_is_object(ci))
        return tg_error_set(err, TG_EINVALID_PARAMS, "params.clientInfo must be an object");
    if (!json_is_string(json_object_get(ci, "name")) ||
        !json_is_string(json_object_get(ci, "version")))
        return tg_error_set(err, TG_EINVALID_PARAMS,
                            "params.clientInfo needs string \"name\" and \"version\"");
    return 0;
}

int tg_session_create(tg_session_table *t, const json_t *init_params, const char *principal,
                      tg_session **out, tg_error *err)
{
    *out = NULL;
    int rc = check_init_params(init_params, err);
    if (rc) return rc;

    tg_session *s = tg_xcalloc(1, sizeof *s);
    if (new_id(s->id) != 0) {
        free(s);
        return tg_error_set(err, TG_EINTERNAL, "no randomness for a session id");
    }
    atomic_init(&s->refs, 2); /* the table's and the caller's */
    atomic_init(&s->initialized, false);
    atomic_init(&s->ended, false);
    atomic_init(&s->log_level, TG_MCP_LOG_INFO);
    s->version = tg_session_version_negotiate(
        json_string_value(json_object_get(init_params, "protocolVersion")));
    s->principal = principal ? tg_xstrdup(principal) : NULL;
    /* Deep copies: the caller's request document goes away, and nothing else
     * may hold a reference that could change what the session saw. */
    s->client_info = json_deep_copy(json_object_get(init_params, "clientInfo"));
    s->capabilities = json_deep_copy(json_object_get(init_params, "capabilities"));
    if (!s->client_info || !s->capabilities) {
        session_free(s);
        return tg_error_set(err, TG_EINTERNAL, "out of memory copying the client's info");
    }

    pthread_mutex_lock(&t->lock);
    int64_t now = t->now_ms(t->now_userdata);
    if (t->count >= t->max_sessions) expire_locked(t, now);
    if (t->count >= t->max_sessions) {
        pthread_mutex_unlock(&t->lock);
        session_free(s);
        return tg_error_set(err, TG_ECAPACITY, "too many open sessions (%zu)", t->max_sessions);
    }
    s->last_used_ms = now;
    size_t b = bucket_of(t, s->id);
    s->next = t->buckets[b];
    t->buckets[b] = s;
    t->count++;
    pthread_mutex_unlock(&t->lock);
    *out = s;
    return 0;
}

/* Returns: the link to id's session, or NULL; the table mutex is held. The
 * compare is constant-time so response times say nothing about near misses. */
static tg_session **find_locked(tg_session_table *t, const char *id)
{
    if (!id || strlen(id) != TG_SESSION_ID_LEN) return NULL;
    for (tg_session **link = &t->buckets[bucket_of(t, id)]; *link; link = &(*link)->next)
        if (CRYPTO_memcmp((*link)->id, id, TG_SESSION_ID_LEN) == 0) return link;
    return NULL;
}

int tg_session_lookup(tg_session_table *t, const char *id, const char *principal, tg_session **out)
{
    *out = NULL;
    int rc = TG_ENOT_FOUND;
    pthread_mutex_lock(&t->lock);
    tg_session **link = find_locked(t, id);
    if (link && same_principal((*link)->principal, principal)) {
        int64_t now = t->now_ms(t->now_userdata);
        if (now - (*link)->last_used_ms > t->idle_ms) {
            unlink_at(t, link);
        } else {
            (*link)->last_used_ms = now;
            tg_session_retain(*link);
            *out = *link;
            rc = 0;
        }
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}

int tg_session_end(tg_session_table *t, const char *id, const char *principal)
{
    int rc = TG_ENOT_FOUND;
    pthread_mutex_lock(&t->lock);
    tg_session **link = find_locked(t, id);
    if (link && same_principal((*link)->principal, principal)) {
        unlink_at(t, link);
        rc = 0;
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}

/* ---- one session ---- */

const char *tg_session_id(const tg_session *s)
{
    return s->id;
}

const char *tg_session_version(const tg_session *s)
{
    return s->version;
}

const json_t *tg_session_client_info(const tg_session *s)
{
    return s->client_info;
}

const json_t *tg_session_client_capabilities(const tg_session *s)
{
    return s->capabilities;
}

bool tg_session_initialized(tg_session *s)
{
    return atomic_load(&s->initialized);
}

void tg_session_set_initialized(tg_session *s)
{
    atomic_store(&s->initialized, true);
}

tg_mcp_log_level tg_session_log_level(tg_session *s)
{
    return (tg_mcp_log_level)atomic_load(&s->log_level);
}

void tg_session_set_log_level(tg_session *s, tg_mcp_log_level level)
{
    atomic_store(&s->log_level, (int)level);
}

bool tg_session_ended(tg_session *s)
{
    return atomic_load(&s->ended);
}

json_t *tg_session_initialize_result(const tg_session *s, const char *instructions)
{
    json_t *r = json_pack("{s:s, s:{s:{s:b}, s:{}}, s:{s:s, s:s}}", "protocolVersion", s->version,
                          "capabilities", "tools", "listChanged", 1, "logging", "serverInfo",
                          "name", "toolgate", "version", TOOLGATE_VERSION);
    if (!r) abort(); /* only out of memory: the format is constant */
    if (instructions) {
        json_t *i = json_string(instructions);
        if (i) json_object_set_new(r, "instructions", i);
    }
    return r;
}
