/* SPDX-License-Identifier: MIT */
/*
 * authorize.c: the browser's part of sign-in.
 *   GET /authorize            checks the client, its redirect URI and PKCE, remembers the
 *                             request (bound to this browser by a cookie) and sends the browser
 *                             to GitHub.
 *   GET /oauth/github/callback  GitHub sends the browser back: who it is, whether an org of
 *                             JIVE has them, and the consent page.
 *   POST /oauth/consent       the person's answer: a single-use code for the client, or
 *                             access_denied, sent to the client's redirect URI with state and iss.
 * Until the redirect URI is known to be the client's, an error is a page, never a redirect (no
 * open redirect). The consent form carries a token bound to the pending request and the cookie:
 * the browser sends `Origin: null` under JIVE's `Referrer-Policy: no-referrer`, so the Origin
 * header proves nothing here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <libpq-fe.h>

#include "jc/crypto.h"
#include "jc/parse.h"
#include "oauth.h"

#define GITHUB_SCOPE "read:org" /* to see the user's organisations, private memberships too */

/* One authorization in progress, across its asynchronous steps. */
struct az {
    struct mcp *m;
    struct jc_req *req;
    char client_id[512];
    char client_name[256];
    char client_kind[16];
    char redirect[2048];
    char state[512];
    char challenge[128];
    char scope[1024];
    char id[48];      /* the request's handle: GitHub's state, the consent form's "request" */
    char browser[48]; /* the cookie */
    char csrf[48];
    char code[48];
    char org_id[40], slug[64], role[48], member_id[24], sub[24], login[64], granted[1024];
};

static void az_free(struct az *z)
{
    free(z);
}

/* Query or form parameter name into out; false when absent, empty or longer than out. */
static bool param(struct evkeyvalq *q, const char *name, char *out, size_t len)
{
    const char *v = evhttp_find_header(q, name);

    out[0] = '\0';
    if (v == NULL || v[0] == '\0' || strlen(v) >= len)
        return false;
    memcpy(out, v, strlen(v) + 1);
    return true;
}

static bool query(struct jc_req *req, struct evkeyvalq *q)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req->ev);
    const char *s = uri != NULL ? evhttp_uri_get_query(uri) : NULL;

    TAILQ_INIT(q);
    return s == NULL || evhttp_parse_query_str(s, q) == 0;
}

/* Appends &name=value (percent-encoded) to b. */
static void add_param(struct evbuffer *b, const char *name, const char *value)
{
    char *e = evhttp_uriencode(value, -1, 0);

    if (e != NULL)
        evbuffer_add_printf(b, "%s=%s", name, e);
    free(e);
}

/* Sends the browser to the client's (verified) redirect URI with params (NULL-terminated
 * name/value pairs, NULL values left out), state and iss. status 302 after GET, 303 after POST. */
static void to_client(struct az *z, int status, const char *const *params)
{
    struct evbuffer *b = evbuffer_new();
    char *loc;
    size_t n;
    bool first;

    if (b == NULL) {
        jc_http_reply_error(z->req, 503, "unavailable", "out of memory");
        return;
    }
    evbuffer_add_printf(b, "%s", z->redirect);
    first = strchr(z->redirect, '?') == NULL;
    for (; params[0] != NULL; params += 2) {
        if (params[1] == NULL)
            continue;
        evbuffer_add(b, first ? "?" : "&", 1);
        first = false;
        add_param(b, params[0], params[1]);
    }
    if (z->state[0] != '\0') {
        evbuffer_add(b, first ? "?" : "&", 1);
        first = false;
        add_param(b, "state", z->state);
    }
    evbuffer_add(b, first ? "?" : "&", 1);
    add_param(b, "iss", z->m->app->cfg.oauth_issuer); /* RFC 9207 */
    n = evbuffer_get_length(b);
    loc = malloc(n + 1);
    if (loc != NULL) {
        evbuffer_remove(b, loc, n);
        loc[n] = '\0';
        jc_req_add_header(z->req, "Location", loc);
        jc_http_reply_raw(z->req, status, "text/plain; charset=utf-8", "", 0);
    } else {
        jc_http_reply_error(z->req, 503, "unavailable", "out of memory");
    }
    free(loc);
    evbuffer_free(b);
}

