/* SPDX-License-Identifier: MIT */
/* worker.c: reserve, claim, run, ack / retry / dead-letter, heartbeat, crash recovery. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jc/later.h"
#include "jc/keys.h"
#include "jc/clock.h"
#include "jc/crypto.h"
#include "jc/parse.h"
#include "jc/worker.h"

#define BLOCK_SECONDS "1"
#define PROMOTE_MS 200
#define PROMOTE_BATCH "100"
#define RESERVE_MAX 64 /* messages one reserve call moves at most */
#define DONE_MAX 256   /* completions one statement writes at most */

/* The scripts below LREM a finished job's message with count -1: from the active list's tail,
 * where reserving puts the oldest messages (it pushes on the head), so the search stops near
 * the start instead of passing every younger message in flight. */

/* LREM the reserved message, ZADD the next attempt's message at its due time. */
static const char retry_lua[] = "redis.call('LREM', KEYS[1], -1, ARGV[1])\n"
                                "redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])\n"
                                "redis.call('DEL', KEYS[3])\n"
                                "return 1\n";

/* LREM the reserved message, LPUSH it onto the dead letters of its queue. */
static const char dead_lua[] = "redis.call('LREM', KEYS[1], -1, ARGV[1])\n"
                               "redis.call('LPUSH', KEYS[2], ARGV[2])\n"
                               "redis.call('DEL', KEYS[3])\n"
                               "return 1\n";

/* Ack: LREM the reserved message and release the job lock. */
static const char ack_lua[] = "local n = redis.call('LREM', KEYS[1], -1, ARGV[1])\n"
                              "redis.call('DEL', KEYS[2])\n"
                              "return n\n";

/*
 * Reserve up to ARGV[1] messages at once, each moved from the queue's head end to the active
 * list as BLMOVE would, and take their job locks, in one atomic step: KEYS[1] the queue,
 * KEYS[2] the active list, ARGV[2] the worker, ARGV[3] the lock's TTL. Three values per message:
 * the message, the job id its lock was asked for ("" when none could be read) and 1 (taken) or
 * 0 (another worker holds it). The id is read from the front of the message, where
 * jc_queue_message writes it, else by decoding it. Empty when the queue is.
 */
static const char reserve_lua[] =
    "local out = {}\n"
    "for i = 1, tonumber(ARGV[1]) do\n"
    "  local m = redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'LEFT')\n"
    "  if not m then break end\n"
    "  local id = string.match(m, '^{\"id\":\"([%x%-]+)\"')\n"
    "  if not id then\n"
    "    local ok, job = pcall(cjson.decode, m)\n"
    "    if ok and type(job) == 'table' and type(job.id) == 'string' then id = job.id end\n"
    "  end\n"
    "  local got = 0\n"
    "  if id then\n"
    "    got = redis.call('SET', 'jive:lock:job:' .. id, ARGV[2], 'NX', 'PX', ARGV[3]) and 1 or 0\n"
    "  end\n"
    "  out[#out + 1] = m\n"
    "  out[#out + 1] = id or ''\n"
    "  out[#out + 1] = got\n"
    "end\n"
    "return out\n";

/* Ack a batch: KEYS[1] the active list; ARGV pairs of a reserved message and its job lock. */
static const char ack_batch_lua[] = "for i = 1, #ARGV, 2 do\n"
                                    "  redis.call('LREM', KEYS[1], -1, ARGV[i])\n"
                                    "  redis.call('DEL', ARGV[i + 1])\n"
                                    "end\n"
                                    "return 1\n";

/* Move due delayed messages to the tail of their queue (consumed next). */
static const char promote_lua[] =
    "local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])\n"
    "for _, m in ipairs(due) do\n"
    "  local ok, job = pcall(cjson.decode, m)\n"
    "  if ok and type(job) == 'table' and type(job.queue) == 'string' then\n"
    "    redis.call('RPUSH', 'jive:q:' .. job.queue, m)\n"
    "  end\n"
    "  redis.call('ZREM', KEYS[1], m)\n"
    "end\n"
    "return #due\n";

/*
 * If worker ARGV[1]'s heartbeat is gone (or ARGV[2] == '1': our own orderly shutdown), move its
 * active messages back to the tail of their queues and forget it.
 */
static const char recover_lua[] =
    "local id = ARGV[1]\n"
    "if ARGV[2] ~= '1' and redis.call('EXISTS', 'jive:worker:' .. id) == 1 then return -1 end\n"
    "local key = 'jive:active:' .. id\n"
    "local n = 0\n"
    "local m = redis.call('RPOP', key)\n"
    "while m do\n"
    "  local ok, job = pcall(cjson.decode, m)\n"
    "  if ok and type(job) == 'table' and type(job.queue) == 'string' then\n"
    "    redis.call('RPUSH', 'jive:q:' .. job.queue, m)\n"
    "    if type(job.id) == 'string' then redis.call('DEL', 'jive:lock:job:' .. job.id) end\n"
    "    n = n + 1\n"
    "  end\n"
    "  m = redis.call('RPOP', key)\n"
    "end\n"
    "redis.call('SREM', 'jive:workers', id)\n"
    "return n\n";

/* The slots of one class of work: git-bound jobs do not wait behind database-only ones, nor
 * the other way round. */
struct slots {
    int cap;                    /* handlers of this class at most at once */
    int running;                /* in progress (reserved and started) */
    struct jc_job_run *pending; /* reserved, waiting for a free slot */
    int npending;
};

struct fetcher {
    struct jc_worker *w;
    enum jc_queue queue;
    struct jc_redis *conn; /* blocking connection of its own */
    bool waiting;
    bool idle; /* the last batch came back empty: wait (BLMOVE) for the next message */
    struct event *retry;
};

struct jc_worker {
    struct jc_app *app;
    jc_job_handler *handlers[JC_Q_COUNT];
    void *ud;
    char id[128];
    char active_key[160];
    struct fetcher fetchers[JC_Q_COUNT];
    struct slots slots[JC_WORK_CLASSES]; /* per class of work (jc_queue_class) */
    bool draining;
    bool registered; /* heartbeat and jive:workers entry confirmed: only then reserve */
    void (*drained_cb)(void *ud);
    void *drained_ud;
    struct event *beat;    /* heartbeat + recovery */
    struct event *promote; /* delayed → queue */
    struct jc_redis_script retry_s, dead_s, ack_s, ack_batch_s, promote_s, recover_s, reserve_s;
    struct jc_job_run *done_head, *done_tail; /* succeeded, waiting for the next commit */
    bool completing;                          /* a completion statement is in flight */
    struct jc_metric *m_ok, *m_failed, *m_dead, *m_recovered;
};

