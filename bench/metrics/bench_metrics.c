/* bench_metrics: what toolgate's metrics registry (gateway/core/metrics.h)
 * and its JSON line logger (gateway/core/log.h) cost, on a registry of our
 * own shaped like toolgate's: a counter with the labels of
 * toolgate_calls_total (tenant, tool, status, code; code capped at 64
 * values) and a histogram with those of toolgate_call_duration_seconds
 * (tenant, tool) and the call buckets.
 *
 *   bench_metrics SECONDS
 *
 * Each operation warms up for a quarter of SECONDS, sizing batches of about
 * a millisecond so that reading the clock costs nothing next to them, then
 * runs 3 rounds that share SECONDS and keeps the best (noise only ever slows
 * a round down), as bench_auth does. peer.mjs measures prom-client and pino
 * the same way; run.sh joins the two outputs by key.
 *
 * Output: one line per operation,
 *   KEY NS_PER_OP OPS_PER_S EXTRA DESCRIPTION...
 * where EXTRA is the bytes of a render, the bytes of memory a series takes,
 * or "-". With 2 threads OPS_PER_S is both threads' together and NS_PER_OP
 * its inverse (the machine's time per operation, not a thread's). */
#include "gateway/core/alloc.h"
#include "gateway/core/log.h"
#include "gateway/core/metrics.h"

#include <fcntl.h>
#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { ROUNDS = 3, TENANTS = 50, TOOLS = 20, NEW_TENANTS = 1000, NEW_TOOLS = 100 };

/* toolgate's call buckets (metrics.c): 0.5 ms to a minute. */
static const double call_buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01,    0.025,
                                      0.05,   0.1,   0.25,   0.5,   1,       2.5,
                                      5,      10,    30,     60,    INFINITY};
static const char *const counter_labels[] = {"tenant", "tool", "status", "code", NULL};
static const char *const histogram_labels[] = {"tenant", "tool", NULL};
static const tg_metric_desc counter_desc = {
    .type = TG_COUNTER,
    .name = "toolgate_calls_total",
    .help = "Finished calls by outcome: status ok or error, code the error code.",
    .labels = counter_labels,
    .bounded = "code",
    .max_values = 64};
static const tg_metric_desc histogram_desc = {
    .type = TG_HISTOGRAM,
    .name = "toolgate_call_duration_seconds",
    .help = "Whole calls, from being taken to being answered.",
    .labels = histogram_labels,
    .buckets = call_buckets};

/* Call durations the histogram observes in turn, spread over its buckets
 * (peer.mjs observes the same). */
static const double durations[16] = {0.0003, 0.0008, 0.002, 0.004, 0.008, 0.02, 0.04, 0.08,
                                     0.2,    0.4,    0.8,   2,     4,     8,    20,   45};

/* Label values made before timing, so that no snprintf is timed. */
static char *tenant_names[NEW_TENANTS];
static char *tool_names[NEW_TOOLS];

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs n operations on ctx. */
typedef void (*op_fn)(void *ctx, size_t n);

/* Returns: operations per second, best of ROUNDS rounds that share seconds
 * after a warm-up of a quarter of it; sets *batch_out to the batch size
 * (about 1 ms of operations). Mirrors bench_auth's checks_per_second. */
static double ops_per_second(op_fn op, void *ctx, double seconds, size_t *batch_out)
{
    size_t batch = 1;
    double warm_end = now_s() + seconds / 4;
    while (now_s() < warm_end) {
        double t0 = now_s();
        op(ctx, batch);
        if (now_s() - t0 < 0.001) batch *= 2;
    }
    double best = 0;
    for (int round = 0; round < ROUNDS; round++) {
        size_t ops = 0;
        double start = now_s(), elapsed;
        do {
            op(ctx, batch);
            ops += batch;
            elapsed = now_s() - start;
        } while (elapsed < seconds / ROUNDS);
        if ((double)ops / elapsed > best) best = (double)ops / elapsed;
    }
    if (batch_out) *batch_out = batch;
    return best;
}

/* ---- two threads ------------------------------------------------------- */

typedef struct worker {
    op_fn op;
    void *ctx;
    size_t batch;
    double seconds; /* of one round */
    pthread_barrier_t *start;
    size_t ops;
    double elapsed;
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    pthread_barrier_wait(w->start);
    size_t ops = 0;
    double start = now_s(), elapsed;
    do {
        w->op(w->ctx, w->batch);
        ops += w->batch;
        elapsed = now_s() - start;
    } while (elapsed < w->seconds);
    w->ops = ops;
    w->elapsed = elapsed;
    return NULL;
}

/* Returns: the operations per second of two threads together, each running
 * op on its own ctx, best of ROUNDS rounds sharing seconds. batch comes from
 * the one-thread run, which also warmed up. */
