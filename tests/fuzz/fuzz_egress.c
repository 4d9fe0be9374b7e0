/* libFuzzer target for the egress proxy's handling of a worker's request
 * frame (gateway/egress/egress.h): the frame comes from a sandbox the gateway
 * does not trust, the rules from a manifest or an admin.
 *
 * Input framing: FRAME ["\n---\n" RULES], split at the first separator. FRAME
 * is JSON text of any type (a request frame {id, method, url, headers, body}
 * when it is meant to get far) and goes to tg_egress_handle as it parsed,
 * without tg_frame_check. RULES, when present, is JSON text of any type given
 * as the worker's egress rules; without it the worker has FIXED_RULES. Inputs
 * whose JSON does not parse are skipped quietly.
 *
 * No network: every https request libcurl makes goes through https_proxy,
 * set here to a 127.0.0.1 port where nothing listens, so whatever origin a
 * rule names, a request it allows ends at once in a refused connection, and
 * no name is ever looked up. The secrets come from a fake store; the audit
 * log is a real one in a temporary directory (on /dev/shm when there is one).
 *
 * Beyond "no crash, no leak, no undefined behaviour", the target abort()s when
 *  - the answer is NULL, or not {status: integer in [100, 599], headers:
 *    [[string, string]...], body: base64};
 *  - a secret's value, or its basic-auth form, is in the answer's headers or
 *    decoded body, or in the input's audit record (unless the input itself
 *    holds it: a worker may send what it typed);
 *  - with nothing upstream, the answer is not the proxy's own error: a JSON
 *    body {"error": {"code": ...}} whose status is one of the proxy's;
 *  - the call's counters disagree with the answer (one request sent for a
 *    502 or 504, one denial for 403, 413, 429 or 500, none for 400), or an
 *    answer other than 400 left no `egress` record;
 *  - with FIXED_RULES, the answer is not the one check_policy works out on
 *    its own from the frame and the rules' text: which URLs may be sent at
 *    all, which rule allows one (host without case, port said or the
 *    default, method, path prefix, no dot segments, encoded dots, slashes or
 *    backslashes under a prefix), then the body limit and the missing
 *    secret. */
#include "gateway/egress/egress.h"

#include "audit/audit.h"
#include "vm-pool/frame.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SEPARATOR "\n---\n"
#define MAX_BODY  1024
#define TOKEN     "tok-f0zz-5ecr3t-8QmW"
#define PASSWORD  "pw-f0zz-5ecr3t-3JkX"

/* Rule i of FIXED_RULES, for check_policy. */
typedef struct fixed_rule {
    const char *host; /* lowercase */
    int port;
    const char *methods[3]; /* NULL-terminated; none: every method */
    const char *prefix;     /* NULL: none */
    bool missing_secret;
} fixed_rule;

#define FIXED_RULES                                                                                \
    "[{\"origin\": \"https://127.0.0.1:8443\", \"methods\": [\"GET\", \"POST\"],"                  \
    "  \"path_prefix\": \"/v1/\", \"inject\": {\"secret\": \"api_token\","                         \
    "  \"header\": \"Authorization\", \"format\": \"Bearer {}\"}},"                                \
    " {\"origin\": \"https://API.Example.com\", \"inject\": {\"secret\": \"api_token\","           \
    "  \"query\": \"key\"}},"                                                                      \
    " {\"origin\": \"https://localhost:9443\", \"path_prefix\": \"/basic\","                       \
    "  \"inject\": {\"secret\": \"basic_pw\", \"basic_username\": \"bob\"}},"                      \
    " {\"origin\": \"https://files.example.com:443\", \"methods\": [\"DELETE\", \"PUT\"],"         \
    "  \"inject\": {\"secret\": \"missing\", \"header\": \"X-Key\"}},"                             \
    " {\"origin\": \"https://open.example.org:8080\"}]"

static const fixed_rule fixed[] = {
    {"127.0.0.1", 8443, {"GET", "POST", NULL}, "/v1/", false},
    {"api.example.com", 443, {NULL}, NULL, false},
    {"localhost", 9443, {NULL}, "/basic", false},
    {"files.example.com", 443, {"DELETE", "PUT", NULL}, NULL, true},
    {"open.example.org", 8080, {NULL}, NULL, false},
};

static char dir[] = "/tmp/tg-fuzz-egress-XXXXXX";
static char shm_dir[] = "/dev/shm/tg-fuzz-egress-XXXXXX";
static const char *workdir;
static tg_audit *audit;
static tg_egress *egress;
static json_t *fixed_rules;
static char basic_form[64]; /* base64 of "bob:" PASSWORD */
static unsigned long long inputs;
/* The secret forms the current input does not hold itself: a worker may
 * well send what it typed, and see it again. */
