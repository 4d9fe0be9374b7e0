/* The host trusts nothing a sandbox sends: a fake driver (which also shows
 * the driver interface is all the pool needs) plays a hostile guest by
 * writing frames into the channel, and tg_sandbox_run must refuse them. */
#include "tests/unit/check.h"
/* Included, not linked, to reach the sandbox's driver half (STYLE: tests). */
#include "vm-pool/frame.c"
#include "vm-pool/pool.c"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

struct tg_driver_sandbox {
    int host, guest;
    int64_t cpu_us; /* what the metered driver says the host measured */
};

static int fake_open(const tg_driver_config *cfg, void **state)
{
    (void)cfg;
    *state = NULL;
    return 0;
}

static int fake_prepare(void *state, const char *runtime)
{
    (void)state;
    return strcmp(runtime, "sh") == 0 ? 0 : TG_DRIVER_EINVAL;
}

static int fake_spawn(void *state, const char *runtime, const char *tmpl, tg_driver_sandbox **out)
{
    (void)state;
    (void)runtime;
    if (tmpl) return TG_DRIVER_EINVAL;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return TG_DRIVER_ESYS;
    tg_driver_sandbox *sb = malloc(sizeof *sb);
    sb->host = sv[0];
    sb->guest = sv[1];
    sb->cpu_us = 0;
    *out = sb;
    return 0;
}

static int fake_channel(tg_driver_sandbox *sb)
{
    return sb->host;
}

static void fake_kill(tg_driver_sandbox *sb)
{
    shutdown(sb->guest, SHUT_RDWR);
}

static void fake_destroy(tg_driver_sandbox *sb)
{
    close(sb->host);
    close(sb->guest);
    free(sb);
}

static void fake_close(void *state)
{
    (void)state;
}

static const char *fake_describe(void *state)
{
    (void)state;
    return "fake";
}

static const tg_driver fake_driver = {
    .name = "fake",
    .open = fake_open,
    .prepare = fake_prepare,
    .spawn = fake_spawn,
    .channel = fake_channel,
    .kill = fake_kill,
    .destroy = fake_destroy,
    .describe = fake_describe,
    .close = fake_close,
};

/* Each sample finds 1500 us more than the last. */
static int64_t fake_cpu_usage_us(tg_driver_sandbox *sb)
{
    sb->cpu_us += 1500;
    return sb->cpu_us;
}

static tg_pool *pool;

/* The guest end of sb's channel: the fake driver's sandbox is ours to see. */
static int guest_of(tg_sandbox *sb)
{
    return sb->d->guest;
}

static void raw(int fd, const char *text)
{
    size_t len = strlen(text);
    unsigned char hdr[4] = {(unsigned char)(len >> 24), (unsigned char)(len >> 16),
                            (unsigned char)(len >> 8), (unsigned char)len};
    CHECK_INT_EQ(write(fd, hdr, 4), 4);
    CHECK_INT_EQ(write(fd, text, len), (long long)len);
}

/* Runs one request against a guest that has already "sent" frames, then
 * closes its end after them. */
static int run_with(const char *const *frames, size_t n, size_t max_out, unsigned max_events,
                    tg_sandbox_result *res)
{
    tg_sandbox *sb;
    CHECK_INT_EQ(tg_pool_acquire(pool, "sh", tg_frame_now_ns() + 1000000000, &sb), 0);
    int g = guest_of(sb);
    for (size_t i = 0; i < n; i++)
        raw(g, frames[i]);
    shutdown(g, SHUT_WR);
    tg_sandbox_file f = {"main", "x", 1};
    tg_sandbox_request req = {.entry = "main",
                              .files = &f,
                              .nfiles = 1,
                              .timeout_ms = 1000,
                              .max_output_bytes = max_out,
                              .max_events = max_events};
    int rc = tg_sandbox_run(sb, &req, res);
    tg_sandbox_destroy(sb);
    return rc;
}

#define RESULT                                                                                     \
    "{\"type\":\"result\",\"exit_code\":0,\"signal\":0,\"output_truncated\":false,\"cpu_us\":1}"

