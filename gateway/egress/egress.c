/* The egress proxy; see egress.h.
 *
 * One request: parse the worker's target (http://host[:port]/path?query),
 * find the first rule whose origin, methods and path prefix allow it, build
 * the upstream request (the rule's https origin, the worker's headers minus
 * hop-by-hop ones and minus whatever the credential sets, the credential),
 * send it with libcurl, and follow redirects by hand so that each hop is
 * checked against the rules and the credential stays with its origin.
 *
 * libcurl: one easy handle per request, all sharing one connection cache,
 * DNS cache and TLS session cache (a CURLSH with locks), so calls to the same
 * origin reuse connections across calls and threads. Responses are decoded
 * (Accept-Encoding chosen by libcurl) so that redaction sees the plain body. */
#include "gateway/egress/egress.h"

#include "gateway/core/alloc.h"
#include "gateway/core/metrics.h"
#include "gateway/core/text.h"
#include "vm-pool/frame.h"

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_MAX_REQUEST   (1u << 20)
#define DEFAULT_MAX_RESPONSE  TG_FRAME_EGRESS_BODY_MAX
#define DEFAULT_TIMEOUT_MS    10000
#define DEFAULT_MAX_REQUESTS  64
#define DEFAULT_MAX_REDIRECTS 5
#define MAX_HOST              253
#define MAX_RESPONSE_HEADERS  200
#define AUDIT_DEADLINE_NS     2000000000LL
#define REDACTED              "[REDACTED]"

struct tg_egress {
    tg_egress_config cfg;
    tg_egress_secret_fn secret;
    void *secret_ctx;
    tg_audit *audit;
    CURLSH *share;
    pthread_mutex_t locks[CURL_LOCK_DATA_LAST];
};

/* ---- libcurl's shared caches ----------------------------------------- */

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *ctx)
{
    (void)h;
    (void)access;
    tg_egress *e = ctx;
    pthread_mutex_lock(&e->locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *ctx)
{
    (void)h;
    tg_egress *e = ctx;
    pthread_mutex_unlock(&e->locks[data]);
}

int tg_egress_new(const tg_egress_config *config, tg_egress_secret_fn secret, void *secret_ctx,
                  tg_audit *audit, tg_egress **out, tg_error *err)
{
    *out = NULL;
    if (!audit || !secret)
        return tg_error_set(err, TG_EINTERNAL, "egress: no audit log or secrets");
    tg_egress *e = tg_xcalloc(1, sizeof *e);
    if (config) e->cfg = *config;
    if (!e->cfg.max_request_bytes) e->cfg.max_request_bytes = DEFAULT_MAX_REQUEST;
    /* A response travels to the sandbox in one frame. */
    if (!e->cfg.max_response_bytes || e->cfg.max_response_bytes > TG_FRAME_EGRESS_BODY_MAX)
        e->cfg.max_response_bytes = DEFAULT_MAX_RESPONSE;
    if (e->cfg.timeout_ms <= 0) e->cfg.timeout_ms = DEFAULT_TIMEOUT_MS;
    if (!e->cfg.max_requests) e->cfg.max_requests = DEFAULT_MAX_REQUESTS;
    if (!e->cfg.max_redirects) e->cfg.max_redirects = DEFAULT_MAX_REDIRECTS;
    e->secret = secret;
    e->secret_ctx = secret_ctx;
    e->audit = audit;
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&e->locks[i], NULL);
    e->share = curl_share_init();
    if (!e->share || curl_share_setopt(e->share, CURLSHOPT_LOCKFUNC, share_lock) != CURLSHE_OK ||
        curl_share_setopt(e->share, CURLSHOPT_UNLOCKFUNC, share_unlock) != CURLSHE_OK ||
        curl_share_setopt(e->share, CURLSHOPT_USERDATA, e) != CURLSHE_OK ||
        curl_share_setopt(e->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT) != CURLSHE_OK ||
        curl_share_setopt(e->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK ||
        curl_share_setopt(e->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK) {
        tg_egress_free(e);
        return tg_error_set(err, TG_EINTERNAL, "egress: libcurl cannot share connections");
    }
    *out = e;
    return 0;
}

void tg_egress_free(tg_egress *e)
{
    if (!e) return;
    if (e->share) curl_share_cleanup(e->share);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&e->locks[i]);
    free(e);
}

/* ---- targets and rules ------------------------------------------------ */

/* A URL split for matching: scheme://host[:port]/path?query. */
typedef struct target {
    char scheme[8];
    char host[MAX_HOST + 1]; /* lowercase */
    int port;                /* -1 when the URL names none */
    const char *path;        /* into the URL: "/..." up to '?' */
    size_t path_len;
    const char *rest; /* into the URL: the path and query, what follows the authority */
} target;

/* Parses url (scheme "http" or "https" only; no userinfo) into t. */
static bool parse_target(const char *url, target *t)
{
    const char *p = strstr(url, "://");
    if (!p || p - url >= (ptrdiff_t)sizeof t->scheme) return false;
    memcpy(t->scheme, url, (size_t)(p - url));
    t->scheme[p - url] = '\0';
    for (char *c = t->scheme; *c; c++)
        *c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
    if (strcmp(t->scheme, "http") != 0 && strcmp(t->scheme, "https") != 0) return false;
    p += 3;
    size_t hlen = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-");
    if (hlen == 0 || hlen > MAX_HOST) return false;
    for (size_t i = 0; i < hlen; i++)
        t->host[i] = (char)(p[i] >= 'A' && p[i] <= 'Z' ? p[i] + 32 : p[i]);
    t->host[hlen] = '\0';
    p += hlen;
    t->port = -1;
    if (*p == ':') {
        size_t n = strspn(p + 1, "0123456789");
        if (n == 0 || n > 5) return false;
        t->port = (int)strtol(p + 1, NULL, 10);
        if (t->port < 1 || t->port > 65535) return false;
        p += 1 + n;
    }
    if (*p && *p != '/' && *p != '?') return false; /* userinfo, a fragment, junk */
    for (const char *c = p; *c; c++)
        if ((unsigned char)*c <= 0x20 || *c == 0x7f || *c == '#') return false;
    t->rest = *p ? p : "/";
    t->path = t->rest;
    t->path_len = strcspn(t->rest, "?");
    return true;
}

static int default_port(const char *scheme)
{
    return strcmp(scheme, "https") == 0 ? 443 : 80;
}

/* A path a prefix rule could be fooled by: dot segments, encoded dots or
 * slashes, backslashes, path parameters. Upstreams normalize them, so
 * "/v1/../admin" would pass a "/v1/" prefix and reach "/admin" (and servlet
 * containers read "/v1/..;/admin" the same way). */
static bool path_is_plain(const char *path, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (path[i] == '\\' || path[i] == ';') return false;
        if (path[i] == '%' && i + 2 < len + 1 &&
            (strncasecmp(path + i, "%2e", 3) == 0 || strncasecmp(path + i, "%2f", 3) == 0 ||
             strncasecmp(path + i, "%5c", 3) == 0 || strncasecmp(path + i, "%3b", 3) == 0))
            return false;
        if (path[i] == '/' && i + 1 < len && path[i + 1] == '.') {
            size_t j = i + 2;
            if (j < len && path[j] == '.') j++;
            if (j == len || path[j] == '/' || path[j] == '?') return false;
        }
    }
    return true;
}

