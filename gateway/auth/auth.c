/* Bearer token verification over libjwt 1.10 (see auth.h for the contract).
 *
 * libjwt's jwt_decode trusts the token's own header: it verifies with the alg
 * the header names, using whatever key bytes it is handed, so an HS256 token
 * checked with an RSA key's PEM would be an HMAC with the PEM as its secret.
 * Everything libjwt would trust is therefore checked here first, on our own
 * strict parse of the token: the shape, the base64url text, the header's alg
 * against the configured alg of the key its kid chooses, and the signature's
 * length. libjwt then only computes an HS256 signature; RS256 and ES256 are
 * verified here with the key parsed once at startup (libjwt 1.10 parses the
 * PEM again on every check, ten times the cost of the verification itself).
 * The claims are read from our parse of the very payload bytes verified. */
#include "gateway/auth/auth.h"

#include "gateway/core/alloc.h"
#include "gateway/core/text.h"

#include <errno.h>
#include <jansson.h>
#include <jwt.h>
#include <math.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* 9999-12-31T23:59:59Z: no real clock or token goes past it, and sums of two
 * such times and a leeway stay far from overflowing int64_t. */
#define MAX_TIME    INT64_C(253402300799)
#define MAX_KEYS    64
#define MAX_KID     256
#define RSA_MIN_BIT 2048
#define RSA_MAX_BIT 8192 /* bounds the time one check can spend verifying */

typedef enum key_alg { ALG_HS256, ALG_RS256, ALG_ES256 } key_alg;

static const char *const alg_names[] = {"HS256", "RS256", "ES256"};

typedef struct auth_key {
    char *kid; /* "" when the only key has none */
    key_alg alg;
    unsigned char *material; /* HS256: the secret */
    size_t len;
    EVP_PKEY *pkey; /* RS256, ES256: the public key, shared by every check (read-only) */
    size_t sig_len; /* the bytes a signature by this key decodes to */
} auth_key;

struct tg_auth {
    auth_key *keys;
    size_t nkeys;
    char *issuer;
    char *audience;
    int64_t leeway;
};

static const struct {
    uint32_t bit;
    const char *name;
} scope_table[] = {
#define XX(name, bit, wire) {bit, wire},
    TG_AUTH_SCOPES(XX)
#undef XX
};

const char *tg_scope_name(uint32_t scope)
{
    for (size_t i = 0; i < sizeof scope_table / sizeof scope_table[0]; i++)
        if (scope_table[i].bit == scope) return scope_table[i].name;
    return NULL;
}

uint32_t tg_scopes_parse(const char *space_separated)
{
    uint32_t bits = 0;
    const char *p = space_separated;
    while (p && *p) {
        size_t n = strcspn(p, " ");
        for (size_t i = 0; i < sizeof scope_table / sizeof scope_table[0]; i++)
            if (strlen(scope_table[i].name) == n && memcmp(scope_table[i].name, p, n) == 0)
                bits |= scope_table[i].bit;
        p += n;
        p += strspn(p, " ");
    }
    return bits;
}

static bool is_pem(const char *s)
{
    return strstr(s, "-----BEGIN") != NULL;
}

/* ^[a-z0-9][a-z0-9_-]{0,63}$, as gateway/registry/toolsets.h names toolsets. */
static bool valid_toolset(const char *s, size_t n)
{
    if (n == 0 || n > TG_AUTH_TOOLSET_NAME_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        bool alnum = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9');
        if (!alnum && (i == 0 || (s[i] != '_' && s[i] != '-'))) return false;
    }
    return true;
}

/* The "toolsets" claim into who; false when it is not a short array of names. */
static bool read_toolsets(const json_t *v, tg_principal *who)
{
    if (!json_is_array(v) || json_array_size(v) > TG_AUTH_MAX_TOOLSETS) return false;
    for (size_t i = 0; i < json_array_size(v); i++) {
        const json_t *name = json_array_get(v, i);
        if (!json_is_string(name) ||
            !valid_toolset(json_string_value(name), json_string_length(name)))
            return false;
        memcpy(who->toolsets[i], json_string_value(name), json_string_length(name) + 1);
    }
    who->ntoolsets = json_array_size(v);
    who->toolsets_restricted = true;
    return true;
}

