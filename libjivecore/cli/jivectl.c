/* SPDX-License-Identifier: MIT */
/* jivectl: operator CLI: migrations, projects, tokens, members and OAuth clients (signin.c),
 * inspect. Blocking libpq is fine here. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <libpq-fe.h>

#include "jc/auth.h"
#include "jc/config.h"
#include "jc/crypto.h"
#include "jc/migrate.h"
#include "jc/parse.h"
#include "jc/repo.h"
#include "jc/keys.h"
#include "jc/queue.h"
#include "cli.h"
#include "events.h"
#include "inspect.h"

struct cmd {
    const char *group;
    const char *verb;
    const char *usage;
    const char *help;
    const char *positional; /* name of the one positional argument, stored as that option */
    const char *const opts[MAX_OPTS]; /* accepted options */
    int (*run)(const struct jc_config *cfg, struct opt *opts, int nopts);
};

const char *opt_get(struct opt *opts, int n, const char *name)
{
    int i;

    for (i = 0; i < n; i++)
        if (strcmp(opts[i].name, name) == 0)
            return opts[i].value;
    return NULL;
}

int fail(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "jivectl: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

PGconn *connect_db(const struct jc_config *cfg)
{
    char err[256];
    PGconn *conn;

    if (jc_config_require(cfg, "DATABASE_URL", err, sizeof(err)) != JC_OK) {
        fail("%s", err);
        return NULL;
    }
    conn = PQconnectdb(cfg->database_url);
    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "jivectl: cannot connect to the database: %s", PQerrorMessage(conn));
        PQfinish(conn);
        return NULL;
    }
    PQclear(PQexec(conn, "SET client_min_messages = warning"));
    return conn;
}

/* ---- migrate ---- */

static int dir_exists(const char *p)
{
    char probe[PATH_MAX + 32];

    snprintf(probe, sizeof(probe), "%s/001_init.sql", p);
    return access(probe, R_OK) == 0;
}

static const char *schema_dir(struct opt *opts, int n, char *buf, size_t len)
{
    const char *d = opt_get(opts, n, "dir");
    char exe[PATH_MAX];
    ssize_t r;
    char *slash;

    if (d != NULL)
        return d;
    if ((d = getenv("JIVE_SCHEMA_DIR")) != NULL && *d != '\0')
        return d;
    if (dir_exists("schema"))
        return "schema";
    r = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (r > 0) {
        exe[r] = '\0';
        slash = strrchr(exe, '/');
        if (slash != NULL) {
            *slash = '\0';
            /* build/bin/jivectl in a checkout, then an installed layout */
            if (snprintf(buf, len, "%s/../../schema", exe) < (int)len && dir_exists(buf))
                return buf;
            if (snprintf(buf, len, "%s/../share/jive/schema", exe) < (int)len && dir_exists(buf))
                return buf;
        }
    }
    return "/usr/share/jive/schema";
}

static int cmd_migrate(const struct jc_config *cfg, struct opt *opts, int n)
{
    char buf[PATH_MAX];
    char err[1024];
    const char *dir = schema_dir(opts, n, buf, sizeof(buf));
    PGconn *conn = connect_db(cfg);
    int applied = 0;
    enum jc_err rc;

    if (conn == NULL)
        return 1;
    rc = jc_migrate_run(conn, dir, stdout, &applied, err, sizeof(err));
    PQfinish(conn);
    if (rc != JC_OK)
        return fail("migrate: %s", err);
    if (applied == 0)
        printf("schema is up to date\n");
    return 0;
}

/* ---- project ---- */

