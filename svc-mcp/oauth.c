/* SPDX-License-Identifier: MIT */
/*
 * oauth.c: the authorization server's metadata, registration, token and revocation endpoints,
 * and the helpers the sign-in files share (oauth.h). Secrets are kept only as SHA-256 hex:
 * codes, refresh tokens and client secrets are compared by their hashes in SQL.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <libpq-fe.h>
#include <openssl/evp.h>

#include "jc/clock.h"
#include "jc/crypto.h"
#include "jc/fetch.h"
#include "jc/keys.h"
#include "jc/later.h"
#include "jc/parse.h"
#include "jc/redirect.h"
#include "oauth.h"

#define CLIENT_DOC_MAX_BYTES (64 * 1024)
#define CLIENT_DOC_TIMEOUT_MS 5000
#define CLIENT_DOC_TTL "1 hour"
#define MAX_REDIRECT_URIS 10

/* The sign-in pages' only style; the CSP allows exactly this text by its hash. */
static const char page_style[] =
    "body{font:16px/1.5 system-ui,sans-serif;max-width:34em;margin:3em auto;padding:0 1em;"
    "color:#1b1f24}h1{font-size:1.4em}code{background:#f2f4f7;padding:0 .3em}"
    "ul{padding-left:1.2em}.host{font-weight:600}button{font:inherit;padding:.4em 1.2em;"
    "margin-right:.6em}";

/* ---- shared helpers ---- */

void oauth_hash(const char *s, char out[65])
{
    if (jc_crypto_sha256_hex(s, strlen(s), out) != JC_OK)
        out[0] = '\0';
}

void oauth_client_clear(struct oauth_client *c)
{
    char **u;

    for (u = c->redirect_uris; u != NULL && *u != NULL; u++)
        free(*u);
    free(c->redirect_uris);
    memset(c, 0, sizeof(*c));
}

bool oauth_form(struct jc_req *req, struct evkeyvalq *q)
{
    const char *ct = jc_req_header(req, "Content-Type");
    size_t len = 0;
    const char *body = jc_req_body(req, &len);

    TAILQ_INIT(q);
    if (ct == NULL || strncasecmp(ct, "application/x-www-form-urlencoded", 33) != 0)
        return false;
    return body == NULL || evhttp_parse_query_str(body, q) == 0;
}

void oauth_error(struct jc_req *req, int status, const char *error, const char *description)
{
    cJSON *e = cJSON_CreateObject();

    cJSON_AddStringToObject(e, "error", error);
    if (description != NULL)
        cJSON_AddStringToObject(e, "error_description", description);
    jc_req_add_header(req, "Pragma", "no-cache");
    jc_http_reply_json(req, status, e);
}

static void page_headers(struct jc_req *req, const char *style_hash, const char *form_action)
{
    char csp[700];

    snprintf(csp, sizeof(csp),
             "default-src 'none'; style-src '%s'; form-action %s; frame-ancestors 'none'; "
             "base-uri 'none'",
             style_hash, form_action != NULL ? form_action : "'none'");
    jc_req_add_header(req, "Content-Security-Policy", csp);
}

void oauth_page(struct mcp *m, struct jc_req *req, int status, const char *title, const char *text)
{
    char *t = evhttp_htmlescape(title), *x = evhttp_htmlescape(text);
    struct evbuffer *b = evbuffer_new();

    if (t != NULL && x != NULL && b != NULL) {
        evbuffer_add_printf(b,
                            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
                            "<title>%s · JIVE</title><style>%s</style></head><body><h1>%s</h1>"
                            "<p>%s</p></body></html>",
                            t, page_style, t, x);
        page_headers(req, m->page_style_hash, NULL);
        jc_http_reply_raw(req, status, "text/html; charset=utf-8",
                          (const char *)evbuffer_pullup(b, -1), evbuffer_get_length(b));
    } else {
        jc_http_reply_error(req, 503, "unavailable", "out of memory");
    }
    free(t);
    free(x);
    if (b != NULL)
        evbuffer_free(b);
}

bool oauth_cookie(struct jc_req *req, const char *name, char *out, size_t len)
{
    const char *h = jc_req_header(req, "Cookie");
    size_t n = strlen(name);

    while (h != NULL && *h != '\0') {
        h += strspn(h, " ;");
        if (strncmp(h, name, n) == 0 && h[n] == '=') {
            size_t v = strcspn(h + n + 1, ";");
            if (v == 0 || v >= len)
                return false;
            memcpy(out, h + n + 1, v);
            out[v] = '\0';
            return true;
        }
        h = strchr(h, ';');
    }
    return false;
}

void oauth_audit(struct mcp *m, struct jc_req *req, const struct oauth_audit *a)
{
    struct jc_audit_entry e = {0};
    char tool[40], addr[64];

    snprintf(tool, sizeof(tool), "oauth/%s", a->step);
    jc_req_client_addr(req, m->app->cfg.trust_proxy, addr, sizeof(addr));
    e.org_id = a->org_id != NULL && a->org_id[0] != '\0' ? a->org_id : NULL;
    e.actor_type = a->sub != NULL && a->sub[0] != '\0' ? "user" : "anonymous";
    e.actor_id = a->sub;
    e.actor_name = a->login;
    e.tool = tool;
    e.scope = a->scope;
    e.result = a->result;
    e.error = a->error;
    e.ip = addr[0] != '\0' ? addr : NULL;
    e.user_agent = jc_req_header(req, "User-Agent");
    e.request_id = req->request_id;
    e.traceparent = req->traceparent;
    e.client_id = a->client_id;
    e.duration_ms = (long)((jc_clock_mono() - req->start) * 1000.0);
    jc_audit_add(m->audit, &e);
}

void oauth_grant(const struct jc_config *cfg, const char *role, const char *want, char *out,
                 size_t len)
{
    char allowed[1024];
    const char *w, *p;
    size_t n, used = 0;

    out[0] = '\0';
    if (!jc_config_role_scopes(cfg, role, allowed, sizeof(allowed)))
        return;
    p = want != NULL && want[strspn(want, " ")] != '\0' ? want : allowed;
    while ((w = jc_parse_word(&p, " ", &n)) != NULL) {
        char one[128];
        if (n >= sizeof(one))
            continue;
        memcpy(one, w, n);
        one[n] = '\0';
        if (!jc_scope_has(allowed, one) || jc_scope_has(out, one)) /* not the role's, or twice */
            continue;
        if (used + n + 2 > len)
            break;
        used += (size_t)snprintf(out + used, len - used, "%s%s", used > 0 ? " " : "", one);
    }
}

/* ---- redirect URIs ---- */

bool oauth_redirect_allowed(const struct oauth_client *c, const char *uri)
{
    char **r;

    if (uri == NULL)
        return false;
    for (r = c->redirect_uris; r != NULL && *r != NULL; r++)
        if (jc_redirect_matches(*r, uri))
            return true;
    return false;
}

/* ---- clients ---- */

struct client_get {
    struct mcp *m;
    oauth_client_cb *cb;
    void *ud;
    struct oauth_client c;
    enum jc_err err;
    char msg[300];
    bool stale; /* a cached metadata document older than its lifetime */
};

