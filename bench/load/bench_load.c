/* bench_load: an open-loop load generator for MCP servers over Streamable
 * HTTP, one process, one thread, libcurl's multi interface.
 *
 * Ramp (the default): for each server given, opens --sessions MCP sessions
 * (initialize + notifications/initialized, once each), then offers requests
 * at rising rates, each step --step seconds: a request leaves at its
 * scheduled time whether or not earlier ones were answered, and its latency
 * runs from that scheduled time, so a server (or this client) falling behind
 * shows as latency instead of as a lower offered rate. The mix is drawn from a
 * fixed-seed generator: 80% tools/call of --tool, 15% tools/list, 5% admin
 * queries (GET /v1/runs?limit=10 or /v1/audit?limit=10, alternately) when
 * --admin names the first server's admin base URL; a server without one gets
 * tools/call and tools/list in the same 80:15 proportion. The ramp stops at the
 * first step whose p99 passes --p99-ms or that has an error, then offers
 * --refine rates between the last good step and that one. A step passes with
 * p99 <= --p99-ms and no error; the highest passing step's achieved rate is
 * the server's highest sustained rate.
 *
 * Soak (--soak SECONDS): one steady --rate for the duration against the first
 * server, sampling the process --pid every --sample seconds (VmRSS, Threads,
 * open fds, live sandboxes: its jail cgroups tg-PID-* and its descendant
 * processes); at the end compares the last quarter of the samples with the
 * first quarter after warm-up and exits 1 when one grew beyond its tolerance.
 *
 * Every answered tools/call's callId (result._meta["dev.toolgate/callId"]) is
 * appended to --ids FILE. --check-audit IDS EXPORT then reads those ids and a
 * `toolgate audit export` (JSON lines) and exits 1 unless every id has its
 * call.begin and call.end record. --admin, --ids and --call-meta (a
 * tools/call answer without a callId is wrong) apply to the first server.
 *
 *   bench_load [--sessions 8] [--step 10] [--rates 10,20,...] [--refine 2]
 *              [--p99-ms 250] [--timeout-ms 10000] [--tool echo]
 *              [--args '{"text":"hi"}'] [--admin BASE] [--ids FILE]
 *              [--call-meta] NAME=URL [NAME=URL]
 *   bench_load --soak SECONDS --rate R --pid PID [--sample 5] [--admin BASE]
 *              [--ids FILE] NAME=URL
 *   bench_load --check-audit IDS EXPORT
 *
 * Exit status: 0, or 1 on a failed check (audit, flatness, a server that
 * would not open a session); never because of a speed. */
#include <ctype.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define PROTOCOL      "2025-11-25"
#define MAX_BODY      (1 << 20)
#define MAX_TARGETS   2
#define MAX_SESSIONS  64
#define MAX_RATES     32
#define MAX_ERR_KINDS 16
#define MAX_INFLIGHT  4096
#define META_CALL_ID  "dev.toolgate/callId"

typedef enum { OP_CALL, OP_LIST, OP_ADMIN, OP_KINDS } op_kind;

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fputs("bench_load: out of memory\n", stderr);
        abort();
    }
    return p;
}

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p) {
        fputs("bench_load: out of memory\n", stderr);
        abort();
    }
    return p;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A response body, bounded at birth. */
typedef struct buf {
    char *data;
    size_t len, cap;
    bool overflow;
} buf;

static size_t buf_write(char *ptr, size_t size, size_t n, void *userdata)
{
    buf *b = userdata;
    size_t len = size * n;
    if (b->len + len > MAX_BODY) {
        b->overflow = true;
        return len;
    }
    if (b->len + len + 1 > b->cap) {
        b->cap = (b->len + len + 1) * 2;
        b->data = xrealloc(b->data, b->cap);
    }
    memcpy(b->data + b->len, ptr, len);
    b->len += len;
    b->data[b->len] = '\0';
    return len;
}

/* ---- what a step counts ---- */

typedef struct err_count {
    char kind[64];
    long n;
} err_count;

typedef struct stats {
    double *lat_ms; /* answered correctly, any op */
    size_t n, cap;
    long ok[OP_KINDS], sent[OP_KINDS];
    err_count errs[MAX_ERR_KINDS];
    size_t nerr_kinds;
    long errors;
    double t0, last_done;
} stats;

static void stats_ok(stats *s, op_kind op, double ms, double t)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1024;
        s->lat_ms = xrealloc(s->lat_ms, s->cap * sizeof *s->lat_ms);
    }
    s->lat_ms[s->n++] = ms;
    s->ok[op]++;
    if (t > s->last_done) s->last_done = t;
}

static void stats_err(stats *s, const char *kind, double t)
{
    s->errors++;
    if (t > s->last_done) s->last_done = t;
    for (size_t i = 0; i < s->nerr_kinds; i++) {
        if (strcmp(s->errs[i].kind, kind) == 0) {
            s->errs[i].n++;
            return;
        }
    }
    size_t i = s->nerr_kinds < MAX_ERR_KINDS ? s->nerr_kinds++ : MAX_ERR_KINDS - 1;
    if (i == MAX_ERR_KINDS - 1 && s->errs[i].n)
        snprintf(s->errs[i].kind, sizeof s->errs[i].kind, "other");
    else
        snprintf(s->errs[i].kind, sizeof s->errs[i].kind, "%s", kind);
    s->errs[i].n++;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest rank; sorts s->lat_ms. */
static double percentile(stats *s, double p)
{
    if (s->n == 0) return NAN;
    qsort(s->lat_ms, s->n, sizeof *s->lat_ms, cmp_double);
    size_t rank = (size_t)ceil(p / 100.0 * (double)s->n);
    return s->lat_ms[rank ? rank - 1 : 0];
}

static long total_ok(const stats *s)
{
    return s->ok[OP_CALL] + s->ok[OP_LIST] + s->ok[OP_ADMIN];
}

static void errors_text(const stats *s, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < s->nerr_kinds && used < cap; i++) {
        int w = snprintf(out + used, cap - used, "%s%s x%ld", i ? ", " : "", s->errs[i].kind,
                         s->errs[i].n);
        if (w < 0) break;
        used += (size_t)w;
    }
    if (s->nerr_kinds == 0) snprintf(out, cap, "-");
}

