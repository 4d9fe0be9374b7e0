/* Session table and protocol versions: see session.h for the contract.
 *
 * One mutex guards the table (buckets, chains, last-use times, the count);
 * a session's own mutable state (reference count, flags, log level) is atomic,
 * so it can be read and released without the table, even after the table is
 * gone. The table holds one reference to each session in it.
 *
 * Without a store, the table is the truth: a session is in it exactly while
 * it is not ended.
 *
 * With a store, the store's row is the truth and the table is a cache, so
 * what changes is:
 *  - a session is live while its row is, whatever the cache says: lookups,
 *    ends and writes go to the store every time (each one statement, so one
 *    round trip), and a lookup that finds no row drops the cached session and
 *    marks it ended; a cached session outlives its row only until then;
 *  - a cached session is not ended by being dropped from the cache for want
 *    of use here (its row may be live on another replica); only one that
 *    nobody holds is dropped that way, so a session object a call holds is
 *    the one lookups keep finding (a second copy exists only when a lookup
 *    found the cache full and served a copy it does not keep);
 *  - the log level and initialized flag are copied from the row at each
 *    lookup and change only after the store took the change, all under the
 *    store mutex, so on one replica they follow the store's order;
 *  - times are wall-clock milliseconds: replicas compare each other's, and
 *    last_seen_ms only moves forward, so a replica whose clock is behind never
 *    shortens a session's life (clock skew between replicas shifts expiry by
 *    the skew, which NTP keeps far below the idle timeout);
 *  - the store holds a SHA-256 of the id, not the id: a leaked table yields
 *    no usable ids, and index lookups on the hash say nothing through their
 *    timing about ids near a real one (the cache compares in constant time).
 * Lock order: the store mutex, then the table's. Every change to the cache
 * happens under both, so a decision made from the store stays true until the
 * cache reflects it; tg_session_table_count takes only the table's. */
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
#include "gateway/core/clock.h"
#include "gateway/core/log.h"
#include "gateway/core/text.h"
#include "gateway/store/store.h"

#define DEFAULT_MAX_SESSIONS 10000
#define DEFAULT_IDLE_MS      (30 * 60 * 1000)
#define ID_RANDOM_BYTES      24 /* 192 bits; base64 makes 32 characters, no padding */
#define ID_HASH_LEN          64 /* SHA-256 in hex */
#define BUSY_TIMEOUT_MS      5000
/* Creation sweeps the store's idle rows at most this often, so they go even
 * when nobody calls tg_session_expire; any replica's sweep serves all. */
#define SWEEP_EVERY_MS (60 * 1000)

_Static_assert(ID_RANDOM_BYTES / 3 * 4 == TG_SESSION_ID_LEN, "the id length follows the bytes");

const char *const tg_session_versions[] = {"2025-11-25", "2025-06-18", "2025-03-26"};
const size_t tg_session_n_versions = sizeof tg_session_versions / sizeof tg_session_versions[0];

/* The store connection, shared by the table and its sessions (each holds a
 * reference), so a session's setters still write after the table is gone. */
typedef struct session_store {
    atomic_int refs;
    pthread_mutex_t mu; /* guards db, and orders the cache's changes (see above) */
    tg_store *db;
    int64_t last_sweep_ms; /* mu */
} session_store;

struct tg_session {
    atomic_int refs;
    atomic_bool initialized;
    atomic_bool ended;
    atomic_int log_level;
    char id[TG_SESSION_ID_LEN + 1];
    char id_hash[ID_HASH_LEN + 1]; /* the store's key; "" without a store */
    const char *version;           /* static */
    char *principal;               /* NULL: no auth */
    json_t *client_info;           /* owned, never changed */
    json_t *capabilities;
    char *endpoint;              /* never changed; "" for /mcp */
    pthread_mutex_t unlocked_mu; /* guards unlocked */
    json_t *unlocked;            /* an object used as a set of tool names */
    session_store *store;        /* a reference; NULL without a store */
    int64_t last_used_ms;        /* table mutex; with a store, the last use on this replica */
    tg_session *next;            /* bucket chain, table mutex */
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
    session_store *store; /* NULL: memory only */
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
                            "unsupported MCP-Protocol-Version \"%.*s\" (supported: %s, %s, %s)",
                            tg_utf8_excerpt(header, 32), header, tg_session_versions[0],
                            tg_session_versions[1], tg_session_versions[2]);
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