/* Whether rule allows method on t. The worker asks for http://; the rule's
 * origin says which scheme the request really takes, so only host and port
 * are compared, the port the worker leaves out being the rule's default. */
static bool rule_allows(const json_t *rule, const char *method, const target *t, target *origin)
{
    const char *o = json_string_value(json_object_get(rule, "origin"));
    if (!o || !parse_target(o, origin) || strcmp(origin->host, t->host) != 0) return false;
    int rule_port = origin->port > 0 ? origin->port : default_port(origin->scheme);
    if (t->port > 0 ? t->port != rule_port : rule_port != default_port(origin->scheme))
        return false;
    json_t *methods = json_object_get(rule, "methods");
    if (methods) {
        bool found = false;
        size_t i;
        json_t *m;
        json_array_foreach(methods, i, m) found =
            found || strcmp(json_string_value(m) ? json_string_value(m) : "", method) == 0;
        if (!found) return false;
    }
    const char *prefix = json_string_value(json_object_get(rule, "path_prefix"));
    if (prefix) {
        size_t n = strlen(prefix);
        if (t->path_len < n || strncmp(t->path, prefix, n) != 0) return false;
        if (!path_is_plain(t->path, t->path_len)) return false;
    }
    return true;
}

static const json_t *find_rule(const json_t *rules, const char *method, const target *t,
                               target *origin)
{
    size_t i;
    const json_t *rule;
    json_array_foreach(rules, i, rule)
    {
        if (rule_allows(rule, method, t, origin)) return rule;
    }
    return NULL;
}

/* ---- responses to the worker ------------------------------------------ */

static json_t *response(int status, json_t *headers, const void *body, size_t len)
{
    return json_pack("{s:i, s:o, s:o}", "status", status, "headers", headers, "body",
                     tg_frame_b64(body, len));
}

/* The proxy's own answer: the error table's status for code, a JSON body. */
static json_t *proxy_error(tg_err_code code, const char *message)
{
    json_t *doc = json_pack("{s:o}", "error", tg_error_json(code, message, NULL, NULL));
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    json_t *r =
        response(tg_err_http_status(code), json_pack("[[s,s]]", "Content-Type", "application/json"),
                 text, strlen(text));
    free(text);
    return r;
}

