/* Webhook triggers (gateway/triggers/hooks.h): the signature header, HMAC
 * verification, the time window, JSON Pointers and mappings, and the store
 * (secrets sealed at rest, tenant scoping, replays refused across a
 * restart), on sqlite and then on PostgreSQL (when TOOLGATE_TEST_POSTGRES
 * gives a cluster), where two handles on one database stand for replicas
 * racing to spend one signature. The HMAC vectors were computed apart from the code under test:
 *   printf '%s' '1767225600.{"a":1}' | openssl dgst -sha256 -hmac "$SECRET"
 * and the same with Python's hmac module. */
#include "gateway/triggers/hooks.h"

#include "check.h"
#include "pgtest.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SECRET "whsec_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define T_TEXT "1767225600"
#define T      INT64_C(1767225600)
#define BODY   "{\"a\":1}"
#define MAC    "c5cff19331a791df4158b39a95ad1c59b81b8b43c1e1d6365d2bb333a4a4f567"
/* The same secret and t over an empty body. */
#define MAC_EMPTY "4fd23912b406bc4b4e6271e3e19d2adb18a6797f462c4936df11258b2eaead84"
#define OTHER_MAC "00000000000000000000000000000000000000000000000000000000000000ff"

static int parse(const char *header)
{
    tg_hooks_signature sig;
    tg_error err = {0};
    int rc = tg_hooks_parse_signature(header, &sig, &err);
    if (rc) CHECK(err.message[0] != '\0');
    return rc;
}

static void test_parse(void)
{
    tg_hooks_signature sig;
    tg_error err;
    CHECK_INT_EQ(tg_hooks_parse_signature("t=" T_TEXT ",v1=" MAC, &sig, &err), 0);
    CHECK_INT_EQ(sig.t, T);
    CHECK_STR_EQ(sig.t_text, T_TEXT);
    CHECK_INT_EQ(sig.nv1, 1);
    CHECK_INT_EQ(sig.v1[0][0], 0xc5);
    CHECK_INT_EQ(sig.v1[0][31], 0x67);

    /* Order, spaces around items, upper-case hex, several v1, other schemes. */
    CHECK_INT_EQ(
        tg_hooks_parse_signature(" v1=" OTHER_MAC " , t=" T_TEXT ",\tv0=abc, v1=" MAC, &sig, &err),
        0);
    CHECK_INT_EQ(sig.nv1, 2);
    CHECK_INT_EQ(parse("t=5,v1=C5CFF19331A791DF4158B39A95AD1C59B81B8B43C1E1D6365D2BB333A4A4F567"),
                 0);
    CHECK_INT_EQ(parse("t=0,v1=" MAC), 0);

    /* Garbage. */
    CHECK_INT_EQ(parse(NULL), TG_EUNAUTHORIZED);
    CHECK_INT_EQ(parse(""), TG_EUNAUTHORIZED);
    CHECK_INT_EQ(parse("garbage"), TG_EUNAUTHORIZED);
    CHECK_INT_EQ(parse("t=" T_TEXT), TG_EUNAUTHORIZED);
    CHECK_INT_EQ(parse("v1=" MAC), TG_EUNAUTHORIZED);
    CHECK_INT_EQ(parse("t=" T_TEXT ",t=" T_TEXT ",v1=" MAC), TG_EUNAUTHORIZED);
    CHECK_INT_EQ(parse("t=0" T_TEXT ",v1=" MAC), TG_EUNAUTHORIZED);
    CHECK_INT_EQ(parse("t=-1,v1=" MAC), TG_EUNAUTHORIZED);
    CHECK_INT_EQ(parse("t=+1,v1=" MAC), TG_EUNAUTHORIZED);
    CHECK_INT_EQ(parse("t=1.5,v1=" MAC), TG_EUNAUTHORIZED);
    CHECK_INT_EQ(parse("t=,v1=" MAC), TG_EUNAUTHORIZED);
    CHECK_INT_EQ(parse("t=1234567890123456789,v1=" MAC), TG_EUNAUTHORIZED); /* 19 digits */
    CHECK_INT_EQ(parse("t=" T_TEXT ",v1=" MAC "0"), TG_EUNAUTHORIZED);
    CHECK_INT_EQ(parse("t=" T_TEXT ",v1=c5cf"), TG_EUNAUTHORIZED);
    CHECK_INT_EQ(
        parse("t=" T_TEXT ",v1=g5cff19331a791df4158b39a95ad1c59b81b8b43c1e1d6365d2bb333a4a4f567"),
        TG_EUNAUTHORIZED);
    CHECK_INT_EQ(parse("t=" T_TEXT ",v1=" MAC ","), TG_EUNAUTHORIZED);
    CHECK_INT_EQ(parse("t=" T_TEXT ",,v1=" MAC), TG_EUNAUTHORIZED);
    CHECK_INT_EQ(parse("t=" T_TEXT ",v1=" MAC ",=x"), TG_EUNAUTHORIZED);
    CHECK_INT_EQ(parse("t=" T_TEXT ",v1=" MAC ",V2=x"), TG_EUNAUTHORIZED);
    CHECK_INT_EQ(parse("t=" T_TEXT ",v1=" MAC ",v2="), TG_EUNAUTHORIZED);
    CHECK_INT_EQ(parse("t=" T_TEXT ",v1 =" MAC), TG_EUNAUTHORIZED);
    CHECK_INT_EQ(parse("t=" T_TEXT ",v1=" MAC "\n"), TG_EUNAUTHORIZED);
    CHECK_INT_EQ(parse("t=" T_TEXT ",v1=" MAC ",x=\xc3\xa9"), TG_EUNAUTHORIZED);

    /* Bounds: eight v1 pass, nine do not; the header's length. */
    char many[2048] = "t=" T_TEXT;
    for (int i = 0; i < 8; i++)
        strncat(many, ",v1=" MAC, sizeof many - strlen(many) - 1);
    CHECK_INT_EQ(parse(many), 0);
    strncat(many, ",v1=" MAC, sizeof many - strlen(many) - 1);
    CHECK_INT_EQ(parse(many), TG_EUNAUTHORIZED);
    char longest[TG_HOOKS_MAX_HEADER + 2];
    int n = snprintf(longest, sizeof longest, "t=" T_TEXT ",v1=" MAC ",x=");
    memset(longest + n, 'a', TG_HOOKS_MAX_HEADER - (size_t)n);
    longest[TG_HOOKS_MAX_HEADER] = '\0';
    CHECK_INT_EQ(parse(longest), 0);
    longest[TG_HOOKS_MAX_HEADER] = 'a';
    longest[TG_HOOKS_MAX_HEADER + 1] = '\0';
    CHECK_INT_EQ(parse(longest), TG_EUNAUTHORIZED);
}

