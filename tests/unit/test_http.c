/* SPDX-License-Identifier: MIT */
/* test_http.c: the evhttp front in-process: routing, envelope, request ids, deferred replies,
 * drain, and the connection guard under it (a reply nobody reads is cut at its write deadline;
 * closed connections leave no entry). The guard's read-side deadlines and the address cap are
 * played by a real client in tests/integration/test_http.py. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "unit.h"

#include "jc/http.h"

struct fx {
    struct event_base *base;
    struct jc_config cfg;
    struct jc_log *log;
    FILE *devnull;
    struct jc_metrics *metrics;
    struct jc_http *http;
    int port;
    struct jc_req *held; /* a request the deferred handler keeps */
    int drained;
    int unfinished;
    char *big;
};

#define BIG (16u << 20) /* more than the kernel buffers of both ends hold */

struct reply {
    int done;
    int status;
    char body[1024];
    char rid[160];
    char allow[32];
};

static int free_port(void)
{
    struct sockaddr_in a = {0};
    socklen_t len = sizeof(a);
    int s = socket(AF_INET, SOCK_STREAM, 0), port;

    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
    port = ntohs(a.sin_port);
    close(s);
    return port;
}

static void echo_path(struct jc_req *req, void *ud)
{
    cJSON *body = cJSON_CreateObject();
    char q[64] = "";
    size_t len = 0;
    const char *b = jc_req_body(req, &len);

    (void)ud;
    cJSON_AddStringToObject(body, "path", req->path);
    cJSON_AddStringToObject(body, "route", req->route);
    if (jc_req_query(req, "q", q, sizeof(q)))
        cJSON_AddStringToObject(body, "q", q);
    cJSON_AddNumberToObject(body, "body_len", (double)len);
    if (b != NULL)
        cJSON_AddStringToObject(body, "body", b);
    jc_http_reply_json(req, 200, body);
}

static void hold(struct jc_req *req, void *ud)
{
    struct fx *fx = ud;

    fx->held = req; /* replied later by the test */
}

static void big(struct jc_req *req, void *ud)
{
    struct fx *fx = ud;

    jc_http_reply_raw(req, 200, "application/octet-stream", fx->big, BIG);
}

static int setup(void **state)
{
    /* the guard: 300 ms for a request's headers, replies at 50 MB/s or faster */
    static const char *env[] = {"DATABASE_URL",
                                "postgresql://u@h/db",
                                "REDIS_URL",
                                "redis://r",
                                "JIVE_BIND",
                                "127.0.0.1",
                                "JIVE_SHUTDOWN_TIMEOUT_MS",
                                "300",
                                "JIVE_HTTP_HEADER_TIMEOUT_MS",
                                "300",
                                "JIVE_HTTP_MIN_RATE",
                                "50000000",
                                NULL};
    struct fx *fx = calloc(1, sizeof(*fx));
    char err[128];

    fx->base = event_base_new();
    assert_int_equal(
        jc_config_load(&fx->cfg, JC_SVC_WEBHOOK, unit_lookup, (void *)env, err, sizeof(err)),
        JC_OK);
    fx->devnull = fopen("/dev/null", "w");
    fx->log = jc_log_new("test", JC_LOG_ERROR, fx->devnull);
    fx->metrics = jc_metrics_new();
    fx->http = jc_http_new(fx->base, &fx->cfg, fx->log, fx->metrics);
    assert_int_equal(jc_http_route(fx->http, "GET", "/exact", echo_path, NULL), JC_OK);
    assert_int_equal(jc_http_route(fx->http, "POST", "/items/*", echo_path, NULL), JC_OK);
    assert_int_equal(jc_http_route(fx->http, "GET", "/slow", hold, fx), JC_OK);
    assert_int_equal(jc_http_route(fx->http, "GET", "/big", big, fx), JC_OK);
    fx->big = malloc(BIG);
    memset(fx->big, 'x', BIG);
    fx->port = free_port();
    assert_int_equal(jc_http_listen(fx->http, fx->port, err, sizeof(err)), JC_OK);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fx *fx = *state;

    jc_http_free(fx->http);
    jc_metrics_free(fx->metrics);
    jc_log_free(fx->log);
    fclose(fx->devnull);
    jc_config_clear(&fx->cfg);
    event_base_free(fx->base);
    free(fx->big);
    free(fx);
    return 0;
}

