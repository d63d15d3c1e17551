/* SPDX-License-Identifier: MIT */
/*
 * docs.c: MCP resources and prompts. Story and planning documents are resources
 * jive://projects/<project-id>/<path> (text/markdown, read under row-level security), and the
 * reports of the current week are jive://reports/<project-id>/<report> (reports.c); two
 * prompts: a stand-up summary of a project and a story kick-off that embeds the story.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jc/crypto.h"
#include "mcp.h"

#define URI_PREFIX "jive://projects/"
#define REPORT_PREFIX "jive://reports/"
#define PAGE 200

/* Finishes a resources/prompts request: result (taken), or a JSON-RPC error. */
static void done(struct mcp_call *c, cJSON *result, int code, const char *msg)
{
    mcp_reply(c, result, code, NULL, msg);
}

/* A list or read result with the 2026-07-28 caching hints (ttlMs, cacheScope). */
static void hinted(struct mcp_call *c, cJSON *result, long ttl_ms, const char *scope)
{
    if (c->modern) {
        cJSON_AddNumberToObject(result, "ttlMs", (double)ttl_ms);
        cJSON_AddStringToObject(result, "cacheScope", scope);
    }
    done(c, result, 0, NULL);
}

/* resources/read of a resource that does not exist: -32602 naming the uri (SEP-2164). */
static void not_found(struct mcp_call *c, const char *msg)
{
    cJSON *data = cJSON_CreateObject();
    const char *uri = cJSON_GetStringValue(cJSON_GetObjectItem(c->params, "uri"));

    if (uri != NULL)
        cJSON_AddStringToObject(data, "uri", uri);
    mcp_reply(c, NULL, -32602, data, msg);
}

static bool need_scope(struct mcp_call *c, const char *scope)
{
    char msg[120];

    if (jc_principal_has_scope(&c->who, scope))
        return true;
    snprintf(msg, sizeof(msg), "this needs the %s scope", scope);
    done(c, NULL, -32003, msg);
    return false;
}

/* ---- resources ---- */

static void listed(struct mcp_call *c, cJSON *json, enum jc_err err, const char *msg)
{
    if (err != JC_OK) {
        done(c, NULL, -32603, msg);
        return;
    }
    if (cJSON_IsNull(cJSON_GetObjectItem(json, "nextCursor")))
        cJSON_DeleteItemFromObject(json, "nextCursor");
    hinted(c, json, 60000, "private");
}

void mcp_resources_list(struct mcp_call *c)
{
    const char *cursor = cJSON_GetStringValue(cJSON_GetObjectItem(c->params, "cursor"));
    char page[16];
    const char *p[2];

    if (!need_scope(c, "stories:read"))
        return;
    snprintf(page, sizeof(page), "%d", PAGE);
    p[0] = cursor;
    p[1] = page;
    /* the cursor is the last uri of the previous page */
    mcp_db(c,
           "WITH d AS (SELECT '" URI_PREFIX "' || project_id || '/' || path AS uri, path, kind,"
           "  title FROM artifacts WHERE deleted_at IS NULL AND content IS NOT NULL"
           "  AND ($1::text IS NULL OR '" URI_PREFIX "' || project_id || '/' || path > $1)"
           "  ORDER BY 1 LIMIT $2::int + 1)"
           " SELECT json_build_object('resources', (SELECT coalesce(json_agg(json_build_object("
           "  'uri', uri, 'name', path, 'title', coalesce(title, path), 'mimeType',"
           "  'text/markdown', 'description', kind) ORDER BY uri), '[]') FROM (SELECT * FROM d"
           "  ORDER BY uri LIMIT $2::int) x),"
           " 'nextCursor', (SELECT max(uri) FROM (SELECT uri FROM d ORDER BY uri LIMIT $2::int) y"
           "  WHERE (SELECT count(*) FROM d) > $2::int))::text",
           2, p, listed);
}