static void test_verify(void)
{
    tg_hooks_signature sig;
    tg_error err;
    CHECK_INT_EQ(tg_hooks_parse_signature("t=" T_TEXT ",v1=" MAC, &sig, &err), 0);
    CHECK(tg_hooks_verify(SECRET, &sig, BODY, strlen(BODY)));
    CHECK(!tg_hooks_verify(SECRET, &sig, "{\"a\":2}", strlen(BODY)));
    CHECK(!tg_hooks_verify(SECRET, &sig, BODY, strlen(BODY) - 1));
    CHECK(!tg_hooks_verify(SECRET "0", &sig, BODY, strlen(BODY)));
    CHECK(!tg_hooks_verify(NULL, &sig, BODY, strlen(BODY)));
    /* The t is part of the message. */
    CHECK_INT_EQ(tg_hooks_parse_signature("t=1767225601,v1=" MAC, &sig, &err), 0);
    CHECK(!tg_hooks_verify(SECRET, &sig, BODY, strlen(BODY)));
    /* One matching v1 among others is enough. */
    CHECK_INT_EQ(tg_hooks_parse_signature("t=" T_TEXT ",v1=" OTHER_MAC ",v1=" MAC, &sig, &err), 0);
    CHECK(tg_hooks_verify(SECRET, &sig, BODY, strlen(BODY)));
    CHECK_INT_EQ(tg_hooks_parse_signature("t=" T_TEXT ",v1=" MAC_EMPTY, &sig, &err), 0);
    CHECK(tg_hooks_verify(SECRET, &sig, "", 0));
    CHECK(!tg_hooks_verify(SECRET, &sig, BODY, strlen(BODY)));
}

static void test_window(void)
{
    CHECK(tg_hooks_in_window(T, T));
    CHECK(tg_hooks_in_window(T, T + 300));
    CHECK(!tg_hooks_in_window(T, T + 301));
    CHECK(tg_hooks_in_window(T, T - 300));
    CHECK(!tg_hooks_in_window(T, T - 301));
    CHECK(!tg_hooks_in_window(0, T));
    CHECK(!tg_hooks_in_window(INT64_C(999999999999999999), T));
}

