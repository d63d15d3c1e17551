/* SPDX-License-Identifier: MIT */
/*
 * scan.c: the artifact-scan and gate-evaluation jobs.
 *
 *   lock the project's workspace → load the project → clone or fetch (git, child process) →
 *   resolve the commit → list the BMAD files (the whole tree, or the push's changed paths) →
 *   read them with one `git cat-file --batch` → parse in slices (the loop stays responsive) →
 *   upsert artifacts and gates, mark removed files deleted → publish artifact.changed and
 *   gate.changed for what changed → detect conflicts → release the lock.
 *
 * Every step is idempotent: a job that runs twice finds nothing changed the second time.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jc/bmad.h"
#include "jc/clock.h"
#include "jc/crypto.h"
#include "jc/parse.h"
#include "orchestrator.h"

#define PARSE_SLICE 200
#define UPSERT_CHUNK 500
#define CONTENT_MAX (256 * 1024) /* document text kept for jive:// resources */

struct file {
    char *path;
    char oid[48]; /* blob id from ls-tree (full scans): read by id, not by path */
    enum jc_artifact_kind kind;
    const char *data; /* into blobs */
    size_t len;
    bool missing;
};

struct scan {
    struct jc_job_run *run;
    struct jc_app *app;
    struct orch_ctx *ctx;
    bool gates_only;
    bool full;
    char project_id[40];
    char org_id[40];
    char *repo_url;
    char branch[256];
    char dir[PATH_MAX];
    char commit[64];
    struct file *files;
    size_t nfiles, cap;
    char **removed;
    size_t nremoved;
    char *blobs; /* git cat-file output */
    size_t parsed;
    cJSON *rows;  /* artifacts to upsert */
    cJSON *gates; /* gates to upsert */
    cJSON *errors;
    size_t upserted; /* rows sent so far */
    int changed, deleted, gates_changed;
    bool relevant; /* something conflict detection reads has changed */
    bool skipped_conflicts;
    int opened, resolved;
    int skipped_names; /* BMAD files whose names are not UTF-8: not read */
    char *failure;     /* why the scan failed; NULL while it goes well */
    cJSON *result;     /* the job's result, once the scan is done */
};

static void scan_free(struct scan *s)
{
    size_t i;

    for (i = 0; i < s->nfiles; i++)
        free(s->files[i].path);
    free(s->files);
    for (i = 0; i < s->nremoved; i++)
        free(s->removed[i]);
    free(s->removed);
    free(s->blobs);
    free(s->repo_url);
    cJSON_Delete(s->rows);
    cJSON_Delete(s->gates);
    cJSON_Delete(s->errors);
    cJSON_Delete(s->result);
    free(s->failure);
    free(s);
}

static const char *scan_mode(const struct scan *s)
{
    return s->gates_only ? "gates" : s->full ? "full" : "incremental";
}

static void release(struct scan *s)
{
    orch_unlock(s->app, s->ctx, s->project_id, s->run->job.id);
}

/*
 * The end of every scan, good or failed: the outcome is written on the project (status_get's
 * last_scan) and published as scan.finished, then the job ends. A failure to record a good
 * scan fails the job, so that the retry records it; a failure to record a failed scan is only
 * logged (the database is likely what failed) and the event still says so.
 */
static void scan_recorded(const PGresult *res, enum jc_err err, const char *msg, void *ud)
{
    struct scan *s = ud;
    cJSON *last = NULL;
    char at[JC_ISO_LEN];

    if (err == JC_OK && PQntuples(res) == 1)
        last = cJSON_Parse(PQgetvalue(res, 0, 0));
    if (last == NULL) {
        /* not recorded (database away, project gone): the event says what happened anyway */
        jc_clock_iso(at);
        last = cJSON_CreateObject();
        cJSON_AddBoolToObject(last, "ok", s->failure == NULL);
        cJSON_AddStringToObject(last, "at", at);
        if (s->failure != NULL)
            cJSON_AddStringToObject(last, "error", s->failure);
        cJSON_AddBoolToObject(last, "recorded", false);
    }
    cJSON_AddStringToObject(last, "mode", scan_mode(s));
    if (jc_events_publish(s->app->redis, s->project_id, "scan.finished", s->run->job.id, last, NULL,
                          NULL) != JC_OK)
        jc_debug(s->app->log, "scan.finished not published");
    cJSON_Delete(last);
    release(s);
    if (s->failure != NULL) {
        if (err != JC_OK)
            jc_warn(s->app->log, "the failed scan of %s was not recorded: %s", s->project_id, msg);
        jc_job_fail(s->run, "%s", s->failure);
    } else if (err != JC_OK) {
        jc_job_fail(s->run, "recording the scan: %s", msg);
    } else {
        jc_job_succeed(s->run, s->result);
        s->result = NULL;
    }
    scan_free(s);
}

