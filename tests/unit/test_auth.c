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
                               3600000,
                               NULL,
                               NULL,
                               NULL};
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
    struct jc_auth_claims c = {"a", "n", "o", NULL, "s", 1000, NULL, NULL, NULL};
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

static const char *const secret = "0123456789abcdef0123456789abcdef";

static void cfg_init(struct jc_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->jwt_secret = (char *)secret;
    cfg->jwt_issuer = (char *)"https://jive.example";
    cfg->jwt_audience = (char *)"https://jive.example/mcp";
    cfg->jwt_alg = JC_JWT_HS256;
}

/* A token with the given claims JSON, signed with alg and key (NULL key for "none"). */
static char *make_token(const char *claims, jwt_alg_t alg, const char *key)
{
    jwt_t *jwt = NULL;
    char *tok;

    assert_int_equal(jwt_new(&jwt), 0);
    assert_int_equal(jwt_add_grants_json(jwt, claims), 0);
    assert_int_equal(
        jwt_set_alg(jwt, alg, (const unsigned char *)key, key != NULL ? (int)strlen(key) : 0), 0);
    tok = jwt_encode_str(jwt);
    jwt_free(jwt);
    assert_non_null(tok);
    return tok;
}

static enum jc_err verify(const char *claims, jwt_alg_t alg, const char *key, char *err,
                          struct jc_principal *p)
{
    struct jc_config cfg;
    char *tok = make_token(claims, alg, key);
    enum jc_err rc;

    cfg_init(&cfg);
    rc = jc_auth_verify(&cfg, tok, 1000000, p, err, 128);
    free(tok);
    return rc;
}

#define GOOD_ISS_AUD "\"iss\":\"https://jive.example\",\"aud\":\"https://jive.example/mcp\""

static void verify_accepts_good_tokens(void **state)
{
    struct jc_principal p;
    char err[128] = "";

    (void)state;
    assert_int_equal(verify("{" GOOD_ISS_AUD ",\"sub\":\"a1\",\"org\":\"acme\",\"exp\":1000100,"
                            "\"scope\":\"status:read kanban:write\"}",
                            JWT_ALG_HS256, secret, err, &p),
                     JC_OK);
    assert_string_equal(p.sub, "a1");
    assert_string_equal(p.org, "acme");
    assert_true(jc_principal_has_scope(&p, "kanban:write"));
    assert_true(jc_principal_has_scope(&p, "status:read"));
    assert_false(jc_principal_has_scope(&p, "status"));
    assert_false(jc_principal_has_scope(&p, "kanban:writer"));
    assert_false(jc_principal_has_scope(&p, "admin"));
    /* aud as an array, scopes as scp array, exp within the leeway */
    assert_int_equal(verify("{\"iss\":\"https://jive.example\",\"aud\":[\"x\",\"https://jive."
                            "example/mcp\"],\"sub\":\"a2\",\"exp\":999990,\"scp\":[\"admin\","
                            "\"runs:read\"]}",
                            JWT_ALG_HS256, secret, err, &p),
                     JC_OK);
    assert_string_equal(p.scopes, "admin runs:read");
    assert_true(jc_principal_has_scope(&p, "admin"));
}

static void verify_refuses_bad_tokens(void **state)
{
    static const struct {
        const char *claims;
        const char *reason;
    } cases[] = {
        {"{" GOOD_ISS_AUD ",\"sub\":\"a\",\"exp\":999000}", "token expired"},
        {"{" GOOD_ISS_AUD ",\"sub\":\"a\",\"exp\":1000100,\"nbf\":1000500}", "token not valid yet"},
        {"{" GOOD_ISS_AUD ",\"sub\":\"a\"}", "token has no expiry"},
        {"{\"iss\":\"evil\",\"aud\":\"https://jive.example/mcp\",\"sub\":\"a\",\"exp\":"
         "1000100}",
         "wrong issuer"},
        {"{\"iss\":\"https://jive.example\",\"aud\":\"other\",\"sub\":\"a\",\"exp\":1000100}",
         "wrong audience"},
        {"{" GOOD_ISS_AUD ",\"exp\":1000100}", "token has no subject"},
    };
    struct jc_principal p;
    char err[128];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err[0] = '\0';
        assert_int_equal(verify(cases[i].claims, JWT_ALG_HS256, secret, err, &p), JC_EAUTH);
        assert_string_equal(err, cases[i].reason);
    }
    /* another key, another algorithm, no algorithm at all */
    assert_int_equal(verify("{" GOOD_ISS_AUD ",\"sub\":\"a\",\"exp\":1000100}", JWT_ALG_HS256,
                            "another-secret-0123456789abcdef0123", err, &p),
                     JC_EAUTH);
    assert_int_equal(
        verify("{" GOOD_ISS_AUD ",\"sub\":\"a\",\"exp\":1000100}", JWT_ALG_HS512, secret, err, &p),
        JC_EAUTH);
    assert_string_equal(err, "token algorithm HS512 is not accepted");
    assert_int_equal(
        verify("{" GOOD_ISS_AUD ",\"sub\":\"a\",\"exp\":1000100}", JWT_ALG_NONE, NULL, err, &p),
        JC_EAUTH);
    assert_string_equal(p.sub, ""); /* nothing leaks out of a refused token */
}

