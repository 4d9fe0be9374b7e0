/* The worker-running code both sandbox agents share (see runner.h).
 *
 * It runs in a process that is already confined (tg_runner_confine): the
 * worker inherits that confinement, and the runner itself parses the
 * worker's output under the same filter. Linked statically into both agents,
 * so it uses only libc, libseccomp, jansson, frame.c and proxy.c.
 *
 * During a run the channel carries frames both ways: the runner's frames up,
 * and the host's answers to the worker's HTTP requests (egress_response)
 * down. The runner reads the channel whenever it is readable, also while it
 * waits to write, so that it never blocks on a write while the host blocks
 * writing an answer to it. */
#include "vm-pool/agent/runner.h"

#include "vm-pool/agent/proxy.h"
#include "vm-pool/frame.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <grp.h>

#define CHUNK       65536
#define EVENT_MAX   65536
#define STDERR_TAIL 4096

static const char *prog_name = "toolgate-runner";
static int chan_fd = -1;

/* The host's frames during a run, read a piece at a time. */
static struct {
    bool active; /* a run is under way: read the channel while writing */
    bool dead;   /* it ended, failed, or sent a prefix over TG_FRAME_MAX */
    unsigned char hdr[4];
    size_t hdr_got;
    unsigned char *body;
    size_t len, got;
} chan_in;
/* The run's egress proxy, which the host's answers go to. */
static tg_proxy *proxy;

void tg_runner_init(const char *prog, int fd)
{
    prog_name = prog;
    chan_fd = fd;
}

_Noreturn void tg_runner_die(const char *what)
{
    fprintf(stderr, "%s: %s: %s\n", prog_name, what, strerror(errno));
    _exit(1);
}

int tg_runner_loopback_up(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
    int rc = ioctl(fd, SIOCGIFFLAGS, &ifr);
    if (rc == 0 && !(ifr.ifr_flags & IFF_UP)) {
        ifr.ifr_flags |= IFF_UP;
        rc = ioctl(fd, SIOCSIFFLAGS, &ifr);
    }
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

static void set_limit(int resource, rlim_t v)
{
    struct rlimit r = {v, v};
    if (setrlimit(resource, &r) != 0) tg_runner_die("setrlimit");
}

static void drop_privileges(unsigned uid)
{
    for (int cap = 0; cap <= CAP_LAST_CAP; cap++)
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL)
            tg_runner_die("drop capability bound");
    if (setgroups(0, NULL) != 0 || setresgid(uid, uid, uid) != 0 || setresuid(uid, uid, uid) != 0)
        tg_runner_die("setuid");
    /* Leaving uid 0 cleared every capability; check rather than trust it. */
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    if (syscall(SYS_capget, &hdr, data) != 0 || data[0].effective || data[0].permitted ||
        data[1].effective || data[1].permitted)
        tg_runner_die("capabilities remain");
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) tg_runner_die("no_new_privs");
    /* Credential changes clear the parent-death signal; set it again. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
}

/* SCMP_A0 with every field named, which clang's -Wmissing-field-initializers wants. */
static struct scmp_arg_cmp arg0(enum scmp_compare op, scmp_datum_t a, scmp_datum_t b)
{
    return (struct scmp_arg_cmp){.arg = 0, .op = op, .datum_a = a, .datum_b = b};
}