struct jc_app *jc_worker_app(const struct jc_worker *w)
{
    return w->app;
}

const char *jc_worker_id(const struct jc_worker *w)
{
    return w->id;
}

static void run_free(struct jc_job_run *run)
{
    free(run->raw);
    cJSON_Delete(run->msg);
    cJSON_Delete(run->result);
    cJSON_Delete(run->hist);
    free(run);
}

static void fetch(struct fetcher *f);
static void start_batch(struct jc_worker *w, struct jc_job_run **runs, int n);
static void acked(const redisReply *r, enum jc_err err, const char *msg, void *ud);
static void check_drained(struct jc_worker *w);

/* Slots may be free: start pending jobs, then let the fetchers reserve more. */
static void refill(struct jc_worker *w)
{
    int c, q;

    for (c = 0; c < JC_WORK_CLASSES; c++) {
        struct slots *sl = &w->slots[c];
        struct jc_job_run *batch[RESERVE_MAX];
        int k = 0;

        while (sl->pending != NULL && sl->running + k < sl->cap && !w->draining &&
               k < RESERVE_MAX) {
            batch[k] = sl->pending;
            sl->pending = batch[k]->next;
            sl->npending--;
            k++;
        }
        if (k > 0)
            start_batch(w, batch, k);
    }
    for (q = 0; q < JC_Q_COUNT; q++)
        if (w->fetchers[q].conn != NULL)
            fetch(&w->fetchers[q]);
    check_drained(w);
}

/* A job of queue q ended here (its run is freed): its slot is free. */
static void slot_freed(struct jc_worker *w, enum jc_queue q)
{
    w->slots[jc_queue_class(q)].running--;
    refill(w);
}

/* A job's run is over here (its message acknowledged, put back or dead-lettered). */
static void run_end(struct jc_job_run *run)
{
    struct jc_worker *w = run->worker;
    enum jc_queue q = run->job.queue;

    run_free(run);
    slot_freed(w, q);
}

static int running_total(const struct jc_worker *w)
{
    int c, n = 0;

    for (c = 0; c < JC_WORK_CLASSES; c++)
        n += w->slots[c].running;
    return n;
}

static void publish(struct jc_job_run *run, const char *type, cJSON *data)
{
    if (jc_events_publish(run->worker->app->redis, run->job.project_id, type, run->job.id, data,
                          NULL, NULL) != JC_OK)
        jc_debug(run->worker->app->log, "job %s: %s not published", run->job.id, type);
    cJSON_Delete(data);
}

/* The attempt's entry for the row's history: a one-element array, to append with ||. */
static cJSON *history_item(struct jc_job_run *run, const char *outcome, const char *error)
{
    cJSON *e = cJSON_CreateArray(), *h = cJSON_CreateObject();
    char finished[JC_ISO_LEN];

    jc_clock_iso(finished);
    cJSON_AddNumberToObject(h, "attempt", run->attempt);
    cJSON_AddStringToObject(h, "worker", run->worker->id);
    cJSON_AddStringToObject(h, "started_at", run->started_at);
    cJSON_AddStringToObject(h, "finished_at", finished);
    cJSON_AddStringToObject(h, "outcome", outcome);
    if (error != NULL)
        cJSON_AddStringToObject(h, "error", error);
    cJSON_AddItemToArray(e, h);
    return e;
}

static char *history_entry(struct jc_job_run *run, const char *outcome, const char *error)
{
    cJSON *e = history_item(run, outcome, error);
    char *text = cJSON_PrintUnformatted(e);

    cJSON_Delete(e);
    return text;
}

/* ---- put back without counting an attempt (database away, duplicate running elsewhere) ---- */

static void requeued(const redisReply *r, enum jc_err err, const char *msg, void *ud)
{
    struct jc_job_run *run = ud;
    struct jc_worker *w = run->worker;

    (void)r;
    if (err != JC_OK) /* still in our active list: recovered at our next restart */
        jc_warn(w->app->log, "job %s: could not put back on the queue: %s", run->job.id, msg);
    run_end(run);
}

/* The lock key a script is to release: job_id's, or with NULL a name nobody uses (the lock
 * stays with whoever holds it). */
static void lock_to_release(char *buf, size_t len, const char *job_id)
{
    if (job_id != NULL)
        jc_key_job_lock(buf, len, job_id);
    else
        snprintf(buf, len, "%s", JC_KEY_NO_LOCK);
}

/* Moves the reserved message to jive:delayed (due after delay_ms), attempt unchanged. */
static void requeue_later(struct jc_job_run *run, long delay_ms, bool keep_lock)
{
    struct jc_worker *w = run->worker;
    char due[32], lock[96];
    const char *argv[6];

    snprintf(due, sizeof(due), "%lld", jc_clock_ms() + delay_ms);
    /* with keep_lock the running duplicate keeps its lock */
    lock_to_release(lock, sizeof(lock), keep_lock ? NULL : run->job.id);
    argv[0] = w->active_key;
    argv[1] = JC_KEY_DELAYED;
    argv[2] = lock;
    argv[3] = run->raw;
    argv[4] = run->raw;
    argv[5] = due;
    if (jc_redis_eval(w->app->redis, &w->retry_s, 3, 6, argv, requeued, run) != JC_OK)
        requeued(NULL, JC_EREDIS, "cannot submit", run);
}

struct deferral {
    struct jc_job_run *run;
    long delay_ms;
};

static void deferred_row(const PGresult *res, enum jc_err err, const char *msg, void *ud)
{
    struct deferral *d = ud;
    struct jc_job_run *run = d->run;
    long delay = d->delay_ms;

    (void)res;
    if (err != JC_OK)
        jc_debug(run->worker->app->log, "job %s: deferral not recorded: %s", run->job.id, msg);
    free(d);
    requeue_later(run, delay, false);
}