static void test_hostile_guest(void)
{
    tg_sandbox_result r;
    const char *good[] = {"{\"type\":\"stdout\",\"data\":\"aGk=\"}",
                          "{\"type\":\"event\",\"event\":{\"progress\":1}}",
                          "{\"type\":\"event\",\"event\":{\"progress\":2}}",
                          "{\"type\":\"event\",\"event\":{\"progress\":3}}", RESULT};
    CHECK_INT_EQ(run_with(good, 5, 10, 2, &r), 0);
    CHECK_STR_EQ(r.out, "hi");
    CHECK_INT_EQ(r.events, 2);
    CHECK_INT_EQ(r.events_dropped, 1);
    tg_sandbox_result_free(&r);

    /* More stdout than the cap the host asked for. */
    const char *flood[] = {"{\"type\":\"stdout\",\"data\":\"aGVsbG8gd29ybGQ=\"}", RESULT};
    CHECK_INT_EQ(run_with(flood, 2, 5, 0, &r), TG_POOL_ESANDBOX);
    tg_sandbox_result_free(&r);

    const char *garbage[] = {"{\"type\":\"stdout\"", RESULT};
    CHECK_INT_EQ(run_with(garbage, 2, 5, 0, &r), TG_POOL_ESANDBOX);
    tg_sandbox_result_free(&r);

    const char *wrong_way[] = {"{\"type\":\"ready\"}", RESULT};
    CHECK_INT_EQ(run_with(wrong_way, 2, 5, 0, &r), TG_POOL_ESANDBOX);
    tg_sandbox_result_free(&r);

    const char *bad_b64[] = {"{\"type\":\"stdout\",\"data\":\"a\"}", RESULT};
    CHECK_INT_EQ(run_with(bad_b64, 2, 5, 0, &r), TG_POOL_ESANDBOX);
    tg_sandbox_result_free(&r);

    /* The stream ends without a result. */
    CHECK_INT_EQ(run_with(NULL, 0, 5, 0, &r), TG_POOL_ESANDBOX);
    tg_sandbox_result_free(&r);

    /* A request the host cannot even express as a frame. */
    tg_sandbox *sb;
    CHECK_INT_EQ(tg_pool_acquire(pool, "sh", tg_frame_now_ns() + 1000000000, &sb), 0);
    const char *env[] = {"NOEQUALS"};
    tg_sandbox_request req = {
        .entry = "main", .env = env, .nenv = 1, .timeout_ms = 1000, .max_output_bytes = 1};
    CHECK_INT_EQ(tg_sandbox_run(sb, &req, &r), TG_POOL_EINVAL);
    tg_sandbox_result_free(&r);
    tg_sandbox_destroy(sb);
    CHECK_INT_EQ(tg_pool_acquire(pool, "sh", tg_frame_now_ns() + 1000000000, &sb), 0);
    req.env = NULL;
    req.nenv = 0;
    req.stdin_data = "\xff\xfe";
    req.stdin_len = 2;
    CHECK_INT_EQ(tg_sandbox_run(sb, &req, &r), TG_POOL_EINVAL);
    tg_sandbox_result_free(&r);
    tg_sandbox_destroy(sb);
}

/* host_cpu_us is the driver's measure or unknown, never the guest's claim
 * (RESULT says cpu_us 1). */
static void test_host_cpu(void)
{
    const char *frames[] = {RESULT};
    tg_sandbox_result r;
    CHECK_INT_EQ(run_with(frames, 1, 10, 0, &r), 0);
    CHECK_INT_EQ(r.cpu_us, 1);
    CHECK_INT_EQ(r.host_cpu_us, -1);
    tg_sandbox_result_free(&r);

    tg_driver metered = fake_driver;
    metered.name = "metered";
    metered.cpu_usage_us = fake_cpu_usage_us;
    const char *rt[] = {"sh"};
    tg_pool_config cfg = {.driver = &metered, .runtimes = rt, .nruntimes = 1, .warm = 1, .max = 1};
    tg_pool *plain = pool;
    CHECK_INT_EQ(tg_pool_create(&cfg, &pool), 0);
    CHECK_STR_EQ(tg_pool_driver_name(pool), "metered");
    CHECK_INT_EQ(run_with(frames, 1, 10, 0, &r), 0);
    CHECK_INT_EQ(r.cpu_us, 1);
    CHECK_INT_EQ(r.host_cpu_us, 1500);
    tg_sandbox_result_free(&r);
    /* A bad request never reaches the sandbox: nothing measured. */
    tg_sandbox *sb;
    CHECK_INT_EQ(tg_pool_acquire(pool, "sh", tg_frame_now_ns() + 1000000000, &sb), 0);
    tg_sandbox_request req = {.timeout_ms = 1000, .max_output_bytes = 1};
    CHECK_INT_EQ(tg_sandbox_run(sb, &req, &r), TG_POOL_EINVAL);
    CHECK_INT_EQ(r.host_cpu_us, -1);
    tg_sandbox_result_free(&r);
    tg_sandbox_destroy(sb);
    tg_pool_destroy(pool);
    pool = plain;
}