static bool valid_tenant(const char *s, size_t n)
{
    if (n < 1 || n > 128) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

/* The subject goes into logs and the audit trail, so no control characters;
 * jansson has already made sure it is UTF-8 without NUL. */
static bool valid_sub(const char *s, size_t n)
{
    if (n < 1 || n > 255) return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7F) return false;
    return true;
}

/* Reads the public key in pem, checks it fits alg and writes it out again, so
 * that what libjwt parses on each check is the key judged here. */
static int load_public_key(auth_key *k, const char *pem, char *err, size_t errlen)
{
    int rc = TG_AUTH_ECONFIG;
    BIO *in = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *pk = in ? PEM_read_bio_PUBKEY(in, NULL, NULL, NULL) : NULL;
    if (!pk) {
        tg_format(err, errlen, "key %s: not a PEM public key", k->kid);
        goto out;
    }
    if (k->alg == ALG_RS256) {
        int bits = EVP_PKEY_get_bits(pk);
        if (EVP_PKEY_get_base_id(pk) != EVP_PKEY_RSA || bits < RSA_MIN_BIT || bits > RSA_MAX_BIT) {
            tg_format(err, errlen, "key %s: RS256 needs an RSA public key of %d to %d bits", k->kid,
                      RSA_MIN_BIT, RSA_MAX_BIT);
            goto out;
        }
        k->sig_len = (size_t)EVP_PKEY_get_size(pk);
    } else {
        char curve[64] = "";
        if (EVP_PKEY_get_base_id(pk) != EVP_PKEY_EC ||
            !EVP_PKEY_get_group_name(pk, curve, sizeof curve, NULL) ||
            strcmp(curve, "prime256v1") != 0) {
            tg_format(err, errlen, "key %s: ES256 needs an EC public key on P-256", k->kid);
            goto out;
        }
        k->sig_len = 64; /* r and s, 32 bytes each (RFC 7518 section 3.4) */
    }
    k->pkey = pk;
    pk = NULL;
    rc = 0;
out:
    EVP_PKEY_free(pk);
    BIO_free(in);
    /* OpenSSL's error queue is per thread; leave nothing in it for the caller. */
    ERR_clear_error();
    return rc;
}

static int load_key(auth_key *k, const tg_auth_key *src, size_t nkeys, char *err, size_t errlen)
{
    const char *kid = src->kid ? src->kid : "";
    if (!*kid && nkeys > 1) {
        tg_format(err, errlen, "every key needs a kid when there are several");
        return TG_AUTH_ECONFIG;
    }
    if (strlen(kid) > MAX_KID) {
        tg_format(err, errlen, "a kid is longer than %d bytes", MAX_KID);
        return TG_AUTH_ECONFIG;
    }
    k->kid = tg_xstrdup(kid);
    size_t i = 0;
    while (i < sizeof alg_names / sizeof alg_names[0] &&
           !(src->alg && strcmp(src->alg, alg_names[i]) == 0))
        i++;
    if (i == sizeof alg_names / sizeof alg_names[0]) {
        tg_format(err, errlen, "key %s: alg must be HS256, RS256 or ES256", k->kid);
        return TG_AUTH_ECONFIG;
    }
    k->alg = (key_alg)i;
    const char *material = src->secret_or_pem ? src->secret_or_pem : "";
    if (k->alg != ALG_HS256) return load_public_key(k, material, err, errlen);
    /* A PEM as an HMAC secret is the algorithm confusion attack's key: refuse it. */
    if (strlen(material) < TG_AUTH_HS_MIN_SECRET || is_pem(material)) {
        tg_format(err, errlen, "key %s: an HS256 secret is at least %d bytes and not a PEM key",
                  k->kid, TG_AUTH_HS_MIN_SECRET);
        return TG_AUTH_ECONFIG;
    }
    k->len = strlen(material);
    k->material = (unsigned char *)tg_xstrdup(material);
    k->sig_len = 32;
    return 0;
}

