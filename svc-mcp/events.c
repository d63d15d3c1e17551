/* SPDX-License-Identifier: MIT */
/*
 * events.c: GET /events/<project-id>, a project's events as Server-Sent Events, for dashboards
 * and scripts. Bearer token with the events:read scope; the project must be visible to it (row-
 * level security, as for every read); the connect takes a token from the caller's bucket and
 * leaves an audit row ("events <project-id>"). Each event is
 *     id: <stream id>\nevent: <type>\ndata: <the JSON of project:<id>>\n\n
 * A client that reconnects with Last-Event-ID first gets what the project's stream
 * (jive:events:<id>, about the last 1000) holds after that id, then the live events, none twice.
 * A comment line every JIVE_SSE_HEARTBEAT_MS keeps proxies from closing an idle stream.
 *
 * The same listeners serve MCP 2026-07-28 subscriptions: subscriptions/listen on POST /mcp
 * answers with an SSE stream that starts with notifications/subscriptions/acknowledged (the
 * filter honoured: resourcesListChanged and the resourceSubscriptions the token may read), then
 * notifications/resources/updated for a subscribed jive:// URI whose document changed and
 * notifications/resources/list_changed when a visible project's documents appear or go, each
 * with the subscription id (the request's id) in _meta; at shutdown the stream ends with the
 * request's result, resultType "complete".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jc/crypto.h"
#include "jc/keys.h"
#include "jc/queue.h"
#include "mcp.h"

#define REPLAY_MAX "1000"

/* One live event waiting while the replay of the stream is under way. */
struct held {
    char *text; /* the whole SSE record */
    char id[48];
    struct held *next;
};

struct mcp_stream {
    struct mcp *m;
    struct jc_req *req;
    char project[40]; /* GET /events: the project; "" for a subscription */
    /* a subscription: its id (the listen request's id, as JSON), what it honours */
    char *sub_id;
    bool list_changed;
    cJSON *projects;      /* the project ids the token sees (strings) */
    cJSON *uris;          /* the subscribed jive:// URIs */
    cJSON *tasks;         /* the task ids whose notifications/tasks it honours (tasks.c) */
    unsigned long serial; /* finds a subscription again after an asynchronous read */
    char session[48];     /* a 2025-era session's server stream (GET /mcp): its id */
    char owner[220]; /* "<org id> <subject>" of the token: JIVE_SSE_MAX_PER_TOKEN counts these */
    bool doomed;     /* its client went or reads too slowly: ended on the next turn */
    char last[48];   /* the stream id of the last event sent ("" before any) */
    bool replaying;  /* Last-Event-ID replay in flight: live events wait in held */
    struct held *held, **held_tail;
    struct event *beat;
    struct mcp_stream *prev, *next;
};

/* Stream ids "<ms>-<seq>" in order; false for anything else. */
static bool after(const char *a, const char *b)
{
    unsigned long long am = 0, as = 0, bm = 0, bs = 0;

    if (b[0] == '\0')
        return true;
    if (sscanf(a, "%llu-%llu", &am, &as) != 2 || sscanf(b, "%llu-%llu", &bm, &bs) != 2)
        return false;
    return am > bm || (am == bm && as > bs);
}

static bool id_ok(const char *id)
{
    unsigned long long ms, seq;
    char end;

    return strlen(id) < 48 && sscanf(id, "%llu-%llu%c", &ms, &seq, &end) == 2;
}

/* The SSE record of one event (json, len bytes; ev the same, parsed): malloc'd, NULL when it
 * is not an event. */
static char *record(const char *id, const cJSON *ev, const char *json, size_t len)
{
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItem(ev, "type"));
    size_t cap = len + strlen(id) + 64 + (type != NULL ? strlen(type) : 0);
    char *out = type != NULL ? malloc(cap) : NULL;

    /* a JSON text has no raw newline, so it is one data line */
    if (out != NULL)
        snprintf(out, cap, "id: %s\nevent: %s\ndata: %.*s\n\n", id, type, (int)len, json);
    return out;
}

/* Writes text on s; a client that is gone or too far behind has its stream ended on the next
 * turn (never here: the caller may be walking the listeners). */
