/* Metrics (see metrics.h).
 *
 * Each metric keeps its series in a hash table under a read-write lock:
 * updates take it for reading to find their series and change the values
 * with atomics; only a series' first use takes it for writing. Series are
 * never removed, so a pointer found under the lock stays valid after it.
 * A histogram keeps one count per bucket (not cumulative) and its sum; its
 * count is the sum of the buckets, so that a scrape never shows a _count
 * that disagrees with the +Inf bucket. The registry's mutex guards the list
 * of metrics and the gauges' readers, and is held while rendering. */
#include "gateway/core/metrics.h"

#include "gateway/core/alloc.h"
#include "gateway/core/text.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define OTHER "other"

typedef struct series {
    struct series *next;  /* in its hash slot */
    struct series *order; /* in the order series were made, for rendering */
    uint64_t hash;
    /* A counter's count, or the bits of a gauge's double. */
    _Atomic uint64_t value;
    /* Histograms: the bits of the sum, and a count per bucket. */
    _Atomic uint64_t sum;
    _Atomic uint64_t *counts;
    char *values[]; /* one per label */
} series;

typedef struct reader {
    tg_metrics_read_fn fn;
    void *ctx;
    struct reader *next;
} reader;

struct tg_metric {
    tg_metrics *registry;
    tg_metric_type type;
    char *name, *help;
    char **labels;
    size_t nlabels;
    double *bounds; /* histograms: the last one is +Inf */
    size_t nbounds;
    int bounded; /* the capped label, or -1 */
    unsigned max_values;
    pthread_rwlock_t lock; /* the table, the order list and seen */
    series **slots;
    size_t nslots, nseries;
    series *first, *last;
    char **seen; /* the bounded label's distinct values so far */
    size_t nseen;
    reader *readers; /* guarded by the registry's mutex */
    tg_metric *next;
};

struct tg_metrics {
    pthread_mutex_t mu;
    tg_metric *first, *last;
};

/* ---- doubles in atomics ------------------------------------------------ */

static uint64_t bits_of(double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof b);
    return b;
}

static double double_of(uint64_t b)
{
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}

static void add_double(_Atomic uint64_t *bits, double delta)
{
    uint64_t old = atomic_load_explicit(bits, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(bits, &old, bits_of(double_of(old) + delta),
                                                  memory_order_relaxed, memory_order_relaxed)) {
    }
}

/* ---- registration ------------------------------------------------------ */

