/* SPDX-License-Identifier: MIT */
/*
 * rpc.c: the MCP endpoint (Streamable HTTP, JSON responses, stateless: no Mcp-Session-Id).
 * One endpoint for both eras:
 *   2026-07-28: no handshake; every request carries _meta with the protocol version and the
 *     client capabilities; server/discover; MCP-Protocol-Version / Mcp-Method / Mcp-Name headers
 *     checked against the body; results carry resultType (and caching hints on lists).
 *   2025-11-25, 2025-06-18, 2025-03-26: initialize negotiates; MCP-Protocol-Version checked;
 *     JSON-RPC batches are served on 2025-03-26 (the one version that has them) and refused on
 *     the later ones.
 * Every tools/call, resources/list, resources/read, prompts/get and completion/complete takes
 * from the caller's token bucket and ends in exactly one audit row, whatever the outcome.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jc/clock.h"
#include "jc/crypto.h"
#include "jc/queue.h"
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

static void call_free(struct mcp_call *c)
{
    cJSON_Delete(c->body);
    free(c);
}

/* ---- audit ---- */

static void audit(struct mcp_call *c, const char *result, const char *error)
{
    struct jc_audit_entry e = {0};
    const char *fwd = NULL;

    e.org_id = c->org_id[0] != '\0' ? c->org_id : NULL;
    e.project_id = jc_crypto_is_uuid(c->project_id) ? c->project_id : NULL;
    e.actor_type = c->authed ? "agent" : "anonymous";
    e.actor_id = c->authed ? c->who.sub : NULL;
    e.actor_name = c->authed && c->who.name[0] != '\0' ? c->who.name : NULL;
    e.tool = c->tool != NULL    ? c->tool->name
             : c->op[0] != '\0' ? c->op
                                : cJSON_GetStringValue(cJSON_GetObjectItem(c->params, "name"));
    e.scope = c->tool != NULL ? c->tool->scope : NULL;
    e.args_hash = c->args_hash[0] != '\0' ? c->args_hash : NULL;
    e.result = result;
    e.error = error;
    /* the client's address: the socket peer, or X-Forwarded-For behind a trusted proxy */
    if (c->mcp->app->cfg.trust_proxy)
        fwd = jc_req_header(c->req, "X-Forwarded-For");
    {
        char *host = NULL;
        ev_uint16_t port = 0;
        char first[64] = "";
        evhttp_connection_get_peer(evhttp_request_get_connection(c->req->ev), &host, &port);
        if (fwd != NULL)
            snprintf(first, sizeof(first), "%.*s", (int)strcspn(fwd, ", "), fwd);
        e.ip = fwd != NULL && first[0] != '\0' ? first : host;
        e.user_agent = jc_req_header(c->req, "User-Agent");
        e.request_id = c->req->request_id;
        e.traceparent = c->req->traceparent;
        e.duration_ms = (long)((jc_clock_mono() - c->t0) * 1000.0);
        jc_audit_add(c->mcp->audit, &e);
    }
}

/*
 * Reads other than tools/call that reach tenant data (resources, prompts, completion) are
 * rate-limited and audited like tools: c->op names the operation and its target for the audit
 * row's tool column ("resources/read jive://projects/<id>/docs/prd.md"), and the project it
 * names, when it names one, is the row's project. True when c->method is such a read.
 */
static bool operation(struct mcp_call *c)
{
    static const char *const reads[] = {"resources/list", "resources/read", "prompts/get",
                                        "completion/complete"};
    const char *target = NULL, *pid = NULL;
    size_t i;

    if (c->op[0] != '\0')
        return true;
    for (i = 0; i < sizeof(reads) / sizeof(reads[0]); i++)
        if (c->method != NULL && strcmp(c->method, reads[i]) == 0)
            break;
    if (i == sizeof(reads) / sizeof(reads[0]))
        return false;
    if (strcmp(c->method, "resources/read") == 0) {
        target = cJSON_GetStringValue(cJSON_GetObjectItem(c->params, "uri"));
        if (target != NULL && strncmp(target, "jive://projects/", 16) == 0)
            pid = target + 16;
    } else if (strcmp(c->method, "prompts/get") == 0) {
        target = cJSON_GetStringValue(cJSON_GetObjectItem(c->params, "name"));
        pid = cJSON_GetStringValue(
            cJSON_GetObjectItem(cJSON_GetObjectItem(c->params, "arguments"), "project_id"));
    } else if (strcmp(c->method, "completion/complete") == 0) {
        const cJSON *ref = cJSON_GetObjectItem(c->params, "ref");
        target = cJSON_GetStringValue(cJSON_GetObjectItem(ref, "name"));
        if (target == NULL)
            target = cJSON_GetStringValue(cJSON_GetObjectItem(ref, "uri"));
        pid = cJSON_GetStringValue(cJSON_GetObjectItem(
            cJSON_GetObjectItem(cJSON_GetObjectItem(c->params, "context"), "arguments"),
            "project_id"));
    }
    snprintf(c->op, sizeof(c->op), "%s%s%.250s", c->method, target != NULL ? " " : "",
             target != NULL ? target : "");
    if (pid != NULL && strlen(pid) >= 36) {
        char id[40];
        snprintf(id, sizeof(id), "%.36s", pid);
        if (jc_crypto_is_uuid(id) && c->project_id[0] == '\0')
            snprintf(c->project_id, sizeof(c->project_id), "%s", id);
    }
    return true;
}