/* ---- the audit record of one hop -------------------------------------- */

static int record(tg_egress_call *call, const char *origin, const char *method, const char *path,
                  size_t path_len, const char *status, json_t *body)
{
    json_object_set_new(body, "origin", json_string(origin));
    json_object_set_new(body, "method", json_string(method));
    json_object_set_new(body, "path", json_stringn(path, path_len));
    tg_audit_record rec = {
        .kind = "egress",
        .tenant = call->tenant,
        .principal = call->principal,
        .trigger_kind = call->trigger_kind,
        .call_id = call->call_id,
        .trace_id = call->trace_id,
        .tool = call->worker,
        .status = status,
        .body = body,
    };
    tg_error err;
    int rc = tg_audit_append(call->egress->audit, &rec, tg_frame_now_ns() + AUDIT_DEADLINE_NS, NULL,
                             &err);
    json_decref(body);
    return rc;
}

/* The worker's request as it arrived, decoded once. */
typedef struct worker_request {
    const char *method;
    const char *url;
    const json_t *headers;
    unsigned char *body;
    size_t body_len;
} worker_request;

/* What one worker request came to, for toolgate_egress_requests_total
 * and toolgate_egress_request_seconds (docs/metrics.md): the origin it was
 * for, empty when it named none, and its outcome. */
typedef struct outcome {
    char origin[MAX_HOST + 32];
    const char *name;
} outcome;

static const char *outcome_of(tg_err_code code)
{
    switch (code) {
    case TG_OK:
        return "ok";
    case TG_EEGRESS_DENIED:
    case TG_EBAD_REQUEST:
    case TG_ECREDENTIAL_MISSING:
        return "denied";
    case TG_EPAYLOAD_TOO_LARGE:
    case TG_ERESPONSE_TOO_LARGE:
        return "too_large";
    case TG_EEGRESS_LIMIT:
        return "limit";
    case TG_EUPSTREAM_TIMEOUT:
        return "timeout";
    default:
        return "error";
    }
}

/* The request's outcome; its origin is the first one it was for. */
static void note(outcome *o, const char *origin, tg_err_code code)
{
    if (!o->origin[0]) snprintf(o->origin, sizeof o->origin, "%s", origin);
    o->name = outcome_of(code);
}

/* The origin t names, as the worker asked for it. */
static void requested_origin(const target *t, char origin[MAX_HOST + 32])
{
    if (t->port > 0)
        snprintf(origin, MAX_HOST + 32, "%s://%s:%d", t->scheme, t->host, t->port);
    else
        snprintf(origin, MAX_HOST + 32, "%s://%s", t->scheme, t->host);
}

/* Denies the request (EGRESS_DENIED or another refusal code) on the record. */
static json_t *deny(tg_egress_call *call, outcome *o, const target *t, const char *method,
                    tg_err_code code, const char *why)
{
    call->denied++;
    char origin[MAX_HOST + 32];
    requested_origin(t, origin);
    note(o, origin, code);
    if (!tg_audit_healthy(call->egress->audit)) return proxy_error(TG_EAUDIT_UNAVAILABLE, NULL);
    if (record(call, origin, method, t->path, t->path_len, "denied",
               json_pack("{s:b, s:s, s:s}", "allowed", 0, "code", tg_err_name(code), "reason",
                         why)) != 0)
        return proxy_error(TG_EAUDIT_UNAVAILABLE, NULL);
    return proxy_error(code, why);
}

/* Refuses a request too malformed to have an origin (400), on the record
 * with the start of what the worker sent. */
static json_t *refuse_unparsed(tg_egress_call *call, outcome *o, const worker_request *wr,
                               const char *why)
{
    call->denied++;
    note(o, "", TG_EBAD_REQUEST);
    if (!tg_audit_healthy(call->egress->audit)) return proxy_error(TG_EAUDIT_UNAVAILABLE, NULL);
    const char *url = wr->url ? wr->url : "";
    size_t cut = tg_utf8_whole(url, strnlen(url, 256));
    json_t *rec = json_pack("{s:b, s:s, s:s, s:s%}", "allowed", 0, "code",
                            tg_err_name(TG_EBAD_REQUEST), "reason", why, "url", url, cut);
    if (record(call, "", wr->method ? wr->method : "", "", 0, "denied", rec) != 0)
        return proxy_error(TG_EAUDIT_UNAVAILABLE, NULL);
    return proxy_error(TG_EBAD_REQUEST, why);
}

/* ---- one upstream exchange -------------------------------------------- */

typedef struct exchange {
    size_t max;
    bool too_large;
    char *body;
    size_t len;
    json_t *headers; /* [[name, value]...] of the last response head */
    bool header_overflow;
} exchange;

