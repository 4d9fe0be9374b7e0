/* The warm sandbox pool (pool.h).
 *
 * Per runtime, one mutex-guarded ready list and counters; one refill thread
 * spawns through the driver with the mutex released. Invariant: for every
 * runtime, ready + spawning + in_use <= max, and a sandbox leaves the ready
 * list exactly once, to one caller, which must destroy it. */
#include "vm-pool/pool.h"
#include "vm-pool/frame.h"

#include <errno.h>
#include <pthread.h>
#include <sys/random.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gateway/core/alloc.h"
#include "gateway/core/metrics.h"

/* The largest frame the host accepts from a guest: an egress request (a body
 * of TG_FRAME_EGRESS_BODY_MAX in base64 and up to 64 KiB of headers, escaped)
 * is the largest kind; stdout and event frames stay under 1 MiB. */
#define GUEST_FRAME_MAX TG_FRAME_MAX
#define STDERR_TAIL_MAX 4096

/* The sandboxes of one runtime, or of one worker template of a runtime. */
typedef struct pool_runtime {
    char *name;
    char *tmpl;         /* NULL for the runtime's base sandboxes */
    tg_sandbox **ready; /* stack of max entries */
    unsigned warm, max; /* idle ones kept; alive ones at most */
    unsigned nready, in_use, spawning, waiters;
    uint64_t spawned, failures;
    unsigned failing; /* spawns failed in a row since the last that worked */
    int64_t last_spawn_ns;
} pool_runtime;

struct tg_pool {
    const tg_driver *driver;
    void *dstate;
    /* Never shrinks while the pool lives: sandboxes point at their entry, and
     * a dropped template's entry stays, with no sandbox to keep (warm 0). */
    pool_runtime **rts;
    size_t nrts, cap;
    unsigned template_warm, template_max;
    pthread_mutex_t setup_mu; /* one template is made at a time */
    pthread_mutex_t mu;
    pthread_cond_t refill_cv; /* the refill thread waits here */
    pthread_cond_t avail_cv;  /* acquirers wait here */
    bool stopping;
    pthread_t *threads;
    unsigned nthreads;
    tg_driver_config limits; /* what the run frame tells a guest that has no argv */
};

struct tg_sandbox {
    tg_pool *pool;
    pool_runtime *rt;
    tg_driver_sandbox *d;
    atomic_bool ran;
    atomic_bool cancelled;
    char id[96];
};

/* Sandbox ids (tg_sandbox_id) are unique within the process by the counter,
 * and across processes and restarts by the instance drawn at random: a pid
 * alone repeats, e.g. in a container where the daemon is always pid 1. */
static pthread_once_t instance_once = PTHREAD_ONCE_INIT;
static char instance[13];
static atomic_uint_fast64_t sandbox_seq;

static void instance_init(void)
{
    unsigned char r[6];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
        /* Only without a kernel random source: the next best is pid and time. */
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        uint64_t x = ((uint64_t)getpid() << 32) ^ (uint64_t)now.tv_sec ^ (uint64_t)now.tv_nsec;
        for (size_t i = 0; i < sizeof r; i++)
            r[i] = (unsigned char)(x >> (8 * i));
    }
    for (size_t i = 0; i < sizeof r; i++)
        snprintf(instance + 2 * i, 3, "%02x", r[i]);
}

static void name_sandbox(tg_sandbox *sb, bool setup)
{
    pthread_once(&instance_once, instance_init);
    snprintf(sb->id, sizeof sb->id, "%s-%s-%s%llu", sb->pool->driver->name, instance,
             setup ? "setup-" : "", (unsigned long long)atomic_fetch_add(&sandbox_seq, 1));
}

/* What the host measured of sb's CPU time so far, or -1. */
static int64_t sandbox_cpu_us(const tg_sandbox *sb)
{
    return sb->pool->driver->cpu_usage_us ? sb->pool->driver->cpu_usage_us(sb->d) : -1;
}

