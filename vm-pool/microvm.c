/* The microvm driver: each sandbox is a QEMU `microvm` virtual machine with
 * its own Linux kernel, restored from a snapshot of a booted template VM.
 *
 * prepare() boots the template once from the guest image (scripts/
 * build-image.sh: Debian's kernel, an initramfs with toolgate-guest as PID 1
 * and the runtimes), waits for the guest's first "ready", and migrates it
 * into a device-state file. Its RAM is a shared file in /dev/shm, so with
 * QEMU's x-ignore-shared capability the snapshot holds device state only
 * (tens of KiB) and takes milliseconds. spawn() starts a clone that maps the
 * same file privately (copy-on-write: a clone pays only for the pages it
 * touches) and loads the device state with -incoming; the clone resumes
 * inside the guest's blocking read of its port, answers a "ping", and waits
 * for the run frame.
 *
 * Worker templates are snapshots of a setup clone: spawn_setup() copies the
 * template's memory file to tpl-<key>.memory.<n> and maps the copy shared,
 * so what the setup run leaves in the guest's /job lands in it; capture()
 * migrates that clone's device state to tpl-<key>.state and names the copy
 * tpl-<key>.memory. A template's two files change as a pair under files_mu,
 * and a clone holds them open from the start, so a template captured again
 * or dropped never changes a clone that runs.
 *
 * Whether KVM really runs a guest is learnt by booting the template under
 * KVM (a nested or paravirtual /dev/kvm may open and still fail to boot a
 * stock kernel); the answer is cached per image, QEMU and host kernel, and
 * TCG is used otherwise.
 *
 * Host and guest talk over a virtio-serial port whose QEMU end is one half
 * of a socketpair (QEMU's `-chardev socket,fd=`): no socket file exists that
 * anyone else could connect to, and the guest never sees its host end close
 * before the host took it. QMP reaches the template the same way.
 *
 * The host measures a sandbox's CPU time as its QEMU process's (every vCPU
 * and I/O thread, and under TCG the translation too): the guest kernel's
 * figures belong to the guest, which untrusted code may own.
 *
 * QEMU itself is the other boundary: it runs with no network device, no disk,
 * no option ROMs, its seccomp sandbox on, a CPU-time limit, and (when we are
 * root) as a uid of its own. */
#include "gateway/core/log.h"
#include "gateway/core/metrics.h"
#include "gateway/core/text.h"
#include "vm-pool/child.h"
#include "vm-pool/driver.h"
#include "vm-pool/frame.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gateway/core/alloc.h"

/* Template memory must be shared memory; its directory is named after our pid. */
#define SHM_DIR    "/dev/shm"
#define DIR_PREFIX "toolgate-vm-"

/* QEMU's own uid when we run as root: below the jail's sandbox uids, so no
 * sandbox shares an identity with any QEMU. */
#define VM_UID 199999u

/* The guest kernel with python and curl in its initramfs needs 232 MiB to
 * unpack it; below that the kernel drops the archive's last files and boots
 * anyway. */
#define VM_MEMORY_MIN_MB     248u
#define VM_MEMORY_DEFAULT_MB 256u

/* A stock kernel boots in ~5 s under TCG; a KVM that cannot run it hangs. */
#define BOOT_TIMEOUT_MS      60000
#define KVM_PROBE_TIMEOUT_MS 15000
#define QMP_TIMEOUT_MS       10000

/* Where the children find what we hand them: chan, qmp, state, kernel,
 * initrd, and a clone's memory file. */
enum { FD_CHAN = 3, FD_QMP, FD_STATE, FD_KERNEL, FD_INITRD, FD_MEMORY, FD_FIRST_FREE };

typedef struct vm_state {
    tg_driver_config cfg;
    char *qemu;
    char *image_dir;
    char *dir; /* private, in /dev/shm: the template's memory and device state */
    char *mem_path;
    char *state_path;
    unsigned memory_mb;
    unsigned tsc_khz;
    bool as_root; /* QEMU then drops to VM_UID */
    gid_t kvm_gid;
    bool kvm;
    char description[64];
    pthread_mutex_t mu; /* template */
    bool template_done;
    int template_rc;
    pthread_mutex_t files_mu; /* worker templates' files */
    unsigned long setups;     /* names each setup clone's memory copy */
} vm_state;

typedef struct qmp qmp;

struct tg_driver_sandbox {
    pid_t pid; /* QEMU */
    int sock;  /* our end of the guest's port */
    /* A setup clone's: QMP, the copy of memory its RAM lives in (until
     * capture names it), and the key it was spawned for. */
    qmp *qmp;
    char *memory;
    char key[TG_DRIVER_KEY_MAX + 1];
};

/* A log line that says it is the microvm driver's, formatted only when its
 * level is on. */
