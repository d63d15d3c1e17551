/* SPDX-License-Identifier: MIT */
/*
 * kanban.c: kanban_move_story. The move itself is the orchestrator's story-move job (a
 * one-line commit pushed to the tracked branch); this tool creates the job under row-level
 * security, queues it, and waits for its outcome up to waitMs. With an idempotencyKey the first
 * call claims jive:idem:<org>:<actor>:<key> (SET NX, 24 h) before creating anything, so a retry
 * (even a concurrent one) returns the same job and never makes a second commit. The key is bound
 * to the move it was first used for (a hash of project, story, status and expectedHash): the same
 * key with another move is refused, never answered with the first move's result.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jc/keys.h"
#include "jc/crypto.h"
#include "jc/outbox.h"
#include "jc/queue.h"
#include "mcp.h"

#define POLL_MS 100
#define IDEM_TTL "86400"

struct move {
    struct mcp_call *c;
    char job_id[JC_UUID_LEN];
    char idem_key[400];
    char args_fp[JC_SHA256_HEX_LEN]; /* what the move is: the key's binding */
    long wait_ms;
    long waited_ms;
    struct event *timer;
    bool task; /* answer a task handle instead of waiting (tasks.c) */
};

static void move_end(struct move *m)
{
    if (m->timer != NULL)
        event_free(m->timer);
    free(m);
}

/* Remembers a final outcome for the idempotency key (the claim held the job id until now). */
static void remember(struct move *m, const cJSON *outcome)
{
    char *text;
    const char *argv[5];

    cJSON *rec;

    if (m->idem_key[0] == '\0')
        return;
    rec = cJSON_Duplicate(outcome, 1);
    if (rec != NULL)
        cJSON_AddStringToObject(rec, "idempotency_args", m->args_fp);
    text = cJSON_PrintUnformatted(rec);
    cJSON_Delete(rec);
    if (text == NULL)
        return;
    argv[0] = "SET";
    argv[1] = m->idem_key;
    argv[2] = text;
    argv[3] = "EX";
    argv[4] = IDEM_TTL;
    if (jc_redis_command(m->c->mcp->app->redis, 0, NULL, NULL, 5, argv, NULL) != JC_OK)
        jc_debug(m->c->mcp->app->log, "idempotency result not stored");
    cJSON_free(text);
}

enum mcp_move_state mcp_move_outcome(const char *job_id, const cJSON *job, cJSON **out, char *msg,
                                     size_t len)
{
    const char *status = cJSON_GetStringValue(cJSON_GetObjectItem(job, "status"));
    const cJSON *result = cJSON_GetObjectItem(job, "result");

    *out = cJSON_CreateObject();
    msg[0] = '\0';
    cJSON_AddStringToObject(*out, "job_id", job_id);
    cJSON_AddStringToObject(*out, "status", status != NULL ? status : "queued");
    if (status != NULL && strcmp(status, "succeeded") == 0) {
        const char *keys[] = {"commit", "path", "key", "from", "to", "content_hash"};
        size_t i;
        for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
            const cJSON *v = cJSON_GetObjectItem(result, keys[i]);
            if (cJSON_IsString(v))
                cJSON_AddStringToObject(*out, keys[i], v->valuestring);
        }
        cJSON_AddBoolToObject(*out, "unchanged",
                              cJSON_IsTrue(cJSON_GetObjectItem(result, "unchanged")));
        return MOVE_DONE;
    }
    if (status != NULL && (strcmp(status, "failed") == 0 || strcmp(status, "dead") == 0)) {
        const char *error = cJSON_GetStringValue(cJSON_GetObjectItem(job, "error"));
        cJSON_AddStringToObject(*out, "error", error != NULL ? error : "the move failed");
        snprintf(msg, len, "the move was refused: %s", error != NULL ? error : "unknown error");
        return MOVE_REFUSED;
    }
    cJSON_AddStringToObject(*out, "message",
                            "the move is still running: call jobs_get with this job_id");
    return MOVE_RUNNING;
}