static void put(struct mcp_stream *s, const char *text, size_t len)
{
    if (s->doomed || jc_http_stream_write(s->req, text, len))
        return;
    s->doomed = true;
    /* a pending activation is kept, and freed with mcp_events_free */
    event_active(s->m->sweep, EV_TIMEOUT, 1);
}

static void send_record(struct mcp_stream *s, const char *id, const char *text)
{
    if (!after(id, s->last))
        return; /* sent already (by the replay, or the channel before it) */
    snprintf(s->last, sizeof(s->last), "%s", id);
    put(s, text, strlen(text));
}

static void stream_free(struct mcp_stream *s)
{
    struct mcp *m = s->m;

    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        m->streams = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    while (s->held != NULL) {
        struct held *h = s->held;
        s->held = h->next;
        free(h->text);
        free(h);
    }
    if (s->beat != NULL)
        event_free(s->beat);
    free(s->sub_id);
    cJSON_Delete(s->projects);
    cJSON_Delete(s->uris);
    cJSON_Delete(s->tasks);
    free(s);
}

static unsigned long next_serial;

/* A JSON-RPC message as one SSE record on s. */
static void send_message(struct mcp_stream *s, cJSON *msg)
{
    char *json = cJSON_PrintUnformatted(msg);
    size_t n = json != NULL ? strlen(json) + 16 : 0;
    char *text = json != NULL ? malloc(n) : NULL;

    if (text != NULL) {
        snprintf(text, n, "data: %s\n\n", json);
        put(s, text, strlen(text));
    }
    free(text);
    cJSON_free(json);
    cJSON_Delete(msg);
}

/* {"jsonrpc","method","params":{...,"_meta":{subscriptionId}}} of subscription s. */
static cJSON *notification(const struct mcp_stream *s, const char *method, cJSON *params)
{
    cJSON *msg = cJSON_CreateObject();

    cJSON_AddStringToObject(msg, "jsonrpc", "2.0");
    cJSON_AddStringToObject(msg, "method", method);
    if (s->sub_id != NULL) /* 2026-07-28; a 2025-era session stream has one subscription set */
        cJSON_AddItemToObject(cJSON_AddObjectToObject(params, "_meta"),
                              "io.modelcontextprotocol/subscriptionId", cJSON_Parse(s->sub_id));
    cJSON_AddItemToObject(msg, "params", params);
    return msg;
}

/* The client went away, or the server drains: the stream ends (a subscription with its
 * request's result, when anyone is still there to read it). */
static void gone(void *ud)
{
    struct mcp_stream *s = ud;
    struct jc_req *req = s->req;

    if (s->sub_id != NULL) {
        cJSON *msg = cJSON_CreateObject(), *result;
        cJSON_AddStringToObject(msg, "jsonrpc", "2.0");
        cJSON_AddItemToObject(msg, "id", cJSON_Parse(s->sub_id));
        result = cJSON_AddObjectToObject(msg, "result");
        cJSON_AddStringToObject(result, "resultType", "complete");
        send_message(s, msg);
    }
    stream_free(s);
    jc_http_stream_end(req);
}

static bool has_string(const cJSON *list, const char *v)
{
    const cJSON *e;

    cJSON_ArrayForEach(e,
                       list) if (cJSON_IsString(e) && strcmp(e->valuestring, v) == 0) return true;
    return false;
}

/* ---- notifications/tasks: a task's job ended; its DetailedTask is read, then sent ---- */

struct task_push {
    struct mcp *m;
    unsigned long serial;
    char task[40];
};

static void task_read(const PGresult *res, enum jc_err err, const char *msg, void *ud)
{
    struct task_push *x = ud;
    struct mcp_stream *s;
    cJSON *job;

    for (s = x->m->streams; s != NULL && s->serial != x->serial; s = s->next)
        ;
    if (err != JC_OK)
        JC_LOG(x->m->app->log, JC_LOG_WARN, NULL, NULL, "task %s not told: %s", x->task, msg);
    if (s != NULL && err == JC_OK && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)) {
        job = cJSON_Parse(PQgetvalue(res, 0, 0));
        if (job != NULL)
            send_message(s, notification(s, "notifications/tasks", mcp_task_detail(x->task, job)));
        cJSON_Delete(job);
    }
    free(x);
}