/* ---- replies ---- */

/* A 2025-03-26 JSON-RPC batch: its members answer into one array, sent when the last is done
 * (202 without a body when every member was a notification). pending holds one extra count
 * while the members are being started, so a member answering at once cannot end the batch. */
struct mcp_batch {
    struct jc_req *req;
    cJSON *responses;
    int pending;
};

static void batch_done(struct mcp_batch *b)
{
    if (--b->pending > 0)
        return;
    if (cJSON_GetArraySize(b->responses) == 0) {
        cJSON_Delete(b->responses);
        jc_http_reply_raw(b->req, 202, NULL, NULL, 0);
    } else {
        jc_req_add_header(b->req, "MCP-Protocol-Version", "2025-03-26");
        jc_http_reply_json(b->req, 200, b->responses);
    }
    free(b);
}

/* A batch member's response goes into the batch's array (r taken). */
static void batch_answer(struct mcp_call *c, cJSON *r)
{
    struct mcp_batch *b = c->batch;

    cJSON_AddItemToArray(b->responses, r);
    call_free(c);
    batch_done(b);
}

static cJSON *envelope(const struct mcp_call *c)
{
    cJSON *r = cJSON_CreateObject();

    cJSON_AddStringToObject(r, "jsonrpc", "2.0");
    cJSON_AddItemToObject(r, "id", c->id != NULL ? cJSON_Duplicate(c->id, 1) : cJSON_CreateNull());
    return r;
}

static void reply_result(struct mcp_call *c, cJSON *result)
{
    cJSON *r;

    if (c->rest) {
        jc_http_reply_json(c->req, 200, result);
        call_free(c);
        return;
    }
    if (c->modern && cJSON_GetObjectItem(result, "resultType") == NULL)
        cJSON_AddStringToObject(result, "resultType", "complete");
    r = envelope(c);
    cJSON_AddItemToObject(r, "result", result);
    if (c->batch != NULL) {
        batch_answer(c, r);
        return;
    }
    jc_req_add_header(c->req, "MCP-Protocol-Version", c->version);
    jc_http_reply_json(c->req, 200, r);
    call_free(c);
}

static void reply_error(struct mcp_call *c, int status, int code, cJSON *data, const char *fmt, ...)
    JC_PRINTF(5, 6);

static void reply_error(struct mcp_call *c, int status, int code, cJSON *data, const char *fmt, ...)
{
    char msg[600];
    cJSON *r, *e;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (c->rest) {
        cJSON_Delete(data);
        jc_http_reply_error(c->req, status, code == -32602 ? "invalid_params" : "mcp_error", "%s",
                            msg);
        call_free(c);
        return;
    }
    r = envelope(c);
    e = cJSON_AddObjectToObject(r, "error");
    cJSON_AddNumberToObject(e, "code", code);
    cJSON_AddStringToObject(e, "message", msg);
    if (data != NULL)
        cJSON_AddItemToObject(e, "data", data);
    if (c->batch != NULL) {
        batch_answer(c, r);
        return;
    }
    jc_http_reply_json(c->req, status, r);
    call_free(c);
}