static double ops_per_second_2(op_fn op, void *ctx0, void *ctx1, double seconds, size_t batch)
{
    double best = 0;
    for (int round = 0; round < ROUNDS; round++) {
        pthread_barrier_t start;
        pthread_barrier_init(&start, NULL, 2);
        worker w[2];
        pthread_t t[2];
        for (int i = 0; i < 2; i++) {
            w[i] = (worker){.op = op,
                            .ctx = i ? ctx1 : ctx0,
                            .batch = batch,
                            .seconds = seconds / ROUNDS,
                            .start = &start};
            if (pthread_create(&t[i], NULL, worker_main, &w[i]) != 0) {
                fprintf(stderr, "bench_metrics: pthread_create failed\n");
                exit(1);
            }
        }
        double rate = 0;
        for (int i = 0; i < 2; i++) {
            pthread_join(t[i], NULL);
            rate += (double)w[i].ops / w[i].elapsed;
        }
        pthread_barrier_destroy(&start);
        if (rate > best) best = rate;
    }
    return best;
}

static void report(const char *key, double rate, const char *extra, const char *description)
{
    printf("%s %.2f %.0f %s %s\n", key, 1e9 / rate, rate, extra, description);
    fflush(stdout);
}

/* ---- updates on an existing series ------------------------------------- */

typedef struct series_ctx {
    tg_metric *m;
    const char *tenant, *tool;
} series_ctx;

static void counter_inc(void *arg, size_t n)
{
    series_ctx *c = arg;
    for (size_t i = 0; i < n; i++)
        tg_metrics_add(c->m, (const char *const[]){c->tenant, c->tool, "ok", ""}, 1);
}

static void histogram_observe(void *arg, size_t n)
{
    series_ctx *c = arg;
    for (size_t i = 0; i < n; i++)
        tg_metrics_observe(c->m, (const char *const[]){c->tenant, c->tool}, durations[i & 15]);
}

static void bench_updates(double seconds)
{
    tg_metrics *r = tg_metrics_new();
    tg_metric *counter = tg_metrics_register(r, &counter_desc);
    tg_metric *histogram = tg_metrics_register(r, &histogram_desc);
    /* A second counter of the same shape: two threads updating a metric each
     * share no lock, which tells the cost of sharing one from that of the
     * updates themselves. */
    tg_metric_desc other_desc = counter_desc;
    other_desc.name = "toolgate_other_calls_total";
    tg_metric *other = tg_metrics_register(r, &other_desc);
    /* The series exist, and share their tables with others, as on a
     * gateway serving many tenants' tools. */
    for (int t = 0; t < TENANTS; t++) {
        for (int k = 0; k < TOOLS; k++) {
            const char *v[] = {tenant_names[t], tool_names[k], "ok", ""};
            tg_metrics_add(counter, v, 1);
            tg_metrics_add(other, v, 1);
            tg_metrics_observe(histogram, v, 0.01);
        }
    }
    series_ctx c0 = {counter, tenant_names[0], tool_names[0]};
    series_ctx c1 = {counter, tenant_names[1], tool_names[1]};
    series_ctx o1 = {other, tenant_names[1], tool_names[1]};
    series_ctx h0 = {histogram, tenant_names[0], tool_names[0]};
    series_ctx h1 = {histogram, tenant_names[1], tool_names[1]};
    size_t counter_batch, histogram_batch;
    report("counter_inc", ops_per_second(counter_inc, &c0, seconds, &counter_batch), "-",
           "counter +1, 4 labels, existing series, 1 thread");
    report("histogram_observe", ops_per_second(histogram_observe, &h0, seconds, &histogram_batch),
           "-", "histogram observe, 2 labels, 17 buckets, existing series, 1 thread");
    report("counter_inc_2t_same", ops_per_second_2(counter_inc, &c0, &c0, seconds, counter_batch),
           "-", "counter +1, 2 threads on the same series");
    report("counter_inc_2t_own", ops_per_second_2(counter_inc, &c0, &c1, seconds, counter_batch),
           "-", "counter +1, 2 threads, a series each");
    report("counter_inc_2t_metric", ops_per_second_2(counter_inc, &c0, &o1, seconds, counter_batch),
           "-", "counter +1, 2 threads, a metric each");
    report("histogram_observe_2t_same",
           ops_per_second_2(histogram_observe, &h0, &h0, seconds, histogram_batch), "-",
           "histogram observe, 2 threads on the same series");
    report("histogram_observe_2t_own",
           ops_per_second_2(histogram_observe, &h0, &h1, seconds, histogram_batch), "-",
           "histogram observe, 2 threads, a series each");
    tg_metrics_free(r);
}

/* ---- first use of a series --------------------------------------------- */

/* Makes NEW_TENANTS x NEW_TOOLS series of a fresh metric of d, ROUNDS times;
 * reports the best round's series a second and the heap each series took
 * (glibc's count of bytes in use, before and after). */
