/* pool_bench: what the benchmarks that drive the sandbox pool share (bench_vm,
 * bench_pool): sample storage, waiting for a full pool, argument parsing, the
 * sh worker's request and the threads that call back to back for a
 * throughput figure.
 *
 * Static functions in a header: each benchmark is one .c that includes it
 * once, and uses all of it. */
#ifndef TG_BENCH_POOL_BENCH_H
#define TG_BENCH_POOL_BENCH_H

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vm-pool/frame.h"
#include "vm-pool/pool.h"

#define MAX_ITERATIONS 1000

typedef struct samples {
    int64_t ns[MAX_ITERATIONS];
    size_t n;
} samples;

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void pause_briefly(void)
{
    struct timespec ts = {0, 200000};
    nanosleep(&ts, NULL);
}

/* Waits until runtime holds warm idle sandboxes and spawns nothing more, so
 * that the next acquire is a warm hit and no spawn competes for CPU with what
 * is measured next. Returns 0, or -1 when it did not happen within wait_ns. */
static int wait_full(tg_pool *pool, const char *runtime, unsigned warm, int64_t wait_ns,
                     tg_pool_stats *st)
{
    int64_t deadline = tg_frame_now_ns() + wait_ns;
    for (;;) {
        if (tg_pool_stats_get(pool, runtime, st) != 0) return -1;
        if (st->ready >= warm && st->spawning == 0) return 0;
        if (tg_frame_now_ns() > deadline) return -1;
        pause_briefly();
    }
}

/* The number s names, from lo to hi; otherwise says so as prog and exits 2. */
static long parse_arg(const char *prog, const char *s, long lo, long hi, const char *what)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "%s: %s must be a number from %ld to %ld\n", prog, what, lo, hi);
        exit(2);
    }
    return v;
}

/* The request tools/call makes of an sh worker whose main.sh is worker, with
 * {"text":"hello"} as its arguments. file (filled here) and worker are
 * borrowed: both must outlive the request. */
static tg_sandbox_request sh_request(tg_sandbox_file *file, const char *worker, uint32_t timeout_ms)
{
    static const char args[] = "{\"text\":\"hello\"}";
    *file = (tg_sandbox_file){.path = "main.sh", .data = worker, .len = strlen(worker)};
    return (tg_sandbox_request){
        .entry = "main.sh",
        .files = file,
        .nfiles = 1,
        .stdin_data = args,
        .stdin_len = sizeof args - 1,
        .timeout_ms = timeout_ms,
        .max_output_bytes = 65536,
    };
}

/* The cycle every tools/call makes (call: acquire, run, check the answer,
 * destroy; 0 when it went right), run in a loop by each thread of a
 * throughput measurement until the shared deadline. A thread stops at its
 * first failure. */
typedef struct cycle_ctx {
    tg_pool *pool;
    const tg_sandbox_request *req;
    int (*call)(tg_pool *pool, const tg_sandbox_request *req);
    int64_t until_ns;
    atomic_uint done;
    atomic_uint failed;
} cycle_ctx;

static void *cycle_main(void *arg)
{
    cycle_ctx *cx = arg;
    while (tg_frame_now_ns() < cx->until_ns) {
        if (cx->call(cx->pool, cx->req) != 0) {
            atomic_fetch_add(&cx->failed, 1);
            return NULL;
        }
        atomic_fetch_add(&cx->done, 1);
    }
    return NULL;
}

#endif
