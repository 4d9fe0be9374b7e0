/* The secret store: AES-256-GCM values in a store of their own (a sqlite
 * file in WAL mode, or the "secrets" schema of a PostgreSQL database shared
 * by replicas), under a master key read from a key file of mode 0600. The
 * key never goes to the store: with PostgreSQL, each replica reads it from
 * its own key file, so every replica must be given the same one.
 *
 * Concurrency: two connections. Changes go through wdb under write_mu, which
 * is held from BEGIN to COMMIT, across the confirm callback (the admin API's
 * audit record, which may wait on an fsync). Reads (get, list) go through
 * rdb under read_mu, so the egress proxy's call threads never wait for a
 * change or for the audit log: WAL, or PostgreSQL's MVCC, gives a read the
 * last committed state while a write transaction is open. A read is a
 * primary-key lookup and at most 64 KiB of AES-GCM, microseconds, so call
 * threads taking turns on one read connection cost nothing an outbound HTTP
 * request would notice; the registry's pool of readers would be machinery
 * without a use here. Each connection is used by one thread at a time.
 *
 * The key stays in this struct for the store's life and is wiped on close;
 * the plaintext of a value exists only in the caller's buffers (put) and in
 * the buffer get returns, wiped here when its tag does not verify. The meta
 * table keeps a key check (the GCM tag of nothing under its own additional
 * data), so a store opened under another key, or with its key file lost and
 * a new one made, fails to open rather than failing every read. */
#include "gateway/registry/secrets.h"

#include "gateway/core/alloc.h"
#include "gateway/core/clock.h"
#include "gateway/store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NONCE_BYTES      12
#define TAG_BYTES        16
#define MAX_TENANT_BYTES 128
/* The most additional data a row has: tenant, name and principal, NULs between. */
#define MAX_AAD_BYTES   (MAX_TENANT_BYTES + 1 + TG_SECRETS_MAX_NAME + 1 + TG_SECRETS_MAX_PRINCIPAL)
#define BUSY_TIMEOUT_MS 5000
/* The key check's additional data holds no NUL, a row's always does: the two
 * can never authenticate each other. */
#define KEY_CHECK_AAD "toolgate.secrets.key-check.v1"

struct tg_secrets {
    pthread_mutex_t write_mu; /* guards wdb */
    tg_store *wdb;
    pthread_mutex_t read_mu; /* guards rdb */
    tg_store *rdb;
    unsigned char key[TG_SECRETS_KEY_BYTES];
};

/* Freed pages (a replaced or deleted value's ciphertext) are zeroed. */
static const char *const sqlite_setup[] = {"PRAGMA secure_delete = ON", NULL};

/* The schema. Step 1 is what every open ran before the store kept versions,
 * so a file made then (at user_version 0) passes it unchanged. The
 * ciphertext column holds the encrypted value, then the 16-byte GCM tag.
 * PostgreSQL's names compare bytewise (COLLATE "C"), as sqlite's do, so a
 * list is in the same order on both. */
static const tg_store_migration migrations[] = {
    {"CREATE TABLE IF NOT EXISTS secrets ("
     " tenant TEXT NOT NULL, name TEXT NOT NULL,"
     " nonce BLOB NOT NULL,"
     " ciphertext BLOB NOT NULL,"
     " updated_at_ms INTEGER NOT NULL,"
     " PRIMARY KEY (tenant, name)) WITHOUT ROWID;"
     "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;",
     "CREATE TABLE secrets ("
     " tenant TEXT COLLATE \"C\" NOT NULL, name TEXT COLLATE \"C\" NOT NULL,"
     " nonce BYTEA NOT NULL,"
     " ciphertext BYTEA NOT NULL,"
     " updated_at_ms BIGINT NOT NULL,"
     " PRIMARY KEY (tenant, name));"
     "CREATE TABLE meta (key TEXT COLLATE \"C\" PRIMARY KEY, value BYTEA NOT NULL);"},
    /* Per-principal values: a table of their own, so a tenant's value and a
     * principal's of the same name never share a row, and stores made
     * before open unchanged. */
    {"CREATE TABLE principal_secrets ("
     " tenant TEXT NOT NULL, name TEXT NOT NULL, principal TEXT NOT NULL,"
     " nonce BLOB NOT NULL,"
     " ciphertext BLOB NOT NULL,"
     " updated_at_ms INTEGER NOT NULL,"
     " PRIMARY KEY (tenant, name, principal)) WITHOUT ROWID;",
     "CREATE TABLE principal_secrets ("
     " tenant TEXT COLLATE \"C\" NOT NULL, name TEXT COLLATE \"C\" NOT NULL,"
     " principal TEXT COLLATE \"C\" NOT NULL,"
     " nonce BYTEA NOT NULL,"
     " ciphertext BYTEA NOT NULL,"
     " updated_at_ms BIGINT NOT NULL,"
     " PRIMARY KEY (tenant, name, principal));"},
};