static const char *forms[3];
static size_t nforms;

static int fake_secret(void *ctx, const char *tenant, const char *principal, const char *name,
                       unsigned char **value, size_t *len)
{
    (void)ctx;
    (void)tenant;
    if (principal) return TG_ENOT_FOUND;
    const char *v;
    size_t n;
    if (strcmp(name, "api_token") == 0)
        v = TOKEN, n = strlen(TOKEN);
    else if (strcmp(name, "basic_pw") == 0)
        v = PASSWORD, n = strlen(PASSWORD);
    else if (strcmp(name, "empty") == 0)
        v = "", n = 0;
    else if (strcmp(name, "crlf") == 0)
        v = TOKEN "\r\nX: y", n = strlen(TOKEN "\r\nX: y");
    else if (strcmp(name, "nul") == 0)
        v = TOKEN "\0tail", n = strlen(TOKEN) + 5;
    else
        return -1;
    *value = malloc(n + 1);
    memcpy(*value, v, n);
    (*value)[n] = '\0';
    *len = n;
    return 0;
}

static json_t *the_rules(void *ctx)
{
    return json_incref(ctx);
}

static void cleanup(void)
{
    tg_egress_free(egress);
    tg_audit_close(audit);
    json_decref(fixed_rules);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", workdir);
    if (system(cmd) != 0) fprintf(stderr, "fuzz_egress: could not remove %s\n", workdir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    signal(SIGPIPE, SIG_IGN);
    /* A 127.0.0.1 port where nothing listens, as every https request's proxy. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &alen) != 0)
        abort();
    close(fd);
    char proxy[64];
    snprintf(proxy, sizeof proxy, "http://127.0.0.1:%d", ntohs(a.sin_port));
    const char *const set[] = {"https_proxy", "HTTPS_PROXY", "http_proxy", "all_proxy",
                               "ALL_PROXY"};
    for (size_t i = 0; i < sizeof set / sizeof *set; i++)
        setenv(set[i], proxy, 1);
    unsetenv("no_proxy");
    unsetenv("NO_PROXY");
    curl_global_init(CURL_GLOBAL_DEFAULT);

    struct stat st;
    workdir = stat("/dev/shm", &st) == 0 && mkdtemp(shm_dir) ? shm_dir : mkdtemp(dir);
    if (!workdir) abort();
    char path[256];
    snprintf(path, sizeof path, "%s/audit.db", workdir);
    tg_error err = {0};
    if (tg_audit_open(path, NULL, &audit, &err) != 0) {
        fprintf(stderr, "fuzz_egress: %s\n", err.message);
        abort();
    }
    tg_egress_config cfg = {
        .max_request_bytes = MAX_BODY, .timeout_ms = 200, .max_requests = 1u << 30};
    if (tg_egress_new(&cfg, fake_secret, NULL, audit, &egress, &err) != 0) abort();
    fixed_rules = json_loads(FIXED_RULES, 0, NULL);
    if (!fixed_rules) abort();
    EVP_EncodeBlock((unsigned char *)basic_form, (const unsigned char *)"bob:" PASSWORD,
                    (int)strlen("bob:" PASSWORD));
    atexit(cleanup);
    return 0;
}

static void fail(const char *what, const json_t *frame, const json_t *result)
{
    char *f = json_dumps(frame, JSON_ENCODE_ANY | JSON_COMPACT);
    char *r = result ? json_dumps(result, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    fprintf(stderr, "fuzz_egress: %s\n  frame:  %s\n  answer: %s\n", what, f ? f : "?",
            r ? r : "NULL");
    free(f);
    free(r);
    abort();
}

static bool holds_secret(const void *text, size_t len)
{
    for (size_t i = 0; i < nforms; i++)
        if (memmem(text, len, forms[i], strlen(forms[i]))) return true;
    return false;
}

/* ---- the policy, worked out from the rules' text ------------------------ */

/* A URL as the proxy takes it: "http://" (any case), a host of letters,
 * digits, dots and dashes, an optional port 1..65535 of at most 5 digits,
 * then nothing, a path or a query, with no control character, space or
 * fragment anywhere. */
typedef struct url_parts {
    char host[256]; /* lowercase */
    int port;       /* 0: not said */
    const char *path;
    size_t path_len;
} url_parts;

static bool split_url(const char *url, url_parts *u)
{
    if (strncasecmp(url, "http://", 7) != 0) return false;
    const char *p = url + 7;
    size_t n = 0;
    while (n < 254 && p[n] &&
           (strchr(".-", p[n]) || (p[n] >= '0' && p[n] <= '9') ||
            ((p[n] | 0x20) >= 'a' && (p[n] | 0x20) <= 'z'))) {
        u->host[n] = (char)((p[n] >= 'A' && p[n] <= 'Z') ? p[n] | 0x20 : p[n]);
        n++;
    }
    if (n == 0 || n > 253) return false;
    u->host[n] = '\0';
    p += n;
    u->port = 0;
    if (*p == ':') {
        long port = 0;
        size_t digits = 0;
        for (p++; *p >= '0' && *p <= '9' && digits <= 5; p++, digits++)
            port = port * 10 + (*p - '0');
        if (digits == 0 || digits > 5 || port < 1 || port > 65535) return false;
        u->port = (int)port;
    }
    if (*p && *p != '/' && *p != '?') return false;
    for (const char *c = p; *c; c++)
        if ((unsigned char)*c <= ' ' || *c == 0x7f || *c == '#') return false;
    u->path = *p ? p : "/";
    u->path_len = strcspn(u->path, "?");
    return true;
}

/* No segment "." or "..", no %2e, %2f, %3b or %5c, no backslash or ';'. */
static bool plain_path(const char *path, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (path[i] == '\\' || path[i] == ';') return false;
        if (path[i] == '%' && i + 2 < len && path[i + 1] == '3' &&
            (path[i + 2] == 'b' || path[i + 2] == 'B'))
            return false;
        if (path[i] == '%' && i + 2 < len && path[i + 1] == '2' &&
            (path[i + 2] == 'e' || path[i + 2] == 'E' || path[i + 2] == 'f' || path[i + 2] == 'F'))
            return false;
        if (path[i] == '%' && i + 2 < len && path[i + 1] == '5' &&
            (path[i + 2] == 'c' || path[i + 2] == 'C'))
            return false;
    }
    for (size_t start = 0; start < len;) {
        size_t end = start;
        while (end < len && path[end] != '/')
            end++;
        size_t seg = end - start;
        if ((seg == 1 && path[start] == '.') ||
            (seg == 2 && path[start] == '.' && path[start + 1] == '.'))
            return false;
        start = end + 1;
    }
    return true;
}

static bool fixed_allows(const fixed_rule *r, const char *method, const url_parts *u)
{
    if (strcmp(r->host, u->host) != 0) return false;
    if (u->port ? u->port != r->port : r->port != 443) return false;
    if (r->methods[0]) {
        bool found = false;
        for (size_t i = 0; r->methods[i]; i++)
            found = found || strcmp(r->methods[i], method) == 0;
        if (!found) return false;
    }
    if (r->prefix) {
        size_t n = strlen(r->prefix);
        if (u->path_len < n || strncmp(u->path, r->prefix, n) != 0) return false;
        if (!plain_path(u->path, u->path_len)) return false;
    }
    return true;
}

/* The status FIXED_RULES give the frame; 502 stands for "sent" (502 or 504). */
static int check_policy(const json_t *frame)
{
    const char *method = json_string_value(json_object_get(frame, "method"));
    const char *url = json_string_value(json_object_get(frame, "url"));
    url_parts u;
    if (!method || !url || !split_url(url, &u)) return 400;
    const json_t *body = json_object_get(frame, "body");
    size_t body_len = 0;
    if (body) {
        unsigned char *bytes = NULL;
        if (tg_frame_unb64(body, &bytes, &body_len) != 0) return 400;
        free(bytes);
    }
    const fixed_rule *rule = NULL;
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed && !rule; i++)
        if (fixed_allows(&fixed[i], method, &u)) rule = &fixed[i];
    if (!rule) return 403;
    if (body_len > MAX_BODY) return 413;
    if (rule->missing_secret) return 500;
    return 502;
}