void mcp_resources_templates(struct mcp_call *c)
{
    cJSON *r = cJSON_CreateObject(), *list = cJSON_AddArrayToObject(r, "resourceTemplates");
    cJSON *t = cJSON_CreateObject();

    cJSON_AddStringToObject(t, "uriTemplate", URI_PREFIX "{project_id}/{+path}");
    cJSON_AddStringToObject(t, "name", "bmad-document");
    cJSON_AddStringToObject(t, "title", "BMAD story or planning document");
    cJSON_AddStringToObject(t, "description",
                            "A story (docs/stories/..., _bmad-output/implementation-artifacts/...) "
                            "or planning document (PRD, architecture, epics) of a project.");
    cJSON_AddStringToObject(t, "mimeType", "text/markdown");
    cJSON_AddItemToArray(list, t);
    t = cJSON_CreateObject();
    cJSON_AddStringToObject(t, "uriTemplate", REPORT_PREFIX "{project_id}/{report}");
    cJSON_AddStringToObject(t, "name", "report");
    cJSON_AddStringToObject(t, "title", "A report of the current week");
    cJSON_AddStringToObject(t, "description",
                            "One of reports_list's reports (cycle_time, throughput, wip, "
                            "gate_pass_rate, findings_trend, agent_activity) over the current "
                            "week, as reports_run gives it; needs reports:read.");
    cJSON_AddStringToObject(t, "mimeType", "application/json");
    cJSON_AddItemToArray(list, t);
    hinted(c, r, 60000, "private");
}

static void read_done(struct mcp_call *c, cJSON *json, enum jc_err err, const char *msg)
{
    cJSON *r, *contents, *item;
    const char *text = cJSON_GetStringValue(cJSON_GetObjectItem(json, "text"));

    if (err != JC_OK) {
        done(c, NULL, -32603, msg);
        cJSON_Delete(json);
        return;
    }
    if (text == NULL) {
        cJSON_Delete(json);
        not_found(c, "resource not found");
        return;
    }
    r = cJSON_CreateObject();
    contents = cJSON_AddArrayToObject(r, "contents");
    item = cJSON_CreateObject();
    cJSON_AddStringToObject(item, "uri",
                            cJSON_GetStringValue(cJSON_GetObjectItem(c->params, "uri")));
    cJSON_AddStringToObject(item, "mimeType", "text/markdown");
    cJSON_AddStringToObject(item, "text", text);
    cJSON_AddItemToArray(contents, item);
    cJSON_Delete(json);
    hinted(c, r, 30000, "private");
}

void mcp_resources_read(struct mcp_call *c)
{
    const char *uri = cJSON_GetStringValue(cJSON_GetObjectItem(c->params, "uri"));
    char pid[40];
    const char *path;
    const char *p[2];

    if (uri != NULL && strncmp(uri, REPORT_PREFIX, strlen(REPORT_PREFIX)) == 0 &&
        strlen(uri) > strlen(REPORT_PREFIX) + 37 && uri[strlen(REPORT_PREFIX) + 36] == '/') {
        snprintf(pid, sizeof(pid), "%.36s", uri + strlen(REPORT_PREFIX));
        mcp_report_resource(c, pid, uri + strlen(REPORT_PREFIX) + 37);
        return;
    }
    if (!need_scope(c, "stories:read"))
        return;
    if (uri == NULL || strncmp(uri, URI_PREFIX, strlen(URI_PREFIX)) != 0 ||
        strlen(uri) < strlen(URI_PREFIX) + 38) {
        not_found(c, "resource not found: expected jive://projects/<id>/<path>");
        return;
    }
    snprintf(pid, sizeof(pid), "%.36s", uri + strlen(URI_PREFIX));
    path = uri + strlen(URI_PREFIX) + 37;
    if (!jc_crypto_is_uuid(pid) || uri[strlen(URI_PREFIX) + 36] != '/') {
        not_found(c, "resource not found: expected jive://projects/<id>/<path>");
        return;
    }
    p[0] = pid;
    p[1] = path;
    mcp_db(c,
           "SELECT json_build_object('text', (SELECT content FROM artifacts WHERE project_id ="
           " $1::uuid AND path = $2 AND deleted_at IS NULL))::text",
           2, p, read_done);
}

/* ---- prompts ---- */

