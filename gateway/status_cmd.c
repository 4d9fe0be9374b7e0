/* `toolgate status`: a running gateway at a glance, from its public
 * endpoints: /healthz (alive), /readyz (ready, driver, auth, audit, store, pool) and
 * /metrics (pool, calls, audit queue). A metric the gateway does not export
 * is left out of the summary (null in --json), so this works against
 * gateways older or newer than itself.
 *
 * Exit status: 0 ready, 1 unready or unreachable, 2 bad command line. */
#include "gateway/commands.h"

#include "gateway/client.h"
#include "gateway/core/alloc.h"

#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: toolgate status [--url URL] [--json]\n"
    "  show a running gateway's readiness, sandbox driver, audit log, warm pool and\n"
    "  calls; exits 0 when it is ready, 1 when it is unready or cannot be reached\n"
    "  --url URL   the gateway (default $TOOLGATE_URL, else http://127.0.0.1:8080)\n"
    "  --json      print the same as one JSON object\n";

/* Seconds each of the three requests may take: a status check is quick or
 * the gateway is in trouble. */
#define REQUEST_TIMEOUT_S 5
/* Runtimes listed in the pool line; more are counted in none. */
#define MAX_RUNTIMES 16
#define MAX_LABEL    128

/* The pool's sandboxes by state, per runtime. */
typedef struct pool_row {
    char runtime[MAX_LABEL];
    double warm, busy, booting;
} pool_row;

/* What /metrics said; NAN where a metric is absent. */
typedef struct gauges {
    double calls_total, calls_errors, in_flight, queued;
    double audit_queue, audit_commits, audit_writable;
    pool_row pool[MAX_RUNTIMES];
    size_t npool;
} gauges;

/* Copies the value of label name from a Prometheus label set ("a=\"x\",b=\"y\"",
 * without the braces) into out, unescaped. Returns false when it is absent. */
static bool label(const char *labels, size_t len, const char *name, char *out, size_t cap)
{
    size_t nlen = strlen(name);
    const char *p = labels, *end = labels + len;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == ','))
            p++;
        const char *key = p;
        while (p < end && *p != '=')
            p++;
        size_t klen = (size_t)(p - key);
        if (p + 1 >= end || p[1] != '"') return false;
        p += 2;
        size_t o = 0;
        bool match = klen == nlen && strncmp(key, name, nlen) == 0;
        for (; p < end && *p != '"'; p++) {
            char ch = *p;
            if (ch == '\\' && p + 1 < end) {
                ch = *++p;
                if (ch == 'n') ch = '\n';
            }
            if (match && o + 1 < cap) out[o++] = ch;
        }
        if (p >= end) return false;
        p++;
        if (match) {
            out[o] = '\0';
            return true;
        }
    }
    return false;
}

static double add(double sum, double v)
{
    return isnan(sum) ? v : sum + v;
}

static pool_row *pool_row_for(gauges *g, const char *runtime)
{
    for (size_t i = 0; i < g->npool; i++)
        if (strcmp(g->pool[i].runtime, runtime) == 0) return &g->pool[i];
    if (g->npool == MAX_RUNTIMES) return NULL;
    pool_row *r = &g->pool[g->npool++];
    snprintf(r->runtime, sizeof r->runtime, "%s", runtime);
    r->warm = r->busy = r->booting = 0;
    return r;
}

/* One sample line: NAME[{LABELS}] VALUE [TIMESTAMP]. Lines that are not
 * samples of a metric read here are skipped. */
static void sample(gauges *g, const char *line, size_t len)
{
    const char *end = line + len, *p = line;
    while (p < end && *p != '{' && *p != ' ' && *p != '\t')
        p++;
    size_t nlen = (size_t)(p - line);
    const char *labels = "";
    size_t llen = 0;
    if (p < end && *p == '{') {
        labels = ++p;
        /* A '}' inside a quoted value does not end the set. */
        bool quoted = false;
        for (; p < end && (quoted || *p != '}'); p++) {
            if (*p == '\\' && quoted)
                p++;
            else if (*p == '"')
                quoted = !quoted;
        }
        if (p >= end) return;
        llen = (size_t)(p - labels);
        p++;
    }
    char number[64];
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    size_t vlen = 0;
    while (p + vlen < end && p[vlen] != ' ' && p[vlen] != '\t' && vlen + 1 < sizeof number)
        vlen++;
    memcpy(number, p, vlen);
    number[vlen] = '\0';
    char *stop;
    double v = strtod(number, &stop);
    if (vlen == 0 || *stop) return;

#define IS(metric) (nlen == sizeof metric - 1 && strncmp(line, metric, nlen) == 0)
    char a[MAX_LABEL], b[MAX_LABEL];
    if (IS("toolgate_calls_total")) {
        g->calls_total = add(g->calls_total, v);
        if (label(labels, llen, "status", a, sizeof a) && strcmp(a, "error") == 0)
            g->calls_errors = add(g->calls_errors, v);
        else if (isnan(g->calls_errors))
            g->calls_errors = 0;
    } else if (IS("toolgate_calls_in_flight")) {
        g->in_flight = add(g->in_flight, v);
    } else if (IS("toolgate_calls_queued")) {
        g->queued = add(g->queued, v);
    } else if (IS("toolgate_audit_queue_depth")) {
        g->audit_queue = v;
    } else if (IS("toolgate_audit_commits_total")) {
        g->audit_commits = v;
    } else if (IS("toolgate_audit_writable")) {
        g->audit_writable = v;
    } else if (IS("toolgate_pool_sandboxes") && label(labels, llen, "runtime", a, sizeof a) &&
               label(labels, llen, "state", b, sizeof b)) {
        pool_row *r = pool_row_for(g, a);
        if (!r) return;
        if (strcmp(b, "warm") == 0)
            r->warm += v;
        else if (strcmp(b, "busy") == 0)
            r->busy += v;
        else if (strcmp(b, "booting") == 0)
            r->booting += v;
    }
#undef IS
}