/* ---- a server and its sessions ---- */

typedef struct target {
    const char *name, *url, *admin; /* admin: base URL of /v1, or NULL */
    bool want_call_id;              /* a tools/call answer without a callId is wrong */
    char *sessions[MAX_SESSIONS];
    unsigned nsessions;
} target;

typedef struct config {
    unsigned sessions;
    double step_s, p99_ms, timeout_ms;
    double rates[MAX_RATES];
    size_t nrates;
    unsigned refine;
    const char *tool, *args, *ids_path;
    /* soak */
    double soak_s, soak_rate, sample_s;
    pid_t pid;
} config;

static config cfg = {
    .sessions = 8,
    .step_s = 10,
    .p99_ms = 250,
    .timeout_ms = 10000,
    .refine = 2,
    .tool = "echo",
    .args = "{\"text\":\"hi\"}",
    .sample_s = 5,
};
static FILE *ids_file;
static long ids_written;

static size_t header_sid(char *ptr, size_t size, size_t n, void *userdata)
{
    size_t len = size * n;
    static const char name[] = "mcp-session-id:";
    if (len > sizeof name - 1 && strncasecmp(ptr, name, sizeof name - 1) == 0) {
        const char *v = ptr + sizeof name - 1;
        const char *end = ptr + len;
        while (v < end && (*v == ' ' || *v == '\t'))
            v++;
        while (end > v && isspace((unsigned char)end[-1]))
            end--;
        char **sid = userdata;
        free(*sid);
        *sid = xmalloc((size_t)(end - v) + 1);
        memcpy(*sid, v, (size_t)(end - v));
        (*sid)[end - v] = '\0';
    }
    return len;
}

static struct curl_slist *mcp_headers(const char *sid)
{
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    h = curl_slist_append(h, "Accept: application/json, text/event-stream");
    if (sid) {
        char line[300];
        snprintf(line, sizeof line, "Mcp-Session-Id: %s", sid);
        h = curl_slist_append(h, line);
        h = curl_slist_append(h, "MCP-Protocol-Version: " PROTOCOL);
    }
    return h;
}

/* One blocking POST for opening a session. Returns the HTTP status, 0 on a
 * transport failure; *sid gets the session header when one came. */
static long post_once(const char *url, const char *sid_in, const char *body, char **sid_out)
{
    CURL *h = curl_easy_init();
    buf b = {0};
    struct curl_slist *hdrs = mcp_headers(sid_in);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, buf_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
    if (sid_out) {
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_sid);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, sid_out);
    }
    long status = 0;
    CURLcode rc = curl_easy_perform(h);
    if (rc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    else
        fprintf(stderr, "bench_load: %s: %s\n", url, curl_easy_strerror(rc));
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    free(b.data);
    return status;
}

static bool open_sessions(target *t)
{
    static const char init[] =
        "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
        "\"" PROTOCOL
        "\",\"capabilities\":{},\"clientInfo\":{\"name\":\"bench_load\",\"version\":\"1.0.0\"}}}";
    static const char initialized[] =
        "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}";
    for (unsigned i = 0; i < cfg.sessions; i++) {
        char *sid = NULL;
        long st = post_once(t->url, NULL, init, &sid);
        if (st != 200 || !sid) {
            printf("!!! %s: initialize answered HTTP %ld%s\n", t->name, st,
                   sid ? "" : " without Mcp-Session-Id");
            free(sid);
            return false;
        }
        st = post_once(t->url, sid, initialized, NULL);
        if (st != 202) {
            printf("!!! %s: notifications/initialized answered HTTP %ld\n", t->name, st);
            free(sid);
            return false;
        }
        t->sessions[t->nsessions++] = sid;
    }
    return true;
}

static void close_sessions(target *t)
{
    for (unsigned i = 0; i < t->nsessions; i++) {
        CURL *h = curl_easy_init();
        struct curl_slist *hdrs = mcp_headers(t->sessions[i]);
        buf b = {0};
        curl_easy_setopt(h, CURLOPT_URL, t->url);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, buf_write);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
        curl_easy_perform(h); /* a server may not support DELETE: not checked */
        curl_slist_free_all(hdrs);
        curl_easy_cleanup(h);
        free(b.data);
        free(t->sessions[i]);
    }
    t->nsessions = 0;
}

/* ---- one request in flight ---- */

typedef struct request {
    CURL *h;
    op_kind op;
    bool want_call_id;
    long id;
    double sched;
    struct curl_slist *hdrs;
    char *body;
    buf resp;
} request;

/* The JSON-RPC message with our id in a JSON body or an SSE stream (whose
 * events may carry notifications first). Returns: new reference, or NULL. */