/* ---- one input ---------------------------------------------------------- */

static void check_answer(const json_t *frame, const json_t *result, const tg_egress_call *call,
                         const json_t *rules)
{
    if (!result) fail("no answer", frame, result);
    const json_t *status = json_object_get(result, "status");
    const json_t *headers = json_object_get(result, "headers");
    if (!json_is_integer(status) || json_integer_value(status) < 100 ||
        json_integer_value(status) > 599 || !json_is_array(headers))
        fail("the answer's status or headers", frame, result);
    int code = (int)json_integer_value(status);
    size_t i;
    const json_t *pair;
    bool json_type = false;
    json_array_foreach(headers, i, pair)
    {
        const char *name = json_string_value(json_array_get(pair, 0));
        const char *value = json_string_value(json_array_get(pair, 1));
        if (json_array_size(pair) != 2 || !name || !value) fail("a header pair", frame, result);
        if (holds_secret(name, strlen(name)) || holds_secret(value, strlen(value)))
            fail("a secret in the answer's headers", frame, result);
        json_type = json_type || (strcasecmp(name, "Content-Type") == 0 &&
                                  strcmp(value, "application/json") == 0);
    }
    unsigned char *body = NULL;
    size_t len = 0;
    if (tg_frame_unb64(json_object_get(result, "body"), &body, &len) != 0)
        fail("the answer's body is not base64", frame, result);
    if (holds_secret(body, len)) fail("a secret in the answer's body", frame, result);
    json_t *doc = json_loadb((const char *)body, len, 0, NULL);
    free(body);
    const char *error = json_string_value(json_object_get(json_object_get(doc, "error"), "code"));
    bool own = error && json_type &&
               (code == 400 || code == 403 || code == 413 || code == 429 || code == 500 ||
                code == 502 || code == 503 || code == 504);
    json_decref(doc);
    if (!own) fail("not the proxy's own error, with nothing upstream", frame, result);

    bool sent = code == 502 || code == 504;
    unsigned want_requests = sent ? 1 : 0, want_denied = sent ? 0 : 1;
    if (call->requests != want_requests || call->denied != want_denied)
        fail("the call's counters", frame, result);
    if (rules == fixed_rules) {
        int want = check_policy(frame);
        if (want == 502 ? !sent : want != code) {
            fprintf(stderr, "fuzz_egress: FIXED_RULES give %d\n", want);
            fail("the policy", frame, result);
        }
    }
}

