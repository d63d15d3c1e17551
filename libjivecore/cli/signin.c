/* SPDX-License-Identifier: MIT */
/*
 * signin.c: who may sign in (jivectl member), the OAuth clients an operator registers
 * (jivectl oauth client), and who may call what (jivectl policy check). The tables are in
 * schema/014_sign_in.sql; jive-mcp reads them when someone signs in (docs/SIGN-IN.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "jc/crypto.h"
#include "jc/policy.h"
#include "jc/redirect.h"

/* GitHub logins and organisation names: letters, digits and single hyphens, at most 39. */
static bool github_name_ok(const char *s)
{
    size_t n = strlen(s), i;

    if (n == 0 || n > 39 || s[0] == '-' || s[n - 1] == '-')
        return false;
    for (i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-'))
            return false;
    }
    return true;
}

static void lower(char *s)
{
    for (; *s != '\0'; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
}

int cmd_member_add(const struct jc_config *cfg, struct opt *opts, int n)
{
    const char *org = opt_get(opts, n, "org"), *login = opt_get(opts, n, "github");
    const char *gh_org = opt_get(opts, n, "github-org"), *role = opt_get(opts, n, "role");
    char name[48], scopes[1024];
    const char *p[4];
    PGconn *conn;
    PGresult *r;
    int code = 1;

    if (org == NULL || role == NULL || (login == NULL) == (gh_org == NULL))
        return fail("%s", "member add: --org, --role and one of --github or --github-org are "
                          "required (see --help)");
    if (!github_name_ok(login != NULL ? login : gh_org))
        return fail("member add: '%s' is not a GitHub name", login != NULL ? login : gh_org);
    if (!jc_config_role_scopes(cfg, role, scopes, sizeof(scopes)))
        return fail("member add: no role '%s' in JIVE_OAUTH_ROLES", role);
    snprintf(name, sizeof(name), "%s", login != NULL ? login : gh_org);
    lower(name);
    conn = connect_db(cfg);
    if (conn == NULL)
        return 1;
    p[0] = org;
    p[1] = login != NULL ? name : NULL;
    p[2] = gh_org != NULL ? name : NULL;
    p[3] = role;
    /* the org is created when new, as by project add; a second add changes the role */
    r = PQexecParams(conn,
                     "WITH o AS (INSERT INTO orgs (slug, name) VALUES ($1, $1) ON CONFLICT (slug) "
                     "DO UPDATE SET slug = EXCLUDED.slug RETURNING id), "
                     "up AS (UPDATE org_members m SET role = $4 FROM o WHERE m.org_id = o.id AND "
                     "(m.github_login = $2 OR m.github_org = $3) RETURNING m.id), "
                     "ins AS (INSERT INTO org_members (org_id, github_login, github_org, role) "
                     "SELECT o.id, $2, $3, $4 FROM o WHERE NOT EXISTS (SELECT 1 FROM up) "
                     "RETURNING id) "
                     "SELECT (SELECT id FROM up), (SELECT id FROM ins)",
                     4, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "jivectl: member add: %s", PQresultErrorMessage(r));
        goto out;
    }
    printf("%s %s%s in %s as %s (%s)\n", PQgetisnull(r, 0, 0) ? "added" : "updated",
           login != NULL ? "GitHub user " : "every member of the GitHub organisation ", name, org,
           role, scopes);
    code = 0;
out:
    PQclear(r);
    PQfinish(conn);
    return code;
}

int cmd_member_list(const struct jc_config *cfg, struct opt *opts, int n)
{
    const char *org = opt_get(opts, n, "org");
    const char *p[1] = {org};
    PGconn *conn = connect_db(cfg);
    PGresult *r;
    int i, code = 1;

    if (conn == NULL)
        return 1;
    r = PQexecParams(conn,
                     "SELECT o.slug, coalesce(m.github_login, m.github_org || '/*'), m.role, "
                     "coalesce(m.github_id::text, '-') FROM org_members m JOIN orgs o ON o.id = "
                     "m.org_id WHERE $1::text IS NULL OR o.slug = $1 ORDER BY 1, 2",
                     1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "jivectl: member list: %s", PQresultErrorMessage(r));
        goto out;
    }
    for (i = 0; i < PQntuples(r); i++)
        printf("%s\t%s\t%s\t%s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2),
               PQgetvalue(r, i, 3));
    code = 0;
