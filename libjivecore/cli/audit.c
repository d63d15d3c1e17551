/* SPDX-License-Identifier: MIT */
/*
 * audit.c: jivectl audit (the audit log of one org, with the filters of GET /admin/audit) and
 * jivectl trace (one request's or one trace's story across the services: the webhook delivery,
 * the jobs it caused, the MCP calls, in time order), and jivectl jobs prune.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "jc/crypto.h"
#include "jc/parse.h"
#include "jc/retention.h"

int cmd_audit(const struct jc_config *cfg, struct opt *opts, int n)
{
    const char *org = opt_get(opts, n, "org"), *limit = opt_get(opts, n, "limit");
    const char *format = opt_get(opts, n, "format");
    const char *p[10];
    char lim[16];
    long nlim = 50;
    PGconn *conn;
    PGresult *r;
    int i, j, code = 1;
    bool csv = format != NULL && strcmp(format, "csv") == 0;

    if (org == NULL)
        return fail("%s", "audit: --org is required (the audit log is per org)");
    if (format != NULL && strcmp(format, "csv") != 0 && strcmp(format, "table") != 0)
        return fail("%s", "audit: --format must be table or csv");
    if (limit != NULL && jc_parse_long(limit, 1, 100000, &nlim) != JC_OK)
        return fail("%s", "audit: --limit must be 1 to 100000");
    snprintf(lim, sizeof(lim), "%ld", nlim);
    conn = connect_db(cfg);
    if (conn == NULL)
        return 1;
    p[0] = org;
    p[1] = opt_get(opts, n, "actor");
    p[2] = opt_get(opts, n, "tool");
    p[3] = opt_get(opts, n, "result");
    p[4] = opt_get(opts, n, "from");
    p[5] = opt_get(opts, n, "to");
    p[6] = opt_get(opts, n, "request-id");
    p[7] = opt_get(opts, n, "trace-id");
    p[8] = opt_get(opts, n, "project");
    p[9] = lim;
    r = PQexecParams(
        conn,
        "SELECT to_char(a.\"timestamp\" AT TIME ZONE 'UTC', "
        "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), a.actor_type, coalesce(a.actor_id, ''), "
        "coalesce(a.actor_name, ''), a.tool, a.result, coalesce(a.error_message, ''), "
        "coalesce(a.project_id::text, ''), coalesce(a.request_id, ''), "
        "coalesce(a.client_id, '') FROM mcp_audit_logs a JOIN orgs o ON o.id = a.org_id "
        "WHERE o.slug = $1 AND ($2::text IS NULL OR a.actor_id = $2) "
        "AND ($3::text IS NULL OR a.tool = $3) AND ($4::text IS NULL OR a.result = $4) "
        "AND ($5::timestamptz IS NULL OR a.\"timestamp\" >= $5::timestamptz) "
        "AND ($6::timestamptz IS NULL OR a.\"timestamp\" < $6::timestamptz) "
        "AND ($7::text IS NULL OR a.request_id = $7) "
        "AND ($8::text IS NULL OR a.traceparent LIKE '00-' || $8 || '-%') "
        "AND ($9::uuid IS NULL OR a.project_id = $9::uuid) "
        "ORDER BY a.\"timestamp\" DESC, a.id DESC LIMIT $10::int",
        10, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "jivectl: audit: %s", PQresultErrorMessage(r));
        goto out;
    }
    if (csv)
        printf("timestamp,actor_type,actor_id,actor_name,tool,result,error,project_id,"
               "request_id,client_id\r\n");
    for (i = 0; i < PQntuples(r); i++) {
        for (j = 0; j < 10; j++) {
            const char *v = PQgetvalue(r, i, j);
            if (!csv) {
                printf("%s%s", j > 0 ? "\t" : "", v);
                continue;
            }
            if (j > 0)
                putchar(',');
            if (strpbrk(v, ",\"\r\n") != NULL || strchr("=+-@", v[0]) != NULL) {
                putchar('"');
                if (v[0] != '\0' && strchr("=+-@", v[0]) != NULL)
                    putchar('\'');
                for (; *v != '\0'; v++) {
                    if (*v == '"')
                        putchar('"');
                    putchar(*v);
                }
                putchar('"');
            } else {
                fputs(v, stdout);
            }
        }
        fputs(csv ? "\r\n" : "\n", stdout);
    }
    code = 0;
out:
    PQclear(r);
    PQfinish(conn);
    return code;
}

int cmd_trace(const struct jc_config *cfg, struct opt *opts, int n)
{
    const char *id = opt_get(opts, n, "id");
    const char *p[1] = {id};
    PGconn *conn;
    PGresult *r;
    int i, code = 1;

    if (id == NULL || strlen(id) > 200)
        return fail("%s", "trace: give a request id (X-Request-Id), a trace id (32 hex digits) "
                          "or a webhook delivery id");
    conn = connect_db(cfg);
    if (conn == NULL)
        return 1;
    /* everything that names the id: the jobs it made (by request id or trace), the delivery
     * those jobs came from (or the delivery itself), the MCP calls (audit rows) */
    r = PQexecParams(
        conn,
        "WITH j AS (SELECT * FROM jobs WHERE request_id = $1 OR traceparent LIKE '00-' || $1 || "
        "'-%' OR event_id = $1), "
        "e AS (SELECT * FROM webhook_events WHERE id = $1 OR id IN (SELECT event_id FROM j)), "
        "a AS (SELECT * FROM mcp_audit_logs WHERE request_id = $1 OR traceparent LIKE '00-' || "
        "$1 || '-%' OR request_id IN (SELECT request_id FROM j WHERE request_id IS NOT NULL)) "
        "SELECT at, kind, detail FROM ("
        " SELECT received_at AS at, 'webhook' AS kind, event_type || coalesce('.' || action, '') "
        "  || ' delivery ' || id || ' (' || status || ')' AS detail FROM e"
        " UNION ALL SELECT created_at, 'job', queue || ' ' || id || ' created (request ' || "
        "  coalesce(request_id, '-') || ')' FROM j"
        " UNION ALL SELECT (h->>'started_at')::timestamptz, 'attempt', queue || ' ' || id || "
        "  ' attempt ' || coalesce(h->>'attempt', '?') || ': ' || coalesce(h->>'outcome', '?') || "
        "  coalesce(' (' || (h->>'error') || ')', '') FROM j, jsonb_array_elements(j.history) h "
        "  WHERE h ? 'started_at'"
        " UNION ALL SELECT \"timestamp\", 'mcp', tool || ' by ' || coalesce(actor_name, actor_id, "
        "  actor_type) || ': ' || result || coalesce(' (' || error_message || ')', '') || ' "
        "  (request ' || coalesce(request_id, '-') || ')' FROM a"
        ") t ORDER BY at, kind",
        1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "jivectl: trace: %s", PQresultErrorMessage(r));
        goto out;
    }
    if (PQntuples(r) == 0) {
        fprintf(stderr, "jivectl: trace: nothing names %s\n", id);
        goto out;
    }
    for (i = 0; i < PQntuples(r); i++)
        printf("%s  %-8s %s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2));
    code = 0;
out:
    PQclear(r);
    PQfinish(conn);
    return code;
}

