/* Bearer token verification with real keys: an RSA and an EC P-256 key pair
 * made with OpenSSL at start, tokens signed by libjwt, and hand-made tokens
 * (alg none, duplicate names, odd headers) signed with OpenSSL's HMAC.
 * Covers every refusal tg_auth_check names, algorithm confusion, key rotation,
 * the configuration checks of tg_auth_new, minting, and checks from several
 * threads at once. */
#include "check.h"
#include "gateway/auth/auth.h"

#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ISS "https://issuer.example"
#define AUD "https://gw.example/mcp"
#define NOW INT64_C(1767225600) /* 2026-01-01T00:00:00Z */
#define HS1 "first-shared-secret-of-32-bytes!"
#define HS2 "second-shared-secret-32-bytes-ok"

static char *rsa_priv, *rsa_pub, *ec_priv, *ec_pub, *rsa_small_pub, *other_rsa_priv;

/* Returns: the PEM of pk's private (priv) or public half, malloc'd. */
static char *pem_of(EVP_PKEY *pk, int priv)
{
    BIO *b = BIO_new(BIO_s_mem());
    int ok = priv ? PEM_write_bio_PrivateKey(b, pk, NULL, NULL, 0, NULL, NULL)
                  : PEM_write_bio_PUBKEY(b, pk);
    char *data;
    long n = BIO_get_mem_data(b, &data);
    if (!ok || n <= 0) {
        fprintf(stderr, "cannot write a PEM\n");
        exit(2);
    }
    char *s = strndup(data, (size_t)n);
    BIO_free(b);
    return s;
}

static void make_keys(void)
{
    EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    EVP_PKEY *rsa2 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    EVP_PKEY *small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (!rsa || !rsa2 || !small || !ec) {
        fprintf(stderr, "key generation failed\n");
        exit(2);
    }
    rsa_priv = pem_of(rsa, 1);
    rsa_pub = pem_of(rsa, 0);
    other_rsa_priv = pem_of(rsa2, 1);
    rsa_small_pub = pem_of(small, 0);
    ec_priv = pem_of(ec, 1);
    ec_pub = pem_of(ec, 0);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(rsa2);
    EVP_PKEY_free(small);
    EVP_PKEY_free(ec);
}

/* A token signed by libjwt: alg with key (a secret or a private key PEM),
 * kid in the header unless NULL, claims as JSON text. */
static char *sign(jwt_alg_t alg, const char *key, const char *kid, const char *claims)
{
    jwt_t *jwt;
    if (jwt_new(&jwt) != 0 || (kid && jwt_add_header(jwt, "kid", kid) != 0) ||
        jwt_add_grants_json(jwt, claims) != 0 ||
        jwt_set_alg(jwt, alg, (const unsigned char *)key, (int)strlen(key)) != 0) {
        fprintf(stderr, "libjwt cannot make a token of %s\n", claims);
        exit(2);
    }
    char *t = jwt_encode_str(jwt);
    jwt_free(jwt);
    if (!t) {
        fprintf(stderr, "libjwt cannot sign %s\n", claims);
        exit(2);
    }
    return t;
}

static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Writes in[0..n) as base64url without padding at out; returns its length. */
static size_t b64url(const unsigned char *in, size_t n, char *out)
{
    EVP_EncodeBlock((unsigned char *)out, in, (int)n);
    char *w = out;
    for (char *r = out; *r && *r != '='; r++)
        *w++ = *r == '+' ? '-' : *r == '/' ? '_' : *r;
    *w = '\0';
    return (size_t)(w - out);
}

/* A token made by hand from header and payload JSON text, HS256-signed with
 * secret (or with an empty signature when secret is NULL). */
static char *hand_token(const char *header, const char *payload, const char *secret)
{
    char *t = malloc(4096);
    size_t n = b64url((const unsigned char *)header, strlen(header), t);
    t[n++] = '.';
    n += b64url((const unsigned char *)payload, strlen(payload), t + n);
    size_t signed_len = n;
    t[n++] = '.';
    t[n] = '\0';
    if (secret) {
        unsigned char mac[32];
        unsigned maclen = 0;
        HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)t, signed_len, mac,
             &maclen);
        b64url(mac, maclen, t + n);
    }
    return t;
}

/* Claims as JSON text: iat, then iss, aud, sub and tenant with the given JSON
 * values (each left out when NULL), then extra (members after a comma). */
static char *claims_fmt(const char *iss, const char *aud, const char *sub, const char *tenant,
                        const char *extra)
{
    char *s = malloc(8192);
    snprintf(s, 8192, "{\"iat\": %lld%s%s%s%s%s%s%s%s%s}", (long long)NOW, iss ? ", \"iss\": " : "",
             iss ? iss : "", aud ? ", \"aud\": " : "", aud ? aud : "", sub ? ", \"sub\": " : "",
             sub ? sub : "", tenant ? ", \"tenant\": " : "", tenant ? tenant : "", extra);
    return s;
}

#define GOOD_EXTRA ", \"exp\": 1767225900, \"scope\": \"tools:list tools:call\""

static tg_auth *auth_main; /* hs1, hs2, rs1, es1 */

static tg_auth *make_auth(const tg_auth_key *keys, size_t n, unsigned leeway)
{
    tg_auth_config cfg = {keys, n, ISS, AUD, leeway};
    tg_auth *a = NULL;
    char err[256] = "";
    int rc = tg_auth_new(&cfg, &a, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "tg_auth_new: %s\n", err);
        exit(2);
    }
    return a;
}

