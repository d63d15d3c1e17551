/* SPDX-License-Identifier: MIT */
/*
 * jc/queue.h: the job queue's names and messages, LPUSH onto jive:q:<queue>, and the events
 * published on project:<id>. Message: {"id","queue","project_id","org_id","event_id",
 * "attempt","max_attempts","payload"}. Event: {"type","project_id","at","job_id","data"}.
 */
#ifndef JC_QUEUE_H
#define JC_QUEUE_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "jc/err.h"
#include "jc/redis.h"

enum jc_queue {
    JC_Q_ARTIFACT_SCAN,
    JC_Q_GATE_EVALUATION,
    JC_Q_CONFLICT_DETECTION,
    JC_Q_STORY_MOVE,
    JC_Q_RUN_SYNC,
    JC_Q_COUNT
};

/* "artifact-scan", ...; NULL for an out-of-range value. */
const char *jc_queue_name(enum jc_queue q);

/* Parses a queue name; false when unknown. */
bool jc_queue_parse(const char *name, enum jc_queue *out);

/* What a queue's jobs wait on, so that the worker gives each its own slots: git-bound jobs
 * (artifact-scan, gate-evaluation and story-move read or write the project's working copy,
 * under its lock) and database-only jobs (conflict-detection, run-sync: a few statements). */
enum jc_work_class { JC_WORK_GIT, JC_WORK_DB, JC_WORK_CLASSES };
enum jc_work_class jc_queue_class(enum jc_queue q);

/* One job as stored in the jobs table and carried in its message. Strings borrowed. */
struct jc_job {
    const char *id;
    enum jc_queue queue;
    const char *project_id;
    const char *org_id;
    const char *event_id; /* may be NULL */
    int attempt;
    int max_attempts;
    const char *payload; /* JSON object text */
};

/* The message for job as a malloc'd JSON string (free()); NULL on ENOMEM or a payload that is
 * not a JSON object. */
char *jc_queue_message(const struct jc_job *job);

/*
 * LPUSHes message onto jive:q:<queue> of job (message from jc_queue_message). cb follows
 * jc_redis_command's rules; the reply is the list length.
 */
enum jc_err jc_queue_push(struct jc_redis *r, enum jc_queue q, const char *message, jc_redis_cb *cb,
                          void *ud) JC_MUSTCHECK;

/* Events kept per project in its stream (jive:events:<project>), about this many. */
#define JC_EVENTS_KEPT 1000

/*
 * An event as stored in its stream (json, len bytes, a JSON object) as the channel shows it:
 * with "stream_id" first. malloc'd (free()); NULL when json is not an object or on ENOMEM.
 */
char *jc_events_with_id(const char *stream_id, const char *json, size_t len);

/* One event to publish: job_id may be NULL; data is borrowed (NULL: {}). */
struct jc_event {
    const char *project_id;
    const char *type;
    const char *job_id;
    const cJSON *data;
};

/*
 * Appends each of the n events, in order, as {"type","project_id","at","job_id","data"} to its
 * project's event stream (jive:events:<project_id>, the last JC_EVENTS_KEPT or so, expiring
 * after a week without events) and PUBLISHes it on project:<project_id> with the stream entry's
 * id first as "stream_id": all n in one script call. cb may be NULL (fire and forget: failures
 * only cost a notification, the state is in Postgres); its reply is the array of stream ids.
 */
enum jc_err jc_events_publish_all(struct jc_redis *r, const struct jc_event *ev, int n,
                                  jc_redis_cb *cb, void *ud) JC_MUSTCHECK;

/* jc_events_publish_all of one event. */
enum jc_err jc_events_publish(struct jc_redis *r, const char *project_id, const char *type,
                              const char *job_id, const cJSON *data, jc_redis_cb *cb,
                              void *ud) JC_MUSTCHECK;

#endif
