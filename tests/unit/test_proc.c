/* SPDX-License-Identifier: MIT */
/* test_proc.c: child processes on the event loop: I/O, exit codes, timeouts, limits. */
#include <stdio.h>
#include <time.h>

#include "unit.h"

#include "jc/clock.h"
#include "jc/proc.h"

struct got {
    int done;
    int code;
    bool timed_out, truncated;
    char *out;
    size_t out_len;
    char err[512];
};

static void on_exit_cb(const struct jc_proc_result *r, void *ud)
{
    struct got *g = ud;

    g->done = 1;
    g->code = r->exit_code;
    g->timed_out = r->timed_out;
    g->truncated = r->truncated;
    g->out = malloc(r->out_len + 1);
    memcpy(g->out, r->out, r->out_len + 1);
    g->out_len = r->out_len;
    snprintf(g->err, sizeof(g->err), "%s", r->err);
}

static struct got run(const char *const *argv, const char *input, size_t input_len, long timeout_ms,
                      size_t max_output, const char *const *env, const char *cwd)
{
    struct event_base *base = event_base_new();
    struct jc_proc_opts o = {argv, env, cwd, input, input_len, timeout_ms, max_output};
    struct got g = {0};

    assert_int_equal(jc_proc_run(base, &o, on_exit_cb, &g), JC_OK);
    assert_int_equal(g.done, 0);
    unit_run_until(base, &g.done, 10000);
    event_base_free(base);
    return g;
}

static void stdin_to_stdout(void **state)
{
    static const char *const argv[] = {"cat", NULL};
    size_t n = 1 << 20, i;
    char *big = malloc(n);
    struct got g;

    (void)state;
    for (i = 0; i < n; i++)
        big[i] = (char)('a' + i % 26);
    g = run(argv, big, n, 5000, 0, NULL, NULL);
    assert_int_equal(g.code, 0);
    assert_int_equal(g.out_len, n);
    assert_memory_equal(g.out, big, n);
    free(g.out);
    free(big);
}

static void exit_codes_and_stderr(void **state)
{
    static const char *const f[] = {"false", NULL};
    static const char *const ls[] = {"ls", "/no/such/dir", NULL};
    struct got g;

    (void)state;
    g = run(f, NULL, 0, 5000, 0, NULL, NULL);
    assert_int_equal(g.code, 1);
    free(g.out);
    g = run(ls, NULL, 0, 5000, 0, NULL, NULL);
    assert_int_not_equal(g.code, 0);
    assert_non_null(strstr(g.err, "/no/such/dir"));
    free(g.out);
}

static void timeout_kills_the_group(void **state)
{
    static const char *const argv[] = {"sleep", "30", NULL};
    double t0 = jc_clock_mono();
    struct got g;

    (void)state;
    g = run(argv, NULL, 0, 200, 0, NULL, NULL);
    assert_true(g.timed_out);
    assert_int_equal(g.code, 128 + 9);
    assert_true(jc_clock_mono() - t0 < 3.0);
    free(g.out);
}

static void limits_env_cwd(void **state)
{
    static const char *const head[] = {"head", "-c", "100000", "/dev/zero", NULL};
    static const char *const env[] = {"env", NULL};
    static const char *const extra[] = {"JIVE_PROC_TEST=yes", NULL};
    static const char *const pwd[] = {"pwd", NULL};
    static const char *const missing[] = {"no-such-program-jive", NULL};
    struct event_base *base = event_base_new();
    struct jc_proc_opts o = {missing, NULL, NULL, NULL, 0, 1000, 0};
    struct got g;

    (void)state;
    g = run(head, NULL, 0, 5000, 1000, NULL, NULL);
    assert_true(g.truncated);
    assert_int_equal(g.out_len, 1000);
    free(g.out);
    g = run(env, NULL, 0, 5000, 0, extra, NULL);
    assert_non_null(strstr(g.out, "JIVE_PROC_TEST=yes"));
    free(g.out);
    g = run(pwd, NULL, 0, 5000, 0, NULL, "/tmp");
    assert_string_equal(g.out, "/tmp\n");
    free(g.out);
    assert_int_equal(jc_proc_run(base, &o, on_exit_cb, &g), JC_EINVAL);
    event_base_free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stdin_to_stdout), cmocka_unit_test(exit_codes_and_stderr),
        cmocka_unit_test(timeout_kills_the_group), cmocka_unit_test(limits_env_cwd)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
