/* SPDX-License-Identifier: MIT */
/*
 * policy.c: what an MCP call passes before it runs. A tools/call needs a known tool, the tool's
 * scope in the token, arguments that fit the tool's schema, and a token from the caller's bucket
 * (org and subject, JIVE_RATE_LIMIT_PER_MINUTE); a cached read of one project is then answered
 * from the read cache. Reads of tenant data other than tools (resources, prompts, completion)
 * take from the same bucket and are audited like tools.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    if (c->tool->cached && cache_hit(c))
        return;
    c->tool->fn(c);
}

void mcp_meter(struct mcp_call *c, mcp_tool_fn *then)
{
    char key[300];

    c->then = then;
    jc_key_rate(key, sizeof(key), c->org_id, c->who.sub);
    if (jc_ratelimit_take(&c->mcp->rl, key, c->mcp->app->cfg.rate_limit_per_minute, rated, c) !=
        JC_OK) {
        /* not even asked: as when Redis does not answer, the call goes on unchecked */
        struct jc_rate rate = {true,
                               true,
                               c->mcp->app->cfg.rate_limit_per_minute,
                               c->mcp->app->cfg.rate_limit_per_minute,
                               0,
                               0};
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
