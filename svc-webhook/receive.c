/* SPDX-License-Identifier: MIT */
/*
 * receive.c: one GitHub delivery, start to finish. Authenticity first: the HMAC of the raw
 * body is checked (constant time) before any JSON is parsed. The event row and its job row are
 * inserted by one statement (atomic, deduplicated by delivery id); the job message is pushed to
 * Redis only after that commit, and a push that fails is left to the outbox sweeper.
 * The rows are committed by the group commit in store.c.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "jc/clock.h"
#include "jc/crypto.h"
#include "jc/outbox.h"
#include "webhook.h"

struct delivery {
    struct wh *wh;
    struct jc_req *req;
    bool app_wide;
    char event[65];
    char id[129];
    char action[65];
    unsigned char sig[JC_SHA256_LEN];
    const char *body;
    size_t len;
    bool form;
    struct wh_project proj;
    bool have_proj;
    char *form_json; /* the decoded payload= of a form delivery */
    const char *json;
    size_t json_len;
    cJSON *payload;
    char hash[JC_SHA256_HEX_LEN];
    struct wh_route route;
    char job_id[JC_UUID_LEN];
    char *row_json;    /* this delivery's row for the store, payload spliced in */
    char *job_payload; /* the job's payload JSON */
    struct wh_row row; /* in the store's queue */
    double start;
};

static void count(struct delivery *d, const char *outcome)
{
    struct jc_metrics *m = d->wh->app->metrics;
    char labels[160];

    snprintf(labels, sizeof(labels), "event=\"%s\",outcome=\"%s\"", wh_event_label(d->event),
             outcome);
    jc_metric_inc(jc_metrics_counter(m, "jive_webhook_deliveries_total",
                                     "GitHub deliveries by event and outcome", labels),
                  1);
    jc_metric_observe(jc_metrics_histogram(m, "jive_webhook_delivery_duration_seconds",
                                           "Time from request to reply per delivery", NULL),
                      jc_clock_mono() - d->start);
}

static void delivery_free(struct delivery *d)
{
    free(d->row_json);
    cJSON_free(d->job_payload);
    free(d->form_json);
    cJSON_Delete(d->payload);
    cJSON_Delete(d->route.payload);
    free(d);
}

/* Error reply (envelope), metrics, free. */
static void fail(struct delivery *d, int status, const char *code, const char *outcome,
                 const char *msg)
{
    count(d, outcome);
    jc_http_reply_error(d->req, status, code, "%s", msg);
    delivery_free(d);
}

/* Success reply {"status":..., "delivery":..., "jobs":[...]} (or the ping answer). */
static void done(struct delivery *d, int status, const char *what)
{
    cJSON *body = cJSON_CreateObject();
    cJSON *jobs;

    if (strcmp(what, "pong") == 0) {
        cJSON_AddBoolToObject(body, "pong", true);
    } else {
        cJSON_AddStringToObject(body, "status", what);
    }
    cJSON_AddStringToObject(body, "delivery", d->id);
    if (strcmp(what, "accepted") == 0) {
        jobs = cJSON_AddArrayToObject(body, "jobs");
        if (d->route.has_job)
            cJSON_AddItemToArray(jobs, cJSON_CreateString(d->job_id));
    }
    count(d, what);
    jc_http_reply_json(d->req, status, body);
    delivery_free(d);
}

/* ---- project lookup (cached) ---- */

static struct wh_project *cache_get(struct wh *wh, const char *id)
{
    double now = jc_clock_mono();
    int i;

    for (i = 0; i < WH_CACHE_SIZE; i++)
        if (strcmp(wh->cache[i].id, id) == 0 && now - wh->cache[i].fetched < WH_CACHE_TTL)
            return &wh->cache[i];
    return NULL;
}

static void cache_put(struct wh *wh, const struct wh_project *p)
{
    int i, oldest = 0;

    for (i = 0; i < WH_CACHE_SIZE; i++) {
        if (strcmp(wh->cache[i].id, p->id) == 0 || wh->cache[i].id[0] == '\0') {
            oldest = i;
            break;
        }
        if (wh->cache[i].fetched < wh->cache[oldest].fetched)
            oldest = i;
    }
    wh->cache[oldest] = *p;
    wh->cache[oldest].fetched = jc_clock_mono();
}

