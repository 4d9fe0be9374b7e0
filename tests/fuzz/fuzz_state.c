/* libFuzzer target for the sync state's request handler
 * (gateway/state/state.h): the frame comes from a sandbox the gateway does
 * not trust, so its method, URL (host, port, path, key, query), headers
 * (Content-Type, If-Match, If-None-Match) and base64 body are outside input.
 *
 * Input framing: one byte of flags, then JSON text of any type (an egress
 * frame {method, url, headers, body} when it is meant to get far), given to
 * tg_state_handle as it parsed, without tg_frame_check. Flag bit 0 set: the
 * worker declared the capability. Inputs whose JSON does not parse are
 * skipped quietly. The store and the audit log are real, in a temporary
 * directory (on /dev/shm when there is one), with small limits so that the
 * limits are reached.
 *
 * Beyond "no crash, no leak, no undefined behaviour", the target abort()s when
 *  - the answer is NULL, or would not pass tg_frame_check as an
 *    egress_response (status in [100, 599], [name, value] header pairs,
 *    base64 body);
 *  - its status is not the one expected_status works out on its own from the
 *    frame: 400 for a frame that names no toolgate.internal URL, 404 for a
 *    path outside /v1/state or another port, 403 without the capability, 405
 *    for other methods, 400 for a bad key or a query, and for what passes,
 *    a status the store may answer;
 *  - an error answer's body is not {"error": {"code": ...}} with the code's
 *    own status;
 *  - a PUT or DELETE to a key did not leave exactly one state.write record,
 *    or any record holds more than the key, method, bytes and created. */
#include "gateway/state/state.h"

#include "audit/audit.h"
#include "vm-pool/frame.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[] = "/tmp/tg-fuzz-state-XXXXXX";
static char shm_dir[] = "/dev/shm/tg-fuzz-state-XXXXXX";
static const char *workdir;
static tg_audit *audit;
static tg_state *state;
static unsigned long runs;

static void cleanup(void)
{
    tg_state_close(state);
    tg_audit_close(audit);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", workdir);
    if (system(cmd) != 0) fprintf(stderr, "fuzz_state: could not remove %s\n", workdir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* OpenSSL set up here, in the main thread (config loaded), so that the
     * audit writer thread does not do it, and its exit handler, registered
     * before cleanup's, runs after the writer thread has stopped. */
    OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, NULL);
    struct stat st;
    workdir = stat("/dev/shm", &st) == 0 && mkdtemp(shm_dir) ? shm_dir : mkdtemp(dir);
    if (!workdir) abort();
    char path[256];
    tg_error err = {0};
    snprintf(path, sizeof path, "%s/audit.db", workdir);
    if (tg_audit_open(path, NULL, &audit, &err) != 0) {
        fprintf(stderr, "fuzz_state: %s\n", err.message);
        abort();
    }
    snprintf(path, sizeof path, "%s/state.db", workdir);
    tg_state_config cfg = {.max_value_bytes = 64, .max_worker_bytes = 512, .max_keys = 8};
    if (tg_state_open(path, &cfg, &state, &err) != 0) {
        fprintf(stderr, "fuzz_state: %s\n", err.message);
        abort();
    }
    atexit(cleanup);
    return 0;
}

static void fail(const char *what, const json_t *frame, const json_t *result)
{
    char *f = json_dumps(frame, JSON_ENCODE_ANY | JSON_COMPACT);
    char *r = result ? json_dumps(result, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    fprintf(stderr, "fuzz_state: %s\n  frame:  %s\n  answer: %s\n", what, f ? f : "?",
            r ? r : "NULL");
    free(f);
    free(r);
    abort();
}

/* What the frame asks, worked out apart from state.c. */
typedef struct ask {
    int status; /* what the answer must be; 0: one of the store's answers */
    bool write; /* a PUT or DELETE to a key: one record */
} ask;

static bool key_ok(const char *k, size_t n)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~-";
    if (n == 0 || n > 256) return false;
    for (size_t i = 0; i < n; i++)
        if (!k[i] || !strchr(alphabet, k[i])) return false;
    return true;
}

