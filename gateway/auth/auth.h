/* Bearer token verification: the JWT access tokens every request but the
 * health checks carries, made into a principal (subject, tenant, scopes).
 *
 * Invariants: a token is only believed after its signature verifies with a
 * configured key that the token's "kid" names, under exactly the algorithm
 * configured for that key (never "none", never an HMAC over a public key:
 * algorithm confusion); its "iss" is ours, its "aud" names this gateway's
 * resource URL (MCP authorization, RFC 8707), and it has not expired. Keys
 * never come from the token (jku, jwk, x5u are ignored). A tg_auth is
 * immutable after creation, so any number of threads may check tokens with it
 * at once. Nothing here echoes a token or a claim back in a reason. */
#ifndef TG_AUTH_AUTH_H
#define TG_AUTH_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tg_auth tg_auth;

/* Results of tg_auth_new and tg_auth_check. Every failure of a check is an
 * HTTP 401 (TG_EUNAUTHORIZED) with a WWW-Authenticate challenge; RFC 6750
 * section 3.1 puts error="invalid_token" in it for all but TG_AUTH_EMISSING,
 * where the client simply did not authenticate. TG_AUTH_EINTERNAL is a 500. */
enum {
    TG_AUTH_OK = 0,
    TG_AUTH_EMISSING = -1,   /* no Authorization header, or an empty one */
    TG_AUTH_EMALFORMED = -2, /* not "Bearer <JWT>", or not a well-formed JWT */
    TG_AUTH_EALG = -3,       /* alg none, or not the algorithm of the key */
    TG_AUTH_EKID = -4,       /* no configured key has the token's kid */
    TG_AUTH_ESIGNATURE = -5, /* the signature does not verify */
    TG_AUTH_EEXPIRED = -6,   /* exp has passed (beyond the leeway) */
    TG_AUTH_ENOTYET = -7,    /* nbf is still ahead (beyond the leeway) */
    TG_AUTH_EISSUER = -8,    /* iss is not the configured issuer */
    TG_AUTH_EAUDIENCE = -9,  /* aud does not name the configured audience */
    TG_AUTH_ECLAIMS = -10,   /* exp, sub or tenant missing or invalid */
    TG_AUTH_EINTERNAL = -11, /* libjwt failed for want of memory; now_s out of range */
    TG_AUTH_ECONFIG = -12,   /* tg_auth_new: the configuration is refused */
    TG_AUTH_ELAST = TG_AUTH_ECONFIG,
};

#define TG_AUTH_MAX_TOKEN      8192 /* bytes of JWT accepted, header and dots included */
#define TG_AUTH_LEEWAY_DEFAULT 30   /* seconds of clock skew for exp and nbf */
#define TG_AUTH_LEEWAY_MAX     300
#define TG_AUTH_HS_MIN_SECRET  32 /* bytes: HS256 needs a key as long as its hash */

typedef struct tg_auth_key {
    const char *kid; /* the JWT header's "kid"; NULL or "" only when it is the one key */
    const char *alg; /* "HS256", "RS256" (2048 to 8192 bits) or "ES256" (P-256) */
    /* HS256: the shared secret, at least TG_AUTH_HS_MIN_SECRET bytes.
     * RS256, ES256: the PEM public key ("-----BEGIN PUBLIC KEY-----"). */
    const char *secret_or_pem;
} tg_auth_key;

typedef struct tg_auth_config {
    /* Several keys at once, chosen by kid, so keys rotate without downtime:
     * add the new key, move the issuer to it, then drop the old one. kids are
     * distinct. A token without kid is checked with the only key when there
     * is exactly one, and refused when there are several; a key without kid
     * (the only one) checks every token, whatever kid it names. */
    const tg_auth_key *keys;
    size_t nkeys;
    const char *issuer;   /* required "iss", compared exactly */
    const char *audience; /* required in "aud" (a string, or an array of strings): this
                             gateway's resource URL, compared exactly */
    unsigned leeway_s;    /* clock skew for exp and nbf; 0 takes TG_AUTH_LEEWAY_DEFAULT,
                             more than TG_AUTH_LEEWAY_MAX is refused */
} tg_auth_config;

/* Copies everything cfg points to. Returns 0 with *out set, or
 * TG_AUTH_ECONFIG with a one-line reason in err (err may be NULL): no keys,
 * no issuer or audience, an unknown alg, an HS256 secret shorter than
 * TG_AUTH_HS_MIN_SECRET or that is a PEM, a PEM that is not a public key of
 * the alg's type and size, a missing or repeated kid. */
