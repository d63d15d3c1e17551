/* SPDX-License-Identifier: MIT */
/*
 * tools.c: the MCP tools. Every read runs as the runtime role with the token's org set, so
 * row-level security bounds it even where a query forgets a filter. Each tool answers with
 * structuredContent matching its output schema (and the same JSON as text).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jc/crypto.h"
#include "jc/queue.h"
#include "mcp.h"

/* ---- argument helpers ---- */

static const char *arg_str(const struct mcp_call *c, const char *name)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c->args, name));
}

static const char *arg_num(const struct mcp_call *c, const char *name, const char *def, char *buf,
                           size_t len)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c->args, name);

    if (!cJSON_IsNumber(v))
        return def;
    snprintf(buf, len, "%d", v->valueint);
    return buf;
}

static const char *arg_bool(const struct mcp_call *c, const char *name)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c->args, name)) ? "true" : "false";
}

void mcp_read_done(struct mcp_call *c, cJSON *json, enum jc_err err, const char *msg)
{
    if (err != JC_OK) {
        mcp_db_error(c, NULL, msg);
        return;
    }
    if (cJSON_IsNull(json)) {
        cJSON_Delete(json);
        mcp_tool_error(c,
                       "project %s not found, or not visible to this token (check "
                       "projects_list)",
                       c->project_id);
        return;
    }
    mcp_tool_result(c, json);
}

bool mcp_need_project(struct mcp_call *c)
{
    const char *p = arg_str(c, "project_id");

    if (p == NULL || !jc_crypto_is_uuid(p)) {
        mcp_tool_error(c, "project_id must be a project's UUID (projects_list shows them)");
        return false;
    }
    snprintf(c->project_id, sizeof(c->project_id), "%s", p);
    return true;
}

/* ---- the tools ---- */

static void projects_list(struct mcp_call *c)
{
    mcp_db(c,
           "SELECT json_build_object('projects', coalesce(json_agg(json_build_object("
           " 'id', id, 'name', name, 'repo_url', repo_url, 'default_branch', default_branch,"
           " 'last_seen', last_seen) ORDER BY name), '[]'))::text FROM projects",
           0, NULL, mcp_read_done);
}

/* How many of the most severe open findings status_get lists (with total and truncated). */
#define STATUS_TOP_FINDINGS "20"

static void status_get(struct mcp_call *c)
{
    const char *p[1];

    if (!mcp_need_project(c))
        return;
    p[0] = c->project_id;
    mcp_db(c,
           "WITH f AS (SELECT id, kind, severity, summary, opened_at, CASE severity"
           "  WHEN 'critical' THEN 4 WHEN 'high' THEN 3 WHEN 'medium' THEN 2 ELSE 1 END AS rank"
           "  FROM conflicts WHERE project_id = $1::uuid AND resolved_at IS NULL)"
           " SELECT CASE WHEN p.id IS NULL THEN NULL ELSE json_build_object("
           " 'project', json_build_object('id', p.id, 'name', p.name, 'repo_url', p.repo_url,"
           "   'default_branch', p.default_branch, 'last_seen', p.last_seen),"
           " 'stories', (SELECT coalesce(json_object_agg(st, n), '{}')"
           "   FROM (SELECT coalesce(status, 'Missing') st, count(*) n FROM artifacts"
           "   WHERE project_id = p.id AND kind = 'story' AND deleted_at IS NULL GROUP BY 1) s),"
           " 'stories_total', (SELECT count(*) FROM artifacts WHERE project_id = p.id"
           "   AND kind = 'story' AND deleted_at IS NULL),"
           " 'findings', json_build_object("
           "   'total', (SELECT count(*) FROM f),"
           "   'by_kind', (SELECT coalesce(json_object_agg(kind, n), '{}')"
           "     FROM (SELECT kind, count(*) n FROM f GROUP BY kind) k),"
           "   'top', (SELECT coalesce(json_agg(json_build_object('id', id, 'kind', kind,"
           "     'severity', severity, 'summary', summary) ORDER BY rank DESC, opened_at DESC,"
           "     id), '[]') FROM (SELECT * FROM f"
           "     ORDER BY rank DESC, opened_at DESC, id LIMIT " STATUS_TOP_FINDINGS ") t),"
           "   'limit', " STATUS_TOP_FINDINGS ","
           "   'truncated', (SELECT count(*) FROM f) > " STATUS_TOP_FINDINGS "),"
           " 'gates', (SELECT coalesce(json_object_agg(decision, n), '{}')"
           "   FROM (SELECT decision, count(*) n FROM gates WHERE project_id = p.id"
           "   AND deleted_at IS NULL GROUP BY decision) g),"
           " 'expired_gates', (SELECT count(*) FROM gates WHERE project_id = p.id"
           "   AND deleted_at IS NULL AND expires_at < now()),"
           " 'active_agents', (SELECT coalesce(json_agg(json_build_object('agent_id', agent_id,"
           "   'agent_name', agent_name, 'story_key', story_key, 'state', state,"
           "   'updated_at', updated_at)), '[]') FROM agent_status WHERE project_id = p.id"
           "   AND state NOT IN ('idle', 'done') AND updated_at > now() - interval '1 day'),"
           " 'recent_runs', (SELECT coalesce(json_agg(json_build_object('name', name, 'status',"
           "   status, 'conclusion', conclusion, 'started_at', started_at) ORDER BY started_at"
           "   DESC), '[]') FROM (SELECT * FROM runs WHERE project_id = p.id"
           "   ORDER BY started_at DESC LIMIT 5) r),"
           " 'last_scan', CASE WHEN p.scan_at IS NULL THEN NULL ELSE json_build_object('ok',"
           "   p.scan_ok, 'at', p.scan_at, 'error', p.scan_error, 'last_good_at',"
           "   p.last_good_scan_at, 'commit', p.scan_commit) END"
           ") END::text FROM (SELECT 1) one LEFT JOIN projects p ON p.id = $1::uuid",
           1, p, mcp_read_done);
}

