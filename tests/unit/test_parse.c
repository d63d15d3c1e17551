/* SPDX-License-Identifier: MIT */
/* test_parse.c: checked number, duration and boolean parsing. */
#include "unit.h"

#include "jc/parse.h"

static void longs(void **state)
{
    long v = 7;

    (void)state;
    assert_int_equal(jc_parse_long("42", 0, 100, &v), JC_OK);
    assert_int_equal(v, 42);
    assert_int_equal(jc_parse_long("-3", -5, 5, &v), JC_OK);
    assert_int_equal(v, -3);
    v = 7;
    assert_int_equal(jc_parse_long("101", 0, 100, &v), JC_EINVAL);
    assert_int_equal(jc_parse_long("12ab", 0, 100, &v), JC_EINVAL);
    assert_int_equal(jc_parse_long("", 0, 100, &v), JC_EINVAL);
    assert_int_equal(jc_parse_long(NULL, 0, 100, &v), JC_EINVAL);
    assert_int_equal(jc_parse_long("99999999999999999999999", 0, 100, &v), JC_EINVAL);
    assert_int_equal(v, 7); /* untouched on error */
}

static void durations(void **state)
{
    long long ms = 0;

    (void)state;
    assert_int_equal(jc_parse_duration_ms("500ms", &ms), JC_OK);
    assert_int_equal(ms, 500);
    assert_int_equal(jc_parse_duration_ms("15s", &ms), JC_OK);
    assert_int_equal(ms, 15000);
    assert_int_equal(jc_parse_duration_ms("15", &ms), JC_OK);
    assert_int_equal(ms, 15000);
    assert_int_equal(jc_parse_duration_ms("10m", &ms), JC_OK);
    assert_int_equal(ms, 600000);
    assert_int_equal(jc_parse_duration_ms("2h", &ms), JC_OK);
    assert_int_equal(ms, 7200000);
    assert_int_equal(jc_parse_duration_ms("30d", &ms), JC_OK);
    assert_int_equal(ms, 2592000000LL);
    assert_int_equal(jc_parse_duration_ms("3w", &ms), JC_EINVAL);
    assert_int_equal(jc_parse_duration_ms("-1s", &ms), JC_EINVAL);
    assert_int_equal(jc_parse_duration_ms("d", &ms), JC_EINVAL);
    assert_int_equal(jc_parse_duration_ms("9223372036854775807d", &ms), JC_EINVAL);
}

static void bools(void **state)
{
    bool b = false;

    (void)state;
    assert_int_equal(jc_parse_bool("TRUE", &b), JC_OK);
    assert_true(b);
    assert_int_equal(jc_parse_bool("off", &b), JC_OK);
    assert_false(b);
    assert_int_equal(jc_parse_bool("maybe", &b), JC_EINVAL);
}

static void words(void **state)
{
    const char *list = " , alpha,beta  gamma,, ";
    const char *w;
    size_t len = 0;

    (void)state;
    w = jc_parse_word(&list, " ,", &len);
    assert_non_null(w);
    assert_int_equal(len, 5);
    assert_memory_equal(w, "alpha", 5);
    w = jc_parse_word(&list, " ,", &len);
    assert_int_equal(len, 4);
    assert_memory_equal(w, "beta", 4);
    w = jc_parse_word(&list, " ,", &len);
    assert_int_equal(len, 5);
    assert_memory_equal(w, "gamma", 5);
    assert_null(jc_parse_word(&list, " ,", &len));
    assert_null(jc_parse_word(&list, " ,", &len));
    list = "";
    assert_null(jc_parse_word(&list, " ,", &len));
}

static void utf8(void **state)
{
    (void)state;
    assert_true(jc_utf8_valid("plain ascii", 11));
    {
        const char *mixed = "Done \xe2\x9c\x85 caf\xc3\xa9 \xf0\x9f\x9a\x80";
        assert_true(jc_utf8_valid(mixed, strlen(mixed)));
        assert_false(jc_utf8_valid(mixed, strlen(mixed) - 1)); /* cut inside the rocket */
    }
    assert_true(jc_utf8_valid("", 0));
    assert_false(jc_utf8_valid("a\0b", 3));             /* NUL */
    assert_false(jc_utf8_valid("\xc3", 1));             /* truncated */
    assert_false(jc_utf8_valid("\xc0\xaf", 2));         /* overlong */
    assert_false(jc_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    assert_false(jc_utf8_valid("\xf4\x90\x80\x80", 4)); /* above U+10FFFF */
    assert_false(jc_utf8_valid("\xff", 1));
    assert_false(jc_utf8_valid("x\x80", 2)); /* stray continuation */
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(longs), cmocka_unit_test(durations),
                                       cmocka_unit_test(bools), cmocka_unit_test(words),
                                       cmocka_unit_test(utf8)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
