/* The metrics registry: the exact text exposition output (escaping, histogram
 * buckets, readers), invalid metrics refused, bounded label values, and
 * updates from many threads at once losing nothing. */
#include "check.h"

#include "gateway/core/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>

static char *render(tg_metrics *r)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    tg_metrics_render(r, out);
    fclose(out);
    return text;
}

static const double buckets[] = {0.1, 1, 2.5, INFINITY};

static void test_exposition(void)
{
    tg_metrics *r = tg_metrics_new();
    tg_metric *calls = tg_metrics_register(
        r, &(tg_metric_desc){.type = TG_COUNTER,
                             .name = "t_calls_total",
                             .help = "Calls.\nWith a \\ backslash.",
                             .labels = (const char *const[]){"tool", "code", NULL}});
    tg_metric *depth = tg_metrics_register(
        r, &(tg_metric_desc){.type = TG_GAUGE, .name = "t_depth", .help = "Depth."});
    tg_metric *took =
        tg_metrics_register(r, &(tg_metric_desc){.type = TG_HISTOGRAM,
                                                 .name = "t_seconds",
                                                 .help = "Time.",
                                                 .labels = (const char *const[]){"phase", NULL},
                                                 .buckets = buckets});
    CHECK(calls && depth && took);
    tg_metrics_add(calls, (const char *const[]){"a\"b", "x\\y\nz"}, 2);
    tg_metrics_add(calls, (const char *const[]){"plain", NULL}, 1);
    tg_metrics_add(calls, (const char *const[]){"a\"b", "x\\y\nz"}, 3);
    tg_metrics_gauge_add(depth, NULL, 2);
    tg_metrics_gauge_add(depth, NULL, -0.5);
    tg_metrics_observe(took, (const char *const[]){"run"}, 0.05);
    tg_metrics_observe(took, (const char *const[]){"run"}, 0.1);
    tg_metrics_observe(took, (const char *const[]){"run"}, 2);
    tg_metrics_observe(took, (const char *const[]){"run"}, 100);
    tg_metrics_observe(took, (const char *const[]){"run"}, NAN);
    char *text = render(r);
    CHECK_STR_EQ(text, "# HELP t_calls_total Calls.\\nWith a \\\\ backslash.\n"
                       "# TYPE t_calls_total counter\n"
                       "t_calls_total{tool=\"a\\\"b\",code=\"x\\\\y\\nz\"} 5\n"
                       "t_calls_total{tool=\"plain\",code=\"\"} 1\n"
                       "# HELP t_depth Depth.\n"
                       "# TYPE t_depth gauge\n"
                       "t_depth 1.5\n"
                       "# HELP t_seconds Time.\n"
                       "# TYPE t_seconds histogram\n"
                       "t_seconds_bucket{phase=\"run\",le=\"0.1\"} 2\n"
                       "t_seconds_bucket{phase=\"run\",le=\"1\"} 2\n"
                       "t_seconds_bucket{phase=\"run\",le=\"2.5\"} 3\n"
                       "t_seconds_bucket{phase=\"run\",le=\"+Inf\"} 4\n"
                       "t_seconds_sum{phase=\"run\"} 102.15\n"
                       "t_seconds_count{phase=\"run\"} 4\n");
    free(text);

    /* A metric without labels renders 0 before its first update; one with
     * labels renders no sample until its first series. */
    tg_metrics_free(r);
    r = tg_metrics_new();
    tg_metrics_register(r, &(tg_metric_desc){.type = TG_HISTOGRAM,
                                             .name = "t_lag_seconds",
                                             .help = "Lag.",
                                             .buckets = (const double[]){0.5, INFINITY}});
    tg_metrics_register(r, &(tg_metric_desc){.type = TG_COUNTER,
                                             .name = "t_requests_total",
                                             .help = "Requests.",
                                             .labels = (const char *const[]){"origin", NULL}});
    text = render(r);
    CHECK_STR_EQ(text, "# HELP t_lag_seconds Lag.\n"
                       "# TYPE t_lag_seconds histogram\n"
                       "t_lag_seconds_bucket{le=\"0.5\"} 0\n"
                       "t_lag_seconds_bucket{le=\"+Inf\"} 0\n"
                       "t_lag_seconds_sum 0\n"
                       "t_lag_seconds_count 0\n"
                       "# HELP t_requests_total Requests.\n"
                       "# TYPE t_requests_total counter\n");
    free(text);
    tg_metrics_free(r);
}

