/* The secret store: each tenant's named credentials (API tokens, keys), kept
 * for the egress proxy to add to a worker's outbound requests, so that no
 * worker ever holds one. A name may have a value for the tenant and one per
 * principal (the "sub" of a caller's token): the egress rule says which it
 * injects. Its own store: a sqlite file (WAL),
 * `<data dir>/secrets.db`, or the "secrets" schema of a PostgreSQL database.
 *
 * Invariants: a value is on disk only encrypted, with AES-256-GCM under the
 * master key, a fresh random 96-bit nonce per write and tenant || NUL || name
 * as additional data (a principal's row adds NUL || principal), so a
 * ciphertext copied to another row (another name, tenant or principal)
 * fails to decrypt instead of answering as that row. Every
 * read and write is scoped by tenant. Values leave only through
 * tg_secrets_get: no list, error message or log line of this module holds
 * one. The master key is 32 bytes in a key file of mode 0600 or stricter;
 * the store remembers a check of the key it was written with and refuses to
 * open under another.
 *
 * Other stores seal their own secrets (a webhook's signing secret) under the
 * same key with tg_secrets_seal: a fresh nonce each time, and additional data
 * that always begins with "toolgate.sealed" and two NULs. A tenant row's
 * additional data holds exactly one NUL, a principal row's two apart (a
 * name is never empty) and the key check's none, so no sealed blob opens
 * as a row or the check, no tenant row as a principal's, nor the other way
 * round.
 *
 * Threads: any number may call get and list while one puts or deletes;
 * changes are serialized. */
#ifndef TG_REGISTRY_SECRETS_H
#define TG_REGISTRY_SECRETS_H

#include "gateway/core/errors.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tg_secrets tg_secrets;

#define TG_SECRETS_KEY_BYTES     32           /* the master key file holds exactly this many */
#define TG_SECRETS_MAX_VALUE     (64u * 1024) /* bytes of one value */
#define TG_SECRETS_MAX_NAME      128          /* bytes of one name */
#define TG_SECRETS_MAX_PRINCIPAL 256          /* bytes of one principal */

/* Opens (creating when missing) the store where, a sqlite file's path or a
 * postgres:// URL, under the master key in key_path: a local file either
 * way, so replicas sharing a PostgreSQL store each need a copy of one key.
 * The key file must be a regular file of exactly TG_SECRETS_KEY_BYTES bytes
 * with no permission for group or others. When it does not exist and
 * create_key is true, a new random key is written there (O_EXCL, mode 0600)
 * -- unless the store already holds secrets written under a key, which a new
 * one could not read: then, as when the key is not the one the store was
 * written with, the open fails.
 *
 * Returns 0 with *out set, or (err says why, never with key material):
 * TG_EINTERNAL for a key file that is missing, too open, the wrong size or
 * the wrong key; TG_EUNAVAILABLE when the store cannot be opened or set up. */
int tg_secrets_open(const char *where, const char *key_path, bool create_key, tg_secrets **out,
                    tg_error *err);
/* Closes the store and wipes the key. No other call may run concurrently. */
void tg_secrets_close(tg_secrets *s);

/* True when name matches ^[A-Za-z_][A-Za-z0-9_]{0,127}$. */
bool tg_secrets_valid_name(const char *name);
/* True when principal is 1 to TG_SECRETS_MAX_PRINCIPAL bytes without
 * control characters. */
bool tg_secrets_valid_principal(const char *principal);

/* Called by put and delete with the change written but not committed, under
 * the store's write lock (it must not call the store): returning 0 commits
 * the change, anything else rolls it back and becomes put's or delete's
 * return value. The admin API records the change in the audit log here, so
 * no change stands without its record. */
typedef int (*tg_secrets_confirm_fn)(void *userdata);

typedef struct tg_secrets_change {
    bool created;          /* put: no secret of that name existed before */
    int64_t updated_at_ms; /* when the value was written, ms since the epoch */
} tg_secrets_change;

/* Sets tenant's secret name to value[0..len) (any bytes, 1 to
 * TG_SECRETS_MAX_VALUE of them; borrowed), creating or replacing it.
 * confirm may be NULL; change (may be NULL) says what was done.
 * Returns 0, TG_EINVALID_PARAMS (a bad tenant or name, an empty value),
 * TG_EPAYLOAD_TOO_LARGE, TG_EUNAVAILABLE (the store failed), TG_EINTERNAL
 * (encryption failed), or confirm's non-zero result. */
int tg_secrets_put(tg_secrets *s, const char *tenant, const char *name, const void *value,
                   size_t len, tg_secrets_confirm_fn confirm, void *userdata,
                   tg_secrets_change *change, tg_error *err);

/* The same for principal's own value of tenant's secret name (principal
 * NULL: the tenant's value, as tg_secrets_put). A principal's value and the
 * tenant's are separate rows: neither replaces the other. */
