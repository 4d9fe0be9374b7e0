/* The call pipeline; see call.h.
 *
 * Calls wait in one queue and run on a fixed set of threads. A call that is
 * queued or running is listed with its session and request id, so that
 * notifications/cancelled can find it: a queued one answers CANCELLED without
 * running, a running one has its sandbox killed. Every call answers exactly
 * once through its done callback. */
#include "gateway/calls/call.h"

#include "gateway/calls/redact.h"
#include "gateway/calls/result.h"
#include "gateway/core/alloc.h"
#include "gateway/core/clock.h"
#include "gateway/core/errors.h"
#include "gateway/core/log.h"
#include "gateway/core/metrics.h"
#include "gateway/core/text.h"
#include "vm-pool/frame.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_THREADS    32
#define DEFAULT_ACQUIRE_MS 5000
#define DEFAULT_TIMEOUT_MS 10000
#define DEFAULT_MAX_OUTPUT (1024 * 1024)
#define SETUP_TIMEOUT_MS   120000
#define MAX_FAILED_SETUPS  256
#define DEFAULT_AUDIT_MS   2000
#define ID_HEX             32 /* a call or trace id: 128 random bits */
#define SPAN_HEX           16 /* a W3C parent id: 64 random bits */

/* What the call.end record says about how a call went, gathered as it runs. */
typedef struct call_facts {
    int64_t phase_ns[6]; /* indexed by the phase enum below */
    bool ran;            /* a sandbox took the run request */
    char sandbox_id[64];
    int64_t host_cpu_us, agent_cpu_us;
    int exit_code, signal;
    size_t output_bytes;
    int64_t audit_end_ns; /* waiting for the call.end record */
    int64_t egress_ns;    /* serving the worker's requests through the proxy */
} call_facts;

enum { PH_VALIDATE, PH_ADMIT, PH_AUDIT, PH_ACQUIRE, PH_RUN, PH_RESULT };
static const char *const phase_names[] = {"validate", "admission", "audit_begin",
                                          "acquire",  "run",       "result"};

typedef struct job {
    tg_registry_snapshot *tool;
    json_t *arguments;
    char *session_id;
    json_t *request_id;
    tg_call_event_fn on_event;
    tg_call_done_fn done;
    void *userdata;
    char *principal, *trigger_kind, *pinned_definition;
    int64_t scheduled_ms;
    unsigned attempt;
    char call_id[ID_HEX + 1], trace_id[ID_HEX + 1];
    char traceparent[sizeof "00-" + ID_HEX + 1 + SPAN_HEX + 3]; /* the worker's TRACEPARENT */
    int64_t start_ns; /* when the pipeline took it, for wall time */
    call_facts facts;
    tg_calls *calls;
    tg_egress_call egress;
    tg_state_call state;
    tg_sandbox *sandbox; /* while it runs; guarded by the calls lock */
    /* For the on_finished hook: when it started, its stderr tail and log
     * lines (bounded by log_bytes), gathered only when there is a hook. */
    int64_t started_ms;
    char *err_tail;
    json_t *logs;
    size_t log_bytes;
    unsigned logs_dropped;
    bool cancelled;
    struct job *next;      /* queue */
    struct job *live_next; /* every queued or running job */
} job;