static void finish(struct move *m, cJSON *job)
{
    struct mcp_call *c = m->c;
    cJSON *out = NULL;
    char msg[600];

    switch (mcp_move_outcome(m->job_id, job, &out, msg, sizeof(msg))) {
    case MOVE_DONE:
        remember(m, out);
        move_end(m);
        mcp_tool_result(c, out);
        return;
    case MOVE_REFUSED:
        remember(m, out);
        cJSON_Delete(out);
        move_end(m);
        mcp_tool_error(c, "%s", msg);
        return;
    case MOVE_RUNNING:
        break;
    }
    move_end(m);
    mcp_tool_result(c, out);
}

/* Task augmentation (2026-07-28, io.modelcontextprotocol/tasks): the committed job is the task;
 * its handle answers at once and tasks/get follows it (tasks.c). */
static void answer_task(struct move *m)
{
    struct mcp_call *c = m->c;
    cJSON *task = mcp_task_handle(m->job_id);

    move_end(m);
    mcp_tool_task(c, task);
}

static void poll(evutil_socket_t fd, short what, void *arg);

static void polled(struct mcp_call *c, cJSON *json, enum jc_err err, const char *msg)
{
    struct move *m = NULL;
    cJSON *job;
    const char *status;
    struct timeval tv = {0, POLL_MS * 1000};

    m = c->tool_state;
    if (err != JC_OK) {
        move_end(m);
        mcp_db_error(c, "the move may still happen, check jobs_get later", msg);
        cJSON_Delete(json);
        return;
    }
    job = cJSON_GetObjectItem(json, "job");
    status = cJSON_GetStringValue(cJSON_GetObjectItem(job, "status"));
    if ((status != NULL && (strcmp(status, "succeeded") == 0 || strcmp(status, "failed") == 0 ||
                            strcmp(status, "dead") == 0)) ||
        m->waited_ms >= m->wait_ms) {
        finish(m, job);
        cJSON_Delete(json);
        return;
    }
    cJSON_Delete(json);
    m->waited_ms += POLL_MS;
    evtimer_add(m->timer, &tv);
}

static void poll(evutil_socket_t fd, short what, void *arg)
{
    struct move *m = arg;
    const char *p[1] = {m->job_id};

    (void)fd;
    (void)what;
    mcp_db(m->c,
           "SELECT json_build_object('job', (SELECT json_build_object('status', status, "
           "'result', result, 'error', error) FROM jobs WHERE id = $1::uuid))::text",
           1, p, polled);
}

static void sent(enum jc_err err, const char *msg, void *ud)
{
    struct move *m = ud;

    if (err != JC_OK) {
        /* committed: the outbox sweeper queues it; we simply wait longer */
        jc_warn(m->c->mcp->app->log, "job %s not queued yet (%s)", m->job_id, msg);
    }
    if (m->task)
        answer_task(m); /* the job row is committed: tasks/get finds it from now on */
    else
        poll(-1, 0, m);
}

static void created(struct mcp_call *c, cJSON *json, enum jc_err err, const char *msg)
{
    struct move *m = c->tool_state;
    const char *org = cJSON_GetStringValue(cJSON_GetObjectItem(json, "org_id"));
    const char *payload = cJSON_GetStringValue(cJSON_GetObjectItem(json, "payload"));
    struct jc_job job = {0};

    if (err != JC_OK || org == NULL) {
        cJSON_Delete(json);
        if (m->idem_key[0] != '\0') {
            const char *argv[2] = {"DEL", m->idem_key};
            if (jc_redis_command(c->mcp->app->redis, 0, NULL, NULL, 2, argv, NULL) != JC_OK)
                jc_debug(c->mcp->app->log, "idempotency claim not released");
        }
        move_end(m);
        if (err != JC_OK)
            mcp_db_error(c, "nothing was moved", msg);
        else
            mcp_tool_error(c, "project %s not found, or not visible to this token", c->project_id);
        return;
    }
    job.id = m->job_id;
    job.queue = JC_Q_STORY_MOVE;
    job.project_id = c->project_id;
    job.org_id = org;
    job.payload = payload;
    if (jc_outbox_send(c->mcp->app->pg, c->mcp->app->redis, &c->mcp->app->cfg, &job, true, sent,
                       m) != JC_OK)
        sent(JC_EREDIS, "cannot submit", m);
    cJSON_Delete(json);
}

