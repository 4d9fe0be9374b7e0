/* Worker templates at the driver level: a setup run's /job, captured under a
 * key, is where every sandbox spawned with that key starts, each with its
 * own changes on top; the template itself never changes, holds nothing of
 * the host, and stays within its limits.
 *
 *   test_templates                      the jail, with a temporary template_dir
 *   test_templates microvm IMAGE_DIR    microVMs from the guest image in IMAGE_DIR
 *                                       (exit 77, "skipped", when QEMU is absent) */
#include "tests/unit/check.h"
#include "gateway/core/alloc.h"
#include "vm-pool/driver.h"
#include "vm-pool/frame.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY      "0123abcd"
#define KEY_BIG  "b16"
#define KEY_DEEP "dee9"
#define KEY_LATE "1a7e"

static const int64_t SEC = 1000000000;

static const tg_driver *drv;
static void *st;
static bool jail;
static char base[] = "/tmp/tg-templates-XXXXXX";
static char *tdir; /* the template_dir, under base */

struct file {
    const char *path, *data;
};

/* A run frame as vm-pool/pool.c builds it. Returns: new reference. */
static json_t *run_frame(const char *entry, const struct file *files, size_t nfiles, bool setup)
{
    json_t *o = json_object(), *fa = json_array(), *limits = json_object();
    json_object_set_new(o, "type", json_string("run"));
    json_object_set_new(o, "runtime", json_string("sh"));
    json_object_set_new(o, "entry", json_string(entry));
    for (size_t i = 0; i < nfiles; i++) {
        json_t *f = json_object();
        json_object_set_new(f, "path", json_string(files[i].path));
        json_object_set_new(f, "data", tg_frame_b64(files[i].data, strlen(files[i].data)));
        json_array_append_new(fa, f);
    }
    json_object_set_new(o, "files", fa);
    json_object_set_new(o, "env", json_object());
    json_object_set_new(o, "stdin", json_string(""));
    json_object_set_new(limits, "timeout_ms", json_integer(20000));
    json_object_set_new(limits, "max_output_bytes", json_integer(65536));
    json_object_set_new(o, "limits", limits);
    if (setup) json_object_set_new(o, "setup", json_true());
    return o;
}

struct result {
    int exit_code;
    char out[65536];
};

/* Sends frame (stolen) to sb and collects stdout up to the result. */
static int run(tg_driver_sandbox *sb, json_t *frame, struct result *r)
{
    memset(r, 0, sizeof *r);
    r->exit_code = -100;
    int fd = drv->channel(sb);
    int64_t deadline = tg_frame_now_ns() + 30 * SEC;
    int rc = tg_frame_write(fd, frame, deadline);
    json_decref(frame);
    size_t len = 0;
    while (rc == 0) {
        json_t *f = NULL;
        tg_frame_type type;
        rc = tg_frame_read(fd, TG_FRAME_MAX, deadline, &f, &type);
        if (rc != 0) break;
        if (type == TG_FRAME_STDOUT) {
            unsigned char *data;
            size_t n;
            if (tg_frame_unb64(json_object_get(f, "data"), &data, &n) == 0) {
                if (n > sizeof r->out - 1 - len) n = sizeof r->out - 1 - len;
                memcpy(r->out + len, data, n);
                len += n;
                free(data);
            }
        } else if (type == TG_FRAME_RESULT) {
            r->exit_code = (int)json_integer_value(json_object_get(f, "exit_code"));
            json_decref(f);
            return 0;
        }
        json_decref(f);
    }
    return rc;
}

/* Runs script as a setup in a fresh setup sandbox and captures it as key.
 * Returns capture's result (or -100 when the setup itself failed). */