static json_t *find_response(const char *ctype, const char *text, long id)
{
    json_t *found = NULL;
    if (strncmp(ctype, "text/event-stream", 17) == 0) {
        const char *p = text;
        char *data = NULL;
        size_t dlen = 0;
        while (*p && !found) {
            const char *eol = strchr(p, '\n');
            size_t len = eol ? (size_t)(eol - p) : strlen(p);
            size_t l = len;
            if (l && p[l - 1] == '\r') l--;
            if (l >= 5 && strncmp(p, "data:", 5) == 0) {
                const char *v = p + 5;
                size_t vl = l - 5;
                if (vl && *v == ' ') v++, vl--;
                data = xrealloc(data, dlen + vl + 2);
                if (dlen) data[dlen++] = '\n';
                memcpy(data + dlen, v, vl);
                dlen += vl;
                data[dlen] = '\0';
            } else if (l == 0 && dlen) { /* end of an event */
                json_t *m = json_loadb(data, dlen, 0, NULL);
                if (json_is_object(m) && json_integer_value(json_object_get(m, "id")) == id)
                    found = m;
                else
                    json_decref(m);
                dlen = 0;
            }
            p += len + (eol ? 1 : 0);
        }
        if (!found && dlen) {
            json_t *m = json_loadb(data, dlen, 0, NULL);
            if (json_is_object(m) && json_integer_value(json_object_get(m, "id")) == id)
                found = m;
            else
                json_decref(m);
        }
        free(data);
    } else if (strncmp(ctype, "application/json", 16) == 0) {
        json_t *m = json_loads(text, 0, NULL);
        if (json_is_object(m) && json_integer_value(json_object_get(m, "id")) == id)
            found = m;
        else
            json_decref(m);
    }
    return found;
}

/* Checks a finished request; NULL when right, else the kind of error. */
static const char *judge(request *r, CURLcode rc, char *kind, size_t cap)
{
    if (rc != CURLE_OK) {
        snprintf(kind, cap, "%s",
                 rc == CURLE_OPERATION_TIMEDOUT ? "timeout" : curl_easy_strerror(rc));
        return kind;
    }
    long status = 0;
    curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) {
        snprintf(kind, cap, "HTTP %ld", status);
        return kind;
    }
    if (r->resp.overflow) return "body too large";
    if (r->op == OP_ADMIN) {
        json_t *doc = json_loads(r->resp.data ? r->resp.data : "", 0, NULL);
        bool ok = json_is_object(doc);
        json_decref(doc);
        return ok ? NULL : "admin: not a JSON object";
    }
    char *ctype = NULL;
    curl_easy_getinfo(r->h, CURLINFO_CONTENT_TYPE, &ctype);
    json_t *m = find_response(ctype ? ctype : "", r->resp.data ? r->resp.data : "", r->id);
    if (!m) return "no JSON-RPC response";
    const char *bad = NULL;
    json_t *err = json_object_get(m, "error"), *res = json_object_get(m, "result");
    if (err) {
        snprintf(kind, cap, "JSON-RPC error %" JSON_INTEGER_FORMAT,
                 json_integer_value(json_object_get(err, "code")));
        bad = kind;
    } else if (!json_is_object(res)) {
        bad = "no result";
    } else if (r->op == OP_LIST) {
        bool has = false;
        size_t i;
        json_t *tool;
        json_array_foreach(json_object_get(res, "tools"), i, tool)
        {
            if (json_is_string(json_object_get(tool, "name")) &&
                strcmp(json_string_value(json_object_get(tool, "name")), cfg.tool) == 0)
                has = true;
        }
        if (!has) bad = "tools/list without the tool";
    } else {
        const char *id =
            json_string_value(json_object_get(json_object_get(res, "_meta"), META_CALL_ID));
        if (json_is_true(json_object_get(res, "isError"))) {
            json_t *e = json_object_get(json_object_get(res, "structuredContent"), "error");
            const char *code = json_string_value(json_object_get(e, "code"));
            snprintf(kind, cap, "tool error %s", code ? code : "(no code)");
            bad = kind;
        } else if (!json_is_array(json_object_get(res, "content"))) {
            bad = "tools/call without content";
        } else if (r->want_call_id && !id) {
            bad = "tools/call without a callId";
        }
        /* Every acknowledged call must be in the audit log, failed ones too. */
        if (id && ids_file) {
            fprintf(ids_file, "%s\n", id);
            ids_written++;
        }
    }
    json_decref(m);
    return bad;
}

typedef struct runner {
    CURLM *multi;
    target *t;
    stats *st;
    long next_id;
    uint64_t rng;
    unsigned inflight, next_session, admin_flip;
} runner;

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static op_kind draw_op(runner *rn)
{
    if (rn->t->admin) {
        unsigned r = (unsigned)(rng_next(&rn->rng) % 100);
        return r < 80 ? OP_CALL : r < 95 ? OP_LIST : OP_ADMIN;
    }
    unsigned r = (unsigned)(rng_next(&rn->rng) % 95);
    return r < 80 ? OP_CALL : OP_LIST;
}