/* 401: no usable token. The body code tells agents what to do. */
static void unauthorized(struct mcp_call *c, const char *code, const char *why)
{
    struct jc_app *app = c->mcp->app;
    char www[700], meta[300];

    snprintf(meta, sizeof(meta), "%s", app->cfg.jwt_audience);
    /* the resource metadata sits at the origin of the resource URL */
    {
        char *p = strstr(meta, "://");
        char *slash = p != NULL ? strchr(p + 3, '/') : NULL;
        if (slash != NULL)
            *slash = '\0';
    }
    snprintf(www, sizeof(www),
             "Bearer error=\"invalid_token\", error_description=\"%s\", "
             "resource_metadata=\"%s/.well-known/oauth-protected-resource\"",
             why, meta);
    if (c->batch == NULL)
        jc_req_add_header(c->req, "WWW-Authenticate", www);
    if (c->method != NULL && (strcmp(c->method, "tools/call") == 0 || operation(c)))
        audit(c, "denied", why);
    if (c->rest) {
        jc_http_reply_error(c->req, 401, code, "%s", why);
        call_free(c);
        return;
    }
    {
        cJSON *data = cJSON_CreateObject();
        cJSON_AddStringToObject(data, "code", code);
        reply_error(c, 401, -32001, data, "unauthorized: %s", why);
    }
}

void mcp_reply(struct mcp_call *c, cJSON *result, int code, cJSON *data, const char *msg)
{
    char generic[200];

    if (code == -32603) {
        /* an internal fault (the database): its text goes to the log, the client gets the
         * request id to quote */
        JC_LOG(c->mcp->app->log, JC_LOG_WARN, c->req->request_id, NULL, "%s: %s",
               c->op[0] != '\0' ? c->op : c->method, msg);
        snprintf(generic, sizeof(generic),
                 "temporarily unavailable; try again shortly (request %s)", c->req->request_id);
        msg = generic;
    }
    if (c->op[0] != '\0')
        audit(c,
              code == 0        ? "success"
              : code == -32003 ? "denied"
              : code == -32602 ? "invalid"
                               : "error",
              code == 0 ? NULL : msg);
    if (code == 0) {
        reply_result(c, result);
        return;
    }
    cJSON_Delete(result);
    reply_error(c, code == -32003 ? 403 : 200, code, data, "%s", msg);
}

/* ---- tool results ---- */

/* After a successful write to a project: drop its cached reads here at once (read your own
 * writes), and tell the other replicas and dashboards through project:<id> what was stored (the
 * result's agent or run record: the agent is the token's, whatever the arguments said). */
static void wrote(struct mcp_call *c, const cJSON *structured)
{
    const char *type = strcmp(c->tool->name, "agent_report") == 0 ? "agent.updated"
                       : strcmp(c->tool->name, "run_report") == 0 ? "run.updated"
                                                                  : NULL;
    const cJSON *data = cJSON_GetObjectItem(
        structured, strcmp(c->tool->name, "agent_report") == 0 ? "agent" : "run");

    if (c->project_id[0] == '\0')
        return;
    mcp_cache_invalidate(c->mcp->cache, c->project_id);
    if (type != NULL && jc_events_publish(c->mcp->app->redis, c->project_id, type, NULL,
                                          data != NULL ? data : c->args, NULL, NULL) != JC_OK)
        JC_LOG(c->mcp->app->log, JC_LOG_WARN, c->req->request_id, NULL,
               "could not publish %s for project %s", type, c->project_id);
}

/* The successful result: structured (taken) and s, the same JSON as text (borrowed, may be
 * NULL after an allocation failure). */
static void tool_result(struct mcp_call *c, cJSON *structured, const char *s)
{
    cJSON *result, *content, *text;

    audit(c, "success", NULL);
    if (c->cache_key[0] != '\0' && s != NULL)
        mcp_cache_put(c->mcp->cache, c->cache_key, c->cache_project, s, c->cache_gen);
    if (!c->tool->read_only)
        wrote(c, structured);
    if (c->rest) {
        jc_http_reply_json(c->req, 200, structured);
        call_free(c);
        return;
    }
    result = cJSON_CreateObject();
    content = cJSON_AddArrayToObject(result, "content");
    text = cJSON_CreateObject();
    cJSON_AddStringToObject(text, "type", "text");
    cJSON_AddStringToObject(text, "text", s != NULL ? s : "{}");
    cJSON_AddItemToArray(content, text);
    cJSON_AddItemToObject(result, "structuredContent", structured);
    cJSON_AddBoolToObject(result, "isError", false);
    reply_result(c, result);
}

void mcp_tool_result(struct mcp_call *c, cJSON *structured)
{
    char *s = cJSON_PrintUnformatted(structured);

    tool_result(c, structured, s);
    cJSON_free(s);
}

/* A tool result with isError: the model reads msg and can correct itself. REST callers get
 * rest_status with the same message. outcome goes to the audit row. */