/* The job of a task s listens to reached an end (job.succeeded, or job.failed with no retry). */
static void tell_task(struct mcp_stream *s, const cJSON *ev, const char *type)
{
    const char *job = cJSON_GetStringValue(cJSON_GetObjectItem(ev, "job_id"));
    const cJSON *retry = cJSON_GetObjectItem(cJSON_GetObjectItem(ev, "data"), "will_retry");
    struct task_push *x;
    const char *p[1];

    if (job == NULL || !has_string(s->tasks, job) ||
        !(strcmp(type, "job.succeeded") == 0 ||
          (strcmp(type, "job.failed") == 0 && cJSON_IsFalse(retry))))
        return;
    x = calloc(1, sizeof(*x));
    if (x == NULL)
        return;
    x->m = s->m;
    x->serial = s->serial;
    snprintf(x->task, sizeof(x->task), "%s", job);
    p[0] = x->task;
    /* the task was checked against the token's org when the subscription began */
    if (jc_pg_query(s->m->app->pg, 0, MCP_TASK_JOB_SQL, 1, p, task_read, x) != JC_OK)
        free(x);
}

/* An event of project_id (parsed) told to subscription s, as the filter it honours allows. */
static void tell_subscription(struct mcp_stream *s, const char *project_id, const cJSON *ev)
{
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItem(ev, "type"));
    const cJSON *data = cJSON_GetObjectItem(ev, "data");
    const char *path = cJSON_GetStringValue(cJSON_GetObjectItem(data, "path"));
    const char *change = cJSON_GetStringValue(cJSON_GetObjectItem(data, "change"));
    char uri[1200];

    if (type == NULL || !has_string(s->projects, project_id))
        return; /* never a word about a project the token does not see */
    if (s->tasks != NULL && strncmp(type, "job.", 4) == 0)
        tell_task(s, ev, type);
    if (s->list_changed && strcmp(type, "artifact.changed") == 0 && change != NULL &&
        (strcmp(change, "added") == 0 || strcmp(change, "deleted") == 0))
        send_message(s,
                     notification(s, "notifications/resources/list_changed", cJSON_CreateObject()));
    if (path == NULL)
        return;
    snprintf(uri, sizeof(uri), "jive://projects/%s/%s", project_id, path);
    if (has_string(s->uris, uri)) {
        cJSON *params = cJSON_CreateObject();
        cJSON_AddStringToObject(params, "uri", uri);
        send_message(s, notification(s, "notifications/resources/updated", params));
    }
}

/* An open session stream keeps its session alive. */
static void renew_session(struct mcp_stream *s)
{
    char key[JC_KEY_LEN], subs[JC_KEY_LEN], ttl[24];
    const char *a1[3] = {"EXPIRE", key, ttl}, *a2[3] = {"EXPIRE", subs, ttl};

    jc_key_session(key, sizeof(key), s->session);
    jc_key_session_subs(subs, sizeof(subs), s->session);
    snprintf(ttl, sizeof(ttl), "%ld", s->m->app->cfg.session_ttl_s);
    if (jc_redis_command(s->m->app->redis, 0, NULL, NULL, 3, a1, NULL) != JC_OK ||
        jc_redis_command(s->m->app->redis, 0, NULL, NULL, 3, a2, NULL) != JC_OK)
        JC_LOG(s->m->app->log, JC_LOG_WARN, s->req->request_id, NULL, "session %.8s…: not renewed",
               s->session);
}

static void heartbeat(evutil_socket_t fd, short what, void *arg)
{
    struct mcp_stream *s = arg;
    struct timeval tv = {s->m->app->cfg.sse_heartbeat_ms / 1000,
                         (s->m->app->cfg.sse_heartbeat_ms % 1000) * 1000};
    static const char beat[] = ": keep-alive\n\n";

    (void)fd;
    (void)what;
    put(s, beat, sizeof(beat) - 1);
    if (s->session[0] != '\0')
        renew_session(s);
    evtimer_add(s->beat, &tv);
}

/* True when the caller already holds JIVE_SSE_MAX_PER_TOKEN streams here (then c is answered
 * 429). A token's streams are counted per process: one replica, one bound. */