static void record(struct scan *s)
{
    char version[16];
    const char *p[5];

    snprintf(version, sizeof(version), "%d", JC_BMAD_PARSER_VERSION);
    p[0] = s->project_id;
    p[1] = s->failure == NULL ? "t" : "f";
    p[2] = s->failure;
    p[3] = s->commit[0] != '\0' ? s->commit : NULL;
    p[4] = s->full && !s->gates_only && s->failure == NULL ? version : NULL;
    if (jc_pg_query(s->app->pg, 0,
                    "UPDATE projects SET scan_ok = $2::boolean, scan_at = now(), scan_error = $3,"
                    " last_good_scan_at = CASE WHEN $2::boolean THEN now()"
                    "  ELSE last_good_scan_at END,"
                    " scan_commit = CASE WHEN $2::boolean THEN coalesce($4, scan_commit)"
                    "  ELSE scan_commit END,"
                    " scan_parser = coalesce($5::int, scan_parser) WHERE id = $1::uuid"
                    " RETURNING json_build_object('ok', scan_ok, 'at', scan_at, 'error',"
                    " scan_error, 'last_good_at', last_good_scan_at, 'commit', scan_commit)::text",
                    5, p, scan_recorded, s) != JC_OK)
        scan_recorded(NULL, JC_EPG, "cannot submit", s);
}

static void fail(struct scan *s, const char *fmt, ...) JC_PRINTF(2, 3);

static void fail(struct scan *s, const char *fmt, ...)
{
    char msg[600];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    s->failure = strdup(msg);
    if (s->failure == NULL) {
        release(s);
        jc_job_fail(s->run, "%s", msg);
        scan_free(s);
        return;
    }
    record(s);
}

static void succeed(struct scan *s)
{
    cJSON *r = cJSON_CreateObject();

    cJSON_AddStringToObject(r, "commit", s->commit);
    cJSON_AddStringToObject(r, "mode", scan_mode(s));
    cJSON_AddNumberToObject(r, "files", (double)s->nfiles);
    cJSON_AddNumberToObject(r, "changed", s->changed);
    cJSON_AddNumberToObject(r, "deleted", s->deleted);
    cJSON_AddNumberToObject(r, "gates_changed", s->gates_changed);
    cJSON_AddNumberToObject(r, "conflicts_opened", s->opened);
    cJSON_AddNumberToObject(r, "conflicts_resolved", s->resolved);
    cJSON_AddBoolToObject(r, "conflicts_checked", !s->skipped_conflicts);
    if (s->skipped_names > 0)
        cJSON_AddNumberToObject(r, "skipped_names", s->skipped_names);
    cJSON_AddItemToObject(r, "errors", s->errors);
    s->errors = NULL;
    s->result = r;
    record(s);
}

/* ---- step 8: conflicts, then done ---- */

static void conflicts_done(enum jc_err err, const char *msg, int opened, int resolved, void *ud)
{
    struct scan *s = ud;

    if (err != JC_OK) {
        fail(s, "conflict detection: %s", msg);
        return;
    }
    s->opened = opened;
    s->resolved = resolved;
    succeed(s);
}

/* ---- step 7: gates ---- */

static void publish_rows(struct scan *s, const PGresult *res, const char *type, const char *change)
{
    int i;

    for (i = 0; i < PQntuples(res); i++) {
        cJSON *data = cJSON_Parse(PQgetvalue(res, i, 0));
        if (data == NULL)
            continue;
        if (cJSON_IsTrue(cJSON_GetObjectItem(data, "sig_changed")))
            s->relevant = true;
        cJSON_DeleteItemFromObject(data, "sig_changed");
        if (change != NULL && cJSON_GetObjectItem(data, "change") == NULL)
            cJSON_AddStringToObject(data, "change", change);
        cJSON_AddStringToObject(data, "commit", s->commit);
        if (jc_events_publish(s->app->redis, s->project_id, type, s->run->job.id, data, NULL,
                              NULL) != JC_OK)
            jc_debug(s->app->log, "%s not published", type);
        cJSON_Delete(data);
    }
}

static void gates_deleted(const PGresult *res, enum jc_err err, const char *msg, void *ud)
{
    struct scan *s = ud;

    if (err != JC_OK) {
        fail(s, "gates: %s", msg);
        return;
    }
    s->gates_changed += PQntuples(res);
    publish_rows(s, res, "gate.changed", "deleted");
    if (!s->full && !s->relevant && s->deleted == 0 && s->gates_changed == 0) {
        s->skipped_conflicts = true; /* nothing conflict detection reads has changed */
        succeed(s);
        return;
    }
    if (orch_detect_conflicts(&s->ctx->loads, s->project_id, s->org_id, s->run->job.id,
                              conflicts_done, s) != JC_OK)
        fail(s, "%s", "conflict detection: cannot start");
}

