/* SPDX-License-Identifier: MIT */
/*
 * policy.c: what an MCP call passes before it runs. A tools/call needs a known tool, the tool's
 * scope in the token, arguments that fit the tool's schema, and a token from the caller's bucket
 * (org and subject, JIVE_RATE_LIMIT_PER_MINUTE); a cached read of one project is then answered
 * from the read cache. Reads of tenant data other than tools (resources, prompts, completion)
 * take from the same bucket and are audited like tools.
 *
 * With a policy file (JIVE_POLICY_FILE, jc/policy.h) a tool must also be one the caller's role
 * allows (else it is neither listed nor callable, and the refusal names the rule); the role's
 * rate replaces the server's, a tool's own limit is a second bucket (org, subject and tool), and
 * a tool's concurrency cap is a semaphore in Redis shared by every replica: a sorted set of
 * leases (token, expiry) per org and tool, so a slot whose replica crashed frees itself when its
 * lease ends. Without a policy file nothing of this applies.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jc/keys.h"
#include "jc/crypto.h"
#include "mcp.h"

bool mcp_metered(struct mcp_call *c)
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
        else if (target != NULL && strncmp(target, "jive://reports/", 15) == 0)
            pid = target + 15;
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

/* ---- the policy file ---- */

#define SEM_LEASE_MS 120000 /* longer than any tool call (kanban_move_story waits 30 s at most) */

/* KEYS[1] the slots; ARGV: cap, now (ms), lease (ms), token. 1 when a slot was taken. */
static const char sem_lua[] =
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2]) "
    "if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end "
    "redis.call('ZADD', KEYS[1], tonumber(ARGV[2]) + tonumber(ARGV[3]), ARGV[4]) "
    "redis.call('PEXPIRE', KEYS[1], ARGV[3]) "
    "return 1";

/* Every exact tool name a policy mentions must be a tool: a typo must not silently deny. */
static bool policy_names_tools(const struct jc_policy *p, char *err, size_t errlen)
{
    size_t i, j;

    for (i = 0; i < p->n_roles; i++) {
        const struct jc_policy_role *r = &p->roles[i];
        for (j = 0; r->tools[j] != NULL; j++) {
            if (strpbrk(r->tools[j], "*?[") == NULL && mcp_tool_find(r->tools[j]) == NULL) {
                snprintf(err, errlen, "roles.%s.tools: no tool '%s'", r->name, r->tools[j]);
                return false;
            }
        }
        for (j = 0; j < r->n_limits; j++) {
            if (mcp_tool_find(r->limits[j].tool) == NULL) {
                snprintf(err, errlen, "roles.%s.tool_limits: no tool '%s'", r->name,
                         r->limits[j].tool);
                return false;
            }
        }
    }
    return true;
}

static enum jc_err policy_read(struct mcp *m, struct jc_policy **out, char *err, size_t errlen)
{
    char msg[400];

    if (jc_policy_load(m->app->cfg.policy_file, out, msg, sizeof(msg)) != JC_OK) {
        snprintf(err, errlen, "JIVE_POLICY_FILE: %s", msg);
        return JC_EINVAL;
    }
    if (!policy_names_tools(*out, msg, sizeof(msg))) {
        snprintf(err, errlen, "JIVE_POLICY_FILE: %s: %s", m->app->cfg.policy_file, msg);
        jc_policy_free(*out);
        *out = NULL;
        return JC_EINVAL;
    }
    return JC_OK;
}

/* SIGHUP: the file again; a bad one leaves the policy in force. */
static void reload(evutil_socket_t fd, short what, void *arg)
{
    struct mcp *m = arg;
    struct jc_policy *p = NULL;
    char err[500];

    (void)fd;
    (void)what;
    if (m->app->cfg.policy_file == NULL) {
        jc_info(m->app->log, "SIGHUP: no JIVE_POLICY_FILE to reload");
        return;
    }
    if (policy_read(m, &p, err, sizeof(err)) != JC_OK) {
        jc_error(m->app->log, "policy not reloaded, the one in force stays: %s", err);
        return;
    }
    jc_policy_free(m->policy);
    m->policy = p;
    jc_info(m->app->log, "policy reloaded from %s (%zu roles, %zu subject rules)",
            m->app->cfg.policy_file, p->n_roles, p->n_subjects);
}