static void to_client_error(struct az *z, int status, const char *error, const char *why)
{
    to_client(z, status, (const char *[]){"error", error, "error_description", why, NULL});
}

static void audit(struct az *z, const char *step, const char *result, const char *error)
{
    struct oauth_audit a = {.step = step,
                            .org_id = z->org_id,
                            .sub = z->sub,
                            .login = z->login[0] != '\0' ? z->login : NULL,
                            .client_id = z->client_id[0] != '\0' ? z->client_id : NULL,
                            .scope = z->granted[0] != '\0' ? z->granted : NULL,
                            .result = result,
                            .error = error};

    oauth_audit(z->m, z->req, &a);
}

/* A page that ends the flow here (the client is not told: its redirect URI is not trusted, or
 * the person should read why). */
static void stop(struct az *z, int status, const char *title, const char *text)
{
    audit(z, strcmp(z->sub, "") != 0 ? "github" : "authorize",
          status >= 500   ? "error"
          : status == 403 ? "denied"
                          : "invalid",
          text);
    oauth_page(z->m, z->req, status, title, text);
    az_free(z);
}

/* ---- GET /authorize ---- */

static void on_request_saved(const PGresult *res, enum jc_err err, const char *errmsg, void *ud)
{
    struct az *z = ud;
    const struct jc_config *cfg = &z->m->app->cfg;
    struct evbuffer *b;
    char cookie[200], *loc = NULL, callback[600];
    size_t n;

    (void)res;
    if (err != JC_OK) {
        jc_error(z->m->app->log, "sign-in: cannot store an authorization: %s", errmsg);
        stop(z, 503, "Sign-in is unavailable",
             "JIVE cannot reach its database. Try again shortly.");
        return;
    }
    snprintf(callback, sizeof(callback), "%s/oauth/github/callback", cfg->oauth_issuer);
    b = evbuffer_new();
    if (b != NULL) {
        evbuffer_add_printf(b, "%s/login/oauth/authorize?", cfg->github_url);
        add_param(b, "client_id", cfg->github_client_id);
        evbuffer_add(b, "&", 1);
        add_param(b, "redirect_uri", callback);
        evbuffer_add(b, "&", 1);
        add_param(b, "scope", GITHUB_SCOPE);
        evbuffer_add(b, "&", 1);
        add_param(b, "state", z->id);
        evbuffer_add_printf(b, "&allow_signup=false");
        n = evbuffer_get_length(b);
        if ((loc = malloc(n + 1)) != NULL) {
            evbuffer_remove(b, loc, n);
            loc[n] = '\0';
        }
        evbuffer_free(b);
    }
    if (loc == NULL) {
        stop(z, 503, "Sign-in is unavailable", "out of memory");
        return;
    }
    /* SameSite=Lax: sent when GitHub sends the browser back (a top-level GET) and with the
     * same-site consent POST; never with a cross-site POST */
    snprintf(cookie, sizeof(cookie),
             OAUTH_COOKIE "=%s; Path=/oauth; Max-Age=%d; HttpOnly; "
                          "SameSite=Lax%s",
             z->browser, OAUTH_REQUEST_TTL_S,
             strncmp(cfg->oauth_issuer, "https://", 8) == 0 ? "; Secure" : "");
    jc_req_add_header(z->req, "Set-Cookie", cookie);
    jc_req_add_header(z->req, "Location", loc);
    jc_http_reply_raw(z->req, 302, "text/plain; charset=utf-8", "", 0);
    free(loc);
    az_free(z);
}

struct az_start {
    struct az *z;
    char response_type[32];
    char method[16];
    char resource[1024];
    bool has_resource;
    bool has_redirect;
};