static int setup(const char *key, const char *script, const char *main_sh)
{
    tg_driver_sandbox *sb = NULL;
    int rc = drv->spawn_setup(st, "sh", key, &sb);
    CHECK_INT_EQ(rc, 0);
    if (rc != 0) return -100;
    struct file files[] = {{"setup.sh", script}, {"main.sh", main_sh}};
    struct result r;
    CHECK_INT_EQ(run(sb, run_frame("setup.sh", files, main_sh ? 2 : 1, true), &r), 0);
    CHECK_INT_EQ(r.exit_code, 0);
    rc = r.exit_code == 0 ? drv->capture(st, sb, key) : -100;
    drv->destroy(sb);
    return rc;
}

/* Runs main.sh, which the template holds, in a sandbox spawned from key. */
static int call(const char *key, struct result *r)
{
    tg_driver_sandbox *sb = NULL;
    int rc = drv->spawn(st, "sh", key, &sb);
    if (rc != 0) return rc;
    rc = run(sb, run_frame("main.sh", NULL, 0, false), r);
    drv->destroy(sb);
    return rc;
}

/* What spawning from key returns; a sandbox it made is destroyed. */
static int spawn_rc(const char *key)
{
    tg_driver_sandbox *sb = NULL;
    int rc = drv->spawn(st, "sh", key, &sb);
    CHECK(rc == 0 || sb == NULL);
    if (sb) drv->destroy(sb);
    return rc;
}

static char *layer_path(const char *key, const char *rel)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s%s%s", tdir, key, rel ? "/" : "", rel ? rel : "");
    return path;
}

static char *read_host(const char *path)
{
    static char buf[4096];
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f) fclose(f);
    buf[n] = '\0';
    return f ? buf : NULL;
}

/* Entries in the template directory whose name holds s. */
static int tdir_entries(const char *s)
{
    int n = 0;
    DIR *d = opendir(tdir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, s)) n++;
    if (d) closedir(d);
    return n;
}

static const char *const setup_sh = "mkdir -p deps\n"
                                    "echo installed > deps/lib.txt\n"
                                    "touch setup-ran\n"
                                    "n=$(cat count 2>/dev/null || echo 0)\n"
                                    "echo $((n + 1)) > count\n"
                                    "ln -s /etc/hostname host-link\n"
                                    "ln -s /etc/shadow shadow-link\n"
                                    "ln -s /etc etc-link\n"
                                    "ln -s deps/lib.txt lib-link\n"
                                    "mkfifo fifo\n"
                                    "echo setup-done\n";

/* Each call sees the template and nothing of the calls before it, and
 * changes only its own /job: it appends, adds and removes files. */
static const char *const main_sh = "cat deps/lib.txt lib-link count\n"
                                   "[ -e setup-ran ] && echo marker\n"
                                   "[ -e log ] && echo saw-log\n"
                                   "[ -e mine ] && echo saw-mine\n"
                                   "echo \"H[$(cat host-link 2>/dev/null)]\"\n"
                                   "echo \"S[$(head -n 1 shadow-link 2>/dev/null)]\"\n"
                                   "echo call >> log\n"
                                   "echo changed >> deps/lib.txt\n"
                                   "echo new > deps/new.txt\n"
                                   "echo mine > mine\n"
                                   "rm -f setup-ran\n"
                                   "cat log mine deps/new.txt\n";