static void start_request(runner *rn, double sched)
{
    request *r = xmalloc(sizeof *r);
    memset(r, 0, sizeof *r);
    r->op = draw_op(rn);
    r->want_call_id = rn->t->want_call_id;
    r->id = ++rn->next_id;
    r->sched = sched;
    r->h = curl_easy_init();
    CURL *h = r->h;
    if (r->op == OP_ADMIN) {
        char url[512];
        snprintf(url, sizeof url, "%s/v1/%s?limit=10", rn->t->admin,
                 rn->admin_flip++ % 2 ? "audit" : "runs");
        curl_easy_setopt(h, CURLOPT_URL, url);
        r->hdrs = curl_slist_append(NULL, "Accept: application/json");
    } else {
        const char *sid = rn->t->sessions[rn->next_session++ % rn->t->nsessions];
        size_t cap = strlen(cfg.tool) + strlen(cfg.args) + 200;
        r->body = xmalloc(cap);
        if (r->op == OP_CALL)
            snprintf(r->body, cap,
                     "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"tools/call\","
                     "\"params\":{\"name\":\"%s\",\"arguments\":%s}}",
                     r->id, cfg.tool, cfg.args);
        else
            snprintf(r->body, cap,
                     "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"tools/list\",\"params\":{}}",
                     r->id);
        r->hdrs = mcp_headers(sid);
        curl_easy_setopt(h, CURLOPT_URL, rn->t->url);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->body);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, r->hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, buf_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &r->resp);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)cfg.timeout_ms);
    curl_easy_setopt(h, CURLOPT_PRIVATE, r);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_multi_add_handle(rn->multi, h);
    rn->inflight++;
    rn->st->sent[r->op]++;
}

static void finish_requests(runner *rn)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(rn->multi, &left))) {
        if (msg->msg != CURLMSG_DONE) continue;
        request *r = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        double t = now_s();
        char kind[64];
        const char *bad = judge(r, msg->data.result, kind, sizeof kind);
        if (bad)
            stats_err(rn->st, bad, t);
        else
            stats_ok(rn->st, r->op, (t - r->sched) * 1000.0, t);
        curl_multi_remove_handle(rn->multi, r->h);
        curl_easy_cleanup(r->h);
        curl_slist_free_all(r->hdrs);
        free(r->body);
        free(r->resp.data);
        free(r);
        rn->inflight--;
    }
}

/* Called about every sample period during a soak. */
typedef void (*tick_fn)(double elapsed, void *arg);

/* Offers rate requests a second for seconds, then waits for the answers
 * (each bounded by the request timeout). */
static void run_phase(runner *rn, double rate, double seconds, tick_fn tick, double tick_s,
                      void *arg)
{
    long total = (long)floor(rate * seconds + 0.5);
    long i = 0;
    double t0 = now_s(), next_tick = t0 + tick_s;
    rn->st->t0 = t0;
    rn->st->last_done = t0;
    while (i < total || rn->inflight > 0) {
        double t = now_s();
        while (i < total && t0 + (double)i / rate <= t) {
            double sched = t0 + (double)i / rate;
            if (rn->inflight >= MAX_INFLIGHT)
                stats_err(rn->st, "client backlog full", t);
            else
                start_request(rn, sched);
            i++;
        }
        int running;
        curl_multi_perform(rn->multi, &running);
        finish_requests(rn);
        if (tick && t >= next_tick) {
            tick(t - t0, arg);
            next_tick += tick_s;
        }
        double wait = i < total ? t0 + (double)i / rate - now_s() : 0.05;
        int ms = wait <= 0 ? 0 : wait > 0.05 ? 50 : (int)(wait * 1000.0);
        if (ms > 0 || i >= total) curl_multi_poll(rn->multi, NULL, 0, ms, NULL);
    }
}

/* ---- ramp ---- */

typedef struct step_row {
    double offered, achieved, p50, p99, max;
    long ok, errors;
    char errtext[256];
    bool pass;
} step_row;

static step_row run_step(runner *rn, double rate)
{
    stats st = {0};
    rn->st = &st;
    run_phase(rn, rate, cfg.step_s, NULL, 0, NULL);
    step_row row = {.offered = rate};
    double span = st.last_done - st.t0;
    if (span < cfg.step_s) span = cfg.step_s;
    row.ok = total_ok(&st);
    row.errors = st.errors;
    row.achieved = (double)row.ok / span;
    row.p50 = percentile(&st, 50);
    row.p99 = percentile(&st, 99);
    row.max = st.n ? st.lat_ms[st.n - 1] : NAN;
    errors_text(&st, row.errtext, sizeof row.errtext);
    row.pass = st.errors == 0 && st.n > 0 && row.p99 <= cfg.p99_ms;
    free(st.lat_ms);
    rn->st = NULL;
    return row;
}

static void print_row(const step_row *r)
{
    printf("  %8.0f %9.1f %8ld %8.1f %8.1f %8.1f  %-4s %s\n", r->offered, r->achieved, r->ok,
           r->p50, r->p99, r->max, r->pass ? "ok" : "over", r->errtext);
    fflush(stdout);
}

/* Returns the highest sustained rate (achieved, of the best passing step), 0
 * when no step passed, -1 when the server could not be driven. */
