/* SPDX-License-Identifier: MIT */
/* http.c: routing, replies, CORS, security headers and drain over evhttp. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <sys/queue.h>

#include <event2/keyvalq_struct.h>

#include "jc/clock.h"
#include "jc/crypto.h"
#include "jc/http.h"
#include "jc/later.h"

struct route {
    const char *method;
    const char *path;
    size_t prefix_len; /* 0: exact match */
    jc_http_handler *handler;
    void *ud;
};

struct jc_http {
    struct event_base *base;
    const struct jc_config *cfg;
    struct jc_log *log;
    struct jc_metrics *metrics;
    struct evhttp *ev;
    struct evhttp_bound_socket *sock;
    struct jc_conns *conns;
    struct route *routes;
    size_t nroutes;
    struct jc_req *active;
    int in_flight;
    bool draining;
    struct event *drain_timer;
    jc_http_drained_cb *drained_cb;
    void *drained_ud;
};

/* ---- drain ---- */

static void drain_finish(struct jc_http *http, int unfinished)
{
    jc_http_drained_cb *cb = http->drained_cb;

    if (cb == NULL)
        return;
    http->drained_cb = NULL;
    if (http->drain_timer != NULL)
        event_del(http->drain_timer);
    cb(unfinished, http->drained_ud);
}

static void drain_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct jc_http *http = arg;

    (void)fd;
    (void)what;
    if (http->in_flight > 0)
        jc_warn(http->log, "shutdown timeout: %d request(s) still in flight", http->in_flight);
    drain_finish(http, http->in_flight);
}

/* Tells every stream's owner to end it (the drain waits for streams as for any request). */
static void end_streams(void *arg)
{
    struct jc_http *http = arg;
    struct jc_req *req, *next;

    for (req = http->active; req != NULL; req = next) {
        void (*gone)(void *ud) = req->stream_gone;
        next = req->next;
        if (gone != NULL) {
            req->stream_gone = NULL;
            gone(req->stream_ud); /* may end (and free) req */
        }
    }
}

void jc_http_drain(struct jc_http *http, jc_http_drained_cb *cb, void *ud)
{
    struct timeval tv;
    struct jc_req *r;

    http->draining = true;
    for (r = http->active; r != NULL; r = r->next)
        if (r->stream_gone != NULL) { /* streams to end: on the next turn, not in here */
            jc_later(http->base, end_streams, http);
            break;
        }
    if (http->sock != NULL) {
        evhttp_del_accept_socket(http->ev, http->sock);
        http->sock = NULL;
    }
    http->drained_cb = cb;
    http->drained_ud = ud;
    tv.tv_sec = http->in_flight == 0 ? 0 : http->cfg->shutdown_timeout_ms / 1000;
    tv.tv_usec = http->in_flight == 0 ? 0 : (http->cfg->shutdown_timeout_ms % 1000) * 1000;
    if (http->drain_timer == NULL)
        http->drain_timer = evtimer_new(http->base, drain_timer_cb, http);
    if (http->drain_timer == NULL) {
        drain_finish(http, http->in_flight);
        return;
    }
    evtimer_add(http->drain_timer, &tv);
}

int jc_http_in_flight(const struct jc_http *http)
{
    return http != NULL ? http->in_flight : 0;
}

/* ---- requests ---- */

static void req_free(struct jc_req *req)
{
    struct jc_http *http = req->http;

    if (req->prev != NULL)
        req->prev->next = req->next;
    else
        http->active = req->next;
    if (req->next != NULL)
        req->next->prev = req->prev;
    http->in_flight--;
    free(req->path);
    free(req);
    if (http->draining && http->in_flight == 0 && http->drained_cb != NULL) {
        struct timeval tv = {0, 0};
        evtimer_add(http->drain_timer, &tv); /* finish on the next turn, outside the handler */
    }
}

const char *jc_req_header(const struct jc_req *req, const char *name)
{
    return evhttp_find_header(evhttp_request_get_input_headers(req->ev), name);
}

const char *jc_req_body(struct jc_req *req, size_t *len)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req->ev);
    size_t n = evbuffer_get_length(in) - (req->body_terminated ? 1 : 0);
    unsigned char *p;

    *len = n;
    if (n == 0)
        return NULL;
    if (req->body_terminated)
        return (const char *)evbuffer_pullup(in, -1);
    req->body_terminated = true;
    /* Append a NUL so the body can be handed to string parsers; it is not counted. */
    if (evbuffer_add(in, "", 1) != 0)
        return NULL;
    p = evbuffer_pullup(in, -1);
    return (const char *)p;
}