static bool valid_name(const char *s, bool colon)
{
    if (!s || !*s || (*s >= '0' && *s <= '9')) return false;
    for (; *s; s++) {
        bool ok = (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                  (*s >= '0' && *s <= '9') || *s == '_' || (colon && *s == ':');
        if (!ok) return false;
    }
    return true;
}

tg_metrics *tg_metrics_new(void)
{
    tg_metrics *r = tg_xcalloc(1, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    return r;
}

static void metric_free(tg_metric *m)
{
    for (series *s = m->first, *next; s; s = next) {
        next = s->order;
        for (size_t i = 0; i < m->nlabels; i++)
            free(s->values[i]);
        free(s->counts);
        free(s);
    }
    for (reader *rd = m->readers, *next; rd; rd = next) {
        next = rd->next;
        free(rd);
    }
    for (size_t i = 0; i < m->nlabels; i++)
        free(m->labels[i]);
    for (size_t i = 0; i < m->nseen; i++)
        free(m->seen[i]);
    free(m->seen);
    free(m->labels);
    free(m->bounds);
    free(m->slots);
    free(m->name);
    free(m->help);
    pthread_rwlock_destroy(&m->lock);
    free(m);
}

void tg_metrics_free(tg_metrics *r)
{
    if (!r) return;
    for (tg_metric *m = r->first, *next; m; m = next) {
        next = m->next;
        metric_free(m);
    }
    pthread_mutex_destroy(&r->mu);
    free(r);
}

/* Whether d describes a metric: valid names, no reserved or repeated label,
 * histograms with increasing bounds ending at +Inf. */
static bool valid_desc(const tg_metric_desc *d, size_t *nlabels, size_t *nbounds)
{
    if (!valid_name(d->name, true) || !d->help) return false;
    size_t n = 0;
    for (; d->labels && d->labels[n]; n++) {
        const char *l = d->labels[n];
        if (n == TG_METRICS_LABELS_MAX || !valid_name(l, false) || strncmp(l, "__", 2) == 0 ||
            (d->type == TG_HISTOGRAM && strcmp(l, "le") == 0))
            return false;
        for (size_t i = 0; i < n; i++)
            if (strcmp(d->labels[i], l) == 0) return false;
    }
    *nlabels = n;
    *nbounds = 0;
    if (d->type == TG_HISTOGRAM) {
        if (!d->buckets) return false;
        size_t b = 0;
        for (; b < TG_METRICS_BUCKETS_MAX && !isinf(d->buckets[b]); b++)
            if (isnan(d->buckets[b]) || (b > 0 && d->buckets[b] <= d->buckets[b - 1])) return false;
        if (b == TG_METRICS_BUCKETS_MAX || d->buckets[b] < 0) return false;
        *nbounds = b + 1;
    }
    if (d->bounded) {
        bool found = false;
        for (size_t i = 0; i < n; i++)
            found = found || strcmp(d->labels[i], d->bounded) == 0;
        if (!found || d->max_values == 0) return false;
    }
    return true;
}

static series *series_of(tg_metric *m, const char *const *values);

tg_metric *tg_metrics_register(tg_metrics *r, const tg_metric_desc *d)
{
    size_t nlabels, nbounds;
    if (!valid_desc(d, &nlabels, &nbounds)) return NULL;
    pthread_mutex_lock(&r->mu);
    for (tg_metric *m = r->first; m; m = m->next) {
        if (strcmp(m->name, d->name) == 0) {
            pthread_mutex_unlock(&r->mu);
            return NULL;
        }
    }
    tg_metric *m = tg_xcalloc(1, sizeof *m);
    m->registry = r;
    m->type = d->type;
    m->name = tg_xstrdup(d->name);
    m->help = tg_xstrdup(d->help);
    m->nlabels = nlabels;
    m->labels = tg_xcalloc(nlabels ? nlabels : 1, sizeof *m->labels);
    m->bounded = -1;
    for (size_t i = 0; i < nlabels; i++) {
        m->labels[i] = tg_xstrdup(d->labels[i]);
        if (d->bounded && strcmp(d->labels[i], d->bounded) == 0) m->bounded = (int)i;
    }
    m->max_values = d->max_values;
    m->nbounds = nbounds;
    if (nbounds) {
        m->bounds = tg_xcalloc(nbounds, sizeof *m->bounds);
        memcpy(m->bounds, d->buckets, nbounds * sizeof *m->bounds);
    }
    pthread_rwlock_init(&m->lock, NULL);
    m->nslots = 16;
    m->slots = tg_xcalloc(m->nslots, sizeof *m->slots);
    if (r->last)
        r->last->next = m;
    else
        r->first = m;
    r->last = m;
    pthread_mutex_unlock(&r->mu);
    if (nlabels == 0) series_of(m, NULL);
    return m;
}

/* ---- finding a series -------------------------------------------------- */

/* A series' key: each value, cut, with its length. */
typedef struct key {
    const char *v[TG_METRICS_LABELS_MAX];
    size_t len[TG_METRICS_LABELS_MAX];
    uint64_t hash;
} key;

static void key_hash(const tg_metric *m, key *k)
{
    uint64_t h = 14695981039346656037ULL; /* FNV-1a */
    for (size_t i = 0; i < m->nlabels; i++) {
        for (size_t j = 0; j < k->len[i]; j++)
            h = (h ^ (unsigned char)k->v[i][j]) * 1099511628211ULL;
        h = (h ^ 0xff) * 1099511628211ULL; /* never in UTF-8: ends each value */
    }
    k->hash = h;
}

static void make_key(const tg_metric *m, const char *const *values, key *k)
{
    for (size_t i = 0; i < m->nlabels; i++) {
        const char *v = values && values[i] ? values[i] : "";
        k->v[i] = v;
        k->len[i] = tg_utf8_whole(v, strnlen(v, TG_METRICS_VALUE_MAX));
    }
    key_hash(m, k);
}

/* Whether stored (NUL-terminated) is v[0..len), which holds no NUL. */
static bool same_value(const char *stored, const char *v, size_t len)
{
    return strncmp(stored, v, len) == 0 && stored[len] == '\0';
}

static bool same_values(const tg_metric *m, char *const *stored, const key *k)
{
    for (size_t i = 0; i < m->nlabels; i++)
        if (!same_value(stored[i], k->v[i], k->len[i])) return false;
    return true;
}

/* Called with m's lock held. */
static series *find(const tg_metric *m, const key *k)
{
    for (series *s = m->slots[k->hash & (m->nslots - 1)]; s; s = s->next)
        if (s->hash == k->hash && same_values(m, s->values, k)) return s;
    return NULL;
}

/* Whether the bounded label may take value v: one seen before, or a new one
 * within the cap (then remembered). Called with m's lock held for writing. */
static bool admit(tg_metric *m, const char *v, size_t len)
{
    if (same_value(OTHER, v, len)) return true;
    for (size_t i = 0; i < m->nseen; i++)
        if (same_value(m->seen[i], v, len)) return true;
    if (m->nseen == m->max_values) return false;
    if (!m->seen) m->seen = tg_xcalloc(m->max_values, sizeof *m->seen);
    m->seen[m->nseen++] = tg_xstrndup(v, len);
    return true;
}

/* Called with m's lock held for writing. */
static series *insert(tg_metric *m, const key *k)
{
    if (m->nseries >= m->nslots) {
        size_t n = 2 * m->nslots;
        series **slots = tg_xcalloc(n, sizeof *slots);
        for (series *s = m->first; s; s = s->order) {
            s->next = slots[s->hash & (n - 1)];
            slots[s->hash & (n - 1)] = s;
        }
        free(m->slots);
        m->slots = slots;
        m->nslots = n;
    }
    series *s = tg_xcalloc(1, sizeof *s + m->nlabels * sizeof s->values[0]);
    s->hash = k->hash;
    for (size_t i = 0; i < m->nlabels; i++)
        s->values[i] = tg_xstrndup(k->v[i], k->len[i]);
    if (m->nbounds) s->counts = tg_xcalloc(m->nbounds, sizeof *s->counts);
    s->next = m->slots[k->hash & (m->nslots - 1)];
    m->slots[k->hash & (m->nslots - 1)] = s;
    if (m->last)
        m->last->order = s;
    else
        m->first = s;
    m->last = s;
    m->nseries++;
    return s;
}

static series *series_of(tg_metric *m, const char *const *values)
{
    key k;
    make_key(m, values, &k);
    pthread_rwlock_rdlock(&m->lock);
    series *s = find(m, &k);
    pthread_rwlock_unlock(&m->lock);
    if (s) return s;
    pthread_rwlock_wrlock(&m->lock);
    if (m->bounded >= 0 && !admit(m, k.v[m->bounded], k.len[m->bounded])) {
        k.v[m->bounded] = OTHER;
        k.len[m->bounded] = strlen(OTHER);
        key_hash(m, &k);
    }
    s = find(m, &k);
    if (!s) s = insert(m, &k);
    pthread_rwlock_unlock(&m->lock);
    return s;
}

/* ---- updates ----------------------------------------------------------- */

void tg_metrics_add(tg_metric *m, const char *const *values, uint64_t n)
{
    atomic_fetch_add_explicit(&series_of(m, values)->value, n, memory_order_relaxed);
}

void tg_metrics_set(tg_metric *m, const char *const *values, double v)
{
    atomic_store_explicit(&series_of(m, values)->value, bits_of(v), memory_order_relaxed);
}

void tg_metrics_gauge_add(tg_metric *m, const char *const *values, double delta)
{
    add_double(&series_of(m, values)->value, delta);
}

void tg_metrics_observe(tg_metric *m, const char *const *values, double v)
{
    if (isnan(v)) return;
    series *s = series_of(m, values);
    size_t b = 0;
    while (v > m->bounds[b])
        b++;
    atomic_fetch_add_explicit(&s->counts[b], 1, memory_order_relaxed);
    add_double(&s->sum, v);
}

/* ---- readers ----------------------------------------------------------- */

typedef struct sample {
    char **values;
    double v;
} sample;

struct tg_metrics_sink {
    const tg_metric *m;
    sample *samples;
    size_t n, cap;
};

void tg_metrics_put(tg_metrics_sink *sink, const char *const *values, double v)
{
    const tg_metric *m = sink->m;
    key k;
    make_key(m, values, &k);
    for (size_t i = 0; i < sink->n; i++) {
        if (same_values(m, sink->samples[i].values, &k)) {
            sink->samples[i].v += v;
            return;
        }
    }
    if (sink->n == sink->cap) {
        sink->cap = sink->cap ? 2 * sink->cap : 16;
        sink->samples = tg_xrealloc(sink->samples, sink->cap * sizeof *sink->samples);
    }
    sample *s = &sink->samples[sink->n++];
    s->values = tg_xcalloc(m->nlabels ? m->nlabels : 1, sizeof *s->values);
    for (size_t j = 0; j < m->nlabels; j++)
        s->values[j] = tg_xstrndup(k.v[j], k.len[j]);
    s->v = v;
}

void tg_metrics_reader_add(tg_metric *m, tg_metrics_read_fn fn, void *ctx)
{
    if (m->type != TG_GAUGE) abort(); /* a programming error: only gauges are read */
    reader *rd = tg_xcalloc(1, sizeof *rd);
    rd->fn = fn;
    rd->ctx = ctx;
    pthread_mutex_lock(&m->registry->mu);
    rd->next = m->readers;
    m->readers = rd;
    pthread_mutex_unlock(&m->registry->mu);
}

void tg_metrics_reader_remove(tg_metric *m, tg_metrics_read_fn fn, void *ctx)
{
    pthread_mutex_lock(&m->registry->mu);
    for (reader **p = &m->readers; *p; p = &(*p)->next) {
        if ((*p)->fn == fn && (*p)->ctx == ctx) {
            reader *rd = *p;
            *p = rd->next;
            free(rd);
            break;
        }
    }
    pthread_mutex_unlock(&m->registry->mu);
}

/* ---- rendering --------------------------------------------------------- */

/* Integers as integers, other values as the shortest text that reads back
 * as them. */
static void format_double(char buf[32], double d)
{
    if (isinf(d)) {
        snprintf(buf, 32, "%s", d > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (isnan(d)) {
        snprintf(buf, 32, "NaN");
        return;
    }
    if (d > -1e15 && d < 1e15 && (double)(int64_t)d == d) {
        snprintf(buf, 32, "%.0f", d);
        return;
    }
    for (int precision = 1; precision <= 17; precision++) {
        snprintf(buf, 32, "%.*g", precision, d);
        if (strtod(buf, NULL) == d) return;
    }
}

static void escaped(FILE *out, const char *s, bool quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            fputs("\\\\", out);
        else if (*s == '\n')
            fputs("\\n", out);
        else if (quote && *s == '"')
            fputs("\\\"", out);
        else
            fputc(*s, out);
    }
}

/* name{label="value",...} with le last when not NULL, then the value. */
static void sample_line(FILE *out, const tg_metric *m, const char *suffix, char *const *values,
                        const char *le, const char *value)
{
    fprintf(out, "%s%s", m->name, suffix);
    if (m->nlabels || le) {
        fputc('{', out);
        for (size_t i = 0; i < m->nlabels; i++) {
            fprintf(out, "%s%s=\"", i ? "," : "", m->labels[i]);
            escaped(out, values[i], true);
            fputc('"', out);
        }
        if (le) fprintf(out, "%sle=\"%s\"", m->nlabels ? "," : "", le);
        fputc('}', out);
    }
    fprintf(out, " %s\n", value);
}

static void render_histogram(FILE *out, const tg_metric *m, const series *s)
{
    uint64_t cumulative = 0;
    char le[32], text[32];
    for (size_t b = 0; b < m->nbounds; b++) {
        cumulative += atomic_load_explicit(&s->counts[b], memory_order_relaxed);
        format_double(le, m->bounds[b]);
        snprintf(text, sizeof text, "%llu", (unsigned long long)cumulative);
        sample_line(out, m, "_bucket", s->values, le, text);
    }
    format_double(text, double_of(atomic_load_explicit(&s->sum, memory_order_relaxed)));
    sample_line(out, m, "_sum", s->values, NULL, text);
    snprintf(text, sizeof text, "%llu", (unsigned long long)cumulative);
    sample_line(out, m, "_count", s->values, NULL, text);
}

/* A gauge with readers: its series and what the readers put, summed.
 * Called with the registry's mutex held, m's lock not. */
static void render_read_gauge(FILE *out, tg_metric *m)
{
    tg_metrics_sink sink = {.m = m};
    pthread_rwlock_rdlock(&m->lock);
    for (series *s = m->first; s; s = s->order)
        tg_metrics_put(&sink, (const char *const *)s->values,
                       double_of(atomic_load_explicit(&s->value, memory_order_relaxed)));
    pthread_rwlock_unlock(&m->lock);
    for (reader *rd = m->readers; rd; rd = rd->next)
        rd->fn(rd->ctx, &sink);
    char text[32];
    for (size_t i = 0; i < sink.n; i++) {
        format_double(text, sink.samples[i].v);
        sample_line(out, m, "", sink.samples[i].values, NULL, text);
        for (size_t j = 0; j < m->nlabels; j++)
            free(sink.samples[i].values[j]);
        free(sink.samples[i].values);
    }
    free(sink.samples);
}

static void render_metric(FILE *out, tg_metric *m)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    fprintf(out, "# HELP %s ", m->name);
    escaped(out, m->help, false);
    fprintf(out, "\n# TYPE %s %s\n", m->name, types[m->type]);
    if (m->readers) {
        render_read_gauge(out, m);
        return;
    }
    char text[32];
    pthread_rwlock_rdlock(&m->lock);
    for (series *s = m->first; s; s = s->order) {
        uint64_t v = atomic_load_explicit(&s->value, memory_order_relaxed);
        if (m->type == TG_HISTOGRAM) {
            render_histogram(out, m, s);
            continue;
        }
        if (m->type == TG_COUNTER)
            snprintf(text, sizeof text, "%llu", (unsigned long long)v);
        else
            format_double(text, double_of(v));
        sample_line(out, m, "", s->values, NULL, text);
    }
    pthread_rwlock_unlock(&m->lock);
}

void tg_metrics_render(tg_metrics *r, FILE *out)
{
    pthread_mutex_lock(&r->mu);
    for (tg_metric *m = r->first; m; m = m->next)
        render_metric(out, m);
    pthread_mutex_unlock(&r->mu);
}

/* ---- toolgate's metrics ------------------------------------------------ */

/* Calls and their phases, egress requests: 0.5 ms to a minute. */
static const double call_buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01,    0.025,
                                      0.05,   0.1,   0.25,   0.5,   1,       2.5,
                                      5,      10,    30,     60,    INFINITY};
/* Sandboxes: a jail spawns in milliseconds, a microVM restores in tens of
 * them, and boots (its template, under TCG) in seconds. */
static const double start_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,     0.25,
                                       0.5,   1,      2.5,   5,    10,    30,   INFINITY};