void jc_job_defer(struct jc_job_run *run, long delay_ms)
{
    struct deferral *d = malloc(sizeof(*d));
    const char *p[1] = {run->job.id};

    if (d == NULL) {
        requeue_later(run, delay_ms, false);
        return;
    }
    d->run = run;
    d->delay_ms = delay_ms;
    /* the claim counted an attempt that did not happen */
    if (jc_pg_query(run->worker->app->pg, 0,
                    "UPDATE jobs SET status = 'queued', attempts = greatest(attempts - 1, 0), "
                    "updated_at = now() WHERE id = $1::uuid AND status = 'running'",
                    1, p, deferred_row, d) != JC_OK)
        deferred_row(NULL, JC_EPG, "cannot submit", d);
}

/* ---- success: completions share a commit, acks share a script call ---- */

static void acked(const redisReply *r, enum jc_err err, const char *msg, void *ud)
{
    struct jc_job_run *run = ud;
    struct jc_worker *w = run->worker;

    (void)r;
    if (err != JC_OK) /* the row says succeeded: a re-run is skipped by the claim */
        jc_warn(w->app->log, "job %s: succeeded but not acknowledged: %s", run->job.id, msg);
    run_end(run);
}

/* Removes a reserved message from the active list and releases the lock of job_id (NULL:
 * none was taken), in one script call. cb as jc_redis_eval. */
static enum jc_err unreserve(struct jc_worker *w, const char *raw, const char *job_id,
                             jc_redis_cb *cb, void *ud)
{
    char lock[JC_KEY_LEN];
    const char *argv[3] = {w->active_key, lock, raw};

    lock_to_release(lock, sizeof(lock), job_id);
    return jc_redis_eval(w->app->redis, &w->ack_s, 2, 3, argv, cb, ud);
}

/* Removes one job's message from the active list and releases its lock. */
static void ack(struct jc_job_run *run)
{
    if (unreserve(run->worker, run->raw, run->job.id, acked, run) != JC_OK)
        acked(NULL, JC_EREDIS, "cannot submit", run);
}

/* The jobs of one completion statement, from its commit to their ack. */
struct done_batch {
    struct jc_worker *w;
    int n;
    struct jc_job_run *runs[];
};

static void batch_acked(const redisReply *r, enum jc_err err, const char *msg, void *ud)
{
    struct done_batch *d = ud;
    struct jc_worker *w = d->w;
    int i;

    (void)r;
    if (err != JC_OK) /* the rows say succeeded: a re-run is skipped by the claim */
        jc_warn(w->app->log, "%d succeeded job(s) not acknowledged: %s", d->n, msg);
    for (i = 0; i < d->n; i++) { /* a commit's completions may be of both classes */
        w->slots[jc_queue_class(d->runs[i]->job.queue)].running--;
        run_free(d->runs[i]);
    }
    free(d);
    refill(w);
}

static void send_completions(struct jc_worker *w);

/* job.succeeded for every job of a committed batch, in one script call. */
static void publish_succeeded(struct done_batch *d)
{
    struct jc_worker *w = d->w;
    struct jc_event *ev = calloc((size_t)d->n, sizeof(*ev));
    cJSON *all = cJSON_CreateArray();
    double now = jc_clock_mono();
    int i;

    jc_metric_inc(w->m_ok, d->n);
    if (ev == NULL || all == NULL)
        goto fail;
    for (i = 0; i < d->n; i++) {
        struct jc_job_run *run = d->runs[i];
        cJSON *data = cJSON_CreateObject();

        if (data == NULL || !cJSON_AddItemToArray(all, data))
            goto fail;
        cJSON_AddStringToObject(data, "queue", jc_queue_name(run->job.queue));
        cJSON_AddNumberToObject(data, "attempt", run->attempt);
        cJSON_AddNumberToObject(data, "duration_ms", (now - run->t0) * 1000.0);
        ev[i] = (struct jc_event){run->job.project_id, "job.succeeded", run->job.id, data};
    }
    if (jc_events_publish_all(w->app->redis, ev, d->n, NULL, NULL) == JC_OK)
        goto done;
fail:
    jc_debug(w->app->log, "%d job(s): job.succeeded not published", d->n);
done:
    cJSON_Delete(all);
    free(ev);
}

static void completed(const PGresult *res, enum jc_err err, const char *msg, void *ud)
{
    struct done_batch *d = ud;
    struct jc_worker *w = d->w;
    const char **argv = NULL;
    char(*locks)[96] = NULL;
    int i;

    (void)res;
    w->completing = false;
    if (err != JC_OK) {
        jc_warn(w->app->log, "%d job(s): effects done, rows not updated (%s); will run again", d->n,
                msg);
        for (i = 0; i < d->n; i++)
            requeue_later(d->runs[i], w->app->cfg.retry_base_ms, false);
        free(d);
        send_completions(w);
        return;
    }
    publish_succeeded(d);
    send_completions(w); /* the completions that arrived meanwhile: the next commit */
    /* one ack for the batch: KEYS[1] the active list, ARGV message and lock key pairs */
    argv = malloc(((size_t)d->n * 2 + 1) * sizeof(*argv));
    locks = malloc((size_t)d->n * sizeof(*locks));
    if (argv != NULL && locks != NULL) {
        argv[0] = w->active_key;
        for (i = 0; i < d->n; i++) {
            jc_key_job_lock(locks[i], sizeof(locks[i]), d->runs[i]->job.id);
            argv[1 + 2 * i] = d->runs[i]->raw;
            argv[2 + 2 * i] = locks[i];
        }
        if (jc_redis_eval(w->app->redis, &w->ack_batch_s, 1, 1 + 2 * d->n, argv, batch_acked, d) !=
            JC_OK)
            batch_acked(NULL, JC_EREDIS, "cannot submit", d);
    } else {
        batch_acked(NULL, JC_ENOMEM, "out of memory", d);
    }
    free(argv);
    free(locks);
}

/* Sends every waiting completion in one statement, unless one is in flight: those that
 * arrive meanwhile wait for its commit and share the next one. */
