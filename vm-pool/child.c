#include "vm-pool/child.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

int tg_child_fd_at_least(int fd, int min)
{
    if (fd < 0 || fd >= min) return fd;
    int hi = fcntl(fd, F_DUPFD_CLOEXEC, min);
    close(fd);
    return hi;
}

void tg_child_exec(const char *path, char *const argv[])
{
    static char *const envp[] = {NULL};
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    execve(path, argv, envp);
}