static json_t *load(const char *text)
{
    json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (!v) {
        fprintf(stderr, "bad test JSON: %s\n", text);
        abort();
    }
    return v;
}

static void test_pointer(void)
{
    CHECK(tg_hooks_valid_pointer(""));
    CHECK(tg_hooks_valid_pointer("/"));
    CHECK(tg_hooks_valid_pointer("/a/b~0c~1d"));
    CHECK(!tg_hooks_valid_pointer("a"));
    CHECK(!tg_hooks_valid_pointer("#/a"));
    CHECK(!tg_hooks_valid_pointer("/a~"));
    CHECK(!tg_hooks_valid_pointer("/a~2"));
    CHECK(!tg_hooks_valid_pointer(NULL));

    json_t *doc = load("{\"data\": {\"object\": {\"email\": \"a@b.c\", \"id\": 42,"
                       " \"tags\": [\"x\", \"y\"]}},"
                       " \"a/b\": 1, \"m~n\": 2, \"~1\": 3, \"\": 4, \"n\": null}");
    CHECK(tg_hooks_resolve(doc, "") == doc);
    CHECK_STR_EQ(json_string_value(tg_hooks_resolve(doc, "/data/object/email")), "a@b.c");
    CHECK_INT_EQ(json_integer_value(tg_hooks_resolve(doc, "/data/object/id")), 42);
    CHECK_STR_EQ(json_string_value(tg_hooks_resolve(doc, "/data/object/tags/1")), "y");
    CHECK_INT_EQ(json_integer_value(tg_hooks_resolve(doc, "/a~1b")), 1);
    CHECK_INT_EQ(json_integer_value(tg_hooks_resolve(doc, "/m~0n")), 2);
    CHECK_INT_EQ(json_integer_value(tg_hooks_resolve(doc, "/~01")), 3); /* "~1", not "/" */
    CHECK_INT_EQ(json_integer_value(tg_hooks_resolve(doc, "/")), 4);
    CHECK(json_is_null(tg_hooks_resolve(doc, "/n")));
    CHECK(tg_hooks_resolve(doc, "/data/object/tags/2") == NULL);
    CHECK(tg_hooks_resolve(doc, "/data/object/tags/-") == NULL);
    CHECK(tg_hooks_resolve(doc, "/data/object/tags/01") == NULL);
    CHECK(tg_hooks_resolve(doc, "/data/object/tags/+1") == NULL);
    CHECK(tg_hooks_resolve(doc, "/data/object/tags/99999999999999999999") == NULL);
    CHECK(tg_hooks_resolve(doc, "/data/missing") == NULL);
    CHECK(tg_hooks_resolve(doc, "/data/object/email/x") == NULL);
    CHECK(tg_hooks_resolve(doc, "/n/x") == NULL);
    CHECK(tg_hooks_resolve(doc, "data") == NULL);
    json_decref(doc);

    json_t *arr = load("[{\"k\": [10, 20]}]");
    CHECK_INT_EQ(json_integer_value(tg_hooks_resolve(arr, "/0/k/0")), 10);
    CHECK(tg_hooks_resolve(arr, "/k") == NULL);
    json_decref(arr);
}

static int validate(const char *text)
{
    json_t *m = load(text);
    tg_error err = {0};
    int rc = tg_hooks_validate_mapping(m, &err);
    json_decref(m);
    return rc;
}