static void client_done(struct client_get *g)
{
    g->cb(g->err, g->err == JC_OK ? &g->c : NULL, g->msg, g->ud);
    oauth_client_clear(&g->c);
    free(g);
}

static void client_done_later(void *arg)
{
    client_done(arg);
}

static void client_fail(struct client_get *g, enum jc_err err, const char *msg)
{
    g->err = err;
    snprintf(g->msg, sizeof(g->msg), "%s", msg);
    client_done(g);
}

/* The redirect URIs of a JSON array into c; false when one is not acceptable (why in msg). */
static bool take_redirects(struct oauth_client *c, const cJSON *arr, char *msg, size_t len)
{
    const cJSON *u;
    int n = cJSON_GetArraySize(arr), i = 0;
    const char *why = "not a string";

    if (!cJSON_IsArray(arr) || n < 1 || n > MAX_REDIRECT_URIS) {
        snprintf(msg, len, "redirect_uris must be an array of 1 to %d URIs", MAX_REDIRECT_URIS);
        return false;
    }
    c->redirect_uris = calloc((size_t)n + 1, sizeof(char *));
    if (c->redirect_uris == NULL) {
        snprintf(msg, len, "out of memory");
        return false;
    }
    cJSON_ArrayForEach(u, arr)
    {
        if (!cJSON_IsString(u) || !jc_redirect_acceptable(u->valuestring, &why)) {
            snprintf(msg, len, "redirect URI '%.200s': %s",
                     cJSON_IsString(u) ? u->valuestring : "(not a string)",
                     cJSON_IsString(u) ? why : "not a string");
            return false;
        }
        if ((c->redirect_uris[i++] = strdup(u->valuestring)) == NULL) {
            snprintf(msg, len, "out of memory");
            return false;
        }
    }
    return true;
}

static void on_client_row(const PGresult *res, enum jc_err err, const char *errmsg, void *ud);
static void fetch_client_doc(struct client_get *g);

static void on_client_saved(const PGresult *res, enum jc_err err, const char *errmsg, void *ud)
{
    struct client_get *g = ud;

    (void)res;
    if (err != JC_OK) {
        jc_error(g->m->app->log, "sign-in: cannot store a client metadata document: %s", errmsg);
        client_fail(g, JC_EPG, "the sign-in service is temporarily unavailable");
        return;
    }
    client_done(g);
}

static void on_client_doc(enum jc_err err, long status, const char *body, size_t len,
                          const char *errmsg, void *ud)
{
    struct client_get *g = ud;
    cJSON *doc = NULL, *uris;
    const char *id, *name, *auth;
    char msg[300], *uris_json = NULL, *doc_json = NULL;
    const char *params[4];

    if (err != JC_OK || status != 200) {
        snprintf(msg, sizeof(msg), "the client ID metadata document could not be fetched: %s",
                 err != JC_OK ? errmsg : "HTTP status is not 200");
        client_fail(g, JC_EINVAL, msg);
        return;
    }
    doc = cJSON_ParseWithLength(body, len);
    id = cJSON_GetStringValue(cJSON_GetObjectItem(doc, "client_id"));
    name = cJSON_GetStringValue(cJSON_GetObjectItem(doc, "client_name"));
    auth = cJSON_GetStringValue(cJSON_GetObjectItem(doc, "token_endpoint_auth_method"));
    if (!cJSON_IsObject(doc) || id == NULL || strcmp(id, g->c.client_id) != 0) {
        client_fail(g, JC_EINVAL,
                    "the client ID metadata document's client_id is not the URL it was fetched "
                    "from");
        goto out;
    }
    if (auth != NULL && strcmp(auth, "none") != 0) {
        client_fail(g, JC_EINVAL,
                    "a client known by its metadata document is public here "
                    "(token_endpoint_auth_method must be none)");
        goto out;
    }
    uris = cJSON_GetObjectItem(doc, "redirect_uris");
    oauth_client_clear(&g->c);
    snprintf(g->c.client_id, sizeof(g->c.client_id), "%s", id);
    if (!take_redirects(&g->c, uris, msg, sizeof(msg))) {
        client_fail(g, JC_EINVAL, msg);
        goto out;
    }
    snprintf(g->c.kind, sizeof(g->c.kind), "metadata");
    snprintf(g->c.name, sizeof(g->c.name), "%.200s", name != NULL ? name : id);
    uris_json = cJSON_PrintUnformatted(uris);
    doc_json = cJSON_PrintUnformatted(doc);
    params[0] = g->c.client_id;
    params[1] = g->c.name;
    params[2] = uris_json;
    params[3] = doc_json;
    if (uris_json == NULL || doc_json == NULL ||
        jc_pg_query(g->m->app->pg, 0,
                    "INSERT INTO oauth_clients (client_id, kind, name, redirect_uris, metadata, "
                    "fetched_at) SELECT $1, 'metadata', $2, array(SELECT jsonb_array_elements_text("
                    "$3::jsonb)), $4::jsonb, now() ON CONFLICT (client_id) DO UPDATE SET "
                    "name = EXCLUDED.name, redirect_uris = EXCLUDED.redirect_uris, "
                    "metadata = EXCLUDED.metadata, fetched_at = now() WHERE oauth_clients.kind = "
                    "'metadata'",
                    4, params, on_client_saved, g) != JC_OK)
        client_fail(g, JC_EPG, "the sign-in service is temporarily unavailable");
out:
    cJSON_free(uris_json);
    cJSON_free(doc_json);
    cJSON_Delete(doc);
}

/* A client_id that is a URL: the metadata document behind it (MCP 2026-07-28, "Client ID
 * Metadata Documents"), fetched over https only, from public addresses only outside development. */
static void fetch_client_doc(struct client_get *g)
{
    const char *headers[] = {"Accept: application/json", NULL};
    struct jc_fetch_req r = {.method = "GET",
                             .url = g->c.client_id,
                             .headers = headers,
                             .timeout_ms = CLIENT_DOC_TIMEOUT_MS,
                             .max_bytes = CLIENT_DOC_MAX_BYTES,
                             .https_only = true,
                             .public_only = !g->m->app->cfg.development};
    struct evhttp_uri *u = evhttp_uri_parse_with_flags(g->c.client_id, 0);
    const char *path = u != NULL ? evhttp_uri_get_path(u) : NULL;
    bool shape = u != NULL && evhttp_uri_get_fragment(u) == NULL &&
                 evhttp_uri_get_userinfo(u) == NULL && path != NULL && strlen(path) > 1;

    if (u != NULL)
        evhttp_uri_free(u);
    if (!shape) {
        g->err = JC_EINVAL;
        snprintf(g->msg, sizeof(g->msg),
                 "a client ID URL needs a path and no fragment or user name");
        jc_later(g->m->app->base, client_done_later, g);
        return;
    }
    if (jc_fetch_start(g->m->fetch, &r, on_client_doc, g) != JC_OK) {
        g->err = JC_ENOMEM;
        snprintf(g->msg, sizeof(g->msg), "out of memory");
        jc_later(g->m->app->base, client_done_later, g);
    }
}

