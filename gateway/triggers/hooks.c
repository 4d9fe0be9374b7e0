/* Webhook triggers: the signature, the body mapping and the hook store; see
 * hooks.h.
 *
 * One connection under one mutex; a sqlite file is in WAL mode with
 * synchronous=FULL: an accepted signature must survive a crash, or a replay
 * right after a restart would pass. Each request to a hook is one lookup and
 * one small transaction (prune, insert), so a mutex costs nothing a sender
 * would notice next to the fsync. In PostgreSQL, replicas share the tables:
 * a signature is spent by the INSERT that adds its (hook, v1) row, which the
 * primary key lets only one transaction do, whichever process it is in.
 *
 * A hook's secret is sealed with additional data "hook" NUL id NUL tenant NUL
 * worker: a sealed secret copied to another row, or a row whose tenant or
 * worker was edited, no longer opens, so the file cannot be rearranged to
 * let one hook's secret run another tenant's worker. */
#include "gateway/triggers/hooks.h"

#include "gateway/core/alloc.h"
#include "gateway/core/clock.h"
#include "gateway/core/text.h"
#include "gateway/store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BUSY_TIMEOUT_MS 5000
#define MAX_T_DIGITS    18 /* below INT64_MAX, and far past any real clock */
#define MAC_BYTES       32
#define ID_PREFIX       "hk_"
#define SECRET_PREFIX   "whsec_"
#define URL_PREFIX      "/v1/hooks/"

struct tg_hooks {
    pthread_mutex_t mu; /* guards db */
    tg_store *db;
    tg_secrets *secrets; /* borrowed: its master key seals the signing secrets */
};

/* A deleted hook's sealed secret leaves no bytes behind. */
static const char *const sqlite_setup[] = {"PRAGMA secure_delete = ON", NULL};

static const tg_store_migration migrations[] = {
    {
        /* What every file had before versions were kept: a no-op on those. */
        .sqlite =
            "CREATE TABLE IF NOT EXISTS hooks ("
            " id TEXT PRIMARY KEY, tenant TEXT NOT NULL, worker TEXT NOT NULL,"
            " mapping TEXT," /* compact JSON, NULL when the body is the arguments */
            " sealed_secret BLOB NOT NULL, created_at_ms INTEGER NOT NULL) WITHOUT ROWID;"
            "CREATE INDEX IF NOT EXISTS hooks_worker ON hooks (tenant, worker, created_at_ms);"
            /* Signatures accepted within the window: (hook, v1) is spent. */
            "CREATE TABLE IF NOT EXISTS seen ("
            " hook TEXT NOT NULL, v1 BLOB NOT NULL, t INTEGER NOT NULL,"
            " PRIMARY KEY (hook, v1)) WITHOUT ROWID;"
            "CREATE INDEX IF NOT EXISTS seen_age ON seen (t);",
        .postgres = "CREATE TABLE hooks ("
                    " id TEXT PRIMARY KEY, tenant TEXT NOT NULL, worker TEXT NOT NULL,"
                    " mapping TEXT, sealed_secret BYTEA NOT NULL, created_at_ms BIGINT NOT NULL);"
                    "CREATE INDEX hooks_worker ON hooks (tenant, worker, created_at_ms);"
                    "CREATE TABLE seen ("
                    " hook TEXT NOT NULL, v1 BYTEA NOT NULL, t BIGINT NOT NULL,"
                    " PRIMARY KEY (hook, v1));"
                    "CREATE INDEX seen_age ON seen (t);",
    },
    /* Who created each hook ("<tenant>/<sub>"): its calls run as that
     * principal, whose own secrets per_principal egress rules inject. NULL
     * for hooks made before, whose calls keep the tenant's alone. */
    {
        .sqlite = "ALTER TABLE hooks ADD COLUMN principal TEXT;",
        .postgres = "ALTER TABLE hooks ADD COLUMN principal TEXT;",
    },
};

