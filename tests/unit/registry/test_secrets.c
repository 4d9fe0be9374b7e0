/* The secret store on both backends, a sqlite file in a temporary folder and
 * a fresh PostgreSQL database (pgtest.h), with the key file in the folder
 * either way: round trips of text and binary values, replace, delete, names
 * and sizes, lists without values, tenants kept apart, no plaintext in
 * secrets.db or its WAL (in PostgreSQL: in any row), ciphertexts moved
 * between rows or altered (get fails, never answering another row's value),
 * the wrong key, the key file's creation and permissions, changes rolled
 * back when their confirmation fails, reads that never wait for a change in
 * progress, per-principal values kept apart from the tenant's and from each
 * other, and (PostgreSQL) replicas starting on a new store at once. */
#include "check.h"
#include "gateway/registry/secrets.h"
#include "gateway/store/store.h"
#include "pgtest.h"

#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char base[256], key_path[300];
/* The store under test: a path in base, or a PostgreSQL URL; other_store, a
 * second empty one. */
static const char *where, *other_store;
static bool on_postgres;

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static tg_secrets *open_store(void)
{
    tg_secrets *s = NULL;
    tg_error err = {0};
    int rc = tg_secrets_open(where, key_path, true, &s, &err);
    if (rc != 0) fprintf(stderr, "open: %s\n", err.message);
    CHECK_INT_EQ(rc, 0);
    return s;
}