static void on_client_row(const PGresult *res, enum jc_err err, const char *errmsg, void *ud)
{
    struct client_get *g = ud;
    cJSON *uris;
    char msg[300];

    if (err != JC_OK) {
        jc_error(g->m->app->log, "sign-in: cannot read a client: %s", errmsg);
        client_fail(g, JC_EPG, "the sign-in service is temporarily unavailable");
        return;
    }
    if (PQntuples(res) == 1 &&
        !(strcmp(PQgetvalue(res, 0, 0), "metadata") == 0 && PQgetvalue(res, 0, 4)[0] == 't')) {
        snprintf(g->c.kind, sizeof(g->c.kind), "%s", PQgetvalue(res, 0, 0));
        snprintf(g->c.name, sizeof(g->c.name), "%s", PQgetvalue(res, 0, 1));
        g->c.confidential = PQgetvalue(res, 0, 3)[0] == 't';
        uris = cJSON_Parse(PQgetvalue(res, 0, 2));
        /* stored URIs were acceptable when stored; read them back as they are */
        if (cJSON_IsArray(uris)) {
            const cJSON *u;
            int i = 0;
            g->c.redirect_uris = calloc((size_t)cJSON_GetArraySize(uris) + 1, sizeof(char *));
            cJSON_ArrayForEach(u, uris)
            {
                if (g->c.redirect_uris != NULL && cJSON_IsString(u))
                    g->c.redirect_uris[i++] = strdup(u->valuestring);
            }
        }
        cJSON_Delete(uris);
        if (g->c.redirect_uris == NULL) {
            client_fail(g, JC_ENOMEM, "out of memory");
            return;
        }
        client_done(g);
        return;
    }
    if (strncmp(g->c.client_id, "https://", 8) == 0) {
        fetch_client_doc(g);
        return;
    }
    snprintf(msg, sizeof(msg), "unknown client_id (register the client first)");
    client_fail(g, JC_ENOTFOUND, msg);
}

void oauth_client_get(struct mcp *m, const char *client_id, oauth_client_cb *cb, void *ud)
{
    struct client_get *g = calloc(1, sizeof(*g));
    const char *params[1];

    if (g == NULL)
        abort(); /* as jc_later: the promise of a callback cannot be kept */
    g->m = m;
    g->cb = cb;
    g->ud = ud;
    if (client_id == NULL || client_id[0] == '\0' || strlen(client_id) >= sizeof(g->c.client_id)) {
        g->err = JC_ENOTFOUND;
        snprintf(g->msg, sizeof(g->msg), "client_id is missing or too long");
        jc_later(m->app->base, client_done_later, g);
        return;
    }
    snprintf(g->c.client_id, sizeof(g->c.client_id), "%s", client_id);
    params[0] = client_id;
    if (jc_pg_query(m->app->pg, 0,
                    "SELECT kind, name, array_to_json(redirect_uris)::text, secret_hash IS NOT "
                    "NULL, coalesce(fetched_at < now() - interval '" CLIENT_DOC_TTL "', false) "
                    "FROM oauth_clients WHERE client_id = $1",
                    1, params, on_client_row, g) != JC_OK) {
        g->err = JC_EPG;
        snprintf(g->msg, sizeof(g->msg), "the sign-in service is temporarily unavailable");
        jc_later(m->app->base, client_done_later, g);
    }
}

/* ---- metadata ---- */

static void add_strings(cJSON *obj, const char *name, const char *const *v)
{
    cJSON *a = cJSON_AddArrayToObject(obj, name);

    for (; *v != NULL; v++)
        cJSON_AddItemToArray(a, cJSON_CreateString(*v));
}

/* The scopes any role can have, once each. */
static void add_scopes(const struct jc_config *cfg, cJSON *obj)
{
    cJSON *a = cJSON_AddArrayToObject(obj, "scopes_supported");
    const char *p = cfg->oauth_roles, *w;
    size_t n;

    while (p != NULL && *p != '\0') {
        const char *end = strchr(p, ';'), *eq = strchr(p, '=');
        const char *scopes;
        char one[128];
        if (eq == NULL || (end != NULL && eq > end))
            break;
        scopes = eq + 1;
        while ((w = jc_parse_word(&scopes, " ;", &n)) != NULL && (end == NULL || w < end)) {
            const cJSON *s;
            bool seen = false;
            if (n >= sizeof(one))
                continue;
            memcpy(one, w, n);
            one[n] = '\0';
            cJSON_ArrayForEach(s, a) seen = seen || strcmp(s->valuestring, one) == 0;
            if (!seen)
                cJSON_AddItemToArray(a, cJSON_CreateString(one));
        }
        p = end != NULL ? end + 1 : NULL;
    }
}

/* RFC 8414: what this authorization server does, and where. */
static void as_metadata(struct jc_req *req, void *ud)
{
    struct mcp *m = ud;
    const struct jc_config *cfg = &m->app->cfg;
    cJSON *d = cJSON_CreateObject();
    char url[600];

#define URL(name, path)                                                                            \
    do {                                                                                           \
        snprintf(url, sizeof(url), "%s%s", cfg->oauth_issuer, path);                               \
        cJSON_AddStringToObject(d, name, url);                                                     \
    } while (0)
    cJSON_AddStringToObject(d, "issuer", cfg->oauth_issuer);
    URL("authorization_endpoint", "/authorize");
    URL("token_endpoint", "/token");
    URL("registration_endpoint", "/register");
    URL("revocation_endpoint", "/revoke");
    URL("jwks_uri", "/.well-known/jwks.json");
#undef URL
    add_strings(d, "response_types_supported", (const char *[]){"code", NULL});
    add_strings(d, "response_modes_supported", (const char *[]){"query", NULL});
    add_strings(d, "grant_types_supported",
                (const char *[]){"authorization_code", "refresh_token", NULL});
    add_strings(d, "code_challenge_methods_supported", (const char *[]){"S256", NULL});
    add_strings(d, "token_endpoint_auth_methods_supported",
                (const char *[]){"none", "client_secret_basic", "client_secret_post", NULL});
    add_strings(d, "revocation_endpoint_auth_methods_supported",
                (const char *[]){"none", "client_secret_basic", "client_secret_post", NULL});
    add_scopes(cfg, d);
    cJSON_AddTrueToObject(d, "authorization_response_iss_parameter_supported");
    cJSON_AddTrueToObject(d, "client_id_metadata_document_supported");
    jc_req_add_header(req, "Cache-Control", "public, max-age=300");
    jc_http_reply_json(req, 200, d);
}