static bool too_many(struct mcp_call *c, char *owner, size_t len)
{
    const struct mcp_stream *s;
    long n = 0;

    snprintf(owner, len, "%s %s", c->org_id, c->who.sub);
    for (s = c->mcp->streams; s != NULL; s = s->next)
        n += strcmp(s->owner, owner) == 0;
    if (n < c->mcp->app->cfg.sse_max_per_token)
        return false;
    mcp_audit(c, "rate_limited", "too many open streams");
    mcp_error(c, 429, 429, -32029, "too_many_streams", NULL,
              "this token has %ld event streams open here already (JIVE_SSE_MAX_PER_TOKEN); "
              "close one first",
              n);
    return true;
}

/* Ends the streams put() gave up on. */
static void sweep(evutil_socket_t fd, short what, void *arg)
{
    struct mcp *m = arg;
    struct mcp_stream *s, *next;

    (void)fd;
    (void)what;
    for (s = m->streams; s != NULL; s = next) {
        next = s->next;
        if (s->doomed) {
            JC_LOG(m->app->log, JC_LOG_INFO, s->req->request_id, NULL,
                   "event stream %s ended: its client is gone or reads too slowly",
                   s->project[0] != '\0' ? s->project : "(subscription)");
            gone(s);
        }
    }
}

void mcp_events_deliver(struct mcp *m, const char *project_id, const char *json, size_t len)
{
    cJSON *ev = cJSON_ParseWithLength(json, len);
    const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(ev, "stream_id"));
    char *text = NULL;
    bool recorded = false;
    struct mcp_stream *s;

    for (s = m->streams; ev != NULL && s != NULL; s = s->next) {
        if (s->sub_id != NULL || s->session[0] != '\0') {
            tell_subscription(s, project_id, ev);
            continue;
        }
        if (strcmp(s->project, project_id) != 0 || id == NULL || !id_ok(id))
            continue;
        if (!recorded) { /* once per message, for the first listener */
            recorded = true;
            text = record(id, ev, json, len);
        }
        if (text == NULL)
            continue;
        if (s->replaying) {
            struct held *h = calloc(1, sizeof(*h));
            if (h == NULL || (h->text = strdup(text)) == NULL) {
                free(h);
                continue;
            }
            snprintf(h->id, sizeof(h->id), "%s", id);
            *s->held_tail = h;
            s->held_tail = &h->next;
            continue;
        }
        send_record(s, id, text);
    }
    free(text);
    cJSON_Delete(ev);
}

/* The replay of the stream after Last-Event-ID, then what arrived meanwhile. */
static void replayed(const redisReply *r, enum jc_err err, const char *msg, void *ud)
{
    struct mcp_stream *s = ud;
    size_t i, j;

    if (err != JC_OK)
        JC_LOG(s->m->app->log, JC_LOG_WARN, s->req->request_id, NULL,
               "events %s: no replay from the stream (%s); live events only", s->project, msg);
    for (i = 0; err == JC_OK && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
            e->element[0]->type != REDIS_REPLY_STRING || e->element[1]->type != REDIS_REPLY_ARRAY)
            continue;
        for (j = 0; j + 1 < e->element[1]->elements; j += 2) {
            const redisReply *k = e->element[1]->element[j], *v = e->element[1]->element[j + 1];
            char *spliced, *text = NULL;
            cJSON *ev;
            if (k->type != REDIS_REPLY_STRING || strcmp(k->str, "e") != 0 ||
                v->type != REDIS_REPLY_STRING)
                continue;
            /* as on the channel: the stream id first */
            spliced = jc_events_with_id(e->element[0]->str, v->str, v->len);
            ev = cJSON_ParseWithLength(v->str, v->len);
            if (spliced != NULL && ev != NULL)
                text = record(e->element[0]->str, ev, spliced, strlen(spliced));
            if (text != NULL)
                send_record(s, e->element[0]->str, text);
            cJSON_Delete(ev);
            free(text);
            free(spliced);
        }
    }
    s->replaying = false;
    while (s->held != NULL) {
        struct held *h = s->held;
        s->held = h->next;
        send_record(s, h->id, h->text);
        free(h->text);
        free(h);
    }
    s->held_tail = &s->held;
}

