/* bench_vm: the microvm driver against the jail driver, each through the
 * sandbox pool, with Firecracker's published figures as the mark.
 *
 * For each driver in turn (never both at once, so neither steals the other's
 * CPU) it times tg_pool_create (for the microvm: booting the template VM and
 * saving its device state), the first fill, each spawn to the guest's first
 * reply (last_spawn_ns), one call out of a full pool (acquire, run a trivial
 * sh worker, destroy), the calls a second two threads sustain while the pool
 * refills, and the memory of the idle sandboxes.
 *
 *   bench_vm AGENT_PATH IMAGE_DIR [SECONDS (10)] [ITERATIONS (40)] [WARM (4)]
 *
 * Must run as root, like the gateway: the jail needs namespaces and cgroups. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench/pool_bench.h"

#define MAX_WARM 16
#define NTHREADS 2
#define WAIT_NS  (60LL * 1000000000)

/* Firecracker's published figures: boot under 125 ms, under 5 MiB of memory
 * overhead per microVM, a snapshot restored in "a few" ms (taken as 5). */
#define FC_BOOT_MS    125.0
#define FC_MEMORY_MIB 5.0
#define FC_RESTORE_MS 5.0

static const char worker[] = "#!/bin/sh\ncat >/dev/null\necho '{\"ok\":true}'\n";
static const char expected[] = "{\"ok\":true}\n";

/* What the idle sandboxes' processes hold, summed over them. */
typedef struct memory {
    unsigned n;
    uint64_t rss_kb, pss_kb, private_kb;
} memory;

typedef struct figures {
    char description[64];
    int64_t create_ns, fill_ns;
    samples spawn, call, run, destroy; /* run and destroy: the parts of call */
    double rate_window, rate_steady;
    memory mem;
    uint64_t template_bytes;
    int failures;
} figures;

typedef struct params {
    const char *agent, *image_dir;
    int64_t seconds_ns;
    size_t iterations;
    unsigned warm;
} params;

/* The nearest-rank percentile q (0 < q <= 1) of sorted samples, in ms. */
static double pct_ms(const samples *s, double q)
{
    if (s->n == 0) return -1;
    size_t rank = (size_t)(q * (double)s->n + 0.999999);
    return (double)s->ns[rank ? rank - 1 : 0] / 1e6;
}

/* Sums Rss, Pss and private memory over the processes named comm whose
 * parent we are: the QEMUs, or the jails' agents (each a namespace's init). */
static memory child_memory(const char *comm)
{
    memory m = {0};
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        char path[300], line[512];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "re");
        if (!f) continue;
        bool ours = false;
        if (fgets(line, sizeof line, f)) {
            /* "pid (comm) state ppid": comm may hold spaces and parentheses. */
            char *lp = strchr(line, '('), *rp = strrchr(line, ')');
            long ppid = 0;
            if (lp && rp && rp > lp && sscanf(rp + 1, " %*c %ld", &ppid) == 1 &&
                ppid == (long)getpid())
                ours = (size_t)(rp - lp - 1) == strlen(comm) &&
                       strncmp(lp + 1, comm, strlen(comm)) == 0;
        }
        fclose(f);
        if (!ours) continue;
        snprintf(path, sizeof path, "/proc/%s/smaps_rollup", e->d_name);
        f = fopen(path, "re");
        if (!f) continue;
        m.n++;
        while (fgets(line, sizeof line, f)) {
            unsigned long long kb;
            if (sscanf(line, "Rss: %llu kB", &kb) == 1)
                m.rss_kb += kb;
            else if (sscanf(line, "Pss: %llu kB", &kb) == 1)
                m.pss_kb += kb;
            else if (sscanf(line, "Private_Clean: %llu kB", &kb) == 1)
                m.private_kb += kb;
            else if (sscanf(line, "Private_Dirty: %llu kB", &kb) == 1)
                m.private_kb += kb;
        }
        fclose(f);
    }
    if (d) closedir(d);
    return m;
}

/* The template VM's memory file, which outlives the template: every clone
 * maps it copy-on-write, so it is paid once per pool and is in no process's
 * Pss but for the pages clones map. The driver names its directory
 * /dev/shm/toolgate-vm-<our pid>-XXXXXX. Returns the bytes it occupies. */
