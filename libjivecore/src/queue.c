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
 * KEYS: pairs of a project's stream and its channel; ARGV: one event (a JSON object) per pair,
 * then the cap. Each event is appended to its stream (trimmed to about the cap, expiring after
 * a week without events), then published with the entry's id spliced in front as "stream_id",
 * so that a listener can resume from the stream where the channel left off. Returns the ids.
 */
static const char publish_lua[] =
    "local ids, cap = {}, ARGV[#ARGV]\n"
    "for i = 1, #KEYS, 2 do\n"
    "  local e = ARGV[(i + 1) / 2]\n"
    "  local id = redis.call('XADD', KEYS[i], 'MAXLEN', '~', cap, '*', 'e', e)\n"
    "  redis.call('PEXPIRE', KEYS[i], 604800000)\n"
    "  redis.call('PUBLISH', KEYS[i + 1], '{\"stream_id\":\"' .. id .. '\",' .. "
    "string.sub(e, 2))\n"
    "  ids[#ids + 1] = id\n"
    "end\n"
    "return ids\n";

/* The event's text as its stream keeps it. malloc'd by cJSON (cJSON_free), NULL on ENOMEM. */
static char *event_text(const struct jc_event *e, const char *at)
{
    cJSON *ev = cJSON_CreateObject();
    char *text;

    if (ev == NULL)
        return NULL;
    cJSON_AddStringToObject(ev, "type", e->type);
    cJSON_AddStringToObject(ev, "project_id", e->project_id);
    cJSON_AddStringToObject(ev, "at", at);
    if (e->job_id != NULL)
        cJSON_AddStringToObject(ev, "job_id", e->job_id);
    else
        cJSON_AddNullToObject(ev, "job_id");
    cJSON_AddItemToObject(ev, "data",
                          e->data != NULL ? cJSON_Duplicate(e->data, 1) : cJSON_CreateObject());
    text = cJSON_PrintUnformatted(ev);
    cJSON_Delete(ev);
    return text;
}

enum jc_err jc_events_publish_all(struct jc_redis *r, const struct jc_event *ev, int n,
                                  jc_redis_cb *cb, void *ud)
{
    char at[JC_ISO_LEN], nkeys[16], cap[16];
    const char **argv = NULL;
    char(*keys)[2][JC_KEY_LEN] = NULL;
    char **texts = NULL;
    enum jc_err rc = JC_ENOMEM;
    int i, argc = 4 + 3 * n;

    if (n < 1)
        return JC_EINVAL;
    argv = calloc((size_t)argc, sizeof(*argv));
    keys = calloc((size_t)n, sizeof(*keys));
    texts = calloc((size_t)n, sizeof(*texts));
    if (argv == NULL || keys == NULL || texts == NULL)
        goto fail;
    /* EVAL with the source (Redis keeps it compiled by its hash): no script state here */
    jc_clock_iso(at);
    snprintf(nkeys, sizeof(nkeys), "%d", 2 * n);
    snprintf(cap, sizeof(cap), "%d", JC_EVENTS_KEPT);
    argv[0] = "EVAL";
    argv[1] = publish_lua;
    argv[2] = nkeys;
    for (i = 0; i < n; i++) {
        if ((texts[i] = event_text(&ev[i], at)) == NULL)
            goto fail;
        jc_key_events(keys[i][0], sizeof(keys[i][0]), ev[i].project_id);
        jc_channel_project(keys[i][1], sizeof(keys[i][1]), ev[i].project_id);
        argv[3 + 2 * i] = keys[i][0];
        argv[4 + 2 * i] = keys[i][1];
        argv[3 + 2 * n + i] = texts[i];
    }
    argv[argc - 1] = cap;
    rc = jc_redis_command(r, 0, cb, ud, argc, argv, NULL);
fail:
    for (i = 0; texts != NULL && i < n; i++)
        cJSON_free(texts[i]);
    free(texts);
    free(keys);
    free(argv);
    return rc;
}

enum jc_err jc_events_publish(struct jc_redis *r, const char *project_id, const char *type,
                              const char *job_id, const cJSON *data, jc_redis_cb *cb, void *ud)
{
    const struct jc_event e = {project_id, type, job_id, data};

    return jc_events_publish_all(r, &e, 1, cb, ud);
}