static void load_seccomp(void)
{
    static const int deny[] = {
        SCMP_SYS(ptrace),
        SCMP_SYS(mount),
        SCMP_SYS(umount2),
        SCMP_SYS(pivot_root),
        SCMP_SYS(kexec_load),
        SCMP_SYS(kexec_file_load),
        SCMP_SYS(bpf),
        SCMP_SYS(keyctl),
        SCMP_SYS(add_key),
        SCMP_SYS(request_key),
        SCMP_SYS(perf_event_open),
        SCMP_SYS(init_module),
        SCMP_SYS(finit_module),
        SCMP_SYS(delete_module),
        SCMP_SYS(unshare),
        SCMP_SYS(setns),
        SCMP_SYS(swapon),
        SCMP_SYS(swapoff),
        SCMP_SYS(reboot),
        SCMP_SYS(open_by_handle_at),
        SCMP_SYS(userfaultfd),
        SCMP_SYS(process_vm_readv),
        SCMP_SYS(process_vm_writev),
        SCMP_SYS(chroot),
        SCMP_SYS(acct),
        SCMP_SYS(settimeofday),
        SCMP_SYS(clock_settime),
        SCMP_SYS(name_to_handle_at),
        SCMP_SYS(fsopen),
        SCMP_SYS(fsmount),
        SCMP_SYS(move_mount),
        SCMP_SYS(open_tree),
        SCMP_SYS(quotactl),
        /* io_uring performs operations (even socket creation) this filter never sees. */
        SCMP_SYS(io_uring_setup),
        SCMP_SYS(io_uring_enter),
        SCMP_SYS(io_uring_register),
    };
    static const unsigned long ns_flags[] = {CLONE_NEWUSER,  CLONE_NEWNS,  CLONE_NEWPID,
                                             CLONE_NEWNET,   CLONE_NEWIPC, CLONE_NEWUTS,
                                             CLONE_NEWCGROUP};
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx) tg_runner_die("seccomp_init");
    int rc = 0;
    for (size_t i = 0; i < sizeof deny / sizeof deny[0]; i++)
        rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), deny[i], 0);
    /* Sockets: AF_UNIX, and AF_INET and AF_INET6, which reach nothing but
     * the sandbox's own loopback (the jail's fresh network namespace and the
     * microVM's kernel have no other interface): the worker's HTTP clients
     * need them to reach the egress proxy on 127.0.0.1:3128, and the proxy
     * to listen there. Every other family (netlink, packet, vsock, ...)
     * stays refused. */
    for (int family = 0; family < AF_INET6; family++)
        if (family != AF_UNIX && family != AF_INET)
            rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(socket), 1,
                                   arg0(SCMP_CMP_EQ, (scmp_datum_t)family, 0));
    rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(socket), 1,
                           arg0(SCMP_CMP_GT, AF_INET6, 0));
    /* clone with new namespaces would undo unshare's ban; clone3 hides its
     * flags in memory a filter cannot read, so it reports ENOSYS and libc
     * falls back to clone. */
    for (size_t i = 0; i < sizeof ns_flags / sizeof ns_flags[0]; i++)
        rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                               arg0(SCMP_CMP_MASKED_EQ, ns_flags[i], ns_flags[i]));
    rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
    if (rc != 0 || seccomp_load(ctx) != 0) tg_runner_die("seccomp");
    seccomp_release(ctx);
}

void tg_runner_confine(unsigned uid, const tg_runner_limits *lim)
{
    set_limit(RLIMIT_CORE, 0);
    set_limit(RLIMIT_CPU, lim->cpu_seconds);
    set_limit(RLIMIT_NOFILE, lim->max_files);
    set_limit(RLIMIT_FSIZE, lim->max_file_bytes);
    set_limit(RLIMIT_NPROC, lim->max_pids);
    drop_privileges(uid);
    load_seccomp();
}

/* A complete frame from the host: an answer goes to the proxy; anything
 * else, or an answer after the proxy closed, is dropped. */
static void chan_dispatch(void)
{
    json_t *f = NULL;
    tg_frame_type type;
    if (tg_frame_decode(chan_in.body, chan_in.len, &f, &type) == 0 &&
        type == TG_FRAME_EGRESS_RESPONSE && proxy)
        tg_proxy_answer(proxy, f);
    json_decref(f);
    free(chan_in.body);
    chan_in.body = NULL;
    chan_in.hdr_got = chan_in.len = chan_in.got = 0;
}

/* Reads what one read() gives of the host's next frame. Call it only when
 * the channel is readable, so that it never blocks. */