static bool row_to_project(const PGresult *res, struct wh_project *p)
{
    if (res == NULL || PQntuples(res) != 1)
        return false;
    snprintf(p->id, sizeof(p->id), "%s", PQgetvalue(res, 0, 0));
    snprintf(p->org_id, sizeof(p->org_id), "%s", PQgetvalue(res, 0, 1));
    snprintf(p->secret, sizeof(p->secret), "%s", PQgetvalue(res, 0, 2));
    snprintf(p->branch, sizeof(p->branch), "%s", PQgetvalue(res, 0, 3));
    return true;
}

/* ---- after the rows are committed ---- */

static void sent(enum jc_err err, const char *msg, void *ud)
{
    struct delivery *d = ud;

    if (err != JC_OK)
        /* Accepted all the same: the job row is committed, the outbox sweeper pushes it. */
        JC_LOG(d->wh->app->log, JC_LOG_WARN, d->req->request_id, NULL,
               "delivery %s: job %s stored, not yet queued (%s); the outbox will push it", d->id,
               d->job_id, msg);
    else
        wh_store_mark(d->wh->store, d->job_id);
    done(d, 202, "accepted");
}

static void publish_received(struct delivery *d)
{
    cJSON *data = cJSON_CreateObject();
    cJSON *jobs = cJSON_AddArrayToObject(data, "jobs");

    cJSON_AddStringToObject(data, "delivery", d->id);
    cJSON_AddStringToObject(data, "event", d->event);
    if (d->action[0] != '\0')
        cJSON_AddStringToObject(data, "action", d->action);
    if (d->route.has_job)
        cJSON_AddItemToArray(jobs, cJSON_CreateString(d->job_id));
    if (jc_events_publish(d->wh->app->redis, d->proj.id, "webhook.received",
                          d->route.has_job ? d->job_id : NULL, data, NULL, NULL) != JC_OK)
        JC_LOG(d->wh->app->log, JC_LOG_DEBUG, d->req->request_id, NULL,
               "delivery %s: webhook.received not published", d->id);
    cJSON_Delete(data);
}

static void last_seen_done(const PGresult *res, enum jc_err err, const char *msg, void *ud)
{
    struct delivery *d = ud;

    (void)res;
    if (err != JC_OK)
        JC_LOG(d->wh->app->log, JC_LOG_WARN, d->req->request_id, NULL,
               "ping %s: last_seen not updated: %s", d->id, msg);
    done(d, 200, "pong");
}

/* One delivery's outcome from its batch: inserted, or a duplicate of a stored delivery. */
static void stored(struct delivery *d, bool inserted)
{
    struct jc_job job = {0};

    if (!inserted) {
        done(d, 200, "duplicate");
        return;
    }
    if (!d->have_proj) {
        done(d, 202, "ignored");
        return;
    }
    publish_received(d);
    if (strcmp(d->event, "ping") == 0) {
        const char *p[1] = {d->proj.id};
        if (jc_pg_query(d->wh->app->pg, 0, "UPDATE projects SET last_seen = now() WHERE id = $1", 1,
                        p, last_seen_done, d) != JC_OK)
            done(d, 200, "pong");
        return;
    }
    if (!d->route.has_job) {
        done(d, 202, "accepted");
        return;
    }
    job.id = d->job_id;
    job.queue = d->route.queue;
    job.project_id = d->proj.id;
    job.org_id = d->proj.org_id;
    job.event_id = d->id;
    job.payload = d->job_payload;
    /* unmarked: marks of pushed jobs ride on the next delivery batch (wh_store_mark) */
    if (jc_outbox_send(d->wh->app->pg, d->wh->app->redis, &d->wh->app->cfg, &job, false, sent, d) !=
        JC_OK)
        done(d, 202, "accepted"); /* committed: the outbox pushes it */
}

static void add_string(cJSON *o, const char *key, const char *value)
{
    if (value != NULL)
        cJSON_AddStringToObject(o, key, value);
    else
        cJSON_AddNullToObject(o, key);
}

/*
 * This delivery's row for store_sql: its columns as a JSON object, with the payload spliced in
 * as the exact text GitHub signed (verified() made sure it is one complete JSON object, so it
 * cannot reach outside its own value) and the job's payload as printed for the queue message.
 */