static int64_t deadline_after(int64_t ns)
{
    return tg_frame_now_ns() + ns;
}

static struct timespec to_timespec(int64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
    return ts;
}

/* The runtime that most needs a sandbox, or NULL. Called with mu held. */
static pool_runtime *next_to_fill(tg_pool *p)
{
    for (size_t i = 0; i < p->nrts; i++) {
        pool_runtime *rt = p->rts[i];
        unsigned want = rt->warm + rt->waiters;
        if (rt->nready + rt->spawning < want && rt->nready + rt->spawning + rt->in_use < rt->max)
            return rt;
    }
    return NULL;
}

static void *refill_main(void *arg)
{
    tg_pool *p = arg;
    pthread_mutex_lock(&p->mu);
    while (!p->stopping) {
        pool_runtime *rt = next_to_fill(p);
        if (!rt) {
            pthread_cond_wait(&p->refill_cv, &p->mu);
            continue;
        }
        rt->spawning++;
        pthread_mutex_unlock(&p->mu);
        int64_t t0 = tg_frame_now_ns();
        tg_driver_sandbox *d = NULL;
        int rc = p->driver->spawn(p->dstate, rt->name, rt->tmpl, &d);
        int64_t took = tg_frame_now_ns() - t0;
        tg_sandbox *sb = NULL;
        if (rc == 0) {
            const char *how = p->driver->spawn_kind ? p->driver->spawn_kind : "spawn";
            tg_metrics_observe(tg_metrics_get(TG_METRIC_SANDBOX_START),
                               (const char *const[]){rt->name, how}, (double)took / 1e9);
            sb = tg_xcalloc(1, sizeof *sb);
            sb->pool = p;
            sb->rt = rt;
            sb->d = d;
            name_sandbox(sb, false);
        }
        pthread_mutex_lock(&p->mu);
        rt->spawning--;
        if (sb && rt->nready >= rt->max) {
            /* Its template was dropped while it was spawning. */
            pthread_mutex_unlock(&p->mu);
            p->driver->destroy(d);
            free(sb);
            pthread_mutex_lock(&p->mu);
        } else if (sb) {
            rt->ready[rt->nready++] = sb;
            rt->spawned++;
            rt->failing = 0;
            rt->last_spawn_ns = took;
            pthread_cond_broadcast(&p->avail_cv);
        } else {
            /* Back off, so a host that cannot spawn is not spun on. */
            rt->failures++;
            rt->failing++;
            struct timespec ts = to_timespec(deadline_after(100000000));
            pthread_cond_timedwait(&p->refill_cv, &p->mu, &ts);
        }
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* toolgate_pool_sandboxes, read as /metrics renders: a template's
 * sandboxes count as their runtime's. */
static void read_sandboxes(void *ctx, tg_metrics_sink *sink)
{
    tg_pool *p = ctx;
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < p->nrts; i++) {
        const pool_runtime *rt = p->rts[i];
        tg_metrics_put(sink, (const char *const[]){rt->name, "warm"}, rt->nready);
        tg_metrics_put(sink, (const char *const[]){rt->name, "busy"}, rt->in_use);
        tg_metrics_put(sink, (const char *const[]){rt->name, "booting"}, rt->spawning);
    }
    pthread_mutex_unlock(&p->mu);
}

/* Adds an entry keeping warm idle sandboxes, max alive. Called with mu held,
 * or before the refill threads start. */
static pool_runtime *add_runtime(tg_pool *p, const char *name, const char *tmpl, unsigned warm,
                                 unsigned max)
{
    if (p->nrts == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 8;
        p->rts = tg_xrealloc(p->rts, p->cap * sizeof *p->rts);
    }
    pool_runtime *rt = tg_xcalloc(1, sizeof *rt);
    rt->name = tg_xstrdup(name);
    rt->tmpl = tmpl ? tg_xstrdup(tmpl) : NULL;
    rt->warm = warm;
    rt->max = max < warm ? warm : max;
    rt->ready = tg_xcalloc(rt->max ? rt->max : 1, sizeof *rt->ready);
    p->rts[p->nrts++] = rt;
    return rt;
}

static void free_runtimes(tg_pool *p)
{
    for (size_t i = 0; i < p->nrts; i++) {
        free(p->rts[i]->name);
        free(p->rts[i]->tmpl);
        free(p->rts[i]->ready);
        free(p->rts[i]);
    }
    free(p->rts);
}

int tg_pool_create(const tg_pool_config *cfg, tg_pool **out)
{
    *out = NULL;
    if (!cfg->driver || !cfg->runtimes || cfg->nruntimes == 0) return TG_POOL_EINVAL;
    void *dstate = NULL;
    if (cfg->driver->open(&cfg->driver_config, &dstate) != 0) return TG_POOL_ESYS;
    for (size_t i = 0; i < cfg->nruntimes; i++) {
        if (cfg->driver->prepare(dstate, cfg->runtimes[i]) != 0) {
            cfg->driver->close(dstate);
            return TG_POOL_ERUNTIME;
        }
    }
    tg_pool *p = tg_xcalloc(1, sizeof *p);
    p->driver = cfg->driver;
    p->dstate = dstate;
    unsigned warm = cfg->warm ? cfg->warm : 4;
    unsigned max = cfg->max ? cfg->max : 32;
    for (size_t i = 0; i < cfg->nruntimes; i++) {
        const tg_pool_runtime_size *size = cfg->sizes ? &cfg->sizes[i] : NULL;
        add_runtime(p, cfg->runtimes[i], NULL, size && size->warm ? size->warm : warm,
                    size && size->max ? size->max : max);
    }
    p->template_warm = cfg->template_warm ? cfg->template_warm : 1;
    p->template_max = max;
    pthread_mutex_init(&p->setup_mu, NULL);
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->refill_cv, &ca);
    pthread_cond_init(&p->avail_cv, &ca);
    pthread_condattr_destroy(&ca);
    p->limits.cpu_seconds = cfg->driver_config.cpu_seconds ? cfg->driver_config.cpu_seconds : 60;
    p->limits.max_files = cfg->driver_config.max_files ? cfg->driver_config.max_files : 256;
    p->limits.max_file_bytes =
        cfg->driver_config.max_file_bytes ? cfg->driver_config.max_file_bytes : 64u << 20;
    p->limits.max_pids = cfg->driver_config.max_pids ? cfg->driver_config.max_pids : 64;
    p->threads = tg_xcalloc(cfg->spawners ? cfg->spawners : 1, sizeof *p->threads);
    for (unsigned i = 0; i < (cfg->spawners ? cfg->spawners : 1); i++) {
        if (pthread_create(&p->threads[i], NULL, refill_main, p) != 0) break;
        p->nthreads++;
    }
    if (p->nthreads == 0) {
        free(p->threads);
        p->driver->close(p->dstate);
        free_runtimes(p);
        pthread_mutex_destroy(&p->setup_mu);
        free(p);
        return TG_POOL_ESYS;
    }
    tg_metrics_reader_add(tg_metrics_get(TG_METRIC_POOL_SANDBOXES), read_sandboxes, p);
    *out = p;
    return 0;
}