/* The prompts; prompts_get below knows each one's arguments. */
static const char prompts_json[] =
    "{\"prompts\":["
    "{\"name\":\"standup_summary\",\"title\":\"Stand-up summary\",\"description\":\"A stand-up "
    "for a project from its live state: progress, who works on what, conflicts to resolve, gates "
    "and CI.\",\"arguments\":[{\"name\":\"project_id\",\"description\":\"the project's UUID\","
    "\"required\":true}]},"
    "{\"name\":\"story_kickoff\",\"title\":\"Story kick-off\",\"description\":\"Start work on a "
    "story: the story itself, open conflicts touching its files, and the steps JIVE expects "
    "(report, implement, move).\",\"arguments\":[{\"name\":\"project_id\",\"required\":true},"
    "{\"name\":\"story_key\",\"description\":\"e.g. 2.3\",\"required\":true}]}]}";

void mcp_prompts_list(struct mcp_call *c)
{
    hinted(c, cJSON_Parse(prompts_json), 3600000, "public"); /* fixed with the binary */
}

static cJSON *message(const char *text, cJSON *resource)
{
    cJSON *m = cJSON_CreateObject(), *content;

    cJSON_AddStringToObject(m, "role", "user");
    content = cJSON_AddObjectToObject(m, "content");
    if (resource != NULL) {
        cJSON_AddStringToObject(content, "type", "resource");
        cJSON_AddItemToObject(content, "resource", resource);
    } else {
        cJSON_AddStringToObject(content, "type", "text");
        cJSON_AddStringToObject(content, "text", text);
    }
    return m;
}

static void prompt_done(struct mcp_call *c, cJSON *json, enum jc_err err, const char *msg)
{
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(c->params, "name"));
    cJSON *r, *msgs;
    char *state;
    char text[4096];

    if (err != JC_OK || cJSON_IsNull(json)) {
        cJSON_Delete(json);
        done(c, NULL, err != JC_OK ? -32603 : -32602,
             err != JC_OK ? msg : "project or story not found, or not visible to this token");
        return;
    }
    r = cJSON_CreateObject();
    msgs = cJSON_AddArrayToObject(r, "messages");
    state = cJSON_PrintUnformatted(cJSON_GetObjectItem(json, "state"));
    if (strcmp(name, "standup_summary") == 0) {
        cJSON_AddStringToObject(r, "description", "Stand-up summary");
        snprintf(text, sizeof(text),
                 "Write today's stand-up for this project, for the humans supervising the AI "
                 "agents. Cover: progress (stories by status), who is working on what, open "
                 "conflicts and what to do about each, QA gates that failed or expire soon, and "
                 "recent CI runs. Be brief and concrete; name story keys.\n\nCurrent state "
                 "(JSON):\n%.3500s",
                 state != NULL ? state : "{}");
        cJSON_AddItemToArray(msgs, message(text, NULL));
    } else {
        cJSON *story = cJSON_GetObjectItem(json, "story");
        cJSON *res = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "description", "Story kick-off");
        cJSON_AddStringToObject(res, "uri",
                                cJSON_GetStringValue(cJSON_GetObjectItem(story, "uri")));
        cJSON_AddStringToObject(res, "mimeType", "text/markdown");
        cJSON_AddStringToObject(res, "text",
                                cJSON_GetStringValue(cJSON_GetObjectItem(story, "content")) != NULL
                                    ? cJSON_GetStringValue(cJSON_GetObjectItem(story, "content"))
                                    : "");
        cJSON_AddItemToArray(msgs, message(NULL, res));
        snprintf(text, sizeof(text),
                 "You are starting story %s (status %s). Before you change code: call "
                 "agent_report with story_key %s and state 'working'. Check these open "
                 "conflicts that touch this story or its files: %.2000s. Implement the tasks "
                 "left unchecked, keep the story's File List current, then call "
                 "kanban_move_story with status 'Review' (pass the content_hash from story_get "
                 "as expectedHash).",
                 cJSON_GetStringValue(cJSON_GetObjectItem(story, "key")),
                 cJSON_GetStringValue(cJSON_GetObjectItem(story, "status")) != NULL
                     ? cJSON_GetStringValue(cJSON_GetObjectItem(story, "status"))
                     : "unknown",
                 cJSON_GetStringValue(cJSON_GetObjectItem(story, "key")),
                 state != NULL ? state : "[]");
        cJSON_AddItemToArray(msgs, message(text, NULL));
    }
    cJSON_free(state);
    cJSON_Delete(json);
    done(c, r, 0, NULL);
}