/* Whether the file at path holds needle[0..n) anywhere. */
static bool file_contains(const char *path, const void *needle, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    size_t cap = 1 << 16, len = 0;
    char *data = malloc(cap);
    size_t got;
    while ((got = fread(data + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap) data = realloc(data, cap *= 2);
    }
    fclose(f);
    bool found = memmem(data, len, needle, n) != NULL;
    free(data);
    return found;
}

/* get's answer compared with want[0..n). */
static bool holds(tg_secrets *s, const char *tenant, const char *name, const void *want, size_t n)
{
    unsigned char *v = NULL;
    size_t len = 0;
    tg_error err = {0};
    if (tg_secrets_get(s, tenant, name, &v, &len, &err) != 0) {
        fprintf(stderr, "get %s/%s: %s\n", tenant, name, err.message);
        return false;
    }
    bool same = len == n && memcmp(v, want, n) == 0 && v[len] == '\0';
    tg_secrets_value_free(v, len);
    return same;
}

static int get_rc(tg_secrets *s, const char *tenant, const char *name)
{
    unsigned char *v = (unsigned char *)"not touched";
    size_t len = 99;
    int rc = tg_secrets_get(s, tenant, name, &v, &len, NULL);
    if (rc == 0)
        tg_secrets_value_free(v, len);
    else
        CHECK(v == NULL && len == 0);
    return rc;
}

static int put(tg_secrets *s, const char *tenant, const char *name, const char *value)
{
    return tg_secrets_put(s, tenant, name, value, strlen(value), NULL, NULL, NULL, NULL);
}

static int store_failed(void *err, tg_store_failure kind, const char *what, const char *detail)
{
    (void)err;
    fprintf(stderr, "store (%d): %s: %s\n", (int)kind, what, detail ? detail : "");
    return -1;
}

/* A connection of the test's own to the store, as another process that
 * tampers with it would have. */
static tg_store *raw_store(void)
{
    tg_store *db = NULL;
    CHECK_INT_EQ(tg_store_open(where, "secrets", 0, 5000, NULL, NULL, &db, store_failed, NULL), 0);
    return db;
}

static void sql(const char *text)
{
    tg_store *db = raw_store();
    if (!db) return;
    CHECK_INT_EQ(tg_store_exec(db, text, store_failed, NULL), 0);
    tg_store_close(db);
}

/* Flips one bit of acme's name's ciphertext, or cuts it to 10 bytes. */
static void tamper(const char *name, bool cut)
{
    tg_store *db = raw_store();
    if (!db) return;
    tg_stmt *st = NULL;
    CHECK_INT_EQ(tg_store_prepare(
                     db, &st, store_failed, NULL,
                     "SELECT ciphertext FROM secrets WHERE tenant = 'acme' AND name = ?1", 1, name),
                 0);
    CHECK_INT_EQ(tg_stmt_step(st, store_failed, NULL), 1);
    size_t n = 0;
    const void *blob = tg_stmt_blob(st, 0, &n);
    unsigned char *c = malloc(n ? n : 1);
    memcpy(c, blob, n);
    tg_stmt_finalize(st);
    c[2] ^= 1;
    CHECK_INT_EQ(tg_store_prepare(db, &st, store_failed, NULL,
                                  "UPDATE secrets SET ciphertext = ?1"
                                  " WHERE tenant = 'acme' AND name = ?2",
                                  0),
                 0);
    tg_stmt_bind_blob(st, 1, c, cut ? 10 : n);
    tg_stmt_bind_text(st, 2, name);
    CHECK_INT_EQ(tg_stmt_run(st, store_failed, NULL), 0);
    CHECK_INT_EQ(tg_stmt_changes(st), 1);
    tg_stmt_finalize(st);
    tg_store_close(db);
    free(c);
}

static void write_key(const char *path, size_t n, mode_t mode, unsigned char fill)
{
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
    CHECK(fd >= 0);
    fchmod(fd, mode); /* past the umask */
    unsigned char buf[64];
    memset(buf, fill, sizeof buf);
    CHECK_INT_EQ(write(fd, buf, n), (long long)n);
    close(fd);
}

static void test_names(void)
{
    char longest[129], too_long[130];
    memset(longest, 'a', 128);
    longest[128] = '\0';
    memset(too_long, 'a', 129);
    too_long[129] = '\0';
    CHECK(tg_secrets_valid_name("CRM_TOKEN"));
    CHECK(tg_secrets_valid_name("_x9"));
    CHECK(tg_secrets_valid_name("a"));
    CHECK(tg_secrets_valid_name(longest));
    CHECK(!tg_secrets_valid_name(too_long));
    CHECK(!tg_secrets_valid_name(""));
    CHECK(!tg_secrets_valid_name(NULL));
    CHECK(!tg_secrets_valid_name("9lives"));
    CHECK(!tg_secrets_valid_name("a-b"));
    CHECK(!tg_secrets_valid_name("a b"));
    CHECK(!tg_secrets_valid_name("a/b"));
    CHECK(!tg_secrets_valid_name("caf\xc3\xa9"));
}

static void test_key_created(void)
{
    tg_secrets *s = open_store();
    struct stat st;
    CHECK_INT_EQ(stat(key_path, &st), 0);
    CHECK_INT_EQ(st.st_mode & 07777, 0600);
    CHECK_INT_EQ(st.st_size, TG_SECRETS_KEY_BYTES);
    if (!on_postgres) {
        CHECK_INT_EQ(stat(where, &st), 0);
        CHECK_INT_EQ(st.st_mode & 077, 0);
    }
    tg_secrets_close(s);
}

static void test_round_trips(void)
{
    tg_secrets *s = open_store();
    tg_secrets_change ch = {0};
    tg_error err = {0};
    const char *token = "sk-live-0123456789abcdef";
    CHECK_INT_EQ(
        tg_secrets_put(s, "acme", "CRM_TOKEN", token, strlen(token), NULL, NULL, &ch, &err), 0);
    CHECK(ch.created);
    CHECK(ch.updated_at_ms > 1700000000000LL);
    CHECK(holds(s, "acme", "CRM_TOKEN", token, strlen(token)));

    /* Any bytes: NULs, high bytes, a trailing newline. */
    unsigned char bin[600];
    for (size_t i = 0; i < sizeof bin; i++)
        bin[i] = (unsigned char)(i * 7);
    bin[0] = 0;
    bin[sizeof bin - 1] = '\n';
    CHECK_INT_EQ(tg_secrets_put(s, "acme", "BLOB", bin, sizeof bin, NULL, NULL, &ch, NULL), 0);
    CHECK(holds(s, "acme", "BLOB", bin, sizeof bin));

    /* Replace. */
    CHECK_INT_EQ(tg_secrets_put(s, "acme", "CRM_TOKEN", "v2", 2, NULL, NULL, &ch, NULL), 0);
    CHECK(!ch.created);
    CHECK(holds(s, "acme", "CRM_TOKEN", "v2", 2));

    /* Sizes: 1 to 64 KiB. */
    unsigned char *big = malloc(TG_SECRETS_MAX_VALUE + 1);
    memset(big, 'z', TG_SECRETS_MAX_VALUE + 1);
    CHECK_INT_EQ(
        tg_secrets_put(s, "acme", "BIG", big, TG_SECRETS_MAX_VALUE, NULL, NULL, NULL, NULL), 0);
    CHECK(holds(s, "acme", "BIG", big, TG_SECRETS_MAX_VALUE));
    CHECK_INT_EQ(
        tg_secrets_put(s, "acme", "BIG", big, TG_SECRETS_MAX_VALUE + 1, NULL, NULL, NULL, &err),
        TG_EPAYLOAD_TOO_LARGE);
    CHECK(holds(s, "acme", "BIG", big, TG_SECRETS_MAX_VALUE));
    free(big);
    CHECK_INT_EQ(tg_secrets_put(s, "acme", "EMPTY", "", 0, NULL, NULL, NULL, &err),
                 TG_EINVALID_PARAMS);
    CHECK_INT_EQ(put(s, "acme", "no-dashes", "x"), TG_EINVALID_PARAMS);
    CHECK_INT_EQ(tg_secrets_put(s, "acme", "sk_oops value", "x", 1, NULL, NULL, NULL, &err),
                 TG_EINVALID_PARAMS);
    CHECK(strstr(err.message, "sk_oops") == NULL); /* a refused name is not echoed */
    CHECK_INT_EQ(put(s, "", "A", "x"), TG_EINVALID_PARAMS);

    /* Delete. */
    CHECK_INT_EQ(tg_secrets_delete(s, "acme", "BIG", NULL, NULL, NULL), 0);
    CHECK_INT_EQ(get_rc(s, "acme", "BIG"), TG_ENOT_FOUND);
    CHECK_INT_EQ(tg_secrets_delete(s, "acme", "BIG", NULL, NULL, &err), TG_ENOT_FOUND);
    CHECK_INT_EQ(get_rc(s, "acme", "NEVER_SET"), TG_ENOT_FOUND);

    /* Values survive a reopen. */
    tg_secrets_close(s);
    s = open_store();
    CHECK(holds(s, "acme", "CRM_TOKEN", "v2", 2));
    CHECK(holds(s, "acme", "BLOB", bin, sizeof bin));
    tg_secrets_close(s);
}

static void test_list_and_tenants(void)
{
    tg_secrets *s = open_store();
    CHECK_INT_EQ(put(s, "acme", "ZED", "list-value-zed"), 0);
    CHECK_INT_EQ(put(s, "acme", "ALPHA", "list-value-alpha"), 0);
    CHECK_INT_EQ(put(s, "globex", "CRM_TOKEN", "globex-own-token"), 0);

    json_t *list = NULL;
    CHECK_INT_EQ(tg_secrets_list(s, "acme", &list, NULL), 0);
    char *text = json_dumps(list, JSON_COMPACT);
    CHECK(strstr(text, "list-value") == NULL && strstr(text, "v2") == NULL);
    free(text);
    const char *want[] = {"ALPHA", "BLOB", "CRM_TOKEN", "ZED"};
    CHECK_INT_EQ(json_array_size(list), 4);
    for (size_t i = 0; i < json_array_size(list) && i < 4; i++) {
        json_t *item = json_array_get(list, i);
        CHECK_STR_EQ(json_string_value(json_object_get(item, "name")), want[i]);
        CHECK_INT_EQ(json_object_size(item), 2);
        const char *when = json_string_value(json_object_get(item, "updated_at"));
        CHECK(when && strlen(when) == 24 && when[10] == 'T' && when[19] == '.' && when[23] == 'Z');
    }
    json_decref(list);

    /* Tenants never see each other's secrets. */
    CHECK(holds(s, "globex", "CRM_TOKEN", "globex-own-token", 16));
    CHECK(holds(s, "acme", "CRM_TOKEN", "v2", 2));
    CHECK_INT_EQ(get_rc(s, "globex", "ZED"), TG_ENOT_FOUND);
    CHECK_INT_EQ(tg_secrets_delete(s, "globex", "ZED", NULL, NULL, NULL), TG_ENOT_FOUND);
    CHECK(holds(s, "acme", "ZED", "list-value-zed", 14));
    CHECK_INT_EQ(tg_secrets_list(s, "globex", &list, NULL), 0);
    CHECK_INT_EQ(json_array_size(list), 1);
    json_decref(list);
    CHECK_INT_EQ(tg_secrets_list(s, "initech", &list, NULL), 0);
    CHECK_INT_EQ(json_array_size(list), 0);
    json_decref(list);
    tg_secrets_close(s);

    char when[40];
    tg_secrets_format_time(1767323045678LL, when, sizeof when);
    CHECK_STR_EQ(when, "2026-01-02T03:04:05.678Z");
}

static bool holds_for(tg_secrets *s, const char *principal, const char *want)
{
    unsigned char *value = NULL;
    size_t len = 0;
    tg_error err = {0};
    int rc = tg_secrets_get_for(s, "umbrella", "CRM_TOKEN", principal, &value, &len, &err);
    if (rc != 0) fprintf(stderr, "get_for %s: %s\n", principal ? principal : "-", err.message);
    bool same = rc == 0 && len == strlen(want) && memcmp(value, want, len) == 0;
    tg_secrets_value_free(value, len);
    return same;
}

/* Copies the ciphertext and nonce of umbrella's CRM_TOKEN row of from
 * (NULL: the tenant's) over the row of to, as a tamperer would. */
static void move_row(const char *from, const char *to)
{
    tg_store *db = raw_store();
    if (!db) return;
    tg_stmt *st = NULL;
    if (from)
        CHECK_INT_EQ(
            tg_store_prepare(db, &st, store_failed, NULL,
                             "SELECT nonce, ciphertext FROM principal_secrets WHERE"
                             " tenant = 'umbrella' AND name = 'CRM_TOKEN' AND principal = ?1",
                             1, from),
            0);
    else
        CHECK_INT_EQ(tg_store_prepare(db, &st, store_failed, NULL,
                                      "SELECT nonce, ciphertext FROM secrets WHERE"
                                      " tenant = 'umbrella' AND name = 'CRM_TOKEN'",
                                      0),
                     0);
    CHECK_INT_EQ(tg_stmt_step(st, store_failed, NULL), 1);
    size_t nn = 0, cn = 0;
    const void *nb = tg_stmt_blob(st, 0, &nn);
    const void *cb = tg_stmt_blob(st, 1, &cn);
    unsigned char *nonce = malloc(nn), *cipher = malloc(cn);
    memcpy(nonce, nb, nn);
    memcpy(cipher, cb, cn);
    tg_stmt_finalize(st);
    CHECK_INT_EQ(tg_store_prepare(db, &st, store_failed, NULL,
                                  "UPDATE principal_secrets SET nonce = ?1, ciphertext = ?2"
                                  " WHERE tenant = 'umbrella' AND name = 'CRM_TOKEN' AND"
                                  " principal = ?3",
                                  0),
                 0);
    tg_stmt_bind_blob(st, 1, nonce, nn);
    tg_stmt_bind_blob(st, 2, cipher, cn);
    tg_stmt_bind_text(st, 3, to);
    CHECK_INT_EQ(tg_stmt_run(st, store_failed, NULL), 0);
    CHECK_INT_EQ(tg_stmt_changes(st), 1);
    tg_stmt_finalize(st);
    tg_store_close(db);
    free(nonce);
    free(cipher);
}

/* A name's tenant value and each principal's are separate rows: reading
 * one never answers another, deleting one leaves the others, a list shows
 * them all without values, and a ciphertext moved between them does not
 * decrypt. */
static void test_principals(void)
{
    tg_secrets *s = open_store();
    tg_secrets_change change;
    CHECK_INT_EQ(put(s, "umbrella", "CRM_TOKEN", "shared-tenant-token"), 0);
    CHECK_INT_EQ(tg_secrets_put_for(s, "umbrella", "CRM_TOKEN", "alice", "alice-own-token", 15,
                                    NULL, NULL, &change, NULL),
                 0);
    CHECK(change.created);
    CHECK_INT_EQ(tg_secrets_put_for(s, "umbrella", "CRM_TOKEN", "carol@example.com",
                                    "carol-own-token", 15, NULL, NULL, &change, NULL),
                 0);
    CHECK_INT_EQ(tg_secrets_put_for(s, "umbrella", "CRM_TOKEN", "alice", "alice-new-token", 15,
                                    NULL, NULL, &change, NULL),
                 0);
    CHECK(!change.created);
    CHECK(holds_for(s, "alice", "alice-new-token"));
    CHECK(holds_for(s, "carol@example.com", "carol-own-token"));
    CHECK(holds_for(s, NULL, "shared-tenant-token"));
    unsigned char *value = NULL;
    size_t len = 0;
    CHECK_INT_EQ(tg_secrets_get_for(s, "umbrella", "CRM_TOKEN", "bob", &value, &len, NULL),
                 TG_ENOT_FOUND);
    CHECK(value == NULL);
    /* Another tenant's principal of the same sub is another row. */
    CHECK_INT_EQ(tg_secrets_get_for(s, "acme", "CRM_TOKEN", "alice", &value, &len, NULL),
                 TG_ENOT_FOUND);
    CHECK_INT_EQ(tg_secrets_get_for(s, "umbrella", "OTHER", "alice", &value, &len, NULL),
                 TG_ENOT_FOUND);

    /* Bad principals are refused, never stored. */
    static const char *const bad[] = {"", "line\nbreak", "tab\there"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK(!tg_secrets_valid_principal(bad[i]));
        CHECK_INT_EQ(
            tg_secrets_put_for(s, "umbrella", "CRM_TOKEN", bad[i], "x", 1, NULL, NULL, NULL, NULL),
            TG_EINVALID_PARAMS);
    }
    char longest[TG_SECRETS_MAX_PRINCIPAL + 2];
    memset(longest, 'p', sizeof longest - 1);
    longest[sizeof longest - 1] = '\0';
    CHECK(!tg_secrets_valid_principal(longest));
    longest[TG_SECRETS_MAX_PRINCIPAL] = '\0';
    CHECK(tg_secrets_valid_principal(longest));

    json_t *list = NULL;
    CHECK_INT_EQ(tg_secrets_list(s, "umbrella", &list, NULL), 0);
    char *text = json_dumps(list, JSON_COMPACT);
    CHECK(strstr(text, "-token") == NULL);
    free(text);
    CHECK_INT_EQ(json_array_size(list), 3);
    static const char *const principals[] = {NULL, "alice", "carol@example.com"};
    for (size_t i = 0; i < json_array_size(list) && i < 3; i++) {
        json_t *item = json_array_get(list, i);
        CHECK_STR_EQ(json_string_value(json_object_get(item, "name")), "CRM_TOKEN");
        const char *p = json_string_value(json_object_get(item, "principal"));
        CHECK((p == NULL) == (principals[i] == NULL));
        if (p && principals[i]) CHECK_STR_EQ(p, principals[i]);
        CHECK(json_object_get(item, "updated_at") != NULL);
    }
    json_decref(list);

    /* The values redacted from a call's logged arguments: the tenant's and
     * the caller's own, not other principals'. */
    char **values = NULL;
    size_t n = 0;
    CHECK_INT_EQ(tg_secrets_values(s, "umbrella", "alice", &values, &n, NULL), 0);
    CHECK_INT_EQ(n, 2);
    bool seen_alice = false, seen_carol = false, seen_tenant = false;
    for (size_t i = 0; i < n; i++) {
        seen_alice = seen_alice || strcmp(values[i], "alice-new-token") == 0;
        seen_carol = seen_carol || strcmp(values[i], "carol-own-token") == 0;
        seen_tenant = seen_tenant || strcmp(values[i], "shared-tenant-token") == 0;
    }
    CHECK(seen_alice && seen_tenant && !seen_carol);
    tg_secrets_values_free(values, n);
    CHECK_INT_EQ(tg_secrets_values(s, "umbrella", NULL, &values, &n, NULL), 0);
    CHECK_INT_EQ(n, 1);
    if (n == 1) CHECK_STR_EQ(values[0], "shared-tenant-token");
    tg_secrets_values_free(values, n);

    /* Alice's ciphertext in Carol's row, or the tenant's in Alice's, does
     * not decrypt: neither answers as the other. */
    move_row("alice", "carol@example.com");
    CHECK_INT_EQ(
        tg_secrets_get_for(s, "umbrella", "CRM_TOKEN", "carol@example.com", &value, &len, NULL),
        TG_EINTERNAL);
    move_row(NULL, "alice");
    CHECK_INT_EQ(tg_secrets_get_for(s, "umbrella", "CRM_TOKEN", "alice", &value, &len, NULL),
                 TG_EINTERNAL);
    CHECK(value == NULL);

    CHECK_INT_EQ(tg_secrets_delete_for(s, "umbrella", "CRM_TOKEN", "alice", NULL, NULL, NULL), 0);
    CHECK_INT_EQ(tg_secrets_delete_for(s, "umbrella", "CRM_TOKEN", "alice", NULL, NULL, NULL),
                 TG_ENOT_FOUND);
    CHECK_INT_EQ(tg_secrets_delete_for(s, "umbrella", "CRM_TOKEN", "bob", NULL, NULL, NULL),
                 TG_ENOT_FOUND);
    CHECK(holds_for(s, NULL, "shared-tenant-token"));
    CHECK_INT_EQ(tg_secrets_delete(s, "umbrella", "CRM_TOKEN", NULL, NULL, NULL), 0);
    CHECK_INT_EQ(tg_secrets_list(s, "umbrella", &list, NULL), 0);
    CHECK_INT_EQ(json_array_size(list), 1);
    json_decref(list);
    tg_secrets_close(s);
}

/* A store made before per-principal values (schema version 1: no
 * principal_secrets table) opens unchanged: its values read as before, and
 * principals' can be added. */
static void test_older_store(void)
{
    tg_secrets *s = open_store();
    CHECK_INT_EQ(put(s, "initech", "OLD_TOKEN", "older-store-value"), 0);
    tg_secrets_close(s);
    sql(on_postgres ? "DROP TABLE principal_secrets;"
                      " UPDATE public.toolgate_schema SET version = 1 WHERE component = 'secrets'"
                    : "DROP TABLE principal_secrets; PRAGMA user_version = 1");
    s = open_store();
    if (!s) return;
    unsigned char *value = NULL;
    size_t len = 0;
    CHECK_INT_EQ(tg_secrets_get(s, "initech", "OLD_TOKEN", &value, &len, NULL), 0);
    CHECK(value && len == 17 && memcmp(value, "older-store-value", 17) == 0);
    tg_secrets_value_free(value, len);
    CHECK_INT_EQ(tg_secrets_put_for(s, "initech", "OLD_TOKEN", "alice", "alice-on-old", 12, NULL,
                                    NULL, NULL, NULL),
                 0);
    CHECK_INT_EQ(tg_secrets_get_for(s, "initech", "OLD_TOKEN", "alice", &value, &len, NULL), 0);
    CHECK(value && len == 12 && memcmp(value, "alice-on-old", 12) == 0);
    tg_secrets_value_free(value, len);
    CHECK_INT_EQ(tg_secrets_delete(s, "initech", "OLD_TOKEN", NULL, NULL, NULL), 0);
    CHECK_INT_EQ(tg_secrets_delete_for(s, "initech", "OLD_TOKEN", "alice", NULL, NULL, NULL), 0);
    tg_secrets_close(s);
}

static const char canary[] = "PLAINTEXT-CANARY-7c1f9e";

static void test_no_plaintext_on_disk(void)
{
    char wal[320];
    snprintf(wal, sizeof wal, "%s-wal", where);
    tg_secrets *s = open_store();
    CHECK_INT_EQ(put(s, "acme", "CANARY", canary), 0);
    CHECK_INT_EQ(put(s, "acme", "CANARY2", canary), 0);
    CHECK(file_contains(wal, "CANARY2", 7)); /* the scan sees what the WAL holds */
    CHECK(!file_contains(where, canary, strlen(canary)));
    CHECK(!file_contains(wal, canary, strlen(canary)));
    tg_secrets_close(s); /* checkpoints the WAL into the file */
    CHECK(file_contains(where, "CANARY2", 7));
    CHECK(!file_contains(where, canary, strlen(canary)));
    CHECK(!file_contains(wal, canary, strlen(canary)));
}

/* PostgreSQL's files are the server's: no row, as the server returns it,
 * holds the plaintext. */
static void test_no_plaintext_in_rows(void)
{
    tg_secrets *s = open_store();
    CHECK_INT_EQ(put(s, "acme", "CANARY", canary), 0);
    tg_secrets_close(s);
    tg_store *db = raw_store();
    if (!db) return;
    tg_stmt *st = NULL;
    CHECK_INT_EQ(tg_store_prepare(db, &st, store_failed, NULL,
                                  "SELECT name, nonce, ciphertext FROM secrets", 0),
                 0);
    int rows = 0, canaries = 0, leaks = 0;
    while (tg_stmt_step(st, store_failed, NULL) == 1) {
        rows++;
        canaries += strcmp(tg_stmt_text(st, 0), "CANARY") == 0;
        for (int col = 1; col <= 2; col++) {
            size_t n = 0;
            const void *blob = tg_stmt_blob(st, col, &n);
            leaks += memmem(blob, n, canary, strlen(canary)) != NULL;
        }
    }
    tg_stmt_finalize(st);
    tg_store_close(db);
    CHECK(rows > 1);
    CHECK_INT_EQ(canaries, 1);
    CHECK_INT_EQ(leaks, 0);
}

static void test_tampering(void)
{
    tg_secrets *s = open_store();
    CHECK_INT_EQ(put(s, "acme", "FIRST", "first-value"), 0);
    CHECK_INT_EQ(put(s, "acme", "SECOND", "second-value"), 0);
    CHECK_INT_EQ(put(s, "globex", "FIRST", "globex-first"), 0);
    tg_secrets_close(s);

    /* Swap two rows' ciphertexts (with their nonces): both fail. */
    sql("CREATE TEMP TABLE t AS SELECT name, nonce, ciphertext FROM secrets"
        "  WHERE tenant = 'acme' AND name IN ('FIRST', 'SECOND');"
        "UPDATE secrets SET (nonce, ciphertext) = (SELECT nonce, ciphertext FROM t"
        "  WHERE t.name = CASE secrets.name WHEN 'FIRST' THEN 'SECOND' ELSE 'FIRST' END)"
        "  WHERE tenant = 'acme' AND name IN ('FIRST', 'SECOND');");
    s = open_store();
    CHECK_INT_EQ(get_rc(s, "acme", "FIRST"), TG_EINTERNAL);
    CHECK_INT_EQ(get_rc(s, "acme", "SECOND"), TG_EINTERNAL);
    CHECK(holds(s, "globex", "FIRST", "globex-first", 12));
    tg_secrets_close(s);

    /* The same name moved from one tenant to another. */
    sql("UPDATE secrets SET (nonce, ciphertext) = (SELECT nonce, ciphertext FROM secrets"
        "  WHERE tenant = 'globex' AND name = 'FIRST') WHERE tenant = 'acme' AND name = 'FIRST'");
    s = open_store();
    tg_error err = {0};
    unsigned char *v = NULL;
    size_t len = 0;
    CHECK_INT_EQ(tg_secrets_get(s, "acme", "FIRST", &v, &len, &err), TG_EINTERNAL);
    CHECK(v == NULL);
    CHECK(strstr(err.message, "globex-first") == NULL);
    CHECK(holds(s, "globex", "FIRST", "globex-first", 12));

    /* One bit of a ciphertext, or a truncated one. */
    CHECK_INT_EQ(put(s, "acme", "FLIP", "flip-value"), 0);
    CHECK_INT_EQ(put(s, "acme", "SHORT", "short-value"), 0);
    tg_secrets_close(s);
    tamper("FLIP", false);
    tamper("SHORT", true);
    s = open_store();
    CHECK_INT_EQ(get_rc(s, "acme", "FLIP"), TG_EINTERNAL);
    CHECK_INT_EQ(get_rc(s, "acme", "SHORT"), TG_EINTERNAL);
    tg_secrets_delete(s, "acme", "FLIP", NULL, NULL, NULL);
    tg_secrets_delete(s, "acme", "SHORT", NULL, NULL, NULL);
    tg_secrets_close(s);
}

static void test_wrong_key(void)
{
    tg_secrets *s = open_store();
    CHECK_INT_EQ(put(s, "acme", "UNDER_KEY_A", "written-under-key-a"), 0);
    tg_secrets_close(s);
    char saved[320];
    snprintf(saved, sizeof saved, "%s.saved", key_path);
    CHECK_INT_EQ(rename(key_path, saved), 0);

    /* Another key: the store refuses to open. */
    write_key(key_path, TG_SECRETS_KEY_BYTES, 0600, 0x5a);
    tg_error err = {0};
    CHECK_INT_EQ(tg_secrets_open(where, key_path, true, &s, &err), TG_EINTERNAL);
    CHECK(s == NULL);
    CHECK(strstr(err.message, "not the key") != NULL);
    if (on_postgres) CHECK(strstr(err.message, "://") == NULL); /* a URL may hold a password */

    /* The key file lost: no new key is made over secrets written under one. */
    unlink(key_path);
    CHECK_INT_EQ(tg_secrets_open(where, key_path, true, &s, &err), TG_EINTERNAL);
    CHECK(strstr(err.message, "missing") != NULL);
    CHECK(access(key_path, F_OK) != 0);

    /* Without the key check (a store from before it), the rows still refuse
     * the wrong key one by one. */
    write_key(key_path, TG_SECRETS_KEY_BYTES, 0600, 0x5a);
    sql("DELETE FROM meta");
    CHECK_INT_EQ(tg_secrets_open(where, key_path, false, &s, &err), 0);
    CHECK_INT_EQ(get_rc(s, "acme", "UNDER_KEY_A"), TG_EINTERNAL);
    tg_secrets_close(s);

    /* The right key again (its check is put back by hand). */
    sql("DELETE FROM meta");
    CHECK_INT_EQ(rename(saved, key_path), 0);
    s = open_store();
    CHECK(holds(s, "acme", "UNDER_KEY_A", "written-under-key-a", 19));
    tg_secrets_close(s);
}

static void test_key_file_checks(void)
{
    char other_key[320];
    snprintf(other_key, sizeof other_key, "%s/other.key", base);
    tg_secrets *s = NULL;
    tg_error err = {0};

    write_key(other_key, TG_SECRETS_KEY_BYTES, 0644, 1);
    CHECK_INT_EQ(tg_secrets_open(other_store, other_key, true, &s, &err), TG_EINTERNAL);
    CHECK(strstr(err.message, "0644") != NULL);
    write_key(other_key, TG_SECRETS_KEY_BYTES, 0640, 1);
    CHECK_INT_EQ(tg_secrets_open(other_store, other_key, true, &s, &err), TG_EINTERNAL);
    write_key(other_key, TG_SECRETS_KEY_BYTES - 1, 0600, 1);
    CHECK_INT_EQ(tg_secrets_open(other_store, other_key, true, &s, &err), TG_EINTERNAL);
    CHECK(strstr(err.message, "exactly 32 bytes") != NULL);
    unlink(other_key);
    CHECK_INT_EQ(tg_secrets_open(other_store, other_key, false, &s, &err), TG_EINTERNAL);
    CHECK(access(other_key, F_OK) != 0); /* a configured key is never made */
    mkdir(other_key, 0700);
    CHECK_INT_EQ(tg_secrets_open(other_store, other_key, false, &s, &err), TG_EINTERNAL);
    rmdir(other_key);

    /* A key provisioned by the operator (0400 is fine) is used as it is. */
    write_key(other_key, TG_SECRETS_KEY_BYTES, 0400, 7);
    CHECK_INT_EQ(tg_secrets_open(other_store, other_key, false, &s, &err), 0);
    CHECK_INT_EQ(put(s, "acme", "X", "x-value"), 0);
    tg_secrets_close(s);
}

/* ---- confirmation ---------------------------------------------------- */

typedef struct confirm_state {
    int answer, calls;
} confirm_state;

static int confirm(void *userdata)
{
    confirm_state *c = userdata;
    c->calls++;
    return c->answer;
}

static void test_confirm(void)
{
    tg_secrets *s = open_store();
    confirm_state c = {.answer = TG_EAUDIT_UNAVAILABLE};
    tg_error err = {0};
    CHECK_INT_EQ(tg_secrets_put(s, "acme", "NEW", "n", 1, confirm, &c, NULL, &err),
                 TG_EAUDIT_UNAVAILABLE);
    CHECK_INT_EQ(err.code, TG_EAUDIT_UNAVAILABLE);
    CHECK_INT_EQ(get_rc(s, "acme", "NEW"), TG_ENOT_FOUND);
    CHECK_INT_EQ(put(s, "acme", "OLD", "old-value"), 0);
    CHECK_INT_EQ(tg_secrets_put(s, "acme", "OLD", "new-value", 9, confirm, &c, NULL, NULL),
                 TG_EAUDIT_UNAVAILABLE);
    CHECK(holds(s, "acme", "OLD", "old-value", 9));
    CHECK_INT_EQ(tg_secrets_delete(s, "acme", "OLD", confirm, &c, NULL), TG_EAUDIT_UNAVAILABLE);
    CHECK(holds(s, "acme", "OLD", "old-value", 9));
    CHECK_INT_EQ(c.calls, 3);
    CHECK_INT_EQ(tg_secrets_delete(s, "acme", "GONE", confirm, &c, NULL), TG_ENOT_FOUND);
    CHECK_INT_EQ(c.calls, 3); /* nothing to confirm */

    c.answer = 0;
    CHECK_INT_EQ(tg_secrets_put(s, "acme", "OLD", "new-value", 9, confirm, &c, NULL, NULL), 0);
    CHECK(holds(s, "acme", "OLD", "new-value", 9));
    CHECK_INT_EQ(tg_secrets_delete(s, "acme", "OLD", confirm, &c, NULL), 0);
    CHECK_INT_EQ(get_rc(s, "acme", "OLD"), TG_ENOT_FOUND);
    CHECK_INT_EQ(c.calls, 5);
    tg_secrets_close(s);
}

/* ---- threads --------------------------------------------------------- */

typedef struct reader {
    tg_secrets *s;
    int rounds, bad;
    char seen[8]; /* the last value read */
    pthread_t thread;
} reader;

static void *read_loop(void *arg)
{
    reader *r = arg;
    for (int i = 0; i < r->rounds; i++) {
        unsigned char *v = NULL;
        size_t len = 0;
        if (tg_secrets_get(r->s, "acme", "ROTATING", &v, &len, NULL) != 0 || len != 7 ||
            (memcmp(v, "value-a", 7) != 0 && memcmp(v, "value-b", 7) != 0))
            r->bad++;
        else
            memcpy(r->seen, v, 8);
        tg_secrets_value_free(v, len);
    }
    return NULL;
}

/* A read while a change waits in its confirmation (the audit log's fsync):
 * it answers at once, with the value before the change. */
static int read_during_confirm(void *userdata)
{
    reader *r = userdata;
    r->rounds = 1;
    r->bad = 0;
    pthread_create(&r->thread, NULL, read_loop, r);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;
    int joined = pthread_timedjoin_np(r->thread, NULL, &until);
    CHECK_INT_EQ(joined, 0);
    if (joined != 0) {
        fprintf(stderr, "a read waited for a change: giving up\n");
        exit(1);
    }
    return 0;
}

static void test_threads(void)
{
    tg_secrets *s = open_store();
    CHECK_INT_EQ(put(s, "acme", "ROTATING", "value-a"), 0);
    reader readers[4];
    for (int i = 0; i < 4; i++) {
        readers[i] = (reader){.s = s, .rounds = 2000};
        pthread_create(&readers[i].thread, NULL, read_loop, &readers[i]);
    }
    for (int i = 0; i < 200; i++)
        CHECK_INT_EQ(put(s, "acme", "ROTATING", i % 2 ? "value-a" : "value-b"), 0);
    for (int i = 0; i < 4; i++) {
        pthread_join(readers[i].thread, NULL);
        CHECK_INT_EQ(readers[i].bad, 0);
    }

    reader during = {.s = s};
    CHECK_INT_EQ(tg_secrets_put(s, "acme", "ROTATING", "value-b", 7, read_during_confirm, &during,
                                NULL, NULL),
                 0);
    CHECK_INT_EQ(during.bad, 0);
    CHECK_STR_EQ(during.seen, "value-a");
    CHECK(holds(s, "acme", "ROTATING", "value-b", 7));
    tg_secrets_close(s);
}

/* ---- replicas -------------------------------------------------------- */

typedef struct replica {
    const char *store;
    char key[320];
    int rc;
    char message[256];
    pthread_t thread;
} replica;

static void *start_replica(void *arg)
{
    replica *r = arg;
    tg_secrets *s = NULL;
    tg_error err = {0};
    r->rc = tg_secrets_open(r->store, r->key, true, &s, &err);
    snprintf(r->message, sizeof r->message, "%s", r->rc ? err.message : "");
    tg_secrets_close(s);
    return NULL;
}

/* Gateways with data dirs of their own start at once on one new store (the
 * replicas of a PostgreSQL deployment), each making a key: the first key
 * check written stands, and every other gateway is refused and keeps no key
 * of its own, so it is told to copy the first one's rather than write
 * secrets nobody else can read. */
static void test_replicas_start(const char *store)
{
    enum { N = 4 };
    replica r[N];
    for (int i = 0; i < N; i++) {
        r[i] = (replica){.store = store};
        snprintf(r[i].key, sizeof r[i].key, "%s/replica%d.key", base, i);
        pthread_create(&r[i].thread, NULL, start_replica, &r[i]);
    }
    int opened = 0, first = -1;
    for (int i = 0; i < N; i++) {
        pthread_join(r[i].thread, NULL);
        if (r[i].rc == 0) {
            opened++;
            first = i;
            continue;
        }
        bool told = strstr(r[i].message, "missing") || strstr(r[i].message, "another gateway");
        if (!told || r[i].rc != TG_EINTERNAL) fprintf(stderr, "replica %d: %s\n", i, r[i].message);
        CHECK_INT_EQ(r[i].rc, TG_EINTERNAL);
        CHECK(told);
        CHECK(access(r[i].key, F_OK) != 0);
    }
    CHECK_INT_EQ(opened, 1);
    if (first < 0) return;
    /* A copy of the first key opens the store for any of them. */
    char copy[330];
    snprintf(copy, sizeof copy, "%s.copy", r[first].key);
    CHECK_INT_EQ(link(r[first].key, copy), 0);
    tg_secrets *s = NULL;
    tg_error err = {0};
    CHECK_INT_EQ(tg_secrets_open(store, copy, false, &s, &err), 0);
    tg_secrets_close(s);
}

/* Every case against one backend: store and other are two new stores (paths
 * in base, or URLs of empty databases), and replicas a third in PostgreSQL. */
static void run(const char *store, const char *other, const char *replicas)
{
    where = store;
    other_store = other;
    on_postgres = tg_store_is_url(store);
    snprintf(key_path, sizeof key_path, "%s/secrets.key", base);

    test_key_created();
    test_round_trips();
    test_list_and_tenants();
    test_principals();
    test_older_store();
    if (on_postgres)
        test_no_plaintext_in_rows();
    else
        test_no_plaintext_on_disk();
    test_tampering();
    test_wrong_key();
    test_key_file_checks();
    test_confirm();
    test_threads();
    /* Replicas share PostgreSQL; a sqlite file belongs to one gateway. */
    if (on_postgres) test_replicas_start(replicas);
}

static bool make_base(void)
{
    snprintf(base, sizeof base, "/tmp/tg_secrets_XXXXXX");
    if (mkdtemp(base)) return true;
    perror("mkdtemp");
    return false;
}

int main(void)
{
    test_names();

    if (!make_base()) return 2;
    char store[300], other[300];
    snprintf(store, sizeof store, "%s/secrets.db", base);
    snprintf(other, sizeof other, "%s/other.db", base);
    run(store, other, NULL);
    nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);

    /* The same on PostgreSQL, with the key files in a new folder. */
    char *url = pgtest_database("test_secrets");
    char *other_url = url ? pgtest_database("test_secrets_other") : NULL;
    char *replicas_url = other_url ? pgtest_database("test_secrets_replicas") : NULL;
    CHECK(!url || (other_url && replicas_url));
    if (replicas_url) {
        if (!make_base()) return 2;
        run(url, other_url, replicas_url);
        nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    }
    free(url);
    free(other_url);
    free(replicas_url);
    return check_report();
}