int tg_auth_new(const tg_auth_config *cfg, tg_auth **out, char *err, size_t errlen)
{
    char scratch[1];
    if (!err) {
        err = scratch;
        errlen = sizeof scratch;
    }
    *out = NULL;
    if (!cfg || !cfg->keys || cfg->nkeys == 0 || cfg->nkeys > MAX_KEYS) {
        tg_format(err, errlen, "between 1 and %d keys are needed", MAX_KEYS);
        return TG_AUTH_ECONFIG;
    }
    if (!cfg->issuer || !*cfg->issuer || !cfg->audience || !*cfg->audience) {
        tg_format(err, errlen, "an issuer and an audience are needed");
        return TG_AUTH_ECONFIG;
    }
    if (cfg->leeway_s > TG_AUTH_LEEWAY_MAX) {
        tg_format(err, errlen, "the leeway is at most %d seconds", TG_AUTH_LEEWAY_MAX);
        return TG_AUTH_ECONFIG;
    }
    tg_auth *a = tg_xcalloc(1, sizeof *a);
    a->keys = tg_xcalloc(cfg->nkeys, sizeof *a->keys);
    a->issuer = tg_xstrdup(cfg->issuer);
    a->audience = tg_xstrdup(cfg->audience);
    a->leeway = cfg->leeway_s ? cfg->leeway_s : TG_AUTH_LEEWAY_DEFAULT;
    int rc;
    for (size_t i = 0; i < cfg->nkeys; i++) {
        a->nkeys++;
        rc = load_key(&a->keys[i], &cfg->keys[i], cfg->nkeys, err, errlen);
        if (rc != 0) goto fail;
        for (size_t j = 0; j < i; j++) {
            if (strcmp(a->keys[j].kid, a->keys[i].kid) == 0) {
                tg_format(err, errlen, "two keys have the kid %s", a->keys[i].kid);
                rc = TG_AUTH_ECONFIG;
                goto fail;
            }
        }
    }
    *out = a;
    return 0;
fail:
    tg_auth_free(a);
    return rc;
}

void tg_auth_free(tg_auth *a)
{
    if (!a) return;
    for (size_t i = 0; i < a->nkeys; i++) {
        free(a->keys[i].kid);
        if (a->keys[i].material) OPENSSL_cleanse(a->keys[i].material, a->keys[i].len);
        free(a->keys[i].material);
        EVP_PKEY_free(a->keys[i].pkey);
    }
    free(a->keys);
    free(a->issuer);
    free(a->audience);
    free(a);
}

static int b64url_value(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
}

/* Decodes s[0..n), base64url without padding (RFC 7515 section 2), into out,
 * which has room for n * 3 / 4 bytes. False for a character outside the
 * alphabet, a length no encoding has, or stray bits in the last character:
 * each value has exactly one text, so a token's text cannot be varied. */
static bool b64url_decode(const char *s, size_t n, unsigned char *out, size_t *outlen)
{
    if (n % 4 == 1) return false;
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64url_value(s[i]);
        if (v < 0) return false;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    *outlen = o;
    return acc == 0;
}

/* Finds the token in "Bearer <token>" (RFC 6750 section 2.1: the scheme in
 * any case, 1*SP, one b64token). Returns 0, TG_AUTH_EMISSING for another
 * scheme (RFC 6750 section 3.1 treats it as no authentication at all) or
 * TG_AUTH_EMALFORMED. */
static int bearer_token(const char *header, const char **token, const char **why)
{
    size_t scheme = strcspn(header, " ");
    if (scheme != 6 || strncasecmp(header, "Bearer", 6) != 0) {
        *why = "the Authorization header is not a Bearer token";
        return TG_AUTH_EMISSING;
    }
    const char *t = header + scheme + strspn(header + scheme, " ");
    if (!*t) {
        *why = "no token after Bearer";
        return TG_AUTH_EMALFORMED;
    }
    if (strchr(t, ' ')) {
        *why = "more than one token after Bearer";
        return TG_AUTH_EMALFORMED;
    }
    *token = t;
    return 0;
}

/* A NumericDate (RFC 7519 section 2): an integer, or a number with a fraction
 * taken down to the second, within 0..MAX_TIME. */
static bool read_time(const json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < 0 || i > MAX_TIME) return false;
        *out = (int64_t)i;
        return true;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d >= 0 && d <= (double)MAX_TIME)) return false;
        *out = (int64_t)floor(d);
        return true;
    }
    return false;
}

