/* The egress proxy (gateway/egress/egress.h), in two parts.
 *
 * Policy without a network: a request the rules allow goes to https://<the
 * rule's origin>, and every origin here is a 127.0.0.1 port where nothing
 * listens, so "allowed" shows as 502 UPSTREAM_FAILED (connection refused,
 * at once) and "denied" as 403 EGRESS_DENIED. Covered: host case, ports,
 * methods, path prefixes and the paths that could slip past one, URLs the
 * worker may not send, body and request limits, a missing secret, the
 * `egress` audit records (and that none holds a secret), the call's counters
 * and summary, rules asked at every request, and a sick audit log.
 *
 * Against a real upstream: a TLS server in a thread on 127.0.0.1 with a
 * self-signed certificate (the egress's ca_file), which records each request
 * it gets, to see what the egress sends (the credential, the worker's
 * headers minus hop-by-hop ones, whose value a per_principal rule took) and
 * returns (redacted), and how it follows redirects. */
#include "gateway/egress/egress.h"

#include "audit/audit.h"
#include "vm-pool/frame.h"

#include "check.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/tg-egress-XXXXXX";
static tg_audit *audit;
/* 127.0.0.1 ports where nothing listens. */
static int dead1, dead2, dead3;

/* Secret values: random-looking, so that finding one anywhere is no accident. */
#define TOKEN       "tok-5ecr3t-Q7xZ2mVb"
#define PASSWORD    "pw-5ecr3t-K9vWj4Lp"
#define CRLF_TEXT   "line1\r\nX-Evil: 1"
#define ALICE_TOKEN "alice-5ecr3t-R4nTq8Wz"

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A port of 127.0.0.1 that was free a moment ago: bound, then let go. */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0) close(fd);
    return port;
}

/* ---- the fakes: secrets and rules ------------------------------------- */

typedef struct secrets {
    int calls;
    char tenant[64], name[64];
} secrets;

static int fake_secret(void *ctx, const char *tenant, const char *principal, const char *name,
                       unsigned char **value, size_t *len)
{
    secrets *s = ctx;
    /* Principals' own values: only t1's alice has one, of api_token. */
    if (principal) {
        if (strcmp(principal, "alice") != 0 || strcmp(name, "api_token") != 0) return TG_ENOT_FOUND;
        *len = strlen(ALICE_TOKEN);
        *value = malloc(*len + 1);
        memcpy(*value, ALICE_TOKEN, *len + 1);
        return 0;
    }
    s->calls++;
    snprintf(s->tenant, sizeof s->tenant, "%s", tenant ? tenant : "(null)");
    snprintf(s->name, sizeof s->name, "%s", name);
    const char *v = NULL;
    if (strcmp(name, "api_token") == 0)
        v = TOKEN;
    else if (strcmp(name, "basic_pw") == 0)
        v = PASSWORD;
    else if (strcmp(name, "empty") == 0)
        v = "";
    else if (strcmp(name, "crlf") == 0)
        v = CRLF_TEXT;
    else
        return -1;
    *len = strlen(v);
    *value = malloc(*len + 1);
    memcpy(*value, v, *len + 1);
    return 0;
}

typedef struct rules_src {
    json_t *rules; /* owned; NULL answers NULL */
    int calls;
} rules_src;

static json_t *get_rules(void *ctx)
{
    rules_src *r = ctx;
    r->calls++;
    return r->rules ? json_incref(r->rules) : NULL;
}

