/* SPDX-License-Identifier: MIT */
/* test_metrics.c: Prometheus text rendering of counters, gauges and histograms. */
#include "unit.h"

#include "jc/metrics.h"

static void counters_and_gauges(void **state)
{
    struct jc_metrics *m = jc_metrics_new();
    struct jc_metric *c1, *c2, *g;
    char *text;

    (void)state;
    c1 = jc_metrics_counter(m, "jive_x_total", "Things", "kind=\"a\"");
    c2 = jc_metrics_counter(m, "jive_x_total", "Things", "kind=\"b\"");
    assert_ptr_equal(c1, jc_metrics_counter(m, "jive_x_total", NULL, "kind=\"a\""));
    jc_metric_inc(c1, 2);
    jc_metric_inc(c2, 1);
    jc_metric_inc(c2, -5); /* counters never go down */
    g = jc_metrics_gauge(m, "jive_depth", "Depth", NULL);
    jc_metric_set(g, 7);
    assert_null(jc_metrics_gauge(m, "jive_x_total", "wrong type", NULL));
    jc_metric_inc(NULL, 1); /* a failed lookup never crashes */
    text = jc_metrics_render(m);
    assert_non_null(text);
    assert_non_null(strstr(text, "# HELP jive_x_total Things\n# TYPE jive_x_total counter\n"));
    assert_non_null(strstr(text, "jive_x_total{kind=\"a\"} 2\n"));
    assert_non_null(strstr(text, "jive_x_total{kind=\"b\"} 1\n"));
    assert_non_null(strstr(text, "# TYPE jive_depth gauge\njive_depth 7\n"));
    /* HELP/TYPE once per family */
    assert_null(strstr(strstr(text, "# TYPE jive_x_total") + 1, "# TYPE jive_x_total"));
    free(text);
    jc_metrics_free(m);
}

static void histogram(void **state)
{
    struct jc_metrics *m = jc_metrics_new();
    struct jc_metric *h = jc_metrics_histogram(m, "jive_lat_seconds", "Latency", "route=\"/x\"");
    char *text;

    (void)state;
    jc_metric_observe(h, 0.0005);
    jc_metric_observe(h, 0.02);
    jc_metric_observe(h, 30);
    assert_true(jc_metric_value(h) == 3.0);
    text = jc_metrics_render(m);
    assert_non_null(strstr(text, "jive_lat_seconds_bucket{route=\"/x\",le=\"0.001\"} 1\n"));
    assert_non_null(strstr(text, "jive_lat_seconds_bucket{route=\"/x\",le=\"0.025\"} 2\n"));
    assert_non_null(strstr(text, "jive_lat_seconds_bucket{route=\"/x\",le=\"10\"} 2\n"));
    assert_non_null(strstr(text, "jive_lat_seconds_bucket{route=\"/x\",le=\"+Inf\"} 3\n"));
    assert_non_null(strstr(text, "jive_lat_seconds_count{route=\"/x\"} 3\n"));
    assert_non_null(strstr(text, "jive_lat_seconds_sum{route=\"/x\"} 30.0205"));
    free(text);
    jc_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(counters_and_gauges),
                                       cmocka_unit_test(histogram)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
