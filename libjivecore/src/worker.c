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
#include "jc/worker.h"

#define BLOCK_SECONDS "1"
#define PROMOTE_MS 200
#define PROMOTE_BATCH "100"

/* LREM the reserved message, ZADD the next attempt's message at its due time. */
static const char retry_lua[] = "redis.call('LREM', KEYS[1], 1, ARGV[1])\n"
                                "redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])\n"
                                "redis.call('DEL', KEYS[3])\n"
                                "return 1\n";

/* LREM the reserved message, LPUSH it onto the dead letters of its queue. */
static const char dead_lua[] = "redis.call('LREM', KEYS[1], 1, ARGV[1])\n"
                               "redis.call('LPUSH', KEYS[2], ARGV[2])\n"
                               "redis.call('DEL', KEYS[3])\n"
                               "return 1\n";

/* Ack: LREM the reserved message and release the job lock. */
static const char ack_lua[] = "local n = redis.call('LREM', KEYS[1], 1, ARGV[1])\n"
                              "redis.call('DEL', KEYS[2])\n"
                              "return n\n";

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

struct fetcher {
    struct jc_worker *w;
    enum jc_queue queue;
    struct jc_redis *conn; /* blocking connection of its own */
    bool waiting;
    struct event *retry;
};

struct jc_worker {
    struct jc_app *app;
    jc_job_handler *handlers[JC_Q_COUNT];
    void *ud;
    char id[128];
    char active_key[160];
    struct fetcher fetchers[JC_Q_COUNT];
    int running;                /* handlers in progress */
    struct jc_job_run *pending; /* reserved, waiting for a free slot */
    int npending;
    bool draining;
    bool registered; /* heartbeat and jive:workers entry confirmed: only then reserve */
    void (*drained_cb)(void *ud);
    void *drained_ud;
    struct event *beat;    /* heartbeat + recovery */
    struct event *promote; /* delayed → queue */
    struct jc_redis_script retry_s, dead_s, ack_s, promote_s, recover_s;
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
    free(run);
}

static void fetch(struct fetcher *f);
static void start(struct jc_worker *w, struct jc_job_run *run);
static void check_drained(struct jc_worker *w);

/* A slot became free: start a pending job, then let the fetchers reserve more. */
static void slot_freed(struct jc_worker *w)
{
    int q;

    w->running--;
    while (w->pending != NULL && w->running < (int)w->app->cfg.worker_concurrency && !w->draining) {
        struct jc_job_run *run = w->pending;
        w->pending = run->next;
        w->npending--;
        start(w, run);
    }
    for (q = 0; q < JC_Q_COUNT; q++)
        if (w->fetchers[q].conn != NULL)
            fetch(&w->fetchers[q]);
    check_drained(w);
}

static void publish(struct jc_job_run *run, const char *type, cJSON *data)
{
    if (jc_events_publish(run->worker->app->redis, run->job.project_id, type, run->job.id, data,
                          NULL, NULL) != JC_OK)
        jc_debug(run->worker->app->log, "job %s: %s not published", run->job.id, type);
    cJSON_Delete(data);
}

static char *history_entry(struct jc_job_run *run, const char *outcome, const char *error)
{
    cJSON *e = cJSON_CreateArray(), *h = cJSON_CreateObject();
    char finished[JC_ISO_LEN];
    char *text;

    jc_clock_iso(finished);
    cJSON_AddNumberToObject(h, "attempt", run->attempt);
    cJSON_AddStringToObject(h, "worker", run->worker->id);
    cJSON_AddStringToObject(h, "started_at", run->started_at);
    cJSON_AddStringToObject(h, "finished_at", finished);
    cJSON_AddStringToObject(h, "outcome", outcome);
    if (error != NULL)
        cJSON_AddStringToObject(h, "error", error);
    cJSON_AddItemToArray(e, h);
    text = cJSON_PrintUnformatted(e);
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
    run_free(run);
    slot_freed(w);
}