static void send_completions(struct jc_worker *w)
{
    struct done_batch *d;
    cJSON *rows;
    char *text;
    int n = 0, i;
    struct jc_job_run *run;

    if (w->completing || w->done_head == NULL)
        return;
    for (run = w->done_head; run != NULL && n < DONE_MAX; run = run->next)
        n++;
    d = malloc(sizeof(*d) + (size_t)n * sizeof(struct jc_job_run *));
    rows = cJSON_CreateArray();
    if (d == NULL || rows == NULL) { /* out of memory: the waiting jobs will run again */
        free(d);
        cJSON_Delete(rows);
        while ((run = w->done_head) != NULL) {
            w->done_head = run->next;
            requeue_later(run, w->app->cfg.retry_base_ms, false);
        }
        w->done_tail = NULL;
        return;
    }
    d->w = w;
    d->n = n;
    for (i = 0; i < n; i++) {
        cJSON *row = cJSON_CreateObject();
        run = w->done_head;
        w->done_head = run->next;
        run->next = NULL;
        d->runs[i] = run;
        cJSON_AddStringToObject(row, "id", run->job.id);
        cJSON_AddItemToObject(row, "result",
                              run->result != NULL ? run->result : cJSON_CreateNull());
        run->result = NULL;
        cJSON_AddItemToObject(row, "hist", run->hist);
        run->hist = NULL;
        cJSON_AddItemToArray(rows, row);
    }
    if (w->done_head == NULL)
        w->done_tail = NULL;
    text = cJSON_PrintUnformatted(rows);
    cJSON_Delete(rows);
    w->completing = true;
    {
        const char *p[1] = {text};
        if (text == NULL || jc_pg_query_prepared(w->app->pg, 0, "jive_jobs_complete",
                                                 "SELECT jive_jobs_complete($1::jsonb)", 1, p,
                                                 completed, d) != JC_OK)
            completed(NULL, JC_EPG, "cannot submit", d);
    }
    cJSON_free(text);
}

void jc_job_succeed(struct jc_job_run *run, cJSON *result)
{
    struct jc_worker *w = run->worker;

    run->result = result;
    run->hist = history_item(run, "succeeded", NULL);
    run->next = NULL;
    if (w->done_tail != NULL)
        w->done_tail->next = run;
    else
        w->done_head = run;
    w->done_tail = run;
    send_completions(w);
}

/* ---- failure: retry with backoff, or dead ---- */

struct failing {
    struct jc_job_run *run;
    bool dead;
    long delay_ms;
    char error[512];
};

static void failed_moved(const redisReply *r, enum jc_err err, const char *msg, void *ud)
{
    struct failing *f = ud;
    struct jc_job_run *run = f->run;
    struct jc_worker *w = run->worker;

    (void)r;
    if (err != JC_OK)
        jc_warn(w->app->log, "job %s: could not %s: %s", run->job.id,
                f->dead ? "dead-letter" : "schedule the retry", msg);
    free(f);
    run_end(run);
}

static void failed_row(const PGresult *res, enum jc_err err, const char *msg, void *ud)
{
    struct failing *f = ud;
    struct jc_job_run *run = f->run;
    struct jc_worker *w = run->worker;
    char key[96], lock[96], due[32];
    char *next = NULL;
    const char *argv[6];
    cJSON *data;

    (void)res;
    if (err != JC_OK) {
        jc_warn(w->app->log, "job %s: failure not recorded (%s); will run again", run->job.id, msg);
        free(f);
        requeue_later(run, w->app->cfg.retry_base_ms, false);
        return;
    }
    jc_metric_inc(f->dead ? w->m_dead : w->m_failed, 1);
    data = cJSON_CreateObject();
    cJSON_AddStringToObject(data, "queue", jc_queue_name(run->job.queue));
    cJSON_AddNumberToObject(data, "attempt", run->attempt);
    cJSON_AddStringToObject(data, "error", f->error);
    cJSON_AddBoolToObject(data, "will_retry", !f->dead);
    if (!f->dead)
        cJSON_AddNumberToObject(data, "retry_in_ms", (double)f->delay_ms);
    publish(run, "job.failed", data);

    /* the next message records the attempts made so far */
    cJSON_ReplaceItemInObject(run->msg, "attempt", cJSON_CreateNumber(run->attempt));
    next = cJSON_PrintUnformatted(run->msg);
    jc_key_job_lock(lock, sizeof(lock), run->job.id);
    argv[0] = w->active_key;
    argv[2] = lock;
    argv[3] = run->raw;
    argv[4] = next != NULL ? next : run->raw;
    if (f->dead) {
        jc_key_dead(key, sizeof(key), jc_queue_name(run->job.queue));
        argv[1] = key;
        if (jc_redis_eval(w->app->redis, &w->dead_s, 3, 5, argv, failed_moved, f) != JC_OK)
            failed_moved(NULL, JC_EREDIS, "cannot submit", f);
    } else {
        snprintf(due, sizeof(due), "%lld", jc_clock_ms() + f->delay_ms);
        argv[1] = JC_KEY_DELAYED;
        argv[5] = due;
        if (jc_redis_eval(w->app->redis, &w->retry_s, 3, 6, argv, failed_moved, f) != JC_OK)
            failed_moved(NULL, JC_EREDIS, "cannot submit", f);
    }
    cJSON_free(next);
}

void jc_job_fail(struct jc_job_run *run, const char *fmt, ...)
{
    struct jc_worker *w = run->worker;
    struct failing *f = calloc(1, sizeof(*f));
    int max = w->app->cfg.max_attempts[run->job.queue];
    char *hist;
    char delay[32];
    va_list ap;

    if (f == NULL) {
        requeue_later(run, w->app->cfg.retry_base_ms, false);
        return;
    }
    f->run = run;
    va_start(ap, fmt);
    vsnprintf(f->error, sizeof(f->error), fmt, ap);
    va_end(ap);
    f->dead = run->attempt >= max;
    if (!f->dead) {
        /* base * 2^(attempt-1), +/- 20 % jitter so a burst of failures does not retry in step */
        long base = w->app->cfg.retry_base_ms << (run->attempt - 1 < 20 ? run->attempt - 1 : 20);
        unsigned int r = 0;
        if (jc_crypto_random(&r, sizeof(r)) != JC_OK)
            r = 0;
        f->delay_ms = base - base / 5 + (long)(r % (unsigned int)(base * 2 / 5 + 1));
    }
    JC_LOG(w->app->log, JC_LOG_WARN, NULL, NULL, "job %s (%s) attempt %d/%d failed: %s%s",
           run->job.id, jc_queue_name(run->job.queue), run->attempt, max, f->error,
           f->dead ? " - dead" : "");
    hist = history_entry(run, f->dead ? "dead" : "failed", f->error);
    snprintf(delay, sizeof(delay), "%ld", f->delay_ms);
    {
        const char *p[5] = {run->job.id, f->error, hist, f->dead ? "dead" : "queued", delay};
        if (jc_pg_query(w->app->pg, 0,
                        "UPDATE jobs SET status = $4, error = $2, updated_at = now(), "
                        "history = history || $3::jsonb, "
                        "finished_at = CASE WHEN $4 = 'dead' THEN now() END, "
                        "dead_at = CASE WHEN $4 = 'dead' THEN now() END, "
                        "run_after = CASE WHEN $4 = 'queued' "
                        "  THEN now() + ($5 || ' milliseconds')::interval END "
                        "WHERE id = $1::uuid",
                        5, p, failed_row, f) != JC_OK)
            failed_row(NULL, JC_EPG, "cannot submit", f);
    }
    cJSON_free(hist);
}

