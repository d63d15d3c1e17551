/* SPDX-License-Identifier: MIT */
/* outbox.c: the sweep: BEGIN, take un-enqueued jobs SKIP LOCKED, LPUSH each, mark, COMMIT. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jc/later.h"
#include "jc/keys.h"
#include "jc/crypto.h"
#include "jc/outbox.h"
#include "jc/queue.h"

#define BATCH 200

/*
 * The mark commits asynchronously (synchronous_commit off for its own transaction only): it
 * records that a message is already in Redis, and losing it in a crash only lets the sweeper
 * push that job once more, which the orchestrator's claim makes harmless. Waiting for its WAL
 * flush would cost every delivery a second fsync.
 */
static const char mark_sql[] = "SELECT set_config('synchronous_commit', 'off', true), "
                               "jive_mark_enqueued($1::uuid[])";

struct jc_outbox {
    struct event_base *base;
    struct jc_pg *pg;
    struct jc_redis *redis;
    struct jc_log *log;
    struct jc_metric *pushed;
    struct event *timer;
    long interval_ms;
    char min_age[32];
    bool busy;
    bool draining;
    jc_outbox_drained_cb *drained_cb;
    void *drained_ud;
    /* the sweep in progress */
    struct jc_pg_tx *tx;
    int pending;
    int nrows;
    char (*ids)[40];
    bool *ok;
};

enum jc_err jc_outbox_mark_enqueued(struct jc_pg *pg, const char *ids_pg_array, jc_pg_cb *cb,
                                    void *ud)
{
    const char *p[1] = {ids_pg_array};

    return jc_pg_query_prepared(pg, 0, "jive_mark_enqueued", mark_sql, 1, p, cb, ud);
}

/* ---- the producer path ---- */

struct send {
    struct jc_pg *pg;
    bool mark;
    char id[40];
    jc_outbox_sent_cb *cb;
    void *ud;
};

static void send_marked(const PGresult *res, enum jc_err err, const char *msg, void *ud)
{
    struct send *s = ud;

    (void)res;
    (void)err; /* unmarked, the sweep pushes it again: a duplicate the claim drops */
    (void)msg;
    s->cb(JC_OK, NULL, s->ud);
    free(s);
}

static void send_pushed(const redisReply *r, enum jc_err err, const char *msg, void *ud)
{
    struct send *s = ud;
    char arr[48];

    (void)r;
    if (err == JC_OK && s->mark) {
        snprintf(arr, sizeof(arr), "{%s}", s->id);
        if (jc_outbox_mark_enqueued(s->pg, arr, send_marked, s) == JC_OK)
            return;
    }
    s->cb(err, msg, s->ud);
    free(s);
}

enum jc_err jc_outbox_send(struct jc_pg *pg, struct jc_redis *redis, const struct jc_config *cfg,
                           const struct jc_job *job, bool mark, jc_outbox_sent_cb *cb, void *ud)
{
    struct jc_job j = *job;
    struct send *s;
    char *m;
    enum jc_err rc;

    if (jc_queue_name(job->queue) == NULL || job->id == NULL || strlen(job->id) >= 40)
        return JC_EINVAL;
    j.max_attempts = cfg->max_attempts[job->queue];
    if ((m = jc_queue_message(&j)) == NULL || (s = calloc(1, sizeof(*s))) == NULL) {
        free(m);
        return JC_ENOMEM;
    }
    s->pg = pg;
    s->mark = mark;
    snprintf(s->id, sizeof(s->id), "%s", job->id);
    s->cb = cb;
    s->ud = ud;
    rc = jc_queue_push(redis, job->queue, m, send_pushed, s);
    free(m);
    if (rc != JC_OK)
        free(s);
    return rc;
}

static void schedule(struct jc_outbox *ob)
{
    struct timeval tv = {ob->interval_ms / 1000, (ob->interval_ms % 1000) * 1000};

    if (!ob->draining)
        evtimer_add(ob->timer, &tv);
}

static void sweep_done(struct jc_outbox *ob)
{
    free(ob->ids);
    free(ob->ok);
    ob->ids = NULL;
    ob->ok = NULL;
    ob->tx = NULL;
    ob->busy = false;
    if (ob->draining && ob->drained_cb != NULL) {
        jc_outbox_drained_cb *cb = ob->drained_cb;
        ob->drained_cb = NULL;
        cb(ob->drained_ud);
        return;
    }
    schedule(ob);
}

static void ended(const PGresult *res, enum jc_err err, const char *msg, void *ud)
{
    struct jc_outbox *ob = ud;

    (void)res;
    if (err != JC_OK)
        jc_warn(ob->log, "outbox: could not commit the sweep: %s", msg);
    sweep_done(ob);
}

