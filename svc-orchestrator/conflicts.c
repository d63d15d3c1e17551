/* SPDX-License-Identifier: MIT */
/*
 * conflicts.c: conflicts between agents, with stable fingerprints, opened and resolved only on
 * change. Kinds: stories in progress whose File Lists overlap (file_overlap), two agents on one
 * story (agent_overlap), a Done story whose gate is FAIL or expired (gate_violation), two story
 * files with one key (duplicate_key), a v6 story whose file and sprint-status.yaml disagree
 * (status_mismatch).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "orchestrator.h"

static const char load_sql[] =
    "SELECT json_build_object("
    " 'stories', (SELECT coalesce(json_agg(json_build_object('path', path, 'key', key,"
    "   'status', status, 'files', meta->'files')), '[]') FROM artifacts"
    "   WHERE project_id = $1 AND kind = 'story' AND deleted_at IS NULL),"
    " 'sprint', (SELECT coalesce(json_agg(meta->'sprint_status'), '[]') FROM artifacts"
    "   WHERE project_id = $1 AND deleted_at IS NULL AND meta ? 'sprint_status'),"
    " 'gates', (SELECT coalesce(json_agg(json_build_object('key', story_key,"
    "   'decision', decision, 'expired', expires_at < now(), 'path', path)), '[]') FROM gates"
    "   WHERE project_id = $1 AND deleted_at IS NULL),"
    " 'agents', (SELECT coalesce(json_agg(json_build_object('agent', agent_id, 'name',"
    "   coalesce(agent_name, agent_id), 'story', story_key) ORDER BY agent_id), '[]')"
    "   FROM agent_status WHERE project_id = $1 AND story_key IS NOT NULL"
    "   AND state IN ('planning', 'working', 'blocked', 'reviewing')"
    "   AND updated_at > now() - interval '1 day'))::text";

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
};

static void add(cJSON *out, const char *kind, const char *fp, const char *severity,
                const char *summary, cJSON *details)
{
    cJSON *c = cJSON_CreateObject();

    cJSON_AddStringToObject(c, "kind", kind);
    cJSON_AddStringToObject(c, "fingerprint", fp);
    cJSON_AddStringToObject(c, "severity", severity);
    cJSON_AddStringToObject(c, "summary", summary);
    cJSON_AddItemToObject(c, "details", details != NULL ? details : cJSON_CreateObject());
    cJSON_AddItemToArray(out, c);
}

static const char *s_of(const cJSON *o, const char *name)
{
    const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, name));

    return v != NULL ? v : "";
}

/* (name, index) pairs sorted by name: groups of equal names become neighbours. */
struct entry {
    const char *name;
    int idx;
};

