/* The sandbox pool: keeps `warm` sandboxes per runtime booted and idle, hands
 * one out per call, and refills in a background thread.
 *
 * A sandbox runs exactly one request and is then destroyed: never reused.
 * Every function here is thread-safe; many threads acquire and run at once.
 * Times are CLOCK_MONOTONIC nanoseconds (tg_frame_now_ns()). */
#ifndef TG_VMPOOL_POOL_H
#define TG_VMPOOL_POOL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vm-pool/driver.h"

typedef struct tg_pool tg_pool;
typedef struct tg_sandbox tg_sandbox;

enum {
    TG_POOL_OK = 0,
    TG_POOL_EINVAL = -1,    /* bad configuration or request; a sandbox run twice */
    TG_POOL_ECAPACITY = -2, /* no sandbox could be had before the deadline (retryable) */
    TG_POOL_ERUNTIME = -3,  /* the pool does not serve this runtime */
    TG_POOL_ESANDBOX = -4,  /* the sandbox died or broke the frame protocol */
    TG_POOL_ESYS = -5,      /* the driver or a system call failed */
    TG_POOL_ESHUTDOWN = -6, /* the pool is being destroyed */
    TG_POOL_ETEMPLATE = -7, /* no such worker template (not made, or dropped) */
    TG_POOL_ESETUP = -8,    /* the setup run failed: see the result */
};

/* One runtime's sizes; 0 takes the pool's. */
typedef struct tg_pool_runtime_size {
    unsigned warm, max;
} tg_pool_runtime_size;

typedef struct tg_pool_config {
    const tg_driver *driver;        /* e.g. &tg_jail_driver */
    tg_driver_config driver_config; /* agent_path is required */
    const char *const *runtimes;    /* e.g. {"sh", "python3"} */
    size_t nruntimes;
    unsigned warm;                     /* idle sandboxes kept per runtime (4) */
    unsigned max;                      /* sandboxes alive per runtime, idle or in use (32) */
    const tg_pool_runtime_size *sizes; /* NULL, or one per runtime, overriding warm and max */
    unsigned template_warm;            /* idle sandboxes kept per worker template (1) */
    /* Threads spawning sandboxes at once (1): a microVM restore waits on QEMU
     * for tens of milliseconds, so more than one keeps the pool full. */
    unsigned spawners;
} tg_pool_config;

/* Opens the driver, checks every runtime and starts the refill thread.
 * Returns 0, or a negative TG_POOL_E* code. */
int tg_pool_create(const tg_pool_config *cfg, tg_pool **out);

/* Takes an idle sandbox of runtime, waiting until deadline_ns for one.
 * Returns 0 with *out (the caller owns it: tg_sandbox_destroy), or
 * TG_POOL_ECAPACITY / TG_POOL_ERUNTIME / TG_POOL_ESHUTDOWN. */
int tg_pool_acquire(tg_pool *p, const char *runtime, int64_t deadline_ns, tg_sandbox **out);
/* The same for a sandbox whose /job starts from worker template tmpl (NULL:
 * a fresh one). TG_POOL_ETEMPLATE when tmpl was not made or was dropped. */
int tg_pool_acquire_from(tg_pool *p, const char *runtime, const char *tmpl, int64_t deadline_ns,
                         tg_sandbox **out);

/* Called, on the thread running the sandbox, for each fd 3 line the worker
 * wrote, in order, as it arrives. event is borrowed. */
typedef void (*tg_sandbox_event_cb)(const json_t *event, void *userdata);

