/* toolgate-guest: PID 1 of a toolgate microVM, /init of its initramfs.
 *
 * It mounts /proc, /sys and /dev, loads the virtio modules listed in
 * /modules/order, mounts the worker's /job tmpfs, brings the loopback
 * interface up (the worker's egress proxy listens there), opens the virtio-serial
 * port named "toolgate" and says "ready": that is the state the host
 * snapshots. It answers every "ping" with "ready" until one "run" frame
 * comes; then it mixes the frame's seed into the kernel's random pool and
 * forks the process that confines itself as the worker's uid and runs the
 * call with the runner the jail agent shares (agent/runner.c). When that
 * process is gone, or on anything unexpected, the VM powers off.
 *
 * A run frame with "setup": true is a worker's setup command: once it is
 * done, every process but PID 1 ends and the guest goes back to reading
 * frames instead of powering off, so the host can snapshot it with /job as
 * the setup left it (a worker template) and start calls from there.
 *
 * Every VM restored from a snapshot resumes inside the blocking read of the
 * port, so nothing after the first "ready" may rely on state obtained before
 * it: the seed and the per-call limits come with the run frame. PID 1 stays
 * root (it must reseed and power off) and reaps every orphan while the call
 * runs; only its child drops privileges. */
#include "vm-pool/agent/runner.h"
#include "vm-pool/frame.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/random.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PORT_NAME          "toolgate"
#define PORTS_DIR          "/sys/class/virtio-ports"
#define WORKER_UID         1000
#define WORK_BYTES_DEFAULT (64ull << 20)
#define WORK_BYTES_PARAM   "toolgate.work_bytes="
#define PORT_WAIT_MS       5000
#define PORT_POLL_MS       20

static _Noreturn void power_off(void)
{
    reboot(RB_POWER_OFF);
    /* Only reached if the kernel refused; returning from PID 1 would panic. */
    for (;;)
        pause();
}

static _Noreturn void fail(const char *what)
{
    fprintf(stderr, "toolgate-guest: %s: %s\n", what, strerror(errno));
    power_off();
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static void mount_fs(const char *type, const char *dir, unsigned long flags, const char *opts)
{
    if (mount(type, dir, type, flags, opts) != 0 && errno != EBUSY) fail(dir);
}

/* The kernel gave PID 1 whatever /dev/console it found in the initramfs, or
 * nothing; the console of devtmpfs is the serial port either way. */
static void open_console(void)
{
    int con = open("/dev/console", O_RDWR | O_CLOEXEC);
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (con < 0 || null < 0 || dup2(null, 0) != 0 || dup2(con, 1) != 1 || dup2(con, 2) != 2)
        power_off();
    close(con);
    close(null);
}

static void load_modules(void)
{
    FILE *order = fopen("/modules/order", "re");
    if (!order) fail("/modules/order");
    char name[NAME_MAX + 2];
    while (fgets(name, sizeof name, order)) {
        name[strcspn(name, "\n")] = '\0';
        if (!*name) continue;
        char path[PATH_MAX];
        snprintf(path, sizeof path, "/modules/%s", name);
        int fd = strchr(name, '/') ? -1 : open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) fail(path);
        /* EEXIST: built into this kernel, or loaded as another's dependency. */
        if (syscall(SYS_finit_module, fd, "", 0) != 0 && errno != EEXIST) fail(path);
        close(fd);
    }
    fclose(order);
}

/* toolgate.work_bytes=N from the kernel command line: the size of /job. */
static unsigned long long work_bytes(void)
{
    char cmdline[4096];
    int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, cmdline, sizeof cmdline - 1) : -1;
    if (fd >= 0) close(fd);
    if (n < 0) fail("/proc/cmdline");
    cmdline[n] = '\0';
    for (char *p = cmdline; (p = strstr(p, WORK_BYTES_PARAM)); p++) {
        if (p != cmdline && p[-1] != ' ') continue;
        const char *s = p + strlen(WORK_BYTES_PARAM);
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        /* tmpfs reads size=0 as unlimited: refuse it with the rest. */
        if (errno || end == s || (*end && *end != ' ' && *end != '\n') || v == 0) {
            errno = EINVAL;
            fail(WORK_BYTES_PARAM);
        }
        return v;
    }
    return WORK_BYTES_DEFAULT;
}

