/* SPDX-License-Identifier: MIT */
/*
 * jc/app.h: what every JIVE service process is made of: one event base, the validated config,
 * the logger, metrics, the Postgres pool, the Redis command client and the HTTP server with
 * GET /health (live dependency check). SIGTERM/SIGINT drain the server, run the service's flush
 * hook, then stop the loop. No process-global state: tests may build several apps in one process.
 */
#ifndef JC_APP_H
#define JC_APP_H

#include "jc/config.h"
#include "jc/err.h"
#include "jc/http.h"
#include "jc/log.h"
#include "jc/metrics.h"
#include "jc/pg.h"
#include "jc/redis.h"

struct jc_app;

/* Continuation handed to the shutdown hook: call it exactly once when flushing is done. */
typedef void jc_app_done_fn(struct jc_app *app);

/* The service's flush step at shutdown (after the HTTP drain, before pools close). */
typedef void jc_app_shutdown_hook(struct jc_app *app, jc_app_done_fn *done, void *ud);

struct jc_app {
    struct event_base *base;
    struct evdns_base *dns; /* non-blocking name resolution for the pools; may be NULL */
    struct jc_config cfg;
    struct jc_log *log;
    struct jc_metrics *metrics;
    struct jc_pg *pg;
    struct jc_redis *redis;
    struct jc_http *http;
    struct event *sig_term;
    struct event *sig_int;
    jc_app_shutdown_hook *on_shutdown;
    void *on_shutdown_ud;
    bool stopping;
    int exit_code;
};

/*
 * Reads the environment for svc (lookup NULL: getenv), creates the logger (stdout), metrics,
 * pools (connecting in the background) and the HTTP server with /health, /livez and /metrics.
 * On error returns non-OK with a one-line message in err; jc_app_free is still required.
 */
enum jc_err jc_app_init(struct jc_app *app, enum jc_svc svc, jc_config_lookup_fn *lookup, void *ud,
                        char *err, size_t errlen) JC_MUSTCHECK;

/* Starts listening on the configured address and port. JC_EIO with err on failure. */
enum jc_err jc_app_listen(struct jc_app *app, char *err, size_t errlen) JC_MUSTCHECK;

/* Runs the loop until shutdown completes; returns the process exit code (0 on clean drain). */
int jc_app_run(struct jc_app *app);

/* Starts the shutdown sequence programmatically (what SIGTERM does). */
void jc_app_stop(struct jc_app *app);

/* Serves the /health answer on one more path (e.g. "/mcp/health"). */
enum jc_err jc_app_route_health(struct jc_app *app, const char *path) JC_MUSTCHECK;

/* A service's own set-up: routes, workers, hooks. Returns JC_OK or an error with text in err. */
typedef enum jc_err jc_app_setup_fn(struct jc_app *app, char *err, size_t errlen);

/*
 * The whole life of a service process: init from the environment, listen, setup (may be
 * NULL; it must free what it built when it fails), run, free. A configuration or start-up error
 * prints one line "<svc>: <reason>" on stderr and returns 2. Returns the exit code for main().
 */
int jc_app_main(enum jc_svc svc, jc_app_setup_fn *setup);

/* Frees everything the app owns, in dependency order. Safe on a partly initialised app. */
void jc_app_free(struct jc_app *app);

#endif
