#include "gateway/commands.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/core/alloc.h"

char *tg_binary_dir(void)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return NULL;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (!slash) return NULL;
    *slash = '\0';
    return tg_xstrdup(self);
}

char *tg_beside_binary(const char *name)
{
    char *dir = tg_binary_dir();
    if (!dir) return NULL;
    /* A build tree keeps the sandbox programs in vm-pool/. */
    static const char *const places[] = {"", "/vm-pool"};
    char *found = NULL;
    for (size_t i = 0; !found && i < sizeof places / sizeof *places; i++) {
        char *p = tg_xasprintf("%s%s/%s", dir, places[i], name);
        if (access(p, F_OK) == 0)
            found = p;
        else
            free(p);
    }
    free(dir);
    return found;
}
