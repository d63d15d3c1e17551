/* SPDX-License-Identifier: MIT */
/*
 * call.c: how an MCP call ends. Every ending is one struct mcp_answer handed to the call's
 * sender, chosen when the call was made: a JSON-RPC response on /mcp, a member's response in a
 * 2025-03-26 batch, or plain JSON on the REST routes. Also here: the audit row of a call, tool
 * results (with the read cache and the project event after a write), and the database helper
 * every tool uses (row-level security as the token's org).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jc/later.h"
#include "jc/clock.h"
#include "jc/crypto.h"
#include "jc/queue.h"
#include "mcp.h"

/* ---- calls ---- */

static struct mcp_call *call_alloc(struct mcp *m, struct jc_req *req, mcp_send_fn *send)
{
    struct mcp_call *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    c->mcp = m;
    c->req = req;
    c->send = send;
    c->t0 = jc_clock_mono();
    snprintf(c->version, sizeof(c->version), "2025-11-25");
    return c;
}

struct mcp_call *mcp_call_new(struct mcp *m, struct jc_req *req, mcp_send_fn *send)
{
    struct mcp_call *c = call_alloc(m, req, send);

    if (c == NULL)
        jc_http_reply_error(req, 503, "unavailable", "out of memory");
    return c;
}

void mcp_call_free(struct mcp_call *c)
{
    mcp_policy_release(c);
    cJSON_Delete(c->body);
    free(c);
}

void mcp_call_header(struct mcp_call *c, const char *name, const char *value)
{
    if (c->batch == NULL)
        jc_req_add_header(c->req, name, value);
}

void mcp_audit(struct mcp_call *c, const char *result, const char *error)
{
    struct jc_audit_entry e = {0};
    char addr[64];

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
    jc_req_client_addr(c->req, c->mcp->app->cfg.trust_proxy, addr, sizeof(addr));
    e.ip = addr[0] != '\0' ? addr : NULL;
    e.user_agent = jc_req_header(c->req, "User-Agent");
    e.request_id = c->req->request_id;
    e.traceparent = c->req->traceparent;
    e.client_id = c->authed && c->who.client_id[0] != '\0' ? c->who.client_id : NULL;
    e.duration_ms = (long)((jc_clock_mono() - c->t0) * 1000.0);
    jc_audit_add(c->mcp->audit, &e);
}

/* ---- the JSON-RPC response of an answer ---- */

static cJSON *text_content(const char *text)
{
    cJSON *content = cJSON_CreateArray(), *item = cJSON_CreateObject();

    cJSON_AddStringToObject(item, "type", "text");
    cJSON_AddStringToObject(item, "text", text);
    cJSON_AddItemToArray(content, item);
    return content;
}

cJSON *mcp_tool_result_object(const char *structured)
{
    cJSON *result = cJSON_CreateObject();

    cJSON_AddItemToObject(result, "content", text_content(structured));
    cJSON_AddItemToObject(result, "structuredContent", cJSON_Parse(structured));
    cJSON_AddBoolToObject(result, "isError", false);
    return result;
}

cJSON *mcp_tool_error_object(const char *msg)
{
    cJSON *result = cJSON_CreateObject();

    cJSON_AddItemToObject(result, "content", text_content(msg));
    cJSON_AddBoolToObject(result, "isError", true);
    return result;
}

/* The response object {jsonrpc, id, result|error} of a (whose parts it takes). */
static cJSON *response(const struct mcp_call *c, struct mcp_answer *a)
{
    cJSON *r = cJSON_CreateObject(), *result = NULL, *e;

    cJSON_AddStringToObject(r, "jsonrpc", "2.0");
    cJSON_AddItemToObject(r, "id", c->id != NULL ? cJSON_Duplicate(c->id, 1) : cJSON_CreateNull());
    switch (a->kind) {
    case MCP_RESULT:
        result = a->result;
        a->result = NULL;
        break;
    case MCP_TOOL:
        result = mcp_tool_result_object(a->text);
        break;
    case MCP_TOOL_ERROR:
        result = mcp_tool_error_object(a->msg);
        break;
    case MCP_ERROR:
        e = cJSON_AddObjectToObject(r, "error");
        cJSON_AddNumberToObject(e, "code", a->code);
        cJSON_AddStringToObject(e, "message", a->msg);
        if (a->data != NULL)
            cJSON_AddItemToObject(e, "data", a->data);
        a->data = NULL;
        return r;
    }
    if (c->modern && cJSON_GetObjectItem(result, "resultType") == NULL)
        cJSON_AddStringToObject(result, "resultType", "complete");
    cJSON_AddItemToObject(r, "result", result);
    return r;
}