static void test_mapping(void)
{
    CHECK_INT_EQ(validate("{}"), 0);
    CHECK_INT_EQ(validate("{\"email\": \"/data/object/email\", \"all\": \"\"}"), 0);
    CHECK_INT_EQ(validate("[]"), TG_EBAD_REQUEST);
    CHECK_INT_EQ(validate("{\"email\": 1}"), TG_EBAD_REQUEST);
    CHECK_INT_EQ(validate("{\"email\": \"data/email\"}"), TG_EBAD_REQUEST);
    CHECK_INT_EQ(validate("{\"email\": \"/a~2\"}"), TG_EBAD_REQUEST);
    CHECK_INT_EQ(validate("{\"email\": \"/a\\u0000b\"}"), TG_EBAD_REQUEST);
    CHECK_INT_EQ(validate("{\"\": \"/a\"}"), TG_EBAD_REQUEST);
    json_t *nul_key = json_object(); /* the parser refuses such keys; a caller might not */
    json_object_setn_new(nul_key, "a\0b", 3, json_string("/a"));
    CHECK_INT_EQ(tg_hooks_validate_mapping(nul_key, NULL), TG_EBAD_REQUEST);
    json_decref(nul_key);
    json_t *big = json_object();
    for (int i = 0; i < TG_HOOKS_MAX_MAPPING; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", i);
        json_object_set_new(big, key, json_string("/x"));
    }
    CHECK_INT_EQ(tg_hooks_validate_mapping(big, NULL), 0);
    json_object_set_new(big, "one_more", json_string("/x"));
    CHECK_INT_EQ(tg_hooks_validate_mapping(big, NULL), TG_EBAD_REQUEST);
    json_decref(big);
    char *long_pointer = calloc(TG_HOOKS_MAX_POINTER + 2, 1);
    memset(long_pointer, 'a', TG_HOOKS_MAX_POINTER + 1);
    long_pointer[0] = '/';
    json_t *lp = json_pack("{s:s}", "k", long_pointer);
    CHECK_INT_EQ(tg_hooks_validate_mapping(lp, NULL), TG_EBAD_REQUEST);
    json_decref(lp);
    free(long_pointer);

    /* Without a mapping the body object is the arguments. */
    json_t *body = load("{\"data\": {\"object\": {\"email\": \"a@b.c\", \"id\": 42}}}");
    json_t *args = NULL;
    tg_error err;
    CHECK_INT_EQ(tg_hooks_map(NULL, body, &args, &err), 0);
    CHECK(args == body);
    json_decref(args);
    json_t *arr = load("[1]");
    CHECK_INT_EQ(tg_hooks_map(NULL, arr, &args, &err), TG_EBAD_REQUEST);
    CHECK(args == NULL);

    /* With one, each argument from its pointer; a miss is left out. */
    json_t *m = load("{\"email\": \"/data/object/email\", \"id\": \"/data/object/id\","
                     " \"name\": \"/data/object/name\", \"whole\": \"/data\"}");
    CHECK_INT_EQ(tg_hooks_map(m, body, &args, &err), 0);
    json_t *want = load("{\"email\": \"a@b.c\", \"id\": 42, \"whole\": {\"object\": "
                        "{\"email\": \"a@b.c\", \"id\": 42}}}");
    CHECK(json_equal(args, want));
    json_decref(want);
    json_decref(args);
    /* A mapping reads any JSON body, an array too. */
    json_t *first = load("{\"first\": \"/0\"}");
    CHECK_INT_EQ(tg_hooks_map(first, arr, &args, &err), 0);
    CHECK_INT_EQ(json_integer_value(json_object_get(args, "first")), 1);
    json_decref(args);
    json_decref(first);
    json_decref(arr);
    json_decref(m);
    json_decref(body);
}

/* ---- the store -------------------------------------------------------- */

static char dir[] = "/tmp/tg_test_hooks_XXXXXX";
static char file_path[256], secrets_path[256], key_path[256];
/* The store the cases use: file_path, or a PostgreSQL URL. */
static const char *db_path;

/* Whether needle appears in the bytes of path (missing file: no). */
static bool file_holds(const char *path, const char *needle)
{
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    size_t got;
    while ((got = fread(buf + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap) buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    bool found = false;
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len && !found; i++)
        found = memcmp(buf + i, needle, n) == 0;
    free(buf);
    return found;
}

static void hmac_header(const char *secret, int64_t t, const char *body, char *out, size_t size)
{
    char t_text[24];
    snprintf(t_text, sizeof t_text, "%lld", (long long)t);
    char *msg = malloc(strlen(t_text) + 1 + strlen(body) + 1);
    snprintf(msg, strlen(t_text) + 1 + strlen(body) + 1, "%s.%s", t_text, body);
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t maclen = 0;
    /* An HMAC built here with OpenSSL's one-shot API, not the module's. */
    if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, secret, strlen(secret),
                   (const unsigned char *)msg, strlen(msg), mac, sizeof mac, &maclen))
        abort();
    free(msg);
    char hex[65];
    for (size_t i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    snprintf(out, size, "t=%s,v1=%s", t_text, hex);
}

/* Runs sql on the store behind the module's back (as an operator, or an
 * attacker with the database, could). Returns the first column of its first
 * row as a number, 0 when it returns none, -1 when it fails. */
