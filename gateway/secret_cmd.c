/* `toolgate secret set|list|delete`: a running gateway's secrets, through its
 * admin API (/v1/secrets), as `toolgate deploy` reaches it.
 *
 * A value is read from standard input, never from the command line, where
 * any user on the host could read it (ps, /proc/PID/cmdline, shell history).
 * It is read whole and byte for byte, so a file or a pipe is stored exactly
 * as it is, its last newline included (a PEM key ends with one). Typed at a
 * terminal, it is not echoed, ends with Ctrl-D, and the newline of the Enter
 * before that is dropped: a token typed or pasted never ends in one.
 * --strip-newline drops one trailing newline from a pipe too (echo "$TOKEN" |).
 *
 * Exit status: 0 done, 1 refused or unreachable, 2 bad command line or an
 * unusable value. */
#include "gateway/commands.h"

#include "gateway/core/alloc.h"
#include "gateway/registry/secrets.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

static const char usage_text[] =
    "usage: toolgate secret set NAME [--strip-newline] [--url URL] [--token TOKEN]\n"
    "       toolgate secret list [--json] [--url URL] [--token TOKEN]\n"
    "       toolgate secret delete NAME [--url URL] [--token TOKEN]\n"
    "  set reads the value from standard input, all of it, byte for byte; never\n"
    "  from the command line. At a terminal it is not echoed and ends with Ctrl-D,\n"
    "  and the newline before that is dropped; from a pipe or a file every byte is\n"
    "  kept unless --strip-newline drops one trailing newline. 1 byte to 64 KiB.\n"
    "  NAME matches ^[A-Za-z_][A-Za-z0-9_]{0,127}$.\n"
    "  --url URL      the gateway (default $TOOLGATE_URL, else http://127.0.0.1:8080)\n"
    "  --token TOKEN  a bearer token with secrets:write (default $TOOLGATE_TOKEN)\n"
    "  --json         list: print the gateway's answer as it is\n";

/* ---- reading the value ------------------------------------------------ */

static struct termios saved_tty;
static volatile sig_atomic_t tty_changed;

/* Gives the terminal its echo back before a signal ends the process. */
static void restore_tty(int sig)
{
    if (tty_changed) tcsetattr(STDIN_FILENO, TCSANOW, &saved_tty);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void echo_off(void)
{
    if (tcgetattr(STDIN_FILENO, &saved_tty) != 0) return;
    struct sigaction sa = {.sa_handler = restore_tty};
    sigemptyset(&sa.sa_mask);
    const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
        sigaction(sigs[i], &sa, NULL);
    struct termios quiet = saved_tty;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    if (tcsetattr(STDIN_FILENO, TCSANOW, &quiet) == 0) tty_changed = 1;
}

static void echo_on(void)
{
    if (tty_changed) tcsetattr(STDIN_FILENO, TCSANOW, &saved_tty);
    tty_changed = 0;
}

/* Reads all of standard input into *out (at most TG_SECRETS_MAX_VALUE bytes;
 * the buffer is the caller's to wipe). Returns 0, or 2 after saying why. */
static int read_value(const char *name, bool strip, unsigned char **out, size_t *len)
{
    bool tty = isatty(STDIN_FILENO);
    if (tty) {
        fprintf(stderr, "value of %s (not echoed; end with Ctrl-D): ", name);
        echo_off();
    }
    /* One buffer of the largest size, so no reallocation leaves a copy behind. */
    unsigned char *buf = tg_xmalloc(TG_SECRETS_MAX_VALUE + 1);
    size_t n = 0;
    int rc = 0;
    for (;;) {
        ssize_t got = read(STDIN_FILENO, buf + n, TG_SECRETS_MAX_VALUE + 1 - n);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            fprintf(stderr, "toolgate: cannot read the value: %s\n", strerror(errno));
            rc = 2;
            break;
        }
        if (got == 0) break;
        n += (size_t)got;
        if (n > TG_SECRETS_MAX_VALUE) {
            fprintf(stderr, "toolgate: the value is larger than %u bytes\n", TG_SECRETS_MAX_VALUE);
            rc = 2;
            break;
        }
    }
    if (tty) {
        echo_on();
        fputc('\n', stderr);
    }
    if (!rc && (tty || strip) && n && buf[n - 1] == '\n') n--;
    if (!rc && n == 0) {
        fprintf(stderr, "toolgate: the value is empty\n");
        rc = 2;
    }
    if (rc) {
        OPENSSL_cleanse(buf, TG_SECRETS_MAX_VALUE + 1);
        free(buf);
        return rc;
    }
    *out = buf;
    *len = n;
    return 0;
}

/* ---- talking to the gateway ------------------------------------------- */

typedef struct buffer {
    char *data;
    size_t len;
} buffer;

static size_t collect(char *chunk, size_t size, size_t n, void *userdata)
{
    buffer *b = userdata;
    b->data = tg_xrealloc(b->data, b->len + size * n + 1);
    memcpy(b->data + b->len, chunk, size * n);
    b->len += size * n;
    b->data[b->len] = '\0';
    return size * n;
}

/* Sends method to url + path with body[0..len) (NULL for none). Returns the
 * HTTP status with the answer in *reply (the caller frees reply->data), or 0
 * after saying why the gateway could not be reached. */