/* Paths of this scan as a Postgres array, for "not in the tree any more" (full) or removed. */
static char *path_array(struct scan *s, bool tree)
{
    const char **items;
    size_t n = tree ? s->nfiles : s->nremoved, i;
    char *arr;

    items = calloc(n + 1, sizeof(char *));
    if (items == NULL)
        return NULL;
    for (i = 0; i < n; i++)
        items[i] = tree ? s->files[i].path : s->removed[i];
    arr = jc_pg_array_literal(items, (int)n);
    free(items);
    return arr;
}

static void gates_upserted(const PGresult *res, enum jc_err err, const char *msg, void *ud)
{
    struct scan *s = ud;
    char *arr;
    const char *p[3];

    if (err != JC_OK) {
        fail(s, "gates: %s", msg);
        return;
    }
    s->gates_changed += PQntuples(res);
    publish_rows(s, res, "gate.changed", NULL);
    /* gate files that went away */
    arr = path_array(s, s->full);
    if (arr == NULL) {
        fail(s, "%s", "out of memory");
        return;
    }
    p[0] = s->project_id;
    p[1] = arr;
    p[2] = s->full ? "tree" : "removed";
    if (jc_pg_query(s->app->pg, 0,
                    "UPDATE gates SET deleted_at = now() WHERE project_id = $1::uuid "
                    "AND deleted_at IS NULL AND CASE WHEN $3 = 'tree' "
                    "THEN NOT (path = ANY($2::text[])) ELSE path = ANY($2::text[]) END "
                    "RETURNING json_build_object('path', path, 'story', story_key)::text",
                    3, p, gates_deleted, s) != JC_OK)
        fail(s, "%s", "gates: cannot submit");
    free(arr);
}

static void upsert_gates(struct scan *s)
{
    char *rows = cJSON_PrintUnformatted(s->gates);
    const char *p[4] = {s->project_id, s->org_id, rows, s->commit};

    if (rows == NULL) {
        fail(s, "%s", "out of memory");
        return;
    }
    if (jc_pg_query(
            s->app->pg, 0,
            "INSERT INTO gates (org_id, project_id, path, story_key, decision, raw_decision, "
            "  status_reason, reviewer, quality_score, gate_updated, expires_at, top_issues, "
            "  waiver, meta, commit_sha, scanned_at, deleted_at) "
            "SELECT $2::uuid, $1::uuid, r.path, r.story_key, r.decision, r.raw_decision, "
            "  r.status_reason, r.reviewer, r.quality_score, jive_try_timestamptz(r.updated), "
            "  jive_try_timestamptz(r.expires), coalesce(r.top_issues, '[]'), r.waiver, "
            "  coalesce(r.meta, '{}'), $4, now(), NULL "
            "FROM jsonb_to_recordset($3::jsonb) AS r(path text, story_key text, decision text, "
            "  raw_decision text, status_reason text, reviewer text, quality_score int, "
            "  updated text, expires text, top_issues jsonb, waiver jsonb, meta jsonb) "
            "ON CONFLICT (project_id, path) DO UPDATE SET story_key = EXCLUDED.story_key, "
            "  decision = EXCLUDED.decision, raw_decision = EXCLUDED.raw_decision, "
            "  status_reason = EXCLUDED.status_reason, "
            "  reviewer = EXCLUDED.reviewer, quality_score = EXCLUDED.quality_score, "
            "  gate_updated = EXCLUDED.gate_updated, expires_at = EXCLUDED.expires_at, "
            "  top_issues = EXCLUDED.top_issues, waiver = EXCLUDED.waiver, meta = EXCLUDED.meta, "
            "  commit_sha = EXCLUDED.commit_sha, scanned_at = now(), deleted_at = NULL "
            "WHERE gates.deleted_at IS NOT NULL OR gates.decision IS DISTINCT FROM "
            "  EXCLUDED.decision OR gates.expires_at IS DISTINCT FROM EXCLUDED.expires_at OR "
            "  gates.status_reason IS DISTINCT FROM EXCLUDED.status_reason OR "
            "  gates.story_key IS DISTINCT FROM EXCLUDED.story_key OR "
            "  gates.raw_decision IS DISTINCT FROM EXCLUDED.raw_decision OR "
            "  gates.gate_updated IS DISTINCT FROM EXCLUDED.gate_updated OR "
            "  gates.meta IS DISTINCT FROM EXCLUDED.meta OR "
            "  gates.quality_score IS DISTINCT FROM EXCLUDED.quality_score "
            "RETURNING json_build_object('path', path, 'story', story_key, 'decision', "
            "  decision, 'expires_at', expires_at)::text",
            4, p, gates_upserted, s) != JC_OK)
        fail(s, "%s", "gates: cannot submit");
    cJSON_free(rows);
}

/* ---- step 6: artifacts ---- */

