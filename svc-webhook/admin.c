/* SPDX-License-Identifier: MIT */
/*
 * admin.c: POST /api/jobs/enqueue {queue, project_id, payload} for operators. Only with a token
 * carrying the admin scope and an org, or in JIVE_ENV=development; to anyone else the route does
 * not exist (404), so it reveals nothing. A token's admin reaches only its own org's projects:
 * another org's project answers exactly like one that does not exist.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jc/auth.h"
#include "jc/crypto.h"
#include "jc/outbox.h"
#include "webhook.h"

struct enqueue {
    struct wh *wh;
    struct jc_req *req;
    struct jc_job job;
    enum jc_queue queue;
    char id[JC_UUID_LEN];
    char project_id[40];
    char org_id[40];
    char *payload;
};

static void reply(struct enqueue *e, bool queued)
{
    cJSON *body = cJSON_CreateObject();

    cJSON_AddStringToObject(body, "job", e->id);
    cJSON_AddStringToObject(body, "queue", jc_queue_name(e->queue));
    cJSON_AddStringToObject(body, "status", "queued");
    cJSON_AddBoolToObject(body, "in_queue", queued);
    jc_http_reply_json(e->req, 202, body);
    cJSON_free(e->payload);
    free(e);
}

static void sent(enum jc_err err, const char *msg, void *ud)
{
    (void)msg;
    reply(ud, err == JC_OK); /* not sent: committed, the outbox pushes it when Redis is back */
}

static void inserted(const PGresult *res, enum jc_err err, const char *msg, void *ud)
{
    struct enqueue *e = ud;
    struct jc_job job = {0};

    if (err != JC_OK) {
        jc_http_reply_error(e->req, 503, "database_unavailable", "job not stored: %s", msg);
        cJSON_free(e->payload);
        free(e);
        return;
    }
    if (PQntuples(res) != 1) {
        jc_http_reply_error(e->req, 404, "unknown_project", "no project with that id");
        cJSON_free(e->payload);
        free(e);
        return;
    }
    snprintf(e->org_id, sizeof(e->org_id), "%s", PQgetvalue(res, 0, 0));
    job.id = e->id;
    job.queue = e->queue;
    job.project_id = e->project_id;
    job.org_id = e->org_id;
    job.payload = e->payload;
    if (jc_outbox_send(e->wh->app->pg, e->wh->app->redis, &e->wh->app->cfg, &job, true, sent, e) !=
        JC_OK)
        reply(e, false);
}

static void enqueue_route(struct jc_req *req, void *ud)
{
    struct wh *wh = ud;
    const struct jc_config *cfg = &wh->app->cfg;
    struct enqueue *e = NULL;
    struct jc_principal who;
    cJSON *body = NULL;
    const cJSON *q, *pid, *payload;
    const char *text;
    size_t len = 0;

    memset(&who, 0, sizeof(who));
    if (!cfg->development) {
        char err[128];
        const char *tok = jc_auth_bearer(jc_req_header(req, "Authorization"));
        if (tok == NULL || cfg->jwt_secret == NULL ||
            jc_auth_verify(cfg, tok, (long)time(NULL), &who, err, sizeof(err)) != JC_OK ||
            !jc_principal_has_scope(&who, "admin") || !jc_crypto_is_uuid(who.org_id)) {
            jc_http_reply_error(req, 404, "not_found", "no route for POST %s", req->path);
            return;
        }
    }
    text = jc_req_body(req, &len);
    body = text != NULL ? cJSON_ParseWithLength(text, len) : NULL;
    q = cJSON_GetObjectItemCaseSensitive(body, "queue");
    pid = cJSON_GetObjectItemCaseSensitive(body, "project_id");
    payload = cJSON_GetObjectItemCaseSensitive(body, "payload");
    e = calloc(1, sizeof(*e));
    if (e == NULL) {
        jc_http_reply_error(req, 503, "unavailable", "out of memory");
        goto out;
    }
    if (!cJSON_IsObject(body)) {
        jc_http_reply_error(req, 400, "invalid_json", "the body is not a JSON object");
        goto fail;
    }
    if (!cJSON_IsString(q) || !jc_queue_parse(q->valuestring, &e->queue)) {
        jc_http_reply_error(req, 400, "invalid_queue",
                            "queue must be one of artifact-scan, gate-evaluation, "
                            "conflict-detection, story-move, run-sync");
        goto fail;
    }
    if (!cJSON_IsString(pid) || !jc_crypto_is_uuid(pid->valuestring)) {
        jc_http_reply_error(req, 400, "invalid_project_id", "project_id must be a UUID");
        goto fail;
    }
    if (payload != NULL && !cJSON_IsObject(payload)) {
        jc_http_reply_error(req, 400, "invalid_payload", "payload must be a JSON object");
        goto fail;
    }
    e->wh = wh;
    e->req = req;
    snprintf(e->project_id, sizeof(e->project_id), "%s", pid->valuestring);
    /* cJSON allocates with malloc (default hooks), so strdup and cJSON_free pair up */
    e->payload = payload != NULL ? cJSON_PrintUnformatted(payload) : strdup("{}");
    if (e->payload == NULL || jc_crypto_uuid4(e->id) != JC_OK) {
        jc_http_reply_error(req, 503, "unavailable", "out of memory");
        goto fail;
    }
    {
        /* the token's org bounds the project (no token only in development) */
        char max[16];
        const char *p[8] = {e->id,
                            e->project_id,
                            jc_queue_name(e->queue),
                            e->payload,
                            req->request_id,
                            req->traceparent,
                            who.org_id[0] != '\0' ? who.org_id : NULL,
                            max};
        snprintf(max, sizeof(max), "%d", wh->app->cfg.max_attempts[e->queue]);
        /* prepared: the statement's parse and plan stay off the enqueue → start path */
        if (jc_pg_query_prepared(
                wh->app->pg, 0, "jive_admin_enqueue",
                "INSERT INTO jobs (id, org_id, project_id, queue, payload, request_id, "
                "traceparent, max_attempts) SELECT $1::uuid, org_id, id, $3, $4::jsonb, "
                "$5, $6, $8::int FROM projects WHERE id = $2::uuid AND ($7::uuid IS NULL "
                "OR org_id = $7::uuid) RETURNING org_id",
                8, p, inserted, e) != JC_OK) {
            jc_http_reply_error(req, 503, "unavailable", "cannot submit the query");
            goto fail;
        }
    }
    goto out;
fail:
    cJSON_free(e->payload);
    free(e);
out:
    cJSON_Delete(body);
}

enum jc_err wh_admin_init(struct wh *wh)
{
    return jc_http_route(wh->app->http, "POST", "/api/jobs/enqueue", enqueue_route, wh);
}