static void test_capture_and_calls(void)
{
    struct result r;
    CHECK_INT_EQ(setup(KEY, setup_sh, main_sh), 0);
    if (jail) {
        struct stat s;
        CHECK_STR_EQ(read_host(layer_path(KEY, "deps/lib.txt")), "installed\n");
        /* Root's, and open to every uid: each sandbox has its own uid, and
         * must be able to change what it was given (the overlay copies a
         * changed file up; the layer never changes). */
        CHECK(lstat(layer_path(KEY, "deps"), &s) == 0 && S_ISDIR(s.st_mode) &&
              (s.st_mode & 07777) == 0777 && s.st_uid == 0);
        CHECK(lstat(layer_path(KEY, "main.sh"), &s) == 0 && S_ISREG(s.st_mode) &&
              (s.st_mode & 07777) == 0777 && s.st_uid == 0 && s.st_gid == 0);
        CHECK(lstat(layer_path(KEY, "count"), &s) == 0 && (s.st_mode & 07777) == 0666 &&
              s.st_uid == 0);
        /* Links are copied as links, whatever they point at. */
        const char *links[][2] = {{"host-link", "/etc/hostname"},
                                  {"shadow-link", "/etc/shadow"},
                                  {"etc-link", "/etc"},
                                  {"lib-link", "deps/lib.txt"}};
        for (size_t i = 0; i < 4; i++) {
            char target[256] = "";
            CHECK(lstat(layer_path(KEY, links[i][0]), &s) == 0 && S_ISLNK(s.st_mode));
            CHECK(readlink(layer_path(KEY, links[i][0]), target, sizeof target - 1) > 0);
            CHECK_STR_EQ(target, links[i][1]);
        }
        CHECK(lstat(layer_path(KEY, "fifo"), &s) != 0 && errno == ENOENT);
        CHECK_INT_EQ(tdir_entries(".tmp-"), 0);
    }

    /* Two sandboxes from the template at once, called one after the other. */
    tg_driver_sandbox *a = NULL, *b = NULL;
    CHECK_INT_EQ(drv->spawn(st, "sh", KEY, &a), 0);
    CHECK_INT_EQ(drv->spawn(st, "sh", KEY, &b), 0);
    char host_name[512] = "", host_shadow[512] = "";
    const char *h = read_host("/etc/hostname");
    snprintf(host_name, sizeof host_name, "H[%.*s]", h ? (int)strcspn(h, "\n") : 0, h ? h : "");
    const char *sh = read_host("/etc/shadow");
    snprintf(host_shadow, sizeof host_shadow, "S[%.*s]", sh ? (int)strcspn(sh, "\n") : 0,
             sh ? sh : "");
    tg_driver_sandbox *both[] = {a, b};
    for (int i = 0; i < 2; i++) {
        if (!both[i]) continue;
        int failed = check_failed;
        CHECK_INT_EQ(run(both[i], run_frame("main.sh", NULL, 0, false), &r), 0);
        CHECK_INT_EQ(r.exit_code, 0);
        CHECK(strncmp(r.out, "installed\ninstalled\n1\nmarker\nH[", 31) == 0);
        CHECK(strstr(r.out, "\ncall\nmine\nnew\n") != NULL);
        CHECK(strstr(r.out, "saw-") == NULL);
        /* The links show the sandbox's own files, or nothing: never the host's. */
        if (h && strlen(host_name) > 3) CHECK(strstr(r.out, host_name) == NULL);
        if (sh && strlen(host_shadow) > 3) CHECK(strstr(r.out, host_shadow) == NULL);
        if (jail) CHECK(strstr(r.out, "H[]\nS[]\n") != NULL);
        if (check_failed > failed) printf("call %d:\n%s", i, r.out);
        drv->destroy(both[i]);
    }

    /* The template is as the setup left it. */
    if (jail) {
        struct stat s;
        CHECK_STR_EQ(read_host(layer_path(KEY, "count")), "1\n");
        CHECK_STR_EQ(read_host(layer_path(KEY, "deps/lib.txt")), "installed\n");
        CHECK(lstat(layer_path(KEY, "deps/new.txt"), &s) != 0 && errno == ENOENT);
        CHECK(lstat(layer_path(KEY, "setup-ran"), &s) == 0);
        CHECK(lstat(layer_path(KEY, "log"), &s) != 0 && errno == ENOENT);
        CHECK(lstat(layer_path(KEY, "mine"), &s) != 0 && errno == ENOENT);
    }
    CHECK_INT_EQ(call(KEY, &r), 0);
    CHECK(strncmp(r.out, "installed\ninstalled\n1\nmarker\n", 29) == 0);

    /* Capturing a key again replaces its template. */
    CHECK_INT_EQ(setup(KEY, "mkdir deps; echo v2 > deps/lib.txt; echo 7 > count\n", main_sh), 0);
    CHECK_INT_EQ(call(KEY, &r), 0);
    CHECK(strncmp(r.out, "v2\n7\nH[", 7) == 0);
    if (jail) CHECK_INT_EQ(tdir_entries(".tmp-"), 0);
}