static double ramp(target *t)
{
    if (!open_sessions(t)) return -1;
    runner rn = {.multi = curl_multi_init(), .t = t, .rng = 0x9e3779b97f4a7c15ULL};
    curl_multi_setopt(rn.multi, CURLMOPT_MAXCONNECTS, (long)MAX_INFLIGHT);
    printf("%s: %u sessions, %.0f s a step, mix %s\n", t->name, t->nsessions, cfg.step_s,
           t->admin ? "80% tools/call, 15% tools/list, 5% admin GETs"
                    : "80:15 tools/call:tools/list (no admin API)");
    printf("  %8s %9s %8s %8s %8s %8s  %-4s %s\n", "offered", "achieved", "ok", "p50 ms", "p99 ms",
           "max ms", "", "errors");
    double best = 0, best_offered = 0, good = 0, bad = 0;
    for (size_t k = 0; k < cfg.nrates; k++) {
        step_row row = run_step(&rn, cfg.rates[k]);
        print_row(&row);
        if (!row.pass) {
            bad = cfg.rates[k];
            break;
        }
        good = cfg.rates[k];
        if (row.achieved > best) best = row.achieved, best_offered = row.offered;
    }
    /* Between the last good rate and the first bad one, geometrically. */
    for (unsigned k = 0; k < cfg.refine && bad > 0; k++) {
        double mid = good > 0 ? sqrt(good * bad) : bad / 2;
        mid = floor(mid + 0.5);
        if (mid <= good || mid >= bad) break;
        step_row row = run_step(&rn, mid);
        print_row(&row);
        if (row.pass) {
            good = mid;
            if (row.achieved > best) best = row.achieved, best_offered = row.offered;
        } else {
            bad = mid;
        }
    }
    if (bad == 0) printf("  (every rate offered passed: the ceiling is above %.0f/s)\n", good);
    printf("%s: highest sustained rate %.1f req/s (offered %.0f/s; p99 <= %.0f ms, no errors)\n\n",
           t->name, best, best_offered, cfg.p99_ms);
    curl_multi_cleanup(rn.multi);
    close_sessions(t);
    return best;
}

/* ---- soak: the gateway process's resources ---- */

typedef struct sample {
    double t;
    long rss_kb, threads, fds, cgroups, children;
} sample;

typedef struct soak_state {
    sample *s;
    size_t n, cap;
    char *cg_dir; /* the directory holding the jail's tg-PID-* cgroups */
    stats minute; /* the last minute's answers, for progress lines */
    stats *whole;
    double next_report;
} soak_state;

static long status_field(pid_t pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
    FILE *f = fopen(path, "re");
    if (!f) return -1;
    long v = -1;
    size_t n = strlen(field);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, field, n) == 0 && line[n] == ':') {
            v = strtol(line + n + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

static long count_dir(const char *path, const char *prefix)
{
    DIR *d = opendir(path);
    if (!d) return -1;
    long n = 0;
    struct dirent *e;
    size_t pl = prefix ? strlen(prefix) : 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (prefix && strncmp(e->d_name, prefix, pl) != 0) continue;
        n++;
    }
    closedir(d);
    return n;
}

/* The jail puts each sandbox in cgroups named tg-<gateway pid>-<seq> under
 * the gateway's own memory cgroup (cgroup v1), or under its v2 cgroup (whose
 * leaf "toolgate" it may have moved itself into). */
static char *cgroup_dir(pid_t pid)
{
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%ld/cgroup", (long)pid);
    FILE *f = fopen(path, "re");
    if (!f) return NULL;
    char *dir = NULL, *v2 = NULL;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2) continue;
        *c2 = '\0';
        const char *ctrl = c1 + 1, *cg = c2 + 1;
        if (strcmp(cg, "/") == 0) cg = "";
        size_t need = strlen(cg) + 40;
        if (strcmp(ctrl, "memory") == 0 && !dir) {
            dir = xmalloc(need);
            snprintf(dir, need, "/sys/fs/cgroup/memory%s", cg);
        } else if (*ctrl == '\0' && !v2) {
            v2 = xmalloc(need);
            snprintf(v2, need, "/sys/fs/cgroup%s", cg);
            size_t l = strlen(v2);
            if (l > 9 && strcmp(v2 + l - 9, "/toolgate") == 0) v2[l - 9] = '\0';
        }
    }
    fclose(f);
    if (dir && access(dir, F_OK) == 0) {
        free(v2);
        return dir;
    }
    free(dir);
    return v2;
}

/* Processes whose parent chain leads to pid (its sandboxes' inits and what
 * they run). */
static long count_descendants(pid_t pid)
{
    DIR *d = opendir("/proc");
    if (!d) return -1;
    size_t n = 0, cap = 256;
    long(*pp)[2] = xmalloc(cap * sizeof *pp);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!isdigit((unsigned char)e->d_name[0])) continue;
        char path[300], text[512];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "re");
        if (!f) continue;
        size_t got = fread(text, 1, sizeof text - 1, f);
        fclose(f);
        text[got] = '\0';
        const char *rp = strrchr(text, ')');
        long ppid;
        char state;
        if (!rp || sscanf(rp + 1, " %c %ld", &state, &ppid) != 2) continue;
        if (n == cap) pp = xrealloc(pp, (cap *= 2) * sizeof *pp);
        pp[n][0] = strtol(e->d_name, NULL, 10);
        pp[n][1] = ppid;
        n++;
    }
    closedir(d);
    /* Mark descendants by fixed point: few levels deep, few processes. */
    bool *mark = calloc(n ? n : 1, sizeof *mark);
    if (!mark) abort();
    long count = 0;
    for (bool changed = true; changed;) {
        changed = false;
        for (size_t i = 0; i < n; i++) {
            if (mark[i]) continue;
            bool child = pp[i][1] == (long)pid;
            for (size_t j = 0; j < n && !child; j++)
                child = mark[j] && pp[j][0] == pp[i][1];
            if (child) {
                mark[i] = true;
                count++;
                changed = true;
            }
        }
    }
    free(mark);
    free(pp);
    return count;
}