static void test_ids(void)
{
    CHECK_STR_EQ(tg_pool_driver_name(pool), "fake");
    tg_sandbox *a, *b;
    CHECK_INT_EQ(tg_pool_acquire(pool, "sh", tg_frame_now_ns() + 1000000000, &a), 0);
    CHECK_INT_EQ(tg_pool_acquire(pool, "sh", tg_frame_now_ns() + 1000000000, &b), 0);
    const char *ia = tg_sandbox_id(a), *ib = tg_sandbox_id(b);
    CHECK(strcmp(ia, ib) != 0);
    /* "fake-<12 hex digits>-<n>", the instance shared by the process. */
    CHECK(strncmp(ia, "fake-", 5) == 0 && strspn(ia + 5, "0123456789abcdef") == 12 &&
          ia[17] == '-' && strspn(ia + 18, "0123456789") == strlen(ia + 18) && ia[18] != '\0');
    CHECK(strncmp(ia, ib, 18) == 0);
    tg_sandbox_destroy(a);
    tg_sandbox_destroy(b);
}

/* What the test's on_egress saw, and what it answers. */
struct egress_log {
    int calls;
    json_t *last; /* the last request */
    int64_t deadline;
    json_t *answer;        /* returned (a new reference each call), or NULL for NULL */
    atomic_bool *wait_for; /* NULL, or answers wait until it is true */
};

static json_t *record_egress(const json_t *request, int64_t deadline_ns, void *userdata)
{
    struct egress_log *log = userdata;
    log->calls++;
    json_decref(log->last);
    log->last = json_deep_copy(request);
    log->deadline = deadline_ns;
    for (int i = 0; log->wait_for && !atomic_load(log->wait_for) && i < 5000; i++)
        usleep(1000);
    return log->answer ? json_incref(log->answer) : NULL;
}

/* Runs one request whose guest sends frames, then reads what the host wrote
 * back on the channel (besides "run"): the egress_response frames, in order. */
static int run_egress(const char *const *frames, size_t n, tg_sandbox_egress_cb cb,
                      struct egress_log *log, tg_sandbox_result *res, json_t **responses)
{
    tg_sandbox *sb;
    CHECK_INT_EQ(tg_pool_acquire(pool, "sh", tg_frame_now_ns() + 1000000000, &sb), 0);
    int g = guest_of(sb);
    for (size_t i = 0; i < n; i++)
        raw(g, frames[i]);
    shutdown(g, SHUT_WR);
    tg_sandbox_file f = {"main", "x", 1};
    tg_sandbox_request req = {.entry = "main",
                              .files = &f,
                              .nfiles = 1,
                              .timeout_ms = 1000,
                              .max_output_bytes = 10,
                              .on_egress = cb,
                              .userdata = log};
    int64_t before = tg_frame_now_ns();
    int rc = tg_sandbox_run(sb, &req, res);
    if (log && log->calls) {
        /* The run's own deadline: its timeout after "run" was sent. */
        CHECK(log->deadline >= before + 1000000000LL);
        CHECK(log->deadline <= tg_frame_now_ns() + 1000000000LL);
    }
    *responses = json_array();
    json_t *frame;
    tg_frame_type type;
    while (tg_frame_read(g, TG_FRAME_MAX, tg_frame_now_ns() + 100000000, &frame, &type) == 0) {
        if (type == TG_FRAME_EGRESS_RESPONSE)
            json_array_append_new(*responses, frame);
        else
            json_decref(frame);
    }
    tg_sandbox_destroy(sb);
    return rc;
}

#define EGRESS(id, url)                                                                            \
    "{\"type\":\"egress\",\"id\":" #id ",\"method\":\"POST\",\"url\":\"" url "\","                 \
    "\"headers\":[[\"Content-Type\",\"text/plain\"]],\"body\":\"aGk=\"}"

static atomic_bool guest_gone;

/* A guest that reads "run", sends two requests and its result, and is gone
 * before any answer comes. */