static void chan_read(void)
{
    if (chan_in.dead) return;
    ssize_t n;
    if (chan_in.hdr_got < 4) {
        n = read(chan_fd, chan_in.hdr + chan_in.hdr_got, 4 - chan_in.hdr_got);
        if (n > 0) chan_in.hdr_got += (size_t)n;
        if (n > 0 && chan_in.hdr_got == 4) {
            const unsigned char *h = chan_in.hdr;
            chan_in.len = (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
            chan_in.got = 0;
            /* Past a bad prefix the stream cannot be framed again. */
            chan_in.body = chan_in.len <= TG_FRAME_MAX ? malloc(chan_in.len + 1) : NULL;
            if (!chan_in.body) {
                chan_in.dead = true;
                return;
            }
        }
    } else {
        n = read(chan_fd, chan_in.body + chan_in.got, chan_in.len - chan_in.got);
        if (n > 0) chan_in.got += (size_t)n;
    }
    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
        chan_in.dead = true;
        return;
    }
    if (chan_in.hdr_got == 4 && chan_in.got == chan_in.len) chan_dispatch();
}

/* Reads the rest of a frame the host has begun, so that whoever reads the
 * channel next (the guest's init, after a setup run) starts at a frame. */
static void chan_finish(void)
{
    while (!chan_in.dead && chan_in.hdr_got > 0) {
        struct pollfd pf = {chan_fd, POLLIN, 0};
        if (poll(&pf, 1, -1) < 0 && errno != EINTR) break;
        if (pf.revents) chan_read();
    }
    free(chan_in.body);
    memset(&chan_in, 0, sizeof chan_in);
}

/* Writes len bytes to the channel, reading the host's frames meanwhile.
 * send() where it is a socket (the jail), write() on the microVM's port. */
