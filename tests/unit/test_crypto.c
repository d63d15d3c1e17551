/* SPDX-License-Identifier: MIT */
/* test_crypto.c: HMAC-SHA256 and SHA-256 against published vectors, compare, ids. */
#include "unit.h"

#include "jc/crypto.h"

static void hmac_rfc4231_case2(void **state)
{
    char hex[JC_SHA256_HEX_LEN];

    (void)state;
    assert_int_equal(jc_crypto_hmac_sha256_hex("Jefe", 4, "what do ya want for nothing?", 28, hex),
                     JC_OK);
    assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

static void hmac_github_example(void **state)
{
    /* GitHub's documented example: secret "It's a Secret to Everybody", body "Hello, World!" */
    char hex[JC_SHA256_HEX_LEN];

    (void)state;
    assert_int_equal(
        jc_crypto_hmac_sha256_hex("It's a Secret to Everybody", 26, "Hello, World!", 13, hex),
        JC_OK);
    assert_string_equal(hex, "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17");
}

static void sha256_vectors(void **state)
{
    char hex[JC_SHA256_HEX_LEN];

    (void)state;
    assert_int_equal(jc_crypto_sha256_hex("abc", 3, hex), JC_OK);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(jc_crypto_sha256_hex(NULL, 0, hex), JC_OK);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void constant_time_equal(void **state)
{
    (void)state;
    assert_true(jc_crypto_equal("abcd", 4, "abcd", 4));
    assert_false(jc_crypto_equal("abcd", 4, "abce", 4));
    assert_false(jc_crypto_equal("abcd", 4, "abc", 3));
    assert_true(jc_crypto_equal("", 0, "", 0));
}

static void uuids_and_random(void **state)
{
    char a[JC_UUID_LEN], b[JC_UUID_LEN], hex[33];

    (void)state;
    assert_int_equal(jc_crypto_uuid4(a), JC_OK);
    assert_int_equal(jc_crypto_uuid4(b), JC_OK);
    assert_true(jc_crypto_is_uuid(a));
    assert_string_not_equal(a, b);
    assert_int_equal(a[14], '4');           /* version */
    assert_non_null(strchr("89ab", a[19])); /* RFC 4122 variant */
    assert_false(jc_crypto_is_uuid("not-a-uuid"));
    assert_false(jc_crypto_is_uuid("0123456789abcdef0123456789abcdef0123"));
    assert_int_equal(jc_crypto_random_hex(hex, 16), JC_OK);
    assert_int_equal(strlen(hex), 32);
    assert_int_equal(strspn(hex, "0123456789abcdef"), 32);
    assert_int_equal(jc_crypto_random_hex(hex, 65), JC_EINVAL);
}

static void unhex(void **state)
{
    unsigned char out[4];

    (void)state;
    assert_true(jc_crypto_unhex("00fFa5Ba", out, 4));
    assert_memory_equal(out, "\x00\xff\xa5\xba", 4);
    assert_false(jc_crypto_unhex("00ffa5b", out, 4));   /* short (odd) */
    assert_false(jc_crypto_unhex("00ffa5ba0", out, 4)); /* long */
    assert_false(jc_crypto_unhex("00ffa5bg", out, 4));  /* not hex */
    assert_false(jc_crypto_unhex("", out, 4));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hmac_rfc4231_case2), cmocka_unit_test(hmac_github_example),
        cmocka_unit_test(sha256_vectors),     cmocka_unit_test(constant_time_equal),
        cmocka_unit_test(uuids_and_random),   cmocka_unit_test(unhex)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
