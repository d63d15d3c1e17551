/* SPDX-License-Identifier: MIT */
/*
 * move.c: the story-move job (the kanban move of jive-mcp). The working tree is never touched:
 * the story is read from origin/<branch> with git plumbing, its Status rewritten (every other
 * byte unchanged), and a commit built on a private index and pushed; one fetch-and-retry when
 * the push is rejected because the branch moved. Payload: {"path" or "key", "status",
 * "expected_hash" (optional sha256 of the content the caller saw), "actor": {"id", "name"}}.
 */
#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jc/bmad.h"
#include "jc/crypto.h"
#include "orchestrator.h"

struct move {
    struct jc_job_run *run;
    struct jc_app *app;
    struct orch_ctx *ctx;
    char project_id[40];
    char branch[256];
    char *repo_url;
    char dir[PATH_MAX];
    char index_env[PATH_MAX + 32]; /* GIT_INDEX_FILE=... */
    char path[1024];
    char key[64];
    const char *to; /* canonical status name (static) */
    char from[32];
    char parent[64];
    char mode[16];
    char blob[64];
    char tree[64];
    char commit[64];
    char hash[JC_SHA256_HEX_LEN];
    char *content;
    size_t content_len;
    int pushes;
};

static void move_free(struct move *m)
{
    if (m->index_env[0] != '\0')
        unlink(m->index_env + strlen("GIT_INDEX_FILE="));
    free(m->repo_url);
    free(m->content);
    free(m);
}

static void release(struct move *m)
{
    orch_unlock(m->app, m->ctx, m->project_id, m->run->job.id);
}

/* Ends the job with an error: retried with backoff, or (retry false) rejected for good. */
static void end_with(struct move *m, bool retry, const char *fmt, va_list ap) JC_PRINTF(3, 0);
static void end_with(struct move *m, bool retry, const char *fmt, va_list ap)
{
    char msg[600];

    vsnprintf(msg, sizeof(msg), fmt, ap);
    release(m);
    if (retry)
        jc_job_fail(m->run, "%s", msg);
    else
        jc_job_reject(m->run, "%s", msg);
    move_free(m);
}

/* A refusal the caller must fix: no retry. */
static void reject(struct move *m, const char *fmt, ...) JC_PRINTF(2, 3);
static void reject(struct move *m, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    end_with(m, false, fmt, ap);
    va_end(ap);
}

/* A failure that may pass (git, database): retried with backoff. */
static void fail(struct move *m, const char *fmt, ...) JC_PRINTF(2, 3);
static void fail(struct move *m, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    end_with(m, true, fmt, ap);
    va_end(ap);
}

static bool git_failed(struct move *m, const struct jc_proc_result *r, const char *what)
{
    char buf[400];

    if (r->exit_code == 0)
        return false;
    fail(m, "%s: %s", what, orch_git_error(r, buf, sizeof(buf)));
    return true;
}

/* First word of a git answer (an object id) into out. */
static bool first_word(const struct jc_proc_result *r, char *out, size_t len)
{
    size_t n = strcspn(r->out, " \t\n");

    if (n == 0 || n >= len)
        return false;
    memcpy(out, r->out, n);
    out[n] = '\0';
    return true;
}

/* ---- done ---- */

static void recorded(const PGresult *res, enum jc_err err, const char *msg, void *ud)
{
    struct move *m = ud;
    cJSON *result = cJSON_CreateObject();
    cJSON *data;

    (void)res;
    if (err != JC_OK) /* the commit is pushed; the next scan of the push records it */
        jc_warn(m->app->log, "story %s moved, artifact not updated: %s", m->path, msg);
    cJSON_AddStringToObject(result, "commit", m->commit);
    cJSON_AddStringToObject(result, "path", m->path);
    cJSON_AddStringToObject(result, "key", m->key);
    cJSON_AddStringToObject(result, "from", m->from);
    cJSON_AddStringToObject(result, "to", m->to);
    cJSON_AddStringToObject(result, "content_hash", m->hash);
    data = cJSON_Duplicate(result, 1);
    if (jc_events_publish(m->app->redis, m->project_id, "story.moved", m->run->job.id, data, NULL,
                          NULL) != JC_OK)
        jc_debug(m->app->log, "story.moved not published");
    cJSON_Delete(data);
    release(m);
    jc_job_succeed(m->run, result);
    move_free(m);
}

