/* The jail driver: each sandbox is a process tree in fresh pid, mount, network,
 * ipc, uts and cgroup namespaces, inside its own memory and pids cgroups.
 *
 * The host measures a sandbox's CPU time from its cgroup, which counts every
 * process the sandbox ever ran: cpu.stat's usage_usec on cgroup v2 (a file
 * every v2 cgroup has, whatever its controllers), and on v1 cpuacct.usage of
 * a cpuacct cgroup of its own, when the host mounts that hierarchy; without
 * it the figure is unknown (-1), never the agent's word.
 *
 * The host side (this file) only creates the cgroups, clones the child into
 * the namespaces and execs the static agent; the agent, as the namespace's
 * init, builds the read-only root, drops privileges and loads the seccomp
 * filter before it reports "ready" (agent/agent.c). Invariant: a sandbox's
 * init pid is reaped only in destroy(), so kill() can never hit a reused pid.
 *
 * Worker templates are directories under template_dir, one per key: the
 * agent mounts one read-only as the lower layer of an overlay /job. capture()
 * copies a setup sandbox's /job there. That tree was made by hostile code, so
 * the copy walks it only through directory fds and never follows a link, and
 * everything it makes belongs to root, never to a sandbox's uid. */
#include "gateway/core/log.h"
#include "vm-pool/child.h"
#include "vm-pool/driver.h"
#include "vm-pool/frame.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <limits.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gateway/core/alloc.h"

/* The sandboxes' uids come from this range, one per sandbox, so RLIMIT_NPROC
 * (counted per uid) is per sandbox and no two sandboxes share an identity. */
#define UID_BASE  200000u
#define UID_COUNT 50000u

/* What a captured /job may hold besides template_bytes of file data. */
#define TEMPLATE_ENTRIES 100000u
#define TEMPLATE_DEPTH   64

typedef struct jail_state {
    tg_driver_config cfg;
    bool v2;           /* unified cgroup hierarchy */
    char *mem_parent;  /* v1: .../memory/<our cgroup>; v2: /sys/fs/cgroup/<our cgroup> */
    char *pids_parent; /* v1 only */
    char *cpu_parent;  /* v1 only: .../cpuacct/<our cgroup>, NULL without that hierarchy */
    int tdir;          /* template_dir, or -1 without one */
} jail_state;

struct tg_driver_sandbox {
    pid_t pid; /* the sandbox's init (the agent), in our pid namespace */
    int sock;
    char *mem_dir;
    char *pids_dir; /* NULL on v2 (the same directory) */
    char *cpu_dir;  /* v1's cpuacct cgroup, or NULL */
    char *cpu_file; /* v2: cpu.stat, v1: cpuacct.usage; NULL when CPU time is unknown */
};

static atomic_uint_fast64_t jail_seq;

/* A failed system call, with errno's reason. */
static void jail_log(tg_log_level level, const char *what, const char *path)
{
    tg_log(level, NULL, "jail: %s%s%s: %s", what, path ? " " : "", path ? path : "",
           strerror(errno));
}

static int write_file(const char *dir, const char *name, const char *value)
{
    char *path = tg_xasprintf("%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    int rc = -1;
    if (fd >= 0) {
        size_t len = strlen(value);
        rc = write(fd, value, len) == (ssize_t)len ? 0 : -1;
        close(fd);
    }
    free(path);
    return rc;
}

/* Our own cgroup in controller's hierarchy ("" for v2's unified line). */
static char *own_cgroup(const char *controller)
{
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (!f) return NULL;
    char line[4096];
    char *found = NULL;
    while (!found && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2) continue;
        *c2 = '\0';
        const char *list = c1 + 1;
        if (controller[0] == '\0' ? list[0] == '\0' : false) {
            found = tg_xstrdup(c2 + 1);
            break;
        }
        /* The controller list is comma-separated ("cpu,cpuacct"). */
        size_t n = strlen(controller);
        for (const char *p = list; n && *p;) {
            size_t len = strcspn(p, ",");
            if (len == n && memcmp(p, controller, n) == 0) {
                found = tg_xstrdup(c2 + 1);
                break;
            }
            p += len + (p[len] == ',');
        }
    }
    fclose(f);
    return found;
}

