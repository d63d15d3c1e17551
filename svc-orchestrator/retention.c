/* SPDX-License-Identifier: MIT */
/*
 * retention.c: the orchestrator's scheduled retention (jc/retention.h). Every
 * JIVE_RETENTION_INTERVAL_MS a round runs three steps, one statement at a time: succeeded jobs
 * older than JIVE_JOB_RETENTION_DAYS go a batch per statement until a batch comes back short;
 * then the partitions of the audit log (JIVE_AUDIT_RETENTION_DAYS) and of the webhook payloads
 * (JIVE_EVENT_RETENTION_DAYS) are kept a week ahead and the days past retention dropped whole.
 * Every replica runs it; each step is idempotent, so two at once only share the work (or one
 * waits on the other's locks, up to the function's lock_timeout, and retries next round).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "jc/parse.h"
#include "jc/retention.h"
#include "orchestrator.h"

enum step { STEP_JOBS, STEP_AUDIT, STEP_PAYLOADS, STEP_DONE };

static const char *const step_table[] = {"jobs", "mcp_audit_logs", "webhook_payloads"};

struct orch_retention {
    struct jc_app *app;
    struct event *timer;
    struct jc_metric *pruned, *created[2], *dropped[2], *kept[2];
    enum step step;
    long total; /* jobs pruned this round so far */
    bool running;
    bool orphaned; /* freed while a query was in flight: its callback frees r */
    char days[3][24];
};

static void schedule(struct orch_retention *r, long ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

    evtimer_add(r->timer, &tv);
}

static void answered(const PGresult *res, enum jc_err err, const char *msg, void *ud);

/* Sends the current step's statement, skipping the jobs step when jobs are kept for ever. */
static void run_step(struct orch_retention *r)
{
    const char *p[2];

    for (; r->step != STEP_DONE && !r->app->stopping; r->step++) {
        enum jc_err rc;

        if (r->step == STEP_JOBS) {
            if (r->app->cfg.job_retention_days == 0)
                continue;
            p[0] = r->days[STEP_JOBS];
            rc = jc_pg_query(r->app->pg, 0, JC_PRUNE_JOBS_SQL, 1, p, answered, r);
        } else {
            p[0] = step_table[r->step];
            p[1] = r->days[r->step];
            rc = jc_pg_query(r->app->pg, 0, JC_PARTITIONS_SQL, 2, p, answered, r);
        }
        if (rc == JC_OK)
            return;
        jc_warn(r->app->log, "retention: %s: %s", step_table[r->step], jc_strerror(rc));
    }
    r->running = false;
    if (!r->app->stopping)
        schedule(r, r->app->cfg.retention_interval_ms);
}

static void answered(const PGresult *res, enum jc_err err, const char *msg, void *ud)
{
    struct orch_retention *r = ud;
    long v[3] = {0, 0, 0};
    int i;

    if (r->orphaned) {
        free(r);
        return;
    }
    if (err != JC_OK) {
        jc_warn(r->app->log, "retention: %s: %s", step_table[r->step], msg);
        r->step++;
        run_step(r);
        return;
    }
    for (i = 0; i < PQnfields(res) && i < 3; i++)
        if (jc_parse_long(PQgetvalue(res, 0, i), 0, 1L << 40, &v[i]) != JC_OK)
            v[i] = 0;
    if (r->step == STEP_JOBS) {
        r->total += v[0];
        jc_metric_inc(r->pruned, (double)v[0]);
        if (v[0] >= JC_PRUNE_BATCH_N) {
            run_step(r); /* the next batch */
            return;
        }
        if (r->total > 0)
            jc_info(r->app->log, "retention: pruned %ld succeeded jobs older than %s days",
                    r->total, r->days[STEP_JOBS]);
    } else {
        i = r->step - STEP_AUDIT;
        jc_metric_inc(r->created[i], (double)v[0]);
        jc_metric_inc(r->dropped[i], (double)v[1]);
        jc_metric_set(r->kept[i], (double)v[2]);
        if (v[1] > 0 || v[2] > 0)
            jc_info(r->app->log,
                    "retention: %s: dropped %ld day partitions older than %s days, kept %ld that "
                    "unfinished jobs still need",
                    step_table[r->step], v[1], r->days[r->step], v[2]);
    }
    r->step++;
    run_step(r);
}

static void round_start(evutil_socket_t fd, short what, void *arg)
{
    struct orch_retention *r = arg;

    (void)fd;
    (void)what;
    if (r->running || r->app->stopping)
        return;
    r->running = true;
    r->total = 0;
    r->step = STEP_JOBS;
    run_step(r);
}

struct orch_retention *orch_retention_new(struct jc_app *app)
{
    struct orch_retention *r = calloc(1, sizeof(*r));
    int i;

    if (r == NULL || (r->timer = evtimer_new(app->base, round_start, r)) == NULL) {
        free(r);
        return NULL;
    }
    r->app = app;
    r->pruned = jc_metrics_counter(app->metrics, "jive_jobs_pruned_total",
                                   "Succeeded jobs deleted by retention", NULL);
    for (i = 0; i < 2; i++) {
        char l[64];

        snprintf(l, sizeof(l), "table=\"%s\"", step_table[STEP_AUDIT + i]);
        r->created[i] = jc_metrics_counter(app->metrics, "jive_partitions_created_total",
                                           "Day partitions created by retention", l);
        r->dropped[i] = jc_metrics_counter(app->metrics, "jive_partitions_dropped_total",
                                           "Day partitions dropped by retention", l);
        r->kept[i] = jc_metrics_gauge(app->metrics, "jive_partitions_kept",
                                      "Day partitions past retention kept for unfinished jobs", l);
    }
    snprintf(r->days[STEP_JOBS], sizeof(r->days[0]), "%ld", app->cfg.job_retention_days);
    snprintf(r->days[STEP_AUDIT], sizeof(r->days[0]), "%ld", app->cfg.audit_retention_days);
    snprintf(r->days[STEP_PAYLOADS], sizeof(r->days[0]), "%ld", app->cfg.event_retention_days);
    /* the first round a minute in (or sooner): partitions ahead are created even when nothing
     * is ever dropped */
    schedule(r, app->cfg.retention_interval_ms < 60000 ? app->cfg.retention_interval_ms : 60000);
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