static void on_reply(struct evhttp_request *req, void *arg)
{
    struct reply *r = arg;
    const char *h;

    r->done = 1;
    if (req == NULL)
        return;
    r->status = evhttp_request_get_response_code(req);
    snprintf(r->body, sizeof(r->body), "%.*s",
             (int)evbuffer_get_length(evhttp_request_get_input_buffer(req)),
             (const char *)evbuffer_pullup(evhttp_request_get_input_buffer(req), -1));
    h = evhttp_find_header(evhttp_request_get_input_headers(req), "X-Request-Id");
    snprintf(r->rid, sizeof(r->rid), "%s", h != NULL ? h : "");
    h = evhttp_find_header(evhttp_request_get_input_headers(req), "Allow");
    snprintf(r->allow, sizeof(r->allow), "%s", h != NULL ? h : "");
}

/* Sends a request; the reply lands in *r while the loop runs. */
static struct evhttp_connection *send_req(struct fx *fx, enum evhttp_cmd_type type, const char *uri,
                                          const char *rid, const char *body, struct reply *r)
{
    struct evhttp_connection *conn =
        evhttp_connection_base_new(fx->base, NULL, "127.0.0.1", (ev_uint16_t)fx->port);
    struct evhttp_request *req = evhttp_request_new(on_reply, r);

    evhttp_add_header(evhttp_request_get_output_headers(req), "Host", "localhost");
    if (rid != NULL)
        evhttp_add_header(evhttp_request_get_output_headers(req), "X-Request-Id", rid);
    if (body != NULL)
        evbuffer_add(evhttp_request_get_output_buffer(req), body, strlen(body));
    assert_int_equal(evhttp_make_request(conn, req, type, uri), 0);
    return conn;
}

static struct reply roundtrip(struct fx *fx, enum evhttp_cmd_type type, const char *uri,
                              const char *rid, const char *body)
{
    struct reply r = {0};
    struct evhttp_connection *conn = send_req(fx, type, uri, rid, body, &r);

    unit_run_until(fx->base, &r.done, 5000);
    evhttp_connection_free(conn);
    return r;
}

static void routes_and_accessors(void **state)
{
    struct fx *fx = *state;
    struct reply r = roundtrip(fx, EVHTTP_REQ_GET, "/exact?q=a%20b", "rid-7", NULL);

    assert_int_equal(r.status, 200);
    assert_string_equal(r.rid, "rid-7");
    assert_non_null(strstr(r.body, "\"path\":\"/exact\""));
    assert_non_null(strstr(r.body, "\"q\":\"a b\""));
    r = roundtrip(fx, EVHTTP_REQ_POST, "/items/42", NULL, "{\"x\":1}");
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"route\":\"/items/*\""));
    assert_non_null(strstr(r.body, "\"body_len\":7"));
    assert_non_null(strstr(r.body, "\"body\":\"{\\\"x\\\":1}\""));
    assert_int_equal(strlen(r.rid), 36); /* generated */
}

static void not_found_and_wrong_method(void **state)
{
    struct fx *fx = *state;
    struct reply r = roundtrip(fx, EVHTTP_REQ_GET, "/nothing", "abc", NULL);

    assert_int_equal(r.status, 404);
    assert_string_equal(r.body, "{\"error\":{\"code\":\"not_found\",\"message\":\"no route for GET "
                                "/nothing\",\"request_id\":\"abc\"}}");
    r = roundtrip(fx, EVHTTP_REQ_DELETE, "/exact", NULL, NULL);
    assert_int_equal(r.status, 405);
    assert_string_equal(r.allow, "GET");
}

static void drained_cb(int unfinished, void *ud)
{
    struct fx *fx = ud;

    fx->drained = 1;
    fx->unfinished = unfinished;
}

static void reply_held(evutil_socket_t fd, short what, void *arg)
{
    struct fx *fx = arg;

    (void)fd;
    (void)what;
    jc_http_reply_error(fx->held, 503, "later", "replied after the drain began");
    fx->held = NULL;
}

static void drain_waits_for_in_flight(void **state)
{
    struct fx *fx = *state;
    struct reply r = {0};
    struct evhttp_connection *conn = send_req(fx, EVHTTP_REQ_GET, "/slow", NULL, NULL, &r);
    struct timeval later = {0, 100000};
    int got_held = 0;

    while (fx->held == NULL && got_held++ < 500) {
        struct timeval step = {0, 10000};
        event_base_loopexit(fx->base, &step);
        event_base_dispatch(fx->base);
    }
    assert_non_null(fx->held);
    assert_int_equal(jc_http_in_flight(fx->http), 1);
    jc_http_drain(fx->http, drained_cb, fx);
    assert_int_equal(fx->drained, 0);
    event_base_once(fx->base, -1, EV_TIMEOUT, reply_held, fx, &later);
    unit_run_until(fx->base, &fx->drained, 2000);
    assert_int_equal(fx->unfinished, 0);
    unit_run_until(fx->base, &r.done, 2000);
    assert_int_equal(r.status, 503);
    assert_non_null(strstr(r.body, "replied after the drain began"));
    evhttp_connection_free(conn);
}

