/* SPDX-License-Identifier: MIT */
/*
 * rpc.c: the MCP protocol front (Streamable HTTP, JSON responses): routes, Origin, parsing,
 * protocol versions, the bearer token, dispatch. Stateless but for the 2025 era's sessions,
 * which exist for resource subscriptions only (session.c).
 * One endpoint for both eras:
 *   2026-07-28: no handshake; every request carries _meta with the protocol version and the
 *     client capabilities; server/discover; MCP-Protocol-Version / Mcp-Method / Mcp-Name headers
 *     checked against the body; results carry resultType (and caching hints on lists).
 *   2025-11-25, 2025-06-18, 2025-03-26: initialize negotiates; MCP-Protocol-Version checked;
 *     JSON-RPC batches are served on 2025-03-26 (the one version that has them) and refused on
 *     the later ones.
 * A call made here is answered through call.c and checked by policy.c: every tools/call,
 * resources/list, resources/read, prompts/get and completion/complete takes from the caller's
 * token bucket and ends in exactly one audit row, whatever the outcome. REST clients get the
 * same tools on GET /mcp/tools and POST /mcp/invoke.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jc/crypto.h"
#include "mcp.h"

#define ERR_HEADER_MISMATCH (-32020)
#define ERR_UNSUPPORTED_VERSION (-32022) /* the spec's UnsupportedProtocolVersionError */

static const char *const legacy_versions[] = {"2025-11-25", "2025-06-18", "2025-03-26", NULL};

static bool legacy_supported(const char *v)
{
    size_t i;

    for (i = 0; v != NULL && legacy_versions[i] != NULL; i++)
        if (strcmp(v, legacy_versions[i]) == 0)
            return true;
    return false;
}

/*
 * The URL of this resource's metadata (RFC 9728 section 3.1): the well-known path inserted
 * between the origin and the path of the resource URL (JIVE_JWT_AUDIENCE), so
 * https://jive.example/mcp has https://jive.example/.well-known/oauth-protected-resource/mcp.
 */
static void metadata_url(const struct jc_config *cfg, char *out, size_t len)
{
    const char *aud = cfg->jwt_audience != NULL ? cfg->jwt_audience : "";
    const char *p = strstr(aud, "://");
    const char *path = p != NULL ? strchr(p + 3, '/') : NULL;
    int origin = path != NULL ? (int)(path - aud) : (int)strlen(aud);

    snprintf(out, len, "%.*s/.well-known/oauth-protected-resource%s", origin, aud,
             path != NULL && strcmp(path, "/") != 0 ? path : "");
}

void mcp_challenge_scope(struct mcp_call *c, const char *scope, const char *why)
{
    char www[900], meta[400];

    metadata_url(&c->mcp->app->cfg, meta, sizeof(meta));
    snprintf(www, sizeof(www),
             "Bearer error=\"insufficient_scope\", scope=\"%s\", error_description=\"%s\", "
             "resource_metadata=\"%s\"",
             scope, why, meta);
    jc_req_add_header(c->req, "WWW-Authenticate", www);
}

bool mcp_require_scope(struct mcp_call *c, const char *scope, const char *why)
{
    if (jc_principal_has_scope(&c->who, scope))
        return true;
    mcp_challenge_scope(c, scope, why);
    mcp_audit(c, "denied", "insufficient scope");
    mcp_error(c, 403, 403, -32003, "insufficient_scope", NULL, "%s", why);
    return false;
}

/* How to get a token here: without sign-in an operator mints them. */
#define HOW_TO_GET_A_TOKEN "ask an operator for a token (jivectl token mint)"
#define HOW_TO_SIGN_IN                                                                             \
    "sign in with GitHub through your MCP client (OAuth; the resource metadata names the "         \
    "authorization server), or ask an operator for a token (jivectl token mint)"

static const char *how_to_get_a_token(const struct mcp *m)
{
    return m->app->cfg.oauth_enabled ? HOW_TO_SIGN_IN : HOW_TO_GET_A_TOKEN;
}

/*
 * 401: no usable token. The body code tells agents what to do. As RFC 6750 asks, a request
 * without credentials gets a challenge without an error code; a bad token gets invalid_token.
 */
