/* bench_scheduler: what the scheduler (gateway/triggers/scheduler.c) costs
 * with many scheduled workers, against the naive design measured in the same
 * run: a thread that wakes every second and checks every schedule.
 *
 *   bench_scheduler [--workers N] [--due K] [--idle-seconds S] DIR
 *
 * 1. Registering N schedules (as a gateway's start does, in one sync), and
 *    opening the store again (a restart loading them).
 * 2. Finding due runs: one tg_scheduler_poll when nothing is due (the heap's
 *    top is looked at), against one pass over every schedule comparing its
 *    next run time (the naive tick); and one poll that takes K due runs
 *    (persisting K rows in one transaction and starting K runs), against a
 *    naive tick that computes each schedule's next time after the last tick
 *    to find the same K.
 * 3. CPU while idle: the scheduler's thread over S seconds with N schedules
 *    and none due, against a naive thread ticking every second over the same
 *    schedules for the same S seconds.
 *
 * The store is a file in DIR (synchronous=FULL, as in the gateway). */
#include "audit/audit.h"
#include "gateway/core/alloc.h"
#include "gateway/triggers/cron.h"
#include "gateway/triggers/scheduler.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MINUTE_MS INT64_C(60000)
#define POLL_REPS 200000

static atomic_size_t started;

static void count_start(void *ctx, const tg_schedule_run *run)
{
    (void)ctx;
    (void)run;
    atomic_fetch_add(&started, 1);
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* CPU time of every thread of the process but this one, in ns, from the
 * scheduler's own accounting (/proc/self/task/TID/schedstat): exact, where
 * getrusage counts in clock ticks and would read an idle thread as 0 or 4 ms. */
static int64_t threads_cpu_ns(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d) return 0;
    int64_t total = 0;
    char self[32], path[300];
    snprintf(self, sizeof self, "%ld", (long)syscall(SYS_gettid));
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, self) == 0) continue;
        snprintf(path, sizeof path, "/proc/self/task/%s/schedstat", e->d_name);
        FILE *f = fopen(path, "r");
        long long ns = 0;
        if (f && fscanf(f, "%lld", &ns) == 1) total += ns;
        if (f) fclose(f);
    }
    closedir(d);
    return total;
}

/* Schedule i of n: K of them every minute, the rest once a day at a minute
 * half an hour away from now in a spread of zones and hours, so none of
 * those is due while the benchmark runs. */
static void schedule_of(size_t i, size_t due, int64_t now_ms, char *expr, size_t size,
                        const char **zone)
{
    static const char *const zones[] = {NULL, "Europe/Paris", "America/New_York", "Asia/Tokyo",
                                        "Australia/Sydney"};
    if (i < due) {
        snprintf(expr, size, "* * * * *");
        *zone = NULL;
        return;
    }
    int minute = (int)((now_ms / MINUTE_MS + 30) % 60);
    snprintf(expr, size, "%d %zu * * %s", minute, i % 24, i % 3 ? "*" : "MON-FRI");
    *zone = zones[i % 5];
}

/* The naive scheduler's view: every schedule parsed, with its next run. */
typedef struct naive {
    tg_cron **crons;
    int64_t *next;
    size_t n;
    atomic_bool stop;
    size_t fired;
} naive;

/* One naive tick at now_ms: each schedule whose next time has come fires
 * and gets its next time computed. Returns how many fired. */
static size_t naive_tick(naive *nv, int64_t now_ms)
{
    size_t fired = 0;
    for (size_t i = 0; i < nv->n; i++) {
        if (nv->next[i] > now_ms) continue;
        fired++;
        nv->next[i] = tg_cron_next(nv->crons[i], now_ms);
    }
    return fired;
}

static void *naive_thread(void *arg)
{
    naive *nv = arg;
    while (!atomic_load(&nv->stop)) {
        nv->fired += naive_tick(nv, wall_ms());
        struct timespec second = {1, 0};
        nanosleep(&second, NULL);
    }
    return NULL;
}