static void jwks(struct jc_req *req, void *ud)
{
    struct mcp *m = ud;
    const struct jc_config *cfg = &m->app->cfg;
    cJSON *d = cJSON_CreateObject(), *keys = cJSON_AddArrayToObject(d, "keys");
    cJSON *k = cJSON_CreateObject();

    cJSON_AddStringToObject(k, "kty", "EC");
    cJSON_AddStringToObject(k, "crv", "P-256");
    cJSON_AddStringToObject(k, "x", cfg->oauth_jwk_x);
    cJSON_AddStringToObject(k, "y", cfg->oauth_jwk_y);
    cJSON_AddStringToObject(k, "use", "sig");
    cJSON_AddStringToObject(k, "alg", "ES256");
    cJSON_AddStringToObject(k, "kid", cfg->oauth_kid);
    cJSON_AddItemToArray(keys, k);
    jc_req_add_header(req, "Cache-Control", "public, max-age=300");
    jc_http_reply_json(req, 200, d);
}

/* ---- anonymous endpoints are metered per client address ---- */

struct metered {
    struct mcp *m;
    struct jc_req *req;
    jc_http_handler *then;
};

static void on_signin_rate(const struct jc_rate *rate, void *ud)
{
    struct metered *x = ud;
    char v[32];

    if (!rate->allowed) {
        snprintf(v, sizeof(v), "%ld", (rate->retry_after_ms + 999) / 1000);
        jc_req_add_header(x->req, "Retry-After", v);
        oauth_error(x->req, 429, "slow_down", "too many sign-in requests from this address");
    } else {
        x->then(x->req, x->m);
    }
    free(x);
}

/* Runs then(req, m) when the client address's sign-in bucket allows it, else answers 429. */
void oauth_metered(struct mcp *m, struct jc_req *req, jc_http_handler *then)
{
    struct metered *x = malloc(sizeof(*x));
    char addr[64], key[200];

    if (x == NULL) {
        oauth_error(req, 503, "temporarily_unavailable", "out of memory");
        return;
    }
    x->m = m;
    x->req = req;
    x->then = then;
    jc_req_client_addr(req, m->app->cfg.trust_proxy, addr, sizeof(addr));
    jc_key_rate(key, sizeof(key), "signin", addr);
    if (jc_ratelimit_take(&m->rl, key, m->app->cfg.signin_rate_per_minute, on_signin_rate, x) !=
        JC_OK) {
        free(x);
        then(req, m); /* as when Redis does not answer: unchecked */
    }
}

/* ---- POST /register (RFC 7591) ---- */

struct reg {
    struct mcp *m;
    struct jc_req *req;
    cJSON *answer;
    char client_id[64];
    char name[256];
};

static void on_registered(const PGresult *res, enum jc_err err, const char *errmsg, void *ud)
{
    struct reg *r = ud;
    struct oauth_audit a = {.step = "register", .client_id = r->client_id};

    (void)res;
    if (err != JC_OK) {
        jc_error(r->m->app->log, "sign-in: cannot store a client: %s", errmsg);
        a.result = "error";
        a.error = "database";
        oauth_audit(r->m, r->req, &a);
        oauth_error(r->req, 503, "temporarily_unavailable", "try again shortly");
        cJSON_Delete(r->answer);
    } else {
        a.result = "success";
        oauth_audit(r->m, r->req, &a);
        jc_http_reply_json(r->req, 201, r->answer);
    }
    free(r);
}

static void do_register(struct jc_req *req, void *ud)
{
    struct mcp *m = ud;
    size_t len = 0;
    const char *body = jc_req_body(req, &len);
    cJSON *in = body != NULL ? cJSON_ParseWithLength(body, len) : NULL, *out = NULL, *v;
    struct oauth_client c = {0};
    struct reg *r = NULL;
    const char *name, *auth, *params[5];
    char msg[300], secret[48] = "", secret_hash[65] = "", *uris = NULL, *meta = NULL;
    const cJSON *g;
    struct oauth_audit a = {.step = "register", .result = "invalid"};

    if (!cJSON_IsObject(in)) {
        a.error = "not a JSON object";
        oauth_audit(m, req, &a);
        oauth_error(req, 400, "invalid_client_metadata", "the body must be a JSON object");
        goto out;
    }
    name = cJSON_GetStringValue(cJSON_GetObjectItem(in, "client_name"));
    auth = cJSON_GetStringValue(cJSON_GetObjectItem(in, "token_endpoint_auth_method"));
    if (auth == NULL)
        auth = "client_secret_basic"; /* RFC 7591 section 2's default */
    if (strcmp(auth, "none") != 0 && strcmp(auth, "client_secret_basic") != 0 &&
        strcmp(auth, "client_secret_post") != 0) {
        a.error = "token_endpoint_auth_method";
        oauth_audit(m, req, &a);
        oauth_error(req, 400, "invalid_client_metadata",
                    "token_endpoint_auth_method must be none, client_secret_basic or "
                    "client_secret_post");
        goto out;
    }
    cJSON_ArrayForEach(g, cJSON_GetObjectItem(in, "grant_types"))
    {
        if (!cJSON_IsString(g) || (strcmp(g->valuestring, "authorization_code") != 0 &&
                                   strcmp(g->valuestring, "refresh_token") != 0)) {
            a.error = "grant_types";
            oauth_audit(m, req, &a);
            oauth_error(req, 400, "invalid_client_metadata",
                        "grant_types may be authorization_code and refresh_token only");
            goto out;
        }
    }
    cJSON_ArrayForEach(g, cJSON_GetObjectItem(in, "response_types"))
    {
        if (!cJSON_IsString(g) || strcmp(g->valuestring, "code") != 0) {
            a.error = "response_types";
            oauth_audit(m, req, &a);
            oauth_error(req, 400, "invalid_client_metadata", "response_types may be code only");
            goto out;
        }
    }
    if (name != NULL && strlen(name) > 200) {
        a.error = "client_name";
        oauth_audit(m, req, &a);
        oauth_error(req, 400, "invalid_client_metadata", "client_name is longer than 200");
        goto out;
    }
    if (!take_redirects(&c, cJSON_GetObjectItem(in, "redirect_uris"), msg, sizeof(msg))) {
        a.error = msg;
        oauth_audit(m, req, &a);
        oauth_error(req, 400, "invalid_redirect_uri", msg);
        goto out;
    }
    r = calloc(1, sizeof(*r));
    if (r == NULL || jc_crypto_random_token(r->client_id + 5, 18) != JC_OK) {
        oauth_error(req, 503, "temporarily_unavailable", "try again shortly");
        goto out;
    }
    memcpy(r->client_id, "jive-", 5);
    snprintf(r->name, sizeof(r->name), "%s", name != NULL ? name : "unnamed client");
    if (strcmp(auth, "none") != 0) {
        if (jc_crypto_random_token(secret, 32) != JC_OK) {
            oauth_error(req, 503, "temporarily_unavailable", "try again shortly");
            goto out;
        }
        oauth_hash(secret, secret_hash);
    }
    out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "client_id", r->client_id);
    cJSON_AddNumberToObject(out, "client_id_issued_at", (double)time(NULL));
    cJSON_AddStringToObject(out, "client_name", r->name);
    v = cJSON_Duplicate(cJSON_GetObjectItem(in, "redirect_uris"), 1);
    cJSON_AddItemToObject(out, "redirect_uris", v);
    add_strings(out, "grant_types", (const char *[]){"authorization_code", "refresh_token", NULL});
    add_strings(out, "response_types", (const char *[]){"code", NULL});
    cJSON_AddStringToObject(out, "token_endpoint_auth_method", auth);
    uris = cJSON_PrintUnformatted(v);
    meta = cJSON_PrintUnformatted(out); /* stored without the secret */
    if (secret[0] != '\0') {
        cJSON_AddStringToObject(out, "client_secret", secret);
        cJSON_AddNumberToObject(out, "client_secret_expires_at", 0);
    }
    r->m = m;
    r->req = req;
    r->answer = out;
    params[0] = r->client_id;
    params[1] = r->name;
    params[2] = uris;
    params[3] = secret[0] != '\0' ? secret_hash : NULL;
    params[4] = meta;
    if (uris == NULL || meta == NULL ||
        jc_pg_query(m->app->pg, 0,
                    "INSERT INTO oauth_clients (client_id, kind, name, redirect_uris, secret_hash, "
                    "metadata) SELECT $1, 'registered', $2, array(SELECT jsonb_array_elements_text("
                    "$3::jsonb)), $4, $5::jsonb",
                    5, params, on_registered, r) != JC_OK) {
        oauth_error(req, 503, "temporarily_unavailable", "try again shortly");
        goto out;
    }
    r = NULL;
    out = NULL;
