/* SPDX-License-Identifier: MIT */
/*
 * runsync.c: the run-sync job. The run comes from the stored webhook event's payload (the job
 * only names the event; retention keeps a payload while a job that needs it is unfinished); one
 * statement upserts it into runs, ignoring an update older than what is stored (GitHub does not
 * promise order), and marks the event processed. Publishes run.updated.
 */
#include <string.h>

#include "orchestrator.h"

static const char upsert_sql[] =
    "WITH e AS ("
    "  SELECT e.org_id, e.project_id, p.payload -> $2::text AS r FROM webhook_events e"
    "  JOIN webhook_payloads p ON p.event_id = e.id AND p.received_at = e.received_at"
    "  WHERE e.id = $1),"
    " src AS ("
    "  SELECT org_id, project_id, r,"
    "    coalesce((r->>'updated_at')::timestamptz, (r->>'completed_at')::timestamptz, now()) AS at"
    "  FROM e WHERE jsonb_typeof(r) = 'object' AND r ? 'id'),"
    " up AS ("
    "  INSERT INTO runs (org_id, project_id, source, external_id, kind, name, status, conclusion,"
    "    head_sha, branch, url, details, started_at, finished_at, updated_at)"
    "  SELECT org_id, project_id, 'github', $2 || ':' || (r->>'id'), $2,"
    "    coalesce(r->>'name', r->>'display_title', r->'app'->>'name'),"
    "    coalesce(r->>'status', 'unknown'), r->>'conclusion', r->>'head_sha',"
    "    coalesce(r->>'head_branch', r->'check_suite'->>'head_branch'),"
    "    coalesce(r->>'html_url', r->>'url'),"
    "    jsonb_strip_nulls(jsonb_build_object('run_number', r->'run_number', 'event', r->'event',"
    "      'run_attempt', r->'run_attempt', 'workflow_id', r->'workflow_id',"
    "      'external_id', r->'external_id')),"
    "    coalesce((r->>'run_started_at')::timestamptz, (r->>'started_at')::timestamptz,"
    "      (r->>'created_at')::timestamptz, now()),"
    "    CASE WHEN r->>'status' = 'completed'"
    "      THEN coalesce((r->>'completed_at')::timestamptz, at) END,"
    "    at"
    "  FROM src"
    "  ON CONFLICT (project_id, source, external_id) DO UPDATE SET"
    "    status = EXCLUDED.status, conclusion = EXCLUDED.conclusion, name = EXCLUDED.name,"
    "    head_sha = EXCLUDED.head_sha, branch = EXCLUDED.branch, url = EXCLUDED.url,"
    "    details = EXCLUDED.details, finished_at = EXCLUDED.finished_at,"
    "    updated_at = EXCLUDED.updated_at"
    "  WHERE runs.updated_at <= EXCLUDED.updated_at"
    "  RETURNING id, external_id, kind, name, status, conclusion, head_sha, branch, url),"
    " done AS ("
    "  UPDATE webhook_events SET processed = true, processed_at = now(), status = 'processed'"
    "  WHERE id = $1 AND EXISTS (SELECT 1 FROM e))"
    " SELECT (SELECT count(*) FROM e)::text,"
    "   (SELECT count(*) FROM src)::text,"
    "   (SELECT row_to_json(up)::text FROM up)";

static void upserted(const PGresult *res, enum jc_err err, const char *msg, void *ud)
{
    struct jc_job_run *run = ud;
    cJSON *result, *row;

    if (err != JC_OK) {
        jc_job_fail(run, "run-sync: %s", msg);
        return;
    }
    if (strcmp(PQgetvalue(res, 0, 0), "0") == 0) {
        jc_job_fail(run, "run-sync: webhook event %s or its payload not found", run->job.event_id);
        return;
    }
    if (strcmp(PQgetvalue(res, 0, 1), "0") == 0) {
        jc_job_fail(run, "run-sync: event %s has no %s object with an id", run->job.event_id,
                    cJSON_GetStringValue(cJSON_GetObjectItem(run->payload, "event")));
        return;
    }
    result = cJSON_CreateObject();
    if (PQgetisnull(res, 0, 2)) {
        /* an update older than the stored one: nothing changed, nothing to announce */
        cJSON_AddBoolToObject(result, "unchanged", true);
        jc_job_succeed(run, result);
        return;
    }
    row = cJSON_Parse(PQgetvalue(res, 0, 2));
    if (row != NULL && jc_events_publish(jc_worker_app(run->worker)->redis, run->job.project_id,
                                         "run.updated", run->job.id, row, NULL, NULL) != JC_OK)
        jc_debug(jc_worker_app(run->worker)->log, "run.updated not published");
    cJSON_AddItemToObject(result, "run", row != NULL ? row : cJSON_CreateNull());
    jc_job_succeed(run, result);
}

void orch_run_sync(struct jc_job_run *run, void *ud)
{
    const char *event = cJSON_GetStringValue(cJSON_GetObjectItem(run->payload, "event"));
    const char *p[2];

    (void)ud;
    if (run->job.event_id == NULL || event == NULL ||
        (strcmp(event, "workflow_run") != 0 && strcmp(event, "check_run") != 0 &&
         strcmp(event, "check_suite") != 0)) {
        jc_job_fail(run, "run-sync: the job needs an event_id and an event of workflow_run, "
                         "check_run or check_suite");
        return;
    }
    p[0] = run->job.event_id;
    p[1] = event;
    if (jc_pg_query_prepared(jc_worker_app(run->worker)->pg, 0, "jive_runsync_upsert", upsert_sql,
                             2, p, upserted, run) != JC_OK)
        jc_job_fail(run, "run-sync: cannot submit the query");
}
