/* SPDX-License-Identifier: MIT */
/*
 * github.c: who signed in at GitHub. GitHub's OAuth web flow (docs: "Authorizing OAuth apps")
 * sends the browser back with a code; the code becomes a user token at
 * <JIVE_GITHUB_URL>/login/oauth/access_token, and the token reads GET /user and GET /user/orgs
 * from <JIVE_GITHUB_API_URL>. The token is used for these calls only and then forgotten.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>

#include "jc/fetch.h"
#include "oauth.h"

#define GITHUB_TIMEOUT_MS 10000
#define GITHUB_MAX_BYTES (1 << 20)
#define GITHUB_MAX_ORGS 100

struct ident {
    struct mcp *m;
    github_user_cb *cb;
    void *ud;
    char token[256];
    char auth[300];
    long long id;
    char login[64];
    char *orgs[GITHUB_MAX_ORGS + 1];
    enum jc_err err;
    char msg[300];
};

static void ident_free(struct ident *g)
{
    char **o;

    for (o = g->orgs; *o != NULL; o++)
        free(*o);
    memset(g->token, 0, sizeof(g->token));
    memset(g->auth, 0, sizeof(g->auth));
    free(g);
}

static void finish(struct ident *g)
{
    g->cb(g->err, g->id, g->login, (const char *const *)g->orgs, g->msg, g->ud);
    ident_free(g);
}

/* Ends with err and the message what, followed by " (detail)" when detail is given. */
static void fail(struct ident *g, enum jc_err err, const char *what, const char *detail)
{
    g->err = err;
    if (detail != NULL)
        snprintf(g->msg, sizeof(g->msg), "%s (%s)", what, detail);
    else
        snprintf(g->msg, sizeof(g->msg), "%s", what);
    finish(g);
}

/* An answer of GitHub that is not what its documentation promises. */
static bool github_failed(struct ident *g, enum jc_err err, long status, const char *what,
                          const char *errmsg)
{
    char detail[200];

    if (err != JC_OK) {
        snprintf(detail, sizeof(detail), "%s: %s", what, errmsg);
        fail(g, err == JC_ETIMEOUT ? JC_ETIMEOUT : JC_EIO, "GitHub did not answer", detail);
        return true;
    }
    if (status != 200) {
        snprintf(detail, sizeof(detail), "%s answered HTTP %ld", what, status);
        fail(g, JC_EIO, "GitHub refused the sign-in", detail);
        return true;
    }
    return false;
}

static enum jc_err get(struct ident *g, const char *path, jc_fetch_cb *cb)
{
    char url[1024];
    const char *headers[] = {g->auth, "Accept: application/vnd.github+json",
                             "X-GitHub-Api-Version: 2022-11-28", NULL};
    struct jc_fetch_req r = {.method = "GET",
                             .url = url,
                             .headers = headers,
                             .timeout_ms = GITHUB_TIMEOUT_MS,
                             .max_bytes = GITHUB_MAX_BYTES,
                             .https_only = true};

    snprintf(url, sizeof(url), "%s%s", g->m->app->cfg.github_api_url, path);
    return jc_fetch_start(g->m->fetch, &r, cb, g);
}