/* The project is visible to the token: the stream starts. */
static void visible(struct mcp_call *c, cJSON *json, enum jc_err err, const char *msg)
{
    struct mcp *m = c->mcp;
    struct mcp_stream *s;
    const char *from = jc_req_header(c->req, "Last-Event-ID");
    struct jc_req *req = c->req;
    struct timeval tv = {m->app->cfg.sse_heartbeat_ms / 1000,
                         (m->app->cfg.sse_heartbeat_ms % 1000) * 1000};
    char owner[220];

    if (err != JC_OK) {
        cJSON_Delete(json);
        JC_LOG(m->app->log, JC_LOG_WARN, c->req->request_id, NULL, "%s: %s", c->op, msg);
        mcp_audit(c, "error", msg);
        mcp_error(c, 503, 503, -32603, "unavailable", NULL,
                  "temporarily unavailable; try again shortly (request %s)", c->req->request_id);
        return;
    }
    if (cJSON_IsNull(json)) {
        cJSON_Delete(json);
        mcp_audit(c, "invalid", "project not found");
        mcp_error(c, 404, 404, -32602, "not_found", NULL,
                  "project %s not found, or not visible to this token", c->project_id);
        return;
    }
    cJSON_Delete(json);
    if (from != NULL && !id_ok(from)) {
        mcp_audit(c, "invalid", "bad Last-Event-ID");
        mcp_error(c, 400, 400, -32602, "invalid_argument", NULL,
                  "invalid argument 'Last-Event-ID': a stream id such as 1733000000000-0");
        return;
    }
    if (too_many(c, owner, sizeof(owner)))
        return;
    s = calloc(1, sizeof(*s));
    if (s == NULL || (s->beat = evtimer_new(m->app->base, heartbeat, s)) == NULL) {
        free(s);
        mcp_audit(c, "error", "out of memory");
        mcp_error(c, 503, 503, -32603, "unavailable", NULL, "out of memory");
        return;
    }
    s->m = m;
    s->req = req;
    s->held_tail = &s->held;
    snprintf(s->owner, sizeof(s->owner), "%s", owner);
    snprintf(s->project, sizeof(s->project), "%s", c->project_id);
    s->next = m->streams;
    if (m->streams != NULL)
        m->streams->prev = s;
    m->streams = s;
    mcp_audit(c, "success", NULL);
    mcp_call_free(c); /* the request goes on as the stream */
    jc_req_add_header(req, "X-Accel-Buffering", "no");
    jc_http_stream_start(req, "text/event-stream", gone, s);
    evtimer_add(s->beat, &tv);
    if (from != NULL) {
        char key[JC_KEY_LEN], start[64];
        const char *argv[6] = {"XRANGE", key, start, "+", "COUNT", REPLAY_MAX};
        jc_key_events(key, sizeof(key), s->project);
        snprintf(start, sizeof(start), "(%s", from);
        snprintf(s->last, sizeof(s->last), "%s", from);
        s->replaying = true;
        if (jc_redis_command(m->app->redis, 0, replayed, s, 6, argv, NULL) != JC_OK)
            s->replaying = false;
    }
}

static void metered(struct mcp_call *c)
{
    const char *p[1] = {c->project_id};

    mcp_db(c, "SELECT json_build_object('id', id)::text FROM projects WHERE id = $1::uuid", 1, p,
           visible);
}

static void get_events(struct jc_req *req, void *ud)
{
    const char *id = req->path + strlen("/events/");
    char op[160];
    struct mcp_call *c;

    snprintf(op, sizeof(op), "events %.100s", id);
    c = mcp_rest_call(ud, req, op);
    if (c == NULL)
        return;
    if (!jc_crypto_is_uuid(id)) {
        mcp_audit(c, "invalid", "not a project id");
        mcp_error(c, 404, 404, -32602, "not_found", NULL, "no project %.60s (a UUID is needed)",
                  id);
        return;
    }
    snprintf(c->project_id, sizeof(c->project_id), "%s", id);
    if (mcp_require_scope(c, "events:read", "the event stream needs the events:read scope"))
        mcp_meter(c, metered);
}

