/* SPDX-License-Identifier: MIT */
/* test_auth.c: minted tokens verify with libjwt and carry the claims; bad config is refused. */
#include <time.h>

#include <jwt.h>

#include "unit.h"

#include "jc/auth.h"

static void mint_and_verify(void **state)
{
    struct jc_config cfg = {0};
    struct jc_auth_claims c = {"agent-1",
                               "Cursor",
                               "acme",
                               "00000000-0000-4000-8000-000000000001",
                               "status:read kanban:write",
                               3600000};
    char err[128] = "";
    char *tok = NULL;
    jwt_t *jwt = NULL;
    const char *secret = "0123456789abcdef0123456789abcdef";
    long now = (long)time(NULL);

    (void)state;
    cfg.jwt_secret = (char *)secret;
    cfg.jwt_issuer = (char *)"https://jive.example";
    cfg.jwt_audience = (char *)"https://jive.example/mcp";
    assert_int_equal(jc_auth_mint(&cfg, &c, &tok, err, sizeof(err)), JC_OK);
    assert_int_equal(jwt_decode(&jwt, tok, (const unsigned char *)secret, (int)strlen(secret)), 0);
    assert_int_equal(jwt_get_alg(jwt), JWT_ALG_HS256);
    assert_string_equal(jwt_get_grant(jwt, "sub"), "agent-1");
    assert_string_equal(jwt_get_grant(jwt, "org"), "acme");
    assert_string_equal(jwt_get_grant(jwt, "scope"), "status:read kanban:write");
    assert_string_equal(jwt_get_grant(jwt, "iss"), "https://jive.example");
    assert_string_equal(jwt_get_grant(jwt, "aud"), "https://jive.example/mcp");
    assert_true(jwt_get_grant_int(jwt, "exp") - now >= 3599);
    assert_true(jwt_get_grant_int(jwt, "exp") - now <= 3601);
    jwt_free(jwt);
    jwt = NULL;
    /* another key does not verify it */
    assert_int_not_equal(
        jwt_decode(&jwt, tok, (const unsigned char *)"x-other-key-0123456789abcdef0123", 32), 0);
    jwt_free(jwt);
    free(tok);
}

static void refuses_incomplete_config(void **state)
{
    struct jc_config cfg = {0};
    struct jc_auth_claims c = {"a", "n", "o", NULL, "s", 1000};
    char err[128] = "";
    char *tok = (char *)"unchanged";

    (void)state;
    assert_int_equal(jc_auth_mint(&cfg, &c, &tok, err, sizeof(err)), JC_EINVAL);
    assert_null(tok);
    assert_string_equal(err, "JIVE_JWT_SECRET: required, not set");
    cfg.jwt_secret = (char *)"0123456789abcdef0123456789abcdef";
    cfg.jwt_issuer = (char *)"i";
    cfg.jwt_audience = (char *)"a";
    c.scopes = NULL;
    assert_int_equal(jc_auth_mint(&cfg, &c, &tok, err, sizeof(err)), JC_EINVAL);
    assert_null(tok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(mint_and_verify),
                                       cmocka_unit_test(refuses_incomplete_config)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
