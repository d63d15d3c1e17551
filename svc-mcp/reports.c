/* SPDX-License-Identifier: MIT */
/*
 * reports.c: reports_list and reports_run, a fixed set of parameterised SQL templates over a
 * project's history — never free SQL. Every template runs as every read does (the runtime role,
 * row-level security, the server's statement timeout) and caps its rows (REPORT_ROWS; a capped
 * list says truncated). Parameters: project_id, weeks (the window, 1 to 104, default 12) and
 * epic (only that epic's stories). The history they read is story_status_history
 * (schema/016_status_history.sql), conflicts, gates, runs and agent_status. Each report is also
 * a resource, jive://reports/<project-id>/<report>: the current week (weeks = 1), as JSON.
 */
#include <stdio.h>
#include <string.h>

#include "jc/crypto.h"
#include "mcp.h"

#define REPORT_ROWS "500"

/* The weeks of the window, oldest first, each starting on a Monday (ISO weeks). */
#define WEEKS                                                                                      \
    "SELECT generate_series(date_trunc('week', now()) - make_interval(weeks => $2::int - 1), "     \
    "date_trunc('week', now()), interval '1 week') AS week"
#define WEEK_LABEL "to_char(w.week, 'IYYY-\"W\"IW')"
#define IN_EPIC(col) "($3::text IS NULL OR split_part(" col ", '.', 1) = $3)"

struct report {
    const char *name;
    const char *description;
    const char *sql; /* $1 project, $2 weeks, $3 epic; returns one JSON value */
};