static void test_invalid(void)
{
    tg_metrics *r = tg_metrics_new();
    const char *const le[] = {"le", NULL}, *const twice[] = {"a", "a", NULL};
    const char *const bad_label[] = {"1a", NULL}, *const reserved[] = {"__name", NULL};
    CHECK(!tg_metrics_register(r, &(tg_metric_desc){.type = TG_GAUGE, .name = "1x", .help = ""}));
    CHECK(!tg_metrics_register(r, &(tg_metric_desc){.type = TG_GAUGE, .name = "a-b", .help = ""}));
    CHECK(!tg_metrics_register(r, &(tg_metric_desc){.type = TG_GAUGE, .name = "x"}));
    CHECK(!tg_metrics_register(
        r, &(tg_metric_desc){.type = TG_GAUGE, .name = "x", .help = "", .labels = twice}));
    CHECK(!tg_metrics_register(
        r, &(tg_metric_desc){.type = TG_GAUGE, .name = "x", .help = "", .labels = bad_label}));
    CHECK(!tg_metrics_register(
        r, &(tg_metric_desc){.type = TG_GAUGE, .name = "x", .help = "", .labels = reserved}));
    CHECK(!tg_metrics_register(
        r, &(tg_metric_desc){
               .type = TG_HISTOGRAM, .name = "x", .help = "", .labels = le, .buckets = buckets}));
    CHECK(
        !tg_metrics_register(r, &(tg_metric_desc){.type = TG_HISTOGRAM, .name = "x", .help = ""}));
    CHECK(!tg_metrics_register(r, &(tg_metric_desc){.type = TG_HISTOGRAM,
                                                    .name = "x",
                                                    .help = "",
                                                    .buckets = (const double[]){1, 1, INFINITY}}));
    CHECK(!tg_metrics_register(r, &(tg_metric_desc){.type = TG_COUNTER,
                                                    .name = "x",
                                                    .help = "",
                                                    .labels = twice + 1,
                                                    .bounded = "b",
                                                    .max_values = 1}));
    CHECK(tg_metrics_register(r, &(tg_metric_desc){.type = TG_GAUGE, .name = "x:y", .help = ""}));
    CHECK(
        !tg_metrics_register(r, &(tg_metric_desc){.type = TG_COUNTER, .name = "x:y", .help = ""}));
    tg_metrics_free(r);
}

/* A label callers could invent keeps at most max_values values, then reads
 * "other"; long values are cut on a character boundary. */