int tg_secrets_put_for(tg_secrets *s, const char *tenant, const char *name, const char *principal,
                       const void *value, size_t len, tg_secrets_confirm_fn confirm, void *userdata,
                       tg_secrets_change *change, tg_error *err);

/* Reads tenant's secret name. Returns 0 with *value a new buffer of *len
 * bytes plus a NUL after them (so a text value is also a C string; a binary
 * one may hold NULs of its own). The caller owns the plaintext: it wipes it
 * with OPENSSL_cleanse(*value, *len) and then frees it, which is what
 * tg_secrets_value_free does.
 * Returns otherwise, with *value NULL: TG_EINVALID_PARAMS, TG_ENOT_FOUND,
 * TG_EUNAVAILABLE, or TG_EINTERNAL when the stored value does not decrypt
 * (the file was tampered with, or the row was moved from another). */
int tg_secrets_get(tg_secrets *s, const char *tenant, const char *name, unsigned char **value,
                   size_t *len, tg_error *err);
/* The same for principal's own value (NULL: the tenant's). TG_ENOT_FOUND
 * when principal has none, whatever the tenant has: the caller decides
 * whether to fall back. */
int tg_secrets_get_for(tg_secrets *s, const char *tenant, const char *name, const char *principal,
                       unsigned char **value, size_t *len, tg_error *err);
/* Wipes value[0..len) and frees it (NULL is a no-op). */
void tg_secrets_value_free(unsigned char *value, size_t len);

/* Deletes tenant's secret name. confirm may be NULL. Returns 0,
 * TG_EINVALID_PARAMS, TG_ENOT_FOUND (confirm is not called), TG_EUNAVAILABLE,
 * or confirm's non-zero result. */
int tg_secrets_delete(tg_secrets *s, const char *tenant, const char *name,
                      tg_secrets_confirm_fn confirm, void *userdata, tg_error *err);
/* The same for principal's own value (NULL: the tenant's); the other rows
 * of the name stay. */
int tg_secrets_delete_for(tg_secrets *s, const char *tenant, const char *name,
                          const char *principal, tg_secrets_confirm_fn confirm, void *userdata,
                          tg_error *err);

/* *out: new reference, tenant's secrets as [{name, updated_at}] and its
 * principals' as [{name, principal, updated_at}], sorted by name, a name's
 * tenant value first, then by principal; updated_at an RFC 3339 UTC time
 * ("2026-01-02T03:04:05.678Z"). Never a value. Returns 0, TG_EINVALID_PARAMS or TG_EUNAVAILABLE. */
int tg_secrets_list(tg_secrets *s, const char *tenant, json_t **out, tg_error *err);

/* Every value of tenant's secrets and of principal's own (principal NULL:
 * the tenant's alone), for redacting them from what is logged (a call's
 * arguments): *values gets *n NUL-terminated copies (a value with a NUL in
 * it reads as its part before the NUL, which redacts more, never less). A
 * secret that does not decrypt is skipped. Other principals' values are
 * left out: a caller can hold only its own, and decrypting every user's
 * value on every call would cost in proportion to the tenant's users.
 * Release them with tg_secrets_values_free, which wipes them. */
int tg_secrets_values(tg_secrets *s, const char *tenant, const char *principal, char ***values,
                      size_t *n, tg_error *err);
void tg_secrets_values_free(char **values, size_t n);

/* Seals plain[0..len) (borrowed; up to TG_SECRETS_MAX_VALUE bytes) for
 * another store to keep: *blob gets a new buffer of *bloblen bytes, the
 * nonce, the ciphertext and the GCM tag, bound to aad[0..aadlen) (what the
 * blob belongs to, e.g. "hook" NUL <id>), so a blob copied to another
 * owner fails to open. Returns 0, TG_EPAYLOAD_TOO_LARGE, or TG_EINTERNAL
 * (encryption failed). */
int tg_secrets_seal(tg_secrets *s, const void *aad, size_t aadlen, const void *plain, size_t len,
                    unsigned char **blob, size_t *bloblen, tg_error *err);
/* Opens a blob tg_secrets_seal made with the same aad: *plain gets a new
 * buffer of *len bytes plus a NUL after them, which the caller releases
 * with tg_secrets_value_free. Returns 0, or TG_EINTERNAL (with *plain NULL)
 * when the blob does not open: another key, another aad, or altered. */
int tg_secrets_unseal(tg_secrets *s, const void *aad, size_t aadlen, const unsigned char *blob,
                      size_t bloblen, unsigned char **plain, size_t *len, tg_error *err);

/* Formats ms since the epoch as list's updated_at into buf (at least 25 bytes). */
void tg_secrets_format_time(int64_t ms, char *buf, size_t size);

#endif
