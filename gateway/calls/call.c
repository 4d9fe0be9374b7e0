/* The call pipeline; see call.h.
 *
 * Calls wait in one queue and run on a fixed set of threads. A call that is
 * queued or running is listed with its session and request id, so that
 * notifications/cancelled can find it: a queued one answers CANCELLED without
 * running, a running one has its sandbox killed. Every call answers exactly
 * once through its done callback. */
#include "gateway/calls/call.h"

#include "gateway/calls/result.h"
#include "gateway/core/alloc.h"
#include "gateway/core/errors.h"
#include "vm-pool/frame.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_THREADS    32
#define DEFAULT_ACQUIRE_MS 5000
#define DEFAULT_TIMEOUT_MS 10000
#define DEFAULT_MAX_OUTPUT (1024 * 1024)
#define SETUP_TIMEOUT_MS   120000
#define MAX_FAILED_SETUPS  256

typedef struct job {
    tg_registry_snapshot *tool;
    json_t *arguments;
    char *session_id;
    json_t *request_id;
    tg_call_event_fn on_event;
    tg_call_done_fn done;
    void *userdata;
    tg_sandbox *sandbox; /* while it runs; guarded by the calls lock */
    bool cancelled;
    struct job *next;      /* queue */
    struct job *live_next; /* every queued or running job */
} job;

struct tg_calls {
    tg_pool *pool;
    tg_admission *admission;
    int64_t acquire_ms;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    job *head, *tail;
    job *live;
    bool stopping;
    pthread_t *threads;
    unsigned nthreads;
    /* Templates whose setup failed, oldest first, with the error their calls
     * answer at once instead of running the setup again each time. */
    struct failed_setup {
        char key[TG_DRIVER_KEY_MAX + 1];
        json_t *error;
    } failed[MAX_FAILED_SETUPS];
    size_t nfailed;
};

static void job_free(job *j)
{
    tg_registry_snapshot_unref(j->tool);
    json_decref(j->arguments);
    json_decref(j->request_id);
    free(j->session_id);
    free(j);
}

static void unlist(tg_calls *c, job *j)
{
    for (job **p = &c->live; *p; p = &(*p)->live_next) {
        if (*p == j) {
            *p = j->live_next;
            return;
        }
    }
}

static json_t *gateway_error(tg_err_code code, const char *message)
{
    return tg_tool_error_result(code, message, NULL, NULL);
}

static json_t *manifest_get(const tg_registry_snapshot *tool, const char *a, const char *b)
{
    json_t *v = json_object_get(tg_registry_snapshot_manifest(tool), a);
    return b ? json_object_get(v, b) : v;
}

static int64_t limit(const tg_registry_snapshot *tool, const char *name, int64_t fallback)
{
    json_t *v = manifest_get(tool, "limits", name);
    return json_is_integer(v) && json_integer_value(v) > 0 ? json_integer_value(v) : fallback;
}

static void forward_event(const json_t *event, void *userdata)
{
    job *j = userdata;
    if (j->on_event) j->on_event(event, j->userdata);
}

/* The worker's files as the sandbox takes them (borrowed from tool). */
static tg_sandbox_file *sandbox_files(const tg_registry_snapshot *tool, size_t *n)
{
    *n = tg_registry_snapshot_file_count(tool);
    tg_sandbox_file *files = tg_xcalloc(*n ? *n : 1, sizeof *files);
    for (size_t i = 0; i < *n; i++) {
        const tg_registry_file *f = tg_registry_snapshot_file(tool, i);
        files[i] = (tg_sandbox_file){f->path, f->data, f->len};
    }
    return files;
}

/* A version's template is its own within its tenant: the key hashes all three. */
static void template_key(const tg_registry_snapshot *tool, char key[TG_DRIVER_KEY_MAX + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    const char *parts[] = {tg_registry_snapshot_tenant(tool), tg_registry_snapshot_name(tool),
                           tg_registry_snapshot_version(tool)};
    bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;
    /* Each part with its NUL, so no two triples hash alike. */
    for (size_t i = 0; ok && i < 3; i++)
        ok = EVP_DigestUpdate(ctx, parts[i], strlen(parts[i]) + 1) == 1;
    ok = ok && EVP_DigestFinal_ex(ctx, md, &len) == 1 && len == 32;
    EVP_MD_CTX_free(ctx);
    /* Fails only without memory, which ends the process everywhere (alloc.h). */
    if (!ok) abort();
    for (size_t i = 0; i < 32; i++)
        snprintf(key + 2 * i, 3, "%02x", md[i]);
}

/* Returns: a new copy of the error key's setup failed with, or NULL. */
static json_t *setup_failure(tg_calls *c, const char *key)
{
    json_t *error = NULL;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->nfailed && !error; i++)
        if (strcmp(c->failed[i].key, key) == 0) error = json_deep_copy(c->failed[i].error);
    pthread_mutex_unlock(&c->lock);
    return error;
}

