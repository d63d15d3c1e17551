/* SPDX-License-Identifier: MIT */
/* test_conn.c: the connection guard under jc/http in-process: a reply the client does not take
 * is cut at its write deadline, and every connection's entry is gone once it closes. The
 * read-side deadlines and the address cap are played by a real client in
 * tests/integration/test_http.py. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "unit.h"

#include "jc/http.h"

#define BIG (16u << 20) /* more than the kernel buffers of both ends hold */

struct fx {
    struct event_base *base;
    struct jc_config cfg;
    struct jc_log *log;
    FILE *devnull;
    struct jc_metrics *metrics;
    struct jc_http *http;
    int port;
    char *big;
};

static void big(struct jc_req *req, void *ud)
{
    struct fx *fx = ud;

    jc_http_reply_raw(req, 200, "application/octet-stream", fx->big, BIG);
}

static void small(struct jc_req *req, void *ud)
{
    (void)ud;
    jc_http_reply_raw(req, 200, "text/plain", "ok", 2);
}

static int setup(void **state)
{
    static const char *env[] = {"DATABASE_URL",
                                "postgresql://u@h/db",
                                "REDIS_URL",
                                "redis://r",
                                "JIVE_BIND",
                                "127.0.0.1",
                                "JIVE_HTTP_HEADER_TIMEOUT_MS",
                                "300",
                                "JIVE_HTTP_MIN_RATE",
                                "50000000",
                                NULL};
    struct fx *fx = calloc(1, sizeof(*fx));
    struct sockaddr_in a = {0};
    socklen_t len = sizeof(a);
    int s;
    char err[128];

    fx->base = event_base_new();
    assert_int_equal(
        jc_config_load(&fx->cfg, JC_SVC_WEBHOOK, unit_lookup, (void *)env, err, sizeof(err)),
        JC_OK);
    fx->devnull = fopen("/dev/null", "w");
    fx->log = jc_log_new("test", JC_LOG_ERROR, fx->devnull);
    fx->metrics = jc_metrics_new();
    fx->http = jc_http_new(fx->base, &fx->cfg, fx->log, fx->metrics);
    fx->big = malloc(BIG);
    memset(fx->big, 'x', BIG);
    assert_int_equal(jc_http_route(fx->http, "GET", "/big", big, fx), JC_OK);
    assert_int_equal(jc_http_route(fx->http, "GET", "/small", small, fx), JC_OK);
    s = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
    fx->port = ntohs(a.sin_port);
    close(s);
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
        s[i] = client(fx, "/small", 0);
    assert_true(run_until(fx, "jive_http_requests_total",
                          "method=\"GET\",route=\"/small\",status=\"200\"", 3, 2000) == 3);
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
        cmocka_unit_test_setup_teardown(a_reply_nobody_reads_is_cut_at_its_write_deadline, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(an_answered_connection_leaves_no_entry_once_closed, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