out:
    cJSON_Delete(out);
    cJSON_free(uris);
    cJSON_free(meta);
    free(r);
    oauth_client_clear(&c);
    cJSON_Delete(in);
}

static void post_register(struct jc_req *req, void *ud)
{
    oauth_metered(ud, req, do_register);
}

/* ---- POST /token ---- */

struct tok {
    struct mcp *m;
    struct jc_req *req;
    struct evkeyvalq form;
    char client_id[512];
    char secret[256];
    bool refresh_grant;
    char refresh[48]; /* the new refresh token */
    char refresh_hash[65];
    char presented_hash[65]; /* the code's or the old refresh token's */
    char challenge[48];      /* S256 of the verifier */
    char family[40];
    struct oauth_audit a;
    char org_id[40], sub[128], login[64], scope[1024];
};

static void tok_free(struct tok *t)
{
    evhttp_clear_headers(&t->form);
    memset(t->secret, 0, sizeof(t->secret));
    memset(t->refresh, 0, sizeof(t->refresh));
    free(t);
}

static void tok_refuse(struct tok *t, int status, const char *error, const char *why)
{
    t->a.result = strcmp(error, "invalid_request") == 0 ? "invalid" : "denied";
    t->a.error = why;
    oauth_audit(t->m, t->req, &t->a);
    if (status == 401)
        jc_req_add_header(t->req, "WWW-Authenticate", "Basic realm=\"jive\"");
    oauth_error(t->req, status, error, why);
    tok_free(t);
}

static void tok_unavailable(struct tok *t, const char *errmsg)
{
    jc_error(t->m->app->log, "sign-in: token endpoint: %s", errmsg);
    t->a.result = "error";
    t->a.error = "database";
    oauth_audit(t->m, t->req, &t->a);
    oauth_error(t->req, 503, "temporarily_unavailable", "try again shortly");
    tok_free(t);
}

static void on_family_revoked(const PGresult *res, enum jc_err err, const char *errmsg, void *ud)
{
    struct tok *t = ud;

    (void)res;
    if (err != JC_OK)
        jc_error(t->m->app->log, "sign-in: cannot revoke a token family: %s", errmsg);
    tok_refuse(t, 400, "invalid_grant",
               t->refresh_grant ? "this refresh token was already used; every token of this "
                                  "sign-in is now revoked"
                                : "this code was already used; the tokens issued for it are "
                                  "revoked");
}

/* A presented secret that was used before: everything issued from it is revoked. */
static void revoke_family(struct tok *t)
{
    const char *params[1] = {t->family};

    if (jc_pg_query(t->m->app->pg, 0,
                    "UPDATE oauth_refresh_tokens SET revoked_at = now() WHERE family = $1 AND "
                    "revoked_at IS NULL",
                    1, params, on_family_revoked, t) != JC_OK)
        on_family_revoked(NULL, JC_EPG, "cannot queue", t);
}

/* Mints the access token and answers with it and the new refresh token. */
static void issue(struct tok *t, const char *slug, const char *role)
{
    const struct jc_config *cfg = &t->m->app->cfg;
    char granted[1024], err[200], *access = NULL;
    const char *narrow = evhttp_find_header(&t->form, "scope");
    struct jc_auth_claims claims = {0};
    cJSON *out;

    /* the role's scopes today, within what was granted, within what this request asks */
    oauth_grant(cfg, role, t->scope, granted, sizeof(granted));
    if (narrow != NULL && narrow[0] != '\0') {
        char tmp[1024];
        const char *p = narrow, *w;
        size_t n, used = 0;
        tmp[0] = '\0';
        while ((w = jc_parse_word(&p, " ", &n)) != NULL) {
            char one[128];
            if (n >= sizeof(one))
                continue;
            memcpy(one, w, n);
            one[n] = '\0';
            if (jc_scope_has(granted, one) && !jc_scope_has(tmp, one) && used + n + 2 < sizeof(tmp))
                used += (size_t)snprintf(tmp + used, sizeof(tmp) - used, "%s%s",
                                         used > 0 ? " " : "", one);
        }
        snprintf(granted, sizeof(granted), "%s", tmp);
    }
    claims.sub = t->sub;
    claims.name = t->login;
    claims.org = slug;
    claims.org_id = t->org_id;
    claims.scopes = granted;
    claims.client_id = t->client_id;
    claims.role = role;
    claims.ttl_ms = cfg->oauth_access_ttl_s * 1000;
    if (jc_auth_mint_signed_in(cfg, &claims, &access, err, sizeof(err)) != JC_OK) {
        tok_unavailable(t, err);
        return;
    }
    t->a.scope = granted;
    t->a.result = "success";
    oauth_audit(t->m, t->req, &t->a);
    out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "access_token", access);
    cJSON_AddStringToObject(out, "token_type", "Bearer");
    cJSON_AddNumberToObject(out, "expires_in", (double)cfg->oauth_access_ttl_s);
    cJSON_AddStringToObject(out, "refresh_token", t->refresh);
    cJSON_AddStringToObject(out, "scope", granted);
    free(access);
    jc_req_add_header(t->req, "Pragma", "no-cache");
    jc_http_reply_json(t->req, 200, out);
    tok_free(t);
}

static void copy_identity(struct tok *t, const PGresult *res, int org, int sub, int login,
                          int scope, int family)
{
    snprintf(t->org_id, sizeof(t->org_id), "%s", PQgetvalue(res, 0, org));
    snprintf(t->sub, sizeof(t->sub), "%s", PQgetvalue(res, 0, sub));
    snprintf(t->login, sizeof(t->login), "%s", PQgetvalue(res, 0, login));
    snprintf(t->scope, sizeof(t->scope), "%s", PQgetvalue(res, 0, scope));
    snprintf(t->family, sizeof(t->family), "%s", PQgetvalue(res, 0, family));
    t->a.org_id = t->org_id;
    t->a.sub = t->sub;
    t->a.login = t->login;
}

