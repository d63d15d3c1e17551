/* SPDX-License-Identifier: MIT */
/* test_pg.c: the async pool against the real Postgres the harness started (DATABASE_URL). */
#include <stdio.h>

#include "unit.h"

#include "jc/pg.h"

struct res {
    int done;
    enum jc_err err;
    char value[256];
    char sqlstate[8];
    char msg[256];
    struct jc_pg_tx *tx;
};

static void on_result(const PGresult *r, enum jc_err err, const char *msg, void *ud)
{
    struct res *out = ud;

    out->done = 1;
    out->err = err;
    snprintf(out->msg, sizeof(out->msg), "%s", msg);
    snprintf(out->sqlstate, sizeof(out->sqlstate), "%s", jc_pg_sqlstate(r));
    if (err == JC_OK && r != NULL && PQntuples(r) > 0 && PQnfields(r) > 0)
        snprintf(out->value, sizeof(out->value), "%s", PQgetvalue(r, 0, 0));
}

static void on_tx(struct jc_pg_tx *tx, enum jc_err err, const char *msg, void *ud)
{
    struct res *out = ud;

    out->done = 1;
    out->err = err;
    out->tx = tx;
    snprintf(out->msg, sizeof(out->msg), "%s", msg);
}

struct fx {
    struct event_base *base;
    struct jc_pg *pg;
};

static struct jc_pg *pool_dns(struct event_base *base, const char *conninfo, int size,
                              struct evdns_base *dns)
{
    struct jc_pg_opts o = {conninfo, size, 3000, 3000, dns};

    return jc_pg_new(base, NULL, &o);
}

static struct jc_pg *pool(struct event_base *base, const char *conninfo, int size)
{
    struct jc_pg_opts o = {conninfo, size, 3000, 3000, NULL};

    return jc_pg_new(base, NULL, &o);
}

static int setup(void **state)
{
    struct fx *fx = calloc(1, sizeof(*fx));

    fx->base = event_base_new();
    fx->pg = pool(fx->base, unit_env("DATABASE_URL"), 3);
    assert_non_null(fx->pg);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fx *fx = *state;

    jc_pg_free(fx->pg);
    event_base_free(fx->base);
    free(fx);
    return 0;
}

static struct res query(struct fx *fx, long timeout, const char *sql, int n, const char *const *p)
{
    struct res r = {0};

    assert_int_equal(jc_pg_query(fx->pg, timeout, sql, n, p, on_result, &r), JC_OK);
    assert_int_equal(r.done, 0); /* never called back inside the submitting call */
    unit_run_until(fx->base, &r.done, 10000);
    return r;
}

static void params_and_results(void **state)
{
    struct fx *fx = *state;
    const char *p[2] = {"20", "22"};
    const char *pn[1] = {NULL};
    struct res r = query(fx, 0, "SELECT ($1::int + $2::int)::text", 2, p);

    assert_int_equal(r.err, JC_OK);
    assert_string_equal(r.value, "42");
    r = query(fx, 0, "SELECT coalesce($1::text, 'was null')", 1, pn);
    assert_string_equal(r.value, "was null");
    assert_true(jc_pg_healthy(fx->pg));
}

static void sql_error_carries_sqlstate(void **state)
{
    struct fx *fx = *state;
    struct res r = query(fx, 0, "SELECT * FROM no_such_table", 0, NULL);

    assert_int_equal(r.err, JC_EPG);
    assert_string_equal(r.sqlstate, "42P01");
    assert_non_null(strstr(r.msg, "no_such_table"));
    r = query(fx, 0, "SELECT 1::text", 0, NULL); /* the connection is still usable */
    assert_int_equal(r.err, JC_OK);
}

static void run_tx(struct fx *fx, const char *stmt, bool commit, enum jc_err want_end)
{
    struct res b = {0}, q = {0}, e = {0};

    assert_int_equal(jc_pg_begin(fx->pg, 0, on_tx, &b), JC_OK);
    unit_run_until(fx->base, &b.done, 10000);
    assert_int_equal(b.err, JC_OK);
    assert_int_equal(jc_pg_tx_query(b.tx, stmt, 0, NULL, on_result, &q), JC_OK);
    assert_int_equal(jc_pg_tx_query(b.tx, "SELECT 1", 0, NULL, on_result, &e), JC_EINVAL);
    unit_run_until(fx->base, &q.done, 10000);
    if (commit)
        assert_int_equal(jc_pg_tx_commit(b.tx, on_result, &e), JC_OK);
    else
        assert_int_equal(jc_pg_tx_rollback(b.tx, on_result, &e), JC_OK);
    unit_run_until(fx->base, &e.done, 10000);
    assert_int_equal(e.err, want_end);
}