static void unauthorized(struct mcp_call *c, const char *code, const char *why)
{
    char www[900], meta[400], msg[300];
    struct mcp_answer a = {.kind = MCP_ERROR, .status = 401, .rest_status = 401, .code = -32001};

    metadata_url(&c->mcp->app->cfg, meta, sizeof(meta));
    if (strcmp(code, "TOKEN_REQUIRED") == 0)
        snprintf(www, sizeof(www), "Bearer resource_metadata=\"%s\"", meta);
    else
        snprintf(www, sizeof(www),
                 "Bearer error=\"invalid_token\", error_description=\"%s\", "
                 "resource_metadata=\"%s\"",
                 why, meta);
    mcp_call_header(c, "WWW-Authenticate", www);
    if (c->method != NULL && (strcmp(c->method, "tools/call") == 0 || mcp_metered(c)))
        mcp_audit(c, "denied", why);
    snprintf(msg, sizeof(msg), "unauthorized: %s; %s", why, how_to_get_a_token(c->mcp));
    a.msg = msg;
    a.rest_msg = why;
    a.rest_code = code;
    a.data = cJSON_CreateObject();
    cJSON_AddStringToObject(a.data, "code", code);
    cJSON_AddStringToObject(a.data, "how", how_to_get_a_token(c->mcp));
    c->send(c, &a);
}

/* ---- the other methods ---- */

static cJSON *capabilities(const struct mcp_call *c)
{
    cJSON *caps = cJSON_CreateObject();

    cJSON_AddItemToObject(cJSON_AddObjectToObject(caps, "tools"), "listChanged",
                          cJSON_CreateFalse());
    {
        /* 2026-07-28: subscriptions/listen delivers resource updates and list changes */
        /* 2025 era: resources/subscribe and the session's GET stream (session.c) */
        cJSON *res = cJSON_AddObjectToObject(caps, "resources");
        cJSON_AddTrueToObject(res, "listChanged");
        cJSON_AddTrueToObject(res, "subscribe");
    }
    cJSON_AddItemToObject(cJSON_AddObjectToObject(caps, "prompts"), "listChanged",
                          cJSON_CreateFalse());
    cJSON_AddObjectToObject(caps, "completions");
    if (!c->modern)
        cJSON_AddObjectToObject(caps, "logging");
    else /* kanban_move_story may answer a task (tasks.c) */
        cJSON_AddObjectToObject(cJSON_AddObjectToObject(caps, "extensions"),
                                "io.modelcontextprotocol/tasks");
    return caps;
}

static cJSON *server_info(void)
{
    cJSON *info = cJSON_CreateObject();

    cJSON_AddStringToObject(info, "name", "jive-mcp");
    cJSON_AddStringToObject(info, "title", "JIVE");
    cJSON_AddStringToObject(info, "version", JC_VERSION);
    return info;
}

static const char instructions[] =
    "JIVE tracks BMAD projects built by several AI agents. Start with projects_list, then "
    "status_get for a project. Before working on a story, call agent_report with the story key "
    "and state 'working' so conflicts with other agents are detected.";

static void caching(cJSON *result)
{
    cJSON_AddNumberToObject(result, "ttlMs", 60000);
    cJSON_AddStringToObject(result, "cacheScope", "private"); /* depends on the token's scopes */
}

/* The methods answered by a handler of their own (same in both eras). The reads of tenant data
 * among them are metered first (policy.c). */
struct handler {
    const char *method;
    mcp_tool_fn *fn;
};

static const struct handler handlers[] = {
    {"tools/call", mcp_tools_call},
    {"resources/list", mcp_resources_list},
    {"resources/templates/list", mcp_resources_templates},
    {"resources/read", mcp_resources_read},
    {"prompts/list", mcp_prompts_list},
    {"prompts/get", mcp_prompts_get},
    {"completion/complete", mcp_complete},
    {NULL, NULL},
};

