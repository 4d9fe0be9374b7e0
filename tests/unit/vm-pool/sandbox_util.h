/* Shared by the vm-pool tests: a pool of real jail sandboxes and a one-call
 * helper that runs a script in one. */
#ifndef TG_TESTS_VMPOOL_SANDBOX_UTIL_H
#define TG_TESTS_VMPOOL_SANDBOX_UTIL_H

#include "vm-pool/frame.h"
#include "vm-pool/pool.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const int64_t SEC = 1000000000;

/* A pool of driver's sandboxes; image_dir is the microvm's guest image. */
static tg_pool *make_driver_pool(const tg_driver *driver, const char *image_dir, unsigned warm,
                                 unsigned max)
{
    static const char *const runtimes[] = {"sh", "python3", "exec"};
    tg_pool_config cfg = {
        .driver = driver,
        .driver_config = {.agent_path = TOOLGATE_AGENT_PATH,
                          .memory_bytes = driver == &tg_jail_driver ? 96u << 20 : 256u << 20,
                          .max_pids = 32,
                          .image_dir = image_dir},
        .runtimes = runtimes,
        .nruntimes = 3,
        .warm = warm,
        .max = max,
        .spawners = 2,
    };
    tg_pool *p = NULL;
    int rc = tg_pool_create(&cfg, &p);
    if (rc != 0) {
        fprintf(stderr, "tg_pool_create: %d (the jail needs root and cgroups)\n", rc);
        exit(1);
    }
    return p;
}

static tg_pool *make_pool(unsigned warm, unsigned max)
{
    return make_driver_pool(&tg_jail_driver, NULL, warm, max);
}

/* Runs script as the entry file of runtime; res must be freed. */
static int run_script(tg_pool *p, const char *runtime, const char *script, const char *in,
                      uint32_t timeout_ms, size_t max_out, tg_sandbox_event_cb cb, void *ud,
                      tg_sandbox_result *res)
{
    tg_sandbox *sb;
    int rc = tg_pool_acquire(p, runtime, tg_frame_now_ns() + 10 * SEC, &sb);
    if (rc != 0) {
        memset(res, 0, sizeof *res);
        return rc;
    }
    tg_sandbox_file f = {"main", script, strlen(script)};
    tg_sandbox_request req = {.entry = "main",
                              .files = &f,
                              .nfiles = 1,
                              .stdin_data = in,
                              .stdin_len = in ? strlen(in) : 0,
                              .timeout_ms = timeout_ms,
                              .max_output_bytes = max_out,
                              .on_event = cb,
                              .userdata = ud};
    rc = tg_sandbox_run(sb, &req, res);
    tg_sandbox_destroy(sb);
    return rc;
}

/* Cgroup directories this process's sandboxes left behind, anywhere in the
 * first levels of /sys/fs/cgroup (both v1 hierarchies and v2). */
static int leftover_cgroups(const char *dir, int depth)
{
    char prefix[32];
    snprintf(prefix, sizeof prefix, "tg-%ld-", (long)getpid());
    int n = 0;
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_type != DT_DIR || e->d_name[0] == '.') continue;
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
            n++;
        } else if (depth > 0) {
            char sub[4096];
            snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name);
            n += leftover_cgroups(sub, depth - 1);
        }
    }
    closedir(d);
    return n;
}

/* Processes whose parent is this process (sandbox inits not yet reaped). */
static int child_processes(void)
{
    int n = 0;
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char path[300], line[256];
        snprintf(path, sizeof path, "/proc/%s/status", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        while (fgets(line, sizeof line, f))
            if (strncmp(line, "PPid:", 5) == 0 && strtol(line + 5, NULL, 10) == getpid()) n++;
        fclose(f);
    }
    if (d) closedir(d);
    return n;
}

#endif