static long request(const char *url, const char *token, const char *method, const char *path,
                    const unsigned char *body, size_t len, buffer *reply)
{
    char *endpoint = tg_xasprintf("%s%s", url, path);
    char *auth = token && *token ? tg_xasprintf("Authorization: Bearer %s", token) : NULL;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *curl = curl_easy_init();
    struct curl_slist *headers = NULL;
    if (auth) headers = curl_slist_append(headers, auth);
    if (body) {
        headers = curl_slist_append(headers, "Content-Type: application/octet-stream");
        headers = curl_slist_append(headers, "Expect:");
        /* POSTFIELDS, not COPYPOSTFIELDS: curl sends from our buffer, which
         * the caller wipes, rather than from a copy of its own. */
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, (const char *)body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    curl_easy_setopt(curl, CURLOPT_URL, endpoint);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, reply);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
    CURLcode cc = curl_easy_perform(curl);
    long status = 0;
    if (cc != CURLE_OK)
        fprintf(stderr, "toolgate: cannot reach %s: %s\n", endpoint, curl_easy_strerror(cc));
    else
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    curl_global_cleanup();
    if (auth) OPENSSL_cleanse(auth, strlen(auth));
    free(auth);
    free(endpoint);
    return status;
}

/* Says why the gateway refused: its error's code and message, or the body. */
static void refused(long status, const buffer *reply)
{
    json_t *doc = reply->data ? json_loads(reply->data, 0, NULL) : NULL;
    json_t *e = json_object_get(doc, "error");
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *message = json_string_value(json_object_get(e, "message"));
    if (code)
        fprintf(stderr, "toolgate: the gateway refused (HTTP %ld): %s: %s\n", status, code,
                message ? message : "");
    else
        fprintf(stderr, "toolgate: the gateway refused (HTTP %ld): %s\n", status,
                reply->data ? reply->data : "");
    json_decref(doc);
}

static void print_list(const buffer *reply)
{
    json_t *doc = json_loads(reply->data ? reply->data : "", 0, NULL);
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(doc, "secrets"), i, item)
    {
        printf("%-40s %s\n", json_string_value(json_object_get(item, "name")),
               json_string_value(json_object_get(item, "updated_at")));
    }
    json_decref(doc);
}

int tg_cmd_secret(int argc, char **argv)
{
    const char *action = argc > 0 ? argv[0] : "";
    const char *name = NULL, *url = getenv("TOOLGATE_URL"), *token = getenv("TOOLGATE_TOKEN");
    bool strip = false, as_json = false;
    bool is_set = strcmp(action, "set") == 0, is_list = strcmp(action, "list") == 0,
         is_delete = strcmp(action, "delete") == 0;
    if (!is_set && !is_list && !is_delete) {
        fputs(usage_text, argc > 0 && strcmp(action, "--help") == 0 ? stdout : stderr);
        return argc > 0 && strcmp(action, "--help") == 0 ? 0 : 2;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--url") == 0 && i + 1 < argc) {
            url = argv[++i];
        } else if (strcmp(argv[i], "--token") == 0 && i + 1 < argc) {
            token = argv[++i];
        } else if (strcmp(argv[i], "--strip-newline") == 0 && is_set) {
            strip = true;
        } else if (strcmp(argv[i], "--json") == 0 && is_list) {
            as_json = true;
        } else if (argv[i][0] != '-' && !name && !is_list) {
            name = argv[i];
        } else {
            /* Not echoed: a stray argument may be a value typed in the wrong place. */
            if (is_set && argv[i][0] != '-')
                fputs("toolgate: secret set takes the value on standard input, not as an "
                      "argument\n",
                      stderr);
            fputs(usage_text, stderr);
            return 2;
        }
    }
    if (!is_list && !name) {
        fputs(usage_text, stderr);
        return 2;
    }
    if (name && !tg_secrets_valid_name(name)) {
        fputs("toolgate: a secret's name must match ^[A-Za-z_][A-Za-z0-9_]{0,127}$\n", stderr);
        return 2;
    }
    if (!url || !*url) url = "http://127.0.0.1:8080";

    unsigned char *value = NULL;
    size_t len = 0;
    if (is_set && read_value(name, strip, &value, &len) != 0) return 2;
    char *path = name ? tg_xasprintf("/v1/secrets/%s", name) : tg_xstrdup("/v1/secrets");
    buffer reply = {NULL, 0};
    long status = request(url, token,
                          is_set      ? "PUT"
                          : is_delete ? "DELETE"
                                      : "GET",
                          path, value, len, &reply);
    if (value) {
        OPENSSL_cleanse(value, TG_SECRETS_MAX_VALUE + 1);
        free(value);
    }
    int rc = 1;
    if (status >= 200 && status < 300) {
        rc = 0;
        if (is_set)
            printf("%s\n", reply.data ? reply.data : "");
        else if (is_delete)
            printf("deleted %s\n", name);
        else if (as_json)
            printf("%s\n", reply.data ? reply.data : "");
        else
            print_list(&reply);
    } else if (status) {
        refused(status, &reply);
    }
    free(reply.data);
    free(path);
    return rc;
}