static sample take_sample(soak_state *ss, double t)
{
    sample s = {.t = t};
    char path[64];
    s.rss_kb = status_field(cfg.pid, "VmRSS");
    s.threads = status_field(cfg.pid, "Threads");
    snprintf(path, sizeof path, "/proc/%ld/fd", (long)cfg.pid);
    s.fds = count_dir(path, NULL);
    char prefix[32];
    snprintf(prefix, sizeof prefix, "tg-%ld-", (long)cfg.pid);
    s.cgroups = ss->cg_dir ? count_dir(ss->cg_dir, prefix) : -1;
    s.children = count_descendants(cfg.pid);
    return s;
}

static void soak_tick(double elapsed, void *arg)
{
    soak_state *ss = arg;
    sample s = take_sample(ss, elapsed);
    if (ss->n == ss->cap) {
        ss->cap = ss->cap ? ss->cap * 2 : 256;
        ss->s = xrealloc(ss->s, ss->cap * sizeof *ss->s);
    }
    ss->s[ss->n++] = s;
    if (elapsed >= ss->next_report) {
        /* The progress line's latency is the whole run's so far. */
        stats *w = ss->whole;
        double *copy = xmalloc((w->n ? w->n : 1) * sizeof *copy);
        memcpy(copy, w->lat_ms, w->n * sizeof *copy);
        stats tmp = {.lat_ms = copy, .n = w->n};
        printf("  t=%5.0fs  rss %7.1f MiB  fds %4ld  threads %3ld  sandboxes %3ld cgroups, %3ld "
               "processes  "
               "answered %ld, errors %ld, p99 %.1f ms\n",
               elapsed, (double)s.rss_kb / 1024.0, s.fds, s.threads, s.cgroups, s.children,
               total_ok(w), w->errors, percentile(&tmp, 99));
        fflush(stdout);
        free(copy);
        ss->next_report += 60;
    }
}

typedef struct range {
    double min, max, mean;
} range;

static double field_of(const sample *s, size_t field)
{
    switch (field) {
    case 0:
        return (double)s->rss_kb / 1024.0;
    case 1:
        return (double)s->threads;
    case 2:
        return (double)s->fds;
    case 3:
        return (double)s->cgroups;
    default:
        return (double)s->children;
    }
}

static range quarter(const soak_state *ss, size_t from, size_t to, size_t field)
{
    range r = {INFINITY, -INFINITY, 0};
    for (size_t i = from; i < to; i++) {
        double v = field_of(&ss->s[i], field);
        if (v < r.min) r.min = v;
        if (v > r.max) r.max = v;
        r.mean += v;
    }
    r.mean /= (double)(to > from ? to - from : 1);
    return r;
}

/* Least-squares slope of a field over samples [from, to), per hour. */
static double slope_per_hour(const soak_state *ss, size_t from, size_t to, size_t field)
{
    double n = (double)(to - from), st = 0, sv = 0, stt = 0, stv = 0;
    for (size_t i = from; i < to; i++) {
        double t = ss->s[i].t, v = field_of(&ss->s[i], field);
        st += t;
        sv += v;
        stt += t * t;
        stv += t * v;
    }
    double d = n * stt - st * st;
    return d > 0 ? (n * stv - st * sv) / d * 3600.0 : 0;
}

static int soak(target *t)
{
    if (!open_sessions(t)) return 1;
    stats st = {0};
    soak_state ss = {.cg_dir = cgroup_dir(cfg.pid), .next_report = 60};
    ss.whole = &st;
    runner rn = {.multi = curl_multi_init(), .t = t, .rng = 0x9e3779b97f4a7c15ULL, .st = &st};
    curl_multi_setopt(rn.multi, CURLMOPT_MAXCONNECTS, (long)MAX_INFLIGHT);
    printf("soak: %s, %.0f req/s for %.0f s (%s), %u sessions; sampling pid %ld every %.0f s\n",
           t->name, cfg.soak_rate, cfg.soak_s,
           t->admin ? "80% tools/call, 15% tools/list, 5% admin GETs"
                    : "80:15 tools/call:tools/list",
           t->nsessions, (long)cfg.pid, cfg.sample_s);
    printf("  sandboxes: cgroups tg-%ld-* in %s, and the gateway's descendant processes\n",
           (long)cfg.pid, ss.cg_dir ? ss.cg_dir : "(no cgroup found)");
    ss.s = xmalloc(256 * sizeof *ss.s);
    ss.cap = 256;
    ss.s[ss.n++] = take_sample(&ss, 0);
    run_phase(&rn, cfg.soak_rate, cfg.soak_s, soak_tick, cfg.sample_s, &ss);
    double span = st.last_done - st.t0;
    if (span < cfg.soak_s) span = cfg.soak_s;
    char errtext[256];
    errors_text(&st, errtext, sizeof errtext);
    long ok = total_ok(&st);
    double p50 = percentile(&st, 50), p99 = percentile(&st, 99);
    printf("  answered %ld (%ld tools/call), achieved %.1f req/s, p50 %.1f ms, p99 %.1f ms, max "
           "%.1f ms; "
           "errors: %s\n",
           ok, st.ok[OP_CALL], (double)ok / span, p50, p99, st.n ? st.lat_ms[st.n - 1] : NAN,
           errtext);
    if (st.errors) printf("!!! soak: %ld requests failed (%s)\n", st.errors, errtext);

    /* Warm-up: the first tenth of the run (at least one sample). Then the
     * first and last quarters of what remains. */
    int rc = 0;
    size_t warm = ss.n / 10 ? ss.n / 10 : 1;
    if (ss.n < warm + 8) {
        printf("!!! soak: only %zu samples, too few to judge\n", ss.n);
        rc = 1;
    } else {
        size_t rest = ss.n - warm, q = rest / 4;
        size_t a0 = warm, a1 = warm + q, b0 = ss.n - q, b1 = ss.n;
        static const char *const names[] = {"rss MiB", "threads", "fds", "sandbox cgroups",
                                            "sandbox processes"};
        /* Allowed growth of the last quarter's max over the first's:
         * relative and absolute (in-flight calls hold fds, threads and
         * sandboxes, so their count swings with the load's jitter). */
        static const double rel[] = {0.10, 0.0, 0.25, 0.0, 0.0};
        static const double abs_[] = {8.0, 4.0, 32.0, 8.0, 16.0};
        printf("  samples: %zu (first %zu are warm-up, %.0f s); quarters after warm-up: first "
               "t=%.0f-%.0fs, "
               "last t=%.0f-%.0fs\n",
               ss.n, warm, ss.s[warm].t, ss.s[a0].t, ss.s[a1 - 1].t, ss.s[b0].t, ss.s[b1 - 1].t);
        printf("  %-18s %24s %24s %10s %12s  %s\n", "", "first quarter min/mean/max",
               "last quarter min/mean/max", "limit", "slope /hour", "");
        for (size_t f = 0; f < 5; f++) {
            range ra = quarter(&ss, a0, a1, f), rb = quarter(&ss, b0, b1, f);
            if (ra.min < 0) {
                printf("  %-18s not measured\n", names[f]);
                continue;
            }
            double limit = ra.max * (1 + rel[f]) + abs_[f];
            bool ok_f = rb.max <= limit;
            printf("  %-18s %8.1f/%7.1f/%7.1f %8.1f/%7.1f/%7.1f %10.1f %+12.1f  %s\n", names[f],
                   ra.min, ra.mean, ra.max, rb.min, rb.mean, rb.max, limit,
                   slope_per_hour(&ss, warm, ss.n, f), ok_f ? "flat" : "GROWS");
            if (!ok_f) {
                printf("!!! soak: %s grew from %.1f (first quarter's max) to %.1f (last quarter's "
                       "max)\n",
                       names[f], ra.max, rb.max);
                rc = 1;
            }
        }
    }
    free(ss.s);
    free(ss.cg_dir);
    free(st.lat_ms);
    curl_multi_cleanup(rn.multi);
    close_sessions(t);
    return rc;
}

