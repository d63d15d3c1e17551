/* SPDX-License-Identifier: MIT */
/* webhook.h: jive-webhook's internal interfaces (receiver, group commit, routing, operator
 * enqueue). */
#ifndef WH_WEBHOOK_H
#define WH_WEBHOOK_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "jc/app.h"
#include "jc/queue.h"

/* A project as the receiver needs it; cached for WH_CACHE_TTL seconds. */
struct wh_project {
    char id[40];
    char org_id[40];
    char secret[256];
    char branch[256];
    double fetched; /* monotonic seconds */
};

#define WH_CACHE_SIZE 256
#define WH_CACHE_TTL 30.0

/*
 * One row of the group commit (store.c): a delivery's event row and, when it has one, its job
 * row, as one JSON object with the columns of store.c's statement (id, org_id, project_id,
 * event_type, action, payload, payload_hash, status, processed, error_message, job_id, queue,
 * job_payload, request_id, traceparent, max_attempts). The owner keeps id and json alive
 * until cb.
 */
enum wh_row_outcome {
    WH_ROW_INSERTED,  /* committed */
    WH_ROW_DUPLICATE, /* a delivery with this id was stored before: nothing new */
    WH_ROW_BAD_DATA,  /* the row cannot be stored (msg says why): nothing stored */
    WH_ROW_FAILED     /* the database failed (msg): nothing stored, a redelivery will work */
};
struct wh_row;
typedef void wh_row_cb(struct wh_row *row, enum wh_row_outcome outcome, const char *msg);
struct wh_row {
    const char *id;
    const char *json;
    wh_row_cb *cb;
    void *ud;
    bool alone, retried; /* the store's: after a failed batch */
    struct wh_row *next; /* the store's */
};

struct wh_store;

/* A store committing through app's pool; NULL on ENOMEM. */
struct wh_store *wh_store_new(struct jc_app *app);

/* Frees the store and its pending marks (call after wh_store_flush). NULL is a no-op. */
void wh_store_free(struct wh_store *s);

/* Queues row for the next statement; cb runs exactly once with its outcome, never inside this
 * call. */
void wh_store_add(struct wh_store *s, struct wh_row *row);

/* A job reached Redis: its rows are marked enqueued by the next statement (no statement or
 * commit of their own under load), or by one of their own when no delivery comes. */
void wh_store_mark(struct wh_store *s, const char *job_id);

/* Marks still pending at shutdown are written before cb runs (or dropped if the database is
 * gone: the outbox then re-pushes those jobs, which handlers tolerate). */
void wh_store_flush(struct wh_store *s, void (*cb)(void *ud), void *ud);

struct wh {
    struct jc_app *app;
    struct wh_store *store;
    struct wh_project cache[WH_CACHE_SIZE];
    struct event *tick; /* queue-depth gauge refresh */
    struct jc_outbox *outbox;
};

/* What a delivery turns into. */
struct wh_route {
    bool has_job;
    enum jc_queue queue;
    cJSON *payload;     /* the job's payload (owned); NULL when no job */
    const char *reason; /* why there is no job (static), for the stored event's message */
};

/*
 * The metrics label for an X-GitHub-Event value: the name itself when it is one of the events
 * GitHub documents for repository webhooks, else "other" (and "unknown" for none), so that what
 * an unauthenticated sender writes cannot add series to /metrics. Returns a static string.
 */
const char *wh_event_label(const char *event);

/*
 * Decides the job of a verified delivery: push to the tracked branch → artifact-scan (SHAs,
 * added/modified/removed paths across all commits, full flag); pull_request →
 * conflict-detection; workflow_run, check_run, check_suite → run-sync; anything else: no job.
 * r->payload must be freed with cJSON_Delete.
 */
void wh_route_event(const char *event, const cJSON *payload, const char *tracked_branch,
                    struct wh_route *r);

/* Registers POST /webhooks/github and POST /webhooks/github/<project-id>. */
enum jc_err wh_receiver_init(struct wh *wh) JC_MUSTCHECK;

/* Registers POST /api/jobs/enqueue (admin token, or JIVE_ENV=development). */
enum jc_err wh_admin_init(struct wh *wh) JC_MUSTCHECK;

/* service.c: the service's start (jc_app_main's setup): its state, routes and shutdown. */
enum jc_err wh_setup(struct jc_app *app, char *err, size_t errlen) JC_MUSTCHECK;

#endif