static const struct report reports[] = {
    {"cycle_time",
     "Cycle time from Approved to Done: each story that reached Done within the window (hours "
     "from its first Approved to the first Done after it), and per epic the count, median and "
     "mean.",
     "WITH h AS (SELECT story_key, to_status, changed_at FROM story_status_history WHERE "
     "project_id = $1::uuid AND story_key IS NOT NULL AND " IN_EPIC(
         "story_key") "),"
                      " s AS (SELECT story_key, min(changed_at) FILTER (WHERE to_status = "
                      "'Approved') AS "
                      "approved_at FROM h GROUP BY story_key),"
                      " d AS (SELECT s.story_key, s.approved_at, min(h.changed_at) AS done_at FROM "
                      "s JOIN h ON "
                      "h.story_key = s.story_key AND h.to_status = 'Done' AND h.changed_at >= "
                      "s.approved_at "
                      "GROUP BY s.story_key, s.approved_at),"
                      " c AS (SELECT story_key, split_part(story_key, '.', 1) AS epic, "
                      "approved_at, done_at, "
                      "extract(epoch FROM done_at - approved_at) / 3600.0 AS hours FROM d WHERE "
                      "done_at IS NOT "
                      "NULL AND done_at >= now() - make_interval(weeks => $2::int))"
                      " SELECT json_build_object('stories', (SELECT "
                      "coalesce(json_agg(json_build_object("
                      "'story_key', story_key, 'epic', epic, 'approved_at', approved_at, "
                      "'done_at', done_at, "
                      "'hours', round(hours::numeric, 1)) ORDER BY done_at, story_key), '[]') FROM "
                      "(SELECT * "
                      "FROM c ORDER BY done_at, story_key LIMIT " REPORT_ROWS ") x),"
                      " 'epics', (SELECT coalesce(json_agg(json_build_object('epic', epic, "
                      "'stories', n, "
                      "'median_hours', round(med::numeric, 1), 'mean_hours', round(mean::numeric, "
                      "1)) ORDER BY "
                      "length(epic), epic), '[]') FROM (SELECT epic, count(*) AS n, "
                      "percentile_cont(0.5) WITHIN "
                      "GROUP (ORDER BY hours) AS med, avg(hours) AS mean FROM c GROUP BY epic) e),"
                      " 'truncated', (SELECT count(*) FROM c) > " REPORT_ROWS ")"},
    {"throughput", "Stories that reached Done for the first time, per ISO week of the window.",
     "WITH w AS (" WEEKS "),"
     " f AS (SELECT story_key, min(changed_at) AS done_at FROM story_status_history WHERE "
     "project_id = $1::uuid AND to_status = 'Done' AND story_key IS NOT NULL AND " IN_EPIC(
         "story_key") " GROUP BY story_key)"
                      " SELECT json_build_object('weeks', (SELECT "
                      "json_agg(json_build_object('week', " WEEK_LABEL
                      ", 'start', w.week::date, 'done', (SELECT count(*) FROM f WHERE f.done_at >= "
                      "w.week AND "
                      "f.done_at < w.week + interval '1 week')) ORDER BY w.week) FROM w))"},
    {"wip",
     "Work in progress at the end of each ISO week of the window: stories whose status was then "
     "InProgress or Review.",
     "WITH w AS (" WEEKS ")"
     " SELECT json_build_object('weeks', (SELECT json_agg(json_build_object('week', " WEEK_LABEL
     ", 'start', w.week::date, 'in_progress', (SELECT count(*) FROM (SELECT DISTINCT ON "
     "(story_key) story_key, to_status FROM story_status_history WHERE project_id = $1::uuid AND "
     "story_key IS NOT NULL AND " IN_EPIC(
         "story_key") " AND changed_at < w.week + interval '1 "
                      "week' ORDER BY story_key, changed_at DESC, id DESC) s WHERE s.to_status IN "
                      "('InProgress', "
                      "'Review'))) ORDER BY w.week) FROM w))"},
    {"gate_pass_rate",
     "QA gates as they stand: the count per decision, the pass rate (PASS over PASS, CONCERNS "
     "and FAIL; WAIVED apart) and the ten most frequent top issues.",
     "WITH g AS (SELECT decision, top_issues FROM gates WHERE project_id = $1::uuid AND "
     "deleted_at IS NULL AND " IN_EPIC(
         "coalesce(story_key, '')") ")"
                                    " SELECT json_build_object('gates', (SELECT count(*) FROM g), "
                                    "'by_decision', (SELECT "
                                    "coalesce(json_object_agg(decision, n), '{}') FROM (SELECT "
                                    "decision, count(*) AS n FROM g "
                                    "GROUP BY 1) x), 'pass_rate', (SELECT round(count(*) FILTER "
                                    "(WHERE decision = 'PASS')::"
                                    "numeric / nullif(count(*) FILTER (WHERE decision IN ('PASS', "
                                    "'CONCERNS', 'FAIL')), 0), 3) "
                                    "FROM g), 'top_issues', (SELECT "
                                    "coalesce(json_agg(json_build_object('issue', issue, "
                                    "'gates', n) ORDER BY n DESC, issue), '[]') FROM (SELECT "
                                    "coalesce(i->>'finding', "
                                    "i->>'issue', i->>'id', i#>>'{}') AS issue, count(*) AS n FROM "
                                    "g, "
                                    "jsonb_array_elements(g.top_issues) i GROUP BY 1 ORDER BY 2 "
                                    "DESC, 1 LIMIT 10) t))"},
    {"findings_trend",
     "Findings opened and resolved per ISO week of the window, and how many are open now.",
     "WITH w AS (" WEEKS "),"
     " f AS (SELECT opened_at, resolved_at FROM conflicts WHERE project_id = $1::uuid AND "
     "($3::text IS NULL OR EXISTS (SELECT 1 FROM jsonb_array_elements_text(CASE WHEN "
     "jsonb_typeof(details->'stories') = 'array' THEN details->'stories' ELSE '[]' END) k "
     "WHERE split_part(k, '.', 1) = $3)))"
     " SELECT json_build_object('weeks', (SELECT json_agg(json_build_object('week', " WEEK_LABEL
     ", 'start', w.week::date, 'opened', (SELECT count(*) FROM f WHERE f.opened_at >= w.week AND "
     "f.opened_at < w.week + interval '1 week'), 'resolved', (SELECT count(*) FROM f WHERE "
     "f.resolved_at >= w.week AND f.resolved_at < w.week + interval '1 week')) ORDER BY w.week) "
     "FROM w), 'open_now', (SELECT count(*) FROM conflicts WHERE project_id = $1::uuid AND "
     "resolved_at IS NULL))"},
    {"agent_activity",
     "Per agent within the window: runs reported, their outcomes, and the stories touched (by "
     "runs or by agent_report).",
     "WITH r AS (SELECT coalesce(agent_id, name) AS agent, status, conclusion, story_key FROM "
     "runs WHERE project_id = $1::uuid AND source = 'agent' AND started_at >= now() - "
     "make_interval(weeks => $2::int) AND " IN_EPIC(
         "coalesce(story_key, '')") "),"
                                    " a AS (SELECT agent_id AS agent, story_key FROM agent_status "
                                    "WHERE project_id = $1::uuid "
                                    "AND updated_at >= now() - make_interval(weeks => $2::int) "
                                    "AND " IN_EPIC(
                                        "coalesce(story_key, '')") "),"
                                                                   " g AS (SELECT agent FROM "
                                                                   "(SELECT agent FROM r UNION "
                                                                   "SELECT agent FROM a) u WHERE "
                                                                   "agent IS "
                                                                   "NOT NULL ORDER BY agent "
                                                                   "LIMIT " REPORT_ROWS ")"
                                                                   " SELECT "
                                                                   "json_build_object('agents', "
                                                                   "(SELECT "
                                                                   "coalesce(json_agg(json_build_"
                                                                   "object('agent', "
                                                                   "g.agent, 'runs', (SELECT "
                                                                   "count(*) FROM r WHERE r.agent "
                                                                   "= g.agent), 'outcomes', "
                                                                   "(SELECT "
                                                                   "coalesce(json_object_agg(k, "
                                                                   "n), '{}') FROM (SELECT "
                                                                   "coalesce(conclusion, status) "
                                                                   "AS k, "
                                                                   "count(*) AS n FROM r WHERE "
                                                                   "r.agent = g.agent GROUP BY 1) "
                                                                   "o), 'stories', (SELECT "
                                                                   "coalesce(json_agg(s ORDER BY "
                                                                   "s), '[]') FROM (SELECT "
                                                                   "story_key AS s FROM r WHERE "
                                                                   "r.agent = "
                                                                   "g.agent AND story_key IS NOT "
                                                                   "NULL UNION SELECT story_key "
                                                                   "FROM a WHERE a.agent = g.agent "
                                                                   "AND story_key IS NOT NULL) x)) "
                                                                   "ORDER BY g.agent), '[]') FROM "
                                                                   "g))"},
    {NULL, NULL, NULL},
};