enum jc_err mcp_events_init(struct mcp *m)
{
    m->sweep = event_new(m->app->base, -1, 0, sweep, m);
    if (m->sweep == NULL)
        return JC_ENOMEM;
    return jc_http_route(m->app->http, "GET", "/events/*", get_events, m);
}

/* ---- MCP subscriptions (2026-07-28) ---- */

/* The projects the token sees are known: acknowledge what is honoured and start the stream. */
static void subscribed(struct mcp_call *c, cJSON *json, enum jc_err err, const char *msg)
{
    struct mcp *m = c->mcp;
    const cJSON *want = cJSON_GetObjectItem(c->params, "notifications"), *u;
    struct mcp_stream *s;
    struct timeval tv = {m->app->cfg.sse_heartbeat_ms / 1000,
                         (m->app->cfg.sse_heartbeat_ms % 1000) * 1000};
    struct jc_req *req = c->req;
    cJSON *honoured, *params;
    char owner[220];

    if (err != JC_OK) {
        cJSON_Delete(json);
        mcp_reply(c, NULL, -32603, NULL, msg);
        return;
    }
    if (too_many(c, owner, sizeof(owner))) {
        cJSON_Delete(json);
        return;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL || (s->beat = evtimer_new(m->app->base, heartbeat, s)) == NULL ||
        (s->sub_id = cJSON_PrintUnformatted(c->id)) == NULL ||
        (s->uris = cJSON_CreateArray()) == NULL) {
        if (s != NULL && s->beat != NULL)
            event_free(s->beat);
        if (s != NULL)
            free(s->sub_id);
        free(s);
        cJSON_Delete(json);
        mcp_reply(c, NULL, -32603, NULL, "out of memory");
        return;
    }
    s->m = m;
    s->req = req;
    s->held_tail = &s->held;
    snprintf(s->owner, sizeof(s->owner), "%s", owner);
    s->projects = cJSON_DetachItemFromObject(json, "projects");
    s->tasks = cJSON_DetachItemFromObject(json, "tasks");
    cJSON_Delete(json);
    if (!cJSON_IsArray(s->projects)) {
        cJSON_Delete(s->projects);
        s->projects = cJSON_CreateArray();
    }
    if (!cJSON_IsArray(s->tasks) || cJSON_GetArraySize(s->tasks) == 0) {
        cJSON_Delete(s->tasks);
        s->tasks = NULL;
    }
    s->serial = ++next_serial;
    s->list_changed = cJSON_IsTrue(cJSON_GetObjectItem(want, "resourcesListChanged"));
    /* a URI is honoured when it names a document of a project the token sees */
    cJSON_ArrayForEach(u, cJSON_GetObjectItem(want, "resourceSubscriptions"))
    {
        char pid[40];
        if (!cJSON_IsString(u) || strncmp(u->valuestring, "jive://projects/", 16) != 0 ||
            strlen(u->valuestring) < 16 + 37 || strlen(u->valuestring) > 1100)
            continue;
        snprintf(pid, sizeof(pid), "%.36s", u->valuestring + 16);
        if (u->valuestring[16 + 36] == '/' && has_string(s->projects, pid) &&
            !has_string(s->uris, u->valuestring))
            cJSON_AddItemToArray(s->uris, cJSON_CreateString(u->valuestring));
    }
    s->next = m->streams;
    if (m->streams != NULL)
        m->streams->prev = s;
    m->streams = s;
    mcp_audit(c, "success", NULL);
    jc_req_add_header(req, "MCP-Protocol-Version", c->version);
    mcp_call_free(c);
    jc_http_stream_start(req, "text/event-stream", gone, s);
    evtimer_add(s->beat, &tv);
    honoured = cJSON_CreateObject();
    if (s->list_changed)
        cJSON_AddTrueToObject(honoured, "resourcesListChanged");
    if (cJSON_GetArraySize(s->uris) > 0)
        cJSON_AddItemToObject(honoured, "resourceSubscriptions", cJSON_Duplicate(s->uris, 1));
    if (s->tasks != NULL)
        cJSON_AddItemToObject(honoured, "taskIds", cJSON_Duplicate(s->tasks, 1));
    params = cJSON_CreateObject();
    cJSON_AddItemToObject(params, "notifications", honoured);
    send_message(s, notification(s, "notifications/subscriptions/acknowledged", params));
}