static void on_client(enum jc_err err, struct oauth_client *c, const char *msg, void *ud)
{
    struct az_start *s = ud;
    struct az *z = s->z;
    const struct jc_config *cfg = &z->m->app->cfg;
    char id_hash[65], browser_hash[65], ttl[16], text[700];
    const char *params[9];

    if (err != JC_OK) {
        free(s);
        if (err == JC_EPG || err == JC_ENOMEM)
            stop(z, 503, "Sign-in is unavailable", msg);
        else
            stop(z, 400, "This application cannot sign in", msg);
        return;
    }
    snprintf(z->client_name, sizeof(z->client_name), "%s", c->name);
    snprintf(z->client_kind, sizeof(z->client_kind), "%s", c->kind);
    if (!s->has_redirect) {
        if (c->redirect_uris[0] == NULL || c->redirect_uris[1] != NULL) {
            free(s);
            stop(z, 400, "This application cannot sign in",
                 "redirect_uri is required: the application registered several");
            return;
        }
        snprintf(z->redirect, sizeof(z->redirect), "%s", c->redirect_uris[0]);
    } else if (!oauth_redirect_allowed(c, z->redirect)) {
        snprintf(text, sizeof(text),
                 "The redirect URI %.300s is not registered for this application, so JIVE will "
                 "not send you there.",
                 z->redirect);
        free(s);
        stop(z, 400, "This application cannot sign in", text);
        return;
    }
    /* from here on the redirect URI is the client's: errors go back to it */
    if (strcmp(s->response_type, "code") != 0) {
        audit(z, "authorize", "invalid", "response_type");
        to_client_error(z, 302, "unsupported_response_type", "response_type must be code");
    } else if (z->challenge[0] == '\0') {
        audit(z, "authorize", "invalid", "no PKCE");
        to_client_error(z, 302, "invalid_request", "code_challenge is required (PKCE with S256)");
    } else if (strcmp(s->method, "S256") != 0) {
        audit(z, "authorize", "invalid", "PKCE method");
        to_client_error(z, 302, "invalid_request", "code_challenge_method must be S256");
    } else if (strlen(z->challenge) != 43 ||
               strspn(z->challenge,
                      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != 43) {
        audit(z, "authorize", "invalid", "PKCE challenge");
        to_client_error(
            z, 302, "invalid_request",
            "code_challenge must be the base64url SHA-256 of the verifier (43 characters)");
    } else if (s->has_resource && !oauth_resource_ours(cfg, s->resource)) {
        audit(z, "authorize", "invalid", "resource");
        to_client_error(z, 302, "invalid_target", "resource names another server than this one");
    } else {
        if (jc_crypto_random_token(z->id, 32) != JC_OK ||
            jc_crypto_random_token(z->browser, 32) != JC_OK) {
            free(s);
            stop(z, 503, "Sign-in is unavailable", "no randomness available");
            return;
        }
        oauth_hash(z->id, id_hash);
        oauth_hash(z->browser, browser_hash);
        snprintf(ttl, sizeof(ttl), "%d", OAUTH_REQUEST_TTL_S);
        params[0] = id_hash;
        params[1] = browser_hash;
        params[2] = z->client_id;
        params[3] = z->redirect;
        params[4] = z->state[0] != '\0' ? z->state : NULL;
        params[5] = z->challenge;
        params[6] = z->scope;
        params[7] = cfg->jwt_audience;
        params[8] = ttl;
        free(s);
        if (jc_pg_query(z->m->app->pg, 0,
                        "WITH gc AS (DELETE FROM oauth_requests WHERE expires_at < now() - "
                        "interval '1 day') INSERT INTO oauth_requests (id_hash, browser_hash, "
                        "client_id, redirect_uri, state, code_challenge, scope, resource, "
                        "expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now() + "
                        "make_interval(secs => $9::int))",
                        9, params, on_request_saved, z) != JC_OK)
            stop(z, 503, "Sign-in is unavailable", "JIVE cannot reach its database.");
        return;
    }
    free(s);
    az_free(z);
}

static void do_authorize(struct jc_req *req, void *ud)
{
    struct mcp *m = ud;
    struct evkeyvalq q;
    struct az *z = calloc(1, sizeof(*z));
    struct az_start *s = calloc(1, sizeof(*s));

    if (z == NULL || s == NULL) {
        free(z);
        free(s);
        jc_http_reply_error(req, 503, "unavailable", "out of memory");
        return;
    }
    z->m = m;
    z->req = req;
    s->z = z;
    if (!query(req, &q)) {
        free(s);
        stop(z, 400, "This sign-in request is malformed", "the query string cannot be read");
        return;
    }
    if (!param(&q, "client_id", z->client_id, sizeof(z->client_id))) {
        evhttp_clear_headers(&q);
        free(s);
        stop(z, 400, "This application cannot sign in", "client_id is missing or too long");
        return;
    }
    s->has_redirect = param(&q, "redirect_uri", z->redirect, sizeof(z->redirect));
    param(&q, "state", z->state, sizeof(z->state));
    param(&q, "code_challenge", z->challenge, sizeof(z->challenge));
    param(&q, "scope", z->scope, sizeof(z->scope));
    param(&q, "response_type", s->response_type, sizeof(s->response_type));
    param(&q, "code_challenge_method", s->method, sizeof(s->method));
    s->has_resource = evhttp_find_header(&q, "resource") != NULL;
    if (s->has_resource && !param(&q, "resource", s->resource, sizeof(s->resource)))
        snprintf(s->resource, sizeof(s->resource), "(too long)");
    evhttp_clear_headers(&q);
    oauth_client_get(m, z->client_id, on_client, s);
}

static void get_authorize(struct jc_req *req, void *ud)
{
    oauth_metered(ud, req, do_authorize);
}

/* ---- GET /oauth/github/callback ---- */

/* The consent page: who, which org and role, which application, where it sends you, what it
 * may do. */
static void consent_page(struct az *z)
{
    struct evbuffer *b = evbuffer_new();
    struct evhttp_uri *u = evhttp_uri_parse_with_flags(z->redirect, 0);
    const char *scheme = u != NULL ? evhttp_uri_get_scheme(u) : NULL;
    const char *host = u != NULL ? evhttp_uri_get_host(u) : NULL;
    int port = u != NULL ? evhttp_uri_get_port(u) : -1;
    char origin[600] = "", action[700], where[600];
    char *name = evhttp_htmlescape(z->client_name), *login = evhttp_htmlescape(z->login);
    char *slug = evhttp_htmlescape(z->slug), *role = evhttp_htmlescape(z->role);
    char *cid = evhttp_htmlescape(z->client_id), *wh = NULL;
    const char *p = z->granted, *w;
    size_t n;

    /* the form's answer redirects to the client: CSP form-action must allow its origin */
    if (scheme != NULL && (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0) &&
        host != NULL) {
        if (port > 0)
            snprintf(origin, sizeof(origin), "%s://%s:%d", scheme, host, port);
        else
            snprintf(origin, sizeof(origin), "%s://%s", scheme, host);
        snprintf(where, sizeof(where), "%s", origin);
    } else if (scheme != NULL) {
        snprintf(origin, sizeof(origin), "%s:", scheme);
        snprintf(where, sizeof(where), "the application (%s:)", scheme);
    } else {
        snprintf(where, sizeof(where), "the application");
    }
    if (strspn(origin, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-:/[]") !=
        strlen(origin))
        origin[0] = '\0';
    snprintf(action, sizeof(action), "'self'%s%s", origin[0] != '\0' ? " " : "", origin);
    wh = evhttp_htmlescape(where);
    if (b == NULL || name == NULL || login == NULL || slug == NULL || role == NULL || cid == NULL ||
        wh == NULL) {
        stop(z, 503, "Sign-in is unavailable", "out of memory");
        goto out;
    }
    evbuffer_add_printf(
        b,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width\"><title>Allow %s? · JIVE</title>"
        "<style>%s</style></head><body><h1>Allow <span id=\"client\">%s</span> to use JIVE?</h1>"
        "<p>You are signed in with GitHub as <b id=\"login\">%s</b>, a <b id=\"role\">%s</b> of "
        "the JIVE org <b id=\"org\">%s</b>.</p>"
        "<p>The application identifies itself as <code>%s</code> (%s). After your answer, JIVE "
        "sends you back to <span class=\"host\" id=\"redirect-host\">%s</span>.</p>"
        "<p>It asks to:</p><ul id=\"scopes\">",
        name, oauth_page_style(), name, login, role, slug, cid,
        strcmp(z->client_kind, "operator") == 0   ? "registered by an operator"
        : strcmp(z->client_kind, "metadata") == 0 ? "described by its metadata document"
                                                  : "registered by the application itself",
        wh);
    while ((w = jc_parse_word(&p, " ", &n)) != NULL)
        evbuffer_add_printf(b, "<li><code>%.*s</code></li>", (int)n, w);
    evbuffer_add_printf(b,
                        "</ul><form method=\"post\" action=\"/oauth/consent\">"
                        "<input type=\"hidden\" name=\"request\" value=\"%s\">"
                        "<input type=\"hidden\" name=\"csrf\" value=\"%s\">"
                        "<button type=\"submit\" name=\"decision\" value=\"approve\" "
                        "id=\"approve\">Allow</button>"
                        "<button type=\"submit\" name=\"decision\" value=\"deny\" "
                        "id=\"deny\">Deny</button></form></body></html>",
                        z->id, z->csrf);
    audit(z, "github", "success", NULL);
    oauth_page_headers(z->m, z->req, action);
    jc_http_reply_raw(z->req, 200, "text/html; charset=utf-8", (const char *)evbuffer_pullup(b, -1),
                      evbuffer_get_length(b));
    az_free(z);
out:
    if (b != NULL)
        evbuffer_free(b);
    if (u != NULL)
        evhttp_uri_free(u);
    free(name);
    free(login);
    free(slug);
    free(role);
    free(cid);
    free(wh);
}

static void on_identity_saved(const PGresult *res, enum jc_err err, const char *errmsg, void *ud)
{
    struct az *z = ud;

    (void)res;
    if (err != JC_OK) {
        jc_error(z->m->app->log, "sign-in: cannot store the identity: %s", errmsg);
        stop(z, 503, "Sign-in is unavailable", "JIVE cannot reach its database.");
        return;
    }
    consent_page(z);
}

static void on_member(const PGresult *res, enum jc_err err, const char *errmsg, void *ud)
{
    struct az *z = ud;
    char text[400], id_hash[65], csrf_hash[65];
    const char *params[8];

    if (err != JC_OK) {
        jc_error(z->m->app->log, "sign-in: cannot read memberships: %s", errmsg);
        stop(z, 503, "Sign-in is unavailable", "JIVE cannot reach its database.");
        return;
    }
    if (PQntuples(res) != 1) {
        snprintf(text, sizeof(text),
                 "The GitHub user %s is not a member of any JIVE org. Ask an operator to add "
                 "you (jivectl member add).",
                 z->login);
        stop(z, 403, "You cannot sign in to JIVE", text);
        return;
    }
    snprintf(z->member_id, sizeof(z->member_id), "%s", PQgetvalue(res, 0, 0));
    snprintf(z->org_id, sizeof(z->org_id), "%s", PQgetvalue(res, 0, 1));
    snprintf(z->role, sizeof(z->role), "%s", PQgetvalue(res, 0, 2));
    snprintf(z->slug, sizeof(z->slug), "%s", PQgetvalue(res, 0, 3));
    /* what the client asked within the role; a request for nothing the role has gets the
     * role's scopes (RFC 6749 section 3.3: the server may issue another scope and says so) */
    oauth_grant(&z->m->app->cfg, z->role, z->scope, z->granted, sizeof(z->granted));
    if (z->granted[0] == '\0')
        oauth_grant(&z->m->app->cfg, z->role, NULL, z->granted, sizeof(z->granted));
    if (z->granted[0] == '\0') {
        snprintf(text, sizeof(text), "The role %s grants no scopes (JIVE_OAUTH_ROLES).", z->role);
        stop(z, 403, "You cannot sign in to JIVE", text);
        return;
    }
    if (jc_crypto_random_token(z->csrf, 32) != JC_OK) {
        stop(z, 503, "Sign-in is unavailable", "no randomness available");
        return;
    }
    oauth_hash(z->id, id_hash);
    oauth_hash(z->csrf, csrf_hash);
    params[0] = id_hash;
    params[1] = csrf_hash;
    params[2] = z->org_id;
    params[3] = z->member_id;
    params[4] = z->sub;
    params[5] = z->login;
    params[6] = z->granted;
    if (jc_pg_query(z->m->app->pg, 0,
                    "UPDATE oauth_requests SET csrf_hash = $2, org_id = $3, member_id = $4, "
                    "sub = $5, login = $6, granted = $7 WHERE id_hash = $1",
                    7, params, on_identity_saved, z) != JC_OK)
        stop(z, 503, "Sign-in is unavailable", "JIVE cannot reach its database.");
}

static void on_github_user(enum jc_err err, long long id, const char *login,
                           const char *const *orgs, const char *msg, void *ud)
{
    struct az *z = ud;
    char *orgs_lit = NULL;
    const char *params[3];
    size_t n = 0;

    if (err != JC_OK) {
        stop(z, err == JC_EAUTH ? 400 : 502, "GitHub sign-in failed", msg);
        return;
    }
    snprintf(z->sub, sizeof(z->sub), "%lld", id);
    snprintf(z->login, sizeof(z->login), "%s", login);
    while (orgs[n] != NULL)
        n++;
    orgs_lit = jc_pg_array_literal(orgs, (int)n);
    params[0] = z->sub;
    params[1] = z->login;
    params[2] = orgs_lit;
    /* a user recorded by login (and once seen, by id) comes before an organisation's members */
    if (orgs_lit == NULL ||
        jc_pg_query(z->m->app->pg, 0,
                    "WITH pick AS (SELECT m.id, m.org_id, m.role, o.slug, m.github_login FROM "
                    "org_members m JOIN orgs o ON o.id = m.org_id WHERE m.github_id = $1::bigint "
                    "OR (m.github_login = $2 AND m.github_id IS NULL) OR m.github_org = "
                    "ANY($3::text[]) ORDER BY (m.github_org IS NOT NULL), o.slug LIMIT 1), "
                    "seen AS (UPDATE org_members SET github_id = $1::bigint WHERE id = (SELECT id "
                    "FROM pick WHERE github_login IS NOT NULL) AND github_id IS NULL) "
                    "SELECT id, org_id, role, slug FROM pick",
                    3, params, on_member, z) != JC_OK)
        stop(z, 503, "Sign-in is unavailable", "JIVE cannot reach its database.");
    free(orgs_lit);
}

static void on_pending(const PGresult *res, enum jc_err err, const char *errmsg, void *ud)
{
    struct az *z = ud;
    struct evkeyvalq q;
    char browser[64], browser_hash[65], code[256], gh_error[64], callback[600];

    if (err != JC_OK) {
        jc_error(z->m->app->log, "sign-in: cannot read an authorization: %s", errmsg);
        stop(z, 503, "Sign-in is unavailable", "JIVE cannot reach its database.");
        return;
    }
    if (PQntuples(res) != 1) {
        stop(z, 400, "This sign-in is unknown",
             "JIVE has no sign-in with this state: it finished, or it did not start here. Start "
             "again from your application.");
        return;
    }
    snprintf(z->client_id, sizeof(z->client_id), "%s", PQgetvalue(res, 0, 1));
    snprintf(z->redirect, sizeof(z->redirect), "%s", PQgetvalue(res, 0, 2));
    snprintf(z->state, sizeof(z->state), "%s", PQgetvalue(res, 0, 3));
    snprintf(z->scope, sizeof(z->scope), "%s", PQgetvalue(res, 0, 4));
    snprintf(z->client_name, sizeof(z->client_name), "%s", PQgetvalue(res, 0, 6));
    snprintf(z->client_kind, sizeof(z->client_kind), "%s", PQgetvalue(res, 0, 7));
    if (PQgetvalue(res, 0, 5)[0] != 't') {
        stop(z, 400, "This sign-in expired", "Start again from your application.");
        return;
    }
    if (!oauth_cookie(z->req, OAUTH_COOKIE, browser, sizeof(browser)) ||
        (oauth_hash(browser, browser_hash),
         !jc_crypto_equal(browser_hash, 64, PQgetvalue(res, 0, 0), 64))) {
        stop(z, 400, "This sign-in belongs to another browser",
             "It was started in another browser (or its cookie is gone). Start again from your "
             "application in this browser.");
        return;
    }
    query(z->req, &q);
    if (param(&q, "error", gh_error, sizeof(gh_error))) {
        evhttp_clear_headers(&q);
        audit(z, "github", "denied", gh_error);
        to_client_error(z, 302, "access_denied", "the GitHub sign-in was not completed");
        az_free(z);
        return;
    }
    if (!param(&q, "code", code, sizeof(code))) {
        evhttp_clear_headers(&q);
        stop(z, 400, "GitHub sign-in failed", "GitHub sent no code back.");
        return;
    }
    evhttp_clear_headers(&q);
    snprintf(callback, sizeof(callback), "%s/oauth/github/callback", z->m->app->cfg.oauth_issuer);
    if (github_identify(z->m, code, callback, on_github_user, z) != JC_OK)
        stop(z, 503, "Sign-in is unavailable", "out of memory");
}

static void get_github_callback(struct jc_req *req, void *ud)
{
    struct mcp *m = ud;
    struct az *z = calloc(1, sizeof(*z));
    struct evkeyvalq q;
    char id_hash[65];
    const char *params[1];

    if (z == NULL) {
        jc_http_reply_error(req, 503, "unavailable", "out of memory");
        return;
    }
    z->m = m;
    z->req = req;
    if (!query(req, &q) || !param(&q, "state", z->id, sizeof(z->id))) {
        if (query(req, &q))
            evhttp_clear_headers(&q);
        stop(z, 400, "This sign-in is unknown", "GitHub sent no state back.");
        return;
    }
    evhttp_clear_headers(&q);
    oauth_hash(z->id, id_hash);
    params[0] = id_hash;
    if (jc_pg_query(m->app->pg, 0,
                    "SELECT r.browser_hash, r.client_id, r.redirect_uri, coalesce(r.state, ''), "
                    "r.scope, r.expires_at > now(), c.name, c.kind FROM oauth_requests r JOIN "
                    "oauth_clients c USING (client_id) WHERE r.id_hash = $1 AND r.sub IS NULL",
                    1, params, on_pending, z) != JC_OK)
        stop(z, 503, "Sign-in is unavailable", "JIVE cannot reach its database.");
}

/* ---- POST /oauth/consent ---- */

static void on_consent(const PGresult *res, enum jc_err err, const char *errmsg, void *ud)
{
    struct az *z = ud;

    if (err != JC_OK) {
        jc_error(z->m->app->log, "sign-in: cannot record a consent: %s", errmsg);
        stop(z, 503, "Sign-in is unavailable", "JIVE cannot reach its database.");
        return;
    }
    if (PQntuples(res) != 1) {
        audit(z, "consent", "denied", "consent form not issued to this browser or already used");
        oauth_page(z->m, z->req, 403, "This answer was not accepted",
                   "The consent form was not issued to this browser, or it was already "
                   "answered. Start again from your application.");
        az_free(z);
        return;
    }
    snprintf(z->redirect, sizeof(z->redirect), "%s", PQgetvalue(res, 0, 0));
    snprintf(z->state, sizeof(z->state), "%s", PQgetvalue(res, 0, 1));
    snprintf(z->client_id, sizeof(z->client_id), "%s", PQgetvalue(res, 0, 2));
    snprintf(z->org_id, sizeof(z->org_id), "%s", PQgetvalue(res, 0, 3));
    snprintf(z->sub, sizeof(z->sub), "%s", PQgetvalue(res, 0, 4));
    snprintf(z->login, sizeof(z->login), "%s", PQgetvalue(res, 0, 5));
    snprintf(z->granted, sizeof(z->granted), "%s", PQgetvalue(res, 0, 6));
    if (PQgetvalue(res, 0, 7)[0] != 't') {
        stop(z, 400, "This sign-in expired", "Start again from your application.");
        return;
    }
    if (PQgetvalue(res, 0, 8)[0] != 't') {
        audit(z, "consent", "denied", "the user denied");
        to_client_error(z, 303, "access_denied", "the user did not allow the application");
    } else {
        audit(z, "consent", "success", NULL);
        to_client(z, 303, (const char *[]){"code", z->code, NULL});
    }
    az_free(z);
}

static void post_consent(struct jc_req *req, void *ud)
{
    struct mcp *m = ud;
    struct az *z = calloc(1, sizeof(*z));
    struct evkeyvalq f;
    char csrf[64], decision[16], browser[64];
    char id_hash[65], csrf_hash[65], browser_hash[65], code_hash[65];
    const char *params[6];
    char ttl[16];

    if (z == NULL) {
        jc_http_reply_error(req, 503, "unavailable", "out of memory");
        return;
    }
    z->m = m;
    z->req = req;
    snprintf(ttl, sizeof(ttl), "%d", OAUTH_CODE_TTL_S);
    if (!oauth_form(req, &f)) {
        evhttp_clear_headers(&f);
        stop(z, 400, "This answer was not accepted", "The form could not be read.");
        return;
    }
    if (!param(&f, "request", z->id, sizeof(z->id)) || !param(&f, "csrf", csrf, sizeof(csrf)) ||
        !param(&f, "decision", decision, sizeof(decision)) ||
        (strcmp(decision, "approve") != 0 && strcmp(decision, "deny") != 0)) {
        evhttp_clear_headers(&f);
        audit(z, "consent", "invalid", "incomplete consent form");
        oauth_page(m, req, 400, "This answer was not accepted", "The form is incomplete.");
        az_free(z);
        return;
    }
    evhttp_clear_headers(&f);
    if (!oauth_cookie(req, OAUTH_COOKIE, browser, sizeof(browser)))
        browser[0] = '\0';
    if (jc_crypto_random_token(z->code, 32) != JC_OK) {
        stop(z, 503, "Sign-in is unavailable", "no randomness available");
        return;
    }
    oauth_hash(z->id, id_hash);
    oauth_hash(csrf, csrf_hash);
    oauth_hash(browser, browser_hash);
    oauth_hash(z->code, code_hash);
    params[0] = id_hash;
    params[1] = csrf_hash;
    params[2] = browser_hash;
    params[3] = decision;
    params[4] = code_hash;
    params[5] = ttl;
    if (jc_pg_query(
            m->app->pg, 0,
            "WITH r AS (DELETE FROM oauth_requests WHERE id_hash = $1 AND csrf_hash = $2 AND "
            "browser_hash = $3 AND sub IS NOT NULL RETURNING *), "
            "ok AS (SELECT * FROM r WHERE expires_at > now() AND $4 = 'approve'), "
            "c AS (INSERT INTO oauth_codes (code_hash, org_id, client_id, redirect_uri, "
            "code_challenge, member_id, sub, login, scope, resource, family, expires_at) SELECT "
            "$5, org_id, client_id, redirect_uri, code_challenge, member_id, sub, login, granted, "
            "resource, gen_random_uuid(), now() + make_interval(secs => $6::int) FROM ok RETURNING "
            "1), "
            "gc AS (DELETE FROM oauth_codes WHERE expires_at < now() - interval '1 day'), "
            "k AS (INSERT INTO oauth_consents (org_id, sub, client_id, scope) SELECT org_id, sub, "
            "client_id, granted FROM ok RETURNING 1) "
            "SELECT r.redirect_uri, coalesce(r.state, ''), r.client_id, r.org_id, r.sub, "
            "r.login, r.granted, r.expires_at > now(), (SELECT count(*) FROM c) > 0 FROM r",
            6, params, on_consent, z) != JC_OK)
        stop(z, 503, "Sign-in is unavailable", "JIVE cannot reach its database.");
}

enum jc_err oauth_authorize_routes(struct mcp *m)
{
    struct jc_http *h = m->app->http;
    enum jc_err rc = JC_OK;

    if (rc == JC_OK)
        rc = jc_http_route(h, "GET", "/authorize", get_authorize, m);
    if (rc == JC_OK)
        rc = jc_http_route(h, "GET", "/oauth/github/callback", get_github_callback, m);
    if (rc == JC_OK)
        rc = jc_http_route(h, "POST", "/oauth/consent", post_consent, m);
    return rc;
}
