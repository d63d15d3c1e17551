/* SPDX-License-Identifier: MIT */
/*
 * tasks.c: the MCP tasks extension (io.modelcontextprotocol/tasks, 2026-07-28). A tool whose
 * work is a queued job (kanban_move_story) answers a client that declares the extension with a
 * task handle instead of waiting: the task is the job, its id the job's id, durable in Postgres
 * before the handle is sent, so any replica answers tasks/get. tasks/get reads the job under
 * row-level security (another org's task is unknown) and gives its status; once the job ended,
 * the result is the CallToolResult the synchronous call gives (mcp_move_outcome). tasks/cancel
 * is acknowledged but cooperative: a queued move is one commit and is not stopped. tasks/update
 * is acknowledged: no JIVE task ever asks for input. Without the extension a tool answers as
 * before.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "jc/crypto.h"
#include "mcp.h"

#define TASKS_EXTENSION "io.modelcontextprotocol/tasks"
#define POLL_INTERVAL_MS 500

bool mcp_client_has_tasks(const struct mcp_call *c)
{
    const cJSON *meta = cJSON_GetObjectItem(c->params, "_meta");
    const cJSON *caps = cJSON_GetObjectItem(meta, "io.modelcontextprotocol/clientCapabilities");

    return c->modern && cJSON_IsObject(cJSON_GetObjectItem(cJSON_GetObjectItem(caps, "extensions"),
                                                           TASKS_EXTENSION));
}

static void iso_now(char *out, size_t len)
{
    struct timespec ts;
    struct tm tm;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(out, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ts.tv_nsec / 1000000) % 1000);
}

/* The fields every Task carries. */
static cJSON *task(const char *id, const char *status, const char *message, const char *created,
                   const char *updated)
{
    cJSON *t = cJSON_CreateObject();

    cJSON_AddStringToObject(t, "taskId", id);
    cJSON_AddStringToObject(t, "status", status);
    if (message != NULL)
        cJSON_AddStringToObject(t, "statusMessage", message);
    cJSON_AddStringToObject(t, "createdAt", created);
    cJSON_AddStringToObject(t, "lastUpdatedAt", updated);
    cJSON_AddNullToObject(t, "ttlMs"); /* a job row is kept until an operator prunes it */
    cJSON_AddNumberToObject(t, "pollIntervalMs", POLL_INTERVAL_MS);
    return t;
}

cJSON *mcp_task_handle(const char *job_id)
{
    char now[80];

    iso_now(now, sizeof(now));
    return task(job_id, "working", "queued: the orchestrator commits the move", now, now);
}

/* ---- tasks/get, tasks/cancel, tasks/update ---- */

enum verb { GET, CANCEL, UPDATE };

cJSON *mcp_task_detail(const char *task_id, const cJSON *job)
{
    const char *status = cJSON_GetStringValue(cJSON_GetObjectItem(job, "status"));
    const char *created = cJSON_GetStringValue(cJSON_GetObjectItem(job, "created_at"));
    const char *updated = cJSON_GetStringValue(cJSON_GetObjectItem(job, "updated_at"));
    cJSON *out = NULL, *t;
    char text[600];
    char *s;

    if (created == NULL || updated == NULL)
        created = updated = "";
    switch (mcp_move_outcome(task_id, job, &out, text, sizeof(text))) {
    case MOVE_DONE:
        s = cJSON_PrintUnformatted(out);
        t = task(task_id, "completed", "the move is committed", created, updated);
        cJSON_AddItemToObject(t, "result", s != NULL ? mcp_tool_result_object(s) : NULL);
        cJSON_free(s);
        break;
    case MOVE_REFUSED: /* a tool error, as the synchronous call: completed, isError true */
        t = task(task_id, "completed", "the move was refused", created, updated);
        cJSON_AddItemToObject(t, "result", mcp_tool_error_object(text));
        break;
    case MOVE_RUNNING:
    default:
        t = task(task_id, "working",
                 status != NULL && strcmp(status, "running") == 0
                     ? "running: the orchestrator is committing the move"
                     : "queued: the orchestrator commits the move",
                 created, updated);
        break;
    }
    cJSON_Delete(out);
    return t;
}

