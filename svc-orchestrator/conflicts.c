/* SPDX-License-Identifier: MIT */
/*
 * conflicts.c: the conflict-detection step: loads a project's state, computes its findings
 * (jc/findings.h: what they are and how) and applies the difference to the conflicts table, so
 * that a finding is opened and resolved only on change, under a stable fingerprint.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jc/crypto.h"
#include "jc/findings.h"
#include "orchestrator.h"

/* For each project of the array $1, in its order: the state jc_findings_compute reads (its shape
 * is documented in jc/findings.h), and the fingerprints of the project's open conflicts ("open",
 * taken out before the computation). */
static const char load_sql[] =
    "SELECT json_build_object("
    " 'open', (SELECT coalesce(json_agg(fingerprint), '[]') FROM conflicts"
    "   WHERE project_id = q.id AND resolved_at IS NULL),"
    " 'stories', (SELECT coalesce(json_agg(json_build_object('path', path, 'key', key,"
    "   'key_source', meta->>'key_source', 'title_key', meta->>'title_key',"
    "   'status', status, 'files', meta->'files')), '[]') FROM artifacts"
    "   WHERE project_id = q.id AND kind = 'story' AND deleted_at IS NULL),"
    " 'sprint', (SELECT coalesce(json_agg(meta->'sprint_status'), '[]') FROM artifacts"
    "   WHERE project_id = q.id AND deleted_at IS NULL AND meta ? 'sprint_status'),"
    " 'gates', (SELECT coalesce(json_agg(json_build_object('key', story_key,"
    "   'decision', decision, 'updated', gate_updated, 'path', path)), '[]') FROM gates"
    "   WHERE project_id = q.id AND deleted_at IS NULL),"
    " 'agents', (SELECT coalesce(json_agg(json_build_object('agent', agent_id, 'name',"
    "   coalesce(agent_name, agent_id), 'story', story_key) ORDER BY agent_id), '[]')"
    "   FROM agent_status WHERE project_id = q.id AND story_key IS NOT NULL"
    "   AND state IN ('planning', 'working', 'blocked', 'reviewing')"
    "   AND updated_at > now() - interval '1 day'))::text"
    " FROM unnest($1::uuid[]) WITH ORDINALITY AS q(id, k) ORDER BY q.k";

static const char apply_sql[] =
    "WITH cur AS (SELECT * FROM jsonb_to_recordset($2::jsonb) AS c(kind text, fingerprint text,"
    "   severity text, summary text, details jsonb)),"
    " opened AS ("
    "  INSERT INTO conflicts (org_id, project_id, kind, fingerprint, severity, summary, details)"
    "  SELECT $3::uuid, $1::uuid, kind, fingerprint, severity, summary, details FROM cur"
    "  ON CONFLICT (project_id, fingerprint) DO UPDATE SET resolved_at = NULL, opened_at = now(),"
    "    severity = EXCLUDED.severity, summary = EXCLUDED.summary, details = EXCLUDED.details"
    "  WHERE conflicts.resolved_at IS NOT NULL"
    "  RETURNING id, kind, fingerprint, severity, summary, details),"
    " resolved AS ("
    "  UPDATE conflicts SET resolved_at = now() WHERE project_id = $1::uuid"
    "  AND resolved_at IS NULL AND fingerprint NOT IN (SELECT fingerprint FROM cur)"
    "  RETURNING id, kind, fingerprint, severity, summary, details)"
    " SELECT 'conflict.opened', row_to_json(o)::text FROM opened o"
    " UNION ALL SELECT 'conflict.resolved', row_to_json(r)::text FROM resolved r";

struct detect {
    struct jc_app *app;
    char project_id[40];
    char org_id[40];
    char job_id[40];
    orch_conflicts_cb *cb;
    void *ud;
    struct detect *next; /* waiting for the next load */
};

/* One load statement's detections, in the order of its rows. */
struct load_batch {
    struct orch_loads *loads;
    int n;
    struct detect *dts[];
};

static void finish(struct detect *dt, enum jc_err err, const char *msg, int opened, int resolved)
{
    dt->cb(err, msg, opened, resolved, dt->ud);
    free(dt);
}