static void record(struct move *m)
{
    const char *p[6] = {m->project_id, m->path, m->to, m->hash, m->commit, m->content};

    if (jc_pg_query(m->app->pg, 0,
                    "UPDATE artifacts SET status = $3, content_hash = $4, commit_sha = $5, "
                    "meta = jsonb_set(meta, '{raw_status}', to_jsonb($3::text)), "
                    "content = CASE WHEN content IS NULL THEN NULL ELSE $6 END, "
                    "updated_at = now(), deleted_at = NULL "
                    "WHERE project_id = $1::uuid AND path = $2",
                    6, p, recorded, m) != JC_OK)
        recorded(NULL, JC_EPG, "cannot submit", m);
}

/* ---- the commit and its push ---- */

static void read_entry(struct move *m);

static void refetched(const struct jc_proc_result *r, void *ud)
{
    struct move *m = ud;

    if (git_failed(m, r, "fetching after a rejected push"))
        return;
    read_entry(m); /* rebuild the change on the new branch head */
}

static void pushed(const struct jc_proc_result *r, void *ud)
{
    struct move *m = ud;

    if (r->exit_code != 0 && m->pushes == 1 &&
        (strstr(r->err, "rejected") != NULL || strstr(r->err, "fetch first") != NULL ||
         strstr(r->err, "non-fast-forward") != NULL)) {
        const char *a[] = {"git", "-C", m->dir, "fetch", "--quiet", "--no-tags", "origin", NULL};
        if (orch_git(m->app, a, NULL, NULL, 0, ORCH_GIT_TIMEOUT_MS, 1u << 20, refetched, m) !=
            JC_OK)
            fail(m, "cannot run git");
        return;
    }
    if (git_failed(m, r, "pushing"))
        return;
    record(m);
}

static void committed(const struct jc_proc_result *r, void *ud)
{
    struct move *m = ud;
    char ref[400];
    /* to the project's URL as it is now (checked before the fetch of this job) */
    const char *a[] = {"git", "-C", m->dir, "push", "--quiet", "--", m->repo_url, ref, NULL};

    if (git_failed(m, r, "committing") || !first_word(r, m->commit, sizeof(m->commit))) {
        if (r->exit_code == 0)
            fail(m, "committing: no commit id");
        return;
    }
    m->pushes++;
    snprintf(ref, sizeof(ref), "%s:refs/heads/%s", m->commit, m->branch);
    if (orch_git(m->app, a, NULL, NULL, 0, ORCH_GIT_TIMEOUT_MS, 1u << 20, pushed, m) != JC_OK)
        fail(m, "cannot run git");
}

static void tree_written(const struct jc_proc_result *r, void *ud)
{
    struct move *m = ud;
    const cJSON *actor = cJSON_GetObjectItem(m->run->payload, "actor");
    const char *who = cJSON_GetStringValue(cJSON_GetObjectItem(actor, "name"));
    const char *who_id = cJSON_GetStringValue(cJSON_GetObjectItem(actor, "id"));
    char msg[2600], aname[200], aemail[200];
    const char *env[] = {aname, aemail, "GIT_COMMITTER_NAME=JIVE",
                         "GIT_COMMITTER_EMAIL=jive@localhost", NULL};
    const char *a[] = {"git", "-C",      m->dir, "commit-tree", m->tree,
                       "-p",  m->parent, "-m",   msg,           NULL};
    size_t i;

    if (git_failed(m, r, "writing the tree") || !first_word(r, m->tree, sizeof(m->tree))) {
        if (r->exit_code == 0)
            fail(m, "writing the tree: no tree id");
        return;
    }
    snprintf(aname, sizeof(aname), "GIT_AUTHOR_NAME=%.150s",
             who != NULL && *who != '\0' ? who : "JIVE");
    /* an e-mail made only of safe characters of the actor id */
    snprintf(aemail, sizeof(aemail), "GIT_AUTHOR_EMAIL=%.100s@agents.jive",
             who_id != NULL && *who_id != '\0' ? who_id : "jive");
    for (i = strlen("GIT_AUTHOR_EMAIL="); aemail[i] != '@' && aemail[i] != '\0'; i++)
        if (!isalnum((unsigned char)aemail[i]) && aemail[i] != '-' && aemail[i] != '_' &&
            aemail[i] != '.')
            aemail[i] = '-';
    snprintf(msg, sizeof(msg),
             "Move story %s to %s\n\n%s: status %s -> %s, requested by %s through JIVE "
             "(job %s).\n",
             m->key[0] != '\0' ? m->key : m->path, m->to, m->path,
             m->from[0] != '\0' ? m->from : "none", m->to,
             who != NULL && *who != '\0' ? who : "an agent", m->run->job.id);
    if (orch_git(m->app, a, env, NULL, 0, ORCH_GIT_TIMEOUT_MS, 4096, committed, m) != JC_OK)
        fail(m, "cannot run git");
}