static void vm_log(tg_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void vm_log(tg_log_level level, const char *fmt, ...)
{
    if (level < tg_log_level_get()) return;
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    tg_vformat(text, sizeof text, fmt, ap);
    va_end(ap);
    tg_log(level, NULL, "microvm: %s", text);
}

/* ---- argv --------------------------------------------------------------- */

typedef struct argv_list {
    char **v;
    size_t n, cap;
} argv_list;

static void arg(argv_list *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void arg(argv_list *a, const char *fmt, ...)
{
    if (a->n + 2 > a->cap) {
        a->cap = a->cap ? 2 * a->cap : 48;
        a->v = tg_xrealloc(a->v, a->cap * sizeof *a->v);
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = tg_xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    a->v[a->n++] = s;
    a->v[a->n] = NULL;
}

static void argv_free(argv_list *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->v[i]);
    free(a->v);
}

/* The command line every VM of this driver shares. Template and clones must
 * describe the same machine, or the device state does not load; only where
 * its memory lives, and whether writes reach that file, differ. */
static void common_args(const vm_state *st, argv_list *a, const char *mem_path, bool share)
{
    arg(a, "%s", st->qemu);
    arg(a, "-M");
    arg(a, "microvm,x-option-roms=off,isa-serial=on,rtc=off,pit=off,pic=off,memory-backend=mem");
    arg(a, "-accel");
    arg(a, "%s", st->kvm ? "kvm" : "tcg");
    arg(a, "-cpu");
    arg(a, "%s", st->kvm ? "host" : "max");
    arg(a, "-smp");
    arg(a, "1");
    arg(a, "-m");
    arg(a, "%uM", st->memory_mb);
    arg(a, "-object");
    arg(a, "memory-backend-file,id=mem,size=%uM,mem-path=%s,share=%s", st->memory_mb, mem_path,
        share ? "on" : "off");
    arg(a, "-nodefaults");
    arg(a, "-no-user-config");
    arg(a, "-nographic");
    arg(a, "-no-reboot");
    arg(a, "-sandbox");
    arg(a, "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
    arg(a, "-device");
    arg(a, "virtio-serial-device");
    arg(a, "-chardev");
    arg(a, "socket,id=chan,fd=%d", FD_CHAN);
    arg(a, "-device");
    arg(a, "virtserialport,chardev=chan,name=toolgate");
    /* The kernel and initramfs are read through fw_cfg while the firmware
     * boots; a clone never boots, but its machine must carry the same. */
    arg(a, "-kernel");
    arg(a, "/proc/self/fd/%d", FD_KERNEL);
    arg(a, "-initrd");
    arg(a, "/proc/self/fd/%d", FD_INITRD);
    arg(a, "-append");
    if (st->kvm)
        arg(a, "console=ttyS0 quiet panic=-1 rdinit=/init toolgate.work_bytes=%" PRIu64,
            st->cfg.work_bytes);
    else
        /* Under TCG the kernel cannot calibrate the TSC and hangs trying. */
        arg(a,
            "console=ttyS0 quiet panic=-1 rdinit=/init tsc_early_khz=%u tsc=reliable"
            " toolgate.work_bytes=%" PRIu64,
            st->tsc_khz, st->cfg.work_bytes);
}

/* ---- starting QEMU ------------------------------------------------------ */

struct child_args {
    const char *qemu;
    char **argv;
    int fds[FD_FIRST_FREE]; /* fds[i] becomes descriptor i (3 and up), -1 for none */
    int devnull, log;
    bool drop;
    gid_t kvm_gid;
    rlim_t cpu;
};

/* Runs in the cloned child, which shares memory with the parent (CLONE_VM |
 * CLONE_VFORK): plain system calls only, until execve. Every source fd is
 * >= FD_FIRST_FREE, so no dup2 clobbers another. */
static int child(void *p)
{
    const struct child_args *a = p;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    struct rlimit cpu = {a->cpu, a->cpu + 5};
    struct rlimit core = {0, 0};
    if (setrlimit(RLIMIT_CPU, &cpu) != 0 || setrlimit(RLIMIT_CORE, &core) != 0) _exit(120);
    if (a->drop) {
        gid_t groups[1] = {a->kvm_gid};
        if (setgroups(a->kvm_gid ? 1 : 0, groups) != 0 || setresgid(VM_UID, VM_UID, VM_UID) != 0 ||
            setresuid(VM_UID, VM_UID, VM_UID) != 0)
            _exit(121);
        /* Credential changes clear the parent-death signal. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
    }
    if (dup2(a->devnull, 0) != 0 || dup2(a->devnull, 1) != 1 ||
        dup2(a->log >= 0 ? a->log : a->devnull, 2) != 2)
        _exit(122);
    for (int i = FD_CHAN; i < FD_FIRST_FREE; i++)
        if (a->fds[i] >= 0 && dup2(a->fds[i], i) != i) _exit(123);
    syscall(SYS_close_range, (unsigned)FD_FIRST_FREE, ~0u, 0u);
    tg_child_exec(a->qemu, a->argv);
    _exit(127);
}

/* Starts QEMU with fds[i] as descriptor i. Returns its pid or -1. */
static pid_t launch(const vm_state *st, argv_list *a, int fds[FD_FIRST_FREE], int log)
{
    struct child_args ca = {
        .qemu = st->qemu,
        .argv = a->v,
        .devnull = tg_child_fd_at_least(open("/dev/null", O_RDWR | O_CLOEXEC), FD_FIRST_FREE),
        .log = tg_child_fd_at_least(log, FD_FIRST_FREE),
        .drop = st->as_root,
        .kvm_gid = st->kvm_gid,
        /* The guest's own RLIMIT_CPU bounds the worker; this
         * bounds QEMU, which also spends time translating. */
        .cpu = (rlim_t)st->cfg.cpu_seconds * 2 + 30};
    for (int i = 0; i < FD_FIRST_FREE; i++)
        ca.fds[i] = fds[i] = tg_child_fd_at_least(fds[i], FD_FIRST_FREE);
    pid_t pid = -1;
    if (ca.devnull >= 0) {
        size_t stack_size = 64 * 1024;
        char *stack = tg_xmalloc(stack_size);
        pid = clone(child, stack + stack_size, CLONE_VM | CLONE_VFORK | SIGCHLD, &ca);
        free(stack);
        if (pid < 0) vm_log(TG_LOG_ERROR, "clone: %s", strerror(errno));
    }
    if (ca.devnull >= 0) close(ca.devnull);
    if (ca.log >= 0) close(ca.log);
    return pid;
}

static void reap(pid_t pid)
{
    if (pid <= 0) return;
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

static int64_t after_ms(int64_t ms)
{
    return tg_frame_now_ns() + ms * 1000000;
}

/* ---- QMP ---------------------------------------------------------------- */

struct qmp {
    int fd;
    char buf[65536];
    size_t len;
};

/* Reads one line of QMP output. Returns a new reference or NULL. */
static json_t *qmp_line(qmp *q, int64_t deadline)
{
    for (;;) {
        char *nl = memchr(q->buf, '\n', q->len);
        if (nl) {
            json_t *v = json_loadb(q->buf, (size_t)(nl - q->buf), 0, NULL);
            q->len -= (size_t)(nl + 1 - q->buf);
            memmove(q->buf, nl + 1, q->len);
            if (v) return v;
            continue;
        }
        if (q->len == sizeof q->buf) return NULL;
        int64_t left = deadline - tg_frame_now_ns();
        if (left <= 0) return NULL;
        struct pollfd p = {q->fd, POLLIN, 0};
        int n = poll(&p, 1, (int)(left / 1000000) + 1);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return NULL;
        ssize_t r = read(q->fd, q->buf + q->len, sizeof q->buf - q->len);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return NULL;
        q->len += (size_t)r;
    }
}

/* Sends one command (with pass_fd, if >= 0, as SCM_RIGHTS) and waits for its
 * answer, skipping events. Returns the "return" value (new reference) or NULL. */
static json_t *qmp_call(qmp *q, const char *cmd, json_t *args, int pass_fd, int64_t deadline)
{
    json_t *req = json_pack("{s:s}", "execute", cmd);
    if (args) json_object_set_new(req, "arguments", args);
    char *text = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    if (!text) return NULL;
    size_t len = strlen(text);
    text[len] = '\n';
    struct iovec iov = {text, len + 1};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } ctl;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    if (pass_fd >= 0) {
        memset(&ctl, 0, sizeof ctl);
        msg.msg_control = ctl.buf;
        msg.msg_controllen = sizeof ctl.buf;
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
    }
    /* QMP commands are short: one sendmsg carries them whole. */
    ssize_t sent = sendmsg(q->fd, &msg, MSG_NOSIGNAL);
    free(text);
    if (sent != (ssize_t)len + 1) return NULL;
    for (;;) {
        json_t *v = qmp_line(q, deadline);
        if (!v) return NULL;
        json_t *ret = json_object_get(v, "return");
        if (ret) {
            json_incref(ret);
            json_decref(v);
            return ret;
        }
        json_t *err = json_object_get(v, "error");
        if (err) {
            vm_log(TG_LOG_ERROR, "QMP %s: %s", cmd,
                   json_string_value(json_object_get(err, "desc")));
            json_decref(v);
            return NULL;
        }
        json_decref(v); /* an event */
    }
}

static bool qmp_ok(qmp *q, const char *cmd, json_t *args, int pass_fd, int64_t deadline)
{
    json_t *r = qmp_call(q, cmd, args, pass_fd, deadline);
    json_decref(r);
    return r != NULL;
}

/* Migrates the running VM behind q into a new file at path and waits until
 * that is complete; QEMU stops the VM at the end. Its RAM must be a shared
 * file: with x-ignore-shared only device state is written (tens of KiB), and
 * migrating a running guest is consistent, as that state is taken when QEMU
 * stops the VM. */
static bool save_state(qmp *q, const char *path, int64_t deadline)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        vm_log(TG_LOG_ERROR, "%s: %s", path, strerror(errno));
        return false;
    }
    bool ok = qmp_ok(q, "migrate-set-capabilities",
                     json_pack("{s:[{s:s, s:b}]}", "capabilities", "capability", "x-ignore-shared",
                               "state", 1),
                     -1, deadline) &&
              qmp_ok(q, "getfd", json_pack("{s:s}", "fdname", "state"), fd, deadline) &&
              qmp_ok(q, "migrate", json_pack("{s:s}", "uri", "fd:state"), -1, deadline);
    while (ok) {
        json_t *r = qmp_call(q, "query-migrate", NULL, -1, deadline);
        const char *status = json_string_value(json_object_get(r, "status"));
        bool done = status && strcmp(status, "completed") == 0;
        ok = status && strcmp(status, "failed") != 0 && strcmp(status, "cancelled") != 0;
        json_decref(r);
        if (done) break;
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    close(fd);
    if (!ok) unlink(path);
    return ok;
}

/* ---- the template ------------------------------------------------------- */

static int open_image_file(const vm_state *st, const char *name)
{
    char *path = tg_xasprintf("%s/%s", st->image_dir, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) vm_log(TG_LOG_ERROR, "%s: %s", path, strerror(errno));
    free(path);
    return fd;
}

/* Waits for the guest's "ready" on sock, and takes the bytes its /job holds
 * into *job_bytes (when not NULL; -1 if it did not say). */
static bool guest_ready(int sock, int64_t deadline, json_int_t *job_bytes)
{
    json_t *f = NULL;
    tg_frame_type type;
    bool ok = tg_frame_read(sock, 4096, deadline, &f, &type) == 0 && type == TG_FRAME_READY;
    if (ok && job_bytes) {
        const json_t *v = json_object_get(f, "job_bytes");
        *job_bytes = json_is_integer(v) ? json_integer_value(v) : -1;
    }
    json_decref(f);
    return ok;
}

/* Sends a "ping" on sock and waits for the guest's "ready" (guest_ready). */
static bool ping(int sock, int64_t deadline, json_int_t *job_bytes)
{
    json_t *f = json_pack("{s:s}", "type", "ping");
    bool ok = tg_frame_write(sock, f, deadline) == 0 && guest_ready(sock, deadline, job_bytes);
    json_decref(f);
    return ok;
}

/* Boots the template and saves its device state into st->state_path.
 * Returns 0, or TG_DRIVER_ESPAWN when the guest did not come up in time. */
static int boot_template(vm_state *st, int timeout_ms)
{
    int chan[2] = {-1, -1}, mon[2] = {-1, -1};
    int fds[FD_FIRST_FREE];
    for (int i = 0; i < FD_FIRST_FREE; i++)
        fds[i] = -1;
    char *tmp = tg_xasprintf("%s.tmp", st->state_path);
    char *log_path = tg_xasprintf("%s/template.log", st->dir);
    int rc = TG_DRIVER_ESYS;
    pid_t pid = -1;
    argv_list a = {0};
    unlink(st->mem_path);
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, chan) != 0 ||
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, mon) != 0)
        goto out;
    fds[FD_KERNEL] = open_image_file(st, "vmlinux");
    fds[FD_INITRD] = open_image_file(st, "initramfs.cpio");
    int log = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fds[FD_KERNEL] < 0 || fds[FD_INITRD] < 0) {
        if (log >= 0) close(log);
        goto out;
    }
    fds[FD_CHAN] = chan[1];
    fds[FD_QMP] = mon[1];
    chan[1] = mon[1] = -1;
    common_args(st, &a, st->mem_path, true);
    arg(&a, "-chardev");
    arg(&a, "socket,id=qmp,fd=%d", FD_QMP);
    arg(&a, "-mon");
    arg(&a, "chardev=qmp,mode=control");
    arg(&a, "-serial");
    arg(&a, "file:%s/template.console", st->dir);
    pid = launch(st, &a, fds, log);
    if (pid < 0) goto out;

    rc = TG_DRIVER_ESPAWN;
    if (!guest_ready(chan[0], after_ms(timeout_ms), NULL)) goto out;

    qmp q = {.fd = mon[0]};
    int64_t deadline = after_ms(QMP_TIMEOUT_MS);
    json_t *greeting = qmp_line(&q, deadline);
    json_decref(greeting);
    if (!greeting || !qmp_ok(&q, "qmp_capabilities", NULL, -1, deadline) ||
        !save_state(&q, tmp, deadline))
        goto out;
    if (rename(tmp, st->state_path) != 0) {
        rc = TG_DRIVER_ESYS;
        goto out;
    }
    rc = 0;
out:
    reap(pid);
    if (rc != 0 && pid > 0) {
        /* The files go with the driver; what QEMU said goes into the log. */
        char said[512] = "";
        int fd = open(log_path, O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? pread(fd, said, sizeof said - 1, 0) : -1;
        if (fd >= 0) close(fd);
        said[n > 0 ? n : 0] = '\0';
        said[strcspn(said, "\n")] = '\0';
        vm_log(TG_LOG_WARN, "the template VM did not come up under %s within %d ms%s%s",
               st->kvm ? "KVM" : "TCG", timeout_ms, said[0] ? ": QEMU says " : "", said);
    }
    for (int i = 0; i < FD_FIRST_FREE; i++)
        if (fds[i] >= 0) close(fds[i]);
    for (int i = 0; i < 2; i++) {
        if (chan[i] >= 0) close(chan[i]);
        if (mon[i] >= 0) close(mon[i]);
    }
    if (rc != 0) unlink(tmp);
    argv_free(&a);
    free(tmp);
    free(log_path);
    return rc;
}

/* ---- the KVM probe ------------------------------------------------------ */

/* The cache directory scripts/build-image.sh uses too. */
static char *cache_dir(void)
{
    const char *env = getenv("TOOLGATE_CACHE_DIR");
    if (env && *env) return tg_xstrdup(env);
    const char *xdg = getenv("XDG_CACHE_HOME");
    if (xdg && *xdg) return tg_xasprintf("%s/toolgate", xdg);
    const char *home = getenv("HOME");
    return home && *home ? tg_xasprintf("%s/.cache/toolgate", home) : NULL;
}

/* What the probe's answer depends on: the guest kernel, QEMU and the host
 * kernel; not the rest of the image, which every build of the guest agent
 * changes. */
static char *probe_key(const vm_state *st)
{
    char *image = tg_xasprintf("%s/image.json", st->image_dir);
    json_t *meta = json_load_file(image, 0, NULL);
    free(image);
    struct stat qs;
    struct utsname u;
    if (!meta || stat(st->qemu, &qs) != 0 || uname(&u) != 0) {
        json_decref(meta);
        return NULL;
    }
    const char *kernel = json_string_value(json_object_get(meta, "kernel"));
    const char *package = json_string_value(json_object_get(meta, "kernel_package"));
    char *key = tg_xasprintf("%s/%s %s %lld.%ld %s %s", kernel ? kernel : "-",
                             package ? package : "-", st->qemu, (long long)qs.st_mtim.tv_sec,
                             qs.st_mtim.tv_nsec, u.release, u.version);
    json_decref(meta);
    return key;
}

/* Returns 1 (KVM boots the guest), 0 (it does not) or -1 (not known yet). */
static int probe_cached(const char *file, const char *key)
{
    FILE *f = file ? fopen(file, "re") : NULL;
    if (!f) return -1;
    char line[1024];
    int answer = -1;
    if (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char *sp = strrchr(line, ' ');
        if (sp && (size_t)(sp - line) == strlen(key) && strncmp(line, key, strlen(key)) == 0)
            answer = strcmp(sp + 1, "yes") == 0 ? 1 : strcmp(sp + 1, "no") == 0 ? 0 : -1;
    }
    fclose(f);
    return answer;
}

static void probe_store(const char *file, const char *key, bool works)
{
    if (!file) return;
    char *tmp = tg_xasprintf("%s.%ld", file, (long)getpid());
    FILE *f = fopen(tmp, "we");
    if (f) {
        fprintf(f, "%s %s\n", key, works ? "yes" : "no");
        if (fclose(f) == 0 && rename(tmp, file) == 0) {
            free(tmp);
            return;
        }
    }
    unlink(tmp);
    free(tmp);
}

/* Decides between KVM and TCG and leaves the template booted either way. */
static int boot_with_probe(vm_state *st)
{
    const char *accel = st->cfg.accel ? st->cfg.accel : "auto";
    bool kvm_openable = access("/dev/kvm", R_OK | W_OK) == 0;
    if (strcmp(accel, "tcg") == 0 || !kvm_openable) {
        if (strcmp(accel, "kvm") == 0) {
            vm_log(TG_LOG_ERROR, "KVM was asked for, but /dev/kvm cannot be opened");
            return TG_DRIVER_ENOTSUP;
        }
        st->kvm = false;
        return boot_template(st, BOOT_TIMEOUT_MS);
    }
    char *dir = cache_dir();
    char *file = NULL;
    char *key = probe_key(st);
    /* One file per key, so hosts that run several QEMUs or kernels keep
     * each answer. */
    if (key && dir && (mkdir(dir, 0755) == 0 || errno == EEXIST)) {
        uint64_t h = 1469598103934665603ull;
        for (const char *p = key; *p; p++)
            h = (h ^ (unsigned char)*p) * 1099511628211ull;
        file = tg_xasprintf("%s/kvm-probe-%016" PRIx64, dir, h);
    }
    int known = key ? probe_cached(file, key) : -1;
    int rc;
    if (known != 0) {
        st->kvm = true;
        rc = boot_template(st, known == 1 ? BOOT_TIMEOUT_MS : KVM_PROBE_TIMEOUT_MS);
        if (key && known == -1) probe_store(file, key, rc == 0);
        if (rc == 0 || strcmp(accel, "kvm") == 0) goto out;
        vm_log(TG_LOG_WARN, "KVM cannot boot the guest here; using TCG (software emulation)");
    }
    st->kvm = false;
    rc = strcmp(accel, "kvm") == 0 ? TG_DRIVER_ENOTSUP : boot_template(st, BOOT_TIMEOUT_MS);
out:
    free(dir);
    free(file);
    free(key);
    return rc;
}

/* ---- the driver --------------------------------------------------------- */

static char *find_qemu(void)
{
    const char *path = getenv("PATH");
    if (!path || !*path) path = "/usr/bin:/bin";
    for (const char *p = path; *p;) {
        size_t n = strcspn(p, ":");
        char *cand = tg_xasprintf("%.*s/qemu-system-x86_64", (int)n, p);
        if (n && access(cand, X_OK) == 0) return cand;
        free(cand);
        p += n + (p[n] == ':');
    }
    return NULL;
}

/* The host's TSC rate, which a TCG guest sees: "cpu MHz" of /proc/cpuinfo. */
static unsigned host_tsc_khz(void)
{
    FILE *f = fopen("/proc/cpuinfo", "re");
    if (!f) return 2000000;
    char line[256];
    double mhz = 0;
    while (mhz <= 0 && fgets(line, sizeof line, f))
        if (strncmp(line, "cpu MHz", 7) == 0) {
            const char *colon = strchr(line, ':');
            if (colon) mhz = strtod(colon + 1, NULL);
        }
    fclose(f);
    return mhz > 0 ? (unsigned)(mhz * 1000) : 2000000;
}

/* Removes a template directory and every file in it: the template's, and
 * the worker templates' and setup clones' (tpl-*). It holds nothing else. */
static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) unlinkat(dirfd(d), e->d_name, 0);
        closedir(d);
    }
    rmdir(dir);
}