/*
 * A tool's answer on /mcp written as text around its structured content, which is both the
 * structuredContent and (escaped) the text content, so neither a hit of the read cache nor a
 * fresh result builds the answer's tree twice. False (nothing sent) when out of memory.
 */
static bool send_tool_text(struct mcp_call *c, const char *s)
{
    cJSON *str = cJSON_CreateString(s);
    char *esc = str != NULL ? cJSON_PrintUnformatted(str) : NULL;
    char *id = c->id != NULL ? cJSON_PrintUnformatted(c->id) : NULL;
    char *body = NULL;
    size_t cap;
    int n;
    bool sent = false;

    cJSON_Delete(str);
    if (esc == NULL || (c->id != NULL && id == NULL))
        goto done;
    cap = strlen(esc) + strlen(s) + (id != NULL ? strlen(id) : 4) + 160;
    body = malloc(cap);
    if (body == NULL)
        goto done;
    n = snprintf(body, cap,
                 "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":{\"content\":[{\"type\":\"text\","
                 "\"text\":%s}],\"structuredContent\":%s,\"isError\":false%s}}",
                 id != NULL ? id : "null", esc, s, c->modern ? ",\"resultType\":\"complete\"" : "");
    if (n < 0 || (size_t)n >= cap)
        goto done;
    jc_req_add_header(c->req, "MCP-Protocol-Version", c->version);
    jc_http_reply_raw(c->req, 200, "application/json", body, (size_t)n);
    sent = true;
done:
    free(body);
    cJSON_free(esc);
    cJSON_free(id);
    return sent;
}

/* ---- the senders ---- */

void mcp_send_jsonrpc(struct mcp_call *c, struct mcp_answer *a)
{
    if (a->kind == MCP_TOOL && send_tool_text(c, a->text)) {
        mcp_call_free(c);
        return;
    }
    if (a->kind != MCP_ERROR)
        jc_req_add_header(c->req, "MCP-Protocol-Version", c->version);
    jc_http_reply_json(c->req, a->kind == MCP_ERROR ? a->status : 200, response(c, a));
    mcp_call_free(c);
}

void mcp_send_rest(struct mcp_call *c, struct mcp_answer *a)
{
    switch (a->kind) {
    case MCP_RESULT:
        jc_http_reply_json(c->req, 200, a->result);
        break;
    case MCP_TOOL:
        jc_http_reply_raw(c->req, 200, "application/json", a->text, strlen(a->text));
        break;
    case MCP_TOOL_ERROR:
    case MCP_ERROR:
        cJSON_Delete(a->data);
        jc_http_reply_error(c->req, a->rest_status,
                            a->rest_code != NULL ? a->rest_code
                            : a->code == -32602  ? "invalid_params"
                                                 : "mcp_error",
                            "%s", a->rest_msg != NULL ? a->rest_msg : a->msg);
        break;
    }
    mcp_call_free(c);
}

/* A 2025-03-26 JSON-RPC batch: its members answer into one array, sent when the last is done
 * (202 without a body when every member was a notification). pending holds one extra count
 * until mcp_batch_close, so a member answering at once cannot end the batch. */
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

static void send_batch(struct mcp_call *c, struct mcp_answer *a)
{
    struct mcp_batch *b = c->batch;

    cJSON_AddItemToArray(b->responses, response(c, a));
    mcp_call_free(c);
    batch_done(b);
}

struct mcp_batch *mcp_batch_open(struct jc_req *req)
{
    struct mcp_batch *b = calloc(1, sizeof(*b));

    if (b == NULL || (b->responses = cJSON_CreateArray()) == NULL) {
        free(b);
        return NULL;
    }
    b->req = req;
    b->pending = 1;
    return b;
}

struct mcp_call *mcp_batch_member(struct mcp_batch *b, struct mcp *m)
{
    struct mcp_call *c = call_alloc(m, b->req, send_batch); /* the batch answers, not c */

    if (c == NULL)
        return NULL;
    c->batch = b;
    b->pending++;
    return c;
}

void mcp_batch_close(struct mcp_batch *b)
{
    batch_done(b);
}

/* ---- endings ---- */

void mcp_result(struct mcp_call *c, cJSON *result)
{
    struct mcp_answer a = {.kind = MCP_RESULT, .result = result};

    c->send(c, &a);
}

void mcp_error(struct mcp_call *c, int status, int rest_status, int code, const char *rest_code,
               cJSON *data, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    struct mcp_answer a = {.kind = MCP_ERROR,
                           .status = status,
                           .rest_status = rest_status,
                           .code = code,
                           .rest_code = rest_code,
                           .msg = msg,
                           .data = data};

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    c->send(c, &a);
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
        mcp_audit(c,
                  code == 0        ? "success"
                  : code == -32003 ? "denied"
                  : code == -32602 ? "invalid"
                                   : "error",
                  code == 0 ? NULL : msg);
    if (code == 0) {
        mcp_result(c, result);
        return;
    }
    cJSON_Delete(result);
    mcp_error(c, code == -32003 ? 403 : 200, code == -32003 ? 403 : 200, code, NULL, data, "%s",
              msg);
}

/* ---- tool results ---- */

/* After a successful write to a project: drop its cached reads here at once (read your own
 * writes), and tell the other replicas and dashboards through project:<id> what was stored (the
 * tool table names the event and the member of the result it carries). */
static void wrote(struct mcp_call *c, const cJSON *structured)
{
    const struct mcp_tool *t = c->tool;
    const cJSON *data =
        t->event_data != NULL ? cJSON_GetObjectItem(structured, t->event_data) : NULL;

    if (c->project_id[0] == '\0')
        return;
    mcp_cache_invalidate(c->mcp->cache, c->project_id);
    if (t->event != NULL && jc_events_publish(c->mcp->app->redis, c->project_id, t->event, NULL,
                                              data != NULL ? data : c->args, NULL, NULL) != JC_OK)
        JC_LOG(c->mcp->app->log, JC_LOG_WARN, c->req->request_id, NULL,
               "could not publish %s for project %s", t->event, c->project_id);
}

void mcp_tool_result(struct mcp_call *c, cJSON *structured)
{
    char *s = cJSON_PrintUnformatted(structured);
    struct mcp_answer a = {.kind = MCP_TOOL, .text = s};

    if (s == NULL) {
        cJSON_Delete(structured);
        mcp_audit(c, "error", "out of memory");
        mcp_error(c, 503, 503, -32603, NULL, NULL, "out of memory");
        return;
    }
    mcp_audit(c, "success", NULL);
    if (c->cache_key[0] != '\0')
        mcp_cache_put(c->mcp->cache, c->cache_key, c->cache_project, s, c->cache_gen);
    if (!c->tool->read_only)
        wrote(c, structured);
    cJSON_Delete(structured);
    c->send(c, &a);
    cJSON_free(s);
}

void mcp_tool_task(struct mcp_call *c, cJSON *task)
{
    struct mcp_answer a = {.kind = MCP_RESULT, .result = task};

    mcp_audit(c, "success", NULL);
    cJSON_AddStringToObject(task, "resultType", "task");
    c->send(c, &a);
}

void mcp_tool_cached(struct mcp_call *c, const char *text)
{
    struct mcp_answer a = {.kind = MCP_TOOL, .text = text};

    mcp_audit(c, "success", NULL);
    c->send(c, &a);
}

/* A tool result with isError: the model reads msg and can correct itself. REST callers get
 * rest_status with the same message. outcome goes to the audit row. */
static void tool_failed(struct mcp_call *c, const char *outcome, int rest_status, const char *msg)
{
    struct mcp_answer a = {.kind = MCP_TOOL_ERROR,
                           .rest_status = rest_status,
                           .rest_code = rest_status == 400 ? "invalid_arguments" : "tool_error",
                           .msg = msg};

    mcp_audit(c, outcome, msg);
    c->send(c, &a);
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

void mcp_tool_invalid(struct mcp_call *c, const char *msg)
{
    tool_failed(c, "invalid", 400, msg);
}

void mcp_db_error(struct mcp_call *c, const char *outcome, const char *detail)
{
    JC_LOG(c->mcp->app->log, JC_LOG_WARN, c->req->request_id, NULL, "%s: database error: %s",
           c->tool != NULL ? c->tool->name : c->method, detail);
    mcp_tool_error(c, "the database is temporarily unavailable%s%s; try again shortly (request %s)",
                   outcome != NULL ? ": " : "", outcome != NULL ? outcome : "", c->req->request_id);
}

/* ---- database access under row-level security ---- */

struct db {
    struct mcp_call *c;
    char *sql;
    int n;
    char **params;
    mcp_db_cb *cb;
    struct jc_pg_tx *tx;
    cJSON *json;
    char err[400];
    enum jc_err late_err; /* a failure before the transaction began */
};

static void db_free(struct db *d)
{
    int i;

    for (i = 0; d->params != NULL && i < d->n; i++)
        free(d->params[i]);
    free(d->params);
    free(d->sql);
    free(d);
}

static void db_done(const PGresult *res, enum jc_err err, const char *msg, void *ud)
{
    struct db *d = ud;
    struct mcp_call *c = d->c;
    mcp_db_cb *cb = d->cb;
    cJSON *json = d->json;
    char m[400];

    (void)res;
    snprintf(m, sizeof(m), "%s", d->err[0] != '\0' ? d->err : msg);
    if (d->err[0] == '\0' && err != JC_OK) {
        cJSON_Delete(json);
        json = NULL;
    }
    db_free(d);
    cb(c, json, json != NULL ? JC_OK : (err != JC_OK ? err : JC_EPG), m);
}

static void db_end(struct db *d, bool commit)
{
    struct jc_pg_tx *tx = d->tx;

    d->tx = NULL;
    if ((commit ? jc_pg_tx_commit(tx, db_done, d) : jc_pg_tx_rollback(tx, db_done, d)) != JC_OK)
        db_done(NULL, JC_EPG, "cannot end the transaction", d);
}

static void db_rows(const PGresult *res, enum jc_err err, const char *msg, void *ud)
{
    struct db *d = ud;

    if (err != JC_OK) {
        snprintf(d->err, sizeof(d->err), "%s", msg);
        db_end(d, false);
        return;
    }
    d->json = PQntuples(res) > 0 && !PQgetisnull(res, 0, 0) ? cJSON_Parse(PQgetvalue(res, 0, 0))
                                                            : cJSON_CreateNull();
    db_end(d, true);
}

static void db_scoped(const PGresult *res, enum jc_err err, const char *msg, void *ud)
{
    struct db *d = ud;

    (void)res;
    if (err != JC_OK) {
        snprintf(d->err, sizeof(d->err), "%s", msg);
        db_end(d, false);
        return;
    }
    if (jc_pg_tx_query(d->tx, d->sql, d->n, (const char *const *)d->params, db_rows, d) != JC_OK) {
        snprintf(d->err, sizeof(d->err), "cannot submit the query");
        db_end(d, false);
    }
}

static void db_began(struct jc_pg_tx *tx, enum jc_err err, const char *msg, void *ud)
{
    struct db *d = ud;
    char timeout[24];
    const char *p[3] = {d->c->org_id, d->c->who.projects, timeout};

    if (err != JC_OK) {
        db_done(NULL, err, msg, d);
        return;
    }
    d->tx = tx;
    /* the runtime role (not the owner, not BYPASSRLS), the token's org and its projects (if
     * it names any), and the server's own statement timeout, for this transaction only */
    snprintf(timeout, sizeof(timeout), "%ld", d->c->mcp->app->cfg.query_timeout_ms);
    if (jc_pg_tx_query(
            tx,
            "SELECT set_config('role', 'jive_runtime', true), "
            "set_config('jive.org_id', $1, true), set_config('jive.projects', $2, true), "
            "set_config('statement_timeout', $3, true)",
            3, p, db_scoped, d) != JC_OK) {
        snprintf(d->err, sizeof(d->err), "cannot submit the query");
        db_end(d, false);
    }
}

/* A read that could not start: answered on the next turn, like any other failure. */
static void db_unstarted(void *arg)
{
    struct db *d = arg;

    db_done(NULL, d->late_err, d->err, d);
}

static void db_unstarted_oom(void *arg)
{
    struct mcp_call *c = arg;

    c->db_cb(c, NULL, JC_ENOMEM, "out of memory");
}

void mcp_db(struct mcp_call *c, const char *sql, int nparams, const char *const *params,
            mcp_db_cb *cb)
{
    struct db *d = calloc(1, sizeof(*d));
    int i;

    if (d == NULL) {
        c->db_cb = cb;
        jc_later(c->mcp->app->base, db_unstarted_oom, c);
        return;
    }
    d->c = c;
    d->cb = cb;
    d->sql = strdup(sql);
    d->params = calloc((size_t)nparams + 1, sizeof(char *));
    d->n = nparams;
    for (i = 0; d->params != NULL && i < nparams; i++)
        d->params[i] = params[i] != NULL ? strdup(params[i]) : NULL;
    if (d->sql == NULL || d->params == NULL) {
        d->late_err = JC_ENOMEM;
        snprintf(d->err, sizeof(d->err), "out of memory");
        jc_later(c->mcp->app->base, db_unstarted, d);
        return;
    }
    if (jc_pg_begin(c->mcp->app->pg, 0, db_began, d) != JC_OK) {
        d->late_err = JC_EPG;
        snprintf(d->err, sizeof(d->err), "database unavailable");
        jc_later(c->mcp->app->base, db_unstarted, d);
    }
}
