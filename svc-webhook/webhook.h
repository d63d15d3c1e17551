/* SPDX-License-Identifier: MIT */
/* webhook.h: jive-webhook's internal interfaces (receiver, routing, operator enqueue). */
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

struct delivery;

/* Group commit: deliveries waiting for the next multi-row insert. */
struct wh_store_queue {
    struct delivery *head, *tail;
    int in_flight; /* batches being inserted */
};

/* Job ids pushed to Redis, waiting to be marked enqueued: by the next delivery batch, or on
 * their own after MARKS_WAIT_MS without one. */
#define MARKS_WAIT_MS 20
struct wh_marks {
    char (*ids)[40];
    int n, cap;
    bool in_flight;      /* a statement of marks alone is running */
    struct event *timer; /* MARKS_WAIT_MS after the first pending mark */
};

struct wh {
    struct jc_app *app;
    struct wh_store_queue store;
    struct wh_marks marks;
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

/* Marks still pending at shutdown are written before cb runs (or dropped if the database is
 * gone: the outbox then re-pushes those jobs, which handlers tolerate). */
void wh_marks_flush(struct wh *wh, void (*cb)(struct wh *wh, void *ud), void *ud);

/* Registers POST /webhooks/github and POST /webhooks/github/<project-id>. */
enum jc_err wh_receiver_init(struct wh *wh) JC_MUSTCHECK;

/* Registers POST /api/jobs/enqueue (admin token, or JIVE_ENV=development). */
enum jc_err wh_admin_init(struct wh *wh) JC_MUSTCHECK;

#endif
