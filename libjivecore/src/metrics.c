/* SPDX-License-Identifier: MIT */
/* metrics.c: a small Prometheus registry; families hold labelled series, found by hash. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jc/metrics.h"

enum kind { K_COUNTER, K_GAUGE, K_HISTOGRAM };

static const double bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                0.25,  0.5,    1.0,   2.5,  5.0,   10.0};
#define NBOUNDS (sizeof(bounds) / sizeof(bounds[0]))

struct jc_metric {
    char *labels; /* may be NULL */
    double value; /* counter/gauge value, histogram sum */
    unsigned long long count;
    unsigned long long buckets[NBOUNDS];
    struct jc_metric *next;
};

struct family {
    char *name;
    char *help;
    enum kind kind;
    struct jc_metric *series;
    struct family *next;
};

/* One (family, labels) → series entry of the index. */
struct slot {
    uint64_t hash;
    struct family *family;
    struct jc_metric *series;
};

struct jc_metrics {
    struct family *families;
    struct family *last;
    struct slot *index; /* open addressing, power-of-two size, at most half full */
    size_t cap, used;
};

/* FNV-1a over name, a separator and labels: the index key of a series. */
static uint64_t key_hash(const char *name, const char *labels)
{
    uint64_t h = 1469598103934665603ull;
    const char *p;

    for (p = name; *p != '\0'; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;
    for (p = labels != NULL ? labels : ""; *p != '\0'; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return h;
}

static bool index_put(struct jc_metrics *m, uint64_t h, struct family *f, struct jc_metric *s)
{
    size_t i;

    if ((m->used + 1) * 2 > m->cap) {
        size_t ncap = m->cap != 0 ? m->cap * 2 : 64, j;
        struct slot *n = calloc(ncap, sizeof(*n));
        if (n == NULL)
            return false;
        for (j = 0; j < m->cap; j++) {
            if (m->index[j].series == NULL)
                continue;
            for (i = (size_t)m->index[j].hash & (ncap - 1); n[i].series != NULL;
                 i = (i + 1) & (ncap - 1))
                ;
            n[i] = m->index[j];
        }
        free(m->index);
        m->index = n;
        m->cap = ncap;
    }
    for (i = (size_t)h & (m->cap - 1); m->index[i].series != NULL; i = (i + 1) & (m->cap - 1))
        ;
    m->index[i].hash = h;
    m->index[i].family = f;
    m->index[i].series = s;
    m->used++;
    return true;
}

struct jc_metrics *jc_metrics_new(void)
{
    return calloc(1, sizeof(struct jc_metrics));
}

void jc_metrics_free(struct jc_metrics *m)
{
    struct family *f, *fn;
    struct jc_metric *s, *sn;

    if (m == NULL)
        return;
    for (f = m->families; f != NULL; f = fn) {
        fn = f->next;
        for (s = f->series; s != NULL; s = sn) {
            sn = s->next;
            free(s->labels);
            free(s);
        }
        free(f->name);
        free(f->help);
        free(f);
    }
    free(m->index);
    free(m);
}

static bool same_labels(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

static struct jc_metric *lookup(struct jc_metrics *m, enum kind kind, const char *name,
                                const char *help, const char *labels)
{
    struct family *f;
    struct jc_metric *s;
    uint64_t h;
    size_t i;

    if (m == NULL || name == NULL)
        return NULL;
    /* the common case, a series seen before: one probe sequence, whatever the series count */
    h = key_hash(name, labels);
    for (i = m->cap != 0 ? (size_t)h & (m->cap - 1) : 0; m->cap != 0 && m->index[i].series != NULL;
         i = (i + 1) & (m->cap - 1))
        if (m->index[i].hash == h && strcmp(m->index[i].family->name, name) == 0 &&
            same_labels(m->index[i].series->labels, labels))
            return m->index[i].family->kind == kind ? m->index[i].series : NULL;
    for (f = m->families; f != NULL; f = f->next)
        if (strcmp(f->name, name) == 0)
            break;
    if (f == NULL) {
        f = calloc(1, sizeof(*f));
        if (f == NULL)
            return NULL;
        f->name = strdup(name);
        f->help = strdup(help != NULL ? help : name);
        if (f->name == NULL || f->help == NULL) {
            free(f->name);
            free(f->help);
            free(f);
            return NULL;
        }
        f->kind = kind;
        if (m->last != NULL)
            m->last->next = f;
        else
            m->families = f;
        m->last = f;
    } else if (f->kind != kind) {
        return NULL;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    if ((labels != NULL && (s->labels = strdup(labels)) == NULL) || !index_put(m, h, f, s)) {
        free(s->labels);
        free(s);
        return NULL;
    }
    s->next = f->series;
    f->series = s;
    return s;
}

struct jc_metric *jc_metrics_counter(struct jc_metrics *m, const char *name, const char *help,
                                     const char *labels)
{
    return lookup(m, K_COUNTER, name, help, labels);
}

struct jc_metric *jc_metrics_gauge(struct jc_metrics *m, const char *name, const char *help,
                                   const char *labels)
{
    return lookup(m, K_GAUGE, name, help, labels);
}

struct jc_metric *jc_metrics_histogram(struct jc_metrics *m, const char *name, const char *help,
                                       const char *labels)
{
    return lookup(m, K_HISTOGRAM, name, help, labels);
}

void jc_metric_inc(struct jc_metric *c, double v)
{
    if (c != NULL && v >= 0)
        c->value += v;
}

void jc_metric_set(struct jc_metric *g, double v)
{
    if (g != NULL)
        g->value = v;
}

void jc_metric_observe(struct jc_metric *h, double v)
{
    size_t i;

    if (h == NULL)
        return;
    h->value += v;
    h->count++;
    for (i = 0; i < NBOUNDS; i++)
        if (v <= bounds[i])
            h->buckets[i]++;
}

double jc_metric_value(const struct jc_metric *m)
{
    if (m == NULL)
        return 0;
    return m->count > 0 ? (double)m->count : m->value;
}

/* A growable string; a failed append sets failed and leaves the buffer as it was. */
struct sbuf {
    char *p;
    size_t len, cap;
    bool failed;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...) JC_PRINTF(2, 3);

static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (b->failed)
        return;
    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = true;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t ncap = b->cap * 2 + (size_t)n + 1;
        char *np = realloc(b->p, ncap);
        if (np == NULL) {
            b->failed = true;
            return;
        }
        b->p = np;
        b->cap = ncap;
    }
}

static void render_labels(struct sbuf *b, const char *labels, const char *extra)
{
    bool l = labels != NULL && *labels != '\0';

    if (!l && extra == NULL)
        return;
    sb_printf(b, "{%s%s%s}", l ? labels : "", l && extra != NULL ? "," : "",
              extra != NULL ? extra : "");
}

char *jc_metrics_render(const struct jc_metrics *m)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    struct sbuf b = {0};
    const struct family *f;
    const struct jc_metric *s;
    char le[48];
    size_t i;

    b.cap = 1024;
    b.p = malloc(b.cap);
    if (b.p == NULL)
        return NULL;
    b.p[0] = '\0';
    for (f = m != NULL ? m->families : NULL; f != NULL; f = f->next) {
        sb_printf(&b, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
                  type_names[f->kind]);
        for (s = f->series; s != NULL; s = s->next) {
            if (f->kind != K_HISTOGRAM) {
                sb_printf(&b, "%s", f->name);
                render_labels(&b, s->labels, NULL);
                sb_printf(&b, " %.15g\n", s->value);
                continue;
            }
            for (i = 0; i < NBOUNDS; i++) {
                snprintf(le, sizeof(le), "le=\"%g\"", bounds[i]);
                sb_printf(&b, "%s_bucket", f->name);
                render_labels(&b, s->labels, le);
                sb_printf(&b, " %llu\n", s->buckets[i]);
            }
            sb_printf(&b, "%s_bucket", f->name);
            render_labels(&b, s->labels, "le=\"+Inf\"");
            sb_printf(&b, " %llu\n%s_sum", s->count, f->name);
            render_labels(&b, s->labels, NULL);
            sb_printf(&b, " %.15g\n%s_count", s->value, f->name);
            render_labels(&b, s->labels, NULL);
            sb_printf(&b, " %llu\n", s->count);
        }
    }
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    return b.p;
}