static void read_task(struct mcp_call *c, cJSON *json, enum jc_err err, const char *msg,
                      enum verb v)
{
    const cJSON *job = cJSON_GetObjectItem(json, "job");
    const char *status = cJSON_GetStringValue(cJSON_GetObjectItem(job, "status"));
    cJSON *t;

    if (err != JC_OK) {
        cJSON_Delete(json);
        mcp_reply(c, NULL, -32603, NULL, msg);
        return;
    }
    if (!cJSON_IsObject(job) || status == NULL) {
        cJSON_Delete(json);
        mcp_reply(c, NULL, -32602, NULL, "unknown task (it does not exist, or is another org's)");
        return;
    }
    if (v != GET) { /* acknowledged: cancel is cooperative, and no task asks for input */
        cJSON_Delete(json);
        mcp_reply(c, cJSON_CreateObject(), 0, NULL, NULL);
        return;
    }
    t = mcp_task_detail(c->task_id, job);
    cJSON_Delete(json);
    mcp_reply(c, t, 0, NULL, NULL);
}

static void got(struct mcp_call *c, cJSON *json, enum jc_err err, const char *msg)
{
    read_task(c, json, err, msg, GET);
}

static void cancelled(struct mcp_call *c, cJSON *json, enum jc_err err, const char *msg)
{
    read_task(c, json, err, msg, CANCEL);
}

static void updated(struct mcp_call *c, cJSON *json, enum jc_err err, const char *msg)
{
    read_task(c, json, err, msg, UPDATE);
}

static void lookup(struct mcp_call *c, mcp_db_cb *cb)
{
    const char *p[1] = {c->task_id};

    mcp_db(c, "SELECT json_build_object('job', (" MCP_TASK_JOB_SQL "))::text", 1, p, cb);
}

static void get_metered(struct mcp_call *c)
{
    lookup(c, got);
}

static void cancel_metered(struct mcp_call *c)
{
    lookup(c, cancelled);
}

static void update_metered(struct mcp_call *c)
{
    lookup(c, updated);
}

/* The task id (a job's UUID) into c->task_id, the extension declared, a scope that reads jobs.
 * False after answering. */
static bool task_call(struct mcp_call *c, const char *method)
{
    const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(c->params, "taskId"));

    snprintf(c->op, sizeof(c->op), "%s %.40s", method, id != NULL ? id : "");
    if (!mcp_client_has_tasks(c)) {
        cJSON *data = cJSON_CreateObject();
        cJSON_AddObjectToObject(
            cJSON_AddObjectToObject(cJSON_AddObjectToObject(data, "requiredCapabilities"),
                                    "extensions"),
            TASKS_EXTENSION);
        mcp_reply(c, NULL, -32021, data, "Missing required client capability");
        return false;
    }
    if (!jc_principal_has_scope(&c->who, "jobs:read") &&
        !jc_principal_has_scope(&c->who, "kanban:write")) {
        mcp_challenge_scope(c, "jobs:read", "tasks need the jobs:read (or kanban:write) scope");
        mcp_reply(c, NULL, -32003, NULL, "tasks need the jobs:read (or kanban:write) scope");
        return false;
    }
    if (id == NULL || !jc_crypto_is_uuid(id)) {
        mcp_reply(c, NULL, -32602, NULL, "params.taskId must be the id of a task");
        return false;
    }
    snprintf(c->task_id, sizeof(c->task_id), "%s", id);
    return true;
}

void mcp_tasks_get(struct mcp_call *c)
{
    if (task_call(c, "tasks/get"))
        mcp_meter(c, get_metered);
}

void mcp_tasks_cancel(struct mcp_call *c)
{
    if (task_call(c, "tasks/cancel"))
        mcp_meter(c, cancel_metered);
}

void mcp_tasks_update(struct mcp_call *c)
{
    if (task_call(c, "tasks/update"))
        mcp_meter(c, update_metered);
}
