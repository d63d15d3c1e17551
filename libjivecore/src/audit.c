/* SPDX-License-Identifier: MIT */
/* audit.c: buffered, batched audit rows; spool file across restarts. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jc/audit.h"
#include "jc/clock.h"

#define BATCH 500
#define MEMORY_CAP 100000

static const char insert_sql[] =
    "INSERT INTO mcp_audit_logs (org_id, project_id, actor_type, actor_id, actor_name, tool,"
    " scope, args_hash, result, error_message, \"timestamp\", ip_address, user_agent,"
    " request_id, duration_ms) "
    "SELECT r.org_id, r.project_id, r.actor_type, r.actor_id, r.actor_name, r.tool, r.scope,"
    " r.args_hash, r.result, r.error, r.ts, r.ip, r.user_agent, r.request_id, r.duration_ms "
    "FROM jsonb_to_recordset($1::jsonb) AS r(org_id uuid, project_id uuid, actor_type text,"
    " actor_id text, actor_name text, tool text, scope text, args_hash text, result text,"
    " error text, ts timestamptz, ip inet, user_agent text, request_id text, duration_ms int)";

struct jc_audit {
    struct event_base *base;
    struct jc_pg *pg;
    struct jc_log *log;
    char *spool;
    long interval_ms;
    cJSON *rows;   /* waiting */
    int nrows;     /* cJSON_GetArraySize(rows), kept here: that call walks the list */
    int in_flight; /* rows sent in the current batch (the first in_flight of rows) */
    struct event *timer;
    void (*flush_cb)(void *);
    void *flush_ud;
    struct jc_metric *m_written, *m_spooled;
};

static void schedule(struct jc_audit *a, long ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

    evtimer_add(a->timer, &tv);
}

/* Appends rows [from, end) of a->rows to the spool file and removes them. */
static void spool_out(struct jc_audit *a, int from)
{
    FILE *f;
    int n = a->nrows;
    cJSON *row;

    if (a->spool == NULL || from >= n)
        return;
    f = fopen(a->spool, "a");
    if (f == NULL) {
        jc_error(a->log, "audit: cannot open the spool file %s: %s", a->spool, strerror(errno));
        return;
    }
    for (row = cJSON_GetArrayItem(a->rows, from); row != NULL; row = row->next) {
        char *line = cJSON_PrintUnformatted(row);
        if (line != NULL)
            fprintf(f, "%s\n", line);
        cJSON_free(line);
    }
    fclose(f);
    jc_metric_inc(a->m_spooled, n - from);
    jc_warn(a->log, "audit: %d row(s) kept in %s until the database returns", n - from, a->spool);
    row = cJSON_GetArrayItem(a->rows, from);
    while (row != NULL) {
        cJSON *next = row->next;
        cJSON_Delete(cJSON_DetachItemViaPointer(a->rows, row));
        row = next;
    }
    a->nrows = from;
}

/* Loads the spool file left by an earlier run into the buffer (start-up only). */
static void spool_in(struct jc_audit *a)
{
    FILE *f;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int loaded = 0;

    if (a->spool == NULL || (f = fopen(a->spool, "r")) == NULL)
        return;
    while ((n = getline(&line, &cap, f)) > 0) {
        cJSON *row = cJSON_ParseWithLength(line, (size_t)n);
        if (cJSON_IsObject(row)) {
            cJSON_AddItemToArray(a->rows, row);
            a->nrows++;
            loaded++;
        } else {
            cJSON_Delete(row);
        }
    }
    free(line);
    fclose(f);
    remove(a->spool); /* the rows live in memory now; spooled again if they cannot be written */
    if (loaded > 0)
        jc_info(a->log, "audit: %d spooled row(s) loaded from %s", loaded, a->spool);
}

static void send_batch(struct jc_audit *a);

static void written(const PGresult *res, enum jc_err err, const char *msg, void *ud)
{
    struct jc_audit *a = ud;
    int n = a->in_flight, i;

    (void)res;
    a->in_flight = 0;
    if (err == JC_OK) {
        for (i = 0; i < n; i++)
            cJSON_DeleteItemFromArray(a->rows, 0);
        a->nrows -= n;
        jc_metric_inc(a->m_written, n);
        if (a->nrows > 0) {
            send_batch(a);
            return;
        }
    } else {
        jc_warn(a->log, "audit: %d row(s) not written yet: %s", a->nrows, msg);
        if (a->flush_cb != NULL)
            spool_out(a, 0); /* shutting down: keep them on disk */
    }
    if (a->flush_cb != NULL && (a->nrows == 0 || err != JC_OK)) {
        void (*cb)(void *) = a->flush_cb;
        a->flush_cb = NULL;
        cb(a->flush_ud);
        return;
    }
    schedule(a, err == JC_OK ? a->interval_ms : a->interval_ms * 5);
}

