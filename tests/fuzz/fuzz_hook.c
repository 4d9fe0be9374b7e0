/* libFuzzer target for what a webhook sender controls (gateway/triggers/
 * hooks.h): the Toolgate-Signature header, and the body a hook's mapping
 * reads, with the mapping itself (an admin's input, validated first).
 *
 * Input: up to the first '\n', a header; up to the second, a mapping (JSON);
 * the rest, a body (any JSON).
 *
 * Invariants, beyond "no crash, no leak, no undefined behaviour":
 *   - an accepted header has a t that prints back as its t_text, and 1 to
 *     TG_HOOKS_MAX_V1 v1 values; a refused one says why;
 *   - a header is accepted only when its length is within the bound;
 *   - a signature made here over the body with the fixed secret verifies,
 *     and fails once the body changes;
 *   - a valid mapping gives an object with only the mapping's names, each
 *     the value its pointer resolves to; without one, the body object. */
#include "gateway/triggers/hooks.h"

#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SECRET "whsec_00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static char *piece(const uint8_t **p, const uint8_t *end)
{
    const uint8_t *nl = memchr(*p, '\n', (size_t)(end - *p));
    size_t n = (size_t)((nl ? nl : end) - *p);
    char *s = malloc(n + 1);
    if (!s) abort();
    memcpy(s, *p, n);
    s[n] = '\0';
    *p = nl ? nl + 1 : end;
    return s;
}

static void check_header(const char *header)
{
    tg_hooks_signature sig;
    tg_error err;
    err.message[0] = '\0';
    if (tg_hooks_parse_signature(header, &sig, &err) != 0) {
        if (err.message[0] == '\0') abort();
        return;
    }
    if (strlen(header) > TG_HOOKS_MAX_HEADER) abort();
    if (sig.nv1 == 0 || sig.nv1 > TG_HOOKS_MAX_V1) abort();
    char t[24];
    snprintf(t, sizeof t, "%lld", (long long)sig.t);
    if (sig.t < 0 || strcmp(t, sig.t_text) != 0) abort();
    (void)tg_hooks_verify(SECRET, &sig, header, strlen(header));
    (void)tg_hooks_in_window(sig.t, 1767225600);
}

/* Signs body with SECRET at t and checks the round trip. */
static void check_signature(const char *body, size_t len)
{
    char t[] = "1767225600";
    unsigned char *msg = malloc(sizeof t + len);
    if (!msg) abort();
    memcpy(msg, t, sizeof t - 1);
    msg[sizeof t - 1] = '.';
    if (len) memcpy(msg + sizeof t, body, len);
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t maclen = 0;
    if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, SECRET, strlen(SECRET), msg, sizeof t + len,
                   mac, sizeof mac, &maclen) ||
        maclen != 32)
        abort();
    free(msg);
    char header[128] = "t=1767225600,v1=";
    size_t at = strlen(header);
    for (size_t i = 0; i < 32; i++)
        snprintf(header + at + 2 * i, 3, "%02x", mac[i]);
    tg_hooks_signature sig;
    if (tg_hooks_parse_signature(header, &sig, NULL) != 0) abort();
    if (!tg_hooks_verify(SECRET, &sig, body, len)) abort();
    if (len && tg_hooks_verify(SECRET, &sig, body, len - 1)) abort();
}

static void check_mapping(const char *mapping_text, const char *body_text, size_t body_len)
{
    json_t *body = json_loadb(body_text, body_len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    json_t *mapping = json_loads(mapping_text, JSON_ALLOW_NUL, NULL);
    if (!body) {
        json_decref(mapping);
        return;
    }
    bool valid = mapping && tg_hooks_validate_mapping(mapping, NULL) == 0;
    json_t *args = NULL;
    tg_error err;
    int rc = tg_hooks_map(valid ? mapping : NULL, body, &args, &err);
    if (rc == 0) {
        if (!json_is_object(args)) abort();
        if (!valid && args != body) abort();
        const char *key;
        json_t *v;
        json_object_foreach(args, key, v)
        {
            if (!valid) break;
            json_t *pointer = json_object_get(mapping, key);
            if (!pointer || tg_hooks_resolve(body, json_string_value(pointer)) != v) abort();
        }
    } else if (args || valid) {
        abort(); /* only a body that is not an object, without a mapping, is refused */
    }
    json_decref(args);
    json_decref(mapping);
    json_decref(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536) return 0;
    const uint8_t *p = data, *end = data + size;
    char *header = piece(&p, end);
    char *mapping = piece(&p, end);
    const char *body = (const char *)p;
    size_t body_len = (size_t)(end - p);
    check_header(header);
    check_signature(body, body_len);
    check_mapping(mapping, body, body_len);
    free(header);
    free(mapping);
    return 0;
}