static void dispatch(struct mcp_call *c)
{
    const char *m = c->method;
    cJSON *result;
    const struct handler *h;

    if (strcmp(m, "initialize") == 0 && !c->modern) {
        const char *want = cJSON_GetStringValue(cJSON_GetObjectItem(c->params, "protocolVersion"));
        snprintf(c->version, sizeof(c->version), "%s",
                 legacy_supported(want) ? want : legacy_versions[0]);
        result = cJSON_CreateObject();
        cJSON_AddStringToObject(result, "protocolVersion", c->version);
        cJSON_AddItemToObject(result, "capabilities", capabilities(c));
        cJSON_AddItemToObject(result, "serverInfo", server_info());
        cJSON_AddStringToObject(result, "instructions", instructions);
        mcp_session_open(c, result); /* answers with a session for subscriptions */
        return;
    }
    if (strcmp(m, "server/discover") == 0) {
        cJSON *v;
        size_t i;
        result = cJSON_CreateObject();
        v = cJSON_AddArrayToObject(result, "supportedVersions");
        cJSON_AddItemToArray(v, cJSON_CreateString(MCP_MODERN));
        for (i = 0; legacy_versions[i] != NULL; i++)
            cJSON_AddItemToArray(v, cJSON_CreateString(legacy_versions[i]));
        cJSON_AddItemToObject(result, "capabilities", capabilities(c));
        /* 2026-07-28 (final): the server's identity travels in the result's _meta */
        cJSON_AddItemToObject(cJSON_AddObjectToObject(result, "_meta"),
                              "io.modelcontextprotocol/serverInfo", server_info());
        cJSON_AddStringToObject(result, "instructions", instructions);
        cJSON_AddNumberToObject(result, "ttlMs", 3600000);
        cJSON_AddStringToObject(result, "cacheScope", "public");
        mcp_result(c, result);
        return;
    }
    if (strcmp(m, "ping") == 0 && !c->modern) {
        mcp_result(c, cJSON_CreateObject());
        return;
    }
    if (strcmp(m, "logging/setLevel") == 0 && !c->modern) {
        mcp_result(c, cJSON_CreateObject());
        return;
    }
    if (strcmp(m, "tools/list") == 0) {
        const struct mcp_tool *t;
        cJSON *tools;
        result = cJSON_CreateObject();
        tools = cJSON_AddArrayToObject(result, "tools");
        for (t = mcp_tools; t->name != NULL; t++)
            if (mcp_tool_visible(c, t))
                cJSON_AddItemToArray(tools, mcp_tool_describe(t));
        if (c->modern)
            caching(result);
        mcp_result(c, result);
        return;
    }
    if (strcmp(m, "resources/subscribe") == 0 && !c->modern) {
        mcp_resources_subscribe(c);
        return;
    }
    if (strcmp(m, "resources/unsubscribe") == 0 && !c->modern) {
        mcp_resources_unsubscribe(c);
        return;
    }
    if (c->modern && strncmp(m, "tasks/", 6) == 0) {
        if (strcmp(m, "tasks/get") == 0)
            mcp_tasks_get(c);
        else if (strcmp(m, "tasks/cancel") == 0)
            mcp_tasks_cancel(c);
        else if (strcmp(m, "tasks/update") == 0)
            mcp_tasks_update(c);
        else
            mcp_error(c, 404, 404, -32601, NULL, NULL, "method not found: %.80s", m);
        return;
    }
    if (strcmp(m, "subscriptions/listen") == 0 && c->modern) {
        snprintf(c->op, sizeof(c->op), "subscriptions/listen");
        mcp_subscriptions_listen(c);
        return;
    }
    for (h = handlers; h->method != NULL; h++) {
        if (strcmp(m, h->method) != 0)
            continue;
        if (mcp_metered(c))
            mcp_meter(c, h->fn);
        else
            h->fn(c);
        return;
    }
    mcp_error(c, c->modern ? 404 : 200, c->modern ? 404 : 200, -32601, NULL, NULL,
              "method not found: %.80s", m);
}

/* ---- authentication ---- */

/* Verifies the bearer token into c->who; false with the 401 code and reason. */
static bool token_check(struct mcp_call *c, const char **code, char *err, size_t errlen)
{
    const char *tok = jc_auth_bearer(jc_req_header(c->req, "Authorization"));

    if (tok == NULL) {
        *code = "TOKEN_REQUIRED";
        snprintf(err, errlen, "a bearer token is required");
        return false;
    }
    if (jc_auth_verify_cached(c->mcp->tokens, &c->mcp->app->cfg, tok, (long)time(NULL), &c->who,
                              err, errlen) != JC_OK) {
        *code = strcmp(err, "token expired") == 0 ? "TOKEN_EXPIRED" : "TOKEN_INVALID";
        return false;
    }
    return true;
}

/* Verifies the bearer token into c->who; false after answering 401 (c is then freed). */
static bool token_verified(struct mcp_call *c)
{
    const char *code = NULL;
    char err[160];

    if (token_check(c, &code, err, sizeof(err)))
        return true;
    unauthorized(c, code, err);
    return false;
}

