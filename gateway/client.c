/* The CLI's HTTP client (client.h) over one libcurl easy handle, reused for
 * every request of a command so its connection is kept. */
#include "gateway/client.h"

#include "gateway/core/alloc.h"

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_MAX_ANSWER ((size_t)16 << 20)
/* Response header lines kept for tg_client_answer_header. */
#define MAX_HEADERS ((size_t)64 << 10)

struct tg_client {
    CURL *curl;
    char *base;
    char *auth; /* "Authorization: Bearer ..." or NULL; wiped when freed */
    long timeout_s;
    size_t max_answer;
    struct curl_slist *extra; /* tg_client_set_header's lines */
};

/* Where one answer is being read. */
typedef struct reading {
    tg_client_answer *answer;
    size_t max;
    size_t headers_len;
} reading;

const char *tg_client_url(const char *flag)
{
    if (flag && *flag) return flag;
    const char *env = getenv("TOOLGATE_URL");
    return env && *env ? env : TG_CLIENT_DEFAULT_URL;
}

const char *tg_client_token(const char *flag)
{
    if (flag) return flag;
    return getenv("TOOLGATE_TOKEN");
}

tg_client *tg_client_new(const char *url, const char *token, size_t max_answer)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    tg_client *c = tg_xcalloc(1, sizeof *c);
    c->curl = curl_easy_init();
    if (!c->curl) {
        fputs("toolgate: libcurl cannot start\n", stderr);
        abort();
    }
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        n--;
    c->base = tg_xstrndup(url, n);
    if (token && *token) c->auth = tg_xasprintf("Authorization: Bearer %s", token);
    c->timeout_s = 30;
    c->max_answer = max_answer ? max_answer : DEFAULT_MAX_ANSWER;
    return c;
}

void tg_client_free(tg_client *c)
{
    if (!c) return;
    curl_easy_cleanup(c->curl);
    curl_slist_free_all(c->extra);
    if (c->auth) OPENSSL_cleanse(c->auth, strlen(c->auth));
    free(c->auth);
    free(c->base);
    free(c);
    curl_global_cleanup();
}

void tg_client_set_timeout(tg_client *c, long seconds)
{
    c->timeout_s = seconds;
}

void tg_client_set_header(tg_client *c, const char *name, const char *value)
{
    size_t n = strlen(name);
    struct curl_slist *kept = NULL;
    for (struct curl_slist *h = c->extra; h; h = h->next)
        if (!(strncasecmp(h->data, name, n) == 0 && h->data[n] == ':'))
            kept = curl_slist_append(kept, h->data);
    char *line = tg_xasprintf("%s: %s", name, value);
    kept = curl_slist_append(kept, line);
    free(line);
    curl_slist_free_all(c->extra);
    c->extra = kept;
}

const char *tg_client_base(const tg_client *c)
{
    return c->base;
}

static size_t collect_body(char *chunk, size_t size, size_t n, void *userdata)
{
    reading *r = userdata;
    tg_client_answer *a = r->answer;
    size_t add = size * n;
    if (add > r->max - a->len) return 0; /* curl stops with CURLE_WRITE_ERROR */
    a->body = tg_xrealloc(a->body, a->len + add + 1);
    memcpy(a->body + a->len, chunk, add);
    a->len += add;
    a->body[a->len] = '\0';
    return add;
}

static size_t collect_header(char *line, size_t size, size_t n, void *userdata)
{
    reading *r = userdata;
    tg_client_answer *a = r->answer;
    size_t add = size * n;
    /* A status line starts a new header block (after a redirect or a 100). */
    if (add >= 5 && strncmp(line, "HTTP/", 5) == 0) r->headers_len = 0;
    if (add > MAX_HEADERS - r->headers_len) return add; /* the rest is not kept */
    a->headers = tg_xrealloc(a->headers, r->headers_len + add + 1);
    memcpy(a->headers + r->headers_len, line, add);
    r->headers_len += add;
    a->headers[r->headers_len] = '\0';
    return add;
}