static void artifacts_deleted(const PGresult *res, enum jc_err err, const char *msg, void *ud)
{
    struct scan *s = ud;

    if (err != JC_OK) {
        fail(s, "artifacts: %s", msg);
        return;
    }
    s->deleted += PQntuples(res);
    publish_rows(s, res, "artifact.changed", "deleted");
    upsert_gates(s);
}

static void delete_artifacts(struct scan *s)
{
    char *arr = path_array(s, s->full);
    const char *p[4];

    if (arr == NULL) {
        fail(s, "%s", "out of memory");
        return;
    }
    p[0] = s->project_id;
    p[1] = arr;
    p[2] = s->full ? "tree" : "removed";
    p[3] = s->gates_only ? "qa_gate" : NULL;
    if (jc_pg_query(s->app->pg, 0,
                    "UPDATE artifacts SET deleted_at = now(), updated_at = now() "
                    "WHERE project_id = $1::uuid AND deleted_at IS NULL "
                    "AND ($4::text IS NULL OR kind = $4) AND CASE WHEN $3 = 'tree' "
                    "THEN NOT (path = ANY($2::text[])) ELSE path = ANY($2::text[]) END "
                    "RETURNING json_build_object('path', path, 'kind', kind, 'key', key)::text",
                    4, p, artifacts_deleted, s) != JC_OK)
        fail(s, "%s", "artifacts: cannot submit");
    free(arr);
}

static void upsert_chunk(struct scan *s);

static void chunk_upserted(const PGresult *res, enum jc_err err, const char *msg, void *ud)
{
    struct scan *s = ud;

    if (err != JC_OK) {
        fail(s, "artifacts: %s", msg);
        return;
    }
    s->changed += PQntuples(res);
    publish_rows(s, res, "artifact.changed", NULL);
    upsert_chunk(s);
}

/* Sends the next UPSERT_CHUNK rows; only rows whose content changed come back (and count). */
static void upsert_chunk(struct scan *s)
{
    size_t total = (size_t)cJSON_GetArraySize(s->rows), i;
    cJSON *chunk;
    char *text;
    const char *p[4];

    if (s->upserted >= total) {
        delete_artifacts(s);
        return;
    }
    chunk = cJSON_CreateArray();
    for (i = s->upserted; i < total && i < s->upserted + UPSERT_CHUNK; i++)
        cJSON_AddItemReferenceToArray(chunk, cJSON_GetArrayItem(s->rows, (int)i));
    s->upserted = i;
    text = cJSON_PrintUnformatted(chunk);
    cJSON_Delete(chunk);
    if (text == NULL) {
        fail(s, "%s", "out of memory");
        return;
    }
    p[0] = s->project_id;
    p[1] = s->org_id;
    p[2] = text;
    p[3] = s->commit;
    if (jc_pg_query(
            s->app->pg, 0,
            "WITH r AS (SELECT * FROM jsonb_to_recordset($3::jsonb) AS r(path text, kind text,"
            "  key text, title text, status text, content_hash text, meta jsonb, content text)),"
            " old AS (SELECT a.path, a.meta->>'sig' AS sig FROM artifacts a"
            "  WHERE a.project_id = $1::uuid AND a.path IN (SELECT path FROM r)),"
            " up AS (INSERT INTO artifacts (org_id, project_id, path, kind, key, title, status, "
            "  content_hash, commit_sha, meta, content, updated_at, deleted_at) "
            " SELECT $2::uuid, $1::uuid, r.path, r.kind, r.key, r.title, r.status, "
            "  r.content_hash, $4, coalesce(r.meta, '{}'), r.content, now(), NULL FROM r "
            " ON CONFLICT (project_id, path) DO UPDATE SET kind = EXCLUDED.kind, "
            "  key = EXCLUDED.key, title = EXCLUDED.title, status = EXCLUDED.status, "
            "  content_hash = EXCLUDED.content_hash, commit_sha = EXCLUDED.commit_sha, "
            "  meta = EXCLUDED.meta, content = EXCLUDED.content, updated_at = now(), "
            "  deleted_at = NULL "
            " WHERE artifacts.content_hash IS DISTINCT FROM EXCLUDED.content_hash "
            "  OR artifacts.deleted_at IS NOT NULL "
            "  OR artifacts.meta->'parser' IS DISTINCT FROM EXCLUDED.meta->'parser' "
            " RETURNING path, kind, key, title, status, xmax = 0 AS inserted, meta->>'sig' AS sig) "
            "SELECT json_build_object('path', up.path, 'kind', up.kind, 'key', up.key, 'title', "
            "  up.title, 'status', up.status, 'change', CASE WHEN up.inserted THEN 'added' "
            "  ELSE 'modified' END, 'sig_changed', up.sig IS DISTINCT FROM old.sig)::text "
            "FROM up LEFT JOIN old USING (path)",
            4, p, chunk_upserted, s) != JC_OK)
        fail(s, "%s", "artifacts: cannot submit");
    cJSON_free(text);
}