static void end_tx(struct jc_outbox *ob, bool commit)
{
    struct jc_pg_tx *tx = ob->tx;

    ob->tx = NULL;
    if ((commit ? jc_pg_tx_commit(tx, ended, ob) : jc_pg_tx_rollback(tx, ended, ob)) != JC_OK)
        sweep_done(ob);
}

static void marked(const PGresult *res, enum jc_err err, const char *msg, void *ud)
{
    struct jc_outbox *ob = ud;

    (void)res;
    if (err != JC_OK)
        jc_warn(ob->log, "outbox: could not mark pushed jobs: %s", msg);
    end_tx(ob, err == JC_OK);
}

static void all_pushed(struct jc_outbox *ob)
{
    const char **ids = calloc((size_t)ob->nrows, sizeof(char *));
    const char *p[1];
    char *arr;
    int i, n = 0;

    for (i = 0; ids != NULL && i < ob->nrows; i++)
        if (ob->ok[i])
            ids[n++] = ob->ids[i];
    arr = ids != NULL && n > 0 ? jc_pg_array_literal(ids, n) : NULL;
    free(ids);
    if (arr == NULL) {
        end_tx(ob, false);
        return;
    }
    jc_metric_inc(ob->pushed, n);
    jc_info(ob->log, "outbox: pushed %d job(s) that had not reached the queue", n);
    p[0] = arr;
    if (jc_pg_tx_query(ob->tx, mark_sql, 1, p, marked, ob) != JC_OK)
        end_tx(ob, false);
    free(arr);
}

struct push_ctx {
    struct jc_outbox *ob;
    int row;
};

static void pushed(const redisReply *reply, enum jc_err err, const char *msg, void *ud)
{
    struct push_ctx *pc = ud;
    struct jc_outbox *ob = pc->ob;

    (void)reply;
    (void)msg;
    ob->ok[pc->row] = err == JC_OK;
    free(pc);
    if (--ob->pending == 0)
        all_pushed(ob);
}

static void selected(const PGresult *res, enum jc_err err, const char *msg, void *ud)
{
    struct jc_outbox *ob = ud;
    int i, n;

    if (err != JC_OK) {
        jc_warn(ob->log, "outbox: sweep query failed: %s", msg);
        end_tx(ob, false);
        return;
    }
    n = PQntuples(res);
    if (n == 0) {
        end_tx(ob, false);
        return;
    }
    ob->ids = calloc((size_t)n, sizeof(*ob->ids));
    ob->ok = calloc((size_t)n, sizeof(bool));
    if (ob->ids == NULL || ob->ok == NULL) {
        end_tx(ob, false);
        return;
    }
    ob->nrows = n;
    ob->pending = 1; /* this function's own reference, released below */
    for (i = 0; i < n; i++) {
        struct jc_job job = {0};
        struct push_ctx *pc;
        char *m;

        snprintf(ob->ids[i], sizeof(ob->ids[i]), "%s", PQgetvalue(res, i, 0));
        if (!jc_queue_parse(PQgetvalue(res, i, 1), &job.queue))
            continue;
        job.id = ob->ids[i];
        job.project_id = PQgetvalue(res, i, 2);
        job.org_id = PQgetvalue(res, i, 3);
        job.event_id = PQgetisnull(res, i, 4) ? NULL : PQgetvalue(res, i, 4);
        job.payload = PQgetvalue(res, i, 5);
        job.max_attempts = (int)strtol(PQgetvalue(res, i, 6), NULL, 10);
        job.attempt = 0;
        m = jc_queue_message(&job);
        pc = malloc(sizeof(*pc));
        if (m == NULL || pc == NULL) {
            free(m);
            free(pc);
            continue;
        }
        pc->ob = ob;
        pc->row = i;
        ob->pending++;
        if (jc_queue_push(ob->redis, job.queue, m, pushed, pc) != JC_OK) {
            ob->pending--;
            free(pc);
        }
        free(m);
    }
    if (--ob->pending == 0)
        all_pushed(ob);
}

static void began(struct jc_pg_tx *tx, enum jc_err err, const char *msg, void *ud)
{
    struct jc_outbox *ob = ud;
    char sql[512];

    if (err != JC_OK) {
        jc_debug(ob->log, "outbox: no transaction: %s", msg);
        sweep_done(ob);
        return;
    }
    ob->tx = tx;
    snprintf(sql, sizeof(sql),
             "SELECT id, queue, project_id, org_id, event_id, payload::text, max_attempts "
             "FROM jobs WHERE status = 'queued' AND enqueued_at IS NULL "
             "AND created_at < now() - interval '%s milliseconds' "
             "ORDER BY created_at LIMIT %d FOR UPDATE SKIP LOCKED",
             ob->min_age, BATCH);
    if (jc_pg_tx_query(tx, sql, 0, NULL, selected, ob) != JC_OK)
        end_tx(ob, false);
}