static void applied(const PGresult *res, enum jc_err err, const char *msg, void *ud)
{
    struct detect *dt = ud;
    int i, opened = 0, resolved = 0;

    if (err != JC_OK) {
        finish(dt, err, msg, 0, 0);
        return;
    }
    for (i = 0; i < PQntuples(res); i++) {
        const char *type = PQgetvalue(res, i, 0);
        cJSON *data = cJSON_Parse(PQgetvalue(res, i, 1));
        if (strcmp(type, "conflict.opened") == 0)
            opened++;
        else
            resolved++;
        if (jc_events_publish(dt->app->redis, dt->project_id, type,
                              dt->job_id[0] != '\0' ? dt->job_id : NULL, data, NULL, NULL) != JC_OK)
            jc_debug(dt->app->log, "%s not published", type);
        cJSON_Delete(data);
    }
    finish(dt, JC_OK, "", opened, resolved);
}

static int by_text(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Whether the findings (every fingerprint once) are exactly the open conflicts: then applying
 * them would open, reopen and resolve nothing. Both sides are sorted and compared in turn. */
static bool unchanged(const cJSON *found, const cJSON *open)
{
    int n = cJSON_GetArraySize(found), i = 0;
    const char **a, **b;
    const cJSON *it;
    bool same = false;

    if (!cJSON_IsArray(open) || n != cJSON_GetArraySize(open))
        return false;
    if (n == 0)
        return true;
    a = calloc((size_t)n, sizeof(*a));
    b = calloc((size_t)n, sizeof(*b));
    if (a == NULL || b == NULL)
        goto done;
    cJSON_ArrayForEach(it, found)
    {
        a[i] = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "fingerprint"));
        if (a[i++] == NULL)
            goto done;
    }
    i = 0;
    cJSON_ArrayForEach(it, open)
    {
        b[i] = cJSON_GetStringValue(it);
        if (b[i++] == NULL)
            goto done;
    }
    qsort(a, (size_t)n, sizeof(*a), by_text);
    qsort(b, (size_t)n, sizeof(*b), by_text);
    for (i = 0; i < n && strcmp(a[i], b[i]) == 0; i++)
        ;
    same = i == n;
done:
    free(a);
    free(b);
    return same;
}

/* The rest of a detection once its project's state (text) is loaded. */
static void detect_from(struct detect *dt, const char *loaded)
{
    cJSON *state, *open, *found;
    char *text;

    state = cJSON_Parse(loaded);
    open = cJSON_DetachItemFromObjectCaseSensitive(state, "open");
    found = jc_findings_compute(state);
    cJSON_Delete(state);
    if (found != NULL && unchanged(found, open)) {
        /* the usual case: nothing to write, so no second statement */
        cJSON_Delete(open);
        cJSON_Delete(found);
        finish(dt, JC_OK, "", 0, 0);
        return;
    }
    text = cJSON_PrintUnformatted(found);
    cJSON_Delete(open);
    cJSON_Delete(found);
    if (text == NULL) {
        finish(dt, JC_ENOMEM, "out of memory", 0, 0);
        return;
    }
    {
        const char *p[3] = {dt->project_id, text, dt->org_id};
        if (jc_pg_query_prepared(dt->app->pg, 0, "jive_conflicts_apply", apply_sql, 3, p, applied,
                                 dt) != JC_OK)
            finish(dt, JC_EPG, "cannot submit", 0, 0);
    }
    cJSON_free(text);
}

static enum jc_err send_loads(struct orch_loads *loads);

/* Fails every waiting detection (their callers are long gone: this is later for them). */
static void fail_waiting(struct orch_loads *loads, enum jc_err err, const char *msg)
{
    struct detect *dt;

    while ((dt = loads->head) != NULL) {
        loads->head = dt->next;
        finish(dt, err, msg, 0, 0);
    }
    loads->tail = NULL;
}

static void loaded(const PGresult *res, enum jc_err err, const char *msg, void *ud)
{
    struct load_batch *b = ud;
    int i;

    b->loads->out--;
    /* those that waited go now: Postgres reads while this batch computes */
    if (send_loads(b->loads) != JC_OK)
        fail_waiting(b->loads, JC_EPG, "cannot submit the load");
    if (err == JC_OK && PQntuples(res) != b->n) {
        err = JC_EPG;
        msg = "the load answered another number of projects";
    }
    for (i = 0; i < b->n; i++) {
        if (err != JC_OK)
            finish(b->dts[i], err, msg, 0, 0);
        else
            detect_from(b->dts[i], PQgetvalue(res, i, 0));
    }
    free(b);
}