static void index_updated(const struct jc_proc_result *r, void *ud)
{
    struct move *m = ud;
    const char *env[] = {m->index_env, NULL};
    const char *a[] = {"git", "-C", m->dir, "write-tree", NULL};

    if (git_failed(m, r, "updating the index"))
        return;
    if (orch_git(m->app, a, env, NULL, 0, ORCH_GIT_TIMEOUT_MS, 4096, tree_written, m) != JC_OK)
        fail(m, "cannot run git");
}

static void index_read(const struct jc_proc_result *r, void *ud)
{
    struct move *m = ud;
    char info[1200];
    const char *env[] = {m->index_env, NULL};
    const char *a[] = {"git", "-C", m->dir, "update-index", "--cacheinfo", info, NULL};

    if (git_failed(m, r, "reading the tree"))
        return;
    snprintf(info, sizeof(info), "%s,%s,%s", m->mode, m->blob, m->path);
    if (orch_git(m->app, a, env, NULL, 0, ORCH_GIT_TIMEOUT_MS, 4096, index_updated, m) != JC_OK)
        fail(m, "cannot run git");
}

static void blob_written(const struct jc_proc_result *r, void *ud)
{
    struct move *m = ud;
    const char *env[] = {m->index_env, NULL};
    const char *a[] = {"git", "-C", m->dir, "read-tree", m->parent, NULL};

    if (git_failed(m, r, "storing the new content") || !first_word(r, m->blob, sizeof(m->blob))) {
        if (r->exit_code == 0)
            fail(m, "storing the new content: no blob id");
        return;
    }
    if (orch_git(m->app, a, env, NULL, 0, ORCH_GIT_TIMEOUT_MS, 4096, index_read, m) != JC_OK)
        fail(m, "cannot run git");
}

/* ---- reading the story at the branch head ---- */

static void content_read(const struct jc_proc_result *r, void *ud)
{
    struct move *m = ud;
    const char *expected =
        cJSON_GetStringValue(cJSON_GetObjectItem(m->run->payload, "expected_hash"));
    char now_hash[JC_SHA256_HEX_LEN], err[300];
    struct jc_story st;
    size_t n = 0;
    char *next;
    const char *a[] = {"git", "-C", m->dir, "hash-object", "-w", "--stdin", NULL};

    if (git_failed(m, r, "reading the story"))
        return;
    if (jc_crypto_sha256_hex(r->out, r->out_len, now_hash) != JC_OK) {
        fail(m, "hashing failed");
        return;
    }
    if (expected != NULL && strcmp(expected, now_hash) != 0) {
        reject(m,
               "%s changed since it was read (expected content hash %.12s..., it is now "
               "%.12s...): read it again and retry",
               m->path, expected, now_hash);
        return;
    }
    if (jc_story_parse(m->path, r->out, r->out_len, &st, err, sizeof(err)) != JC_OK) {
        reject(m, "%s is not a story file JIVE can edit: %s", m->path, err);
        return;
    }
    snprintf(m->from, sizeof(m->from), "%s", jc_story_status_name(st.status));
    if (m->key[0] == '\0' && st.key != NULL)
        snprintf(m->key, sizeof(m->key), "%s", st.key);
    jc_story_clear(&st);
    snprintf(m->hash, sizeof(m->hash), "%s", now_hash);
    if (strcmp(m->from, m->to) == 0) {
        /* already there: nothing to commit */
        cJSON *result = cJSON_CreateObject();
        cJSON_AddStringToObject(result, "path", m->path);
        cJSON_AddStringToObject(result, "key", m->key);
        cJSON_AddStringToObject(result, "from", m->from);
        cJSON_AddStringToObject(result, "to", m->to);
        cJSON_AddBoolToObject(result, "unchanged", true);
        cJSON_AddStringToObject(result, "commit", m->parent);
        release(m);
        jc_job_succeed(m->run, result);
        move_free(m);
        return;
    }
    next = jc_story_set_status(r->out, r->out_len, m->to, &n);
    if (next == NULL) {
        fail(m, "out of memory");
        return;
    }
    free(m->content);
    m->content = next;
    m->content_len = n;
    if (jc_crypto_sha256_hex(next, n, m->hash) != JC_OK ||
        orch_git(m->app, a, NULL, next, n, ORCH_GIT_TIMEOUT_MS, 4096, blob_written, m) != JC_OK)
        fail(m, "cannot run git");
}