static void test_bounds(void)
{
    tg_metrics *r = tg_metrics_new();
    tg_metric *m = tg_metrics_register(
        r, &(tg_metric_desc){.type = TG_COUNTER,
                             .name = "t_total",
                             .help = "h",
                             .labels = (const char *const[]){"origin", "outcome", NULL},
                             .bounded = "origin",
                             .max_values = 2});
    tg_metrics_add(m, (const char *const[]){"a", "ok"}, 1);
    tg_metrics_add(m, (const char *const[]){"b", "ok"}, 1);
    tg_metrics_add(m, (const char *const[]){"c", "ok"}, 1);
    tg_metrics_add(m, (const char *const[]){"d", "denied"}, 1);
    tg_metrics_add(m, (const char *const[]){"a", "denied"}, 1);
    tg_metrics_add(m, (const char *const[]){"e", "ok"}, 1);
    char *text = render(r);
    CHECK_STR_EQ(text, "# HELP t_total h\n# TYPE t_total counter\n"
                       "t_total{origin=\"a\",outcome=\"ok\"} 1\n"
                       "t_total{origin=\"b\",outcome=\"ok\"} 1\n"
                       "t_total{origin=\"other\",outcome=\"ok\"} 2\n"
                       "t_total{origin=\"other\",outcome=\"denied\"} 1\n"
                       "t_total{origin=\"a\",outcome=\"denied\"} 1\n");
    free(text);
    tg_metrics_free(r);

    r = tg_metrics_new();
    m = tg_metrics_register(r, &(tg_metric_desc){.type = TG_GAUGE,
                                                 .name = "g",
                                                 .help = "h",
                                                 .labels = (const char *const[]){"v", NULL}});
    char long_value[300];
    memset(long_value, 'x', sizeof long_value);
    memcpy(long_value + TG_METRICS_VALUE_MAX - 1, "\xc3\xa9", 2); /* é across the cut */
    long_value[sizeof long_value - 1] = '\0';
    tg_metrics_set(m, (const char *const[]){long_value}, 1);
    long_value[TG_METRICS_VALUE_MAX + 10] = '\0'; /* the same once cut: the same series */
    tg_metrics_gauge_add(m, (const char *const[]){long_value}, 1);
    text = render(r);
    char expected[512];
    snprintf(expected, sizeof expected, "# HELP g h\n# TYPE g gauge\ng{v=\"%.*s\"} 2\n",
             TG_METRICS_VALUE_MAX - 1, long_value);
    CHECK_STR_EQ(text, expected);
    free(text);
    tg_metrics_free(r);
}

typedef struct pool_state {
    const char *runtime;
    int warm, busy;
} pool_state;

static void read_pool(void *ctx, tg_metrics_sink *sink)
{
    const pool_state *p = ctx;
    tg_metrics_put(sink, (const char *const[]){p->runtime, "warm"}, p->warm);
    tg_metrics_put(sink, (const char *const[]){p->runtime, "busy"}, p->busy);
}

/* Readers' samples are summed with each other and with set values. */
static void test_readers(void)
{
    tg_metrics *r = tg_metrics_new();
    tg_metric *m = tg_metrics_register(
        r, &(tg_metric_desc){.type = TG_GAUGE,
                             .name = "sandboxes",
                             .help = "h",
                             .labels = (const char *const[]){"runtime", "state", NULL}});
    pool_state one = {"sh", 3, 1}, two = {"sh", 1, 0}, three = {"python3", 2, 2};
    tg_metrics_set(m, (const char *const[]){"sh", "booting"}, 1);
    tg_metrics_reader_add(m, read_pool, &one);
    tg_metrics_reader_add(m, read_pool, &two);
    tg_metrics_reader_add(m, read_pool, &three);
    char *text = render(r);
    CHECK_STR_EQ(text, "# HELP sandboxes h\n# TYPE sandboxes gauge\n"
                       "sandboxes{runtime=\"sh\",state=\"booting\"} 1\n"
                       "sandboxes{runtime=\"python3\",state=\"warm\"} 2\n"
                       "sandboxes{runtime=\"python3\",state=\"busy\"} 2\n"
                       "sandboxes{runtime=\"sh\",state=\"warm\"} 4\n"
                       "sandboxes{runtime=\"sh\",state=\"busy\"} 1\n");
    free(text);
    tg_metrics_reader_remove(m, read_pool, &three);
    tg_metrics_reader_remove(m, read_pool, &two);
    tg_metrics_reader_remove(m, read_pool, &one);
    text = render(r);
    CHECK_STR_EQ(text, "# HELP sandboxes h\n# TYPE sandboxes gauge\n"
                       "sandboxes{runtime=\"sh\",state=\"booting\"} 1\n");
    free(text);
    tg_metrics_free(r);
}