/* Sends one load for the first waiting detections (at most ORCH_LOADS_MAX of them). On failure
 * they stay waiting, and the caller decides. */
static enum jc_err send_load(struct orch_loads *loads)
{
    struct load_batch *b;
    const char **ids;
    char *array = NULL;
    int n = 0, i;
    struct detect *dt;
    enum jc_err rc = JC_ENOMEM;

    for (dt = loads->head; dt != NULL && n < ORCH_LOADS_MAX; dt = dt->next)
        n++;
    b = malloc(sizeof(*b) + (size_t)n * sizeof(struct detect *));
    ids = calloc((size_t)n, sizeof(*ids));
    if (b == NULL || ids == NULL)
        goto fail;
    b->loads = loads;
    b->n = n;
    for (i = 0, dt = loads->head; i < n; i++, dt = dt->next) {
        b->dts[i] = dt;
        ids[i] = dt->project_id;
    }
    array = jc_pg_array_literal(ids, n);
    if (array == NULL)
        goto fail;
    {
        const char *p[1] = {array};
        rc = jc_pg_query_prepared(loads->app->pg, 0, "jive_conflicts_load", load_sql, 1, p, loaded,
                                  b);
    }
    if (rc != JC_OK)
        goto fail;
    loads->out++;
    loads->head = dt; /* the first one not sent */
    if (loads->head == NULL)
        loads->tail = NULL;
    free(ids);
    free(array);
    return JC_OK;
fail:
    free(b);
    free(ids);
    free(array);
    return rc;
}

/* Sends loads for the waiting detections while fewer than ORCH_LOADS_OUT are out. */
static enum jc_err send_loads(struct orch_loads *loads)
{
    enum jc_err rc = JC_OK;

    while (rc == JC_OK && loads->head != NULL && loads->out < ORCH_LOADS_OUT)
        rc = send_load(loads);
    return rc;
}

void orch_loads_init(struct orch_loads *loads, struct jc_app *app)
{
    memset(loads, 0, sizeof(*loads));
    loads->app = app;
}

enum jc_err orch_detect_conflicts(struct orch_loads *loads, const char *project_id,
                                  const char *org_id, const char *job_id, orch_conflicts_cb *cb,
                                  void *ud)
{
    struct detect *dt;
    enum jc_err rc;

    if (!jc_crypto_is_uuid(project_id))
        return JC_EINVAL; /* it would fail the load it shares with others */
    dt = calloc(1, sizeof(*dt));
    if (dt == NULL)
        return JC_ENOMEM;
    dt->app = loads->app;
    dt->cb = cb;
    dt->ud = ud;
    snprintf(dt->project_id, sizeof(dt->project_id), "%s", project_id);
    snprintf(dt->org_id, sizeof(dt->org_id), "%s", org_id);
    snprintf(dt->job_id, sizeof(dt->job_id), "%s", job_id != NULL ? job_id : "");
    if (loads->tail != NULL)
        loads->tail->next = dt;
    else
        loads->head = dt;
    loads->tail = dt;
    /* With every load slot taken, dt waits for the next one. Otherwise nothing else waits (a
     * load's end sends or fails whatever waited), so dt goes now, alone, or is taken back. */
    rc = send_loads(loads);
    if (rc != JC_OK) {
        loads->head = loads->tail = NULL;
        free(dt);
    }
    return rc;
}

/* ---- the conflict-detection job ---- */

static void job_done(enum jc_err err, const char *msg, int opened, int resolved, void *ud)
{
    struct jc_job_run *run = ud;
    cJSON *result;

    if (err != JC_OK) {
        jc_job_fail(run, "conflict detection: %s", msg);
        return;
    }
    result = cJSON_CreateObject();
    cJSON_AddNumberToObject(result, "opened", opened);
    cJSON_AddNumberToObject(result, "resolved", resolved);
    jc_job_succeed(run, result);
}

void orch_conflict_detection(struct jc_job_run *run, void *ud)
{
    struct orch_ctx *ctx = ud;
    enum jc_err rc = orch_detect_conflicts(&ctx->loads, run->job.project_id, run->job.org_id,
                                           run->job.id, job_done, run);

    if (rc != JC_OK)
        jc_job_fail(run, "conflict detection: cannot start: %s",
                    rc == JC_EINVAL ? "the project id is not a UUID" : jc_strerror(rc));
}