void mcp_prompts_get(struct mcp_call *c)
{
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(c->params, "name"));
    const cJSON *args = cJSON_GetObjectItem(c->params, "arguments");
    const char *pid = cJSON_GetStringValue(cJSON_GetObjectItem(args, "project_id"));
    const char *key = cJSON_GetStringValue(cJSON_GetObjectItem(args, "story_key"));
    const char *p[2] = {pid, key};

    if (name == NULL ||
        (strcmp(name, "standup_summary") != 0 && strcmp(name, "story_kickoff") != 0)) {
        done(c, NULL, -32602, "unknown prompt");
        return;
    }
    if (!need_scope(c, strcmp(name, "standup_summary") == 0 ? "status:read" : "stories:read"))
        return;
    if (pid == NULL || !jc_crypto_is_uuid(pid) ||
        (strcmp(name, "story_kickoff") == 0 && key == NULL)) {
        done(c, NULL, -32602, "missing or invalid arguments: project_id (and story_key)");
        return;
    }
    if (strcmp(name, "standup_summary") == 0)
        mcp_db(c,
               "SELECT CASE WHEN p.id IS NULL THEN NULL ELSE json_build_object('state',"
               " json_build_object('project', p.name, 'stories', (SELECT json_object_agg("
               "  coalesce(status, 'Missing'), n) FROM (SELECT status, count(*) n FROM artifacts"
               "  WHERE project_id = p.id AND kind = 'story' AND deleted_at IS NULL GROUP BY"
               "  status) s), 'agents', (SELECT json_agg(json_build_object('agent', agent_name,"
               "  'story', story_key, 'state', state)) FROM agent_status WHERE project_id = p.id"
               "  AND state NOT IN ('idle', 'done')), 'conflicts', (SELECT json_agg(summary)"
               "  FROM conflicts WHERE project_id = p.id AND resolved_at IS NULL), 'gates',"
               "  (SELECT json_agg(json_build_object('story', story_key, 'decision', decision,"
               "  'expires_at', expires_at)) FROM gates WHERE project_id = p.id AND deleted_at"
               "  IS NULL AND (decision = 'FAIL' OR expires_at < now() + interval '7 days')),"
               "  'runs', (SELECT json_agg(json_build_object('name', name, 'status', status,"
               "  'conclusion', conclusion)) FROM (SELECT * FROM runs WHERE project_id = p.id"
               "  ORDER BY started_at DESC LIMIT 5) r))) END::text"
               " FROM (SELECT 1) one LEFT JOIN projects p ON p.id = $1::uuid",
               1, p, prompt_done);
    else
        mcp_db(c,
               "SELECT (SELECT json_build_object('story', json_build_object('key', a.key,"
               " 'status', a.status, 'content', a.content, 'uri', '" URI_PREFIX "' ||"
               " a.project_id || '/' || a.path), 'state', (SELECT coalesce(json_agg(summary), '[]')"
               " FROM conflicts c WHERE c.project_id = a.project_id AND c.resolved_at IS NULL"
               " AND coalesce(c.details->'stories', '[]') ? a.key))"
               " FROM artifacts a WHERE a.project_id = $1::uuid AND a.kind = 'story'"
               " AND a.key = $2 AND a.deleted_at IS NULL ORDER BY a.path LIMIT 1)::text",
               2, p, prompt_done);
}

/* ---- completion of prompt and resource-template arguments ---- */

#define COMPLETE_MAX 100 /* the spec's cap on values per response */

static void completed(struct mcp_call *c, cJSON *json, enum jc_err err, const char *msg)
{
    if (err != JC_OK) {
        done(c, NULL, -32603, msg);
        return;
    }
    done(c, json, 0, NULL);
}