int tg_auth_new(const tg_auth_config *cfg, tg_auth **out, char *err, size_t errlen);
void tg_auth_free(tg_auth *a);

/* Scopes a token grants, one bit each: XX(NAME, bit, "wire name"). */
#define TG_AUTH_SCOPES(XX)                                                                         \
    XX(TOOLS_LIST, 1u, "tools:list")                                                               \
    XX(TOOLS_CALL, 2u, "tools:call")                                                               \
    XX(WORKERS_DEPLOY, 4u, "workers:deploy")                                                       \
    XX(WORKERS_TRIGGER, 8u, "workers:trigger")                                                     \
    XX(SECRETS_WRITE, 16u, "secrets:write")                                                        \
    XX(AUDIT_READ, 32u, "audit:read")                                                              \
    XX(ADMIN, 64u, "admin")

enum {
#define XX(name, bit, wire) TG_SCOPE_##name = bit,
    TG_AUTH_SCOPES(XX)
#undef XX
};

/* Returns: the wire name of one scope bit ("tools:call", static), or NULL
 * when scope is not exactly one known bit. */
const char *tg_scope_name(uint32_t scope);
/* Returns: the bits of the known scopes in a space-separated list ("scope"
 * claim, RFC 8693 section 4.2); unknown names are ignored. NULL gives 0. */
uint32_t tg_scopes_parse(const char *space_separated);

/* The "toolsets" claim: at most this many toolset names, each matching
 * ^[a-z0-9][a-z0-9_-]{0,63}$ (docs/toolsets.md). */
#define TG_AUTH_MAX_TOOLSETS     16
#define TG_AUTH_TOOLSET_NAME_MAX 64

/* Who a verified token speaks for. sub is 1..255 bytes of UTF-8 without
 * control characters; tenant matches ^[A-Za-z0-9_.-]{1,128}$. */
typedef struct tg_principal {
    char sub[256];
    char tenant[129];
    uint32_t scopes; /* TG_SCOPE_* bits of the "scope" claim */
    int64_t exp;     /* seconds since the epoch */
    /* A token with a "toolsets" claim may use only those toolsets (an empty
     * array: none); one without is not restricted. */
    bool toolsets_restricted;
    size_t ntoolsets;
    char toolsets[TG_AUTH_MAX_TOOLSETS][TG_AUTH_TOOLSET_NAME_MAX + 1];
} tg_principal;

/* Checks an Authorization header value: "Bearer <JWT>" (the scheme in any
 * case, then one or more spaces, then exactly one token of at most
 * TG_AUTH_MAX_TOKEN bytes). authorization NULL means no header; now_s is the
 * current time in seconds since the epoch.
 *
 * Returns 0 with *who filled, or a TG_AUTH_E* code with *who zeroed and a
 * short reason in why (why may be NULL). Reasons are fixed ASCII text without
 * quotes or backslashes, so they may go into an error_description as is.
 *
 * The header's alg and kid are read first without being trusted: they choose
 * the key and must agree with it before any signature is computed; claims are
 * judged only once the signature verifies. exp is required. */
int tg_auth_check(const tg_auth *a, const char *authorization, int64_t now_s, tg_principal *who,
                  char *why, size_t whylen);

/* Mints an HS256 token for `toolgate token` and the tests: iss, aud, sub,
 * tenant, scope (omitted when NULL or empty), iat = now_s, exp = now_s + ttl_s,
 * and kid in the header (omitted when NULL or empty). Returns: a new string
 * the caller frees, or NULL when an argument is one tg_auth_check would
 * refuse (short secret, bad tenant, ttl_s not positive) or libjwt fails. */
char *tg_auth_mint_hs256(const char *kid, const char *secret, const char *issuer,
                         const char *audience, const char *sub, const char *tenant,
                         const char *scope, int64_t now_s, int64_t ttl_s);
/* tg_auth_mint_hs256 with a "toolsets" claim: toolsets is a comma-separated
 * list of toolset names ("" restricts the token to none); NULL leaves the
 * claim out. NULL as well for a name tg_auth_check would refuse, or too many. */
char *tg_auth_mint_hs256_toolsets(const char *kid, const char *secret, const char *issuer,
                                  const char *audience, const char *sub, const char *tenant,
                                  const char *scope, const char *toolsets, int64_t now_s,
                                  int64_t ttl_s);

#endif