static void *gone_guest(void *arg)
{
    int g = guest_of(arg);
    json_t *run;
    tg_frame_type type;
    CHECK_INT_EQ(tg_frame_read(g, TG_FRAME_MAX, -1, &run, &type), 0);
    json_decref(run);
    raw(g, EGRESS(1, "http://a.example/"));
    raw(g, EGRESS(2, "http://a.example/"));
    raw(g, RESULT);
    shutdown(g, SHUT_RDWR);
    atomic_store(&guest_gone, true);
    return NULL;
}

/* The decoded body of response i. */
static char *response_body(const json_t *responses, size_t i)
{
    unsigned char *body = NULL;
    size_t len;
    if (tg_frame_unb64(json_object_get(json_array_get(responses, i), "body"), &body, &len) != 0)
        return NULL;
    return (char *)body;
}

static void test_egress(void)
{
    tg_sandbox_result r;
    json_t *responses;

    /* No callback: every request is denied, and the run goes on. */
    const char *two[] = {EGRESS(1, "http://a.example/x"), EGRESS(2, "http://b.example/y"), RESULT};
    CHECK_INT_EQ(run_egress(two, 3, NULL, NULL, &r, &responses), 0);
    CHECK_INT_EQ(r.exit_code, 0);
    CHECK_INT_EQ(json_array_size(responses), 2);
    for (size_t i = 0; i < 2; i++) {
        const json_t *resp = json_array_get(responses, i);
        CHECK_INT_EQ(json_integer_value(json_object_get(resp, "id")), (long long)i + 1);
        CHECK_INT_EQ(json_integer_value(json_object_get(resp, "status")), 403);
        char *body = response_body(responses, i);
        CHECK_STR_EQ(body, "{\"error\":{\"code\":\"EGRESS_DENIED\","
                           "\"message\":\"this sandbox has no egress\"}}");
        free(body);
    }
    json_decref(responses);
    tg_sandbox_result_free(&r);

    /* A callback: it sees the frame, and its answer goes back with the id. */
    struct egress_log log = {0};
    log.answer = json_pack("{s:i, s:[[s,s],[s,s]], s:s}", "status", 201, "headers", "X-A", "1",
                           "Set-Cookie", "c=2", "body", "b2s=");
    const char *one[] = {EGRESS(7, "http://api.example:8443/v1?q=1"), RESULT};
    CHECK_INT_EQ(run_egress(one, 2, record_egress, &log, &r, &responses), 0);
    CHECK_INT_EQ(log.calls, 1);
    CHECK_STR_EQ(json_string_value(json_object_get(log.last, "url")),
                 "http://api.example:8443/v1?q=1");
    CHECK_STR_EQ(json_string_value(json_object_get(log.last, "method")), "POST");
    CHECK_STR_EQ(json_string_value(json_object_get(log.last, "body")), "aGk=");
    CHECK_INT_EQ(json_array_size(responses), 1);
    json_t *want =
        json_pack("{s:s, s:i, s:i, s:[[s,s],[s,s]], s:s}", "type", "egress_response", "id", 7,
                  "status", 201, "headers", "X-A", "1", "Set-Cookie", "c=2", "body", "b2s=");
    CHECK(json_equal(json_array_get(responses, 0), want));
    json_decref(want);
    json_decref(responses);
    tg_sandbox_result_free(&r);

    /* Only status is required of an answer. */
    json_decref(log.answer);
    log.answer = json_pack("{s:i}", "status", 204);
    CHECK_INT_EQ(run_egress(one, 2, record_egress, &log, &r, &responses), 0);
    CHECK_INT_EQ(json_integer_value(json_object_get(json_array_get(responses, 0), "status")), 204);
    CHECK_INT_EQ(json_array_size(json_object_get(json_array_get(responses, 0), "headers")), 0);
    json_decref(responses);
    tg_sandbox_result_free(&r);

    /* Answers that cannot be frames reach the worker as 502s. */
    unsigned char *big = calloc(1, TG_FRAME_EGRESS_BODY_MAX + 1);
    const struct {
        json_t *answer;
        const char *code;
    } bad[] = {
        {NULL, "INTERNAL"},
        {json_pack("{s:i}", "status", 42), "INTERNAL"},
        {json_pack("{s:i, s:[[s,s]]}", "status", 200, "headers", "X", "a\r\nInjected: 1"),
         "INTERNAL"},
        {json_pack("{s:i, s:s}", "status", 200, "body", "not base64!"), "INTERNAL"},
        {json_pack("{s:i, s:o}", "status", 200, "body",
                   tg_frame_b64(big, TG_FRAME_EGRESS_BODY_MAX + 1)),
         "RESPONSE_TOO_LARGE"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_decref(log.answer);
        log.answer = bad[i].answer;
        CHECK_INT_EQ(run_egress(one, 2, record_egress, &log, &r, &responses), 0);
        CHECK_INT_EQ(json_array_size(responses), 1);
        CHECK_INT_EQ(json_integer_value(json_object_get(json_array_get(responses, 0), "status")),
                     502);
        char *body = response_body(responses, 0);
        json_t *err = body ? json_loads(body, 0, NULL) : NULL;
        CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(err, "error"), "code")),
                     bad[i].code);
        json_decref(err);
        free(body);
        json_decref(responses);
        tg_sandbox_result_free(&r);
    }
    free(big);
    json_decref(log.answer);
    json_decref(log.last);

    /* A guest whose worker did not wait for its answers sent its result and
     * is gone: answers cannot be written, and the run still has its result. */
    log = (struct egress_log){.answer = json_pack("{s:i}", "status", 200), .wait_for = &guest_gone};
    tg_sandbox *sb;
    CHECK_INT_EQ(tg_pool_acquire(pool, "sh", tg_frame_now_ns() + 1000000000, &sb), 0);
    pthread_t t;
    pthread_create(&t, NULL, gone_guest, sb);
    tg_sandbox_file file = {"main", "x", 1};
    tg_sandbox_request req = {.entry = "main",
                              .files = &file,
                              .nfiles = 1,
                              .timeout_ms = 1000,
                              .max_output_bytes = 10,
                              .on_egress = record_egress,
                              .userdata = &log};
    CHECK_INT_EQ(tg_sandbox_run(sb, &req, &r), 0);
    pthread_join(t, NULL);
    CHECK_INT_EQ(r.exit_code, 0);
    CHECK_INT_EQ(log.calls, 1); /* the second is not asked for: no one would get it */
    tg_sandbox_result_free(&r);
    tg_sandbox_destroy(sb);
    json_decref(log.answer);
    json_decref(log.last);

    /* A guest may not send answers, nor requests that break the frame rules. */
    const char *answers[] = {"{\"type\":\"egress_response\",\"id\":1,\"status\":200,"
                             "\"headers\":[],\"body\":\"\"}",
                             RESULT};
    CHECK_INT_EQ(run_egress(answers, 2, NULL, NULL, &r, &responses), TG_POOL_ESANDBOX);
    json_decref(responses);
    tg_sandbox_result_free(&r);
    const char *https[] = {EGRESS(1, "https://a.example/"), RESULT};
    CHECK_INT_EQ(run_egress(https, 2, NULL, NULL, &r, &responses), TG_POOL_ESANDBOX);
    CHECK_INT_EQ(json_array_size(responses), 0);
    json_decref(responses);
    tg_sandbox_result_free(&r);
}