/* A setup whose worker made an HTTP request and did not wait for it: its
 * answer comes after the result, and after a 1 MiB answer to a request it
 * did wait for. Whoever reads the channel after the run (the jail's agent,
 * the guest's init) drops it, and the template is made as usual. */
static void test_late_answers(void)
{
    tg_driver_sandbox *sb = NULL;
    CHECK_INT_EQ(drv->spawn_setup(st, "sh", KEY_LATE, &sb), 0);
    if (!sb) return;
    const char *script = "curl -s http://api.example/waited | wc -c\n"
                         "curl -s http://api.example/late > /dev/null &\n"
                         "sleep 1\n"
                         "echo late > late.txt\n";
    struct file files[] = {{"setup.sh", script}, {"main.sh", "cat late.txt\n"}};
    int fd = drv->channel(sb);
    int64_t deadline = tg_frame_now_ns() + 60 * SEC;
    json_t *setup_frame = run_frame("setup.sh", files, 2, true);
    CHECK_INT_EQ(tg_frame_write(fd, setup_frame, deadline), 0);
    json_decref(setup_frame);
    json_int_t late = -1;
    int exit_code = -100, requests = 0;
    char out[64] = "";
    static char big[1 << 20];
    memset(big, 'x', sizeof big);
    for (;;) {
        json_t *f = NULL;
        tg_frame_type type;
        if (tg_frame_read(fd, TG_FRAME_MAX, deadline, &f, &type) != 0) break;
        json_int_t id = json_integer_value(json_object_get(f, "id"));
        const char *url = json_string_value(json_object_get(f, "url"));
        if (type == TG_FRAME_EGRESS) requests++;
        if (type == TG_FRAME_EGRESS && strcmp(url, "http://api.example/waited") == 0) {
            json_t *resp =
                json_pack("{s:s, s:I, s:i, s:[], s:o}", "type", "egress_response", "id", id,
                          "status", 200, "headers", "body", tg_frame_b64(big, sizeof big));
            CHECK_INT_EQ(tg_frame_write(fd, resp, deadline), 0);
            json_decref(resp);
        } else if (type == TG_FRAME_EGRESS) {
            late = id;
        } else if (type == TG_FRAME_STDOUT) {
            unsigned char *data;
            size_t n;
            if (tg_frame_unb64(json_object_get(f, "data"), &data, &n) == 0) {
                snprintf(out + strlen(out), sizeof out - strlen(out), "%.*s", (int)n, data);
                free(data);
            }
        } else if (type == TG_FRAME_RESULT) {
            exit_code = (int)json_integer_value(json_object_get(f, "exit_code"));
            json_decref(f);
            break;
        }
        json_decref(f);
    }
    CHECK_INT_EQ(exit_code, 0);
    CHECK_INT_EQ(requests, 2);
    CHECK_STR_EQ(out, "1048576\n");
    CHECK(late >= 0);
    for (int i = 0; i < 2; i++) {
        json_t *resp =
            json_pack("{s:s, s:I, s:i, s:[], s:o}", "type", "egress_response", "id", late, "status",
                      200, "headers", "body", tg_frame_b64(big, sizeof big / 2));
        CHECK_INT_EQ(tg_frame_write(fd, resp, deadline), 0);
        json_decref(resp);
    }
    CHECK_INT_EQ(drv->capture(st, sb, KEY_LATE), 0);
    drv->destroy(sb);
    struct result r;
    CHECK_INT_EQ(call(KEY_LATE, &r), 0);
    CHECK_INT_EQ(r.exit_code, 0);
    CHECK_STR_EQ(r.out, "late\n");
    drv->drop(st, KEY_LATE);
}

