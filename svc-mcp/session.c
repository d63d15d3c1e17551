/* SPDX-License-Identifier: MIT */
/*
 * session.c: sessions of the 2025 era, for resource subscriptions (resources/subscribe and the
 * GET /mcp server stream) — VS Code and Gemini CLI still speak it. initialize assigns a session
 * (Mcp-Session-Id): a Redis key jive:session:<id> holding its owner ("<org id> <subject>") with
 * a TTL that every request carrying it renews, so any replica answers it; an unknown, expired,
 * ended or someone else's session is 404, and the client initializes again. The subscribed
 * URIs are a Redis set beside it; a change is announced on jive:sessions so that the replica
 * holding the session's GET stream reloads them (events.c). Nothing else depends on the
 * session: a client that never subscribes is served as without one, and a request without the
 * header is served statelessly as before.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jc/crypto.h"
#include "jc/keys.h"
#include "mcp.h"

/* KEYS[1] the set; ARGV: add|remove, uri, ttl, channel, session id */
static const char subscribe_lua[] = "if ARGV[1] == 'add' then redis.call('SADD', KEYS[1], ARGV[2]) "
                                    "else redis.call('SREM', KEYS[1], ARGV[2]) end "
                                    "redis.call('EXPIRE', KEYS[1], ARGV[3]) "
                                    "redis.call('PUBLISH', ARGV[4], ARGV[5]) "
                                    "return 1";

static struct jc_redis_script subscribe_script;

/* 404 for a session that is not (or no longer) the caller's: the client initializes again. */
static void not_found(struct mcp_call *c)
{
    cJSON *data = cJSON_CreateObject();

    cJSON_AddStringToObject(data, "code", "session_not_found");
    mcp_error(c, 404, 404, -32001, "session_not_found", data,
              "session not found (it ended or expired); initialize again");
}

static void owner(const struct mcp_call *c, char *out, size_t len)
{
    snprintf(out, len, "%s %s", c->org_id, c->who.sub);
}

/* ---- initialize ---- */

struct opening {
    struct mcp_call *c;
    cJSON *result;
    char id[48];
};

static void opened(const redisReply *r, enum jc_err err, const char *msg, void *ud)
{
    struct opening *o = ud;

    (void)r;
    if (err == JC_OK)
        mcp_call_header(o->c, "Mcp-Session-Id", o->id);
    else /* served without a session: everything but subscriptions works */
        JC_LOG(o->c->mcp->app->log, JC_LOG_WARN, o->c->req->request_id, NULL,
               "initialize without a session (Redis: %s)", msg);
    mcp_result(o->c, o->result);
    free(o);
}

void mcp_session_open(struct mcp_call *c, cJSON *result)
{
    struct opening *o = calloc(1, sizeof(*o));
    char key[JC_KEY_LEN], who[220], ttl[24];
    const char *argv[5] = {"SET", key, who, "EX", ttl};

    if (o == NULL || c->batch != NULL || jc_crypto_random_token(o->id, 24) != JC_OK) {
        free(o);
        mcp_result(c, result); /* a batch member answers in the batch: no header of its own */
        return;
    }
    o->c = c;
    o->result = result;
    jc_key_session(key, sizeof(key), o->id);
    owner(c, who, sizeof(who));
    snprintf(ttl, sizeof(ttl), "%ld", c->mcp->app->cfg.session_ttl_s);
    if (jc_redis_command(c->mcp->app->redis, 0, opened, o, 5, argv, NULL) != JC_OK) {
        free(o);
        mcp_result(c, result);
    }
}

/* ---- every later request that carries the session ---- */

struct checking {
    struct mcp_call *c;
    mcp_tool_fn *then;
};

static void checked(const redisReply *r, enum jc_err err, const char *msg, void *ud)
{
    struct checking *k = ud;
    struct mcp_call *c = k->c;
    mcp_tool_fn *then = k->then;
    char who[220];

    free(k);
    if (err != JC_OK) { /* Redis away: served as without a session */
        JC_LOG(c->mcp->app->log, JC_LOG_WARN, c->req->request_id, NULL,
               "session not checked (Redis: %s)", msg);
        c->session[0] = '\0';
        then(c);
        return;
    }
    owner(c, who, sizeof(who));
    if (r->type != REDIS_REPLY_STRING || strcmp(r->str, who) != 0) {
        not_found(c);
        return;
    }
    then(c);
}

void mcp_session_check(struct mcp_call *c, mcp_tool_fn *then)
{
    const char *id = jc_req_header(c->req, "Mcp-Session-Id");
    struct checking *k;
    char key[JC_KEY_LEN], ttl[24];
    const char *argv[4] = {"GETEX", key, "EX", ttl};

    if (id == NULL || strlen(id) >= sizeof(c->session) || id[0] == '\0' ||
        strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") !=
            strlen(id)) {
        not_found(c);
        return;
    }
    snprintf(c->session, sizeof(c->session), "%s", id);
    k = malloc(sizeof(*k));
    jc_key_session(key, sizeof(key), id);
    snprintf(ttl, sizeof(ttl), "%ld", c->mcp->app->cfg.session_ttl_s);
    if (k == NULL) {
        mcp_error(c, 503, 503, -32603, "unavailable", NULL, "out of memory");
        return;
    }
    k->c = c;
    k->then = then;
    if (jc_redis_command(c->mcp->app->redis, 0, checked, k, 4, argv, NULL) != JC_OK) {
        free(k);
        c->session[0] = '\0';
        then(c); /* as when Redis does not answer */
    }
}