struct tg_calls {
    tg_pool *pool;
    tg_admission *admission;
    tg_audit *audit;
    tg_egress *egress;
    tg_registry *registry;
    tg_state *state;
    int (*secret_values)(void *ctx, const char *tenant, const char *principal, char ***values,
                         size_t *n);
    void *secrets_ctx;
    int64_t acquire_ms, audit_ms;
    void (*on_finished)(void *ctx, const tg_run_summary *run);
    void *finished_ctx;
    atomic_ullong runs;
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
    free(j->principal);
    free(j->trigger_kind);
    free(j->pinned_definition);
    free(j->err_tail);
    json_decref(j->logs);
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

/* Keeps a log line for the run's history (a copy, within the bound), then
 * passes the event on. */
static void forward_event(const json_t *event, void *userdata)
{
    job *j = userdata;
    if (j->calls->on_finished && json_is_string(json_object_get(event, "log"))) {
        char *text = json_dumps(event, JSON_COMPACT);
        size_t n = text ? strlen(text) : 0;
        free(text);
        if (j->log_bytes + n <= TG_RUNS_MAX_LOG_BYTES) {
            if (!j->logs) j->logs = json_array();
            json_array_append_new(j->logs, json_deep_copy(event));
            j->log_bytes += n;
        } else {
            j->logs_dropped++;
        }
    }
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

/* SHA-256 over parts, each with its NUL when with_nul (so that no two lists
 * of parts hash alike), as 64 hex digits. */
static void sha256_hex(const char *const *parts, const size_t *lens, size_t n, bool with_nul,
                       char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;
    for (size_t i = 0; ok && i < n; i++)
        ok = EVP_DigestUpdate(ctx, parts[i], lens[i] + (with_nul ? 1 : 0)) == 1;
    ok = ok && EVP_DigestFinal_ex(ctx, md, &len) == 1 && len == 32;
    EVP_MD_CTX_free(ctx);
    /* Fails only without memory, which ends the process everywhere (alloc.h). */
    if (!ok) abort();
    for (size_t i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* A version's template is its own within its tenant: the key hashes all three. */
static void template_key(const tg_registry_snapshot *tool, char key[TG_DRIVER_KEY_MAX + 1])
{
    const char *parts[] = {tg_registry_snapshot_tenant(tool), tg_registry_snapshot_name(tool),
                           tg_registry_snapshot_version(tool)};
    size_t lens[] = {strlen(parts[0]), strlen(parts[1]), strlen(parts[2])};
    char hex[65];
    sha256_hex(parts, lens, 3, true, hex);
    snprintf(key, TG_DRIVER_KEY_MAX + 1, "%s", hex);
}

/* The rules a worker's requests obey: an admin's, set at runtime, else the
 * manifest's, read at each request so that a change reaches running workers.
 * A store that cannot be read allows nothing. */
static json_t *current_rules(tg_calls *c, const tg_registry_snapshot *tool, const json_t *own)
{
    json_t *rules = NULL;
    if (c->registry && tg_registry_egress(c->registry, tg_registry_snapshot_tenant(tool),
                                          tg_registry_snapshot_name(tool), &rules, NULL) != 0)
        return json_array();
    if (rules) return rules;
    return json_is_array(own) ? json_incref((json_t *)own) : json_array();
}

static json_t *call_rules(void *ctx)
{
    job *j = ctx;
    return current_rules(j->calls, j->tool, manifest_get(j->tool, "egress", NULL));
}

/* Whether the manifest opts into the platform capability name. */
static bool has_capability(const tg_registry_snapshot *tool, const char *name)
{
    size_t i;
    const json_t *v;
    json_array_foreach(manifest_get(tool, "capabilities", NULL), i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), name) == 0) return true;
    }
    return false;
}

static json_t *proxy_request(job *j, const json_t *request, int64_t deadline_ns)
{
    /* The platform's host (toolgate.internal) is answered before and apart
     * from the egress rules: none is consulted for it, so none can grant it
     * or send it upstream. */
    if (tg_state_is_internal(json_string_value(json_object_get(request, "url"))))
        return tg_state_handle(&j->state, request, deadline_ns);
    return tg_egress_handle(&j->egress, request, deadline_ns);
}

/* The worker waits while its request is served: that time is the call's
 * egress phase (part of its run phase). */
static json_t *call_egress(const json_t *request, int64_t deadline_ns, void *userdata)
{
    job *j = userdata;
    int64_t start = tg_frame_now_ns();
    json_t *answer = proxy_request(j, request, deadline_ns);
    j->facts.egress_ns += tg_frame_now_ns() - start;
    return answer;
}

/* A setup's requests obey its own rules (setup.egress), which no admin
 * changes: it runs once, at deploy. */
typedef struct setup_run {
    const tg_registry_snapshot *tool;
    tg_egress_call egress;
} setup_run;

static json_t *setup_rules(void *ctx)
{
    setup_run *s = ctx;
    json_t *rules = manifest_get(s->tool, "setup", "egress");
    return json_is_array(rules) ? json_incref(rules) : json_array();
}

static json_t *setup_egress(const json_t *request, int64_t deadline_ns, void *userdata)
{
    setup_run *s = userdata;
    return tg_egress_handle(&s->egress, request, deadline_ns);
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
    setup_run run = {
        .tool = tool,
        .egress = {.egress = c->egress,
                   .tenant = tg_registry_snapshot_tenant(tool),
                   .worker = tg_registry_snapshot_name(tool),
                   .principal = "operator/setup",
                   .rules = setup_rules},
    };
    run.egress.rules_ctx = &run;
    tg_sandbox_request req = {
        .entry = json_string_value(json_object_get(setup, "entry")),
        .files = files,
        .nfiles = nfiles,
        .on_egress = c->egress ? setup_egress : NULL,
        .userdata = &run,
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

/* RATE_LIMITED, or UNAVAILABLE when the shared admission store cannot be
 * reached, with the admission's own retryAfterMs, not the table's default. */
static json_t *not_admitted(int rc, int64_t retry_after_ms)
{
    json_t *result = gateway_error((tg_err_code)rc, NULL);
    if (rc == TG_ERATE_LIMITED || rc == TG_EUNAVAILABLE) {
        json_t *error = json_object_get(json_object_get(result, "structuredContent"), "error");
        json_object_set_new(error, "retryAfterMs", json_integer(retry_after_ms));
    }
    return result;
}

/* Nanoseconds since *mark, which moves to now. */
static int64_t lap(int64_t *mark)
{
    int64_t now = tg_frame_now_ns(), d = now - *mark;
    *mark = now;
    return d;
}

/* digits (at most ID_HEX) random hex digits into out[digits + 1]. */
static void random_hex(char *out, size_t digits)
{
    unsigned char b[ID_HEX / 2];
    /* Fails only when the kernel's random source does, which nothing here
     * could recover from. */
    if (RAND_bytes(b, (int)(digits / 2)) != 1) abort();
    for (size_t i = 0; i < digits / 2; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* W3C trace context's rule for a trace id: 32 lowercase hex, not all zero. */
static bool valid_trace_id(const char *s)
{
    if (!s || strlen(s) != ID_HEX || strspn(s, "0123456789abcdef") != ID_HEX) return false;
    return strspn(s, "0") != ID_HEX;
}

static tg_audit_record call_record(const job *j, const char *kind, json_t *body)
{
    return (tg_audit_record){.kind = kind,
                             .tenant = tg_registry_snapshot_tenant(j->tool),
                             .principal = j->principal,
                             .trigger_kind = j->trigger_kind,
                             .call_id = j->call_id,
                             .trace_id = j->trace_id,
                             .tool = tg_registry_snapshot_name(j->tool),
                             .body = body};
}

/* What the call's log lines are about. */
static tg_log_ctx log_ctx(const job *j)
{
    return (tg_log_ctx){.tenant = tg_registry_snapshot_tenant(j->tool),
                        .call_id = j->call_id,
                        .trace_id = j->trace_id};
}

/* A deprecated tool's records and results carry its deprecation, so that
 * who still calls it can be found (GET /v1/audit) and told. */
static void add_deprecation(json_t *obj, const tg_registry_snapshot *tool)
{
    const tg_registry_deprecation *d = tg_registry_snapshot_deprecation(tool);
    if (d) json_object_set_new(obj, "deprecation", tg_registry_deprecation_json(d));
}

/* Arguments bigger than this are kept in the log as their hash alone: the
 * record must fit the audit log's body limit with room for the rest. */
#define MAX_LOGGED_ARGUMENTS (64u << 10)

/* call.begin: what is about to run, durable before any sandbox is taken. */
static int audit_begin(tg_calls *c, job *j)
{
    char *canonical = json_dumps(j->arguments, JSON_COMPACT | JSON_SORT_KEYS);
    size_t len = strlen(canonical);
    char hash[65];
    sha256_hex((const char *const *)&canonical, &len, 1, false, hash);
    free(canonical);
    const json_t *schema = manifest_get(j->tool, "inputSchema", NULL);
    char **secrets = NULL;
    size_t nsecrets = 0;
    const char *tenant = tg_registry_snapshot_tenant(j->tool);
    if (c->secret_values &&
        c->secret_values(c->secrets_ctx, tenant, tg_egress_principal_sub(tenant, j->principal),
                         &secrets, &nsecrets) != 0) {
        /* Unable to tell what to redact: nothing goes into the audit log. */
        tg_log_ctx ctx = log_ctx(j);
        tg_log_error(&ctx, "call.begin of %s not written: the tenant's secrets cannot be read",
                     tg_registry_snapshot_name(j->tool));
        return TG_EAUDIT_UNAVAILABLE;
    }
    json_t *redacted =
        tg_redact_arguments(schema, j->arguments, (const char *const *)secrets, nsecrets);
    for (size_t i = 0; i < nsecrets; i++) {
        OPENSSL_cleanse(secrets[i], strlen(secrets[i]));
        free(secrets[i]);
    }
    free(secrets);
    char *text = json_dumps(redacted, JSON_COMPACT);
    size_t text_len = strlen(text);
    free(text);
    json_t *body = json_pack("{s:s, s:s, s:o}", "version", tg_registry_snapshot_version(j->tool),
                             "arguments_sha256", hash, "arguments",
                             text_len <= MAX_LOGGED_ARGUMENTS ? redacted : json_null());
    if (text_len > MAX_LOGGED_ARGUMENTS) {
        json_object_set_new(body, "arguments_bytes", json_integer((json_int_t)text_len));
        json_decref(redacted);
    }
    if (j->session_id) json_object_set_new(body, "session_id", json_string(j->session_id));
    add_deprecation(body, j->tool);
    tg_audit_record rec = call_record(j, "call.begin", body);
    tg_error err;
    int rc = tg_audit_append(c->audit, &rec, tg_frame_now_ns() + c->audit_ms * 1000000, NULL, &err);
    if (rc != 0) {
        tg_log_ctx ctx = log_ctx(j);
        tg_log_error(&ctx, "call.begin of %s not written: %s", rec.tool, err.message);
    }
    json_decref(body);
    return rc;
}

/* The code of result's structured error, or NULL when it succeeded. */
static const char *error_code(const json_t *result)
{
    if (!json_is_true(json_object_get(result, "isError"))) return NULL;
    json_t *error = json_object_get(json_object_get(result, "structuredContent"), "error");
    return json_string_value(json_object_get(error, "code"));
}

/* call.end: how the call went. status is "ok", "error" (it ran and failed)
 * or "refused" (it never ran). */
static int audit_end(tg_calls *c, job *j, const json_t *result, const char *status)
{
    const call_facts *f = &j->facts;
    json_t *phases = json_object();
    for (size_t i = 0; i < sizeof phase_names / sizeof *phase_names; i++)
        if (f->phase_ns[i])
            json_object_set_new(phases, phase_names[i], json_integer(f->phase_ns[i] / 1000));
    json_t *body =
        json_pack("{s:s, s:I, s:o}", "version", tg_registry_snapshot_version(j->tool), "wall_us",
                  (json_int_t)((tg_frame_now_ns() - j->start_ns) / 1000), "durations_us", phases);
    if (f->ran) {
        json_object_set_new(
            body, "sandbox",
            json_pack("{s:s, s:s}", "id", f->sandbox_id, "driver", tg_pool_driver_name(c->pool)));
        json_object_set_new(body, "cpu_us", json_integer(f->host_cpu_us));
        json_object_set_new(body, "agent_cpu_us", json_integer(f->agent_cpu_us));
        json_object_set_new(body, "exit_code", json_integer(f->exit_code));
        if (f->signal) json_object_set_new(body, "signal", json_integer(f->signal));
        json_object_set_new(body, "output_bytes", json_integer((json_int_t)f->output_bytes));
        json_object_set_new(body, "egress", tg_egress_summary(&j->egress));
    }
    json_t *error = json_object_get(json_object_get(result, "structuredContent"), "error");
    const char *source = json_string_value(json_object_get(error, "source"));
    if (source) json_object_set_new(body, "error_source", json_string(source));
    add_deprecation(body, j->tool);
    tg_audit_record rec = call_record(j, "call.end", body);
    rec.status = status;
    rec.error_code = error_code(result);
    tg_error err;
    int rc = tg_audit_append(c->audit, &rec, tg_frame_now_ns() + c->audit_ms * 1000000, NULL, &err);
    if (rc != 0) {
        tg_log_ctx ctx = log_ctx(j);
        tg_log_error(&ctx, "call.end of %s not written: %s", rec.tool, err.message);
    }
    json_decref(body);
    return rc;
}

static json_t *run_admitted(tg_calls *c, job *j, tg_sandbox **used);

/* The refusal of a call past its tool's sunset: the error names the
 * replacement, in the message a model reads and in details. */
static json_t *retired(const job *j)
{
    const tg_registry_deprecation *d = tg_registry_snapshot_deprecation(j->tool);
    json_t *details = tg_registry_deprecation_json(d);
    const char *sunset = json_string_value(json_object_get(details, "sunset"));
    const char *name = tg_registry_snapshot_name(j->tool);
    char *message = d->replacement ? tg_xasprintf("%s was retired at its sunset (%s): %s; call %s "
                                                  "instead",
                                                  name, sunset, d->message, d->replacement)
                                   : tg_xasprintf("%s was retired at its sunset (%s): %s", name,
                                                  sunset, d->message);
    json_t *refusal = tg_tool_error_result(TG_ETOOL_RETIRED, message, details, j->call_id);
    free(message);
    json_decref(details);
    return refusal;
}

/* Steps 2-7 of the pipeline for one call; returns its result, with *begun
 * telling whether its call.begin record is durable. The sandbox it used is
 * left in *used for the caller to destroy (step 8) once the answer is on its
 * way: tearing down cgroups and processes takes a millisecond or so the
 * client need not wait for. */
static json_t *run(tg_calls *c, job *j, tg_sandbox **used, bool *begun)
{
    *used = NULL;
    *begun = false;
    int64_t mark = tg_frame_now_ns();
    /* A retired tool runs for nobody, whatever the call brings. */
    if (tg_registry_snapshot_retired(j->tool, tg_now_ms())) return retired(j);
    const char *current = tg_registry_snapshot_definition_hash(j->tool);
    if (j->pinned_definition && strcmp(j->pinned_definition, current) != 0) {
        char *message =
            tg_xasprintf("the call pinned definition %.*s; the tool's is now %s",
                         tg_utf8_excerpt(j->pinned_definition, 64), j->pinned_definition, current);
        json_t *refusal = tg_tool_error_result(TG_EDEFINITION_CHANGED, message, NULL, j->call_id);
        free(message);
        return refusal;
    }
    json_t *refusal = NULL;
    int rc = tg_call_check_arguments(j->tool, j->arguments, j->call_id, &refusal);
    j->facts.phase_ns[PH_VALIDATE] = lap(&mark);
    if (rc != 0) return refusal;

    tg_admission_ticket ticket;
    int64_t retry_after_ms = 0;
    rc = tg_admission_enter(c->admission, tg_registry_snapshot_tenant(j->tool),
                            tg_registry_snapshot_name(j->tool), tg_frame_now_ns(), &ticket,
                            &retry_after_ms);
    j->facts.phase_ns[PH_ADMIT] = lap(&mark);
    if (rc != 0) return not_admitted(rc, retry_after_ms);
    json_t *result;
    rc = audit_begin(c, j);
    j->facts.phase_ns[PH_AUDIT] = lap(&mark);
    if (rc != 0) {
        result = tg_tool_error_result(TG_EAUDIT_UNAVAILABLE, NULL, NULL, j->call_id);
    } else {
        *begun = true;
        result = run_admitted(c, j, used);
    }
    tg_admission_leave(c->admission, &ticket);
    return result;
}

/* The result of a call one of whose requests needed the caller's own
 * credential, which the caller has not stored: whatever the worker made of
 * the refused request, the call fails naming the secret, so the user can
 * connect the account and call again. */
static json_t *credential_missing(const job *j)
{
    const char *secret = j->egress.missing_secret;
    const char *sub = tg_egress_principal_sub(j->egress.tenant, j->principal);
    json_t *details = json_pack("{s:s, s:s?}", "secret", secret, "principal", sub);
    char *message =
        sub ? tg_xasprintf("this tool needs %s's own %s, which is not stored", sub, secret)
            : tg_xasprintf("this tool needs the caller's own %s, and this run has no principal "
                           "of the tenant to take it from",
                           secret);
    json_t *result = tg_tool_error_result(TG_ECREDENTIAL_MISSING, message, details, j->call_id);
    free(message);
    json_decref(details);
    return result;
}

/* Steps 5-7 for a call admission let through. */
static json_t *run_admitted(tg_calls *c, job *j, tg_sandbox **used)
{
    int64_t mark = tg_frame_now_ns();
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
    tg_metric *queued = tg_metrics_get(TG_METRIC_CALLS_QUEUED);
    tg_metrics_gauge_add(queued, NULL, 1);
    int rc = tg_pool_acquire_from(c->pool, runtime ? runtime : "", templated ? key : NULL,
                                  tg_frame_now_ns() + c->acquire_ms * 1000000, &sb);
    tg_metrics_gauge_add(queued, NULL, -1);
    j->facts.phase_ns[PH_ACQUIRE] = lap(&mark);
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
        char traceparent[sizeof "TRACEPARENT=" + sizeof j->traceparent];
        snprintf(traceparent, sizeof traceparent, "TRACEPARENT=%s", j->traceparent);
        const char *env[] = {traceparent};
        tg_sandbox_request req = {
            .entry = json_string_value(manifest_get(j->tool, "entry", NULL)),
            .files = files,
            .nfiles = nfiles,
            .stdin_data = input,
            .stdin_len = strlen(input),
            .env = env,
            .nenv = 1,
            .timeout_ms = (uint32_t)limit(j->tool, "timeout_ms", DEFAULT_TIMEOUT_MS),
            .max_output_bytes = (size_t)limit(j->tool, "max_output_bytes", DEFAULT_MAX_OUTPUT),
            .on_event = forward_event,
            .on_egress = c->egress ? call_egress : NULL,
            .userdata = j,
        };
        j->egress = (tg_egress_call){
            .egress = c->egress,
            .tenant = tg_registry_snapshot_tenant(j->tool),
            .worker = tg_registry_snapshot_name(j->tool),
            .principal = j->principal,
            .trigger_kind = j->trigger_kind,
            .call_id = j->call_id,
            .trace_id = j->trace_id,
            .rules = call_rules,
            .rules_ctx = j,
        };
        j->state = (tg_state_call){
            .state = c->state,
            .audit = c->audit,
            .tenant = j->egress.tenant,
            .worker = j->egress.worker,
            .principal = j->principal,
            .trigger_kind = j->trigger_kind,
            .call_id = j->call_id,
            .trace_id = j->trace_id,
            .capable = has_capability(j->tool, "state"),
            .audit_deadline_ms = c->audit_ms,
        };
        tg_log_ctx ctx = log_ctx(j);
        tg_log_debug(&ctx, "call of %s runs in sandbox %s with %s",
                     tg_registry_snapshot_name(j->tool), tg_sandbox_id(sb), traceparent);
        tg_sandbox_result res;
        atomic_fetch_add(&c->runs, 1);
        rc = tg_sandbox_run(sb, &req, &res);
        j->facts.phase_ns[PH_RUN] = lap(&mark);
        j->facts.ran = true;
        snprintf(j->facts.sandbox_id, sizeof j->facts.sandbox_id, "%s", tg_sandbox_id(sb));
        j->facts.host_cpu_us = res.host_cpu_us;
        j->facts.agent_cpu_us = res.cpu_us;
        j->facts.exit_code = res.exit_code;
        j->facts.signal = res.signal;
        j->facts.output_bytes = res.out_len;
        if (c->on_finished && res.err_tail) j->err_tail = tg_xstrdup(res.err_tail);
        if (res.cancelled) {
            result = gateway_error(TG_ECANCELLED, NULL);
        } else if (rc != 0) {
            tg_log_warn(&ctx, "sandbox %s of %s died before the worker finished (%d)",
                        tg_sandbox_id(sb), tg_registry_snapshot_name(j->tool), rc);
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
            result = tg_call_result(j->tool, &outcome, j->call_id);
        }
        if (!res.cancelled && j->egress.missing_secret[0]) {
            json_decref(result);
            result = credential_missing(j);
        }
        j->facts.phase_ns[PH_RESULT] = lap(&mark);
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

/* The result a call answers once its call.end record could not be made
 * durable: its own result is withheld, since nobody could later learn it
 * happened. The worker did run, so a blind retry would run it again. */
static json_t *end_unrecorded(const job *j)
{
    json_t *details = json_pack("{s:b}", "ran", 1);
    json_t *result = tg_tool_error_result(
        TG_EAUDIT_UNAVAILABLE,
        "the call ran, but its record could not be written; its result is withheld", details,
        j->call_id);
    json_decref(details);
    json_t *error = json_object_get(json_object_get(result, "structuredContent"), "error");
    json_object_set_new(error, "retryable", json_false());
    json_object_del(error, "retryAfterMs");
    return result;
}

/* Every result names its call, the key to its audit records; a deprecated
 * tool's result also carries the deprecation, so a client that listed the
 * tool before it was deprecated still learns of it. */
static json_t *with_call_id(json_t *result, const job *j)
{
    json_t *meta = json_object_get(result, "_meta");
    if (!json_is_object(meta)) {
        meta = json_object();
        json_object_set_new(result, "_meta", meta);
    }
    json_object_set_new(meta, "dev.toolgate/callId", json_string(j->call_id));
    const tg_registry_deprecation *d = tg_registry_snapshot_deprecation(j->tool);
    if (d) json_object_set_new(meta, "dev.toolgate/deprecation", tg_registry_deprecation_json(d));
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

/* Tells the on_finished hook how the call went, once it has answered. */
static void finished(tg_calls *c, const job *j, const json_t *result, const char *status,
                     const char *code)
{
    tg_run_summary run = {
        .call_id = j->call_id,
        .tenant = tg_registry_snapshot_tenant(j->tool),
        .worker = tg_registry_snapshot_name(j->tool),
        .version = tg_registry_snapshot_version(j->tool),
        .trigger_kind = j->trigger_kind ? j->trigger_kind : "",
        .principal = j->principal ? j->principal : "",
        .started_ms = j->started_ms,
        .duration_ms = (tg_frame_now_ns() - j->start_ns) / 1000000,
        .status = status,
        .error_code = code,
        .output_bytes = (int64_t)j->facts.output_bytes,
        .result = result,
        .stderr_tail = j->err_tail,
        .logs = j->logs,
        .logs_dropped = j->logs_dropped,
        .scheduled_ms = j->scheduled_ms,
        .attempt = j->attempt,
    };
    c->on_finished(c->finished_ctx, &run);
}

static double seconds(int64_t ns)
{
    return (double)ns / 1e9;
}

/* The call's samples (docs/metrics.md), taken as it is answered, so that a
 * client holding the answer sees them on /metrics. A refused call is an
 * error there: the status says how the call ended for its caller. */
static void count_call(const job *j, const char *status, const char *code)
{
    const char *tenant = tg_registry_snapshot_tenant(j->tool);
    const char *tool = tg_registry_snapshot_name(j->tool);
    const char *outcome = strcmp(status, "ok") == 0 ? "ok" : "error";
    tg_metrics_add(tg_metrics_get(TG_METRIC_CALLS),
                   (const char *const[]){tenant, tool, outcome, code}, 1);
    tg_metrics_observe(tg_metrics_get(TG_METRIC_CALL_DURATION), (const char *const[]){tenant, tool},
                       seconds(tg_frame_now_ns() - j->start_ns));
    /* Only the phases the call reached: a refused call has no acquire, a
     * worker that made no request no egress. */
    const call_facts *f = &j->facts;
    const struct {
        const char *name;
        int64_t ns;
    } phases[] = {
        {"validate", f->phase_ns[PH_VALIDATE]},
        {"admission", f->phase_ns[PH_ADMIT]},
        {"audit", f->phase_ns[PH_AUDIT] + f->audit_end_ns},
        {"acquire", f->phase_ns[PH_ACQUIRE]},
        {"run", f->phase_ns[PH_RUN]},
        {"egress", f->egress_ns},
    };
    tg_metric *phase = tg_metrics_get(TG_METRIC_CALL_PHASE);
    for (size_t i = 0; i < sizeof phases / sizeof *phases; i++)
        if (phases[i].ns > 0)
            tg_metrics_observe(phase, (const char *const[]){phases[i].name}, seconds(phases[i].ns));
    tg_metrics_gauge_add(tg_metrics_get(TG_METRIC_CALLS_IN_FLIGHT), NULL, -1);
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
        tg_metrics_gauge_add(tg_metrics_get(TG_METRIC_CALLS_QUEUED), NULL, -1);

        tg_sandbox *used = NULL;
        bool begun = false;
        json_t *result = cancelled  ? gateway_error(TG_ECANCELLED, NULL)
                         : stopping ? gateway_error(TG_EUNAVAILABLE, NULL)
                                    : run(c, j, &used, &begun);
        pthread_mutex_lock(&c->lock);
        unlist(c, j);
        pthread_mutex_unlock(&c->lock);
        int64_t end_mark = tg_frame_now_ns();
        if (begun) {
            if (audit_end(c, j, result, error_code(result) ? "error" : "ok") != 0) {
                json_decref(result);
                result = end_unrecorded(j);
            }
        } else {
            /* A refusal stands whether or not its record could be written:
             * nothing ran that the log would miss. */
            audit_end(c, j, result, "refused");
        }
        j->facts.audit_end_ns = lap(&end_mark);
        const char *status = !begun ? "refused" : error_code(result) ? "error" : "ok";
        char code[72] = "";
        if (error_code(result)) snprintf(code, sizeof code, "%s", error_code(result));
        result = fit_to_tool(j->tool, with_call_id(result, j));
        /* The history keeps its own copy: the answer is the front's now. */
        json_t *kept = c->on_finished ? json_deep_copy(result) : NULL;
        /* Before the answer, so a client that has it can find the line. */
        tg_log_ctx ctx = log_ctx(j);
        tg_log_info(&ctx, "call of %s by %s (%s): %s%s%s in %lld ms",
                    tg_registry_snapshot_name(j->tool), j->principal ? j->principal : "-",
                    j->trigger_kind ? j->trigger_kind : "-", status, code[0] ? " " : "", code,
                    (long long)((tg_frame_now_ns() - j->start_ns) / 1000000));
        count_call(j, status, code);
        j->done(result, j->userdata);
        /* One call, one sandbox: it is never handed out again. */
        tg_sandbox_destroy(used);
        if (c->on_finished) finished(c, j, kept, status, code[0] ? code : NULL);
        json_decref(kept);
        job_free(j);
    }
}

int tg_calls_new(const tg_calls_config *config, tg_calls **out)
{
    tg_admission *admission = NULL;
    tg_error err;
    if (tg_admission_new(&config->admission, &admission, &err) != 0) {
        tg_log_error(NULL, "admission: %s", err.message);
        *out = NULL;
        return TG_EINTERNAL;
    }
    tg_calls *c = tg_xcalloc(1, sizeof *c);
    c->admission = admission;
    c->pool = config->pool;
    c->audit = config->audit;
    c->egress = config->egress;
    c->registry = config->registry;
    c->state = config->state;
    c->secret_values = config->secret_values;
    c->secrets_ctx = config->secrets_ctx;
    c->on_finished = config->on_finished;
    c->finished_ctx = config->finished_ctx;
    c->acquire_ms = config->acquire_ms > 0 ? config->acquire_ms : DEFAULT_ACQUIRE_MS;
    c->audit_ms = config->audit_deadline_ms > 0 ? config->audit_deadline_ms : DEFAULT_AUDIT_MS;
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

int tg_calls_set_admission(tg_calls *c, const tg_admission_config *config, tg_error *err)
{
    return tg_admission_reconfigure(c->admission, config, tg_frame_now_ns(), err);
}

uint64_t tg_calls_runs(tg_calls *c)
{
    return atomic_load(&c->runs);
}

void tg_call_start(tg_calls *c, const tg_call_request *r)
{
    job *j = tg_xcalloc(1, sizeof *j);
    j->tool = tg_registry_snapshot_ref(r->tool);
    j->arguments = json_incref((json_t *)r->arguments);
    j->session_id = r->session_id ? tg_xstrdup(r->session_id) : NULL;
    j->request_id = r->request_id ? json_incref((json_t *)r->request_id) : NULL;
    j->principal = r->principal ? tg_xstrdup(r->principal) : NULL;
    j->trigger_kind = r->trigger_kind ? tg_xstrdup(r->trigger_kind) : NULL;
    j->pinned_definition = r->pinned_definition ? tg_xstrdup(r->pinned_definition) : NULL;
    j->scheduled_ms = r->scheduled_ms;
    j->attempt = r->attempt;
    random_hex(j->call_id, ID_HEX);
    bool joined = valid_trace_id(r->trace_id);
    if (joined)
        memcpy(j->trace_id, r->trace_id, ID_HEX + 1);
    else
        random_hex(j->trace_id, ID_HEX);
    /* The worker's run is a span of its own under the caller's trace. */
    char span_id[SPAN_HEX + 1];
    random_hex(span_id, SPAN_HEX);
    snprintf(j->traceparent, sizeof j->traceparent, "00-%s-%s-%s", j->trace_id, span_id,
             !joined || r->trace_sampled ? "01" : "00");
    j->start_ns = tg_frame_now_ns();
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    j->started_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    j->on_event = r->on_event;
    j->calls = c;
    j->done = r->done;
    j->userdata = r->userdata;
    tg_metrics_gauge_add(tg_metrics_get(TG_METRIC_CALLS_IN_FLIGHT), NULL, 1);
    tg_metrics_gauge_add(tg_metrics_get(TG_METRIC_CALLS_QUEUED), NULL, 1);
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
        bool same_session = j->session_id && session_id ? strcmp(j->session_id, session_id) == 0
                                                        : j->session_id == session_id;
        if (!same_session || !j->request_id || !json_equal(j->request_id, (json_t *)request_id))
            continue;
        j->cancelled = true;
        if (j->sandbox) tg_sandbox_cancel(j->sandbox);
    }
    pthread_mutex_unlock(&c->lock);
}
