/* SPDX-License-Identifier: MIT */
/* test_redis.c: the async client against the real Redis the harness started (REDIS_URL). */
#include <stdio.h>

#include <event2/http.h>

#include "unit.h"

#include "jc/redis.h"

struct res {
    int done;
    enum jc_err err;
    char str[256];
    long long integer;
    char msg[256];
};

static void on_reply(const redisReply *reply, enum jc_err err, const char *msg, void *ud)
{
    struct res *r = ud;

    r->done = 1;
    r->err = err;
    snprintf(r->msg, sizeof(r->msg), "%s", msg);
    if (reply != NULL && (reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_STATUS))
        snprintf(r->str, sizeof(r->str), "%s", reply->str);
    if (reply != NULL && reply->type == REDIS_REPLY_INTEGER)
        r->integer = reply->integer;
}

struct fx {
    struct event_base *base;
    struct jc_redis *r;
    struct jc_redis_opts o;
    char host[64];
};

static void opts_from_env(struct fx *fx, bool subscriber)
{
    struct evhttp_uri *uri = evhttp_uri_parse(unit_env("REDIS_URL"));

    assert_non_null(uri);
    snprintf(fx->host, sizeof(fx->host), "%s", evhttp_uri_get_host(uri));
    fx->o.host = fx->host;
    fx->o.port = evhttp_uri_get_port(uri);
    fx->o.timeout_ms = 2000;
    fx->o.subscriber = subscriber;
    evhttp_uri_free(uri);
}

static void wait_healthy(struct event_base *base, struct jc_redis *r)
{
    int waited;

    for (waited = 0; !jc_redis_healthy(r) && waited < 5000; waited += 10) {
        struct timeval tv = {0, 10000};
        event_base_loopexit(base, &tv);
        event_base_dispatch(base);
    }
    assert_true(jc_redis_healthy(r));
}

static int setup(void **state)
{
    struct fx *fx = calloc(1, sizeof(*fx));

    fx->base = event_base_new();
    opts_from_env(fx, false);
    fx->r = jc_redis_new(fx->base, NULL, &fx->o);
    wait_healthy(fx->base, fx->r);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fx *fx = *state;

    jc_redis_free(fx->r);
    event_base_free(fx->base);
    free(fx);
    return 0;
}

static struct res cmd(struct fx *fx, long timeout, int argc, const char *const *argv)
{
    struct res r = {0};

    assert_int_equal(jc_redis_command(fx->r, timeout, on_reply, &r, argc, argv, NULL), JC_OK);
    assert_int_equal(r.done, 0);
    unit_run_until(fx->base, &r.done, 10000);
    return r;
}

static void set_get_binary_safe(void **state)
{
    struct fx *fx = *state;
    const char *set[] = {"SET", "unit:k", "v a\"l"};
    const char *get[] = {"GET", "unit:k"};
    struct res r = cmd(fx, 0, 3, set);

    assert_int_equal(r.err, JC_OK);
    assert_string_equal(r.str, "OK");
    r = cmd(fx, 0, 2, get);
    assert_string_equal(r.str, "v a\"l");
}

static void error_reply(void **state)
{
    struct fx *fx = *state;
    const char *bad[] = {"INCR", "unit:k"};
    const char *set[] = {"SET", "unit:k", "text"};
    struct res r;

    cmd(fx, 0, 3, set);
    r = cmd(fx, 0, 2, bad);
    assert_int_equal(r.err, JC_EREDIS);
    assert_non_null(strstr(r.msg, "not an integer"));
}

static void script_noscript_fallback(void **state)
{
    struct fx *fx = *state;
    struct jc_redis_script s;
    const char *flush[] = {"SCRIPT", "FLUSH"};
    const char *args[] = {"unit:counter", "5"};
    struct res r = {0}, r2 = {0};

    jc_redis_script_init(&s, "return redis.call('INCRBY', KEYS[1], ARGV[1])");
    assert_int_equal(strlen(s.sha), 40);
    cmd(fx, 0, 2, flush);
    {
        const char *del[] = {"DEL", "unit:counter"};
        cmd(fx, 0, 2, del);
    }
    assert_int_equal(jc_redis_eval(fx->r, &s, 1, 2, args, on_reply, &r), JC_OK);
    unit_run_until(fx->base, &r.done, 5000);
    assert_int_equal(r.err, JC_OK); /* NOSCRIPT answered by EVAL with the source */
    assert_int_equal(r.integer, 5);
    assert_int_equal(jc_redis_eval(fx->r, &s, 1, 2, args, on_reply, &r2), JC_OK);
    unit_run_until(fx->base, &r2.done, 5000);
    assert_int_equal(r2.integer, 10);
}

/* A script sent behind a blocking command on the same client runs once that command has
 * answered, within the script's own deadline: the worker's wait for a quiet queue. */
