/* SPDX-License-Identifier: MIT */
/* app.c: the service process skeleton: init, /health, signals, drain, orderly teardown. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/dns.h>

#include "jc/app.h"

/* ---- GET /health: a live round trip to each dependency, bounded by health_timeout_ms ---- */

struct health {
    struct jc_app *app;
    struct jc_req *req;
    int pending;
    bool db_ok;
    bool redis_ok;
    char db_err[160];
    char redis_err[160];
};

static void health_done(struct health *h)
{
    cJSON *body;
    bool ok;

    if (--h->pending > 0)
        return;
    ok = h->db_ok && h->redis_ok;
    body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "status", ok ? "ok" : "unavailable");
    cJSON_AddStringToObject(body, "service", h->app->cfg.svc_name);
    cJSON_AddStringToObject(body, "db", h->db_ok ? "ok" : "down");
    cJSON_AddStringToObject(body, "redis", h->redis_ok ? "ok" : "down");
    if (!h->db_ok)
        cJSON_AddStringToObject(body, "db_error", h->db_err);
    if (!h->redis_ok)
        cJSON_AddStringToObject(body, "redis_error", h->redis_err);
    cJSON_AddStringToObject(body, "version", JC_VERSION);
    jc_http_reply_json(h->req, ok ? 200 : 503, body);
    free(h);
}

static void health_db_cb(const PGresult *res, enum jc_err err, const char *msg, void *ud)
{
    struct health *h = ud;

    (void)res;
    h->db_ok = err == JC_OK;
    if (!h->db_ok)
        snprintf(h->db_err, sizeof(h->db_err), "%s", msg);
    health_done(h);
}

static void health_redis_cb(const redisReply *reply, enum jc_err err, const char *msg, void *ud)
{
    struct health *h = ud;

    (void)reply;
    h->redis_ok = err == JC_OK;
    if (!h->redis_ok)
        snprintf(h->redis_err, sizeof(h->redis_err), "%s", msg);
    health_done(h);
}

static void health_route(struct jc_req *req, void *ud)
{
    struct jc_app *app = ud;
    struct health *h = calloc(1, sizeof(*h));
    static const char *const ping[] = {"PING"};

    if (h == NULL) {
        jc_http_reply_error(req, 503, "unavailable", "out of memory");
        return;
    }
    h->app = app;
    h->req = req;
    h->pending = 3; /* db, redis, and this function's own reference */
    if (jc_pg_query(app->pg, app->cfg.health_timeout_ms, "SELECT 1", 0, NULL, health_db_cb, h) !=
        JC_OK) {
        snprintf(h->db_err, sizeof(h->db_err), "cannot submit a query");
        h->pending--;
    }
    if (jc_redis_command(app->redis, app->cfg.health_timeout_ms, health_redis_cb, h, 1, ping,
                         NULL) != JC_OK) {
        snprintf(h->redis_err, sizeof(h->redis_err), "cannot submit a command");
        h->pending--;
    }
    health_done(h);
}

enum jc_err jc_app_route_health(struct jc_app *app, const char *path)
{
    return jc_http_route(app->http, "GET", path, health_route, app);
}

/* ---- shutdown sequence: drain HTTP → service flush hook → stop the loop ---- */

static void flushed(struct jc_app *app)
{
    jc_info(app->log, "shutdown complete");
    event_base_loopexit(app->base, NULL);
}

static void drained(int unfinished, void *ud)
{
    struct jc_app *app = ud;

    if (unfinished > 0)
        app->exit_code = 1;
    if (app->on_shutdown != NULL)
        app->on_shutdown(app, flushed, app->on_shutdown_ud);
    else
        flushed(app);
}

void jc_app_stop(struct jc_app *app)
{
    if (app->stopping)
        return;
    app->stopping = true;
    jc_info(app->log, "shutting down: draining %d in-flight request(s)",
            jc_http_in_flight(app->http));
    jc_http_drain(app->http, drained, app);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    jc_app_stop(arg);
}

/*
 * libevent's own diagnostics (evdns "All nameservers have failed", ...) as JSON lines too.
 * libevent offers only a process-wide hook without user data, so the line names libevent.
 */
static void libevent_log(int severity, const char *msg)
{
    static const char *const levels[] = {"debug", "info", "warn", "error"};
    cJSON *line = cJSON_CreateObject();
    char *text;

    cJSON_AddStringToObject(line, "level", levels[severity >= 0 && severity <= 3 ? severity : 3]);
    cJSON_AddStringToObject(line, "svc", "libevent");
    cJSON_AddStringToObject(line, "msg", msg);
    text = cJSON_PrintUnformatted(line);
    if (text != NULL) {
        fprintf(stdout, "%s\n", text);
        fflush(stdout);
    }
    cJSON_free(text);
    cJSON_Delete(line);
}