static size_t on_body(char *data, size_t size, size_t n, void *userdata)
{
    exchange *x = userdata;
    size_t len = size * n;
    if (x->len + len > x->max) {
        x->too_large = true;
        return 0; /* makes libcurl stop with CURLE_WRITE_ERROR */
    }
    x->body = tg_xrealloc(x->body, x->len + len + 1);
    memcpy(x->body + x->len, data, len);
    x->len += len;
    return len;
}

static size_t on_header(char *data, size_t size, size_t n, void *userdata)
{
    exchange *x = userdata;
    size_t len = size * n;
    /* A status line starts a new head: 1xx and redirect heads are replaced. */
    if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        json_array_clear(x->headers);
        return len;
    }
    const char *colon = memchr(data, ':', len);
    if (!colon || colon == data) return len;
    size_t vstart = (size_t)(colon - data) + 1, vend = len;
    while (vstart < vend && (data[vstart] == ' ' || data[vstart] == '\t'))
        vstart++;
    while (vend > vstart && (data[vend - 1] == '\r' || data[vend - 1] == '\n' ||
                             data[vend - 1] == ' ' || data[vend - 1] == '\t'))
        vend--;
    if (json_array_size(x->headers) >= MAX_RESPONSE_HEADERS) {
        x->header_overflow = true;
        return len;
    }
    json_t *name = json_stringn(data, (size_t)(colon - data));
    json_t *value = json_stringn(data + vstart, vend - vstart);
    /* A header that is not UTF-8 cannot travel in a JSON frame: dropped. */
    if (name && value)
        json_array_append_new(x->headers, json_pack("[o,o]", name, value));
    else {
        json_decref(name);
        json_decref(value);
    }
    return len;
}

/* Headers the proxy sets itself or that only concern one connection. */
static bool hop_header(const char *name)
{
    static const char *const names[] = {"connection",
                                        "keep-alive",
                                        "proxy-connection",
                                        "proxy-authorization",
                                        "proxy-authenticate",
                                        "te",
                                        "trailer",
                                        "transfer-encoding",
                                        "upgrade",
                                        "host",
                                        "content-length",
                                        "expect",
                                        "accept-encoding",
                                        "content-encoding"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strcasecmp(name, names[i]) == 0) return true;
    return false;
}

/* The credential a rule adds: the header line (or query parameter) to send,
 * and every form of the secret a response could echo. */
typedef struct credential {
    const char *header_name; /* NULL for a query parameter */
    char *header_line;       /* "Name: value" */
    char *query;             /* "name=escaped" */
    char *forms[4];          /* strings to redact from responses */
    size_t nforms;
    bool of_principal; /* the caller's own value, not the tenant's */
} credential;

static void credential_clear(credential *c)
{
    if (c->header_line) OPENSSL_cleanse(c->header_line, strlen(c->header_line));
    if (c->query) OPENSSL_cleanse(c->query, strlen(c->query));
    free(c->header_line);
    free(c->query);
    for (size_t i = 0; i < c->nforms; i++) {
        OPENSSL_cleanse(c->forms[i], strlen(c->forms[i]));
        free(c->forms[i]);
    }
    memset(c, 0, sizeof *c);
}

static void add_form(credential *c, char *form)
{
    if (*form && c->nforms < sizeof c->forms / sizeof *c->forms)
        c->forms[c->nforms++] = form;
    else
        free(form);
}

/* Replaces every "{}" in format with value. */
static char *fill_format(const char *format, const char *value)
{
    size_t vlen = strlen(value), n = 0;
    for (const char *p = format; (p = strstr(p, "{}")); p += 2)
        n++;
    char *out = tg_xmalloc(strlen(format) + n * vlen + 1), *o = out;
    for (const char *p = format; *p;) {
        if (p[0] == '{' && p[1] == '}') {
            memcpy(o, value, vlen);
            o += vlen;
            p += 2;
        } else {
            *o++ = *p++;
        }
    }
    *o = '\0';
    return out;
}

const char *tg_egress_principal_sub(const char *tenant, const char *principal)
{
    if (!tenant || !principal) return NULL;
    size_t t = strlen(tenant);
    if (strncmp(principal, tenant, t) != 0 || principal[t] != '/' || !principal[t + 1]) return NULL;
    return principal + t + 1;
}

/* Finds the value inject (a rule's) takes for the call: with per_principal,
 * the caller's own first; "preferred" then falls back to the tenant's,
 * "required" never does (*missing set); without it, the tenant's. Returns 0,
 * or an error message (static). */