/* ---- step 5: parse, PARSE_SLICE files per loop turn ---- */

static void add_error(struct scan *s, const char *path, const char *msg)
{
    cJSON *e = cJSON_CreateObject();

    cJSON_AddStringToObject(e, "path", path);
    cJSON_AddStringToObject(e, "error", msg);
    cJSON_AddItemToArray(s->errors, e);
}

/*
 * meta.sig: a short hash of what conflict detection reads from an artifact (key, status, File
 * List, title key; the status map of sprint-status.yaml). A changed file whose sig did not
 * change cannot open or resolve a conflict, so the scan skips the project-wide detection.
 */
static void add_sig(cJSON *row)
{
    cJSON *meta = cJSON_GetObjectItemCaseSensitive(row, "meta");
    const char *key = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(row, "key"));
    const char *status = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(row, "status"));
    const char *tkey = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "title_key"));
    const cJSON *extra = cJSON_GetObjectItemCaseSensitive(meta, "files");
    char *x, buf[512], hex[JC_SHA256_HEX_LEN];
    unsigned char md[JC_SHA256_LEN];
    size_t n;

    if (extra == NULL)
        extra = cJSON_GetObjectItemCaseSensitive(meta, "sprint_status");
    if (extra == NULL)
        return;
    x = cJSON_PrintUnformatted(extra);
    n = (size_t)snprintf(buf, sizeof(buf), "%s\n%s\n%s\n", key != NULL ? key : "",
                         status != NULL ? status : "", tkey != NULL ? tkey : "");
    if (x == NULL || n >= sizeof(buf))
        goto out;
    if (jc_crypto_hmac_sha256(buf, n, x, strlen(x), md) == JC_OK) {
        jc_crypto_hex(md, 8, hex);
        cJSON_AddStringToObject(meta, "sig", hex);
    }
out:
    cJSON_free(x);
}

/* Every string and member name of o is UTF-8 (a walk, no printing). */
static bool utf8_json(const cJSON *o)
{
    const cJSON *c;

    if (o->string != NULL && !jc_utf8_valid(o->string, strlen(o->string)))
        return false;
    if (cJSON_IsString(o) && !jc_utf8_valid(o->valuestring, strlen(o->valuestring)))
        return false;
    for (c = o->child; c != NULL; c = c->next)
        if (!utf8_json(c))
            return false;
    return true;
}

/* One file: the shared record (jc_bmad_record), plus what only the database keeps. */
static void parse_one(struct scan *s, const struct file *f)
{
    char hash[JC_SHA256_HEX_LEN];
    const char *problem;
    cJSON *row, *gate = NULL, *meta;

    if (f->missing)
        return;
    if (jc_crypto_sha256_hex(f->data, f->len, hash) != JC_OK)
        return;
    row = jc_bmad_record(f->path, f->kind, f->data, f->len, &gate);
    if (row == NULL)
        return;
    meta = cJSON_GetObjectItemCaseSensitive(row, "meta");
    cJSON_AddNumberToObject(meta, "parser", JC_BMAD_PARSER_VERSION);
    cJSON_AddStringToObject(row, "content_hash", hash);
    problem = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "parse_error"));
    if (problem != NULL)
        add_error(s, f->path, problem);
    /* document text for jive:// resources: planning documents and stories, UTF-8 only */
    if (f->kind != JC_KIND_QA_GATE && f->kind != JC_KIND_SPRINT_STATUS && f->len <= CONTENT_MAX &&
        (problem == NULL || strcmp(problem, "not UTF-8 text") != 0) &&
        jc_utf8_valid(f->data, f->len)) {
        char *text = malloc(f->len + 1);
        if (text != NULL) {
            memcpy(text, f->data, f->len);
            text[f->len] = '\0';
            cJSON_AddStringToObject(row, "content", text);
            free(text);
        }
    }
    add_sig(row);
    if (!utf8_json(row) || (gate != NULL && !utf8_json(gate))) {
        /* cannot happen with valid UTF-8 input; if it ever does, the row must not fail the
         * statement that stores every other row: keep the file's place and say so */
        cJSON_Delete(row);
        cJSON_Delete(gate);
        gate = NULL;
        row = cJSON_CreateObject();
        meta = cJSON_AddObjectToObject(row, "meta");
        cJSON_AddStringToObject(row, "path", f->path);
        cJSON_AddStringToObject(row, "kind",
                                f->kind == JC_KIND_STORY     ? "story"
                                : f->kind == JC_KIND_QA_GATE ? "qa_gate"
                                                             : "other");
        cJSON_AddStringToObject(row, "content_hash", hash);
        if (f->kind == JC_KIND_STORY)
            cJSON_AddStringToObject(row, "status", jc_story_status_name(JC_STATUS_MISSING));
        cJSON_AddStringToObject(meta, "parse_error", "the parsed record was not UTF-8");
        cJSON_AddNumberToObject(meta, "parser", JC_BMAD_PARSER_VERSION);
        add_error(s, f->path, "the parsed record was not UTF-8");
    }
    if (gate != NULL)
        cJSON_AddItemToArray(s->gates, gate);
    cJSON_AddItemToArray(s->rows, row);
}