static ask expected(const json_t *frame, bool capable)
{
    ask a = {0};
    const char *method = json_string_value(json_object_get(frame, "method"));
    const char *url = json_string_value(json_object_get(frame, "url"));
    if (!method || !url || strncasecmp(url, "http://toolgate.internal", 24) != 0) {
        a.status = 400;
        return a;
    }
    const char *p = url + 24;
    if (*p == '.') p++;
    int port = 80;
    if (*p == ':') {
        size_t n = strspn(p + 1, "0123456789");
        if (n == 0 || n > 5) {
            a.status = 400;
            return a;
        }
        port = (int)strtol(p + 1, NULL, 10);
        p += 1 + n;
    }
    if (*p && *p != '/' && *p != '?') {
        a.status = 400;
        return a;
    }
    const char *path = *p == '/' ? p : "/";
    size_t plen = *p == '/' ? strcspn(p, "?") : 1;
    bool query = strchr(p, '?') != NULL;
    if (port != 80 || plen < 9 || strncmp(path, "/v1/state", 9) != 0 ||
        (plen > 9 && path[9] != '/')) {
        a.status = 404;
        return a;
    }
    bool list = plen <= 10;
    bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    bool write = !strcmp(method, "PUT") || !strcmp(method, "DELETE");
    a.write = !list && write;
    if (!capable) {
        a.status = 403;
    } else if (list) {
        a.status = !get ? 405 : query ? 400 : 200;
    } else if (!get && !write) {
        a.status = 405;
    } else if (!key_ok(path + 10, plen - 10) || query) {
        a.status = 400;
    }
    return a;
}

static size_t records_of(const char *call_id, const json_t *frame)
{
    tg_audit_filter f = {.tenant = "t", .kind = "state.write", .call_id = call_id};
    json_t *page = NULL;
    char *next = NULL;
    tg_error err;
    if (tg_audit_query(audit, &f, 10, NULL, &page, &next, &err) != 0)
        fail("the audit log cannot be read", frame, NULL);
    free(next);
    size_t n = json_array_size(page);
    size_t i;
    json_t *rec;
    json_array_foreach(page, i, rec)
    {
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(rec, "body"), k, v)
        {
            if (strcmp(k, "key") && strcmp(k, "method") && strcmp(k, "bytes") &&
                strcmp(k, "created"))
                fail("a record holds more than key, method, bytes, created", frame, rec);
        }
    }
    json_decref(page);
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    bool capable = data[0] & 1;
    json_t *frame = json_loadb((const char *)data + 1, size - 1, JSON_DECODE_ANY, NULL);
    if (!frame) return 0;
    char call_id[32];
    snprintf(call_id, sizeof call_id, "c%lu", ++runs);
    tg_state_call call = {.state = state,
                          .audit = audit,
                          .tenant = "t",
                          .worker = "w",
                          .principal = "t/fuzz",
                          .trigger_kind = "agent",
                          .call_id = call_id,
                          .capable = capable};
    json_t *result = tg_state_handle(&call, frame, -1);
    if (!result) fail("no answer", frame, NULL);

    json_t *check =
        json_pack("{s:s, s:i, s:O, s:O, s:O}", "type", "egress_response", "id", 1, "status",
                  json_object_get(result, "status"), "headers", json_object_get(result, "headers"),
                  "body", json_object_get(result, "body"));
    tg_frame_type type;
    if (!check || tg_frame_check(check, &type) != 0) fail("not an answer frame", frame, result);
    json_decref(check);

    int status = (int)json_integer_value(json_object_get(result, "status"));
    ask want = expected(frame, capable);
    if (want.status && status != want.status) fail("not the expected status", frame, result);
    static const int store[] = {200, 201, 204, 400, 404, 412, 413};
    bool known = false;
    for (size_t i = 0; i < sizeof store / sizeof *store; i++)
        known = known || status == store[i];
    if (!want.status && !known) fail("a status the store does not answer", frame, result);

    if (status >= 400) {
        unsigned char *body = NULL;
        size_t len = 0;
        if (tg_frame_unb64(json_object_get(result, "body"), &body, &len) != 0)
            fail("an undecodable body", frame, result);
        json_t *doc = json_loadb((const char *)body, len, 0, NULL);
        free(body);
        const char *code =
            json_string_value(json_object_get(json_object_get(doc, "error"), "code"));
        if (!code || tg_err_http_status(tg_err_from_name(code)) != status)
            fail("an error body without its code", frame, result);
        json_decref(doc);
    }
    if (records_of(call_id, frame) != (want.write ? 1u : 0u))
        fail("not one record per write", frame, result);
    json_decref(result);
    json_decref(frame);
    return 0;
}
