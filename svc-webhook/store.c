/* SPDX-License-Identifier: MIT */
/*
 * store.c: jive-webhook's group commit. Deliveries that arrive while earlier ones are being
 * committed share the next statement, which inserts their event rows and job rows (atomic,
 * deduplicated by delivery id). The statement has one shape whatever the batch size (a JSON
 * array of rows read with jsonb_to_recordset), so each pool connection parses and plans it once.
 * Jobs pushed to Redis are marked enqueued by the next statement, or by one of their own when
 * no delivery comes within MARKS_WAIT_MS. The store owns its queue, its marks and their timer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jc/later.h"
#include "jc/outbox.h"
#include "webhook.h"

/* Job ids pushed to Redis, waiting to be marked enqueued. */
#define MARKS_WAIT_MS 20

struct wh_store {
    struct jc_app *app;
    struct wh_row *head, *tail; /* rows waiting for the next statement */
    int in_flight;              /* statements running */
    struct {
        char (*ids)[40];
        int n, cap;
        bool in_flight;      /* a statement of marks alone is running */
        struct event *timer; /* MARKS_WAIT_MS after the first pending mark */
    } marks;
};

struct wh_store *wh_store_new(struct jc_app *app)
{
    struct wh_store *s = calloc(1, sizeof(*s));

    if (s == NULL)
        return NULL;
    s->app = app;
    return s;
}

void wh_store_free(struct wh_store *s)
{
    if (s == NULL)
        return;
    if (s->marks.timer != NULL)
        event_free(s->marks.timer);
    free(s->marks.ids);
    free(s);
}

/* ---- marking pushed jobs enqueued: coalesced into one UPDATE at a time ---- */

struct mark_flush {
    struct wh_store *s;
    void (*cb)(void *ud);
    void *ud;
};

static void marks_send(struct wh_store *s);

static void marks_done(const PGresult *res, enum jc_err err, const char *msg, void *ud)
{
    struct wh_store *s = ud;

    (void)res;
    s->marks.in_flight = false;
    if (err != JC_OK) /* the sweeper sees them unmarked: at worst a duplicate message */
        jc_warn(s->app->log, "could not mark pushed jobs enqueued: %s", msg);
    marks_send(s);
}

/* Pending marks, taken over by a statement that writes them (ids NULL when none). */
struct marks {
    char (*ids)[40];
    int n;
};

static struct marks marks_take(struct wh_store *s)
{
    struct marks m = {s->marks.ids, s->marks.n};

    s->marks.ids = NULL;
    s->marks.n = s->marks.cap = 0;
    if (s->marks.timer != NULL)
        evtimer_del(s->marks.timer);
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

/* A statement that carried marks failed: they are pending again. Frees m's ids. */
static void marks_restore(struct wh_store *s, struct marks *m)
{
    int i;

    for (i = 0; i < m->n; i++)
        wh_store_mark(s, m->ids[i]);
    free(m->ids);
    m->ids = NULL;
    m->n = 0;
}

/* Writes the pending marks in a statement of their own (no delivery batch took them). */
static void marks_send(struct wh_store *s)
{
    struct marks m;
    char *arr;

    if (s->marks.in_flight || s->marks.n == 0)
        return;
    m = marks_take(s);
    arr = marks_literal(&m);
    if (arr != NULL && jc_outbox_mark_enqueued(s->app->pg, arr, marks_done, s) == JC_OK) {
        s->marks.in_flight = true;
        free(m.ids);
    } else {
        marks_restore(s, &m); /* the timer tries again */
    }
    free(arr);
}

static void marks_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    marks_send(arg);
}

void wh_store_mark(struct wh_store *s, const char *job_id)
{
    struct timeval tv = {0, MARKS_WAIT_MS * 1000};

    if (s->marks.n == s->marks.cap) {
        int cap = s->marks.cap * 2 + 64;
        char(*n)[40] = realloc(s->marks.ids, (size_t)cap * sizeof(*n));
        if (n == NULL)
            return; /* unmarked: the outbox re-pushes it later */
        s->marks.ids = n;
        s->marks.cap = cap;
    }
    snprintf(s->marks.ids[s->marks.n++], 40, "%s", job_id);
    if (s->marks.timer == NULL)
        s->marks.timer = evtimer_new(s->app->base, marks_timeout, s);
    if (s->marks.timer == NULL)
        marks_send(s);
    else if (!evtimer_pending(s->marks.timer, NULL))
        evtimer_add(s->marks.timer, &tv);
}