static void parse_slice(evutil_socket_t fd, short what, void *arg)
{
    struct scan *s = arg;
    struct timeval now = {0, 0};
    size_t end = s->parsed + PARSE_SLICE;

    (void)fd;
    (void)what;
    for (; s->parsed < s->nfiles && s->parsed < end; s->parsed++)
        parse_one(s, &s->files[s->parsed]);
    if (s->parsed < s->nfiles) {
        /* let the loop serve requests between slices of a large repository */
        if (event_base_once(s->app->base, -1, EV_TIMEOUT, parse_slice, s, &now) != 0)
            parse_slice(-1, 0, s);
        return;
    }
    upsert_chunk(s);
}

/* ---- step 4: read the files at the commit with one git cat-file --batch ---- */

static void blobs_read(const struct jc_proc_result *r, void *ud)
{
    struct scan *s = ud;
    const char *p, *end;
    size_t i;

    char ebuf[400];

    if (r->exit_code != 0 || r->truncated) {
        fail(s, "reading files: %s",
             r->truncated ? "too much data" : orch_git_error(r, ebuf, sizeof(ebuf)));
        return;
    }
    s->blobs = malloc(r->out_len + 1);
    if (s->blobs == NULL) {
        fail(s, "%s", "out of memory");
        return;
    }
    memcpy(s->blobs, r->out, r->out_len + 1);
    p = s->blobs;
    end = s->blobs + r->out_len;
    /* per object: "<oid> blob <size>\n<data>\n", or "<name> missing\n" */
    for (i = 0; i < s->nfiles && p < end; i++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *sp;
        char *e = NULL;
        unsigned long size;
        if (nl == NULL)
            break;
        sp = memchr(p, ' ', (size_t)(nl - p));
        if (sp == NULL || strncmp(sp + 1, "blob ", 5) != 0) {
            s->files[i].missing = true; /* missing, or not a file (a submodule, a tree) */
            p = nl + 1;
            continue;
        }
        size = strtoul(sp + 6, &e, 10);
        if (e != nl || size > (unsigned long)(end - (nl + 1))) {
            fail(s, "%s", "reading files: unexpected git cat-file output");
            return;
        }
        s->files[i].data = nl + 1;
        s->files[i].len = size;
        p = nl + 1 + size + 1;
    }
    parse_slice(-1, 0, s);
}

static void read_files(struct scan *s)
{
    static const char *const argv[] = {"git", "-C", NULL, "cat-file", "--batch", NULL};
    const char *a[6];
    size_t cap = 1, len = 0, i;
    char *input;

    if (s->nfiles == 0) {
        parse_slice(-1, 0, s);
        return;
    }
    for (i = 0; i < s->nfiles; i++)
        cap += strlen(s->commit) + strlen(s->files[i].path) + sizeof(s->files[i].oid) + 2;
    input = malloc(cap);
    if (input == NULL) {
        fail(s, "%s", "out of memory");
        return;
    }
    for (i = 0; i < s->nfiles; i++)
        /* by id when known: a "<commit>:<path>" lookup walks the tree, which is quadratic for
         * thousands of stories in one directory */
        len +=
            s->files[i].oid[0] != '\0'
                ? (size_t)snprintf(input + len, cap - len, "%s\n", s->files[i].oid)
                : (size_t)snprintf(input + len, cap - len, "%s:%s\n", s->commit, s->files[i].path);
    memcpy(a, argv, sizeof(a));
    a[2] = s->dir;
    if (orch_git(s->app, a, NULL, input, len, ORCH_GIT_TIMEOUT_MS, 512u << 20, blobs_read, s) !=
        JC_OK)
        fail(s, "%s", "cannot run git");
    free(input);
}

/* ---- step 3: which files ---- */

static bool add_file(struct scan *s, const char *path, size_t n)
{
    enum jc_artifact_kind kind;
    char *copy;

    copy = malloc(n + 1);
    if (copy == NULL)
        return false;
    memcpy(copy, path, n);
    copy[n] = '\0';
    kind = jc_bmad_classify(copy, NULL, 0);
    if (kind != JC_KIND_NONE && !jc_utf8_valid(copy, n)) {
        /* Postgres holds names only as UTF-8, and an error row would carry the name too */
        s->skipped_names++;
        free(copy);
        return true;
    }
    if (kind == JC_KIND_NONE || strstr(copy, "..") != NULL || copy[0] == '/' ||
        (s->gates_only && kind != JC_KIND_QA_GATE)) {
        free(copy);
        return true;
    }
    if (s->nfiles == s->cap) {
        size_t cap = s->cap * 2 + 64;
        struct file *nf = realloc(s->files, cap * sizeof(*nf));
        if (nf == NULL) {
            free(copy);
            return false;
        }
        s->files = nf;
        s->cap = cap;
    }
    memset(&s->files[s->nfiles], 0, sizeof(s->files[0]));
    s->files[s->nfiles].path = copy;
    s->files[s->nfiles].kind = kind;
    s->nfiles++;
    return true;
}