static void stories_list(struct mcp_call *c)
{
    char lim[16];
    const char *p[4];

    if (!mcp_need_project(c))
        return;
    p[0] = c->project_id;
    p[1] = arg_str(c, "status");
    p[2] = arg_str(c, "epic");
    p[3] = arg_num(c, "limit", "100", lim, sizeof(lim));
    mcp_db(c,
           "SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM projects WHERE id = $1::uuid) THEN NULL"
           " ELSE json_build_object('stories', (SELECT coalesce(json_agg(json_build_object("
           "  'key', key, 'title', title, 'status', status, 'raw_status', meta->'raw_status',"
           "  'path', path, 'tasks_done', meta->'tasks_done', 'tasks_total', meta->'tasks_total',"
           "  'updated_at', updated_at)"
           "  ORDER BY key, path), '[]') FROM (SELECT * FROM artifacts WHERE project_id ="
           "  $1::uuid AND kind = 'story' AND deleted_at IS NULL"
           "  AND ($2::text IS NULL OR status = $2) AND ($3::text IS NULL OR key LIKE $3 || '.%')"
           "  ORDER BY key, path LIMIT $4::int) s)) END::text",
           4, p, mcp_read_done);
}

/* The kanban board in one read: stories with their agents and gate, and the open findings. */
static void board_get(struct mcp_call *c)
{
    const char *p[1];

    if (!mcp_need_project(c))
        return;
    p[0] = c->project_id;
    mcp_db(c,
           "SELECT CASE WHEN p.id IS NULL THEN NULL ELSE json_build_object("
           " 'project', json_build_object('id', p.id, 'name', p.name),"
           " 'stories', (SELECT coalesce(json_agg(json_build_object('key', a.key, 'title',"
           "   a.title, 'status', coalesce(a.status, 'Missing'), 'path', a.path, 'tasks_done',"
           "   a.meta->'tasks_done', 'tasks_total', a.meta->'tasks_total',"
           "   'agents', (SELECT coalesce(json_agg(json_build_object('name',"
           "     coalesce(s.agent_name, s.agent_id), 'state', s.state) ORDER BY s.agent_id), '[]')"
           "     FROM agent_status s WHERE s.project_id = p.id AND s.story_key = a.key"
           "     AND s.state NOT IN ('idle', 'done') AND s.updated_at > now() - interval '1 day'),"
           "   'gate', (SELECT json_build_object('decision', g.decision, 'expired',"
           "     g.expires_at < now()) FROM gates g WHERE g.project_id = p.id AND g.story_key ="
           "     a.key AND g.deleted_at IS NULL ORDER BY g.gate_updated DESC NULLS LAST, "
           "g.scanned_at DESC LIMIT 1))"
           "   ORDER BY a.key, a.path), '[]') FROM (SELECT * FROM artifacts WHERE project_id ="
           "   p.id AND kind = 'story' AND deleted_at IS NULL ORDER BY key, path LIMIT 1000) a),"
           " 'findings', (SELECT coalesce(json_agg(json_build_object('id', id, 'kind', kind,"
           "   'severity', severity, 'summary', summary) ORDER BY CASE severity WHEN 'critical'"
           "   THEN 4 WHEN 'high' THEN 3 WHEN 'medium' THEN 2 ELSE 1 END DESC, opened_at DESC),"
           "   '[]') FROM (SELECT * FROM conflicts WHERE project_id = p.id AND resolved_at IS"
           "   NULL ORDER BY opened_at DESC LIMIT 200) f)"
           ") END::text FROM (SELECT 1) one LEFT JOIN projects p ON p.id = $1::uuid",
           1, p, mcp_read_done);
}