/* ---- rejection: no retry ---- */

static void rejected_row(const PGresult *res, enum jc_err err, const char *msg, void *ud)
{
    struct failing *f = ud;
    struct jc_job_run *run = f->run;
    struct jc_worker *w = run->worker;
    cJSON *data;

    (void)res;
    if (err != JC_OK) {
        jc_warn(w->app->log, "job %s: rejection not recorded (%s); will run again", run->job.id,
                msg);
        free(f);
        requeue_later(run, w->app->cfg.retry_base_ms, false);
        return;
    }
    jc_metric_inc(w->m_failed, 1);
    data = cJSON_CreateObject();
    cJSON_AddStringToObject(data, "queue", jc_queue_name(run->job.queue));
    cJSON_AddNumberToObject(data, "attempt", run->attempt);
    cJSON_AddStringToObject(data, "error", f->error);
    cJSON_AddBoolToObject(data, "will_retry", false);
    publish(run, "job.failed", data);
    free(f);
    ack(run);
}

void jc_job_reject(struct jc_job_run *run, const char *fmt, ...)
{
    struct jc_worker *w = run->worker;
    struct failing *f = calloc(1, sizeof(*f));
    char *hist;
    va_list ap;

    if (f == NULL) {
        requeue_later(run, w->app->cfg.retry_base_ms, false);
        return;
    }
    f->run = run;
    va_start(ap, fmt);
    vsnprintf(f->error, sizeof(f->error), fmt, ap);
    va_end(ap);
    JC_LOG(w->app->log, JC_LOG_INFO, NULL, NULL, "job %s (%s) rejected: %s", run->job.id,
           jc_queue_name(run->job.queue), f->error);
    hist = history_entry(run, "rejected", f->error);
    {
        const char *p[3] = {run->job.id, f->error, hist};
        if (jc_pg_query(w->app->pg, 0,
                        "UPDATE jobs SET status = 'failed', error = $2, updated_at = now(), "
                        "finished_at = now(), history = history || $3::jsonb "
                        "WHERE id = $1::uuid",
                        3, p, rejected_row, f) != JC_OK)
            rejected_row(NULL, JC_EPG, "cannot submit", f);
    }
    cJSON_free(hist);
}

/* ---- starting jobs: locks, claims, handlers, a batch at a time ---- */

/* Jobs reserved together while their locks and their claim are out. */
struct batch {
    struct jc_worker *w;
    int n;
    struct jc_job_run *runs[];
};

/* The claim found nothing to do (no such job, or it already succeeded or died: a duplicate or
 * stale message): drop the message and the lock. */
static void drop_stale(struct jc_job_run *run)
{
    jc_info(run->worker->app->log,
            "job %s: nothing to do (done, dead or unknown); dropping message", run->job.id);
    ack(run);
}

/* Puts every job of b back for later, attempt unspent, and frees b. */
static void batch_back(struct batch *b)
{
    int i;

    for (i = 0; i < b->n; i++)
        requeue_later(b->runs[i], b->w->app->cfg.retry_base_ms, false);
    free(b);
}

static void claimed(const PGresult *res, enum jc_err err, const char *msg, void *ud)
{
    struct batch *b = ud;
    struct jc_worker *w = b->w;
    int i;

    if (err != JC_OK) { /* every message of the batch goes back, attempt unchanged */
        jc_warn(w->app->log, "%d job(s): cannot claim (%s); retrying later", b->n, msg);
        batch_back(b);
        return;
    }
    for (i = 0; i < PQntuples(res); i++) { /* (position in the batch, attempts) */
        long at, n;
        if (jc_parse_long(PQgetvalue(res, i, 0), 1, b->n, &at) == JC_OK &&
            jc_parse_long(PQgetvalue(res, i, 1), 1, 1L << 30, &n) == JC_OK)
            b->runs[at - 1]->attempt = (int)n;
    }
    for (i = 0; i < b->n; i++) {
        struct jc_job_run *run = b->runs[i];
        if (run->attempt == 0) {
            drop_stale(run);
            continue;
        }
        JC_LOG(w->app->log, JC_LOG_DEBUG, NULL, NULL, "job %s (%s) attempt %d started", run->job.id,
               jc_queue_name(run->job.queue), run->attempt);
        w->handlers[run->job.queue](run, w->ud);
    }
    free(b);
}

/* The claim of a batch: one statement for every job whose lock was taken (jive_jobs_claim,
 * schema 019). This worker's configuration decides how many attempts each job gets: the row
 * says so. */
static const char claim_sql[] =
    "SELECT k, attempts FROM jive_jobs_claim($1::uuid[], $2, $3::int[])";

/* The claim of a batch whose locks are held: one statement (jive_jobs_claim). */
static void claim(struct batch *b)
{
    struct jc_worker *w = b->w;
    const char **ids = malloc((size_t)b->n * sizeof(*ids));
    const char **maxp = malloc((size_t)b->n * sizeof(*maxp));
    char(*maxes)[16] = malloc((size_t)b->n * sizeof(*maxes));
    char *id_array = NULL, *max_array = NULL;
    int i;

    if (ids != NULL && maxp != NULL && maxes != NULL) {
        for (i = 0; i < b->n; i++) {
            ids[i] = b->runs[i]->job.id;
            snprintf(maxes[i], sizeof(maxes[i]), "%d",
                     w->app->cfg.max_attempts[b->runs[i]->job.queue]);
            maxp[i] = maxes[i];
        }
        id_array = jc_pg_array_literal(ids, b->n);
        max_array = jc_pg_array_literal(maxp, b->n);
    }
    if (id_array == NULL || max_array == NULL) {
        jc_warn(w->app->log, "%d job(s): cannot claim (out of memory); retrying later", b->n);
        batch_back(b);
    } else {
        const char *p[3] = {id_array, w->id, max_array};
        if (jc_pg_query_prepared(w->app->pg, 0, "jive_jobs_claim", claim_sql, 3, p, claimed, b) !=
            JC_OK)
            claimed(NULL, JC_EPG, "cannot submit", b);
    }
    free(ids);
    free(maxp);
    free(maxes);
    free(id_array);
    free(max_array);
}