enum jc_err mcp_policy_init(struct mcp *m, char *err, size_t errlen)
{
    jc_redis_script_init(&m->sem, sem_lua);
    m->sighup = evsignal_new(m->app->base, SIGHUP, reload, m);
    if (m->sighup == NULL || event_add(m->sighup, NULL) != 0) {
        snprintf(err, errlen, "cannot handle SIGHUP");
        return JC_EIO;
    }
    if (m->app->cfg.policy_file == NULL)
        return JC_OK;
    if (policy_read(m, &m->policy, err, errlen) != JC_OK)
        return JC_EINVAL;
    jc_info(m->app->log, "policy from %s: %zu roles, %zu subject rules", m->app->cfg.policy_file,
            m->policy->n_roles, m->policy->n_subjects);
    return JC_OK;
}

void mcp_policy_free(struct mcp *m)
{
    if (m->sighup != NULL)
        event_free(m->sighup);
    m->sighup = NULL;
    jc_policy_free(m->policy);
    m->policy = NULL;
}

bool mcp_tool_visible(const struct mcp_call *c, const struct mcp_tool *t)
{
    const struct jc_policy_role *r;
    size_t rule;

    if (!jc_principal_has_scope(&c->who, t->scope))
        return false;
    if (c->mcp->policy == NULL)
        return true;
    r = jc_policy_role_of(c->mcp->policy, &c->who, &rule);
    return r != NULL && jc_policy_allows(r, t->name, t->alias);
}

void mcp_policy_release(struct mcp_call *c)
{
    const char *argv[3] = {"ZREM", c->sem_key, c->sem_token};

    if (c->sem_key[0] == '\0')
        return;
    if (jc_redis_command(c->mcp->app->redis, 0, NULL, NULL, 3, argv, NULL) != JC_OK)
        jc_debug(c->mcp->app->log, "a concurrency slot is left to its lease");
    c->sem_key[0] = '\0';
}

/* The role's verdict on c's tool: false after answering 403 with the rule that decided. */
static bool policy_allows_call(struct mcp_call *c)
{
    const struct jc_policy_role *r;
    size_t rule;
    char why[300];

    if (c->mcp->policy == NULL)
        return true;
    r = jc_policy_role_of(c->mcp->policy, &c->who, &rule);
    if (r != NULL && jc_policy_allows(r, c->tool->name, c->tool->alias))
        return true;
    if (r == NULL)
        snprintf(why, sizeof(why),
                 "policy: no subject rule gives %.100s a role, and there is no default_role",
                 c->who.sub);
    else if (rule == 0)
        snprintf(why, sizeof(why), "policy: the default role '%s' does not allow %s", r->name,
                 c->tool->name);
    else
        snprintf(why, sizeof(why), "policy: role '%s' (subjects rule %zu) does not allow %s",
                 r->name, rule, c->tool->name);
    mcp_audit(c, "denied", why);
    mcp_error(c, 403, 403, -32003, "policy_denied", NULL, "%s", why);
    return false;
}

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void run_tool(struct mcp_call *c);

static void slot_taken(const redisReply *reply, enum jc_err err, const char *msg, void *ud)
{
    struct mcp_call *c = ud;
    const struct jc_policy_role *r;
    const struct jc_policy_limit *l;
    size_t rule;

    if (err != JC_OK) { /* as the buckets: Redis away means unchecked, and said so */
        JC_LOG(c->mcp->app->log, JC_LOG_WARN, c->req->request_id, NULL,
               "concurrency cap unchecked (Redis: %s)", msg);
        c->sem_key[0] = '\0';
        run_tool(c);
        return;
    }
    if (reply->type == REDIS_REPLY_INTEGER && reply->integer == 1) {
        run_tool(c);
        return;
    }
    c->sem_key[0] = '\0';
    r = c->mcp->policy != NULL ? jc_policy_role_of(c->mcp->policy, &c->who, &rule) : NULL;
    l = r != NULL ? jc_policy_limit_of(r, c->tool->name) : NULL;
    mcp_call_header(c, "Retry-After", "1");
    mcp_audit(c, "rate_limited", "concurrency cap");
    mcp_error(c, 429, 429, -32029, "too_many_concurrent", NULL,
              "policy: %s runs at most %ld at once for this org (role '%s'); retry shortly",
              c->tool->name, l != NULL ? l->concurrency : 0L, r != NULL ? r->name : "?");
}