static void create_job(struct move *m)
{
    struct mcp_call *c = m->c;
    cJSON *payload = cJSON_CreateObject(), *actor;
    const char *k;
    char *text, max[16];
    const char *p[6];

    if ((k = cJSON_GetStringValue(cJSON_GetObjectItem(c->args, "key"))) != NULL)
        cJSON_AddStringToObject(payload, "key", k);
    if ((k = cJSON_GetStringValue(cJSON_GetObjectItem(c->args, "path"))) != NULL)
        cJSON_AddStringToObject(payload, "path", k);
    cJSON_AddStringToObject(payload, "status",
                            cJSON_GetStringValue(cJSON_GetObjectItem(c->args, "status")));
    if ((k = cJSON_GetStringValue(cJSON_GetObjectItem(c->args, "expectedHash"))) != NULL)
        cJSON_AddStringToObject(payload, "expected_hash", k);
    actor = cJSON_AddObjectToObject(payload, "actor");
    cJSON_AddStringToObject(actor, "id", c->who.sub);
    cJSON_AddStringToObject(actor, "name", c->who.name[0] != '\0' ? c->who.name : c->who.sub);
    text = cJSON_PrintUnformatted(payload);
    cJSON_Delete(payload);
    p[0] = c->project_id;
    p[1] = m->job_id;
    p[2] = text;
    p[3] = c->req->request_id;
    p[4] = c->req->traceparent;
    snprintf(max, sizeof(max), "%d", c->mcp->app->cfg.max_attempts[JC_Q_STORY_MOVE]);
    p[5] = max;
    mcp_db(c,
           "WITH p AS (SELECT id, org_id FROM projects WHERE id = $1::uuid),"
           " j AS (INSERT INTO jobs (id, org_id, project_id, queue, payload, request_id,"
           "  traceparent, max_attempts) SELECT $2::uuid, org_id, id, 'story-move', $3::jsonb,"
           "  $4, $5, $6::int FROM p RETURNING org_id, payload::text)"
           " SELECT (SELECT json_build_object('org_id', org_id, 'payload', payload) FROM j)::text",
           6, p, created);
    cJSON_free(text);
}

/* The key names another move: an error that says so; nothing is moved or replayed. */
static void reused(struct move *m)
{
    struct mcp_call *c = m->c;
    const char *idem = cJSON_GetStringValue(cJSON_GetObjectItem(c->args, "idempotencyKey"));

    move_end(m);
    mcp_tool_error(c,
                   "idempotencyKey '%.100s' was already used for another move (other project, "
                   "story, status or expectedHash); use a new key for a new move",
                   idem != NULL ? idem : "");
}

static void previous(const redisReply *r, enum jc_err err, const char *msg, void *ud)
{
    struct move *m = ud;
    struct mcp_call *c = m->c;
    cJSON *rec;

    (void)msg;
    if (err != JC_OK || r->type != REDIS_REPLY_STRING) {
        move_end(m);
        mcp_tool_error(c, "idempotency store unavailable (Redis); retry shortly");
        return;
    }
    if (strncmp(r->str, "job:", 4) == 0) {
        /* the first call is still waiting on its job: wait on the same job, if it is this move */
        const char *fp = strlen(r->str) > 41 && r->str[40] == ':' ? r->str + 41 : NULL;
        if (fp != NULL && strcmp(fp, m->args_fp) != 0) {
            reused(m);
            return;
        }
        snprintf(m->job_id, sizeof(m->job_id), "%.36s", r->str + 4);
        m->idem_key[0] = '\0';
        if (m->task)
            answer_task(m);
        else
            poll(-1, 0, m);
        return;
    }
    rec = cJSON_Parse(r->str);
    {
        const char *fp =
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rec, "idempotency_args"));
        if (fp != NULL && strcmp(fp, m->args_fp) != 0) {
            cJSON_Delete(rec);
            reused(m);
            return;
        }
        cJSON_DeleteItemFromObjectCaseSensitive(rec, "idempotency_args");
    }
    move_end(m);
    if (cJSON_GetObjectItem(rec, "error") != NULL) {
        mcp_tool_error(c, "the move was refused: %s",
                       cJSON_GetStringValue(cJSON_GetObjectItem(rec, "error")));
        cJSON_Delete(rec);
        return;
    }
    mcp_tool_result(c, rec != NULL ? rec : cJSON_CreateObject());
}