static void sweep(struct jc_outbox *ob)
{
    if (jc_pg_begin(ob->pg, 0, began, ob) != JC_OK)
        sweep_done(ob);
}

static void unmarked(const PGresult *res, enum jc_err err, const char *msg, void *ud)
{
    struct jc_outbox *ob = ud;

    if (err != JC_OK) {
        /* try again next tick: the marker must come back only once the jobs are unmarked */
        jc_warn(ob->log, "outbox: could not re-queue the jobs Redis lost: %s", msg);
        sweep_done(ob);
        return;
    }
    if (strcmp(PQcmdTuples((PGresult *)res), "0") != 0)
        jc_warn(ob->log, "outbox: Redis lost its data; %s queued job(s) will be pushed again",
                PQcmdTuples((PGresult *)res));
    sweep(ob);
}

/* SET jive:epoch NX answered: OK means the key was missing, so Redis is new or lost its data
 * (a restart without persistence, a failover to an empty replica): the messages of queued jobs
 * are gone with it. Their rows are unmarked, and this very sweep pushes them again (a message
 * that did survive becomes a duplicate, which a worker drops at claim time). */
static void epoch_set(const redisReply *reply, enum jc_err err, const char *msg, void *ud)
{
    struct jc_outbox *ob = ud;

    if (err != JC_OK) {
        jc_debug(ob->log, "outbox: no epoch check: %s", msg);
        sweep_done(ob);
        return;
    }
    if (reply == NULL || reply->type != REDIS_REPLY_STATUS) {
        sweep(ob); /* nil: the key is there, nothing was lost */
        return;
    }
    if (jc_pg_query(ob->pg, 0,
                    "UPDATE jobs SET enqueued_at = NULL, updated_at = now() "
                    "WHERE status = 'queued' AND enqueued_at IS NOT NULL",
                    0, NULL, unmarked, ob) != JC_OK)
        sweep_done(ob);
}

static void tick(evutil_socket_t fd, short what, void *arg)
{
    struct jc_outbox *ob = arg;
    char epoch[33];
    const char *argv[4] = {"SET", JC_KEY_EPOCH, epoch, "NX"};

    (void)fd;
    (void)what;
    if (ob->busy || ob->draining)
        return;
    if (!jc_pg_healthy(ob->pg) || !jc_redis_healthy(ob->redis)) {
        schedule(ob);
        return;
    }
    ob->busy = true;
    if (jc_crypto_random_hex(epoch, 16) != JC_OK ||
        jc_redis_command(ob->redis, 0, epoch_set, ob, 4, argv, NULL) != JC_OK)
        sweep_done(ob);
}

struct jc_outbox *jc_outbox_new(struct event_base *base, struct jc_pg *pg, struct jc_redis *r,
                                struct jc_log *log, struct jc_metrics *metrics, long interval_ms,
                                long min_age_ms)
{
    struct jc_outbox *ob = calloc(1, sizeof(*ob));

    if (ob == NULL)
        return NULL;
    ob->base = base;
    ob->pg = pg;
    ob->redis = r;
    ob->log = log;
    ob->interval_ms = interval_ms > 0 ? interval_ms : 1000;
    snprintf(ob->min_age, sizeof(ob->min_age), "%ld", min_age_ms > 0 ? min_age_ms : 0);
    ob->pushed = jc_metrics_counter(metrics, "jive_outbox_pushed_total",
                                    "Jobs pushed by the outbox sweeper", NULL);
    ob->timer = evtimer_new(base, tick, ob);
    if (ob->timer == NULL) {
        free(ob);
        return NULL;
    }
    schedule(ob);
    return ob;
}

void jc_outbox_drain(struct jc_outbox *ob, jc_outbox_drained_cb *cb, void *ud)
{
    ob->draining = true;
    event_del(ob->timer);
    if (!ob->busy) {
        jc_later(ob->base, cb, ud);
        return;
    }
    ob->drained_cb = cb;
    ob->drained_ud = ud;
}

void jc_outbox_free(struct jc_outbox *ob)
{
    if (ob == NULL)
        return;
    if (ob->timer != NULL)
        event_free(ob->timer);
    free(ob->ids);
    free(ob->ok);
    free(ob);
}