static void tool_failed(struct mcp_call *c, const char *outcome, int rest_status, const char *msg)
{
    cJSON *result, *content, *text;

    audit(c, outcome, msg);
    if (c->rest) {
        jc_http_reply_error(c->req, rest_status,
                            rest_status == 400 ? "invalid_arguments" : "tool_error", "%s", msg);
        call_free(c);
        return;
    }
    result = cJSON_CreateObject();
    content = cJSON_AddArrayToObject(result, "content");
    text = cJSON_CreateObject();
    cJSON_AddStringToObject(text, "type", "text");
    cJSON_AddStringToObject(text, "text", msg);
    cJSON_AddItemToArray(content, text);
    cJSON_AddBoolToObject(result, "isError", true);
    reply_result(c, result);
}

void mcp_tool_error(struct mcp_call *c, const char *fmt, ...)
{
    char msg[600];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    tool_failed(c, "error", 422, msg);
}

/* ---- tools/call: scope, validation, rate limit, run ---- */

/* A cached read of one project answers without Postgres (cache.h). On a miss the call notes
 * the key and generation, and mcp_tool_result stores what the database said. */
/*
 * A cached answer as it is sent: the envelope written around the cached text, which is both the
 * structuredContent and (escaped) the text content, so a hit neither parses nor prints the
 * answer's tree. False (nothing sent) when out of memory; c is freed when true.
 */
