/* SPDX-License-Identifier: MIT */
/*
 * retention.c: the orchestrator's scheduled pruning (jc/retention.h): every
 * JIVE_RETENTION_INTERVAL_MS, succeeded jobs older than JIVE_JOB_RETENTION_DAYS go, a batch per
 * statement until a batch comes back short. Every replica runs it; the deletes are idempotent,
 * so two at once only share the work.
 */
#include <stdio.h>
#include <stdlib.h>

#include <libpq-fe.h>

#include "jc/parse.h"
#include "jc/retention.h"
#include "orchestrator.h"

struct orch_retention {
    struct jc_app *app;
    struct event *timer;
    struct jc_metric *pruned;
    long total; /* this round's count so far */
    bool running;
    bool orphaned; /* freed while a query was in flight: its callback frees r */
    char days[24];
};

static void schedule(struct orch_retention *r, long ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

    evtimer_add(r->timer, &tv);
}

static void pruned(const PGresult *res, enum jc_err err, const char *msg, void *ud)
{
    struct orch_retention *r = ud;
    long n = 0;
    const char *p[1] = {r->days};

    if (r->orphaned) {
        free(r);
        return;
    }
    if (err != JC_OK) {
        jc_warn(r->app->log, "pruning stopped for this round: %s", msg);
        goto done;
    }
    if (jc_parse_long(PQgetvalue(res, 0, 0), 0, 1L << 40, &n) != JC_OK)
        n = 0;
    r->total += n;
    jc_metric_inc(r->pruned, (double)n);
    if (n >= JC_PRUNE_BATCH_N && !r->app->stopping &&
        jc_pg_query(r->app->pg, 0, JC_PRUNE_JOBS_SQL, 1, p, pruned, r) == JC_OK)
        return; /* the next batch */
    if (r->total > 0)
        jc_info(r->app->log, "pruned %ld succeeded jobs older than %s days", r->total, r->days);
done:
    r->running = false;
    if (!r->app->stopping)
        schedule(r, r->app->cfg.retention_interval_ms);
}

static void round_start(evutil_socket_t fd, short what, void *arg)
{
    struct orch_retention *r = arg;
    const char *p[1] = {r->days};

    (void)fd;
    (void)what;
    if (r->running || r->app->stopping)
        return;
    r->running = true;
    r->total = 0;
    if (jc_pg_query(r->app->pg, 0, JC_PRUNE_JOBS_SQL, 1, p, pruned, r) != JC_OK) {
        r->running = false;
        schedule(r, r->app->cfg.retention_interval_ms);
    }
}

struct orch_retention *orch_retention_new(struct jc_app *app)
{
    struct orch_retention *r = calloc(1, sizeof(*r));

    if (r == NULL || (r->timer = evtimer_new(app->base, round_start, r)) == NULL) {
        free(r);
        return NULL;
    }
    r->app = app;
    r->pruned = jc_metrics_counter(app->metrics, "jive_jobs_pruned_total",
                                   "Succeeded jobs deleted by retention", NULL);
    snprintf(r->days, sizeof(r->days), "%ld", app->cfg.job_retention_days);
    if (app->cfg.job_retention_days > 0) /* the first round a minute in (or sooner) */
        schedule(r,
                 app->cfg.retention_interval_ms < 60000 ? app->cfg.retention_interval_ms : 60000);
    return r;
}

void orch_retention_free(struct orch_retention *r)
{
    if (r == NULL)
        return;
    event_free(r->timer);
    if (r->running)
        r->orphaned = true; /* the pool answers the query (JC_ECLOSED at the latest) */
    else
        free(r);
}