/* Removes what a crashed daemon left in /dev/shm: directories named after
 * a pid that no longer runs. Each holds a whole guest's memory. */
static void sweep(void)
{
    DIR *d = opendir(SHM_DIR);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        unsigned long pid;
        char rest[16];
        if (sscanf(e->d_name, DIR_PREFIX "%lu-%15s", &pid, rest) != 2) continue;
        if ((pid_t)pid == getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        char *path = tg_xasprintf(SHM_DIR "/%s", e->d_name);
        remove_dir(path);
        free(path);
    }
    closedir(d);
}

static void vm_close(void *state)
{
    vm_state *st = state;
    if (!st) return;
    if (st->dir) remove_dir(st->dir);
    pthread_mutex_destroy(&st->mu);
    pthread_mutex_destroy(&st->files_mu);
    free(st->qemu);
    free(st->image_dir);
    free(st->dir);
    free(st->mem_path);
    free(st->state_path);
    free(st);
}

static int vm_open(const tg_driver_config *cfg, void **out)
{
    *out = NULL;
    if (!cfg->image_dir) return TG_DRIVER_EINVAL;
    char *qemu = find_qemu();
    if (!qemu) {
        vm_log(TG_LOG_WARN, "qemu-system-x86_64 is not installed");
        return TG_DRIVER_ENOTSUP;
    }
    char *kernel = tg_xasprintf("%s/vmlinux", cfg->image_dir);
    char *initrd = tg_xasprintf("%s/initramfs.cpio", cfg->image_dir);
    bool have_image = access(kernel, R_OK) == 0 && access(initrd, R_OK) == 0;
    free(kernel);
    free(initrd);
    if (!have_image) {
        vm_log(TG_LOG_WARN, "no guest image in %s (toolgate image build)", cfg->image_dir);
        free(qemu);
        return TG_DRIVER_ENOTSUP;
    }
    uint64_t mb = cfg->memory_bytes ? cfg->memory_bytes >> 20 : VM_MEMORY_DEFAULT_MB;
    if (mb < VM_MEMORY_MIN_MB || mb > 65536) {
        vm_log(TG_LOG_ERROR, "guest memory must be %u MiB to 64 GiB (got %" PRIu64 " MiB)",
               VM_MEMORY_MIN_MB, mb);
        free(qemu);
        return TG_DRIVER_EINVAL;
    }

    vm_state *st = tg_xcalloc(1, sizeof *st);
    st->cfg = *cfg;
    st->cfg.agent_path = NULL;
    st->cfg.image_dir = NULL;
    st->cfg.accel = NULL;
    if (cfg->accel) {
        if (strcmp(cfg->accel, "auto") && strcmp(cfg->accel, "kvm") && strcmp(cfg->accel, "tcg")) {
            free(qemu);
            free(st);
            return TG_DRIVER_EINVAL;
        }
        st->cfg.accel = cfg->accel[0] == 'k' ? "kvm" : cfg->accel[0] == 't' ? "tcg" : "auto";
    }
    if (!st->cfg.work_bytes) st->cfg.work_bytes = 64u << 20;
    if (!st->cfg.cpu_seconds) st->cfg.cpu_seconds = 60;
    if (!st->cfg.spawn_timeout_ms) st->cfg.spawn_timeout_ms = 10000;
    if (!st->cfg.template_bytes) st->cfg.template_bytes = 256u << 20;
    st->qemu = qemu;
    st->image_dir = tg_xstrdup(cfg->image_dir);
    st->memory_mb = (unsigned)mb;
    st->tsc_khz = host_tsc_khz();
    st->as_root = geteuid() == 0;
    struct group *kvm = getgrnam("kvm");
    st->kvm_gid = kvm ? kvm->gr_gid : 0;
    pthread_mutex_init(&st->mu, NULL);
    pthread_mutex_init(&st->files_mu, NULL);

    sweep();
    char tmpl[64];
    snprintf(tmpl, sizeof tmpl, SHM_DIR "/" DIR_PREFIX "%ld-XXXXXX", (long)getpid());
    char *dir = mkdtemp(tmpl);
    if (!dir || (st->as_root && chown(dir, VM_UID, VM_UID) != 0)) {
        vm_log(TG_LOG_ERROR, "%s: %s", tmpl, strerror(errno));
        if (dir) rmdir(dir);
        vm_close(st);
        return TG_DRIVER_ESYS;
    }
    st->dir = tg_xstrdup(dir);
    st->mem_path = tg_xasprintf("%s/memory", st->dir);
    st->state_path = tg_xasprintf("%s/state", st->dir);
    *out = st;
    return 0;
}