static int cmd_project_add(const struct jc_config *cfg, struct opt *opts, int n)
{
    const char *org = opt_get(opts, n, "org");
    const char *name = opt_get(opts, n, "name");
    const char *repo = opt_get(opts, n, "repo");
    const char *branch = opt_get(opts, n, "branch");
    const char *secret = opt_get(opts, n, "secret");
    const char *scan = opt_get(opts, n, "scan");
    bool scan_first = true;
    char generated[65];
    PGconn *conn = NULL;
    PGresult *r = NULL;
    int code = 1;

    if (org == NULL || name == NULL || repo == NULL)
        return fail("%s", "project add: --org, --name and --repo are required (see --help)");
    if (secret != NULL && strlen(secret) < 16)
        return fail("%s", "project add: --secret must be at least 16 characters");
    if (scan != NULL && jc_parse_bool(scan, &scan_first) != JC_OK)
        return fail("%s", "project add: --scan must be yes or no");
    {
        char why[400];
        if (jc_repo_url_check(cfg, repo, why, sizeof(why)) != JC_OK)
            return fail("project add: --repo: %s", why);
    }
    if (secret == NULL) {
        if (jc_crypto_random_hex(generated, 32) != JC_OK)
            return fail("%s", "project add: no randomness available");
    }
    conn = connect_db(cfg);
    if (conn == NULL)
        return 1;
    {
        char max[16];
        const char *p[7] = {org,
                            name,
                            repo,
                            branch != NULL ? branch : "main",
                            secret != NULL ? secret : generated,
                            scan_first ? "true" : "false",
                            max};
        snprintf(max, sizeof(max), "%d", cfg->max_attempts[JC_Q_ARTIFACT_SCAN]);
        /* the project and its first full scan commit together; the outbox sweeper queues it */
        r = PQexecParams(conn,
                         "WITH o AS (INSERT INTO orgs (slug, name) VALUES ($1, $1) "
                         "  ON CONFLICT (slug) DO UPDATE SET slug = EXCLUDED.slug RETURNING id), "
                         "p AS (INSERT INTO projects (org_id, name, repo_url, default_branch, "
                         "  webhook_secret) SELECT o.id, $2, $3, $4, $5 FROM o "
                         "  RETURNING id, org_id), "
                         "j AS (INSERT INTO jobs (org_id, project_id, queue, payload, "
                         "  max_attempts) SELECT org_id, id, 'artifact-scan', "
                         "  '{\"full\": true}'::jsonb, $7::int FROM p WHERE $6::boolean "
                         "  RETURNING id) "
                         "SELECT p.id, (SELECT id FROM j) FROM p",
                         7, NULL, p, NULL, NULL, 0);
    }
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        if (state != NULL && strcmp(state, "23505") == 0)
            fprintf(stderr, "jivectl: project add: a project with that repository (under any "
                            "spelling of its URL) or that name already exists\n");
        else if (state != NULL && strcmp(state, "23514") == 0)
            fprintf(stderr, "jivectl: project add: invalid value: %s", PQresultErrorMessage(r));
        else
            fprintf(stderr, "jivectl: project add: %s", PQresultErrorMessage(r));
        goto out;
    }
    printf("%s\n", PQgetvalue(r, 0, 0));
    if (secret == NULL)
        printf("webhook secret (shown once): %s\n", generated);
    if (!PQgetisnull(r, 0, 1))
        fprintf(stderr, "first full scan queued (jivectl jobs show %s)\n", PQgetvalue(r, 0, 1));
    code = 0;
out:
    PQclear(r);
    PQfinish(conn);
    return code;
}

static int cmd_project_list(const struct jc_config *cfg, struct opt *opts, int n)
{
    PGconn *conn = connect_db(cfg);
    PGresult *r;
    int i;

    (void)opts;
    (void)n;
    if (conn == NULL)
        return 1;
    r = PQexec(conn, "SELECT p.id, o.slug, p.name, p.repo_url, p.default_branch, "
                     "coalesce(to_char(p.last_seen, 'YYYY-MM-DD\"T\"HH24:MI:SSOF'), '-') "
                     "FROM projects p JOIN orgs o ON o.id = p.org_id ORDER BY o.slug, p.name");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "jivectl: project list: %s", PQresultErrorMessage(r));
        PQclear(r);
        PQfinish(conn);
        return 1;
    }
    printf("%-36s  %-16s  %-24s  %-8s  %-25s  %s\n", "ID", "ORG", "NAME", "BRANCH", "LAST SEEN",
           "REPOSITORY");
    for (i = 0; i < PQntuples(r); i++)
        printf("%-36s  %-16s  %-24s  %-8s  %-25s  %s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
               PQgetvalue(r, i, 2), PQgetvalue(r, i, 4), PQgetvalue(r, i, 5), PQgetvalue(r, i, 3));
    PQclear(r);
    PQfinish(conn);
    return 0;
}

/* ---- token ---- */

/* Resolves the project ids or names in list (separated by spaces or commas) within the org
 * into ids separated by spaces in out; 0, or 1 after saying which one is unknown. */