bool mcp_authenticate(struct mcp_call *c)
{
    if (!token_verified(c))
        return false;
    c->authed = true;
    if (c->who.projects[0] != '\0' &&
        jc_crypto_sha256_hex(c->who.projects, strlen(c->who.projects), c->projects_tag) != JC_OK) {
        unauthorized(c, "TOKEN_INVALID", "cannot read the projects claim");
        return false;
    }
    if (!jc_crypto_is_uuid(c->who.org_id)) {
        unauthorized(c, "TOKEN_INVALID", "the token names no org (org_id)");
        return false;
    }
    snprintf(c->org_id, sizeof(c->org_id), "%s", c->who.org_id);
    return true;
}

static void authenticate(struct mcp_call *c)
{
    if (!mcp_authenticate(c))
        return;
    /* a 2025-era session: checked (and renewed) before anything else */
    if (!c->modern && c->batch == NULL && strcmp(c->method, "initialize") != 0 &&
        jc_req_header(c->req, "Mcp-Session-Id") != NULL)
        mcp_session_check(c, dispatch);
    else
        dispatch(c);
}

/* ---- transport checks ---- */

/* The 2026-07-28 headers must repeat the body: MCP-Protocol-Version, Mcp-Method, Mcp-Name. */
/* Header value equal to want, ignoring the optional whitespace HTTP allows around it. */
static bool header_is(const char *hv, const char *want)
{
    size_t n;

    while (*hv == ' ' || *hv == '\t')
        hv++;
    n = strlen(hv);
    while (n > 0 && (hv[n - 1] == ' ' || hv[n - 1] == '\t'))
        n--;
    return n == strlen(want) && strncmp(hv, want, n) == 0;
}

/* 2026-07-28: the routing headers must be present and repeat the body (-32020 otherwise).
 * Mcp-Name carries the tool or prompt name, or the resource uri, of requests that have one. */
static bool headers_match(struct mcp_call *c)
{
    const char *hm = jc_req_header(c->req, "Mcp-Method");
    const char *hn = jc_req_header(c->req, "Mcp-Name");
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(c->params, "name"));
    const char *uri = cJSON_GetStringValue(cJSON_GetObjectItem(c->params, "uri"));
    const char *body_name = NULL;

    if (strcmp(c->method, "tools/call") == 0 || strcmp(c->method, "prompts/get") == 0)
        body_name = name;
    else if (strcmp(c->method, "resources/read") == 0)
        body_name = uri;
    else if (strncmp(c->method, "tasks/", 6) == 0) /* the tasks extension routes by task */
        body_name = cJSON_GetStringValue(cJSON_GetObjectItem(c->params, "taskId"));
    if (hm == NULL || !header_is(hm, c->method)) {
        mcp_error(c, 400, 400, ERR_HEADER_MISMATCH, NULL, NULL,
                  "Mcp-Method header (%.80s) does not match the body's method (%.80s)",
                  hm != NULL ? hm : "missing", c->method);
        return false;
    }
    if ((body_name != NULL) != (hn != NULL) || (hn != NULL && !header_is(hn, body_name))) {
        mcp_error(c, 400, 400, ERR_HEADER_MISMATCH, NULL, NULL,
                  "Mcp-Name header (%.80s) does not match the body (%.80s)",
                  hn != NULL ? hn : "missing", body_name != NULL ? body_name : "none");
        return false;
    }
    return true;
}