static char last_why[256];

/* Checks "Bearer <token>" with auth_main at NOW; frees token. */
static int check_token(char *token, tg_principal *who)
{
    size_t n = strlen(token) + 8;
    char *h = malloc(n);
    snprintf(h, n, "Bearer %s", token);
    tg_principal scratch;
    snprintf(last_why, sizeof last_why, "(unset)");
    int rc = tg_auth_check(auth_main, h, NOW, who ? who : &scratch, last_why, sizeof last_why);
    /* A reason names the problem, never the token or a quote of it. */
    if (rc != 0) {
        CHECK(last_why[0] != '\0' && strcmp(last_why, "(unset)") != 0);
        CHECK(strchr(last_why, '"') == NULL && strchr(last_why, '\\') == NULL);
        CHECK(strstr(last_why, "eyJ") == NULL);
    }
    free(h);
    free(token);
    return rc;
}

static char *hs1(const char *claims)
{
    return sign(JWT_ALG_HS256, HS1, "hs1", claims);
}

static char *std_claims(const char *extra)
{
    return claims_fmt("\"" ISS "\"", "\"" AUD "\"", "\"alice\"", "\"acme\"", extra);
}

static void test_valid(void)
{
    tg_principal who;
    char *c = std_claims(GOOD_EXTRA);
    CHECK_INT_EQ(check_token(hs1(c), &who), 0);
    CHECK_STR_EQ(who.sub, "alice");
    CHECK_STR_EQ(who.tenant, "acme");
    CHECK_INT_EQ(who.scopes, TG_SCOPE_TOOLS_LIST | TG_SCOPE_TOOLS_CALL);
    CHECK_INT_EQ(who.exp, NOW + 300);
    CHECK_INT_EQ(check_token(sign(JWT_ALG_HS256, HS2, "hs2", c), &who), 0);
    CHECK_INT_EQ(check_token(sign(JWT_ALG_RS256, rsa_priv, "rs1", c), &who), 0);
    CHECK_STR_EQ(who.tenant, "acme");
    CHECK_INT_EQ(check_token(sign(JWT_ALG_ES256, ec_priv, "es1", c), &who), 0);
    CHECK_STR_EQ(who.sub, "alice");
    free(c);
}

static void test_header_forms(void)
{
    tg_principal who;
    char why[128];
    CHECK_INT_EQ(tg_auth_check(auth_main, NULL, NOW, &who, why, sizeof why), TG_AUTH_EMISSING);
    CHECK_INT_EQ(tg_auth_check(auth_main, "", NOW, &who, why, sizeof why), TG_AUTH_EMISSING);
    CHECK_INT_EQ(tg_auth_check(auth_main, "Basic dXNlcjpwYXNz", NOW, &who, why, sizeof why),
                 TG_AUTH_EMISSING);
    CHECK_INT_EQ(tg_auth_check(auth_main, "Bearerx a.b.c", NOW, &who, why, sizeof why),
                 TG_AUTH_EMISSING);
    CHECK_INT_EQ(tg_auth_check(auth_main, "Bearer", NOW, &who, why, sizeof why),
                 TG_AUTH_EMALFORMED);
    CHECK_INT_EQ(tg_auth_check(auth_main, "Bearer   ", NOW, &who, why, sizeof why),
                 TG_AUTH_EMALFORMED);
    CHECK_INT_EQ(tg_auth_check(auth_main, "Bearer garbage", NOW, &who, why, sizeof why),
                 TG_AUTH_EMALFORMED);
    CHECK_INT_EQ(tg_auth_check(auth_main, "Bearer a.b.c.d", NOW, &who, why, sizeof why),
                 TG_AUTH_EMALFORMED);
    CHECK_INT_EQ(tg_auth_check(auth_main, "Bearer !!.x.y", NOW, &who, why, sizeof why),
                 TG_AUTH_EMALFORMED);
    CHECK_INT_EQ(tg_auth_check(auth_main, "Bearer e30.e30.", NOW, &who, why, sizeof why),
                 TG_AUTH_EMALFORMED);
    /* why may be NULL, or too small for the reason: then it is cut. */
    CHECK_INT_EQ(tg_auth_check(auth_main, "Bearer x", NOW, &who, NULL, 0), TG_AUTH_EMALFORMED);
    CHECK_INT_EQ(tg_auth_check(auth_main, "Bearer x", NOW, &who, why, 5), TG_AUTH_EMALFORMED);
    CHECK_INT_EQ(strlen(why), 4);

    char *c = std_claims(GOOD_EXTRA);
    char *t = hs1(c);
    char h[4096];
    snprintf(h, sizeof h, "bEaReR   %s", t);
    CHECK_INT_EQ(tg_auth_check(auth_main, h, NOW, &who, why, sizeof why), 0);
    snprintf(h, sizeof h, "Bearer %s %s", t, t);
    CHECK_INT_EQ(tg_auth_check(auth_main, h, NOW, &who, why, sizeof why), TG_AUTH_EMALFORMED);
    CHECK_STR_EQ(why, "more than one token after Bearer");
    snprintf(h, sizeof h, "Bearer %s ", t);
    CHECK_INT_EQ(tg_auth_check(auth_main, h, NOW, &who, why, sizeof why), TG_AUTH_EMALFORMED);
    snprintf(h, sizeof h, "Bearer\t%s", t);
    CHECK_INT_EQ(tg_auth_check(auth_main, h, NOW, &who, why, sizeof why), TG_AUTH_EMISSING);
    CHECK_INT_EQ(tg_auth_check(auth_main, h, -1, &who, why, sizeof why), TG_AUTH_EINTERNAL);
    free(t);

    /* Up to 8 KiB is accepted; beyond, refused before anything is decoded. */
    char extra[7000];
    snprintf(extra, sizeof extra, GOOD_EXTRA ", \"pad\": \"%05800d\"", 0);
    char *big = std_claims(extra);
    t = hs1(big);
    CHECK(strlen(t) > 8000 && strlen(t) <= TG_AUTH_MAX_TOKEN);
    CHECK_INT_EQ(check_token(t, NULL), 0);
    free(big);
    snprintf(extra, sizeof extra, GOOD_EXTRA ", \"pad\": \"%06000d\"", 0);
    big = std_claims(extra);
    t = hs1(big);
    CHECK(strlen(t) > TG_AUTH_MAX_TOKEN);
    CHECK_INT_EQ(check_token(t, NULL), TG_AUTH_EMALFORMED);
    CHECK_STR_EQ(last_why, "the token is longer than 8192 bytes");
    free(big);
    free(c);
}

