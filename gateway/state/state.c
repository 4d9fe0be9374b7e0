/* Sync state; see state.h.
 *
 * Two connections, as the secret store has: writes on one under write_mu,
 * holding the transaction from begin to commit across the confirm callback
 * (the audit record, which may wait for an fsync); reads on the other under
 * read_mu, which see the last commit and never wait for a write in progress
 * (sqlite in WAL mode, PostgreSQL's MVCC). A write's limit check, condition
 * check and change are one transaction holding the (tenant, worker)'s write
 * lock, so two calls of the same worker writing at once, in this process or
 * in replicas sharing a PostgreSQL store, can neither both pass a limit only
 * one fits under nor both pass an If-Match: in sqlite the lock is the file's
 * (BEGIN IMMEDIATE), in PostgreSQL an advisory lock on the (tenant, worker),
 * since READ COMMITTED alone would let both read the same old row.
 *
 * Each row keeps its size (key and value bytes), so the usage of a (tenant,
 * worker) is a sum over the index without reading any value. */
#include "gateway/state/state.h"

#include "gateway/core/alloc.h"
#include "gateway/core/log.h"
#include "vm-pool/frame.h"
#include "gateway/core/clock.h"
#include "gateway/store/store.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_MAX_VALUE  (64u << 10)
#define DEFAULT_MAX_WORKER (1u << 20)
#define DEFAULT_MAX_KEYS   1000
#define MAX_CONTENT_TYPE   255
#define BUSY_TIMEOUT_MS    5000
#define DEFAULT_AUDIT_MS   2000
#define STATE_PATH         "/v1/state"

struct tg_state {
    tg_state_config cfg;
    pthread_mutex_t write_mu; /* guards wdb */
    tg_store *wdb;
    pthread_mutex_t read_mu; /* guards rdb */
    tg_store *rdb;
};

static const tg_store_migration migrations[] = {
    {
        /* What every file had before versions were kept: a no-op on those.
         * A rowid table: values run to tens of KiB, which a WITHOUT ROWID
         * table would carry inside its index pages. */
        .sqlite = "CREATE TABLE IF NOT EXISTS state ("
                  " tenant TEXT NOT NULL, worker TEXT NOT NULL, key TEXT NOT NULL,"
                  " value BLOB NOT NULL, content_type TEXT, etag TEXT NOT NULL,"
                  " size INTEGER NOT NULL," /* key and value bytes: what the limit counts */
                  " updated_at INTEGER NOT NULL);"
                  "CREATE UNIQUE INDEX IF NOT EXISTS state_key ON state (tenant, worker, key);",
        /* Keys list in byte order, as in sqlite, whatever the database's
         * collation. */
        .postgres = "CREATE TABLE state ("
                    " tenant TEXT NOT NULL, worker TEXT NOT NULL, key TEXT COLLATE \"C\" NOT NULL,"
                    " value BYTEA NOT NULL, content_type TEXT, etag TEXT NOT NULL,"
                    " size BIGINT NOT NULL, updated_at BIGINT NOT NULL);"
                    "CREATE UNIQUE INDEX state_key ON state (tenant, worker, key);",
    },
};

static int db_fail(void *err, tg_store_failure kind, const char *what, const char *detail)
{
    if (kind == TG_STORE_NOT_WAL)
        return tg_error_set(err, TG_EUNAVAILABLE, "state store %s: cannot use WAL mode", what);
    return tg_error_set(err, TG_EUNAVAILABLE, "state store: %s: %s", what, detail);
}

