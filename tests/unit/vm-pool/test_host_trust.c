/* The host trusts nothing a sandbox sends: a fake driver (which also shows
 * the driver interface is all the pool needs) plays a hostile guest by
 * writing frames into the channel, and tg_sandbox_run must refuse them. */
#include "tests/unit/check.h"
/* Included, not linked, to reach the sandbox's driver half (STYLE: tests). */
#include "vm-pool/frame.c"
#include "vm-pool/pool.c"

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
    test_timeout_kills();
    tg_pool_destroy(pool);
    return check_report();
}