static bool cached_reply(struct mcp_call *c, const char *s)
{
    cJSON *str = cJSON_CreateString(s);
    char *esc = str != NULL ? cJSON_PrintUnformatted(str) : NULL;
    char *id = c->id != NULL ? cJSON_PrintUnformatted(c->id) : NULL;
    char *body = NULL;
    size_t cap;
    int n;

    cJSON_Delete(str);
    if (esc == NULL || (c->id != NULL && id == NULL))
        goto fail;
    cap = strlen(esc) + strlen(s) + (id != NULL ? strlen(id) : 4) + 160;
    body = malloc(cap);
    if (body == NULL)
        goto fail;
    n = snprintf(body, cap,
                 "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":{\"content\":[{\"type\":\"text\","
                 "\"text\":%s}],\"structuredContent\":%s,\"isError\":false%s}}",
                 id != NULL ? id : "null", esc, s, c->modern ? ",\"resultType\":\"complete\"" : "");
    if (n < 0 || (size_t)n >= cap)
        goto fail;
    audit(c, "success", NULL);
    jc_req_add_header(c->req, "MCP-Protocol-Version", c->version);
    jc_http_reply_raw(c->req, 200, "application/json", body, (size_t)n);
    free(body);
    cJSON_free(esc);
    cJSON_free(id);
    call_free(c);
    return true;
fail:
    free(body);
    cJSON_free(esc);
    cJSON_free(id);
    return false;
}

static void count_cache(struct jc_metrics *metrics, const char *labels)
{
    jc_metric_inc(
        jc_metrics_counter(metrics, "jive_mcp_cache_total", "Cacheable reads by outcome", labels),
        1);
}

static bool cache_hit(struct mcp_call *c)
{
    const char *project = cJSON_GetStringValue(cJSON_GetObjectItem(c->args, "project_id"));
    struct jc_metrics *metrics = c->mcp->app->metrics;
    char *text;
    cJSON *json;

    if (project == NULL || !jc_crypto_is_uuid(project) || c->args_hash[0] == '\0')
        return false;
    /* a token limited to some projects sees less than its org: its answers are its own */
    snprintf(c->cache_key, sizeof(c->cache_key), "%s|%.16s|%s|%s", c->org_id, c->projects_tag,
             c->tool->name, c->args_hash);
    text = mcp_cache_get(c->mcp->cache, c->cache_key);
    /* a single answer goes out as the cached text; a batch member or REST needs the tree */
    if (text != NULL && c->batch == NULL && !c->rest && cached_reply(c, text)) {
        count_cache(metrics, "outcome=\"hit\"");
        free(text);
        return true;
    }
    json = text != NULL ? cJSON_Parse(text) : NULL;
    if (json == NULL) {
        free(text);
        snprintf(c->cache_project, sizeof(c->cache_project), "%s", project);
        c->cache_gen = mcp_cache_gen(c->mcp->cache);
        count_cache(metrics, "outcome=\"miss\"");
        return false;
    }
    c->cache_key[0] = '\0'; /* nothing to store */
    count_cache(metrics, "outcome=\"hit\"");
    tool_result(c, json, text); /* the cached text is the result's text as it is */
    free(text);
    return true;
}

typedef void handler_fn(struct mcp_call *c);
static handler_fn *read_handler(const struct mcp_call *c);

static void rated(const struct jc_rate *rate, void *ud)
{
    struct mcp_call *c = ud;
    char v[32];

    if (c->batch == NULL) { /* one HTTP answer carries a whole batch: no per-call headers */
        snprintf(v, sizeof(v), "%ld", rate->limit);
        jc_req_add_header(c->req, "RateLimit-Limit", v);
        snprintf(v, sizeof(v), "%ld", rate->remaining);
        jc_req_add_header(c->req, "RateLimit-Remaining", v);
        snprintf(v, sizeof(v), "%ld", (rate->reset_ms + 999) / 1000);
        jc_req_add_header(c->req, "RateLimit-Reset", v);
    }
    if (rate->degraded) {
        jc_metric_inc(jc_metrics_counter(c->mcp->app->metrics, "jive_ratelimit_degraded_total",
                                         "Calls allowed unchecked while Redis was unavailable",
                                         NULL),
                      1);
        JC_LOG(c->mcp->app->log, JC_LOG_WARN, c->req->request_id, NULL,
               "rate limit unchecked (Redis unavailable): %s by %s allowed",
               c->tool != NULL ? c->tool->name : c->op, c->who.sub);
    } else if (!rate->allowed) {
        snprintf(v, sizeof(v), "%ld", (rate->retry_after_ms + 999) / 1000);
        if (c->batch == NULL)
            jc_req_add_header(c->req, "Retry-After", v);
        audit(c, "rate_limited", "rate limit exceeded");
        if (c->rest) {
            jc_http_reply_error(c->req, 429, "rate_limited", "rate limit exceeded; retry in %s s",
                                v);
            call_free(c);
            return;
        }
        reply_error(c, 429, -32029, NULL, "rate limit exceeded; retry in %s s", v);
        return;
    }
    if (c->tool == NULL) {
        read_handler(c)(c); /* a metered read other than a tool */
        return;
    }
    if (c->tool->cached && cache_hit(c))
        return;
    c->tool->fn(c);
}

/* The token bucket of the caller (org and subject), for tools and metered reads alike. */
static void take_rate(struct mcp_call *c)
{
    char key[300];

    snprintf(key, sizeof(key), "jive:rl:%s:%s", c->org_id, c->who.sub);
    jc_ratelimit_take(&c->mcp->rl, key, c->mcp->app->cfg.rate_limit_per_minute, rated, c);
}

static void tools_call(struct mcp_call *c)
{
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(c->params, "name"));
    const cJSON *args = cJSON_GetObjectItem(c->params, "arguments");
    char buf[200], *canon;
    const char *bad;

    c->tool = mcp_tool_find(name);
    if (args == NULL) {
        cJSON_AddItemToObject((cJSON *)c->params, "arguments", cJSON_CreateObject());
        args = cJSON_GetObjectItem(c->params, "arguments");
    }
    c->args = args;
    canon = cJSON_PrintUnformatted(args);
    if (canon != NULL && jc_crypto_sha256_hex(canon, strlen(canon), c->args_hash) != JC_OK)
        c->args_hash[0] = '\0';
    cJSON_free(canon);
    if (c->tool == NULL) {
        audit(c, "invalid", "unknown tool");
        reply_error(c, c->rest ? 404 : 200, -32602, NULL, "unknown tool '%.80s'",
                    name != NULL ? name : "");
        return;
    }
    if (!jc_principal_has_scope(&c->who, c->tool->scope)) {
        char www[300];
        snprintf(www, sizeof(www),
                 "Bearer error=\"insufficient_scope\", scope=\"%s\", error_description=\"%s "
                 "needs the %s scope\"",
                 c->tool->scope, c->tool->name, c->tool->scope);
        jc_req_add_header(c->req, "WWW-Authenticate", www);
        audit(c, "denied", "insufficient scope");
        if (c->rest) {
            jc_http_reply_error(c->req, 403, "insufficient_scope", "%s needs the %s scope",
                                c->tool->name, c->tool->scope);
            call_free(c);
            return;
        }
        reply_error(c, 403, -32003, NULL, "%s needs the %s scope", c->tool->name, c->tool->scope);
        return;
    }
    bad = mcp_validate(c->tool, args, buf, sizeof(buf));
    if (bad != NULL) {
        /* input validation is a tool execution error since 2025-11-25 (the model can fix it);
         * an unknown tool stays a protocol error */
        char msg[600];
        snprintf(msg, sizeof(msg), "invalid arguments for %s: %s", c->tool->name, bad);
        tool_failed(c, "invalid", 400, msg);
        return;
    }
    take_rate(c);
}