/* Removes cgroups a crashed process of ours left behind: "tg-<pid>-<seq>"
 * whose pid no longer runs. Best effort; a live pid's cgroups are not ours. */
static void sweep(const char *parent)
{
    DIR *d = opendir(parent);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        unsigned long pid;
        unsigned long long seq;
        if (sscanf(e->d_name, "tg-%lu-%llu", &pid, &seq) != 2) continue;
        if ((pid_t)pid == getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        char *path = tg_xasprintf("%s/%s", parent, e->d_name);
        rmdir(path);
        free(path);
    }
    closedir(d);
}

/* On cgroup v2, children get memory and pids only if their parent hands
 * them down, and a cgroup with processes of its own cannot (the "no internal
 * processes" rule): then this process moves into a leaf of its own cgroup
 * first. Untested here (the CI host runs v1); a daemon under systemd wants
 * Delegate=yes. */
static int v2_delegate(const char *parent)
{
    if (write_file(parent, "cgroup.subtree_control", "+memory +pids") == 0) return 0;
    if (errno != EBUSY) {
        jail_log(TG_LOG_ERROR, "cgroup.subtree_control", parent);
        return TG_DRIVER_ENOTSUP;
    }
    char *leaf = tg_xasprintf("%s/toolgate", parent);
    char pid[24];
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    int rc = TG_DRIVER_ENOTSUP;
    if ((mkdir(leaf, 0755) == 0 || errno == EEXIST) && write_file(leaf, "cgroup.procs", pid) == 0 &&
        write_file(parent, "cgroup.subtree_control", "+memory +pids") == 0)
        rc = 0;
    else
        jail_log(TG_LOG_ERROR, "cannot delegate memory and pids controllers under", parent);
    free(leaf);
    return rc;
}

static void jail_close(void *state)
{
    jail_state *st = state;
    if (!st) return;
    if (st->tdir >= 0) close(st->tdir);
    free((char *)st->cfg.agent_path);
    free((char *)st->cfg.template_dir);
    free(st->mem_parent);
    free(st->pids_parent);
    free(st->cpu_parent);
    free(st);
}

/* Removes name in parent and everything under it, never following a link:
 * a directory is only ever entered through openat(O_NOFOLLOW). */
static int remove_tree(int parent, const char *name, int depth)
{
    if (unlinkat(parent, name, 0) == 0 || errno == ENOENT) return 0;
    if (errno != EISDIR || depth > TEMPLATE_DEPTH + 1) return -1;
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0) close(fd);
        return -1;
    }
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
            remove_tree(dirfd(d), e->d_name, depth + 1) != 0)
            rc = -1;
    closedir(d);
    return rc == 0 && unlinkat(parent, name, AT_REMOVEDIR) == 0 ? 0 : -1;
}

/* Opens (making it 0700 if missing) the template directory, and removes the
 * half-made copies "<key>.tmp-<pid>-<seq>" of processes that no longer run. */