static void entry_listed(const struct jc_proc_result *r, void *ud)
{
    struct move *m = ud;
    char type[16], oid[64];
    const char *a[] = {"git", "-C", m->dir, "cat-file", "blob", oid, NULL};

    if (git_failed(m, r, "looking up the story"))
        return;
    /* "<mode> <type> <oid>\t<path>" */
    if (r->out_len == 0 || sscanf(r->out, "%15s %15s %63s", m->mode, type, oid) != 3) {
        reject(m, "%s does not exist on %s", m->path, m->branch);
        return;
    }
    if (strcmp(m->mode, "120000") == 0) {
        reject(m, "%s is a symbolic link: refused", m->path);
        return;
    }
    if (strcmp(type, "blob") != 0 ||
        (strcmp(m->mode, "100644") != 0 && strcmp(m->mode, "100755") != 0)) {
        reject(m, "%s is not a regular file", m->path);
        return;
    }
    if (orch_git(m->app, a, NULL, NULL, 0, ORCH_GIT_TIMEOUT_MS, 8u << 20, content_read, m) != JC_OK)
        fail(m, "cannot run git");
}

static void head_resolved(const struct jc_proc_result *r, void *ud)
{
    struct move *m = ud;
    const char *a[] = {"git", "-C", m->dir, "ls-tree", m->parent, "--", m->path, NULL};

    if (r->exit_code != 0 || !first_word(r, m->parent, sizeof(m->parent))) {
        reject(m, "branch %s not found in the repository", m->branch);
        return;
    }
    if (orch_git(m->app, a, NULL, NULL, 0, ORCH_GIT_TIMEOUT_MS, 1u << 20, entry_listed, m) != JC_OK)
        fail(m, "cannot run git");
}

static void read_entry(struct move *m)
{
    char ref[300];
    const char *a[] = {"git", "-C", m->dir, "rev-parse", "--verify", "--quiet", ref, NULL};

    snprintf(ref, sizeof(ref), "origin/%s^{commit}", m->branch);
    if (orch_git(m->app, a, NULL, NULL, 0, ORCH_GIT_TIMEOUT_MS, 4096, head_resolved, m) != JC_OK)
        fail(m, "cannot run git");
}

static void synced(const struct jc_proc_result *r, void *ud)
{
    struct move *m = ud;

    if (git_failed(m, r, "updating the workspace"))
        return;
    read_entry(m);
}

/* ---- project, path, lock ---- */

bool orch_story_path_safe(const char *p)
{
    return p[0] != '\0' && p[0] != '/' && strstr(p, "..") == NULL && strchr(p, '\\') == NULL &&
           strstr(p, "//") == NULL && strlen(p) < 1000 &&
           jc_bmad_classify(p, NULL, 0) == JC_KIND_STORY;
}