/* ---- the store ---- */

static const tg_store_migration migrations[] = {
    {
        .sqlite = "CREATE TABLE sessions ("
                  " id_hash TEXT PRIMARY KEY, principal TEXT," /* NULL: no auth */
                  " version TEXT NOT NULL, client_info TEXT NOT NULL,"
                  " capabilities TEXT NOT NULL, log_level TEXT NOT NULL,"
                  " initialized BOOLEAN NOT NULL,"
                  " created_ms INTEGER NOT NULL, last_seen_ms INTEGER NOT NULL) WITHOUT ROWID;"
                  "CREATE INDEX sessions_idle ON sessions (last_seen_ms);",
        .postgres = "CREATE TABLE sessions ("
                    " id_hash TEXT PRIMARY KEY, principal TEXT,"
                    " version TEXT NOT NULL, client_info TEXT NOT NULL,"
                    " capabilities TEXT NOT NULL, log_level TEXT NOT NULL,"
                    " initialized BOOLEAN NOT NULL,"
                    " created_ms BIGINT NOT NULL, last_seen_ms BIGINT NOT NULL);"
                    "CREATE INDEX sessions_idle ON sessions (last_seen_ms);",
    },
    {
        /* The endpoint a session was made on ("" for /mcp, else a toolset's
         * name), and the tools search_tools unlocked in it (a JSON array). */
        .sqlite = "ALTER TABLE sessions ADD COLUMN endpoint TEXT NOT NULL DEFAULT '';"
                  "ALTER TABLE sessions ADD COLUMN unlocked TEXT NOT NULL DEFAULT '[]';",
        .postgres = "ALTER TABLE sessions ADD COLUMN endpoint TEXT NOT NULL DEFAULT '';"
                    "ALTER TABLE sessions ADD COLUMN unlocked TEXT NOT NULL DEFAULT '[]';",
    },
};

/* Losing the last few sessions to a power cut only makes their clients
 * initialize again: no fsync per session. */
static const char *const sqlite_setup[] = {"PRAGMA synchronous = NORMAL", NULL};

static int store_fail(void *err, tg_store_failure kind, const char *what, const char *detail)
{
    if (kind == TG_STORE_NOT_WAL)
        return tg_error_set(err, TG_EUNAVAILABLE, "sessions store %s: cannot use WAL mode", what);
    /* A taken key is a repeated random id: not the store's fault. */
    if (kind == TG_STORE_CONFLICT)
        return tg_error_set(err, TG_EINTERNAL, "sessions store: %s: %s", what, detail);
    return tg_error_set(err, TG_EUNAVAILABLE, "sessions store: %s: %s", what,
                        detail ? detail : "failed");
}

static void store_release(session_store *ss)
{
    if (!ss || atomic_fetch_sub_explicit(&ss->refs, 1, memory_order_acq_rel) != 1) return;
    tg_store_close(ss->db);
    pthread_mutex_destroy(&ss->mu);
    free(ss);
}

/* One statement's work on the store: prepares, binds, steps, reads. */
typedef int (*store_op)(tg_store *db, void *ctx, tg_error *err);

/* Runs op under the store mutex (held by the caller). A connection lost
 * since the last use (a restart, a failover) fails the first statement;
 * ping makes it again, and op runs once more, which every op here allows
 * (they are idempotent, except create's insert, which does not come here). */
static int store_run(session_store *ss, store_op op, void *ctx, tg_error *err)
{
    int rc = op(ss->db, ctx, err);
    if (rc && rc != TG_EINTERNAL && tg_store_ping(ss->db, store_fail, NULL) == 0)
        rc = op(ss->db, ctx, err);
    return rc;
}

