/* SPDX-License-Identifier: MIT */
/*
 * jc/keys.h: every Redis key and channel name JIVE uses, in one place (docs/QUEUE.md describes
 * what each holds). The functions write the name into buf (len bytes, JC_KEY_LEN is enough for
 * ids of up to 200 bytes; a longer name is cut) and return buf.
 */
#ifndef JC_KEYS_H
#define JC_KEYS_H

#include <stddef.h>

#define JC_KEY_LEN 512

#define JC_KEY_DELAYED "jive:delayed"   /* sorted set: jobs waiting for their retry time */
#define JC_KEY_WORKERS "jive:workers"   /* set: ids of the workers that ever started */
#define JC_KEY_EPOCH "jive:epoch"       /* this Redis's identity (a restart without data) */
#define JC_KEY_NO_LOCK "jive:lock:none" /* a lock name that is never held */
#define JC_CHANNEL_PROJECTS "project:*" /* every project's channel (subscribe pattern) */
#define JC_CHANNEL_PREFIX "project:"
#define JC_CHANNEL_SESSIONS "jive:sessions" /* a session's subscriptions changed (its id) */

/* jive:q:<queue>: the list a queue's messages wait in. */
const char *jc_key_queue(char *buf, size_t len, const char *queue);
/* jive:dead:<queue>: messages out of attempts. */
const char *jc_key_dead(char *buf, size_t len, const char *queue);
/* jive:active:<worker>: the messages a worker has reserved (reliable fetch). */
const char *jc_key_active(char *buf, size_t len, const char *worker_id);
/* jive:worker:<worker>: the worker's heartbeat. */
const char *jc_key_worker(char *buf, size_t len, const char *worker_id);
/* jive:lock:job:<job>: one run of a job at a time. */
const char *jc_key_job_lock(char *buf, size_t len, const char *job_id);
/* jive:lock:project:<project>: one job at a time in a project's working copy. */
const char *jc_key_project_lock(char *buf, size_t len, const char *project_id);
/* jive:rl:<org>:<subject>: an MCP caller's token bucket. */
const char *jc_key_rate(char *buf, size_t len, const char *org_id, const char *subject);
/* jive:idem:<org>:<subject>:<key>: a kanban move's idempotency record. */
const char *jc_key_idem(char *buf, size_t len, const char *org_id, const char *subject,
                        const char *key);
/* jive:events:<project>: a project's recent events (a capped stream, jc_events_publish). */
const char *jc_key_events(char *buf, size_t len, const char *project_id);
/* jive:session:<id>: an MCP session of the 2025 era ("<org id> <subject>"), with a TTL. */
const char *jc_key_session(char *buf, size_t len, const char *session_id);
/* jive:session:<id>:subs: the jive:// URIs the session subscribed to (a set, same TTL). */
const char *jc_key_session_subs(char *buf, size_t len, const char *session_id);
/* project:<project>: the channel of a project's events. */
const char *jc_channel_project(char *buf, size_t len, const char *project_id);

#endif