static void script_waits_behind_a_blocking_command(void **state)
{
    struct fx *fx = *state;
    struct jc_redis_script s;
    struct jc_redis *other = jc_redis_new(fx->base, NULL, &fx->o);
    const char *del[] = {"DEL", "unit:q"};
    const char *blk[] = {"BLMOVE", "unit:q", "unit:q", "RIGHT", "RIGHT", "2"};
    const char *push[] = {"LPUSH", "unit:q", "job"};
    const char *keys[] = {"unit:q"};
    struct res moved = {0}, len = {0}, pushed = {0}, late = {0};

    jc_redis_script_init(&s, "return redis.call('LLEN', KEYS[1])");
    wait_healthy(fx->base, other);
    cmd(fx, 0, 2, del);
    assert_int_equal(jc_redis_command(fx->r, 3000, on_reply, &moved, 6, blk, NULL), JC_OK);
    assert_int_equal(jc_redis_eval_timeout(fx->r, 3000, &s, 1, 1, keys, on_reply, &len), JC_OK);
    {
        struct timeval tv = {0, 100000};
        event_base_loopexit(fx->base, &tv);
        event_base_dispatch(fx->base);
    }
    assert_int_equal(len.done, 0); /* still waiting behind the BLMOVE */
    assert_int_equal(jc_redis_command(other, 0, on_reply, &pushed, 3, push, NULL), JC_OK);
    unit_run_until(fx->base, &len.done, 5000);
    assert_int_equal(moved.err, JC_OK);
    assert_string_equal(moved.str, "job"); /* the queue onto itself: answered, unchanged */
    assert_int_equal(len.err, JC_OK);
    assert_int_equal(len.integer, 1);
    /* the script's own deadline applies, not the client's 2 s default */
    cmd(fx, 0, 2, del);
    blk[5] = "1";
    assert_int_equal(jc_redis_command(fx->r, 3000, NULL, NULL, 6, blk, NULL), JC_OK);
    assert_int_equal(jc_redis_eval_timeout(fx->r, 200, &s, 1, 1, keys, on_reply, &late), JC_OK);
    unit_run_until(fx->base, &late.done, 5000);
    assert_int_equal(late.err, JC_ETIMEOUT);
    jc_redis_free(other);
}

static void timeout_then_reconnects(void **state)
{
    struct fx *fx = *state;
    const char *pause[] = {"CLIENT", "PAUSE", "700"};
    const char *ping[] = {"PING"};
    struct res r;

    cmd(fx, 0, 3, pause);
    r = cmd(fx, 150, 1, ping);
    assert_int_equal(r.err, JC_ETIMEOUT);
    wait_healthy(fx->base, fx->r); /* reconnected after the pause */
    r = cmd(fx, 0, 1, ping);
    assert_int_equal(r.err, JC_OK);
    assert_string_equal(r.str, "PONG");
}

struct msgs {
    int n;          /* messages */
    int subscribed; /* (re)subscription notices */
    char channel[64];
    char last[128];
};

static void on_msg(const char *channel, const char *payload, size_t len, void *ud)
{
    struct msgs *m = ud;

    if (payload == NULL) {
        m->subscribed++;
        return;
    }
    m->n++;
    snprintf(m->channel, sizeof(m->channel), "%s", channel);
    snprintf(m->last, sizeof(m->last), "%.*s", (int)len, payload);
}

static void subscriber_receives(void **state)
{
    struct fx *fx = *state;
    struct fx sub = {0};
    struct jc_redis *s;
    struct msgs m = {0};
    const char *pub[] = {"PUBLISH", "project:unit", "{\"type\":\"x\"}"};
    const char *ping[] = {"PING"};
    int waited;
    struct res r = {0};

    opts_from_env(&sub, true);
    s = jc_redis_new(fx->base, NULL, &sub.o);
    assert_int_equal(jc_redis_command(s, 0, on_reply, &r, 1, ping, NULL), JC_EINVAL);
    assert_int_equal(jc_redis_subscribe(fx->r, "x", on_msg, &m), JC_EINVAL);
    assert_int_equal(jc_redis_subscribe(s, "project:unit", on_msg, &m), JC_OK);
    wait_healthy(fx->base, s);
    for (waited = 0; m.n == 0 && waited < 5000; waited += 50) {
        struct res p = cmd(fx, 0, 3, pub);
        assert_int_equal(p.err, JC_OK);
        if (p.integer > 0) {
            unit_run_until(fx->base, &m.n, 2000);
            break;
        }
    }
    assert_true(m.n >= 1);
    assert_int_equal(m.subscribed, 1);
    assert_string_equal(m.channel, "project:unit");
    assert_string_equal(m.last, "{\"type\":\"x\"}");
    jc_redis_free(s);
}

