/* SPDX-License-Identifier: MIT */
/* jc/metrics.h: counters, gauges and latency histograms rendered in Prometheus text format. */
#ifndef JC_METRICS_H
#define JC_METRICS_H

#include <stddef.h>

#include "jc/err.h"

struct jc_metrics;
struct jc_metric; /* one labelled series of a family; owned by its registry */

/* Creates an empty registry; NULL on allocation failure. Single-threaded (one per loop). */
struct jc_metrics *jc_metrics_new(void);

/* Frees the registry and every series it handed out; NULL is a no-op. */
void jc_metrics_free(struct jc_metrics *m);

/*
 * Returns the series of family name (a valid Prometheus name) with the given label set,
 * creating family and series on first use. labels is either NULL or preformatted label pairs
 * such as `event="push",outcome="ok"` (the caller escapes values). help is used when the family
 * is created. The pointer is borrowed and valid until jc_metrics_free. Returns NULL on
 * allocation failure or when name is already registered with another type.
 */
struct jc_metric *jc_metrics_counter(struct jc_metrics *m, const char *name, const char *help,
                                     const char *labels);
struct jc_metric *jc_metrics_gauge(struct jc_metrics *m, const char *name, const char *help,
                                   const char *labels);

/*
 * Like jc_metrics_counter for a histogram with the default latency buckets in seconds
 * (1 ms .. 10 s). Observations are in seconds.
 */
struct jc_metric *jc_metrics_histogram(struct jc_metrics *m, const char *name, const char *help,
                                       const char *labels);

/* Adds v (>= 0) to a counter. NULL metric is a no-op, so a failed lookup never crashes. */
void jc_metric_inc(struct jc_metric *c, double v);

/* Sets a gauge. NULL metric is a no-op. */
void jc_metric_set(struct jc_metric *g, double v);

/* Records one histogram observation. NULL metric is a no-op. */
void jc_metric_observe(struct jc_metric *h, double v);

/* Current value of a counter or gauge, count of a histogram; 0 for NULL. */
double jc_metric_value(const struct jc_metric *m);

/* Renders the registry in Prometheus text exposition format 0.0.4; caller frees with free().
 * NULL on allocation failure. */
char *jc_metrics_render(const struct jc_metrics *m);

#endif
