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
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jc/crypto.h"
#include "jc/keys.h"
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
    char project[40];
    char last[48];    /* the stream id of the last event sent ("" before any) */
    bool replaying;   /* Last-Event-ID replay in flight: live events wait in held */
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

/* The SSE record of one event (json, len bytes): malloc'd, NULL when json is not an event. */
static char *record(const char *id, const char *json, size_t len)
{
    cJSON *ev = cJSON_ParseWithLength(json, len);
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItem(ev, "type"));
    size_t cap = len + strlen(id) + 64 + (type != NULL ? strlen(type) : 0);
    char *out = type != NULL ? malloc(cap) : NULL;

    /* a JSON text has no raw newline, so it is one data line */
    if (out != NULL)
        snprintf(out, cap, "id: %s\nevent: %s\ndata: %.*s\n\n", id, type, (int)len, json);
    cJSON_Delete(ev);
    return out;
}

static void send_record(struct mcp_stream *s, const char *id, const char *text)
{
    if (!after(id, s->last))
        return; /* sent already (by the replay, or the channel before it) */
    snprintf(s->last, sizeof(s->last), "%s", id);
    jc_http_stream_write(s->req, text, strlen(text));
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
    free(s);
}

/* The client went away, or the server drains: the stream ends. */
static void gone(void *ud)
{
    struct mcp_stream *s = ud;
    struct jc_req *req = s->req;

    stream_free(s);
    jc_http_stream_end(req);
}

static void heartbeat(evutil_socket_t fd, short what, void *arg)
{
    struct mcp_stream *s = arg;
    struct timeval tv = {s->m->app->cfg.sse_heartbeat_ms / 1000,
                         (s->m->app->cfg.sse_heartbeat_ms % 1000) * 1000};
    static const char beat[] = ": keep-alive\n\n";

    (void)fd;
    (void)what;
    jc_http_stream_write(s->req, beat, sizeof(beat) - 1);
    evtimer_add(s->beat, &tv);
}

void mcp_events_deliver(struct mcp *m, const char *project_id, const char *json, size_t len)
{
    struct mcp_stream *s;
    cJSON *ev = NULL;
    const char *id = NULL;
    char *text = NULL;

    for (s = m->streams; s != NULL; s = s->next) {
        if (strcmp(s->project, project_id) != 0)
            continue;
        if (ev == NULL) { /* once per message, for the first listener */
            ev = cJSON_ParseWithLength(json, len);
            id = cJSON_GetStringValue(cJSON_GetObjectItem(ev, "stream_id"));
            if (id == NULL || !id_ok(id) || (text = record(id, json, len)) == NULL)
                break; /* not an event of the stream: nothing to tell */
        }
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
            char *spliced, *text;
            size_t n;
            if (k->type != REDIS_REPLY_STRING || strcmp(k->str, "e") != 0 ||
                v->type != REDIS_REPLY_STRING || v->len < 2 || v->str[0] != '{')
                continue;
            /* as on the channel: the stream id first */
            n = v->len + strlen(e->element[0]->str) + 20;
            spliced = malloc(n);
            if (spliced == NULL)
                continue;
            snprintf(spliced, n, "{\"stream_id\":\"%s\",%.*s", e->element[0]->str,
                     (int)v->len - 1, v->str + 1);
            text = record(e->element[0]->str, spliced, strlen(spliced));
            if (text != NULL)
                send_record(s, e->element[0]->str, text);
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
    struct mcp *m = ud;
    const char *origin = mcp_origin_refused(m, req);
    const char *id = req->path + strlen("/events/");
    struct mcp_call *c;

    if (origin != NULL) {
        jc_http_reply_error(req, 403, "origin_not_allowed", "origin %.100s is not allowed", origin);
        return;
    }
    c = mcp_call_new(m, req, mcp_send_rest);
    if (c == NULL)
        return;
    c->method = "events";
    snprintf(c->op, sizeof(c->op), "events %.100s", id);
    if (!mcp_authenticate(c))
        return;
    if (!jc_crypto_is_uuid(id)) {
        mcp_audit(c, "invalid", "not a project id");
        mcp_error(c, 404, 404, -32602, "not_found", NULL, "no project %.60s (a UUID is needed)",
                  id);
        return;
    }
    snprintf(c->project_id, sizeof(c->project_id), "%s", id);
    if (!jc_principal_has_scope(&c->who, "events:read")) {
        jc_req_add_header(req, "WWW-Authenticate",
                          "Bearer error=\"insufficient_scope\", scope=\"events:read\"");
        mcp_audit(c, "denied", "insufficient scope");
        mcp_error(c, 403, 403, -32003, "insufficient_scope", NULL,
                  "the event stream needs the events:read scope");
        return;
    }
    mcp_meter(c, metered);
}

enum jc_err mcp_events_init(struct mcp *m)
{
    return jc_http_route(m->app->http, "GET", "/events/*", get_events, m);
}

void mcp_events_free(struct mcp *m)
{
    while (m->streams != NULL)
        gone(m->streams);
}
