/* SPDX-License-Identifier: MIT */
/* test_mcp_cache.c: jive-mcp's read cache: hits and misses, invalidation by project and by
 * generation, expiry, the size bound, and a cache turned off. */
#include <stdio.h>
#include <time.h>

#include "unit.h"

#include "cache.h"

#define A "6f1c2a4e-8d3b-4c5a-9e7f-1a2b3c4d5e6f"
#define B "0d9e8f7a-6b5c-4d3e-8f1a-2b3c4d5e6f70"

static void expect(struct mcp_cache *c, const char *key, const char *want)
{
    char *got = mcp_cache_get(c, key);

    if (want == NULL) {
        assert_null(got);
        return;
    }
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void a_stored_answer_comes_back_as_a_copy(void **state)
{
    struct mcp_cache *c = mcp_cache_new(16, 60000);
    char *copy;

    (void)state;
    expect(c, "org|status_get|h1", NULL);
    mcp_cache_put(c, "org|status_get|h1", A, "{\"x\":1}", mcp_cache_gen(c));
    expect(c, "org|status_get|h1", "{\"x\":1}");
    copy = mcp_cache_get(c, "org|status_get|h1");
    copy[0] = '!'; /* the caller's copy, not the entry */
    free(copy);
    expect(c, "org|status_get|h1", "{\"x\":1}");
    mcp_cache_put(c, "org|status_get|h1", A, "{\"x\":2}", mcp_cache_gen(c)); /* replaced */
    expect(c, "org|status_get|h1", "{\"x\":2}");
    expect(c, "other-org|status_get|h1", NULL);
    mcp_cache_free(c);
}

static void an_event_drops_its_project_only(void **state)
{
    struct mcp_cache *c = mcp_cache_new(16, 60000);

    (void)state;
    mcp_cache_put(c, "k-a", A, "a", mcp_cache_gen(c));
    mcp_cache_put(c, "k-b", B, "b", mcp_cache_gen(c));
    mcp_cache_invalidate(c, A);
    expect(c, "k-a", NULL);
    expect(c, "k-b", "b");
    mcp_cache_invalidate(c, NULL); /* a (re)subscription: everything */
    expect(c, "k-b", NULL);
    mcp_cache_free(c);
}

static void a_read_begun_before_an_invalidation_is_not_stored(void **state)
{
    struct mcp_cache *c = mcp_cache_new(16, 60000);
    uint64_t gen = mcp_cache_gen(c);

    (void)state;
    mcp_cache_invalidate(c, B); /* any project: the read may have seen the old state */
    mcp_cache_put(c, "k-a", A, "stale", gen);
    expect(c, "k-a", NULL);
    mcp_cache_put(c, "k-a", A, "fresh", mcp_cache_gen(c));
    expect(c, "k-a", "fresh");
    mcp_cache_free(c);
}

static void entries_expire(void **state)
{
    struct mcp_cache *c = mcp_cache_new(16, 20);
    struct timespec ts = {0, 40 * 1000 * 1000};

    (void)state;
    mcp_cache_put(c, "k", A, "v", mcp_cache_gen(c));
    expect(c, "k", "v");
    nanosleep(&ts, NULL);
    expect(c, "k", NULL);
    mcp_cache_free(c);
}

static void the_size_is_bounded_and_zero_turns_it_off(void **state)
{
    struct mcp_cache *c = mcp_cache_new(3, 60000), *off = mcp_cache_new(0, 60000);
    char key[16];
    int i, held = 0;

    (void)state;
    for (i = 0; i < 10; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        mcp_cache_put(c, key, A, "v", mcp_cache_gen(c));
        expect(c, key, "v"); /* the newest is always there */
    }
    for (i = 0; i < 10; i++) {
        char *v;
        snprintf(key, sizeof(key), "k%d", i);
        v = mcp_cache_get(c, key);
        held += v != NULL;
        free(v);
    }
    assert_true(held >= 1 && held <= 3);
    mcp_cache_put(off, "k", A, "v", mcp_cache_gen(off));
    expect(off, "k", NULL);
    mcp_cache_free(c);
    mcp_cache_free(off);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_stored_answer_comes_back_as_a_copy),
        cmocka_unit_test(an_event_drops_its_project_only),
        cmocka_unit_test(a_read_begun_before_an_invalidation_is_not_stored),
        cmocka_unit_test(entries_expire),
        cmocka_unit_test(the_size_is_bounded_and_zero_turns_it_off),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