static void handle_request(struct mcp_call *c)
{
    const cJSON *meta = cJSON_GetObjectItem(c->params, "_meta");
    const cJSON *pv = cJSON_GetObjectItem(meta, "io.modelcontextprotocol/protocolVersion");
    const cJSON *caps = cJSON_GetObjectItem(meta, "io.modelcontextprotocol/clientCapabilities");
    const char *hv = jc_req_header(c->req, "MCP-Protocol-Version");

    if (pv != NULL || (hv != NULL && strcmp(hv, MCP_MODERN) == 0) ||
        strcmp(c->method, "server/discover") == 0) {
        /* 2026-07-28: everything is in the request */
        c->modern = true;
        if (pv == NULL || !cJSON_IsString(pv) || !cJSON_IsObject(caps)) {
            mcp_error(c, 400, 400, -32602, NULL, NULL,
                      "_meta must carry io.modelcontextprotocol/protocolVersion (string) and "
                      "io.modelcontextprotocol/clientCapabilities (object)");
            return;
        }
        /* the header must repeat the body's version before the version itself is judged */
        if (hv == NULL || !header_is(hv, pv->valuestring)) {
            mcp_error(c, 400, 400, ERR_HEADER_MISMATCH, NULL, NULL,
                      "MCP-Protocol-Version header (%.40s) does not match the request's _meta "
                      "(%.40s)",
                      hv != NULL ? hv : "missing", pv->valuestring);
            return;
        }
        if (strcmp(pv->valuestring, MCP_MODERN) != 0) {
            cJSON *data = cJSON_CreateObject(), *sup = cJSON_AddArrayToObject(data, "supported");
            size_t i;
            cJSON_AddItemToArray(sup, cJSON_CreateString(MCP_MODERN));
            for (i = 0; legacy_versions[i] != NULL; i++)
                cJSON_AddItemToArray(sup, cJSON_CreateString(legacy_versions[i]));
            cJSON_AddStringToObject(data, "requested", pv->valuestring);
            mcp_error(c, 400, 400, ERR_UNSUPPORTED_VERSION, NULL, data,
                      "unsupported protocol version %.40s", pv->valuestring);
            return;
        }
        snprintf(c->version, sizeof(c->version), "%s", MCP_MODERN);
        if (!headers_match(c))
            return;
    } else if (strcmp(c->method, "initialize") != 0) {
        /* 2025 era after initialize: the header names the negotiated version */
        if (hv != NULL && !legacy_supported(hv)) {
            mcp_error(c, 400, 400, -32600, NULL, NULL, "unsupported MCP-Protocol-Version %.40s",
                      hv);
            return;
        }
        snprintf(c->version, sizeof(c->version), "%s", hv != NULL ? hv : "2025-03-26");
    }
    authenticate(c);
}

/* A page served by this very server on a loopback name (Origin http(s)://<Host>, Host localhost,
 * 127.0.0.1 or [::1]): same origin, and a rebinding attacker cannot produce it, because the
 * browser would send the attacker's host name in both headers. */
static bool loopback_same_origin(const char *origin, const char *host)
{
    static const char *const loopback[] = {"localhost", "127.0.0.1", "[::1]", NULL};
    const char *rest;
    size_t i, n;

    if (host == NULL)
        return false;
    if (strncmp(origin, "http://", 7) == 0)
        rest = origin + 7;
    else if (strncmp(origin, "https://", 8) == 0)
        rest = origin + 8;
    else
        return false;
    if (strcmp(rest, host) != 0)
        return false;
    for (i = 0; loopback[i] != NULL; i++) {
        n = strlen(loopback[i]);
        if (strncmp(host, loopback[i], n) == 0 && (host[n] == '\0' || host[n] == ':'))
            return true;
    }
    return false;
}

/* Takes c->body apart: method, id and params (an empty object when absent). False when it is
 * not a JSON-RPC 2.0 request object. */
static const char not_a_request[] =
    "invalid request: a JSON-RPC 2.0 object with a method (and an id that is a string or an "
    "integer) is required";

/* MCP: a request id is a string or an integer, never null (absent: a notification). */
static bool id_allowed(const cJSON *id)
{
    return id == NULL || cJSON_IsString(id) ||
           (cJSON_IsNumber(id) && id->valuedouble == (double)(long long)id->valuedouble &&
            id->valuedouble >= -9007199254740991.0 && id->valuedouble <= 9007199254740991.0);
}

static bool request_object(struct mcp_call *c)
{
    const char *v = cJSON_GetStringValue(cJSON_GetObjectItem(c->body, "jsonrpc"));

    if (!cJSON_IsObject(c->body) || v == NULL || strcmp(v, "2.0") != 0 ||
        !cJSON_IsString(cJSON_GetObjectItem(c->body, "method")) ||
        !id_allowed(cJSON_GetObjectItem(c->body, "id")))
        return false; /* c->id stays NULL: an id of another type is not echoed */
    c->method = cJSON_GetObjectItem(c->body, "method")->valuestring;
    c->id = cJSON_GetObjectItem(c->body, "id");
    c->params = cJSON_GetObjectItem(c->body, "params");
    if (c->params == NULL) {
        cJSON_AddItemToObject(c->body, "params", cJSON_CreateObject());
        c->params = cJSON_GetObjectItem(c->body, "params");
    }
    return true;
}

/* A 2025-03-26 batch (c->body is the array; c is freed). The token is checked once for the
 * whole request, so a bad one is a plain 401; then every member runs as a call of its own and
 * answers into the batch. */