static const char params_schema[] =
    "{\"type\":\"object\",\"properties\":{\"project_id\":{\"type\":\"string\"},\"weeks\":{\"type\":"
    "\"integer\",\"minimum\":1,\"maximum\":104,\"default\":12},\"epic\":{\"type\":\"string\","
    "\"maxLength\":8,\"description\":\"only this epic's stories (the key's first part)\"}},"
    "\"required\":[\"project_id\"],\"additionalProperties\":false}";

void mcp_reports_list(struct mcp_call *c)
{
    cJSON *out = cJSON_CreateObject(), *list = cJSON_AddArrayToObject(out, "reports");
    const struct report *r;

    for (r = reports; r->name != NULL; r++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "name", r->name);
        cJSON_AddStringToObject(e, "description", r->description);
        cJSON_AddItemToObject(e, "parameters", cJSON_Parse(params_schema));
        cJSON_AddItemToArray(list, e);
    }
    mcp_tool_result(c, out);
}

static void ran(struct mcp_call *c, cJSON *json, enum jc_err err, const char *msg)
{
    cJSON *out;

    if (err != JC_OK) {
        mcp_db_error(c, NULL, msg);
        return;
    }
    if (cJSON_IsNull(json)) {
        cJSON_Delete(json);
        mcp_tool_error(c, "project %s not found, or not visible to this token", c->project_id);
        return;
    }
    out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "report",
                            cJSON_GetStringValue(cJSON_GetObjectItem(c->args, "report")));
    cJSON_AddStringToObject(out, "project_id", c->project_id);
    cJSON_AddItemToObject(out, "result", json);
    mcp_tool_result(c, out);
}