static void remember_failure(tg_calls *c, const char *key, const json_t *error)
{
    pthread_mutex_lock(&c->lock);
    if (c->nfailed == MAX_FAILED_SETUPS) {
        json_decref(c->failed[0].error);
        memmove(&c->failed[0], &c->failed[1], (MAX_FAILED_SETUPS - 1) * sizeof c->failed[0]);
        c->nfailed--;
    }
    struct failed_setup *f = &c->failed[c->nfailed++];
    snprintf(f->key, sizeof f->key, "%s", key);
    f->error = json_deep_copy(error);
    pthread_mutex_unlock(&c->lock);
}

/* Makes tool's template (key) by running its setup. Returns NULL, or the
 * error result for a call of this version. */
static json_t *make_template(tg_calls *c, const tg_registry_snapshot *tool, const char *key)
{
    json_t *known = setup_failure(c, key);
    if (known) return known;
    const json_t *setup = manifest_get(tool, "setup", NULL);
    const char *runtime = json_string_value(json_object_get(setup, "runtime"));
    if (!runtime) runtime = json_string_value(manifest_get(tool, "runtime", NULL));
    json_t *timeout = json_object_get(setup, "timeout_ms");
    size_t nfiles;
    tg_sandbox_file *files = sandbox_files(tool, &nfiles);
    tg_sandbox_request req = {
        .entry = json_string_value(json_object_get(setup, "entry")),
        .files = files,
        .nfiles = nfiles,
        .timeout_ms =
            json_is_integer(timeout) ? (uint32_t)json_integer_value(timeout) : SETUP_TIMEOUT_MS,
        .max_output_bytes = DEFAULT_MAX_OUTPUT,
    };
    tg_sandbox_result res;
    int rc = tg_pool_add_template(c->pool, runtime ? runtime : "", key, &req, &res);
    json_t *error = NULL;
    if (rc == TG_POOL_ESETUP) {
        char *why = res.timed_out ? tg_xasprintf("setup timed out after %u ms", req.timeout_ms)
                    : res.signal  ? tg_xasprintf("setup was killed by signal %d", res.signal)
                                  : tg_xasprintf("setup exited with status %d", res.exit_code);
        json_t *details = json_pack("{s:s}", "stderr", res.err_tail ? res.err_tail : "");
        error = tg_tool_error_result(TG_ESETUP_FAILED, why, details, NULL);
        json_decref(details);
        free(why);
        remember_failure(c, key, error);
    } else if (rc == TG_POOL_ERUNTIME) {
        error = gateway_error(TG_EUNAVAILABLE, "this gateway does not run the setup's runtime");
    } else if (rc != 0) {
        error = gateway_error(TG_EUNAVAILABLE, "the setup sandbox failed");
    }
    tg_sandbox_result_free(&res);
    free(files);
    return error;
}

json_t *tg_calls_prepare(tg_calls *c, const tg_registry_snapshot *tool)
{
    if (!manifest_get(tool, "setup", NULL)) return NULL;
    char key[TG_DRIVER_KEY_MAX + 1];
    template_key(tool, key);
    return tg_pool_has_template(c->pool, key) ? NULL : make_template(c, tool, key);
}

/* RATE_LIMITED with the admission's own retryAfterMs, not the table's default. */
static json_t *rate_limited(int64_t retry_after_ms)
{
    json_t *result = gateway_error(TG_ERATE_LIMITED, NULL);
    json_t *error = json_object_get(json_object_get(result, "structuredContent"), "error");
    json_object_set_new(error, "retryAfterMs", json_integer(retry_after_ms));
    return result;
}

static json_t *run_admitted(tg_calls *c, job *j, tg_sandbox **used);

/* Steps 2-7 of the pipeline for one call; returns its result. The
 * sandbox it used is left in *used for the caller to destroy (step 8) once
 * the answer is on its way: tearing down cgroups and processes takes a
 * millisecond or so the client need not wait for. */