static void test_timeout_kills(void)
{
    /* A guest that never answers: the host's deadline ends the run. */
    tg_sandbox *sb;
    CHECK_INT_EQ(tg_pool_acquire(pool, "sh", tg_frame_now_ns() + 1000000000, &sb), 0);
    tg_sandbox_request req = {.entry = "main", .timeout_ms = 100, .max_output_bytes = 1};
    tg_sandbox_result r;
    CHECK_INT_EQ(tg_sandbox_run(sb, &req, &r), 0);
    CHECK(r.timed_out);
    CHECK(r.wall_ns >= 100000000);
    tg_sandbox_result_free(&r);
    tg_sandbox_destroy(sb);
}

int main(void)
{
    const char *rt[] = {"sh"};
    tg_pool_config cfg = {
        .driver = &fake_driver, .runtimes = rt, .nruntimes = 1, .warm = 1, .max = 2};
    CHECK_INT_EQ(tg_pool_create(&cfg, &pool), 0);
    const char *nope[] = {"cobol"};
    tg_pool_config bad = cfg;
    bad.runtimes = nope;
    tg_pool *p2 = NULL;
    CHECK_INT_EQ(tg_pool_create(&bad, &p2), TG_POOL_ERUNTIME);
    test_hostile_guest();
    test_host_cpu();
    test_ids();
    test_egress();
    test_timeout_kills();
    tg_pool_destroy(pool);
    return check_report();
}