static void story_get(struct mcp_call *c)
{
    const char *p[3];

    if (!mcp_need_project(c))
        return;
    p[0] = c->project_id;
    p[1] = arg_str(c, "key");
    p[2] = arg_str(c, "path");
    if (p[1] == NULL && p[2] == NULL) {
        mcp_tool_error(c, "give the story's key (e.g. \"2.3\") or its path");
        return;
    }
    mcp_db(c,
           "SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM projects WHERE id = $1::uuid) THEN NULL"
           " ELSE coalesce((SELECT json_build_object('story', json_build_object('key', key,"
           "  'title', title, 'title_key', meta->'title_key', 'status', status, 'raw_status',"
           "  meta->'raw_status', 'path', path, 'tasks_done', meta->'tasks_done', 'tasks_total',"
           "  meta->'tasks_total', 'checks_done', meta->'checks_done', 'checks_total',"
           "  meta->'checks_total', 'files', coalesce(meta->'files', '[]'), 'external_files',"
           "  coalesce(meta->'external_files', '[]'), 'file_list', coalesce(meta->'file_list',"
           "  '[]'), 'problem', meta->'parse_error', 'content_hash', content_hash,"
           "  'commit_sha', commit_sha, 'updated_at', updated_at)) FROM artifacts"
           "  WHERE project_id = $1::uuid AND kind = 'story' AND deleted_at IS NULL"
           "  AND ($2::text IS NULL OR key = $2) AND ($3::text IS NULL OR path = $3)"
           "  ORDER BY path LIMIT 1), json_build_object('story', NULL)) END::text",
           3, p, mcp_read_done);
}

static void conflicts_list(struct mcp_call *c)
{
    const char *p[2];

    if (!mcp_need_project(c))
        return;
    p[0] = c->project_id;
    p[1] = arg_bool(c, "include_resolved");
    mcp_db(c,
           "SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM projects WHERE id = $1::uuid) THEN NULL"
           " ELSE json_build_object('conflicts', (SELECT coalesce(json_agg(json_build_object("
           "  'id', id, 'kind', kind, 'fingerprint', fingerprint, 'severity', severity,"
           "  'summary', summary, 'details', details, 'opened_at', opened_at, 'resolved_at',"
           "  resolved_at) ORDER BY opened_at DESC), '[]') FROM conflicts WHERE project_id ="
           "  $1::uuid AND ($2::boolean OR resolved_at IS NULL))) END::text",
           2, p, mcp_read_done);
}

static void gates_list(struct mcp_call *c)
{
    char days[16];
    const char *p[2];

    if (!mcp_need_project(c))
        return;
    p[0] = c->project_id;
    p[1] = arg_num(c, "expiring_within_days", "14", days, sizeof(days));
    mcp_db(c,
           "SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM projects WHERE id = $1::uuid) THEN NULL"
           " ELSE json_build_object('gates', (SELECT coalesce(json_agg(json_build_object("
           "  'story_key', story_key, 'decision', decision, 'raw_decision', raw_decision,"
           "  'status_reason', status_reason, 'reviewer', reviewer, 'quality_score',"
           "  quality_score, 'updated_at', gate_updated, 'expires_at', expires_at, 'expired',"
           "  coalesce(expires_at < now(), false), 'problem', meta->'parse_error', 'path', path)"
           "  ORDER BY story_key, path), '[]')"
           "  FROM gates WHERE project_id = $1::uuid AND deleted_at IS NULL),"
           " 'expired_count', (SELECT count(*) FROM gates WHERE project_id = $1::uuid"
           "  AND deleted_at IS NULL AND expires_at < now()),"
           " 'expiring', (SELECT coalesce(json_agg(story_key ORDER BY expires_at), '[]')"
           "  FROM gates WHERE project_id = $1::uuid AND deleted_at IS NULL"
           "  AND expires_at BETWEEN now() AND now() + ($2 || ' days')::interval)) END::text",
           2, p, mcp_read_done);
}

/* runs_list's cursor as it makes them: "<started_at as Postgres prints it>|<run uuid>". */
static bool cursor_ok(const char *cur)
{
    const char *bar = strrchr(cur, '|');
    size_t n = bar != NULL ? (size_t)(bar - cur) : 0;

    int y, mo, d, h, mi, se;

    if (bar == NULL || n < 19 || n > 40 || !jc_crypto_is_uuid(bar + 1) ||
        strspn(cur, "0123456789-:. +") != n ||
        sscanf(cur, "%4d-%2d-%2d %2d:%2d:%2d", &y, &mo, &d, &h, &mi, &se) != 6)
        return false;
    return y >= 1 && mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h <= 23 && mi <= 59 && se <= 60;
}