static int vm_prepare(void *state, const char *runtime)
{
    vm_state *st = state;
    if (strcmp(runtime, "sh") && strcmp(runtime, "python3") && strcmp(runtime, "exec"))
        return TG_DRIVER_EINVAL;
    /* One image carries every runtime, so one template serves them all. */
    pthread_mutex_lock(&st->mu);
    if (!st->template_done) {
        int64_t t0 = tg_frame_now_ns();
        st->template_rc = boot_with_probe(st);
        st->template_done = true;
        if (st->template_rc == 0) {
            /* The one cold boot: every sandbox after it is a restore. */
            tg_metrics_observe(tg_metrics_get(TG_METRIC_SANDBOX_START),
                               (const char *const[]){runtime, "boot"},
                               (double)(tg_frame_now_ns() - t0) / 1e9);
            snprintf(st->description, sizeof st->description, "microvm (%s)",
                     st->kvm ? "KVM" : "TCG");
            vm_log(TG_LOG_INFO, "template booted under %s in %" PRId64 " ms",
                   st->kvm ? "KVM" : "TCG (software emulation)",
                   (tg_frame_now_ns() - t0) / 1000000);
        }
    }
    int rc = st->template_rc;
    pthread_mutex_unlock(&st->mu);
    return rc;
}

static void vm_destroy(tg_driver_sandbox *sb)
{
    if (!sb) return;
    reap(sb->pid);
    if (sb->sock >= 0) close(sb->sock);
    if (sb->qmp) close(sb->qmp->fd);
    if (sb->memory) unlink(sb->memory);
    free(sb->qmp);
    free(sb->memory);
    free(sb);
}

