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

enum jc_err jc_events_publish(struct jc_redis *r, const char *project_id, const char *type,
                              const char *job_id, const cJSON *data, jc_redis_cb *cb, void *ud)
{
    char channel[96];
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
        const char *argv[3] = {"PUBLISH", channel, text};
        jc_channel_project(channel, sizeof(channel), project_id);
        rc = jc_redis_command(r, 0, cb, ud, 3, argv, NULL);
    }
    cJSON_free(text);
    cJSON_Delete(ev);
    return rc;
}