#define YES(col) (PQgetvalue(res, 0, (col))[0] == 't')

static void on_code_exchanged(const PGresult *res, enum jc_err err, const char *errmsg, void *ud)
{
    struct tok *t = ud;

    if (err != JC_OK) {
        tok_unavailable(t, errmsg);
        return;
    }
    if (PQntuples(res) != 1) {
        tok_refuse(t, 400, "invalid_grant", "unknown authorization code");
        return;
    }
    /* reused, expired, client, redirect, pkce, resource, issued, org_id, slug, sub, login,
     * scope, role, family */
    copy_identity(t, res, 7, 9, 10, 11, 13);
    if (YES(0)) {
        revoke_family(t);
        return;
    }
    if (YES(1))
        tok_refuse(t, 400, "invalid_grant", "the authorization code expired");
    else if (!YES(2))
        tok_refuse(t, 400, "invalid_grant", "the authorization code was issued to another client");
    else if (!YES(3))
        tok_refuse(t, 400, "invalid_grant",
                   "redirect_uri is not the one the authorization code was issued for");
    else if (!YES(4))
        tok_refuse(t, 400, "invalid_grant", "the PKCE code_verifier does not match the challenge");
    else if (!YES(5))
        tok_refuse(t, 400, "invalid_target", "resource is not the one that was authorized");
    else if (!YES(6))
        tok_refuse(t, 400, "invalid_grant", "the authorization code cannot be used");
    else
        issue(t, PQgetvalue(res, 0, 8), PQgetvalue(res, 0, 12));
}

static void on_refreshed(const PGresult *res, enum jc_err err, const char *errmsg, void *ud)
{
    struct tok *t = ud;

    if (err != JC_OK) {
        tok_unavailable(t, errmsg);
        return;
    }
    if (PQntuples(res) != 1) {
        tok_refuse(t, 400, "invalid_grant", "unknown or revoked refresh token");
        return;
    }
    /* reused, revoked, expired, client, issued, org_id, slug, sub, login, scope, role, family */
    copy_identity(t, res, 5, 7, 8, 9, 11);
    if (!YES(3)) {
        tok_refuse(t, 400, "invalid_grant", "the refresh token was issued to another client");
        return;
    }
    if (YES(1)) {
        tok_refuse(t, 400, "invalid_grant", "the refresh token was revoked");
        return;
    }
    if (YES(0)) {
        revoke_family(t);
        return;
    }
    if (YES(2))
        tok_refuse(t, 400, "invalid_grant", "the refresh token expired");
    else if (!YES(4))
        tok_refuse(t, 400, "invalid_grant", "the refresh token cannot be used");
    else
        issue(t, PQgetvalue(res, 0, 6), PQgetvalue(res, 0, 10));
}

#undef YES

/* True when v is a PKCE code_verifier (RFC 7636 section 4.1). */
static bool verifier_ok(const char *v)
{
    size_t n = v != NULL ? strlen(v) : 0;

    return n >= 43 && n <= 128 &&
           strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~") == n;
}

/* The resource a request names is this server's (exactly, or but for a trailing slash). */
static bool resource_ours(const struct jc_config *cfg, const char *r)
{
    size_t n = strlen(cfg->jwt_audience), rn = r != NULL ? strlen(r) : 0;

    return r != NULL && (strcmp(r, cfg->jwt_audience) == 0 ||
                         (rn == n + 1 && r[n] == '/' && strncmp(r, cfg->jwt_audience, n) == 0) ||
                         (n > 0 && rn + 1 == n && cfg->jwt_audience[rn] == '/' &&
                          strncmp(r, cfg->jwt_audience, rn) == 0));
}

bool oauth_resource_ours(const struct jc_config *cfg, const char *resource)
{
    return resource_ours(cfg, resource);
}

static void tok_exchange(struct tok *t)
{
    const struct jc_config *cfg = &t->m->app->cfg;
    const char *code = evhttp_find_header(&t->form, "code");
    const char *redirect = evhttp_find_header(&t->form, "redirect_uri");
    const char *verifier = evhttp_find_header(&t->form, "code_verifier");
    const char *resource = evhttp_find_header(&t->form, "resource");
    unsigned char digest[JC_SHA256_LEN];
    char ttl[24];
    const char *params[7];

    if (code == NULL || redirect == NULL) {
        tok_refuse(t, 400, "invalid_request", "code and redirect_uri are required");
        return;
    }
    if (!verifier_ok(verifier)) {
        tok_refuse(t, 400, "invalid_grant",
                   "code_verifier is required: 43 to 128 characters of A-Z a-z 0-9 - . _ ~");
        return;
    }
    if (resource != NULL && !resource_ours(cfg, resource)) {
        tok_refuse(t, 400, "invalid_target", "resource names another server");
        return;
    }
    if (jc_crypto_sha256(verifier, strlen(verifier), digest) != JC_OK ||
        jc_crypto_random_token(t->refresh, 32) != JC_OK) {
        tok_unavailable(t, "no randomness or digest");
        return;
    }
    jc_crypto_base64url(digest, sizeof(digest), t->challenge, sizeof(t->challenge));
    oauth_hash(code, t->presented_hash);
    oauth_hash(t->refresh, t->refresh_hash);
    snprintf(ttl, sizeof(ttl), "%ld", cfg->oauth_refresh_ttl_s);
    params[0] = t->presented_hash;
    params[1] = t->client_id;
    params[2] = redirect;
    params[3] = t->challenge;
    params[4] = cfg->jwt_audience;
    params[5] = t->refresh_hash;
    params[6] = ttl;
    if (jc_pg_query(
            t->m->app->pg, 0,
            "WITH prev AS (SELECT c.*, o.slug, m.role FROM oauth_codes c JOIN orgs o ON o.id = "
            "c.org_id JOIN org_members m ON m.id = c.member_id WHERE c.code_hash = $1 FOR UPDATE "
            "OF c), "
            "used AS (UPDATE oauth_codes c SET used_at = now() FROM prev WHERE c.code_hash = "
            "prev.code_hash AND prev.used_at IS NULL RETURNING c.code_hash), "
            "ok AS (SELECT prev.* FROM prev JOIN used USING (code_hash) WHERE prev.expires_at > "
            "now() AND prev.client_id = $2 AND prev.redirect_uri = $3 AND prev.code_challenge = "
            "$4 AND prev.resource = $5), "
            "ins AS (INSERT INTO oauth_refresh_tokens (token_hash, family, org_id, client_id, "
            "member_id, sub, login, scope, resource, expires_at) SELECT $6, family, org_id, "
            "client_id, member_id, sub, login, scope, resource, now() + make_interval(secs => "
            "$7::int) FROM ok RETURNING 1) "
            "SELECT prev.used_at IS NOT NULL, prev.expires_at <= now(), prev.client_id = $2, "
            "prev.redirect_uri = $3, prev.code_challenge = $4, prev.resource = $5, "
            "(SELECT count(*) FROM ins) > 0, prev.org_id, prev.slug, prev.sub, prev.login, "
            "prev.scope, prev.role, prev.family FROM prev",
            7, params, on_code_exchanged, t) != JC_OK)
        tok_unavailable(t, "cannot queue the exchange");
}