/*
 * Starts n reserved jobs (n slots are free). Their reservation took their locks: the jobs it
 * locked are claimed in one statement, then each handler runs; a job whose lock another worker
 * holds (a duplicate message of a job running there) goes back for later.
 */
static void start_batch(struct jc_worker *w, struct jc_job_run **runs, int n)
{
    struct batch *b = malloc(sizeof(*b) + (size_t)n * sizeof(struct jc_job_run *));
    int i, k = 0;

    for (i = 0; i < n; i++) {
        w->slots[jc_queue_class(runs[i]->job.queue)].running++;
        runs[i]->t0 = jc_clock_mono();
        jc_clock_iso(runs[i]->started_at);
    }
    if (b == NULL) {
        for (i = 0; i < n; i++)
            requeue_later(runs[i], w->app->cfg.retry_base_ms, !runs[i]->locked);
        return;
    }
    b->w = w;
    for (i = 0; i < n; i++) {
        if (runs[i]->locked)
            b->runs[k++] = runs[i];
        else /* the same job runs on another worker: try again later */
            requeue_later(runs[i], w->app->cfg.retry_base_ms, true);
    }
    b->n = k;
    if (k == 0)
        free(b);
    else
        claim(b);
}

/*
 * A message the reserve moved to our active list, with the id its lock was asked for and
 * whether it was taken: the job it names, or NULL. A message that is not a job, or whose id is
 * not the one the script read (a message jc_queue_message did not write), is dropped; without
 * memory it stays in the active list, recovered when this worker restarts.
 */
static struct jc_job_run *parse_reserved(struct jc_worker *w, const char *raw, size_t len,
                                         const char *lock_id, bool locked)
{
    struct jc_job_run *run = calloc(1, sizeof(*run));
    const cJSON *v, *id;

    if (run == NULL || (run->raw = malloc(len + 1)) == NULL) {
        free(run);
        return NULL;
    }
    memcpy(run->raw, raw, len);
    run->raw[len] = '\0';
    run->worker = w;
    run->locked = locked;
    run->msg = cJSON_ParseWithLength(raw, len);
    v = cJSON_GetObjectItemCaseSensitive(run->msg, "queue");
    id = cJSON_GetObjectItemCaseSensitive(run->msg, "id");
    /* the id must be a UUID: a batch's claim casts every id, and one bad id must not fail
     * its neighbours */
    if (!cJSON_IsString(v) || !jc_queue_parse(v->valuestring, &run->job.queue) ||
        !cJSON_IsString(id) || !jc_crypto_is_uuid(id->valuestring) ||
        strcmp(id->valuestring, lock_id) != 0 ||
        !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(run->msg, "project_id"))) {
        jc_error(w->app->log, "dropping a malformed queue message (%zu bytes)", len);
        /* with the lock its reservation took */
        if (unreserve(w, run->raw, locked ? lock_id : NULL, NULL, NULL) != JC_OK)
            jc_warn(w->app->log, "could not drop the malformed message");
        run_free(run);
        return NULL;
    }
    run->job.id = id->valuestring;
    run->job.project_id = cJSON_GetObjectItemCaseSensitive(run->msg, "project_id")->valuestring;
    v = cJSON_GetObjectItemCaseSensitive(run->msg, "org_id");
    run->job.org_id = cJSON_IsString(v) ? v->valuestring : "";
    v = cJSON_GetObjectItemCaseSensitive(run->msg, "event_id");
    run->job.event_id = cJSON_IsString(v) ? v->valuestring : NULL;
    run->payload = cJSON_GetObjectItemCaseSensitive(run->msg, "payload");
    if (!cJSON_IsObject(run->payload)) {
        cJSON_ReplaceItemInObject(run->msg, "payload", cJSON_CreateObject());
        run->payload = cJSON_GetObjectItemCaseSensitive(run->msg, "payload");
    }
    return run;
}

/* Jobs reserved from one queue: as many as there are free slots start together, the rest
 * wait. */
static void take(struct jc_worker *w, struct jc_job_run **runs, int n)
{
    struct slots *sl = &w->slots[jc_queue_class(runs[0]->job.queue)];
    int room = w->draining ? 0 : sl->cap - sl->running;
    int now = n < room ? n : (room > 0 ? room : 0), i;

    for (i = n - 1; i >= now; i--) {
        runs[i]->next = sl->pending;
        sl->pending = runs[i];
        sl->npending++;
    }
    if (now > 0)
        start_batch(w, runs, now);
}

/* ---- reserving ---- */

static void fetch_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    fetch(arg);
}

static void fetch_later(struct fetcher *f)
{
    struct timeval tv = {0, 500000};

    evtimer_add(f->retry, &tv);
}

/* The reserve script's answer: the messages it moved with their locks, none when the queue was
 * empty. */
static void fetched(const redisReply *r, enum jc_err err, const char *msg, void *ud)
{
    struct fetcher *f = ud;
    struct jc_worker *w = f->w;
    struct jc_job_run *runs[RESERVE_MAX];
    int n = 0;
    size_t i;

    f->waiting = false;
    if (err == JC_ECLOSED)
        return;
    if (err != JC_OK || r->type != REDIS_REPLY_ARRAY || r->elements % 3 != 0) {
        jc_debug(w->app->log, "reserve on %s: %s", jc_queue_name(f->queue),
                 err != JC_OK ? msg : "unexpected reply");
        fetch_later(f);
        return;
    }
    f->idle = r->elements == 0;
    for (i = 0; i + 2 < r->elements && n < RESERVE_MAX; i += 3) {
        const redisReply *m = r->element[i], *id = r->element[i + 1], *got = r->element[i + 2];
        if (m->type != REDIS_REPLY_STRING || id->type != REDIS_REPLY_STRING ||
            got->type != REDIS_REPLY_INTEGER)
            continue; /* not what the script returns: left in the active list */
        if ((runs[n] = parse_reserved(w, m->str, m->len, id->str, got->integer == 1)) != NULL)
            n++;
    }
    if (n > 0)
        take(w, runs, n);
    fetch(f);
}