static void build_root(void)
{
    mount_fs("proc", "/proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    mount_fs("sysfs", "/sys", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    mount_fs("devtmpfs", "/dev", MS_NOSUID | MS_NOEXEC, "mode=0755");
    open_console();
    load_modules();
    char opts[128];
    snprintf(opts, sizeof opts, "size=%llu,mode=0700,uid=%d,gid=%d", work_bytes(), WORKER_UID,
             WORKER_UID);
    if (mount("tmpfs", "/job", "tmpfs", MS_NOSUID | MS_NODEV, opts) != 0) fail("/job");
    /* The guest's only interface, where the worker's egress proxy listens. */
    if (tg_runner_loopback_up() != 0) fail("loopback up");
    /* The initramfs may refuse; its files are root's and not writable by the
     * worker's uid either way. */
    if (mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) != 0)
        fprintf(stderr, "toolgate-guest: / stays writable by root: %s\n", strerror(errno));
    if (sethostname("sandbox", 7) != 0) fail("sethostname");
}

/* Reads the port's name from sysfs into the vportNpM device path. */
static bool find_port(char *dev, size_t size)
{
    DIR *d = opendir(PORTS_DIR);
    if (!d) return false;
    bool found = false;
    struct dirent *e;
    while (!found && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[PATH_MAX], name[sizeof PORT_NAME + 1];
        snprintf(path, sizeof path, PORTS_DIR "/%s/name", e->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? read(fd, name, sizeof name) : -1;
        if (fd >= 0) close(fd);
        found = n == (ssize_t)sizeof PORT_NAME && memcmp(name, PORT_NAME "\n", (size_t)n) == 0;
        if (found) snprintf(dev, size, "/dev/%s", e->d_name);
    }
    closedir(d);
    return found;
}

/* The port shows up a little after its module loads, and opening it just
 * after its device node appears may fail with ENXIO: both are waited out. */
static int open_port(void)
{
    char dev[PATH_MAX];
    for (int waited = 0; waited <= PORT_WAIT_MS; waited += PORT_POLL_MS) {
        if (find_port(dev, sizeof dev)) {
            int fd = open(dev, O_RDWR | O_CLOEXEC);
            if (fd >= 0) return fd;
            if (errno != ENXIO && errno != ENOENT) fail(dev);
        }
        sleep_ms(PORT_POLL_MS);
    }
    errno = ENODEV;
    fail("virtio port " PORT_NAME);
}

/* "ready" says how many bytes /job holds: after a setup run, what a
 * template of this VM would keep (the host bounds it). */
static void send_ready(int port)
{
    struct statfs fs;
    if (statfs("/job", &fs) != 0) fail("statfs /job");
    json_t *ready = json_pack("{s:s, s:I}", "type", "ready", "job_bytes",
                              (json_int_t)((fs.f_blocks - fs.f_bfree) * (unsigned long)fs.f_bsize));
    if (!ready || tg_frame_write(port, ready, -1) != 0) fail("send ready");
    json_decref(ready);
}

/* VMs restored from one snapshot share the kernel's random state: the host's
 * seed makes theirs differ before the worker draws from it. The forced
 * reseed makes the pool's new input reach getrandom now, not at the next
 * scheduled reseed. */
static void reseed(const json_t *run)
{
    const json_t *seed = json_object_get(run, "seed");
    if (!seed) return;
    unsigned char *bytes;
    size_t len;
    if (tg_frame_unb64(seed, &bytes, &len) != 0) fail("seed");
    int fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC);
    if (fd < 0) fail("/dev/urandom");
    struct rand_pool_info *info = malloc(sizeof *info + len);
    if (!info) fail("seed");
    info->entropy_count = (int)(8 * len);
    info->buf_size = (int)len;
    memcpy(info->buf, bytes, len);
    if (ioctl(fd, RNDADDENTROPY, info) != 0 && write(fd, bytes, len) != (ssize_t)len)
        fail("seed /dev/urandom");
    if (ioctl(fd, RNDRESEEDCRNG) != 0)
        fprintf(stderr, "toolgate-guest: reseed: %s\n", strerror(errno));
    free(info);
    free(bytes);
    close(fd);
}