static void test_times(void)
{
    struct {
        const char *extra;
        int rc;
    } cases[] = {
        {", \"exp\": 1767225569", TG_AUTH_EEXPIRED}, /* 31 s ago */
        {", \"exp\": 1767225570", TG_AUTH_EEXPIRED}, /* 30 s ago: the leeway's end */
        {", \"exp\": 1767225571", 0},                /* 29 s ago: within the leeway */
        {", \"exp\": 1767225590", 0},
        {", \"exp\": 1767225900.75", 0},
        {"", TG_AUTH_ECLAIMS},
        {", \"exp\": \"1767225900\"", TG_AUTH_ECLAIMS},
        {", \"exp\": -5", TG_AUTH_ECLAIMS},
        {", \"exp\": 1e300", TG_AUTH_ECLAIMS},
        {", \"exp\": 9223372036854775807", TG_AUTH_ECLAIMS},
        {", \"exp\": null", TG_AUTH_ECLAIMS},
        {", \"exp\": 1767225900, \"nbf\": 1767225660", TG_AUTH_ENOTYET}, /* 60 s ahead */
        {", \"exp\": 1767225900, \"nbf\": 1767225631", TG_AUTH_ENOTYET}, /* 31 s ahead */
        {", \"exp\": 1767225900, \"nbf\": 1767225630", 0},               /* 30 s ahead */
        {", \"exp\": 1767225900, \"nbf\": 1767225620", 0},
        {", \"exp\": 1767225900, \"nbf\": \"soon\"", TG_AUTH_ECLAIMS},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *c = std_claims(cases[i].extra);
        tg_principal who;
        int rc = check_token(hs1(c), &who);
        if (rc != cases[i].rc) fprintf(stderr, "case %s: %s\n", cases[i].extra, last_why);
        CHECK_INT_EQ(rc, cases[i].rc);
        free(c);
    }

    /* A leeway of its own. */
    tg_auth_key k = {"hs1", "HS256", HS1};
    tg_auth *a = make_auth(&k, 1, 5);
    char *c = std_claims(", \"exp\": 1767225594");
    char *t = hs1(c);
    char h[2048];
    snprintf(h, sizeof h, "Bearer %s", t);
    tg_principal who;
    CHECK_INT_EQ(tg_auth_check(a, h, NOW, &who, NULL, 0), TG_AUTH_EEXPIRED);
    CHECK_INT_EQ(tg_auth_check(a, h, NOW - 2, &who, NULL, 0), 0);
    free(t);
    free(c);
    tg_auth_free(a);
}