/* Moves the reserved message to jive:delayed (due after delay_ms), attempt unchanged. */
static void requeue_later(struct jc_job_run *run, long delay_ms, bool keep_lock)
{
    struct jc_worker *w = run->worker;
    char due[32], lock[96];
    const char *argv[6];

    snprintf(due, sizeof(due), "%lld", jc_clock_ms() + delay_ms);
    /* with keep_lock the lock key is a name nobody uses, so the running duplicate keeps its lock */
    if (keep_lock)
        snprintf(lock, sizeof(lock), "%s", JC_KEY_NO_LOCK);
    else
        jc_key_job_lock(lock, sizeof(lock), run->job.id);
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

/* ---- success ---- */

static void acked(const redisReply *r, enum jc_err err, const char *msg, void *ud)
{
    struct jc_job_run *run = ud;
    struct jc_worker *w = run->worker;

    (void)r;
    if (err != JC_OK) /* the row says succeeded: a re-run is skipped by the claim */
        jc_warn(w->app->log, "job %s: succeeded but not acknowledged: %s", run->job.id, msg);
    run_free(run);
    slot_freed(w);
}

static void succeeded_row(const PGresult *res, enum jc_err err, const char *msg, void *ud)
{
    struct jc_job_run *run = ud;
    struct jc_worker *w = run->worker;
    char lock[96];
    const char *argv[3];
    cJSON *data;

    (void)res;
    if (err != JC_OK) {
        jc_warn(w->app->log, "job %s: effects done, row not updated (%s); will run again",
                run->job.id, msg);
        requeue_later(run, w->app->cfg.retry_base_ms, false);
        return;
    }
    jc_metric_inc(w->m_ok, 1);
    data = cJSON_CreateObject();
    cJSON_AddStringToObject(data, "queue", jc_queue_name(run->job.queue));
    cJSON_AddNumberToObject(data, "attempt", run->attempt);
    cJSON_AddNumberToObject(data, "duration_ms", (jc_clock_mono() - run->t0) * 1000.0);
    publish(run, "job.succeeded", data);
    jc_key_job_lock(lock, sizeof(lock), run->job.id);
    argv[0] = w->active_key;
    argv[1] = lock;
    argv[2] = run->raw;
    if (jc_redis_eval(w->app->redis, &w->ack_s, 2, 3, argv, acked, run) != JC_OK)
        acked(NULL, JC_EREDIS, "cannot submit", run);
}

void jc_job_succeed(struct jc_job_run *run, cJSON *result)
{
    struct jc_worker *w = run->worker;
    char *res = result != NULL ? cJSON_PrintUnformatted(result) : NULL;
    char *hist = history_entry(run, "succeeded", NULL);
    const char *p[3] = {run->job.id, res, hist};

    cJSON_Delete(result);
    if (jc_pg_query(w->app->pg, 0,
                    "WITH j AS (UPDATE jobs SET status = 'succeeded', result = $2::jsonb, "
                    "  error = NULL, finished_at = now(), updated_at = now(), "
                    "  history = history || $3::jsonb WHERE id = $1::uuid RETURNING event_id) "
                    "UPDATE webhook_events SET processed = true, processed_at = now(), "
                    "  status = 'processed' "
                    "WHERE id = (SELECT event_id FROM j) AND NOT processed",
                    3, p, succeeded_row, run) != JC_OK)
        succeeded_row(NULL, JC_EPG, "cannot submit", run);
    cJSON_free(res);
    cJSON_free(hist);
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
    run_free(run);
    slot_freed(w);
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
    char lock[96];
    const char *argv[3];
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
    jc_key_job_lock(lock, sizeof(lock), run->job.id);
    argv[0] = w->active_key;
    argv[1] = lock;
    argv[2] = run->raw;
    if (jc_redis_eval(w->app->redis, &w->ack_s, 2, 3, argv, acked, run) != JC_OK)
        acked(NULL, JC_EREDIS, "cannot submit", run);
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

/* ---- starting a job: lock, claim, handler ---- */

static void claimed(const PGresult *res, enum jc_err err, const char *msg, void *ud)
{
    struct jc_job_run *run = ud;
    struct jc_worker *w = run->worker;

    if (err != JC_OK) {
        jc_warn(w->app->log, "job %s: cannot claim (%s); retrying later", run->job.id, msg);
        requeue_later(run, w->app->cfg.retry_base_ms, false);
        return;
    }
    if (PQntuples(res) != 1) {
        /* no such job, or it already succeeded / died: a duplicate or stale message */
        const char *argv[3];
        char lock[96];
        jc_info(w->app->log, "job %s: nothing to do (done, dead or unknown); dropping message",
                run->job.id);
        jc_key_job_lock(lock, sizeof(lock), run->job.id);
        argv[0] = w->active_key;
        argv[1] = lock;
        argv[2] = run->raw;
        if (jc_redis_eval(w->app->redis, &w->ack_s, 2, 3, argv, acked, run) != JC_OK)
            acked(NULL, JC_EREDIS, "cannot submit", run);
        return;
    }
    run->attempt = (int)strtol(PQgetvalue(res, 0, 0), NULL, 10);
    JC_LOG(w->app->log, JC_LOG_DEBUG, NULL, NULL, "job %s (%s) attempt %d started", run->job.id,
           jc_queue_name(run->job.queue), run->attempt);
    w->handlers[run->job.queue](run, w->ud);
}

static void locked(const redisReply *r, enum jc_err err, const char *msg, void *ud)
{
    struct jc_job_run *run = ud;
    struct jc_worker *w = run->worker;
    char max[16];
    const char *p[3] = {run->job.id, w->id, max};

    if (err != JC_OK) {
        jc_warn(w->app->log, "job %s: cannot lock (%s); retrying later", run->job.id, msg);
        requeue_later(run, w->app->cfg.retry_base_ms, false);
        return;
    }
    if (r == NULL || r->type == REDIS_REPLY_NIL) {
        /* the same job runs on another worker (a duplicate message): try again later */
        requeue_later(run, w->app->cfg.retry_base_ms, true);
        return;
    }
    /* this worker's configuration decides how many attempts the job gets: the row says so */
    snprintf(max, sizeof(max), "%d", w->app->cfg.max_attempts[run->job.queue]);
    if (jc_pg_query(w->app->pg, 0,
                    "UPDATE jobs SET status = 'running', attempts = attempts + 1, "
                    "started_at = now(), updated_at = now(), worker = $2, max_attempts = $3::int "
                    "WHERE id = $1::uuid AND status IN ('queued', 'running') "
                    "RETURNING attempts",
                    3, p, claimed, run) != JC_OK)
        claimed(NULL, JC_EPG, "cannot submit", run);
}

static void start(struct jc_worker *w, struct jc_job_run *run)
{
    char key[96], ttl[32];
    const char *argv[6];

    w->running++;
    run->t0 = jc_clock_mono();
    jc_clock_iso(run->started_at);
    jc_key_job_lock(key, sizeof(key), run->job.id);
    /* the lock outlives a slow job comfortably; a crash leaves it to expire */
    snprintf(ttl, sizeof(ttl), "%ld", w->app->cfg.worker_ttl_ms * 20);
    argv[0] = "SET";
    argv[1] = key;
    argv[2] = w->id;
    argv[3] = "NX";
    argv[4] = "PX";
    argv[5] = ttl;
    if (jc_redis_command(w->app->redis, 0, locked, run, 6, argv, NULL) != JC_OK)
        locked(NULL, JC_EREDIS, "cannot submit", run);
}

/* A message arrived in our active list. */
static void reserved(struct jc_worker *w, const char *raw, size_t len)
{
    struct jc_job_run *run = calloc(1, sizeof(*run));
    const cJSON *v;

    if (run == NULL || (run->raw = malloc(len + 1)) == NULL) {
        free(run);
        return; /* stays in the active list; recovered when this worker restarts */
    }
    memcpy(run->raw, raw, len);
    run->raw[len] = '\0';
    run->worker = w;
    run->msg = cJSON_ParseWithLength(raw, len);
    v = cJSON_GetObjectItemCaseSensitive(run->msg, "queue");
    if (!cJSON_IsString(v) || !jc_queue_parse(v->valuestring, &run->job.queue) ||
        !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(run->msg, "id")) ||
        !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(run->msg, "project_id"))) {
        const char *argv[4] = {"LREM", w->active_key, "1", run->raw};
        jc_error(w->app->log, "dropping a malformed queue message (%zu bytes)", len);
        if (jc_redis_command(w->app->redis, 0, NULL, NULL, 4, argv, NULL) != JC_OK)
            jc_warn(w->app->log, "could not drop the malformed message");
        run_free(run);
        return;
    }
    run->job.id = cJSON_GetObjectItemCaseSensitive(run->msg, "id")->valuestring;
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
    if (w->running < (int)w->app->cfg.worker_concurrency && !w->draining) {
        start(w, run);
        return;
    }
    run->next = w->pending;
    w->pending = run;
    w->npending++;
}