/* The input's records: exactly one, whatever the answer (a malformed
 * request is a denial on the record too), and none holding a secret. */
static void check_records(const json_t *frame, const json_t *result, const char *call_id)
{
    tg_audit_filter f = {.tenant = "t1", .kind = "egress", .call_id = call_id};
    json_t *page = NULL;
    char *next = NULL;
    tg_error err = {0};
    if (tg_audit_query(audit, &f, 10, NULL, &page, &next, &err) != 0) {
        fprintf(stderr, "fuzz_egress: query: %s\n", err.message);
        abort();
    }
    free(next);
    if (json_array_size(page) != 1) fail("an answer without its one egress record", frame, result);
    char *text = json_dumps(page, JSON_COMPACT);
    if (holds_secret(text, strlen(text))) fail("a secret in an audit record", frame, result);
    free(text);
    json_decref(page);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    const char *sep = memmem(data, size, SEPARATOR, strlen(SEPARATOR));
    size_t frame_len = sep ? (size_t)(sep - text) : size;
    const size_t flags = JSON_DECODE_ANY | JSON_ALLOW_NUL;
    json_t *frame = json_loadb(text, frame_len, flags, NULL);
    if (!frame) return 0;
    json_t *rules = fixed_rules;
    if (sep) {
        const char *r = sep + strlen(SEPARATOR);
        rules = json_loadb(r, size - (size_t)(r - text), flags, NULL);
        if (!rules) {
            json_decref(frame);
            return 0;
        }
    }
    const char *const all[] = {TOKEN, PASSWORD, basic_form};
    nforms = 0;
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        if (!memmem(data, size, all[i], strlen(all[i]))) forms[nforms++] = all[i];
    char call_id[32];
    snprintf(call_id, sizeof call_id, "fuzz-%llu", ++inputs);
    tg_egress_call call = {
        .egress = egress,
        .tenant = "t1",
        .worker = "w1",
        .principal = "fuzz",
        .trigger_kind = "agent",
        .call_id = call_id,
        .trace_id = NULL,
        .rules = the_rules,
        .rules_ctx = rules,
    };
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t deadline = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec + 2000000000LL;
    json_t *result = tg_egress_handle(&call, frame, deadline);
    check_answer(frame, result, &call, rules);
    check_records(frame, result, call_id);
    json_t *summary = tg_egress_summary(&call);
    if (json_integer_value(json_object_get(summary, "requests")) != call.requests)
        fail("the summary", frame, result);
    json_decref(summary);
    json_decref(result);
    if (rules != fixed_rules) json_decref(rules);
    json_decref(frame);
    return 0;
}
