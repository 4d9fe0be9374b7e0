/* bench_pool: the sandbox pool's own costs, under the figures the MCP
 * benchmark measures end to end. With the jail driver and the "sh" runtime it
 * times the pool's first fill, each spawn (tg_pool_stats_get's last_spawn_ns),
 * a warm acquire (an idle sandbox is waiting), a cold acquire (none is: the
 * caller waits for a spawn), one run of a trivial sh worker, and destroy;
 * then how many acquire-run-destroy cycles a second 1 and 8 threads sustain,
 * which no HTTP or JSON-RPC stands in front of.
 *
 *   bench_pool AGENT_PATH [ITERATIONS (50)] [WARM (4)]
 *
 * Must run as root, like the gateway: the jail needs namespaces and cgroups. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/pool_bench.h"

#define COLD_ITERATIONS 10
#define WAIT_NS         (30LL * 1000000000)

static const char worker[] =
    "#!/bin/sh\ncat >/dev/null\n"
    "printf '%s\\n' '{\"content\":[{\"type\":\"text\",\"text\":\"ok\"}]}'\n";
static const char expected[] = "{\"content\":[{\"type\":\"text\",\"text\":\"ok\"}]}\n";

static void report(const char *what, samples *s)
{
    if (s->n == 0) {
        printf("  %-34s no samples\n", what);
        return;
    }
    qsort(s->ns, s->n, sizeof *s->ns, cmp_i64);
    int64_t sum = 0;
    for (size_t i = 0; i < s->n; i++)
        sum += s->ns[i];
    printf("  %-34s median %9.3f ms  mean %9.3f ms  min %9.3f ms  max %9.3f ms  (n=%zu)\n", what,
           (double)s->ns[s->n / 2] / 1e6, (double)sum / (double)s->n / 1e6, (double)s->ns[0] / 1e6,
           (double)s->ns[s->n - 1] / 1e6, s->n);
}

/* One acquire-run-destroy cycle, as tools/call makes it. Returns 0 when the
 * worker answered right. */
static int cycle(tg_pool *pool, const tg_sandbox_request *req)
{
    tg_sandbox *sb = NULL;
    if (tg_pool_acquire(pool, "sh", tg_frame_now_ns() + WAIT_NS, &sb) != 0) return -1;
    tg_sandbox_result res;
    int rc = tg_sandbox_run(sb, req, &res);
    bool right = rc == 0 && res.exit_code == 0 && strcmp(res.out, expected) == 0;
    tg_sandbox_result_free(&res);
    tg_sandbox_destroy(sb);
    return right ? 0 : -1;
}