#define THREADS 8
#define ROUNDS  20000

typedef struct hammer {
    tg_metric *counter, *gauge, *histogram;
    int n;
} hammer;

/* Each thread makes series of its own and shares others, so lookups race
 * with first uses (and the table's growth). */
static void *hammer_main(void *arg)
{
    hammer *h = arg;
    char mine[16];
    for (int i = 0; i < ROUNDS; i++) {
        snprintf(mine, sizeof mine, "t%d-%d", h->n, i % 50);
        tg_metrics_add(h->counter, (const char *const[]){"shared"}, 1);
        tg_metrics_add(h->counter, (const char *const[]){mine}, 2);
        tg_metrics_gauge_add(h->gauge, NULL, 1);
        tg_metrics_gauge_add(h->gauge, NULL, -0.5);
        tg_metrics_observe(h->histogram, NULL, i % 2 ? 0.5 : 2);
    }
    return NULL;
}

static void test_threads(void)
{
    tg_metrics *r = tg_metrics_new();
    hammer h[THREADS];
    h[0].counter =
        tg_metrics_register(r, &(tg_metric_desc){.type = TG_COUNTER,
                                                 .name = "c_total",
                                                 .help = "h",
                                                 .labels = (const char *const[]){"who", NULL}});
    h[0].gauge =
        tg_metrics_register(r, &(tg_metric_desc){.type = TG_GAUGE, .name = "g", .help = "h"});
    h[0].histogram = tg_metrics_register(
        r, &(tg_metric_desc){.type = TG_HISTOGRAM, .name = "s", .help = "h", .buckets = buckets});
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++) {
        h[i] = h[0];
        h[i].n = i;
        CHECK_INT_EQ(pthread_create(&threads[i], NULL, hammer_main, &h[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(threads[i], NULL);
    char *text = render(r);
    char line[128];
    snprintf(line, sizeof line, "\nc_total{who=\"shared\"} %d\n", THREADS * ROUNDS);
    CHECK(strstr(text, line) != NULL);
    snprintf(line, sizeof line, "\nc_total{who=\"t3-7\"} %d\n", 2 * ROUNDS / 50);
    CHECK(strstr(text, line) != NULL);
    size_t series = 0;
    for (const char *p = text; (p = strstr(p, "\nc_total{")) != NULL; p++)
        series++;
    CHECK_INT_EQ(series, 1 + THREADS * 50);
    snprintf(line, sizeof line, "\ng %d\n", THREADS * ROUNDS / 2);
    CHECK(strstr(text, line) != NULL);
    snprintf(line, sizeof line, "\ns_bucket{le=\"1\"} %d\n", THREADS * ROUNDS / 2);
    CHECK(strstr(text, line) != NULL);
    snprintf(line, sizeof line, "\ns_count %d\n", THREADS * ROUNDS);
    CHECK(strstr(text, line) != NULL);
    snprintf(line, sizeof line, "\ns_sum %d\n", THREADS * ROUNDS / 2 * 5 / 2);
    CHECK(strstr(text, line) != NULL);
    free(text);
    tg_metrics_free(r);
}

/* toolgate's own metrics register, and the build is on them. */
static void test_default(void)
{
    for (int id = 0; id < TG_METRIC_COUNT; id++)
        CHECK(tg_metrics_get((tg_metric_id)id) != NULL);
    char *text = render(tg_metrics_default());
    CHECK(strstr(text, "\ntoolgate_build_info{version=\"" TOOLGATE_VERSION "\"} 1\n") != NULL);
    CHECK(strstr(text, "\n# TYPE toolgate_calls_total counter\n") != NULL);
    CHECK(strstr(text, "\ntoolgate_calls_in_flight 0\n") != NULL);
    free(text);
}

int main(void)
{
    test_exposition();
    test_invalid();
    test_bounds();
    test_readers();
    test_threads();
    test_default();
    return check_report();
}
