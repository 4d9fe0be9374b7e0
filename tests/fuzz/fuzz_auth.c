/* libFuzzer target for Authorization header values (gateway/auth): each
 * input goes to tg_auth_check as the header, and again behind "Bearer " so
 * mutations reach the token parser directly. The verifier has an HS256 key
 * (kid "hs") and an ES256 key (kid "es"); the corpus holds tokens signed by
 * both, at a fixed clock so they stay valid.
 *
 * Beyond "no crash, no leak", the target abort()s when a result is not a
 * TG_AUTH_E* code of a check, a reason is empty, unterminated or anything but
 * printable ASCII without quotes, a refusal leaves the principal filled, or an
 * accepted token's signature does not verify independently here (HMAC or
 * ECDSA over the first two parts with OpenSSL): acceptance without a valid
 * signature is a forgery. */
#include "gateway/auth/auth.h"

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW       INT64_C(1767225600) /* 2026-01-01T00:00:00Z, the corpus's clock */
#define HS_SECRET "fuzz-target-hs256-secret-32-byte"
#define ES_PUBLIC                                                                                  \
    "-----BEGIN PUBLIC KEY-----\n"                                                                 \
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEaB8Rilh0tt957fU3JRF9J8OROWzW\n"                           \
    "x48aWtSEGw5zVa2Cc1T645lqJE76sKqvC/Y5fbDQsNs/Pq9kEzaV39MCUQ==\n"                               \
    "-----END PUBLIC KEY-----\n"

static tg_auth *auth;
static EVP_PKEY *es_key;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const tg_auth_key keys[] = {{"hs", "HS256", HS_SECRET}, {"es", "ES256", ES_PUBLIC}};
    tg_auth_config cfg = {keys, 2, "https://issuer.example", "https://gw.example/mcp", 0};
    if (tg_auth_new(&cfg, &auth, NULL, 0) != 0) abort();
    BIO *b = BIO_new_mem_buf(ES_PUBLIC, -1);
    es_key = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
    BIO_free(b);
    if (!es_key) abort();
    return 0;
}

static bool b64url_decode(const char *s, size_t n, unsigned char *out, size_t *outlen)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        const char *p = s[i] ? strchr(alphabet, s[i]) : NULL;
        if (!p) return false;
        acc = (acc << 6) | (uint32_t)(p - alphabet);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    *outlen = o;
    return true;
}

static bool es256_verifies(const char *msg, size_t msglen, const unsigned char *sig)
{
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
    if (!es || !r || !s || !ECDSA_SIG_set0(es, r, s)) abort();
    unsigned char *der = NULL;
    int derlen = i2d_ECDSA_SIG(es, &der);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = derlen > 0 && ctx &&
              EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, es_key) == 1 &&
              EVP_DigestVerify(ctx, der, (size_t)derlen, (const unsigned char *)msg, msglen) == 1;
    EVP_MD_CTX_free(ctx);
    OPENSSL_free(der);
    ECDSA_SIG_free(es);
    return ok;
}

/* Whether the token in an accepted header carries a signature that one of
 * the two keys made. */
static bool signature_verifies(const char *header)
{
    const char *t = strrchr(header, ' ');
    t = t ? t + 1 : header;
    const char *last_dot = strrchr(t, '.');
    if (!last_dot) return false;
    unsigned char sig[TG_AUTH_MAX_TOKEN];
    size_t siglen;
    if (!b64url_decode(last_dot + 1, strlen(last_dot + 1), sig, &siglen)) return false;
    size_t msglen = (size_t)(last_dot - t);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned maclen = 0;
    HMAC(EVP_sha256(), HS_SECRET, (int)strlen(HS_SECRET), (const unsigned char *)t, msglen, mac,
         &maclen);
    if (siglen == maclen && memcmp(sig, mac, maclen) == 0) return true;
    return siglen == 64 && es256_verifies(t, msglen, sig);
}

static void check_one(const char *header)
{
    tg_principal who;
    char why[96];
    memset(why, 0x7F, sizeof why);
    int rc = tg_auth_check(auth, header, NOW, &who, why, sizeof why);
    if (rc > 0 || rc < TG_AUTH_ELAST || rc == TG_AUTH_ECONFIG) abort();
    if (rc == 0) {
        size_t sub = strnlen(who.sub, sizeof who.sub),
               tenant = strnlen(who.tenant, sizeof who.tenant);
        if (sub == 0 || sub == sizeof who.sub || tenant == 0 || tenant == sizeof who.tenant)
            abort();
        if (!signature_verifies(header)) abort();
        return;
    }
    if (who.sub[0] || who.tenant[0] || who.scopes || who.exp) abort();
    size_t n = strnlen(why, sizeof why);
    if (n == 0 || n == sizeof why) abort();
    for (size_t i = 0; i < n; i++)
        if (why[i] < 0x20 || why[i] > 0x7E || why[i] == '"' || why[i] == '\\') abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 2 * TG_AUTH_MAX_TOKEN) return 0;
    char *header = malloc(size + 8);
    memcpy(header, "Bearer ", 7);
    memcpy(header + 7, data, size);
    header[size + 7] = '\0';
    check_one(header + 7);
    check_one(header);
    free(header);
    return 0;
}