static void claim_replied(const redisReply *r, enum jc_err err, const char *msg, void *ud)
{
    struct move *m = ud;
    struct mcp_call *c = m->c;

    (void)msg;
    if (err != JC_OK) {
        /* no Redis: no idempotency guarantee; refuse rather than risk two commits */
        move_end(m);
        mcp_tool_error(c, "idempotency store unavailable (Redis); retry shortly");
        return;
    }
    if (r->type == REDIS_REPLY_NIL) {
        /* the key was used before: a job id while it runs, the outcome once it finished */
        const char *argv[2] = {"GET", m->idem_key};
        if (jc_redis_command(c->mcp->app->redis, 0, previous, m, 2, argv, NULL) != JC_OK)
            previous(NULL, JC_EREDIS, "cannot submit", m);
        return;
    }
    create_job(m);
}

void mcp_kanban_move_story(struct mcp_call *c)
{
    struct move *m;
    const char *idem = cJSON_GetStringValue(cJSON_GetObjectItem(c->args, "idempotencyKey"));
    const cJSON *wait = cJSON_GetObjectItem(c->args, "waitMs");
    const char *pid = cJSON_GetStringValue(cJSON_GetObjectItem(c->args, "project_id"));

    if (pid == NULL || !jc_crypto_is_uuid(pid)) {
        mcp_tool_error(c, "project_id must be a project's UUID (projects_list shows them)");
        return;
    }
    snprintf(c->project_id, sizeof(c->project_id), "%s", pid);
    if (cJSON_GetObjectItem(c->args, "key") == NULL &&
        cJSON_GetObjectItem(c->args, "path") == NULL) {
        mcp_tool_error(c, "give the story's key (e.g. \"2.3\") or its path");
        return;
    }
    m = calloc(1, sizeof(*m));
    if (m == NULL || jc_crypto_uuid4(m->job_id) != JC_OK) {
        free(m);
        mcp_tool_error(c, "out of memory");
        return;
    }
    m->c = c;
    c->tool_state = m;
    m->task = mcp_client_has_tasks(c);
    m->wait_ms = cJSON_IsNumber(wait) ? (long)wait->valuedouble : 10000;
    m->timer = evtimer_new(c->mcp->app->base, poll, m);
    if (m->timer == NULL) {
        move_end(m);
        mcp_tool_error(c, "out of memory");
        return;
    }
    if (idem == NULL) {
        create_job(m);
        return;
    }
    jc_key_idem(m->idem_key, sizeof(m->idem_key), c->org_id, c->who.sub, idem);
    {
        /* the move the key stands for; waitMs and the key itself are not part of it */
        static const char *const what[] = {"project_id", "key", "path", "status", "expectedHash"};
        char buf[1500];
        size_t n = 0, i;
        for (i = 0; i < sizeof(what) / sizeof(what[0]) && n < sizeof(buf); i++) {
            const char *v = cJSON_GetStringValue(cJSON_GetObjectItem(c->args, what[i]));
            n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s=%s%c", what[i], v != NULL ? v : "",
                                  0x1f);
        }
        if (n >= sizeof(buf) || jc_crypto_sha256_hex(buf, n, m->args_fp) != JC_OK) {
            move_end(m);
            mcp_tool_error(c, "the move's arguments are too long");
            return;
        }
    }
    {
        char val[48 + JC_SHA256_HEX_LEN];
        const char *argv[6] = {"SET", m->idem_key, val, "NX", "EX", IDEM_TTL};
        snprintf(val, sizeof(val), "job:%s:%s", m->job_id, m->args_fp);
        if (jc_redis_command(c->mcp->app->redis, 0, claim_replied, m, 6, argv, NULL) != JC_OK)
            claim_replied(NULL, JC_EREDIS, "cannot submit", m);
    }
}