static void drain_gives_up_after_timeout(void **state)
{
    struct fx *fx = *state;
    struct reply r = {0};
    struct evhttp_connection *conn = send_req(fx, EVHTTP_REQ_GET, "/slow", NULL, NULL, &r);
    int i = 0;

    while (fx->held == NULL && i++ < 500) {
        struct timeval step = {0, 10000};
        event_base_loopexit(fx->base, &step);
        event_base_dispatch(fx->base);
    }
    assert_non_null(fx->held);
    jc_http_drain(fx->http, drained_cb, fx);
    unit_run_until(fx->base, &fx->drained, 2000); /* JIVE_SHUTDOWN_TIMEOUT_MS=300 */
    assert_int_equal(fx->unfinished, 1);
    /* a late reply is still delivered and frees the request */
    jc_http_reply_error(fx->held, 503, "late", "late");
    unit_run_until(fx->base, &r.done, 2000);
    assert_int_equal(r.status, 503);
    assert_int_equal(jc_http_in_flight(fx->http), 0);
    evhttp_connection_free(conn);
}

static int client(struct fx *fx, const char *path, int rcvbuf)
{
    struct sockaddr_in a = {0};
    int s = socket(AF_INET, SOCK_STREAM, 0);
    char req[128];
    int n;

    if (rcvbuf > 0)
        assert_int_equal(setsockopt(s, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)), 0);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)fx->port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(s, (struct sockaddr *)&a, sizeof(a)), 0);
    n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", path);
    assert_int_equal(send(s, req, (size_t)n, 0), n);
    return s;
}

static double series(struct fx *fx, const char *name, const char *labels)
{
    struct jc_metric *m = labels != NULL ? jc_metrics_counter(fx->metrics, name, "", labels)
                                         : jc_metrics_gauge(fx->metrics, name, "", NULL);

    return jc_metric_value(m);
}

/* Runs the loop until the series reaches want or timeout_ms passes; returns its value. */
static double run_until(struct fx *fx, const char *name, const char *labels, double want,
                        long timeout_ms)
{
    struct timeval step = {0, 10000};
    long waited;

    for (waited = 0; waited < timeout_ms && series(fx, name, labels) != want; waited += 10) {
        event_base_loopexit(fx->base, &step);
        event_base_dispatch(fx->base);
    }
    return series(fx, name, labels);
}

static void a_reply_nobody_reads_is_cut_at_its_write_deadline(void **state)
{
    struct fx *fx = *state;
    int s = client(fx, "/big", 4096);

    /* 16 MiB at the 50 MB/s floor is 0.3 + 0.34 s; the client never reads */
    assert_true(run_until(fx, "jive_http_connections_dropped_total", "reason=\"write_deadline\"", 1,
                          10000) == 1);
    assert_true(run_until(fx, "jive_http_connections_open", NULL, 0, 2000) == 0);
    close(s);
}

static void an_answered_connection_leaves_no_entry_once_closed(void **state)
{
    struct fx *fx = *state;
    int s[3], i;
    char buf[512];

    for (i = 0; i < 3; i++)
        s[i] = client(fx, "/exact", 0);
    assert_true(run_until(fx, "jive_http_requests_total",
                          "method=\"GET\",route=\"/exact\",status=\"200\"", 3, 2000) == 3);
    assert_true(series(fx, "jive_http_connections_open", NULL) == 3); /* kept alive */
    for (i = 0; i < 3; i++) {
        assert_true(recv(s[i], buf, sizeof(buf), 0) > 0);
        close(s[i]);
    }
    assert_true(run_until(fx, "jive_http_connections_open", NULL, 0, 2000) == 0);
    assert_true(series(fx, "jive_http_connections_dropped_total", "reason=\"write_deadline\"") ==
                0);
    assert_true(series(fx, "jive_http_connections_dropped_total", "reason=\"read_deadline\"") == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(routes_and_accessors, setup, teardown),
        cmocka_unit_test_setup_teardown(not_found_and_wrong_method, setup, teardown),
        cmocka_unit_test_setup_teardown(drain_waits_for_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(drain_gives_up_after_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(a_reply_nobody_reads_is_cut_at_its_write_deadline, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(an_answered_connection_leaves_no_entry_once_closed, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