static int chan_write(const unsigned char *p, size_t len)
{
    bool is_socket = true;
    while (len > 0) {
        struct pollfd pf = {chan_fd, (short)(POLLOUT | (chan_in.dead ? 0 : POLLIN)), 0};
        if (poll(&pf, 1, -1) < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if ((pf.revents & (POLLIN | POLLHUP)) && !chan_in.dead) {
            chan_read();
            if (!(pf.revents & POLLOUT)) continue;
        }
        if (!(pf.revents & (POLLOUT | POLLERR | POLLHUP))) continue;
        ssize_t n = is_socket ? send(chan_fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT)
                              : write(chan_fd, p, len < 32768 ? len : 32768);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            if (errno == ENOTSOCK && is_socket) {
                is_socket = false;
                continue;
            }
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

void tg_runner_send_frame(json_t *obj)
{
    if (!obj) _exit(2);
    if (!chan_in.active) {
        if (tg_frame_write(chan_fd, obj, -1) != 0)
            _exit(2); /* the host is gone or the frame is unrepresentable: nothing to report to */
        json_decref(obj);
        return;
    }
    char *text = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    size_t len = text ? strlen(text) : 0;
    unsigned char hdr[4] = {(unsigned char)(len >> 24), (unsigned char)(len >> 16),
                            (unsigned char)(len >> 8), (unsigned char)len};
    if (!text || len > TG_FRAME_MAX || chan_write(hdr, sizeof hdr) != 0 ||
        chan_write((const unsigned char *)text, len) != 0)
        _exit(2);
    free(text);
}

/* The worker is gone: so are its connections, and answers still to come
 * are dropped. */
static void end_run(void)
{
    tg_proxy_close(proxy);
    proxy = NULL;
}

/* The proxy's way up: one egress frame per request. */
static void send_egress(json_t *frame, void *userdata)
{
    (void)userdata;
    tg_runner_send_frame(frame);
}

/* A file path from the host: relative, no "..", no empty or "." parts. */
static bool safe_path(const char *p)
{
    if (!*p || *p == '/' || strlen(p) > 1024) return false;
    while (*p) {
        size_t n = strcspn(p, "/");
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return false;
        p += n;
        if (*p == '/')
            p++;
        else
            break;
    }
    return p[-1] != '/';
}

static int write_files(const json_t *files)
{
    size_t i;
    const json_t *f;
    json_array_foreach(files, i, f)
    {
        const char *path = json_string_value(json_object_get(f, "path"));
        if (!safe_path(path)) return -1;
        char full[PATH_MAX];
        snprintf(full, sizeof full, "/job/%s", path);
        /* Parent directories are made by us, or come from the worker's own
         * template; either way this runs confined as the worker will, so a
         * link in /job leads nowhere the worker could not go itself. */
        for (char *p = full + 6; (p = strchr(p, '/')); p++) {
            *p = '\0';
            if (mkdir(full, 0755) != 0 && errno != EEXIST) return -1;
            *p = '/';
        }
        unsigned char *data;
        size_t len;
        if (tg_frame_unb64(json_object_get(f, "data"), &data, &len) != 0) return -1;
        int fd = open(full, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0755);
        ssize_t n = fd >= 0 ? write(fd, data, len) : -1;
        free(data);
        if (fd >= 0) close(fd);
        if (n != (ssize_t)len) return -1;
    }
    return 0;
}

/* stdin as an unlinked tmpfs file: the worker reads at its own pace and the
 * agent never blocks on a pipe the worker does not drain. A template's /job
 * is an overlay, which supports O_TMPFILE only since Linux 6.6: there the
 * file is made with a name and unlinked before the worker starts. */
static int stdin_file(const json_t *s)
{
    int fd = open("/job", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EOPNOTSUPP) {
        char name[] = "/job/.stdin-XXXXXX";
        fd = mkostemp(name, O_CLOEXEC);
        if (fd >= 0 && unlink(name) != 0) {
            close(fd);
            return -1;
        }
    }
    if (fd < 0) return -1;
    size_t len = json_string_length(s);
    if (write(fd, json_string_value(s), len) != (ssize_t)len || lseek(fd, 0, SEEK_SET) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void send_chunk(const char *type, const void *data, size_t len)
{
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string(type));
    json_object_set_new(o, "data", tg_frame_b64(data, len));
    tg_runner_send_frame(o);
}

/* One fd 3 line: relayed only if it is a JSON object, so the host gets
 * well-formed events (and checks them again anyway). */
static void send_event(const char *line, size_t len)
{
    json_t *ev = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(ev)) {
        json_decref(ev);
        return;
    }
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string("event"));
    json_object_set_new(o, "event", ev);
    tg_runner_send_frame(o);
}

static void send_result(int exit_code, int sig, bool truncated, long long cpu_us)
{
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string("result"));
    json_object_set_new(o, "exit_code", json_integer(exit_code));
    json_object_set_new(o, "signal", json_integer(sig));
    json_object_set_new(o, "output_truncated", json_boolean(truncated));
    json_object_set_new(o, "cpu_us", json_integer(cpu_us));
    tg_runner_send_frame(o);
}

/* Ends every process of the sandbox but us: the call is over. */
static void kill_all(void)
{
    kill(-1, SIGKILL);
}

static pid_t start_worker(const json_t *run, int in_fd, int out_w, int err_w, int ev_w)
{
    const char *runtime = json_string_value(json_object_get(run, "runtime"));
    const char *entry = json_string_value(json_object_get(run, "entry"));
    char entry_path[PATH_MAX];
    snprintf(entry_path, sizeof entry_path, "/job/%s", entry);
    const char *prog;
    char *argv[3];
    if (strcmp(runtime, "sh") == 0) {
        prog = "/bin/busybox";
        argv[0] = "sh";
        argv[1] = entry_path;
        argv[2] = NULL;
    } else if (strcmp(runtime, "python3") == 0) {
        prog = "/usr/bin/python3";
        argv[0] = "python3";
        argv[1] = entry_path;
        argv[2] = NULL;
    } else if (strcmp(runtime, "exec") == 0) {
        prog = entry_path;
        argv[0] = entry_path;
        argv[1] = NULL;
    } else {
        return -1;
    }
    /* The worker's way out is the egress proxy, whatever the host's env says;
     * https:// through it gets a CONNECT refused with an explanation, better
     * than the name resolution error it would get without it. */
    static const char *const proxy_env[] = {"HTTP_PROXY",  "http_proxy", "HTTPS_PROXY",
                                            "https_proxy", "NO_PROXY",   "no_proxy"};
    const size_t nproxy = sizeof proxy_env / sizeof proxy_env[0];
    const json_t *env = json_object_get(run, "env");
    size_t n = 0, cap = json_object_size(env) + 4 + nproxy;
    char **envp = calloc(cap, sizeof *envp);
    if (!envp) return -1;
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)env, k, v)
    {
        bool ours = false;
        for (size_t i = 0; i < nproxy; i++)
            ours |= strcmp(k, proxy_env[i]) == 0;
        if (ours) continue;
        size_t len = strlen(k) + json_string_length(v) + 2;
        char *s = malloc(len);
        if (s) snprintf(s, len, "%s=%s", k, json_string_value(v));
        envp[n++] = s;
    }
    /* Defaults for what the host did not set itself. */
    static const char *const defaults[][2] = {
        {"PATH", "PATH=/bin:/usr/bin"}, {"HOME", "HOME=/job"}, {"TMPDIR", "TMPDIR=/job"}};
    for (size_t i = 0; i < 3; i++)
        if (!json_object_get(env, defaults[i][0])) envp[n++] = strdup(defaults[i][1]);
    for (size_t i = 0; i < 4; i++) {
        size_t len = strlen(proxy_env[i]) + sizeof "=" TG_PROXY_URL;
        char *s = malloc(len);
        if (s) snprintf(s, len, "%s=%s", proxy_env[i], TG_PROXY_URL);
        envp[n++] = s;
    }
    pid_t pid = fork();
    if (pid == 0) {
        if (dup2(in_fd, 0) != 0 || dup2(out_w, 1) != 1 || dup2(err_w, 2) != 2 || dup2(ev_w, 3) != 3)
            _exit(126);
        syscall(SYS_close_range, 4u, ~0u, 0u);
        if (chdir("/job") != 0) _exit(126);
        execve(prog, argv, envp);
        _exit(127);
    }
    for (size_t i = 0; i < n; i++)
        free(envp[i]);
    free(envp);
    return pid;
}

