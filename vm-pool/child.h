/* What the drivers share to start a sandbox's first process (the jail's
 * agent, the microvm's QEMU) from a child made with clone(CLONE_VM |
 * CLONE_VFORK): it shares the daemon's memory until execve, so it may only
 * make plain system calls, and every descriptor it moves into place must
 * come from above the numbers it fills. */
#ifndef TG_VMPOOL_CHILD_H
#define TG_VMPOOL_CHILD_H

/* Moves fd to a descriptor >= min (close-on-exec). Returns it, or -1 with fd
 * closed; fd < 0 passes through. */
int tg_child_fd_at_least(int fd, int min);

/* Unblocks every signal (the daemon blocks some for sigwait) and execs path
 * with an empty environment. Returns only when execve fails. */
void tg_child_exec(const char *path, char *const argv[]);

#endif