static void tok_refresh(struct tok *t)
{
    const struct jc_config *cfg = &t->m->app->cfg;
    const char *old = evhttp_find_header(&t->form, "refresh_token");
    const char *resource = evhttp_find_header(&t->form, "resource");
    char ttl[24];
    const char *params[4];

    t->refresh_grant = true;
    if (old == NULL || old[0] == '\0') {
        tok_refuse(t, 400, "invalid_request", "refresh_token is required");
        return;
    }
    if (resource != NULL && !resource_ours(cfg, resource)) {
        tok_refuse(t, 400, "invalid_target", "resource names another server");
        return;
    }
    if (jc_crypto_random_token(t->refresh, 32) != JC_OK) {
        tok_unavailable(t, "no randomness");
        return;
    }
    oauth_hash(old, t->presented_hash);
    oauth_hash(t->refresh, t->refresh_hash);
    snprintf(ttl, sizeof(ttl), "%ld", cfg->oauth_refresh_ttl_s);
    params[0] = t->presented_hash;
    params[1] = t->client_id;
    params[2] = t->refresh_hash;
    params[3] = ttl;
    if (jc_pg_query(
            t->m->app->pg, 0,
            "WITH prev AS (SELECT t.*, o.slug, m.role FROM oauth_refresh_tokens t JOIN orgs o ON "
            "o.id = t.org_id JOIN org_members m ON m.id = t.member_id WHERE t.token_hash = $1 "
            "FOR UPDATE OF t), "
            "used AS (UPDATE oauth_refresh_tokens t SET used_at = now() FROM prev WHERE "
            "t.token_hash = prev.token_hash AND prev.used_at IS NULL AND prev.revoked_at IS NULL "
            "AND prev.expires_at > now() AND prev.client_id = $2 RETURNING t.token_hash), "
            "ins AS (INSERT INTO oauth_refresh_tokens (token_hash, family, org_id, client_id, "
            "member_id, sub, login, scope, resource, expires_at) SELECT $3, family, org_id, "
            "client_id, member_id, sub, login, scope, resource, now() + make_interval(secs => "
            "$4::int) FROM prev JOIN used USING (token_hash) RETURNING 1) "
            "SELECT prev.used_at IS NOT NULL, prev.revoked_at IS NOT NULL, prev.expires_at <= "
            "now(), prev.client_id = $2, (SELECT count(*) FROM ins) > 0, prev.org_id, prev.slug, "
            "prev.sub, prev.login, prev.scope, prev.role, prev.family FROM prev",
            4, params, on_refreshed, t) != JC_OK)
        tok_unavailable(t, "cannot queue the refresh");
}

/* The client's credentials: HTTP Basic (RFC 6749 section 2.3.1) or client_id/client_secret in
 * the form. False when they are malformed or given both ways. */
static bool client_credentials(struct tok *t)
{
    const char *basic = jc_req_header(t->req, "Authorization");
    const char *id = evhttp_find_header(&t->form, "client_id");
    const char *secret = evhttp_find_header(&t->form, "client_secret");

    if (basic != NULL && strncasecmp(basic, "Basic ", 6) == 0) {
        unsigned char raw[1024];
        char b64[1400], *colon, *did, *dsec;
        size_t n = strlen(basic + 6);
        int got;
        if (secret != NULL || n == 0 || n >= sizeof(b64) || n % 4 != 0)
            return false;
        memcpy(b64, basic + 6, n + 1);
        got = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)n);
        if (got <= 0)
            return false;
        while (got > 0 && b64[n - 1] == '=' && raw[got - 1] == '\0') { /* padding decodes as 0 */
            got--;
            n--;
        }
        raw[got] = '\0';
        colon = strchr((char *)raw, ':');
        if (colon == NULL)
            return false;
        *colon = '\0';
        did = evhttp_decode_uri((char *)raw);
        dsec = evhttp_decode_uri(colon + 1);
        if (did == NULL || dsec == NULL || (id != NULL && strcmp(id, did) != 0)) {
            free(did);
            free(dsec);
            return false;
        }
        snprintf(t->client_id, sizeof(t->client_id), "%s", did);
        snprintf(t->secret, sizeof(t->secret), "%s", dsec);
        free(did);
        free(dsec);
        return t->client_id[0] != '\0';
    }
    if (id == NULL || id[0] == '\0' || strlen(id) >= sizeof(t->client_id))
        return false;
    snprintf(t->client_id, sizeof(t->client_id), "%s", id);
    snprintf(t->secret, sizeof(t->secret), "%s", secret != NULL ? secret : "");
    return true;
}

static void on_secret_checked(const PGresult *res, enum jc_err err, const char *errmsg, void *ud)
{
    struct tok *t = ud;
    const char *grant = evhttp_find_header(&t->form, "grant_type");

    if (err != JC_OK) {
        tok_unavailable(t, errmsg);
        return;
    }
    if (PQntuples(res) != 1 || PQgetvalue(res, 0, 0)[0] != 't') {
        tok_refuse(t, 401, "invalid_client", "client authentication failed");
        return;
    }
    if (strcmp(grant, "authorization_code") == 0)
        tok_exchange(t);
    else
        tok_refresh(t);
}

/* A token or revocation request with its form read; NULL after answering (out of memory, a
 * body that is not a form). */
static struct tok *tok_begin(struct mcp *m, struct jc_req *req, const char *step)
{
    struct tok *t = calloc(1, sizeof(*t));

    if (t == NULL) {
        oauth_error(req, 503, "temporarily_unavailable", "out of memory");
        return NULL;
    }
    t->m = m;
    t->req = req;
    t->a.step = step;
    t->a.client_id = t->client_id;
    if (!oauth_form(req, &t->form)) {
        tok_refuse(t, 400, "invalid_request", "the body must be application/x-www-form-urlencoded");
        return NULL;
    }
    return t;
}

static void do_token(struct jc_req *req, void *ud)
{
    struct mcp *m = ud;
    struct tok *t = tok_begin(m, req, "token");
    const char *grant;
    char secret_hash[65];
    const char *params[2];

    if (t == NULL)
        return;
    grant = evhttp_find_header(&t->form, "grant_type");
    if (grant == NULL) {
        tok_refuse(t, 400, "invalid_request", "grant_type is required");
        return;
    }
    if (strcmp(grant, "refresh_token") == 0)
        t->a.step = "refresh";
    if (strcmp(grant, "authorization_code") != 0 && strcmp(grant, "refresh_token") != 0) {
        tok_refuse(t, 400, "unsupported_grant_type",
                   "grant_type must be authorization_code or refresh_token");
        return;
    }
    if (!client_credentials(t)) {
        tok_refuse(t, 401, "invalid_client",
                   "client_id is required (in the form, or with its secret as HTTP Basic)");
        return;
    }
    /* a public client has no secret and must send none; a confidential one must send its own */
    oauth_hash(t->secret, secret_hash);
    params[0] = t->client_id;
    params[1] = t->secret[0] != '\0' ? secret_hash : NULL;
    if (jc_pg_query(m->app->pg, 0,
                    "SELECT secret_hash IS NOT DISTINCT FROM $2 FROM oauth_clients WHERE "
                    "client_id = $1",
                    2, params, on_secret_checked, t) != JC_OK)
        tok_unavailable(t, "cannot queue the client check");
}