static void post_batch(struct mcp_call *c)
{
    struct mcp_batch *b;
    const cJSON *el;

    if (cJSON_GetArraySize(c->body) == 0) {
        mcp_error(c, 400, 400, -32600, NULL, NULL, "invalid request: the batch is empty");
        return;
    }
    {
        const char *code = NULL;
        char err[160];
        if (!token_check(c, &code, err, sizeof(err))) {
            /* refused whole, but each operation it asked for leaves its audit row */
            for (el = c->body->child; el != NULL; el = el->next) {
                struct mcp_call m = {.mcp = c->mcp, .req = c->req, .t0 = c->t0};
                m.body = cJSON_Duplicate(el, 1);
                if (request_object(&m) && (strcmp(m.method, "tools/call") == 0 || mcp_metered(&m)))
                    mcp_audit(&m, "denied", err);
                cJSON_Delete(m.body);
            }
            unauthorized(c, code, err);
            return;
        }
    }
    b = mcp_batch_open(c->req);
    if (b == NULL) {
        mcp_error(c, 503, 503, -32603, NULL, NULL, "out of memory");
        return;
    }
    for (el = c->body->child; el != NULL; el = el->next) {
        struct mcp_call *m = mcp_batch_member(b, c->mcp);
        if (m == NULL)
            continue;
        m->body = cJSON_Duplicate(el, 1);
        if (!request_object(m)) {
            mcp_error(m, 400, 400, -32600, NULL, NULL, "%s", not_a_request);
        } else if (m->id == NULL) {
            mcp_call_free(m); /* a notification: no response */
            mcp_batch_close(b);
        } else if (strcmp(m->method, "initialize") == 0) {
            mcp_error(m, 400, 400, -32600, NULL, NULL,
                      "initialize must not be part of a JSON-RPC batch");
        } else {
            handle_request(m);
        }
    }
    mcp_call_free(c);
    mcp_batch_close(b);
}

/* DNS-rebinding defence, the same on /mcp and the REST routes: a browser page from a foreign
 * origin is refused. Returns the refused Origin, NULL when the request may go on. */
/* origin is this server's own public origin: that of JIVE_JWT_AUDIENCE when it is a URL (the
 * operator configured it, so a rebinding attacker cannot be it); pages JIVE serves (the board)
 * call from there. */
static bool own_origin(const struct jc_config *cfg, const char *origin)
{
    const char *aud = cfg->jwt_audience != NULL ? cfg->jwt_audience : "";
    const char *p = strstr(aud, "://");
    size_t n;

    if (p == NULL || (strncmp(aud, "https://", 8) != 0 && strncmp(aud, "http://", 7) != 0))
        return false;
    n = (size_t)(p + 3 - aud) + strcspn(p + 3, "/");
    return strlen(origin) == n && strncmp(origin, aud, n) == 0;
}

const char *mcp_origin_refused(const struct mcp *m, struct jc_req *req)
{
    const char *origin = jc_req_header(req, "Origin");

    if (origin != NULL && !jc_config_origin_allowed(&m->app->cfg, origin) &&
        !own_origin(&m->app->cfg, origin) &&
        !loopback_same_origin(origin, jc_req_header(req, "Host")))
        return origin;
    return NULL;
}

static void post_mcp(struct jc_req *req, void *ud)
{
    struct mcp *m = ud;
    struct mcp_call *c;
    const char *origin = mcp_origin_refused(m, req);
    const char *accept = jc_req_header(req, "Accept");
    const char *body;
    size_t len = 0;

    c = mcp_call_new(m, req, mcp_send_jsonrpc);
    if (c == NULL)
        return;
    if (origin != NULL) {
        mcp_error(c, 403, 403, -32600, NULL, NULL, "origin %.100s is not allowed", origin);
        return;
    }
    if (accept != NULL && strstr(accept, "application/json") == NULL &&
        strstr(accept, "*/*") == NULL && strstr(accept, "text/event-stream") == NULL) {
        mcp_error(c, 406, 406, -32600, NULL, NULL, "Accept must include application/json");
        return;
    }
    body = jc_req_body(req, &len);
    c->body = body != NULL ? cJSON_ParseWithLength(body, len) : NULL;
    if (c->body == NULL) {
        mcp_error(c, 400, 400, -32700, NULL, NULL, "parse error: the body is not JSON");
        return;
    }
    if (cJSON_IsArray(c->body)) {
        const char *hv = jc_req_header(req, "MCP-Protocol-Version");
        /* batches exist only in 2025-03-26, whose clients send no version header */
        if (hv != NULL && !header_is(hv, "2025-03-26")) {
            mcp_error(c, 400, 400, -32600, NULL, NULL,
                      "JSON-RPC batches are not supported on this protocol version (only on "
                      "2025-03-26)");
            return;
        }
        post_batch(c);
        return;
    }
    if (!request_object(c)) {
        mcp_error(c, 400, 400, -32600, NULL, NULL, "%s", not_a_request);
        return;
    }
    if (c->id == NULL) {
        /* a notification: accepted, nothing to answer */
        jc_http_reply_raw(req, 202, NULL, NULL, 0);
        mcp_call_free(c);
        return;
    }
    handle_request(c);
}