static int db_fail(void *err, tg_store_failure kind, const char *what, const char *detail)
{
    if (kind == TG_STORE_NOT_WAL)
        return tg_error_set(err, TG_EUNAVAILABLE, "hook store %s: cannot use WAL mode", what);
    return tg_error_set(err, TG_EUNAVAILABLE, "hook store: %s: %s", what, detail);
}

/* ---- the signature ---------------------------------------------------- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static void to_hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* One item's key and value, [k, ke) and [v, ve), into out. */
static int parse_item(const char *k, const char *ke, const char *v, const char *ve, bool *have_t,
                      tg_hooks_signature *out, tg_error *err)
{
    size_t klen = (size_t)(ke - k), vlen = (size_t)(ve - v);
    if (klen == 1 && *k == 't') {
        if (*have_t)
            return tg_error_set(err, TG_EUNAUTHORIZED,
                                "the Toolgate-Signature header has more than one t");
        if (vlen == 0 || vlen > MAX_T_DIGITS || (vlen > 1 && *v == '0'))
            return tg_error_set(err, TG_EUNAUTHORIZED,
                                "the Toolgate-Signature header's t must be unix seconds (1 to "
                                "%d digits, no leading zero)",
                                MAX_T_DIGITS);
        int64_t t = 0;
        for (size_t i = 0; i < vlen; i++) {
            if (v[i] < '0' || v[i] > '9')
                return tg_error_set(err, TG_EUNAUTHORIZED,
                                    "the Toolgate-Signature header's t must be decimal digits");
            t = t * 10 + (v[i] - '0');
        }
        memcpy(out->t_text, v, vlen);
        out->t_text[vlen] = '\0';
        out->t = t;
        *have_t = true;
        return 0;
    }
    if (klen == 2 && k[0] == 'v' && k[1] == '1') {
        if (out->nv1 == TG_HOOKS_MAX_V1)
            return tg_error_set(err, TG_EUNAUTHORIZED,
                                "the Toolgate-Signature header has more than %d v1 values",
                                TG_HOOKS_MAX_V1);
        if (vlen != 2 * MAC_BYTES)
            return tg_error_set(err, TG_EUNAUTHORIZED,
                                "each v1 must be 64 hex digits (an HMAC-SHA256)");
        for (size_t i = 0; i < MAC_BYTES; i++) {
            int hi = hexval(v[2 * i]), lo = hexval(v[2 * i + 1]);
            if (hi < 0 || lo < 0)
                return tg_error_set(err, TG_EUNAUTHORIZED,
                                    "each v1 must be 64 hex digits (an HMAC-SHA256)");
            out->v1[out->nv1][i] = (unsigned char)(hi << 4 | lo);
        }
        out->nv1++;
        return 0;
    }
    /* Another scheme's item: its shape is checked, its content ignored. */
    bool ok = klen > 0 && klen <= 16 && *k >= 'a' && *k <= 'z' && vlen > 0;
    for (const char *c = k + 1; ok && c < ke; c++)
        ok = (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9');
    for (const char *c = v; ok && c < ve; c++)
        ok = *c > ' ' && *c < 0x7f;
    return ok ? 0
              : tg_error_set(err, TG_EUNAUTHORIZED,
                             "the Toolgate-Signature header is malformed: it must be "
                             "t=<unix seconds>,v1=<hex HMAC-SHA256>");
}

int tg_hooks_parse_signature(const char *header, tg_hooks_signature *out, tg_error *err)
{
    memset(out, 0, sizeof *out);
    if (!header)
        return tg_error_set(err, TG_EUNAUTHORIZED,
                            "the Toolgate-Signature header is missing: sign each request with "
                            "the hook's secret");
    size_t n = strnlen(header, TG_HOOKS_MAX_HEADER + 1);
    if (n > TG_HOOKS_MAX_HEADER)
        return tg_error_set(err, TG_EUNAUTHORIZED,
                            "the Toolgate-Signature header is longer than %d bytes",
                            TG_HOOKS_MAX_HEADER);
    const char *end = header + n;
    for (const char *c = header; c < end; c++)
        if ((*c < ' ' || *c >= 0x7f) && *c != '\t')
            return tg_error_set(err, TG_EUNAUTHORIZED,
                                "the Toolgate-Signature header holds a control or non-ASCII "
                                "character");
    bool have_t = false;
    for (const char *p = header;;) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *item_end = comma ? comma : end;
        while (p < item_end && is_space(*p))
            p++;
        const char *e = item_end;
        while (e > p && is_space(e[-1]))
            e--;
        const char *eq = memchr(p, '=', (size_t)(e - p));
        if (!eq)
            return tg_error_set(err, TG_EUNAUTHORIZED,
                                "the Toolgate-Signature header is malformed: it must be "
                                "t=<unix seconds>,v1=<hex HMAC-SHA256>");
        int rc = parse_item(p, eq, eq + 1, e, &have_t, out, err);
        if (rc) return rc;
        if (!comma) break;
        p = comma + 1;
    }
    if (!have_t || out->nv1 == 0)
        return tg_error_set(err, TG_EUNAUTHORIZED,
                            "the Toolgate-Signature header needs t=<unix seconds> and at least "
                            "one v1=<hex HMAC-SHA256>");
    return 0;
}