/* Returns cycles per second with nthreads for seconds_ns, or -1 on failure. */
static double cycles_per_second(tg_pool *pool, const tg_sandbox_request *req, unsigned nthreads,
                                int64_t seconds_ns)
{
    cycle_ctx cx = {
        .pool = pool, .req = req, .call = cycle, .until_ns = tg_frame_now_ns() + seconds_ns};
    pthread_t threads[16];
    unsigned started = 0;
    int64_t t0 = tg_frame_now_ns();
    while (started < nthreads && started < 16 &&
           pthread_create(&threads[started], NULL, cycle_main, &cx) == 0)
        started++;
    for (unsigned i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    int64_t took = tg_frame_now_ns() - t0;
    if (started < nthreads || atomic_load(&cx.failed) > 0) return -1;
    return (double)atomic_load(&cx.done) / ((double)took / 1e9);
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: bench_pool AGENT_PATH [ITERATIONS] [WARM]\n");
        return 2;
    }
    size_t iterations =
        argc > 2 ? (size_t)parse_arg("bench_pool", argv[2], 1, MAX_ITERATIONS, "ITERATIONS") : 50;
    unsigned warm = argc > 3 ? (unsigned)parse_arg("bench_pool", argv[3], 1, 16, "WARM") : 4;

    static samples spawn, warm_acq, cold_acq, run, destroy;
    int failures = 0;
    const char *runtimes[] = {"sh"};
    tg_pool_config cfg = {
        .driver = &tg_jail_driver,
        .driver_config = {.agent_path = argv[1]},
        .runtimes = runtimes,
        .nruntimes = 1,
        .warm = warm,
        /* No sandbox beyond the warm ones, so the cold measurement can empty the pool. */
        .max = warm,
    };
    tg_pool *pool = NULL;
    int64_t t0 = tg_frame_now_ns();
    int rc = tg_pool_create(&cfg, &pool);
    if (rc != 0) {
        fprintf(stderr, "bench_pool: tg_pool_create failed (%d): not root, or no jail here?\n", rc);
        return 1;
    }
    tg_pool_stats st;
    if (wait_full(pool, "sh", warm, WAIT_NS, &st) != 0) {
        fprintf(stderr, "bench_pool: the pool never filled (%llu spawn failures)\n",
                (unsigned long long)st.spawn_failures);
        tg_pool_destroy(pool);
        return 1;
    }
    int64_t fill_ns = tg_frame_now_ns() - t0;

    tg_sandbox_file file;
    tg_sandbox_request req = sh_request(&file, worker, 5000);

    /* Warm: one sandbox at a time out of a full pool, each run and destroyed,
     * then the refill awaited, whose spawn time the pool records. */
    for (size_t i = 0; i < iterations; i++) {
        tg_sandbox *sb = NULL;
        int64_t a = tg_frame_now_ns();
        rc = tg_pool_acquire(pool, "sh", a + WAIT_NS, &sb);
        int64_t b = tg_frame_now_ns();
        if (rc != 0) {
            fprintf(stderr, "bench_pool: acquire failed (%d)\n", rc);
            failures++;
            break;
        }
        warm_acq.ns[warm_acq.n++] = b - a;
        tg_sandbox_result res;
        rc = tg_sandbox_run(sb, &req, &res);
        int64_t c = tg_frame_now_ns();
        /* A benchmark that does not check the answer measures nothing. */
        if (rc != 0 || res.exit_code != 0 || strcmp(res.out, expected) != 0) {
            fprintf(
                stderr,
                "bench_pool: run %zu went wrong: rc %d, exit %d, stdout \"%s\", stderr \"%s\"\n", i,
                rc, res.exit_code, res.out ? res.out : "", res.err_tail ? res.err_tail : "");
            failures++;
        } else {
            run.ns[run.n++] = c - b;
        }
        tg_sandbox_result_free(&res);
        tg_sandbox_destroy(sb);
        destroy.ns[destroy.n++] = tg_frame_now_ns() - c;
        uint64_t before = st.spawned;
        if (wait_full(pool, "sh", warm, WAIT_NS, &st) != 0 || st.spawned != before + 1) {
            fprintf(stderr, "bench_pool: the pool did not refill\n");
            failures++;
            break;
        }
        spawn.ns[spawn.n++] = st.last_spawn_ns;
    }

    /* Cold: with max = warm, holding every sandbox stops the refill; giving
     * one back starts a spawn, and the acquire right after waits for it. */
    for (size_t i = 0; i < COLD_ITERATIONS && failures == 0; i++) {
        tg_sandbox *held[16] = {0};
        unsigned nheld = 0;
        while (nheld < warm &&
               tg_pool_acquire(pool, "sh", tg_frame_now_ns() + WAIT_NS, &held[nheld]) == 0)
            nheld++;
        if (nheld < warm || tg_pool_stats_get(pool, "sh", &st) != 0 || st.ready != 0 ||
            st.spawning != 0) {
            fprintf(stderr, "bench_pool: could not empty the pool\n");
            failures++;
        } else {
            tg_sandbox_destroy(held[--nheld]);
            tg_sandbox *sb = NULL;
            int64_t a = tg_frame_now_ns();
            rc = tg_pool_acquire(pool, "sh", a + WAIT_NS, &sb);
            if (rc == 0) {
                cold_acq.ns[cold_acq.n++] = tg_frame_now_ns() - a;
                held[nheld++] = sb;
            } else {
                fprintf(stderr, "bench_pool: cold acquire failed (%d)\n", rc);
                failures++;
            }
        }
        for (unsigned j = 0; j < nheld; j++)
            tg_sandbox_destroy(held[j]);
        if (wait_full(pool, "sh", warm, WAIT_NS, &st) != 0) {
            failures++;
            break;
        }
    }

    /* The pool's ceiling, the most tools/call could reach through it here. */
    double tput[2] = {-1, -1};
    static const unsigned nthreads[2] = {1, 8};
    for (size_t i = 0; i < 2 && failures == 0; i++) {
        if (wait_full(pool, "sh", warm, WAIT_NS, &st) != 0) {
            failures++;
            break;
        }
        tput[i] = cycles_per_second(pool, &req, nthreads[i], 2000000000);
        if (tput[i] < 0) {
            fprintf(stderr, "bench_pool: a cycle with %u threads failed\n", nthreads[i]);
            failures++;
        }
    }

    printf("sandbox pool (jail driver, runtime sh, warm %u; %s):\n", warm, argv[1]);
    printf("  %-34s %9.3f ms for %u sandboxes, %.3f ms each (spawned one after another)\n",
           "first fill, create to ready", (double)fill_ns / 1e6, warm,
           (double)fill_ns / 1e6 / warm);
    report("spawn (last_spawn_ns per refill)", &spawn);
    report("warm acquire (idle one waiting)", &warm_acq);
    report("cold acquire (pool empty)", &cold_acq);
    report("run echo worker (run to result)", &run);
    report("destroy", &destroy);
    for (size_t i = 0; i < 2; i++)
        if (tput[i] >= 0)
            printf("  acquire+run+destroy, %u thread%s    %9.0f cycles/s\n", nthreads[i],
                   nthreads[i] == 1 ? " " : "s", tput[i]);
    if (failures) printf("!!! %d sandbox operations failed (see stderr)\n", failures);
    tg_pool_destroy(pool);
    return failures ? 1 : 0;
}