/* The SHA-256 of id in hex: the store's key for it. */
static void id_hash(const char *id, char out[ID_HASH_LEN + 1])
{
    unsigned char md[32];
    unsigned int len = 0;
    if (EVP_Digest(id, strlen(id), md, &len, EVP_sha256(), NULL) != 1 || len != sizeof md)
        abort(); /* SHA-256 of a short string fails only without memory */
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof md; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[ID_HASH_LEN] = '\0';
}

/* ---- the table ---- */

static int64_t monotonic_ms(void *userdata)
{
    (void)userdata;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void *userdata)
{
    (void)userdata;
    return tg_now_ms();
}

static int open_store(const char *where, session_store **out, tg_error *err)
{
    *out = NULL;
    tg_store *db = NULL;
    int rc = tg_store_open(where, "sessions", TG_STORE_CREATE | TG_STORE_DURABLE, BUSY_TIMEOUT_MS,
                           sqlite_setup, NULL, &db, store_fail, err);
    if (!rc)
        rc = tg_store_migrate(db, migrations, sizeof migrations / sizeof *migrations, store_fail,
                              err);
    if (rc) {
        tg_store_close(db);
        /* Whatever went wrong, the store cannot be used. */
        if (err) err->code = TG_EUNAVAILABLE;
        return TG_EUNAVAILABLE;
    }
    session_store *ss = tg_xcalloc(1, sizeof *ss);
    atomic_init(&ss->refs, 1);
    pthread_mutex_init(&ss->mu, NULL);
    ss->db = db;
    *out = ss;
    return 0;
}

int tg_session_table_open(const tg_session_options *opts, tg_session_table **out, tg_error *err)
{
    *out = NULL;
    session_store *ss = NULL;
    if (opts && opts->store) {
        int rc = open_store(opts->store, &ss, err);
        if (rc) return rc;
    }
    tg_session_table *t = tg_xcalloc(1, sizeof *t);
    t->store = ss;
    t->max_sessions = opts && opts->max_sessions ? opts->max_sessions : DEFAULT_MAX_SESSIONS;
    t->idle_ms = opts && opts->idle_timeout_ms > 0 ? opts->idle_timeout_ms : DEFAULT_IDLE_MS;
    t->now_ms = opts && opts->now_ms ? opts->now_ms : ss ? wall_ms : monotonic_ms;
    t->now_userdata = opts ? opts->now_userdata : NULL;
    if (ss) ss->last_sweep_ms = t->now_ms(t->now_userdata);
    /* About four sessions a chain when full; ids are random, so chains stay even. */
    t->n_buckets = 16;
    while (t->n_buckets < t->max_sessions / 4 && t->n_buckets < ((size_t)1 << 20))
        t->n_buckets <<= 1;
    t->buckets = tg_xcalloc(t->n_buckets, sizeof *t->buckets);
    pthread_mutex_init(&t->lock, NULL);
    *out = t;
    return 0;
}

int tg_session_table_new(const tg_session_options *opts, tg_session_table **out)
{
    return tg_session_table_open(opts, out, NULL);
}

