/* SPDX-License-Identifier: MIT */
/*
 * jc/worker.h: the reliable consumer of the job queue (docs/QUEUE.md).
 *
 * - Reserve: up to the free slots' worth of messages move from jive:q:<queue> to
 *   jive:active:<worker> in one script call; when the queue was empty, BLMOVE blocks for the
 *   next one. One Redis connection per queue that has a handler, never the shared one.
 * - Claim, a batch at a time: the jobs reserved together take their Redis locks (one per job
 *   id, so a duplicate message never runs concurrently on another worker) in one script call,
 *   and their rows go to 'running' (attempts + 1) in one statement, unless a job already
 *   succeeded or died (a duplicate message is then dropped). A failed claim puts every
 *   message of the batch back, attempt unspent; a message that is not a job (its id not a
 *   UUID) is dropped before it can join a batch.
 * - Ack: LREM from the active list only after the handler's effects and the job row are
 *   committed (jc_job_succeed).
 * - Retry: up to the queue's max attempts with exponential backoff and jitter through the
 *   jive:delayed sorted set; then jive:dead:<queue> and the row 'dead' with the last error.
 * - Crash recovery: the worker refreshes jive:worker:<id> (TTL); any worker finding an expired
 *   heartbeat moves that worker's active jobs back to their queues (atomic Lua).
 * Slots: at most cfg.worker_concurrency git-bound jobs and cfg.worker_db_concurrency
 * database-only jobs (jc_queue_class) run at once, each class with its own, so a burst of one
 * never holds back the other. Everything runs on the app's loop.
 */
#ifndef JC_WORKER_H
#define JC_WORKER_H

#include <cjson/cJSON.h>

#include "jc/app.h"
#include "jc/queue.h"

struct jc_worker;

/* One reserved job while its handler runs. Read-only for handlers. */
struct jc_job_run {
    struct jc_worker *worker;
    struct jc_job job;    /* strings point into msg */
    const cJSON *payload; /* the job's payload object */
    int attempt;          /* 1 for the first run */
    char *raw;            /* the message exactly as reserved (owned) */
    cJSON *msg;           /* parsed message (owned) */
    char started_at[40];  /* ISO-8601 */
    double t0;            /* monotonic seconds */
    cJSON *result, *hist; /* a succeeded job's, until its completion statement (owned) */
    bool locked;          /* its reservation took the job lock */
    struct jc_job_run *next;
};

/*
 * A job handler: does the job's work, commits its effects, then calls exactly one of
 * jc_job_succeed or jc_job_fail (now or later). Handlers must be idempotent: a job can run
 * again after a crash between its commit and its acknowledgement.
 */
typedef void jc_job_handler(struct jc_job_run *run, void *ud);

/*
 * Starts consuming the queues that have a handler (handlers[q] may be NULL: that queue is not
 * consumed by this process). Returns NULL on allocation failure.
 */
struct jc_worker *jc_worker_new(struct jc_app *app, jc_job_handler *const handlers[JC_Q_COUNT],
                                void *ud);

/* The job's effects are committed: mark it succeeded (result taken, may be NULL), ack it,
 * publish job.succeeded. run is freed. */
void jc_job_succeed(struct jc_job_run *run, cJSON *result);

/* The attempt failed: retry later with backoff, or dead-letter after the last attempt; publish
 * job.failed. run is freed. */
void jc_job_fail(struct jc_job_run *run, const char *fmt, ...) JC_PRINTF(2, 3);

/*
 * The job cannot succeed, whatever the attempt (invalid input, a refused move): status 'failed'
 * with the error, no retry, no dead letter; publish job.failed. run is freed.
 */
void jc_job_reject(struct jc_job_run *run, const char *fmt, ...) JC_PRINTF(2, 3);

/*
 * Not now (a resource is busy, e.g. the project's workspace): the job goes back on its queue
 * after delay_ms without spending an attempt. run is freed.
 */
void jc_job_defer(struct jc_job_run *run, long delay_ms);

/*
 * Stops reserving, waits for running handlers, puts jobs reserved but not started back on
 * their queues, removes the heartbeat, then calls cb. The worker may then be freed.
 */
void jc_worker_drain(struct jc_worker *w, void (*cb)(void *ud), void *ud);

/* Frees a drained worker; NULL is a no-op. */
void jc_worker_free(struct jc_worker *w);

/* The app the worker runs in (handlers reach the pools through it). */
struct jc_app *jc_worker_app(const struct jc_worker *w);

/* This worker's id (jive:worker:<id>, jive:active:<id>). */
const char *jc_worker_id(const struct jc_worker *w);

#endif