bool jc_req_query(const struct jc_req *req, const char *name, char *out, size_t outlen)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req->ev);
    const char *q = uri != NULL ? evhttp_uri_get_query(uri) : NULL;
    struct evkeyvalq params;
    const char *v;
    bool found = false;

    if (q == NULL)
        return false;
    TAILQ_INIT(&params);
    if (evhttp_parse_query_str(q, &params) == 0 && (v = evhttp_find_header(&params, name))) {
        snprintf(out, outlen, "%s", v);
        found = true;
    }
    evhttp_clear_headers(&params);
    return found;
}

void jc_req_add_header(struct jc_req *req, const char *name, const char *value)
{
    evhttp_add_header(evhttp_request_get_output_headers(req->ev), name, value);
}

void jc_req_client_addr(struct jc_req *req, bool trust_proxy, char *out, size_t len)
{
    const char *fwd = trust_proxy ? jc_req_header(req, "X-Forwarded-For") : NULL;
    char *host = NULL;
    ev_uint16_t port = 0;

    out[0] = '\0';
    if (fwd != NULL)
        snprintf(out, len, "%.*s", (int)strcspn(fwd, ", "), fwd);
    if (out[0] != '\0')
        return;
    evhttp_connection_get_peer(evhttp_request_get_connection(req->ev), &host, &port);
    snprintf(out, len, "%s", host != NULL ? host : "");
}

static void add_common_headers(struct jc_req *req)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req->ev);
    const char *origin = jc_req_header(req, "Origin");

    evhttp_add_header(h, "X-Request-Id", req->request_id);
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(h, "X-Frame-Options", "DENY");
    evhttp_add_header(h, "Referrer-Policy", "no-referrer");
    if (evhttp_find_header(h, "Content-Security-Policy") == NULL) /* a page sets its own */
        evhttp_add_header(h, "Content-Security-Policy",
                          "default-src 'none'; frame-ancestors 'none'");
    evhttp_add_header(h, "Strict-Transport-Security", "max-age=31536000");
    if (evhttp_find_header(h, "Cache-Control") == NULL)
        evhttp_add_header(h, "Cache-Control", "no-store");
    if (origin != NULL && jc_config_origin_allowed(req->http->cfg, origin)) {
        evhttp_add_header(h, "Access-Control-Allow-Origin", origin);
        evhttp_add_header(h, "Vary", "Origin");
        evhttp_add_header(h, "Access-Control-Expose-Headers",
                          "X-Request-Id, Mcp-Session-Id, MCP-Protocol-Version, Retry-After, "
                          "RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, "
                          "WWW-Authenticate");
    }
    if (req->http->draining)
        evhttp_add_header(h, "Connection", "close");
}

static void record(struct jc_req *req, int status)
{
    struct jc_http *http = req->http;
    char labels[256];

    snprintf(labels, sizeof(labels), "method=\"%s\",route=\"%s\",status=\"%d\"", req->method,
             req->route, status);
    jc_metric_inc(jc_metrics_counter(http->metrics, "jive_http_requests_total",
                                     "HTTP requests by method, route and status", labels),
                  1);
    snprintf(labels, sizeof(labels), "route=\"%s\"", req->route);
    jc_metric_observe(jc_metrics_histogram(http->metrics, "jive_http_request_duration_seconds",
                                           "HTTP request latency by route", labels),
                      jc_clock_mono() - req->start);
}

void jc_http_reply_raw(struct jc_req *req, int status, const char *content_type, const char *body,
                       size_t len)
{
    struct evbuffer *out = evbuffer_new();

    add_common_headers(req);
    if (content_type != NULL)
        evhttp_add_header(evhttp_request_get_output_headers(req->ev), "Content-Type", content_type);
    if (out != NULL && body != NULL && len > 0)
        evbuffer_add(out, body, len);
    record(req, status);
    if (req->conn != NULL && evhttp_request_get_connection(req->ev) != NULL)
        jc_conns_replying(req->conn, req->ev, len);
    evhttp_send_reply(req->ev, status, NULL, out);
    if (out != NULL)
        evbuffer_free(out);
    req_free(req);
}

/* ---- streamed replies ---- */