static void parse_metrics(gauges *g, const char *text)
{
    for (const char *line = text; line && *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        if (len && line[len - 1] == '\r') len--;
        if (len && line[0] != '#') sample(g, line, len);
        /* A counter declared with no series yet has counted nothing: 0, not absent. */
        static const char calls_type[] = "# TYPE toolgate_calls_total ";
        if (len >= sizeof calls_type - 1 && strncmp(line, calls_type, sizeof calls_type - 1) == 0) {
            if (isnan(g->calls_total)) g->calls_total = 0;
            if (isnan(g->calls_errors)) g->calls_errors = 0;
        }
        line = nl ? nl + 1 : NULL;
    }
}

static json_t *number_or_null(double v)
{
    if (isnan(v)) return json_null();
    if (v == floor(v) && fabs(v) < 9e15) return json_integer((json_int_t)v);
    return json_real(v);
}

static json_t *string_or_null(const char *v)
{
    return v ? json_string(v) : json_null();
}

typedef struct status {
    const char *url;
    char *error;    /* why it is unreachable or unready, or NULL */
    bool reachable; /* it answered /readyz */
    bool alive;     /* /healthz said ok */
    bool ready;
    json_t *readyz; /* borrowed from here: driver, auth, audit */
    bool metrics;   /* /metrics answered */
    gauges g;
} status;

static const char *ready_field(const status *s, const char *key)
{
    return json_string_value(json_object_get(s->readyz, key));
}

static void print_json(const status *s)
{
    json_t *pool = json_object();
    for (size_t i = 0; i < s->g.npool; i++)
        json_object_set_new(pool, s->g.pool[i].runtime,
                            json_pack("{s:o, s:o, s:o}", "warm", number_or_null(s->g.pool[i].warm),
                                      "busy", number_or_null(s->g.pool[i].busy), "booting",
                                      number_or_null(s->g.pool[i].booting)));
    const char *state = !s->reachable ? "unreachable" : s->ready ? "ready" : "unready";
    json_t *doc = json_pack(
        "{s:s, s:s, s:b, s:b, s:o, s:o, s:o, s:{s:o, s:o, s:o}, s:o, s:o, s:{s:o, s:o, s:o, s:o}}",
        "url", s->url, "status", state, "alive", s->alive, "ready", s->ready, "driver",
        string_or_null(ready_field(s, "driver")), "auth", string_or_null(ready_field(s, "auth")),
        "audit", string_or_null(ready_field(s, "audit")), "audit_log", "writable",
        isnan(s->g.audit_writable) ? json_null() : json_boolean(s->g.audit_writable != 0), "queue",
        number_or_null(s->g.audit_queue), "commits", number_or_null(s->g.audit_commits), "metrics",
        json_boolean(s->metrics), "pool", s->g.npool ? pool : json_null(), "calls", "total",
        number_or_null(s->g.calls_total), "errors", number_or_null(s->g.calls_errors), "in_flight",
        number_or_null(s->g.in_flight), "queued", number_or_null(s->g.queued));
    if (!s->g.npool) json_decref(pool);
    json_object_set_new(doc, "store", string_or_null(ready_field(s, "store")));
    json_object_set_new(doc, "pool_health", string_or_null(ready_field(s, "pool")));
    if (s->error) json_object_set_new(doc, "error", json_string(s->error));
    json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    putchar('\n');
    json_decref(doc);
}