static void runs_list(struct mcp_call *c)
{
    char lim[16];
    const char *p[3];

    if (!mcp_need_project(c))
        return;
    p[0] = c->project_id;
    p[1] = arg_num(c, "limit", "20", lim, sizeof(lim));
    p[2] = arg_str(c, "cursor");
    if (p[2] != NULL && !cursor_ok(p[2])) {
        mcp_tool_error(c, "invalid argument 'cursor': pass back a next_cursor that runs_list "
                          "returned, unchanged");
        return;
    }
    /* keyset pagination: the cursor is "<started_at>|<id>" of the last row seen */
    mcp_db(c,
           "WITH page AS (SELECT * FROM runs WHERE project_id = $1::uuid AND ($3::text IS NULL"
           "  OR (started_at, id) < (split_part($3, '|', 1)::timestamptz,"
           "  split_part($3, '|', 2)::uuid)) ORDER BY started_at DESC, id DESC"
           "  LIMIT $2::int + 1)"
           " SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM projects WHERE id = $1::uuid) THEN NULL"
           " ELSE json_build_object('runs', (SELECT coalesce(json_agg(json_build_object('id',"
           "  id, 'source', source, 'kind', kind, 'name', name, 'status', status, 'conclusion',"
           "  conclusion, 'head_sha', head_sha, 'branch', branch, 'url', url, 'agent_id',"
           "  agent_id, 'story_key', story_key, 'started_at', started_at, 'finished_at',"
           "  finished_at) ORDER BY started_at DESC, id DESC), '[]') FROM (SELECT * FROM page"
           "  ORDER BY started_at DESC, id DESC LIMIT $2::int) x),"
           " 'next_cursor', (SELECT started_at::text || '|' || id FROM (SELECT * FROM page"
           "  ORDER BY started_at DESC, id DESC OFFSET $2::int - 1 LIMIT 1) l"
           "  WHERE (SELECT count(*) FROM page) > $2::int)) END::text",
           3, p, mcp_read_done);
}

static void jobs_get(struct mcp_call *c)
{
    const char *id = arg_str(c, "job_id");
    const char *p[1] = {id};

    if (id == NULL || !jc_crypto_is_uuid(id)) {
        mcp_tool_error(c, "job_id must be a job's UUID");
        return;
    }
    snprintf(c->project_id, sizeof(c->project_id), "-");
    mcp_db(c,
           /* an unknown job (or another org's) is {"job": null}, like story_get */
           "SELECT coalesce((SELECT json_build_object('job', json_build_object('id', id, 'queue',"
           " queue, 'status', status, 'project_id', project_id, 'attempts', attempts, 'error',"
           " error, 'result', result, 'created_at', created_at, 'finished_at', finished_at))"
           " FROM jobs WHERE id = $1::uuid), json_build_object('job', NULL))::text",
           1, p, mcp_read_done);
}

/* An agent's records are its token's: another subject's agent_id or run needs the admin scope. */
static bool may_act_as(const struct mcp_call *c, const char *agent_id)
{
    return agent_id == NULL || strcmp(agent_id, c->who.sub) == 0 ||
           jc_principal_has_scope(&c->who, "admin");
}

static void agent_report(struct mcp_call *c)
{
    const char *p[6];
    char *details = NULL;

    if (!mcp_need_project(c))
        return;
    if (!may_act_as(c, arg_str(c, "agent_id"))) {
        mcp_tool_error(c,
                       "invalid argument 'agent_id': an agent reports only for itself (the "
                       "token's subject, '%.100s'); leave agent_id out",
                       c->who.sub);
        return;
    }
    details = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(c->args, "details"));
    p[0] = c->project_id;
    p[1] = arg_str(c, "agent_id") != NULL ? arg_str(c, "agent_id") : c->who.sub;
    p[2] = c->who.name[0] != '\0' ? c->who.name : c->who.sub;
    p[3] = arg_str(c, "story_key");
    p[4] = arg_str(c, "state");
    p[5] = details;
    mcp_db(c,
           "WITH p AS (SELECT id, org_id FROM projects WHERE id = $1::uuid),"
           " up AS (INSERT INTO agent_status (org_id, project_id, agent_id, agent_name,"
           "  story_key, state, details, updated_at) SELECT org_id, id, $2, $3, $4, $5,"
           "  coalesce($6::jsonb, '{}'), now() FROM p"
           "  ON CONFLICT (project_id, agent_id) DO UPDATE SET agent_name = EXCLUDED.agent_name,"
           "  story_key = EXCLUDED.story_key, state = EXCLUDED.state, details = EXCLUDED.details,"
           "  updated_at = now() RETURNING agent_id, story_key, state, updated_at)"
           " SELECT (SELECT json_build_object('agent', row_to_json(up)) FROM up)::text",
           6, p, mcp_read_done);
    cJSON_free(details);
}

/* run_report's ending: a run that exists under another subject is refused, not changed. */
static void run_done(struct mcp_call *c, cJSON *json, enum jc_err err, const char *msg)
{
    if (err == JC_OK && cJSON_IsObject(json) && cJSON_GetObjectItem(json, "owner") != NULL) {
        mcp_tool_error(c,
                       "run '%.100s' was reported by another agent; only it (or an admin) "
                       "can change it: use a new run_id",
                       cJSON_GetStringValue(cJSON_GetObjectItem(json, "run_id")));
        cJSON_Delete(json);
        return;
    }
    mcp_read_done(c, json, err, msg);
}

