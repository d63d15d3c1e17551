/* SPDX-License-Identifier: MIT */
/* migrate.c: ordered, transactional, checksummed schema migrations (blocking; CLI only). */
#include <dirent.h>
#include <regex.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "jc/crypto.h"
#include "jc/migrate.h"

#define MIGRATE_LOCK "7311975340123"

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists NNN_name.sql files of dir, sorted. Returns the count or -1. */
static int list_files(const char *dir, char ***out, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    regex_t re;
    char **names = NULL;
    int n = 0, cap = 0;

    if (d == NULL) {
        jc_errbuf_set(err, errlen, "cannot open schema directory %s", dir);
        return -1;
    }
    if (regcomp(&re, "^[0-9]{3}_[A-Za-z0-9_]+\\.sql$", REG_EXTENDED | REG_NOSUB) != 0) {
        closedir(d);
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        if (regexec(&re, e->d_name, 0, NULL, 0) != 0)
            continue;
        if (n == cap) {
            char **nn = realloc(names, (size_t)(cap = cap * 2 + 8) * sizeof(char *));
            if (nn == NULL)
                goto nomem;
            names = nn;
        }
        if ((names[n] = strdup(e->d_name)) == NULL)
            goto nomem;
        n++;
    }
    regfree(&re);
    closedir(d);
    if (n > 0)
        qsort(names, (size_t)n, sizeof(char *), cmp_str);
    *out = names;
    return n;
nomem:
    regfree(&re);
    closedir(d);
    while (n > 0)
        free(names[--n]);
    free(names);
    jc_errbuf_set(err, errlen, "out of memory");
    return -1;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long size;

    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
        goto out;
    buf = malloc((size_t)size + 1);
    if (buf == NULL)
        goto out;
    if (fread(buf, 1, (size_t)size, f) != (size_t)size) {
        free(buf);
        buf = NULL;
        goto out;
    }
    buf[size] = '\0';
    *len = (size_t)size;
out:
    fclose(f);
    return buf;
}

/* Reads dir/name and its SHA-256 into sum; NULL (with err) when unreadable. Caller frees. */
static char *read_migration(const char *dir, const char *name, char sum[JC_SHA256_HEX_LEN],
                            char *err, size_t errlen)
{
    char path[4096];
    size_t len = 0;
    char *sql;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    sql = read_file(path, &len);
    if (sql == NULL || jc_crypto_sha256_hex(sql, len, sum) != JC_OK) {
        jc_errbuf_set(err, errlen, "cannot read %s", path);
        free(sql);
        return NULL;
    }
    return sql;
}

/*
 * True when sql says, in a line "-- supersedes sha256 <hex>", that it is the migration that was
 * applied with checksum recorded, edited since in its comments only (the line is the
 * maintainer's word for that, kept in the file for review).
 */
static bool supersedes(const char *sql, const char *recorded)
{
    static const char mark[] = "-- supersedes sha256 ";
    const char *p = sql;

    while ((p = strstr(p, mark)) != NULL) {
        p += sizeof(mark) - 1;
        if (strncmp(p, recorded, JC_SHA256_HEX_LEN - 1) == 0 &&
            strlen(recorded) == JC_SHA256_HEX_LEN - 1)
            return true;
    }
    return false;
}

static bool exec_ok(PGconn *conn, const char *sql, char *err, size_t errlen)
{
    PGresult *r = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(r);
    bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;

    if (!ok)
        jc_errbuf_set(err, errlen, "%s", PQerrorMessage(conn));
    PQclear(r);
    return ok;
}