/* ---- the audit check ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

typedef struct strs {
    char **v;
    size_t n, cap;
} strs;

static void strs_add(strs *s, const char *v)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1024;
        s->v = xrealloc(s->v, s->cap * sizeof *s->v);
    }
    s->v[s->n++] = xstrdup(v);
}

static bool strs_has(const strs *s, const char *v)
{
    return s->n && bsearch(&v, s->v, s->n, sizeof *s->v, cmp_str) != NULL;
}

static void strs_free(strs *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
}

static int check_audit(const char *ids_path, const char *export_path)
{
    FILE *ids = fopen(ids_path, "re"), *ex = fopen(export_path, "re");
    if (!ids || !ex) {
        printf("!!! audit check: cannot open %s\n", !ids ? ids_path : export_path);
        if (ids) fclose(ids);
        if (ex) fclose(ex);
        return 1;
    }
    strs begins = {0}, ends = {0}, want = {0};
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long records = 0, unparsed = 0;
    while ((len = getline(&line, &cap, ex)) > 0) {
        json_t *rec = json_loadb(line, (size_t)len, 0, NULL);
        if (!rec) {
            unparsed++;
            continue;
        }
        records++;
        const char *kind = json_string_value(json_object_get(rec, "kind"));
        const char *id = json_string_value(json_object_get(rec, "call_id"));
        if (kind && id && strcmp(kind, "call.begin") == 0) strs_add(&begins, id);
        if (kind && id && strcmp(kind, "call.end") == 0) strs_add(&ends, id);
        json_decref(rec);
    }
    while ((len = getline(&line, &cap, ids)) > 0) {
        line[strcspn(line, "\r\n")] = '\0';
        if (*line) strs_add(&want, line);
    }
    free(line);
    fclose(ids);
    fclose(ex);
    qsort(begins.v, begins.n, sizeof *begins.v, cmp_str);
    qsort(ends.v, ends.n, sizeof *ends.v, cmp_str);
    long no_begin = 0, no_end = 0, open = 0, dup = 0;
    for (size_t i = 0; i < want.n; i++) {
        bool b = strs_has(&begins, want.v[i]), e = strs_has(&ends, want.v[i]);
        if (!b || !e) {
            if (no_begin + no_end < 5)
                printf("!!! audit: call %s has %s\n", want.v[i],
                       !b && !e ? "no call.begin and no call.end"
                       : !b     ? "no call.begin"
                                : "no call.end");
            no_begin += !b;
            no_end += !e;
        }
    }
    for (size_t i = 0; i < begins.n; i++) {
        if (i && strcmp(begins.v[i], begins.v[i - 1]) == 0) dup++;
        if (!strs_has(&ends, begins.v[i])) open++;
    }
    qsort(want.v, want.n, sizeof *want.v, cmp_str);
    long want_dup = 0;
    for (size_t i = 1; i < want.n; i++)
        want_dup += strcmp(want.v[i], want.v[i - 1]) == 0;
    printf(
        "audit: %zu acknowledged calls; export holds %ld records (%zu call.begin, %zu call.end)\n",
        want.n, records, begins.n, ends.n);
    printf("audit: acknowledged calls without call.begin: %ld, without call.end: %ld\n", no_begin,
           no_end);
    int rc = no_begin || no_end || want.n == 0 || unparsed ? 1 : 0;
    if (want.n == 0) printf("!!! audit: no acknowledged call to check\n");
    if (unparsed) printf("!!! audit: %ld export lines are not JSON\n", unparsed);
    if (want_dup) {
        printf("!!! audit: %ld callIds were answered twice\n", want_dup);
        rc = 1;
    }
    if (dup) {
        printf("!!! audit: %ld call ids have more than one call.begin\n", dup);
        rc = 1;
    }
    if (open)
        printf("!!! audit: %ld calls began and never ended (not all of them acknowledged)\n", open);
    strs_free(&begins);
    strs_free(&ends);
    strs_free(&want);
    return rc;
}

/* ---- arguments ---- */