static int resolve_projects(PGconn *conn, const char *org_id, const char *list, char *out,
                            size_t outlen)
{
    char name[256];
    const char *w;
    size_t len, used = 0;
    int count = 0;

    out[0] = '\0';
    while ((w = jc_parse_word(&list, " ,", &len)) != NULL) {
        const char *p[2] = {org_id, name};
        PGresult *r;

        if (len >= sizeof(name))
            return fail("token mint: project '%.40s...' is too long", w);
        memcpy(name, w, len);
        name[len] = '\0';
        if (++count > JC_AUTH_MAX_PROJECTS)
            return fail("token mint: at most %d projects", JC_AUTH_MAX_PROJECTS);
        r = PQexecParams(
            conn, "SELECT id FROM projects WHERE org_id = $1 AND (id::text = $2 OR name = $2)", 2,
            NULL, p, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
            PQclear(r);
            return fail("token mint: no project '%s' in this org (jivectl project list)", name);
        }
        used += (size_t)snprintf(out + used, outlen - used, "%s%s", used > 0 ? " " : "",
                                 PQgetvalue(r, 0, 0));
        PQclear(r);
    }
    if (count == 0)
        return fail("%s", "token mint: --projects names no project");
    return 0;
}

static int cmd_token_mint(const struct jc_config *cfg, struct opt *opts, int n)
{
    struct jc_auth_claims c = {0};
    const char *ttl = opt_get(opts, n, "ttl");
    const char *projects = opt_get(opts, n, "projects");
    char ids[JC_AUTH_MAX_PROJECTS * 37 + 1];
    char err[256];
    char org_id[64] = "";
    char *tok = NULL;
    PGconn *conn;
    PGresult *r;

    c.sub = opt_get(opts, n, "sub");
    c.name = opt_get(opts, n, "name");
    c.org = opt_get(opts, n, "org");
    c.scopes = opt_get(opts, n, "scopes");
    if (c.sub == NULL || c.name == NULL || c.org == NULL || c.scopes == NULL)
        return fail("%s", "token mint: --sub, --name, --org and --scopes are required");
    if (jc_parse_duration_ms(ttl != NULL ? ttl : "30d", &c.ttl_ms) != JC_OK || c.ttl_ms < 1000)
        return fail("token mint: --ttl must be a duration such as 15m, 12h or 30d, got '%s'", ttl);
    if (jc_config_require(cfg, "JIVE_JWT_SECRET", err, sizeof(err)) != JC_OK ||
        jc_config_require(cfg, "JIVE_JWT_ISSUER", err, sizeof(err)) != JC_OK ||
        jc_config_require(cfg, "JIVE_JWT_AUDIENCE", err, sizeof(err)) != JC_OK)
        return fail("token mint: %s", err);
    /* The org must exist: a typo would mint a token that can see nothing. */
    conn = connect_db(cfg);
    if (conn == NULL)
        return 1;
    r = PQexecParams(conn, "SELECT id FROM orgs WHERE slug = $1", 1, NULL, &c.org, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        PQclear(r);
        PQfinish(conn);
        return fail("token mint: no org with slug '%s' (create it with jivectl project add)",
                    c.org);
    }
    snprintf(org_id, sizeof(org_id), "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    if (projects != NULL && resolve_projects(conn, org_id, projects, ids, sizeof(ids)) != 0) {
        PQfinish(conn);
        return 1;
    }
    PQfinish(conn);
    c.org_id = org_id;
    c.projects = projects != NULL ? ids : NULL;
    if (jc_auth_mint(cfg, &c, &tok, err, sizeof(err)) != JC_OK)
        return fail("token mint: %s", err);
    printf("%s\n", tok);
    free(tok);
    return 0;
}

/* ---- jobs ---- */

static int cmd_jobs_dead(const struct jc_config *cfg, struct opt *opts, int n)
{
    const char *queue = opt_get(opts, n, "queue");
    PGconn *conn = connect_db(cfg);
    PGresult *r;
    int i;

    if (conn == NULL)
        return 1;
    r = PQexecParams(conn,
                     "SELECT id, queue, project_id, attempts, "
                     "to_char(dead_at, 'YYYY-MM-DD\"T\"HH24:MI:SSOF'), coalesce(error, '') "
                     "FROM jobs WHERE dead_at IS NOT NULL AND status = 'dead' "
                     "AND ($1::text IS NULL OR queue = $1) ORDER BY dead_at DESC LIMIT 200",
                     1, NULL, &queue, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "jivectl: jobs dead: %s", PQresultErrorMessage(r));
        PQclear(r);
        PQfinish(conn);
        return 1;
    }
    printf("%-36s  %-18s  %-36s  %-8s  %-25s  %s\n", "JOB", "QUEUE", "PROJECT", "ATTEMPTS", "DIED",
           "LAST ERROR");
    for (i = 0; i < PQntuples(r); i++)
        printf("%-36s  %-18s  %-36s  %-8s  %-25s  %s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
               PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), PQgetvalue(r, i, 4), PQgetvalue(r, i, 5));
    PQclear(r);
    PQfinish(conn);
    return 0;
}

