/* toolgate-agent: the only toolgate code inside a sandbox.
 *
 * Started by the jail driver as init of fresh pid/mount/net/ipc/uts/cgroup
 * namespaces, with its frame stream on fd 3. It builds the sandbox (read-only
 * root of bind mounts, private /job tmpfs, /proc), brings the namespace's
 * loopback up (the worker's egress proxy listens there), drops to an unprivileged
 * uid with no capabilities, loads the seccomp filter, says "ready" and waits
 * for one "run" frame: that is the warm state. Then it writes the files, runs
 * the worker, streams its stdout and fd 3 events, sends "result" and exits
 * (runner.c, which the microVM's guest/guest.c shares).
 *
 * Given a worker template (a layer directory the host captured from a setup
 * run), /job is an overlay of a private upper directory over that read-only
 * layer. After a setup run the agent stays until the host closes the channel,
 * so that the host can copy this namespace's /job first.
 *
 * It trusts nothing it did not build itself: the run frame is checked
 * (tg_frame_check), file paths are confined to /job, and every byte the
 * worker writes is bounded before it becomes a frame. Linked statically, so
 * the jail needs no libraries for it; it uses jansson for frames rather than
 * a hand-written parser. */
#include "vm-pool/agent/runner.h"
#include "vm-pool/frame.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define CHAN_FD 10
#define ROOT    "/tmp" /* where the new root is built, in our mount namespace only */

static unsigned long long arg_num(const char *s)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || end == s) {
        fprintf(stderr, "toolgate-agent: bad argument %s\n", s);
        _exit(1);
    }
    return v;
}

static void mkdir_p(const char *path)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) tg_runner_die("path too long");
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) tg_runner_die(buf);
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) tg_runner_die(buf);
}

/* Binds host path src read-only at the same path under ROOT. Absent sources
 * are skipped: a runtime that is not installed is simply not in the jail. */
static void bind_ro(const char *src)
{
    struct stat st;
    if (stat(src, &st) != 0) return;
    char dst[PATH_MAX];
    snprintf(dst, sizeof dst, ROOT "%s", src);
    if (S_ISDIR(st.st_mode)) {
        mkdir_p(dst);
    } else {
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s", dst);
        *strrchr(dir, '/') = '\0';
        mkdir_p(dir);
        int fd = open(dst, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) tg_runner_die(dst);
        close(fd);
    }
    if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL) != 0) tg_runner_die(dst);
    /* Device nodes keep dev; everything else is nodev too. */
    unsigned long flags = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID;
    if (!S_ISCHR(st.st_mode)) flags |= MS_NODEV;
    if (mount(NULL, dst, NULL, flags, NULL) != 0) tg_runner_die(dst);
}

/* Recreates a host symlink (merged /usr: /lib -> usr/lib) or binds the directory. */
static void link_or_bind(const char *path)
{
    char target[PATH_MAX], dst[PATH_MAX];
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n < 0) {
        bind_ro(path);
        return;
    }
    target[n] = '\0';
    snprintf(dst, sizeof dst, ROOT "%s", path);
    if (symlink(target, dst) != 0 && errno != EEXIST) tg_runner_die(dst);
}

/* The scratch tmpfs of a template's /job, mounted on ROOT before the root's
 * own tmpfs covers it: outside the new root, so the worker sees only the
 * merged /job. Sets *lower, *upper, *work to directory fds; the overlay is
 * mounted later through /proc/self/fd, as by then these paths (and the
 * layer's, when the template directory is under ROOT) are covered. */