out:
    PQclear(r);
    PQfinish(conn);
    return code;
}

int cmd_member_remove(const struct jc_config *cfg, struct opt *opts, int n)
{
    const char *org = opt_get(opts, n, "org"), *login = opt_get(opts, n, "github");
    const char *gh_org = opt_get(opts, n, "github-org");
    char name[48];
    const char *p[3];
    PGconn *conn;
    PGresult *r;
    int code = 1;

    if (org == NULL || (login == NULL) == (gh_org == NULL))
        return fail("%s", "member remove: --org and one of --github or --github-org are required");
    snprintf(name, sizeof(name), "%s", login != NULL ? login : gh_org);
    lower(name);
    conn = connect_db(cfg);
    if (conn == NULL)
        return 1;
    p[0] = org;
    p[1] = login != NULL ? name : NULL;
    p[2] = gh_org != NULL ? name : NULL;
    /* its refresh tokens go with it (ON DELETE CASCADE): no new access token after this */
    r = PQexecParams(conn,
                     "DELETE FROM org_members m USING orgs o WHERE o.id = m.org_id AND o.slug = $1 "
                     "AND (m.github_login = $2 OR m.github_org = $3) RETURNING m.id",
                     3, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "jivectl: member remove: %s", PQresultErrorMessage(r));
        goto out;
    }
    if (PQntuples(r) == 0) {
        fprintf(stderr, "jivectl: member remove: %s is not a member of %s\n", name, org);
        goto out;
    }
    printf("removed %s from %s; their refresh tokens are revoked\n", name, org);
    code = 0;
out:
    PQclear(r);
    PQfinish(conn);
    return code;
}

static int client_add(PGconn *conn, struct opt *opts, int n)
{
    const char *name = opt_get(opts, n, "name"), *conf = opt_get(opts, n, "confidential");
    cJSON *uris = cJSON_CreateArray();
    char id[40] = "jive-", secret[48] = "", hash[65];
    char *json = NULL;
    const char *p[4], *why;
    PGresult *r = NULL;
    int i, code = 1;

    if (name == NULL || strlen(name) > 200) {
        fail("%s", "oauth client add: --name (at most 200 characters) is required");
        goto out;
    }
    for (i = 0; i < n; i++) {
        if (strcmp(opts[i].name, "redirect-uri") != 0)
            continue;
        if (!jc_redirect_acceptable(opts[i].value, &why)) {
            fail("oauth client add: --redirect-uri %s: %s", opts[i].value, why);
            goto out;
        }
        cJSON_AddItemToArray(uris, cJSON_CreateString(opts[i].value));
    }
    if (cJSON_GetArraySize(uris) == 0) {
        fail("%s", "oauth client add: at least one --redirect-uri is required");
        goto out;
    }
    if (jc_crypto_random_token(id + 5, 18) != JC_OK ||
        (conf != NULL && strcmp(conf, "yes") == 0 && jc_crypto_random_token(secret, 32) != JC_OK)) {
        fail("%s", "oauth client add: no randomness available");
        goto out;
    }
    if (secret[0] != '\0' && jc_crypto_sha256_hex(secret, strlen(secret), hash) != JC_OK)
        goto out;
    json = cJSON_PrintUnformatted(uris);
    p[0] = id;
    p[1] = name;
    p[2] = json;
    p[3] = secret[0] != '\0' ? hash : NULL;
    r = PQexecParams(
        conn,
        "INSERT INTO oauth_clients (client_id, kind, name, redirect_uris, secret_hash) "
        "SELECT $1, 'operator', $2, array(SELECT jsonb_array_elements_text($3::jsonb))"
        ", $4",
        4, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        fprintf(stderr, "jivectl: oauth client add: %s", PQresultErrorMessage(r));
        goto out;
    }
    printf("%s\n", id);
    if (secret[0] != '\0')
        printf("client secret (shown once): %s\n", secret);
    code = 0;
out:
    PQclear(r);
    cJSON_free(json);
    cJSON_Delete(uris);
    return code;
}