static long long raw_sql(const char *sql)
{
    long long n = -1;
    if (strncmp(db_path, "postgres", 8) == 0) {
        PGconn *c = PQconnectdb(db_path);
        PGresult *r = PQstatus(c) == CONNECTION_OK ? PQexec(c, "SET search_path TO hooks") : NULL;
        PQclear(r);
        r = PQstatus(c) == CONNECTION_OK ? PQexec(c, sql) : NULL;
        if (PQresultStatus(r) == PGRES_TUPLES_OK)
            n = PQntuples(r) ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
        else if (PQresultStatus(r) == PGRES_COMMAND_OK)
            n = 0;
        else
            fprintf(stderr, "%s: %s", sql, PQerrorMessage(c));
        PQclear(r);
        PQfinish(c);
        return n;
    }
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    if (sqlite3_open(db_path, &db) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        int s = sqlite3_step(st);
        if (s == SQLITE_ROW) n = sqlite3_column_int64(st, 0);
        if (s == SQLITE_DONE) n = 0;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static long long count_rows(const char *table)
{
    char sql[64];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
    return raw_sql(sql);
}

static void test_seal(tg_secrets *secrets)
{
    unsigned char *blob = NULL, *plain = NULL;
    size_t bloblen = 0, len = 0;
    tg_error err;
    CHECK_INT_EQ(tg_secrets_seal(secrets, "hook\0a", 6, "xyz", 3, &blob, &bloblen, &err), 0);
    CHECK_INT_EQ(bloblen, 12 + 3 + 16);
    CHECK_INT_EQ(tg_secrets_unseal(secrets, "hook\0a", 6, blob, bloblen, &plain, &len, &err), 0);
    CHECK_INT_EQ(len, 3);
    CHECK_STR_EQ((char *)plain, "xyz");
    tg_secrets_value_free(plain, len);
    CHECK_INT_EQ(tg_secrets_unseal(secrets, "hook\0b", 6, blob, bloblen, &plain, &len, &err),
                 TG_EINTERNAL);
    CHECK(plain == NULL);
    blob[12] ^= 1;
    CHECK_INT_EQ(tg_secrets_unseal(secrets, "hook\0a", 6, blob, bloblen, &plain, &len, &err),
                 TG_EINTERNAL);
    CHECK_INT_EQ(tg_secrets_unseal(secrets, "hook\0a", 6, blob, 20, &plain, &len, &err),
                 TG_EINTERNAL);
    free(blob);
    /* A fresh nonce each time: the same plaintext seals differently. */
    unsigned char *b1 = NULL, *b2 = NULL;
    size_t l1, l2;
    tg_secrets_seal(secrets, "x", 1, "same", 4, &b1, &l1, NULL);
    tg_secrets_seal(secrets, "x", 1, "same", 4, &b2, &l2, NULL);
    CHECK(l1 == l2 && memcmp(b1, b2, l1) != 0);
    free(b1);
    free(b2);
}

static void test_store(tg_secrets *secrets)
{
    tg_error err;
    tg_hooks *h = NULL;
    CHECK_INT_EQ(tg_hooks_open(db_path, secrets, &h, &err), 0);

    json_t *mapping = load("{\"email\": \"/data/object/email\"}");
    json_t *made = NULL, *plain = NULL;
    CHECK_INT_EQ(tg_hooks_create(h, "acme", "crm", "acme/alice", mapping, &made, &err), 0);
    CHECK_INT_EQ(tg_hooks_create(h, "acme", "crm", NULL, NULL, &plain, &err), 0);
    const char *id = json_string_value(json_object_get(made, "id"));
    const char *secret = json_string_value(json_object_get(made, "secret"));
    CHECK(id && strlen(id) == TG_HOOKS_ID_LEN && strncmp(id, "hk_", 3) == 0);
    CHECK(secret && strlen(secret) == TG_HOOKS_SECRET_LEN && strncmp(secret, "whsec_", 6) == 0);
    CHECK(json_equal(json_object_get(made, "mapping"), mapping));
    CHECK_STR_EQ(json_string_value(json_object_get(made, "worker")), "crm");
    char url[64];
    snprintf(url, sizeof url, "/v1/hooks/%s", id);
    CHECK_STR_EQ(json_string_value(json_object_get(made, "url")), url);
    CHECK(json_is_null(json_object_get(plain, "mapping")));
    CHECK(strcmp(id, json_string_value(json_object_get(plain, "id"))) != 0);
    CHECK(strcmp(secret, json_string_value(json_object_get(plain, "secret"))) != 0);
    json_t *bad = load("{\"email\": \"nope\"}");
    json_t *none = NULL;
    CHECK_INT_EQ(tg_hooks_create(h, "acme", "crm", NULL, bad, &none, &err), TG_EBAD_REQUEST);
    CHECK(none == NULL);
    json_decref(bad);

    /* Listing: oldest first, no secret; scoped by tenant and worker. */
    json_t *list = NULL;
    CHECK_INT_EQ(tg_hooks_list(h, "acme", "crm", &list, &err), 0);
    CHECK_INT_EQ(json_array_size(list), 2);
    /* Both were made in the same millisecond, maybe: then the order is the ids'. */
    size_t at = strcmp(json_string_value(json_object_get(json_array_get(list, 0), "id")), id) != 0;
    CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(list, at), "id")), id);
    CHECK(json_object_get(json_array_get(list, 0), "secret") == NULL);
    CHECK(json_object_get(json_array_get(list, 1), "secret") == NULL);
    CHECK(json_equal(json_object_get(json_array_get(list, at), "mapping"), mapping));
    json_decref(list);
    CHECK_INT_EQ(tg_hooks_list(h, "other", "crm", &list, &err), 0);
    CHECK_INT_EQ(json_array_size(list), 0);
    json_decref(list);
    CHECK_INT_EQ(tg_hooks_list(h, "acme", "billing", &list, &err), 0);
    CHECK_INT_EQ(json_array_size(list), 0);
    json_decref(list);
    CHECK_INT_EQ(tg_hooks_delete(h, "other", "crm", id, &err), TG_ENOT_FOUND);
    CHECK_INT_EQ(tg_hooks_delete(h, "acme", "billing", id, &err), TG_ENOT_FOUND);

    /* The endpoint's lookup: anyone's hook by id, with its secret. */
    tg_hook *hook = NULL;
    CHECK_INT_EQ(tg_hooks_get(h, id, &hook, &err), 0);
    CHECK_STR_EQ(hook->tenant, "acme");
    CHECK_STR_EQ(hook->worker, "crm");
    CHECK_STR_EQ(hook->secret, secret);
    CHECK(json_equal(hook->mapping, mapping));
    /* Its calls run as its creator; a hook made without one records none. */
    CHECK(hook->principal && strcmp(hook->principal, "acme/alice") == 0);
    tg_hook *unowned = NULL;
    CHECK_INT_EQ(tg_hooks_get(h, json_string_value(json_object_get(plain, "id")), &unowned, &err),
                 0);
    CHECK(unowned && unowned->principal == NULL);
    tg_hook_free(unowned);
    tg_hook *missing = NULL;
    CHECK_INT_EQ(tg_hooks_get(h, "hk_00000000000000000000000000000000", &missing, &err),
                 TG_ENOT_FOUND);
    CHECK_INT_EQ(tg_hooks_get(h, "hk_../../etc", &missing, &err), TG_ENOT_FOUND);
    CHECK_INT_EQ(tg_hooks_get(h, "", &missing, &err), TG_ENOT_FOUND);
    CHECK(missing == NULL);

    /* Checks: a good signature once; then replays, other failures. */
    const char *body = "{\"data\":{\"object\":{\"email\":\"a@b.c\"}}}";
    char header[256], old[256];
    int64_t now = T;
    hmac_header(secret, now, body, header, sizeof header);
    CHECK_INT_EQ(tg_hooks_check(h, hook, header, body, strlen(body), now, &err), 0);
    CHECK_INT_EQ(tg_hooks_check(h, hook, header, body, strlen(body), now + 1, &err),
                 TG_EUNAUTHORIZED);
    CHECK_STR_EQ(err.message, "this signature was already used");
    CHECK_INT_EQ(tg_hooks_check(h, hook, NULL, body, strlen(body), now, &err), TG_EUNAUTHORIZED);
    CHECK_INT_EQ(tg_hooks_check(h, hook, "t=1,v1=zz", body, strlen(body), now, &err),
                 TG_EUNAUTHORIZED);
    CHECK_INT_EQ(tg_hooks_check(h, hook, header, "{}", 2, now, &err), TG_EUNAUTHORIZED);
    CHECK(strstr(err.message, "no v1 signature matches") != NULL);
    hmac_header(secret, now - 301, body, old, sizeof old);
    CHECK_INT_EQ(tg_hooks_check(h, hook, old, body, strlen(body), now, &err), TG_EUNAUTHORIZED);
    CHECK(strstr(err.message, "300 seconds") != NULL);
    hmac_header(secret, now + 301, body, old, sizeof old);
    CHECK_INT_EQ(tg_hooks_check(h, hook, old, body, strlen(body), now, &err), TG_EUNAUTHORIZED);
    hmac_header(secret, now - 300, body, old, sizeof old);
    CHECK_INT_EQ(tg_hooks_check(h, hook, old, body, strlen(body), now, &err), 0);
    hmac_header(secret, now + 300, body, old, sizeof old);
    CHECK_INT_EQ(tg_hooks_check(h, hook, old, body, strlen(body), now, &err), 0);
    /* The other hook's secret does not sign for this one. */
    hmac_header(json_string_value(json_object_get(plain, "secret")), now + 2, body, old,
                sizeof old);
    CHECK_INT_EQ(tg_hooks_check(h, hook, old, body, strlen(body), now, &err), TG_EUNAUTHORIZED);
    CHECK_INT_EQ(count_rows("seen"), 3);

    /* Nothing secret in the store: it holds sealed bytes only. */
    if (db_path == file_path) {
        char wal[300];
        snprintf(wal, sizeof wal, "%s-wal", db_path);
        CHECK(!file_holds(db_path, secret) && !file_holds(wal, secret));
        CHECK(!file_holds(db_path, secret + 6) && !file_holds(wal, secret + 6));
        CHECK(file_holds(db_path, id) || file_holds(wal, id)); /* the search itself works */
    } else {
        char sql[512];
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM hooks WHERE position(convert_to('%s', 'UTF8')"
                 " IN sealed_secret) > 0 OR mapping LIKE '%%%s%%'",
                 secret + 6, secret + 6);
        CHECK_INT_EQ(raw_sql(sql), 0);
        snprintf(sql, sizeof sql, "SELECT count(*) FROM hooks WHERE id = '%s'", id);
        CHECK_INT_EQ(raw_sql(sql), 1); /* the search itself works */
    }

    /* A restart remembers what was spent. */
    tg_hook_free(hook);
    tg_hooks_close(h);
    CHECK_INT_EQ(tg_hooks_open(db_path, secrets, &h, &err), 0);
    CHECK_INT_EQ(tg_hooks_get(h, id, &hook, &err), 0);
    CHECK_INT_EQ(tg_hooks_check(h, hook, header, body, strlen(body), now + 10, &err),
                 TG_EUNAUTHORIZED);
    CHECK_STR_EQ(err.message, "this signature was already used");
    /* Past the window spent signatures are forgotten (the window refuses
     * them anyway): only the one accepted now, and the future one, stay. */
    hmac_header(secret, now + 301, body, old, sizeof old);
    CHECK_INT_EQ(tg_hooks_check(h, hook, old, body, strlen(body), now + 301, &err), 0);
    CHECK_INT_EQ(count_rows("seen"), 2);
    tg_hook_free(hook);

    /* A row edited to another tenant no longer opens its secret. */
    char sql[128];
    snprintf(sql, sizeof sql, "UPDATE hooks SET tenant = 'evil' WHERE id = '%s'", id);
    CHECK_INT_EQ(raw_sql(sql), 0);
    hook = NULL;
    CHECK_INT_EQ(tg_hooks_get(h, id, &hook, &err), TG_EINTERNAL);
    CHECK(hook == NULL);
    CHECK_INT_EQ(tg_hooks_delete(h, "evil", "crm", id, &err), 0);
    CHECK_INT_EQ(tg_hooks_get(h, id, &hook, &err), TG_ENOT_FOUND);
    CHECK_INT_EQ(count_rows("seen"), 0);

    /* Deleting a worker takes its hooks. */
    json_t *third = NULL;
    CHECK_INT_EQ(tg_hooks_create(h, "acme", "billing", NULL, NULL, &third, &err), 0);
    size_t n = 0;
    CHECK_INT_EQ(tg_hooks_delete_worker(h, "acme", "crm", &n, &err), 0);
    CHECK_INT_EQ(n, 1);
    CHECK_INT_EQ(tg_hooks_list(h, "acme", "crm", &list, &err), 0);
    CHECK_INT_EQ(json_array_size(list), 0);
    json_decref(list);
    CHECK_INT_EQ(tg_hooks_list(h, "acme", "billing", &list, &err), 0);
    CHECK_INT_EQ(json_array_size(list), 1);
    json_decref(list);
    CHECK_INT_EQ(tg_hooks_delete(h, "acme", "billing",
                                 json_string_value(json_object_get(third, "id")), &err),
                 0);
    CHECK_INT_EQ(tg_hooks_delete(h, "acme", "billing",
                                 json_string_value(json_object_get(third, "id")), &err),
                 TG_ENOT_FOUND);

    json_decref(third);
    json_decref(made);
    json_decref(plain);
    json_decref(mapping);
    tg_hooks_close(h);
}