/* A restored VM's clock reads the template's boot time (there is no RTC to
 * read it from), so the host's wall clock comes with every call. */
static void set_clock(const json_t *run)
{
    const json_t *now = json_object_get(run, "now_ms");
    if (!now) return;
    json_int_t ms = json_integer_value(now);
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};
    if (clock_settime(CLOCK_REALTIME, &ts) != 0)
        fprintf(stderr, "toolgate-guest: clock_settime: %s\n", strerror(errno));
}

/* The jail's defaults, with what the run frame's limits set instead. */
static tg_runner_limits worker_limits(const json_t *run)
{
    const json_t *limits = json_object_get(run, "limits");
    tg_runner_limits lim = TG_RUNNER_LIMITS_DEFAULT;
    const json_t *v;
    if ((v = json_object_get(limits, "cpu_seconds")))
        lim.cpu_seconds = (rlim_t)json_integer_value(v);
    if ((v = json_object_get(limits, "max_files"))) lim.max_files = (rlim_t)json_integer_value(v);
    if ((v = json_object_get(limits, "max_file_bytes")))
        lim.max_file_bytes = (rlim_t)json_integer_value(v);
    if ((v = json_object_get(limits, "max_pids"))) lim.max_pids = (rlim_t)json_integer_value(v);
    return lim;
}

/* Runs the call in a child that drops to the worker's uid, and reaps every
 * process that ends meanwhile (orphans come to PID 1) until that child ends. */
static void run_call(const json_t *run)
{
    tg_runner_limits lim = worker_limits(run);
    pid_t runner = fork();
    if (runner < 0) fail("fork");
    if (runner == 0) {
        signal(SIGPIPE, SIG_DFL);
        tg_runner_confine(WORKER_UID, &lim);
        tg_runner_run(run);
        _exit(0);
    }
    for (;;) {
        pid_t pid = wait(NULL);
        if (pid == runner || (pid < 0 && errno == ECHILD)) break;
    }
}

/* Ends and reaps every process but PID 1 after a setup run: nothing the
 * setup started may live on in the snapshot, and a worker's zombies would
 * count against the pid limit of every call started from it. */
static void end_setup(void)
{
    kill(-1, SIGKILL);
    while (wait(NULL) > 0 || errno == EINTR)
        ;
}

int main(void)
{
    if (getpid() != 1) {
        fprintf(stderr, "toolgate-guest: runs as the microVM's init only\n");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    build_root();
    /* The name a jailed worker sees too: nothing about the host. */
    if (sethostname("sandbox", 7) != 0) fail("sethostname");
    int port = open_port();
    tg_runner_init("toolgate-guest", port);
    send_ready(port);
    for (;;) {
        json_t *frame = NULL;
        tg_frame_type type;
        int rc = tg_frame_read(port, TG_FRAME_MAX, -1, &frame, &type);
        if (rc == TG_FRAME_OK && type == TG_FRAME_PING) {
            json_decref(frame);
            send_ready(port);
            continue;
        }
        /* An answer to an HTTP request a setup run stopped waiting for. */
        if (rc == TG_FRAME_OK && type == TG_FRAME_EGRESS_RESPONSE) {
            json_decref(frame);
            continue;
        }
        if (rc == TG_FRAME_OK && type == TG_FRAME_RUN) {
            reseed(frame);
            set_clock(frame);
            run_call(frame);
            bool setup = json_is_true(json_object_get(frame, "setup"));
            json_decref(frame);
            if (setup) {
                end_setup();
                continue;
            }
        } else if (rc == TG_FRAME_OK) {
            fprintf(stderr, "toolgate-guest: frame of type %d out of place\n", (int)type);
        } else if (rc != TG_FRAME_EOF) {
            fprintf(stderr, "toolgate-guest: bad frame from the host (%d)\n", rc);
        }
        power_off();
    }
}