static int client_list(PGconn *conn)
{
    PGresult *r = PQexec(conn, "SELECT client_id, kind, name, array_to_string(redirect_uris, ' '), "
                               "CASE WHEN secret_hash IS NULL THEN 'public' ELSE 'confidential' "
                               "END FROM oauth_clients ORDER BY created_at");
    int i, code = 1;

    if (PQresultStatus(r) == PGRES_TUPLES_OK) {
        for (i = 0; i < PQntuples(r); i++)
            printf("%s\t%s\t%s\t%s\t%s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
                   PQgetvalue(r, i, 4), PQgetvalue(r, i, 2), PQgetvalue(r, i, 3));
        code = 0;
    } else {
        fprintf(stderr, "jivectl: oauth client list: %s", PQresultErrorMessage(r));
    }
    PQclear(r);
    return code;
}

static int client_remove(PGconn *conn, struct opt *opts, int n)
{
    const char *id = opt_get(opts, n, "id");
    const char *p[1] = {id};
    PGresult *r;
    int code = 1;

    if (id == NULL)
        return fail("%s", "oauth client remove: --id is required");
    /* its codes and refresh tokens go with it (ON DELETE CASCADE) */
    r = PQexecParams(conn, "DELETE FROM oauth_clients WHERE client_id = $1", 1, NULL, p, NULL, NULL,
                     0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fprintf(stderr, "jivectl: oauth client remove: %s", PQresultErrorMessage(r));
    else if (strcmp(PQcmdTuples(r), "0") == 0)
        fprintf(stderr, "jivectl: oauth client remove: no client %s\n", id);
    else
        code = 0;
    if (code == 0)
        printf("removed %s and every token issued to it\n", id);
    PQclear(r);
    return code;
}

int cmd_oauth_client(const struct jc_config *cfg, struct opt *opts, int n)
{
    const char *action = opt_get(opts, n, "action");
    PGconn *conn;
    int code;

    if (action == NULL || (strcmp(action, "add") != 0 && strcmp(action, "list") != 0 &&
                           strcmp(action, "remove") != 0))
        return fail("%s", "oauth client: add, list or remove (see --help)");
    conn = connect_db(cfg);
    if (conn == NULL)
        return 1;
    if (strcmp(action, "add") == 0)
        code = client_add(conn, opts, n);
    else if (strcmp(action, "list") == 0)
        code = client_list(conn);
    else
        code = client_remove(conn, opts, n);
    PQfinish(conn);
    return code;
}

int cmd_policy_check(const struct jc_config *cfg, struct opt *opts, int n)
{
    const char *path = opt_get(opts, n, "file");
    struct jc_policy *p = NULL;
    char err[500];
    size_t i, j;

    (void)cfg;
    if (path == NULL)
        return fail("%s", "policy check: give the file");
    if (jc_policy_load(path, &p, err, sizeof(err)) != JC_OK)
        return fail("policy check: %s", err);
    printf("%s: %zu roles, %zu subject rules, default role %s\n", path, p->n_roles, p->n_subjects,
           p->default_role >= 0 ? p->roles[p->default_role].name : "(none)");
    for (i = 0; i < p->n_roles; i++) {
        const struct jc_policy_role *r = &p->roles[i];
        printf("  %s:", r->name);
        for (j = 0; r->tools[j] != NULL; j++)
            printf(" %s", r->tools[j]);
        if (r->rate_per_minute > 0)
            printf("; %ld/min", r->rate_per_minute);
        for (j = 0; j < r->n_limits; j++)
            printf("; %s %ld/min %ld at once", r->limits[j].tool, r->limits[j].rate_per_minute,
                   r->limits[j].concurrency);
        printf("\n");
    }
    jc_policy_free(p);
    return 0;
}