/* HMAC-SHA256(secret, t "." body) into mac. */
static bool compute_mac(const char *secret, const char *t, const void *body, size_t len,
                        unsigned char mac[MAC_BYTES])
{
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    EVP_MAC *algo = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = algo ? EVP_MAC_CTX_new(algo) : NULL;
    size_t got = 0;
    bool ok = ctx &&
              EVP_MAC_init(ctx, (const unsigned char *)secret, strlen(secret), params) == 1 &&
              EVP_MAC_update(ctx, (const unsigned char *)t, strlen(t)) == 1 &&
              EVP_MAC_update(ctx, (const unsigned char *)".", 1) == 1 &&
              (len == 0 || EVP_MAC_update(ctx, body, len) == 1) &&
              EVP_MAC_final(ctx, mac, &got, MAC_BYTES) == 1 && got == MAC_BYTES;
    EVP_MAC_CTX_free(ctx); /* wipes the keyed state */
    EVP_MAC_free(algo);
    return ok;
}

/* The index of the v1 that matches, or -1. */
static int matching_v1(const char *secret, const tg_hooks_signature *sig, const void *body,
                       size_t len)
{
    unsigned char mac[MAC_BYTES];
    if (!secret || sig->nv1 == 0 || !compute_mac(secret, sig->t_text, body, len, mac)) return -1;
    int found = -1;
    /* Every value is compared, in constant time: how long this takes says
     * nothing about how close a guess was. */
    for (size_t i = 0; i < sig->nv1 && i < TG_HOOKS_MAX_V1; i++)
        if (CRYPTO_memcmp(mac, sig->v1[i], MAC_BYTES) == 0 && found < 0) found = (int)i;
    OPENSSL_cleanse(mac, sizeof mac);
    return found;
}

bool tg_hooks_verify(const char *secret, const tg_hooks_signature *sig, const void *body,
                     size_t len)
{
    return matching_v1(secret, sig, body, len) >= 0;
}

bool tg_hooks_in_window(int64_t t, int64_t now_s)
{
    /* t is at most 18 digits and now a real clock: the difference fits. */
    int64_t d = now_s - t;
    return d >= -TG_HOOKS_WINDOW_S && d <= TG_HOOKS_WINDOW_S;
}

/* ---- JSON Pointer and the mapping ------------------------------------- */

bool tg_hooks_valid_pointer(const char *pointer)
{
    if (!pointer) return false;
    if (*pointer == '\0') return true;
    if (*pointer != '/') return false;
    for (const char *p = pointer; *p; p++)
        if (*p == '~' && p[1] != '0' && p[1] != '1') return false;
    return true;
}

