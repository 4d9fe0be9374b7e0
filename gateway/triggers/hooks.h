/* Webhook triggers: a hook lets a system that cannot mint JWTs (a CRM, a
 * payment provider, a CI) run one worker by POSTing to /v1/hooks/{id} with
 * an HMAC signature of the request instead of a token.
 *
 * The store is a sqlite file of its own, <data_dir>/hooks.db (WAL,
 * synchronous=FULL), or the "hooks" schema of a PostgreSQL database the
 * gateway's replicas share: one row per hook (id, tenant, worker, optional body
 * mapping, creation time, signing secret) and the signatures accepted in the
 * last TG_HOOKS_WINDOW_S seconds.
 *
 * Invariants: a hook id is "hk_" and 128 random bits in hex, so ids cannot be
 * guessed. The signing secret is "whsec_" and 256 random bits in hex; it
 * leaves the store once, in tg_hooks_create's answer, and is on disk only
 * sealed with the secret store's master key (tg_secrets_seal), bound to the
 * hook's id, tenant and worker. Every admin read and change is scoped by
 * tenant and worker. A signature is accepted at most once: it is written to
 * the store, durably, before tg_hooks_check says yes, and remembered until
 * it is older than the window, so a replay is refused across restarts and
 * across replicas sharing the store.
 *
 * The signature: Toolgate-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>
 * where the HMAC's key is the signing secret exactly as shown (its ASCII
 * text, "whsec_" included) and its message the decimal t as sent, ".", and
 * the raw body bytes. More than one v1 may come (a sender rotating
 * secrets); one matching is enough.
 *
 * Threads: any number may call; one connection under a mutex serializes
 * them (each is a primary-key lookup or a one-row write). */
#ifndef TG_TRIGGERS_HOOKS_H
#define TG_TRIGGERS_HOOKS_H

#include "gateway/core/errors.h"
#include "gateway/registry/secrets.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tg_hooks tg_hooks;

#define TG_HOOKS_WINDOW_S     300  /* |now - t| at most this, in seconds */
#define TG_HOOKS_MAX_HEADER   1024 /* bytes of a Toolgate-Signature header */
#define TG_HOOKS_MAX_V1       8    /* v1 values in one header */
#define TG_HOOKS_MAX_MAPPING  64   /* arguments one mapping may fill */
#define TG_HOOKS_MAX_POINTER  1024 /* bytes of one JSON Pointer in a mapping */
#define TG_HOOKS_MAX_ARGUMENT 256  /* bytes of one argument name in a mapping */
#define TG_HOOKS_ID_LEN       35   /* "hk_" and 32 hex digits */
#define TG_HOOKS_SECRET_LEN   70   /* "whsec_" and 64 hex digits */

/* ---- pure functions: the signature and the mapping -------------------- */

/* A parsed Toolgate-Signature header. */
typedef struct tg_hooks_signature {
    int64_t t;                             /* the timestamp, seconds since the epoch */
    char t_text[20];                       /* t as sent: the HMAC's message starts with it */
    size_t nv1;                            /* 1..TG_HOOKS_MAX_V1 */
    unsigned char v1[TG_HOOKS_MAX_V1][32]; /* the HMAC-SHA256 values */
} tg_hooks_signature;

/* Parses header: comma-separated key=value items, spaces around items
 * allowed; exactly one t (1 to 18 decimal digits, no sign, no leading zero),
 * one to TG_HOOKS_MAX_V1 v1 (64 hex digits each); items of other schemes
 * ([a-z][a-z0-9]* keys with visible values) are ignored, so a sender may
 * add a newer one. At most TG_HOOKS_MAX_HEADER bytes. Returns 0, or
 * TG_EUNAUTHORIZED with err saying what is wrong (never quoting the header). */
int tg_hooks_parse_signature(const char *header, tg_hooks_signature *out, tg_error *err);

/* True when one of sig's v1 values is HMAC-SHA256(secret, t_text "." body),
 * compared in constant time. */
bool tg_hooks_verify(const char *secret, const tg_hooks_signature *sig, const void *body,
                     size_t len);

/* True when |now_s - t| <= TG_HOOKS_WINDOW_S. */
bool tg_hooks_in_window(int64_t t, int64_t now_s);

/* True when pointer is an RFC 6901 JSON Pointer: "" or "/"-separated
 * tokens in which every "~" is followed by "0" or "1". */
bool tg_hooks_valid_pointer(const char *pointer);

/* Resolves pointer in doc. Returns: borrowed, the value, or NULL when it
 * points at nothing (or is not a valid pointer). Array indexes are "0" or
 * digits without a leading zero; "-" (past the end) is nothing. */