typedef struct sender {
    tg_hooks *h;
    const tg_hook *hook;
    const char *header, *body;
    pthread_barrier_t *go;
    int rc;
} sender;

static void *send_one(void *arg)
{
    sender *s = arg;
    tg_error err;
    pthread_barrier_wait(s->go);
    s->rc = tg_hooks_check(s->h, s->hook, s->header, s->body, strlen(s->body), T, &err);
    if (s->rc && s->rc != TG_EUNAUTHORIZED) fprintf(stderr, "check: %s\n", err.message);
    return NULL;
}

/* Two replicas (two handles on one database) given the same signed request
 * at the same moment, as a sender retrying through a load balancer would:
 * exactly one accepts it. */
static void test_replicas(tg_secrets *secrets)
{
    tg_hooks *a = NULL, *b = NULL;
    tg_error err;
    CHECK_INT_EQ(tg_hooks_open(db_path, secrets, &a, &err), 0);
    CHECK_INT_EQ(tg_hooks_open(db_path, secrets, &b, &err), 0);
    if (!a || !b) {
        tg_hooks_close(a);
        tg_hooks_close(b);
        return;
    }
    json_t *made = NULL;
    CHECK_INT_EQ(tg_hooks_create(a, "acme", "crm", NULL, NULL, &made, &err), 0);
    const char *id = json_string_value(json_object_get(made, "id"));
    const char *secret = json_string_value(json_object_get(made, "secret"));
    tg_hook *ha = NULL, *hb = NULL;
    CHECK_INT_EQ(tg_hooks_get(a, id, &ha, &err), 0);
    CHECK_INT_EQ(tg_hooks_get(b, id, &hb, &err), 0); /* made by a, seen by b */
    enum { REQUESTS = 30, SIDES = 4 };
    int accepted_once = 0;
    for (int i = 0; ha && hb && i < REQUESTS; i++) {
        char body[32], header[256];
        snprintf(body, sizeof body, "{\"n\":%d}", i);
        hmac_header(secret, T, body, header, sizeof header);
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, SIDES);
        sender s[SIDES];
        pthread_t t[SIDES];
        for (int k = 0; k < SIDES; k++) {
            s[k] = (sender){.h = k % 2 ? b : a,
                            .hook = k % 2 ? hb : ha,
                            .header = header,
                            .body = body,
                            .go = &go};
            pthread_create(&t[k], NULL, send_one, &s[k]);
        }
        int accepted = 0, refused = 0;
        for (int k = 0; k < SIDES; k++) {
            pthread_join(t[k], NULL);
            accepted += s[k].rc == 0;
            refused += s[k].rc == TG_EUNAUTHORIZED;
        }
        pthread_barrier_destroy(&go);
        CHECK_INT_EQ(refused, SIDES - 1);
        accepted_once += accepted == 1;
    }
    CHECK_INT_EQ(accepted_once, REQUESTS);
    CHECK_INT_EQ(count_rows("seen"), REQUESTS);
    /* Deleted through b, gone for a. */
    CHECK_INT_EQ(tg_hooks_delete(b, "acme", "crm", id, &err), 0);
    tg_hook *gone = NULL;
    CHECK_INT_EQ(tg_hooks_get(a, id, &gone, &err), TG_ENOT_FOUND);
    tg_hook_free(ha);
    tg_hook_free(hb);
    json_decref(made);
    tg_hooks_close(a);
    tg_hooks_close(b);
}

int main(void)
{
    test_parse();
    test_verify();
    test_window();
    test_pointer();
    test_mapping();
    if (!mkdtemp(dir)) abort();
    snprintf(file_path, sizeof file_path, "%s/hooks.db", dir);
    snprintf(secrets_path, sizeof secrets_path, "%s/secrets.db", dir);
    snprintf(key_path, sizeof key_path, "%s/secrets.key", dir);
    tg_secrets *secrets = NULL;
    tg_error err;
    CHECK_INT_EQ(tg_secrets_open(secrets_path, key_path, true, &secrets, &err), 0);
    test_seal(secrets);
    db_path = file_path;
    test_store(secrets);
    char *url = pgtest_database("test_hooks");
    if (url) {
        printf("PostgreSQL:\n");
        db_path = url;
        test_store(secrets);
        free(url);
        url = pgtest_database("test_hooks_replicas");
        db_path = url;
        if (url) test_replicas(secrets);
        free(url);
    }
    tg_secrets_close(secrets);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return check_report();
}
