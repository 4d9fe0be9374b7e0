/* The worker-running half of the sandbox agents, shared by toolgate-agent
 * (the jail's init) and toolgate-guest (the microVM's init).
 *
 * Each agent builds its own sandbox, then calls tg_runner_confine in the
 * process that will run the call, and tg_runner_run with the checked "run"
 * frame: the runner writes the files into /job, starts the worker, streams
 * its stdout and fd 3 events as frames on the channel, and ends with one
 * "result". Meanwhile it serves the worker's HTTP requests on the sandbox's
 * loopback (proxy.h): the worker's environment names it in HTTP_PROXY, each
 * request goes up as an "egress" frame and the host's "egress_response"
 * comes back down. Invariant: every byte the worker writes is bounded before
 * it becomes a frame, and no path from the host leaves /job. */
#ifndef TG_VMPOOL_AGENT_RUNNER_H
#define TG_VMPOOL_AGENT_RUNNER_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/resource.h>

/* The worker's resource limits. TG_RUNNER_LIMITS_DEFAULT holds the jail
 * driver's defaults, which the guest applies where the run frame sets none. */
typedef struct tg_runner_limits {
    rlim_t cpu_seconds, max_files, max_file_bytes, max_pids;
} tg_runner_limits;

#define TG_RUNNER_LIMITS_DEFAULT                                                                   \
    ((tg_runner_limits){                                                                           \
        .cpu_seconds = 60, .max_files = 256, .max_file_bytes = 64u << 20, .max_pids = 64})

/* Names the agent in diagnostics and sets the frame channel every later call uses. */
void tg_runner_init(const char *prog, int chan_fd);

/* Brings the loopback interface up (a fresh network namespace, or a booting
 * kernel, has it down), so that the proxy can listen on 127.0.0.1. Needs
 * CAP_NET_ADMIN: call it before tg_runner_confine. Returns 0, or -1 with
 * errno set. */
int tg_runner_loopback_up(void);

/* Prints what failed with errno's text on stderr and exits with status 1. */
_Noreturn void tg_runner_die(const char *what);

/* Confines the calling process and all it starts, for good: the limits, no
 * core dumps, uid and gid uid, no capabilities, no_new_privs, and the
 * seccomp filter. Dies on any failure. */
void tg_runner_confine(unsigned uid, const tg_runner_limits *lim);

/* Writes obj (stolen) to the channel; exits with status 2 if it cannot, as
 * then there is nobody left to report to. */
void tg_runner_send_frame(json_t *obj);

/* Runs the call that req (borrowed, a checked "run" frame) describes, and
 * sends its frames up to and including "result". Answers to the worker's
 * HTTP requests may still arrive after "result" (as whole frames: it never
 * returns inside one); whoever reads the channel next drops them. */
void tg_runner_run(const json_t *req);

#endif
