/* toolgate image build [--out DIR] [--cache DIR] [--quiet]: builds the
 * microVM guest image from Debian's packages with build-image.sh (copied
 * beside the binary by the build), around the toolgate-guest beside it.
 * The image is cached by the hash of what goes into it, so running this
 * again after nothing changed takes about a second.
 *
 * On a terminal the script's "image: STEP" lines become the step of one
 * progress line, and the last of them (the image made, or why it failed)
 * stays; every other line the script writes (a failing tool's output) is
 * shown as it comes. Elsewhere the script's stderr is ours, untouched. */
#include "gateway/commands.h"

#include "gateway/core/alloc.h"
#include "gateway/progress.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char usage_text[] =
    "usage: toolgate image build [--out DIR] [--cache DIR] [--quiet]\n"
    "  --out DIR     where the image goes (default: guest-image beside the binary,\n"
    "                where serve --driver microvm looks for it)\n"
    "  --cache DIR   downloaded packages and finished images\n"
    "                (default $TOOLGATE_CACHE_DIR, else ~/.cache/toolgate)\n"
    "  --quiet       print nothing unless it fails\n"
    "On a terminal a progress line shows the step under way and the time so far.\n";

/* How the script marks the step it starts (its say and die lines). */
static const char step_prefix[] = "image: ";

/* Reads the script's stderr from fd until it closes, showing its steps on
 * p and passing every other line through. */
static void follow(int fd, tg_progress *p)
{
    FILE *in = fdopen(fd, "r");
    if (!in) {
        close(fd);
        return;
    }
    char *line = NULL, *last_step = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, in)) > 0) {
        if (strncmp(line, step_prefix, sizeof step_prefix - 1) == 0) {
            if (line[n - 1] == '\n') line[n - 1] = '\0';
            free(last_step);
            last_step = tg_xstrdup(line);
            tg_progress_step(p, line + sizeof step_prefix - 1);
        } else {
            tg_progress_print(p, line);
        }
    }
    tg_progress_end(p);
    if (last_step) fprintf(stderr, "%s\n", last_step);
    free(last_step);
    free(line);
    fclose(in);
}

int tg_cmd_image(int argc, char **argv)
{
    if (tg_cmd_wants_help(argc, argv)) return tg_cmd_help(usage_text);
    if (argc < 1 || strcmp(argv[0], "build") != 0) return tg_cmd_usage_error(usage_text);
    const char *out = NULL, *cache = NULL;
    bool quiet = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
            out = argv[++i];
        else if (strcmp(argv[i], "--cache") == 0 && i + 1 < argc)
            cache = argv[++i];
        else if (strcmp(argv[i], "--quiet") == 0)
            quiet = true;
        else
            return tg_cmd_usage_error(usage_text);
    }
    char *script = tg_beside_binary("build-image.sh");
    char *guest = tg_beside_binary("toolgate-guest");
    char *dir = tg_binary_dir();
    char *default_out = dir ? tg_xasprintf("%s/guest-image", dir) : NULL;
    free(dir);
    int rc = 1;
    if (!script || !guest || !default_out) {
        fprintf(stderr, "toolgate: %s is not beside the binary (build the tree first)\n",
                script ? "toolgate-guest" : "build-image.sh");
        goto out;
    }
    int pipe_fds[2] = {-1, -1};
    if (!quiet && tg_progress_wanted() && pipe(pipe_fds) != 0) {
        fprintf(stderr, "toolgate: pipe: %s\n", strerror(errno));
        goto out;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        if (pipe_fds[1] >= 0) {
            dup2(pipe_fds[1], STDERR_FILENO);
            close(pipe_fds[0]);
            close(pipe_fds[1]);
        }
        const char *args[10];
        int n = 0;
        args[n++] = script;
        args[n++] = "--guest";
        args[n++] = guest;
        args[n++] = "--out";
        args[n++] = out ? out : default_out;
        if (cache) {
            args[n++] = "--cache";
            args[n++] = cache;
        }
        if (quiet) args[n++] = "--quiet";
        args[n] = NULL;
        execv(script, (char *const *)args);
        perror("toolgate: build-image.sh");
        _exit(127);
    }
    if (pipe_fds[1] >= 0) {
        close(pipe_fds[1]);
        if (pid > 0)
            follow(pipe_fds[0], tg_progress_start("building the guest image"));
        else
            close(pipe_fds[0]);
    }
    int status = 0;
    if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status)) rc = WEXITSTATUS(status);
out:
    free(script);
    free(guest);
    free(default_out);
    return rc;
}