static void flush_poll(evutil_socket_t fd, short what, void *arg);

/* Polls every 10 ms until no mark is pending or in flight, then calls back. */
static void flush_step(struct mark_flush *f)
{
    struct wh_store *s = f->s;
    struct timeval tv = {0, 10000};

    if (!s->marks.in_flight && s->marks.n == 0) {
        f->cb(f->ud);
        free(f);
        return;
    }
    marks_send(s);
    if (event_base_once(s->app->base, -1, EV_TIMEOUT, flush_poll, f, &tv) != 0) {
        f->cb(f->ud);
        free(f);
    }
}

static void flush_first(void *arg)
{
    flush_step(arg);
}

static void flush_poll(evutil_socket_t fd, short what, void *arg)
{
    struct mark_flush *f = arg;

    (void)fd;
    (void)what;
    flush_step(f);
}

void wh_store_flush(struct wh_store *s, void (*cb)(void *ud), void *ud)
{
    struct mark_flush *f = malloc(sizeof(*f));

    if (f == NULL) { /* the marks stay unwritten: the outbox re-pushes those jobs */
        jc_later(s->app->base, cb, ud);
        return;
    }
    f->s = s;
    f->cb = cb;
    f->ud = ud;
    jc_later(s->app->base, flush_first, f);
}

/* ---- group commit: many deliveries, one INSERT, one commit ---- */

#define BATCH_MAX 64

/*
 * $1 is a JSON array with one object per delivery (see struct wh_row). The event rows go in
 * first; a delivery id already stored is skipped (ON CONFLICT), and only the ids really
 * inserted come back and get their payload row (webhook_payloads, partitioned by day: schema
 * 018) and their job row. $2 lists the jobs pushed to Redis since the last
 * statement: their job and event rows are marked enqueued in the same commit
 * (jive_mark_enqueued, schema 011).
 */
static const char store_sql[] =
    "WITH m AS (SELECT jive_mark_enqueued($2::uuid[])),"
    " ev AS ("
    "  INSERT INTO webhook_events (id, source, org_id, project_id, event_type, action,"
    "    payload_hash, status, processed, processed_at, error_message)"
    "  SELECT id, 'github', org_id, project_id, event_type, action, payload_hash,"
    "    status, processed, CASE WHEN processed THEN now() END, error_message"
    "  FROM jsonb_to_recordset($1::jsonb) AS v (id text, org_id uuid, project_id uuid,"
    "    event_type text, action text, payload_hash text, status text,"
    "    processed boolean, error_message text)"
    "  ON CONFLICT (id) DO NOTHING RETURNING id, received_at),"
    " p AS ("
    "  INSERT INTO webhook_payloads (event_id, received_at, payload)"
    "  SELECT v.id, ev.received_at, v.payload"
    "  FROM jsonb_to_recordset($1::jsonb) AS v (id text, payload jsonb) JOIN ev ON ev.id = v.id),"
    " j AS ("
    "  INSERT INTO jobs (id, org_id, project_id, queue, payload, event_id, request_id,"
    "    traceparent, max_attempts)"
    "  SELECT v.job_id, v.org_id, v.project_id, v.queue, v.job_payload, v.id, v.request_id,"
    "    v.traceparent, v.max_attempts"
    "  FROM jsonb_to_recordset($1::jsonb) AS v (id text, job_id uuid, org_id uuid,"
    "    project_id uuid, queue text, job_payload jsonb, request_id text, traceparent text,"
    "    max_attempts int)"
    "  JOIN ev ON ev.id = v.id WHERE v.job_id IS NOT NULL)"
    " SELECT id FROM ev WHERE EXISTS (SELECT FROM m)";

struct batch {
    struct wh_store *s;
    struct wh_row *list; /* linked by next */
    int n;
    struct marks marks; /* the marks this batch's statement writes */
    const char *unsent; /* why the statement could not be sent */
};

static void flush_store(struct wh_store *s);

static void batch_free(struct batch *b)
{
    free(b->marks.ids);
    free(b);
}