static bool audience_matches(const json_t *aud, const char *ours)
{
    if (json_is_string(aud)) return strcmp(json_string_value(aud), ours) == 0;
    for (size_t i = 0; i < json_array_size(aud); i++) {
        const json_t *v = json_array_get(aud, i);
        if (json_is_string(v) && strcmp(json_string_value(v), ours) == 0) return true;
    }
    return false;
}

/* Picks the key for the header and checks the header against it. */
static int choose_key(const tg_auth *a, const json_t *header, const auth_key **key,
                      const char **why)
{
    const json_t *alg = json_object_get(header, "alg");
    const json_t *kid = json_object_get(header, "kid");
    const json_t *typ = json_object_get(header, "typ");
    if (!json_is_string(alg) || (kid && !json_is_string(kid))) {
        *why = "the token header has no alg, or a kid that is not a string";
        return TG_AUTH_EMALFORMED;
    }
    /* We understand no extension, and RFC 7515 section 4.1.11 says to refuse
     * a token that needs one. */
    if (json_object_get(header, "crit")) {
        *why = "the token header has critical extensions";
        return TG_AUTH_EMALFORMED;
    }
    /* libjwt 1.10 refuses any typ but JWT; saying so here names the reason. */
    if (typ && !(json_is_string(typ) && strcasecmp(json_string_value(typ), "JWT") == 0)) {
        *why = "the token type is not JWT";
        return TG_AUTH_EMALFORMED;
    }
    if (strcasecmp(json_string_value(alg), "none") == 0) {
        *why = "unsigned tokens (alg none) are not accepted";
        return TG_AUTH_EALG;
    }
    const auth_key *k = NULL;
    if (a->nkeys == 1 && !*a->keys[0].kid) {
        k = &a->keys[0];
    } else if (!kid) {
        if (a->nkeys == 1) k = &a->keys[0];
    } else {
        for (size_t i = 0; i < a->nkeys && !k; i++)
            if (strcmp(a->keys[i].kid, json_string_value(kid)) == 0) k = &a->keys[i];
    }
    if (!k) {
        *why = kid ? "no key has the token's kid" : "the token has no kid and several keys exist";
        return TG_AUTH_EKID;
    }
    if (strcmp(json_string_value(alg), alg_names[k->alg]) != 0) {
        *why = "the token's alg is not the algorithm of its key";
        return TG_AUTH_EALG;
    }
    *key = k;
    return 0;
}

/* Judges the claims of a payload whose signature verified. */
static int check_claims(const tg_auth *a, const json_t *claims, int64_t now_s, tg_principal *who,
                        const char **why)
{
    int64_t exp, nbf;
    const json_t *v = json_object_get(claims, "exp");
    if (!v || !read_time(v, &exp)) {
        *why = "the token has no valid exp claim";
        return TG_AUTH_ECLAIMS;
    }
    if (now_s >= exp + a->leeway) {
        *why = "the token has expired";
        return TG_AUTH_EEXPIRED;
    }
    v = json_object_get(claims, "nbf");
    if (v && !read_time(v, &nbf)) {
        *why = "the token's nbf claim is not a time";
        return TG_AUTH_ECLAIMS;
    }
    if (v && nbf > now_s + a->leeway) {
        *why = "the token is not valid yet";
        return TG_AUTH_ENOTYET;
    }
    v = json_object_get(claims, "iss");
    if (!json_is_string(v) || strcmp(json_string_value(v), a->issuer) != 0) {
        *why = "the token is from another issuer";
        return TG_AUTH_EISSUER;
    }
    if (!audience_matches(json_object_get(claims, "aud"), a->audience)) {
        *why = "the token is not meant for this gateway (aud)";
        return TG_AUTH_EAUDIENCE;
    }
    v = json_object_get(claims, "sub");
    if (!json_is_string(v) || !valid_sub(json_string_value(v), json_string_length(v))) {
        *why = "the token has no valid sub claim";
        return TG_AUTH_ECLAIMS;
    }
    memcpy(who->sub, json_string_value(v), json_string_length(v) + 1);
    v = json_object_get(claims, "tenant");
    if (!json_is_string(v) || !valid_tenant(json_string_value(v), json_string_length(v))) {
        *why = "the token has no valid tenant claim";
        return TG_AUTH_ECLAIMS;
    }
    memcpy(who->tenant, json_string_value(v), json_string_length(v) + 1);
    v = json_object_get(claims, "scope");
    if (v && !json_is_string(v)) {
        *why = "the token's scope claim is not a string";
        return TG_AUTH_ECLAIMS;
    }
    who->scopes = tg_scopes_parse(json_string_value(v));
    v = json_object_get(claims, "toolsets");
    if (v && !read_toolsets(v, who)) {
        *why = "the token's toolsets claim is not an array of at most 16 toolset names";
        return TG_AUTH_ECLAIMS;
    }
    who->exp = exp;
    return 0;
}