/* An array index token: "0", or digits without a leading zero, below size. */
static bool array_index(const char *tok, size_t n, size_t size, size_t *index)
{
    if (n == 0 || n > 18 || (n > 1 && tok[0] == '0')) return false;
    size_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (tok[i] < '0' || tok[i] > '9') return false;
        v = v * 10 + (size_t)(tok[i] - '0');
    }
    if (v >= size) return false;
    *index = v;
    return true;
}

json_t *tg_hooks_resolve(const json_t *doc, const char *pointer)
{
    if (!doc || !tg_hooks_valid_pointer(pointer)) return NULL;
    json_t *cur = (json_t *)doc;
    char *token = tg_xmalloc(strlen(pointer) + 1);
    const char *p = pointer;
    while (cur && *p == '/') {
        p++;
        size_t n = 0;
        while (*p && *p != '/') {
            if (*p == '~') {
                /* One pass left to right decodes "~01" as "~1", as RFC 6901 asks. */
                token[n++] = p[1] == '1' ? '/' : '~';
                p += 2;
            } else {
                token[n++] = *p++;
            }
        }
        token[n] = '\0';
        size_t index;
        if (json_is_object(cur))
            cur = json_object_getn(cur, token, n);
        else if (json_is_array(cur) && array_index(token, n, json_array_size(cur), &index))
            cur = json_array_get(cur, index);
        else
            cur = NULL;
    }
    free(token);
    return cur;
}

int tg_hooks_validate_mapping(const json_t *mapping, tg_error *err)
{
    if (!json_is_object(mapping))
        return tg_error_set(err, TG_EBAD_REQUEST,
                            "mapping must be an object: argument name -> JSON Pointer into the "
                            "body");
    if (json_object_size(mapping) > TG_HOOKS_MAX_MAPPING)
        return tg_error_set(err, TG_EBAD_REQUEST, "mapping may name at most %d arguments",
                            TG_HOOKS_MAX_MAPPING);
    const char *key;
    size_t klen;
    json_t *value;
    json_object_keylen_foreach((json_t *)mapping, key, klen, value)
    {
        if (klen == 0 || klen > TG_HOOKS_MAX_ARGUMENT || strlen(key) != klen)
            return tg_error_set(err, TG_EBAD_REQUEST,
                                "mapping: an argument name must be 1 to %d bytes without NUL",
                                TG_HOOKS_MAX_ARGUMENT);
        const char *pointer = json_string_value(value);
        if (!pointer || json_string_length(value) != strlen(pointer) ||
            json_string_length(value) > TG_HOOKS_MAX_POINTER || !tg_hooks_valid_pointer(pointer))
            return tg_error_set(err, TG_EBAD_REQUEST,
                                "mapping.%.*s must be a JSON Pointer (RFC 6901): \"\" or "
                                "\"/a/b\", with ~0 for ~ and ~1 for /, at most %d bytes",
                                tg_utf8_excerpt(key, 64), key, TG_HOOKS_MAX_POINTER);
    }
    return 0;
}

int tg_hooks_map(const json_t *mapping, const json_t *body, json_t **arguments, tg_error *err)
{
    *arguments = NULL;
    if (!mapping) {
        if (!json_is_object(body))
            return tg_error_set(err, TG_EBAD_REQUEST,
                                "the body must be a JSON object: this hook has no mapping, so "
                                "the body is the worker's arguments");
        *arguments = json_incref((json_t *)body);
        return 0;
    }
    json_t *args = json_object();
    const char *key;
    json_t *pointer;
    json_object_foreach((json_t *)mapping, key, pointer)
    {
        json_t *v = tg_hooks_resolve(body, json_string_value(pointer));
        if (v) json_object_set(args, key, v);
    }
    *arguments = args;
    return 0;
}

