/* SPDX-License-Identifier: MIT */
/*
 * jive-orchestrator: consumes the job queues (reliable fetch, retries, dead letters, crash
 * recovery), runs the job handlers, and sweeps the job outbox. Serves /health and /metrics.
 */
#include <stdlib.h>

#include "jc/outbox.h"
#include "orchestrator.h"

struct orch {
    struct orch_ctx ctx; /* first: the handlers' user data */
    struct jc_app *app;
    struct jc_worker *worker;
    struct jc_outbox *outbox;
    jc_app_done_fn *done;
};

static void orch_free(struct orch *o)
{
    if (o == NULL)
        return;
    jc_worker_free(o->worker);
    jc_outbox_free(o->outbox);
    free(o);
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
    jc_worker_drain(o->worker, worker_drained, o);
}

static enum jc_err setup(struct jc_app *app, char *err, size_t errlen)
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
    jc_redis_script_init(&o->ctx.unlock, "if redis.call('GET', KEYS[1]) == ARGV[1] then "
                                         "return redis.call('DEL', KEYS[1]) end return 0");
    o->worker = jc_worker_new(app, handlers, &o->ctx);
    o->outbox = jc_outbox_new(app->base, app->pg, app->redis, app->log, app->metrics, 1000, 2000);
    if (o->worker == NULL || o->outbox == NULL)
        goto nomem;
    app->on_shutdown = on_shutdown;
    app->on_shutdown_ud = o;
    return JC_OK;
nomem:
    orch_free(o);
    jc_errbuf_set(err, errlen, "out of memory while starting");
    return JC_ENOMEM;
}

int main(void)
{
    return jc_app_main(JC_SVC_ORCHESTRATOR, setup);
}