static char *row_object(const struct delivery *d)
{
    cJSON *o = cJSON_CreateObject();
    char *cols = NULL, *row = NULL;
    const char *job;
    size_t n, len;

    if (o == NULL)
        return NULL;
    add_string(o, "id", d->id);
    add_string(o, "org_id", d->have_proj ? d->proj.org_id : NULL);
    add_string(o, "project_id", d->have_proj ? d->proj.id : NULL);
    add_string(o, "event_type", d->event);
    add_string(o, "action", d->action[0] != '\0' ? d->action : NULL);
    add_string(o, "payload_hash", d->hash);
    add_string(o, "status",
               !d->have_proj      ? "ignored"
               : d->route.has_job ? "received"
                                  : "processed");
    cJSON_AddBoolToObject(o, "processed", !d->route.has_job);
    add_string(o, "error_message", !d->have_proj ? "unknown repository" : d->route.reason);
    add_string(o, "job_id", d->route.has_job ? d->job_id : NULL);
    add_string(o, "queue", d->route.has_job ? jc_queue_name(d->route.queue) : NULL);
    add_string(o, "request_id", d->req->request_id);
    add_string(o, "traceparent", d->req->traceparent);
    if (d->route.has_job)
        cJSON_AddNumberToObject(o, "max_attempts", d->wh->app->cfg.max_attempts[d->route.queue]);
    cols = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (cols == NULL)
        goto fail;
    job = d->job_payload != NULL ? d->job_payload : "null";
    n = strlen(cols); /* "{...}": the closing brace is replaced by the two payloads */
    len = n + d->json_len + strlen(job) + 32;
    row = malloc(len);
    if (row == NULL)
        goto fail;
    snprintf(row, len, "%.*s,\"payload\":%.*s,\"job_payload\":%s}", (int)(n - 1), cols,
             (int)d->json_len, d->json, job);
fail:
    cJSON_free(cols);
    return row;
}

/* The store's verdict on this delivery's rows. */
static void row_done(struct wh_row *row, enum wh_row_outcome outcome, const char *msg)
{
    struct delivery *d = row->ud;
    char text[300];

    switch (outcome) {
    case WH_ROW_INSERTED:
    case WH_ROW_DUPLICATE:
        stored(d, outcome == WH_ROW_INSERTED);
        return;
    case WH_ROW_BAD_DATA:
        snprintf(text, sizeof(text), "the payload cannot be stored: %s", msg);
        fail(d, 400, "invalid_payload", "invalid_payload", text);
        return;
    case WH_ROW_FAILED:
        JC_LOG(d->wh->app->log, JC_LOG_ERROR, d->req->request_id, NULL,
               "delivery %s not stored: %s", d->id, msg);
        fail(d, 503, "database_unavailable", "unavailable",
             "the delivery could not be stored; nothing was accepted, a redelivery will work");
        return;
    }
}

static void store(struct delivery *d)
{
    if (d->route.has_job) {
        if (jc_crypto_uuid4(d->job_id) != JC_OK ||
            (d->job_payload = cJSON_PrintUnformatted(d->route.payload)) == NULL) {
            fail(d, 503, "unavailable", "unavailable", "out of memory");
            return;
        }
    }
    d->row_json = row_object(d);
    if (d->row_json == NULL) {
        fail(d, 503, "unavailable", "unavailable", "out of memory");
        return;
    }
    d->row.id = d->id;
    d->row.json = d->row_json;
    d->row.cb = row_done;
    d->row.ud = d;
    wh_store_add(d->wh->store, &d->row);
}