static void pattern_subscriber_sees_the_channel(void **state)
{
    struct fx *fx = *state;
    struct fx sub = {0};
    struct jc_redis *s;
    struct msgs m = {0};
    const char *pub[] = {"PUBLISH", "project:p42", "{\"type\":\"y\"}"};
    int waited;

    opts_from_env(&sub, true);
    s = jc_redis_new(fx->base, NULL, &sub.o);
    assert_int_equal(jc_redis_subscribe(s, "project:*", on_msg, &m), JC_OK);
    wait_healthy(fx->base, s);
    for (waited = 0; m.n == 0 && waited < 5000; waited += 50) {
        struct res p = cmd(fx, 0, 3, pub);
        assert_int_equal(p.err, JC_OK);
        if (p.integer > 0) {
            unit_run_until(fx->base, &m.n, 2000);
            break;
        }
    }
    assert_int_equal(m.subscribed, 1);
    assert_int_equal(m.n, 1);
    assert_string_equal(m.channel, "project:p42");
    assert_string_equal(m.last, "{\"type\":\"y\"}");
    jc_redis_free(s);
}

static void unreachable_fails_fast_and_free_closes(void **state)
{
    struct event_base *base = event_base_new();
    struct jc_redis_opts o = {"127.0.0.1", 1, NULL, 0, 5000, false, NULL};
    struct jc_redis *r = jc_redis_new(base, NULL, &o);
    const char *ping[] = {"PING"};
    struct res a = {0};

    (void)state;
    assert_false(jc_redis_healthy(r));
    assert_int_equal(jc_redis_command(r, 0, on_reply, &a, 1, ping, NULL), JC_OK);
    unit_run_until(base, &a.done, 1000);
    assert_int_equal(a.err, JC_EREDIS);
    jc_redis_free(r);
    event_base_free(base);
}

static void free_completes_in_flight_with_closed(void **state)
{
    struct fx *fx = *state;
    const char *slow[] = {"DEBUG", "SLEEP", "0.3"};
    struct res r = {0};

    assert_int_equal(jc_redis_command(fx->r, 0, on_reply, &r, 3, slow, NULL), JC_OK);
    jc_redis_free(fx->r);
    fx->r = NULL;
    assert_int_equal(r.done, 1);
    assert_int_equal(r.err, JC_ECLOSED);
}

static void connects_by_host_name(void **state)
{
    struct event_base *base = event_base_new();
    struct evdns_base *dns = unit_hosts_only_dns(base);
    struct fx f = {0};
    struct jc_redis *r;
    const char *ping[] = {"PING"};
    struct res a = {0};

    (void)state;
    assert_non_null(dns);
    opts_from_env(&f, false);
    f.o.host = "localhost"; /* /etc/hosts, through evdns */
    f.o.dns = dns;
    r = jc_redis_new(base, NULL, &f.o);
    wait_healthy(base, r);
    assert_int_equal(jc_redis_command(r, 0, on_reply, &a, 1, ping, NULL), JC_OK);
    unit_run_until(base, &a.done, 2000);
    assert_string_equal(a.str, "PONG");
    jc_redis_free(r);
    evdns_base_free(dns, 1);
    event_base_free(base);
}

static void unresolvable_host_says_so(void **state)
{
    struct event_base *base = event_base_new();
    struct evdns_base *dns = unit_hosts_only_dns(base);
    struct jc_redis_opts o = {"no-such-host.invalid", 6379, NULL, 0, 1000, false, dns};
    struct jc_redis *r;
    const char *ping[] = {"PING"};
    int waited;

    (void)state;
    r = jc_redis_new(base, NULL, &o);
    /* poll with commands until the failure names the lookup */
    for (waited = 0; waited < 6000; waited += 100) {
        struct res a = {0};
        assert_int_equal(jc_redis_command(r, 0, on_reply, &a, 1, ping, NULL), JC_OK);
        unit_run_until(base, &a.done, 2000);
        assert_int_equal(a.err, JC_EREDIS);
        if (strstr(a.msg, "cannot resolve no-such-host.invalid") != NULL)
            break;
        {
            struct timeval tv = {0, 100000};
            event_base_loopexit(base, &tv);
            event_base_dispatch(base);
        }
    }
    assert_true(waited < 6000);
    jc_redis_free(r);
    evdns_base_free(dns, 1);
    event_base_free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(set_get_binary_safe, setup, teardown),
        cmocka_unit_test_setup_teardown(error_reply, setup, teardown),
        cmocka_unit_test_setup_teardown(script_noscript_fallback, setup, teardown),
        cmocka_unit_test_setup_teardown(script_waits_behind_a_blocking_command, setup, teardown),
        cmocka_unit_test_setup_teardown(timeout_then_reconnects, setup, teardown),
        cmocka_unit_test_setup_teardown(pattern_subscriber_sees_the_channel, setup, teardown),
        cmocka_unit_test_setup_teardown(subscriber_receives, setup, teardown),
        cmocka_unit_test(unreachable_fails_fast_and_free_closes),
        cmocka_unit_test(connects_by_host_name),
        cmocka_unit_test(unresolvable_host_says_so),
        cmocka_unit_test_setup_teardown(free_completes_in_flight_with_closed, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