/* The stream's connection closed (conn guard): tell the owner, once. */
static void stream_closed(void *arg)
{
    struct jc_req *req = arg;
    void (*gone)(void *ud) = req->stream_gone;

    req->conn = NULL; /* the guard's entry goes with the connection */
    req->client_gone = true;
    if (gone != NULL) {
        req->stream_gone = NULL;
        gone(req->stream_ud);
    }
}

void jc_http_stream_start(struct jc_req *req, const char *content_type, void (*gone)(void *ud),
                          void *ud)
{
    add_common_headers(req);
    evhttp_add_header(evhttp_request_get_output_headers(req->ev), "Content-Type", content_type);
    /* the connection ends with the stream: no keep-alive after a reply of unknown length */
    if (evhttp_find_header(evhttp_request_get_output_headers(req->ev), "Connection") == NULL)
        evhttp_add_header(evhttp_request_get_output_headers(req->ev), "Connection", "close");
    record(req, 200);
    req->streaming = true;
    req->stream_gone = gone;
    req->stream_ud = ud;
    if (req->conn != NULL && evhttp_request_get_connection(req->ev) != NULL)
        jc_conns_on_close(req->conn, stream_closed, req);
    evhttp_send_reply_start(req->ev, 200, "OK");
}

bool jc_http_stream_write(struct jc_req *req, const char *data, size_t len)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req->ev);
    struct evbuffer *b;

    if (req->client_gone || evcon == NULL ||
        evbuffer_get_length(bufferevent_get_output(evhttp_connection_get_bufferevent(evcon))) >
            JC_HTTP_STREAM_BACKLOG)
        return false;
    b = evbuffer_new();
    if (b == NULL)
        return false;
    evbuffer_add(b, data, len);
    evhttp_send_reply_chunk(req->ev, b);
    evbuffer_free(b);
    return true;
}

void jc_http_stream_end(struct jc_req *req)
{
    if (req->conn != NULL)
        jc_conns_on_close(req->conn, NULL, NULL);
    evhttp_send_reply_end(req->ev); /* frees the evhttp request, also when its client is gone */
    req_free(req);
}

void jc_http_reply_json(struct jc_req *req, int status, cJSON *body)
{
    char *text = body != NULL ? cJSON_PrintUnformatted(body) : NULL;

    cJSON_Delete(body);
    if (text == NULL) {
        static const char oom[] =
            "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";
        jc_http_reply_raw(req, 500, "application/json", oom, sizeof(oom) - 1);
        return;
    }
    jc_http_reply_raw(req, status, "application/json", text, strlen(text));
    cJSON_free(text);
}

void jc_http_reply_error(struct jc_req *req, int status, const char *code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    cJSON *root = cJSON_CreateObject();
    cJSON *err = cJSON_AddObjectToObject(root, "error");

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    cJSON_AddStringToObject(err, "code", code);
    cJSON_AddStringToObject(err, "message", msg);
    cJSON_AddStringToObject(err, "request_id", req->request_id);
    if (status >= 500)
        JC_LOG(req->http->log, JC_LOG_WARN, req->request_id, NULL, "%s %s -> %d %s: %s",
               req->method, req->path, status, code, msg);
    jc_http_reply_json(req, status, root);
}

/* ---- built-in routes ---- */

static void livez(struct jc_req *req, void *ud)
{
    cJSON *body = cJSON_CreateObject();

    (void)ud;
    cJSON_AddStringToObject(body, "status", "ok");
    jc_http_reply_json(req, 200, body);
}

static void metrics_route(struct jc_req *req, void *ud)
{
    char *text = jc_metrics_render(req->http->metrics);

    (void)ud;
    if (text == NULL) {
        jc_http_reply_error(req, 500, "internal", "out of memory");
        return;
    }
    jc_http_reply_raw(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, strlen(text));
    free(text);
}

/* ---- dispatch ---- */

static const char *method_name(enum evhttp_cmd_type t)
{
    switch (t) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_HEAD:
        return "HEAD";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    case EVHTTP_REQ_OPTIONS:
        return "OPTIONS";
    case EVHTTP_REQ_PATCH:
        return "PATCH";
    default:
        return "OTHER";
    }
}

static bool sane_request_id(const char *s)
{
    size_t i, n;

    if (s == NULL)
        return false;
    n = strlen(s);
    if (n == 0 || n > 128)
        return false;
    for (i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == ':'))
            return false;
    }
    return true;
}