enum jc_err jc_app_init(struct jc_app *app, enum jc_svc svc, jc_config_lookup_fn *lookup, void *ud,
                        char *err, size_t errlen)
{
    enum jc_err rc;

    memset(app, 0, sizeof(*app));
    rc = jc_config_load(&app->cfg, svc, lookup, ud, err, errlen);
    if (rc != JC_OK)
        return rc;
    signal(SIGPIPE, SIG_IGN);
    event_set_log_callback(libevent_log);
    app->base = event_base_new();
    app->log = jc_log_new(app->cfg.svc_name, app->cfg.log_level, stdout);
    app->metrics = jc_metrics_new();
    if (app->base == NULL || app->log == NULL || app->metrics == NULL)
        goto nomem;
    /* Without nameservers (no resolv.conf) names fall back to libpq's and hiredis's own lookup. */
    app->dns = evdns_base_new(app->base,
                              EVDNS_BASE_INITIALIZE_NAMESERVERS | EVDNS_BASE_DISABLE_WHEN_INACTIVE);
    if (app->dns != NULL) {
        evdns_base_set_option(app->dns, "timeout:", "2");
        evdns_base_set_option(app->dns, "attempts:", "2");
    }
    {
        struct jc_pg_opts po = {app->cfg.database_url, (int)app->cfg.db_pool_size,
                                app->cfg.query_timeout_ms, app->cfg.query_timeout_ms, app->dns};
        app->pg = jc_pg_new(app->base, app->log, &po);
    }
    {
        struct jc_redis_opts ro = {app->cfg.redis_host,
                                   app->cfg.redis_port,
                                   app->cfg.redis_password,
                                   app->cfg.redis_db,
                                   app->cfg.redis_timeout_ms,
                                   false,
                                   app->dns};
        app->redis = jc_redis_new(app->base, app->log, &ro);
    }
    app->http = jc_http_new(app->base, &app->cfg, app->log, app->metrics);
    if (app->pg == NULL || app->redis == NULL || app->http == NULL)
        goto nomem;
    if (jc_app_route_health(app, "/health") != JC_OK)
        goto nomem;
    app->sig_term = evsignal_new(app->base, SIGTERM, signal_cb, app);
    app->sig_int = evsignal_new(app->base, SIGINT, signal_cb, app);
    if (app->sig_term == NULL || app->sig_int == NULL || event_add(app->sig_term, NULL) != 0 ||
        event_add(app->sig_int, NULL) != 0)
        goto nomem;
    return JC_OK;
nomem:
    jc_errbuf_set(err, errlen, "out of memory while starting");
    return JC_ENOMEM;
}

enum jc_err jc_app_listen(struct jc_app *app, char *err, size_t errlen)
{
    enum jc_err rc = jc_http_listen(app->http, 0, err, errlen);

    if (rc == JC_OK)
        jc_info(app->log, "%s %s listening on %s:%d", app->cfg.svc_name, JC_VERSION, app->cfg.bind,
                app->cfg.port);
    return rc;
}

int jc_app_run(struct jc_app *app)
{
    event_base_dispatch(app->base);
    return app->exit_code;
}

void jc_app_free(struct jc_app *app)
{
    if (app == NULL)
        return;
    if (app->sig_term != NULL)
        event_free(app->sig_term);
    if (app->sig_int != NULL)
        event_free(app->sig_int);
    /* Pools first: their pending callbacks may still reply to open requests. */
    jc_pg_free(app->pg);
    jc_redis_free(app->redis);
    if (app->dns != NULL)
        evdns_base_free(app->dns, 1); /* completes cancelled lookups, which free themselves */
    jc_http_free(app->http);
    jc_metrics_free(app->metrics);
    jc_log_free(app->log);
    if (app->base != NULL)
        event_base_free(app->base);
    jc_config_clear(&app->cfg);
    memset(app, 0, sizeof(*app));
}

int jc_app_main(enum jc_svc svc, jc_app_setup_fn *setup)
{
    static const char *const names[] = {"jive-mcp", "jive-webhook", "jive-orchestrator", "jivectl"};
    struct jc_app app;
    char err[512] = "";
    int code = 2;

    /* listen before setup: nothing is served until the loop runs, and a port in use then
     * fails before the service has built anything that only its shutdown hook would free */
    if (jc_app_init(&app, svc, NULL, NULL, err, sizeof(err)) != JC_OK ||
        jc_app_listen(&app, err, sizeof(err)) != JC_OK ||
        (setup != NULL && setup(&app, err, sizeof(err)) != JC_OK)) {
        fprintf(stderr, "%s: %s\n", names[svc], err);
        goto out;
    }
    code = jc_app_run(&app);
out:
    jc_app_free(&app);
    return code;
}