static void project_loaded(const PGresult *res, enum jc_err err, const char *msg, void *ud)
{
    char why[400] = "";
    struct move *m = ud;
    bool cloned;

    if (err != JC_OK) {
        fail(m, "loading the project: %s", msg);
        return;
    }
    if (PQntuples(res) != 1) {
        reject(m, "project %s not found", m->project_id);
        return;
    }
    if (m->path[0] == '\0') {
        /* by key: exactly one live story must carry it */
        int n = (int)strtol(PQgetvalue(res, 0, 2), NULL, 10);
        if (n == 0) {
            reject(m, "no story with key %s in this project (scan it first?)", m->key);
            return;
        }
        if (n > 1) {
            reject(m, "story key %s is used by %d files: give the path", m->key, n);
            return;
        }
        snprintf(m->path, sizeof(m->path), "%s", PQgetvalue(res, 0, 3));
        if (!orch_story_path_safe(m->path)) {
            reject(m, "%s is not a story file inside the repository", m->path);
            return;
        }
    }
    m->repo_url = strdup(PQgetvalue(res, 0, 0));
    snprintf(m->branch, sizeof(m->branch), "%s", PQgetvalue(res, 0, 1));
    if (m->repo_url == NULL ||
        snprintf(m->dir, sizeof(m->dir), "%s/%s", m->app->cfg.workspace_dir, m->project_id) >=
            (int)sizeof(m->dir) ||
        snprintf(m->index_env, sizeof(m->index_env), "GIT_INDEX_FILE=%s/.git/jive-move-%s.index",
                 m->dir, m->run->job.id) >= (int)sizeof(m->index_env)) {
        fail(m, "workspace path too long");
        return;
    }
    if (orch_workspace_sync(m->app, m->dir, m->repo_url, &cloned, synced, m, why, sizeof(why)) !=
        JC_OK)
        fail(m, "%s", why[0] != '\0' ? why : "cannot run git");
}

static void locked(bool held, enum jc_err err, const char *msg, void *ud)
{
    struct move *m = ud;
    const char *p[2] = {m->project_id, m->key[0] != '\0' ? m->key : NULL};

    if (err != JC_OK) {
        jc_job_fail(m->run, "locking the workspace: %s", msg);
        move_free(m);
        return;
    }
    if (!held) {
        jc_job_defer(m->run, 500); /* moves of one project run one after the other */
        move_free(m);
        return;
    }
    if (jc_pg_query(m->app->pg, 0,
                    "SELECT p.repo_url, p.default_branch, "
                    "  (SELECT count(*) FROM artifacts a WHERE a.project_id = p.id "
                    "   AND a.kind = 'story' AND a.key = $2 AND a.deleted_at IS NULL)::text, "
                    "  (SELECT min(path) FROM artifacts a WHERE a.project_id = p.id "
                    "   AND a.kind = 'story' AND a.key = $2 AND a.deleted_at IS NULL) "
                    "FROM projects p WHERE p.id = $1::uuid",
                    2, p, project_loaded, m) != JC_OK)
        fail(m, "loading the project: cannot submit");
}

void orch_story_move(struct jc_job_run *run, void *ud)
{
    struct move *m = calloc(1, sizeof(*m));
    const char *status = cJSON_GetStringValue(cJSON_GetObjectItem(run->payload, "status"));
    const char *path = cJSON_GetStringValue(cJSON_GetObjectItem(run->payload, "path"));
    const char *key = cJSON_GetStringValue(cJSON_GetObjectItem(run->payload, "key"));
    enum jc_story_status to = jc_story_status_parse(status);

    if (m == NULL) {
        jc_job_fail(run, "out of memory");
        return;
    }
    m->run = run;
    m->app = jc_worker_app(run->worker);
    m->ctx = ud;
    snprintf(m->project_id, sizeof(m->project_id), "%s", run->job.project_id);
    if (to == JC_STATUS_MISSING || to == JC_STATUS_OTHER) {
        jc_job_reject(run,
                      "illegal status '%s': use Draft, Approved, InProgress, Review, Done or "
                      "Blocked",
                      status != NULL ? status : "");
        move_free(m);
        return;
    }
    m->to = jc_story_status_name(to);
    if (path != NULL) {
        if (!orch_story_path_safe(path)) {
            jc_job_reject(run,
                          "'%s' is not a story file inside the repository (relative path "
                          "under docs/stories/ or _bmad-output/implementation-artifacts/, "
                          "no '..')",
                          path);
            move_free(m);
            return;
        }
        snprintf(m->path, sizeof(m->path), "%s", path);
    } else if (key != NULL && strlen(key) < sizeof(m->key) && key[0] != '\0') {
        snprintf(m->key, sizeof(m->key), "%s", key);
    } else {
        jc_job_reject(run, "a story-move needs a path or a key");
        move_free(m);
        return;
    }
    if (!jc_crypto_is_uuid(m->project_id)) {
        jc_job_reject(run, "project id %s is not a UUID", m->project_id);
        move_free(m);
        return;
    }
    if (orch_lock(m->app, m->project_id, run->job.id, locked, m) != JC_OK) {
        jc_job_fail(run, "locking the workspace: cannot submit");
        move_free(m);
    }
}