/* ---- the other methods ---- */

static cJSON *capabilities(const struct mcp_call *c)
{
    cJSON *caps = cJSON_CreateObject();

    cJSON_AddItemToObject(cJSON_AddObjectToObject(caps, "tools"), "listChanged",
                          cJSON_CreateFalse());
    cJSON_AddItemToObject(cJSON_AddObjectToObject(caps, "resources"), "listChanged",
                          cJSON_CreateFalse());
    cJSON_AddItemToObject(cJSON_AddObjectToObject(caps, "prompts"), "listChanged",
                          cJSON_CreateFalse());
    cJSON_AddObjectToObject(caps, "completions");
    if (!c->modern)
        cJSON_AddObjectToObject(caps, "logging");
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

/* The methods answered by a handler of their own (same in both eras). */
struct handler {
    const char *method;
    void (*fn)(struct mcp_call *c);
};

static const struct handler handlers[] = {
    {"tools/call", tools_call},
    {"resources/list", mcp_resources_list},
    {"resources/templates/list", mcp_resources_templates},
    {"resources/read", mcp_resources_read},
    {"prompts/list", mcp_prompts_list},
    {"prompts/get", mcp_prompts_get},
    {"completion/complete", mcp_complete},
    {NULL, NULL},
};

static handler_fn *read_handler(const struct mcp_call *c)
{
    const struct handler *h;

    for (h = handlers; h->method != NULL; h++)
        if (strcmp(c->method, h->method) == 0)
            return h->fn;
    return NULL;
}

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
        reply_result(c, result);
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
        reply_result(c, result);
        return;
    }
    if (strcmp(m, "ping") == 0 && !c->modern) {
        reply_result(c, cJSON_CreateObject());
        return;
    }
    if (strcmp(m, "logging/setLevel") == 0 && !c->modern) {
        reply_result(c, cJSON_CreateObject());
        return;
    }
    if (strcmp(m, "tools/list") == 0) {
        const struct mcp_tool *t;
        cJSON *tools;
        result = cJSON_CreateObject();
        tools = cJSON_AddArrayToObject(result, "tools");
        for (t = mcp_tools; t->name != NULL; t++)
            if (jc_principal_has_scope(&c->who, t->scope))
                cJSON_AddItemToArray(tools, mcp_tool_describe(t));
        if (c->modern)
            caching(result);
        reply_result(c, result);
        return;
    }
    if (operation(c)) {
        take_rate(c); /* then rated() runs the read */
        return;
    }
    for (h = handlers; h->method != NULL; h++)
        if (strcmp(m, h->method) == 0) {
            h->fn(c);
            return;
        }
    reply_error(c, c->modern ? 404 : 200, -32601, NULL, "method not found: %.80s", m);
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