static double ms_since(int64_t t0)
{
    return (double)(mono_ns() - t0) / 1e6;
}

int main(int argc, char **argv)
{
    size_t n = 10000, due = 100;
    unsigned idle_s = 10;
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--workers") == 0 && i + 1 < argc)
            n = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--due") == 0 && i + 1 < argc)
            due = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--idle-seconds") == 0 && i + 1 < argc)
            idle_s = (unsigned)strtoul(argv[++i], NULL, 10);
        else
            dir = argv[i];
    }
    if (!dir || n == 0 || due > n) {
        fprintf(stderr, "usage: bench_scheduler [--workers N] [--due K] [--idle-seconds S] DIR\n");
        return 2;
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/audit.db", dir);
    tg_audit *audit = NULL;
    tg_error err;
    if (tg_audit_open(path, NULL, &audit, &err) != 0) {
        fprintf(stderr, "audit: %s\n", err.message);
        return 1;
    }
    snprintf(path, sizeof path, "%s/schedules.db", dir);
    tg_scheduler_config cfg = {.jitter_ms = -1, .start = count_start, .audit = audit};
    int64_t now = wall_ms();
    tg_scheduler *s = NULL;
    if (tg_scheduler_open(path, &cfg, now, &s, &err) != 0) {
        fprintf(stderr, "open: %s\n", err.message);
        return 1;
    }

    /* 1. Registering, reopening. */
    naive nv = {
        .crons = tg_xcalloc(n, sizeof *nv.crons), .next = tg_xcalloc(n, sizeof *nv.next), .n = n};
    char expr[64], tenant[32], worker[32], why[256];
    const char *zone;
    int64_t t0 = mono_ns();
    tg_scheduler_sync_begin(s, &err);
    for (size_t i = 0; i < n; i++) {
        schedule_of(i, due, now, expr, sizeof expr, &zone);
        snprintf(tenant, sizeof tenant, "tenant%03zu", i % 100);
        snprintf(worker, sizeof worker, "worker%05zu", i);
        tg_schedule sc = {.expr = expr, .zone = zone, .backoff_ms = 1000, .max_backoff_ms = 1000};
        if (tg_scheduler_set(s, tenant, worker, &sc, now, &err) != 0) {
            fprintf(stderr, "set %s: %s\n", expr, err.message);
            return 1;
        }
    }
    tg_scheduler_sync_end(s, true, &err);
    double register_ms = ms_since(t0);
    tg_scheduler_close(s);
    t0 = mono_ns();
    if (tg_scheduler_open(path, &cfg, now, &s, &err) != 0) {
        fprintf(stderr, "reopen: %s\n", err.message);
        return 1;
    }
    double reopen_ms = ms_since(t0);
    for (size_t i = 0; i < n; i++) {
        schedule_of(i, due, now, expr, sizeof expr, &zone);
        if (tg_cron_parse(expr, zone, &nv.crons[i], why, sizeof why) != 0) return 1;
        nv.next[i] = tg_cron_next(nv.crons[i], now);
    }
    printf("schedules: %zu (%zu every minute, the rest daily in 5 zones), %zu tenants\n", n, due,
           n < 100 ? n : (size_t)100);
    printf("register (one sync):  %8.1f ms  (%.1f us a schedule)\n", register_ms,
           register_ms * 1000 / (double)n);
    printf("reopen (load):        %8.1f ms\n", reopen_ms);

    /* 2. Finding due runs. Nothing due: just before the next minute. */
    int64_t quiet = (now / MINUTE_MS + 1) * MINUTE_MS - 1;
    if (quiet <= now) quiet = now;
    t0 = mono_ns();
    for (int r = 0; r < POLL_REPS; r++)
        tg_scheduler_poll(s, quiet);
    double poll_idle_ns = (double)(mono_ns() - t0) / POLL_REPS;
    int naive_reps = 200;
    t0 = mono_ns();
    size_t sink = 0;
    for (int r = 0; r < naive_reps; r++)
        sink += naive_tick(&nv, quiet);
    double scan_ns = (double)(mono_ns() - t0) / naive_reps;
    printf("\nfind due runs, none due\n");
    printf("  scheduler poll (heap top): %10.0f ns\n", poll_idle_ns);
    printf("  naive pass over all:       %10.0f ns   ratio naive/scheduler %.0fx\n", scan_ns,
           scan_ns / poll_idle_ns);

    /* K due at the next minute. */
    int64_t minute = (now / MINUTE_MS + 1) * MINUTE_MS;
    atomic_store(&started, 0);
    t0 = mono_ns();
    tg_scheduler_poll(s, minute);
    double poll_due_ms = ms_since(t0);
    size_t got = atomic_load(&started);
    t0 = mono_ns();
    size_t naive_got = naive_tick(&nv, minute);
    double naive_due_ms = ms_since(t0);
    printf("find and take %zu due runs of %zu\n", due, n);
    printf("  scheduler poll:     %8.2f ms  (%zu started; persisted in one transaction)\n",
           poll_due_ms, got);
    printf("  naive tick:         %8.2f ms  (%zu found; nothing persisted)\n", naive_due_ms,
           naive_got);
    if (got != due || naive_got != due) printf("!!! expected %zu due runs\n", due);
    tg_scheduler_close(s);

    /* 3. CPU while idle: a store of N daily schedules, none due in the
     * window, and the naive view of the same. */
    snprintf(path, sizeof path, "%s/idle.db", dir);
    now = wall_ms();
    if (tg_scheduler_open(path, &cfg, now, &s, &err) != 0) return 1;
    for (size_t i = 0; i < n; i++) {
        schedule_of(i, 0, now, expr, sizeof expr, &zone);
        snprintf(tenant, sizeof tenant, "tenant%03zu", i % 100);
        snprintf(worker, sizeof worker, "worker%05zu", i);
        tg_schedule sc = {.expr = expr, .zone = zone, .backoff_ms = 1000, .max_backoff_ms = 1000};
        if (tg_scheduler_set(s, tenant, worker, &sc, now, &err) != 0) return 1;
        tg_cron_free(nv.crons[i]);
        if (tg_cron_parse(expr, zone, &nv.crons[i], why, sizeof why) != 0) return 1;
        nv.next[i] = tg_cron_next(nv.crons[i], now);
    }
    atomic_store(&started, 0);
    int64_t cpu0 = threads_cpu_ns();
    tg_scheduler_start(s);
    sleep(idle_s);
    double sched_cpu_ms = (double)(threads_cpu_ns() - cpu0) / 1e6;
    tg_scheduler_stop(s);
    pthread_t th;
    pthread_create(&th, NULL, naive_thread, &nv);
    cpu0 = threads_cpu_ns();
    sleep(idle_s);
    double naive_cpu_ms = (double)(threads_cpu_ns() - cpu0) / 1e6;
    atomic_store(&nv.stop, true);
    pthread_join(th, NULL);
    printf("\nCPU while idle over %u s, %zu schedules, none due\n", idle_s, n);
    printf("  scheduler thread:   %8.3f ms CPU  (%.5f%% of a core; %zu runs started)\n",
           sched_cpu_ms, sched_cpu_ms / (idle_s * 10.0), atomic_load(&started));
    printf("  naive 1 s ticker:   %8.3f ms CPU  (%.5f%% of a core)   ratio naive/scheduler %.0fx\n",
           naive_cpu_ms, naive_cpu_ms / (idle_s * 10.0),
           sched_cpu_ms > 0 ? naive_cpu_ms / sched_cpu_ms : 0.0);
    tg_scheduler_close(s);
    for (size_t i = 0; i < n; i++)
        tg_cron_free(nv.crons[i]);
    free(nv.crons);
    free(nv.next);
    tg_audit_close(audit);
    return sink == SIZE_MAX ? 1 : 0;
}
