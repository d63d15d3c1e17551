/* SPDX-License-Identifier: MIT */
/*
 * jc/http.h: the evhttp front shared by the three services: routing, request ids (a sane
 * X-Request-Id is kept, else one is generated; always echoed), JSON replies and the one error
 * envelope {"error":{"code","message","request_id"}}, body-size limit (413), security headers,
 * CORS allowlist with preflight, GET /livez and GET /metrics, per-route metrics, per-connection
 * deadlines and a per-address connection cap (jc/conn.h), and graceful drain (stop accepting,
 * let in-flight requests finish, bounded by a timeout).
 * Everything runs on the loop thread of the base given to jc_http_new.
 */
#ifndef JC_HTTP_H
#define JC_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <event2/http.h>

#include "jc/config.h"
#include "jc/conn.h"
#include "jc/err.h"
#include "jc/log.h"
#include "jc/metrics.h"

struct jc_http;

/* One request. Valid from the handler call until the reply is sent (the reply frees it). */
struct jc_req {
    struct jc_http *http;
    struct evhttp_request *ev;
    char request_id[129];
    char traceparent[56]; /* W3C trace context of this request: the caller's trace with a new
                           * span id, or a new trace when the caller sent none (or a bad one) */
    char *path;           /* decoded path, owned */
    const char *route;    /* the matched route pattern (metrics label) */
    const char *method;   /* "GET", "POST", ... */
    bool client_gone;     /* the client disconnected; replying is still required and harmless */
    bool body_terminated; /* jc_req_body appended its NUL */
    bool streaming;       /* jc_http_stream_start was called */
    void (*stream_gone)(void *ud); /* the stream's owner, told when it must end */
    void *stream_ud;
    double start;         /* monotonic seconds */
    struct jc_conn *conn; /* the connection's guard entry (jc/conn.h); NULL when unguarded */
    struct jc_req *prev, *next;
};

/*
 * A route handler. It must end in exactly one jc_http_reply_* call, now or later (from an
 * async callback), also when the client has gone away.
 */
typedef void jc_http_handler(struct jc_req *req, void *ud);

/* Called once when a drain finished (all in-flight replied, or the timeout passed). */
typedef void jc_http_drained_cb(int unfinished, void *ud);

/* Creates the server; cfg, log and metrics are borrowed and must outlive it. NULL on ENOMEM. */
struct jc_http *jc_http_new(struct event_base *base, const struct jc_config *cfg,
                            struct jc_log *log, struct jc_metrics *metrics);

/* Frees the server; requests still open are dropped without reply. NULL is a no-op. */
void jc_http_free(struct jc_http *http);

/* Binds cfg->bind:cfg->port (or port, when not 0). JC_EIO with text in err on failure. */
enum jc_err jc_http_listen(struct jc_http *http, int port, char *err, size_t errlen) JC_MUSTCHECK;

/*
 * Adds a route. method is "GET", "POST", "DELETE", ... or NULL for any; path is matched exactly,
 * or as a prefix when its last character is a star (e.g. webhooks/github/ + star). First match
 * wins; a path matched with the wrong method answers 405 with Allow. Strings are borrowed (use
 * literals).
 */
enum jc_err jc_http_route(struct jc_http *http, const char *method, const char *path,
                          jc_http_handler *handler, void *ud) JC_MUSTCHECK;

/* Stops accepting, answers new requests on open connections with 503, and calls cb when the
 * in-flight count reaches zero or after cfg->shutdown_timeout_ms. */
void jc_http_drain(struct jc_http *http, jc_http_drained_cb *cb, void *ud);

/* Requests currently being handled (handler called, reply not yet sent). */
int jc_http_in_flight(const struct jc_http *http);

/* ---- request accessors ---- */

/* A request header (case-insensitive) or NULL. */
const char *jc_req_header(const struct jc_req *req, const char *name);

/* The body, NUL-terminated (the NUL is not counted in *len); NULL when empty. Borrowed. */
const char *jc_req_body(struct jc_req *req, size_t *len);

/* A decoded query-string parameter copied into out; false when absent. */
bool jc_req_query(const struct jc_req *req, const char *name, char *out, size_t outlen);

/* The client's address: the first X-Forwarded-For entry when trust_proxy (behind a proxy that
 * sets it), else the socket's peer; "" when unknown. */
void jc_req_client_addr(struct jc_req *req, bool trust_proxy, char *out, size_t len);

/* Adds a response header before the reply (e.g. Retry-After). */
void jc_req_add_header(struct jc_req *req, const char *name, const char *value);

/* ---- replies (each frees req) ---- */

/* Sends status with body (taken: freed here) as application/json. */
void jc_http_reply_json(struct jc_req *req, int status, cJSON *body);

/* Sends status with len bytes of body and the given content type (body borrowed). */
void jc_http_reply_raw(struct jc_req *req, int status, const char *content_type, const char *body,
                       size_t len);

/* Sends the error envelope {"error":{"code":code,"message":<fmt>,"request_id":...}}. */
void jc_http_reply_error(struct jc_req *req, int status, const char *code, const char *fmt, ...)
    JC_PRINTF(4, 5);

/* ---- streamed replies (Server-Sent Events and the like) ---- */

/*
 * Starts a 200 reply with content_type whose body is written piece by piece. gone(ud) runs at
 * most once, on the loop thread and never inside a jc_http call, when the stream must end: the
 * client went away, or the server drains for shutdown. The owner then (or whenever it is done)
 * calls jc_http_stream_end, which frees req. The request counts as in flight until then.
 */
void jc_http_stream_start(struct jc_req *req, const char *content_type, void (*gone)(void *ud),
                          void *ud);

/* A stream's client that has this much unsent is too slow to keep: its stream should end. */
#define JC_HTTP_STREAM_BACKLOG (1u << 20)

/*
 * Sends len bytes of the body now. False (nothing sent) when the client is gone, or has not
 * taken JC_HTTP_STREAM_BACKLOG bytes already: the owner should end the stream then (a reader
 * that never reads must not make the server hold everything for it).
 */
bool jc_http_stream_write(struct jc_req *req, const char *data, size_t len);

/* Ends the body and frees req. */
void jc_http_stream_end(struct jc_req *req);

#endif