void tg_runner_run(const json_t *req)
{
    const json_t *limits = json_object_get(req, "limits");
    size_t max_out = (size_t)json_integer_value(json_object_get(limits, "max_output_bytes"));
    const char *entry = json_string_value(json_object_get(req, "entry"));
    int in_fd = -1, out[2], err[2], ev[2];
    /* The proxy listens before the worker starts, so its first request finds it. */
    if (!safe_path(entry) || write_files(json_object_get(req, "files")) != 0 ||
        (in_fd = stdin_file(json_object_get(req, "stdin"))) < 0 || pipe2(out, O_CLOEXEC) != 0 ||
        pipe2(err, O_CLOEXEC) != 0 || pipe2(ev, O_CLOEXEC) != 0 ||
        !(proxy = tg_proxy_open(TG_PROXY_PORT, send_egress, NULL))) {
        send_result(-1, 0, false, 0);
        return;
    }
    chan_in.active = true;
    pid_t worker = start_worker(req, in_fd, out[1], err[1], ev[1]);
    close(in_fd);
    close(out[1]);
    close(err[1]);
    close(ev[1]);
    if (worker < 0) {
        end_run();
        send_result(-1, 0, false, 0);
        chan_finish();
        return;
    }

    static char buf[CHUNK], line[EVENT_MAX + 1], tail[STDERR_TAIL];
    size_t out_total = 0, line_len = 0, tail_len = 0;
    bool truncated = false, line_too_long = false, worker_done = false;
    int status = 0;
    struct rusage ru = {0};
    /* A pidfd turns readable when the worker exits, so its end wakes the
     * loop at once: a worker whose pipes closed a moment before it could be
     * reaped would otherwise wait out the poll timeout, which stays only as
     * the fallback for kernels without pidfd_open. */
    int worker_fd = (int)syscall(SYS_pidfd_open, worker, 0);
    /* The worker's three pipes, the channel, its pidfd, then the proxy's
     * sockets. */
    struct pollfd p[5 + TG_PROXY_POLLFDS] = {
        {out[0], POLLIN, 0}, {err[0], POLLIN, 0}, {ev[0], POLLIN, 0}};
    /* Until the worker has exited and every pipe is drained: a worker that
     * closes its outputs early still runs to its end, and may still be
     * waiting for an answer to an HTTP request. */
    while (p[0].fd >= 0 || p[1].fd >= 0 || p[2].fd >= 0 || !worker_done) {
        p[3] = (struct pollfd){chan_in.dead ? -1 : chan_fd, POLLIN, 0};
        p[4] = (struct pollfd){worker_done ? -1 : worker_fd, POLLIN, 0};
        size_t nproxy = tg_proxy_poll_fds(proxy, p + 5);
        int n = poll(p, 5 + nproxy, 50);
        if (n < 0 && errno != EINTR) break;
        if (!worker_done && wait4(worker, &status, WNOHANG, &ru) == worker) worker_done = true;
        /* Whatever the worker left running would keep the pipes open; kill
         * again on every pass, as a fork may have raced the last kill. */
        if (worker_done) kill_all();
        if (n < 0) continue; /* EINTR: no revents to look at */
        for (int i = 0; i < 3; i++) {
            if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            ssize_t r = read(p[i].fd, buf, sizeof buf);
            if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
            if (r <= 0) {
                close(p[i].fd);
                p[i].fd = -1;
                continue;
            }
            size_t len = (size_t)r;
            if (i == 0) {
                if (out_total + len > max_out) {
                    len = max_out - out_total;
                    truncated = true;
                }
                if (len) send_chunk("stdout", buf, len);
                out_total += len;
                if (truncated) {
                    kill_all();
                    close(p[0].fd);
                    p[0].fd = -1;
                }
            } else if (i == 1) {
                /* Keep only the last STDERR_TAIL bytes. */
                if (len >= STDERR_TAIL) {
                    memcpy(tail, buf + len - STDERR_TAIL, STDERR_TAIL);
                    tail_len = STDERR_TAIL;
                } else {
                    size_t keep = tail_len + len > STDERR_TAIL ? STDERR_TAIL - len : tail_len;
                    memmove(tail, tail + tail_len - keep, keep);
                    memcpy(tail + keep, buf, len);
                    tail_len = keep + len;
                }
            } else {
                for (size_t j = 0; j < len; j++) {
                    if (buf[j] != '\n') {
                        if (line_len < EVENT_MAX)
                            line[line_len++] = buf[j];
                        else
                            line_too_long = true;
                        continue;
                    }
                    if (!line_too_long) send_event(line, line_len);
                    line_len = 0;
                    line_too_long = false;
                }
            }
        }
        if (p[3].revents) chan_read();
        tg_proxy_handle(proxy, p + 5, nproxy);
    }
    if (worker_fd >= 0) close(worker_fd);
    if (!worker_done) {
        /* poll failed: end the worker rather than report it still running. */
        kill_all();
        while (wait4(worker, &status, 0, &ru) < 0 && errno == EINTR)
            ;
    }
    kill_all();
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
    end_run();
    if (tail_len) send_chunk("stderr", tail, tail_len);
    long long cpu_us = (long long)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec +
                       (long long)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec;
    if (WIFSIGNALED(status))
        send_result(-1, WTERMSIG(status), truncated, cpu_us);
    else
        send_result(WEXITSTATUS(status), 0, truncated, cpu_us);
    chan_finish();
}