/* Replaces r's rules with the JSON text fmt (printf-style, for ports). */
__attribute__((format(printf, 2, 3))) static void set_rules(rules_src *r, const char *fmt, ...)
{
    char text[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    json_error_t jerr;
    json_t *rules = json_loads(text, JSON_DECODE_ANY, &jerr);
    if (!rules) fprintf(stderr, "bad rules in the test: %s: %s\n", text, jerr.text);
    json_decref(r->rules);
    r->rules = rules;
}

static tg_egress *new_egress(const tg_egress_config *cfg, secrets *s, tg_audit *log)
{
    tg_egress *e = NULL;
    tg_error err = {0};
    if (tg_egress_new(cfg, fake_secret, s, log ? log : audit, &e, &err) != 0)
        fprintf(stderr, "tg_egress_new: %s\n", err.message);
    return e;
}

static tg_egress_call new_call(tg_egress *e, rules_src *r, const char *call_id)
{
    return (tg_egress_call){
        .egress = e,
        .tenant = "t1",
        .worker = "w1",
        .principal = "alice",
        .trigger_kind = "agent",
        .call_id = call_id,
        .trace_id = "trace-1",
        .rules = get_rules,
        .rules_ctx = r,
    };
}

/* ---- asking, and checking the answer's shape -------------------------- */

typedef struct answer {
    int status;
    char code[64]; /* error.code of the proxy's own JSON body, else "" */
    char *body;    /* decoded, NUL-terminated (caller frees) */
    size_t body_len;
    json_t *headers; /* owned */
    int64_t ms;
} answer;

static void answer_free(answer *a)
{
    free(a->body);
    json_decref(a->headers);
    memset(a, 0, sizeof *a);
}

/* Every answer: {status 100..599, headers [[s, s]...], body base64}. */
static answer take(json_t *res, int64_t started)
{
    answer a = {.status = -1, .ms = (mono_ns() - started) / 1000000};
    json_t *status = json_object_get(res, "status"), *headers = json_object_get(res, "headers");
    json_t *body = json_object_get(res, "body");
    bool shape = json_is_integer(status) && json_is_array(headers) && json_is_string(body);
    size_t i;
    json_t *pair;
    json_array_foreach(headers, i, pair)
    {
        shape = shape && json_array_size(pair) == 2 && json_is_string(json_array_get(pair, 0)) &&
                json_is_string(json_array_get(pair, 1));
    }
    unsigned char *bytes = NULL;
    shape = shape && tg_frame_unb64(body, &bytes, &a.body_len) == 0;
    CHECK(shape);
    if (!shape) {
        json_decref(res);
        return a;
    }
    a.status = (int)json_integer_value(status);
    CHECK(a.status >= 100 && a.status <= 599);
    a.body = (char *)bytes;
    a.headers = json_incref(headers);
    json_t *doc = json_loadb(a.body, a.body_len, 0, NULL);
    const char *code = json_string_value(json_object_get(json_object_get(doc, "error"), "code"));
    snprintf(a.code, sizeof a.code, "%s", code ? code : "");
    json_decref(doc);
    json_decref(res);
    return a;
}

/* One request frame; headers stolen (NULL: none), body raw (NULL: none). */
static answer ask(tg_egress_call *c, const char *method, const char *url, json_t *headers,
                  const char *body, size_t body_len)
{
    json_t *req = json_pack("{s:i, s:s, s:s}", "id", 1, "method", method, "url", url);
    json_object_set_new(req, "headers", headers ? headers : json_array());
    if (body) json_object_set_new(req, "body", tg_frame_b64(body, body_len));
    int64_t t0 = mono_ns();
    json_t *res = tg_egress_handle(c, req, t0 + 10 * 1000000000LL);
    json_decref(req);
    return take(res, t0);
}

/* One request given as JSON text, for the frames ask cannot build. */
static answer ask_text(tg_egress_call *c, const char *text)
{
    json_t *req = json_loads(text, 0, NULL);
    if (!req) fprintf(stderr, "bad frame in the test: %s\n", text);
    int64_t t0 = mono_ns();
    json_t *res = tg_egress_handle(c, req, t0 + 10 * 1000000000LL);
    json_decref(req);
    return take(res, t0);
}

/* Checks a's status and code, naming the request when they differ. */
static void expect_at(int line, answer a, int status, const char *code, const char *what)
{
    if (a.status == status && strcmp(a.code, code) == 0) {
        check_passed++;
    } else {
        check_failed++;
        fprintf(stderr, "%s:%d: %s: got %d %s, want %d %s\n", __FILE__, line, what, a.status,
                a.code, status, code);
    }
}

/* Sends the request and checks the answer. ALLOWED: sent to the rule's
 * origin, where nothing listens. */
#define ALLOWED 502, "UPSTREAM_FAILED"
#define DENIED  403, "EGRESS_DENIED"
#define BAD     400, "BAD_REQUEST"
#define EXPECT(c, method, url, ...)                                                                \
    do {                                                                                           \
        answer a_ = ask((c), (method), (url), NULL, NULL, 0);                                      \
        expect_at(__LINE__, a_, __VA_ARGS__, url);                                                 \
        answer_free(&a_);                                                                          \
    } while (0)

static const char *header_of(const answer *a, const char *name)
{
    size_t i;
    json_t *pair;
    json_array_foreach(a->headers, i, pair)
    {
        if (strcasecmp(json_string_value(json_array_get(pair, 0)), name) == 0)
            return json_string_value(json_array_get(pair, 1));
    }
    return NULL;
}

/* ---- the audit log ----------------------------------------------------- */

/* Returns: new reference, the egress records of call_id (status, when not
 * NULL, must match), oldest first. */
static json_t *records(const char *call_id, const char *status)
{
    tg_audit_filter f = {.tenant = "t1",
                         .kind = "egress",
                         .call_id = call_id,
                         .status = status,
                         .oldest_first = true};
    json_t *page = NULL;
    char *next = NULL;
    tg_error err = {0};
    if (tg_audit_query(audit, &f, 1000, NULL, &page, &next, &err) != 0) {
        fprintf(stderr, "query: %s\n", err.message);
        return json_array();
    }
    free(next);
    return page;
}

static const char *body_str(const json_t *rec, const char *key)
{
    return json_string_value(json_object_get(json_object_get(rec, "body"), key));
}

static const json_t *body_get(const json_t *rec, const char *key)
{
    return json_object_get(json_object_get(rec, "body"), key);
}

/* ---- policy: hosts, ports, methods, paths ----------------------------- */

static void test_new(void)
{
    tg_egress *e = (tg_egress *)1;
    tg_error err = {0};
    secrets s = {0};
    CHECK_INT_EQ(tg_egress_new(NULL, fake_secret, &s, NULL, &e, &err), TG_EINTERNAL);
    CHECK(e == NULL);
    CHECK_INT_EQ(tg_egress_new(NULL, NULL, NULL, audit, &e, &err), TG_EINTERNAL);
    CHECK(e == NULL);
    tg_egress_free(NULL);
}

static void test_hosts(void)
{
    secrets s = {0};
    rules_src r = {0};
    tg_egress *e = new_egress(NULL, &s, NULL);
    tg_egress_call c = new_call(e, &r, "hosts");
    set_rules(&r, "[{\"origin\": \"https://LocalHost:%d\"}]", dead1);
    char url[256];
    snprintf(url, sizeof url, "http://localhost:%d/x", dead1);
    EXPECT(&c, "GET", url, ALLOWED);
    snprintf(url, sizeof url, "http://LOCALHOST:%d/x", dead1);
    EXPECT(&c, "GET", url, ALLOWED);
    snprintf(url, sizeof url, "HTTP://lOcAlHoSt:%d", dead1);
    EXPECT(&c, "GET", url, ALLOWED);
    /* Another name of the same machine is another host. */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x", dead1);
    EXPECT(&c, "GET", url, DENIED);
    snprintf(url, sizeof url, "http://localhost.:%d/x", dead1);
    EXPECT(&c, "GET", url, DENIED);
    snprintf(url, sizeof url, "http://sub.localhost:%d/x", dead1);
    EXPECT(&c, "GET", url, DENIED);
    snprintf(url, sizeof url, "http://localhos:%d/x", dead1);
    EXPECT(&c, "GET", url, DENIED);
    /* Rules that are not rules allow nothing; a later good one still counts. */
    set_rules(
        &r,
        "[{\"origin\": 7}, {}, \"https://localhost:%d\", {\"origin\": \"ftp://localhost:%d\"},"
        " {\"origin\": \"https://user@localhost:%d\"}]",
        dead1, dead1, dead1);
    snprintf(url, sizeof url, "http://localhost:%d/x", dead1);
    EXPECT(&c, "GET", url, DENIED);
    set_rules(&r, "[{\"origin\": 7}, {\"origin\": \"https://localhost:%d\"}]", dead1);
    EXPECT(&c, "GET", url, ALLOWED);
    set_rules(&r, "{\"origin\": \"https://localhost:%d\"}", dead1);
    EXPECT(&c, "GET", url, DENIED);
    set_rules(&r, "[]");
    EXPECT(&c, "GET", url, DENIED);
    json_decref(r.rules);
    r.rules = NULL; /* the callback answers NULL */
    EXPECT(&c, "GET", url, DENIED);
    json_decref(r.rules);
    tg_egress_free(e);
}

static void test_ports(void)
{
    secrets s = {0};
    rules_src r = {0};
    tg_egress *e = new_egress(&(tg_egress_config){.timeout_ms = 3000}, &s, NULL);
    tg_egress_call c = new_call(e, &r, "ports");
    char url[256];
    /* A rule on a port: the worker must name that port. */
    set_rules(&r, "[{\"origin\": \"https://127.0.0.1:%d\"}]", dead1);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x", dead1);
    EXPECT(&c, "GET", url, ALLOWED);
    snprintf(url, sizeof url, "http://127.0.0.1:%05d/x", dead1);
    EXPECT(&c, "GET", url, ALLOWED);
    EXPECT(&c, "GET", "http://127.0.0.1/x", DENIED);
    EXPECT(&c, "GET", "http://127.0.0.1:443/x", DENIED);
    EXPECT(&c, "GET", "http://127.0.0.1:80/x", DENIED);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x", dead2);
    EXPECT(&c, "GET", url, DENIED);
    /* A rule on the default port (443, said or not): the worker may leave
     * the port out or name 443. Nothing listens on 127.0.0.1:443 either, and
     * a server there could not prove to be 127.0.0.1. */
    set_rules(&r, "[{\"origin\": \"https://127.0.0.1\"}]");
    EXPECT(&c, "GET", "http://127.0.0.1/x", ALLOWED);
    EXPECT(&c, "GET", "http://127.0.0.1:443/x", ALLOWED);
    EXPECT(&c, "GET", "http://127.0.0.1:80/x", DENIED);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x", dead1);
    EXPECT(&c, "GET", url, DENIED);
    set_rules(&r, "[{\"origin\": \"https://127.0.0.1:443\"}]");
    EXPECT(&c, "GET", "http://127.0.0.1/x", ALLOWED);
    EXPECT(&c, "GET", "http://127.0.0.1:443/x", ALLOWED);
    /* With both, each request finds its own. */
    set_rules(&r,
              "[{\"origin\": \"https://127.0.0.1:%d\", \"methods\": [\"GET\"]},"
              " {\"origin\": \"https://127.0.0.1\", \"methods\": [\"POST\"]}]",
              dead1);
    EXPECT(&c, "POST", "http://127.0.0.1/x", ALLOWED);
    EXPECT(&c, "GET", "http://127.0.0.1/x", DENIED);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x", dead1);
    EXPECT(&c, "GET", url, ALLOWED);
    EXPECT(&c, "POST", url, DENIED);
    json_decref(r.rules);
    tg_egress_free(e);
}

static void test_methods(void)
{
    secrets s = {0};
    rules_src r = {0};
    tg_egress *e = new_egress(NULL, &s, NULL);
    tg_egress_call c = new_call(e, &r, "methods");
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x", dead1);
    set_rules(&r, "[{\"origin\": \"https://127.0.0.1:%d\", \"methods\": [\"GET\", \"POST\"]}]",
              dead1);
    EXPECT(&c, "GET", url, ALLOWED);
    EXPECT(&c, "POST", url, ALLOWED);
    EXPECT(&c, "DELETE", url, DENIED);
    EXPECT(&c, "HEAD", url, DENIED);
    EXPECT(&c, "get", url, DENIED);
    EXPECT(&c, "GETX", url, DENIED);
    EXPECT(&c, "", url, DENIED);
    /* A list that holds no method, or is not a list, allows none. */
    set_rules(&r, "[{\"origin\": \"https://127.0.0.1:%d\", \"methods\": []}]", dead1);
    EXPECT(&c, "GET", url, DENIED);
    set_rules(&r, "[{\"origin\": \"https://127.0.0.1:%d\", \"methods\": \"GET\"}]", dead1);
    EXPECT(&c, "GET", url, DENIED);
    set_rules(&r, "[{\"origin\": \"https://127.0.0.1:%d\", \"methods\": [1, null, \"PUT\"]}]",
              dead1);
    EXPECT(&c, "PUT", url, ALLOWED);
    EXPECT(&c, "GET", url, DENIED);
    /* No list: every method. */
    set_rules(&r, "[{\"origin\": \"https://127.0.0.1:%d\"}]", dead1);
    EXPECT(&c, "PATCH", url, ALLOWED);
    EXPECT(&c, "OPTIONS", url, ALLOWED);
    json_decref(r.rules);
    tg_egress_free(e);
}

static void test_path_prefix(void)
{
    secrets s = {0};
    rules_src r = {0};
    tg_egress *e = new_egress(NULL, &s, NULL);
    tg_egress_call c = new_call(e, &r, "paths");
    set_rules(&r, "[{\"origin\": \"https://127.0.0.1:%d\", \"path_prefix\": \"/v1/\"}]", dead1);
    static const char *const allowed[] = {
        "/v1/",
        "/v1/items",
        "/v1/items?x=../../admin",
        "/v1/items?x=%2e%2e",
        "/v1/.well-known",
        "/v1/..x",
        "/v1/x..",
        "/v1/a.b/c",
        "/v1//x",
        "/v1/%41",
        "/v1/a%2",
    };
    static const char *const denied[] = {
        "/v2/items", "/v1", "/V1/items", "", "?/v1/", "/", "/x/v1/",
    };
    /* Paths an upstream would normalize to somewhere else. */
    static const char *const tricks[] = {
        "/v1/../admin",      "/v1/..",
        "/v1/./x",           "/v1/.",
        "/v1/x/..",          "/v1/..?q=1",
        "/v1/.?q",           "/v1/%2e%2e/admin",
        "/v1/%2E%2e/admin",  "/v1/.%2e/admin",
        "/v1/%2e/x",         "/v1/a%2fb",
        "/v1/a%2Fb",         "/v1/%2F..%2Fadmin",
        "/v1\\..\\admin",    "/v1/a\\b",
        "/v1/%5c..%5cadmin", "/v1/%5C",
        "/v1/x%2e%2e",       "/v1/..;/admin",
        "/v1/.;/x",          "/v1/x/..;",
        "/v1/..%3b/x",       "/v1/a;b",
    };
    char url[512];
    for (size_t i = 0; i < sizeof allowed / sizeof *allowed; i++) {
        snprintf(url, sizeof url, "http://127.0.0.1:%d%s", dead1, allowed[i]);
        EXPECT(&c, "GET", url, ALLOWED);
    }
    for (size_t i = 0; i < sizeof denied / sizeof *denied; i++) {
        snprintf(url, sizeof url, "http://127.0.0.1:%d%s", dead1, denied[i]);
        EXPECT(&c, "GET", url, DENIED);
    }
    for (size_t i = 0; i < sizeof tricks / sizeof *tricks; i++) {
        snprintf(url, sizeof url, "http://127.0.0.1:%d%s", dead1, tricks[i]);
        EXPECT(&c, "GET", url, DENIED);
    }
    /* A prefix without the trailing slash is a prefix of strings. */
    set_rules(&r, "[{\"origin\": \"https://127.0.0.1:%d\", \"path_prefix\": \"/v1\"}]", dead1);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1", dead1);
    EXPECT(&c, "GET", url, ALLOWED);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1x/y", dead1);
    EXPECT(&c, "GET", url, ALLOWED);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/../x", dead1);
    EXPECT(&c, "GET", url, DENIED);
    /* "/" still refuses the tricks: they are checked under any prefix. */
    set_rules(&r, "[{\"origin\": \"https://127.0.0.1:%d\", \"path_prefix\": \"/\"}]", dead1);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/a/../b", dead1);
    EXPECT(&c, "GET", url, DENIED);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/a/b", dead1);
    EXPECT(&c, "GET", url, ALLOWED);
    json_decref(r.rules);
    tg_egress_free(e);
}

/* Requests the proxy does not take at all: 400, whatever the rules say. */
static void test_refused_urls(void)
{
    secrets s = {0};
    rules_src r = {0};
    tg_egress *e = new_egress(NULL, &s, NULL);
    tg_egress_call c = new_call(e, &r, "refused");
    set_rules(&r, "[{\"origin\": \"https://127.0.0.1:%d\"}, {\"origin\": \"https://evil\"}]",
              dead1);
    /* Each URL is its two parts around the rule's port. */
    const char *const urls[][2] = {
        {"https://127.0.0.1:", "/x"}, /* the worker asks for http://; the rule picks https */
        {"HTTPS://127.0.0.1:", "/x"},
        {"127.0.0.1:", ""}, /* CONNECT's authority form */
        {"//127.0.0.1:", "/x"},
        {"/x?port=", ""}, /* origin form */
        {"ftp://127.0.0.1:", "/x"},
        {"ws://127.0.0.1:", "/x"},
        {"http://user:pw@127.0.0.1:", "/x"}, /* userinfo */
        {"http://user@127.0.0.1:", "/x"},
        {"http://127.0.0.1:", "@evil/x"},
        {"http://127.0.0.1:", ":443/x"},
        {"http://127.0.0.1:", "/x#frag"},
        {"http://127.0.0.1:", "/a b"},
        {"http://127.0.0.1:", "/a\tb"},
        {"http://[::1]:", "/x"},
        {"http://127.0.0.1:", "0000/x"},
        {"http://:", "/x"},
        {"http://127.0.0.1:", "\\@evil/x"},
    };
    char url[256];
    for (size_t i = 0; i < sizeof urls / sizeof *urls; i++) {
        snprintf(url, sizeof url, "%s%d%s", urls[i][0], dead1, urls[i][1]);
        EXPECT(&c, "GET", url, BAD);
    }
    EXPECT(&c, "GET", "http://127.0.0.1:0/x", BAD);
    EXPECT(&c, "GET", "http://127.0.0.1:65536/x", BAD);
    EXPECT(&c, "GET", "http://127.0.0.1:/x", BAD);
    EXPECT(&c, "GET", "http:///x", BAD);
    EXPECT(&c, "CONNECT", "evil:443", BAD);
    EXPECT(&c, "GET", "", BAD);
    /* Frames missing a field, or with a body that is not base64. */
    answer a;
    char text[512];
    a = ask_text(&c, "{\"id\": 1, \"url\": \"http://evil/\"}");
    expect_at(__LINE__, a, BAD, "no method");
    answer_free(&a);
    a = ask_text(&c, "{\"id\": 1, \"method\": \"GET\"}");
    expect_at(__LINE__, a, BAD, "no url");
    answer_free(&a);
    a = ask_text(&c, "{\"id\": 1, \"method\": 1, \"url\": \"http://evil/\"}");
    expect_at(__LINE__, a, BAD, "method not a string");
    answer_free(&a);
    snprintf(text, sizeof text,
             "{\"id\": 1, \"method\": \"POST\", \"url\": \"http://127.0.0.1:%d/x\", \"headers\": "
             "[], \"body\": \"not base64!\"}",
             dead1);
    a = ask_text(&c, text);
    expect_at(__LINE__, a, BAD, "body not base64");
    answer_free(&a);
    snprintf(text, sizeof text,
             "{\"id\": 1, \"method\": \"POST\", \"url\": \"http://127.0.0.1:%d/x\", \"body\": 5}",
             dead1);
    a = ask_text(&c, text);
    expect_at(__LINE__, a, BAD, "body not a string");
    answer_free(&a);
    /* Headers that are not pairs of strings are skipped, not fatal. */
    snprintf(text, sizeof text,
             "{\"id\": 1, \"method\": \"GET\", \"url\": \"http://127.0.0.1:%d/x\", \"headers\": "
             "[1, [], [\"A\"], [\"B\", 2], [null, \"x\"], [\"C\", \"\"]]}",
             dead1);
    a = ask_text(&c, text);
    expect_at(__LINE__, a, ALLOWED, "odd headers");
    answer_free(&a);
    snprintf(text, sizeof text,
             "{\"id\": 1, \"method\": \"GET\", \"url\": \"http://127.0.0.1:%d/x\", \"headers\": "
             "{\"A\": \"b\"}}",
             dead1);
    a = ask_text(&c, text);
    expect_at(__LINE__, a, ALLOWED, "headers an object");
    answer_free(&a);
    CHECK_INT_EQ(c.requests, 2);
    json_decref(r.rules);
    tg_egress_free(e);
}

/* ---- limits ------------------------------------------------------------- */

static void test_body_limit(void)
{
    secrets s = {0};
    rules_src r = {0};
    tg_egress *e = new_egress(&(tg_egress_config){.max_request_bytes = 16}, &s, NULL);
    tg_egress_call c = new_call(e, &r, "body-limit");
    set_rules(&r, "[{\"origin\": \"https://127.0.0.1:%d\"}]", dead1);
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/upload", dead1);
    char body[64];
    memset(body, 'b', sizeof body);
    answer a = ask(&c, "POST", url, NULL, body, 16);
    expect_at(__LINE__, a, ALLOWED, "16 bytes");
    answer_free(&a);
    a = ask(&c, "POST", url, NULL, body, 17);
    expect_at(__LINE__, a, 413, "PAYLOAD_TOO_LARGE", "17 bytes");
    answer_free(&a);
    a = ask(&c, "PUT", url, NULL, body, sizeof body);
    expect_at(__LINE__, a, 413, "PAYLOAD_TOO_LARGE", "64 bytes");
    answer_free(&a);
    /* A request no rule allows is denied for that, whatever its size. */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/upload", dead2);
    a = ask(&c, "POST", url, NULL, body, sizeof body);
    expect_at(__LINE__, a, DENIED, "64 bytes, no rule");
    answer_free(&a);
    CHECK_INT_EQ(c.requests, 1);
    CHECK_INT_EQ(c.denied, 3);

    json_t *recs = records("body-limit", "denied");
    CHECK_INT_EQ(json_array_size(recs), 3);
    const json_t *rec = json_array_get(recs, 0);
    CHECK_STR_EQ(body_str(rec, "code"), "PAYLOAD_TOO_LARGE");
    CHECK(json_is_false(body_get(rec, "allowed")));
    CHECK_STR_EQ(body_str(rec, "method"), "POST");
    CHECK_STR_EQ(body_str(rec, "path"), "/upload");
    CHECK_STR_EQ(body_str(json_array_get(recs, 2), "code"), "EGRESS_DENIED");
    json_decref(recs);
    json_decref(r.rules);
    tg_egress_free(e);
}

static void test_max_requests(void)
{
    secrets s = {0};
    rules_src r = {0};
    tg_egress *e = new_egress(&(tg_egress_config){.max_requests = 3}, &s, NULL);
    tg_egress_call c = new_call(e, &r, "max-requests");
    set_rules(&r, "[{\"origin\": \"https://127.0.0.1:%d\"}]", dead1);
    char url[256], other[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x", dead1);
    snprintf(other, sizeof other, "http://127.0.0.1:%d/x", dead2);
    EXPECT(&c, "GET", url, ALLOWED);
    /* Denied requests are not sent, so they do not count. */
    EXPECT(&c, "GET", other, DENIED);
    EXPECT(&c, "GET", other, DENIED);
    EXPECT(&c, "GET", url, ALLOWED);
    EXPECT(&c, "GET", url, ALLOWED);
    EXPECT(&c, "GET", url, 429, "EGRESS_LIMIT");
    EXPECT(&c, "GET", url, 429, "EGRESS_LIMIT");
    /* Past the limit, a request no rule allows is still EGRESS_DENIED. */
    EXPECT(&c, "GET", other, DENIED);
    CHECK_INT_EQ(c.requests, 3);
    CHECK_INT_EQ(c.denied, 5);
    json_t *recs = records("max-requests", "denied");
    CHECK_INT_EQ(json_array_size(recs), 5);
    CHECK_STR_EQ(body_str(json_array_get(recs, 2), "code"), "EGRESS_LIMIT");
    json_decref(recs);
    /* The limit is per call. */
    tg_egress_call c2 = new_call(e, &r, "max-requests-2");
    EXPECT(&c2, "GET", url, ALLOWED);
    CHECK_INT_EQ(c2.requests, 1);
    json_decref(r.rules);
    tg_egress_free(e);
}

/* ---- credentials --------------------------------------------------------- */

static void test_secrets(void)
{
    secrets s = {0};
    rules_src r = {0};
    tg_egress *e = new_egress(NULL, &s, NULL);
    tg_egress_call c = new_call(e, &r, "secrets");
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/x?q=1", dead1);

    set_rules(&r,
              "[{\"origin\": \"https://127.0.0.1:%d\", \"inject\": {\"secret\": \"nope\", "
              "\"header\": \"Authorization\", \"format\": \"Bearer {}\"}}]",
              dead1);
    EXPECT(&c, "GET", url, 500, "INTERNAL");
    CHECK_INT_EQ(s.calls, 1);
    CHECK_STR_EQ(s.tenant, "t1");
    CHECK_STR_EQ(s.name, "nope");
    CHECK_INT_EQ(c.requests, 0);
    CHECK_INT_EQ(c.denied, 1);
    /* An empty secret, and one that cannot go in a header, are refused the same. */
    set_rules(&r,
              "[{\"origin\": \"https://127.0.0.1:%d\", \"inject\": {\"secret\": \"empty\", "
              "\"header\": \"X-Key\"}}]",
              dead1);
    EXPECT(&c, "GET", url, 500, "INTERNAL");
    set_rules(&r,
              "[{\"origin\": \"https://127.0.0.1:%d\", \"inject\": {\"secret\": \"crlf\", "
              "\"header\": \"X-Key\"}}]",
              dead1);
    EXPECT(&c, "GET", url, 500, "INTERNAL");
    set_rules(&r,
              "[{\"origin\": \"https://127.0.0.1:%d\", \"inject\": {\"secret\": \"crlf\", "
              "\"basic_username\": \"bob\"}}]",
              dead1);
    EXPECT(&c, "GET", url, 500, "INTERNAL");
    set_rules(&r, "[{\"origin\": \"https://127.0.0.1:%d\", \"inject\": {\"header\": \"X\"}}]",
              dead1);
    EXPECT(&c, "GET", url, 500, "INTERNAL");
    CHECK_INT_EQ(c.requests, 0);
    CHECK_INT_EQ(c.denied, 5);
    /* In a query parameter it is escaped, so it may hold anything. */
    set_rules(&r,
              "[{\"origin\": \"https://127.0.0.1:%d\", \"inject\": {\"secret\": \"crlf\", "
              "\"query\": \"key\"}}]",
              dead1);
    EXPECT(&c, "GET", url, ALLOWED);
    /* The ones that exist go out with each kind of credential. */
    const char *const injects[] = {
        "{\"secret\": \"api_token\", \"header\": \"Authorization\", \"format\": \"Bearer {}\"}",
        "{\"secret\": \"api_token\", \"header\": \"X-Api-Key\"}",
        "{\"secret\": \"api_token\", \"query\": \"api_key\"}",
        "{\"secret\": \"basic_pw\", \"basic_username\": \"bob\"}",
    };
    for (size_t i = 0; i < sizeof injects / sizeof *injects; i++) {
        set_rules(&r, "[{\"origin\": \"https://127.0.0.1:%d\", \"inject\": %s}]", dead1,
                  injects[i]);
        EXPECT(&c, "GET", url, ALLOWED);
    }
    CHECK_INT_EQ(c.requests, 5);
    CHECK_INT_EQ(c.denied, 5);

    json_t *recs = records("secrets", "denied");
    CHECK_INT_EQ(json_array_size(recs), 5);
    const json_t *rec;
    size_t i;
    json_array_foreach(recs, i, rec)
    {
        CHECK_STR_EQ(body_str(rec, "code"), "INTERNAL");
        CHECK(json_is_false(body_get(rec, "allowed")));
    }
    json_decref(recs);
    recs = records("secrets", "error");
    CHECK_INT_EQ(json_array_size(recs), 5);
    json_array_foreach(recs, i, rec)
    {
        CHECK(json_is_true(body_get(rec, "credential")));
        CHECK_STR_EQ(body_str(rec, "path"), "/v1/x");
    }
    json_decref(recs);
    json_decref(r.rules);
    tg_egress_free(e);
}

/* ---- the audit records ----------------------------------------------- */

static void test_records(void)
{
    secrets s = {0};
    rules_src r = {0};
    tg_egress *e = new_egress(NULL, &s, NULL);
    tg_egress_call c = new_call(e, &r, "records");
    set_rules(&r,
              "[{\"origin\": \"https://127.0.0.1:%d\", \"methods\": [\"GET\", \"POST\"], "
              "\"inject\": {\"secret\": \"api_token\", \"query\": \"api_key\"}},"
              " {\"origin\": \"https://localhost:%d\", \"inject\": {\"secret\": \"basic_pw\", "
              "\"basic_username\": \"bob\"}}]",
              dead1, dead2);
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/items?api_key=mine&page=2", dead1);
    answer a = ask(&c, "POST", url, json_pack("[[s,s]]", "Content-Type", "text/plain"), "hello", 5);
    expect_at(__LINE__, a, ALLOWED, url);
    answer_free(&a);
    snprintf(url, sizeof url, "http://LOCALHOST:%d/other?x=" TOKEN, dead2);
    EXPECT(&c, "GET", url, ALLOWED);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/items?q=1", dead1);
    EXPECT(&c, "DELETE", url, DENIED);
    snprintf(url, sizeof url, "http://nowhere.example/a/b?secret=1");
    EXPECT(&c, "GET", url, DENIED);

    json_t *recs = records("records", NULL);
    CHECK_INT_EQ(json_array_size(recs), 4);
    char origin[64];
    const json_t *rec = json_array_get(recs, 0);
    snprintf(origin, sizeof origin, "https://127.0.0.1:%d", dead1);
    CHECK_STR_EQ(json_string_value(json_object_get(rec, "kind")), "egress");
    CHECK_STR_EQ(json_string_value(json_object_get(rec, "status")), "error");
    CHECK_STR_EQ(json_string_value(json_object_get(rec, "tenant")), "t1");
    CHECK_STR_EQ(json_string_value(json_object_get(rec, "tool")), "w1");
    CHECK_STR_EQ(json_string_value(json_object_get(rec, "principal")), "alice");
    CHECK_STR_EQ(json_string_value(json_object_get(rec, "trigger_kind")), "agent");
    CHECK_STR_EQ(json_string_value(json_object_get(rec, "trace_id")), "trace-1");
    CHECK_STR_EQ(body_str(rec, "origin"), origin);
    CHECK_STR_EQ(body_str(rec, "method"), "POST");
    CHECK_STR_EQ(body_str(rec, "path"), "/v1/items");
    CHECK_STR_EQ(body_str(rec, "error"), "UPSTREAM_FAILED");
    CHECK(json_is_true(body_get(rec, "allowed")));
    CHECK(json_is_true(body_get(rec, "credential")));
    CHECK_INT_EQ(json_integer_value(body_get(rec, "redirect")), 0);
    CHECK(json_is_integer(body_get(rec, "duration_us")));
    CHECK(json_is_integer(body_get(rec, "bytes_sent")));
    CHECK_INT_EQ(json_integer_value(body_get(rec, "bytes_received")), 0);
    CHECK(body_get(rec, "http_status") == NULL);

    rec = json_array_get(recs, 1);
    snprintf(origin, sizeof origin, "https://localhost:%d", dead2);
    CHECK_STR_EQ(body_str(rec, "origin"), origin);
    CHECK_STR_EQ(body_str(rec, "method"), "GET");
    CHECK_STR_EQ(body_str(rec, "path"), "/other");

    rec = json_array_get(recs, 2);
    snprintf(origin, sizeof origin, "http://127.0.0.1:%d", dead1);
    CHECK_STR_EQ(json_string_value(json_object_get(rec, "status")), "denied");
    CHECK_STR_EQ(body_str(rec, "origin"), origin);
    CHECK_STR_EQ(body_str(rec, "method"), "DELETE");
    CHECK_STR_EQ(body_str(rec, "path"), "/v1/items");
    CHECK_STR_EQ(body_str(rec, "code"), "EGRESS_DENIED");
    CHECK(json_is_false(body_get(rec, "allowed")));
    CHECK(body_str(rec, "reason") != NULL);

    rec = json_array_get(recs, 3);
    CHECK_STR_EQ(body_str(rec, "origin"), "http://nowhere.example");
    CHECK_STR_EQ(body_str(rec, "path"), "/a/b");
    json_decref(recs);

    recs = records("records", "denied");
    CHECK_INT_EQ(json_array_size(recs), 2);
    json_decref(recs);
    recs = records("records", "error");
    CHECK_INT_EQ(json_array_size(recs), 2);
    json_decref(recs);
    json_decref(r.rules);
    tg_egress_free(e);
}

/* No record of any test holds a secret's value, raw or encoded. Runs last. */
static void test_no_secret_in_records(void)
{
    tg_audit_filter f = {.tenant = "t1", .oldest_first = true};
    char *cursor = NULL;
    size_t seen = 0;
    int found = 0;
    char basic[128];
    EVP_EncodeBlock((unsigned char *)basic, (const unsigned char *)"bob:" PASSWORD,
                    (int)strlen("bob:" PASSWORD));
    const char *const forms[] = {TOKEN, PASSWORD, basic, "5ecr3t", "line1"};
    do {
        json_t *page = NULL;
        char *next = NULL;
        tg_error err = {0};
        if (tg_audit_query(audit, &f, 1000, cursor, &page, &next, &err) != 0) {
            fprintf(stderr, "query: %s\n", err.message);
            check_failed++;
            break;
        }
        size_t i;
        json_t *rec;
        json_array_foreach(page, i, rec)
        {
            char *text = json_dumps(rec, JSON_COMPACT);
            for (size_t k = 0; k < sizeof forms / sizeof *forms; k++)
                if (strstr(text, forms[k])) {
                    fprintf(stderr, "a record holds \"%s\": %s\n", forms[k], text);
                    found++;
                }
            free(text);
            seen++;
        }
        json_decref(page);
        free(cursor);
        cursor = next;
    } while (cursor);
    printf("records searched for secrets: %zu\n", seen);
    CHECK(seen > 50);
    /* The worker's own URL in test_records held TOKEN in its query, which
     * the records leave out like every query. */
    CHECK_INT_EQ(found, 0);
}

/* ---- counters, summary, rules per request ------------------------------ */

static void test_counters(void)
{
    secrets s = {0};
    rules_src r = {0};
    tg_egress *e = new_egress(NULL, &s, NULL);
    tg_egress_call c = new_call(e, &r, "counters");
    json_t *sum = tg_egress_summary(&c);
    CHECK_INT_EQ(json_integer_value(json_object_get(sum, "requests")), 0);
    CHECK_INT_EQ(json_integer_value(json_object_get(sum, "denied")), 0);
    CHECK_INT_EQ(json_integer_value(json_object_get(sum, "bytes")), 0);
    CHECK_INT_EQ(json_object_size(sum), 3);
    json_decref(sum);
    set_rules(&r, "[{\"origin\": \"https://127.0.0.1:%d\", \"path_prefix\": \"/ok\"}]", dead1);
    char ok[256], no[256];
    snprintf(ok, sizeof ok, "http://127.0.0.1:%d/ok", dead1);
    snprintf(no, sizeof no, "http://127.0.0.1:%d/no", dead1);
    answer a = ask(&c, "POST", no, NULL, "0123456789", 10);
    expect_at(__LINE__, a, DENIED, no);
    answer_free(&a);
    CHECK_INT_EQ(c.bytes_sent, 0); /* a denied body goes nowhere */
    EXPECT(&c, "GET", ok, ALLOWED);
    EXPECT(&c, "GET", ok, ALLOWED);
    EXPECT(&c, "GET", no, DENIED);
    a = ask_text(&c, "{\"id\": 1, \"method\": \"GET\", \"url\": \"https://x/\"}");
    expect_at(__LINE__, a, BAD, "https");
    answer_free(&a);
    CHECK_INT_EQ(c.requests, 2);
    CHECK_INT_EQ(c.denied, 3); /* the 400 is a denial too */
    CHECK_INT_EQ(c.bytes_received, 0);
    /* A body whose connection was refused never left. */
    a = ask(&c, "POST", ok, NULL, "0123456789", 10);
    expect_at(__LINE__, a, ALLOWED, ok);
    answer_free(&a);
    CHECK_INT_EQ(c.bytes_sent, 0);
    CHECK_INT_EQ(c.requests, 3);
    /* Every denial counted is recorded, the 400 included. */
    json_t *recs = records("counters", "denied");
    CHECK_INT_EQ(json_array_size(recs), c.denied);
    json_decref(recs);
    sum = tg_egress_summary(&c);
    CHECK_INT_EQ(json_integer_value(json_object_get(sum, "requests")), 3);
    CHECK_INT_EQ(json_integer_value(json_object_get(sum, "denied")), 3);
    CHECK_INT_EQ(json_integer_value(json_object_get(sum, "bytes")),
                 c.bytes_sent + c.bytes_received);
    json_decref(sum);
    json_decref(r.rules);
    tg_egress_free(e);
}

static void test_rules_per_request(void)
{
    secrets s = {0};
    rules_src r = {0};
    tg_egress *e = new_egress(NULL, &s, NULL);
    tg_egress_call c = new_call(e, &r, "rules-live");
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x", dead1);
    set_rules(&r, "[{\"origin\": \"https://127.0.0.1:%d\"}]", dead1);
    EXPECT(&c, "GET", url, ALLOWED);
    CHECK_INT_EQ(r.calls, 1);
    /* An admin narrows the rules while the worker runs. */
    set_rules(&r, "[{\"origin\": \"https://127.0.0.1:%d\", \"methods\": [\"POST\"]}]", dead1);
    EXPECT(&c, "GET", url, DENIED);
    EXPECT(&c, "POST", url, ALLOWED);
    set_rules(&r, "[]");
    EXPECT(&c, "POST", url, DENIED);
    set_rules(&r, "[{\"origin\": \"https://127.0.0.1:%d\"}]", dead1);
    EXPECT(&c, "GET", url, ALLOWED);
    CHECK_INT_EQ(r.calls, 5);
    /* A request refused before the rules matter does not ask for them. */
    EXPECT(&c, "GET", "https://127.0.0.1/x", BAD);
    CHECK_INT_EQ(r.calls, 5);
    json_decref(r.rules);
    tg_egress_free(e);
}

/* The audit log cannot take records: nothing is sent, and the worker hears 503. */
static void test_audit_unhealthy(void)
{
    char path[600];
    snprintf(path, sizeof path, "%s/sick.db", tmpdir);
    tg_audit *sick = NULL;
    tg_error err = {0};
    CHECK_INT_EQ(tg_audit_open(path, &(tg_audit_options){.retry_ms = 10}, &sick, &err), 0);
    if (!sick) return;
    secrets s = {0};
    rules_src r = {0};
    tg_egress *e = new_egress(NULL, &s, sick);
    tg_egress_call c = new_call(e, &r, "sick");
    set_rules(&r,
              "[{\"origin\": \"https://127.0.0.1:%d\", \"inject\": {\"secret\": \"api_token\", "
              "\"header\": \"X-Key\"}}]",
              dead1);
    char url[256], other[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x", dead1);
    snprintf(other, sizeof other, "http://127.0.0.1:%d/x", dead2);
    EXPECT(&c, "GET", url, ALLOWED);
    CHECK_INT_EQ(c.requests, 1);

    CHECK_INT_EQ(unlink(path), 0);
    tg_audit_record rec = {.kind = "call.begin", .tenant = "t1", .call_id = "sick"};
    CHECK_INT_EQ(tg_audit_append(sick, &rec, mono_ns() + 200000000, NULL, &err),
                 TG_EAUDIT_UNAVAILABLE);
    CHECK(!tg_audit_healthy(sick));
    int secret_calls = s.calls;
    answer a = ask(&c, "GET", url, NULL, NULL, 0);
    expect_at(__LINE__, a, 503, "AUDIT_UNAVAILABLE", "allowed, audit unhealthy");
    CHECK(a.ms < 1000);
    answer_free(&a);
    CHECK_INT_EQ(c.requests, 1);
    CHECK_INT_EQ(s.calls, secret_calls); /* not even the secret is read */
    /* A denial cannot be recorded either (after the append's own deadline). */
    a = ask(&c, "GET", other, NULL, NULL, 0);
    expect_at(__LINE__, a, 503, "AUDIT_UNAVAILABLE", "denied, audit unhealthy");
    printf("a denial with the audit log down took %lld ms\n", (long long)a.ms);
    CHECK(a.ms < 5000);
    answer_free(&a);
    CHECK_INT_EQ(c.requests, 1);
    json_decref(r.rules);
    tg_egress_free(e);
    tg_audit_close(sick);
}

/* ---- a real upstream ----------------------------------------------------- */

/* A TLS server on 127.0.0.1 (certificate for 127.0.0.1 and localhost), one
 * request per connection. It records every request it reads and answers by
 * path:
 *   /echo          200, the request it got as the body and X-Echo-Auth
 *   /redirect/NNN  status NNN, Location: the request's X-Location header
 *   /keep-query    302 to https://localhost:<port>/landing?<the query it got>
 *   /big           200, 64 KiB
 *   anything else  200 "hello" */
#define SEEN_MAX 64

typedef struct upstream {
    int fd, port;
    SSL_CTX *ctx;
    pthread_t thread;
    atomic_int stop;
    pthread_mutex_t mu;
    char *seen[SEEN_MAX]; /* raw requests, the oldest first */
    size_t nseen;
} upstream;

static upstream up;

static EVP_PKEY *make_cert(const char *pem_path, X509 **out)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    if (!key || !x) return NULL;
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"toolgate test", -1,
                               -1, 0);
    X509_set_issuer_name(x, name);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    const struct {
        int nid;
        const char *value;
    } exts[] = {
        {NID_basic_constraints, "critical,CA:TRUE"},
        {NID_key_usage, "critical,digitalSignature,keyCertSign"},
        {NID_subject_key_identifier, "hash"},
        {NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost"},
    };
    for (size_t i = 0; i < sizeof exts / sizeof *exts; i++) {
        X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, exts[i].nid, exts[i].value);
        if (!ext) return NULL;
        X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
    }
    if (!X509_sign(x, key, EVP_sha256())) return NULL;
    FILE *f = fopen(pem_path, "w");
    if (!f || !PEM_write_X509(f, x)) return NULL;
    fclose(f);
    *out = x;
    return key;
}

static void reply(SSL *ssl, const char *head, const char *body, size_t body_len)
{
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    fprintf(m, "%sContent-Length: %zu\r\nConnection: close\r\n\r\n", head, body_len);
    fwrite(body, 1, body_len, m);
    fclose(m);
    SSL_write(ssl, text, (int)len);
    free(text);
}

/* The value of header name in the raw request head, copied into buf. */
static const char *request_header(const char *req, const char *name, char *buf, size_t size)
{
    size_t n = strlen(name);
    for (const char *line = strstr(req, "\r\n"); line && line[2] != '\r';
         line = strstr(line + 2, "\r\n")) {
        const char *l = line + 2;
        if (strncasecmp(l, name, n) == 0 && l[n] == ':') {
            l += n + 1;
            while (*l == ' ')
                l++;
            size_t vlen = strcspn(l, "\r\n");
            snprintf(buf, size, "%.*s", (int)vlen, l);
            return buf;
        }
    }
    return NULL;
}

static void serve_one(SSL *ssl)
{
    char *req = malloc(1 << 20);
    size_t len = 0, want = 0;
    char *end = NULL;
    for (;;) {
        int n = SSL_read(ssl, req + len, (int)((1 << 20) - 1 - len));
        if (n <= 0) break;
        len += (size_t)n;
        req[len] = '\0';
        if (!end && (end = strstr(req, "\r\n\r\n"))) {
            char cl[32];
            want = (size_t)(end + 4 - req);
            if (request_header(req, "Content-Length", cl, sizeof cl))
                want += (size_t)strtoul(cl, NULL, 10);
        }
        if (end && len >= want) break;
    }
    req[len] = '\0';
    if (!end) {
        free(req);
        return;
    }
    pthread_mutex_lock(&up.mu);
    if (up.nseen < SEEN_MAX) up.seen[up.nseen++] = strdup(req);
    pthread_mutex_unlock(&up.mu);

    char method[32] = "", target[2048] = "", head[4096], value[2048];
    sscanf(req, "%31s %2047s", method, target);
    if (strcmp(method, "HEAD") == 0) {
        reply(ssl, "HTTP/1.1 200 OK\r\n", "", 0);
        free(req);
        return;
    }
    size_t plen = strcspn(target, "?");
    if (strncmp(target, "/echo", plen) == 0 && plen == 5) {
        const char *auth = request_header(req, "Authorization", value, sizeof value);
        snprintf(head, sizeof head,
                 "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Echo-Auth: %s\r\nX-Echo-Url: "
                 "%s\r\n",
                 auth ? auth : "-", target);
        reply(ssl, head, req, len);
    } else if (strncmp(target, "/redirect/", 10) == 0) {
        const char *to = request_header(req, "X-Location", value, sizeof value);
        snprintf(head, sizeof head, "HTTP/1.1 %.3s Moved\r\nLocation: %s\r\n", target + 10,
                 to ? to : "/");
        reply(ssl, head, "moved", 5);
    } else if (strncmp(target, "/keep-query", plen) == 0 && plen == 11) {
        snprintf(head, sizeof head,
                 "HTTP/1.1 302 Found\r\nLocation: https://localhost:%d/landing%s\r\n", up.port,
                 target + plen);
        reply(ssl, head, "", 0);
    } else if (strncmp(target, "/big", plen) == 0 && plen == 4) {
        char *big = malloc(65536);
        memset(big, 'z', 65536);
        reply(ssl, "HTTP/1.1 200 OK\r\n", big, 65536);
        free(big);
    } else {
        reply(ssl, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Upstream: yes\r\n", "hello",
              5);
    }
    free(req);
}

static void *serve(void *arg)
{
    (void)arg;
    while (!atomic_load(&up.stop)) {
        int fd = accept(up.fd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (atomic_load(&up.stop)) {
            close(fd);
            break;
        }
        struct timeval tv = {.tv_sec = 5};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        SSL *ssl = SSL_new(up.ctx);
        SSL_set_fd(ssl, fd);
        if (SSL_accept(ssl) == 1) {
            serve_one(ssl);
            SSL_shutdown(ssl);
        }
        SSL_free(ssl);
        close(fd);
    }
    return NULL;
}

static bool upstream_start(const char *pem_path)
{
    X509 *cert = NULL;
    EVP_PKEY *key = make_cert(pem_path, &cert);
    if (!key) {
        ERR_print_errors_fp(stderr);
        return false;
    }
    up.ctx = SSL_CTX_new(TLS_server_method());
    bool ok = up.ctx && SSL_CTX_use_certificate(up.ctx, cert) == 1 &&
              SSL_CTX_use_PrivateKey(up.ctx, key) == 1;
    X509_free(cert);
    EVP_PKEY_free(key);
    if (!ok) return false;
    pthread_mutex_init(&up.mu, NULL);
    up.fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    if (up.fd < 0 || bind(up.fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(up.fd, (struct sockaddr *)&a, &alen) != 0 || listen(up.fd, 16) != 0)
        return false;
    up.port = ntohs(a.sin_port);
    return pthread_create(&up.thread, NULL, serve, NULL) == 0;
}

static void upstream_stop(void)
{
    atomic_store(&up.stop, 1);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)up.port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    connect(fd, (struct sockaddr *)&a, sizeof a);
    pthread_join(up.thread, NULL);
    close(fd);
    close(up.fd);
    SSL_CTX_free(up.ctx);
    for (size_t i = 0; i < up.nseen; i++)
        free(up.seen[i]);
    pthread_mutex_destroy(&up.mu);
}

/* Returns: the number of requests the upstream has read so far. */
static size_t seen_count(void)
{
    pthread_mutex_lock(&up.mu);
    size_t n = up.nseen;
    pthread_mutex_unlock(&up.mu);
    return n;
}

/* Returns: borrowed, request i the upstream read (0 the first), or "". */
static const char *seen(size_t i)
{
    pthread_mutex_lock(&up.mu);
    const char *s = i < up.nseen ? up.seen[i] : "";
    pthread_mutex_unlock(&up.mu);
    return s;
}

/* How many lines of the request head start with "Name:" (any case). */
static int count_header(const char *req, const char *name)
{
    int n = 0;
    const char *head_end = strstr(req, "\r\n\r\n");
    size_t nlen = strlen(name);
    for (const char *line = strstr(req, "\r\n"); line && line < head_end;
         line = strstr(line + 2, "\r\n"))
        if (strncasecmp(line + 2, name, nlen) == 0 && line[2 + nlen] == ':') n++;
    return n;
}

static void test_upstream_credentials(const char *ca)
{
    secrets s = {0};
    rules_src r = {0};
    tg_egress *e = new_egress(&(tg_egress_config){.ca_file = ca, .timeout_ms = 5000}, &s, NULL);
    tg_egress_call c = new_call(e, &r, "up-cred");
    char url[256], host[64], buf[512];
    snprintf(host, sizeof host, "127.0.0.1:%d", up.port);

    /* A header credential replaces the worker's header of that name; the
     * hop-by-hop headers and the worker's Host stay behind. */
    set_rules(&r,
              "[{\"origin\": \"https://127.0.0.1:%d\", \"inject\": {\"secret\": \"api_token\", "
              "\"header\": \"Authorization\", \"format\": \"Bearer {}\"}}]",
              up.port);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/hello?x=1", up.port);
    size_t n0 = seen_count();
    answer a = ask(&c, "GET", url,
                   json_pack("[[s,s],[s,s],[s,s],[s,s],[s,s],[s,s],[s,s]]", "authorization",
                             "Bearer worker-own", "X-Trace", "abc", "Connection", "keep-alive",
                             "Proxy-Authorization", "Basic eA==", "Host", "evil.example", "TE",
                             "trailers", "Proxy-Anything", "1"),
                   NULL, 0);
    expect_at(__LINE__, a, 200, "", url);
    CHECK_STR_EQ(a.body, "hello");
    CHECK_STR_EQ(header_of(&a, "X-Upstream"), "yes");
    CHECK(header_of(&a, "Content-Length") == NULL);
    CHECK(header_of(&a, "Connection") == NULL);
    answer_free(&a);
    CHECK_INT_EQ(seen_count(), n0 + 1);
    const char *req = seen(n0);
    CHECK(strncmp(req, "GET /v1/hello?x=1 HTTP/1.1\r\n", 28) == 0);
    CHECK_INT_EQ(count_header(req, "Authorization"), 1);
    CHECK(strstr(req, "Authorization: Bearer " TOKEN "\r\n") != NULL);
    CHECK(strstr(req, "worker-own") == NULL);
    CHECK_STR_EQ(request_header(req, "Host", buf, sizeof buf), host);
    CHECK_STR_EQ(request_header(req, "X-Trace", buf, sizeof buf), "abc");
    CHECK_INT_EQ(count_header(req, "Proxy-Authorization"), 0);
    CHECK_INT_EQ(count_header(req, "Proxy-Anything"), 0);
    CHECK_INT_EQ(count_header(req, "TE"), 0);
    CHECK(strstr(req, "evil.example") == NULL);
    CHECK_INT_EQ(c.requests, 1);
    CHECK_INT_EQ(c.bytes_received, 5);

    /* A query credential replaces the worker's parameter of that name. */
    set_rules(&r,
              "[{\"origin\": \"https://127.0.0.1:%d\", \"inject\": {\"secret\": \"api_token\", "
              "\"query\": \"key\"}}]",
              up.port);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/q?key=mine&a=1&keyx=2&key=again", up.port);
    n0 = seen_count();
    a = ask(&c, "GET", url, NULL, NULL, 0);
    expect_at(__LINE__, a, 200, "", url);
    answer_free(&a);
    req = seen(n0);
    const char *line = "GET /q?a=1&keyx=2&key=" TOKEN " HTTP/1.1\r\n";
    CHECK(strncmp(req, line, strlen(line)) == 0);
    if (strncmp(req, line, strlen(line)) != 0)
        fprintf(stderr, "sent: %.*s\n", (int)strcspn(req, "\r"), req);

    /* Basic: user:secret. */
    set_rules(&r,
              "[{\"origin\": \"https://127.0.0.1:%d\", \"inject\": {\"secret\": \"basic_pw\", "
              "\"basic_username\": \"bob\"}}]",
              up.port);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/basic", up.port);
    n0 = seen_count();
    a = ask(&c, "GET", url, json_pack("[[s,s]]", "Authorization", "Basic d29ya2VyOnB3"), NULL, 0);
    expect_at(__LINE__, a, 200, "", url);
    answer_free(&a);
    req = seen(n0);
    char b64[128], basic[160];
    EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)"bob:" PASSWORD,
                    (int)strlen("bob:" PASSWORD));
    snprintf(basic, sizeof basic, "Basic %s", b64);
    CHECK_STR_EQ(request_header(req, "Authorization", buf, sizeof buf), basic);
    CHECK_INT_EQ(count_header(req, "Authorization"), 1);

    json_t *recs = records("up-cred", "ok");
    CHECK_INT_EQ(json_array_size(recs), 3);
    CHECK_INT_EQ(json_integer_value(body_get(json_array_get(recs, 0), "http_status")), 200);
    CHECK(json_is_true(body_get(json_array_get(recs, 0), "credential")));
    json_decref(recs);
    json_decref(r.rules);
    tg_egress_free(e);
}