static void bench_creation(const char *key, const tg_metric_desc *d, const char *description)
{
    double best = 0;
    size_t bytes = 0;
    size_t n = (size_t)NEW_TENANTS * NEW_TOOLS;
    for (int round = 0; round < ROUNDS; round++) {
        tg_metrics *r = tg_metrics_new();
        tg_metric *m = tg_metrics_register(r, d);
        size_t before = mallinfo2().uordblks;
        double start = now_s();
        for (size_t i = 0; i < n; i++) {
            const char *v[] = {tenant_names[i / NEW_TOOLS], tool_names[i % NEW_TOOLS], "ok", ""};
            if (d->type == TG_HISTOGRAM)
                tg_metrics_observe(m, v, 0.01);
            else
                tg_metrics_add(m, v, 1);
        }
        double rate = (double)n / (now_s() - start);
        bytes = mallinfo2().uordblks - before;
        if (rate > best) best = rate;
        tg_metrics_free(r);
    }
    char extra[32];
    snprintf(extra, sizeof extra, "%zu", bytes / n);
    report(key, best, extra, description);
}

/* ---- rendering --------------------------------------------------------- */

/* r rendered as serve.c's /metrics does, into an open_memstream buffer:
 * returns it (its length in *len), to be freed. */
static char *render_text(tg_metrics *r, size_t *len)
{
    char *text = NULL;
    FILE *out = open_memstream(&text, len);
    if (!out) {
        fprintf(stderr, "bench_metrics: open_memstream failed\n");
        exit(1);
    }
    tg_metrics_render(r, out);
    fclose(out);
    return text;
}

static void render(void *arg, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t len;
        free(render_text(arg, &len));
    }
}

/* A registry with TENANTS x TOOLS series of each metric, every series
 * counted and observed a few times, rendered. */
static void bench_render(double seconds)
{
    tg_metrics *r = tg_metrics_new();
    tg_metric *counter = tg_metrics_register(r, &counter_desc);
    tg_metric *histogram = tg_metrics_register(r, &histogram_desc);
    for (int t = 0; t < TENANTS; t++) {
        for (int k = 0; k < TOOLS; k++) {
            const char *v[] = {tenant_names[t], tool_names[k], "ok", ""};
            tg_metrics_add(counter, v, (uint64_t)(t * TOOLS + k + 1));
            for (int i = 0; i < 5; i++)
                tg_metrics_observe(histogram, v, durations[(t + k + i) & 15]);
        }
    }
    size_t len;
    char *text = render_text(r, &len);
    size_t lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    free(text);
    char extra[32], description[160];
    snprintf(extra, sizeof extra, "%zu", len);
    snprintf(description, sizeof description,
             "render /metrics: %d counter + %d histogram series (%d tenants x %d tools), "
             "%zu lines",
             TENANTS * TOOLS, TENANTS * TOOLS, TENANTS, TOOLS, lines);
    report("render", ops_per_second(render, r, seconds, NULL), extra, description);
    tg_metrics_free(r);
}

/* ---- the logger -------------------------------------------------------- */

static const tg_log_ctx log_ctx = {.tenant = "acme",
                                   .call_id = "0af7651916cd43dd8448eb211c80319c",
                                   .trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"};

static void log_info(void *arg, size_t n)
{
    (void)arg;
    for (size_t i = 0; i < n; i++)
        tg_log_info(&log_ctx, "call of %s finished in %d ms", "web_search", (int)(i & 1023));
}

static void log_debug(void *arg, size_t n)
{
    (void)arg;
    for (size_t i = 0; i < n; i++)
        tg_log_debug(&log_ctx, "call of %s finished in %d ms", "web_search", (int)(i & 1023));
}

static void bench_log(double seconds)
{
    int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        perror("bench_metrics: /dev/null");
        exit(1);
    }
    tg_log_set_fd(fd);
    tg_log_set_level(TG_LOG_INFO);
    report("log_line", ops_per_second(log_info, NULL, seconds, NULL), "-",
           "log a line (3 context fields, 2 args) to /dev/null, 1 thread");
    report("log_dropped", ops_per_second(log_debug, NULL, seconds, NULL), "-",
           "log a line below the level (dropped), 1 thread");
    tg_log_set_fd(2);
    close(fd);
}

int main(int argc, char **argv)
{
    double seconds = argc == 2 ? strtod(argv[1], NULL) : 0;
    if (argc != 2 || !(seconds > 0)) {
        fprintf(stderr, "usage: bench_metrics SECONDS\n");
        return 2;
    }
    for (int i = 0; i < NEW_TENANTS; i++)
        tenant_names[i] = tg_xasprintf("tenant-%03d", i);
    for (int i = 0; i < NEW_TOOLS; i++)
        tool_names[i] = tg_xasprintf("tool_%02d", i);

    bench_updates(seconds);
    bench_creation("create_counter", &counter_desc,
                   "first use of a counter series (100,000 new tenant x tool pairs)");
    bench_creation("create_histogram", &histogram_desc,
                   "first use of a histogram series (100,000 new tenant x tool pairs)");
    bench_render(seconds);
    bench_log(seconds);

    for (int i = 0; i < NEW_TENANTS; i++)
        free(tenant_names[i]);
    for (int i = 0; i < NEW_TOOLS; i++)
        free(tool_names[i]);
    return 0;
}