static void print_text(const status *s)
{
    if (!s->reachable) {
        printf("%-9s %s  unreachable\n", "gateway", s->url);
        return;
    }
    const char *auth = ready_field(s, "auth");
    printf("%-9s %s  %s", "gateway", s->url, s->ready ? "ready" : "unready");
    if (auth) printf("  (auth: %s)", auth);
    putchar('\n');
    const char *driver = ready_field(s, "driver");
    printf("%-9s %s\n", "driver", driver ? driver : "?");
    const char *audit = ready_field(s, "audit");
    printf("%-9s %s", "audit", audit ? audit : "?");
    if (!isnan(s->g.audit_queue)) printf("   queue %.0f", s->g.audit_queue);
    if (!isnan(s->g.audit_commits)) printf("   commits %.0f", s->g.audit_commits);
    putchar('\n');
    if (!s->metrics) {
        printf("%-9s (no /metrics answer)\n", "metrics");
        return;
    }
    printf("%-9s", "pool");
    if (!s->g.npool) printf(" (not reported)");
    for (size_t i = 0; i < s->g.npool; i++) {
        const pool_row *r = &s->g.pool[i];
        printf("%s%s: %.0f warm, %.0f busy, %.0f booting", i ? "   " : " ", r->runtime, r->warm,
               r->busy, r->booting);
    }
    putchar('\n');
    /* Only what the gateway reports: a missing number is left out, not guessed. */
    const struct {
        double v;
        const char *what;
    } calls[] = {{s->g.calls_total, "total"},
                 {s->g.calls_errors, "errors"},
                 {s->g.in_flight, "in flight"},
                 {s->g.queued, "queued"}};
    printf("%-9s", "calls");
    const char *sep = " ";
    for (size_t i = 0; i < sizeof calls / sizeof *calls; i++) {
        if (isnan(calls[i].v)) continue;
        printf("%s%.0f %s", sep, calls[i].v, calls[i].what);
        sep = ", ";
    }
    if (*sep == ' ') printf(" (not reported)");
    putchar('\n');
}

int tg_cmd_status(int argc, char **argv)
{
    const char *url = NULL;
    bool as_json = false;
    if (tg_cmd_wants_help(argc, argv)) return tg_cmd_help(usage_text);
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--url") == 0 && i + 1 < argc)
            url = argv[++i];
        else if (strcmp(argv[i], "--json") == 0)
            as_json = true;
        else
            return tg_cmd_usage_error(usage_text);
    }
    tg_client *c = tg_client_new(tg_client_url(url), NULL, 0);
    tg_client_set_timeout(c, REQUEST_TIMEOUT_S);
    status s = {.url = tg_client_base(c)};
    s.g = (gauges){NAN, NAN, NAN, NAN, NAN, NAN, NAN, {{{0}, 0, 0, 0}}, 0};
    tg_client_answer health, ready, metrics;
    json_t *ready_doc = NULL;
    if (tg_client_request(c, "GET", "/healthz", NULL, NULL, 0, &health) != TG_CLIENT_OK) {
        s.error = tg_xstrdup(health.why);
    } else {
        s.alive = health.status == 200;
        if (tg_client_request(c, "GET", "/readyz", NULL, NULL, 0, &ready) != TG_CLIENT_OK) {
            s.error = tg_xstrdup(ready.why);
        } else {
            s.reachable = true;
            ready_doc = ready.body ? json_loads(ready.body, 0, NULL) : NULL;
            s.readyz = ready_doc;
            const char *said = ready_field(&s, "status");
            s.ready = ready.status == 200 && said && strcmp(said, "ready") == 0;
            if (!s.ready) {
                /* Unready, or refusing everything (shutting down): say what it said. */
                const char *message = json_string_value(
                    json_object_get(json_object_get(ready_doc, "error"), "message"));
                const char *audit = ready_field(&s, "audit");
                const char *store = ready_field(&s, "store"), *pool = ready_field(&s, "pool");
                s.error = message ? tg_xstrdup(message)
                          : audit ? tg_xasprintf("the gateway is %s (HTTP %ld; audit log %s; "
                                                 "store %s; pool %s)",
                                                 said ? said : "not ready", ready.status, audit,
                                                 store ? store : "?", pool ? pool : "?")
                                  : tg_xasprintf("/readyz answered HTTP %ld", ready.status);
            }
        }
        tg_client_answer_clear(&ready);
    }
    tg_client_answer_clear(&health);
    if (s.reachable &&
        tg_client_request(c, "GET", "/metrics", NULL, NULL, 0, &metrics) == TG_CLIENT_OK) {
        s.metrics = metrics.status == 200;
        if (s.metrics && metrics.body) parse_metrics(&s.g, metrics.body);
        tg_client_answer_clear(&metrics);
    } else if (s.reachable) {
        tg_client_answer_clear(&metrics);
    }
    if (as_json)
        print_json(&s);
    else
        print_text(&s);
    if (s.error) fprintf(stderr, "toolgate: %s%s\n", s.reachable ? "" : "no gateway: ", s.error);
    int rc = s.ready ? 0 : 1;
    free(s.error);
    json_decref(ready_doc);
    tg_client_free(c);
    return rc;
}