static json_t *run(tg_calls *c, job *j, tg_sandbox **used)
{
    *used = NULL;
    json_t *refusal = NULL;
    if (tg_call_check_arguments(j->tool, j->arguments, NULL, &refusal) != 0) return refusal;

    tg_admission_ticket ticket;
    int64_t retry_after_ms = 0;
    if (tg_admission_enter(c->admission, tg_registry_snapshot_tenant(j->tool),
                           tg_registry_snapshot_name(j->tool), tg_frame_now_ns(), &ticket,
                           &retry_after_ms) != 0)
        return rate_limited(retry_after_ms);
    json_t *result = run_admitted(c, j, used);
    tg_admission_leave(c->admission, &ticket);
    return result;
}

/* Steps 5-7 for a call admission let through. */
static json_t *run_admitted(tg_calls *c, job *j, tg_sandbox **used)
{

    const char *runtime = json_string_value(manifest_get(j->tool, "runtime", NULL));
    /* A version with a setup starts from its template: made now if a
     * restart or a drop lost it, and its /job already holds the files. */
    char key[TG_DRIVER_KEY_MAX + 1];
    bool templated = manifest_get(j->tool, "setup", NULL) != NULL;
    if (templated) {
        json_t *error = tg_calls_prepare(c, j->tool);
        if (error) return error;
        template_key(j->tool, key);
    }
    tg_sandbox *sb = NULL;
    int rc = tg_pool_acquire_from(c->pool, runtime ? runtime : "", templated ? key : NULL,
                                  tg_frame_now_ns() + c->acquire_ms * 1000000, &sb);
    if (rc == TG_POOL_ECAPACITY) return gateway_error(TG_ECAPACITY, NULL);
    if (rc == TG_POOL_ERUNTIME)
        return gateway_error(TG_EUNAVAILABLE, "this gateway does not run the worker's runtime");
    if (rc == TG_POOL_ETEMPLATE)
        return gateway_error(TG_EUNAVAILABLE, "this version's template was dropped meanwhile");
    if (rc != 0) return gateway_error(TG_EUNAVAILABLE, NULL);

    pthread_mutex_lock(&c->lock);
    j->sandbox = sb;
    bool cancelled = j->cancelled;
    pthread_mutex_unlock(&c->lock);
    json_t *result;
    if (cancelled) {
        result = gateway_error(TG_ECANCELLED, NULL);
    } else {
        size_t nfiles = 0;
        tg_sandbox_file *files = templated ? NULL : sandbox_files(j->tool, &nfiles);
        char *input = json_dumps(j->arguments, JSON_COMPACT);
        tg_sandbox_request req = {
            .entry = json_string_value(manifest_get(j->tool, "entry", NULL)),
            .files = files,
            .nfiles = nfiles,
            .stdin_data = input,
            .stdin_len = strlen(input),
            .timeout_ms = (uint32_t)limit(j->tool, "timeout_ms", DEFAULT_TIMEOUT_MS),
            .max_output_bytes = (size_t)limit(j->tool, "max_output_bytes", DEFAULT_MAX_OUTPUT),
            .on_event = forward_event,
            .userdata = j,
        };
        tg_sandbox_result res;
        rc = tg_sandbox_run(sb, &req, &res);
        if (res.cancelled) {
            result = gateway_error(TG_ECANCELLED, NULL);
        } else if (rc != 0) {
            result =
                gateway_error(TG_EWORKER_FAILED, "the sandbox died before the worker finished");
        } else {
            tg_run_outcome outcome = {
                .exit_code = res.exit_code,
                .signal = res.signal,
                .timed_out = res.timed_out,
                .output_truncated = res.output_truncated,
                .stdout_data = res.out,
                .stdout_len = res.out_len,
                .stderr_tail = res.err_tail,
            };
            result = tg_call_result(j->tool, &outcome, NULL);
        }
        tg_sandbox_result_free(&res);
        free(input);
        free(files);
    }
    pthread_mutex_lock(&c->lock);
    j->sandbox = NULL;
    pthread_mutex_unlock(&c->lock);
    *used = sb;
    return result;
}

/* A client checks structuredContent against the tool's outputSchema even in
 * an error result (the TypeScript SDK does, and throws), so for a tool with
 * an outputSchema the error object travels in _meta instead. */
static json_t *fit_to_tool(const tg_registry_snapshot *tool, json_t *result)
{
    if (!json_is_true(json_object_get(result, "isError")) ||
        !tg_registry_snapshot_output_schema(tool))
        return result;
    json_t *error = json_object_get(json_object_get(result, "structuredContent"), "error");
    if (error) {
        json_t *meta = json_object_get(result, "_meta");
        if (!json_is_object(meta)) {
            meta = json_object();
            json_object_set_new(result, "_meta", meta);
        }
        json_object_set(meta, "dev.toolgate/error", error);
    }
    json_object_del(result, "structuredContent");
    return result;
}