static void authenticate(struct mcp_call *c)
{
    if (!token_verified(c))
        return;
    c->authed = true;
    if (c->who.projects[0] != '\0' &&
        jc_crypto_sha256_hex(c->who.projects, strlen(c->who.projects), c->projects_tag) != JC_OK) {
        unauthorized(c, "TOKEN_INVALID", "cannot read the projects claim");
        return;
    }
    if (!jc_crypto_is_uuid(c->who.org_id)) {
        unauthorized(c, "TOKEN_INVALID", "the token names no org (org_id)");
        return;
    }
    snprintf(c->org_id, sizeof(c->org_id), "%s", c->who.org_id);
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
    if (hm == NULL || !header_is(hm, c->method)) {
        reply_error(c, 400, ERR_HEADER_MISMATCH, NULL,
                    "Mcp-Method header (%.80s) does not match the body's method (%.80s)",
                    hm != NULL ? hm : "missing", c->method);
        return false;
    }
    if ((body_name != NULL) != (hn != NULL) || (hn != NULL && !header_is(hn, body_name))) {
        reply_error(c, 400, ERR_HEADER_MISMATCH, NULL,
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
            reply_error(c, 400, -32602, NULL,
                        "_meta must carry io.modelcontextprotocol/protocolVersion (string) and "
                        "io.modelcontextprotocol/clientCapabilities (object)");
            return;
        }
        /* the header must repeat the body's version before the version itself is judged */
        if (hv == NULL || !header_is(hv, pv->valuestring)) {
            reply_error(c, 400, ERR_HEADER_MISMATCH, NULL,
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
            reply_error(c, 400, ERR_UNSUPPORTED_VERSION, data, "unsupported protocol version %.40s",
                        pv->valuestring);
            return;
        }
        snprintf(c->version, sizeof(c->version), "%s", MCP_MODERN);
        if (!headers_match(c))
            return;
    } else if (strcmp(c->method, "initialize") != 0) {
        /* 2025 era after initialize: the header names the negotiated version */
        if (hv != NULL && !legacy_supported(hv)) {
            reply_error(c, 400, -32600, NULL, "unsupported MCP-Protocol-Version %.40s", hv);
            return;
        }
        snprintf(c->version, sizeof(c->version), "%s", hv != NULL ? hv : "2025-03-26");
    }
    authenticate(c);
}

static struct mcp_call *new_call(struct mcp *m, struct jc_req *req)
{
    struct mcp_call *c = calloc(1, sizeof(*c));

    if (c == NULL) {
        jc_http_reply_error(req, 503, "unavailable", "out of memory");
        return NULL;
    }
    c->mcp = m;
    c->req = req;
    c->t0 = jc_clock_mono();
    snprintf(c->version, sizeof(c->version), "2025-11-25");
    return c;
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
        reply_error(c, 400, -32600, NULL, "invalid request: the batch is empty");
        return;
    }
    {
        const char *code = NULL;
        char err[160];
        if (!token_check(c, &code, err, sizeof(err))) {
            /* refused whole, but each operation it asked for leaves its audit row */
            for (el = c->body->child; el != NULL; el = el->next) {
                struct mcp_call *m = new_call(c->mcp, c->req);
                if (m == NULL)
                    continue;
                m->body = cJSON_Duplicate(el, 1);
                if (request_object(m) && (strcmp(m->method, "tools/call") == 0 || operation(m)))
                    audit(m, "denied", err);
                call_free(m);
            }
            unauthorized(c, code, err);
            return;
        }
    }
    b = calloc(1, sizeof(*b));
    if (b == NULL || (b->responses = cJSON_CreateArray()) == NULL) {
        free(b);
        reply_error(c, 503, -32603, NULL, "out of memory");
        return;
    }
    b->req = c->req;
    b->pending = 1;
    for (el = c->body->child; el != NULL; el = el->next) {
        struct mcp_call *m = new_call(c->mcp, c->req);
        if (m == NULL)
            continue;
        m->batch = b;
        /* b outlives the loop: pending holds one extra count until the batch_done below */
        b->pending++; /* NOLINT(clang-analyzer-unix.Malloc) */
        m->body = cJSON_Duplicate(el, 1);
        if (!request_object(m)) {
            reply_error(m, 400, -32600, NULL, "%s", not_a_request);
        } else if (m->id == NULL) {
            call_free(m); /* a notification: no response */
            batch_done(b);
        } else if (strcmp(m->method, "initialize") == 0) {
            reply_error(m, 400, -32600, NULL, "initialize must not be part of a JSON-RPC batch");
        } else {
            handle_request(m);
        }
    }
    call_free(c);
    batch_done(b); /* NOLINT(clang-analyzer-unix.Malloc): the extra count keeps b alive */
}

/* DNS-rebinding defence, the same on /mcp and the REST routes: a browser page from a foreign
 * origin is refused. Returns the refused Origin, NULL when the request may go on. */
static const char *origin_refused(const struct mcp *m, struct jc_req *req)
{
    const char *origin = jc_req_header(req, "Origin");

    if (origin != NULL && !jc_config_origin_allowed(&m->app->cfg, origin) &&
        !loopback_same_origin(origin, jc_req_header(req, "Host")))
        return origin;
    return NULL;
}

static void post_mcp(struct jc_req *req, void *ud)
{
    struct mcp *m = ud;
    struct mcp_call *c;
    const char *origin = origin_refused(m, req);
    const char *accept = jc_req_header(req, "Accept");
    const char *body;
    size_t len = 0;

    c = new_call(m, req);
    if (c == NULL)
        return;
    if (origin != NULL) {
        reply_error(c, 403, -32600, NULL, "origin %.100s is not allowed", origin);
        return;
    }
    if (accept != NULL && strstr(accept, "application/json") == NULL &&
        strstr(accept, "*/*") == NULL && strstr(accept, "text/event-stream") == NULL) {
        reply_error(c, 406, -32600, NULL, "Accept must include application/json");
        return;
    }
    body = jc_req_body(req, &len);
    c->body = body != NULL ? cJSON_ParseWithLength(body, len) : NULL;
    if (c->body == NULL) {
        reply_error(c, 400, -32700, NULL, "parse error: the body is not JSON");
        return;
    }
    if (cJSON_IsArray(c->body)) {
        const char *hv = jc_req_header(req, "MCP-Protocol-Version");
        /* batches exist only in 2025-03-26, whose clients send no version header */
        if (hv != NULL && !header_is(hv, "2025-03-26")) {
            reply_error(c, 400, -32600, NULL,
                        "JSON-RPC batches are not supported on this protocol version (only on "
                        "2025-03-26)");
            return;
        }
        post_batch(c);
        return;
    }
    if (!request_object(c)) {
        reply_error(c, 400, -32600, NULL, "%s", not_a_request);
        return;
    }
    if (c->id == NULL) {
        /* a notification: accepted, nothing to answer */
        jc_http_reply_raw(req, 202, NULL, NULL, 0);
        call_free(c);
        return;
    }
    handle_request(c);
}