static void not_allowed(struct jc_req *req, void *ud)
{
    (void)ud;
    jc_req_add_header(req, "Allow", "POST");
    jc_http_reply_error(req, 405, "method_not_allowed",
                        "without a session this server pushes nothing: use POST /mcp (GET and "
                        "DELETE /mcp need the Mcp-Session-Id a 2025-era initialize assigns)");
}

/* GET /mcp (the session's server stream) and DELETE /mcp (the session ends), 2025 era. */
static void session_route(struct jc_req *req, void *ud)
{
    struct mcp *m = ud;
    const char *origin = mcp_origin_refused(m, req);
    const char *hv = jc_req_header(req, "MCP-Protocol-Version");
    bool get = strcmp(req->method, "GET") == 0;
    struct mcp_call *c;

    if (jc_req_header(req, "Mcp-Session-Id") == NULL) {
        not_allowed(req, ud);
        return;
    }
    c = mcp_call_new(m, req, mcp_send_jsonrpc);
    if (c == NULL)
        return;
    c->body = cJSON_CreateObject();
    c->params = cJSON_AddObjectToObject(c->body, "params");
    c->method = get ? "GET /mcp" : "DELETE /mcp";
    if (origin != NULL) {
        mcp_error(c, 403, 403, -32600, NULL, NULL, "origin %.100s is not allowed", origin);
        return;
    }
    if (hv != NULL && !legacy_supported(hv)) {
        mcp_error(c, 400, 400, -32600, NULL, NULL,
                  "sessions belong to the 2025 era; MCP-Protocol-Version %.40s has none", hv);
        return;
    }
    snprintf(c->version, sizeof(c->version), "%s", hv != NULL ? hv : "2025-03-26");
    if (mcp_authenticate(c))
        mcp_session_check(c, get ? mcp_session_stream : mcp_session_end);
}

struct mcp_call *mcp_rest_call(struct mcp *m, struct jc_req *req, const char *op)
{
    const char *origin = mcp_origin_refused(m, req);
    struct mcp_call *c;

    if (origin != NULL) {
        jc_http_reply_error(req, 403, "origin_not_allowed", "origin %.100s is not allowed", origin);
        return NULL;
    }
    c = mcp_call_new(m, req, mcp_send_rest);
    if (c == NULL)
        return NULL;
    snprintf(c->op, sizeof(c->op), "%s", op);
    c->method = c->op;
    return mcp_authenticate(c) ? c : NULL;
}

/* GET /mcp/tools: the tool list for REST clients (the token's scopes decide). */
static void rest_tools(struct jc_req *req, void *ud)
{
    const char *origin = mcp_origin_refused(ud, req);
    struct mcp_call *c;

    if (origin != NULL) {
        jc_http_reply_error(req, 403, "origin_not_allowed", "origin %.100s is not allowed", origin);
        return;
    }
    c = mcp_call_new(ud, req, mcp_send_rest);
    if (c == NULL)
        return;
    c->body = cJSON_CreateObject();
    c->method = "tools/list";
    c->params = cJSON_AddObjectToObject(c->body, "params");
    authenticate(c);
}

/* POST /mcp/invoke {"tool", "arguments"}: the same tools without JSON-RPC. */
static void rest_invoke(struct jc_req *req, void *ud)
{
    const char *origin = mcp_origin_refused(ud, req);
    struct mcp_call *c;
    const char *body;
    size_t len = 0;
    cJSON *tool;

    if (origin != NULL) {
        jc_http_reply_error(req, 403, "origin_not_allowed", "origin %.100s is not allowed", origin);
        return;
    }
    c = mcp_call_new(ud, req, mcp_send_rest);
    if (c == NULL)
        return;
    c->method = "tools/call";
    body = jc_req_body(req, &len);
    c->body = body != NULL ? cJSON_ParseWithLength(body, len) : NULL;
    if (!cJSON_IsObject(c->body)) {
        jc_http_reply_error(req, 400, "invalid_json", "the body must be a JSON object");
        mcp_call_free(c);
        return;
    }
    /* reshape {"tool": name, "arguments": {...}} as tools/call params */
    tool = cJSON_GetObjectItem(c->body, "tool");
    c->params = c->body;
    if (cJSON_IsString(tool))
        cJSON_AddStringToObject(c->body, "name", tool->valuestring);
    authenticate(c);
}