/* Starts a clone of a snapshot: QEMU maps the memory file memory, shared
 * when share (a setup clone, whose guest's writes must land in it) and
 * privately otherwise, loads the device state from state, and the guest
 * answers a ping. Steals memory and state (descriptors). The sandbox keeps
 * its QMP connection when keep_qmp. */
static int start_clone(vm_state *st, int memory, int state, bool share, bool keep_qmp,
                       tg_driver_sandbox **out)
{
    int chan[2] = {-1, -1}, mon[2] = {-1, -1};
    int fds[FD_FIRST_FREE];
    for (int i = 0; i < FD_FIRST_FREE; i++)
        fds[i] = -1;
    fds[FD_MEMORY] = memory;
    fds[FD_STATE] = state;
    tg_driver_sandbox *sb = tg_xcalloc(1, sizeof *sb);
    sb->sock = -1;
    qmp *q = tg_xcalloc(1, sizeof *q);
    q->fd = -1;
    int rc = TG_DRIVER_ESYS;
    argv_list a = {0};
    if (memory < 0 || state < 0) goto out;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, chan) != 0) goto out;
    fds[FD_KERNEL] = open_image_file(st, "vmlinux");
    fds[FD_INITRD] = open_image_file(st, "initramfs.cpio");
    if (fds[FD_KERNEL] < 0 || fds[FD_INITRD] < 0) goto out;
    fds[FD_CHAN] = chan[1];
    chan[1] = -1;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, mon) != 0) goto out;
    fds[FD_QMP] = mon[1];
    mon[1] = -1;
    /* QEMU reopens the file we opened: a template captured again meanwhile
     * cannot give the clone memory and device state of two different runs. */
    char mem_path[32];
    snprintf(mem_path, sizeof mem_path, "/proc/self/fd/%d", FD_MEMORY);
    common_args(st, &a, mem_path, share);
    arg(&a, "-serial");
    arg(&a, "null");
    arg(&a, "-chardev");
    arg(&a, "socket,id=qmp,fd=%d", FD_QMP);
    arg(&a, "-mon");
    arg(&a, "chardev=qmp,mode=control");
    /* x-ignore-shared must be on before the stream is read, so the stream
     * waits for QMP ("defer"). */
    arg(&a, "-incoming");
    arg(&a, "defer");
    /* QEMU says nothing unless something is wrong: that goes to our log. */
    sb->pid = launch(st, &a, fds, fcntl(2, F_DUPFD_CLOEXEC, FD_FIRST_FREE));
    if (sb->pid < 0) goto out;
    sb->sock = chan[0];
    chan[0] = -1;
    q->fd = mon[0];
    mon[0] = -1;

    /* The template was running when it was saved, so the clone runs as soon
     * as its state is loaded. */
    int64_t deadline = after_ms(st->cfg.spawn_timeout_ms);
    json_t *greeting = qmp_line(q, deadline);
    json_decref(greeting);
    char state_uri[16];
    snprintf(state_uri, sizeof state_uri, "fd:%d", FD_STATE);
    rc = TG_DRIVER_ESPAWN;
    if (!greeting || !qmp_ok(q, "qmp_capabilities", NULL, -1, deadline) ||
        !qmp_ok(q, "migrate-set-capabilities",
                json_pack("{s:[{s:s, s:b}]}", "capabilities", "capability", "x-ignore-shared",
                          "state", 1),
                -1, deadline) ||
        !qmp_ok(q, "migrate-incoming", json_pack("{s:s}", "uri", state_uri), -1, deadline))
        goto out;

    /* The guest resumes inside its read of the port: a ping proves it runs
     * and that its channel reaches us. */
    if (!ping(sb->sock, deadline, NULL)) goto out;
    if (keep_qmp) {
        sb->qmp = q;
        q = NULL;
    }
    *out = sb;
    sb = NULL;
    rc = 0;