static int by_name(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    int c = strcmp(x->name, y->name);

    return c != 0 ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

/* Pairs of in-progress stories that share files: (lo, hi) story indices and the files. */
struct pair {
    int a, b;
    cJSON *files;
};

static struct pair *pair_get(struct pair **pairs, int *n, int *cap, int a, int b)
{
    int i;

    for (i = 0; i < *n; i++)
        if ((*pairs)[i].a == a && (*pairs)[i].b == b)
            return &(*pairs)[i];
    if (*n == *cap) {
        int nc = *cap * 2 + 16;
        struct pair *np = realloc(*pairs, (size_t)nc * sizeof(*np));
        if (np == NULL)
            return NULL;
        *pairs = np;
        *cap = nc;
    }
    (*pairs)[*n].a = a;
    (*pairs)[*n].b = b;
    (*pairs)[*n].files = cJSON_CreateArray();
    return &(*pairs)[(*n)++];
}

static void file_overlaps(const cJSON *stories, cJSON *out)
{
    int n = cJSON_GetArraySize(stories), i, j, k, m = 0, cap = 0, np = 0, pcap = 0;
    struct entry *e = NULL;
    struct pair *pairs = NULL;
    char fp[600], summary[600];
    const cJSON *st, *f;

    /* every (file, story) of the stories in progress */
    for (i = 0; i < n; i++) {
        st = cJSON_GetArrayItem(stories, i);
        if (strcmp(s_of(st, "status"), "InProgress") != 0)
            continue;
        cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(st, "files"))
        {
            if (!cJSON_IsString(f))
                continue;
            if (m == cap) {
                struct entry *ne = realloc(e, (size_t)(cap = cap * 2 + 64) * sizeof(*e));
                if (ne == NULL)
                    goto out;
                e = ne;
            }
            e[m].name = f->valuestring;
            e[m++].idx = i;
        }
    }
    if (m > 1)
        qsort(e, (size_t)m, sizeof(*e), by_name);
    for (i = 0; i < m; i = j) {
        for (j = i + 1; j < m && strcmp(e[j].name, e[i].name) == 0; j++)
            ;
        /* stories i..j-1 all list this file */
        for (k = i; k < j; k++) {
            int l;
            for (l = k + 1; l < j; l++) {
                struct pair *p;
                if (e[k].idx == e[l].idx)
                    continue;
                p = pair_get(&pairs, &np, &pcap, e[k].idx, e[l].idx);
                if (p == NULL)
                    goto out;
                cJSON_AddItemToArray(p->files, cJSON_CreateString(e[k].name));
            }
        }
    }
    for (i = 0; i < np; i++) {
        const char *ka = s_of(cJSON_GetArrayItem(stories, pairs[i].a), "key");
        const char *kb = s_of(cJSON_GetArrayItem(stories, pairs[i].b), "key");
        const char *lo = strcmp(ka, kb) <= 0 ? ka : kb, *hi = lo == ka ? kb : ka;
        cJSON *d = cJSON_CreateObject();
        cJSON *sts = cJSON_AddArrayToObject(d, "stories");
        cJSON_AddItemToArray(sts, cJSON_CreateString(lo));
        cJSON_AddItemToArray(sts, cJSON_CreateString(hi));
        snprintf(fp, sizeof(fp), "file_overlap:%s|%s", lo, hi);
        snprintf(summary, sizeof(summary),
                 "Stories %s and %s are both in progress and change %d of the same file(s), "
                 "e.g. %s",
                 lo, hi, cJSON_GetArraySize(pairs[i].files),
                 cJSON_GetArrayItem(pairs[i].files, 0)->valuestring);
        cJSON_AddItemToObject(d, "files", pairs[i].files);
        pairs[i].files = NULL;
        add(out, "file_overlap", fp, "high", summary, d);
    }
out:
    for (i = 0; i < np; i++)
        cJSON_Delete(pairs[i].files);
    free(pairs);
    free(e);
}

static void duplicate_keys(const cJSON *stories, cJSON *out)
{
    int n = cJSON_GetArraySize(stories), i, j, m = 0;
    struct entry *e = calloc((size_t)n + 1, sizeof(*e));
    char fp[600], summary[600];

    if (e == NULL)
        return;
    for (i = 0; i < n; i++) {
        const char *k = s_of(cJSON_GetArrayItem(stories, i), "key");
        if (*k != '\0') {
            e[m].name = k;
            e[m++].idx = i;
        }
    }
    qsort(e, (size_t)m, sizeof(*e), by_name);
    for (i = 0; i < m; i = j) {
        cJSON *d, *paths;
        const char *first = NULL, *second = NULL;
        int k;
        for (j = i + 1; j < m && strcmp(e[j].name, e[i].name) == 0; j++)
            ;
        if (j - i < 2)
            continue;
        d = cJSON_CreateObject();
        paths = cJSON_AddArrayToObject(d, "paths");
        /* the paths in order, so details and summary are stable */
        for (k = i; k < j; k++) {
            const char *p = s_of(cJSON_GetArrayItem(stories, e[k].idx), "path");
            int at = 0;
            const cJSON *x;
            cJSON_ArrayForEach(x, paths)
            {
                if (strcmp(x->valuestring, p) > 0)
                    break;
                at++;
            }
            cJSON_InsertItemInArray(paths, at, cJSON_CreateString(p));
        }
        first = cJSON_GetArrayItem(paths, 0)->valuestring;
        second = cJSON_GetArrayItem(paths, 1)->valuestring;
        snprintf(fp, sizeof(fp), "duplicate_key:%s", e[i].name);
        snprintf(summary, sizeof(summary), "Story key %s is used by %s and %s%s", e[i].name, first,
                 second, j - i > 2 ? " and more" : "");
        add(out, "duplicate_key", fp, "medium", summary, d);
    }
    free(e);
}