static void send_batch(struct jc_audit *a)
{
    cJSON *batch;
    char *text;
    cJSON *row;
    int i = 0;
    const char *p[1];

    if (a->in_flight > 0 || a->nrows == 0)
        return;
    batch = cJSON_CreateArray();
    for (row = a->rows->child; row != NULL && i < BATCH; row = row->next, i++)
        cJSON_AddItemReferenceToArray(batch, row);
    a->in_flight = i;
    text = cJSON_PrintUnformatted(batch);
    cJSON_Delete(batch);
    p[0] = text;
    if (text == NULL || jc_pg_query(a->pg, 0, insert_sql, 1, p, written, a) != JC_OK)
        written(NULL, JC_EPG, "cannot submit", a);
    cJSON_free(text);
}

static void tick(evutil_socket_t fd, short what, void *arg)
{
    struct jc_audit *a = arg;

    (void)fd;
    (void)what;
    if (a->nrows > 0)
        send_batch(a);
    if (a->in_flight == 0)
        schedule(a, a->interval_ms);
}

struct jc_audit *jc_audit_new(struct event_base *base, struct jc_pg *pg, struct jc_log *log,
                              struct jc_metrics *metrics, const char *spool_path, long interval_ms)
{
    struct jc_audit *a = calloc(1, sizeof(*a));

    if (a == NULL)
        return NULL;
    a->base = base;
    a->pg = pg;
    a->log = log;
    a->interval_ms = interval_ms > 0 ? interval_ms : 200;
    a->rows = cJSON_CreateArray();
    a->timer = evtimer_new(base, tick, a);
    if (spool_path != NULL)
        a->spool = strdup(spool_path);
    a->m_written = jc_metrics_counter(metrics, "jive_audit_rows_written_total",
                                      "Audit rows written to Postgres", NULL);
    a->m_spooled = jc_metrics_counter(metrics, "jive_audit_rows_spooled_total",
                                      "Audit rows kept in the spool file", NULL);
    if (a->rows == NULL || a->timer == NULL || (spool_path != NULL && a->spool == NULL)) {
        jc_audit_free(a);
        return NULL;
    }
    spool_in(a);
    schedule(a, a->interval_ms);
    return a;
}

void jc_audit_add(struct jc_audit *a, const struct jc_audit_entry *e)
{
    cJSON *row = cJSON_CreateObject();
    char ts[JC_ISO_LEN];

#define PUT(field, value)                                                                          \
    do {                                                                                           \
        if ((value) != NULL)                                                                       \
            cJSON_AddStringToObject(row, field, value);                                            \
    } while (0)
    jc_clock_iso(ts);
    PUT("org_id", e->org_id);
    PUT("project_id", e->project_id);
    PUT("actor_type", e->actor_type != NULL ? e->actor_type : "anonymous");
    PUT("actor_id", e->actor_id);
    PUT("actor_name", e->actor_name);
    PUT("tool", e->tool != NULL ? e->tool : "");
    PUT("scope", e->scope);
    PUT("args_hash", e->args_hash);
    PUT("result", e->result);
    PUT("error", e->error);
    PUT("ip", e->ip);
    PUT("user_agent", e->user_agent);
    PUT("request_id", e->request_id);
    PUT("ts", ts);
#undef PUT
    cJSON_AddNumberToObject(row, "duration_ms", (double)(e->duration_ms >= 0 ? e->duration_ms : 0));
    cJSON_AddItemToArray(a->rows, row);
    a->nrows++;
    if (a->nrows > MEMORY_CAP)
        spool_out(a, a->in_flight); /* never drop: beyond the cap, to disk */
}

void jc_audit_flush(struct jc_audit *a, void (*cb)(void *ud), void *ud)
{
    event_del(a->timer);
    if (a->nrows == 0 && a->in_flight == 0) {
        cb(ud);
        return;
    }
    a->flush_cb = cb;
    a->flush_ud = ud;
    if (!jc_pg_healthy(a->pg) && a->in_flight == 0) {
        spool_out(a, 0);
        a->flush_cb = NULL;
        cb(ud);
        return;
    }
    send_batch(a);
}

void jc_audit_free(struct jc_audit *a)
{
    if (a == NULL)
        return;
    if (a->nrows > 0)
        spool_out(a, 0);
    if (a->timer != NULL)
        event_free(a->timer);
    cJSON_Delete(a->rows);
    free(a->spool);
    free(a);
}
