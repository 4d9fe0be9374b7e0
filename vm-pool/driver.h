/* The sandbox driver interface: the pool talks to sandboxes only through this
 * table, so the microVM driver sits beside the jail driver.
 *
 * Snapshots are a driver's own business: the microvm driver boots a template
 * in prepare() and restores every spawn() from it, the jail has none.
 * Worker templates ("install once, start from the snapshot") are the one
 * kind the pool asks for: a setup sandbox runs a worker's setup command in
 * /job, capture() keeps the result under a key (a VM snapshot for the
 * microvm, a read-only layer under an overlay for the jail), and spawns with
 * that key start from it.
 *
 * A driver sandbox is single-use and owned by whoever spawned it until
 * destroy(). kill() may be called from any thread while another thread uses
 * the sandbox's channel, but never after (or concurrently with) destroy(). */
#ifndef TG_VMPOOL_DRIVER_H
#define TG_VMPOOL_DRIVER_H

#include <stdint.h>

typedef struct tg_driver_sandbox tg_driver_sandbox;

/* A template key: [0-9a-f]{1,64}, safe as a file name. */
#define TG_DRIVER_KEY_MAX 64

/* Limits every sandbox of a pool gets; 0 takes the default in brackets. */
typedef struct tg_driver_config {
    const char *agent_path;    /* the static toolgate-agent binary (required) */
    uint64_t memory_bytes;     /* memory cgroup limit (128 MiB) */
    uint32_t max_pids;         /* pids cgroup limit (64) */
    uint64_t work_bytes;       /* size of the private /job tmpfs (64 MiB) */
    uint32_t cpu_seconds;      /* RLIMIT_CPU (60) */
    uint32_t max_files;        /* RLIMIT_NOFILE (256) */
    uint64_t max_file_bytes;   /* RLIMIT_FSIZE (64 MiB) */
    uint32_t spawn_timeout_ms; /* how long a spawn may take to reach "ready" (10000) */
    const char *image_dir;     /* microvm: vmlinux, initramfs.cpio, image.json (required) */
    const char *accel;         /* microvm: "auto" (KVM when it boots the guest), "kvm", "tcg" */
    const char *template_dir; /* jail: where captured /job layers are kept (required for capture) */
    uint64_t template_bytes;  /* the most a captured /job may hold (256 MiB) */
} tg_driver_config;

enum {
    TG_DRIVER_EINVAL = -1,  /* bad configuration, or a runtime this driver cannot run */
    TG_DRIVER_ESYS = -2,    /* a system call failed (see errno in the log line) */
    TG_DRIVER_ESPAWN = -3,  /* the sandbox did not come up */
    TG_DRIVER_ENOTSUP = -4, /* the host cannot run this driver */
};

typedef struct tg_driver {
    const char *name; /* short and fixed: "jail", "microvm"; begins sandbox ids */
    /* How spawn() readies a sandbox, for metrics: "spawn" (processes
     * started afresh) or "restore" (a VM resumed from a snapshot). */
    const char *spawn_kind;
    /* Sets up what all sandboxes share (cgroup parents, ...). */
    int (*open)(const tg_driver_config *cfg, void **state);
    /* Checks that runtime can run here ("sh", "python3", "exec"), before any
     * spawn, and readies what spawns start from (the microvm's template). */
    int (*prepare)(void *state, const char *runtime);
    /* Starts one sandbox and returns once its agent waits for the run frame.
     * tmpl is NULL for a fresh /job, or a key capture() made: the sandbox's
     * /job then starts as that setup run left it. */
    int (*spawn)(void *state, const char *runtime, const char *tmpl, tg_driver_sandbox **out);
    /* Starts a sandbox for a setup run (a run frame with "setup": true),
     * whose /job can become template key afterwards (capture). */
    int (*spawn_setup)(void *state, const char *runtime, const char *key, tg_driver_sandbox **out);
    /* After sb's setup run sent its result: makes sb's /job the starting point
     * of every sandbox spawned with tmpl == key. The caller then destroys sb. */
    int (*capture)(void *state, tg_driver_sandbox *sb, const char *key);
    /* Forgets template key and frees what it holds; sandboxes spawned from
     * it are unaffected. */
    void (*drop)(void *state, const char *key);
    /* The host's end of the frame stream (a socket). Owned by the sandbox. */
    int (*channel)(tg_driver_sandbox *sb);
    /* Stops everything in the sandbox now; thread-safe (see above). */
    void (*kill)(tg_driver_sandbox *sb);
    /* Kills, reaps and removes every trace of the sandbox (processes, cgroups). */
    void (*destroy)(tg_driver_sandbox *sb);
    /* Optional (NULL: unknown). The CPU time sb has used since it started,
     * in microseconds, as the host measures it (never as the guest reports
     * it), or -1 when it cannot be read. Cumulative: the pool bills a run by
     * the difference of two samples. Called on the thread using sb's channel,
     * also after kill(), never after destroy(). */
    int64_t (*cpu_usage_us)(tg_driver_sandbox *sb);
    /* What runs the sandboxes, for logs and /readyz ("jail", "microvm (TCG)"). */
    const char *(*describe)(void *state);
    void (*close)(void *state);
} tg_driver;

/* Namespaces, a read-only root, seccomp, cgroups and rlimits (jail.c). */
extern const tg_driver tg_jail_driver;
/* QEMU microvm guests with their own kernel, restored from a snapshot (microvm.c). */
extern const tg_driver tg_microvm_driver;

#endif
