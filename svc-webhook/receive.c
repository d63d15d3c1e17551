/* SPDX-License-Identifier: MIT */
/*
 * receive.c: one GitHub delivery, start to finish. Authenticity first: the HMAC of the raw
 * body is checked (constant time) before any JSON is parsed. The event row and its job row are
 * inserted by one statement (atomic, deduplicated by delivery id); the job message is pushed to
 * Redis only after that commit, and a push that fails is left to the outbox sweeper.
 *
 * Group commit: deliveries that arrive while earlier ones are being committed share the next
 * statement. That statement has one shape whatever the batch size (a JSON array of rows read
 * with jsonb_to_recordset), so each pool connection parses and plans it once.
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
    char *row_json;    /* this delivery's object in the batch's JSON array, payload spliced in */
    char *job_payload; /* the job's payload JSON */
    bool alone;        /* insert in a batch of its own (after a batch's data error) */
    bool retried;      /* already back in the queue once after a failed batch */
    struct delivery *next;
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

/* ---- marking pushed jobs enqueued: coalesced into one UPDATE at a time ---- */

struct mark_flush {
    struct wh *wh;
    void (*cb)(struct wh *wh, void *ud);
    void *ud;
};

static void marks_send(struct wh *wh);

static void marks_done(const PGresult *res, enum jc_err err, const char *msg, void *ud)
{
    struct wh *wh = ud;

    (void)res;
    wh->marks.in_flight = false;
    if (err != JC_OK) /* the sweeper sees them unmarked: at worst a duplicate message */
        jc_warn(wh->app->log, "could not mark pushed jobs enqueued: %s", msg);
    marks_send(wh);
}

/* Pending marks, taken over by a statement that writes them (ids NULL when none). */
struct marks {
    char (*ids)[40];
    int n;
};

static struct marks marks_take(struct wh *wh)
{
    struct marks m = {wh->marks.ids, wh->marks.n};

    wh->marks.ids = NULL;
    wh->marks.n = wh->marks.cap = 0;
    if (wh->marks.timer != NULL)
        evtimer_del(wh->marks.timer);
    return m;
}

/* The marks as one Postgres array literal for a uuid[] parameter (malloc'd), NULL on ENOMEM. */
static char *marks_literal(const struct marks *m)
{
    const char **ids = calloc((size_t)m->n + 1, sizeof(char *));
    char *arr;
    int i;

    if (ids == NULL)
        return NULL;
    for (i = 0; i < m->n; i++)
        ids[i] = m->ids[i];
    arr = jc_pg_array_literal(ids, m->n);
    free(ids);
    return arr;
}

static void marks_add(struct wh *wh, const char *job_id);

/* A statement that carried marks failed: they are pending again. Frees m's ids. */
static void marks_restore(struct wh *wh, struct marks *m)
{
    int i;

    for (i = 0; i < m->n; i++)
        marks_add(wh, m->ids[i]);
    free(m->ids);
    m->ids = NULL;
    m->n = 0;
}

/* Writes the pending marks in a statement of their own (no delivery batch took them). */
static void marks_send(struct wh *wh)
{
    struct marks m;
    char *arr;

    if (wh->marks.in_flight || wh->marks.n == 0)
        return;
    m = marks_take(wh);
    arr = marks_literal(&m);
    if (arr != NULL && jc_outbox_mark_enqueued(wh->app->pg, arr, marks_done, wh) == JC_OK) {
        wh->marks.in_flight = true;
        free(m.ids);
    } else {
        marks_restore(wh, &m); /* the timer tries again */
    }
    free(arr);
}

static void marks_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    marks_send(arg);
}

/*
 * A job reached Redis: its rows are marked enqueued by the next delivery batch's statement
 * (no statement or commit of their own under load), or after MARKS_WAIT_MS by marks_send
 * when no batch comes.
 */
static void marks_add(struct wh *wh, const char *job_id)
{
    struct timeval tv = {0, MARKS_WAIT_MS * 1000};

    if (wh->marks.n == wh->marks.cap) {
        int cap = wh->marks.cap * 2 + 64;
        char(*n)[40] = realloc(wh->marks.ids, (size_t)cap * sizeof(*n));
        if (n == NULL)
            return; /* unmarked: the outbox re-pushes it later */
        wh->marks.ids = n;
        wh->marks.cap = cap;
    }
    snprintf(wh->marks.ids[wh->marks.n++], 40, "%s", job_id);
    if (wh->marks.timer == NULL)
        wh->marks.timer = evtimer_new(wh->app->base, marks_timeout, wh);
    if (wh->marks.timer == NULL)
        marks_send(wh);
    else if (!evtimer_pending(wh->marks.timer, NULL))
        evtimer_add(wh->marks.timer, &tv);
}

static void flush_poll(evutil_socket_t fd, short what, void *arg);