/* A group commit is one fsync: sub-millisecond on fast disks, seconds on a
 * sick one. */
static const double commit_buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                        0.005,  0.01,    0.025,  0.05,  0.1,
                                        0.25,   0.5,     1,      2.5,   INFINITY};
/* Scheduled runs start up to the jitter window (5 s by default) after
 * their slot, by design; more is the scheduler falling behind. */
static const double lag_buckets[] = {0.01, 0.05, 0.1, 0.25, 0.5, 1,   2.5,     5,
                                     7.5,  10,   15,  30,   60,  300, INFINITY};

#define LABELS(...) ((const char *const[]){__VA_ARGS__, NULL})

static const tg_metric_desc toolgate_metrics[] = {
#define XX(id, type_, name_, labels_, buckets_, bounded_, max_values_, help_)                      \
    {.type = type_,                                                                                \
     .name = name_,                                                                                \
     .help = help_,                                                                                \
     .labels = labels_,                                                                            \
     .buckets = buckets_,                                                                          \
     .bounded = bounded_,                                                                          \
     .max_values = max_values_},
#include "gateway/core/metrics.def"
#undef XX
};

static tg_metrics *default_registry;
static tg_metric *toolgate_metric[TG_METRIC_COUNT];
static pthread_once_t default_once = PTHREAD_ONCE_INIT;

static void default_init(void)
{
    default_registry = tg_metrics_new();
    for (size_t i = 0; i < TG_METRIC_COUNT; i++) {
        toolgate_metric[i] = tg_metrics_register(default_registry, &toolgate_metrics[i]);
        if (!toolgate_metric[i]) {
            fprintf(stderr, "toolgate: metrics.def: %s is invalid\n", toolgate_metrics[i].name);
            abort();
        }
    }
    tg_metrics_set(toolgate_metric[TG_METRIC_BUILD_INFO], (const char *const[]){TOOLGATE_VERSION},
                   1);
}

tg_metrics *tg_metrics_default(void)
{
    pthread_once(&default_once, default_init);
    return default_registry;
}

tg_metric *tg_metrics_get(tg_metric_id id)
{
    pthread_once(&default_once, default_init);
    return toolgate_metric[id];
}