/* ---- errors, names, time -------------------------------------------- */

/* How the secret store words a failed store call (a tg_store_fail_fn).
 * Neither backend's messages quote bound parameters (values are bound, as
 * ciphertext), so no value can reach one. */
static int db_fail(void *err, tg_store_failure kind, const char *what, const char *detail)
{
    if (kind == TG_STORE_NOT_WAL)
        return tg_error_set(err, TG_EUNAVAILABLE, "secret store %s: cannot use WAL mode", what);
    return tg_error_set(err, TG_EUNAVAILABLE, "secret store: %s: %s", what, detail);
}

bool tg_secrets_valid_name(const char *name)
{
    if (!name) return false;
    for (size_t i = 0;; i++) {
        char c = name[i];
        if (c == '\0') return i > 0;
        if (i >= TG_SECRETS_MAX_NAME) return false;
        bool letter = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
        if (!letter && !(i > 0 && c >= '0' && c <= '9')) return false;
    }
}

bool tg_secrets_valid_principal(const char *principal)
{
    if (!principal) return false;
    size_t n = strnlen(principal, TG_SECRETS_MAX_PRINCIPAL + 1);
    if (n == 0 || n > TG_SECRETS_MAX_PRINCIPAL) return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)principal[i] < 0x20 || principal[i] == 0x7f) return false;
    return true;
}

/* The name and principal are not quoted when refused: what was sent in
 * their place may be anything, a value pasted in the wrong place included.
 * principal NULL is the tenant's own row. */
static int check_row(const char *tenant, const char *name, const char *principal, tg_error *err)
{
    if (!tenant || !*tenant || strnlen(tenant, MAX_TENANT_BYTES + 1) > MAX_TENANT_BYTES)
        return tg_error_set(err, TG_EINVALID_PARAMS, "the tenant must be 1 to %d bytes",
                            MAX_TENANT_BYTES);
    if (!tg_secrets_valid_name(name))
        return tg_error_set(err, TG_EINVALID_PARAMS,
                            "a secret's name must match ^[A-Za-z_][A-Za-z0-9_]{0,127}$");
    if (principal && !tg_secrets_valid_principal(principal))
        return tg_error_set(err, TG_EINVALID_PARAMS,
                            "a principal must be 1 to %d bytes without control characters",
                            TG_SECRETS_MAX_PRINCIPAL);
    return 0;
}

void tg_secrets_format_time(int64_t ms, char *buf, size_t size)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char whole[32];
    strftime(whole, sizeof whole, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, size, "%s.%03dZ", whole, (int)(ms % 1000));
}

/* ---- AES-256-GCM ---------------------------------------------------- */

/* tenant || NUL || name, then for a principal's row NUL || principal, into
 * aad (at least MAX_AAD_BYTES); returns its length. Tenants, names and
 * principals hold no NUL, so no two rows give the same bytes, and a
 * tenant's row (one NUL) never authenticates as a principal's (two). */
static size_t row_aad(const char *tenant, const char *name, const char *principal,
                      unsigned char *aad)
{
    size_t t = strlen(tenant), n = strlen(name);
    memcpy(aad, tenant, t);
    aad[t] = '\0';
    memcpy(aad + t + 1, name, n);
    size_t len = t + 1 + n;
    if (principal) {
        size_t p = strlen(principal);
        aad[len] = '\0';
        memcpy(aad + len + 1, principal, p);
        len += 1 + p;
    }
    return len;
}