/*
 * Reserves what the free slots of f's class can take, in one script call. When the last call
 * found the queue empty, the call waits behind a BLMOVE of the queue onto itself, sent on the
 * same connection: it answers as soon as the queue has a message and changes nothing, and
 * Redis runs the script right after it, so the first job after a quiet spell costs no extra
 * round trip.
 */
static void fetch(struct fetcher *f)
{
    struct jc_worker *w = f->w;
    char src[64], count[16], ttl[32];
    const char *argv[6];
    const struct slots *sl = &w->slots[jc_queue_class(f->queue)];
    int room = sl->cap - sl->running - sl->npending;
    long timeout = 0;

    /* a worker nobody could recover must not hold jobs: reserve only once registered */
    if (f->waiting || w->draining || !w->registered || room <= 0)
        return;
    jc_key_queue(src, sizeof(src), jc_queue_name(f->queue));
    f->waiting = true;
    if (f->idle) {
        const char *wait[6] = {"BLMOVE", src, src, "RIGHT", "RIGHT", BLOCK_SECONDS};
        /* the blocking command's deadline: its block time plus the usual command timeout */
        timeout = 1000 + w->app->cfg.redis_timeout_ms;
        if (jc_redis_command(f->conn, timeout, NULL, NULL, 6, wait, NULL) != JC_OK) {
            f->waiting = false;
            fetch_later(f);
            return;
        }
    }
    snprintf(count, sizeof(count), "%d", room < RESERVE_MAX ? room : RESERVE_MAX);
    /* a lock outlives a slow job comfortably; a crash leaves it to expire */
    snprintf(ttl, sizeof(ttl), "%ld", w->app->cfg.worker_ttl_ms * 20);
    argv[0] = src;
    argv[1] = w->active_key;
    argv[2] = count;
    argv[3] = w->id;
    argv[4] = ttl;
    if (jc_redis_eval_timeout(f->conn, timeout, &w->reserve_s, 2, 5, argv, fetched, f) != JC_OK) {
        f->waiting = false;
        fetch_later(f);
    }
}

/* ---- heartbeat, recovery, promotion ---- */

static void recovered(const redisReply *r, enum jc_err err, const char *msg, void *ud)
{
    struct jc_worker *w = ud;

    (void)msg;
    if (err == JC_OK && r->type == REDIS_REPLY_INTEGER && r->integer > 0) {
        jc_warn(w->app->log, "recovered %lld job(s) from a worker whose heartbeat expired",
                r->integer);
        jc_metric_inc(w->m_recovered, (double)r->integer);
    }
}

static void members(const redisReply *r, enum jc_err err, const char *msg, void *ud)
{
    struct jc_worker *w = ud;
    size_t i;

    (void)msg;
    if (err != JC_OK || r->type != REDIS_REPLY_ARRAY)
        return;
    for (i = 0; i < r->elements; i++) {
        const char *argv[2] = {r->element[i]->str, "0"};
        if (r->element[i]->type != REDIS_REPLY_STRING || strcmp(r->element[i]->str, w->id) == 0)
            continue;
        if (jc_redis_eval(w->app->redis, &w->recover_s, 0, 2, argv, recovered, w) != JC_OK)
            break;
    }
}

static void registered(const redisReply *r, enum jc_err err, const char *msg, void *ud)
{
    struct jc_worker *w = ud;
    int q;

    (void)r;
    (void)msg;
    if (err != JC_OK || w->registered)
        return;
    w->registered = true;
    for (q = 0; q < JC_Q_COUNT; q++)
        if (w->fetchers[q].conn != NULL)
            fetch(&w->fetchers[q]);
}

static void beat_cb(evutil_socket_t fd, short what, void *arg)
{
    struct jc_worker *w = arg;
    char key[160], ttl[32];
    /* until registered (Redis still connecting at start-up), try again soon */
    long period = w->registered ? w->app->cfg.worker_ttl_ms / 3 : 100;
    struct timeval tv = {period / 1000, (period % 1000) * 1000};

    (void)fd;
    (void)what;
    if (w->draining)
        return;
    jc_key_worker(key, sizeof(key), w->id);
    snprintf(ttl, sizeof(ttl), "%ld", w->app->cfg.worker_ttl_ms);
    {
        const char *set[6] = {"SET", key, "alive", "PX", ttl, NULL};
        const char *sadd[3] = {"SADD", JC_KEY_WORKERS, w->id};
        const char *smembers[2] = {"SMEMBERS", JC_KEY_WORKERS};
        /* SET first: once SADD has answered, the heartbeat exists too (one connection) */
        if (jc_redis_command(w->app->redis, 0, NULL, NULL, 5, set, NULL) != JC_OK ||
            jc_redis_command(w->app->redis, 0, registered, w, 3, sadd, NULL) != JC_OK ||
            jc_redis_command(w->app->redis, 0, members, w, 2, smembers, NULL) != JC_OK)
            jc_debug(w->app->log, "heartbeat not sent");
    }
    evtimer_add(w->beat, &tv);
}

static void promote_cb(evutil_socket_t fd, short what, void *arg)
{
    struct jc_worker *w = arg;
    struct timeval tv = {0, PROMOTE_MS * 1000};
    char now[32];
    const char *argv[3] = {JC_KEY_DELAYED, now, PROMOTE_BATCH};

    (void)fd;
    (void)what;
    if (w->draining)
        return;
    snprintf(now, sizeof(now), "%lld", jc_clock_ms());
    if (jc_redis_healthy(w->app->redis) &&
        jc_redis_eval(w->app->redis, &w->promote_s, 1, 3, argv, NULL, NULL) != JC_OK)
        jc_debug(w->app->log, "promotion not sent");
    evtimer_add(w->promote, &tv);
}

/* ---- life cycle ---- */