static void tree_listed(const struct jc_proc_result *r, void *ud)
{
    struct scan *s = ud;
    const char *p = r->out, *end = r->out + r->out_len;
    char ebuf[400];

    if (r->exit_code != 0 || r->truncated) {
        fail(s, "listing files: %s",
             r->truncated ? "too many files" : orch_git_error(r, ebuf, sizeof(ebuf)));
        return;
    }
    /* "<mode> <type> <oid>\t<path>\0" */
    while (p < end) {
        const char *z = memchr(p, '\0', (size_t)(end - p));
        size_t n = z != NULL ? (size_t)(z - p) : (size_t)(end - p);
        const char *tab = memchr(p, '\t', n);
        char mode[8] = "", type[8] = "", oid[48] = "";
        if (tab != NULL && sscanf(p, "%7s %7s %47s", mode, type, oid) == 3 &&
            strcmp(type, "blob") == 0 && strcmp(mode, "120000") != 0) {
            size_t before = s->nfiles;
            if (!add_file(s, tab + 1, n - (size_t)(tab + 1 - p))) {
                fail(s, "%s", "out of memory");
                return;
            }
            if (s->nfiles > before)
                snprintf(s->files[s->nfiles - 1].oid, sizeof(s->files[0].oid), "%s", oid);
        }
        p += n + 1;
    }
    read_files(s);
}

static void incremental_files(struct scan *s)
{
    static const char *const lists[] = {"added", "modified"};
    const cJSON *e;
    size_t i;

    for (i = 0; i < 2; i++) {
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(s->run->payload, lists[i]))
        {
            if (cJSON_IsString(e) && !add_file(s, e->valuestring, strlen(e->valuestring))) {
                fail(s, "%s", "out of memory");
                return;
            }
        }
    }
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(s->run->payload, "removed"))
    {
        char **nr;
        if (!cJSON_IsString(e) || jc_bmad_classify(e->valuestring, NULL, 0) == JC_KIND_NONE)
            continue;
        nr = realloc(s->removed, (s->nremoved + 1) * sizeof(char *));
        if (nr == NULL || (nr[s->nremoved] = strdup(e->valuestring)) == NULL) {
            if (nr != NULL)
                s->removed = nr;
            fail(s, "%s", "out of memory");
            return;
        }
        s->removed = nr;
        s->nremoved++;
    }
    read_files(s);
}

static void list_files(struct scan *s)
{
    static const char *const argv[] = {"git", "-C", NULL, "ls-tree", "-r", "-z", NULL, NULL};
    const char *a[8];

    if (!s->full) {
        incremental_files(s);
        return;
    }
    memcpy(a, argv, sizeof(a));
    a[2] = s->dir;
    a[6] = s->commit;
    if (orch_git(s->app, a, NULL, NULL, 0, ORCH_GIT_TIMEOUT_MS, 256u << 20, tree_listed, s) !=
        JC_OK)
        fail(s, "%s", "cannot run git");
}

/* ---- step 2: workspace and commit ---- */

static void resolve(struct scan *s, const char *ref);

static void resolved(const struct jc_proc_result *r, void *ud)
{
    struct scan *s = ud;
    size_t n = strcspn(r->out, "\n");
    char fallback[300];

    if (r->exit_code != 0 || n < 40 || n >= sizeof(s->commit)) {
        snprintf(fallback, sizeof(fallback), "origin/%s", s->branch);
        if (strcmp(s->commit, fallback) != 0) {
            /* the pushed SHA is unknown here (force-pushed away?): scan the branch head */
            resolve(s, fallback);
            return;
        }
        fail(s, "branch %s not found in the repository", s->branch);
        return;
    }
    memcpy(s->commit, r->out, n);
    s->commit[n] = '\0';
    list_files(s);
}

static void resolve(struct scan *s, const char *ref)
{
    char spec[400];
    const char *a[] = {"git", "-C", s->dir, "rev-parse", "--verify", "--quiet", spec, NULL};

    snprintf(s->commit, sizeof(s->commit), "%.63s", ref);
    snprintf(spec, sizeof(spec), "%s^{commit}", ref);
    if (orch_git(s->app, a, NULL, NULL, 0, ORCH_GIT_TIMEOUT_MS, 4096, resolved, s) != JC_OK)
        fail(s, "%s", "cannot run git");
}