enum jc_err jc_migrate_run(PGconn *conn, const char *dir, FILE *out, int *applied, char *err,
                           size_t errlen)
{
    char **files = NULL;
    int nfiles, i, j;
    PGresult *res = NULL;
    enum jc_err rc = JC_EPG;
    char sum[JC_SHA256_HEX_LEN];
    char *sql = NULL;
    char detail[1024];

    *applied = 0;
    nfiles = list_files(dir, &files, err, errlen);
    if (nfiles < 0)
        return JC_EIO;
    if (!exec_ok(conn, "SELECT pg_advisory_lock(" MIGRATE_LOCK ")", err, errlen))
        goto out;
    if (!exec_ok(conn,
                 "SET client_min_messages = warning;"
                 "CREATE TABLE IF NOT EXISTS schema_migrations ("
                 " version text PRIMARY KEY, checksum text NOT NULL,"
                 " applied_at timestamptz NOT NULL DEFAULT now())",
                 err, errlen))
        goto unlock;
    res = PQexec(conn, "SELECT version, checksum FROM schema_migrations ORDER BY version");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        jc_errbuf_set(err, errlen, "%s", PQerrorMessage(conn));
        goto unlock;
    }
    /* Every recorded migration must be one of ours, unchanged. */
    for (j = 0; j < PQntuples(res); j++) {
        const char *v = PQgetvalue(res, j, 0);
        for (i = 0; i < nfiles && strcmp(files[i], v) != 0; i++)
            ;
        if (i == nfiles) {
            jc_errbuf_set(err, errlen,
                          "the database records migration %s, which %s does not have: refusing "
                          "(is this jivectl older than the database?)",
                          v, dir);
            rc = JC_ECONFLICT;
            goto unlock;
        }
        sql = read_migration(dir, files[i], sum, err, errlen);
        if (sql == NULL) {
            rc = JC_EIO;
            goto unlock;
        }
        if (strcmp(sum, PQgetvalue(res, j, 1)) != 0 && !supersedes(sql, PQgetvalue(res, j, 1))) {
            free(sql);
            sql = NULL;
            jc_errbuf_set(err, errlen,
                          "migration %s changed after it was applied: refusing (add a new "
                          "migration instead of editing an applied one)",
                          v);
            rc = JC_ECONFLICT;
            goto unlock;
        }
        free(sql);
        sql = NULL;
    }
    for (i = 0; i < nfiles; i++) {
        const char *params[2];
        PGresult *ins;
        bool known = false;

        for (j = 0; j < PQntuples(res); j++)
            if (strcmp(files[i], PQgetvalue(res, j, 0)) == 0)
                known = true;
        if (known)
            continue;
        sql = read_migration(dir, files[i], sum, err, errlen);
        if (sql == NULL) {
            rc = JC_EIO;
            goto unlock;
        }
        if (!exec_ok(conn, "BEGIN", err, errlen))
            goto unlock;
        if (!exec_ok(conn, sql, detail, sizeof(detail))) {
            jc_errbuf_set(err, errlen, "%s failed: %.*s", files[i], (int)strcspn(detail, "\n"),
                          detail);
            exec_ok(conn, "ROLLBACK", NULL, 0);
            goto unlock;
        }
        params[0] = files[i];
        params[1] = sum;
        ins =
            PQexecParams(conn, "INSERT INTO schema_migrations (version, checksum) VALUES ($1, $2)",
                         2, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(ins) != PGRES_COMMAND_OK) {
            jc_errbuf_set(err, errlen, "%s: %s", files[i], PQerrorMessage(conn));
            PQclear(ins);
            exec_ok(conn, "ROLLBACK", NULL, 0);
            goto unlock;
        }
        PQclear(ins);
        if (!exec_ok(conn, "COMMIT", err, errlen))
            goto unlock;
        free(sql);
        sql = NULL;
        (*applied)++;
        if (out != NULL)
            fprintf(out, "applied %s\n", files[i]);
    }
    rc = JC_OK;
unlock:
    exec_ok(conn, "SELECT pg_advisory_unlock(" MIGRATE_LOCK ")", NULL, 0);
out:
    free(sql);
    PQclear(res);
    for (i = 0; i < nfiles; i++)
        free(files[i]);
    free(files);
    return rc;
}