struct jc_worker *jc_worker_new(struct jc_app *app, jc_job_handler *const handlers[JC_Q_COUNT],
                                void *ud)
{
    struct jc_worker *w = calloc(1, sizeof(*w));
    char host[64] = "host", rnd[9];
    int q;

    if (w == NULL)
        return NULL;
    w->app = app;
    w->ud = ud;
    w->slots[JC_WORK_GIT].cap = (int)app->cfg.worker_concurrency;
    w->slots[JC_WORK_DB].cap = (int)app->cfg.worker_db_concurrency;
    if (app->cfg.worker_id != NULL) {
        snprintf(w->id, sizeof(w->id), "%s", app->cfg.worker_id);
    } else {
        gethostname(host, sizeof(host) - 1);
        if (jc_crypto_random_hex(rnd, 4) != JC_OK)
            snprintf(rnd, sizeof(rnd), "0");
        snprintf(w->id, sizeof(w->id), "%s-%ld-%s", host, (long)getpid(), rnd);
    }
    jc_key_active(w->active_key, sizeof(w->active_key), w->id);
    jc_redis_script_init(&w->retry_s, retry_lua);
    jc_redis_script_init(&w->dead_s, dead_lua);
    jc_redis_script_init(&w->ack_s, ack_lua);
    jc_redis_script_init(&w->ack_batch_s, ack_batch_lua);
    jc_redis_script_init(&w->promote_s, promote_lua);
    jc_redis_script_init(&w->recover_s, recover_lua);
    jc_redis_script_init(&w->reserve_s, reserve_lua);
    w->m_ok = jc_metrics_counter(app->metrics, "jive_jobs_total", "Jobs finished by outcome",
                                 "outcome=\"succeeded\"");
    w->m_failed = jc_metrics_counter(app->metrics, "jive_jobs_total", NULL, "outcome=\"failed\"");
    w->m_dead = jc_metrics_counter(app->metrics, "jive_jobs_total", NULL, "outcome=\"dead\"");
    w->m_recovered = jc_metrics_counter(app->metrics, "jive_jobs_recovered_total",
                                        "Jobs taken back from crashed workers", NULL);
    w->beat = evtimer_new(app->base, beat_cb, w);
    w->promote = evtimer_new(app->base, promote_cb, w);
    if (w->beat == NULL || w->promote == NULL)
        goto fail;
    for (q = 0; q < JC_Q_COUNT; q++) {
        struct fetcher *f = &w->fetchers[q];
        struct jc_redis_opts o = {app->cfg.redis_host,
                                  app->cfg.redis_port,
                                  app->cfg.redis_password,
                                  app->cfg.redis_db,
                                  app->cfg.redis_timeout_ms,
                                  false,
                                  app->dns};
        w->handlers[q] = handlers[q];
        if (handlers[q] == NULL)
            continue;
        f->w = w;
        f->queue = (enum jc_queue)q;
        f->conn = jc_redis_new(app->base, app->log, &o);
        f->retry = evtimer_new(app->base, fetch_retry_cb, f);
        if (f->conn == NULL || f->retry == NULL)
            goto fail;
        {
            struct timeval first = {0, 100000}; /* first fetch once connected */
            evtimer_add(f->retry, &first);
        }
    }
    beat_cb(-1, 0, w);
    promote_cb(-1, 0, w);
    jc_info(app->log,
            "worker %s consuming with concurrency %ld for git-bound jobs, %ld for "
            "database-only jobs",
            w->id, app->cfg.worker_concurrency, app->cfg.worker_db_concurrency);
    return w;
fail:
    w->draining = true;
    jc_worker_free(w);
    return NULL;
}

static void gone(const redisReply *r, enum jc_err err, const char *msg, void *ud)
{
    struct jc_worker *w = ud;
    void (*cb)(void *) = w->drained_cb;

    (void)r;
    if (err != JC_OK)
        jc_warn(w->app->log,
                "worker %s: reserved jobs not put back (%s); another worker will "
                "recover them when the heartbeat expires",
                w->id, msg);
    w->drained_cb = NULL;
    if (cb != NULL)
        cb(w->drained_ud);
}

/* The heartbeat's removal could not be sent: drained all the same. */
static void gone_unsent(void *w)
{
    gone(NULL, JC_EREDIS, "cannot submit", w);
}

/* Forgets the jobs reserved but not started (their messages stay in the active list). */
static void drop_pending(struct jc_worker *w)
{
    int c;

    for (c = 0; c < JC_WORK_CLASSES; c++) {
        while (w->slots[c].pending != NULL) {
            struct jc_job_run *run = w->slots[c].pending;
            w->slots[c].pending = run->next;
            run_free(run);
        }
        w->slots[c].npending = 0;
    }
}

static void check_drained(struct jc_worker *w)
{
    char key[160];

    if (!w->draining || running_total(w) > 0 || w->drained_cb == NULL)
        return;
    /* everything reserved but not started goes back; then the heartbeat goes */
    drop_pending(w);
    jc_key_worker(key, sizeof(key), w->id);
    {
        const char *del[2] = {"DEL", key};
        const char *argv[2] = {w->id, "1"};
        if (jc_redis_command(w->app->redis, 0, NULL, NULL, 2, del, NULL) != JC_OK ||
            jc_redis_eval(w->app->redis, &w->recover_s, 0, 2, argv, gone, w) != JC_OK)
            jc_later(w->app->base, gone_unsent, w);
    }
}

void jc_worker_drain(struct jc_worker *w, void (*cb)(void *ud), void *ud)
{
    int q;

    w->draining = true;
    w->drained_cb = cb;
    w->drained_ud = ud;
    event_del(w->beat);
    event_del(w->promote);
    for (q = 0; q < JC_Q_COUNT; q++) {
        if (w->fetchers[q].conn == NULL)
            continue;
        event_del(w->fetchers[q].retry);
        /* a BLMOVE in progress fails with JC_ECLOSED; anything it moved is put back below */
        jc_redis_free(w->fetchers[q].conn);
        w->fetchers[q].conn = NULL;
    }
    jc_info(w->app->log, "worker %s draining: %d job(s) running", w->id, running_total(w));
    check_drained(w);
}

void jc_worker_free(struct jc_worker *w)
{
    int q;

    if (w == NULL)
        return;
    for (q = 0; q < JC_Q_COUNT; q++) {
        jc_redis_free(w->fetchers[q].conn);
        if (w->fetchers[q].retry != NULL)
            event_free(w->fetchers[q].retry);
    }
    drop_pending(w);
    if (w->beat != NULL)
        event_free(w->beat);
    if (w->promote != NULL)
        event_free(w->promote);
    free(w);
}
