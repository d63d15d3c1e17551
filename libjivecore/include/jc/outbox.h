/* SPDX-License-Identifier: MIT */
/*
 * jc/outbox.h: the transactional outbox of the job queue. A job is committed to Postgres before
 * its message goes to Redis; jobs whose message never made it (Redis down, crash in between)
 * are found by a periodic sweep and pushed. Several replicas may sweep at once: rows are taken
 * with FOR UPDATE SKIP LOCKED, so no job is pushed by two sweepers concurrently.
 *
 * Redis losing its data (a restart without persistence, a failover to an empty replica) takes
 * the messages of queued jobs with it. Each sweep first sets the key jive:epoch if it is missing
 * (SET NX); when it was missing, the queued jobs' rows are unmarked (enqueued_at NULL) and the
 * sweep pushes them again. A message that survived becomes a duplicate, dropped at claim time.
 */
#ifndef JC_OUTBOX_H
#define JC_OUTBOX_H

#include "jc/config.h"
#include "jc/log.h"
#include "jc/metrics.h"
#include "jc/pg.h"
#include "jc/queue.h"
#include "jc/redis.h"

struct jc_outbox;

/* Called when a drained outbox has finished its last sweep; the outbox may then be freed. */
typedef void jc_outbox_drained_cb(void *ud);

/*
 * Starts sweeping every interval_ms for jobs at least min_age_ms old (younger ones may still be
 * on their way through the request that created them). pg, redis, log and metrics are borrowed.
 */
struct jc_outbox *jc_outbox_new(struct event_base *base, struct jc_pg *pg, struct jc_redis *r,
                                struct jc_log *log, struct jc_metrics *metrics, long interval_ms,
                                long min_age_ms);

/* Stops sweeping; cb runs once the sweep in progress (if any) has finished. */
void jc_outbox_drain(struct jc_outbox *ob, jc_outbox_drained_cb *cb, void *ud);

/* Frees a drained (or never started) outbox; NULL is a no-op. */
void jc_outbox_free(struct jc_outbox *ob);

/*
 * Marks jobs enqueued: ids_pg_array is a Postgres array literal of job uuids ("{a,b}"); the
 * webhook events of those jobs become 'enqueued'. cb as jc_pg_query.
 */
enum jc_err jc_outbox_mark_enqueued(struct jc_pg *pg, const char *ids_pg_array, jc_pg_cb *cb,
                                    void *ud) JC_MUSTCHECK;

/* A committed job's message: JC_OK once it is on its queue, else why not (the sweep pushes it
 * then, and the job runs all the same). */
typedef void jc_outbox_sent_cb(enum jc_err err, const char *msg, void *ud);

/*
 * The one producer path, for a job whose row is committed (jive-webhook's deliveries and
 * operator route, jive-mcp's story moves): its message, with the queue's max_attempts from
 * cfg, is pushed onto jive:q:<queue>; with mark, the row is then marked enqueued (a producer
 * that batches its marks, as jive-webhook's deliveries do, passes false and marks the pushed
 * jobs itself). A lost mark only makes the sweep push the job again, a duplicate the claim
 * drops. cb is called exactly once, later; an error return (out of memory, Redis client gone)
 * means no callback, and the sweep pushes the job.
 */
enum jc_err jc_outbox_send(struct jc_pg *pg, struct jc_redis *redis, const struct jc_config *cfg,
                           const struct jc_job *job, bool mark, jc_outbox_sent_cb *cb,
                           void *ud) JC_MUSTCHECK;

#endif