/* The SQL for one completable argument, or NULL when the argument has no candidates. */
static const char *complete_sql(const char *arg, const char **scope)
{
    /* $1: the typed prefix, $2: the project (may be NULL). At most COMPLETE_MAX + 1 rows tell
     * whether there are more. */
#define COMPLETION(inner)                                                                          \
    "WITH v AS (" inner " LIMIT 101) SELECT json_build_object('completion', json_build_object("    \
    "'values', (SELECT coalesce(json_agg(x ORDER BY x), '[]') FROM (SELECT x FROM v ORDER BY x"    \
    " LIMIT 100) s), 'hasMore', (SELECT count(*) > 100 FROM v)))::text"
    if (strcmp(arg, "project_id") == 0) {
        *scope = "projects:read";
        return COMPLETION("SELECT id::text AS x FROM projects WHERE starts_with(id::text, $1)"
                          " AND $2::text IS NULL ORDER BY 1");
    }
    if (strcmp(arg, "story_key") == 0) {
        *scope = "stories:read";
        return COMPLETION("SELECT DISTINCT key AS x FROM artifacts WHERE project_id = $2::uuid"
                          " AND kind = 'story' AND key IS NOT NULL AND deleted_at IS NULL"
                          " AND starts_with(key, $1) ORDER BY 1");
    }
    if (strcmp(arg, "path") == 0) {
        *scope = "stories:read";
        return COMPLETION("SELECT path AS x FROM artifacts WHERE project_id = $2::uuid"
                          " AND content IS NOT NULL AND deleted_at IS NULL"
                          " AND starts_with(path, $1) ORDER BY 1");
    }
#undef COMPLETION
    return NULL;
}

void mcp_complete(struct mcp_call *c)
{
    const cJSON *ref = cJSON_GetObjectItem(c->params, "ref");
    const cJSON *arg = cJSON_GetObjectItem(c->params, "argument");
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItem(ref, "type"));
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(arg, "name"));
    const char *value = cJSON_GetStringValue(cJSON_GetObjectItem(arg, "value"));
    const char *project = cJSON_GetStringValue(cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(c->params, "context"), "arguments"), "project_id"));
    const char *sql, *scope = NULL, *p[2];
    cJSON *empty;

    if (type == NULL || name == NULL || value == NULL) {
        done(c, NULL, -32602,
             "completion/complete needs ref.type, argument.name and argument.value");
        return;
    }
    if (strcmp(type, "ref/prompt") == 0) {
        const char *prompt = cJSON_GetStringValue(cJSON_GetObjectItem(ref, "name"));
        if (prompt == NULL ||
            (strcmp(prompt, "standup_summary") != 0 && strcmp(prompt, "story_kickoff") != 0)) {
            done(c, NULL, -32602, "unknown prompt (see prompts/list)");
            return;
        }
    } else if (strcmp(type, "ref/resource") == 0) {
        const char *uri = cJSON_GetStringValue(cJSON_GetObjectItem(ref, "uri"));
        if (uri == NULL || strcmp(uri, URI_PREFIX "{project_id}/{+path}") != 0) {
            done(c, NULL, -32602, "unknown resource template (see resources/templates/list)");
            return;
        }
    } else {
        done(c, NULL, -32602, "ref.type must be ref/prompt or ref/resource");
        return;
    }
    sql = complete_sql(name, &scope);
    /* a project-scoped argument completes only once the project is known */
    if (sql != NULL && strcmp(name, "project_id") != 0 &&
        (project == NULL || !jc_crypto_is_uuid(project)))
        sql = NULL;
    if (sql == NULL) {
        empty = cJSON_CreateObject();
        cJSON *comp = cJSON_AddObjectToObject(empty, "completion");
        cJSON_AddArrayToObject(comp, "values");
        cJSON_AddFalseToObject(comp, "hasMore");
        done(c, empty, 0, NULL);
        return;
    }
    if (!need_scope(c, scope))
        return;
    p[0] = value;
    p[1] = strcmp(name, "project_id") == 0 ? NULL : project;
    mcp_db(c, sql, 2, p, completed);
}
