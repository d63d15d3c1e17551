/* SPDX-License-Identifier: MIT */
/*
 * memory.c: project memory for agents: memory_store, memory_search and memory_forget. Notes are
 * rows of memory_notes under row-level security (the caller's org and projects claim), written
 * with the caller's identity, searched with Postgres full-text search (jive_memory_search, which
 * applies the same tenant rules itself so that the index is used) (websearch syntax, ranked
 * by ts_rank_cd), filtered by tags and story key. A project holds at most JIVE_MEMORY_QUOTA
 * notes; a note is forgotten only by its author.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcp.h"

#define MAX_TAGS 10
#define MAX_TAG_LEN 40

static const char *arg(const struct mcp_call *c, const char *name)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c->args, name));
}

/* The tags argument as a Postgres array literal (malloc'd), "" for none given; NULL after
 * answering the call with what is wrong. */
static char *tags_arg(struct mcp_call *c, bool *given)
{
    const cJSON *tags = cJSON_GetObjectItemCaseSensitive(c->args, "tags"), *t;
    const char *list[MAX_TAGS];
    int n = 0;
    char *lit;

    *given = tags != NULL;
    cJSON_ArrayForEach(t, tags)
    {
        const char *v = cJSON_GetStringValue(t);
        size_t len = v != NULL ? strlen(v) : 0;
        if (v == NULL || len == 0 || len > MAX_TAG_LEN ||
            strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789._:-") != len) {
            mcp_tool_invalid(c, "each tag is 1 to 40 characters of a-z 0-9 . _ : - (lower case)");
            return NULL;
        }
        if (n == MAX_TAGS) {
            mcp_tool_invalid(c, "at most 10 tags");
            return NULL;
        }
        list[n++] = v;
    }
    lit = jc_pg_array_literal(list, n);
    if (lit == NULL)
        mcp_tool_error(c, "out of memory");
    return lit;
}

static void stored(struct mcp_call *c, cJSON *json, enum jc_err err, const char *msg)
{
    const cJSON *note = cJSON_GetObjectItem(json, "note");

    if (err != JC_OK) {
        mcp_db_error(c, "nothing was stored", msg);
        return;
    }
    if (cJSON_IsNull(json)) {
        cJSON_Delete(json);
        mcp_tool_error(c, "project %s not found, or not visible to this token", c->project_id);
        return;
    }
    if (!cJSON_IsObject(note)) {
        int count = cJSON_GetObjectItem(json, "count")->valueint;
        cJSON_Delete(json);
        mcp_tool_error(c,
                       "this project's memory is full (%d notes, JIVE_MEMORY_QUOTA): forget old "
                       "notes first (memory_forget)",
                       count);
        return;
    }
    cJSON_DeleteItemFromObject(json, "count");
    mcp_tool_result(c, json);
}

void mcp_memory_store(struct mcp_call *c)
{
    const char *body = arg(c, "body"), *story = arg(c, "story_key");
    char quota[24], *tags;
    bool given;
    const char *p[7];

    if (!mcp_need_project(c))
        return;
    if (body == NULL || body[strspn(body, " \t\r\n")] == '\0') {
        mcp_tool_invalid(c, "body must say something (1 to 8000 characters)");
        return;
    }
    if ((tags = tags_arg(c, &given)) == NULL)
        return;
    snprintf(quota, sizeof(quota), "%ld", c->mcp->app->cfg.memory_quota);
    p[0] = c->project_id;
    p[1] = c->who.sub;
    p[2] = c->who.name[0] != '\0' ? c->who.name : NULL;
    p[3] = story;
    p[4] = tags;
    p[5] = body;
    p[6] = quota;
    mcp_db(c,
           "WITH p AS (SELECT id, org_id FROM projects WHERE id = $1::uuid),"
           " n AS (SELECT count(*) AS c FROM memory_notes WHERE project_id = $1::uuid),"
           " ins AS (INSERT INTO memory_notes (org_id, project_id, author_id, author_name,"
           "  story_key, tags, body) SELECT p.org_id, p.id, $2, $3, $4, $5::text[], $6 FROM p, n"
           "  WHERE n.c < $7::int RETURNING id, story_key, tags, author_id, author_name,"
           "  created_at)"
           " SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM p) THEN NULL ELSE json_build_object("
           "  'note', (SELECT row_to_json(ins) FROM ins), 'count', (SELECT c FROM n)) END::text",
           7, p, stored);
    free(tags);
}

void mcp_memory_search(struct mcp_call *c)
{
    const cJSON *limit = cJSON_GetObjectItemCaseSensitive(c->args, "limit");
    char lim[16], *tags;
    bool given;
    const char *p[5];

    if (!mcp_need_project(c))
        return;
    if ((tags = tags_arg(c, &given)) == NULL)
        return;
    snprintf(lim, sizeof(lim), "%d", cJSON_IsNumber(limit) ? limit->valueint : 10);
    p[0] = c->project_id;
    p[1] = arg(c, "query");
    p[2] = given ? tags : NULL;
    p[3] = arg(c, "story_key");
    p[4] = lim;
    /* with a query: the matches, best first; without: the newest notes */
    /* jive_memory_search applies the tenant rules itself so that the full-text index is
     * used (schema/017_memory_search.sql) */
    mcp_db(c,
           "SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM projects WHERE id = $1::uuid) THEN NULL"
           " ELSE json_build_object('notes', (SELECT coalesce(json_agg(json_build_object('id',"
           "  x.id, 'body', x.body, 'tags', x.tags, 'story_key', x.story_key, 'author_id',"
           "  x.author_id, 'author_name', x.author_name, 'created_at', x.created_at, 'rank',"
           "  round(x.rank::numeric, 4)) ORDER BY x.rank DESC, x.created_at DESC, x.id DESC),"
           "  '[]') FROM jive_memory_search($1::uuid, $2, $3::text[], $4, $5::int) x)) END::text",
           5, p, mcp_read_done);
    free(tags);
}

static void forgotten(struct mcp_call *c, cJSON *json, enum jc_err err, const char *msg)
{
    const cJSON *id = cJSON_GetObjectItem(json, "forgotten");

    if (err != JC_OK) {
        mcp_db_error(c, "nothing was forgotten", msg);
        return;
    }
    if (cJSON_IsNull(json)) {
        cJSON_Delete(json);
        mcp_tool_error(c, "project %s not found, or not visible to this token", c->project_id);
        return;
    }
    if (!cJSON_IsNumber(id)) {
        cJSON_Delete(json);
        mcp_tool_error(c, "no note %d of yours in this project (only its author forgets a note)",
                       cJSON_GetObjectItemCaseSensitive(c->args, "id")->valueint);
        return;
    }
    mcp_tool_result(c, json);
}

void mcp_memory_forget(struct mcp_call *c)
{
    char id[24];
    const char *p[3];

    if (!mcp_need_project(c))
        return;
    snprintf(id, sizeof(id), "%d", cJSON_GetObjectItemCaseSensitive(c->args, "id")->valueint);
    p[0] = c->project_id;
    p[1] = id;
    p[2] = c->who.sub;
    mcp_db(c,
           "WITH d AS (DELETE FROM memory_notes WHERE id = $2::bigint AND project_id = $1::uuid"
           " AND author_id = $3 RETURNING id)"
           " SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM projects WHERE id = $1::uuid) THEN NULL"
           " ELSE json_build_object('forgotten', (SELECT id FROM d)) END::text",
           3, p, forgotten);
}