/* ---- the store -------------------------------------------------------- */

int tg_hooks_open(const char *path, tg_secrets *secrets, tg_hooks **out, tg_error *err)
{
    *out = NULL;
    if (!tg_store_is_url(path)) {
        /* sqlite gives the -wal and -shm files the database file's mode. */
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0)
            return tg_error_set(err, TG_EUNAVAILABLE, "cannot create the hook store %s: %s", path,
                                strerror(errno));
        close(fd);
    }
    tg_store *db = NULL;
    int rc = tg_store_open(path, "hooks", TG_STORE_CREATE | TG_STORE_DURABLE, BUSY_TIMEOUT_MS,
                           sqlite_setup, NULL, &db, db_fail, err);
    if (!rc)
        rc = tg_store_migrate(db, migrations, sizeof migrations / sizeof *migrations, db_fail, err);
    if (rc) {
        tg_store_close(db);
        return rc;
    }
    tg_hooks *h = tg_xcalloc(1, sizeof *h);
    pthread_mutex_init(&h->mu, NULL);
    h->db = db;
    h->secrets = secrets;
    *out = h;
    return 0;
}

void tg_hooks_close(tg_hooks *h)
{
    if (!h) return;
    tg_store_close(h->db);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

/* "hook" NUL id NUL tenant NUL worker: a new buffer of *len bytes. */
static unsigned char *secret_aad(const char *id, const char *tenant, const char *worker,
                                 size_t *len)
{
    const char *parts[] = {"hook", id, tenant, worker};
    size_t n = 0;
    for (size_t i = 0; i < 4; i++)
        n += strlen(parts[i]) + 1;
    unsigned char *aad = tg_xmalloc(n);
    size_t at = 0;
    for (size_t i = 0; i < 4; i++) {
        size_t k = strlen(parts[i]);
        memcpy(aad + at, parts[i], k);
        at += k;
        if (i < 3) aad[at++] = '\0';
    }
    *len = at;
    return aad;
}

/* Returns: new reference, a hook as listed (no secret). mapping_text may be NULL. */
static json_t *hook_json(const char *id, const char *worker, const char *mapping_text,
                         int64_t created_at_ms)
{
    char when[40];
    tg_secrets_format_time(created_at_ms, when, sizeof when);
    json_t *mapping = mapping_text ? json_loads(mapping_text, 0, NULL) : NULL;
    char *url = tg_xasprintf(URL_PREFIX "%s", id);
    json_t *doc = json_pack("{s:s, s:s, s:s, s:o, s:s}", "id", id, "url", url, "worker", worker,
                            "mapping", mapping ? mapping : json_null(), "created_at", when);
    free(url);
    return doc;
}

static bool valid_owner(const char *tenant, const char *worker)
{
    return tenant && *tenant && worker && *worker;
}

int tg_hooks_create(tg_hooks *h, const char *tenant, const char *worker, const char *principal,
                    const json_t *mapping, json_t **out, tg_error *err)
{
    *out = NULL;
    if (!valid_owner(tenant, worker))
        return tg_error_set(err, TG_EBAD_REQUEST, "a hook needs a tenant and a worker");
    int rc = mapping ? tg_hooks_validate_mapping(mapping, err) : 0;
    if (rc) return rc;
    unsigned char raw_id[16], raw_secret[32];
    char id[TG_HOOKS_ID_LEN + 1], secret[TG_HOOKS_SECRET_LEN + 1];
    if (RAND_bytes(raw_id, sizeof raw_id) != 1 || RAND_bytes(raw_secret, sizeof raw_secret) != 1)
        return tg_error_set(err, TG_EINTERNAL, "cannot make a hook: no randomness");
    memcpy(id, ID_PREFIX, strlen(ID_PREFIX));
    to_hex(raw_id, sizeof raw_id, id + strlen(ID_PREFIX));
    memcpy(secret, SECRET_PREFIX, strlen(SECRET_PREFIX));
    to_hex(raw_secret, sizeof raw_secret, secret + strlen(SECRET_PREFIX));
    OPENSSL_cleanse(raw_secret, sizeof raw_secret);

    size_t aadlen;
    unsigned char *aad = secret_aad(id, tenant, worker, &aadlen);
    unsigned char *sealed = NULL;
    size_t sealed_len = 0;
    rc =
        tg_secrets_seal(h->secrets, aad, aadlen, secret, strlen(secret), &sealed, &sealed_len, err);
    free(aad);
    char *mapping_text = mapping ? json_dumps(mapping, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (mapping && !mapping_text) abort(); /* only without memory (alloc.h) */
    int64_t at = tg_now_ms();
    tg_stmt *st = NULL;
    pthread_mutex_lock(&h->mu);
    if (!rc)
        rc = tg_store_prepare(h->db, &st, db_fail, err,
                              "INSERT INTO hooks (id, tenant, worker, mapping, sealed_secret,"
                              " created_at_ms, principal) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                              4, id, tenant, worker, mapping_text);
    if (!rc) {
        tg_stmt_bind_blob(st, 5, sealed, sealed_len);
        tg_stmt_bind_int64(st, 6, at);
        tg_stmt_bind_text(st, 7, principal);
        rc = tg_stmt_run(st, db_fail, err);
    }
    tg_stmt_finalize(st);
    pthread_mutex_unlock(&h->mu);
    if (!rc) {
        json_t *doc = hook_json(id, worker, mapping_text, at);
        json_object_set_new(doc, "secret", json_string(secret));
        *out = doc;
    }
    OPENSSL_cleanse(secret, sizeof secret);
    free(sealed);
    free(mapping_text);
    return rc;
}

int tg_hooks_list(tg_hooks *h, const char *tenant, const char *worker, json_t **out, tg_error *err)
{
    *out = NULL;
    if (!valid_owner(tenant, worker))
        return tg_error_set(err, TG_EBAD_REQUEST, "a hook needs a tenant and a worker");
    json_t *list = json_array();
    tg_stmt *st = NULL;
    pthread_mutex_lock(&h->mu);
    int rc = tg_store_prepare(h->db, &st, db_fail, err,
                              "SELECT id, mapping, created_at_ms FROM hooks"
                              " WHERE tenant = ?1 AND worker = ?2 ORDER BY created_at_ms, id",
                              2, tenant, worker);
    while (!rc && (rc = tg_stmt_step(st, db_fail, err)) == 1) {
        const char *mapping = tg_stmt_is_null(st, 1) ? NULL : tg_stmt_text(st, 1);
        json_array_append_new(
            list, hook_json(tg_stmt_text(st, 0), worker, mapping, tg_stmt_int64(st, 2)));
        rc = 0;
    }
    tg_stmt_finalize(st);
    pthread_mutex_unlock(&h->mu);
    if (rc) {
        json_decref(list);
        return rc;
    }
    *out = list;
    return 0;
}

/* Ends the open transaction: COMMIT when rc is 0, else ROLLBACK. Called
 * with mu held. */
static int finish(tg_hooks *h, int rc, tg_error *err)
{
    if (!rc) rc = tg_store_commit(h->db, db_fail, err);
    if (rc) tg_store_rollback(h->db); /* the first error is the one told */
    return rc;
}

int tg_hooks_delete(tg_hooks *h, const char *tenant, const char *worker, const char *id,
                    tg_error *err)
{
    if (!valid_owner(tenant, worker) || !id)
        return tg_error_set(err, TG_ENOT_FOUND, "no such hook");
    tg_stmt *st = NULL;
    pthread_mutex_lock(&h->mu);
    int rc = tg_store_begin(h->db, db_fail, err);
    if (!rc)
        rc = tg_store_prepare(h->db, &st, db_fail, err,
                              "DELETE FROM hooks WHERE id = ?1 AND tenant = ?2 AND worker = ?3", 3,
                              id, tenant, worker);
    if (!rc) rc = tg_stmt_run(st, db_fail, err);
    if (!rc && tg_stmt_changes(st) == 0) rc = tg_error_set(err, TG_ENOT_FOUND, "no such hook");
    tg_stmt_finalize(st);
    st = NULL;
    if (!rc)
        rc = tg_store_prepare(h->db, &st, db_fail, err, "DELETE FROM seen WHERE hook = ?1", 1, id);
    if (!rc) rc = tg_stmt_run(st, db_fail, err);
    tg_stmt_finalize(st);
    rc = finish(h, rc, err);
    pthread_mutex_unlock(&h->mu);
    return rc;
}

int tg_hooks_delete_worker(tg_hooks *h, const char *tenant, const char *worker, size_t *n,
                           tg_error *err)
{
    if (n) *n = 0;
    if (!valid_owner(tenant, worker)) return 0;
    tg_stmt *st = NULL;
    pthread_mutex_lock(&h->mu);
    int rc = tg_store_begin(h->db, db_fail, err);
    if (!rc)
        rc = tg_store_prepare(h->db, &st, db_fail, err,
                              "DELETE FROM seen WHERE hook IN"
                              " (SELECT id FROM hooks WHERE tenant = ?1 AND worker = ?2)",
                              2, tenant, worker);
    if (!rc) rc = tg_stmt_run(st, db_fail, err);
    tg_stmt_finalize(st);
    st = NULL;
    if (!rc)
        rc = tg_store_prepare(h->db, &st, db_fail, err,
                              "DELETE FROM hooks WHERE tenant = ?1 AND worker = ?2", 2, tenant,
                              worker);
    if (!rc) rc = tg_stmt_run(st, db_fail, err);
    if (!rc && n) *n = (size_t)tg_stmt_changes(st);
    tg_stmt_finalize(st);
    rc = finish(h, rc, err);
    pthread_mutex_unlock(&h->mu);
    return rc;
}

/* "hk_" and 32 lowercase hex digits: anything else is no hook's id. */
static bool valid_id(const char *id)
{
    if (!id || strlen(id) != TG_HOOKS_ID_LEN || strncmp(id, ID_PREFIX, strlen(ID_PREFIX)) != 0)
        return false;
    for (const char *c = id + strlen(ID_PREFIX); *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f'))) return false;
    return true;
}

void tg_hook_free(tg_hook *hook)
{
    if (!hook) return;
    if (hook->secret) OPENSSL_cleanse(hook->secret, strlen(hook->secret));
    free(hook->secret);
    free(hook->tenant);
    free(hook->worker);
    free(hook->principal);
    json_decref(hook->mapping);
    free(hook);
}

int tg_hooks_get(tg_hooks *h, const char *id, tg_hook **out, tg_error *err)
{
    *out = NULL;
    if (!valid_id(id)) return tg_error_set(err, TG_ENOT_FOUND, "no such hook");
    tg_hook *hook = tg_xcalloc(1, sizeof *hook);
    memcpy(hook->id, id, TG_HOOKS_ID_LEN + 1);
    tg_stmt *st = NULL;
    unsigned char *sealed = NULL;
    size_t sealed_len = 0;
    pthread_mutex_lock(&h->mu);
    int rc = tg_store_prepare(h->db, &st, db_fail, err,
                              "SELECT tenant, worker, mapping, sealed_secret, principal"
                              " FROM hooks WHERE id = ?1",
                              1, id);
    if (!rc) rc = tg_stmt_step(st, db_fail, err);
    if (rc == 0) {
        rc = tg_error_set(err, TG_ENOT_FOUND, "no such hook");
    } else if (rc == 1) {
        rc = 0;
        hook->tenant = tg_xstrdup(tg_stmt_text(st, 0));
        hook->worker = tg_xstrdup(tg_stmt_text(st, 1));
        if (!tg_stmt_is_null(st, 2)) hook->mapping = json_loads(tg_stmt_text(st, 2), 0, NULL);
        const void *blob = tg_stmt_blob(st, 3, &sealed_len);
        sealed = tg_xmalloc(sealed_len ? sealed_len : 1);
        if (sealed_len) memcpy(sealed, blob, sealed_len);
        if (!tg_stmt_is_null(st, 4)) hook->principal = tg_xstrdup(tg_stmt_text(st, 4));
    }
    tg_stmt_finalize(st);
    pthread_mutex_unlock(&h->mu);
    if (!rc) {
        size_t aadlen, len;
        unsigned char *aad = secret_aad(id, hook->tenant, hook->worker, &aadlen);
        unsigned char *plain = NULL;
        rc = tg_secrets_unseal(h->secrets, aad, aadlen, sealed, sealed_len, &plain, &len, err);
        free(aad);
        if (!rc && strlen((char *)plain) != len) {
            tg_secrets_value_free(plain, len);
            rc = tg_error_set(err, TG_EINTERNAL, "hook %s has a malformed secret", id);
        } else if (!rc) {
            hook->secret = (char *)plain;
        }
    }
    free(sealed);
    if (rc) {
        tg_hook_free(hook);
        return rc;
    }
    *out = hook;
    return 0;
}

int tg_hooks_check(tg_hooks *h, const tg_hook *hook, const char *header, const void *body,
                   size_t len, int64_t now_s, tg_error *err)
{
    tg_hooks_signature sig;
    int rc = tg_hooks_parse_signature(header, &sig, err);
    if (rc) return rc;
    int which = matching_v1(hook->secret, &sig, body, len);
    if (which < 0)
        return tg_error_set(err, TG_EUNAUTHORIZED,
                            "no v1 signature matches: sign \"<t>.<raw body>\" with HMAC-SHA256 "
                            "under the hook's secret");
    if (!tg_hooks_in_window(sig.t, now_s))
        return tg_error_set(err, TG_EUNAUTHORIZED,
                            "the signature's timestamp is more than %d seconds from the "
                            "gateway's clock",
                            TG_HOOKS_WINDOW_S);
    tg_stmt *st = NULL;
    bool fresh = false;
    pthread_mutex_lock(&h->mu);
    rc = tg_store_begin(h->db, db_fail, err);
    /* Past the window a signature can never pass again: forget it. */
    if (!rc) rc = tg_store_prepare(h->db, &st, db_fail, err, "DELETE FROM seen WHERE t < ?1", 0);
    if (!rc) {
        tg_stmt_bind_int64(st, 1, now_s - TG_HOOKS_WINDOW_S);
        rc = tg_stmt_run(st, db_fail, err);
    }
    tg_stmt_finalize(st);
    st = NULL;
    /* The spend: a concurrent transaction adding the same row, here or in
     * another replica, makes this one wait for its outcome and then add
     * nothing, so exactly one of them sees a change. */
    if (!rc)
        rc = tg_store_prepare(h->db, &st, db_fail, err,
                              "INSERT INTO seen (hook, v1, t) VALUES (?1, ?2, ?3)"
                              " ON CONFLICT (hook, v1) DO NOTHING",
                              1, hook->id);
    if (!rc) {
        tg_stmt_bind_blob(st, 2, sig.v1[which], MAC_BYTES);
        tg_stmt_bind_int64(st, 3, sig.t);
        rc = tg_stmt_run(st, db_fail, err);
    }
    if (!rc) fresh = tg_stmt_changes(st) == 1;
    tg_stmt_finalize(st);
    rc = finish(h, rc, err);
    pthread_mutex_unlock(&h->mu);
    if (rc) return rc;
    if (!fresh) return tg_error_set(err, TG_EUNAUTHORIZED, "this signature was already used");
    return 0;
}