static void post_token(struct jc_req *req, void *ud)
{
    oauth_metered(ud, req, do_token);
}

/* ---- POST /revoke (RFC 7009) ---- */

static void on_revoked(const PGresult *res, enum jc_err err, const char *errmsg, void *ud)
{
    struct tok *t = ud;

    if (err != JC_OK) {
        tok_unavailable(t, errmsg);
        return;
    }
    t->a.result = "success";
    if (PQntuples(res) > 0) {
        snprintf(t->org_id, sizeof(t->org_id), "%s", PQgetvalue(res, 0, 0));
        snprintf(t->sub, sizeof(t->sub), "%s", PQgetvalue(res, 0, 1));
        snprintf(t->login, sizeof(t->login), "%s", PQgetvalue(res, 0, 2));
        t->a.org_id = t->org_id;
        t->a.sub = t->sub;
        t->a.login = t->login;
    } else {
        t->a.error = "no such refresh token of this client (answered 200 as RFC 7009 asks)";
    }
    oauth_audit(t->m, t->req, &t->a);
    jc_http_reply_raw(t->req, 200, "application/json", "{}", 2);
    tok_free(t);
}

static void do_revoke(struct jc_req *req, void *ud)
{
    struct mcp *m = ud;
    struct tok *t = tok_begin(m, req, "revoke");
    const char *token, *params[3];
    char secret_hash[65];

    if (t == NULL)
        return;
    token = evhttp_find_header(&t->form, "token");
    if (token == NULL || token[0] == '\0') {
        tok_refuse(t, 400, "invalid_request", "token is required");
        return;
    }
    if (!client_credentials(t)) {
        tok_refuse(t, 401, "invalid_client", "client_id is required");
        return;
    }
    /* a refresh token revokes its whole family; an access token (a JWT) cannot be recalled and
     * expires on its own within JIVE_OAUTH_ACCESS_TTL_S: nothing is stored for it */
    oauth_hash(token, t->presented_hash);
    oauth_hash(t->secret, secret_hash);
    params[0] = t->presented_hash;
    params[1] = t->client_id;
    params[2] = t->secret[0] != '\0' ? secret_hash : NULL;
    if (jc_pg_query(m->app->pg, 0,
                    "UPDATE oauth_refresh_tokens SET revoked_at = coalesce(revoked_at, now()) "
                    "WHERE family = (SELECT t.family FROM oauth_refresh_tokens t JOIN "
                    "oauth_clients c USING (client_id) WHERE t.token_hash = $1 AND t.client_id = "
                    "$2 AND c.secret_hash IS NOT DISTINCT FROM $3) RETURNING org_id, sub, login",
                    3, params, on_revoked, t) != JC_OK)
        tok_unavailable(t, "cannot queue the revocation");
}

static void post_revoke(struct jc_req *req, void *ud)
{
    oauth_metered(ud, req, do_revoke);
}

/* ---- set-up ---- */

static void board_client_saved(const PGresult *res, enum jc_err err, const char *errmsg, void *ud)
{
    struct mcp *m = ud;

    (void)res;
    if (err != JC_OK)
        jc_warn(m->app->log,
                "sign-in: the board's client is not registered (%s); the board "
                "offers token entry only until a restart",
                errmsg);
}

/* The live board signs in as a public client of its own (board.c): jive-board, redirected to
 * this server's /board/signed-in. Registered (or updated to this issuer) at start. */
static void register_board_client(struct mcp *m)
{
    char back[600], *uris;
    cJSON *a;
    const char *p[1];

    snprintf(back, sizeof(back), "%s/board/signed-in", m->app->cfg.oauth_issuer);
    a = cJSON_CreateStringArray((const char *[]){back}, 1);
    uris = cJSON_PrintUnformatted(a);
    cJSON_Delete(a);
    p[0] = uris;
    if (uris == NULL ||
        jc_pg_query(m->app->pg, 0,
                    "INSERT INTO oauth_clients (client_id, kind, name, redirect_uris) SELECT "
                    "'jive-board', 'operator', 'JIVE board', array(SELECT "
                    "jsonb_array_elements_text($1::jsonb)) ON CONFLICT (client_id) DO UPDATE SET "
                    "redirect_uris = EXCLUDED.redirect_uris, name = EXCLUDED.name",
                    1, p, board_client_saved, m) != JC_OK)
        jc_warn(m->app->log, "sign-in: the board's client is not registered (out of memory)");
    cJSON_free(uris);
}

enum jc_err mcp_oauth_init(struct mcp *m, char *err, size_t errlen)
{
    struct jc_http *h = m->app->http;
    unsigned char digest[JC_SHA256_LEN];
    char b64[64];
    enum jc_err rc = JC_OK;

    if (!m->app->cfg.oauth_enabled)
        return JC_OK;
    m->fetch = jc_fetch_new(m->app->base, m->app->cfg.ca_file, err, errlen);
    if (m->fetch == NULL)
        return JC_EINVAL;
    if (jc_crypto_sha256(page_style, strlen(page_style), digest) != JC_OK)
        return JC_EIO;
    /* CSP hash sources are standard (padded) base64 */
    EVP_EncodeBlock((unsigned char *)b64, digest, sizeof(digest));
    snprintf(m->page_style_hash, sizeof(m->page_style_hash), "sha256-%s", b64);
    if (rc == JC_OK) /* and its path-suffixed form (RFC 8414 section 3.1) */
        rc = jc_http_route(h, "GET", "/.well-known/oauth-authorization-server*", as_metadata, m);
    if (rc == JC_OK)
        rc = jc_http_route(h, "GET", "/.well-known/jwks.json", jwks, m);
    if (rc == JC_OK)
        rc = jc_http_route(h, "POST", "/register", post_register, m);
    if (rc == JC_OK)
        rc = jc_http_route(h, "POST", "/token", post_token, m);
    if (rc == JC_OK)
        rc = jc_http_route(h, "POST", "/revoke", post_revoke, m);
    if (rc == JC_OK)
        rc = oauth_authorize_routes(m);
    if (rc != JC_OK) {
        jc_errbuf_set(err, errlen, "out of memory while adding the sign-in routes");
        return rc;
    }
    register_board_client(m);
    return JC_OK;
}

void mcp_oauth_free(struct mcp *m)
{
    jc_fetch_free(m->fetch);
    m->fetch = NULL;
}

const char *oauth_page_style(void)
{
    return page_style;
}

void oauth_page_headers(struct mcp *m, struct jc_req *req, const char *form_action)
{
    page_headers(req, m->page_style_hash, form_action);
}