/* Polls every 10 ms until no mark is pending or in flight, then calls back. */
static void flush_step(struct mark_flush *f)
{
    struct wh *wh = f->wh;
    struct timeval tv = {0, 10000};

    if (!wh->marks.in_flight && wh->marks.n == 0) {
        f->cb(wh, f->ud);
        free(f);
        return;
    }
    marks_send(wh);
    if (event_base_once(wh->app->base, -1, EV_TIMEOUT, flush_poll, f, &tv) != 0) {
        f->cb(wh, f->ud);
        free(f);
    }
}

static void flush_poll(evutil_socket_t fd, short what, void *arg)
{
    struct mark_flush *f = arg;

    (void)fd;
    (void)what;
    flush_step(f);
}

void wh_marks_flush(struct wh *wh, void (*cb)(struct wh *wh, void *ud), void *ud)
{
    struct mark_flush *f = malloc(sizeof(*f));

    if (f == NULL) {
        cb(wh, ud);
        return;
    }
    f->wh = wh;
    f->cb = cb;
    f->ud = ud;
    flush_step(f);
}

/* ---- after the rows are committed ---- */

static void pushed(const redisReply *reply, enum jc_err err, const char *msg, void *ud)
{
    struct delivery *d = ud;

    (void)reply;
    if (err != JC_OK)
        /* Accepted all the same: the job row is committed, the outbox sweeper pushes it. */
        JC_LOG(d->wh->app->log, JC_LOG_WARN, d->req->request_id, NULL,
               "delivery %s: job %s stored, not yet queued (%s); the outbox will push it", d->id,
               d->job_id, msg);
    else
        marks_add(d->wh, d->job_id);
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
    char *m;

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
    job.max_attempts = 3;
    job.payload = d->job_payload;
    m = jc_queue_message(&job);
    if (m == NULL || jc_queue_push(d->wh->app->redis, d->route.queue, m, pushed, d) != JC_OK)
        done(d, 202, "accepted"); /* committed: the outbox pushes it */
    free(m);
}

/* ---- group commit: many deliveries, one INSERT, one commit ---- */

#define BATCH_MAX 64

/*
 * $1 is a JSON array with one object per delivery (built by row_object). The event rows go in
 * first; a delivery id already stored is skipped (ON CONFLICT), and only the ids really
 * inserted come back and get their job row. $2 lists the jobs pushed to Redis since the last
 * statement: their job and event rows are marked enqueued in the same commit
 * (jive_mark_enqueued, schema 011).
 */
static const char store_sql[] =
    "WITH m AS (SELECT jive_mark_enqueued($2::uuid[])),"
    " ev AS ("
    "  INSERT INTO webhook_events (id, source, org_id, project_id, event_type, action,"
    "    payload, payload_hash, status, processed, processed_at, error_message)"
    "  SELECT id, 'github', org_id, project_id, event_type, action, payload, payload_hash,"
    "    status, processed, CASE WHEN processed THEN now() END, error_message"
    "  FROM jsonb_to_recordset($1::jsonb) AS v (id text, org_id uuid, project_id uuid,"
    "    event_type text, action text, payload jsonb, payload_hash text, status text,"
    "    processed boolean, error_message text)"
    "  ON CONFLICT (id) DO NOTHING RETURNING id),"
    " j AS ("
    "  INSERT INTO jobs (id, org_id, project_id, queue, payload, event_id, request_id,"
    "    traceparent)"
    "  SELECT v.job_id, v.org_id, v.project_id, v.queue, v.job_payload, v.id, v.request_id,"
    "    v.traceparent"
    "  FROM jsonb_to_recordset($1::jsonb) AS v (id text, job_id uuid, org_id uuid,"
    "    project_id uuid, queue text, job_payload jsonb, request_id text, traceparent text)"
    "  JOIN ev ON ev.id = v.id WHERE v.job_id IS NOT NULL)"
    " SELECT id FROM ev WHERE EXISTS (SELECT FROM m)";

struct batch {
    struct wh *wh;
    struct delivery *list; /* linked by next */
    int n;
    struct marks marks; /* the marks this batch's statement writes */
};

static void flush_store(struct wh *wh);

static void batch_free(struct batch *b)
{
    free(b->marks.ids);
    free(b);
}

/* Puts a delivery of a failed batch back at the head of the queue. */
static void requeue(struct wh *wh, struct delivery *d, bool alone)
{
    d->alone = d->alone || alone;
    d->retried = true;
    d->next = wh->store.head;
    wh->store.head = d;
    if (wh->store.tail == NULL)
        wh->store.tail = d;
}