int cmd_jobs_prune(const struct jc_config *cfg, struct opt *opts, int n)
{
    const char *older = opt_get(opts, n, "older-than"), *dry = opt_get(opts, n, "dry-run");
    long days = cfg->job_retention_days, total = 0, got;
    char d[24];
    const char *p[1] = {d};
    PGconn *conn;
    PGresult *r;
    bool only_count = dry != NULL && strcmp(dry, "yes") == 0;

    if (older != NULL && jc_parse_long(older, 1, 36500, &days) != JC_OK)
        return fail("%s", "jobs prune: --older-than is a number of days, 1 to 36500");
    if (days == 0)
        return fail("%s", "jobs prune: JIVE_JOB_RETENTION_DAYS is 0 (keep for ever); give "
                          "--older-than");
    snprintf(d, sizeof(d), "%ld", days);
    conn = connect_db(cfg);
    if (conn == NULL)
        return 1;
    do {
        r = PQexecParams(conn, only_count ? JC_PRUNABLE_JOBS_SQL : JC_PRUNE_JOBS_SQL, 1, NULL, p,
                         NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK ||
            jc_parse_long(PQgetvalue(r, 0, 0), 0, 1L << 40, &got) != JC_OK) {
            fprintf(stderr, "jivectl: jobs prune: %s", PQresultErrorMessage(r));
            PQclear(r);
            PQfinish(conn);
            return 1;
        }
        PQclear(r);
        total += got;
    } while (!only_count && got >= JC_PRUNE_BATCH_N);
    printf("%s%ld succeeded jobs finished more than %ld days ago%s\n",
           only_count ? "would prune " : "pruned ", total, days,
           " (queued, running, failed and dead jobs are never pruned)");
    PQfinish(conn);
    return 0;
}

/* The day partitions of each partitioned table: how many, the first and last day, and the
 * retention that applies. --run yes first runs one round
 * (what jive-orchestrator does every JIVE_RETENTION_INTERVAL_MS) with the configured days. */
int cmd_retention(const struct jc_config *cfg, struct opt *opts, int n)
{
    static const char *const tables[] = {"mcp_audit_logs", "webhook_payloads"};
    const char *run = opt_get(opts, n, "run");
    long keep[2] = {cfg->audit_retention_days, cfg->event_retention_days};
    PGconn *conn;
    PGresult *r;
    int i, code = 1;

    if (run != NULL && strcmp(run, "yes") != 0 && strcmp(run, "no") != 0)
        return fail("%s", "retention: --run is yes or no");
    conn = connect_db(cfg);
    if (conn == NULL)
        return 1;
    for (i = 0; i < 2; i++) {
        char d[24];
        const char *p[2] = {tables[i], d};

        snprintf(d, sizeof(d), "%ld", keep[i]);
        if (run != NULL && strcmp(run, "yes") == 0) {
            r = PQexecParams(conn, JC_PARTITIONS_SQL, 2, NULL, p, NULL, NULL, 0);
            if (PQresultStatus(r) != PGRES_TUPLES_OK) {
                fprintf(stderr, "jivectl: retention: %s: %s", tables[i], PQresultErrorMessage(r));
                PQclear(r);
                goto out;
            }
            printf("%s: created %s, dropped %s, kept %s for unfinished jobs\n", tables[i],
                   PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2));
            PQclear(r);
        }
        r = PQexecParams(
            conn,
            "SELECT count(*), coalesce(min(right(c.relname, 8)), '-'), "
            "coalesce(max(right(c.relname, 8)), '-') FROM pg_inherits i JOIN pg_class c ON c.oid = "
            "i.inhrelid WHERE i.inhparent = $1::regclass AND c.relname ~ ('^' || $1 || "
            "'_p[0-9]{8}$')",
            1, NULL, p, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            fprintf(stderr, "jivectl: retention: %s: %s", tables[i], PQresultErrorMessage(r));
            PQclear(r);
            goto out;
        }
        printf("%s: %s day partitions, %s to %s (UTC); days kept: %s\n", tables[i],
               PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2),
               keep[i] == 0 ? "all" : d);
        PQclear(r);
    }
    code = 0;
out:
    PQfinish(conn);
    return code;
}
