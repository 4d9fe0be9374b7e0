/* Prometheus metrics: a registry of counters, gauges and histograms, rendered
 * in the text exposition format 0.0.4 for /metrics; and the process-wide
 * registry that holds toolgate's own metrics (metrics.def, docs/metrics.md).
 *
 * A metric has fixed label names. Its series, one per list of label values,
 * are made on first use and live as long as the registry: once a series
 * exists, updating it takes a read lock to find it and atomic operations,
 * and allocates nothing. Every function here is thread-safe.
 *
 * Label values that callers could invent are bounded: a value is cut to
 * TG_METRICS_VALUE_MAX bytes (on a UTF-8 boundary), and a metric may cap the
 * distinct values of one label, beyond which that label reads "other". */
#ifndef TG_CORE_METRICS_H
#define TG_CORE_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct tg_metrics tg_metrics; /* a registry */
typedef struct tg_metric tg_metric;   /* one metric: its series and their values */

typedef enum tg_metric_type { TG_COUNTER, TG_GAUGE, TG_HISTOGRAM } tg_metric_type;

#define TG_METRICS_LABELS_MAX  8
#define TG_METRICS_BUCKETS_MAX 32
#define TG_METRICS_VALUE_MAX   128

typedef struct tg_metric_desc {
    tg_metric_type type;
    const char *name; /* [a-zA-Z_:][a-zA-Z0-9_:]* */
    const char *help;
    const char *const *labels; /* NULL-terminated names, or NULL for none */
    /* Histograms: increasing upper bounds, the last one INFINITY. */
    const double *buckets;
    /* NULL, or the label whose distinct values are capped at max_values;
     * beyond them, a new value reads "other". */
    const char *bounded;
    unsigned max_values;
} tg_metric_desc;

tg_metrics *tg_metrics_new(void);
/* Frees r and its metrics; nothing may use them any more. */
void tg_metrics_free(tg_metrics *r);

/* Adds a metric to r (the strings are copied). Returns it, or NULL when d
 * is invalid or its name is taken. A metric without labels has its one
 * series from the start, so that it renders 0 before any update. */
tg_metric *tg_metrics_register(tg_metrics *r, const tg_metric_desc *d);

/* Updates take the series' label values in the order of the metric's label
 * names (values NULL for a metric without labels; a NULL value reads ""). */

/* Counters: adds n. */
void tg_metrics_add(tg_metric *m, const char *const *values, uint64_t n);
/* Gauges: sets to v, or adds delta (which may be negative). */
void tg_metrics_set(tg_metric *m, const char *const *values, double v);
void tg_metrics_gauge_add(tg_metric *m, const char *const *values, double delta);
/* Histograms: counts v in the first bucket whose bound is >= v. NaN is
 * ignored. */
void tg_metrics_observe(tg_metric *m, const char *const *values, double v);

/* A gauge's series read at render time, for state some module keeps
 * anyway (the pool's sandboxes): a reader calls tg_metrics_put once per
 * series. Samples with the same label values, from readers and from
 * updates, are summed. */
typedef struct tg_metrics_sink tg_metrics_sink;
typedef void (*tg_metrics_read_fn)(void *ctx, tg_metrics_sink *sink);
void tg_metrics_put(tg_metrics_sink *sink, const char *const *values, double v);
/* m must be a gauge. A reader runs with no lock of this module held but
 * the registry's, so it may take its own locks, as long as no code holding
 * them adds or removes a reader or registers a metric. Once remove returns,
 * the reader is not running and will not run again. */
void tg_metrics_reader_add(tg_metric *m, tg_metrics_read_fn fn, void *ctx);
void tg_metrics_reader_remove(tg_metric *m, tg_metrics_read_fn fn, void *ctx);

/* Writes every metric of r, in the order they were registered, in the
 * text exposition format 0.0.4. */
void tg_metrics_render(tg_metrics *r, FILE *out);

/* ---- toolgate's metrics ------------------------------------------------ */

typedef enum tg_metric_id {
#define XX(id, type, name, labels, buckets, bounded, max_values, help) TG_METRIC_##id,
#include "gateway/core/metrics.def"
#undef XX
    TG_METRIC_COUNT
} tg_metric_id;

/* The process-wide registry, made on first use with every metric of
 * metrics.def registered and toolgate_build_info set. */
tg_metrics *tg_metrics_default(void);
/* One of toolgate's metrics, in the default registry. */
tg_metric *tg_metrics_get(tg_metric_id id);

#endif