/* ---- reserving ---- */

static void fetch_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    fetch(arg);
}

static void fetched(const redisReply *r, enum jc_err err, const char *msg, void *ud)
{
    struct fetcher *f = ud;
    struct jc_worker *w = f->w;

    f->waiting = false;
    if (err == JC_ECLOSED)
        return;
    if (err != JC_OK) {
        struct timeval tv = {0, 500000};
        jc_debug(w->app->log, "reserve on %s: %s", jc_queue_name(f->queue), msg);
        evtimer_add(f->retry, &tv);
        return;
    }
    if (r->type == REDIS_REPLY_STRING)
        reserved(w, r->str, r->len);
    fetch(f);
}

static void fetch(struct fetcher *f)
{
    struct jc_worker *w = f->w;
    char src[64];
    const char *argv[6];

    /* a worker nobody could recover must not hold jobs: reserve only once registered */
    if (f->waiting || w->draining || !w->registered ||
        w->running + w->npending >= (int)w->app->cfg.worker_concurrency)
        return;
    jc_key_queue(src, sizeof(src), jc_queue_name(f->queue));
    argv[0] = "BLMOVE";
    argv[1] = src;
    argv[2] = w->active_key;
    argv[3] = "RIGHT";
    argv[4] = "LEFT";
    argv[5] = BLOCK_SECONDS;
    f->waiting = true;
    /* the blocking command's deadline: its block time plus the usual command timeout */
    if (jc_redis_command(f->conn, 1000 + w->app->cfg.redis_timeout_ms, fetched, f, 6, argv, NULL) !=
        JC_OK) {
        struct timeval tv = {0, 500000};
        f->waiting = false;
        evtimer_add(f->retry, &tv);
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
    jc_redis_script_init(&w->promote_s, promote_lua);
    jc_redis_script_init(&w->recover_s, recover_lua);
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
    jc_info(app->log, "worker %s consuming with concurrency %ld", w->id,
            app->cfg.worker_concurrency);
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

static void check_drained(struct jc_worker *w)
{
    char key[160];

    if (!w->draining || w->running > 0 || w->drained_cb == NULL)
        return;
    /* everything reserved but not started goes back; then the heartbeat goes */
    while (w->pending != NULL) {
        struct jc_job_run *run = w->pending;
        w->pending = run->next;
        run_free(run);
    }
    w->npending = 0;
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
    jc_info(w->app->log, "worker %s draining: %d job(s) running", w->id, w->running);
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
    while (w->pending != NULL) {
        struct jc_job_run *run = w->pending;
        w->pending = run->next;
        run_free(run);
    }
    if (w->beat != NULL)
        event_free(w->beat);
    if (w->promote != NULL)
        event_free(w->promote);
    free(w);
}