static const char *find_value(tg_egress_call *call, const json_t *inject, const char *name,
                              unsigned char **value, size_t *len, bool *of_principal, bool *missing)
{
    tg_egress *e = call->egress;
    const char *per = json_string_value(json_object_get(inject, "per_principal"));
    const char *sub = tg_egress_principal_sub(call->tenant, call->principal);
    if (per && sub) {
        int rc = e->secret(e->secret_ctx, call->tenant, sub, name, value, len);
        if (rc == 0) {
            *of_principal = true;
            return NULL;
        }
        if (rc != TG_ENOT_FOUND) return "the caller's own secret this rule injects cannot be read";
    }
    if (per && strcmp(per, "required") == 0) {
        *missing = true;
        return "this rule injects only the caller's own secret, and the caller has none";
    }
    if (e->secret(e->secret_ctx, call->tenant, NULL, name, value, len))
        return "the secret this rule injects does not exist in the tenant";
    return NULL;
}

/* Builds the credential of inject (a rule's) for the call. Returns 0, or an
 * error message (static) when its secret is missing (*missing: the caller's
 * own, which a "required" rule needs) or unusable. */
static const char *make_credential(tg_egress_call *call, const json_t *inject, CURL *h,
                                   credential *c, bool *missing)
{
    memset(c, 0, sizeof *c);
    const char *name = json_string_value(json_object_get(inject, "secret"));
    unsigned char *value = NULL;
    size_t len = 0;
    if (!name) return "the secret this rule injects does not exist in the tenant";
    const char *why = find_value(call, inject, name, &value, &len, &c->of_principal, missing);
    if (why) return why;
    char *secret = tg_xmalloc(len + 1);
    memcpy(secret, value, len);
    secret[len] = '\0';
    OPENSSL_cleanse(value, len);
    free(value);
    const char *header = json_string_value(json_object_get(inject, "header"));
    const char *query = json_string_value(json_object_get(inject, "query"));
    const char *user = json_string_value(json_object_get(inject, "basic_username"));
    bool text_ok = strlen(secret) == len && !strpbrk(secret, "\r\n");
    if (len == 0) {
        why = "the secret this rule injects is empty";
    } else if (query) {
        char *escaped = curl_easy_escape(h, secret, (int)len);
        if (!escaped) {
            why = "the secret could not be escaped";
        } else {
            c->query = tg_xasprintf("%s=%s", query, escaped);
            add_form(c, tg_xstrdup(escaped));
            curl_free(escaped);
        }
    } else if (!text_ok) {
        why = "the secret this rule injects cannot go into a header";
    } else if (header) {
        const char *format = json_string_value(json_object_get(inject, "format"));
        char *filled = fill_format(format ? format : "{}", secret);
        c->header_name = header;
        c->header_line = tg_xasprintf("%s: %s", header, filled);
        add_form(c, filled);
    } else {
        char *pair = tg_xasprintf("%s:%s", user ? user : "", secret);
        size_t plen = strlen(pair);
        char *b64 = tg_xmalloc(4 * ((plen + 2) / 3) + 1);
        EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)pair, (int)plen);
        OPENSSL_cleanse(pair, plen);
        free(pair);
        c->header_name = "Authorization";
        c->header_line = tg_xasprintf("Authorization: Basic %s", b64);
        add_form(c, b64);
    }
    if (!why) add_form(c, tg_xstrdup(secret));
    OPENSSL_cleanse(secret, len);
    free(secret);
    if (why) credential_clear(c);
    return why;
}

static bool holds_form(const char *text, const credential *c)
{
    for (size_t f = 0; f < c->nforms; f++)
        if (strstr(text, c->forms[f])) return true;
    return false;
}

/* Replaces every occurrence of each form in text[0..*len) (realloc'd). */
static bool redact(char **text, size_t *len, const credential *c)
{
    bool any = false;
    for (size_t f = 0; f < c->nforms; f++) {
        const char *form = c->forms[f];
        size_t flen = strlen(form), rlen = strlen(REDACTED);
        char *hit;
        size_t from = 0;
        while (from < *len && (hit = memmem(*text + from, *len - from, form, flen))) {
            size_t at = (size_t)(hit - *text);
            size_t newlen = *len - flen + rlen;
            char *out = tg_xmalloc(newlen + 1);
            memcpy(out, *text, at);
            memcpy(out + at, REDACTED, rlen);
            memcpy(out + at + rlen, *text + at + flen, *len - at - flen);
            out[newlen] = '\0';
            OPENSSL_cleanse(*text, *len);
            free(*text);
            *text = out;
            *len = newlen;
            from = at + rlen;
            any = true;
        }
    }
    return any;
}

/* Sends one hop: method to url with the worker's headers and body, and the
 * credential when cred is not NULL. */