static void test_issuer_audience(void)
{
    struct {
        const char *iss, *aud;
        int rc;
    } cases[] = {
        {"\"https://evil.example\"", "\"" AUD "\"", TG_AUTH_EISSUER},
        {NULL, "\"" AUD "\"", TG_AUTH_EISSUER},
        {"[\"" ISS "\"]", "\"" AUD "\"", TG_AUTH_EISSUER},
        {"\"" ISS "/\"", "\"" AUD "\"", TG_AUTH_EISSUER},
        {"\"" ISS "\"", "\"https://other.example/mcp\"", TG_AUTH_EAUDIENCE},
        {"\"" ISS "\"", NULL, TG_AUTH_EAUDIENCE},
        {"\"" ISS "\"", "\"" AUD "/\"", TG_AUTH_EAUDIENCE},
        {"\"" ISS "\"", "[\"https://other.example\", \"" AUD "\"]", 0},
        {"\"" ISS "\"", "[\"https://other.example\", 7, null]", TG_AUTH_EAUDIENCE},
        {"\"" ISS "\"", "[]", TG_AUTH_EAUDIENCE},
        {"\"" ISS "\"", "{\"aud\": \"" AUD "\"}", TG_AUTH_EAUDIENCE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *c = claims_fmt(cases[i].iss, cases[i].aud, "\"alice\"", "\"acme\"", GOOD_EXTRA);
        CHECK_INT_EQ(check_token(hs1(c), NULL), cases[i].rc);
        free(c);
    }
}

static void test_subject_tenant_scope(void)
{
    char long_tenant[200], max_tenant[200], long_sub[300];
    snprintf(long_tenant, sizeof long_tenant, "\"%0129d\"", 0);
    snprintf(max_tenant, sizeof max_tenant, "\"%0128d\"", 0);
    snprintf(long_sub, sizeof long_sub, "\"%0256d\"", 0);
    struct {
        const char *sub, *tenant, *extra;
        int rc;
    } cases[] = {
        {NULL, "\"acme\"", GOOD_EXTRA, TG_AUTH_ECLAIMS},
        {"\"\"", "\"acme\"", GOOD_EXTRA, TG_AUTH_ECLAIMS},
        {"42", "\"acme\"", GOOD_EXTRA, TG_AUTH_ECLAIMS},
        {"\"a\\nb\"", "\"acme\"", GOOD_EXTRA, TG_AUTH_ECLAIMS},
        {long_sub, "\"acme\"", GOOD_EXTRA, TG_AUTH_ECLAIMS},
        {"\"caf\\u00e9 user\"", "\"acme\"", GOOD_EXTRA, 0},
        {"\"alice\"", NULL, GOOD_EXTRA, TG_AUTH_ECLAIMS},
        {"\"alice\"", "\"\"", GOOD_EXTRA, TG_AUTH_ECLAIMS},
        {"\"alice\"", "\"acme corp\"", GOOD_EXTRA, TG_AUTH_ECLAIMS},
        {"\"alice\"", "\"acme/../x\"", GOOD_EXTRA, TG_AUTH_ECLAIMS},
        {"\"alice\"", "\"caf\\u00e9\"", GOOD_EXTRA, TG_AUTH_ECLAIMS},
        {"\"alice\"", "[\"acme\"]", GOOD_EXTRA, TG_AUTH_ECLAIMS},
        {"\"alice\"", long_tenant, GOOD_EXTRA, TG_AUTH_ECLAIMS},
        {"\"alice\"", max_tenant, GOOD_EXTRA, 0},
        {"\"alice\"", "\"Acme_1.eu-west\"", GOOD_EXTRA, 0},
        {"\"alice\"", "\"acme\"", ", \"exp\": 1767225900, \"scope\": [\"admin\"]", TG_AUTH_ECLAIMS},
        {"\"alice\"", "\"acme\"", ", \"exp\": 1767225900", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *c =
            claims_fmt("\"" ISS "\"", "\"" AUD "\"", cases[i].sub, cases[i].tenant, cases[i].extra);
        tg_principal who;
        int rc = check_token(hs1(c), &who);
        if (rc != cases[i].rc) fprintf(stderr, "case %s: %s\n", c, last_why);
        CHECK_INT_EQ(rc, cases[i].rc);
        if (rc == 0 && cases[i].tenant == max_tenant) CHECK_INT_EQ(strlen(who.tenant), 128);
        if (rc == 0 && i == 5) CHECK_STR_EQ(who.sub, "caf\xc3\xa9 user");
        if (rc == 0 && i == 16) CHECK_INT_EQ(who.scopes, 0);
        if (rc != 0) CHECK(who.sub[0] == '\0' && who.tenant[0] == '\0' && who.scopes == 0);
        free(c);
    }

    CHECK_INT_EQ(tg_scopes_parse("tools:list tools:call"),
                 TG_SCOPE_TOOLS_LIST | TG_SCOPE_TOOLS_CALL);
    CHECK_INT_EQ(tg_scopes_parse("  admin   nonsense tools:call:x audit:read "),
                 TG_SCOPE_ADMIN | TG_SCOPE_AUDIT_READ);
    CHECK_INT_EQ(tg_scopes_parse("workers:deploy workers:trigger secrets:write"),
                 TG_SCOPE_WORKERS_DEPLOY | TG_SCOPE_WORKERS_TRIGGER | TG_SCOPE_SECRETS_WRITE);
    CHECK_INT_EQ(tg_scopes_parse("TOOLS:LIST tools:lis"), 0);
    CHECK_INT_EQ(tg_scopes_parse(""), 0);
    CHECK_INT_EQ(tg_scopes_parse(NULL), 0);
    CHECK_STR_EQ(tg_scope_name(TG_SCOPE_TOOLS_CALL), "tools:call");
    CHECK_STR_EQ(tg_scope_name(TG_SCOPE_ADMIN), "admin");
    CHECK(tg_scope_name(TG_SCOPE_TOOLS_LIST | TG_SCOPE_TOOLS_CALL) == NULL);
    CHECK(tg_scope_name(0) == NULL);
    CHECK(tg_scope_name(128) == NULL);
    for (uint32_t bit = 1; bit <= TG_SCOPE_ADMIN; bit <<= 1)
        CHECK_INT_EQ(tg_scopes_parse(tg_scope_name(bit)), bit);

    tg_principal who;
    char *c = std_claims(", \"exp\": 1767225900, \"scope\": \"admin workers:deploy x\"");
    CHECK_INT_EQ(check_token(hs1(c), &who), 0);
    CHECK_INT_EQ(who.scopes, TG_SCOPE_ADMIN | TG_SCOPE_WORKERS_DEPLOY);
    free(c);
}

static void test_algorithms_and_keys(void)
{
    char *c = std_claims(GOOD_EXTRA);
    char payload[1024];
    snprintf(payload, sizeof payload, "%s", c);

    /* alg none, with our kid or without one, in any spelling. */
    CHECK_INT_EQ(
        check_token(hand_token("{\"alg\":\"none\",\"typ\":\"JWT\",\"kid\":\"hs1\"}", payload, NULL),
                    NULL),
        TG_AUTH_EALG);
    CHECK_INT_EQ(check_token(hand_token("{\"alg\":\"None\"}", payload, NULL), NULL), TG_AUTH_EALG);
    CHECK_INT_EQ(check_token(hand_token("{\"alg\":\"none\",\"kid\":\"hs1\"}", payload, HS1), NULL),
                 TG_AUTH_EALG);

    /* HS/RS confusion: an HMAC keyed with the RSA public key's PEM. libjwt
     * alone accepts it when handed that PEM; the gateway must not. */
    char *forged = sign(JWT_ALG_HS256, rsa_pub, "rs1", c);
    jwt_t *jwt = NULL;
    CHECK_INT_EQ(jwt_decode(&jwt, forged, (const unsigned char *)rsa_pub, (int)strlen(rsa_pub)), 0);
    jwt_free(jwt);
    CHECK_INT_EQ(check_token(forged, NULL), TG_AUTH_EALG);
    CHECK_INT_EQ(check_token(sign(JWT_ALG_HS256, ec_pub, "es1", c), NULL), TG_AUTH_EALG);
    /* A token whose alg is not its key's. */
    CHECK_INT_EQ(check_token(sign(JWT_ALG_ES256, ec_priv, "hs1", c), NULL), TG_AUTH_EALG);
    CHECK_INT_EQ(check_token(sign(JWT_ALG_ES256, ec_priv, "rs1", c), NULL), TG_AUTH_EALG);
    CHECK_INT_EQ(check_token(sign(JWT_ALG_RS256, rsa_priv, "es1", c), NULL), TG_AUTH_EALG);
    CHECK_INT_EQ(check_token(sign(JWT_ALG_HS512, HS1, "hs1", c), NULL), TG_AUTH_EALG);
    CHECK_INT_EQ(check_token(sign(JWT_ALG_RS384, rsa_priv, "rs1", c), NULL), TG_AUTH_EALG);
    CHECK_INT_EQ(check_token(hand_token("{\"alg\":\"hs256\",\"kid\":\"hs1\"}", payload, HS1), NULL),
                 TG_AUTH_EALG);
    /* Signed by another key of the right type. */
    CHECK_INT_EQ(check_token(sign(JWT_ALG_RS256, other_rsa_priv, "rs1", c), NULL),
                 TG_AUTH_ESIGNATURE);
    CHECK_INT_EQ(check_token(sign(JWT_ALG_HS256, HS2, "hs1", c), NULL), TG_AUTH_ESIGNATURE);

    /* kid: unknown, absent with several keys, absent with one key. */
    CHECK_INT_EQ(check_token(sign(JWT_ALG_HS256, HS1, "hs9", c), NULL), TG_AUTH_EKID);
    CHECK_INT_EQ(check_token(sign(JWT_ALG_HS256, HS1, NULL, c), NULL), TG_AUTH_EKID);
    CHECK_INT_EQ(check_token(hand_token("{\"alg\":\"HS256\",\"kid\":7}", payload, HS1), NULL),
                 TG_AUTH_EMALFORMED);
    tg_auth_key only = {"es1", "ES256", ec_pub};
    tg_auth *a = make_auth(&only, 1, 0);
    char *t = sign(JWT_ALG_ES256, ec_priv, NULL, c);
    char h[4096];
    snprintf(h, sizeof h, "Bearer %s", t);
    tg_principal who;
    CHECK_INT_EQ(tg_auth_check(a, h, NOW, &who, NULL, 0), 0);
    free(t);
    tg_auth_free(a);
    tg_auth_key nokid = {NULL, "HS256", HS1};
    a = make_auth(&nokid, 1, 0);
    t = sign(JWT_ALG_HS256, HS1, "whatever", c);
    snprintf(h, sizeof h, "Bearer %s", t);
    CHECK_INT_EQ(tg_auth_check(a, h, NOW, &who, NULL, 0), 0);
    free(t);
    tg_auth_free(a);

    /* Tampering. */
    t = sign(JWT_ALG_HS256, HS1, "hs1", c);
    char *dot1 = strchr(t, '.');
    char *dot2 = strchr(dot1 + 1, '.');
    char *edited = std_claims(", \"exp\": 1767225900, \"scope\": \"admin\"");
    char *other = hand_token("{\"alg\":\"HS256\",\"kid\":\"hs1\"}", edited, "x");
    char *odot1 = strchr(other, '.'), *odot2 = strchr(odot1 + 1, '.');
    snprintf(h, sizeof h, "%.*s%.*s%s", (int)(dot1 - t), t, (int)(odot2 - odot1), odot1, dot2);
    CHECK_INT_EQ(check_token(strdup(h), NULL), TG_AUTH_ESIGNATURE);
    for (char *p = dot1 + 1; p < dot2; p += 7) {
        char *flipped = strdup(t);
        flipped[p - t] = *p == 'A' ? 'B' : 'A';
        int rc = check_token(flipped, NULL);
        CHECK(rc == TG_AUTH_ESIGNATURE || rc == TG_AUTH_EMALFORMED);
    }
    char *flipped = strdup(t);
    flipped[dot2 - t + 3] ^= 1;
    CHECK_INT_EQ(check_token(flipped, NULL), TG_AUTH_ESIGNATURE);
    /* Stray bits in the signature's last character: the same bytes, another text. */
    flipped = strdup(t);
    char *last = flipped + strlen(flipped) - 1;
    *last = B64URL[(strchr(B64URL, *last) - B64URL) | 1];
    CHECK_INT_EQ(check_token(flipped, NULL), TG_AUTH_EMALFORMED);
    snprintf(h, sizeof h, "%.*s", (int)(dot2 - t + 1), t);
    CHECK_INT_EQ(check_token(strdup(h), NULL), TG_AUTH_ESIGNATURE);
    snprintf(h, sizeof h, "%s=", t);
    CHECK_INT_EQ(check_token(strdup(h), NULL), TG_AUTH_EMALFORMED);
    free(t);
    free(other);
    free(edited);

    /* Headers and payloads libjwt would read differently, or not at all. */
    CHECK_INT_EQ(check_token(hand_token("{\"alg\":\"HS256\",\"kid\":\"hs1\",\"typ\":\"at+jwt\"}",
                                        payload, HS1),
                             NULL),
                 TG_AUTH_EMALFORMED);
    CHECK_INT_EQ(
        check_token(hand_token("{\"alg\":\"HS256\",\"kid\":\"hs1\",\"typ\":\"jwt\"}", payload, HS1),
                    NULL),
        0);
    CHECK_INT_EQ(check_token(hand_token("{\"alg\":\"HS256\",\"kid\":\"hs1\",\"crit\":[\"exp\"]}",
                                        payload, HS1),
                             NULL),
                 TG_AUTH_EMALFORMED);
    CHECK_INT_EQ(
        check_token(
            hand_token("{\"alg\":\"none\",\"alg\":\"HS256\",\"kid\":\"hs1\"}", payload, HS1), NULL),
        TG_AUTH_EMALFORMED);
    char dup[1200];
    snprintf(dup, sizeof dup, "{\"tenant\": \"other\", %s", payload + 1);
    CHECK_INT_EQ(check_token(hand_token("{\"alg\":\"HS256\",\"kid\":\"hs1\"}", dup, HS1), NULL),
                 TG_AUTH_EMALFORMED);
    CHECK_INT_EQ(check_token(hand_token("[\"HS256\"]", payload, HS1), NULL), TG_AUTH_EMALFORMED);
    CHECK_INT_EQ(check_token(hand_token("{\"alg\":\"HS256\",\"kid\":\"hs1\"}", "[1]", HS1), NULL),
                 TG_AUTH_EMALFORMED);
    CHECK_INT_EQ(check_token(hand_token("{\"alg\":\"HS256\",\"kid\":\"hs1\"}", payload, HS1), NULL),
                 0);
    free(c);
}

/* The toolsets claim: absent (unrestricted), names, an empty array (none),
 * and every malformed form refused; minted by tg_auth_mint_hs256_toolsets. */
static void test_toolsets_claim(void)
{
    struct {
        const char *extra;
        int rc;
        bool restricted;
        size_t n;
    } cases[] = {
        {", \"exp\": 1767225900", 0, false, 0},
        {", \"exp\": 1767225900, \"toolsets\": [\"crm\", \"default\"]", 0, true, 2},
        {", \"exp\": 1767225900, \"toolsets\": []", 0, true, 0},
        {", \"exp\": 1767225900, \"toolsets\": \"crm\"", TG_AUTH_ECLAIMS, false, 0},
        {", \"exp\": 1767225900, \"toolsets\": [\"Crm\"]", TG_AUTH_ECLAIMS, false, 0},
        {", \"exp\": 1767225900, \"toolsets\": [\"\"]", TG_AUTH_ECLAIMS, false, 0},
        {", \"exp\": 1767225900, \"toolsets\": [1]", TG_AUTH_ECLAIMS, false, 0},
        {", \"exp\": 1767225900, \"toolsets\": [\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\","
         "\"h\",\"i\",\"j\",\"k\",\"l\",\"m\",\"n\",\"o\",\"p\",\"q\"]",
         TG_AUTH_ECLAIMS, false, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *c = std_claims(cases[i].extra);
        tg_principal who;
        int rc = check_token(hs1(c), &who);
        if (rc != cases[i].rc) fprintf(stderr, "case %s: %s\n", c, last_why);
        CHECK_INT_EQ(rc, cases[i].rc);
        CHECK_INT_EQ(who.toolsets_restricted, cases[i].restricted);
        CHECK_INT_EQ(who.ntoolsets, cases[i].n);
        if (i == 1) CHECK_STR_EQ(who.toolsets[1], "default");
        free(c);
    }
    tg_auth_key key = {"k", "HS256", HS1};
    tg_auth *a = make_auth(&key, 1, 0);
    char h[2048];
    tg_principal who;
    char *t = tg_auth_mint_hs256_toolsets("k", HS1, ISS, AUD, "s", "t", "x", "crm,ops-1", NOW, 60);
    CHECK(t != NULL);
    snprintf(h, sizeof h, "Bearer %s", t ? t : "");
    CHECK_INT_EQ(tg_auth_check(a, h, NOW, &who, NULL, 0), 0);
    CHECK(who.toolsets_restricted);
    CHECK_INT_EQ(who.ntoolsets, 2);
    CHECK_STR_EQ(who.toolsets[0], "crm");
    CHECK_STR_EQ(who.toolsets[1], "ops-1");
    free(t);
    t = tg_auth_mint_hs256_toolsets("k", HS1, ISS, AUD, "s", "t", "x", "", NOW, 60);
    snprintf(h, sizeof h, "Bearer %s", t ? t : "");
    CHECK_INT_EQ(tg_auth_check(a, h, NOW, &who, NULL, 0), 0);
    CHECK(who.toolsets_restricted && who.ntoolsets == 0);
    free(t);
    CHECK(tg_auth_mint_hs256_toolsets("k", HS1, ISS, AUD, "s", "t", "x", "a,,b", NOW, 60) == NULL);
    CHECK(tg_auth_mint_hs256_toolsets("k", HS1, ISS, AUD, "s", "t", "x", "Bad", NOW, 60) == NULL);
    tg_auth_free(a);
}

static void test_rotation_and_mint(void)
{
    tg_auth_key keys[] = {{"2025", "HS256", HS1}, {"2026", "HS256", HS2}};
    tg_auth *a = make_auth(keys, 2, 0);
    char *old = tg_auth_mint_hs256("2025", HS1, ISS, AUD, "svc", "t1", "tools:list", NOW, 60);
    char *new = tg_auth_mint_hs256("2026", HS2, ISS, AUD, "svc", "t1", "tools:call", NOW, 60);
    char *crossed = tg_auth_mint_hs256("2025", HS2, ISS, AUD, "svc", "t1", NULL, NOW, 60);
    CHECK(old && new &&crossed);
    char h[2048];
    tg_principal who;
    snprintf(h, sizeof h, "Bearer %s", old);
    CHECK_INT_EQ(tg_auth_check(a, h, NOW, &who, NULL, 0), 0);
    CHECK_INT_EQ(who.scopes, TG_SCOPE_TOOLS_LIST);
    snprintf(h, sizeof h, "Bearer %s", new);
    CHECK_INT_EQ(tg_auth_check(a, h, NOW, &who, NULL, 0), 0);
    CHECK_INT_EQ(who.scopes, TG_SCOPE_TOOLS_CALL);
    CHECK_STR_EQ(who.sub, "svc");
    CHECK_STR_EQ(who.tenant, "t1");
    CHECK_INT_EQ(who.exp, NOW + 60);
    CHECK_INT_EQ(tg_auth_check(a, h, NOW + 89, &who, NULL, 0), 0);
    CHECK_INT_EQ(tg_auth_check(a, h, NOW + 90, &who, NULL, 0), TG_AUTH_EEXPIRED);
    snprintf(h, sizeof h, "Bearer %s", crossed);
    CHECK_INT_EQ(tg_auth_check(a, h, NOW, &who, NULL, 0), TG_AUTH_ESIGNATURE);
    /* The old key retired: its tokens stop working, the new ones go on. */
    tg_auth *b = make_auth(&keys[1], 1, 0);
    snprintf(h, sizeof h, "Bearer %s", old);
    CHECK_INT_EQ(tg_auth_check(b, h, NOW, &who, NULL, 0), TG_AUTH_EKID);
    snprintf(h, sizeof h, "Bearer %s", new);
    CHECK_INT_EQ(tg_auth_check(b, h, NOW, &who, NULL, 0), 0);
    free(old);
    free(new);
    free(crossed);
    tg_auth_free(b);

    char *t = tg_auth_mint_hs256(NULL, HS2, ISS, AUD, "svc", "t1", "", NOW, 60);
    CHECK(t != NULL);
    snprintf(h, sizeof h, "Bearer %s", t);
    CHECK_INT_EQ(tg_auth_check(a, h, NOW, &who, NULL, 0), TG_AUTH_EKID);
    free(t);
    tg_auth_free(a);

    CHECK(tg_auth_mint_hs256("k", "short", ISS, AUD, "s", "t", NULL, NOW, 60) == NULL);
    CHECK(tg_auth_mint_hs256("k", rsa_pub, ISS, AUD, "s", "t", NULL, NOW, 60) == NULL);
    CHECK(tg_auth_mint_hs256("k", HS1, ISS, AUD, "s", "bad tenant", NULL, NOW, 60) == NULL);
    CHECK(tg_auth_mint_hs256("k", HS1, ISS, AUD, "", "t", NULL, NOW, 60) == NULL);
    CHECK(tg_auth_mint_hs256("k", HS1, "", AUD, "s", "t", NULL, NOW, 60) == NULL);
    CHECK(tg_auth_mint_hs256("k", HS1, ISS, NULL, "s", "t", NULL, NOW, 60) == NULL);
    CHECK(tg_auth_mint_hs256("k", HS1, ISS, AUD, "s", "t", NULL, NOW, 0) == NULL);
    CHECK(tg_auth_mint_hs256("k", HS1, ISS, AUD, "s", "t", NULL, NOW, INT64_MAX) == NULL);
}

static void test_config(void)
{
    char long_kid[300];
    snprintf(long_kid, sizeof long_kid, "%0257d", 0);
    struct {
        tg_auth_key keys[2];
        size_t n;
        const char *issuer, *audience;
        unsigned leeway;
        const char *err;
    } cases[] = {
        {{{"k", "HS256", "too short"}}, 1, ISS, AUD, 0, "at least 32 bytes"},
        {{{"k", "HS256", NULL}}, 1, ISS, AUD, 0, "at least 32 bytes"},
        {{{"k", "HS256", rsa_pub}}, 1, ISS, AUD, 0, "not a PEM key"},
        {{{"k", "HS512", HS1}}, 1, ISS, AUD, 0, "alg must be"},
        {{{"k", "none", HS1}}, 1, ISS, AUD, 0, "alg must be"},
        {{{"k", NULL, HS1}}, 1, ISS, AUD, 0, "alg must be"},
        {{{"k", "RS256", "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n"}},
         1,
         ISS,
         AUD,
         0,
         "not a PEM public key"},
        {{{"k", "RS256", rsa_priv}}, 1, ISS, AUD, 0, "not a PEM public key"},
        {{{"k", "RS256", HS1}}, 1, ISS, AUD, 0, "not a PEM public key"},
        {{{"k", "RS256", ec_pub}}, 1, ISS, AUD, 0, "RSA public key"},
        {{{"k", "RS256", rsa_small_pub}}, 1, ISS, AUD, 0, "2048 to 8192 bits"},
        {{{"k", "ES256", rsa_pub}}, 1, ISS, AUD, 0, "P-256"},
        {{{"k", "HS256", HS1}, {"k", "HS256", HS2}}, 2, ISS, AUD, 0, "two keys have the kid k"},
        {{{"k", "HS256", HS1}, {NULL, "HS256", HS2}}, 2, ISS, AUD, 0, "every key needs a kid"},
        {{{long_kid, "HS256", HS1}}, 1, ISS, AUD, 0, "longer than"},
        {{{"k", "HS256", HS1}}, 0, ISS, AUD, 0, "keys are needed"},
        {{{"k", "HS256", HS1}}, 1, NULL, AUD, 0, "an issuer and an audience"},
        {{{"k", "HS256", HS1}}, 1, ISS, "", 0, "an issuer and an audience"},
        {{{"k", "HS256", HS1}}, 1, ISS, AUD, 301, "at most 300 seconds"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tg_auth_config cfg = {cases[i].keys, cases[i].n, cases[i].issuer, cases[i].audience,
                              cases[i].leeway};
        tg_auth *a = NULL;
        char err[256] = "";
        CHECK_INT_EQ(tg_auth_new(&cfg, &a, err, sizeof err), TG_AUTH_ECONFIG);
        CHECK(a == NULL);
        if (!strstr(err, cases[i].err)) fprintf(stderr, "config case %zu: %s\n", i, err);
        CHECK(strstr(err, cases[i].err) != NULL);
        CHECK_INT_EQ(tg_auth_new(&cfg, &a, NULL, 0), TG_AUTH_ECONFIG);
    }
    tg_auth *a = NULL;
    CHECK_INT_EQ(tg_auth_new(NULL, &a, NULL, 0), TG_AUTH_ECONFIG);
    tg_auth_free(NULL);
}

/* Checks from several threads at once against one tg_auth. */
static char *shared_headers[3];
static void *checker(void *arg)
{
    (void)arg;
    intptr_t bad = 0;
    for (int i = 0; i < 150; i++) {
        tg_principal who;
        char why[64];
        if (tg_auth_check(auth_main, shared_headers[i % 3], NOW, &who, why, sizeof why) != 0 ||
            strcmp(who.tenant, "acme") != 0)
            bad++;
    }
    return (void *)bad;
}

static void test_threads(void)
{
    char *c = std_claims(GOOD_EXTRA);
    char *tokens[3] = {hs1(c), sign(JWT_ALG_RS256, rsa_priv, "rs1", c),
                       sign(JWT_ALG_ES256, ec_priv, "es1", c)};
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(tokens[i]) + 8;
        shared_headers[i] = malloc(n);
        snprintf(shared_headers[i], n, "Bearer %s", tokens[i]);
        free(tokens[i]);
    }
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        CHECK_INT_EQ(pthread_create(&th[i], NULL, checker, NULL), 0);
    for (int i = 0; i < 4; i++) {
        void *bad;
        pthread_join(th[i], &bad);
        CHECK_INT_EQ((intptr_t)bad, 0);
    }
    for (int i = 0; i < 3; i++)
        free(shared_headers[i]);
    free(c);
}

int main(void)
{
    make_keys();
    tg_auth_key keys[] = {
        {"hs1", "HS256", HS1},
        {"hs2", "HS256", HS2},
        {"rs1", "RS256", rsa_pub},
        {"es1", "ES256", ec_pub},
    };
    auth_main = make_auth(keys, 4, 0);

    test_valid();
    test_header_forms();
    test_times();
    test_issuer_audience();
    test_subject_tenant_scope();
    test_algorithms_and_keys();
    test_rotation_and_mint();
    test_toolsets_claim();
    test_config();
    test_threads();

    tg_auth_free(auth_main);
    free(rsa_priv);
    free(rsa_pub);
    free(other_rsa_priv);
    free(rsa_small_pub);
    free(ec_priv);
    free(ec_pub);
    return check_report();
}