static void open_layer(const char *layer, unsigned uid, unsigned long long work_bytes, int *lower,
                       int *upper, int *work)
{
    char opts[128];
    *lower = open(layer, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (*lower < 0) tg_runner_die(layer);
    snprintf(opts, sizeof opts, "size=%llu,mode=0700", work_bytes);
    if (mount("tmpfs", ROOT, "tmpfs", MS_NOSUID | MS_NODEV, opts) != 0)
        tg_runner_die("scratch tmpfs");
    /* The upper directory is the merged /job's root: the worker's, 0700. */
    if (mkdir(ROOT "/upper", 0700) != 0 || chown(ROOT "/upper", uid, uid) != 0 ||
        chmod(ROOT "/upper", 0700) != 0 || mkdir(ROOT "/work", 0700) != 0)
        tg_runner_die("overlay directories");
    *upper = open(ROOT "/upper", O_PATH | O_DIRECTORY | O_CLOEXEC);
    *work = open(ROOT "/work", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (*upper < 0 || *work < 0) tg_runner_die("overlay directories");
}

static void build_root(unsigned uid, unsigned long long work_bytes, const char *layer)
{
    char opts[128];
    int lower = -1, upper = -1, work = -1;
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        tg_runner_die("make mounts private");
    if (layer) open_layer(layer, uid, work_bytes, &lower, &upper, &work);
    if (mount("tmpfs", ROOT, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755") != 0)
        tg_runner_die("root tmpfs");
    /* The runtimes: busybox for sh, python3 with its standard library, curl
     * (for sh workers' HTTP requests through the egress proxy), the shared
     * libraries they need, and nothing else of the host. */
    bind_ro("/usr/bin/busybox");
    bind_ro("/bin/busybox");
    bind_ro("/usr/bin/curl");
    char py[PATH_MAX];
    if (realpath("/usr/bin/python3", py)) {
        char lib[PATH_MAX];
        bind_ro(py);
        const char *base = strrchr(py, '/') + 1;
        snprintf(lib, sizeof lib, "/usr/lib/%s", base);
        bind_ro(lib);
        if (strcmp(py, "/usr/bin/python3") != 0 && symlink(py, ROOT "/usr/bin/python3") != 0)
            tg_runner_die("python3 link");
    }
#if defined(__x86_64__)
    bind_ro("/usr/lib/x86_64-linux-gnu");
#elif defined(__aarch64__)
    bind_ro("/usr/lib/aarch64-linux-gnu");
#endif
    bind_ro("/usr/lib64");
    link_or_bind("/lib");
    link_or_bind("/lib64");
    mkdir_p(ROOT "/bin");
    if (symlink("busybox", ROOT "/bin/sh") != 0 && errno != EEXIST) tg_runner_die("sh link");
    bind_ro("/dev/null");
    bind_ro("/dev/zero");
    bind_ro("/dev/urandom");
    mkdir_p(ROOT "/etc");
    mkdir_p(ROOT "/proc");
    mkdir_p(ROOT "/job");
    if (mount("proc", ROOT "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
        tg_runner_die("proc");
    if (layer) {
        /* The overlay holds its own references to the three directories, so
         * it keeps working once pivot_root has detached the scratch tmpfs. */
        snprintf(opts, sizeof opts,
                 "lowerdir=/proc/self/fd/%d,upperdir=/proc/self/fd/%d,workdir=/proc/self/fd/%d",
                 lower, upper, work);
        if (mount("overlay", ROOT "/job", "overlay", MS_NOSUID | MS_NODEV, opts) != 0)
            tg_runner_die("job overlay");
        close(lower);
        close(upper);
        close(work);
    } else {
        snprintf(opts, sizeof opts, "size=%llu,mode=0700,uid=%u,gid=%u", work_bytes, uid, uid);
        if (mount("tmpfs", ROOT "/job", "tmpfs", MS_NOSUID | MS_NODEV, opts) != 0)
            tg_runner_die("work tmpfs");
    }
    if (chdir(ROOT) != 0 || syscall(SYS_pivot_root, ".", ".") != 0 ||
        umount2(".", MNT_DETACH) != 0 || chdir("/") != 0)
        tg_runner_die("pivot_root");
    if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) != 0)
        tg_runner_die("read-only root");
    if (sethostname("sandbox", 7) != 0) tg_runner_die("sethostname");
}

int main(int argc, char **argv)
{
    if ((argc != 7 && argc != 8) || getpid() != 1) {
        fprintf(stderr, "toolgate-agent: started by the jail driver only\n");
        return 1;
    }
    unsigned uid = (unsigned)arg_num(argv[1]);
    unsigned long long work_bytes = arg_num(argv[2]);
    tg_runner_limits lim = {.cpu_seconds = arg_num(argv[3]),
                            .max_files = arg_num(argv[4]),
                            .max_file_bytes = arg_num(argv[5]),
                            .max_pids = arg_num(argv[6])};
    tg_runner_init("toolgate-agent", CHAN_FD);
    if (fcntl(3, F_DUPFD_CLOEXEC, CHAN_FD) != CHAN_FD) tg_runner_die("channel fd");
    close(3);

    build_root(uid, work_bytes, argc == 8 ? argv[7] : NULL);
    /* The network namespace's only interface, for the egress proxy. */
    if (tg_runner_loopback_up() != 0) tg_runner_die("loopback up");
    tg_runner_confine(uid, &lim);
    /* From here on our stderr could carry nothing the host should see. */
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull < 0 || dup2(devnull, 2) != 2) _exit(1);
    close(devnull);

    json_t *ready = json_object();
    json_object_set_new(ready, "type", json_string("ready"));
    tg_runner_send_frame(ready);

    json_t *req = NULL;
    tg_frame_type type;
    if (tg_frame_read(CHAN_FD, TG_FRAME_MAX, -1, &req, &type) != 0 || type != TG_FRAME_RUN)
        _exit(3);
    tg_runner_run(req);
    /* A setup run's /job is about to become a template: the host copies it
     * from this mount namespace, which lives as long as we do. Its closing
     * the channel means it is done; answers to HTTP requests the setup
     * stopped waiting for may come first, and are read and dropped. */
    if (json_is_true(json_object_get(req, "setup"))) {
        char buf[4096];
        ssize_t n;
        while ((n = read(CHAN_FD, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
            ;
    }
    json_decref(req);
    return 0;
}