/* The wrapping every template runs in: the project must be visible; $2 and $3 typed. */
static void run_template(struct mcp_call *c, const struct report *r, const char *pid,
                         const char *weeks, const char *epic, mcp_db_cb *cb)
{
    char sql[8192];
    const char *p[3] = {pid, weeks, epic};

    snprintf(sql, sizeof(sql),
             "SELECT CASE WHEN EXISTS (SELECT 1 FROM projects WHERE id = $1::uuid) AND $2::int > 0 "
             "AND ($3::text IS NULL OR $3::text <> '') THEN (%s)::text END",
             r->sql);
    mcp_db(c, sql, 3, p, cb);
}

static const struct report *find(const char *name)
{
    const struct report *r;

    for (r = reports; name != NULL && r->name != NULL; r++)
        if (strcmp(r->name, name) == 0)
            return r;
    return NULL;
}

/* ---- reports as resources: jive://reports/<project-id>/<report>, the current week ---- */

static void resource_read(struct mcp_call *c, cJSON *json, enum jc_err err, const char *msg)
{
    cJSON *r, *item;
    char *text;

    if (err != JC_OK) {
        mcp_reply(c, NULL, -32603, NULL, msg);
        return;
    }
    if (cJSON_IsNull(json)) {
        cJSON *data = cJSON_CreateObject();
        cJSON_Delete(json);
        cJSON_AddStringToObject(data, "uri",
                                cJSON_GetStringValue(cJSON_GetObjectItem(c->params, "uri")));
        mcp_reply(c, NULL, -32602, data, "resource not found");
        return;
    }
    text = cJSON_PrintUnformatted(json);
    cJSON_Delete(json);
    r = cJSON_CreateObject();
    item = cJSON_CreateObject();
    cJSON_AddStringToObject(item, "uri",
                            cJSON_GetStringValue(cJSON_GetObjectItem(c->params, "uri")));
    cJSON_AddStringToObject(item, "mimeType", "application/json");
    cJSON_AddStringToObject(item, "text", text != NULL ? text : "null");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(r, "contents"), item);
    cJSON_free(text);
    if (c->modern) {
        cJSON_AddNumberToObject(r, "ttlMs", 30000);
        cJSON_AddStringToObject(r, "cacheScope", "private");
    }
    mcp_reply(c, r, 0, NULL, NULL);
}

void mcp_report_resource(struct mcp_call *c, const char *project_id, const char *name)
{
    const struct report *r = find(name);

    if (!mcp_require_scope(c, "reports:read", "report resources need the reports:read scope"))
        return;
    if (r == NULL || !jc_crypto_is_uuid(project_id)) {
        cJSON *data = cJSON_CreateObject();
        cJSON_AddStringToObject(data, "uri",
                                cJSON_GetStringValue(cJSON_GetObjectItem(c->params, "uri")));
        mcp_reply(c, NULL, -32602, data,
                  "resource not found: expected jive://reports/<project-id>/<report> (reports_list "
                  "names them)");
        return;
    }
    run_template(c, r, project_id, "1", NULL, resource_read);
}

void mcp_reports_run(struct mcp_call *c)
{
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(c->args, "report"));
    const char *pid = cJSON_GetStringValue(cJSON_GetObjectItem(c->args, "project_id"));
    const char *epic = cJSON_GetStringValue(cJSON_GetObjectItem(c->args, "epic"));
    const cJSON *weeks = cJSON_GetObjectItem(c->args, "weeks");
    const struct report *r;
    char w[16];

    if (pid == NULL || !jc_crypto_is_uuid(pid)) {
        mcp_tool_error(c, "project_id must be a project's UUID (projects_list shows them)");
        return;
    }
    snprintf(c->project_id, sizeof(c->project_id), "%s", pid);
    r = find(name);
    if (r == NULL) { /* the schema's enum keeps this from happening */
        mcp_tool_invalid(c, "unknown report (reports_list names them)");
        return;
    }
    if (epic != NULL && (epic[0] == '\0' || strspn(epic, "0123456789") != strlen(epic))) {
        mcp_tool_invalid(c, "epic is an epic's number, e.g. \"2\"");
        return;
    }
    snprintf(w, sizeof(w), "%d", cJSON_IsNumber(weeks) ? weeks->valueint : 12);
    run_template(c, r, pid, w, epic, ran);
}