/* Verifies an RS256 or ES256 signature (sig, slen bytes) over the signing
 * input (the token's first len bytes: header.payload). Returns 0, EINVAL
 * when it does not verify, or ENOMEM. */
static int verify_public(const auth_key *key, const char *input, size_t len,
                         const unsigned char *sig, size_t slen)
{
    unsigned char *der = NULL;
    int der_len = 0;
    if (key->alg == ALG_ES256) {
        /* JWS carries r||s; OpenSSL verifies the DER form. */
        ECDSA_SIG *es = ECDSA_SIG_new();
        BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
        if (!es || !r || !s || ECDSA_SIG_set0(es, r, s) != 1) {
            BN_free(r);
            BN_free(s);
            ECDSA_SIG_free(es);
            return ENOMEM;
        }
        der_len = i2d_ECDSA_SIG(es, &der);
        ECDSA_SIG_free(es);
        if (der_len <= 0) return ENOMEM;
        sig = der;
        slen = (size_t)der_len;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int rc = ENOMEM;
    if (ctx && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key->pkey) == 1)
        rc = EVP_DigestVerify(ctx, sig, slen, (const unsigned char *)input, len) == 1 ? 0 : EINVAL;
    EVP_MD_CTX_free(ctx);
    OPENSSL_free(der);
    return rc;
}

int tg_auth_check(const tg_auth *a, const char *authorization, int64_t now_s, tg_principal *who,
                  char *why, size_t whylen)
{
    const char *reason = NULL;
    unsigned char *buf = NULL;
    json_t *header = NULL, *claims = NULL;
    jwt_t *jwt = NULL;
    int rc;
    memset(who, 0, sizeof *who);

    if (now_s < 0 || now_s > MAX_TIME) {
        reason = "the gateway's clock is out of range";
        rc = TG_AUTH_EINTERNAL;
        goto out;
    }
    if (!authorization || !*authorization) {
        reason = "no Authorization header";
        rc = TG_AUTH_EMISSING;
        goto out;
    }
    const char *token;
    rc = bearer_token(authorization, &token, &reason);
    if (rc != 0) goto out;

    rc = TG_AUTH_EMALFORMED;
    size_t len = strlen(token);
    if (len > TG_AUTH_MAX_TOKEN) {
        reason = "the token is longer than 8192 bytes";
        goto out;
    }
    const char *dot1 = strchr(token, '.');
    const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    if (!dot2 || strchr(dot2 + 1, '.')) {
        reason = "the token is not three dot-separated parts (JWS compact form)";
        goto out;
    }
    /* Decoded, all three parts fit in len bytes. */
    buf = tg_xmalloc(len);
    size_t hlen, plen, slen;
    unsigned char *hbuf = buf;
    if (!b64url_decode(token, (size_t)(dot1 - token), hbuf, &hlen)) {
        reason = "the token header is not base64url";
        goto out;
    }
    unsigned char *pbuf = hbuf + hlen;
    if (!b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), pbuf, &plen)) {
        reason = "the token payload is not base64url";
        goto out;
    }
    unsigned char *sbuf = pbuf + plen;
    if (!b64url_decode(dot2 + 1, strlen(dot2 + 1), sbuf, &slen)) {
        reason = "the token signature is not base64url";
        goto out;
    }
    /* Duplicate names would let us and libjwt read different values. */
    header = json_loadb((const char *)hbuf, hlen, JSON_REJECT_DUPLICATES, NULL);
    claims = json_loadb((const char *)pbuf, plen, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(header) || !json_is_object(claims)) {
        reason = "the token header or payload is not a JSON object";
        goto out;
    }

    const auth_key *key;
    rc = choose_key(a, header, &key, &reason);
    if (rc != 0) goto out;
    if (slen != key->sig_len) {
        reason = "the token signature has the wrong length for its key";
        rc = TG_AUTH_ESIGNATURE;
        goto out;
    }
    int jrc = key->pkey ? verify_public(key, token, (size_t)(dot2 - token), sbuf, slen)
                        : jwt_decode(&jwt, token, key->material, (int)key->len);
    /* Bad signatures leave OpenSSL errors behind. */
    ERR_clear_error();
    if (jrc != 0) {
        reason = jrc == ENOMEM ? "out of memory verifying the token"
                               : "the token signature does not verify";
        rc = jrc == ENOMEM ? TG_AUTH_EINTERNAL : TG_AUTH_ESIGNATURE;
        goto out;
    }

    rc = check_claims(a, claims, now_s, who, &reason);