out:
    for (int i = 0; i < FD_FIRST_FREE; i++)
        if (fds[i] >= 0) close(fds[i]);
    for (int i = 0; i < 2; i++) {
        if (chan[i] >= 0) close(chan[i]);
        if (mon[i] >= 0) close(mon[i]);
    }
    if (q && q->fd >= 0) close(q->fd);
    free(q);
    argv_free(&a);
    vm_destroy(sb);
    return rc;
}

/* Template keys name files: [0-9a-f]{1,64}. */
static bool valid_key(const char *key)
{
    size_t n = key ? strlen(key) : 0;
    return n >= 1 && n <= TG_DRIVER_KEY_MAX && strspn(key, "0123456789abcdef") == n;
}

/* Returns: new string, the path of worker template key's file suffix. */
static char *key_path(const vm_state *st, const char *key, const char *suffix)
{
    return tg_xasprintf("%s/tpl-%s.%s", st->dir, key, suffix);
}

static int vm_spawn(void *state, const char *runtime, const char *tmpl, tg_driver_sandbox **out)
{
    vm_state *st = state;
    (void)runtime; /* every VM carries every runtime; the run frame picks one */
    *out = NULL;
    if (tmpl && !valid_key(tmpl)) return TG_DRIVER_EINVAL;
    if (vm_prepare(st, runtime) != 0) return TG_DRIVER_ESPAWN;
    if (!tmpl)
        return start_clone(st, open(st->mem_path, O_RDONLY | O_CLOEXEC),
                           open(st->state_path, O_RDONLY | O_CLOEXEC), false, false, out);
    char *mem_path = key_path(st, tmpl, "memory");
    char *state_path = key_path(st, tmpl, "state");
    pthread_mutex_lock(&st->files_mu);
    int memory = open(mem_path, O_RDONLY | O_CLOEXEC);
    int saved = open(state_path, O_RDONLY | O_CLOEXEC);
    pthread_mutex_unlock(&st->files_mu);
    free(mem_path);
    free(state_path);
    if (memory < 0 || saved < 0) {
        int rc = errno == ENOENT ? TG_DRIVER_EINVAL : TG_DRIVER_ESYS;
        if (memory >= 0) close(memory);
        if (saved >= 0) close(saved);
        return rc;
    }
    return start_clone(st, memory, saved, false, false, out);
}