static void transactions(void **state)
{
    struct fx *fx = *state;
    struct res r;

    r = query(fx, 0, "CREATE TABLE IF NOT EXISTS unit_pg_tx (v text)", 0, NULL);
    assert_int_equal(r.err, JC_OK);
    query(fx, 0, "TRUNCATE unit_pg_tx", 0, NULL);
    run_tx(fx, "INSERT INTO unit_pg_tx VALUES ('committed')", true, JC_OK);
    run_tx(fx, "INSERT INTO unit_pg_tx VALUES ('rolled back')", false, JC_OK);
    /* a failed statement makes COMMIT a rollback reported as an error */
    run_tx(fx, "INSERT INTO unit_pg_tx VALUES (1/0)", true, JC_EPG);
    r = query(fx, 0, "SELECT string_agg(v, ',') FROM unit_pg_tx", 0, NULL);
    assert_string_equal(r.value, "committed");
    query(fx, 0, "DROP TABLE unit_pg_tx", 0, NULL);
}

static void timeout_then_recovers(void **state)
{
    struct fx *fx = *state;
    struct res r = query(fx, 200, "SELECT pg_sleep(3)", 0, NULL);

    assert_int_equal(r.err, JC_ETIMEOUT);
    r = query(fx, 0, "SELECT 'alive'", 0, NULL);
    assert_int_equal(r.err, JC_OK);
    assert_string_equal(r.value, "alive");
}

static int all_done(const struct res *rs, int n)
{
    int i;

    for (i = 0; i < n; i++)
        if (!rs[i].done)
            return 0;
    return 1;
}

static void many_concurrent_queries(void **state)
{
    struct fx *fx = *state;
    struct res rs[60];
    char num[60][16];
    int i, waited;

    memset(rs, 0, sizeof(rs));
    for (i = 0; i < 60; i++) {
        const char *p[1] = {num[i]};
        snprintf(num[i], sizeof(num[i]), "%d", i);
        assert_int_equal(
            jc_pg_query(fx->pg, 0, "SELECT ($1::int * 2)::text", 1, p, on_result, &rs[i]), JC_OK);
    }
    for (waited = 0; !all_done(rs, 60) && waited < 10000; waited += 10) {
        struct timeval tv = {0, 10000};
        event_base_loopexit(fx->base, &tv);
        event_base_dispatch(fx->base);
    }
    assert_true(all_done(rs, 60));
    for (i = 0; i < 60; i++) {
        assert_int_equal(rs[i].err, JC_OK);
        assert_int_equal(strtol(rs[i].value, NULL, 10), i * 2);
    }
}

static struct res prepared(struct jc_pg *pg, struct event_base *base, const char *name,
                           const char *sql, int n, const char *const *p)
{
    struct res r = {0};

    assert_int_equal(jc_pg_query_prepared(pg, 0, name, sql, n, p, on_result, &r), JC_OK);
    assert_int_equal(r.done, 0);
    unit_run_until(base, &r.done, 10000);
    return r;
}