static CURLcode send_hop(tg_egress *e, const worker_request *wr, const char *method,
                         const char *url, bool with_body, bool other_origin, const credential *cred,
                         int64_t deadline_ns, exchange *x, long *status, char **location,
                         uint64_t *sent)
{
    CURL *h = curl_easy_init();
    if (!h) return CURLE_OUT_OF_MEMORY;
    struct curl_slist *list = NULL;
    size_t i;
    const json_t *pair;
    json_array_foreach(wr->headers, i, pair)
    {
        const char *name = json_string_value(json_array_get(pair, 0));
        const char *value = json_string_value(json_array_get(pair, 1));
        if (!name || !value || hop_header(name) || strncasecmp(name, "proxy-", 6) == 0) continue;
        /* What the worker meant for the first origin does not follow a
         * redirect to another, as browsers and curl have it. */
        if (other_origin &&
            (strcasecmp(name, "authorization") == 0 || strcasecmp(name, "cookie") == 0))
            continue;
        /* The credential's header replaces the worker's, never joins it. */
        if (cred && cred->header_name && strcasecmp(name, cred->header_name) == 0) continue;
        char *line = *value ? tg_xasprintf("%s: %s", name, value) : tg_xasprintf("%s;", name);
        list = curl_slist_append(list, line);
        free(line);
    }
    if (cred && cred->header_line) list = curl_slist_append(list, cred->header_line);
    /* No "Expect: 100-continue" round trip for bodies. */
    list = curl_slist_append(list, "Expect:");

    int64_t left_ms = (deadline_ns - tg_frame_now_ns()) / 1000000;
    if (left_ms > e->cfg.timeout_ms) left_ms = e->cfg.timeout_ms;
    if (left_ms < 1) left_ms = 1;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_SHARE, e->share);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)left_ms);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
    if (e->cfg.ca_file) curl_easy_setopt(h, CURLOPT_CAINFO, e->cfg.ca_file);
    /* A body goes out when there is one, or for the methods that always
     * carry one (an empty POST still says Content-Length: 0); a DELETE
     * without one stays without, and without a Content-Type. */
    bool body_method =
        strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0;
    bool send_body = with_body && (wr->body_len || body_method);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "GET") != 0 || send_body)
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (send_body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)wr->body_len);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, wr->body_len ? (char *)wr->body : "");
    }
    CURLcode rc = curl_easy_perform(h);
    curl_off_t uploaded = 0;
    curl_easy_getinfo(h, CURLINFO_SIZE_UPLOAD_T, &uploaded);
    *sent = uploaded > 0 ? (uint64_t)uploaded : 0;
    *status = 0;
    *location = NULL;
    if (rc == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
        char *redirect = NULL;
        if (curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &redirect) == CURLE_OK && redirect)
            *location = tg_xstrdup(redirect);
    }
    curl_slist_free_all(list);
    curl_easy_cleanup(h);
    return rc;
}

/* The URL a hop goes to: the rule's scheme, host and port, the worker's path
 * and query, and a query credential when there is one, which replaces any
 * parameter of its name the worker set (an upstream may read the first). */
static char *upstream_url(const target *origin, const target *t, const credential *cred,
                          const char *query_name)
{
    char port[16] = "";
    if (origin->port > 0) snprintf(port, sizeof port, ":%d", origin->port);
    if (!cred || !cred->query)
        return tg_xasprintf("%s://%s%s%s", origin->scheme, origin->host, port, t->rest);
    size_t nlen = strlen(query_name);
    const char *q = t->rest + t->path_len;
    char *kept = tg_xstrdup("");
    for (const char *p = *q ? q + 1 : q; *p;) {
        size_t plen = strcspn(p, "&");
        bool same =
            plen >= nlen && strncmp(p, query_name, nlen) == 0 && (plen == nlen || p[nlen] == '=');
        if (!same && plen) {
            char *next = tg_xasprintf("%s%.*s&", kept, (int)plen, p);
            free(kept);
            kept = next;
        }
        p += plen + (p[plen] == '&');
    }
    char *url = tg_xasprintf("%s://%s%s%.*s?%s%s", origin->scheme, origin->host, port,
                             (int)t->path_len, t->rest, kept, cred->query);
    free(kept);
    return url;
}