static void on_orgs(enum jc_err err, long status, const char *body, size_t len, const char *errmsg,
                    void *ud)
{
    struct ident *g = ud;
    cJSON *list;
    const cJSON *o;
    int n = 0;

    if (github_failed(g, err, status, "GET /user/orgs", errmsg))
        return;
    list = cJSON_ParseWithLength(body, len);
    if (!cJSON_IsArray(list)) {
        cJSON_Delete(list);
        fail(g, JC_EIO, "GitHub's list of organisations is not a JSON array", NULL);
        return;
    }
    cJSON_ArrayForEach(o, list)
    {
        const char *login = cJSON_GetStringValue(cJSON_GetObjectItem(o, "login"));
        char *low, *p;
        if (login == NULL || n >= GITHUB_MAX_ORGS || (low = strdup(login)) == NULL)
            continue;
        for (p = low; *p != '\0'; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
        g->orgs[n++] = low;
    }
    cJSON_Delete(list);
    finish(g);
}

static void on_user(enum jc_err err, long status, const char *body, size_t len, const char *errmsg,
                    void *ud)
{
    struct ident *g = ud;
    cJSON *u;
    const cJSON *id;
    const char *login;
    char *p;

    if (github_failed(g, err, status, "GET /user", errmsg))
        return;
    u = cJSON_ParseWithLength(body, len);
    id = cJSON_GetObjectItem(u, "id");
    login = cJSON_GetStringValue(cJSON_GetObjectItem(u, "login"));
    if (!cJSON_IsNumber(id) || id->valuedouble < 1 || login == NULL || login[0] == '\0' ||
        strlen(login) >= sizeof(g->login)) {
        cJSON_Delete(u);
        fail(g, JC_EIO, "GitHub's user has no id or login", NULL);
        return;
    }
    g->id = (long long)id->valuedouble;
    snprintf(g->login, sizeof(g->login), "%s", login);
    for (p = g->login; *p != '\0'; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    cJSON_Delete(u);
    if (get(g, "/user/orgs?per_page=100", on_orgs) != JC_OK)
        fail(g, JC_ENOMEM, "out of memory", NULL);
}

static void on_token(enum jc_err err, long status, const char *body, size_t len, const char *errmsg,
                     void *ud)
{
    struct ident *g = ud;
    cJSON *t;
    const char *tok, *gerr;

    if (github_failed(g, err, status, "the code exchange", errmsg))
        return;
    t = cJSON_ParseWithLength(body, len);
    tok = cJSON_GetStringValue(cJSON_GetObjectItem(t, "access_token"));
    gerr = cJSON_GetStringValue(cJSON_GetObjectItem(t, "error"));
    if (tok == NULL || strlen(tok) >= sizeof(g->token)) {
        /* GitHub answers 200 with {"error": "bad_verification_code"} for a bad or used code */
        g->err = JC_EAUTH;
        snprintf(g->msg, sizeof(g->msg), "GitHub did not accept the sign-in (%.80s)",
                 gerr != NULL ? gerr : "no access token");
        cJSON_Delete(t);
        finish(g);
        return;
    }
    snprintf(g->token, sizeof(g->token), "%s", tok);
    snprintf(g->auth, sizeof(g->auth), "Authorization: Bearer %s", g->token);
    cJSON_Delete(t);
    if (get(g, "/user", on_user) != JC_OK)
        fail(g, JC_ENOMEM, "out of memory", NULL);
}

enum jc_err github_identify(struct mcp *m, const char *code, const char *redirect_uri,
                            github_user_cb *cb, void *ud)
{
    const struct jc_config *cfg = &m->app->cfg;
    struct ident *g = calloc(1, sizeof(*g));
    char url[1024], *body = NULL, *id = NULL, *secret = NULL, *ecode = NULL, *redir = NULL;
    const char *headers[] = {"Accept: application/json", NULL};
    struct jc_fetch_req r = {.method = "POST",
                             .url = url,
                             .headers = headers,
                             .timeout_ms = GITHUB_TIMEOUT_MS,
                             .max_bytes = GITHUB_MAX_BYTES,
                             .https_only = true};
    size_t blen;
    enum jc_err rc = JC_ENOMEM;

    if (g == NULL)
        return JC_ENOMEM;
    g->m = m;
    g->cb = cb;
    g->ud = ud;
    snprintf(url, sizeof(url), "%s/login/oauth/access_token", cfg->github_url);
    id = evhttp_uriencode(cfg->github_client_id, -1, 1);
    secret = evhttp_uriencode(cfg->github_client_secret, -1, 1);
    ecode = evhttp_uriencode(code, -1, 1);
    redir = evhttp_uriencode(redirect_uri, -1, 1);
    if (id == NULL || secret == NULL || ecode == NULL || redir == NULL)
        goto nomem;
    blen = strlen(id) + strlen(secret) + strlen(ecode) + strlen(redir) + 64;
    if ((body = malloc(blen)) == NULL)
        goto nomem;
    snprintf(body, blen, "client_id=%s&client_secret=%s&code=%s&redirect_uri=%s", id, secret, ecode,
             redir);
    r.body = body;
    r.body_len = strlen(body);
    if (jc_fetch_start(m->fetch, &r, on_token, g) != JC_OK)
        goto nomem;
    rc = JC_OK;
    g = NULL;
nomem:
    free(g);
    free(id);
    free(secret);
    free(ecode);
    free(redir);
    free(body);
    return rc;
}
