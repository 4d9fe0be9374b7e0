/* toolgate image build [--out DIR] [--cache DIR] [--quiet]: builds the
 * microVM guest image from Debian's packages with build-image.sh (copied
 * beside the binary by the build), around the toolgate-guest beside it.
 * The image is cached by the hash of what goes into it, so running this
 * again after nothing changed takes about a second. */
#include "gateway/commands.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gateway/core/alloc.h"

static const char usage_text[] =
    "usage: toolgate image build [--out DIR] [--cache DIR] [--quiet]\n"
    "  --out DIR     where the image goes (default: guest-image beside the binary,\n"
    "                where serve --driver microvm looks for it)\n"
    "  --cache DIR   downloaded packages and finished images\n"
    "                (default $TOOLGATE_CACHE_DIR, else ~/.cache/toolgate)\n"
    "  --quiet       print nothing unless it fails\n";

int tg_cmd_image(int argc, char **argv)
{
    if (argc < 1 || strcmp(argv[0], "build") != 0) {
        fputs(usage_text, stderr);
        return 2;
    }
    const char *out = NULL, *cache = NULL;
    bool quiet = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
            out = argv[++i];
        else if (strcmp(argv[i], "--cache") == 0 && i + 1 < argc)
            cache = argv[++i];
        else if (strcmp(argv[i], "--quiet") == 0)
            quiet = true;
        else {
            fputs(usage_text, stderr);
            return 2;
        }
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
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
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
    int status = 0;
    if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status)) rc = WEXITSTATUS(status);
out:
    free(script);
    free(guest);
    free(default_out);
    return rc;
}