static void run_report(struct mcp_call *c)
{
    const char *p[9];
    char rid[JC_UUID_LEN];

    if (!mcp_need_project(c))
        return;
    if (arg_str(c, "run_id") == NULL && jc_crypto_uuid4(rid) != JC_OK) {
        mcp_tool_error(c, "no randomness available");
        return;
    }
    p[0] = c->project_id;
    p[1] = arg_str(c, "run_id") != NULL ? arg_str(c, "run_id") : rid;
    p[2] = arg_str(c, "name");
    p[3] = arg_str(c, "status");
    p[4] = arg_str(c, "conclusion");
    p[5] = arg_str(c, "story_key");
    p[6] = c->who.sub;
    p[7] = arg_str(c, "url");
    p[8] = jc_principal_has_scope(&c->who, "admin") ? "t" : "f";
    /* a run belongs to the subject that reported it first: the update applies only for that
     * subject (or an admin); for anyone else nothing changes and the owner check says why */
    mcp_db(c,
           "WITH p AS (SELECT id, org_id FROM projects WHERE id = $1::uuid),"
           " up AS (INSERT INTO runs (org_id, project_id, source, external_id, kind, name,"
           "  status, conclusion, story_key, agent_id, url, started_at, finished_at, updated_at)"
           "  SELECT org_id, id, 'agent', $2, 'agent', $3, $4, $5, $6, $7, $8, now(),"
           "  CASE WHEN $4 IN ('completed', 'failed', 'cancelled') THEN now() END, now() FROM p"
           "  ON CONFLICT (project_id, source, external_id) DO UPDATE SET"
           "  name = coalesce(EXCLUDED.name, runs.name), status = EXCLUDED.status,"
           "  conclusion = coalesce(EXCLUDED.conclusion, runs.conclusion),"
           "  story_key = coalesce(EXCLUDED.story_key, runs.story_key),"
           "  finished_at = coalesce(runs.finished_at, EXCLUDED.finished_at), updated_at = now()"
           "  WHERE runs.agent_id IS NOT DISTINCT FROM EXCLUDED.agent_id OR $9::boolean"
           "  RETURNING external_id AS run_id, name, status, conclusion, story_key, started_at,"
           "  finished_at)"
           " SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM p) THEN NULL"
           "  WHEN EXISTS (SELECT 1 FROM up) THEN (SELECT json_build_object('run',"
           "  row_to_json(up)) FROM up) ELSE json_build_object('owner', 'other', 'run_id', $2)"
           "  END::text",
           9, p, run_done);
}

/* ---- the table ---- */

#define PROJECT_ID "\"project_id\":{\"type\":\"string\",\"description\":\"the project's UUID\"}"
#define OBJ(props, req)                                                                            \
    "{\"type\":\"object\",\"properties\":{" props "},\"required\":[" req "],"                      \
    "\"additionalProperties\":false}"
#define OUT(props) "{\"type\":\"object\",\"properties\":{" props "}}"