/* ---- resources/subscribe, resources/unsubscribe ---- */

static void changed(const redisReply *r, enum jc_err err, const char *msg, void *ud)
{
    struct mcp_call *c = ud;

    (void)r;
    if (err != JC_OK) {
        mcp_reply(c, NULL, -32603, NULL, msg);
        return;
    }
    mcp_reply(c, cJSON_CreateObject(), 0, NULL, NULL);
}

static void change(struct mcp_call *c, const char *op)
{
    const char *uri = cJSON_GetStringValue(cJSON_GetObjectItem(c->params, "uri"));
    char key[JC_KEY_LEN], ttl[24];
    const char *argv[6] = {key, op, uri, ttl, JC_CHANNEL_SESSIONS, c->session};

    jc_key_session_subs(key, sizeof(key), c->session);
    snprintf(ttl, sizeof(ttl), "%ld", c->mcp->app->cfg.session_ttl_s);
    if (subscribe_script.source == NULL)
        jc_redis_script_init(&subscribe_script, subscribe_lua);
    if (jc_redis_eval(c->mcp->app->redis, &subscribe_script, 1, 6, argv, changed, c) != JC_OK)
        mcp_reply(c, NULL, -32603, NULL, "out of memory");
}

static void visible(struct mcp_call *c, cJSON *json, enum jc_err err, const char *msg)
{
    bool found = cJSON_IsObject(json);

    cJSON_Delete(json);
    if (err != JC_OK) {
        mcp_reply(c, NULL, -32603, NULL, msg);
        return;
    }
    if (!found) { /* as resources/read says for another org's project */
        mcp_reply(c, NULL, -32002, NULL, "resource not found");
        return;
    }
    change(c, "add");
}

/* The subscription's project: a jive:// URI of a project the token sees. */
static void subscribe_metered(struct mcp_call *c)
{
    const char *p[1] = {c->project_id};

    mcp_db(c, "SELECT json_build_object('id', id)::text FROM projects WHERE id = $1::uuid", 1, p,
           visible);
}

static bool subscription_ok(struct mcp_call *c, const char **uri)
{
    *uri = cJSON_GetStringValue(cJSON_GetObjectItem(c->params, "uri"));
    if (c->session[0] == '\0') {
        mcp_reply(c, NULL, -32600, NULL,
                  "resource subscriptions need the session this server assigned at initialize "
                  "(send its Mcp-Session-Id)");
        return false;
    }
    if (!jc_principal_has_scope(&c->who, "stories:read")) {
        mcp_challenge_scope(c, "stories:read", "subscriptions need the stories:read scope");
        mcp_reply(c, NULL, -32003, NULL, "subscriptions need the stories:read scope");
        return false;
    }
    if (*uri == NULL || strncmp(*uri, "jive://projects/", 16) != 0 || strlen(*uri) > 1100 ||
        strlen(*uri) < 16 + 37 || (*uri)[16 + 36] != '/') {
        mcp_reply(c, NULL, -32602, NULL,
                  "params.uri must be a jive://projects/<project-id>/... resource");
        return false;
    }
    snprintf(c->project_id, sizeof(c->project_id), "%.36s", *uri + 16);
    if (!jc_crypto_is_uuid(c->project_id)) {
        mcp_reply(c, NULL, -32002, NULL, "resource not found");
        return false;
    }
    return true;
}

void mcp_resources_subscribe(struct mcp_call *c)
{
    const char *uri;

    snprintf(c->op, sizeof(c->op), "resources/subscribe");
    if (subscription_ok(c, &uri))
        mcp_meter(c, subscribe_metered);
}

void mcp_resources_unsubscribe(struct mcp_call *c)
{
    const char *uri;

    snprintf(c->op, sizeof(c->op), "resources/unsubscribe");
    if (subscription_ok(c, &uri))
        change(c, "remove");
}

/* ---- DELETE /mcp ---- */

static void ended(const redisReply *r, enum jc_err err, const char *msg, void *ud)
{
    struct mcp_call *c = ud;
    struct jc_req *req = c->req;

    (void)r;
    if (err != JC_OK) {
        mcp_error(c, 503, 503, -32603, "unavailable", NULL, "session not ended: %s", msg);
        return;
    }
    mcp_call_free(c);
    jc_http_reply_raw(req, 200, "application/json", "{}", 2);
}

void mcp_session_end(struct mcp_call *c)
{
    char key[JC_KEY_LEN], subs[JC_KEY_LEN];
    const char *argv[3] = {"DEL", key, subs};

    jc_key_session(key, sizeof(key), c->session);
    jc_key_session_subs(subs, sizeof(subs), c->session);
    if (jc_redis_command(c->mcp->app->redis, 0, ended, c, 3, argv, NULL) != JC_OK)
        mcp_error(c, 503, 503, -32603, "unavailable", NULL, "out of memory");
}