static bool is_sha(const char *v)
{
    size_t i;

    if (v == NULL || strlen(v) != 40 || strspn(v, "0") == 40)
        return false;
    for (i = 0; i < 40; i++)
        if (strchr("0123456789abcdef", v[i]) == NULL)
            return false;
    return true;
}

static void fetched(const struct jc_proc_result *r, void *ud)
{
    struct scan *s = ud;
    const char *after = cJSON_GetStringValue(cJSON_GetObjectItem(s->run->payload, "after"));
    char ref[300];

    char ebuf[400];

    if (r->exit_code != 0) {
        fail(s, "updating the workspace: %s", orch_git_error(r, ebuf, sizeof(ebuf)));
        return;
    }
    if (is_sha(after)) {
        resolve(s, after);
        return;
    }
    snprintf(ref, sizeof(ref), "origin/%s", s->branch);
    resolve(s, ref);
}

static void workspace(struct scan *s)
{
    bool cloned = false;
    char why[400] = "";

    if (orch_workspace_sync(s->app, s->dir, s->repo_url, &cloned, fetched, s, why, sizeof(why)) !=
        JC_OK) {
        fail(s, "%s", why[0] != '\0' ? why : "cannot run git");
        return;
    }
    if (cloned)
        s->full = true; /* first sight of this workspace */
}

static void project_loaded(const PGresult *res, enum jc_err err, const char *msg, void *ud)
{
    struct scan *s = ud;
    const cJSON *lists;

    if (err != JC_OK) {
        fail(s, "loading the project: %s", msg);
        return;
    }
    if (PQntuples(res) != 1) {
        fail(s, "project %s not found", s->project_id);
        return;
    }
    snprintf(s->org_id, sizeof(s->org_id), "%s", PQgetvalue(res, 0, 0));
    s->repo_url = strdup(PQgetvalue(res, 0, 1));
    snprintf(s->branch, sizeof(s->branch), "%s", PQgetvalue(res, 0, 2));
    lists = cJSON_GetObjectItemCaseSensitive(s->run->payload, "added");
    /* full on request, on first sight of the project, for gate evaluation, and when the job
     * carries no list of changed paths (jivectl scan, operator enqueue) */
    s->full = s->gates_only || cJSON_IsTrue(cJSON_GetObjectItem(s->run->payload, "full")) ||
              strcmp(PQgetvalue(res, 0, 3), "f") == 0 || !cJSON_IsArray(lists);
    if (s->repo_url == NULL || snprintf(s->dir, sizeof(s->dir), "%s/%s", s->app->cfg.workspace_dir,
                                        s->project_id) >= (int)sizeof(s->dir)) {
        fail(s, "%s", "workspace path too long");
        return;
    }
    workspace(s);
}

static void locked(bool held, enum jc_err err, const char *msg, void *ud)
{
    struct scan *s = ud;
    char version[16];
    const char *p[2] = {s->project_id, version};

    if (err != JC_OK) {
        fail(s, "locking the workspace: %s", msg);
        return;
    }
    snprintf(version, sizeof(version), "%d", JC_BMAD_PARSER_VERSION);
    if (!held) {
        /* another job works on this project's workspace: try again shortly */
        jc_job_defer(s->run, 1000);
        scan_free(s);
        return;
    }
    if (jc_pg_query(s->app->pg, 0,
                    /* a project never scanned, or last read by an older parser: full */
                    "SELECT org_id, repo_url, default_branch, EXISTS (SELECT 1 FROM artifacts a "
                    "WHERE a.project_id = p.id) AND p.scan_parser >= $2::int FROM projects p "
                    "WHERE id = $1::uuid",
                    2, p, project_loaded, s) != JC_OK)
        fail(s, "%s", "loading the project: cannot submit");
}

static void start(struct jc_job_run *run, struct orch_ctx *ctx, bool gates_only)
{
    struct scan *s = calloc(1, sizeof(*s));

    if (s == NULL) {
        jc_job_fail(run, "out of memory");
        return;
    }
    s->run = run;
    s->app = jc_worker_app(run->worker);
    s->ctx = ctx;
    s->gates_only = gates_only;
    s->rows = cJSON_CreateArray();
    s->gates = cJSON_CreateArray();
    s->errors = cJSON_CreateArray();
    snprintf(s->project_id, sizeof(s->project_id), "%s", run->job.project_id);
    if (!jc_crypto_is_uuid(s->project_id)) {
        jc_job_fail(run, "project id %s is not a UUID", s->project_id);
        scan_free(s);
        return;
    }
    if (orch_lock(s->app, s->project_id, run->job.id, locked, s) != JC_OK) {
        jc_job_fail(run, "locking the workspace: cannot submit");
        scan_free(s);
    }
}

void orch_artifact_scan(struct jc_job_run *run, void *ud)
{
    start(run, ud, false);
}

void orch_gate_evaluation(struct jc_job_run *run, void *ud)
{
    start(run, ud, true);
}
