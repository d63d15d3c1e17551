/* SPDX-License-Identifier: MIT */
/*
 * service.c: jive-orchestrator's start and stop: the worker with the job handlers of each
 * queue, the job outbox sweeper, the heartbeat log line, the pruning of old succeeded jobs
 * (retention.c); at shutdown running jobs finish and
 * unstarted ones go back to their queues.
 */
#include <stdlib.h>

#include "jc/keys.h"
#include "jc/outbox.h"
#include "orchestrator.h"

#define HEARTBEAT_S 30

struct orch {
    struct orch_ctx ctx; /* first: the handlers' user data */
    struct jc_app *app;
    struct event *heartbeat;
    struct jc_worker *worker;
    struct jc_outbox *outbox;
    struct orch_retention *retention;
    jc_app_done_fn *done;
};

static void orch_free(struct orch *o)
{
    if (o == NULL)
        return;
    if (o->heartbeat != NULL)
        event_free(o->heartbeat);
    jc_worker_free(o->worker);
    jc_outbox_free(o->outbox);
    orch_retention_free(o->retention);
    free(o);
}

static void depths(const redisReply *r, enum jc_err err, const char *msg, void *ud)
{
    struct orch *o = ud;
    cJSON *f = cJSON_CreateObject(), *q = cJSON_AddObjectToObject(f, "queues");
    size_t i;

    (void)msg;
    for (i = 0; err == JC_OK && r->type == REDIS_REPLY_ARRAY && i < r->elements && i < JC_Q_COUNT;
         i++)
        cJSON_AddNumberToObject(q, jc_queue_name((enum jc_queue)i), (double)r->element[i]->integer);
    cJSON_AddNumberToObject(f, "succeeded",
                            jc_metric_value(jc_metrics_counter(o->app->metrics, "jive_jobs_total",
                                                               NULL, "outcome=\"succeeded\"")));
    cJSON_AddNumberToObject(f, "failed",
                            jc_metric_value(jc_metrics_counter(o->app->metrics, "jive_jobs_total",
                                                               NULL, "outcome=\"failed\"")));
    cJSON_AddNumberToObject(f, "dead",
                            jc_metric_value(jc_metrics_counter(o->app->metrics, "jive_jobs_total",
                                                               NULL, "outcome=\"dead\"")));
    JC_LOG(o->app->log, JC_LOG_INFO, NULL, f, "heartbeat%s",
           err == JC_OK ? "" : " (queue depths unavailable)");
    cJSON_Delete(f);
}

/* Every 30 s: one log line with the queue depths and the job counts. */
static void heartbeat(evutil_socket_t fd, short what, void *arg)
{
    struct orch *o = arg;
    struct timeval tv = {HEARTBEAT_S, 0};
    const char *argv[JC_Q_COUNT];
    char keys[JC_Q_COUNT][48];
    int q;

    (void)fd;
    (void)what;
    for (q = 0; q < JC_Q_COUNT; q++) {
        jc_key_queue(keys[q], sizeof(keys[q]), jc_queue_name((enum jc_queue)q));
        argv[q] = keys[q];
    }
    if (jc_redis_eval(o->app->redis, &o->ctx.llens, JC_Q_COUNT, JC_Q_COUNT, argv, depths, o) !=
        JC_OK)
        depths(NULL, JC_EREDIS, "cannot submit", o);
    evtimer_add(o->heartbeat, &tv);
}

static void outbox_drained(void *ud)
{
    struct orch *o = ud;
    struct jc_app *app = o->app;
    jc_app_done_fn *done = o->done;

    orch_free(o);
    done(app);
}

static void worker_drained(void *ud)
{
    struct orch *o = ud;

    jc_outbox_drain(o->outbox, outbox_drained, o);
}

/* After the HTTP drain: running jobs finish, unstarted ones go back, then the outbox stops. */
static void on_shutdown(struct jc_app *app, jc_app_done_fn *done, void *ud)
{
    struct orch *o = ud;

    (void)app;
    o->done = done;
    event_del(o->heartbeat);
    jc_worker_drain(o->worker, worker_drained, o);
}

enum jc_err orch_setup(struct jc_app *app, char *err, size_t errlen)
{
    static jc_job_handler *const handlers[JC_Q_COUNT] = {
        [JC_Q_ARTIFACT_SCAN] = orch_artifact_scan,
        [JC_Q_GATE_EVALUATION] = orch_gate_evaluation,
        [JC_Q_CONFLICT_DETECTION] = orch_conflict_detection,
        [JC_Q_STORY_MOVE] = orch_story_move,
        [JC_Q_RUN_SYNC] = orch_run_sync,
    };
    struct orch *o = calloc(1, sizeof(*o));

    if (o == NULL)
        goto nomem;
    o->app = app;
    orch_lock_init(&o->ctx);
    orch_loads_init(&o->ctx.loads, app);
    jc_redis_script_init(&o->ctx.llens, "local out = {} for i, k in ipairs(KEYS) do "
                                        "out[i] = redis.call('LLEN', k) end return out");
    o->worker = jc_worker_new(app, handlers, &o->ctx);
    o->outbox = jc_outbox_new(app->base, app->pg, app->redis, app->log, app->metrics, 1000, 2000);
    o->heartbeat = evtimer_new(app->base, heartbeat, o);
    o->retention = orch_retention_new(app);
    if (o->worker == NULL || o->outbox == NULL || o->heartbeat == NULL || o->retention == NULL)
        goto nomem;
    {
        struct timeval tv = {HEARTBEAT_S, 0};
        evtimer_add(o->heartbeat, &tv);
    }
    app->on_shutdown = on_shutdown;
    app->on_shutdown_ud = o;
    return JC_OK;
nomem:
    orch_free(o);
    jc_errbuf_set(err, errlen, "out of memory while starting");
    return JC_ENOMEM;
}