const struct mcp_tool mcp_tools[] = {
    {"status_get", "status.get", "Project status",
     "A project's summary: stories by status (Draft, Approved, InProgress, Review, Done, "
     "Blocked, Other, Missing), open findings by kind with the most severe listed (total and "
     "truncated say whether the list is whole), QA gates by decision, expired gates, active "
     "agents, recent CI runs, and the last scan (ok, error, last good scan).",
     "status:read", true, false, true, OBJ(PROJECT_ID, "\"project_id\""),
     OUT("\"project\":{\"type\":\"object\"},\"stories\":{\"type\":\"object\"},"
         "\"stories_total\":{\"type\":\"integer\"},\"findings\":{\"type\":\"object\"},"
         "\"gates\":{\"type\":\"object\"},\"expired_gates\":{\"type\":\"integer\"},"
         "\"active_agents\":{\"type\":\"array\"},\"recent_runs\":{\"type\":\"array\"},"
         "\"last_scan\":{\"type\":[\"object\",\"null\"]}"),
     status_get, true, NULL, NULL},
    {"projects_list", NULL, "List projects", "The projects this token may see.", "projects:read",
     true, false, true, OBJ("", ""), OUT("\"projects\":{\"type\":\"array\"}"), projects_list, false,
     NULL, NULL},
    {"stories_list", NULL, "List stories",
     "Stories of a project, filtered by status (Draft, Approved, InProgress, Review, Done, "
     "Blocked, Other, Missing) and/or epic number.",
     "stories:read", true, false, true,
     OBJ(PROJECT_ID ",\"status\":{\"type\":\"string\",\"enum\":[\"Draft\",\"Approved\","
                    "\"InProgress\",\"Review\",\"Done\",\"Blocked\",\"Other\","
                    "\"Missing\"]},\"epic\":{\"type\":\"string\","
                    "\"maxLength\":16},\"limit\":{\"type\":\"integer\",\"minimum\":1,"
                    "\"maximum\":500}",
         "\"project_id\""),
     OUT("\"stories\":{\"type\":\"array\"}"), stories_list, true, NULL, NULL},
    {"board_get", NULL, "Get the kanban board",
     "A project's board in one read: every story (key, title, status, tasks done/total, the "
     "agents working on it, its QA gate's decision) and the open findings, most severe first.",
     "stories:read", true, false, true, OBJ(PROJECT_ID, "\"project_id\""),
     OUT("\"project\":{\"type\":\"object\"},\"stories\":{\"type\":\"array\"},"
         "\"findings\":{\"type\":\"array\"}"),
     board_get, true, NULL, NULL},
    {"story_get", NULL, "Get a story",
     "One story by key (\"2.3\", the key its file name carries) or path: status as normalised "
     "and as written, tasks done/total in its Tasks section, File List (in-repository files, "
     "external ones apart, each entry's label and note), content hash (pass it as expectedHash "
     "to kanban_move_story).",
     "stories:read", true, false, true,
     OBJ(PROJECT_ID ",\"key\":{\"type\":\"string\",\"maxLength\":32},\"path\":{\"type\":"
                    "\"string\",\"maxLength\":1000}",
         "\"project_id\""),
     OUT("\"story\":{\"type\":[\"object\",\"null\"]}"), story_get, true, NULL, NULL},
    {"conflicts_list", "conflicts.list", "List conflicts",
     "Open findings: active stories (InProgress or Review) whose File Lists share files, two "
     "agents on one story, a Done story whose QA gate says FAIL, two story files with one key, "
     "a title naming another key than its file, sprint-status disagreements; include_resolved "
     "for all.",
     "conflicts:read", true, false, true,
     OBJ(PROJECT_ID ",\"include_resolved\":{\"type\":\"boolean\"}", "\"project_id\""),
     OUT("\"conflicts\":{\"type\":\"array\"}"), conflicts_list, true, NULL, NULL},
    {"gates_list", "gates.list", "List QA gates",
     "QA gates, one per gate file: decision (PASS, CONCERNS, FAIL, WAIVED, Other with the raw "
     "value, Missing), expired or not, parse problems; the number expired, and the gates "
     "expiring within the given days (default 14).",
     "gates:read", true, false, true,
     OBJ(PROJECT_ID ",\"expiring_within_days\":{\"type\":\"integer\",\"minimum\":1,"
                    "\"maximum\":365}",
         "\"project_id\""),
     OUT("\"gates\":{\"type\":\"array\"},\"expired_count\":{\"type\":\"integer\"},"
         "\"expiring\":{\"type\":\"array\"}"),
     gates_list, true, NULL, NULL},
    {"runs_list", "runs.list", "List runs",
     "CI and agent runs, newest first; pass next_cursor back as cursor for the next page.",
     "runs:read", true, false, true,
     OBJ(PROJECT_ID ",\"limit\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":100},"
                    "\"cursor\":{\"type\":\"string\",\"maxLength\":100}",
         "\"project_id\""),
     OUT("\"runs\":{\"type\":\"array\"},\"next_cursor\":{\"type\":[\"string\",\"null\"]}"),
     runs_list, true, NULL, NULL},
    {"jobs_get", NULL, "Get a job", "Status and result of a job (e.g. a kanban move).", "jobs:read",
     true, false, true,
     OBJ("\"job_id\":{\"type\":\"string\",\"description\":\"the job's UUID\"}", "\"job_id\""),
     OUT("\"job\":{\"type\":[\"object\",\"null\"]}"), jobs_get, false, NULL, NULL},
    {"agent_report", NULL, "Report agent state",
     "Say which story this agent works on and its state; feeds conflict detection. The agent "
     "is the token's subject (agent_id, if given, must be it).",
     "agents:write", false, false, true,
     OBJ(PROJECT_ID ",\"agent_id\":{\"type\":\"string\",\"maxLength\":200},\"story_key\":"
                    "{\"type\":\"string\",\"maxLength\":32},\"state\":{\"type\":\"string\","
                    "\"enum\":[\"idle\",\"planning\",\"working\",\"blocked\",\"reviewing\","
                    "\"done\"]},\"details\":{\"type\":\"object\"}",
         "\"project_id\",\"state\""),
     OUT("\"agent\":{\"type\":\"object\"}"), agent_report, false, "agent.updated", "agent"},
    {"run_report", NULL, "Report a run",
     "Record an agent run (start, progress, finish and outcome); repeat with the same run_id to "
     "update it (only the agent that reported a run can change it).",
     "runs:write", false, false, true,
     OBJ(PROJECT_ID ",\"run_id\":{\"type\":\"string\",\"maxLength\":200},\"name\":{\"type\":"
                    "\"string\",\"maxLength\":200},\"status\":{\"type\":\"string\",\"enum\":"
                    "[\"queued\",\"in_progress\",\"completed\",\"failed\",\"cancelled\"]},"
                    "\"conclusion\":{\"type\":\"string\",\"maxLength\":100},\"story_key\":"
                    "{\"type\":\"string\",\"maxLength\":32},\"url\":{\"type\":\"string\","
                    "\"maxLength\":2000}",
         "\"project_id\",\"status\""),
     OUT("\"run\":{\"type\":\"object\"}"), run_report, false, "run.updated", "run"},
    {"kanban_move_story", "kanban.moveStory", "Move a story on the kanban board",
     "Sets a story's status (Draft, Approved, InProgress, Review, Done, Blocked): the "
     "orchestrator commits "
     "a one-line change of the story's Status section and pushes it. Waits up to waitMs "
     "(default 10000) for the commit SHA, else returns the job id (see jobs_get). Pass the "
     "same idempotencyKey when retrying: the story is moved once. expectedHash (story_get's "
     "content_hash) refuses the move if the story changed meanwhile.",
     "kanban:write", false, false, true,
     OBJ(PROJECT_ID ",\"key\":{\"type\":\"string\",\"maxLength\":32},\"path\":{\"type\":"
                    "\"string\",\"maxLength\":1000},\"status\":{\"type\":\"string\",\"enum\":"
                    "[\"Draft\",\"Approved\",\"InProgress\",\"Review\",\"Done\","
                    "\"Blocked\"]},"
                    "\"idempotencyKey\":{\"type\":\"string\",\"maxLength\":200},"
                    "\"expectedHash\":{\"type\":\"string\",\"maxLength\":64},"
                    "\"waitMs\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":30000}",
         "\"project_id\",\"status\""),
     OUT("\"job_id\":{\"type\":\"string\"},\"status\":{\"type\":\"string\"},"
         "\"commit\":{\"type\":\"string\"},\"from\":{\"type\":\"string\"},"
         "\"to\":{\"type\":\"string\"}"),
     mcp_kanban_move_story, false, NULL, NULL},
    {"memory_store", NULL, "Leave a note in the project's memory",
     "Store a note for the other agents and people of this project: a decision, a hand-off, a "
     "warning (\"2.3 uses the v2 client; do not touch auth.ts\"), with up to 10 tags and "
     "optionally the story it is about. Written with your identity; memory_search finds it.",
     "memory:write", false, false, false,
     OBJ(PROJECT_ID ",\"body\":{\"type\":\"string\",\"maxLength\":8000},\"tags\":{\"type\":"
                    "\"array\",\"items\":{\"type\":\"string\",\"maxLength\":40},\"maxItems\":10},"
                    "\"story_key\":{\"type\":\"string\",\"maxLength\":32}",
         "\"project_id\",\"body\""),
     OUT("\"note\":{\"type\":\"object\"}"), mcp_memory_store, false, "memory.stored", "note"},
    {"memory_search", NULL, "Search the project's memory",
     "Notes of this project, best match first for a query (web search syntax: words, \"a "
     "phrase\", -not, or), or the newest without one; filtered by tags (all of them) and story.",
     "memory:read", true, false, true,
     OBJ(PROJECT_ID ",\"query\":{\"type\":\"string\",\"maxLength\":500},\"tags\":{\"type\":"
                    "\"array\",\"items\":{\"type\":\"string\",\"maxLength\":40},\"maxItems\":10},"
                    "\"story_key\":{\"type\":\"string\",\"maxLength\":32},\"limit\":{\"type\":"
                    "\"integer\",\"minimum\":1,\"maximum\":50}",
         "\"project_id\""),
     OUT("\"notes\":{\"type\":\"array\"}"), mcp_memory_search, true, NULL, NULL},
    {"memory_forget", NULL, "Forget a note",
     "Delete one of your own notes from the project's memory (its id from memory_store or "
     "memory_search).",
     "memory:write", false, true, true,
     OBJ(PROJECT_ID ",\"id\":{\"type\":\"integer\",\"minimum\":1}", "\"project_id\",\"id\""),
     OUT("\"forgotten\":{\"type\":\"integer\"}"), mcp_memory_forget, false, "memory.forgotten",
     "forgotten"},
    {"reports_list", NULL, "List the reports",
     "The reports reports_run computes (cycle_time, throughput, wip, gate_pass_rate, "
     "findings_trend, agent_activity), each with what it says and its parameters (JSON Schema).",
     "reports:read", true, false, true, OBJ("", ""), OUT("\"reports\":{\"type\":\"array\"}"),
     mcp_reports_list, false, NULL, NULL},
    {"reports_run", NULL, "Run a report",
     "One of the fixed reports over a project's history (never free SQL): cycle time Approved "
     "to Done per story and epic, throughput per week, work in progress per week, gate pass "
     "rate and top issues, findings opened and resolved per week, agent activity. weeks is "
     "the window (default 12); epic limits it to one epic.",
     "reports:read", true, false, true,
     OBJ(PROJECT_ID ",\"report\":{\"type\":\"string\",\"enum\":[\"cycle_time\",\"throughput\","
                    "\"wip\",\"gate_pass_rate\",\"findings_trend\",\"agent_activity\"]},"
                    "\"weeks\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":104},"
                    "\"epic\":{\"type\":\"string\",\"maxLength\":8}",
         "\"project_id\",\"report\""),
     OUT("\"report\":{\"type\":\"string\"},\"project_id\":{\"type\":\"string\"},"
         "\"result\":{\"type\":\"object\"}"),
     mcp_reports_run, true, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL, false, false, false, NULL, NULL, NULL, false, NULL, NULL},
};