/* Parses the payload: one JSON object and nothing after it but white space. */
static bool parse_whole(struct delivery *d)
{
    const char *end = NULL;
    const char *stop = d->json + d->json_len;

    d->payload = cJSON_ParseWithLengthOpts(d->json, d->json_len, &end, false);
    if (!cJSON_IsObject(d->payload) || end == NULL)
        return false;
    while (end < stop && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
        end++;
    return end == stop;
}

/* After verification: parse, find the project of an app-wide delivery, route, store. */
static void repo_found(const PGresult *res, enum jc_err err, const char *msg, void *ud);

static void verified(struct delivery *d)
{
    const cJSON *a;

    if (d->form) {
        struct evkeyvalq params;
        const char *v;
        TAILQ_INIT(&params);
        if (evhttp_parse_query_str(d->body, &params) == 0 &&
            (v = evhttp_find_header(&params, "payload")) != NULL)
            d->form_json = strdup(v);
        evhttp_clear_headers(&params);
        if (d->form_json == NULL) {
            fail(d, 400, "invalid_payload", "invalid_payload",
                 "form-encoded delivery without a payload= field");
            return;
        }
        d->json = d->form_json;
        d->json_len = strlen(d->form_json);
    } else {
        d->json = d->body != NULL ? d->body : "";
        d->json_len = d->len;
    }
    if (!parse_whole(d)) {
        fail(d, 400, "invalid_json", "invalid_json", "the payload is not a JSON object");
        return;
    }
    a = cJSON_GetObjectItemCaseSensitive(d->payload, "action");
    if (cJSON_IsString(a))
        snprintf(d->action, sizeof(d->action), "%s", a->valuestring);
    if (jc_crypto_sha256_hex(d->body, d->len, d->hash) != JC_OK) {
        fail(d, 503, "unavailable", "unavailable", "hash failed");
        return;
    }
    if (d->app_wide) {
        /* Find the project by any of the repository's URLs. */
        static const char *const keys[] = {"html_url", "clone_url", "ssh_url", "git_url"};
        const cJSON *repo = cJSON_GetObjectItemCaseSensitive(d->payload, "repository");
        const cJSON *full = cJSON_GetObjectItemCaseSensitive(repo, "full_name");
        char urls[3][600];
        const char *cands[7];
        int n = 0;
        size_t i;
        char *arr;

        for (i = 0; i < 4; i++) {
            const cJSON *u = cJSON_GetObjectItemCaseSensitive(repo, keys[i]);
            if (cJSON_IsString(u))
                cands[n++] = u->valuestring;
        }
        if (cJSON_IsString(full)) {
            snprintf(urls[0], sizeof(urls[0]), "https://github.com/%s", full->valuestring);
            snprintf(urls[1], sizeof(urls[1]), "https://github.com/%s.git", full->valuestring);
            snprintf(urls[2], sizeof(urls[2]), "%s", full->valuestring);
            cands[n++] = urls[0];
            cands[n++] = urls[1];
            cands[n++] = urls[2];
        }
        arr = jc_pg_array_literal(cands, n);
        if (arr == NULL) {
            fail(d, 503, "unavailable", "unavailable", "out of memory");
            return;
        }
        {
            const char *param[1] = {arr};
            if (jc_pg_query(d->wh->app->pg, 0,
                            "SELECT id, org_id, webhook_secret, default_branch FROM projects "
                            "WHERE repo_url = ANY($1::text[]) LIMIT 1",
                            1, param, repo_found, d) != JC_OK)
                fail(d, 503, "unavailable", "unavailable", "cannot submit the query");
        }
        free(arr);
        return;
    }
    wh_route_event(d->event, d->payload, d->proj.branch, &d->route);
    store(d);
}

static void repo_found(const PGresult *res, enum jc_err err, const char *msg, void *ud)
{
    struct delivery *d = ud;

    if (err != JC_OK) {
        JC_LOG(d->wh->app->log, JC_LOG_ERROR, d->req->request_id, NULL,
               "delivery %s: repository lookup failed: %s", d->id, msg);
        fail(d, 503, "database_unavailable", "unavailable",
             "the delivery could not be stored; nothing was accepted, a redelivery will work");
        return;
    }
    d->have_proj = row_to_project(res, &d->proj);
    if (d->have_proj)
        wh_route_event(d->event, d->payload, d->proj.branch, &d->route);
    store(d);
}

static void verify(struct delivery *d, const char *secret)
{
    unsigned char mac[JC_SHA256_LEN];

    if (jc_crypto_hmac_sha256(secret, strlen(secret), d->body, d->len, mac) != JC_OK ||
        !jc_crypto_equal(mac, sizeof(mac), d->sig, sizeof(d->sig))) {
        fail(d, 401, "invalid_signature", "invalid_signature",
             "X-Hub-Signature-256 does not match the body for this webhook's secret");
        return;
    }
    verified(d);
}

static void project_found(const PGresult *res, enum jc_err err, const char *msg, void *ud)
{
    struct delivery *d = ud;

    if (err != JC_OK) {
        JC_LOG(d->wh->app->log, JC_LOG_ERROR, d->req->request_id, NULL,
               "delivery %s: project lookup failed: %s", d->id, msg);
        fail(d, 503, "database_unavailable", "unavailable",
             "the delivery could not be stored; nothing was accepted, a redelivery will work");
        return;
    }
    if (!row_to_project(res, &d->proj)) {
        fail(d, 404, "unknown_project", "unknown_project", "no project with that id");
        return;
    }
    d->have_proj = true;
    cache_put(d->wh, &d->proj);
    verify(d, d->proj.secret);
}

/* ---- request checks ---- */

static bool token_ok(const char *s, size_t max, const char *extra)
{
    size_t i, n;

    if (s == NULL || (n = strlen(s)) == 0 || n > max)
        return false;
    for (i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && strchr(extra, s[i]) == NULL)
            return false;
    return true;
}

/* Decodes "sha256=<64 hex>" into sig; false when malformed. */
static bool parse_signature(const char *h, unsigned char sig[JC_SHA256_LEN])
{
    return h != NULL && strncmp(h, "sha256=", 7) == 0 && jc_crypto_unhex(h + 7, sig, JC_SHA256_LEN);
}

static void receive(struct jc_req *req, struct wh *wh, bool app_wide)
{
    struct delivery *d = calloc(1, sizeof(*d));
    const char *event = jc_req_header(req, "X-GitHub-Event");
    const char *id = jc_req_header(req, "X-GitHub-Delivery");
    const char *ct = jc_req_header(req, "Content-Type");
    struct wh_project *cached;
    size_t ctlen;

    if (d == NULL) {
        jc_http_reply_error(req, 503, "unavailable", "out of memory");
        return;
    }
    d->wh = wh;
    d->req = req;
    d->app_wide = app_wide;
    d->start = jc_clock_mono();
    if (!token_ok(event, 64, "_")) {
        fail(d, 400, "bad_request", "bad_request", "missing or malformed X-GitHub-Event header");
        return;
    }
    snprintf(d->event, sizeof(d->event), "%s", event);
    if (!token_ok(id, 128, "-_.")) {
        fail(d, 400, "bad_request", "bad_request", "missing or malformed X-GitHub-Delivery header");
        return;
    }
    snprintf(d->id, sizeof(d->id), "%s", id);
    ctlen = ct != NULL ? strcspn(ct, "; ") : 0;
    if (ctlen == 16 && strncasecmp(ct, "application/json", 16) == 0) {
        d->form = false;
    } else if (ctlen == 33 && strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0) {
        d->form = true;
    } else {
        fail(d, 415, "unsupported_media_type", "unsupported_media_type",
             "Content-Type must be application/json or application/x-www-form-urlencoded");
        return;
    }
    if (!parse_signature(jc_req_header(req, "X-Hub-Signature-256"), d->sig)) {
        if (jc_req_header(req, "X-Hub-Signature-256") != NULL)
            fail(d, 401, "invalid_signature", "invalid_signature",
                 "malformed X-Hub-Signature-256 (expected sha256= and 64 hex digits)");
        else if (jc_req_header(req, "X-Hub-Signature") != NULL)
            fail(d, 401, "invalid_signature", "invalid_signature",
                 "X-Hub-Signature-256 is missing; SHA-1 signatures (X-Hub-Signature) are not "
                 "accepted");
        else
            fail(d, 401, "missing_signature", "missing_signature",
                 "X-Hub-Signature-256 is missing: set a secret on the GitHub webhook");
        return;
    }
    d->body = jc_req_body(req, &d->len);
    if (app_wide) {
        if (wh->app->cfg.github_webhook_secret == NULL) {
            fail(d, 404, "not_found", "not_configured",
                 "the app-wide endpoint needs JIVE_GITHUB_WEBHOOK_SECRET; use "
                 "/webhooks/github/<project-id>");
            return;
        }
        verify(d, wh->app->cfg.github_webhook_secret);
        return;
    }
    {
        const char *pid = req->path + strlen("/webhooks/github/");
        const char *p[1] = {pid};
        if (!jc_crypto_is_uuid(pid)) {
            fail(d, 404, "unknown_project", "unknown_project", "no project with that id");
            return;
        }
        cached = cache_get(wh, pid);
        if (cached != NULL) {
            d->proj = *cached;
            d->have_proj = true;
            verify(d, d->proj.secret);
            return;
        }
        if (jc_pg_query(wh->app->pg, 0,
                        "SELECT id, org_id, webhook_secret, default_branch FROM projects "
                        "WHERE id = $1::uuid",
                        1, p, project_found, d) != JC_OK)
            fail(d, 503, "unavailable", "unavailable", "cannot submit the query");
    }
}

static void per_project(struct jc_req *req, void *ud)
{
    receive(req, ud, false);
}

static void app_wide(struct jc_req *req, void *ud)
{
    receive(req, ud, true);
}

enum jc_err wh_receiver_init(struct wh *wh)
{
    enum jc_err rc = jc_http_route(wh->app->http, "POST", "/webhooks/github", app_wide, wh);

    if (rc == JC_OK)
        rc = jc_http_route(wh->app->http, "POST", "/webhooks/github/*", per_project, wh);
    return rc;
}
