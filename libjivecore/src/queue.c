/* SPDX-License-Identifier: MIT */
/* queue.c: queue names, job messages, LPUSH and project events. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jc/keys.h"
#include "jc/clock.h"
#include "jc/queue.h"

static const char *const names[JC_Q_COUNT] = {"artifact-scan", "gate-evaluation",
                                              "conflict-detection", "story-move", "run-sync"};

const char *jc_queue_name(enum jc_queue q)
{
    return (unsigned)q < JC_Q_COUNT ? names[q] : NULL;
}

bool jc_queue_parse(const char *name, enum jc_queue *out)
{
    int i;

    for (i = 0; name != NULL && i < JC_Q_COUNT; i++) {
        if (strcmp(name, names[i]) == 0) {
            *out = (enum jc_queue)i;
            return true;
        }
    }
    return false;
}

enum jc_work_class jc_queue_class(enum jc_queue q)
{
    return q == JC_Q_CONFLICT_DETECTION || q == JC_Q_RUN_SYNC ? JC_WORK_DB : JC_WORK_GIT;
}

char *jc_queue_message(const struct jc_job *job)
{
    cJSON *m = cJSON_CreateObject();
    cJSON *payload = cJSON_Parse(job->payload != NULL ? job->payload : "{}");
    char *text = NULL;

    if (m == NULL || !cJSON_IsObject(payload) || jc_queue_name(job->queue) == NULL)
        goto out;
    cJSON_AddStringToObject(m, "id", job->id);
    cJSON_AddStringToObject(m, "queue", jc_queue_name(job->queue));
    cJSON_AddStringToObject(m, "project_id", job->project_id);
    cJSON_AddStringToObject(m, "org_id", job->org_id);
    if (job->event_id != NULL)
        cJSON_AddStringToObject(m, "event_id", job->event_id);
    else
        cJSON_AddNullToObject(m, "event_id");
    cJSON_AddNumberToObject(m, "attempt", job->attempt);
    cJSON_AddNumberToObject(m, "max_attempts", job->max_attempts);
    cJSON_AddItemToObject(m, "payload", payload);
    payload = NULL;
    text = cJSON_PrintUnformatted(m);
out:
    cJSON_Delete(payload);
    cJSON_Delete(m);
    return text;
}

enum jc_err jc_queue_push(struct jc_redis *r, enum jc_queue q, const char *message, jc_redis_cb *cb,
                          void *ud)
{
    char key[64];
    const char *argv[3] = {"LPUSH", key, message};

    if (jc_queue_name(q) == NULL || message == NULL)
        return JC_EINVAL;
    jc_key_queue(key, sizeof(key), jc_queue_name(q));
    return jc_redis_command(r, 0, cb, ud, 3, argv, NULL);
}

char *jc_events_with_id(const char *stream_id, const char *json, size_t len)
{
    size_t n = len + strlen(stream_id) + 20;
    char *out;

    if (len < 2 || json[0] != '{' || (out = malloc(n)) == NULL)
        return NULL;
    /* the same splice as publish_lua below does for the channel */
    snprintf(out, n, "{\"stream_id\":\"%s\",%.*s", stream_id, (int)len - 1, json + 1);
    return out;
}

/*
 * KEYS: the project's stream, its channel; ARGV: the event (a JSON object), the cap. The event
 * is appended to the stream (trimmed to about the cap, expiring after a week without events),
 * then published with the entry's id spliced in front as "stream_id", so that a listener can
 * resume from the stream where the channel left off. Returns the id.
 */
static const char publish_lua[] =
    "local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'e', ARGV[1])\n"
    "redis.call('PEXPIRE', KEYS[1], 604800000)\n"
    "redis.call('PUBLISH', KEYS[2], '{\"stream_id\":\"' .. id .. '\",' .. "
    "string.sub(ARGV[1], 2))\n"
    "return id\n";

enum jc_err jc_events_publish(struct jc_redis *r, const char *project_id, const char *type,
                              const char *job_id, const cJSON *data, jc_redis_cb *cb, void *ud)
{
    char channel[96], stream[JC_KEY_LEN], cap[16];
    char at[JC_ISO_LEN];
    cJSON *ev = cJSON_CreateObject();
    char *text = NULL;
    enum jc_err rc = JC_ENOMEM;

    if (ev == NULL)
        return JC_ENOMEM;
    jc_clock_iso(at);
    cJSON_AddStringToObject(ev, "type", type);
    cJSON_AddStringToObject(ev, "project_id", project_id);
    cJSON_AddStringToObject(ev, "at", at);
    if (job_id != NULL)
        cJSON_AddStringToObject(ev, "job_id", job_id);
    else
        cJSON_AddNullToObject(ev, "job_id");
    cJSON_AddItemToObject(ev, "data",
                          data != NULL ? cJSON_Duplicate(data, 1) : cJSON_CreateObject());
    text = cJSON_PrintUnformatted(ev);
    if (text != NULL) {
        /* EVAL with the source (Redis keeps it compiled by its hash): no script state here */
        const char *argv[7] = {"EVAL", publish_lua, "2", stream, channel, text, cap};
        jc_key_events(stream, sizeof(stream), project_id);
        jc_channel_project(channel, sizeof(channel), project_id);
        snprintf(cap, sizeof(cap), "%d", JC_EVENTS_KEPT);
        rc = jc_redis_command(r, 0, cb, ud, 7, argv, NULL);
    }
    cJSON_free(text);
    cJSON_Delete(ev);
    return rc;
}