/* Encrypts in[0..len) into out[0..len + TAG_BYTES) under a new random nonce. */
static int seal(const unsigned char *key, const unsigned char *aad, size_t aadlen,
                const unsigned char *in, size_t len, unsigned char *nonce, unsigned char *out)
{
    if (RAND_bytes(nonce, NONCE_BYTES) != 1) return -1;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n = 0, fin = 0;
    bool ok = ctx && EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
              EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_BYTES, NULL) == 1 &&
              EVP_EncryptInit_ex(ctx, NULL, NULL, key, nonce) == 1 &&
              EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aadlen) == 1 &&
              (len == 0 || EVP_EncryptUpdate(ctx, out, &n, in, (int)len) == 1) &&
              EVP_EncryptFinal_ex(ctx, out + len, &fin) == 1 &&
              EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_BYTES, out + len) == 1;
    EVP_CIPHER_CTX_free(ctx); /* wipes the key schedule */
    return ok ? 0 : -1;
}

/* Decrypts in[0..inlen) (ciphertext, then the tag) into out[0..inlen -
 * TAG_BYTES). Returns 0 only when the tag verifies; otherwise out is wiped
 * (GCM decrypts before it can tell) and -1 returned. */
static int unseal(const unsigned char *key, const unsigned char *aad, size_t aadlen,
                  const unsigned char *nonce, const unsigned char *in, size_t inlen,
                  unsigned char *out)
{
    if (inlen < TAG_BYTES) return -1;
    size_t len = inlen - TAG_BYTES;
    unsigned char tag[TAG_BYTES];
    memcpy(tag, in + len, TAG_BYTES);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n = 0, fin = 0;
    bool ok = ctx && EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
              EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_BYTES, NULL) == 1 &&
              EVP_DecryptInit_ex(ctx, NULL, NULL, key, nonce) == 1 &&
              EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aadlen) == 1 &&
              (len == 0 || EVP_DecryptUpdate(ctx, out, &n, in, (int)len) == 1) &&
              EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_BYTES, tag) == 1 &&
              EVP_DecryptFinal_ex(ctx, out + len, &fin) == 1;
    EVP_CIPHER_CTX_free(ctx);
    if (!ok && len) OPENSSL_cleanse(out, len);
    return ok ? 0 : -1;
}

/* ---- the key file --------------------------------------------------- */

/* Makes a new entry in dir durable: a key whose file a crash loses after
 * secrets were written under it would leave them unreadable. */
static void sync_parent(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir =
        slash ? tg_xstrndup(path, slash == path ? 1 : (size_t)(slash - path)) : tg_xstrdup(".");
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

/* Writes a new random key to path (which must not exist) and keeps it in s.
 * Returns 1 when path appeared meanwhile (another process made it: read
 * that one), 0, or a negative code. */
static int create_key(tg_secrets *s, const char *path, tg_error *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST) return 1;
    if (fd < 0)
        return tg_error_set(err, TG_EINTERNAL, "cannot create the secrets key %s: %s", path,
                            strerror(errno));
    int rc = 0;
    if (RAND_bytes(s->key, sizeof s->key) != 1) {
        rc = tg_error_set(err, TG_EINTERNAL, "cannot make a secrets key: no randomness");
    } else {
        size_t done = 0;
        while (done < sizeof s->key) {
            ssize_t w = write(fd, s->key + done, sizeof s->key - done);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) break;
            done += (size_t)w;
        }
        if (done != sizeof s->key || fsync(fd) != 0)
            rc = tg_error_set(err, TG_EINTERNAL, "cannot write the secrets key %s: %s", path,
                              strerror(errno));
    }
    close(fd);
    if (rc) {
        OPENSSL_cleanse(s->key, sizeof s->key);
        unlink(path);
        return rc;
    }
    sync_parent(path);
    return 0;
}

/* Reads the key in path into s, refusing a file others may read or write. */
static int read_key(tg_secrets *s, const char *path, tg_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return tg_error_set(err, TG_EINTERNAL, "cannot open the secrets key %s: %s", path,
                            strerror(errno));
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = tg_error_set(err, TG_EINTERNAL, "the secrets key %s is not a regular file", path);
    } else if (st.st_mode & 077) {
        rc = tg_error_set(err, TG_EINTERNAL,
                          "the secrets key %s is open to other users (mode %04o): it must be "
                          "0600 or stricter",
                          path, (unsigned)(st.st_mode & 07777));
    } else if (st.st_size != TG_SECRETS_KEY_BYTES) {
        rc = tg_error_set(err, TG_EINTERNAL, "the secrets key %s must hold exactly %d bytes", path,
                          TG_SECRETS_KEY_BYTES);
    } else {
        size_t done = 0;
        while (done < sizeof s->key) {
            ssize_t r = read(fd, s->key + done, sizeof s->key - done);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) break;
            done += (size_t)r;
        }
        if (done != sizeof s->key) {
            OPENSSL_cleanse(s->key, sizeof s->key);
            rc = tg_error_set(err, TG_EINTERNAL, "cannot read the secrets key %s", path);
        }
    }
    close(fd);
    return rc;
}