out:
    if (rc != 0) {
        memset(who, 0, sizeof *who);
        if (why) tg_format(why, whylen, "%s", reason);
    }
    jwt_free(jwt);
    json_decref(claims);
    json_decref(header);
    free(buf);
    return rc;
}

char *tg_auth_mint_hs256(const char *kid, const char *secret, const char *issuer,
                         const char *audience, const char *sub, const char *tenant,
                         const char *scope, int64_t now_s, int64_t ttl_s)
{
    return tg_auth_mint_hs256_toolsets(kid, secret, issuer, audience, sub, tenant, scope, NULL,
                                       now_s, ttl_s);
}

/* Returns: new string, {"toolsets": [...]} of a comma-separated list, or
 * NULL when a name is not one or there are too many. */
static char *toolsets_grant(const char *list)
{
    json_t *names = json_array();
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");
        json_t *name = json_stringn(p, n);
        if (!name || !valid_toolset(p, n) || json_array_size(names) == TG_AUTH_MAX_TOOLSETS) {
            json_decref(name);
            json_decref(names);
            return NULL;
        }
        json_array_append_new(names, name);
        p += n;
        if (*p == ',') p++;
    }
    json_t *doc = json_pack("{s:o}", "toolsets", names);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    return text;
}

char *tg_auth_mint_hs256_toolsets(const char *kid, const char *secret, const char *issuer,
                                  const char *audience, const char *sub, const char *tenant,
                                  const char *scope, const char *toolsets, int64_t now_s,
                                  int64_t ttl_s)
{
    if (!secret || strlen(secret) < TG_AUTH_HS_MIN_SECRET || is_pem(secret) || !issuer ||
        !*issuer || !audience || !*audience || !sub || !valid_sub(sub, strlen(sub)) || !tenant ||
        !valid_tenant(tenant, strlen(tenant)) || now_s < 0 || now_s > MAX_TIME || ttl_s <= 0 ||
        ttl_s > MAX_TIME - now_s)
        return NULL;
    char *grant = NULL;
    if (toolsets && !(grant = toolsets_grant(toolsets))) return NULL;
    jwt_t *jwt = NULL;
    char *token = NULL;
    if (jwt_new(&jwt) != 0) {
        free(grant);
        return NULL;
    }
    if ((kid && *kid && jwt_add_header(jwt, "kid", kid) != 0) ||
        jwt_add_grant(jwt, "iss", issuer) != 0 || jwt_add_grant(jwt, "aud", audience) != 0 ||
        jwt_add_grant(jwt, "sub", sub) != 0 || jwt_add_grant(jwt, "tenant", tenant) != 0 ||
        (scope && *scope && jwt_add_grant(jwt, "scope", scope) != 0) ||
        (grant && jwt_add_grants_json(jwt, grant) != 0) ||
        jwt_add_grant_int(jwt, "iat", (long)now_s) != 0 ||
        jwt_add_grant_int(jwt, "exp", (long)(now_s + ttl_s)) != 0 ||
        jwt_set_alg(jwt, JWT_ALG_HS256, (const unsigned char *)secret, (int)strlen(secret)) != 0)
        goto out;
    token = jwt_encode_str(jwt);
out:
    jwt_free(jwt);
    free(grant);
    return token;
}