/* Called, on the thread running the sandbox, for each HTTP request the
 * worker made through its proxy (HTTP_PROXY inside the sandbox), one at a
 * time, in the order they arrive; the run's other frames wait meanwhile.
 * request is the checked "egress" frame (borrowed; vm-pool/frame.h):
 *   {"type":"egress","id":N,"method":"POST","url":"http://host[:port]/path?q",
 *    "headers":[["Name","value"],...],"body":"<base64>"}
 * The url is always http:// (workers are told to ask for plain http and let
 * the gateway pick the scheme); hop-by-hop headers are already gone; the body
 * is at most TG_FRAME_EGRESS_BODY_MAX bytes. deadline_ns is the run's
 * deadline: the callback should not outlast it (the run times out anyway).
 * Returns: new reference, never NULL, the answer
 *   {"status":200,"headers":[["Name","value"],...],"body":"<base64>"}
 * status in [100, 599] (the proxy turns a 1xx into a 502), headers optional
 * (at most TG_FRAME_EGRESS_HEADERS_MAX, names HTTP tokens, values without
 * CR, LF or NUL; the proxy drops hop-by-hop ones and sets Content-Length and
 * Connection itself), body optional and at most TG_FRAME_EGRESS_BODY_MAX
 * bytes. An answer that breaks these rules reaches the worker as a 502 with
 * a JSON error body (RESPONSE_TOO_LARGE for a body over the limit, else
 * INTERNAL). A worker may exit without waiting for its answer: once an answer
 * cannot be written (the sandbox is gone), later requests of the run are not
 * passed to the callback, and the run ends with the result it already sent. */
typedef json_t *(*tg_sandbox_egress_cb)(const json_t *request, int64_t deadline_ns, void *userdata);

typedef struct tg_sandbox_file {
    const char *path; /* relative to the work dir; no ".." */
    const void *data;
    size_t len;
} tg_sandbox_file;

typedef struct tg_sandbox_request {
    const char *entry; /* one of files' paths */
    const tg_sandbox_file *files;
    size_t nfiles;
    const char *stdin_data; /* the arguments, one JSON document */
    size_t stdin_len;
    const char *const *env; /* "NAME=value" strings */
    size_t nenv;
    uint32_t timeout_ms;          /* wall clock, enforced by the host (required) */
    bool setup;                   /* a template's setup run (tg_pool_add_template sets it) */
    size_t max_output_bytes;      /* stdout beyond this is cut and the worker killed */
    tg_sandbox_event_cb on_event; /* optional */
    unsigned max_events;          /* events passed on; later ones are counted, not passed (1000) */
    /* Optional. NULL: every request the worker makes is answered 403 with
     * {"error":{"code":"EGRESS_DENIED","message":"this sandbox has no egress"}}. */
    tg_sandbox_egress_cb on_egress;
    void *userdata; /* for on_event and on_egress */
} tg_sandbox_request;

typedef struct tg_sandbox_result {
    int exit_code; /* -1 when the worker was killed by a signal or never started */
    int signal;    /* the signal that ended the worker, or 0 */
    bool timed_out;
    bool cancelled;
    bool output_truncated;
    char *out; /* stdout, malloc'd and NUL-terminated (binary-safe with out_len) */
    size_t out_len;
    char *err_tail; /* the last 4 KiB of stderr, malloc'd, NUL-terminated */
    size_t err_len;
    int64_t wall_ns; /* from sending "run" to the result */
    /* User + system time of the worker, as the agent inside the sandbox
     * reported it: untrusted, a hostile guest can say anything. */
    int64_t cpu_us;
    /* The CPU time the whole sandbox used from just before "run" was sent
     * until the run ended, as the host measured it (the jail's cgroup, the
     * microVM's QEMU process): what billing uses. A microVM's includes what
     * QEMU spends emulating it. -1 when the driver cannot measure it. */
    int64_t host_cpu_us;
    unsigned events;         /* events passed to on_event */
    unsigned events_dropped; /* events beyond max_events */
} tg_sandbox_result;

/* Runs req in sb. Returns 0 when the run reached an outcome (the worker
 * exited, was killed, timed out, or was cancelled; see res), TG_POOL_ESANDBOX
 * when the sandbox died or sent an invalid frame (res holds what arrived), or
 * TG_POOL_EINVAL for a bad request (stdin or env not UTF-8, a run frame over
 * TG_FRAME_MAX) or a sandbox that already ran.
 * res must be released with tg_sandbox_result_free in every case. */