static void not_allowed(struct jc_req *req, void *ud)
{
    (void)ud;
    jc_req_add_header(req, "Allow", "POST");
    jc_http_reply_error(req, 405, "method_not_allowed",
                        "this server is stateless and pushes nothing: use POST /mcp");
}

/* GET /mcp/tools: the tool list for REST clients (the token's scopes decide). */
static void rest_tools(struct jc_req *req, void *ud)
{
    const char *origin = origin_refused(ud, req);
    struct mcp_call *c;

    if (origin != NULL) {
        jc_http_reply_error(req, 403, "origin_not_allowed", "origin %.100s is not allowed", origin);
        return;
    }
    c = new_call(ud, req);
    if (c == NULL)
        return;
    c->rest = true;
    c->body = cJSON_CreateObject();
    c->method = "tools/list";
    c->params = cJSON_AddObjectToObject(c->body, "params");
    authenticate(c);
}

/* POST /mcp/invoke {"tool", "arguments"}: the same tools without JSON-RPC. */
static void rest_invoke(struct jc_req *req, void *ud)
{
    const char *origin = origin_refused(ud, req);
    struct mcp_call *c;
    const char *body;
    size_t len = 0;
    cJSON *tool;

    if (origin != NULL) {
        jc_http_reply_error(req, 403, "origin_not_allowed", "origin %.100s is not allowed", origin);
        return;
    }
    c = new_call(ud, req);
    if (c == NULL)
        return;
    c->rest = true;
    c->method = "tools/call";
    body = jc_req_body(req, &len);
    c->body = body != NULL ? cJSON_ParseWithLength(body, len) : NULL;
    if (!cJSON_IsObject(c->body)) {
        jc_http_reply_error(req, 400, "invalid_json", "the body must be a JSON object");
        call_free(c);
        return;
    }
    /* reshape {"tool": name, "arguments": {...}} as tools/call params */
    tool = cJSON_GetObjectItem(c->body, "tool");
    c->params = c->body;
    if (cJSON_IsString(tool))
        cJSON_AddStringToObject(c->body, "name", tool->valuestring);
    authenticate(c);
}

/* RFC 9728 protected resource metadata. */
static void resource_metadata(struct jc_req *req, void *ud)
{
    struct mcp *m = ud;
    cJSON *d = cJSON_CreateObject(), *scopes;
    const struct mcp_tool *t;

    cJSON_AddStringToObject(d, "resource", m->app->cfg.jwt_audience);
    cJSON_AddItemToObject(d, "authorization_servers", cJSON_CreateArray());
    if (m->app->cfg.jwt_issuer != NULL)
        cJSON_AddItemToArray(cJSON_GetObjectItem(d, "authorization_servers"),
                             cJSON_CreateString(m->app->cfg.jwt_issuer));
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
    cJSON_AddStringToObject(d, "resource_name", "JIVE MCP server");
    jc_http_reply_json(req, 200, d);
}

enum jc_err mcp_routes(struct mcp *m)
{
    struct jc_http *h = m->app->http;
    enum jc_err rc = JC_OK;

    if (rc == JC_OK)
        rc = jc_http_route(h, "POST", "/mcp", post_mcp, m);
    if (rc == JC_OK)
        rc = jc_http_route(h, "GET", "/mcp", not_allowed, m);
    if (rc == JC_OK)
        rc = jc_http_route(h, "DELETE", "/mcp", not_allowed, m);
    if (rc == JC_OK)
        rc = jc_http_route(h, "GET", "/mcp/tools", rest_tools, m);
    if (rc == JC_OK)
        rc = jc_http_route(h, "POST", "/mcp/invoke", rest_invoke, m);
    if (rc == JC_OK)
        rc = jc_http_route(h, "GET", "/.well-known/oauth-protected-resource", resource_metadata, m);
    return rc;
}