static void cached_verification(void **state)
{
    struct jc_config cfg;
    struct jc_auth_cache *cache = jc_auth_cache_new();
    struct jc_principal p;
    char err[128] = "";
    char *tok = make_token("{" GOOD_ISS_AUD ",\"sub\":\"c1\",\"exp\":1000100,\"scope\":\"runs:"
                           "read\",\"projects\":[\"00000000-0000-4000-8000-00000000000a\"]}",
                           JWT_ALG_HS256, secret);
    char *other =
        make_token("{" GOOD_ISS_AUD ",\"sub\":\"c2\",\"exp\":1000100}", JWT_ALG_HS256, secret);
    size_t n = strlen(tok);
    char kept = tok[n - 2];

    (void)state;
    assert_non_null(cache);
    cfg_init(&cfg);
    assert_int_equal(jc_auth_verify_cached(cache, &cfg, tok, 1000000, &p, err, sizeof(err)), JC_OK);
    assert_string_equal(p.sub, "c1");
    /* a second call is answered from the cache: a changed audience would refuse it otherwise */
    cfg.jwt_audience = (char *)"https://elsewhere.example/mcp";
    memset(&p, 0, sizeof(p));
    assert_int_equal(jc_auth_verify_cached(cache, &cfg, tok, 1000050, &p, err, sizeof(err)), JC_OK);
    assert_string_equal(p.sub, "c1");
    assert_string_equal(p.scopes, "runs:read");
    assert_string_equal(p.projects, "00000000-0000-4000-8000-00000000000a");
    /* a token never verified is checked in full */
    assert_int_equal(jc_auth_verify_cached(cache, &cfg, other, 1000000, &p, err, sizeof(err)),
                     JC_EAUTH);
    assert_string_equal(err, "wrong audience");
    cfg_init(&cfg);
    /* the cached token with one byte of its signature changed is another token: refused */
    tok[n - 2] = kept == 'A' ? 'B' : 'A';
    assert_int_equal(jc_auth_verify_cached(cache, &cfg, tok, 1000000, &p, err, sizeof(err)),
                     JC_EAUTH);
    assert_string_equal(err, "malformed token or bad signature");
    assert_string_equal(p.sub, "");
    tok[n - 2] = kept;
    /* expiry holds for a cached token (same 30 s leeway) */
    assert_int_equal(jc_auth_verify_cached(cache, &cfg, tok, 1000130, &p, err, sizeof(err)), JC_OK);
    assert_int_equal(jc_auth_verify_cached(cache, &cfg, tok, 1000131, &p, err, sizeof(err)),
                     JC_EAUTH);
    assert_string_equal(err, "token expired");
    free(tok);
    free(other);
    jc_auth_cache_free(cache);
}

static void mint_projects_claim(void **state)
{
    struct jc_config cfg;
    struct jc_auth_claims c = {"a", "n", "acme", NULL, "status:read", 60000, NULL, NULL, NULL};
    struct jc_principal p;
    char err[128] = "";
    char *tok = NULL;

    (void)state;
    cfg_init(&cfg);
    c.projects = "00000000-0000-4000-8000-00000000000a, 00000000-0000-4000-8000-00000000000b";
    assert_int_equal(jc_auth_mint(&cfg, &c, &tok, err, sizeof(err)), JC_OK);
    assert_int_equal(jc_auth_verify(&cfg, tok, (long)time(NULL), &p, err, sizeof(err)), JC_OK);
    assert_string_equal(
        p.projects, "00000000-0000-4000-8000-00000000000a,00000000-0000-4000-8000-00000000000b");
    free(tok);
    tok = NULL;
    c.projects = "00000000-0000-4000-8000-00000000000a shop";
    assert_int_equal(jc_auth_mint(&cfg, &c, &tok, err, sizeof(err)), JC_EINVAL);
    assert_null(tok);
    assert_string_equal(err, "'shop' is not a project id");
}

static void bearer_header(void **state)
{
    (void)state;
    assert_string_equal(jc_auth_bearer("Bearer abc.def"), "abc.def");
    assert_string_equal(jc_auth_bearer("bearer   xyz"), "xyz");
    assert_null(jc_auth_bearer("Basic dXNlcg=="));
    assert_null(jc_auth_bearer("Bearer "));
    assert_null(jc_auth_bearer(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(mint_and_verify),
                                       cmocka_unit_test(refuses_incomplete_config),
                                       cmocka_unit_test(verify_accepts_good_tokens),
                                       cmocka_unit_test(verify_refuses_bad_tokens),
                                       cmocka_unit_test(cached_verification),
                                       cmocka_unit_test(mint_projects_claim),
                                       cmocka_unit_test(bearer_header)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