/* Binary search in entries sorted by name; -1 when absent. */
static int find(const struct entry *e, int m, const char *name)
{
    int lo = 0, hi = m - 1;

    while (lo <= hi) {
        int mid = (lo + hi) / 2, c = strcmp(e[mid].name, name);
        if (c == 0) {
            while (mid > 0 && strcmp(e[mid - 1].name, name) == 0)
                mid--;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

cJSON *orch_compute_conflicts(const cJSON *state)
{
    const cJSON *stories = cJSON_GetObjectItemCaseSensitive(state, "stories");
    const cJSON *gates = cJSON_GetObjectItemCaseSensitive(state, "gates");
    const cJSON *agents = cJSON_GetObjectItemCaseSensitive(state, "agents");
    const cJSON *sprints = cJSON_GetObjectItemCaseSensitive(state, "sprint");
    cJSON *out = cJSON_CreateArray();
    const cJSON *a, *b, *g, *sp;
    struct entry *ge = NULL, *se = NULL;
    const char **sv = NULL;
    char fp[600], summary[600];
    int i, j, ns = 0, n = cJSON_GetArraySize(stories), ng = cJSON_GetArraySize(gates);

    file_overlaps(stories, out);
    duplicate_keys(stories, out);
    /* gates by story key, for the Done stories */
    ge = calloc((size_t)ng + 1, sizeof(*ge));
    for (i = 0; ge != NULL && i < ng; i++) {
        ge[i].name = s_of(cJSON_GetArrayItem(gates, i), "key");
        ge[i].idx = i;
    }
    if (ge != NULL)
        qsort(ge, (size_t)ng, sizeof(*ge), by_name);
    /* sprint-status entries (key -> status) of every sprint-status file, sorted by key */
    cJSON_ArrayForEach(sp, sprints)
    {
        ns += cJSON_GetArraySize(sp);
    }
    se = calloc((size_t)ns + 1, sizeof(*se));
    sv = calloc((size_t)ns + 1, sizeof(*sv));
    ns = 0;
    cJSON_ArrayForEach(sp, sprints)
    {
        const cJSON *kv;
        cJSON_ArrayForEach(kv, sp)
        {
            if (se == NULL || sv == NULL || kv->string == NULL || !cJSON_IsString(kv))
                continue;
            se[ns].name = kv->string;
            se[ns].idx = ns;
            sv[ns++] = kv->valuestring;
        }
    }
    if (se != NULL && sv != NULL)
        qsort(se, (size_t)ns, sizeof(*se), by_name);
    else {
        free(se);
        se = NULL;
    }
    for (i = 0; i < n; i++) {
        a = cJSON_GetArrayItem(stories, i);
        /* Done but the gate says no */
        if (ge != NULL && strcmp(s_of(a, "status"), "Done") == 0 && *s_of(a, "key") != '\0') {
            for (j = find(ge, ng, s_of(a, "key"));
                 j >= 0 && j < ng && strcmp(ge[j].name, s_of(a, "key")) == 0; j++) {
                bool expired, fail;
                cJSON *d;
                g = cJSON_GetArrayItem(gates, ge[j].idx);
                expired = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(g, "expired"));
                fail = strcmp(s_of(g, "decision"), "FAIL") == 0;
                if (!fail && !expired)
                    continue;
                d = cJSON_CreateObject();
                cJSON_AddStringToObject(d, "story", s_of(a, "key"));
                cJSON_AddStringToObject(d, "gate", s_of(g, "path"));
                cJSON_AddStringToObject(d, "decision", s_of(g, "decision"));
                cJSON_AddBoolToObject(d, "expired", expired);
                snprintf(fp, sizeof(fp), "gate_violation:%s", s_of(a, "key"));
                snprintf(summary, sizeof(summary), "Story %s is Done but its QA gate %s",
                         s_of(a, "key"), fail ? "is FAIL" : "has expired");
                add(out, "gate_violation", fp, fail ? "critical" : "high", summary, d);
                break;
            }
        }
        /* v6: the story file and sprint-status.yaml disagree */
        if (se != NULL && *s_of(a, "status") != '\0' && *s_of(a, "key") != '\0') {
            int at = find(se, ns, s_of(a, "key"));
            const char *want = at >= 0 ? sv[se[at].idx] : "";
            if (*want != '\0' && strcmp(want, s_of(a, "status")) != 0) {
                cJSON *d = cJSON_CreateObject();
                cJSON_AddStringToObject(d, "story", s_of(a, "key"));
                cJSON_AddStringToObject(d, "file_status", s_of(a, "status"));
                cJSON_AddStringToObject(d, "sprint_status", want);
                snprintf(fp, sizeof(fp), "status_mismatch:%s", s_of(a, "key"));
                snprintf(summary, sizeof(summary),
                         "Story %s says %s but sprint-status.yaml says %s", s_of(a, "key"),
                         s_of(a, "status"), want);
                add(out, "status_mismatch", fp, "low", summary, d);
            }
        }
    }
    free(ge);
    free(se);
    free(sv);
    /* two agents on one story (agents come ordered by id: a stable fingerprint) */
    n = cJSON_GetArraySize(agents);
    for (i = 0; i < n; i++) {
        cJSON *names = NULL, *ids = NULL, *d;
        a = cJSON_GetArrayItem(agents, i);
        for (j = 0; j < i; j++)
            if (strcmp(s_of(cJSON_GetArrayItem(agents, j), "story"), s_of(a, "story")) == 0)
                break;
        if (j < i)
            continue; /* this story was handled at its first agent */
        for (j = i; j < n; j++) {
            b = cJSON_GetArrayItem(agents, j);
            if (strcmp(s_of(b, "story"), s_of(a, "story")) != 0)
                continue;
            if (ids == NULL) {
                ids = cJSON_CreateArray();
                names = cJSON_CreateArray();
            }
            cJSON_AddItemToArray(ids, cJSON_CreateString(s_of(b, "agent")));
            cJSON_AddItemToArray(names, cJSON_CreateString(s_of(b, "name")));
        }
        if (cJSON_GetArraySize(ids) < 2) {
            cJSON_Delete(ids);
            cJSON_Delete(names);
            continue;
        }
        d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "story", s_of(a, "story"));
        cJSON_AddItemToObject(d, "agents", ids);
        cJSON_AddItemToObject(d, "agent_names", names);
        snprintf(fp, sizeof(fp), "agent_overlap:%s", s_of(a, "story"));
        snprintf(summary, sizeof(summary), "%d agents report working on story %s",
                 cJSON_GetArraySize(ids), s_of(a, "story"));
        add(out, "agent_overlap", fp, "high", summary, d);
    }
    return out;
}

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

static void loaded(const PGresult *res, enum jc_err err, const char *msg, void *ud)
{
    struct detect *dt = ud;
    cJSON *state, *found;
    char *text;

    if (err != JC_OK) {
        finish(dt, err, msg, 0, 0);
        return;
    }
    state = cJSON_Parse(PQgetvalue(res, 0, 0));
    found = orch_compute_conflicts(state);
    text = cJSON_PrintUnformatted(found);
    cJSON_Delete(state);
    cJSON_Delete(found);
    if (text == NULL) {
        finish(dt, JC_ENOMEM, "out of memory", 0, 0);
        return;
    }
    {
        const char *p[3] = {dt->project_id, text, dt->org_id};
        if (jc_pg_query(dt->app->pg, 0, apply_sql, 3, p, applied, dt) != JC_OK)
            finish(dt, JC_EPG, "cannot submit", 0, 0);
    }
    cJSON_free(text);
}

void orch_detect_conflicts(struct jc_app *app, const char *project_id, const char *org_id,
                           const char *job_id, orch_conflicts_cb *cb, void *ud)
{
    struct detect *dt = calloc(1, sizeof(*dt));
    const char *p[1] = {project_id};

    if (dt == NULL) {
        cb(JC_ENOMEM, "out of memory", 0, 0, ud);
        return;
    }
    dt->app = app;
    dt->cb = cb;
    dt->ud = ud;
    snprintf(dt->project_id, sizeof(dt->project_id), "%s", project_id);
    snprintf(dt->org_id, sizeof(dt->org_id), "%s", org_id);
    snprintf(dt->job_id, sizeof(dt->job_id), "%s", job_id != NULL ? job_id : "");
    if (jc_pg_query(app->pg, 0, load_sql, 1, p, loaded, dt) != JC_OK)
        finish(dt, JC_EPG, "cannot submit", 0, 0);
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
    (void)ud;
    orch_detect_conflicts(jc_worker_app(run->worker), run->job.project_id, run->job.org_id,
                          run->job.id, job_done, run);
}
