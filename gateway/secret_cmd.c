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

#include "gateway/client.h"
#include "gateway/core/alloc.h"
#include "gateway/registry/secrets.h"

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
    "usage: toolgate secret set NAME [--principal SUB] [--strip-newline] [--url URL] [--token "
    "TOKEN]\n"
    "       toolgate secret list [--principal SUB] [--json] [--url URL] [--token TOKEN]\n"
    "       toolgate secret delete NAME [--principal SUB] [--url URL] [--token TOKEN]\n"
    "  set reads the value from standard input, all of it, byte for byte; never\n"
    "  from the command line. At a terminal it is not echoed and ends with Ctrl-D,\n"
    "  and the newline before that is dropped; from a pipe or a file every byte is\n"
    "  kept unless --strip-newline drops one trailing newline. 1 byte to 64 KiB.\n"
    "  NAME matches ^[A-Za-z_][A-Za-z0-9_]{0,127}$.\n"
    "  --principal SUB  the value of one principal (a token's sub; \"me\": the token's own)\n"
    "                   instead of the tenant's: egress rules with per_principal inject it\n"
    "                   into that principal's calls\n"
    "  --strip-newline  set: drop one trailing newline from a piped value\n"
    "  --url URL        the gateway (default $TOOLGATE_URL, else http://127.0.0.1:8080)\n"
    "  --token TOKEN    a bearer token with secrets:write, or tools:call for one's own\n"
    "                   --principal me (default $TOOLGATE_TOKEN)\n"
    "  --json           list: print the gateway's answer as it is\n";

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

static void print_list(const tg_client_answer *a)
{
    json_t *doc = json_loads(a->body ? a->body : "", 0, NULL);
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(doc, "secrets"), i, item)
    {
        const char *principal = json_string_value(json_object_get(item, "principal"));
        printf("%-40s %-24s %s\n", json_string_value(json_object_get(item, "name")),
               principal ? principal : "(tenant)",
               json_string_value(json_object_get(item, "updated_at")));
    }
    json_decref(doc);
}

int tg_cmd_secret(int argc, char **argv)
{
    const char *action = argc > 0 ? argv[0] : "";
    const char *name = NULL, *url = NULL, *token = NULL, *principal = NULL;
    bool strip = false, as_json = false;
    bool is_set = strcmp(action, "set") == 0, is_list = strcmp(action, "list") == 0,
         is_delete = strcmp(action, "delete") == 0;
    if (tg_cmd_wants_help(argc, argv)) return tg_cmd_help(usage_text);
    if (!is_set && !is_list && !is_delete) return tg_cmd_usage_error(usage_text);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--url") == 0 && i + 1 < argc) {
            url = argv[++i];
        } else if (strcmp(argv[i], "--token") == 0 && i + 1 < argc) {
            token = argv[++i];
        } else if (strcmp(argv[i], "--principal") == 0 && i + 1 < argc) {
            principal = argv[++i];
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
            return tg_cmd_usage_error(usage_text);
        }
    }
    if (!is_list && !name) return tg_cmd_usage_error(usage_text);
    if (name && !tg_secrets_valid_name(name)) {
        fputs("toolgate: a secret's name must match ^[A-Za-z_][A-Za-z0-9_]{0,127}$\n", stderr);
        return 2;
    }
    unsigned char *value = NULL;
    size_t len = 0;
    if (principal && !tg_secrets_valid_principal(principal)) {
        fputs("toolgate: a principal must be 1 to 256 bytes without control characters\n", stderr);
        return 2;
    }
    if (is_set && read_value(name, strip, &value, &len) != 0) return 2;
    char *escaped = principal ? tg_client_escape(principal) : NULL;
    char *path = tg_xasprintf("/v1/secrets%s%s%s%s", name ? "/" : "", name ? name : "",
                              escaped ? "?principal=" : "", escaped ? escaped : "");
    free(escaped);
    tg_client *c = tg_client_new(tg_client_url(url), tg_client_token(token), 0);
    tg_client_answer a;
    tg_client_result cr = tg_client_request(c,
                                            is_set      ? "PUT"
                                            : is_delete ? "DELETE"
                                                        : "GET",
                                            path, "application/octet-stream", value, len, &a);
    tg_client_free(c);
    if (value) {
        OPENSSL_cleanse(value, TG_SECRETS_MAX_VALUE + 1);
        free(value);
    }
    int rc = 1;
    if (cr == TG_CLIENT_OK && tg_client_ok(&a)) {
        rc = 0;
        if (is_set)
            printf("%s\n", a.body ? a.body : "");
        else if (is_delete)
            printf("deleted %s%s%s\n", name, principal ? " of " : "", principal ? principal : "");
        else if (as_json)
            printf("%s\n", a.body ? a.body : "");
        else
            print_list(&a);
    } else {
        tg_client_report(&a);
    }
    tg_client_answer_clear(&a);
    free(path);
    return rc;
}