int tg_state_open(const char *path, const tg_state_config *config, tg_state **out, tg_error *err)
{
    *out = NULL;
    tg_state *s = tg_xcalloc(1, sizeof *s);
    if (config) s->cfg = *config;
    /* A GET answers the value in one frame. */
    if (!s->cfg.max_value_bytes || s->cfg.max_value_bytes > TG_FRAME_EGRESS_BODY_MAX)
        s->cfg.max_value_bytes =
            s->cfg.max_value_bytes ? TG_FRAME_EGRESS_BODY_MAX : DEFAULT_MAX_VALUE;
    if (!s->cfg.max_worker_bytes) s->cfg.max_worker_bytes = DEFAULT_MAX_WORKER;
    if (!s->cfg.max_keys) s->cfg.max_keys = DEFAULT_MAX_KEYS;
    pthread_mutex_init(&s->write_mu, NULL);
    pthread_mutex_init(&s->read_mu, NULL);
    int rc = tg_store_open(path, "state", TG_STORE_CREATE | TG_STORE_DURABLE, BUSY_TIMEOUT_MS, NULL,
                           NULL, &s->wdb, db_fail, err);
    if (!rc)
        rc = tg_store_migrate(s->wdb, migrations, sizeof migrations / sizeof *migrations, db_fail,
                              err);
    if (!rc)
        rc = tg_store_open(path, "state", TG_STORE_READONLY, BUSY_TIMEOUT_MS, NULL, NULL, &s->rdb,
                           db_fail, err);
    if (rc) {
        tg_state_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

void tg_state_close(tg_state *s)
{
    if (!s) return;
    tg_store_close(s->rdb);
    tg_store_close(s->wdb);
    pthread_mutex_destroy(&s->read_mu);
    pthread_mutex_destroy(&s->write_mu);
    free(s);
}

tg_state_config tg_state_limits(const tg_state *s)
{
    return s->cfg;
}

bool tg_state_valid_key(const char *key, size_t len)
{
    if (!key || len == 0 || len > TG_STATE_KEY_MAX) return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)key[i];
        bool ok = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                  c == '.' || c == '_' || c == '~' || c == '-';
        if (!ok) return false;
    }
    return true;
}

static int check_key(const char *key, tg_error *err)
{
    if (!tg_state_valid_key(key, key ? strlen(key) : 0))
        return tg_error_set(err, TG_EBAD_REQUEST,
                            "a state key is 1 to %d characters of A-Z a-z 0-9 . _ ~ -",
                            TG_STATE_KEY_MAX);
    return 0;
}

/* A Content-Type worth keeping: printable ASCII, short. */
static bool valid_content_type(const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || n > MAX_CONTENT_TYPE) return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] > 0x7e) return false;
    return true;
}

/* The first 128 bits of SHA-256(value), in hex: a strong ETag that names the
 * bytes, so equal values have equal tags whatever happened between them. */