/* Sends GET path on c and returns the Authorization header the upstream
 * got into buf, or NULL when the upstream got nothing; *status the answer's. */
static const char *auth_sent(tg_egress_call *c, int port, int *status, char *code, char *buf,
                             size_t size)
{
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/hello", port);
    size_t n0 = seen_count();
    answer a = ask(c, "GET", url, NULL, NULL, 0);
    *status = a.status;
    snprintf(code, 64, "%s", a.code);
    answer_free(&a);
    if (seen_count() == n0) return NULL;
    return request_header(seen(n0), "Authorization", buf, size);
}

/* per_principal: "required" sends only the caller's own value and refuses
 * (CREDENTIAL_MISSING, nothing sent) a caller without one, whatever the
 * tenant has; "preferred" falls back to the tenant's; without it, the
 * tenant's. Only "<tenant>/<sub>" principals have values of their own. */
#define PP_RULE                                                                                    \
    "[{\"origin\": \"https://127.0.0.1:%d\", \"inject\": {\"secret\": "                            \
    "\"api_token\", \"header\": \"Authorization\", \"format\": \"Bearer {}\"%s}}]"

static void test_upstream_per_principal(const char *ca)
{
    secrets s = {0};
    rules_src r = {0};
    tg_egress *e = new_egress(&(tg_egress_config){.ca_file = ca, .timeout_ms = 5000}, &s, NULL);
    char buf[256], code[64];
    int status = 0;
    set_rules(&r, PP_RULE, up.port, ", \"per_principal\": \"required\"");
    tg_egress_call alice = new_call(e, &r, "pp-alice");
    alice.principal = "t1/alice";
    const char *sent = auth_sent(&alice, up.port, &status, code, buf, sizeof buf);
    CHECK_INT_EQ(status, 200);
    CHECK(sent && strcmp(sent, "Bearer " ALICE_TOKEN) == 0);
    CHECK_STR_EQ(alice.missing_secret, "");
    CHECK_INT_EQ(alice.principal_credentials, 1);
    CHECK_INT_EQ(alice.tenant_credentials, 0);
    json_t *summary = tg_egress_summary(&alice);
    CHECK_STR_EQ(json_string_value(json_object_get(summary, "credential")), "principal");
    json_decref(summary);
    json_t *recs = records("pp-alice", "ok");
    CHECK_INT_EQ(json_array_size(recs), 1);
    CHECK_STR_EQ(json_string_value(body_get(json_array_get(recs, 0), "credential_of")),
                 "principal");
    char *text = json_dumps(recs, JSON_COMPACT);
    CHECK(strstr(text, ALICE_TOKEN) == NULL);
    free(text);
    json_decref(recs);

    /* Bob has no value of his own, and neither has a principal that is not
     * the tenant's (a run of a schedule without one, another tenant's). */
    static const char *const lacking[] = {"t1/bob", "schedule", "t2/alice", "t1/"};
    for (size_t i = 0; i < sizeof lacking / sizeof *lacking; i++) {
        tg_egress_call bob = new_call(e, &r, "pp-bob");
        bob.principal = lacking[i];
        sent = auth_sent(&bob, up.port, &status, code, buf, sizeof buf);
        CHECK(sent == NULL);
        CHECK_INT_EQ(status, 424);
        CHECK_STR_EQ(code, "CREDENTIAL_MISSING");
        CHECK_STR_EQ(bob.missing_secret, "api_token");
        CHECK_INT_EQ(bob.requests, 0);
        CHECK_INT_EQ(bob.denied, 1);
    }
    recs = records("pp-bob", "denied");
    CHECK_INT_EQ(json_array_size(recs), 4);
    CHECK_STR_EQ(json_string_value(body_get(json_array_get(recs, 0), "code")),
                 "CREDENTIAL_MISSING");
    json_decref(recs);

    set_rules(&r, PP_RULE, up.port, ", \"per_principal\": \"preferred\"");
    tg_egress_call pref = new_call(e, &r, "pp-pref");
    pref.principal = "t1/bob";
    sent = auth_sent(&pref, up.port, &status, code, buf, sizeof buf);
    CHECK(sent && strcmp(sent, "Bearer " TOKEN) == 0);
    pref.principal = "t1/alice";
    sent = auth_sent(&pref, up.port, &status, code, buf, sizeof buf);
    CHECK(sent && strcmp(sent, "Bearer " ALICE_TOKEN) == 0);
    CHECK_INT_EQ(pref.tenant_credentials, 1);
    CHECK_INT_EQ(pref.principal_credentials, 1);
    summary = tg_egress_summary(&pref);
    CHECK_STR_EQ(json_string_value(json_object_get(summary, "credential")), "both");
    json_decref(summary);

    /* Without per_principal, Alice's call carries the tenant's value. */
    set_rules(&r, PP_RULE, up.port, "");
    tg_egress_call plain = new_call(e, &r, "pp-plain");
    plain.principal = "t1/alice";
    sent = auth_sent(&plain, up.port, &status, code, buf, sizeof buf);
    CHECK(sent && strcmp(sent, "Bearer " TOKEN) == 0);
    CHECK_INT_EQ(plain.principal_credentials, 0);

    CHECK(tg_egress_principal_sub("t1", "t1/alice") &&
          strcmp(tg_egress_principal_sub("t1", "t1/alice"), "alice") == 0);
    CHECK(tg_egress_principal_sub("t1", "t10/alice") == NULL);
    CHECK(tg_egress_principal_sub("t1", "hook:hk_1") == NULL);
    CHECK(tg_egress_principal_sub("t1", NULL) == NULL);
    json_decref(r.rules);
    tg_egress_free(e);
}