static int cmd_jobs_show(const struct jc_config *cfg, struct opt *opts, int n)
{
    const char *id = opt_get(opts, n, "id");
    PGconn *conn;
    PGresult *r;
    int code = 1;

    if (id == NULL || !jc_crypto_is_uuid(id))
        return fail("jobs show: a job id (uuid) is required");
    conn = connect_db(cfg);
    if (conn == NULL)
        return 1;
    r = PQexecParams(conn,
                     "SELECT jsonb_pretty(jsonb_build_object('id', id, 'queue', queue, 'status', "
                     "status, 'project_id', project_id, 'attempts', attempts, 'max_attempts', "
                     "max_attempts, 'event_id', event_id, 'error', error, 'payload', payload, "
                     "'result', result, 'history', history, 'created_at', created_at, "
                     "'updated_at', updated_at)) FROM jobs WHERE id = $1::uuid",
                     1, NULL, &id, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fprintf(stderr, "jivectl: jobs show: %s", PQresultErrorMessage(r));
    else if (PQntuples(r) == 0)
        fprintf(stderr, "jivectl: jobs show: no job %s\n", id);
    else {
        printf("%s\n", PQgetvalue(r, 0, 0));
        code = 0;
    }
    PQclear(r);
    PQfinish(conn);
    return code;
}

/* A Redis connection from REDIS_URL (authenticated, database selected), or NULL. */
static redisContext *connect_redis(const struct jc_config *cfg)
{
    struct timeval tv = {2, 0};
    redisContext *c;

    if (cfg->redis_host == NULL)
        return NULL;
    c = redisConnectWithTimeout(cfg->redis_host, cfg->redis_port, tv);
    if (c == NULL || c->err != 0) {
        redisFree(c);
        return NULL;
    }
    if (cfg->redis_password != NULL)
        freeReplyObject(redisCommand(c, "AUTH %s", cfg->redis_password));
    if (cfg->redis_db != 0)
        freeReplyObject(redisCommand(c, "SELECT %d", cfg->redis_db));
    return c;
}

/* Removes the job's message from jive:dead:<queue> (best effort: a stale dead message is
 * harmless, the row is what counts). */
static void drop_dead_message(const struct jc_config *cfg, const char *queue, const char *id)
{
    redisContext *c;
    redisReply *list;
    char key[96], needle[64];
    size_t i;

    if (cfg->redis_host == NULL)
        return;
    c = connect_redis(cfg);
    if (c == NULL) {
        fprintf(stderr, "jivectl: note: Redis unreachable; the old dead message stays listed\n");
        return;
    }
    jc_key_dead(key, sizeof(key), queue);
    snprintf(needle, sizeof(needle), "\"id\":\"%s\"", id);
    list = redisCommand(c, "LRANGE %s 0 -1", key);
    for (i = 0; list != NULL && list->type == REDIS_REPLY_ARRAY && i < list->elements; i++) {
        redisReply *e = list->element[i];
        if (e->type == REDIS_REPLY_STRING && strstr(e->str, needle) != NULL)
            freeReplyObject(redisCommand(c, "LREM %s 1 %b", key, e->str, e->len));
    }
    freeReplyObject(list);
    redisFree(c);
}

static int cmd_jobs_retry(const struct jc_config *cfg, struct opt *opts, int n)
{
    const char *id = opt_get(opts, n, "id");
    char queue[64];
    PGconn *conn;
    PGresult *r;

    if (id == NULL || !jc_crypto_is_uuid(id))
        return fail("jobs retry: a job id (uuid) is required");
    conn = connect_db(cfg);
    if (conn == NULL)
        return 1;
    /* Back to 'queued' and not enqueued: the outbox sweeper pushes it within seconds. */
    r = PQexecParams(conn,
                     "UPDATE jobs SET status = 'queued', attempts = 0, error = NULL, "
                     "enqueued_at = NULL, run_after = NULL, finished_at = NULL, dead_at = NULL, "
                     "updated_at = now(), history = history || jsonb_build_array("
                     "jsonb_build_object('outcome', 'retried', 'at', now(), 'by', 'jivectl')) "
                     "WHERE id = $1::uuid AND status = 'dead' RETURNING queue",
                     1, NULL, &id, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "jivectl: jobs retry: %s", PQresultErrorMessage(r));
        PQclear(r);
        PQfinish(conn);
        return 1;
    }
    if (PQntuples(r) == 0) {
        PQclear(r);
        PQfinish(conn);
        return fail("jobs retry: no dead job %s (jivectl jobs dead lists them)", id);
    }
    snprintf(queue, sizeof(queue), "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(conn);
    drop_dead_message(cfg, queue, id);
    printf("job %s queued again on %s\n", id, queue);
    return 0;
}

/* ---- scan ---- */

static int cmd_scan(const struct jc_config *cfg, struct opt *opts, int n)
{
    const char *project = opt_get(opts, n, "project");
    enum jc_queue q = opt_get(opts, n, "gates") != NULL ? JC_Q_GATE_EVALUATION : JC_Q_ARTIFACT_SCAN;
    const char *queue = jc_queue_name(q);
    PGconn *conn;
    PGresult *r;
    char max[16];
    const char *p[3];

    if (project == NULL)
        return fail("scan: a project id or name is required (jivectl project list)");
    conn = connect_db(cfg);
    if (conn == NULL)
        return 1;
    /* a committed job row: the outbox sweeper (jive-webhook, jive-orchestrator) queues it */
    snprintf(max, sizeof(max), "%d", cfg->max_attempts[q]);
    p[0] = project;
    p[1] = queue;
    p[2] = max;
    r = PQexecParams(conn,
                     "INSERT INTO jobs (org_id, project_id, queue, payload, max_attempts) "
                     "SELECT org_id, id, $2, '{\"full\": true}'::jsonb, $3::int FROM projects "
                     "WHERE id::text = $1 OR name = $1 ORDER BY created_at LIMIT 1 "
                     "RETURNING id, project_id",
                     3, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        if (PQresultStatus(r) != PGRES_TUPLES_OK)
            fprintf(stderr, "jivectl: scan: %s", PQresultErrorMessage(r));
        else
            fprintf(stderr, "jivectl: scan: no project '%s'\n", project);
        PQclear(r);
        PQfinish(conn);
        return 1;
    }
    printf("%s\n", PQgetvalue(r, 0, 0));
    fprintf(stderr, "full %s of project %s queued (jivectl jobs show %s)\n", queue,
            PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(conn);
    return 0;
}

static int cmd_events(const struct jc_config *cfg, struct opt *opts, int n)
{
    const char *project = opt_get(opts, n, "project");
    const char *follow_opt = opt_get(opts, n, "follow");
    bool follow = true;
    char id[40], err[128];
    redisContext *c;
    int code;

    if (project == NULL)
        return fail("events: a project id or name is required (jivectl project list)");
    if (jc_parse_bool(follow_opt != NULL ? follow_opt : "yes", &follow) != JC_OK)
        return fail("--follow takes yes or no");
    if (jc_config_require(cfg, "REDIS_URL", err, sizeof(err)) != JC_OK)
        return fail("events: %s", err);
    if (jc_crypto_is_uuid(project)) {
        snprintf(id, sizeof(id), "%s", project);
    } else { /* a name: its id from the database */
        PGconn *conn = connect_db(cfg);
        PGresult *r;
        if (conn == NULL)
            return 1;
        r = PQexecParams(conn,
                         "SELECT id FROM projects WHERE name = $1 ORDER BY created_at LIMIT 1", 1,
                         NULL, &project, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
            PQclear(r);
            PQfinish(conn);
            return fail("events: no project %s (jivectl project list)", project);
        }
        snprintf(id, sizeof(id), "%s", PQgetvalue(r, 0, 0));
        PQclear(r);
        PQfinish(conn);
    }
    c = connect_redis(cfg);
    if (c == NULL)
        return fail("events: Redis unreachable at %s:%d", cfg->redis_host, cfg->redis_port);
    code = jivectl_events(c, id, opt_get(opts, n, "from"), follow, stdout);
    redisFree(c);
    return code;
}

static int cmd_inspect(const struct jc_config *cfg, struct opt *opts, int n)
{
    const char *dir = opt_get(opts, n, "dir");
    bool json = false;

    (void)cfg;
    if (dir == NULL)
        return fail("inspect needs a directory (jivectl inspect <dir>)");
    if (jc_parse_bool(opt_get(opts, n, "json") != NULL ? opt_get(opts, n, "json") : "no", &json) !=
        JC_OK)
        return fail("--json takes yes or no");
    return jivectl_inspect(dir, json);
}

static const struct cmd cmds[] = {
    {"migrate",
     NULL,
     "jivectl migrate [--dir DIR]",
     "Applies pending schema migrations in order, each in a transaction; a no-op when the\n"
     "database is up to date. Refuses a database that records a migration this jivectl does\n"
     "not know. DIR defaults to $JIVE_SCHEMA_DIR, ./schema, or the installed schema.\n"
     "Needs DATABASE_URL.",
     NULL,
     {"dir"},
     cmd_migrate},
    {"project",
     "add",
     "jivectl project add --org SLUG --name NAME --repo URL [--branch B] [--secret S]\n"
     "                    [--scan yes|no]",
     "Registers a project (creating the org when new) and prints its id. Without --secret a\n"
     "webhook secret is generated and printed once. Unless --scan no, the project's first full\n"
     "artifact scan is queued with it, so its stories are known before the first push.\n"
     "Needs DATABASE_URL.",
     NULL,
     {"org", "name", "repo", "branch", "secret", "scan"},
     cmd_project_add},
    {"project",
     "list",
     "jivectl project list",
     "Lists projects with their org and repository.",
     NULL,
     {NULL},
     cmd_project_list},
    {"token",
     "mint",
     "jivectl token mint --sub ID --name NAME --org SLUG --scopes \"a b\" [--ttl 30d]\n"
     "                   [--projects \"id-or-name ...\"]",
     "Mints an HS256 access token with JIVE_JWT_SECRET, JIVE_JWT_ISSUER and JIVE_JWT_AUDIENCE\n"
     "and prints only the token. The org must exist (needs DATABASE_URL). Scopes include\n"
     "status:read projects:read stories:read conflicts:read gates:read runs:read jobs:read\n"
     "events:read kanban:write agents:write runs:write admin. --projects limits the token to\n"
     "those projects of the org (ids or names; the \"projects\" claim), else it sees the whole\n"
     "org.",
     NULL,
     {"sub", "name", "org", "scopes", "ttl", "projects"},
     cmd_token_mint},
    {"member",
     "add",
     "jivectl member add --org SLUG (--github LOGIN | --github-org ORG) --role ROLE",
     "Lets a GitHub user (or every member of a GitHub organisation) sign in to the org with\n"
     "the role's scopes (JIVE_OAUTH_ROLES; default roles viewer, developer, lead). The org is\n"
     "created when new; adding again changes the role. Needs DATABASE_URL.",
     NULL,
     {"org", "github", "github-org", "role"},
     cmd_member_add},
    {"member",
     "list",
     "jivectl member list [--org SLUG]",
     "Lists who may sign in: org, GitHub login (or organisation/*), role, GitHub user id once\n"
     "seen.",
     NULL,
     {"org"},
     cmd_member_list},
    {"member",
     "remove",
     "jivectl member remove --org SLUG (--github LOGIN | --github-org ORG)",
     "Removes a member; their refresh tokens stop working at once, access tokens at expiry.",
     NULL,
     {"org", "github", "github-org"},
     cmd_member_remove},
    {"oauth",
     "client",
     "jivectl oauth client add --name NAME --redirect-uri URI [--redirect-uri URI...]\n"
     "                         [--confidential yes]\n"
     "       jivectl oauth client list | remove --id CLIENT-ID",
     "Registers an OAuth client for sign-in and prints its client_id (and with --confidential\n"
     "yes a secret, once). Redirect URIs: https, http on 127.0.0.1/[::1]/localhost (any port\n"
     "matches), or an app's own scheme. Clients can also register themselves (POST /register)\n"
     "or use a client ID metadata document. Needs DATABASE_URL.",
     "action",
     {"action", "name", "redirect-uri", "confidential", "id"},
     cmd_oauth_client},
    {"policy",
     "check",
     "jivectl policy check FILE",
     "Checks a policy file (JIVE_POLICY_FILE) and prints its roles, or the first problem with\n"
     "where it is. jive-mcp also checks that every tool the file names exists.",
     "file",
     {"file"},
     cmd_policy_check},
    {"audit",
     NULL,
     "jivectl audit --org SLUG [--actor ID] [--tool T] [--result R] [--from TIME] [--to TIME]\n"
     "                         [--request-id ID] [--trace-id HEX] [--project ID] [--limit N]\n"
     "                         [--format table|csv]",
     "Prints an org's audit log, newest first (default 50 rows): time, actor type, id and name,\n"
     "tool, result, error, project, request id, OAuth client. The same filters as GET\n"
     "/admin/audit. Needs DATABASE_URL.",
     NULL,
     {"org", "actor", "tool", "result", "from", "to", "request-id", "trace-id", "project", "limit",
      "format"},
     cmd_audit},
    {"trace",
     NULL,
     "jivectl trace <request-id | trace-id | delivery-id>",
     "Tells one request's story across the services, in time order: the webhook delivery, the\n"
     "jobs it caused and each of their attempts, the MCP calls and their audit rows. Give an\n"
     "X-Request-Id, the 32 hex digits of a W3C trace id, or a GitHub delivery id. Needs\n"
     "DATABASE_URL.",
     "id",
     {"id"},
     cmd_trace},
    {"scan",
     NULL,
     "jivectl scan <project> [--gates yes]",
     "Queues a full artifact scan of a project (id or name), or with --gates yes a gate\n"
     "evaluation; prints the job id. The job row is committed and the outbox sweeper pushes it\n"
     "to the queue. Needs DATABASE_URL.",
     "project",
     {"project", "gates"},
     cmd_scan},
    {"events",
     NULL,
     "jivectl events <project> [--from STREAM-ID] [--follow no]",
     "Prints a project's events (id or name), one JSON object per line as on its channel\n"
     "project:<id>: the last ten, or with --from every one kept after that stream id (0: all\n"
     "kept, about 1000), then follows new ones until stopped (--follow no: print and exit).\n"
     "Needs REDIS_URL (and DATABASE_URL for a name).",
     "project",
     {"project", "from", "follow"},
     cmd_events},
    {"inspect",
     NULL,
     "jivectl inspect <dir> [--json]",
     "Reads a local checkout the way a scan reads a repository, with no database and no\n"
     "services, and prints what JIVE sees: each story (key, status as normalised and as\n"
     "written, tasks, File List with external entries marked), each QA gate (decision,\n"
     "expired), the findings, and every file it could not read whole. --json prints one JSON\n"
     "object (artifacts, gates, findings, problems, summary). Run it on your repository\n"
     "before registering it.",
     "dir",
     {"dir", "json"},
     cmd_inspect},
    {"jobs",
     "dead",
     "jivectl jobs dead [--queue Q]",
     "Lists dead jobs (all attempts failed), newest first, with their last error.",
     NULL,
     {"queue"},
     cmd_jobs_dead},
    {"jobs",
     "show",
     "jivectl jobs show <job-id>",
     "Shows one job: status, payload, result, and the history of its attempts.",
     "id",
     {"id"},
     cmd_jobs_show},
    {"jobs",
     "prune",
     "jivectl jobs prune [--older-than DAYS] [--dry-run yes]",
     "Deletes succeeded jobs finished more than DAYS ago (default JIVE_JOB_RETENTION_DAYS, 90),\n"
     "a thousand at a time; queued, running, failed and dead jobs are never pruned.\n"
     "jive-orchestrator does the same on its own every JIVE_RETENTION_INTERVAL_MS. --dry-run\n"
     "yes only counts. Needs DATABASE_URL.",
     NULL,
     {"older-than", "dry-run"},
     cmd_jobs_prune},
    {"retention",
     NULL,
     "jivectl retention [--run yes]",
     "Shows the day partitions of the audit log and the webhook payloads (how many, first and\n"
     "last day) and the days each keeps (JIVE_AUDIT_RETENTION_DAYS, 365; "
     "JIVE_EVENT_RETENTION_DAYS,\n"
     "30). --run yes first runs one round now: partitions a week ahead, days past retention\n"
     "dropped whole, except payloads an unfinished job still needs. Needs DATABASE_URL.",
     NULL,
     {"run"},
     cmd_retention},
    {"jobs",
     "retry",
     "jivectl jobs retry <job-id>",
     "Puts a dead job back: status queued, attempts reset; the outbox sweeper (in jive-webhook\n"
     "and jive-orchestrator) pushes it to its queue within seconds. Needs DATABASE_URL; with\n"
     "REDIS_URL its old message also leaves jive:dead:<queue>.",
     "id",
     {"id"},
     cmd_jobs_retry},
};
#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

static void usage(FILE *f)
{
    size_t i;

    fprintf(f, "usage: jivectl <command> [options]   (jivectl <command> --help)\n\ncommands:\n");
    for (i = 0; i < NCMDS; i++)
        fprintf(f, "  %s\n", cmds[i].usage);
    fprintf(f, "\njivectl reads the same environment as the services (DATABASE_URL, "
               "JIVE_JWT_SECRET, ...).\n");
}

static bool is_help(const char *a)
{
    return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0 || strcmp(a, "help") == 0;
}

int main(int argc, char **argv)
{
    struct jc_config cfg;
    struct opt opts[MAX_OPTS];
    const struct cmd *cmd = NULL;
    char err[512];
    int nopts = 0, i, first, code;
    size_t k;

    if (argc < 2 || is_help(argv[1])) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (k = 0; k < NCMDS && cmd == NULL; k++) {
        if (strcmp(argv[1], cmds[k].group) != 0)
            continue;
        if (cmds[k].verb == NULL)
            cmd = &cmds[k];
        else if (argc > 2 && strcmp(argv[2], cmds[k].verb) == 0)
            cmd = &cmds[k];
    }
    if (cmd == NULL) {
        if (argc > 2 && is_help(argv[2])) {
            for (k = 0; k < NCMDS; k++)
                if (strcmp(argv[1], cmds[k].group) == 0)
                    printf("%s\n", cmds[k].usage);
            return 0;
        }
        fprintf(stderr, "jivectl: unknown command '%s%s%s'\n", argv[1], argc > 2 ? " " : "",
                argc > 2 ? argv[2] : "");
        usage(stderr);
        return 2;
    }
    first = cmd->verb != NULL ? 3 : 2;
    for (i = first; i < argc; i++) {
        const char *a = argv[i];
        const char *eq;
        bool known = false;

        if (is_help(a)) {
            printf("usage: %s\n\n%s\n", cmd->usage, cmd->help);
            return 0;
        }
        if (strncmp(a, "--", 2) != 0 && cmd->positional != NULL && nopts < MAX_OPTS &&
            opt_get(opts, nopts, cmd->positional) == NULL) {
            opts[nopts].name = cmd->positional;
            opts[nopts++].value = a;
            continue;
        }
        if (strncmp(a, "--", 2) != 0 || nopts == MAX_OPTS) {
            fprintf(stderr, "jivectl: unexpected argument '%s'\nusage: %s\n", a, cmd->usage);
            return 2;
        }
        opts[nopts].name = a + 2;
        eq = strchr(a, '=');
        if (eq == NULL && strcmp(a, "--json") == 0) {
            opts[nopts].value = "yes"; /* a flag: --json alone means --json yes */
        } else if (eq != NULL) {
            /* --name=value: split in place on a copy-free basis */
            argv[i][eq - a] = '\0';
            opts[nopts].value = eq + 1;
        } else if (i + 1 < argc) {
            opts[nopts].value = argv[++i];
        } else {
            fprintf(stderr, "jivectl: option %s needs a value\nusage: %s\n", a, cmd->usage);
            return 2;
        }
        for (k = 0; k < MAX_OPTS && cmd->opts[k] != NULL; k++)
            if (strcmp(cmd->opts[k], opts[nopts].name) == 0)
                known = true;
        if (!known) {
            fprintf(stderr, "jivectl: unknown option --%s\nusage: %s\n", opts[nopts].name,
                    cmd->usage);
            return 2;
        }
        nopts++;
    }
    if (jc_config_load(&cfg, JC_SVC_CTL, NULL, NULL, err, sizeof(err)) != JC_OK) {
        fprintf(stderr, "jivectl: %s\n", err);
        return 2;
    }
    code = cmd->run(&cfg, opts, nopts);
    jc_config_clear(&cfg);
    return code;
}