static uint64_t template_bytes(void)
{
    char prefix[64];
    snprintf(prefix, sizeof prefix, "toolgate-vm-%ld-", (long)getpid());
    uint64_t bytes = 0;
    DIR *d = opendir("/dev/shm");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) != 0) continue;
        char path[400];
        struct stat sb;
        snprintf(path, sizeof path, "/dev/shm/%s/memory", e->d_name);
        if (stat(path, &sb) == 0) bytes += (uint64_t)sb.st_blocks * 512;
    }
    if (d) closedir(d);
    return bytes;
}

/* One call as tools/call makes it; f, when given, gets its run and destroy
 * times. Returns 0 when the worker answered right. */
static int call(tg_pool *pool, const tg_sandbox_request *req, figures *f)
{
    tg_sandbox *sb = NULL;
    int rc = tg_pool_acquire(pool, "sh", tg_frame_now_ns() + WAIT_NS, &sb);
    if (rc != 0) {
        fprintf(stderr, "bench_vm: acquire failed (%d)\n", rc);
        return -1;
    }
    tg_sandbox_result res;
    int64_t a = tg_frame_now_ns();
    rc = tg_sandbox_run(sb, req, &res);
    int64_t b = tg_frame_now_ns();
    /* A benchmark that does not check the answer measures nothing. */
    bool right = rc == 0 && res.exit_code == 0 && res.out && strcmp(res.out, expected) == 0;
    if (!right)
        fprintf(stderr, "bench_vm: run went wrong: rc %d, exit %d, stdout \"%s\", stderr \"%s\"\n",
                rc, res.exit_code, res.out ? res.out : "", res.err_tail ? res.err_tail : "");
    tg_sandbox_result_free(&res);
    tg_sandbox_destroy(sb);
    if (f) {
        f->run.ns[f->run.n++] = b - a;
        f->destroy.ns[f->destroy.n++] = tg_frame_now_ns() - b;
    }
    return right ? 0 : -1;
}

static int call_untimed(tg_pool *pool, const tg_sandbox_request *req)
{
    return call(pool, req, NULL);
}

