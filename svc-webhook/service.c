/* SPDX-License-Identifier: MIT */
/*
 * service.c: jive-webhook's start and stop: the group-commit store, the job outbox sweeper,
 * the queue-depth gauges, the routes; at shutdown the pending enqueue marks are written and the
 * sweep in progress finishes.
 */
#include <stdlib.h>

#include "jc/keys.h"
#include "jc/outbox.h"
#include "webhook.h"

#define DEPTH_INTERVAL_S 5

static void depth_reply(const redisReply *reply, enum jc_err err, const char *msg, void *ud)
{
    (void)msg;
    if (err == JC_OK && reply->type == REDIS_REPLY_INTEGER)
        jc_metric_set(ud, (double)reply->integer);
}

/* Refreshes jive_queue_depth{queue} with LLEN of each queue. */
static void depth_tick(evutil_socket_t fd, short what, void *arg)
{
    struct wh *wh = arg;
    struct timeval tv = {DEPTH_INTERVAL_S, 0};
    int q;

    (void)fd;
    (void)what;
    for (q = 0; q < JC_Q_COUNT && jc_redis_healthy(wh->app->redis); q++) {
        char key[64], labels[64];
        const char *argv[2] = {"LLEN", key};
        struct jc_metric *g;
        jc_key_queue(key, sizeof(key), jc_queue_name((enum jc_queue)q));
        snprintf(labels, sizeof(labels), "queue=\"%s\"", jc_queue_name((enum jc_queue)q));
        g = jc_metrics_gauge(wh->app->metrics, "jive_queue_depth", "Jobs waiting per queue",
                             labels);
        if (jc_redis_command(wh->app->redis, 0, depth_reply, g, 2, argv, NULL) != JC_OK)
            break;
    }
    evtimer_add(wh->tick, &tv);
}

static void wh_free(struct wh *wh)
{
    if (wh == NULL)
        return;
    if (wh->tick != NULL)
        event_free(wh->tick);
    jc_outbox_free(wh->outbox);
    wh_store_free(wh->store);
    free(wh);
}

struct stopping {
    struct wh *wh;
    jc_app_done_fn *done;
};

static void outbox_drained(void *ud)
{
    struct stopping *s = ud;
    struct jc_app *app = s->wh->app;
    jc_app_done_fn *done = s->done;

    wh_free(s->wh);
    free(s);
    done(app);
}

static void marks_flushed(void *ud)
{
    struct stopping *s = ud;

    jc_outbox_drain(s->wh->outbox, outbox_drained, s);
}

/* At shutdown (after the HTTP drain): write pending marks, let the sweep in progress finish,
 * then free. */
static void on_shutdown(struct jc_app *app, jc_app_done_fn *done, void *ud)
{
    struct stopping *s = malloc(sizeof(*s));

    if (s == NULL) {
        done(app);
        return;
    }
    s->wh = ud;
    s->done = done;
    event_del(s->wh->tick);
    wh_store_flush(s->wh->store, marks_flushed, s);
}

enum jc_err wh_setup(struct jc_app *app, char *err, size_t errlen)
{
    struct wh *wh = calloc(1, sizeof(*wh));
    struct timeval tv = {DEPTH_INTERVAL_S, 0};

    if (wh == NULL)
        goto nomem;
    wh->app = app;
    wh->tick = evtimer_new(app->base, depth_tick, wh);
    wh->store = wh_store_new(app);
    /* jobs younger than 2 s may still be on their way through the request that made them */
    wh->outbox = jc_outbox_new(app->base, app->pg, app->redis, app->log, app->metrics, 1000, 2000);
    if (wh->tick == NULL || wh->store == NULL || wh->outbox == NULL ||
        wh_receiver_init(wh) != JC_OK || wh_admin_init(wh) != JC_OK)
        goto nomem;
    evtimer_add(wh->tick, &tv);
    app->on_shutdown = on_shutdown;
    app->on_shutdown_ud = wh;
    return JC_OK;
nomem:
    wh_free(wh);
    jc_errbuf_set(err, errlen, "out of memory while starting");
    return JC_ENOMEM;
}