const struct mcp_tool *mcp_tool_find(const char *name)
{
    const struct mcp_tool *t;

    for (t = mcp_tools; name != NULL && t->name != NULL; t++)
        if (strcmp(t->name, name) == 0 || (t->alias != NULL && strcmp(t->alias, name) == 0))
            return t;
    return NULL;
}

cJSON *mcp_tool_describe(const struct mcp_tool *t)
{
    cJSON *d = cJSON_CreateObject(), *ann;

    cJSON_AddStringToObject(d, "name", t->name);
    cJSON_AddStringToObject(d, "title", t->title);
    cJSON_AddStringToObject(d, "description", t->description);
    cJSON_AddItemToObject(d, "inputSchema", cJSON_Parse(t->input_schema));
    cJSON_AddItemToObject(d, "outputSchema", cJSON_Parse(t->output_schema));
    ann = cJSON_AddObjectToObject(d, "annotations");
    cJSON_AddStringToObject(ann, "title", t->title);
    cJSON_AddBoolToObject(ann, "readOnlyHint", t->read_only);
    cJSON_AddBoolToObject(ann, "destructiveHint", t->destructive);
    cJSON_AddBoolToObject(ann, "idempotentHint", t->idempotent);
    cJSON_AddBoolToObject(ann, "openWorldHint", false);
    {
        cJSON *meta = cJSON_AddObjectToObject(d, "_meta");
        cJSON_AddStringToObject(meta, "io.jive/scope", t->scope);
        if (t->alias != NULL)
            cJSON_AddStringToObject(meta, "io.jive/alias", t->alias);
    }
    return d;
}