static void session_free(tg_session *s)
{
    free(s->principal);
    free(s->endpoint);
    json_decref(s->unlocked);
    pthread_mutex_destroy(&s->unlocked_mu);
    json_decref(s->client_info);
    json_decref(s->capabilities);
    store_release(s->store);
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

/* Unlinks every session and drops the table's reference; the store keeps
 * the rows (see session.h). */
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
    store_release(t->store);
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

/* Puts s in the table, which takes a reference; the table mutex is held. */
static void link_locked(tg_session_table *t, tg_session *s)
{
    size_t b = bucket_of(t, s->id);
    tg_session_retain(s);
    s->next = t->buckets[b];
    t->buckets[b] = s;
    t->count++;
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

static int hash_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The cache's part of a sweep, under both mutexes: a session not used here
 * within the timeout goes when the store deleted its row (gone, sorted: the
 * hashes the sweep deleted), ended, or when nobody holds it (only the
 * cache's copy; the row may be live elsewhere, and a lookup brings it back).
 * One whose row is gone can only be here among those unused here: a row's
 * last_seen_ms is never older than this replica's last use. */
static void evict_locked(tg_session_table *t, int64_t now, char **gone, size_t n_gone)
{
    for (size_t i = 0; i < t->n_buckets; i++) {
        tg_session **link = &t->buckets[i];
        while (*link) {
            tg_session *s = *link;
            const char *key = s->id_hash;
            if (now - s->last_used_ms > t->idle_ms &&
                ((n_gone && bsearch(&key, gone, n_gone, sizeof *gone, hash_cmp)) ||
                 atomic_load(&s->refs) == 1))
                unlink_at(t, link);
            else
                link = &s->next;
        }
    }
}

typedef struct sweep_ctx {
    int64_t cutoff;
    char **gone;
    size_t n, cap;
} sweep_ctx;

static void sweep_free(sweep_ctx *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->gone[i]);
    c->n = 0;
}

static int sweep_op(tg_store *db, void *ctx, tg_error *err)
{
    sweep_ctx *c = ctx;
    sweep_free(c); /* a retry reads the rows again */
    tg_stmt *st = NULL;
    int rc = tg_store_prepare(db, &st, store_fail, err,
                              "DELETE FROM sessions WHERE last_seen_ms < ?1 RETURNING id_hash", 0);
    if (!rc) tg_stmt_bind_int64(st, 1, c->cutoff);
    while (!rc && (rc = tg_stmt_step(st, store_fail, err)) == 1) {
        if (c->n == c->cap) {
            c->cap = c->cap ? c->cap * 2 : 16;
            c->gone = tg_xrealloc(c->gone, c->cap * sizeof *c->gone);
        }
        c->gone[c->n++] = tg_xstrdup(tg_stmt_text(st, 0));
        rc = 0;
    }
    tg_stmt_finalize(st);
    return rc;
}

/* A store sweep and the cache's part of it; the store mutex is held.
 * Returns how many rows the store deleted. */
static size_t sweep_store(tg_session_table *t, int64_t now)
{
    session_store *ss = t->store;
    sweep_ctx c = {.cutoff = now - t->idle_ms};
    tg_error err = {0};
    if (store_run(ss, sweep_op, &c, &err) != 0) {
        tg_log_warn(NULL, "cannot expire idle sessions: %s", err.message);
        sweep_free(&c); /* the statement failed whole: nothing was deleted */
    }
    ss->last_sweep_ms = now;
    if (c.n) qsort(c.gone, c.n, sizeof *c.gone, hash_cmp);
    pthread_mutex_lock(&t->lock);
    evict_locked(t, now, c.gone, c.n);
    pthread_mutex_unlock(&t->lock);
    size_t n = c.n;
    sweep_free(&c);
    free(c.gone);
    return n;
}

size_t tg_session_expire(tg_session_table *t)
{
    if (t->store) {
        pthread_mutex_lock(&t->store->mu);
        size_t n = sweep_store(t, t->now_ms(t->now_userdata));
        pthread_mutex_unlock(&t->store->mu);
        return n;
    }
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

/* A session's row; the store mutex is held. Not retried: an insert that
 * reached the store before its connection broke would conflict with itself. */
static int insert_row(session_store *ss, const tg_session *s, int64_t now, tg_error *err)
{
    char *info = json_dumps(s->client_info, JSON_COMPACT);
    char *caps = json_dumps(s->capabilities, JSON_COMPACT);
    tg_stmt *st = NULL;
    int rc = TG_EINTERNAL;
    if (!info || !caps) {
        rc = tg_error_set(err, TG_EINTERNAL, "out of memory writing the client's info");
        goto out;
    }
    rc = tg_store_prepare(ss->db, &st, store_fail, err,
                          "INSERT INTO sessions (id_hash, principal, version, client_info,"
                          " capabilities, log_level, initialized, created_ms, last_seen_ms,"
                          " endpoint) VALUES (?1, ?2, ?3, ?4, ?5, ?6, FALSE, ?7, ?7, ?8)",
                          6, s->id_hash, s->principal, s->version, info, caps,
                          tg_mcp_log_level_name(TG_MCP_LOG_INFO));
    if (rc) goto out;
    tg_stmt_bind_int64(st, 7, now);
    tg_stmt_bind_text(st, 8, s->endpoint);
    rc = tg_stmt_run(st, store_fail, err);
out:
    tg_stmt_finalize(st);
    free(info);
    free(caps);
    return rc;
}

int tg_session_create(tg_session_table *t, const json_t *init_params, const char *principal,
                      tg_session **out, tg_error *err)
{
    return tg_session_create_at(t, init_params, principal, NULL, out, err);
}

/* A new session's or a stored one's parts that are not in the row's
 * immutable columns. */
static void session_init_common(tg_session *s, const char *endpoint)
{
    s->endpoint = tg_xstrdup(endpoint ? endpoint : "");
    pthread_mutex_init(&s->unlocked_mu, NULL);
    s->unlocked = json_object();
}

int tg_session_create_at(tg_session_table *t, const json_t *init_params, const char *principal,
                         const char *endpoint, tg_session **out, tg_error *err)
{
    *out = NULL;
    int rc = check_init_params(init_params, err);
    if (rc) return rc;

    tg_session *s = tg_xcalloc(1, sizeof *s);
    session_init_common(s, endpoint);
    if (new_id(s->id) != 0) {
        session_free(s);
        return tg_error_set(err, TG_EINTERNAL, "no randomness for a session id");
    }
    atomic_init(&s->refs, 1); /* the caller's; the table takes its own */
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

    session_store *ss = t->store;
    int64_t now;
    if (ss) {
        id_hash(s->id, s->id_hash);
        atomic_fetch_add_explicit(&ss->refs, 1, memory_order_relaxed);
        s->store = ss;
        pthread_mutex_lock(&ss->mu);
        now = t->now_ms(t->now_userdata);
        if (tg_session_table_count(t) >= t->max_sessions ||
            now - ss->last_sweep_ms >= SWEEP_EVERY_MS)
            sweep_store(t, now);
    } else {
        now = t->now_ms(t->now_userdata);
    }
    s->last_used_ms = now;
    pthread_mutex_lock(&t->lock);
    if (!ss && t->count >= t->max_sessions) expire_locked(t, now);
    bool full = t->count >= t->max_sessions;
    if (!full && !ss) link_locked(t, s);
    pthread_mutex_unlock(&t->lock);
    if (full) {
        rc = tg_error_set(err, TG_ECAPACITY, "too many open sessions (%zu)", t->max_sessions);
    } else if (ss) {
        /* The store mutex held since the count was read keeps it from rising. */
        rc = insert_row(ss, s, now, err);
        if (!rc) {
            pthread_mutex_lock(&t->lock);
            link_locked(t, s);
            pthread_mutex_unlock(&t->lock);
        }
    }
    if (ss) pthread_mutex_unlock(&ss->mu);
    if (rc) {
        session_free(s);
        return rc;
    }
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

/* What a lookup reads from the store. */
typedef struct lookup_ctx {
    const char *hash, *principal;
    int64_t now, cutoff;
    bool found;
    char *version, *client_info, *capabilities, *log_level, *endpoint, *unlocked; /* owned */
    bool initialized;
} lookup_ctx;

static void lookup_ctx_clear(lookup_ctx *c)
{
    free(c->version);
    free(c->client_info);
    free(c->capabilities);
    free(c->log_level);
    free(c->endpoint);
    free(c->unlocked);
    c->version = c->client_info = c->capabilities = c->log_level = c->endpoint = c->unlocked = NULL;
    c->found = false;
}

/* Marks the session used and reads it, if it is live for this principal:
 * one statement, so one round trip. */
static int lookup_op(tg_store *db, void *ctx, tg_error *err)
{
    lookup_ctx *c = ctx;
    lookup_ctx_clear(c);
    tg_stmt *st = NULL;
    /* last_seen_ms only moves forward (a replica's clock may be behind);
     * the principal is compared so that NULL (no auth) matches only NULL,
     * written out since IS NOT DISTINCT FROM is new in sqlite. */
    int rc = tg_store_prepare(db, &st, store_fail, err,
                              "UPDATE sessions SET last_seen_ms ="
                              " CASE WHEN last_seen_ms < ?1 THEN ?1 ELSE last_seen_ms END"
                              " WHERE id_hash = ?2"
                              " AND (principal = ?3 OR (principal IS NULL AND ?3 IS NULL))"
                              " AND last_seen_ms >= ?4"
                              " RETURNING version, client_info, capabilities, log_level,"
                              " initialized, endpoint, unlocked",
                              0);
    if (!rc) {
        tg_stmt_bind_int64(st, 1, c->now);
        tg_stmt_bind_text(st, 2, c->hash);
        tg_stmt_bind_text(st, 3, c->principal);
        tg_stmt_bind_int64(st, 4, c->cutoff);
        rc = tg_stmt_step(st, store_fail, err);
    }
    if (rc == 1) {
        c->found = true;
        c->version = tg_xstrdup(tg_stmt_text(st, 0));
        c->client_info = tg_xstrdup(tg_stmt_text(st, 1));
        c->capabilities = tg_xstrdup(tg_stmt_text(st, 2));
        c->log_level = tg_xstrdup(tg_stmt_text(st, 3));
        c->initialized = tg_stmt_int64(st, 4) != 0;
        c->endpoint = tg_xstrdup(tg_stmt_text(st, 5));
        c->unlocked = tg_xstrdup(tg_stmt_text(st, 6));
    }
    tg_stmt_finalize(st);
    return rc < 0 ? rc : 0;
}

/* The store's row made a session; NULL with *rc set when this gateway
 * cannot serve it. */
static tg_session *session_from_row(tg_session_table *t, const char *id, const lookup_ctx *c,
                                    int *rc)
{
    const char *version = tg_session_version_supported(c->version);
    if (!version) {
        tg_log_warn(NULL, "session in the store speaks MCP %.32s, which this gateway does not",
                    c->version);
        *rc = TG_EUNAVAILABLE;
        return NULL;
    }
    json_t *info = json_loads(c->client_info, 0, NULL);
    json_t *caps = json_loads(c->capabilities, 0, NULL);
    if (!json_is_object(info) || !json_is_object(caps)) {
        tg_log_error(NULL, "a session row in the store has malformed client info");
        json_decref(info);
        json_decref(caps);
        *rc = TG_EINTERNAL;
        return NULL;
    }
    tg_session *s = tg_xcalloc(1, sizeof *s);
    session_init_common(s, c->endpoint);
    memcpy(s->id, id, TG_SESSION_ID_LEN + 1);
    memcpy(s->id_hash, c->hash, ID_HASH_LEN + 1);
    atomic_init(&s->refs, 1);
    atomic_init(&s->initialized, false);
    atomic_init(&s->ended, false);
    atomic_init(&s->log_level, TG_MCP_LOG_INFO);
    s->version = version;
    s->principal = c->principal ? tg_xstrdup(c->principal) : NULL;
    s->client_info = info;
    s->capabilities = caps;
    atomic_fetch_add_explicit(&t->store->refs, 1, memory_order_relaxed);
    s->store = t->store;
    return s;
}

/* The flags the row says; the store mutex is held. */
static void refresh(tg_session *s, const lookup_ctx *c)
{
    tg_mcp_log_level level = TG_MCP_LOG_INFO;
    tg_mcp_log_level_parse(c->log_level, &level);
    atomic_store(&s->log_level, (int)level);
    if (c->initialized) atomic_store(&s->initialized, true);
    /* Tools another replica unlocked are unlocked here too. */
    json_t *names = json_loads(c->unlocked ? c->unlocked : "[]", 0, NULL);
    size_t i;
    json_t *name;
    pthread_mutex_lock(&s->unlocked_mu);
    json_array_foreach(names, i, name) if (json_is_string(name))
        json_object_set(s->unlocked, json_string_value(name), json_true());
    pthread_mutex_unlock(&s->unlocked_mu);
    json_decref(names);
}

static int lookup_stored(tg_session_table *t, const char *id, const char *principal,
                         tg_session **out)
{
    session_store *ss = t->store;
    char hash[ID_HASH_LEN + 1];
    id_hash(id, hash);
    tg_error err = {0};
    int rc = 0;
    pthread_mutex_lock(&ss->mu);
    int64_t now = t->now_ms(t->now_userdata);
    lookup_ctx c = {.hash = hash, .principal = principal, .now = now, .cutoff = now - t->idle_ms};
    if (store_run(ss, lookup_op, &c, &err) != 0) {
        tg_log_warn(NULL, "cannot look up a session: %s", err.message);
        rc = TG_EUNAVAILABLE;
        goto out;
    }
    pthread_mutex_lock(&t->lock);
    tg_session **link = find_locked(t, id);
    /* A cached session of another principal stays: this caller may not end it. */
    if (link && !same_principal((*link)->principal, principal)) link = NULL;
    if (!c.found) {
        if (link) unlink_at(t, link);
        rc = TG_ENOT_FOUND;
    } else if (link) {
        (*link)->last_used_ms = now;
        refresh(*link, &c);
        tg_session_retain(*link);
        *out = *link;
    } else {
        tg_session *s = session_from_row(t, id, &c, &rc);
        if (s) {
            refresh(s, &c);
            s->last_used_ms = now;
            if (t->count >= t->max_sessions) evict_locked(t, now, NULL, 0);
            /* A full cache still serves the session, uncached. */
            if (t->count < t->max_sessions) link_locked(t, s);
            *out = s;
        }
    }
    pthread_mutex_unlock(&t->lock);
out:
    pthread_mutex_unlock(&ss->mu);
    lookup_ctx_clear(&c);
    return rc;
}

int tg_session_lookup(tg_session_table *t, const char *id, const char *principal, tg_session **out)
{
    *out = NULL;
    if (!id || strlen(id) != TG_SESSION_ID_LEN) return TG_ENOT_FOUND;
    if (t->store) return lookup_stored(t, id, principal, out);
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

typedef struct end_ctx {
    const char *hash, *principal;
    int64_t deleted;
} end_ctx;

static int end_op(tg_store *db, void *ctx, tg_error *err)
{
    end_ctx *c = ctx;
    tg_stmt *st = NULL;
    int rc = tg_store_prepare(db, &st, store_fail, err,
                              "DELETE FROM sessions WHERE id_hash = ?1"
                              " AND (principal = ?2 OR (principal IS NULL AND ?2 IS NULL))",
                              2, c->hash, c->principal);
    if (!rc) rc = tg_stmt_run(st, store_fail, err);
    if (!rc) c->deleted = tg_stmt_changes(st);
    tg_stmt_finalize(st);
    return rc;
}

static int end_stored(tg_session_table *t, const char *id, const char *principal)
{
    session_store *ss = t->store;
    char hash[ID_HASH_LEN + 1];
    id_hash(id, hash);
    end_ctx c = {.hash = hash, .principal = principal};
    tg_error err = {0};
    pthread_mutex_lock(&ss->mu);
    if (store_run(ss, end_op, &c, &err) != 0) {
        pthread_mutex_unlock(&ss->mu);
        tg_log_warn(NULL, "cannot end a session: %s", err.message);
        return TG_EUNAVAILABLE;
    }
    /* The row decides; a cached copy goes either way, since its row is gone. */
    pthread_mutex_lock(&t->lock);
    tg_session **link = find_locked(t, id);
    if (link && same_principal((*link)->principal, principal)) unlink_at(t, link);
    pthread_mutex_unlock(&t->lock);
    pthread_mutex_unlock(&ss->mu);
    return c.deleted > 0 ? 0 : TG_ENOT_FOUND;
}

int tg_session_end(tg_session_table *t, const char *id, const char *principal)
{
    if (!id || strlen(id) != TG_SESSION_ID_LEN) return TG_ENOT_FOUND;
    if (t->store) return end_stored(t, id, principal);
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

const char *tg_session_endpoint(const tg_session *s)
{
    return s->endpoint;
}

bool tg_session_unlocked(tg_session *s, const char *tool)
{
    pthread_mutex_lock(&s->unlocked_mu);
    bool found = json_object_get(s->unlocked, tool) != NULL;
    pthread_mutex_unlock(&s->unlocked_mu);
    return found;
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

tg_mcp_log_level tg_session_log_level(tg_session *s)
{
    return (tg_mcp_log_level)atomic_load(&s->log_level);
}

/* A change to the session's row. */
typedef struct set_ctx {
    const char *sql, *hash, *value; /* value NULL: the statement takes only the hash */
} set_ctx;

static int set_op(tg_store *db, void *ctx, tg_error *err)
{
    set_ctx *c = ctx;
    tg_stmt *st = NULL;
    int rc = c->value ? tg_store_prepare(db, &st, store_fail, err, c->sql, 2, c->hash, c->value)
                      : tg_store_prepare(db, &st, store_fail, err, c->sql, 1, c->hash);
    if (!rc) rc = tg_stmt_run(st, store_fail, err);
    tg_stmt_finalize(st);
    return rc;
}

/* Writes the change, then (only if the store took it) sets the session's
 * copy, under the store mutex so a lookup's refresh cannot come between. */
static int write_through(tg_session *s, const char *sql, const char *value, bool initialized,
                         int level)
{
    session_store *ss = s->store;
    if (ss) pthread_mutex_lock(&ss->mu);
    tg_error err = {0};
    set_ctx c = {.sql = sql, .hash = s->id_hash, .value = value};
    int rc = ss ? store_run(ss, set_op, &c, &err) : 0;
    if (rc) {
        tg_log_warn(NULL, "cannot change a session: %s", err.message);
        rc = TG_EUNAVAILABLE;
    } else if (initialized) {
        atomic_store(&s->initialized, true);
    } else {
        atomic_store(&s->log_level, level);
    }
    if (ss) pthread_mutex_unlock(&ss->mu);
    return rc;
}

int tg_session_set_initialized(tg_session *s)
{
    /* The flag never goes back, and is set here only once the store has it. */
    if (atomic_load(&s->initialized)) return 0;
    return write_through(s, "UPDATE sessions SET initialized = TRUE WHERE id_hash = ?1", NULL, true,
                         0);
}

int tg_session_set_log_level(tg_session *s, tg_mcp_log_level level)
{
    return write_through(s, "UPDATE sessions SET log_level = ?2 WHERE id_hash = ?1",
                         tg_mcp_log_level_name(level), false, (int)level);
}

int tg_session_unlock(tg_session *s, const char *const *tools, size_t n)
{
    session_store *ss = s->store;
    if (ss) pthread_mutex_lock(&ss->mu);
    pthread_mutex_lock(&s->unlocked_mu);
    json_t *set = json_copy(s->unlocked);
    for (size_t i = 0; i < n && json_object_size(set) < TG_SESSION_MAX_UNLOCKED; i++)
        json_object_set(set, tools[i], json_true());
    pthread_mutex_unlock(&s->unlocked_mu);
    int rc = 0;
    if (ss) {
        json_t *names = json_array();
        const char *key;
        json_t *v;
        json_object_foreach(set, key, v) json_array_append_new(names, json_string(key));
        char *text = json_dumps(names, JSON_COMPACT);
        json_decref(names);
        tg_error err = {0};
        set_ctx c = {.sql = "UPDATE sessions SET unlocked = ?2 WHERE id_hash = ?1",
                     .hash = s->id_hash,
                     .value = text};
        if (!text || store_run(ss, set_op, &c, &err) != 0) {
            tg_log_warn(NULL, "cannot change a session: %s", text ? err.message : "out of memory");
            rc = TG_EUNAVAILABLE;
        }
        free(text);
    }
    if (!rc) {
        pthread_mutex_lock(&s->unlocked_mu);
        json_decref(s->unlocked);
        s->unlocked = set;
        set = NULL;
        pthread_mutex_unlock(&s->unlocked_mu);
    }
    json_decref(set);
    if (ss) pthread_mutex_unlock(&ss->mu);
    return rc;
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