static void *worker_thread(void *arg)
{
    tg_calls *c = arg;
    for (;;) {
        pthread_mutex_lock(&c->lock);
        while (!c->head && !c->stopping)
            pthread_cond_wait(&c->wake, &c->lock);
        job *j = c->head;
        if (!j) {
            pthread_mutex_unlock(&c->lock);
            return NULL;
        }
        c->head = j->next;
        if (!c->head) c->tail = NULL;
        bool cancelled = j->cancelled, stopping = c->stopping;
        pthread_mutex_unlock(&c->lock);

        tg_sandbox *used = NULL;
        json_t *result = cancelled  ? gateway_error(TG_ECANCELLED, NULL)
                         : stopping ? gateway_error(TG_EUNAVAILABLE, NULL)
                                    : run(c, j, &used);
        pthread_mutex_lock(&c->lock);
        unlist(c, j);
        pthread_mutex_unlock(&c->lock);
        j->done(fit_to_tool(j->tool, result), j->userdata);
        /* One call, one sandbox: it is never handed out again. */
        tg_sandbox_destroy(used);
        job_free(j);
    }
}

int tg_calls_new(const tg_calls_config *config, tg_calls **out)
{
    tg_admission *admission = NULL;
    tg_error err;
    if (tg_admission_new(&config->admission, &admission, &err) != 0) {
        fprintf(stderr, "toolgate: admission: %s\n", err.message);
        *out = NULL;
        return TG_EINTERNAL;
    }
    tg_calls *c = tg_xcalloc(1, sizeof *c);
    c->admission = admission;
    c->pool = config->pool;
    c->acquire_ms = config->acquire_ms > 0 ? config->acquire_ms : DEFAULT_ACQUIRE_MS;
    c->nthreads = config->threads ? config->threads : DEFAULT_THREADS;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->wake, NULL);
    c->threads = tg_xcalloc(c->nthreads, sizeof *c->threads);
    for (unsigned i = 0; i < c->nthreads; i++) {
        if (pthread_create(&c->threads[i], NULL, worker_thread, c) != 0) {
            c->nthreads = i;
            tg_calls_free(c);
            *out = NULL;
            return TG_EINTERNAL;
        }
    }
    *out = c;
    return 0;
}

void tg_calls_free(tg_calls *c)
{
    if (!c) return;
    pthread_mutex_lock(&c->lock);
    c->stopping = true;
    pthread_cond_broadcast(&c->wake);
    pthread_mutex_unlock(&c->lock);
    for (unsigned i = 0; i < c->nthreads; i++)
        pthread_join(c->threads[i], NULL);
    for (size_t i = 0; i < c->nfailed; i++)
        json_decref(c->failed[i].error);
    tg_admission_free(c->admission);
    pthread_cond_destroy(&c->wake);
    pthread_mutex_destroy(&c->lock);
    free(c->threads);
    free(c);
}

void tg_call_start(tg_calls *c, const tg_call_request *r)
{
    job *j = tg_xcalloc(1, sizeof *j);
    j->tool = tg_registry_snapshot_ref(r->tool);
    j->arguments = json_incref((json_t *)r->arguments);
    j->session_id = r->session_id ? tg_xstrdup(r->session_id) : NULL;
    j->request_id = r->request_id ? json_incref((json_t *)r->request_id) : NULL;
    j->on_event = r->on_event;
    j->done = r->done;
    j->userdata = r->userdata;
    pthread_mutex_lock(&c->lock);
    if (c->tail)
        c->tail->next = j;
    else
        c->head = j;
    c->tail = j;
    j->live_next = c->live;
    c->live = j;
    pthread_cond_signal(&c->wake);
    pthread_mutex_unlock(&c->lock);
}

void tg_call_cancel(tg_calls *c, const char *session_id, const json_t *request_id)
{
    pthread_mutex_lock(&c->lock);
    for (job *j = c->live; j; j = j->live_next) {
        if (!j->session_id || !session_id || strcmp(j->session_id, session_id) != 0 ||
            !j->request_id || !json_equal(j->request_id, (json_t *)request_id))
            continue;
        j->cancelled = true;
        if (j->sandbox) tg_sandbox_cancel(j->sandbox);
    }
    pthread_mutex_unlock(&c->lock);
}