tg_client_result tg_client_request(tg_client *c, const char *method, const char *path,
                                   const char *content_type, const void *body, size_t len,
                                   tg_client_answer *answer)
{
    memset(answer, 0, sizeof *answer);
    reading r = {answer, c->max_answer, 0};
    char *endpoint = tg_xasprintf("%s%s", c->base, path);
    char *type = NULL;
    struct curl_slist *h = NULL;
    for (struct curl_slist *e = c->extra; e; e = e->next)
        h = curl_slist_append(h, e->data);
    if (c->auth) h = curl_slist_append(h, c->auth);
    curl_easy_reset(c->curl);
    if (body) {
        type = tg_xasprintf("Content-Type: %s", content_type);
        h = curl_slist_append(h, type);
        /* No "100 Continue" round trip before a large body. */
        h = curl_slist_append(h, "Expect:");
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, (const char *)body);
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c->curl, CURLOPT_URL, endpoint);
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, collect_body);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c->curl, CURLOPT_HEADERFUNCTION, collect_header);
    curl_easy_setopt(c->curl, CURLOPT_HEADERDATA, &r);
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, c->timeout_s);
    curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
    CURLcode cc = curl_easy_perform(c->curl);
    tg_client_result rc = TG_CLIENT_OK;
    if (cc == CURLE_OK) {
        curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &answer->status);
        char *ct = NULL;
        curl_easy_getinfo(c->curl, CURLINFO_CONTENT_TYPE, &ct);
        if (ct) answer->content_type = tg_xstrdup(ct);
    } else if (cc == CURLE_WRITE_ERROR) {
        rc = TG_CLIENT_TOO_LARGE;
        answer->why = tg_xasprintf("the answer of %s is larger than %zu bytes", endpoint, r.max);
    } else {
        rc = cc == CURLE_OPERATION_TIMEDOUT ? TG_CLIENT_TIMEOUT : TG_CLIENT_UNREACHABLE;
        answer->why = tg_xasprintf("cannot reach %s: %s", endpoint, curl_easy_strerror(cc));
    }
    if (rc != TG_CLIENT_OK) answer->status = 0;
    curl_slist_free_all(h);
    free(type);
    free(endpoint);
    return rc;
}

char *tg_client_escape(const char *s)
{
    char *e = curl_easy_escape(NULL, s, 0);
    if (!e) {
        fputs("toolgate: out of memory\n", stderr);
        abort();
    }
    char *copy = tg_xstrdup(e);
    curl_free(e);
    return copy;
}

char *tg_client_answer_header(const tg_client_answer *a, const char *name)
{
    size_t n = strlen(name);
    char *found = NULL;
    for (const char *line = a->headers; line && *line;) {
        const char *end = strchr(line, '\n');
        if (!end) end = line + strlen(line);
        if ((size_t)(end - line) > n && strncasecmp(line, name, n) == 0 && line[n] == ':') {
            const char *v = line + n + 1, *stop = end;
            while (v < stop && (*v == ' ' || *v == '\t'))
                v++;
            while (stop > v && (stop[-1] == '\r' || stop[-1] == ' ' || stop[-1] == '\t'))
                stop--;
            free(found);
            found = tg_xstrndup(v, (size_t)(stop - v));
        }
        line = *end ? end + 1 : end;
    }
    return found;
}

void tg_client_answer_clear(tg_client_answer *a)
{
    free(a->body);
    free(a->content_type);
    free(a->headers);
    free(a->why);
    memset(a, 0, sizeof *a);
}

bool tg_client_ok(const tg_client_answer *a)
{
    return a->status >= 200 && a->status < 300;
}

int tg_client_report(const tg_client_answer *a)
{
    if (a->why) {
        fprintf(stderr, "toolgate: %s\n", a->why);
        return 1;
    }
    json_t *doc = a->body ? json_loads(a->body, 0, NULL) : NULL;
    json_t *e = json_object_get(doc, "error");
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *message = json_string_value(json_object_get(e, "message"));
    if (code) {
        fprintf(stderr, "toolgate: the gateway refused (HTTP %ld): %s: %s\n", a->status, code,
                message ? message : "");
        size_t i;
        json_t *d;
        json_array_foreach(json_object_get(e, "details"), i, d)
        {
            const char *where = json_string_value(json_object_get(d, "path"));
            const char *what = json_string_value(json_object_get(d, "message"));
            char *text = what ? NULL : json_dumps(d, JSON_COMPACT | JSON_ENCODE_ANY);
            fprintf(stderr, "  %s%s%s\n", where ? where : "", where ? ": " : "",
                    what ? what : text);
            free(text);
        }
    } else {
        fprintf(stderr, "toolgate: the gateway refused (HTTP %ld): %.300s\n", a->status,
                a->body ? a->body : "");
    }
    json_decref(doc);
    return 1;
}