/* n lower-case hex digits at s; with nonzero, not all of them '0'. */
static bool hex_run(const char *s, size_t n, bool nonzero)
{
    size_t i;
    bool seen = false;

    for (i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
        seen |= s[i] != '0';
    }
    return seen || !nonzero;
}

/* W3C Trace Context: "<2 hex version>-<32 hex trace id>-<16 hex parent id>-<2 hex flags>";
 * version ff is invalid, version 00 has nothing after the flags, later versions may add fields
 * after a '-'. This server's span continues a valid incoming trace (same trace id and flags,
 * its own span id); otherwise it starts a new trace. */
static void trace_context(struct jc_req *req)
{
    const char *in = jc_req_header(req, "traceparent");
    char span[17], trace[33];
    bool ok;

    if (jc_crypto_random_hex(span, 8) != JC_OK)
        snprintf(span, sizeof(span), "%016x", 1u);
    ok = in != NULL && strlen(in) >= 55 && hex_run(in, 2, false) && strncmp(in, "ff", 2) != 0 &&
         in[2] == '-' && hex_run(in + 3, 32, true) && in[35] == '-' && hex_run(in + 36, 16, true) &&
         in[52] == '-' && hex_run(in + 53, 2, false) &&
         (strncmp(in, "00", 2) == 0 ? in[55] == '\0' : (in[55] == '\0' || in[55] == '-'));
    if (ok) {
        snprintf(req->traceparent, sizeof(req->traceparent), "00-%.32s-%s-%.2s", in + 3, span,
                 in + 53);
        return;
    }
    if (jc_crypto_random_hex(trace, 16) != JC_OK)
        snprintf(trace, sizeof(trace), "%032x", 1u);
    snprintf(req->traceparent, sizeof(req->traceparent), "00-%s-%s-00", trace, span);
}

static bool path_matches(const struct route *r, const char *path)
{
    if (r->prefix_len > 0)
        return strncmp(path, r->path, r->prefix_len) == 0;
    return strcmp(path, r->path) == 0;
}

static void preflight(struct jc_req *req)
{
    const char *origin = jc_req_header(req, "Origin");
    struct evkeyvalq *h = evhttp_request_get_output_headers(req->ev);

    if (origin == NULL || !jc_config_origin_allowed(req->http->cfg, origin)) {
        jc_http_reply_error(req, 403, "origin_not_allowed", "origin not allowed");
        return;
    }
    evhttp_add_header(h, "Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS");
    evhttp_add_header(h, "Access-Control-Allow-Headers",
                      "Authorization, Content-Type, Accept, Mcp-Session-Id, MCP-Protocol-Version, "
                      "Mcp-Method, Mcp-Name, Last-Event-ID, X-Request-Id, traceparent, tracestate");
    evhttp_add_header(h, "Access-Control-Max-Age", "600");
    jc_http_reply_raw(req, 204, NULL, NULL, 0);
}

static void gencb(struct evhttp_request *ev, void *arg)
{
    struct jc_http *http = arg;
    struct jc_req *req, *r;
    const struct evhttp_uri *uri;
    const char *p;
    const char *allow = NULL;
    size_t i;

    /* evhttp calls back a second time for a request whose client vanished before our reply. */
    for (r = http->active; r != NULL; r = r->next) {
        if (r->ev == ev) {
            r->client_gone = true;
            return;
        }
    }
    req = calloc(1, sizeof(*req));
    if (req == NULL) {
        evhttp_send_error(ev, 503, "Service Unavailable");
        return;
    }
    req->http = http;
    req->ev = ev;
    req->start = jc_clock_mono();
    req->method = method_name(evhttp_request_get_command(ev));
    req->route = "unmatched";
    req->next = http->active;
    if (http->active != NULL)
        http->active->prev = req;
    http->active = req;
    http->in_flight++;
    req->conn = jc_conns_request(http->conns, ev);

    p = jc_req_header(req, "X-Request-Id");
    if (sane_request_id(p)) {
        snprintf(req->request_id, sizeof(req->request_id), "%s", p);
    } else if (jc_crypto_uuid4(req->request_id) != JC_OK) {
        snprintf(req->request_id, sizeof(req->request_id), "unknown");
    }
    trace_context(req);
    uri = evhttp_request_get_evhttp_uri(ev);
    p = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
    req->path = evhttp_uridecode(p != NULL && *p != '\0' ? p : "/", 0, NULL);
    if (req->path == NULL) {
        req->path = strdup("/");
        if (req->path == NULL) {
            jc_http_reply_error(req, 500, "internal", "out of memory");
            return;
        }
    }
    if (http->draining) {
        jc_http_reply_error(req, 503, "shutting_down", "server is shutting down");
        return;
    }
    if (evhttp_request_get_command(ev) == EVHTTP_REQ_OPTIONS) {
        preflight(req);
        return;
    }
    for (i = 0; i < http->nroutes; i++) {
        const struct route *rt = &http->routes[i];
        if (!path_matches(rt, req->path))
            continue;
        if (rt->method != NULL && strcmp(rt->method, req->method) != 0) {
            allow = rt->method;
            continue;
        }
        req->route = rt->path;
        rt->handler(req, rt->ud);
        return;
    }
    if (allow != NULL) {
        jc_req_add_header(req, "Allow", allow);
        jc_http_reply_error(req, 405, "method_not_allowed", "%s is not allowed on %s", req->method,
                            req->path);
        return;
    }
    jc_http_reply_error(req, 404, "not_found", "no route for %s %s", req->method, req->path);
}