/* ---- validation: the JSON Schema subset of the table above ---- */

static bool type_ok(const cJSON *v, const char *type)
{
    if (strcmp(type, "string") == 0)
        return cJSON_IsString(v);
    if (strcmp(type, "integer") == 0)
        return cJSON_IsNumber(v) && v->valuedouble == (double)(long long)v->valuedouble;
    if (strcmp(type, "number") == 0)
        return cJSON_IsNumber(v);
    if (strcmp(type, "boolean") == 0)
        return cJSON_IsBool(v);
    if (strcmp(type, "object") == 0)
        return cJSON_IsObject(v);
    if (strcmp(type, "array") == 0)
        return cJSON_IsArray(v);
    if (strcmp(type, "null") == 0)
        return cJSON_IsNull(v);
    return false;
}

const char *mcp_validate(const struct mcp_tool *t, const cJSON *args, char *buf, size_t len)
{
    cJSON *schema = cJSON_Parse(t->input_schema);
    const cJSON *props = cJSON_GetObjectItem(schema, "properties"), *a, *r;
    const char *out = NULL;

    if (!cJSON_IsObject(args)) {
        out = "arguments must be a JSON object";
        goto done;
    }
    cJSON_ArrayForEach(r, cJSON_GetObjectItem(schema, "required"))
    {
        if (cJSON_GetObjectItemCaseSensitive(args, r->valuestring) == NULL) {
            snprintf(buf, len, "missing required argument '%s'", r->valuestring);
            out = buf;
            goto done;
        }
    }
    cJSON_ArrayForEach(a, args)
    {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(props, a->string), *e;
        const cJSON *type, *en, *min, *max, *maxlen;
        bool ok = false;
        if (p == NULL) {
            snprintf(buf, len, "unknown argument '%.60s'", a->string);
            out = buf;
            goto done;
        }
        type = cJSON_GetObjectItem(p, "type");
        if (cJSON_IsString(type))
            ok = type_ok(a, type->valuestring);
        else
            cJSON_ArrayForEach(e, type) ok = ok || type_ok(a, e->valuestring);
        if (!ok) {
            snprintf(buf, len, "argument '%.60s' must be of type %s", a->string,
                     cJSON_IsString(type) ? type->valuestring : "as documented");
            out = buf;
            goto done;
        }
        en = cJSON_GetObjectItem(p, "enum");
        if (en != NULL) {
            ok = false;
            cJSON_ArrayForEach(e, en) ok =
                ok || (cJSON_IsString(a) && strcmp(e->valuestring, a->valuestring) == 0);
            if (!ok) {
                snprintf(buf, len, "argument '%.60s' must be one of the documented values",
                         a->string);
                out = buf;
                goto done;
            }
        }
        min = cJSON_GetObjectItem(p, "minimum");
        max = cJSON_GetObjectItem(p, "maximum");
        if ((min != NULL && a->valuedouble < min->valuedouble) ||
            (max != NULL && a->valuedouble > max->valuedouble)) {
            snprintf(buf, len, "argument '%.60s' is out of range", a->string);
            out = buf;
            goto done;
        }
        maxlen = cJSON_GetObjectItem(p, "maxLength");
        if (maxlen != NULL && cJSON_IsString(a) &&
            strlen(a->valuestring) > (size_t)maxlen->valueint) {
            snprintf(buf, len, "argument '%.60s' is too long", a->string);
            out = buf;
            goto done;
        }
    }
done:
    cJSON_Delete(schema);
    return out;
}
