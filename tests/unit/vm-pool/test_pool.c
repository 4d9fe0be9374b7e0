/* The pool: distinct single-use sandboxes, background refill, CAPACITY after
 * the deadline when exhausted, many threads at once, and nothing left behind
 * after destroy. Prints the spawn time and the warm acquire latency. */
#include "tests/unit/check.h"
#include "tests/unit/vm-pool/sandbox_util.h"

#include <pthread.h>

static void wait_ready(tg_pool *p, const char *rt, unsigned n)
{
    tg_pool_stats st = {0};
    for (int i = 0; i < 1000; i++) {
        tg_pool_stats_get(p, rt, &st);
        if (st.ready >= n) return;
        usleep(10000);
    }
}

static void test_distinct_and_refill(void)
{
    tg_pool *p = make_pool(3, 6);
    wait_ready(p, "sh", 3);
    tg_pool_stats st;
    CHECK_INT_EQ(tg_pool_stats_get(p, "sh", &st), 0);
    CHECK_INT_EQ(st.ready, 3);
    printf("spawn (clone to agent ready): %.2f ms\n", (double)st.last_spawn_ns / 1e6);

    tg_sandbox *sb[3];
    int64_t worst = 0, sum = 0;
    for (int i = 0; i < 3; i++) {
        int64_t t0 = tg_frame_now_ns();
        CHECK_INT_EQ(tg_pool_acquire(p, "sh", t0 + 5 * SEC, &sb[i]), 0);
        int64_t d = tg_frame_now_ns() - t0;
        sum += d;
        worst = d > worst ? d : worst;
    }
    printf("warm acquire: mean %.1f us, worst %.1f us\n", (double)sum / 3 / 1e3,
           (double)worst / 1e3);
    CHECK(strcmp(tg_sandbox_id(sb[0]), tg_sandbox_id(sb[1])) != 0);
    CHECK(strcmp(tg_sandbox_id(sb[1]), tg_sandbox_id(sb[2])) != 0);
    CHECK(strcmp(tg_sandbox_id(sb[0]), tg_sandbox_id(sb[2])) != 0);
    tg_sandbox *none;
    CHECK_INT_EQ(tg_pool_acquire(p, "node", tg_frame_now_ns() + SEC, &none), TG_POOL_ERUNTIME);

    /* The refill thread brings the ready list back to warm while they are out. */
    wait_ready(p, "sh", 3);
    CHECK_INT_EQ(tg_pool_stats_get(p, "sh", &st), 0);
    CHECK_INT_EQ(st.ready, 3);
    CHECK_INT_EQ(st.in_use, 3);
    for (int i = 0; i < 3; i++)
        tg_sandbox_destroy(sb[i]);
    CHECK_INT_EQ(tg_pool_stats_get(p, "sh", &st), 0);
    CHECK_INT_EQ(st.in_use, 0);
    tg_pool_destroy(p);
}

/* Ids stay unique across pools: the audit log mixes every pool's sandboxes. */
static void test_ids_across_pools(void)
{
    tg_pool *p1 = make_pool(1, 2), *p2 = make_pool(1, 2);
    tg_sandbox *a, *b;
    CHECK_INT_EQ(tg_pool_acquire(p1, "sh", tg_frame_now_ns() + 10 * SEC, &a), 0);
    CHECK_INT_EQ(tg_pool_acquire(p2, "sh", tg_frame_now_ns() + 10 * SEC, &b), 0);
    CHECK(tg_sandbox_id(a)[0] != '\0');
    CHECK(strcmp(tg_sandbox_id(a), tg_sandbox_id(b)) != 0);
    CHECK_STR_EQ(tg_pool_driver_name(p1), "jail");
    tg_sandbox_destroy(a);
    tg_sandbox_destroy(b);
    tg_pool_destroy(p1);
    tg_pool_destroy(p2);
}

static void test_capacity(void)
{
    tg_pool *p = make_pool(1, 2);
    tg_sandbox *a, *b, *c;
    CHECK_INT_EQ(tg_pool_acquire(p, "sh", tg_frame_now_ns() + 10 * SEC, &a), 0);
    CHECK_INT_EQ(tg_pool_acquire(p, "sh", tg_frame_now_ns() + 10 * SEC, &b), 0);
    int64_t t0 = tg_frame_now_ns();
    CHECK_INT_EQ(tg_pool_acquire(p, "sh", t0 + 300000000, &c), TG_POOL_ECAPACITY);
    int64_t waited = tg_frame_now_ns() - t0;
    CHECK(waited >= 300000000);
    CHECK(c == NULL);
    /* Destroying one makes room for another. */
    tg_sandbox_destroy(a);
    CHECK_INT_EQ(tg_pool_acquire(p, "sh", tg_frame_now_ns() + 10 * SEC, &c), 0);
    tg_sandbox_destroy(b);
    tg_sandbox_destroy(c);
    tg_pool_destroy(p);
}

struct worker_arg {
    tg_pool *p;
    int ok;
};

static void *worker(void *arg)
{
    struct worker_arg *w = arg;
    for (int i = 0; i < 3; i++) {
        char in[64];
        snprintf(in, sizeof in, "{\"i\":%d}", i);
        tg_sandbox_result r;
        int rc = run_script(w->p, i % 2 ? "python3" : "sh",
                            i % 2 ? "import sys\nsys.stdout.write(sys.stdin.read())\n" : "cat\n",
                            in, 10000, 1000, NULL, NULL, &r);
        w->ok += rc == 0 && r.exit_code == 0 && strcmp(r.out, in) == 0;
        tg_sandbox_result_free(&r);
    }
    return NULL;
}

static void test_concurrent(void)
{
    tg_pool *p = make_pool(2, 6);
    struct worker_arg w[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker_arg){p, 0};
        pthread_create(&t[i], NULL, worker, &w[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        CHECK_INT_EQ(w[i].ok, 3);
    }
    tg_pool_destroy(p);
}

static void test_destroy_cleans_up(void)
{
    tg_pool *p = make_pool(2, 4);
    wait_ready(p, "python3", 2);
    tg_sandbox *sb;
    CHECK_INT_EQ(tg_pool_acquire(p, "sh", tg_frame_now_ns() + 10 * SEC, &sb), 0);
    CHECK(child_processes() >= 3);
    CHECK(leftover_cgroups("/sys/fs/cgroup", 4) >= 3);
    /* The worker cannot kill the sandbox's init (the agent) from inside. */
    tg_sandbox_file f = {"main", "kill -9 1 2>/dev/null; echo survived\n", 37};
    tg_sandbox_request req = {
        .entry = "main", .files = &f, .nfiles = 1, .timeout_ms = 5000, .max_output_bytes = 100};
    tg_sandbox_result r;
    CHECK_INT_EQ(tg_sandbox_run(sb, &req, &r), 0);
    CHECK_STR_EQ(r.out, "survived\n");
    tg_sandbox_result_free(&r);
    tg_sandbox_destroy(sb);
    tg_pool_destroy(p);
    CHECK_INT_EQ(child_processes(), 0);
    CHECK_INT_EQ(leftover_cgroups("/sys/fs/cgroup", 4), 0);
}

int main(void)
{
    test_distinct_and_refill();
    test_ids_across_pools();
    test_capacity();
    test_concurrent();
    test_destroy_cleans_up();
    return check_report();
}