static void sleep_until(int64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

/* NTHREADS callers back to back for seconds_ns. The pool's warm stock serves
 * the first calls for free, so the second half of the window, when only the
 * refill feeds the callers, is the rate the driver sustains. */
static int sustained(tg_pool *pool, const tg_sandbox_request *req, int64_t seconds_ns, figures *f)
{
    int64_t t0 = tg_frame_now_ns();
    cycle_ctx cx = {.pool = pool, .req = req, .call = call_untimed, .until_ns = t0 + seconds_ns};
    pthread_t threads[NTHREADS];
    unsigned started = 0;
    while (started < NTHREADS && pthread_create(&threads[started], NULL, cycle_main, &cx) == 0)
        started++;
    int64_t half = t0 + seconds_ns / 2;
    sleep_until(half);
    unsigned at_half = atomic_load(&cx.done);
    for (unsigned i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    int64_t end = tg_frame_now_ns();
    unsigned done = atomic_load(&cx.done);
    if (started < NTHREADS || atomic_load(&cx.failed) > 0) return -1;
    f->rate_window = (double)done / ((double)(end - t0) / 1e9);
    f->rate_steady = (double)(done - at_half) / ((double)(end - half) / 1e9);
    return 0;
}

/* Measures one driver from pool creation to destruction into f. */
static void measure(const tg_driver *driver, const char *comm, const params *pa, figures *f)
{
    bool vm = driver == &tg_microvm_driver;
    /* The gateway serves both runtimes; one idle python3 sandbox keeps that
     * true while only sh is called. */
    static const char *const runtimes[] = {"sh", "python3"};
    tg_pool_runtime_size sizes[] = {{pa->warm, pa->warm + NTHREADS}, {1, 1}};
    tg_pool_config cfg = {
        .driver = driver,
        .driver_config = {.agent_path = pa->agent,
                          .memory_bytes = vm ? 256u << 20 : 96u << 20,
                          .max_pids = 32,
                          .image_dir = vm ? pa->image_dir : NULL},
        .runtimes = runtimes,
        .nruntimes = 2,
        .sizes = sizes,
        .spawners = 2,
    };
    tg_pool *pool = NULL;
    int64_t t0 = tg_frame_now_ns();
    int rc = tg_pool_create(&cfg, &pool);
    f->create_ns = tg_frame_now_ns() - t0;
    if (rc != 0) {
        fprintf(stderr, "bench_vm: tg_pool_create (%s) failed (%d)%s\n", driver->name, rc,
                vm ? "" : ": not root, or no cgroups here?");
        f->failures++;
        return;
    }
    snprintf(f->description, sizeof f->description, "%s", tg_pool_driver_description(pool));

    tg_pool_stats st = {0}, py;
    if (wait_full(pool, "sh", pa->warm, WAIT_NS, &st) != 0 ||
        wait_full(pool, "python3", 1, WAIT_NS, &py) != 0) {
        fprintf(stderr, "bench_vm: the %s pool never filled (%" PRIu64 " spawn failures)\n",
                driver->name, st.spawn_failures);
        f->failures++;
        tg_pool_destroy(pool);
        return;
    }
    f->fill_ns = tg_frame_now_ns() - t0 - f->create_ns;
    f->mem = child_memory(comm);
    if (vm) f->template_bytes = template_bytes();

    tg_sandbox_file file;
    tg_sandbox_request req = sh_request(&file, worker, 30000);

    /* A call out of a full pool, then its refill awaited: the spawn the pool
     * times ran alone, and so does the next call. */
    for (size_t i = 0; i < pa->iterations; i++) {
        int64_t a = tg_frame_now_ns();
        if (call(pool, &req, f) != 0) {
            f->failures++;
            break;
        }
        f->call.ns[f->call.n++] = tg_frame_now_ns() - a;
        uint64_t before = st.spawned;
        if (wait_full(pool, "sh", pa->warm, WAIT_NS, &st) != 0 || st.spawned != before + 1) {
            fprintf(stderr, "bench_vm: the %s pool did not refill\n", driver->name);
            f->failures++;
            break;
        }
        f->spawn.ns[f->spawn.n++] = st.last_spawn_ns;
    }
    if (f->failures == 0 && sustained(pool, &req, pa->seconds_ns, f) != 0) {
        fprintf(stderr, "bench_vm: a sustained %s call failed\n", driver->name);
        f->failures++;
    }
    qsort(f->spawn.ns, f->spawn.n, sizeof *f->spawn.ns, cmp_i64);
    qsort(f->call.ns, f->call.n, sizeof *f->call.ns, cmp_i64);
    qsort(f->run.ns, f->run.n, sizeof *f->run.ns, cmp_i64);
    qsort(f->destroy.ns, f->destroy.n, sizeof *f->destroy.ns, cmp_i64);
    tg_pool_destroy(pool);
}

static double mib(uint64_t kb)
{
    return (double)kb / 1024.0;
}

/* One table row: the microvm's figure, the jail's, and their ratio; a
 * negative figure is one that could not be measured. */
static void row(const char *what, double vm, double jail)
{
    char a[32] = "-", b[32] = "-", r[32] = "-";
    if (vm >= 0) snprintf(a, sizeof a, "%.2f", vm);
    if (jail >= 0) snprintf(b, sizeof b, "%.2f", jail);
    if (vm >= 0 && jail > 0) snprintf(r, sizeof r, vm / jail < 1 ? "%.3fx" : "%.1fx", vm / jail);
    printf("  %-40s %12s %12s %10s\n", what, a, b, r);
}

static double per(uint64_t kb, unsigned n)
{
    return n ? mib(kb) / n : -1;
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 6) {
        fprintf(stderr, "usage: bench_vm AGENT_PATH IMAGE_DIR [SECONDS] [ITERATIONS] [WARM]\n");
        return 2;
    }
    params pa = {
        .agent = argv[1],
        .image_dir = argv[2],
        .seconds_ns =
            (argc > 3 ? parse_arg("bench_vm", argv[3], 2, 600, "SECONDS") : 10) * 1000000000LL,
        .iterations =
            argc > 4 ? (size_t)parse_arg("bench_vm", argv[4], 1, MAX_ITERATIONS, "ITERATIONS") : 40,
        .warm = argc > 5 ? (unsigned)parse_arg("bench_vm", argv[5], 1, MAX_WARM, "WARM") : 4,
    };
    static figures vm, jail;
    measure(&tg_microvm_driver, "qemu-system-x86", &pa, &vm);
    measure(&tg_jail_driver, "toolgate-agent", &pa, &jail);

    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    printf("sandbox drivers through the pool: runtime sh (and one idle python3), warm %u,\n"
           "spawners 2, %ld CPUs; %s against jail\n\n",
           pa.warm, cpus, vm.description[0] ? vm.description : "microvm (failed)");
    printf("  %-40s %12s %12s %10s\n", "", "microvm", "jail", "vm/jail");
    row("cold start, tg_pool_create (ms)", (double)vm.create_ns / 1e6,
        (double)jail.create_ns / 1e6);
    printf("    microvm: template boot + device-state snapshot; jail: cgroups and checks\n");
    row("first fill, to all idle (ms)", (double)vm.fill_ns / 1e6, (double)jail.fill_ns / 1e6);
    row("spawn to first reply p50 (ms)", pct_ms(&vm.spawn, 0.5), pct_ms(&jail.spawn, 0.5));
    row("spawn to first reply p99 (ms)", pct_ms(&vm.spawn, 0.99), pct_ms(&jail.spawn, 0.99));
    printf("    microvm: QEMU start, device state load, ping, ready (n=%zu, %zu)\n", vm.spawn.n,
           jail.spawn.n);
    row("warm call p50 (ms)", pct_ms(&vm.call, 0.5), pct_ms(&jail.call, 0.5));
    row("warm call p99 (ms)", pct_ms(&vm.call, 0.99), pct_ms(&jail.call, 0.99));
    row("  of which the run, p50 (ms)", pct_ms(&vm.run, 0.5), pct_ms(&jail.run, 0.5));
    row("  of which destroy, p50 (ms)", pct_ms(&vm.destroy, 0.5), pct_ms(&jail.destroy, 0.5));
    printf("    acquire + run sh worker + destroy, pool full (n=%zu, %zu)\n", vm.call.n,
           jail.call.n);
    row("sustained calls/s, 2 threads", vm.rate_steady, jail.rate_steady);
    row("  (whole window, warm stock included)", vm.rate_window, jail.rate_window);
    printf("    the second half of %" PRId64 " s, the pool refilling as it drains\n",
           pa.seconds_ns / 1000000000);
    row("memory per idle sandbox, Pss (MiB)", per(vm.mem.pss_kb, vm.mem.n),
        per(jail.mem.pss_kb, jail.mem.n));
    row("  Rss (MiB)", per(vm.mem.rss_kb, vm.mem.n), per(jail.mem.rss_kb, jail.mem.n));
    row("  private: what one more costs (MiB)", per(vm.mem.private_kb, vm.mem.n),
        per(jail.mem.private_kb, jail.mem.n));
    printf("    over %u QEMU processes / %u jail agents; the template's memory file,\n"
           "    shared copy-on-write by every VM and paid once: %.1f MiB\n",
           vm.mem.n, jail.mem.n, (double)vm.template_bytes / 1048576.0);

    if (vm.description[0]) {
        const char *accel = strstr(vm.description, "KVM") ? "KVM" : "TCG";
        printf("\nagainst Firecracker's published figures (toolgate's microvm under %s):\n", accel);
        double boot = (double)vm.create_ns / 1e6, restore = pct_ms(&vm.spawn, 0.5);
        double pss = per(vm.mem.pss_kb, vm.mem.n);
        printf("  %-26s %-12s %12.1f ms   %8.1fx Firecracker's figure\n", "boot", "< 125 ms", boot,
               boot / FC_BOOT_MS);
        if (restore >= 0)
            printf("  %-26s %-12s %12.1f ms   %8.1fx Firecracker's figure (p50)\n",
                   "snapshot restore", "a few ms", restore, restore / FC_RESTORE_MS);
        if (pss >= 0)
            printf("  %-26s %-12s %12.1f MiB  %8.1fx Firecracker's figure (Pss per idle VM)\n",
                   "memory overhead", "< 5 MiB", pss, pss / FC_MEMORY_MIB);
        printf("    boot is template boot + snapshot; \"a few ms\" taken as %.0f ms; our Pss\n"
               "    holds the guest pages a clone touched, Firecracker's figure the VMM only\n",
               FC_RESTORE_MS);
    }
    int failures = vm.failures + jail.failures;
    if (failures) printf("!!! %d sandbox operations failed (see stderr)\n", failures);
    return failures ? 1 : 0;
}