/* The tool's concurrency cap, if the policy sets one, then the tool. */
static void take_slot(struct mcp_call *c, const struct jc_policy_limit *l)
{
    char cap[24], now[24], lease[24];
    const char *argv[5];

    if (l == NULL || l->concurrency == 0 || jc_crypto_random_hex(c->sem_token, 16) != JC_OK) {
        run_tool(c);
        return;
    }
    snprintf(c->sem_key, sizeof(c->sem_key), "jive:sem:%s:%s", c->org_id, c->tool->name);
    snprintf(cap, sizeof(cap), "%ld", l->concurrency);
    snprintf(now, sizeof(now), "%lld", now_ms());
    snprintf(lease, sizeof(lease), "%d", SEM_LEASE_MS);
    argv[0] = c->sem_key;
    argv[1] = cap;
    argv[2] = now;
    argv[3] = lease;
    argv[4] = c->sem_token;
    if (jc_redis_eval(c->mcp->app->redis, &c->mcp->sem, 1, 5, argv, slot_taken, c) != JC_OK) {
        c->sem_key[0] = '\0';
        run_tool(c);
    }
}

static void tool_rated(const struct jc_rate *rate, void *ud)
{
    struct mcp_call *c = ud;
    const struct jc_policy_role *r;
    size_t rule;
    char v[32];

    if (!rate->allowed && !rate->degraded) {
        snprintf(v, sizeof(v), "%ld", (rate->retry_after_ms + 999) / 1000);
        mcp_call_header(c, "Retry-After", v);
        mcp_audit(c, "rate_limited", "tool rate limit");
        mcp_error(c, 429, 429, -32029, "rate_limited", NULL,
                  "policy: the rate limit of %s for this caller is reached; retry in %s s",
                  c->tool->name, v);
        return;
    }
    r = jc_policy_role_of(c->mcp->policy, &c->who, &rule);
    take_slot(c, r != NULL ? jc_policy_limit_of(r, c->tool->name) : NULL);
}

/* After the caller's bucket: the tool's own bucket and slot when the policy sets them. */
static void policy_limits(struct mcp_call *c)
{
    const struct jc_policy_role *r;
    const struct jc_policy_limit *l;
    size_t rule;
    char key[400];

    if (c->mcp->policy == NULL || c->tool == NULL) {
        run_tool(c);
        return;
    }
    r = jc_policy_role_of(c->mcp->policy, &c->who, &rule);
    l = r != NULL ? jc_policy_limit_of(r, c->tool->name) : NULL;
    if (l == NULL || l->rate_per_minute == 0) {
        take_slot(c, l);
        return;
    }
    snprintf(key, sizeof(key), "%s:%s:%s", c->org_id, c->who.sub, c->tool->name);
    {
        char full[450];
        jc_key_rate(full, sizeof(full), "tool", key);
        if (jc_ratelimit_take(&c->mcp->rl, full, l->rate_per_minute, tool_rated, c) != JC_OK)
            take_slot(c, l);
    }
}

/* ---- the read cache ---- */

static void count_cache(struct jc_metrics *metrics, const char *labels)
{
    jc_metric_inc(
        jc_metrics_counter(metrics, "jive_mcp_cache_total", "Cacheable reads by outcome", labels),
        1);
}

/* A cached read of one project answers without Postgres (cache.h). On a miss the call notes
 * the key and generation, and mcp_tool_result stores what the database said. True when c was
 * answered. */