static void test_limits(void)
{
    /* 6 MB with template_bytes at 4 MiB: nothing of it stays. */
    int rc = setup(KEY_BIG, "head -c 6000000 /dev/zero > big\n", NULL);
    CHECK(rc != 0 && rc != -100);
    if (jail) {
        CHECK_INT_EQ(rc, TG_DRIVER_EINVAL);
        CHECK_INT_EQ(tdir_entries(KEY_BIG), 0);
        CHECK_INT_EQ(tdir_entries(".tmp-"), 0);
    }
    CHECK(spawn_rc(KEY_BIG) != 0);

    if (jail) {
        /* Deeper than 64 directories. */
        rc = setup(KEY_DEEP, "i=0; while [ $i -lt 70 ]; do mkdir d; cd d; i=$((i + 1)); done\n",
                   NULL);
        CHECK_INT_EQ(rc, TG_DRIVER_EINVAL);
        CHECK_INT_EQ(tdir_entries(KEY_DEEP), 0);
    }
}

static void test_keys_and_drop(void)
{
    CHECK(spawn_rc("abc123") != 0);
    CHECK_INT_EQ(spawn_rc("../etc"), TG_DRIVER_EINVAL);
    CHECK_INT_EQ(spawn_rc("ABC"), TG_DRIVER_EINVAL);
    CHECK_INT_EQ(spawn_rc(""), TG_DRIVER_EINVAL);
    tg_driver_sandbox *sb = NULL;
    CHECK_INT_EQ(drv->spawn_setup(st, "sh", "a/b", &sb), TG_DRIVER_EINVAL);
    CHECK(sb == NULL);

    drv->drop(st, KEY);
    if (jail) {
        struct stat s;
        CHECK(lstat(layer_path(KEY, NULL), &s) != 0 && errno == ENOENT);
        CHECK_INT_EQ(tdir_entries(""), 2); /* "." and ".." */
    }
    CHECK(spawn_rc(KEY) != 0);
    /* A fresh sandbox is as it always was. */
    CHECK_INT_EQ(drv->spawn(st, "sh", NULL, &sb), 0);
    if (sb) {
        struct result r;
        CHECK_INT_EQ(
            run(sb, run_frame("main.sh", (struct file[]){{"main.sh", "ls\n"}}, 1, false), &r), 0);
        CHECK_STR_EQ(r.out, "main.sh\n");
        drv->destroy(sb);
    }
}

int main(int argc, char **argv)
{
    if (!mkdtemp(base)) {
        perror("mkdtemp");
        return 1;
    }
    /* A directory open() has to make. */
    tdir = tg_xasprintf("%s/templates", base);
    tg_driver_config cfg = {.agent_path = TOOLGATE_AGENT_PATH,
                            .memory_bytes = 256u << 20,
                            .max_pids = 32,
                            .template_dir = tdir,
                            .template_bytes = 4u << 20};
    if (argc == 3 && strcmp(argv[1], "microvm") == 0) {
        if (system("command -v qemu-system-x86_64 >/dev/null 2>&1") != 0) {
            printf("skipped: qemu-system-x86_64 is not installed\n");
            return 77;
        }
        drv = &tg_microvm_driver;
        cfg.image_dir = argv[2];
    } else {
        drv = &tg_jail_driver;
        jail = true;
        cfg.memory_bytes = 96u << 20;
    }
    int rc = drv->open(&cfg, &st);
    if (rc != 0 || (rc = drv->prepare(st, "sh")) != 0) {
        fprintf(stderr, "%s: open/prepare: %d (the jail needs root and cgroups)\n", drv->name, rc);
        return 1;
    }
    printf("driver: %s\n", drv->describe(st));
    struct stat s;
    if (jail) CHECK(stat(tdir, &s) == 0 && S_ISDIR(s.st_mode) && (s.st_mode & 07777) == 0700);

    test_capture_and_calls();
    test_late_answers();
    test_limits();
    test_keys_and_drop();
    drv->close(st);
    char *rm = tg_xasprintf("rm -rf '%s'", base);
    CHECK_INT_EQ(system(rm), 0);
    free(rm);
    free(tdir);
    return check_report();
}