static bool is_redirect(long status)
{
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/* The response the worker gets: the upstream's headers minus the ones that
 * no longer hold (the body was decoded, its length is the frame's), every
 * form of the credential redacted. */
static json_t *worker_response(long status, exchange *x, const credential *cred)
{
    json_t *headers = json_array();
    size_t i;
    json_t *pair;
    json_array_foreach(x->headers, i, pair)
    {
        const char *name = json_string_value(json_array_get(pair, 0));
        if (hop_header(name)) continue;
        char *value = tg_xstrdup(json_string_value(json_array_get(pair, 1)));
        size_t vlen = strlen(value);
        if (cred) redact(&value, &vlen, cred);
        json_array_append_new(headers, json_pack("[s,s]", name, value));
        free(value);
    }
    if (cred) redact(&x->body, &x->len, cred);
    return response((int)status, headers, x->body ? x->body : "", x->len);
}

static json_t *handle(tg_egress_call *call, const json_t *request, int64_t deadline_ns, outcome *o)
{
    tg_egress *e = call->egress;
    worker_request wr = {
        .method = json_string_value(json_object_get(request, "method")),
        .url = json_string_value(json_object_get(request, "url")),
        .headers = json_object_get(request, "headers"),
    };
    target t;
    json_t *body = json_object_get(request, "body");
    if (!wr.method || !wr.url || !parse_target(wr.url, &t) || strcmp(t.scheme, "http") != 0)
        return refuse_unparsed(call, o, &wr,
                               "request http://host/path through the proxy; the "
                               "gateway upgrades it to the scheme its rule names");
    if (body && tg_frame_unb64(body, &wr.body, &wr.body_len) != 0)
        return refuse_unparsed(call, o, &wr, "the request body is malformed");

    json_t *result = NULL;
    json_t *rules = call->rules(call->rules_ctx);
    target origin;
    const json_t *rule = find_rule(rules, wr.method, &t, &origin);
    credential cred = {0};
    bool have_cred = false;
    char *url = NULL;
    if (!rule) {
        result = deny(call, o, &t, wr.method, TG_EEGRESS_DENIED,
                      "no egress rule of this worker allows this origin, method and path");
        goto out;
    }
    if (wr.body_len > e->cfg.max_request_bytes) {
        result = deny(call, o, &t, wr.method, TG_EPAYLOAD_TOO_LARGE,
                      "the request body exceeds the egress limit");
        goto out;
    }
    if (!tg_audit_healthy(e->audit)) {
        char asked[MAX_HOST + 32];
        requested_origin(&t, asked);
        note(o, asked, TG_EAUDIT_UNAVAILABLE);
        result = proxy_error(TG_EAUDIT_UNAVAILABLE, NULL);
        goto out;
    }

    CURL *escaper = curl_easy_init();
    const json_t *inject = json_object_get(rule, "inject");
    bool missing = false;
    const char *why =
        inject && escaper ? make_credential(call, inject, escaper, &cred, &missing) : NULL;
    curl_easy_cleanup(escaper);
    if (missing) {
        /* Never the tenant's value instead: the request is refused, and the
         * call fails naming the secret the user has to connect. */
        const char *name = json_string_value(json_object_get(inject, "secret"));
        if (!call->missing_secret[0])
            snprintf(call->missing_secret, sizeof call->missing_secret, "%s", name);
        char *message = tg_xasprintf("this request needs the caller's own %s, which the caller "
                                     "has not stored",
                                     name);
        result = deny(call, o, &t, wr.method, TG_ECREDENTIAL_MISSING, message);
        free(message);
        goto out;
    }
    if (why) {
        result = deny(call, o, &t, wr.method, TG_EINTERNAL, why);
        goto out;
    }
    have_cred = inject != NULL;

    /* The first hop and each redirect the rules allow. The credential goes
     * with hops to the first origin only. */
    target hop = t, hop_origin = origin;
    char first_origin[MAX_HOST + 16];
    snprintf(first_origin, sizeof first_origin, "%s:%d", origin.host,
             origin.port > 0 ? origin.port : default_port(origin.scheme));
    const char *method = wr.method;
    bool with_body = true;
    char *next_url = NULL;
    for (unsigned hops = 0;; hops++) {
        if (call->requests >= e->cfg.max_requests) {
            result = deny(call, o, &hop, method, TG_EEGRESS_LIMIT,
                          "this call has made as many outbound requests as it may");
            break;
        }
        char here[MAX_HOST + 16];
        snprintf(here, sizeof here, "%s:%d", hop_origin.host,
                 hop_origin.port > 0 ? hop_origin.port : default_port(hop_origin.scheme));
        const credential *use = have_cred && strcmp(here, first_origin) == 0 ? &cred : NULL;
        free(url);
        url = upstream_url(&hop_origin, &hop, use,
                           json_string_value(json_object_get(inject, "query")));
        exchange x = {.max = e->cfg.max_response_bytes, .headers = json_array()};
        long status = 0;
        char *location = NULL;
        int64_t started = tg_frame_now_ns();
        call->requests++;
        uint64_t sent = 0;
        CURLcode rc = send_hop(e, &wr, method, url, with_body, strcmp(here, first_origin) != 0, use,
                               deadline_ns, &x, &status, &location, &sent);
        call->bytes_sent += sent;
        call->bytes_received += x.len;
        char origin_text[MAX_HOST + 32];
        if (hop_origin.port > 0)
            snprintf(origin_text, sizeof origin_text, "https://%s:%d", hop_origin.host,
                     hop_origin.port);
        else
            snprintf(origin_text, sizeof origin_text, "https://%s", hop_origin.host);
        tg_err_code fail = rc == CURLE_OK                   ? TG_OK
                           : x.too_large                    ? TG_ERESPONSE_TOO_LARGE
                           : rc == CURLE_OPERATION_TIMEDOUT ? TG_EUPSTREAM_TIMEOUT
                                                            : TG_EUPSTREAM_FAILED;
        json_t *rec = json_pack("{s:b, s:I, s:I, s:I, s:i, s:b}", "allowed", 1, "bytes_sent",
                                (json_int_t)sent, "bytes_received", (json_int_t)x.len,
                                "duration_us", (json_int_t)((tg_frame_now_ns() - started) / 1000),
                                "redirect", (int)hops, "credential", use != NULL);
        if (use) {
            json_object_set_new(rec, "credential_of",
                                json_string(use->of_principal ? "principal" : "tenant"));
            if (use->of_principal)
                call->principal_credentials++;
            else
                call->tenant_credentials++;
        }
        if (fail)
            json_object_set_new(rec, "error", json_string(tg_err_name(fail)));
        else
            json_object_set_new(rec, "http_status", json_integer(status));
        bool recorded = record(call, origin_text, method, hop.path, hop.path_len,
                               fail ? "error" : "ok", rec) == 0;
        note(o, origin_text, recorded ? fail : TG_EAUDIT_UNAVAILABLE);
        target next, next_origin;
        const json_t *next_rule = NULL;
        const char *next_method =
            status == 303 || ((status == 301 || status == 302) && strcmp(method, "POST") == 0)
                ? "GET"
                : method;
        if (!fail && location && is_redirect(status) && hops < e->cfg.max_redirects &&
            parse_target(location, &next) && strcmp(next.scheme, "https") == 0) {
            /* A redirect names an https URL; the rules speak of hosts and ports. */
            next.port = next.port > 0 ? next.port : -1;
            snprintf(next.scheme, sizeof next.scheme, "http");
            next_rule = find_rule(rules, next_method, &next, &next_origin);
            /* An upstream may put the credential into the redirect (a query
             * kept as it was): to another origin, that hop is not made. */
            char there[MAX_HOST + 16];
            if (next_rule) {
                snprintf(there, sizeof there, "%s:%d", next_origin.host,
                         next_origin.port > 0 ? next_origin.port
                                              : default_port(next_origin.scheme));
                if (have_cred && strcmp(there, first_origin) != 0 && holds_form(location, &cred))
                    next_rule = NULL;
            }
        }
        if (!recorded) {
            result = proxy_error(TG_EAUDIT_UNAVAILABLE, NULL);
        } else if (fail) {
            result = proxy_error(fail, NULL);
        } else if (!next_rule) {
            result = worker_response(status, &x, have_cred ? &cred : NULL);
        }
        free(x.body);
        json_decref(x.headers);
        if (result || !next_rule) {
            free(location);
            break;
        }
        free(next_url);
        next_url = location;
        hop = next;
        hop_origin = next_origin;
        with_body = strcmp(next_method, method) == 0 && status != 303;
        method = next_method;
    }
    free(next_url);
out:
    if (have_cred) credential_clear(&cred);
    free(url);
    if (wr.body) OPENSSL_cleanse(wr.body, wr.body_len);
    free(wr.body);
    json_decref(rules);
    return result;
}

json_t *tg_egress_handle(tg_egress_call *call, const json_t *request, int64_t deadline_ns)
{
    int64_t start = tg_frame_now_ns();
    outcome o = {.name = "error"};
    json_t *result = handle(call, request, deadline_ns, &o);
    tg_metrics_add(tg_metrics_get(TG_METRIC_EGRESS_REQUESTS),
                   (const char *const[]){o.origin, o.name}, 1);
    tg_metrics_observe(tg_metrics_get(TG_METRIC_EGRESS_SECONDS), (const char *const[]){o.name},
                       (double)(tg_frame_now_ns() - start) / 1e9);
    return result;
}

json_t *tg_egress_summary(const tg_egress_call *call)
{
    json_t *summary =
        json_pack("{s:i, s:i, s:I}", "requests", (int)call->requests, "denied", (int)call->denied,
                  "bytes", (json_int_t)(call->bytes_sent + call->bytes_received));
    const char *used = call->principal_credentials && call->tenant_credentials ? "both"
                       : call->principal_credentials                           ? "principal"
                       : call->tenant_credentials                              ? "tenant"
                                                                               : NULL;
    if (used) json_object_set_new(summary, "credential", json_string(used));
    return summary;
}