/* ---- the key check ---------------------------------------------------- */

/* *found: whether the store holds a key check; check: its nonce and tag. */
static int read_check(tg_store *db, bool *found, unsigned char *check, tg_error *err)
{
    tg_stmt *st = NULL;
    int rc = tg_store_prepare(db, &st, db_fail, err,
                              "SELECT value FROM meta WHERE key = 'key_check'", 0);
    if (!rc) rc = tg_stmt_step(st, db_fail, err);
    *found = rc == 1;
    if (rc == 1) {
        rc = 0;
        size_t len = 0;
        const void *value = tg_stmt_blob(st, 0, &len);
        if (len == NONCE_BYTES + TAG_BYTES)
            memcpy(check, value, NONCE_BYTES + TAG_BYTES);
        else
            memset(check, 0, NONCE_BYTES + TAG_BYTES); /* fails the check below */
    }
    tg_stmt_finalize(st);
    return rc;
}

/* Writes the check of s's key unless the store has one already (another
 * gateway sharing it wrote its own meanwhile): *wrote says which. */
static int write_check(tg_secrets *s, bool *wrote, tg_error *err)
{
    *wrote = false;
    unsigned char check[NONCE_BYTES + TAG_BYTES];
    if (seal(s->key, (const unsigned char *)KEY_CHECK_AAD, strlen(KEY_CHECK_AAD), NULL, 0, check,
             check + NONCE_BYTES) != 0)
        return tg_error_set(err, TG_EINTERNAL, "cannot encrypt with the secrets key");
    tg_stmt *st = NULL;
    int rc = tg_store_prepare(s->wdb, &st, db_fail, err,
                              "INSERT INTO meta (key, value) VALUES ('key_check', ?1)"
                              " ON CONFLICT (key) DO NOTHING",
                              0);
    if (!rc) {
        tg_stmt_bind_blob(st, 1, check, sizeof check);
        rc = tg_stmt_run(st, db_fail, err);
    }
    if (!rc) *wrote = tg_stmt_changes(st) == 1;
    tg_stmt_finalize(st);
    return rc;
}