static void batch_failed(struct batch *b, const PGresult *res, const char *msg)
{
    struct delivery *d, *next;
    const char *state = jc_pg_sqlstate(res);
    bool bad_data = strncmp(state, "22", 2) == 0 || strncmp(state, "54", 2) == 0;
    /* deadlock or serialization failure: nothing was stored, one more try is fresh */
    bool transient = strncmp(state, "40", 2) == 0;

    marks_restore(b->wh, &b->marks); /* rolled back with the batch */
    for (d = b->list; d != NULL; d = next) {
        next = d->next;
        if (bad_data && b->n > 1) {
            /* a data exception (\u0000 in a string, ...) or a payload nested too deep
               belongs to one delivery: try each alone */
            requeue(b->wh, d, true);
        } else if (transient && !d->retried) {
            requeue(b->wh, d, false);
        } else if (bad_data) {
            char text[300];
            snprintf(text, sizeof(text), "the payload cannot be stored: %s", msg);
            fail(d, 400, "invalid_payload", "invalid_payload", text);
        } else {
            JC_LOG(b->wh->app->log, JC_LOG_ERROR, d->req->request_id, NULL,
                   "delivery %s not stored: %s", d->id, msg);
            fail(d, 503, "database_unavailable", "unavailable",
                 "the delivery could not be stored; nothing was accepted, a redelivery will "
                 "work");
        }
    }
}

static void batch_done(const PGresult *res, enum jc_err err, const char *msg, void *ud)
{
    struct batch *b = ud;
    struct wh *wh = b->wh;
    struct delivery *d, *next;
    int i, rows;

    wh->store.in_flight--;
    if (err != JC_OK) {
        batch_failed(b, res, msg);
    } else {
        rows = PQntuples(res);
        for (d = b->list; d != NULL; d = next) {
            bool inserted = false;
            next = d->next;
            d->next = NULL;
            for (i = 0; i < rows && !inserted; i++)
                inserted = strcmp(PQgetvalue(res, i, 0), d->id) == 0;
            stored(d, inserted);
        }
    }
    batch_free(b);
    flush_store(wh);
}

static void send_batch(struct wh *wh, struct batch *b)
{
    size_t cap = 3, len = 0;
    struct delivery *d;
    const char *p[2];
    char *json, *marks = NULL;

    b->marks = marks_take(wh);
    for (d = b->list; d != NULL; d = d->next)
        cap += strlen(d->row_json) + 1;
    json = malloc(cap);
    if (json == NULL || (marks = marks_literal(&b->marks)) == NULL) {
        free(json);
        batch_failed(b, NULL, "out of memory");
        batch_free(b);
        return;
    }
    json[len++] = '[';
    for (d = b->list; d != NULL; d = d->next) {
        size_t n = strlen(d->row_json);
        if (d != b->list)
            json[len++] = ',';
        memcpy(json + len, d->row_json, n);
        len += n;
    }
    json[len++] = ']';
    json[len] = '\0';
    p[0] = json;
    p[1] = marks;
    if (jc_pg_query_prepared(wh->app->pg, 0, "jive_webhook_store", store_sql, 2, p, batch_done,
                             b) == JC_OK) {
        wh->store.in_flight++;
    } else {
        batch_failed(b, NULL, "cannot submit the query");
        batch_free(b);
    }
    free(json);
    free(marks);
}

/* True when a delivery with id is already in list. */
static bool in_batch(const struct delivery *list, const char *id)
{
    for (; list != NULL; list = list->next)
        if (strcmp(list->id, id) == 0)
            return true;
    return false;
}

/*
 * Sends waiting deliveries as batches while fewer batches than pool connections are in
 * flight: at low load every delivery goes at once; under load the ones that arrive during a
 * commit share the next one. A redelivery of an id already in the batch waits for the next.
 */
static void flush_store(struct wh *wh)
{
    struct wh_store_queue *q = &wh->store;

    while (q->head != NULL && q->in_flight < (int)wh->app->cfg.db_pool_size) {
        struct batch *b = calloc(1, sizeof(*b));
        struct delivery **pp = &q->head, *d, *last = NULL, *prev = NULL;

        if (b == NULL)
            return;
        b->wh = wh;
        while ((d = *pp) != NULL && b->n < BATCH_MAX) {
            if ((d->alone && b->n > 0) || in_batch(b->list, d->id)) {
                prev = d;
                pp = &d->next;
                continue;
            }
            *pp = d->next; /* unlink from the queue */
            if (q->tail == d)
                q->tail = prev;
            d->next = NULL;
            if (last != NULL)
                last->next = d;
            else
                b->list = d;
            last = d;
            b->n++;
            if (d->alone)
                break;
        }
        if (b->n == 0) {
            free(b);
            return;
        }
        send_batch(wh, b);
    }
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

static void store(struct delivery *d)
{
    struct wh_store_queue *q = &d->wh->store;

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
    d->next = NULL;
    if (q->tail != NULL)
        q->tail->next = d;
    else
        q->head = d;
    q->tail = d;
    flush_store(d->wh);
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