static void prepared_statements(void **state)
{
    struct fx *fx = *state;
    struct res rs[30];
    char num[30][16];
    const char *self = "SELECT count(*)::text FROM pg_prepared_statements WHERE name = 'unit_self'";
    struct res r;
    int i, waited;

    /* concurrent uses on every connection of the pool: each prepares it once, all answer */
    memset(rs, 0, sizeof(rs));
    for (i = 0; i < 30; i++) {
        const char *p[1] = {num[i]};
        snprintf(num[i], sizeof(num[i]), "%d", i);
        assert_int_equal(jc_pg_query_prepared(fx->pg, 0, "unit_double",
                                              "SELECT ($1::int * 2)::text", 1, p, on_result,
                                              &rs[i]),
                         JC_OK);
    }
    for (waited = 0; !all_done(rs, 30) && waited < 10000; waited += 10) {
        struct timeval tv = {0, 10000};
        event_base_loopexit(fx->base, &tv);
        event_base_dispatch(fx->base);
    }
    assert_true(all_done(rs, 30));
    for (i = 0; i < 30; i++) {
        assert_int_equal(rs[i].err, JC_OK);
        assert_int_equal(strtol(rs[i].value, NULL, 10), i * 2);
    }
    /* it really is a server-side prepared statement of the session that runs it */
    for (i = 0; i < 4; i++) {
        r = prepared(fx->pg, fx->base, "unit_self", self, 0, NULL);
        assert_int_equal(r.err, JC_OK);
        assert_string_equal(r.value, "1");
    }
    r = query(fx, 0, self, 0, NULL);
    assert_true(strcmp(r.value, "0") == 0 || strcmp(r.value, "1") == 0);
    /* a statement that does not parse fails with its SQLSTATE, the connection stays usable */
    r = prepared(fx->pg, fx->base, "unit_bad", "SELEC 1", 0, NULL);
    assert_int_equal(r.err, JC_EPG);
    assert_string_equal(r.sqlstate, "42601");
    r = prepared(fx->pg, fx->base, "unit_double", "SELECT ($1::int * 2)::text", 1,
                 (const char *const[]){"21"});
    assert_string_equal(r.value, "42");
}

static void prepared_statement_survives_deallocate_and_reconnect(void **state)
{
    struct event_base *base = event_base_new();
    struct jc_pg *pg = pool(base, unit_env("DATABASE_URL"), 1);
    const char *sql = "SELECT 'prepared ' || $1::text";
    const char *p[1] = {"ok"};
    struct res r = {0};
    int waited;

    (void)state;
    r = prepared(pg, base, "unit_again", sql, 1, p);
    assert_int_equal(r.err, JC_OK);
    assert_string_equal(r.value, "prepared ok");
    /* the session loses it behind the pool's back: one failure names it, the next use works */
    assert_int_equal(
        jc_pg_query(pg, 0, "DEALLOCATE unit_again", 0, NULL, on_result, &(struct res){0}), JC_OK);
    r = prepared(pg, base, "unit_again", sql, 1, p);
    assert_int_equal(r.err, JC_EPG);
    assert_string_equal(r.sqlstate, "26000");
    r = prepared(pg, base, "unit_again", sql, 1, p);
    assert_int_equal(r.err, JC_OK);
    assert_string_equal(r.value, "prepared ok");
    /* a new session after the connection was killed prepares it again */
    r = (struct res){0};
    assert_int_equal(
        jc_pg_query(pg, 0, "SELECT pg_terminate_backend(pg_backend_pid())", 0, NULL, on_result, &r),
        JC_OK);
    unit_run_until(base, &r.done, 10000);
    assert_int_equal(r.err, JC_EPG);
    for (waited = 0; !jc_pg_healthy(pg) && waited < 10000; waited += 10) {
        struct timeval tv = {0, 10000};
        event_base_loopexit(base, &tv);
        event_base_dispatch(base);
    }
    assert_true(jc_pg_healthy(pg));
    r = prepared(pg, base, "unit_again", sql, 1, p);
    assert_int_equal(r.err, JC_OK);
    assert_string_equal(r.value, "prepared ok");
    jc_pg_free(pg);
    event_base_free(base);
}

static void unreachable_database_fails_fast(void **state)
{
    struct event_base *base = event_base_new();
    struct jc_pg *pg = pool(base, "postgresql://nobody@127.0.0.1:1/none", 2);
    struct res r = {0}, r2 = {0};

    (void)state;
    assert_int_equal(jc_pg_query(pg, 5000, "SELECT 1", 0, NULL, on_result, &r), JC_OK);
    unit_run_until(base, &r.done, 3000); /* well before the 5 s deadline */
    assert_int_equal(r.err, JC_EPG);
    assert_false(jc_pg_healthy(pg));
    assert_int_equal(jc_pg_query(pg, 5000, "SELECT 1", 0, NULL, on_result, &r2), JC_OK);
    unit_run_until(base, &r2.done, 3000);
    assert_int_equal(r2.err, JC_EPG);
    assert_non_null(strstr(r2.msg, "unavailable"));
    jc_pg_free(pg);
    event_base_free(base);
}