int tg_secrets_open(const char *where, const char *key_path, bool create, tg_secrets **out,
                    tg_error *err)
{
    *out = NULL;
    /* Messages name a URL only as what it is: it may hold a password. */
    bool url = tg_store_is_url(where);
    const char *shown = url ? "the PostgreSQL secret store" : where;
    if (!url) {
        /* sqlite gives the -wal and -shm files the database file's mode. */
        int fd = open(where, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0)
            return tg_error_set(err, TG_EUNAVAILABLE, "cannot create the secret store %s: %s",
                                where, strerror(errno));
        close(fd);
    }
    tg_secrets *s = tg_xcalloc(1, sizeof *s);
    pthread_mutex_init(&s->write_mu, NULL);
    pthread_mutex_init(&s->read_mu, NULL);
    int rc = tg_store_open(where, "secrets", TG_STORE_CREATE | TG_STORE_DURABLE, BUSY_TIMEOUT_MS,
                           sqlite_setup, NULL, &s->wdb, db_fail, err);
    if (!rc)
        rc = tg_store_migrate(s->wdb, migrations, sizeof migrations / sizeof migrations[0], db_fail,
                              err);
    bool has_check = false, made_key = false;
    unsigned char check[NONCE_BYTES + TAG_BYTES];
    if (!rc) rc = read_check(s->wdb, &has_check, check, err);
    if (!rc) {
        /* A new key only for a store that holds nothing written under one. */
        rc = create && !has_check ? create_key(s, key_path, err) : 1;
        made_key = rc == 0;
        if (rc == 1 && has_check && access(key_path, F_OK) != 0 && errno == ENOENT)
            rc = tg_error_set(err, TG_EINTERNAL,
                              "the secrets key %s is missing, and %s holds secrets written "
                              "under a key: restore that key file",
                              key_path, shown);
        else if (rc == 1)
            rc = read_key(s, key_path, err);
    }
    /* Replicas sharing a PostgreSQL store may each find it new and each make
     * a key: the first check written stands, and the others read it back. */
    bool wrote = false;
    if (!rc && !has_check) rc = write_check(s, &wrote, err);
    if (!rc && !has_check && !wrote) rc = read_check(s->wdb, &has_check, check, err);
    unsigned char none[1];
    if (!rc && has_check &&
        unseal(s->key, (const unsigned char *)KEY_CHECK_AAD, strlen(KEY_CHECK_AAD), check,
               check + NONCE_BYTES, TAG_BYTES, none) != 0) {
        if (made_key) {
            /* Nothing was written under the key just made. Without it, the
             * next start says the key is missing rather than make another. */
            unlink(key_path);
            rc = tg_error_set(err, TG_EINTERNAL,
                              "another gateway set up %s first, under its own secrets key: "
                              "give this one a copy of that key as %s",
                              shown, key_path);
        } else {
            rc = tg_error_set(err, TG_EINTERNAL,
                              "the secrets key %s is not the key %s was written with", key_path,
                              shown);
        }
    }
    if (!rc)
        rc = tg_store_open(where, "secrets", TG_STORE_READONLY, BUSY_TIMEOUT_MS, NULL, NULL,
                           &s->rdb, db_fail, err);
    if (rc) {
        tg_secrets_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

void tg_secrets_close(tg_secrets *s)
{
    if (!s) return;
    tg_store_close(s->rdb);
    tg_store_close(s->wdb);
    OPENSSL_cleanse(s->key, sizeof s->key);
    pthread_mutex_destroy(&s->read_mu);
    pthread_mutex_destroy(&s->write_mu);
    free(s);
}

void tg_secrets_value_free(unsigned char *value, size_t len)
{
    if (!value) return;
    OPENSSL_cleanse(value, len);
    free(value);
}

/* ---- changes ---------------------------------------------------------- */

/* Runs confirm inside the open transaction, then commits; rolls back on any
 * failure. Called with write_mu held. */
static int finish(tg_secrets *s, int rc, const char *name, tg_secrets_confirm_fn confirm,
                  void *userdata, tg_error *err)
{
    if (!rc && confirm && (rc = confirm(userdata)) != 0) {
        if (rc > 0) rc = TG_EINTERNAL;
        tg_error_set(err, (tg_err_code)rc, "the change to secret %s was not confirmed: rolled back",
                     name);
    }
    if (!rc) rc = tg_store_commit(s->wdb, db_fail, err);
    if (rc) tg_store_rollback(s->wdb); /* quiet: the first error is the one told */
    return rc;
}

/* Runs sql (the insert or the update of put) for one row; *changed: whether
 * it wrote the row. */
static int write_row(tg_secrets *s, const char *sql, const char *tenant, const char *name,
                     const char *principal, const unsigned char *nonce, const unsigned char *sealed,
                     size_t sealed_len, int64_t at, bool *changed, tg_error *err)
{
    tg_stmt *st = NULL;
    int rc = tg_store_prepare(s->wdb, &st, db_fail, err, sql, 2, tenant, name);
    if (!rc) {
        tg_stmt_bind_blob(st, 3, nonce, NONCE_BYTES);
        tg_stmt_bind_blob(st, 4, sealed, sealed_len);
        tg_stmt_bind_int64(st, 5, at);
        if (principal) tg_stmt_bind_text(st, 6, principal);
        rc = tg_stmt_run(st, db_fail, err);
    }
    *changed = !rc && tg_stmt_changes(st) == 1;
    tg_stmt_finalize(st);
    return rc;
}

int tg_secrets_put(tg_secrets *s, const char *tenant, const char *name, const void *value,
                   size_t len, tg_secrets_confirm_fn confirm, void *userdata,
                   tg_secrets_change *change, tg_error *err)
{
    return tg_secrets_put_for(s, tenant, name, NULL, value, len, confirm, userdata, change, err);
}

int tg_secrets_put_for(tg_secrets *s, const char *tenant, const char *name, const char *principal,
                       const void *value, size_t len, tg_secrets_confirm_fn confirm, void *userdata,
                       tg_secrets_change *change, tg_error *err)
{
    int rc = check_row(tenant, name, principal, err);
    if (rc) return rc;
    if (!value || len == 0)
        return tg_error_set(err, TG_EINVALID_PARAMS, "the value of secret %s is empty", name);
    if (len > TG_SECRETS_MAX_VALUE)
        return tg_error_set(err, TG_EPAYLOAD_TOO_LARGE,
                            "the value of secret %s is larger than %u bytes", name,
                            TG_SECRETS_MAX_VALUE);
    unsigned char aad[MAX_AAD_BYTES];
    size_t aadlen = row_aad(tenant, name, principal, aad);
    unsigned char nonce[NONCE_BYTES];
    unsigned char *sealed = tg_xmalloc(len + TAG_BYTES);
    if (seal(s->key, aad, aadlen, value, len, nonce, sealed) != 0) {
        free(sealed);
        return tg_error_set(err, TG_EINTERNAL, "cannot encrypt secret %s", name);
    }
    static const char *const insert_sql[2] = {
        "INSERT INTO secrets (tenant, name, nonce, ciphertext, updated_at_ms)"
        " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (tenant, name) DO NOTHING",
        "INSERT INTO principal_secrets (tenant, name, principal, nonce, ciphertext, updated_at_ms)"
        " VALUES (?1, ?2, ?6, ?3, ?4, ?5) ON CONFLICT (tenant, name, principal) DO NOTHING"};
    static const char *const update_sql[2] = {
        "UPDATE secrets SET nonce = ?3, ciphertext = ?4, updated_at_ms = ?5"
        " WHERE tenant = ?1 AND name = ?2",
        "UPDATE principal_secrets SET nonce = ?3, ciphertext = ?4, updated_at_ms = ?5"
        " WHERE tenant = ?1 AND name = ?2 AND principal = ?6"};
    int which = principal != NULL;
    int64_t at = tg_now_ms();
    bool created = false, written = false;
    pthread_mutex_lock(&s->write_mu);
    rc = tg_store_begin(s->wdb, db_fail, err);
    /* Insert, or else update: the statement that wrote the row says whether
     * the secret is new, even while another replica writes the same name
     * (under READ COMMITTED, a SELECT first could find no row and then
     * replace one inserted meanwhile). A row another replica deletes between
     * the two is inserted on the next round. */
    for (int round = 0; !rc && !written && round < 6; round++) {
        created = round % 2 == 0;
        rc = write_row(s, created ? insert_sql[which] : update_sql[which], tenant, name, principal,
                       nonce, sealed, len + TAG_BYTES, at, &written, err);
    }
    if (!rc && !written)
        rc = tg_error_set(err, TG_EUNAVAILABLE,
                          "secret %s kept changing under other writers: not written", name);
    rc = finish(s, rc, name, confirm, userdata, err);
    pthread_mutex_unlock(&s->write_mu);
    free(sealed); /* ciphertext: nothing to wipe */
    if (!rc && change) *change = (tg_secrets_change){.created = created, .updated_at_ms = at};
    return rc;
}

int tg_secrets_delete(tg_secrets *s, const char *tenant, const char *name,
                      tg_secrets_confirm_fn confirm, void *userdata, tg_error *err)
{
    return tg_secrets_delete_for(s, tenant, name, NULL, confirm, userdata, err);
}

int tg_secrets_delete_for(tg_secrets *s, const char *tenant, const char *name,
                          const char *principal, tg_secrets_confirm_fn confirm, void *userdata,
                          tg_error *err)
{
    int rc = check_row(tenant, name, principal, err);
    if (rc) return rc;
    tg_stmt *st = NULL;
    pthread_mutex_lock(&s->write_mu);
    rc = tg_store_begin(s->wdb, db_fail, err);
    if (!rc && principal)
        rc = tg_store_prepare(
            s->wdb, &st, db_fail, err,
            "DELETE FROM principal_secrets WHERE tenant = ?1 AND name = ?2 AND principal = ?3", 3,
            tenant, name, principal);
    else if (!rc)
        rc = tg_store_prepare(s->wdb, &st, db_fail, err,
                              "DELETE FROM secrets WHERE tenant = ?1 AND name = ?2", 2, tenant,
                              name);
    if (!rc) rc = tg_stmt_run(st, db_fail, err);
    if (!rc && tg_stmt_changes(st) == 0)
        rc = tg_error_set(
            err, TG_ENOT_FOUND,
            principal ? "no secret named %s for that principal" : "no secret named %s", name);
    tg_stmt_finalize(st);
    rc = finish(s, rc, name, confirm, userdata, err);
    pthread_mutex_unlock(&s->write_mu);
    return rc;
}

/* ---- reads ------------------------------------------------------------ */

int tg_secrets_get(tg_secrets *s, const char *tenant, const char *name, unsigned char **value,
                   size_t *len, tg_error *err)
{
    return tg_secrets_get_for(s, tenant, name, NULL, value, len, err);
}

int tg_secrets_get_for(tg_secrets *s, const char *tenant, const char *name, const char *principal,
                       unsigned char **value, size_t *len, tg_error *err)
{
    *value = NULL;
    *len = 0;
    int rc = check_row(tenant, name, principal, err);
    if (rc) return rc;
    unsigned char aad[MAX_AAD_BYTES];
    size_t aadlen = row_aad(tenant, name, principal, aad);
    tg_stmt *st = NULL;
    pthread_mutex_lock(&s->read_mu);
    if (principal)
        rc = tg_store_prepare(s->rdb, &st, db_fail, err,
                              "SELECT nonce, ciphertext FROM principal_secrets"
                              " WHERE tenant = ?1 AND name = ?2 AND principal = ?3",
                              3, tenant, name, principal);
    else
        rc = tg_store_prepare(
            s->rdb, &st, db_fail, err,
            "SELECT nonce, ciphertext FROM secrets WHERE tenant = ?1 AND name = ?2", 2, tenant,
            name);
    if (!rc) rc = tg_stmt_step(st, db_fail, err);
    if (rc == 0) {
        rc = tg_error_set(
            err, TG_ENOT_FOUND,
            principal ? "no secret named %s for that principal" : "no secret named %s", name);
    } else if (rc == 1) {
        size_t nonce_len = 0, sealed_len = 0;
        const unsigned char *nonce = tg_stmt_blob(st, 0, &nonce_len);
        const unsigned char *sealed = tg_stmt_blob(st, 1, &sealed_len);
        unsigned char *plain = tg_xmalloc(sealed_len > TAG_BYTES ? sealed_len - TAG_BYTES + 1 : 1);
        if (nonce_len != NONCE_BYTES || sealed_len <= TAG_BYTES ||
            unseal(s->key, aad, aadlen, nonce, sealed, sealed_len, plain) != 0) {
            free(plain); /* wiped by unseal */
            rc = tg_error_set(err, TG_EINTERNAL,
                              "secret %s does not decrypt: the store was altered, or its key "
                              "changed",
                              name);
        } else {
            *len = sealed_len - TAG_BYTES;
            plain[*len] = '\0';
            *value = plain;
            rc = 0;
        }
    }
    tg_stmt_finalize(st);
    pthread_mutex_unlock(&s->read_mu);
    return rc;
}

int tg_secrets_list(tg_secrets *s, const char *tenant, json_t **out, tg_error *err)
{
    *out = NULL;
    if (!tenant || !*tenant || strnlen(tenant, MAX_TENANT_BYTES + 1) > MAX_TENANT_BYTES)
        return tg_error_set(err, TG_EINVALID_PARAMS, "the tenant must be 1 to %d bytes",
                            MAX_TENANT_BYTES);
    json_t *list = json_array();
    tg_stmt *st = NULL;
    pthread_mutex_lock(&s->read_mu);
    /* By name; the tenant's row of a name (fourth column 0) before its
     * principals', which follow by principal. */
    int rc = tg_store_prepare(s->rdb, &st, db_fail, err,
                              "SELECT name, NULL, updated_at_ms, 0 FROM secrets WHERE tenant = ?1"
                              " UNION ALL SELECT name, principal, updated_at_ms, 1"
                              " FROM principal_secrets WHERE tenant = ?1 ORDER BY 1, 4, 2",
                              1, tenant);
    while (!rc && (rc = tg_stmt_step(st, db_fail, err)) == 1) {
        char when[40];
        tg_secrets_format_time(tg_stmt_int64(st, 2), when, sizeof when);
        json_t *item = json_pack("{s:s, s:s}", "name", tg_stmt_text(st, 0), "updated_at", when);
        if (!tg_stmt_is_null(st, 1))
            json_object_set_new(item, "principal", json_string(tg_stmt_text(st, 1)));
        json_array_append_new(list, item);
        rc = 0;
    }
    tg_stmt_finalize(st);
    pthread_mutex_unlock(&s->read_mu);
    if (rc) {
        json_decref(list);
        return rc;
    }
    *out = list;
    return 0;
}

int tg_secrets_values(tg_secrets *s, const char *tenant, const char *principal, char ***values,
                      size_t *n, tg_error *err)
{
    *values = NULL;
    *n = 0;
    json_t *list = NULL;
    int rc = tg_secrets_list(s, tenant, &list, err);
    if (rc) return rc;
    char **out = tg_xcalloc(json_array_size(list) + 1, sizeof *out);
    size_t count = 0, i;
    json_t *item;
    json_array_foreach(list, i, item)
    {
        const char *of = json_string_value(json_object_get(item, "principal"));
        if (of && (!principal || strcmp(of, principal) != 0)) continue;
        unsigned char *value = NULL;
        size_t len = 0;
        if (tg_secrets_get_for(s, tenant, json_string_value(json_object_get(item, "name")), of,
                               &value, &len, NULL) == 0)
            out[count++] = (char *)value;
    }
    json_decref(list);
    *values = out;
    *n = count;
    return 0;
}

/* ---- sealing for other stores ----------------------------------------- */

/* Begins every sealed blob's additional data: two NULs, where a row's has
 * one and the key check's none (secrets.h). */
static const unsigned char seal_domain[] = "toolgate.sealed\0";
#define SEAL_DOMAIN_BYTES sizeof seal_domain /* the string, its NUL and the one after */

/* seal_domain || aad: a new buffer of SEAL_DOMAIN_BYTES + aadlen bytes. */
static unsigned char *sealed_aad(const void *aad, size_t aadlen)
{
    unsigned char *full = tg_xmalloc(SEAL_DOMAIN_BYTES + aadlen);
    memcpy(full, seal_domain, SEAL_DOMAIN_BYTES);
    if (aadlen) memcpy(full + SEAL_DOMAIN_BYTES, aad, aadlen);
    return full;
}

int tg_secrets_seal(tg_secrets *s, const void *aad, size_t aadlen, const void *plain, size_t len,
                    unsigned char **blob, size_t *bloblen, tg_error *err)
{
    *blob = NULL;
    *bloblen = 0;
    if (len > TG_SECRETS_MAX_VALUE)
        return tg_error_set(err, TG_EPAYLOAD_TOO_LARGE, "a sealed value is larger than %u bytes",
                            TG_SECRETS_MAX_VALUE);
    unsigned char *full = sealed_aad(aad, aadlen);
    unsigned char *out = tg_xmalloc(NONCE_BYTES + len + TAG_BYTES);
    int rc = seal(s->key, full, SEAL_DOMAIN_BYTES + aadlen, plain, len, out, out + NONCE_BYTES);
    free(full);
    if (rc != 0) {
        free(out);
        return tg_error_set(err, TG_EINTERNAL, "cannot encrypt with the secrets key");
    }
    *blob = out;
    *bloblen = NONCE_BYTES + len + TAG_BYTES;
    return 0;
}

int tg_secrets_unseal(tg_secrets *s, const void *aad, size_t aadlen, const unsigned char *blob,
                      size_t bloblen, unsigned char **plain, size_t *len, tg_error *err)
{
    *plain = NULL;
    *len = 0;
    if (!blob || bloblen < NONCE_BYTES + TAG_BYTES)
        return tg_error_set(err, TG_EINTERNAL, "a sealed value is truncated");
    size_t n = bloblen - NONCE_BYTES - TAG_BYTES;
    unsigned char *full = sealed_aad(aad, aadlen);
    unsigned char *out = tg_xmalloc(n + 1);
    int rc = unseal(s->key, full, SEAL_DOMAIN_BYTES + aadlen, blob, blob + NONCE_BYTES,
                    bloblen - NONCE_BYTES, out);
    free(full);
    if (rc != 0) {
        free(out); /* wiped by unseal */
        return tg_error_set(err, TG_EINTERNAL,
                            "a sealed value does not decrypt: it was altered, moved, or sealed "
                            "under another key");
    }
    out[n] = '\0';
    *plain = out;
    *len = n;
    return 0;
}

void tg_secrets_values_free(char **values, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        OPENSSL_cleanse(values[i], strlen(values[i]));
        free(values[i]);
    }
    free(values);
}