static void test_upstream_redaction(const char *ca)
{
    secrets s = {0};
    rules_src r = {0};
    tg_egress *e = new_egress(&(tg_egress_config){.ca_file = ca, .timeout_ms = 5000}, &s, NULL);
    tg_egress_call c = new_call(e, &r, "up-redact");
    char url[256];
    const char *const injects[] = {
        "{\"secret\": \"api_token\", \"header\": \"Authorization\", \"format\": \"Bearer {}\"}",
        "{\"secret\": \"api_token\", \"header\": \"X-Key\"}",
        "{\"secret\": \"api_token\", \"query\": \"key\"}",
        "{\"secret\": \"basic_pw\", \"basic_username\": \"bob\"}",
    };
    char b64[128];
    EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)"bob:" PASSWORD,
                    (int)strlen("bob:" PASSWORD));
    for (size_t i = 0; i < sizeof injects / sizeof *injects; i++) {
        set_rules(&r, "[{\"origin\": \"https://127.0.0.1:%d\", \"inject\": %s}]", up.port,
                  injects[i]);
        snprintf(url, sizeof url, "http://127.0.0.1:%d/echo?page=1", up.port);
        answer a = ask(&c, "GET", url, NULL, NULL, 0);
        expect_at(__LINE__, a, 200, "", injects[i]);
        /* The upstream echoed the request, credential and all. */
        bool leaked =
            a.body && (strstr(a.body, TOKEN) || strstr(a.body, PASSWORD) || strstr(a.body, b64));
        CHECK(!leaked);
        CHECK(a.body && strstr(a.body, "[REDACTED]") != NULL);
        char *hdrs = json_dumps(a.headers, JSON_COMPACT);
        CHECK(hdrs && !strstr(hdrs, TOKEN) && !strstr(hdrs, PASSWORD) && !strstr(hdrs, b64));
        if (leaked || !hdrs || strstr(hdrs, TOKEN) || strstr(hdrs, b64))
            fprintf(stderr, "inject %s:\n  headers %s\n  body %s\n", injects[i], hdrs, a.body);
        free(hdrs);
        answer_free(&a);
    }
    CHECK_INT_EQ(c.requests, 4);
    json_decref(r.rules);
    tg_egress_free(e);
}

