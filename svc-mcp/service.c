/* SPDX-License-Identifier: MIT */
/*
 * service.c: jive-mcp's start and stop: the rate limiter, the audit writer, the read cache
 * and the subscriber to project:* that invalidates it, the token cache, the routes; at shutdown
 * every audit row of the answered calls is written (or spooled).
 */
#include <stdlib.h>
#include <string.h>

#include "jc/keys.h"
#include "mcp.h"

#define CACHE_ENTRIES 4096
/* Audit rows go to Postgres this often: small, frequent batches keep Postgres's share of the
 * cores even, where a bigger batch every 200 ms took the event loop's core in bursts (p99 of
 * tools/call under load 10.8 ms against 8.7 ms; docs/PERFORMANCE.md). */
#define AUDIT_FLUSH_MS 50

static void mcp_free(struct mcp *m)
{
    if (m == NULL)
        return;
    mcp_events_free(m);
    mcp_oauth_free(m);
    mcp_policy_free(m);
    jc_redis_free(m->events);
    mcp_cache_free(m->cache);
    jc_audit_free(m->audit);
    jc_auth_cache_free(m->tokens);
    free(m);
}

/* project:<id> events drop that project's cached reads and go to its GET /events listeners; a
 * (re)subscription drops every cached read. */
static void on_event(const char *channel, const char *payload, size_t len, void *ud)
{
    struct mcp *m = ud;

    if (payload == NULL || strncmp(channel, JC_CHANNEL_PREFIX, strlen(JC_CHANNEL_PREFIX)) != 0) {
        mcp_cache_invalidate(m->cache, NULL);
        return;
    }
    mcp_cache_invalidate(m->cache, channel + strlen(JC_CHANNEL_PREFIX));
    mcp_events_deliver(m, channel + strlen(JC_CHANNEL_PREFIX), payload, len);
}

/* jive:sessions: a 2025-era session's subscriptions changed (its id): its stream reloads them. */
static void on_session(const char *channel, const char *payload, size_t len, void *ud)
{
    char id[48];

    (void)channel;
    if (payload == NULL || len == 0 || len >= sizeof(id))
        return;
    memcpy(id, payload, len);
    id[len] = '\0';
    mcp_events_session_changed(ud, id);
}

struct stopping {
    struct mcp *m;
    jc_app_done_fn *done;
};

static void audit_flushed(void *ud)
{
    struct stopping *s = ud;
    struct jc_app *app = s->m->app;
    jc_app_done_fn *done = s->done;

    mcp_free(s->m);
    free(s);
    done(app);
}

/* After the HTTP drain: every audit row of the answered calls is written (or spooled). */
static void on_shutdown(struct jc_app *app, jc_app_done_fn *done, void *ud)
{
    struct stopping *s = malloc(sizeof(*s));

    if (s == NULL) {
        mcp_free(ud);
        done(app);
        return;
    }
    s->m = ud;
    s->done = done;
    jc_audit_flush(s->m->audit, audit_flushed, s);
}

enum jc_err mcp_setup(struct jc_app *app, char *err, size_t errlen)
{
    struct mcp *m = calloc(1, sizeof(*m));

    if (m == NULL)
        goto nomem;
    m->app = app;
    jc_ratelimit_init(&m->rl, app->redis);
    m->audit = jc_audit_new(app->base, app->pg, app->log, app->metrics, app->cfg.audit_spool,
                            AUDIT_FLUSH_MS, err, errlen);
    if (m->audit == NULL) {
        mcp_free(m);
        return JC_EIO;
    }
    /* the expiry bounds staleness should an event never be published; 0 turns caching off */
    m->cache = mcp_cache_new(app->cfg.cache_ttl_ms > 0 ? CACHE_ENTRIES : 0, app->cfg.cache_ttl_ms);
    {
        struct jc_redis_opts ro = {app->cfg.redis_host,
                                   app->cfg.redis_port,
                                   app->cfg.redis_password,
                                   app->cfg.redis_db,
                                   app->cfg.redis_timeout_ms,
                                   true,
                                   app->dns};
        m->events = jc_redis_new(app->base, app->log, &ro);
    }
    m->tokens = jc_auth_cache_new();
    if (m->cache == NULL || m->events == NULL || m->tokens == NULL ||
        jc_redis_subscribe(m->events, JC_CHANNEL_PROJECTS, on_event, m) != JC_OK ||
        jc_redis_subscribe(m->events, JC_CHANNEL_SESSIONS, on_session, m) != JC_OK)
        goto nomem;
    if (mcp_oauth_init(m, err, errlen) != JC_OK || mcp_policy_init(m, err, errlen) != JC_OK) {
        mcp_free(m);
        return JC_EINVAL;
    }
    if (jc_app_route_health(app, "/mcp/health") != JC_OK || mcp_routes(m) != JC_OK ||
        mcp_events_init(m) != JC_OK || mcp_board_routes(m) != JC_OK || mcp_admin_routes(m) != JC_OK)
        goto nomem;
    app->on_shutdown = on_shutdown;
    app->on_shutdown_ud = m;
    return JC_OK;
nomem:
    mcp_free(m);
    jc_errbuf_set(err, errlen, "out of memory while starting");
    return JC_ENOMEM;
}