static void listen_metered(struct mcp_call *c)
{
    const cJSON *ids =
                    cJSON_GetObjectItem(cJSON_GetObjectItem(c->params, "notifications"), "taskIds"),
                *e;
    const char *list[64];
    char *lit;
    int n = 0;
    const char *p[1];

    cJSON_ArrayForEach(e, ids) if (n < 64 && cJSON_IsString(e) && jc_crypto_is_uuid(e->valuestring))
        list[n++] = e->valuestring;
    lit = jc_pg_array_literal(list, n);
    p[0] = lit != NULL ? lit : "{}";
    /* the projects this token sees, under row-level security (and its projects claim), and
     * which of the asked tasks are its own */
    mcp_db(c,
           "SELECT json_build_object('projects', (SELECT coalesce(json_agg(id::text), '[]') FROM "
           "projects), 'tasks', (SELECT coalesce(json_agg(id::text), '[]') FROM jobs WHERE id = "
           "ANY($1::uuid[]) AND queue = 'story-move'))::text",
           1, p, subscribed);
    free(lit);
}

void mcp_subscriptions_listen(struct mcp_call *c)
{
    const cJSON *want = cJSON_GetObjectItem(c->params, "notifications");

    if (!cJSON_IsObject(want)) {
        mcp_error(c, 200, 400, -32602, NULL, NULL,
                  "subscriptions/listen needs params.notifications (an object)");
        return;
    }
    if (!jc_principal_has_scope(&c->who, "stories:read")) {
        mcp_reply(c, NULL, -32003, NULL, "subscriptions need the stories:read scope");
        return;
    }
    if (cJSON_GetArraySize(cJSON_GetObjectItem(want, "taskIds")) > 0 && !mcp_client_has_tasks(c)) {
        cJSON *data = cJSON_CreateObject();
        cJSON_AddObjectToObject(
            cJSON_AddObjectToObject(cJSON_AddObjectToObject(data, "requiredCapabilities"),
                                    "extensions"),
            "io.modelcontextprotocol/tasks");
        mcp_reply(c, NULL, -32021, data, "Missing required client capability");
        return;
    }
    mcp_meter(c, listen_metered);
}

/* ---- the server stream of a 2025-era session (GET /mcp) ---- */

/* A session's subscribed URIs (an SMEMBERS reply) that name a project the stream's token sees. */
static cJSON *session_uris(const redisReply *r, const cJSON *projects)
{
    cJSON *uris = cJSON_CreateArray();
    size_t i;

    for (i = 0; r != NULL && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        char pid[40];
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_STRING || e->len < 16 + 37 || e->len > 1100)
            continue;
        snprintf(pid, sizeof(pid), "%.36s", e->str + 16);
        if (has_string(projects, pid))
            cJSON_AddItemToArray(uris, cJSON_CreateString(e->str));
    }
    return uris;
}

struct session_open {
    struct mcp_call *c;
    cJSON *projects;
};

static void session_members(const redisReply *r, enum jc_err err, const char *msg, void *ud)
{
    struct session_open *o = ud;
    struct mcp_call *c = o->c;
    struct mcp *m = c->mcp;
    struct jc_req *req = c->req;
    struct mcp_stream *s;
    struct timeval tv = {m->app->cfg.sse_heartbeat_ms / 1000,
                         (m->app->cfg.sse_heartbeat_ms % 1000) * 1000};
    char owner[220];

    if (err != JC_OK)
        JC_LOG(m->app->log, JC_LOG_WARN, req->request_id, NULL,
               "session stream: subscriptions not read (%s); none until the next change", msg);
    if (too_many(c, owner, sizeof(owner))) {
        cJSON_Delete(o->projects);
        free(o);
        return;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL || (s->beat = evtimer_new(m->app->base, heartbeat, s)) == NULL) {
        free(s);
        cJSON_Delete(o->projects);
        free(o);
        mcp_error(c, 503, 503, -32603, "unavailable", NULL, "out of memory");
        return;
    }
    s->m = m;
    s->req = req;
    s->held_tail = &s->held;
    s->list_changed = true;
    snprintf(s->owner, sizeof(s->owner), "%s", owner);
    snprintf(s->session, sizeof(s->session), "%s", c->session);
    s->projects = o->projects;
    s->uris = session_uris(err == JC_OK ? r : NULL, s->projects);
    free(o);
    s->next = m->streams;
    if (m->streams != NULL)
        m->streams->prev = s;
    m->streams = s;
    mcp_audit(c, "success", NULL);
    jc_req_add_header(req, "Mcp-Session-Id", c->session);
    mcp_call_free(c);
    jc_req_add_header(req, "X-Accel-Buffering", "no");
    jc_http_stream_start(req, "text/event-stream", gone, s);
    evtimer_add(s->beat, &tv);
}