static void usage(void)
{
    fputs(
        "usage: bench_load [--sessions N] [--step S] [--rates R,R,...] [--refine N] [--p99-ms MS]\n"
        "                  [--timeout-ms MS] [--tool NAME] [--args JSON] [--admin BASE] [--ids "
        "FILE]\n"
        "                  [--call-meta] NAME=URL [NAME=URL]\n"
        "       bench_load --soak SECONDS --rate R --pid PID [--sample S] [...] NAME=URL\n"
        "       bench_load --check-audit IDS EXPORT\n",
        stderr);
    exit(2);
}

static double number(const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= 0)) usage();
    return v;
}

static void parse_rates(const char *s)
{
    cfg.nrates = 0;
    char *copy = xstrdup(s), *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (cfg.nrates == MAX_RATES) usage();
        cfg.rates[cfg.nrates++] = number(tok);
        if (cfg.rates[cfg.nrates - 1] <= 0) usage();
    }
    free(copy);
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--check-audit") == 0) return check_audit(argv[2], argv[3]);
    parse_rates("10,20,40,80,160,320,640,1280,2560,5120,10240");
    target targets[MAX_TARGETS] = {0};
    size_t ntargets = 0;
    const char *admin = NULL;
    bool call_meta = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool v = i + 1 < argc;
        if (strcmp(a, "--sessions") == 0 && v)
            cfg.sessions = (unsigned)number(argv[++i]);
        else if (strcmp(a, "--step") == 0 && v)
            cfg.step_s = number(argv[++i]);
        else if (strcmp(a, "--rates") == 0 && v)
            parse_rates(argv[++i]);
        else if (strcmp(a, "--refine") == 0 && v)
            cfg.refine = (unsigned)number(argv[++i]);
        else if (strcmp(a, "--p99-ms") == 0 && v)
            cfg.p99_ms = number(argv[++i]);
        else if (strcmp(a, "--timeout-ms") == 0 && v)
            cfg.timeout_ms = number(argv[++i]);
        else if (strcmp(a, "--tool") == 0 && v)
            cfg.tool = argv[++i];
        else if (strcmp(a, "--args") == 0 && v)
            cfg.args = argv[++i];
        else if (strcmp(a, "--admin") == 0 && v)
            admin = argv[++i];
        else if (strcmp(a, "--ids") == 0 && v)
            cfg.ids_path = argv[++i];
        else if (strcmp(a, "--call-meta") == 0)
            call_meta = true;
        else if (strcmp(a, "--soak") == 0 && v)
            cfg.soak_s = number(argv[++i]);
        else if (strcmp(a, "--rate") == 0 && v)
            cfg.soak_rate = number(argv[++i]);
        else if (strcmp(a, "--pid") == 0 && v)
            cfg.pid = (pid_t)number(argv[++i]);
        else if (strcmp(a, "--sample") == 0 && v)
            cfg.sample_s = number(argv[++i]);
        else if (strchr(a, '=') && strstr(a, "=http") && ntargets < MAX_TARGETS) {
            char *eq = strchr(a, '=');
            *eq = '\0';
            targets[ntargets].name = a;
            targets[ntargets].url = eq + 1;
            ntargets++;
        } else
            usage();
    }
    if (ntargets == 0 || cfg.sessions < 1 || cfg.sessions > MAX_SESSIONS || cfg.step_s <= 0)
        usage();
    if (cfg.soak_s > 0 &&
        (cfg.soak_rate <= 0 || cfg.pid <= 0 || cfg.sample_s <= 0 || ntargets != 1))
        usage();
    targets[0].admin = admin;
    targets[0].want_call_id = call_meta;
    if (cfg.ids_path && !(ids_file = fopen(cfg.ids_path, "we"))) {
        perror(cfg.ids_path);
        return 1;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = 0;
    if (cfg.soak_s > 0) {
        rc = soak(&targets[0]);
    } else {
        double best[MAX_TARGETS];
        for (size_t k = 0; k < ntargets; k++) {
            /* Only the first target's callIds are collected (its audit log). */
            FILE *keep = ids_file;
            if (k > 0) ids_file = NULL;
            best[k] = ramp(&targets[k]);
            ids_file = keep;
            if (best[k] < 0) rc = 1;
        }
        if (ntargets == 2 && best[0] > 0 && best[1] > 0)
            printf("highest sustained rate, %s/%s: %.2f (%.1f / %.1f req/s)\n", targets[0].name,
                   targets[1].name, best[0] / best[1], best[0], best[1]);
    }
    if (ids_file) {
        if (fclose(ids_file) != 0) {
            perror(cfg.ids_path);
            rc = 1;
        }
        printf("callIds collected: %ld\n", ids_written);
    }
    curl_global_cleanup();
    return rc;
}