/* ---- server ---- */

struct jc_http *jc_http_new(struct event_base *base, const struct jc_config *cfg,
                            struct jc_log *log, struct jc_metrics *metrics)
{
    struct jc_http *http = calloc(1, sizeof(*http));

    if (http == NULL)
        return NULL;
    http->base = base;
    http->cfg = cfg;
    http->log = log;
    http->metrics = metrics;
    http->ev = evhttp_new(base);
    if (http->ev == NULL)
        goto fail;
    evhttp_set_max_body_size(http->ev, (ev_ssize_t)cfg->max_body_bytes);
    evhttp_set_max_headers_size(http->ev, 64 * 1024);
    evhttp_set_timeout(http->ev, 60);
    evhttp_set_allowed_methods(http->ev, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                             EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
                                             EVHTTP_REQ_PUT | EVHTTP_REQ_PATCH);
    evhttp_set_gencb(http->ev, gencb, http);
    {
        struct jc_conns_limits lim = {cfg->http_header_timeout_ms, cfg->http_idle_timeout_ms,
                                      cfg->http_min_rate, cfg->http_max_conns_per_addr};
        http->conns = jc_conns_new(base, http->ev, &lim, log, metrics);
        if (http->conns == NULL)
            goto fail;
    }
    if (jc_http_route(http, "GET", "/livez", livez, NULL) != JC_OK ||
        jc_http_route(http, "GET", "/metrics", metrics_route, NULL) != JC_OK)
        goto fail;
    return http;
fail:
    jc_http_free(http);
    return NULL;
}

void jc_http_free(struct jc_http *http)
{
    if (http == NULL)
        return;
    if (http->ev != NULL)
        evhttp_free(http->ev); /* closes the connections, which unlinks them from conns */
    jc_conns_free(http->conns);
    while (http->active != NULL) {
        struct jc_req *req = http->active;
        http->active = req->next;
        free(req->path);
        free(req);
    }
    if (http->drain_timer != NULL)
        event_free(http->drain_timer);
    free(http->routes);
    free(http);
}

enum jc_err jc_http_listen(struct jc_http *http, int port, char *err, size_t errlen)
{
    int p = port != 0 ? port : http->cfg->port;

    http->sock = evhttp_bind_socket_with_handle(http->ev, http->cfg->bind, (ev_uint16_t)p);
    if (http->sock == NULL) {
        jc_errbuf_set(err, errlen, "cannot listen on %s:%d (address in use or not permitted)",
                      http->cfg->bind, p);
        return JC_EIO;
    }
    return JC_OK;
}

enum jc_err jc_http_route(struct jc_http *http, const char *method, const char *path,
                          jc_http_handler *handler, void *ud)
{
    struct route *nr = realloc(http->routes, (http->nroutes + 1) * sizeof(*nr));
    size_t len = strlen(path);

    if (nr == NULL)
        return JC_ENOMEM;
    http->routes = nr;
    nr[http->nroutes].method = method;
    nr[http->nroutes].path = path;
    nr[http->nroutes].prefix_len = len > 0 && path[len - 1] == '*' ? len - 1 : 0;
    nr[http->nroutes].handler = handler;
    nr[http->nroutes].ud = ud;
    http->nroutes++;
    return JC_OK;
}