static int open_templates(jail_state *st, const char *dir)
{
    char real[PATH_MAX];
    if ((mkdir(dir, 0700) != 0 && errno != EEXIST) || !realpath(dir, real)) {
        jail_log(TG_LOG_ERROR, "template directory", dir);
        return -1;
    }
    /* The agent is given layer paths under it and resolves them itself. */
    st->cfg.template_dir = tg_xstrdup(real);
    st->tdir = open(real, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int fd = st->tdir >= 0 ? fcntl(st->tdir, F_DUPFD_CLOEXEC, 0) : -1;
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        jail_log(TG_LOG_ERROR, "template directory", real);
        if (fd >= 0) close(fd);
        return -1;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *tmp = strstr(e->d_name, ".tmp-");
        unsigned long pid;
        unsigned long long seq;
        if (!tmp || sscanf(tmp, ".tmp-%lu-%llu", &pid, &seq) != 2) continue;
        if ((pid_t)pid == getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        remove_tree(st->tdir, e->d_name, 0);
    }
    closedir(d);
    return 0;
}

static int jail_open(const tg_driver_config *cfg, void **out)
{
    if (!cfg->agent_path || access(cfg->agent_path, X_OK) != 0) return TG_DRIVER_EINVAL;
    jail_state *st = tg_xcalloc(1, sizeof *st);
    st->cfg = *cfg;
    st->cfg.agent_path = tg_xstrdup(cfg->agent_path);
    if (!st->cfg.memory_bytes) st->cfg.memory_bytes = 128u << 20;
    if (!st->cfg.max_pids) st->cfg.max_pids = 64;
    if (!st->cfg.work_bytes) st->cfg.work_bytes = 64u << 20;
    if (!st->cfg.cpu_seconds) st->cfg.cpu_seconds = 60;
    if (!st->cfg.max_files) st->cfg.max_files = 256;
    if (!st->cfg.max_file_bytes) st->cfg.max_file_bytes = 64u << 20;
    if (!st->cfg.spawn_timeout_ms) st->cfg.spawn_timeout_ms = 10000;
    if (!st->cfg.template_bytes) st->cfg.template_bytes = 256u << 20;
    st->cfg.template_dir = NULL;
    st->tdir = -1;
    if (cfg->template_dir && open_templates(st, cfg->template_dir) != 0) {
        jail_close(st);
        return TG_DRIVER_EINVAL;
    }

    st->v2 = access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0;
    int rc = TG_DRIVER_ENOTSUP;
    if (st->v2) {
        char *own = own_cgroup("");
        if (own) {
            st->mem_parent = tg_xasprintf("/sys/fs/cgroup%s", strcmp(own, "/") ? own : "");
            rc = v2_delegate(st->mem_parent);
            free(own);
        }
    } else {
        char *mem = own_cgroup("memory"), *pids = own_cgroup("pids");
        if (mem && pids) {
            st->mem_parent = tg_xasprintf("/sys/fs/cgroup/memory%s", strcmp(mem, "/") ? mem : "");
            st->pids_parent = tg_xasprintf("/sys/fs/cgroup/pids%s", strcmp(pids, "/") ? pids : "");
            rc = 0;
        }
        free(mem);
        free(pids);
        /* Where cpu and cpuacct share a hierarchy ("cpu,cpuacct"), the host
         * links /sys/fs/cgroup/cpuacct to it. */
        char *cpu = own_cgroup("cpuacct");
        char *dir =
            cpu ? tg_xasprintf("/sys/fs/cgroup/cpuacct%s", strcmp(cpu, "/") ? cpu : "") : NULL;
        if (rc == 0 && dir && access(dir, W_OK) == 0) {
            st->cpu_parent = dir;
            dir = NULL;
        } else if (rc == 0) {
            tg_log_warn(NULL, "jail: no cpuacct cgroup of ours: sandboxes' CPU time will be "
                              "unknown");
        }
        free(dir);
        free(cpu);
    }
    if (rc < 0) {
        jail_close(st);
        return rc;
    }
    sweep(st->mem_parent);
    if (st->pids_parent) sweep(st->pids_parent);
    if (st->cpu_parent) sweep(st->cpu_parent);
    *out = st;
    return 0;
}

static int jail_prepare(void *state, const char *runtime)
{
    (void)state;
    if (strcmp(runtime, "sh") == 0)
        return access("/bin/busybox", X_OK) == 0 ? 0 : TG_DRIVER_ENOTSUP;
    if (strcmp(runtime, "python3") == 0)
        return access("/usr/bin/python3", X_OK) == 0 ? 0 : TG_DRIVER_ENOTSUP;
    if (strcmp(runtime, "exec") == 0) return 0;
    return TG_DRIVER_EINVAL;
}

/* rmdir retried briefly: a v1 cgroup can stay busy for a moment after its
 * last task was reaped. */
static void remove_cgroup(const char *dir)
{
    if (!dir) return;
    for (int i = 0; i < 200; i++) {
        if (rmdir(dir) == 0 || errno == ENOENT) return;
        if (errno != EBUSY) break;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    jail_log(TG_LOG_WARN, "cannot remove cgroup", dir);
}

static int make_cgroups(jail_state *st, tg_driver_sandbox *sb, const char *name)
{
    char num[32];
    sb->mem_dir = tg_xasprintf("%s/%s", st->mem_parent, name);
    if (mkdir(sb->mem_dir, 0700) != 0) {
        jail_log(TG_LOG_ERROR, "mkdir", sb->mem_dir);
        free(sb->mem_dir);
        sb->mem_dir = NULL;
        return TG_DRIVER_ESYS;
    }
    snprintf(num, sizeof num, "%" PRIu64, st->cfg.memory_bytes);
    if (st->v2) {
        if (write_file(sb->mem_dir, "memory.max", num) != 0) {
            jail_log(TG_LOG_ERROR, "cgroup v2 limits", sb->mem_dir);
            return TG_DRIVER_ESYS;
        }
        write_file(sb->mem_dir, "memory.swap.max", "0");
        sb->cpu_file = tg_xasprintf("%s/cpu.stat", sb->mem_dir);
    } else {
        if (write_file(sb->mem_dir, "memory.limit_in_bytes", num) != 0) {
            jail_log(TG_LOG_ERROR, "memory.limit_in_bytes", sb->mem_dir);
            return TG_DRIVER_ESYS;
        }
        /* Without swap accounting this file is absent; then swap cannot be
         * used to step around the limit through this cgroup either way. */
        write_file(sb->mem_dir, "memory.memsw.limit_in_bytes", num);
        sb->pids_dir = tg_xasprintf("%s/%s", st->pids_parent, name);
        if (mkdir(sb->pids_dir, 0700) != 0) {
            jail_log(TG_LOG_ERROR, "mkdir", sb->pids_dir);
            free(sb->pids_dir);
            sb->pids_dir = NULL;
            return TG_DRIVER_ESYS;
        }
        if (st->cpu_parent) {
            sb->cpu_dir = tg_xasprintf("%s/%s", st->cpu_parent, name);
            if (mkdir(sb->cpu_dir, 0700) != 0) {
                jail_log(TG_LOG_ERROR, "mkdir", sb->cpu_dir);
                free(sb->cpu_dir);
                sb->cpu_dir = NULL;
                return TG_DRIVER_ESYS;
            }
            sb->cpu_file = tg_xasprintf("%s/cpuacct.usage", sb->cpu_dir);
        }
    }
    snprintf(num, sizeof num, "%" PRIu32, st->cfg.max_pids);
    if (write_file(sb->pids_dir ? sb->pids_dir : sb->mem_dir, "pids.max", num) != 0) {
        jail_log(TG_LOG_ERROR, "pids.max", sb->pids_dir ? sb->pids_dir : sb->mem_dir);
        return TG_DRIVER_ESYS;
    }
    return 0;
}

static void jail_destroy(tg_driver_sandbox *sb)
{
    if (!sb) return;
    if (sb->pid > 0) {
        /* Killing a pid namespace's init kills every process in it; waitpid
         * returns only once the namespace is empty. */
        kill(sb->pid, SIGKILL);
        while (waitpid(sb->pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    if (sb->sock >= 0) close(sb->sock);
    remove_cgroup(sb->mem_dir);
    remove_cgroup(sb->pids_dir);
    remove_cgroup(sb->cpu_dir);
    free(sb->mem_dir);
    free(sb->pids_dir);
    free(sb->cpu_dir);
    free(sb->cpu_file);
    free(sb);
}

struct child_args {
    int sock, devnull, cg1, cg2, cg3;
    const char *agent;
    char **argv;
};

/* Runs in the cloned child, which shares memory with the parent (CLONE_VM,
 * the parent thread waits: CLONE_VFORK, as posix_spawn does): only plain
 * system calls until execve, and nothing written that the parent reads. */
static int child(void *arg)
{
    const struct child_args *a = arg;
    if ((a->cg1 >= 0 && write(a->cg1, "0", 1) != 1) ||
        (a->cg2 >= 0 && write(a->cg2, "0", 1) != 1) || (a->cg3 >= 0 && write(a->cg3, "0", 1) != 1))
        _exit(120);
    /* A cgroup namespace made after joining the cgroups shows the sandbox
     * its own cgroup as the root. */
    if (unshare(CLONE_NEWCGROUP) != 0) _exit(121);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    /* sock and devnull are >= 10 (see jail_spawn), so no dup2 clobbers another. */
    if (dup2(a->sock, 3) != 3 || dup2(a->devnull, 0) != 0 || dup2(a->devnull, 1) != 1) _exit(122);
    syscall(SYS_close_range, 4u, ~0u, 0u);
    tg_child_exec(a->agent, a->argv);
    _exit(123);
}

static int open_procs(const char *dir)
{
    if (!dir) return -1;
    char *path = tg_xasprintf("%s/cgroup.procs", dir);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) jail_log(TG_LOG_ERROR, "open", path);
    free(path);
    return fd;
}

/* Starts a sandbox whose /job is a fresh tmpfs, or an overlay over the
 * template directory layer. */
static int start(jail_state *st, const char *layer, tg_driver_sandbox **out)
{
    *out = NULL;
    uint64_t seq = atomic_fetch_add(&jail_seq, 1);
    char name[64];
    snprintf(name, sizeof name, "tg-%ld-%" PRIu64, (long)getpid(), seq);

    tg_driver_sandbox *sb = tg_xcalloc(1, sizeof *sb);
    sb->sock = -1;
    int fds[2] = {-1, -1}, devnull = -1, cg1 = -1, cg2 = -1, cg3 = -1;
    int rc = make_cgroups(st, sb, name);
    if (rc < 0) goto out;
    rc = TG_DRIVER_ESYS;
    cg1 = open_procs(sb->mem_dir);
    cg2 = open_procs(sb->pids_dir);
    cg3 = open_procs(sb->cpu_dir);
    devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (cg1 < 0 || (sb->pids_dir && cg2 < 0) || (sb->cpu_dir && cg3 < 0) || devnull < 0 ||
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
        goto out;

    /* Everything the child needs is built before the clone: it may not allocate. */
    char a_uid[24], a_work[24], a_cpu[24], a_files[24], a_fsize[24], a_nproc[24];
    /* Mixing in our pid keeps two daemons (or a daemon and a test) on one
     * host from starting at the same uid. */
    uint64_t slot = ((uint64_t)getpid() * 1009 + seq) % UID_COUNT;
    snprintf(a_uid, sizeof a_uid, "%u", UID_BASE + (unsigned)slot);
    snprintf(a_work, sizeof a_work, "%" PRIu64, st->cfg.work_bytes);
    snprintf(a_cpu, sizeof a_cpu, "%" PRIu32, st->cfg.cpu_seconds);
    snprintf(a_files, sizeof a_files, "%" PRIu32, st->cfg.max_files);
    snprintf(a_fsize, sizeof a_fsize, "%" PRIu64, st->cfg.max_file_bytes);
    snprintf(a_nproc, sizeof a_nproc, "%" PRIu32, st->cfg.max_pids);
    char *argv[] = {"toolgate-agent", a_uid,   a_work,        a_cpu, a_files,
                    a_fsize,          a_nproc, (char *)layer, NULL};

    fds[1] = tg_child_fd_at_least(fds[1], 10);
    devnull = tg_child_fd_at_least(devnull, 10);
    if (fds[1] < 0 || devnull < 0) goto out;
    struct child_args ca = {fds[1], devnull, cg1, cg2, cg3, st->cfg.agent_path, argv};
    /* CLONE_VM spares copying the daemon's page tables (and stalling its
     * other threads on the mm lock meanwhile); the child gets its own stack. */
    size_t stack_size = 64 * 1024;
    char *stack = tg_xmalloc(stack_size);
    int pid = clone(child, stack + stack_size,
                    CLONE_VM | CLONE_VFORK | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET |
                        CLONE_NEWIPC | CLONE_NEWUTS | SIGCHLD,
                    &ca);
    free(stack);
    if (pid < 0) {
        jail_log(TG_LOG_ERROR, "clone", NULL);
        goto out;
    }
    sb->pid = pid;
    sb->sock = fds[0];
    fds[0] = -1;
    close(fds[1]);
    fds[1] = -1;

    json_t *ready = NULL;
    tg_frame_type type;
    int64_t deadline = tg_frame_now_ns() + (int64_t)st->cfg.spawn_timeout_ms * 1000000;
    if (tg_frame_read(sb->sock, 4096, deadline, &ready, &type) != 0 || type != TG_FRAME_READY) {
        rc = TG_DRIVER_ESPAWN;
        json_decref(ready);
        goto out;
    }
    json_decref(ready);
    *out = sb;
    sb = NULL;
    rc = 0;
out:
    if (fds[0] >= 0) close(fds[0]);
    if (fds[1] >= 0) close(fds[1]);
    if (devnull >= 0) close(devnull);
    if (cg1 >= 0) close(cg1);
    if (cg2 >= 0) close(cg2);
    if (cg3 >= 0) close(cg3);
    jail_destroy(sb);
    return rc;
}

static bool valid_key(const char *key)
{
    size_t n = key ? strlen(key) : 0;
    return n >= 1 && n <= TG_DRIVER_KEY_MAX && strspn(key, "0123456789abcdef") == n;
}

static int jail_spawn(void *state, const char *runtime, const char *tmpl, tg_driver_sandbox **out)
{
    jail_state *st = state;
    (void)runtime; /* every jail carries every runtime; the run frame picks one */
    *out = NULL;
    if (!tmpl) return start(st, NULL, out);
    struct stat layer;
    if (st->tdir < 0 || !valid_key(tmpl) ||
        fstatat(st->tdir, tmpl, &layer, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(layer.st_mode))
        return TG_DRIVER_EINVAL;
    char *path = tg_xasprintf("%s/%s", st->cfg.template_dir, tmpl);
    int rc = start(st, path, out);
    free(path);
    return rc;
}

static int jail_spawn_setup(void *state, const char *runtime, const char *key,
                            tg_driver_sandbox **out)
{
    jail_state *st = state;
    (void)runtime;
    *out = NULL;
    if (st->tdir < 0 || !valid_key(key)) return TG_DRIVER_EINVAL;
    return start(st, NULL, out);
}

struct copy {
    uint64_t bytes_left;
    unsigned entries_left;
    int rc; /* the first failure: TG_DRIVER_EINVAL for a limit, else TG_DRIVER_ESYS */
    char buf[65536];
};

static int copy_fail(struct copy *c, int rc, const char *what)
{
    if (c->rc == 0) {
        c->rc = rc;
        if (rc == TG_DRIVER_ESYS) jail_log(TG_LOG_ERROR, "capture", what);
    }
    return -1;
}

/* Copies the regular file name (size bytes by fstatat) from src into dst. */
static int copy_file(struct copy *c, int src, int dst, const char *name, const struct stat *st)
{
    if ((uint64_t)st->st_size > c->bytes_left)
        return copy_fail(c, TG_DRIVER_EINVAL, "template_bytes");
    /* O_NONBLOCK: should a fifo have replaced the file, opening it must not hang. */
    int in = openat(src, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    int out = openat(dst, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    struct stat now;
    int rc = -1;
    if (in < 0 || out < 0 || fstat(in, &now) != 0 || !S_ISREG(now.st_mode) ||
        fchmod(out, st->st_mode & 0111 ? 0777 : 0666) != 0) {
        copy_fail(c, TG_DRIVER_ESYS, name);
        goto out;
    }
    for (;;) {
        ssize_t n = read(in, c->buf, sizeof c->buf);
        if (n < 0 && errno == EINTR) continue;
        if (n == 0) break;
        if (n < 0) {
            copy_fail(c, TG_DRIVER_ESYS, name);
            goto out;
        }
        /* The file may have grown since fstatat. */
        if ((uint64_t)n > c->bytes_left) {
            copy_fail(c, TG_DRIVER_EINVAL, "template_bytes");
            goto out;
        }
        c->bytes_left -= (uint64_t)n;
        for (ssize_t done = 0; done < n;) {
            ssize_t w = write(out, c->buf + done, (size_t)(n - done));
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) {
                copy_fail(c, TG_DRIVER_ESYS, name);
                goto out;
            }
            done += w;
        }
    }
    rc = 0;
out:
    if (in >= 0) close(in);
    if (out >= 0) close(out);
    return rc;
}

/* Copies the directory src (steals it) into the directory dst (borrowed):
 * directories, regular files and symlinks (as links, never resolved here);
 * fifos, sockets and devices are left out. */
static int copy_dir(struct copy *c, int src, int dst, int depth)
{
    DIR *d = fdopendir(src);
    if (!d) {
        close(src);
        return copy_fail(c, TG_DRIVER_ESYS, "fdopendir");
    }
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d))) {
        const char *name = e->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) continue;
        /* Entries left out count too: they bound the walk, not just the copy. */
        struct stat st;
        if (c->entries_left-- == 0) {
            rc = copy_fail(c, TG_DRIVER_EINVAL, "too many entries");
        } else if (fstatat(src, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            rc = copy_fail(c, TG_DRIVER_ESYS, name);
        } else if (S_ISDIR(st.st_mode)) {
            if (depth >= TEMPLATE_DEPTH) {
                rc = copy_fail(c, TG_DRIVER_EINVAL, "too deep");
                continue;
            }
            int sub_src = openat(src, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            int sub_dst = -1;
            if (sub_src < 0 || mkdirat(dst, name, 0700) != 0 ||
                (sub_dst = openat(dst, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) <
                    0 ||
                fchmod(sub_dst, 0777) != 0) {
                if (sub_src >= 0) close(sub_src);
                rc = copy_fail(c, TG_DRIVER_ESYS, name);
            } else {
                rc = copy_dir(c, sub_src, sub_dst, depth + 1);
            }
            if (sub_dst >= 0) close(sub_dst);
        } else if (S_ISREG(st.st_mode)) {
            rc = copy_file(c, src, dst, name, &st);
        } else if (S_ISLNK(st.st_mode)) {
            /* The target is kept as text: it means something only inside a sandbox. */
            ssize_t n = readlinkat(src, name, c->buf, PATH_MAX);
            if (n < 0 || n >= PATH_MAX) {
                rc = copy_fail(c, TG_DRIVER_ESYS, name);
            } else {
                c->buf[n] = '\0';
                if (symlinkat(c->buf, dst, name) != 0) rc = copy_fail(c, TG_DRIVER_ESYS, name);
            }
        }
    }
    closedir(d);
    return rc;
}

static int jail_capture(void *state, tg_driver_sandbox *sb, const char *key)
{
    jail_state *st = state;
    if (st->tdir < 0 || !valid_key(key)) return TG_DRIVER_EINVAL;
    /* /proc/<pid>/root is the agent's root (a magic link, fine to follow);
     * nothing after it is followed. The agent of a setup run waits for us,
     * so its mount namespace, and /job with it, still exists. */
    char job[64], tmp[TG_DRIVER_KEY_MAX + 64];
    snprintf(job, sizeof job, "/proc/%ld/root/job", (long)sb->pid);
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld-%" PRIu64, key, (long)getpid(),
             atomic_fetch_add(&jail_seq, 1));
    int src = open(job, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (src < 0) {
        jail_log(TG_LOG_ERROR, "capture", job);
        return TG_DRIVER_ESYS;
    }
    int dst = -1;
    if (mkdirat(st->tdir, tmp, 0700) != 0 ||
        (dst = openat(st->tdir, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
        fchmod(dst, 0755) != 0) {
        jail_log(TG_LOG_ERROR, "capture", tmp);
        close(src);
        if (dst >= 0) close(dst);
        remove_tree(st->tdir, tmp, 0);
        return TG_DRIVER_ESYS;
    }
    struct copy *c = tg_xcalloc(1, sizeof *c);
    c->bytes_left = st->cfg.template_bytes;
    c->entries_left = TEMPLATE_ENTRIES;
    copy_dir(c, src, dst, 1);
    close(dst);
    int rc = c->rc;
    free(c);
    /* The exchange replaces an existing template in one step, so a spawn
     * never finds the key missing; tmp then holds the old one. */
    if (rc == 0 && renameat2(st->tdir, tmp, st->tdir, key, RENAME_EXCHANGE) != 0 &&
        (errno != ENOENT || renameat(st->tdir, tmp, st->tdir, key) != 0)) {
        jail_log(TG_LOG_ERROR, "capture: rename", tmp);
        rc = TG_DRIVER_ESYS;
    }
    if (remove_tree(st->tdir, tmp, 0) != 0) jail_log(TG_LOG_WARN, "capture: remove", tmp);
    return rc;
}

static void jail_drop(void *state, const char *key)
{
    jail_state *st = state;
    if (st->tdir < 0 || !valid_key(key)) return;
    if (remove_tree(st->tdir, key, 0) != 0) jail_log(TG_LOG_WARN, "drop template", key);
}

static int jail_channel(tg_driver_sandbox *sb)
{
    return sb->sock;
}

static void jail_kill(tg_driver_sandbox *sb)
{
    if (sb->pid > 0) kill(sb->pid, SIGKILL);
}

/* The sandbox's cgroup counts its processes' time until destroy() removes
 * it, also after kill(). */
static int64_t jail_cpu_usage_us(tg_driver_sandbox *sb)
{
    if (!sb->cpu_file) return -1;
    int fd = open(sb->cpu_file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    char buf[1024];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf - 1)) < 0 && errno == EINTR)
        ;
    close(fd);
    if (n <= 0) return -1;
    buf[n] = '\0';
    /* v1: "<ns>\n"; v2: "usage_usec <us>\nuser_usec <us>\n...". */
    bool v1 = sb->cpu_dir != NULL;
    const char *num = buf;
    if (!v1) {
        const char *line =
            strncmp(buf, "usage_usec ", 11) == 0 ? buf : strstr(buf, "\nusage_usec ");
        if (!line) return -1;
        num = strchr(line + 1, ' ') + 1;
    }
    char *end;
    errno = 0;
    unsigned long long v = strtoull(num, &end, 10);
    if (errno != 0 || end == num || (*end != '\n' && *end != '\0')) return -1;
    v = v1 ? v / 1000 : v;
    return v > INT64_MAX ? -1 : (int64_t)v;
}

static const char *jail_describe(void *state)
{
    (void)state;
    return "jail";
}

const tg_driver tg_jail_driver = {
    .name = "jail",
    .spawn_kind = "spawn",
    .open = jail_open,
    .prepare = jail_prepare,
    .spawn = jail_spawn,
    .spawn_setup = jail_spawn_setup,
    .capture = jail_capture,
    .drop = jail_drop,
    .channel = jail_channel,
    .kill = jail_kill,
    .destroy = jail_destroy,
    .cpu_usage_us = jail_cpu_usage_us,
    .describe = jail_describe,
    .close = jail_close,
};