/* Puts a delivery of a failed batch back at the head of the queue. */
static void requeue(struct wh_store *s, struct wh_row *d, bool alone)
{
    d->alone = d->alone || alone;
    d->retried = true;
    d->next = s->head;
    s->head = d;
    if (s->tail == NULL)
        s->tail = d;
}

static void batch_failed(struct batch *b, const PGresult *res, const char *msg)
{
    struct wh_row *d, *next;
    const char *state = jc_pg_sqlstate(res);
    bool bad_data = strncmp(state, "22", 2) == 0 || strncmp(state, "54", 2) == 0;
    /* deadlock or serialization failure: nothing was stored, one more try is fresh */
    bool transient = strncmp(state, "40", 2) == 0;

    marks_restore(b->s, &b->marks); /* rolled back with the batch */
    for (d = b->list; d != NULL; d = next) {
        next = d->next;
        if (bad_data && b->n > 1) {
            /* a data exception (\u0000 in a string, ...) or a payload nested too deep
               belongs to one delivery: try each alone */
            requeue(b->s, d, true);
        } else if (transient && !d->retried) {
            requeue(b->s, d, false);
        } else {
            d->next = NULL;
            d->cb(d, bad_data ? WH_ROW_BAD_DATA : WH_ROW_FAILED, msg);
        }
    }
}

static void batch_done(const PGresult *res, enum jc_err err, const char *msg, void *ud)
{
    struct batch *b = ud;
    struct wh_store *s = b->s;
    struct wh_row *d, *next;
    int i, rows;

    s->in_flight--;
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
            d->cb(d, inserted ? WH_ROW_INSERTED : WH_ROW_DUPLICATE, NULL);
        }
    }
    batch_free(b);
    flush_store(s);
}

/* A batch whose statement could not be sent fails on the next turn: a row's callback never
 * runs inside wh_store_add. */
static void unsent(void *arg)
{
    struct batch *b = arg;

    batch_failed(b, NULL, b->unsent);
    batch_free(b);
}

static void send_batch(struct wh_store *s, struct batch *b)
{
    size_t cap = 3, len = 0;
    struct wh_row *d;
    const char *p[2];
    char *json, *marks = NULL;

    b->marks = marks_take(s);
    for (d = b->list; d != NULL; d = d->next)
        cap += strlen(d->json) + 1;
    json = malloc(cap);
    if (json == NULL || (marks = marks_literal(&b->marks)) == NULL) {
        free(json);
        b->unsent = "out of memory";
        jc_later(s->app->base, unsent, b);
        return;
    }
    json[len++] = '[';
    for (d = b->list; d != NULL; d = d->next) {
        size_t n = strlen(d->json);
        if (d != b->list)
            json[len++] = ',';
        memcpy(json + len, d->json, n);
        len += n;
    }
    json[len++] = ']';
    json[len] = '\0';
    p[0] = json;
    p[1] = marks;
    if (jc_pg_query_prepared(s->app->pg, 0, "jive_webhook_store", store_sql, 2, p, batch_done, b) ==
        JC_OK) {
        s->in_flight++;
    } else {
        b->unsent = "cannot submit the query";
        jc_later(s->app->base, unsent, b);
    }
    free(json);
    free(marks);
}

/* True when a delivery with id is already in list. */
static bool in_batch(const struct wh_row *list, const char *id)
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
static void flush_store(struct wh_store *s)
{

    while (s->head != NULL && s->in_flight < (int)s->app->cfg.db_pool_size) {
        struct batch *b = calloc(1, sizeof(*b));
        struct wh_row **pp = &s->head, *d, *last = NULL, *prev = NULL;

        if (b == NULL)
            return;
        b->s = s;
        while ((d = *pp) != NULL && b->n < BATCH_MAX) {
            if ((d->alone && b->n > 0) || in_batch(b->list, d->id)) {
                prev = d;
                pp = &d->next;
                continue;
            }
            *pp = d->next; /* unlink from the queue */
            if (s->tail == d)
                s->tail = prev;
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
        send_batch(s, b);
    }
}

void wh_store_add(struct wh_store *s, struct wh_row *row)
{
    row->next = NULL;
    if (s->tail != NULL)
        s->tail->next = row;
    else
        s->head = row;
    s->tail = row;
    flush_store(s);
}