static void free_completes_pending_with_closed(void **state)
{
    struct event_base *base = event_base_new();
    struct jc_pg *pg = pool(base, unit_env("DATABASE_URL"), 1);
    struct res a = {0}, b = {0};

    (void)state;
    assert_int_equal(jc_pg_query(pg, 0, "SELECT pg_sleep(1)", 0, NULL, on_result, &a), JC_OK);
    assert_int_equal(jc_pg_query(pg, 0, "SELECT 1", 0, NULL, on_result, &b), JC_OK);
    jc_pg_free(pg);
    assert_int_equal(a.done, 1);
    assert_int_equal(b.done, 1);
    assert_int_equal(a.err, JC_ECLOSED);
    assert_int_equal(b.err, JC_ECLOSED);
    event_base_free(base);
}

/* DATABASE_URL with its 127.0.0.1 replaced by host (the harness always uses 127.0.0.1). */
static void url_with_host(char *out, size_t len, const char *host)
{
    const char *url = unit_env("DATABASE_URL");
    const char *at = strstr(url, "127.0.0.1");

    assert_non_null(at);
    snprintf(out, len, "%.*s%s%s", (int)(at - url), url, host, at + strlen("127.0.0.1"));
}

static struct evdns_base *test_dns(struct event_base *base)
{
    struct evdns_base *dns = unit_hosts_only_dns(base);

    assert_non_null(dns);
    return dns;
}

static void connects_by_host_name_without_blocking_lookup(void **state)
{
    struct event_base *base = event_base_new();
    struct evdns_base *dns = test_dns(base);
    char url[512];
    struct jc_pg *pg;
    struct res r = {0};

    (void)state;
    url_with_host(url, sizeof(url), "localhost"); /* /etc/hosts, through evdns */
    pg = pool_dns(base, url, 1, dns);
    assert_int_equal(jc_pg_query(pg, 5000, "SELECT 'by name'", 0, NULL, on_result, &r), JC_OK);
    unit_run_until(base, &r.done, 6000);
    assert_int_equal(r.err, JC_OK);
    assert_string_equal(r.value, "by name");
    jc_pg_free(pg);
    evdns_base_free(dns, 1);
    event_base_free(base);
}

static void unresolvable_host_says_so(void **state)
{
    struct event_base *base = event_base_new();
    struct evdns_base *dns = test_dns(base);
    char url[512];
    struct jc_pg *pg;
    struct res r = {0};

    (void)state;
    url_with_host(url, sizeof(url), "no-such-host.invalid");
    pg = pool_dns(base, url, 1, dns);
    assert_int_equal(jc_pg_query(pg, 8000, "SELECT 1", 0, NULL, on_result, &r), JC_OK);
    unit_run_until(base, &r.done, 9000);
    assert_int_equal(r.err, JC_EPG);
    /* our resolver ran (libpq's own lookup would say "could not translate host name") */
    if (strstr(r.msg, "cannot resolve no-such-host.invalid") == NULL)
        fail_msg("unexpected message: %s", r.msg);
    jc_pg_free(pg);
    evdns_base_free(dns, 1);
    event_base_free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(params_and_results, setup, teardown),
        cmocka_unit_test_setup_teardown(sql_error_carries_sqlstate, setup, teardown),
        cmocka_unit_test_setup_teardown(transactions, setup, teardown),
        cmocka_unit_test_setup_teardown(timeout_then_recovers, setup, teardown),
        cmocka_unit_test_setup_teardown(many_concurrent_queries, setup, teardown),
        cmocka_unit_test_setup_teardown(prepared_statements, setup, teardown),
        cmocka_unit_test(prepared_statement_survives_deallocate_and_reconnect),
        cmocka_unit_test(unreachable_database_fails_fast),
        cmocka_unit_test(free_completes_pending_with_closed),
        cmocka_unit_test(connects_by_host_name_without_blocking_lookup),
        cmocka_unit_test(unresolvable_host_says_so),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