/* The entry for runtime's base (tmpl NULL) or for template tmpl, or NULL.
 * Called with mu held, or before the refill threads start. */
static pool_runtime *find_runtime(tg_pool *p, const char *runtime, const char *tmpl)
{
    for (size_t i = 0; i < p->nrts; i++) {
        pool_runtime *rt = p->rts[i];
        if (strcmp(rt->name, runtime) == 0 &&
            (tmpl ? rt->tmpl && strcmp(rt->tmpl, tmpl) == 0 : !rt->tmpl))
            return rt;
    }
    return NULL;
}

int tg_pool_acquire(tg_pool *p, const char *runtime, int64_t deadline_ns, tg_sandbox **out)
{
    return tg_pool_acquire_from(p, runtime, NULL, deadline_ns, out);
}

int tg_pool_acquire_from(tg_pool *p, const char *runtime, const char *tmpl, int64_t deadline_ns,
                         tg_sandbox **out)
{
    *out = NULL;
    pthread_mutex_lock(&p->mu);
    pool_runtime *rt = find_runtime(p, runtime, tmpl);
    bool usable = rt && rt->max > 0;
    pthread_mutex_unlock(&p->mu);
    if (!usable)
        return tmpl && find_runtime(p, runtime, NULL) ? TG_POOL_ETEMPLATE : TG_POOL_ERUNTIME;
    struct timespec ts = to_timespec(deadline_ns);
    int rc = 0;
    pthread_mutex_lock(&p->mu);
    rt->waiters++;
    while (!p->stopping && rt->nready == 0) {
        pthread_cond_signal(&p->refill_cv);
        if (pthread_cond_timedwait(&p->avail_cv, &p->mu, &ts) == ETIMEDOUT && rt->nready == 0) {
            rc = TG_POOL_ECAPACITY;
            break;
        }
    }
    rt->waiters--;
    if (p->stopping) rc = TG_POOL_ESHUTDOWN;
    if (rc == 0) {
        *out = rt->ready[--rt->nready];
        rt->in_use++;
        pthread_cond_signal(&p->refill_cv);
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

const char *tg_sandbox_id(const tg_sandbox *sb)
{
    return sb->id;
}

void tg_sandbox_cancel(tg_sandbox *sb)
{
    atomic_store(&sb->cancelled, true);
    sb->pool->driver->kill(sb->d);
}

void tg_sandbox_destroy(tg_sandbox *sb)
{
    if (!sb) return;
    tg_pool *p = sb->pool;
    p->driver->destroy(sb->d);
    pthread_mutex_lock(&p->mu);
    sb->rt->in_use--;
    pthread_cond_signal(&p->refill_cv);
    pthread_mutex_unlock(&p->mu);
    free(sb);
}

void tg_sandbox_result_free(tg_sandbox_result *res)
{
    free(res->out);
    free(res->err_tail);
    memset(res, 0, sizeof *res);
}

/* Returns: new reference, the run frame for req, or NULL when req is invalid
 * (stdin or env not UTF-8, an env entry without '='). */
static json_t *run_frame(const tg_pool *p, const char *runtime, const tg_sandbox_request *req)
{
    json_t *o = json_object(), *files = json_array(), *env = json_object(), *limits = json_object();
    json_object_set_new(o, "type", json_string("run"));
    json_object_set_new(o, "runtime", json_string(runtime));
    json_object_set_new(o, "entry", json_string(req->entry));
    json_object_set_new(o, "files", files);
    json_object_set_new(o, "env", env);
    json_object_set_new(o, "limits", limits);
    json_t *in = json_stringn(req->stdin_data ? req->stdin_data : "", req->stdin_len);
    bool ok = in != NULL && json_object_get(o, "entry") != NULL;
    json_object_set_new(o, "stdin", in);
    for (size_t i = 0; ok && i < req->nfiles; i++) {
        json_t *f = json_object();
        json_t *path = json_string(req->files[i].path);
        json_t *data = tg_frame_b64(req->files[i].data, req->files[i].len);
        ok = path && data;
        json_object_set_new(f, "path", path);
        json_object_set_new(f, "data", data);
        json_array_append_new(files, f);
    }
    for (size_t i = 0; ok && i < req->nenv; i++) {
        const char *eq = strchr(req->env[i], '=');
        if (!eq || eq == req->env[i]) {
            ok = false;
            break;
        }
        char *name = tg_xstrndup(req->env[i], (size_t)(eq - req->env[i]));
        json_t *v = json_string(eq + 1);
        ok = v && json_object_set_new(env, name, v) == 0;
        free(name);
    }
    json_object_set_new(limits, "timeout_ms", json_integer(req->timeout_ms));
    json_object_set_new(limits, "max_output_bytes",
                        json_integer((json_int_t)req->max_output_bytes));
    json_object_set_new(limits, "cpu_seconds", json_integer(p->limits.cpu_seconds));
    json_object_set_new(limits, "max_files", json_integer(p->limits.max_files));
    json_object_set_new(limits, "max_file_bytes",
                        json_integer((json_int_t)p->limits.max_file_bytes));
    json_object_set_new(limits, "max_pids", json_integer(p->limits.max_pids));
    /* VMs restored from one snapshot share their random state until the
     * guest mixes this in. */
    unsigned char seed[32];
    if (getrandom(seed, sizeof seed, 0) != (ssize_t)sizeof seed) ok = false;
    json_object_set_new(o, "seed", tg_frame_b64(seed, sizeof seed));
    if (req->setup) json_object_set_new(o, "setup", json_true());
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    json_object_set_new(o, "now_ms",
                        json_integer((json_int_t)now.tv_sec * 1000 + now.tv_nsec / 1000000));
    tg_frame_type type;
    if (!ok || tg_frame_check(o, &type) != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* Handles one guest frame. Returns 1 when it was the result, 0 to go on,
 * TG_POOL_ESANDBOX when the guest broke the protocol. */
static int on_frame(const tg_sandbox_request *req, tg_sandbox_result *res, const json_t *f,
                    tg_frame_type type)
{
    unsigned char *data = NULL;
    size_t len = 0;
    switch (type) {
    case TG_FRAME_STDOUT:
        if (tg_frame_unb64(json_object_get(f, "data"), &data, &len) != 0) return TG_POOL_ESANDBOX;
        /* The agent caps stdout; more than the cap means it is not our agent. */
        if (len > req->max_output_bytes - res->out_len) {
            free(data);
            return TG_POOL_ESANDBOX;
        }
        res->out = tg_xrealloc(res->out, res->out_len + len + 1);
        memcpy(res->out + res->out_len, data, len);
        res->out_len += len;
        res->out[res->out_len] = '\0';
        free(data);
        return 0;
    case TG_FRAME_STDERR:
        if (tg_frame_unb64(json_object_get(f, "data"), &data, &len) != 0 || len > STDERR_TAIL_MAX) {
            free(data);
            return TG_POOL_ESANDBOX;
        }
        free(res->err_tail);
        res->err_tail = (char *)data;
        res->err_len = len;
        return 0;
    case TG_FRAME_EVENT:
        /* A worker may print events in a loop; the callback's consumer
         * (notifications to a client) should not see all of them. */
        if (res->events >= (req->max_events ? req->max_events : 1000)) {
            res->events_dropped++;
        } else {
            res->events++;
            if (req->on_event) req->on_event(json_object_get(f, "event"), req->userdata);
        }
        return 0;
    case TG_FRAME_RESULT:
        res->exit_code = (int)json_integer_value(json_object_get(f, "exit_code"));
        res->signal = (int)json_integer_value(json_object_get(f, "signal"));
        res->output_truncated = json_is_true(json_object_get(f, "output_truncated"));
        res->cpu_us = json_integer_value(json_object_get(f, "cpu_us"));
        return 1;
    case TG_FRAME_READY:
    case TG_FRAME_PING:
    case TG_FRAME_RUN:
    case TG_FRAME_EGRESS:          /* answered by the run loop (answer_egress) */
    case TG_FRAME_EGRESS_RESPONSE: /* host -> guest only */
        break;
    }
    return TG_POOL_ESANDBOX;
}

/* Returns: new reference, an answer {status, headers, body} with a JSON
 * error body, as the gateway's egress proxy writes its own. */
static json_t *egress_error(int status, const char *code, const char *message)
{
    json_t *err = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message);
    char *text = json_dumps(err, JSON_COMPACT);
    json_decref(err);
    json_t *answer = json_pack("{s:i, s:[[s:s]], s:o}", "status", status, "headers", "Content-Type",
                               "application/json", "body", tg_frame_b64(text, strlen(text)));
    free(text);
    return answer;
}

/* Returns: new reference, the egress_response frame answering request id
 * with answer (borrowed), or NULL when answer does not make a valid one. */
static json_t *egress_response(json_int_t id, const json_t *answer)
{
    json_t *headers = json_object_get(answer, "headers");
    json_t *body = json_object_get(answer, "body");
    json_t *f = json_object();
    json_object_set_new(f, "type", json_string("egress_response"));
    json_object_set_new(f, "id", json_integer(id));
    json_object_set(f, "status", json_object_get(answer, "status"));
    json_object_set_new(f, "headers", headers ? json_incref(headers) : json_array());
    json_object_set_new(f, "body", body ? json_incref(body) : json_string(""));
    tg_frame_type type;
    if (tg_frame_check(f, &type) == 0) return f;
    json_decref(f);
    return NULL;
}

/* Answers one egress frame f with on_egress's answer (a 403 without one).
 * An answer that cannot be a frame reaches the worker as a 502. Returns 0
 * or the TG_FRAME_E* code of writing the frame. */
static int answer_egress(int fd, const tg_sandbox_request *req, const json_t *f, int64_t deadline)
{
    json_int_t id = json_integer_value(json_object_get(f, "id"));
    json_t *answer = req->on_egress
                         ? req->on_egress(f, deadline, req->userdata)
                         : egress_error(403, "EGRESS_DENIED", "this sandbox has no egress");
    json_t *frame = json_is_object(answer) ? egress_response(id, answer) : NULL;
    int rc = frame ? tg_frame_write(fd, frame, deadline) : TG_FRAME_ETOOBIG;
    json_decref(frame);
    /* ETOOBIG: nothing was written (its headers alone overflow a frame). */
    if (rc == TG_FRAME_ETOOBIG) {
        /* What the body would decode to. */
        const json_t *body = json_object_get(answer, "body");
        size_t blen = json_string_length(body);
        const char *b = json_string_value(body);
        size_t pad = blen >= 2 ? (b[blen - 1] == '=') + (b[blen - 2] == '=') : 0;
        bool too_large = b && blen / 4 * 3 > TG_FRAME_EGRESS_BODY_MAX + pad;
        json_t *err = too_large
                          ? egress_error(502, "RESPONSE_TOO_LARGE",
                                         "the response exceeds the sandbox's 4 MiB limit")
                          : egress_error(502, "INTERNAL",
                                         "the gateway made an invalid answer to this request");
        frame = egress_response(id, err);
        json_decref(err);
        rc = tg_frame_write(fd, frame, deadline);
        json_decref(frame);
    }
    json_decref(answer);
    return rc;
}

int tg_sandbox_run(tg_sandbox *sb, const tg_sandbox_request *req, tg_sandbox_result *res)
{
    memset(res, 0, sizeof *res);
    res->exit_code = -1;
    res->host_cpu_us = -1;
    res->out = tg_xcalloc(1, 1);
    if (!req->entry || req->timeout_ms == 0 || req->max_output_bytes > TG_FRAME_MAX ||
        atomic_exchange(&sb->ran, true))
        return TG_POOL_EINVAL;
    json_t *frame = run_frame(sb->pool, sb->rt->name, req);
    if (!frame) return TG_POOL_EINVAL;
    int fd = sb->pool->driver->channel(sb->d);
    /* Billing takes the host's figure for the run alone: the sandbox's own
     * start-up, before "run", is the pool's cost. */
    int64_t cpu_before = sandbox_cpu_us(sb);
    int64_t start = tg_frame_now_ns();
    int64_t deadline = start + (int64_t)req->timeout_ms * 1000000;
    int rc = tg_frame_write(fd, frame, deadline);
    json_decref(frame);
    if (rc == TG_FRAME_ETOOBIG || rc == TG_FRAME_EINVAL) return TG_POOL_EINVAL;
    /* Whether answers can still reach the guest: a worker that made a
     * request and exited without waiting leaves a guest that sent its
     * result and closed its end, and that result is still to be read. */
    bool answering = true;
    while (rc == 0) {
        json_t *f = NULL;
        tg_frame_type type;
        rc = tg_frame_read(fd, GUEST_FRAME_MAX, deadline, &f, &type);
        if (rc == 0 && type == TG_FRAME_EGRESS) {
            if (answering) rc = answer_egress(fd, req, f, deadline);
            if (rc == TG_FRAME_EIO) {
                answering = false;
                rc = 0;
            }
            json_decref(f);
        } else if (rc == 0) {
            rc = on_frame(req, res, f, type);
            json_decref(f);
            if (rc == 1) {
                rc = 0;
                break;
            }
        }
    }
    if (rc == TG_FRAME_ETIMEDOUT) {
        sb->pool->driver->kill(sb->d);
        res->timed_out = true;
        rc = 0;
    } else if (rc < 0 && atomic_load(&sb->cancelled)) {
        res->cancelled = true;
        rc = 0;
    } else if (rc < 0) {
        rc = TG_POOL_ESANDBOX;
    }
    res->wall_ns = tg_frame_now_ns() - start;
    int64_t cpu_after = sandbox_cpu_us(sb);
    if (cpu_before >= 0 && cpu_after >= cpu_before) res->host_cpu_us = cpu_after - cpu_before;
    return rc;
}

int tg_pool_stats_get(tg_pool *p, const char *runtime, tg_pool_stats *out)
{
    pthread_mutex_lock(&p->mu);
    pool_runtime *rt = find_runtime(p, runtime, NULL);
    if (!rt) {
        pthread_mutex_unlock(&p->mu);
        return TG_POOL_ERUNTIME;
    }
    out->ready = rt->nready;
    out->in_use = rt->in_use;
    out->spawning = rt->spawning;
    out->spawned = rt->spawned;
    out->spawn_failures = rt->failures;
    out->failing_spawns = rt->failing;
    out->last_spawn_ns = rt->last_spawn_ns;
    pthread_mutex_unlock(&p->mu);
    return 0;
}

bool tg_pool_healthy(tg_pool *p, char *why, size_t len)
{
    bool healthy = true;
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < p->nrts && healthy; i++) {
        const pool_runtime *rt = p->rts[i];
        /* A template's sandboxes failing is its worker's setup's business;
         * a runtime's base sandboxes failing is the host's. */
        if (rt->tmpl || rt->failing < TG_POOL_FAILING_SPAWNS) continue;
        healthy = false;
        snprintf(why, len, "%s: the last %u sandboxes failed to start", rt->name, rt->failing);
    }
    pthread_mutex_unlock(&p->mu);
    return healthy;
}

void tg_pool_destroy(tg_pool *p)
{
    if (!p) return;
    tg_metrics_reader_remove(tg_metrics_get(TG_METRIC_POOL_SANDBOXES), read_sandboxes, p);
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    pthread_cond_broadcast(&p->refill_cv);
    pthread_cond_broadcast(&p->avail_cv);
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    free(p->threads);
    for (size_t i = 0; i < p->nrts; i++) {
        pool_runtime *rt = p->rts[i];
        for (unsigned j = 0; j < rt->nready; j++) {
            p->driver->destroy(rt->ready[j]->d);
            free(rt->ready[j]);
        }
        rt->nready = 0;
    }
    for (size_t i = 0; i < p->nrts; i++)
        if (p->rts[i]->tmpl && p->driver->drop) p->driver->drop(p->dstate, p->rts[i]->tmpl);
    free_runtimes(p);
    p->driver->close(p->dstate);
    pthread_cond_destroy(&p->refill_cv);
    pthread_cond_destroy(&p->avail_cv);
    pthread_mutex_destroy(&p->mu);
    pthread_mutex_destroy(&p->setup_mu);
    free(p);
}

const char *tg_pool_driver_description(tg_pool *p)
{
    return p->driver->describe(p->dstate);
}

const char *tg_pool_driver_name(const tg_pool *p)
{
    return p->driver->name;
}

static bool valid_key(const char *key)
{
    size_t n = key ? strlen(key) : 0;
    return n >= 1 && n <= TG_DRIVER_KEY_MAX && strspn(key, "0123456789abcdef") == n;
}

bool tg_pool_has_template(tg_pool *p, const char *key)
{
    bool found = false;
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < p->nrts && !found; i++)
        found = p->rts[i]->tmpl && p->rts[i]->max > 0 && strcmp(p->rts[i]->tmpl, key) == 0;
    pthread_mutex_unlock(&p->mu);
    return found;
}

int tg_pool_add_template(tg_pool *p, const char *runtime, const char *key,
                         const tg_sandbox_request *setup, tg_sandbox_result *res)
{
    memset(res, 0, sizeof *res);
    if (!valid_key(key) || !p->driver->capture) return TG_POOL_EINVAL;
    pthread_mutex_lock(&p->setup_mu);
    int rc = 0;
    if (tg_pool_has_template(p, key)) goto out;
    pthread_mutex_lock(&p->mu);
    pool_runtime *base = find_runtime(p, runtime, NULL);
    if (base) base->in_use++;
    pthread_mutex_unlock(&p->mu);
    if (!base) {
        rc = TG_POOL_ERUNTIME;
        goto out;
    }
    /* The setup sandbox counts as one of the runtime's, in use, so that
     * tg_sandbox_destroy's accounting holds for it too. */
    tg_sandbox *sb = tg_xcalloc(1, sizeof *sb);
    sb->pool = p;
    sb->rt = base;
    name_sandbox(sb, true);
    if (p->driver->spawn_setup(p->dstate, runtime, key, &sb->d) != 0) {
        sb->d = NULL;
        rc = TG_POOL_ESYS;
    } else {
        tg_sandbox_request req = *setup;
        req.setup = true;
        rc = tg_sandbox_run(sb, &req, res);
        if (rc == 0 && (res->exit_code != 0 || res->timed_out || res->cancelled))
            rc = TG_POOL_ESETUP;
        if (rc == 0 && p->driver->capture(p->dstate, sb->d, key) != 0) rc = TG_POOL_ESYS;
    }
    tg_sandbox_destroy(sb);
    if (rc == 0) {
        pthread_mutex_lock(&p->mu);
        pool_runtime *rt = find_runtime(p, runtime, key);
        if (rt) {
            rt->warm = p->template_warm;
            rt->max = p->template_max < rt->warm ? rt->warm : p->template_max;
        } else {
            add_runtime(p, runtime, key, p->template_warm, p->template_max);
        }
        pthread_cond_broadcast(&p->refill_cv);
        pthread_mutex_unlock(&p->mu);
    }
out:
    pthread_mutex_unlock(&p->setup_mu);
    return rc;
}

void tg_pool_drop_template(tg_pool *p, const char *key)
{
    if (!valid_key(key)) return;
    pthread_mutex_lock(&p->setup_mu);
    pthread_mutex_lock(&p->mu);
    tg_sandbox **idle = NULL;
    size_t nidle = 0;
    bool found = false;
    for (size_t i = 0; i < p->nrts; i++) {
        pool_runtime *rt = p->rts[i];
        if (!rt->tmpl || strcmp(rt->tmpl, key) != 0) continue;
        found = true;
        rt->warm = rt->max = 0;
        idle = tg_xrealloc(idle, (nidle + rt->nready + 1) * sizeof *idle);
        while (rt->nready > 0) {
            idle[nidle++] = rt->ready[--rt->nready];
            rt->in_use++;
        }
    }
    pthread_mutex_unlock(&p->mu);
    for (size_t i = 0; i < nidle; i++)
        tg_sandbox_destroy(idle[i]);
    free(idle);
    if (found) p->driver->drop(p->dstate, key);
    pthread_mutex_unlock(&p->setup_mu);
}