/*
 * RFC 9728 protected resource metadata, at the well-known URL and at its path-specific form.
 * With sign-in configured, jive-mcp is the resource's authorization server (oauth.h). Without
 * it none is named: tokens come from an operator (jivectl token mint), and naming one that does
 * not exist sends clients to a dead end.
 */
static void resource_metadata(struct jc_req *req, void *ud)
{
    struct mcp *m = ud;
    cJSON *d = cJSON_CreateObject(), *scopes;
    const struct mcp_tool *t;

    cJSON_AddStringToObject(d, "resource", m->app->cfg.jwt_audience);
    if (m->app->cfg.oauth_enabled)
        cJSON_AddItemToObject(
            d, "authorization_servers",
            cJSON_CreateStringArray((const char *[]){m->app->cfg.oauth_issuer}, 1));
    cJSON_AddItemToObject(d, "bearer_methods_supported",
                          cJSON_CreateStringArray((const char *[]){"header"}, 1));
    scopes = cJSON_AddArrayToObject(d, "scopes_supported");
    for (t = mcp_tools; t->name != NULL; t++) {
        const cJSON *s;
        bool seen = false;
        cJSON_ArrayForEach(s, scopes) seen = seen || strcmp(s->valuestring, t->scope) == 0;
        if (!seen)
            cJSON_AddItemToArray(scopes, cJSON_CreateString(t->scope));
    }
    cJSON_AddItemToArray(scopes, cJSON_CreateString("events:read")); /* GET /events/<id> */
    cJSON_AddStringToObject(d, "resource_name", "JIVE MCP server");
    jc_http_reply_json(req, 200, d);
}

/* The authorization-server endpoints a client may try anyway: an OAuth error (RFC 6749 section
 * 5.2 shape, "error" a string), never an envelope an OAuth client cannot read. */
static void no_authorization_server(struct jc_req *req, void *ud)
{
    cJSON *e = cJSON_CreateObject();

    (void)ud;
    cJSON_AddStringToObject(e, "error", "invalid_request");
    cJSON_AddStringToObject(e, "error_description",
                            "this server has no sign-in; " HOW_TO_GET_A_TOKEN);
    jc_http_reply_json(req, 404, e);
}

enum jc_err mcp_routes(struct mcp *m)
{
    struct jc_http *h = m->app->http;
    enum jc_err rc = JC_OK;

    if (rc == JC_OK)
        rc = jc_http_route(h, "POST", "/mcp", post_mcp, m);
    if (rc == JC_OK)
        rc = jc_http_route(h, "GET", "/mcp", session_route, m);
    if (rc == JC_OK)
        rc = jc_http_route(h, "DELETE", "/mcp", session_route, m);
    if (rc == JC_OK)
        rc = jc_http_route(h, "GET", "/mcp/tools", rest_tools, m);
    if (rc == JC_OK)
        rc = jc_http_route(h, "POST", "/mcp/invoke", rest_invoke, m);
    if (rc == JC_OK)
        rc = jc_http_route(h, "GET", "/.well-known/oauth-protected-resource", resource_metadata, m);
    if (rc == JC_OK)
        rc = jc_http_route(h, "GET", "/.well-known/oauth-protected-resource/*", resource_metadata,
                           m);
    /* what OAuth clients try when they look for an authorization server that is not there */
    if (m->app->cfg.oauth_enabled)
        return rc; /* oauth.c serves them */
    if (rc == JC_OK)
        rc = jc_http_route(h, "GET", "/.well-known/oauth-authorization-server*",
                           no_authorization_server, m);
    if (rc == JC_OK)
        rc = jc_http_route(h, "GET", "/.well-known/openid-configuration*", no_authorization_server,
                           m);
    if (rc == JC_OK)
        rc = jc_http_route(h, "POST", "/register", no_authorization_server, m);
    if (rc == JC_OK)
        rc = jc_http_route(h, "GET", "/authorize", no_authorization_server, m);
    if (rc == JC_OK)
        rc = jc_http_route(h, "POST", "/token", no_authorization_server, m);
    return rc;
}