static void session_projects(struct mcp_call *c, cJSON *json, enum jc_err err, const char *msg)
{
    struct session_open *o;
    char key[JC_KEY_LEN];
    const char *argv[2] = {"SMEMBERS", key};

    if (err != JC_OK || !cJSON_IsArray(json)) {
        cJSON_Delete(json);
        mcp_error(c, 503, 503, -32603, "unavailable", NULL,
                  "temporarily unavailable; try again shortly (%s)", err != JC_OK ? msg : "");
        return;
    }
    o = calloc(1, sizeof(*o));
    if (o == NULL) {
        cJSON_Delete(json);
        mcp_error(c, 503, 503, -32603, "unavailable", NULL, "out of memory");
        return;
    }
    o->c = c;
    o->projects = json;
    jc_key_session_subs(key, sizeof(key), c->session);
    if (jc_redis_command(c->mcp->app->redis, 0, session_members, o, 2, argv, NULL) != JC_OK)
        session_members(NULL, JC_EREDIS, "out of memory", o);
}

void mcp_session_stream(struct mcp_call *c)
{
    snprintf(c->op, sizeof(c->op), "GET /mcp (session stream)");
    if (c->session[0] == '\0') { /* Redis did not answer the check */
        mcp_error(c, 503, 503, -32603, "unavailable", NULL,
                  "sessions are unavailable right now; try again shortly");
        return;
    }
    if (!jc_principal_has_scope(&c->who, "stories:read")) {
        mcp_challenge_scope(c, "stories:read", "the session stream needs the stories:read scope");
        mcp_error(c, 403, 403, -32003, "insufficient_scope", NULL,
                  "the session stream needs the stories:read scope");
        return;
    }
    mcp_db(c, "SELECT coalesce(json_agg(id::text), '[]')::text FROM projects", 0, NULL,
           session_projects);
}

struct session_reload {
    struct mcp *m;
    char session[48];
};

static void reloaded(const redisReply *r, enum jc_err err, const char *msg, void *ud)
{
    struct session_reload *x = ud;
    struct mcp_stream *s;

    if (err != JC_OK)
        JC_LOG(x->m->app->log, JC_LOG_WARN, NULL, NULL, "session subscriptions not reloaded (%s)",
               msg);
    for (s = x->m->streams; err == JC_OK && s != NULL; s = s->next) {
        if (strcmp(s->session, x->session) != 0)
            continue; /* the stream may have ended meanwhile: found again by id */
        cJSON_Delete(s->uris);
        s->uris = session_uris(r, s->projects);
    }
    free(x);
}

void mcp_events_session_changed(struct mcp *m, const char *session)
{
    const struct mcp_stream *s;
    struct session_reload *x;
    char key[JC_KEY_LEN];
    const char *argv[2] = {"SMEMBERS", key};

    for (s = m->streams; s != NULL; s = s->next)
        if (s->session[0] != '\0' && strcmp(s->session, session) == 0)
            break;
    if (s == NULL || (x = calloc(1, sizeof(*x))) == NULL)
        return; /* not a stream of this process */
    x->m = m;
    snprintf(x->session, sizeof(x->session), "%s", session);
    jc_key_session_subs(key, sizeof(key), session);
    if (jc_redis_command(m->app->redis, 0, reloaded, x, 2, argv, NULL) != JC_OK)
        free(x);
}

void mcp_events_free(struct mcp *m)
{
    struct mcp_stream *s, *next;

    for (s = m->streams; s != NULL; s = next) {
        next = s->next;
        gone(s);
    }
    if (m->sweep != NULL)
        event_free(m->sweep);
    m->sweep = NULL;
}