static void test_upstream_redirects(const char *ca)
{
    secrets s = {0};
    rules_src r = {0};
    tg_egress *e = new_egress(
        &(tg_egress_config){.ca_file = ca, .timeout_ms = 5000, .max_redirects = 3}, &s, NULL);
    tg_egress_call c = new_call(e, &r, "up-redirect");
    /* The credential's origin, and the same server under another name. */
    set_rules(&r,
              "[{\"origin\": \"https://127.0.0.1:%d\", \"inject\": {\"secret\": \"api_token\", "
              "\"header\": \"X-Key\"}},"
              " {\"origin\": \"https://localhost:%d\", \"path_prefix\": \"/landing\"}]",
              up.port, up.port);
    char url[256], to[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/redirect/302", up.port);

    /* To the same origin: followed, with the credential. */
    snprintf(to, sizeof to, "https://127.0.0.1:%d/final", up.port);
    size_t n0 = seen_count();
    answer a = ask(&c, "GET", url, json_pack("[[s,s]]", "X-Location", to), NULL, 0);
    expect_at(__LINE__, a, 200, "", "302 to the same origin");
    answer_free(&a);
    CHECK_INT_EQ(seen_count(), n0 + 2);
    CHECK(strncmp(seen(n0 + 1), "GET /final ", 11) == 0);
    CHECK_INT_EQ(count_header(seen(n0 + 1), "X-Key"), 1);

    /* To another origin a rule allows: followed, without the credential. */
    snprintf(to, sizeof to, "https://localhost:%d/landing", up.port);
    n0 = seen_count();
    a = ask(&c, "GET", url, json_pack("[[s,s]]", "X-Location", to), NULL, 0);
    expect_at(__LINE__, a, 200, "", "302 to another allowed origin");
    answer_free(&a);
    CHECK_INT_EQ(seen_count(), n0 + 2);
    CHECK(strncmp(seen(n0 + 1), "GET /landing ", 13) == 0);
    CHECK_INT_EQ(count_header(seen(n0 + 1), "X-Key"), 0);
    CHECK(strstr(seen(n0 + 1), TOKEN) == NULL);

    /* To where no rule allows (another path, http, another port): the
     * worker gets the redirect itself. */
    const char *const nowhere[][2] = {{"https://localhost:", "/elsewhere"},
                                      {"http://127.0.0.1:", "/final"},
                                      {"https://127.0.0.1:", "0/x"}};
    for (size_t i = 0; i < sizeof nowhere / sizeof *nowhere; i++) {
        snprintf(to, sizeof to, "%s%d%s", nowhere[i][0], up.port, nowhere[i][1]);
        n0 = seen_count();
        a = ask(&c, "GET", url, json_pack("[[s,s]]", "X-Location", to), NULL, 0);
        expect_at(__LINE__, a, 302, "", to);
        CHECK_STR_EQ(header_of(&a, "Location"), to);
        CHECK_STR_EQ(a.body, "moved");
        answer_free(&a);
        CHECK_INT_EQ(seen_count(), n0 + 1);
    }

    /* A loop: max_redirects hops followed, then the worker sees the last 302. */
    snprintf(to, sizeof to, "https://127.0.0.1:%d/redirect/302", up.port);
    unsigned before = c.requests;
    a = ask(&c, "GET", url, json_pack("[[s,s]]", "X-Location", to), NULL, 0);
    expect_at(__LINE__, a, 302, "", "redirect loop");
    answer_free(&a);
    CHECK_INT_EQ(c.requests - before, 4);

    /* 307 keeps the method and body; 303 turns into a GET without one. */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/redirect/307", up.port);
    snprintf(to, sizeof to, "https://127.0.0.1:%d/after307", up.port);
    n0 = seen_count();
    a = ask(&c, "POST", url,
            json_pack("[[s,s],[s,s]]", "X-Location", to, "Content-Type", "text/plain"),
            "payload-307", 11);
    expect_at(__LINE__, a, 200, "", "307");
    answer_free(&a);
    CHECK(strncmp(seen(n0 + 1), "POST /after307 ", 15) == 0);
    CHECK(strstr(seen(n0 + 1), "\r\n\r\npayload-307") != NULL);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/redirect/303", up.port);
    snprintf(to, sizeof to, "https://127.0.0.1:%d/after303", up.port);
    n0 = seen_count();
    a = ask(&c, "POST", url, json_pack("[[s,s]]", "X-Location", to), "payload-303", 11);
    expect_at(__LINE__, a, 200, "", "303");
    answer_free(&a);
    CHECK(strncmp(seen(n0 + 1), "GET /after303 ", 14) == 0);
    CHECK(strstr(seen(n0 + 1), "payload-303") == NULL);

    json_t *recs = records("up-redirect", "ok");
    size_t redirects = 0, i;
    json_t *rec;
    json_array_foreach(recs, i, rec)
    {
        redirects += json_integer_value(body_get(rec, "redirect")) > 0;
    }
    CHECK_INT_EQ(redirects, 2 + 3 + 1 + 1);
    json_decref(recs);
    json_decref(r.rules);
    tg_egress_free(e);
}

/* A query credential and an upstream whose redirect keeps the query string
 * (a common habit): the next hop would carry the secret to another origin,
 * so it is not made; the worker gets the redirect, its Location redacted. */
static void test_upstream_query_redirect(const char *ca)
{
    secrets s = {0};
    rules_src r = {0};
    tg_egress *e = new_egress(&(tg_egress_config){.ca_file = ca, .timeout_ms = 5000}, &s, NULL);
    tg_egress_call c = new_call(e, &r, "up-query-redirect");
    set_rules(&r,
              "[{\"origin\": \"https://127.0.0.1:%d\", \"inject\": {\"secret\": \"api_token\", "
              "\"query\": \"key\"}},"
              " {\"origin\": \"https://localhost:%d\", \"path_prefix\": \"/landing\"}]",
              up.port, up.port);
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/keep-query?a=1", up.port);
    size_t n0 = seen_count();
    answer a = ask(&c, "GET", url, NULL, NULL, 0);
    expect_at(__LINE__, a, 302, "", url);
    char *headers = json_dumps(a.headers, JSON_COMPACT);
    CHECK(!strstr(headers, TOKEN) && !strstr(a.body, TOKEN));
    CHECK(strstr(headers, "[REDACTED]") != NULL);
    free(headers);
    answer_free(&a);
    CHECK_INT_EQ(seen_count(), n0 + 1);
    json_decref(r.rules);
    tg_egress_free(e);
}

static void test_upstream_limits(const char *ca)
{
    secrets s = {0};
    rules_src r = {0};
    tg_egress *e = new_egress(
        &(tg_egress_config){.ca_file = ca, .timeout_ms = 5000, .max_response_bytes = 1000}, &s,
        NULL);
    tg_egress_call c = new_call(e, &r, "up-limits");
    set_rules(&r, "[{\"origin\": \"https://127.0.0.1:%d\"}]", up.port);
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/big", up.port);
    EXPECT(&c, "GET", url, 502, "RESPONSE_TOO_LARGE");
    snprintf(url, sizeof url, "http://127.0.0.1:%d/small", up.port);
    answer a = ask(&c, "POST", url, NULL, "0123456789", 10);
    expect_at(__LINE__, a, 200, "", url);
    answer_free(&a);
    CHECK_INT_EQ(c.requests, 2);
    json_t *sum = tg_egress_summary(&c);
    CHECK_INT_EQ(json_integer_value(json_object_get(sum, "bytes")),
                 c.bytes_sent + c.bytes_received);
    json_decref(sum);
    printf("bytes after a refused-as-too-large GET and a 10-byte POST answered by 5 bytes: "
           "sent %llu, received %llu\n",
           (unsigned long long)c.bytes_sent, (unsigned long long)c.bytes_received);
    CHECK_INT_EQ(c.bytes_sent, 10);
    json_t *recs = records("up-limits", "error");
    CHECK_INT_EQ(json_array_size(recs), 1);
    CHECK_STR_EQ(body_str(json_array_get(recs, 0), "error"), "RESPONSE_TOO_LARGE");
    json_decref(recs);

    /* What the upstream sees of methods without a body. */
    const char *const methods[] = {"HEAD", "DELETE", "OPTIONS", "GET"};
    for (size_t i = 0; i < sizeof methods / sizeof *methods; i++) {
        size_t n0 = seen_count();
        a = ask(&c, methods[i], url, NULL, NULL, 0);
        expect_at(__LINE__, a, 200, "", methods[i]);
        answer_free(&a);
        const char *req = seen(n0);
        size_t mlen = strlen(methods[i]);
        CHECK(strncmp(req, methods[i], mlen) == 0 && req[mlen] == ' ');
        char buf[256];
        const char *ct = request_header(req, "Content-Type", buf, sizeof buf);
        if (ct) printf("%s without a body went out with Content-Type: %s\n", methods[i], ct);
    }
    json_decref(r.rules);
    tg_egress_free(e);
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    /* Requests here go straight to 127.0.0.1, never through a proxy of the
     * environment's. */
    const char *const proxies[] = {"http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy",
                                   "ALL_PROXY"};
    for (size_t i = 0; i < sizeof proxies / sizeof *proxies; i++)
        unsetenv(proxies[i]);
    /* As the daemon does: libcurl is told not to touch signals, and the test
     * upstream writes to connections the egress may have dropped. */
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    dead1 = free_port();
    dead2 = free_port();
    dead3 = free_port();
    CHECK(dead1 > 0 && dead2 > 0 && dead3 > 0 && dead1 != dead2);
    char path[600];
    snprintf(path, sizeof path, "%s/audit.db", tmpdir);
    tg_error err = {0};
    if (tg_audit_open(path, NULL, &audit, &err) != 0) {
        fprintf(stderr, "audit: %s\n", err.message);
        return 1;
    }
    int64_t t0 = mono_ns();
    test_new();
    test_hosts();
    test_ports();
    test_methods();
    test_path_prefix();
    test_refused_urls();
    test_body_limit();
    test_max_requests();
    test_secrets();
    test_records();
    test_counters();
    test_rules_per_request();
    test_audit_unhealthy();
    printf("policy tests: %lld ms\n", (long long)((mono_ns() - t0) / 1000000));

    char ca[600];
    snprintf(ca, sizeof ca, "%s/upstream.pem", tmpdir);
    if (upstream_start(ca)) {
        test_upstream_credentials(ca);
        test_upstream_per_principal(ca);
        test_upstream_redaction(ca);
        test_upstream_redirects(ca);
        test_upstream_query_redirect(ca);
        test_upstream_limits(ca);
        upstream_stop();
    } else {
        check_failed++;
        fprintf(stderr, "the test upstream did not start\n");
    }
    test_no_secret_in_records();

    tg_audit_close(audit);
    curl_global_cleanup();
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return check_report();
}