static bool cache_hit(struct mcp_call *c)
{
    const char *project = cJSON_GetStringValue(cJSON_GetObjectItem(c->args, "project_id"));
    char *text;

    if (project == NULL || !jc_crypto_is_uuid(project) || c->args_hash[0] == '\0')
        return false;
    /* a token limited to some projects sees less than its org: its answers are its own */
    snprintf(c->cache_key, sizeof(c->cache_key), "%s|%.16s|%s|%s", c->org_id, c->projects_tag,
             c->tool->name, c->args_hash);
    text = mcp_cache_get(c->mcp->cache, c->cache_key);
    if (text == NULL) {
        snprintf(c->cache_project, sizeof(c->cache_project), "%s", project);
        c->cache_gen = mcp_cache_gen(c->mcp->cache);
        count_cache(c->mcp->app->metrics, "outcome=\"miss\"");
        return false;
    }
    c->cache_key[0] = '\0';                                        /* nothing to store */
    snprintf(c->project_id, sizeof(c->project_id), "%s", project); /* the audit row's project */
    count_cache(c->mcp->app->metrics, "outcome=\"hit\"");
    mcp_tool_cached(c, text);
    free(text);
    return true;
}

/* ---- the token bucket ---- */

static void rated(const struct jc_rate *rate, void *ud)
{
    struct mcp_call *c = ud;
    char v[32];

    snprintf(v, sizeof(v), "%ld", rate->limit);
    mcp_call_header(c, "RateLimit-Limit", v);
    snprintf(v, sizeof(v), "%ld", rate->remaining);
    mcp_call_header(c, "RateLimit-Remaining", v);
    snprintf(v, sizeof(v), "%ld", (rate->reset_ms + 999) / 1000);
    mcp_call_header(c, "RateLimit-Reset", v);
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
        mcp_call_header(c, "Retry-After", v);
        mcp_audit(c, "rate_limited", "rate limit exceeded");
        mcp_error(c, 429, 429, -32029, "rate_limited", NULL, "rate limit exceeded; retry in %s s",
                  v);
        return;
    }
    if (c->tool == NULL) {
        c->then(c); /* a metered read other than a tool */
        return;
    }
    policy_limits(c);
}

static void run_tool(struct mcp_call *c)
{
    if (c->tool->cached && cache_hit(c))
        return;
    c->tool->fn(c);
}

void mcp_meter(struct mcp_call *c, mcp_tool_fn *then)
{
    char key[300];
    long per_minute = c->mcp->app->cfg.rate_limit_per_minute;

    c->then = then;
    if (c->mcp->policy != NULL) { /* the role's own rate, when it sets one */
        size_t rule;
        const struct jc_policy_role *r = jc_policy_role_of(c->mcp->policy, &c->who, &rule);
        if (r != NULL && r->rate_per_minute > 0)
            per_minute = r->rate_per_minute;
    }
    jc_key_rate(key, sizeof(key), c->org_id, c->who.sub);
    if (jc_ratelimit_take(&c->mcp->rl, key, per_minute, rated, c) != JC_OK) {
        /* not even asked: as when Redis does not answer, the call goes on unchecked */
        struct jc_rate rate = {true, true, per_minute, per_minute, 0, 0};
        rated(&rate, c);
    }
}

/* ---- tools/call ---- */

void mcp_tools_call(struct mcp_call *c)
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
        mcp_audit(c, "invalid", "unknown tool");
        mcp_error(c, 200, 404, -32602, NULL, NULL, "unknown tool '%.80s'",
                  name != NULL ? name : "");
        return;
    }
    if (!jc_principal_has_scope(&c->who, c->tool->scope)) {
        char why[200];
        snprintf(why, sizeof(why), "%s needs the %s scope", c->tool->name, c->tool->scope);
        mcp_challenge_scope(c, c->tool->scope, why);
        mcp_audit(c, "denied", "insufficient scope");
        mcp_error(c, 403, 403, -32003, "insufficient_scope", NULL, "%s needs the %s scope",
                  c->tool->name, c->tool->scope);
        return;
    }
    if (!policy_allows_call(c))
        return;
    bad = mcp_validate(c->tool, args, buf, sizeof(buf));
    if (bad != NULL) {
        /* input validation is a tool execution error since 2025-11-25 (the model can fix it);
         * an unknown tool stays a protocol error */
        char msg[600];
        snprintf(msg, sizeof(msg), "invalid arguments for %s: %s", c->tool->name, bad);
        mcp_tool_invalid(c, msg);
        return;
    }
    mcp_meter(c, NULL);
}