/* Copies the file at from into a new file at to, owned alike: only its data,
 * so holes (guest memory never touched) stay holes. Returns the new file's
 * descriptor, or -1. */
static int copy_sparse(const char *from, const char *to)
{
    int src = open(from, O_RDONLY | O_CLOEXEC);
    int dst = open(to, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    struct stat sst;
    bool ok = src >= 0 && dst >= 0 && fstat(src, &sst) == 0 &&
              fchown(dst, sst.st_uid, sst.st_gid) == 0 && ftruncate(dst, sst.st_size) == 0;
    for (off_t at = 0; ok;) {
        off_t data = lseek(src, at, SEEK_DATA);
        if (data < 0) {
            ok = errno == ENXIO; /* no data after at */
            break;
        }
        off_t hole = lseek(src, data, SEEK_HOLE);
        ok = hole > data;
        for (off_t pos = data; ok && pos < hole;) {
            off_t to_pos = pos;
            ok = copy_file_range(src, &pos, dst, &to_pos, (size_t)(hole - pos), 0) > 0;
        }
        at = hole;
    }
    if (!ok) vm_log(TG_LOG_ERROR, "copying %s: %s", from, strerror(errno));
    if (src >= 0) close(src);
    if (!ok && dst >= 0) {
        close(dst);
        unlink(to);
        dst = -1;
    }
    return dst;
}

static int vm_spawn_setup(void *state, const char *runtime, const char *key,
                          tg_driver_sandbox **out)
{
    vm_state *st = state;
    *out = NULL;
    if (!valid_key(key)) return TG_DRIVER_EINVAL;
    if (vm_prepare(st, runtime) != 0) return TG_DRIVER_ESPAWN;
    pthread_mutex_lock(&st->files_mu);
    unsigned long n = ++st->setups;
    pthread_mutex_unlock(&st->files_mu);
    /* A copy of its own: the template's file stays as every clone maps it,
     * and the key's current files stay as its running clones map them. */
    char *copy = tg_xasprintf("%s/tpl-%s.memory.%lu", st->dir, key, n);
    int memory = copy_sparse(st->mem_path, copy);
    if (memory < 0) {
        free(copy);
        return TG_DRIVER_ESYS;
    }
    int rc = start_clone(st, memory, open(st->state_path, O_RDONLY | O_CLOEXEC), true, true, out);
    if (rc != 0) {
        unlink(copy);
        free(copy);
        return rc;
    }
    (*out)->memory = copy;
    snprintf((*out)->key, sizeof(*out)->key, "%s", key);
    return 0;
}

/* The setup run has sent its result; its guest's PID 1 ends what the setup
 * left running and reads the port again. Once it has answered a ping it is
 * in that read, where every clone of the snapshot resumes. The size of /job
 * it reports is the guest's word: a worker that took over the guest kernel
 * could understate it, but no template outgrows the VM's memory. */
static int vm_capture(void *state, tg_driver_sandbox *sb, const char *key)
{
    vm_state *st = state;
    if (!sb->qmp || !sb->memory || !valid_key(key) || strcmp(sb->key, key) != 0)
        return TG_DRIVER_EINVAL;
    int64_t t0 = tg_frame_now_ns();
    int64_t deadline = after_ms(QMP_TIMEOUT_MS);
    char *mem_path = key_path(st, key, "memory");
    char *state_path = key_path(st, key, "state");
    char *tmp = key_path(st, key, "state.tmp");
    int rc = TG_DRIVER_ESPAWN;
    json_int_t job_bytes = -1;
    if (!ping(sb->sock, deadline, &job_bytes)) goto out;
    if (job_bytes < 0 || (uint64_t)job_bytes > st->cfg.template_bytes) {
        vm_log(TG_LOG_WARN,
               "template %.12s: /job holds %" JSON_INTEGER_FORMAT " bytes, more than %" PRIu64, key,
               job_bytes, st->cfg.template_bytes);
        rc = TG_DRIVER_EINVAL;
        goto out;
    }
    if (!save_state(sb->qmp, tmp, deadline)) goto out;
    /* Renamed over the files of an earlier capture: clones of that one keep
     * the files they opened. Should the second rename fail, the key goes
     * rather than pair this memory with another run's device state. */
    rc = TG_DRIVER_ESYS;
    pthread_mutex_lock(&st->files_mu);
    bool named = rename(sb->memory, mem_path) == 0;
    if (named && rename(tmp, state_path) != 0) {
        vm_log(TG_LOG_ERROR, "%s: %s", state_path, strerror(errno));
        unlink(mem_path);
        unlink(state_path);
        named = false;
    }
    pthread_mutex_unlock(&st->files_mu);
    if (!named) goto out;
    free(sb->memory);
    sb->memory = NULL;
    struct stat mst;
    if (stat(mem_path, &mst) == 0)
        vm_log(TG_LOG_INFO, "template %.12s captured in %" PRId64 " ms (%lld MiB of memory)", key,
               (tg_frame_now_ns() - t0) / 1000000, (long long)mst.st_blocks / 2048);
    rc = 0;
out:
    unlink(tmp);
    free(mem_path);
    free(state_path);
    free(tmp);
    return rc;
}

static void vm_drop(void *state, const char *key)
{
    vm_state *st = state;
    if (!valid_key(key)) return;
    char *mem_path = key_path(st, key, "memory");
    char *state_path = key_path(st, key, "state");
    pthread_mutex_lock(&st->files_mu);
    unlink(mem_path);
    unlink(state_path);
    pthread_mutex_unlock(&st->files_mu);
    free(mem_path);
    free(state_path);
}

static int vm_channel(tg_driver_sandbox *sb)
{
    return sb->sock;
}

static void vm_kill(tg_driver_sandbox *sb)
{
    if (sb->pid > 0) kill(sb->pid, SIGKILL);
}

/* QEMU's user + system time from /proc/<pid>/stat. The pid stays ours until
 * destroy() reaps it, so after kill() this reads the zombie's final figure. */
static int64_t vm_cpu_usage_us(tg_driver_sandbox *sb)
{
    if (sb->pid <= 0) return -1;
    char path[32], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)sb->pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf - 1)) < 0 && errno == EINTR)
        ;
    close(fd);
    if (n <= 0) return -1;
    buf[n] = '\0';
    /* "pid (comm) state ppid ...": comm may hold spaces and parentheses, so
     * fields are counted from the last ')'. utime and stime are fields 14
     * and 15, the 12th and 13th after it. */
    char *p = strrchr(buf, ')');
    unsigned long long utime = 0, stime = 0;
    if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
                     &stime) != 2)
        return -1;
    long hz = sysconf(_SC_CLK_TCK);
    if (hz <= 0) return -1;
    return (int64_t)((utime + stime) * 1000000ull / (unsigned long long)hz);
}

static const char *vm_describe(void *state)
{
    vm_state *st = state;
    return st->description[0] ? st->description : "microvm";
}

const tg_driver tg_microvm_driver = {
    .name = "microvm",
    .spawn_kind = "restore",
    .open = vm_open,
    .prepare = vm_prepare,
    .spawn = vm_spawn,
    .spawn_setup = vm_spawn_setup,
    .capture = vm_capture,
    .drop = vm_drop,
    .channel = vm_channel,
    .kill = vm_kill,
    .destroy = vm_destroy,
    .cpu_usage_us = vm_cpu_usage_us,
    .describe = vm_describe,
    .close = vm_close,
};