int tg_sandbox_run(tg_sandbox *sb, const tg_sandbox_request *req, tg_sandbox_result *res);

/* Ends a run early (notifications/cancelled): kills the sandbox; the run
 * returns with res->cancelled. Any thread, any time before tg_sandbox_destroy. */
void tg_sandbox_cancel(tg_sandbox *sb);

/* The sandbox's id for logs and the audit log, fixed for its life and unique
 * across pools, processes and restarts: "<driver>-<instance>-<n>" (a setup
 * sandbox's "<driver>-<instance>-setup-<n>"), where driver is
 * tg_pool_driver_name, instance 12 hex digits drawn at random once per
 * process, and n counts the process's sandboxes ("jail-3fa91c0d72be-17").
 * Borrowed from sb. */
const char *tg_sandbox_id(const tg_sandbox *sb);

/* Destroys sb (never reused) and lets the pool refill. NULL is a no-op. */
void tg_sandbox_destroy(tg_sandbox *sb);

void tg_sandbox_result_free(tg_sandbox_result *res);

/* Makes worker template key ([0-9a-f]{1,64}): runs setup (a request whose
 * files are the worker's and whose entry is its setup command) in a setup
 * sandbox of runtime; when it exits 0 in time, the sandbox's /job becomes
 * the template, and the pool keeps template_warm sandboxes of it. One
 * template is made at a time. Returns 0 (also when key already exists, then
 * without running anything; res is zeroed), TG_POOL_ESETUP (res says how the
 * setup ended), TG_POOL_EINVAL (a bad key, or a driver without templates),
 * or another TG_POOL_E* code. res must be freed in every case. */
int tg_pool_add_template(tg_pool *p, const char *runtime, const char *key,
                         const tg_sandbox_request *setup, tg_sandbox_result *res);
bool tg_pool_has_template(tg_pool *p, const char *key);
/* Destroys the template's idle sandboxes and what the driver keeps for it;
 * sandboxes already acquired finish their call. */
void tg_pool_drop_template(tg_pool *p, const char *key);

/* What runs the sandboxes: "jail", "microvm (KVM)", "microvm (TCG)". */
const char *tg_pool_driver_description(tg_pool *p);
/* The driver's short, fixed name ("jail", "microvm"), for the audit log and
 * metrics labels; static storage. */
const char *tg_pool_driver_name(const tg_pool *p);

/* Counts for one runtime, for /metrics and tests. */
typedef struct tg_pool_stats {
    unsigned ready;  /* idle, warm */
    unsigned in_use; /* acquired, not yet destroyed */
    unsigned spawning;
    uint64_t spawned; /* since creation */
    uint64_t spawn_failures;
    int64_t last_spawn_ns;   /* how long the last successful spawn took */
    unsigned failing_spawns; /* failed in a row since the last that worked */
} tg_pool_stats;
int tg_pool_stats_get(tg_pool *p, const char *runtime, tg_pool_stats *out);

/* Spawns of one runtime failing in a row that make the pool unhealthy. */
#define TG_POOL_FAILING_SPAWNS 3
/* Whether every runtime's sandboxes still start: false, with why (len
 * bytes) saying which does not, once TG_POOL_FAILING_SPAWNS of a runtime's
 * spawns in a row failed; true again after one works. */
bool tg_pool_healthy(tg_pool *p, char *why, size_t len);

/* Stops the refill thread and destroys every idle sandbox. Sandboxes still
 * acquired must be destroyed first, and no acquire may be under way or follow
 * (their sandboxes die with the refill thread that spawned them anyway:
 * PR_SET_PDEATHSIG). NULL is a no-op. */
void tg_pool_destroy(tg_pool *p);

#endif