json_t *tg_hooks_resolve(const json_t *doc, const char *pointer);

/* Checks a mapping as an admin sends it: an object of 1 to
 * TG_HOOKS_MAX_MAPPING entries, argument name (1..TG_HOOKS_MAX_ARGUMENT
 * bytes) -> JSON Pointer string (at most TG_HOOKS_MAX_POINTER bytes, no
 * NUL). Returns 0, or TG_EBAD_REQUEST with err naming the first problem. */
int tg_hooks_validate_mapping(const json_t *mapping, tg_error *err);

/* The worker's arguments from an incoming body. Without a mapping (NULL)
 * the body itself, which must be an object. With one, an object holding,
 * for each entry, the value its pointer finds in the body; an entry whose
 * pointer finds nothing is left out, so the worker's inputSchema reports a
 * required one as missing. Returns 0 with *arguments a new reference, or
 * TG_EBAD_REQUEST. */
int tg_hooks_map(const json_t *mapping, const json_t *body, json_t **arguments, tg_error *err);

/* ---- the store -------------------------------------------------------- */

/* Opens (creating) the store at path, a sqlite file (mode 0600) or a
 * PostgreSQL URL, sealing secrets with
 * secrets' master key (borrowed; must outlive the store). Returns 0, or
 * TG_EUNAVAILABLE with err filled. */
int tg_hooks_open(const char *path, tg_secrets *secrets, tg_hooks **out, tg_error *err);
void tg_hooks_close(tg_hooks *h);

/* Creates a hook for tenant's worker with mapping (borrowed; NULL for none;
 * checked with tg_hooks_validate_mapping), recording principal (borrowed;
 * "<tenant>/<sub>" of who creates it, or NULL), as whom its calls run. *out: new reference,
 * {id, secret, url, worker, mapping, created_at}: the only answer that ever
 * holds the secret. Returns 0, TG_EBAD_REQUEST, TG_EUNAVAILABLE or
 * TG_EINTERNAL (no randomness, sealing failed). */
int tg_hooks_create(tg_hooks *h, const char *tenant, const char *worker, const char *principal,
                    const json_t *mapping, json_t **out, tg_error *err);

/* *out: new reference, tenant's hooks of worker as [{id, url, worker,
 * mapping, created_at}], oldest first; never a secret. Returns 0 or
 * TG_EUNAVAILABLE. */
int tg_hooks_list(tg_hooks *h, const char *tenant, const char *worker, json_t **out, tg_error *err);

/* Deletes tenant's hook id of worker and the signatures it accepted.
 * Returns 0, TG_ENOT_FOUND (none such in that tenant and worker) or
 * TG_EUNAVAILABLE. */
int tg_hooks_delete(tg_hooks *h, const char *tenant, const char *worker, const char *id,
                    tg_error *err);

/* Deletes every hook of tenant's worker (the worker is being deleted: a
 * worker deployed later under the name must not inherit them). *n (may be
 * NULL) gets how many. Returns 0 or TG_EUNAVAILABLE. */
int tg_hooks_delete_worker(tg_hooks *h, const char *tenant, const char *worker, size_t *n,
                           tg_error *err);

/* A hook as the webhook endpoint needs it. */
typedef struct tg_hook {
    char id[TG_HOOKS_ID_LEN + 1];
    char *tenant, *worker;
    json_t *mapping; /* NULL when none */
    char *principal; /* who created it, as whom it calls; NULL: not recorded */
    char *secret;    /* the signing secret, wiped by tg_hook_free */
} tg_hook;

/* Looks up hook id (anyone's: the id is the only name the endpoint has).
 * Returns 0 with *out (release with tg_hook_free), TG_ENOT_FOUND (also for
 * an id of the wrong shape), TG_EUNAVAILABLE, or TG_EINTERNAL when its
 * secret does not unseal (the file was altered, or the key changed). */
int tg_hooks_get(tg_hooks *h, const char *id, tg_hook **out, tg_error *err);
void tg_hook_free(tg_hook *hook);

/* Authenticates one request to hook: the header (NULL when absent) must
 * parse, match the body, lie within the window around now_s, and not have
 * been accepted before; the accepted signature is then remembered (and
 * those past the window forgotten). A signature is spent once it passes,
 * whatever the request then answers: a sender retries with a new one.
 * Returns 0, TG_EUNAUTHORIZED with err's message the reason (missing or
 * malformed header, no matching signature, outside the window, "this
 * signature was already used"), or TG_EUNAVAILABLE. */
int tg_hooks_check(tg_hooks *h, const tg_hook *hook, const char *header, const void *body,
                   size_t len, int64_t now_s, tg_error *err);

#endif
