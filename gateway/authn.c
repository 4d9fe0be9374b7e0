#include "gateway/authn.h"

#include "gateway/core/alloc.h"
#include "gateway/core/errors.h"
#include "gateway/core/text.h"

#include <fcntl.h>
#include <stdarg.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define METADATA_PATH "/.well-known/oauth-protected-resource"
#define PEM_MAX       (64 * 1024)
/* What /mcp needs most often, named in a 401's challenge on it. */
#define MCP_SCOPES "tools:list tools:call"

__attribute__((format(printf, 3, 4))) static int failf(char *err, size_t errlen, const char *fmt,
                                                       ...)
{
    va_list ap;
    va_start(ap, fmt);
    tg_vformat(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* Returns: new string, the file's text (at most PEM_MAX bytes), or NULL. */
static char *read_text(const char *path)
{
    FILE *f = fopen(path, "re");
    if (!f) return NULL;
    char *buf = tg_xmalloc(PEM_MAX + 1);
    size_t n = fread(buf, 1, PEM_MAX + 1, f);
    fclose(f);
    if (n > PEM_MAX) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

char *tg_authn_dev_secret(const char *data_dir, bool create, char *err, size_t errlen)
{
    char *path = tg_xasprintf("%s/dev-key", data_dir);
    char *secret = read_text(path);
    if (secret) {
        secret[strcspn(secret, "\r\n")] = '\0';
        if (strlen(secret) >= TG_AUTH_HS_MIN_SECRET) {
            free(path);
            return secret;
        }
        free(secret);
        secret = NULL;
    }
    if (!create) {
        failf(err, errlen, "no development key in %s (start toolgate serve once)", data_dir);
        free(path);
        return NULL;
    }
    unsigned char raw[32];
    if (RAND_bytes(raw, sizeof raw) != 1) {
        failf(err, errlen, "%s: no randomness for a key", path);
        free(path);
        return NULL;
    }
    secret = tg_xmalloc(2 * sizeof raw + 2);
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(secret + 2 * i, 3, "%02x", raw[i]);
    /* O_EXCL: two first starts at once must not write two keys. */
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    size_t len = strlen(secret);
    secret[len] = '\n';
    bool ok = fd >= 0 && write(fd, secret, len + 1) == (ssize_t)(len + 1);
    secret[len] = '\0';
    if (fd >= 0) close(fd);
    if (!ok) {
        failf(err, errlen, "cannot write the development key %s", path);
        free(secret);
        secret = NULL;
    }
    free(path);
    return secret;
}

static json_t *metadata_document(const char *audience, const json_t *servers)
{
    json_t *scopes = json_array();
#define XX(name, bit, wire) json_array_append_new(scopes, json_string(wire));
    TG_AUTH_SCOPES(XX)
#undef XX
    return json_pack("{s:s, s:O, s:o, s:[s]}", "resource", audience, "authorization_servers",
                     servers, "scopes_supported", scopes, "bearer_methods_supported", "header");
}

int tg_authn_setup(tg_authn *an, const json_t *config, bool no_auth, const char *data_dir,
                   const char *base_url, char *err, size_t errlen)
{
    memset(an, 0, sizeof *an);
    const char *audience = json_string_value(json_object_get(config, "audience"));
    an->audience = audience ? tg_xstrdup(audience) : tg_xasprintf("%s/mcp", base_url);
    an->metadata_url = tg_xasprintf("%s" METADATA_PATH "/mcp", base_url);
    if (no_auth) {
        json_t *none = json_array();
        an->metadata = metadata_document(an->audience, none);
        json_decref(none);
        return 0;
    }
    const char *issuer = json_string_value(json_object_get(config, "issuer"));
    const json_t *keys = json_object_get(config, "keys");
    size_t nkeys = json_array_size(keys);
    tg_auth_key *list = tg_xcalloc(nkeys ? nkeys : 1, sizeof *list);
    char **texts = tg_xcalloc(nkeys ? nkeys : 1, sizeof *texts);
    int rc = 0;
    if (!config) {
        an->dev_secret = tg_authn_dev_secret(data_dir, true, err, errlen);
        if (!an->dev_secret) rc = -1;
        list[0] = (tg_auth_key){TG_DEV_KID, "HS256", an->dev_secret};
        nkeys = 1;
        issuer = TG_DEV_ISSUER;
    }
    for (size_t i = 0; rc == 0 && config && i < nkeys; i++) {
        const json_t *k = json_array_get(keys, i);
        const char *pem_file = json_string_value(json_object_get(k, "pem_file"));
        const char *secret = json_string_value(json_object_get(k, "secret"));
        if (pem_file && !(texts[i] = read_text(pem_file)))
            rc = failf(err, errlen, "auth key file %s cannot be read", pem_file);
        list[i] = (tg_auth_key){json_string_value(json_object_get(k, "kid")),
                                json_string_value(json_object_get(k, "alg")),
                                texts[i] ? texts[i] : secret};
    }
    tg_auth_config cfg = {.keys = list,
                          .nkeys = nkeys,
                          .issuer = issuer,
                          .audience = an->audience,
                          .leeway_s =
                              (unsigned)json_integer_value(json_object_get(config, "leeway_s"))};
    if (rc == 0 && tg_auth_new(&cfg, &an->auth, err, errlen) != 0) rc = -1;
    for (size_t i = 0; i < nkeys; i++)
        free(texts[i]);
    free(texts);
    free(list);
    if (rc == 0) {
        const json_t *servers = json_object_get(config, "authorization_servers");
        json_t *none = json_array();
        an->metadata = metadata_document(an->audience, servers ? servers : none);
        json_decref(none);
    } else {
        tg_authn_free(an);
    }
    return rc;
}

void tg_authn_free(tg_authn *an)
{
    tg_auth_free(an->auth);
    free(an->audience);
    free(an->metadata_url);
    json_decref(an->metadata);
    free(an->dev_secret);
    memset(an, 0, sizeof *an);
}

bool tg_authn_public(const char *path)
{
    return strcmp(path, "/healthz") == 0 || strcmp(path, "/readyz") == 0 ||
           strcmp(path, METADATA_PATH) == 0 || strcmp(path, METADATA_PATH "/mcp") == 0;
}

void tg_authn_metadata(const tg_authn *an, tg_http_request *req)
{
    tg_http_reply_json(req, 200, json_incref(an->metadata));
}

/* 401 with the challenge RFC 6750 and MCP's authorization rules ask for:
 * where the metadata is and the scopes to ask for; error="invalid_token"
 * only when a token came (a missing one gets no error attribute). */
static void challenge(const tg_authn *an, tg_http_request *req, int rc, const char *why)
{
    const char *scope =
        strncmp(tg_http_path(req), "/v1/workers", 11) == 0 ? "workers:deploy" : MCP_SCOPES;
    char *value =
        rc == TG_AUTH_EMISSING
            ? tg_xasprintf("Bearer resource_metadata=\"%s\", scope=\"%s\"", an->metadata_url, scope)
            : tg_xasprintf("Bearer error=\"invalid_token\", error_description=\"%s\", "
                           "resource_metadata=\"%s\", scope=\"%s\"",
                           why, an->metadata_url, scope);
    tg_http_set_header(req, "WWW-Authenticate", value);
    free(value);
    tg_err_code code = rc == TG_AUTH_EINTERNAL ? TG_EINTERNAL : TG_EUNAUTHORIZED;
    tg_http_reply_json(
        req, (unsigned)tg_err_http_status(code),
        json_pack("{s:o}", "error",
                  tg_error_json(code, rc == TG_AUTH_EMISSING ? NULL : why, NULL, NULL)));
}

bool tg_authn_check(const tg_authn *an, tg_http_request *req, tg_authn_request *r)
{
    memset(r, 0, sizeof *r);
    r->who.metadata_url = an->metadata_url;
    r->who.audit = an->audit;
    /* Query strings end up in logs and browser histories (RFC 6750 2.3). */
    if (tg_http_query(req, "access_token")) {
        tg_http_reply_json(req, 400,
                           json_pack("{s:o}", "error",
                                     tg_error_json(TG_EBAD_REQUEST,
                                                   "tokens are accepted in the Authorization "
                                                   "header only, never in the URL",
                                                   NULL, NULL)));
        return false;
    }
    if (!an->auth) {
        /* The one local caller, in the tenant --deploy fills. */
        r->who.tenant = "demo";
        r->who.principal = "demo/local";
        r->who.scopes = ~0u;
        return true;
    }
    char why[160];
    int rc = tg_auth_check(an->auth, tg_http_header(req, "Authorization"), (int64_t)time(NULL),
                           &r->token, why, sizeof why);
    if (rc != 0) {
        /* Claims of a refused token are not to be believed: no tenant, no
         * principal, only what was asked and why it was refused. */
        if (rc != TG_AUTH_EMISSING)
            tg_caller_record(&r->who, "auth.denied", NULL, "unauthorized",
                             json_pack("{s:s, s:s, s:s}", "method", tg_http_method(req), "path",
                                       tg_http_path(req), "reason", why));
        challenge(an, req, rc, why);
        return false;
    }
    snprintf(r->principal, sizeof r->principal, "%s/%s", r->token.tenant, r->token.sub);
    r->who.tenant = r->token.tenant;
    r->who.principal = r->principal;
    r->who.scopes = r->token.scopes;
    r->who.toolsets_restricted = r->token.toolsets_restricted;
    r->who.n_toolsets = r->token.ntoolsets;
    for (size_t i = 0; i < r->token.ntoolsets; i++)
        r->toolsets[i] = r->token.toolsets[i];
    r->who.toolsets = r->toolsets;
    return true;
}