static void make_etag(const void *value, size_t len, char etag[TG_STATE_ETAG_HEX + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_Digest(value, len, md, &mdlen, EVP_sha256(), NULL);
    for (int i = 0; i < TG_STATE_ETAG_HEX / 2; i++)
        snprintf(etag + 2 * i, 3, "%02x", md[i]);
}

/* Whether the header value cond ("*" or a comma-separated list of entity
 * tags) names the current value, whose ETag is etag (NULL: no value). "*"
 * names any value; a weak tag (W/"...") never matches: the comparison of
 * If-Match, and ours for If-None-Match too, is the strong one. */
static bool condition_names(const char *cond, const char *etag)
{
    const char *p = cond;
    while (*p) {
        p += strspn(p, " \t,");
        if (!*p) break;
        size_t n = strcspn(p, ",");
        size_t end = n;
        while (end > 0 && (p[end - 1] == ' ' || p[end - 1] == '\t'))
            end--;
        if (end == 1 && p[0] == '*') {
            if (etag) return true;
        } else if (etag && end == TG_STATE_ETAG_HEX + 2 && p[0] == '"' && p[end - 1] == '"' &&
                   strncmp(p + 1, etag, TG_STATE_ETAG_HEX) == 0) {
            return true;
        }
        p += n;
    }
    return false;
}

/* The If-Match and If-None-Match of w against the current ETag (NULL: the
 * key has no value). */
static int check_conditions(const tg_state_write *w, const char *etag, tg_error *err)
{
    if (w->if_match && !condition_names(w->if_match, etag))
        return tg_error_set(err, TG_EPRECONDITION_FAILED,
                            etag ? "If-Match: the value of %s has another ETag now"
                                 : "If-Match: %s has no value",
                            w->key);
    if (w->if_none_match && condition_names(w->if_none_match, etag))
        return tg_error_set(err, TG_EPRECONDITION_FAILED,
                            "If-None-Match: %s already has that value (or, with *, any value)",
                            w->key);
    return 0;
}

int tg_state_get(tg_state *s, const char *tenant, const char *worker, const char *key,
                 tg_state_value *out, tg_error *err)
{
    memset(out, 0, sizeof *out);
    int rc = check_key(key, err);
    if (rc) return rc;
    pthread_mutex_lock(&s->read_mu);
    tg_stmt *st = NULL;
    rc = tg_store_prepare(s->rdb, &st, db_fail, err,
                          "SELECT value, content_type, etag, updated_at FROM state"
                          " WHERE tenant = ?1 AND worker = ?2 AND key = ?3",
                          3, tenant, worker, key);
    int row = rc ? rc : tg_stmt_step(st, db_fail, err);
    if (row == 1) {
        size_t len = 0;
        const void *blob = tg_stmt_blob(st, 0, &len);
        out->data = tg_xmalloc(len + 1);
        if (len) memcpy(out->data, blob, len);
        out->data[len] = '\0';
        out->len = len;
        if (!tg_stmt_is_null(st, 1)) out->content_type = tg_xstrdup(tg_stmt_text(st, 1));
        snprintf(out->etag, sizeof out->etag, "%s", tg_stmt_text(st, 2));
        out->updated_ms = tg_stmt_int64(st, 3);
        rc = 0;
    } else if (row == 0) {
        rc = tg_error_set(err, TG_ENOT_FOUND, "no value for key %s", key);
    } else {
        rc = row;
    }
    tg_stmt_finalize(st);
    pthread_mutex_unlock(&s->read_mu);
    return rc;
}

void tg_state_value_clear(tg_state_value *v)
{
    free(v->data);
    free(v->content_type);
    memset(v, 0, sizeof *v);
}

/* The current row of w's key: *found, its ETag and size. */
static int current(tg_state *s, const tg_state_write *w, bool *found,
                   char etag[TG_STATE_ETAG_HEX + 1], int64_t *size, int64_t *value_bytes,
                   tg_error *err)
{
    tg_stmt *st = NULL;
    int rc = tg_store_prepare(s->wdb, &st, db_fail, err,
                              "SELECT etag, size, length(value) FROM state"
                              " WHERE tenant = ?1 AND worker = ?2 AND key = ?3",
                              3, w->tenant, w->worker, w->key);
    int row = rc ? rc : tg_stmt_step(st, db_fail, err);
    *found = row == 1;
    if (row == 1) {
        snprintf(etag, TG_STATE_ETAG_HEX + 1, "%s", tg_stmt_text(st, 0));
        *size = tg_stmt_int64(st, 1);
        *value_bytes = tg_stmt_int64(st, 2);
    }
    tg_stmt_finalize(st);
    return row < 0 ? row : 0;
}

/* The worker's usage now: keys and bytes. */
static int usage(tg_store *db, const char *tenant, const char *worker, int64_t *keys,
                 int64_t *bytes, tg_error *err)
{
    tg_stmt *st = NULL;
    /* PostgreSQL sums a BIGINT as a NUMERIC: cast back. */
    int rc = tg_store_prepare(db, &st, db_fail, err,
                              "SELECT count(*), CAST(coalesce(sum(size), 0) AS BIGINT) FROM state"
                              " WHERE tenant = ?1 AND worker = ?2",
                              2, tenant, worker);
    int row = rc ? rc : tg_stmt_step(st, db_fail, err);
    if (row == 1) {
        *keys = tg_stmt_int64(st, 0);
        *bytes = tg_stmt_int64(st, 1);
    }
    tg_stmt_finalize(st);
    if (row == 0) return tg_error_set(err, TG_EUNAVAILABLE, "state store: no usage row");
    return row < 0 ? row : 0;
}

/* Opens w's write transaction holding its (tenant, worker)'s lock: the whole
 * file's in sqlite; in PostgreSQL an advisory lock, released at commit or
 * rollback, so that writers of other workers go on meanwhile. Two workers
 * whose names hash alike only take turns. Called with write_mu held. */
static int begin_write(tg_state *s, const tg_state_write *w, tg_error *err)
{
    int rc = tg_store_begin(s->wdb, db_fail, err);
    if (rc || tg_store_backend(s->wdb) != TG_STORE_POSTGRES) return rc;
    tg_stmt *st = NULL;
    rc = tg_store_prepare(s->wdb, &st, db_fail, err,
                          "SELECT pg_advisory_xact_lock(hashtextextended("
                          "'state' || chr(1) || ?1 || chr(1) || ?2, 0))",
                          2, w->tenant, w->worker);
    if (!rc) rc = tg_stmt_run(st, db_fail, err);
    tg_stmt_finalize(st);
    if (rc) tg_store_rollback(s->wdb);
    return rc;
}

/* Runs confirm inside the open transaction, then commits; rolls back on any
 * failure. Called with write_mu held. */
static int finish(tg_state *s, int rc, const tg_state_write *w, const tg_state_change *change,
                  tg_error *err)
{
    if (!rc && w->confirm && (rc = w->confirm(w->userdata, change)) != 0) {
        if (rc > 0) rc = TG_EINTERNAL;
        tg_error_set(err, (tg_err_code)rc, "the change to %s was not confirmed: rolled back",
                     w->key);
    }
    if (!rc) rc = tg_store_commit(s->wdb, db_fail, err);
    if (rc) tg_store_rollback(s->wdb); /* the first error is the one told */
    return rc;
}

static int put_locked(tg_state *s, const tg_state_write *w, tg_state_change *change, tg_error *err)
{
    bool found = false;
    char etag[TG_STATE_ETAG_HEX + 1] = "";
    int64_t old_size = 0, old_value = 0, keys = 0, bytes = 0;
    int rc = current(s, w, &found, etag, &old_size, &old_value, err);
    if (!rc) rc = check_conditions(w, found ? etag : NULL, err);
    if (!rc) rc = usage(s->wdb, w->tenant, w->worker, &keys, &bytes, err);
    if (rc) return rc;
    int64_t size = (int64_t)(strlen(w->key) + w->len);
    int64_t new_keys = keys + (found ? 0 : 1), new_bytes = bytes - old_size + size;
    /* Only growth is refused: a worker over a limit lowered since can still
     * shrink or replace what it has. */
    if (!found && new_keys > (int64_t)s->cfg.max_keys)
        return tg_error_set(err, TG_ESTATE_LIMIT,
                            "the worker already has %lld keys, its limit (%u): delete one first",
                            (long long)keys, s->cfg.max_keys);
    if (new_bytes > (int64_t)s->cfg.max_worker_bytes && new_bytes > bytes)
        return tg_error_set(err, TG_ESTATE_LIMIT,
                            "the worker's state would be %lld bytes of keys and values, over its "
                            "limit of %zu",
                            (long long)new_bytes, s->cfg.max_worker_bytes);
    make_etag(w->value ? w->value : "", w->len, change->etag);
    change->created = !found;
    change->bytes = w->len;
    tg_stmt *st = NULL;
    rc = tg_store_prepare(
        s->wdb, &st, db_fail, err,
        "INSERT INTO state (tenant, worker, key, content_type, etag, value, size, updated_at)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (tenant, worker, key) DO UPDATE SET"
        " value = excluded.value, content_type = excluded.content_type, etag = excluded.etag,"
        " size = excluded.size, updated_at = excluded.updated_at",
        5, w->tenant, w->worker, w->key, w->content_type, change->etag);
    if (!rc) {
        tg_stmt_bind_blob(st, 6, w->value ? w->value : "", w->len);
        tg_stmt_bind_int64(st, 7, size);
        tg_stmt_bind_int64(st, 8, tg_now_ms());
        rc = tg_stmt_run(st, db_fail, err);
    }
    tg_stmt_finalize(st);
    return rc;
}

int tg_state_put(tg_state *s, const tg_state_write *w, tg_state_change *change, tg_error *err)
{
    tg_state_change done = {0};
    int rc = check_key(w->key, err);
    if (rc) return rc;
    if (w->len > s->cfg.max_value_bytes)
        return tg_error_set(err, TG_EPAYLOAD_TOO_LARGE,
                            "the value is %zu bytes, over the limit of %zu for one value", w->len,
                            s->cfg.max_value_bytes);
    if (w->content_type && !valid_content_type(w->content_type))
        return tg_error_set(err, TG_EBAD_REQUEST,
                            "a stored Content-Type is 1 to %d printable ASCII characters",
                            MAX_CONTENT_TYPE);
    pthread_mutex_lock(&s->write_mu);
    rc = begin_write(s, w, err);
    if (!rc) {
        rc = put_locked(s, w, &done, err);
        rc = finish(s, rc, w, &done, err);
    }
    pthread_mutex_unlock(&s->write_mu);
    if (!rc && change) *change = done;
    return rc;
}

int tg_state_delete(tg_state *s, const tg_state_write *w, tg_state_change *change, tg_error *err)
{
    tg_state_change done = {0};
    int rc = check_key(w->key, err);
    if (rc) return rc;
    pthread_mutex_lock(&s->write_mu);
    rc = begin_write(s, w, err);
    if (!rc) {
        bool found = false;
        char etag[TG_STATE_ETAG_HEX + 1] = "";
        int64_t size = 0, value_bytes = 0;
        rc = current(s, w, &found, etag, &size, &value_bytes, err);
        if (!rc && !found) rc = tg_error_set(err, TG_ENOT_FOUND, "no value for key %s", w->key);
        if (!rc) rc = check_conditions(w, etag, err);
        tg_stmt *st = NULL;
        if (!rc)
            rc = tg_store_prepare(s->wdb, &st, db_fail, err,
                                  "DELETE FROM state WHERE tenant = ?1 AND worker = ?2"
                                  " AND key = ?3",
                                  3, w->tenant, w->worker, w->key);
        if (!rc) rc = tg_stmt_run(st, db_fail, err);
        tg_stmt_finalize(st);
        done.bytes = (size_t)value_bytes;
        rc = finish(s, rc, w, &done, err);
    }
    pthread_mutex_unlock(&s->write_mu);
    if (!rc && change) *change = done;
    return rc;
}

int tg_state_list(tg_state *s, const char *tenant, const char *worker, json_t **out, tg_error *err)
{
    *out = NULL;
    json_t *keys = json_array();
    int64_t count = 0, bytes = 0;
    pthread_mutex_lock(&s->read_mu);
    /* One statement, so that the keys and the sums are of one snapshot in
     * either backend: the window sums count every row, the limit only what
     * is listed. */
    tg_stmt *st = NULL;
    int rc = tg_store_prepare(s->rdb, &st, db_fail, err,
                              "SELECT key, count(*) OVER (), CAST(sum(size) OVER () AS BIGINT)"
                              " FROM state WHERE tenant = ?1 AND worker = ?2"
                              " ORDER BY key LIMIT ?3",
                              2, tenant, worker);
    if (!rc) tg_stmt_bind_int64(st, 3, TG_STATE_LIST_MAX);
    while (!rc) {
        int row = tg_stmt_step(st, db_fail, err);
        if (row <= 0) {
            rc = row;
            break;
        }
        json_array_append_new(keys, json_string(tg_stmt_text(st, 0)));
        count = tg_stmt_int64(st, 1);
        bytes = tg_stmt_int64(st, 2);
    }
    tg_stmt_finalize(st);
    pthread_mutex_unlock(&s->read_mu);
    if (rc) {
        json_decref(keys);
        return rc;
    }
    *out = json_pack("{s:o, s:I, s:I, s:b, s:{s:I, s:I, s:I}}", "keys", keys, "count",
                     (json_int_t)count, "bytes", (json_int_t)bytes, "truncated",
                     count > TG_STATE_LIST_MAX, "limits", "max_keys", (json_int_t)s->cfg.max_keys,
                     "max_worker_bytes", (json_int_t)s->cfg.max_worker_bytes, "max_value_bytes",
                     (json_int_t)s->cfg.max_value_bytes);
    return 0;
}

int tg_state_delete_worker(tg_state *s, const char *tenant, const char *worker, size_t *removed,
                           tg_error *err)
{
    pthread_mutex_lock(&s->write_mu);
    tg_stmt *st = NULL;
    int rc =
        tg_store_prepare(s->wdb, &st, db_fail, err,
                         "DELETE FROM state WHERE tenant = ?1 AND worker = ?2", 2, tenant, worker);
    if (!rc) rc = tg_stmt_run(st, db_fail, err);
    if (!rc && removed) *removed = (size_t)tg_stmt_changes(st);
    tg_stmt_finalize(st);
    pthread_mutex_unlock(&s->write_mu);
    return rc;
}

/* ---- requests from the sandbox ------------------------------------------ */

/* The target of a request: the path and whether a query follows it. */
typedef struct target {
    const char *path;
    size_t path_len;
    bool query;
    int port; /* 80 when the URL names none */
} target;

/* Parses "http://host[:port]/path[?query]" with host toolgate.internal. */
static bool parse_internal(const char *url, target *t)
{
    static const char scheme[] = "http://";
    static const size_t host_len = sizeof TG_STATE_HOST - 1;
    if (!url || strncasecmp(url, scheme, sizeof scheme - 1) != 0) return false;
    const char *p = url + sizeof scheme - 1;
    if (strncasecmp(p, TG_STATE_HOST, host_len) != 0) return false;
    p += host_len;
    if (*p == '.') p++;
    t->port = 80;
    if (*p == ':') {
        size_t n = strspn(p + 1, "0123456789");
        if (n == 0 || n > 5) return false;
        t->port = (int)strtol(p + 1, NULL, 10);
        p += 1 + n;
    }
    if (*p && *p != '/' && *p != '?') return false;
    t->path = *p == '/' ? p : "/";
    t->path_len = *p == '/' ? strcspn(p, "?") : 1;
    t->query = strchr(p, '?') != NULL;
    return true;
}

bool tg_state_is_internal(const char *url)
{
    target t;
    return parse_internal(url, &t);
}

/* The value of the request's header name (the first), or NULL. */
static const char *header(const json_t *headers, const char *name)
{
    size_t i;
    const json_t *h;
    json_array_foreach(headers, i, h)
    {
        const char *n = json_string_value(json_array_get(h, 0));
        const char *v = json_string_value(json_array_get(h, 1));
        if (n && v && strcasecmp(n, name) == 0) return v;
    }
    return NULL;
}

static json_t *response(int status, json_t *headers, const void *body, size_t len)
{
    return json_pack("{s:i, s:o, s:o}", "status", status, "headers", headers, "body",
                     tg_frame_b64(body, len));
}

static json_t *json_response(int status, json_t *headers, json_t *doc)
{
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    json_array_append_new(headers, json_pack("[s,s]", "Content-Type", "application/json"));
    json_t *r = response(status, headers, text, strlen(text));
    free(text);
    return r;
}

/* An error answer: the code's status, {"error": {...}}, and allow (may be
 * NULL) as the Allow header. */
static json_t *answer_error_allow(tg_err_code code, const char *message, const char *allow)
{
    json_t *headers = json_array();
    if (allow) json_array_append_new(headers, json_pack("[s,s]", "Allow", allow));
    return json_response(tg_err_http_status(code), headers,
                         json_pack("{s:o}", "error", tg_error_json(code, message, NULL, NULL)));
}

static json_t *answer_error(tg_err_code code, const char *message)
{
    return answer_error_allow(code, message, NULL);
}

/* A request being answered: the call, what it asks, and its record. */
typedef struct request {
    const tg_state_call *call;
    const char *method;
    char key[TG_STATE_KEY_MAX + 1]; /* what the record names: the key, or its start */
    size_t bytes;                   /* the body's */
    int64_t audit_deadline;
    bool recorded; /* a record for it is durable */
} request;

/* Appends the request's state.write record. Returns 0 or non-zero. */
static int record(request *r, const char *status, tg_err_code code, size_t bytes, int created)
{
    const tg_state_call *c = r->call;
    if (!c->audit) return TG_EAUDIT_UNAVAILABLE;
    json_t *body = json_pack("{s:s, s:s, s:I}", "key", r->key, "method", r->method, "bytes",
                             (json_int_t)bytes);
    if (created >= 0) json_object_set_new(body, "created", json_boolean(created));
    tg_audit_record rec = {
        .kind = "state.write",
        .tenant = c->tenant,
        .principal = c->principal,
        .trigger_kind = c->trigger_kind,
        .call_id = c->call_id,
        .trace_id = c->trace_id,
        .tool = c->worker,
        .status = status,
        .error_code = code ? tg_err_name(code) : NULL,
        .body = body,
    };
    int rc = tg_audit_append(c->audit, &rec, r->audit_deadline, NULL, NULL);
    json_decref(body);
    if (!rc) r->recorded = true;
    return rc;
}

/* Refuses a write with code, on the record; a refusal that cannot be
 * recorded answers AUDIT_UNAVAILABLE instead. */
static json_t *refuse(request *r, tg_err_code code, const char *message)
{
    if (!r->call->audit || !tg_audit_healthy(r->call->audit) ||
        record(r, "refused", code, r->bytes, -1) != 0)
        return answer_error(TG_EAUDIT_UNAVAILABLE,
                            "the audit log cannot be written, so nothing changes");
    return answer_error(code, message);
}

/* The commit point of a write: its record, inside the store's transaction. */
static int confirm(void *userdata, const tg_state_change *change)
{
    request *r = userdata;
    bool put = strcmp(r->method, "PUT") == 0;
    return record(r, put ? "set" : "deleted", TG_OK, change->bytes, put ? change->created : -1)
               ? TG_EAUDIT_UNAVAILABLE
               : 0;
}

static json_t *etag_header(const char *etag)
{
    char quoted[TG_STATE_ETAG_HEX + 3];
    snprintf(quoted, sizeof quoted, "\"%s\"", etag);
    return json_pack("[s,s]", "ETag", quoted);
}

/* After a store write failed: the store's own refusal is recorded as such,
 * the audit log's is told as such; a record already durable for a change
 * that then failed to commit is logged, since the log now says more than
 * happened. */
static json_t *write_failed(request *r, int rc, const tg_error *err)
{
    if (rc == TG_EAUDIT_UNAVAILABLE)
        return answer_error(TG_EAUDIT_UNAVAILABLE,
                            "the audit log cannot be written, so the state was not changed");
    if (r->recorded) {
        tg_log_ctx ctx = {r->call->tenant, r->call->call_id, r->call->trace_id};
        tg_log_error(&ctx, "state.write %s %s/%s recorded, but not made: %s", r->method,
                     r->call->worker, r->key, err->message);
        return answer_error(tg_err_known(rc) ? (tg_err_code)rc : TG_EINTERNAL, err->message);
    }
    return refuse(r, tg_err_known(rc) ? (tg_err_code)rc : TG_EINTERNAL, err->message);
}

static json_t *do_get(request *r, const char *key)
{
    const tg_state_call *c = r->call;
    tg_state_value v;
    tg_error err;
    int rc = tg_state_get(c->state, c->tenant, c->worker, key, &v, &err);
    if (rc) return answer_error(tg_err_known(rc) ? (tg_err_code)rc : TG_EINTERNAL, err.message);
    json_t *headers = json_pack("[[s,s]]", "Content-Type",
                                v.content_type ? v.content_type : "application/octet-stream");
    json_array_append_new(headers, etag_header(v.etag));
    /* HEAD too: the sandbox's proxy drops the body and keeps its length. */
    json_t *answer = response(200, headers, v.data, v.len);
    tg_state_value_clear(&v);
    return answer;
}

static json_t *do_write(request *r, const char *key, const json_t *request_frame, bool put)
{
    const tg_state_call *c = r->call;
    const json_t *headers = json_object_get(request_frame, "headers");
    unsigned char *body = NULL;
    size_t len = 0;
    const json_t *b64 = json_object_get(request_frame, "body");
    if (b64 && tg_frame_unb64(b64, &body, &len) != 0)
        return refuse(r, TG_EBAD_REQUEST, "the request body is malformed");
    r->bytes = len;
    if (!c->audit || !tg_audit_healthy(c->audit)) {
        free(body);
        return answer_error(TG_EAUDIT_UNAVAILABLE,
                            "the audit log cannot be written, so nothing changes");
    }
    tg_state_write w = {
        .tenant = c->tenant,
        .worker = c->worker,
        .key = key,
        .value = body,
        .len = len,
        .content_type = put ? header(headers, "Content-Type") : NULL,
        .if_match = header(headers, "If-Match"),
        .if_none_match = header(headers, "If-None-Match"),
        .confirm = confirm,
        .userdata = r,
    };
    tg_state_change change;
    tg_error err;
    int rc = put ? tg_state_put(c->state, &w, &change, &err)
                 : tg_state_delete(c->state, &w, &change, &err);
    free(body);
    if (rc) return write_failed(r, rc, &err);
    if (!put) return response(204, json_array(), "", 0);
    return response(change.created ? 201 : 204, json_pack("[o]", etag_header(change.etag)), "", 0);
}

json_t *tg_state_handle(const tg_state_call *call, const json_t *frame, int64_t deadline_ns)
{
    request r = {.call = call};
    r.method = json_string_value(json_object_get(frame, "method"));
    const char *url = json_string_value(json_object_get(frame, "url"));
    target t;
    if (!r.method || !parse_internal(url, &t))
        return answer_error(TG_EBAD_REQUEST, "request http://" TG_STATE_HOST "/v1/state/KEY");
    int64_t audit_ms = call->audit_deadline_ms > 0 ? call->audit_deadline_ms : DEFAULT_AUDIT_MS;
    r.audit_deadline = tg_frame_now_ns() + audit_ms * 1000000;
    if (deadline_ns > 0 && deadline_ns < r.audit_deadline) r.audit_deadline = deadline_ns;

    static const size_t base_len = sizeof STATE_PATH - 1;
    bool under = t.port == 80 && t.path_len >= base_len &&
                 strncmp(t.path, STATE_PATH, base_len) == 0 &&
                 (t.path_len == base_len || t.path[base_len] == '/');
    if (!under)
        return answer_error(TG_ENOT_FOUND,
                            "http://" TG_STATE_HOST " serves /v1/state/KEY, nothing else");
    bool list = t.path_len <= base_len + 1;
    const char *key = t.path + base_len + 1;
    size_t key_len = list ? 0 : t.path_len - base_len - 1;
    bool get = strcmp(r.method, "GET") == 0, head = strcmp(r.method, "HEAD") == 0;
    bool put = strcmp(r.method, "PUT") == 0, del = strcmp(r.method, "DELETE") == 0;
    bool write = !list && (put || del);
    if (write) {
        /* A refusal's record says how large the body was (base64's length
         * is 4/3 of it, padding aside). */
        const char *b64 = json_string_value(json_object_get(frame, "body"));
        size_t blen = b64 ? strlen(b64) : 0;
        r.bytes = blen / 4 * 3 - (blen >= 4 && b64[blen - 1] == '=') -
                  (blen >= 4 && b64[blen - 2] == '=');
        /* What the record names: the key, or as much of what came as a key
         * can hold, with anything outside printable ASCII made '?'. */
        size_t n = key_len < TG_STATE_KEY_MAX ? key_len : TG_STATE_KEY_MAX;
        for (size_t i = 0; i < n; i++)
            r.key[i] = key[i] > 0x20 && key[i] < 0x7f ? key[i] : '?';
        r.key[n] = '\0';
    }

    if (!call->capable) {
        static const char why[] = "the worker's manifest must declare \"capabilities\": "
                                  "[\"state\"] to use http://" TG_STATE_HOST "/v1/state";
        return write ? refuse(&r, TG_ECAPABILITY_DENIED, why)
                     : answer_error(TG_ECAPABILITY_DENIED, why);
    }
    if (!call->state) {
        static const char why[] = "this gateway runs without a state store";
        return write ? refuse(&r, TG_EUNAVAILABLE, why) : answer_error(TG_EUNAVAILABLE, why);
    }
    if (list) {
        if (!get && !head)
            return answer_error_allow(TG_EMETHOD_NOT_ALLOWED, "GET /v1/state lists the keys",
                                      "GET, HEAD");
        if (t.query) return answer_error(TG_EBAD_REQUEST, "/v1/state takes no query parameters");
        json_t *doc = NULL;
        tg_error err;
        int rc = tg_state_list(call->state, call->tenant, call->worker, &doc, &err);
        if (rc) return answer_error(TG_EUNAVAILABLE, err.message);
        return json_response(200, json_array(), doc);
    }
    if (!get && !head && !put && !del)
        return answer_error_allow(TG_EMETHOD_NOT_ALLOWED,
                                  "a state key takes GET, HEAD, PUT and DELETE",
                                  "GET, HEAD, PUT, DELETE");
    static const char bad_key[] = "a state key is 1 to 256 characters of A-Z a-z 0-9 . _ ~ - "
                                  "(no query, nothing to percent-decode)";
    if (!tg_state_valid_key(key, key_len) || t.query)
        return write ? refuse(&r, TG_EBAD_REQUEST, bad_key)
                     : answer_error(TG_EBAD_REQUEST, bad_key);
    char name[TG_STATE_KEY_MAX + 1];
    memcpy(name, key, key_len);
    name[key_len] = '\0';
    /* Reads leave no record of their own: the call's call.begin and call.end
     * already say that this worker ran, and what it read is its own. */
    if (get || head) return do_get(&r, name);
    return do_write(&r, name, frame, put);
}
