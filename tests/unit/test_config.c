/* SPDX-License-Identifier: MIT */
/* test_config.c: environment → config, defaults, and one-line errors naming the variable. */
#include <stdio.h>

#include "unit.h"

#include "jc/config.h"

static void defaults_per_service(void **state)
{
    const char *env[] = {"DATABASE_URL", "postgresql://u@h/db", "REDIS_URL",
                         "redis://:p%40ss@cache.internal:6380/2", NULL};
    struct jc_config cfg;
    char err[256] = "";

    (void)state;
    assert_int_equal(jc_config_load(&cfg, JC_SVC_WEBHOOK, unit_lookup, env, err, sizeof(err)),
                     JC_OK);
    assert_int_equal(cfg.port, 4001);
    assert_string_equal(cfg.bind, "0.0.0.0");
    assert_int_equal(cfg.max_body_bytes, 25 << 20);
    assert_string_equal(cfg.redis_host, "cache.internal");
    assert_int_equal(cfg.redis_port, 6380);
    assert_string_equal(cfg.redis_password, "p@ss");
    assert_int_equal(cfg.redis_db, 2);
    assert_int_equal(cfg.rate_limit_per_minute, 60);
    assert_string_equal(cfg.workspace_dir, "./.jive/workspaces");
    assert_int_equal(cfg.n_cors_origins, 1);
    assert_string_equal(cfg.cors_origins[0], "http://localhost:3000");
    assert_false(cfg.development);
    assert_int_equal(cfg.log_level, JC_LOG_INFO);
    assert_int_equal(cfg.http_header_timeout_ms, 10000);
    assert_int_equal(cfg.http_idle_timeout_ms, 60000);
    assert_int_equal(cfg.http_min_rate, 1000);
    assert_int_equal(cfg.http_max_conns_per_addr, 256);
    jc_config_clear(&cfg);
    assert_int_equal(jc_config_load(&cfg, JC_SVC_ORCHESTRATOR, unit_lookup, env, err, sizeof(err)),
                     JC_OK);
    assert_int_equal(cfg.port, 4002);
    assert_int_equal(cfg.max_body_bytes, 1 << 20);
    jc_config_clear(&cfg);
    jc_config_clear(&cfg); /* twice is safe */
}

static void railway_port_and_overrides(void **state)
{
    const char *env[] = {"DATABASE_URL",
                         "postgresql://u@h/db",
                         "REDIS_URL",
                         "redis://r",
                         "PORT",
                         "8080",
                         "JIVE_CORS_ORIGINS",
                         " https://a.example/ ,http://b:3000,",
                         "JIVE_LOG_LEVEL",
                         "warn",
                         "JIVE_ENV",
                         "development",
                         "JIVE_JWT_SECRET",
                         "0123456789abcdef0123456789abcdef",
                         "JIVE_JWT_ISSUER",
                         "iss",
                         "JIVE_JWT_AUDIENCE",
                         "aud",
                         NULL};
    struct jc_config cfg;
    char err[256] = "";

    (void)state;
    assert_int_equal(jc_config_load(&cfg, JC_SVC_MCP, unit_lookup, env, err, sizeof(err)), JC_OK);
    assert_int_equal(cfg.port, 8080);
    assert_int_equal(cfg.redis_port, 6379);
    assert_null(cfg.redis_password);
    assert_int_equal(cfg.n_cors_origins, 2);
    assert_true(jc_config_origin_allowed(&cfg, "https://a.example"));
    assert_true(jc_config_origin_allowed(&cfg, "http://b:3000"));
    assert_false(jc_config_origin_allowed(&cfg, "https://evil.example"));
    assert_false(jc_config_origin_allowed(&cfg, NULL));
    assert_int_equal(cfg.log_level, JC_LOG_WARN);
    assert_true(cfg.development);
    assert_int_equal(cfg.jwt_alg, JC_JWT_HS256);
    jc_config_clear(&cfg);
}

static void behind_a_proxy_the_address_cap_is_off_unless_set(void **state)
{
    const char *env[] = {"DATABASE_URL",
                         "postgresql://u@h/db",
                         "REDIS_URL",
                         "redis://r",
                         "JIVE_TRUST_PROXY",
                         "true",
                         NULL,
                         NULL,
                         NULL};
    struct jc_config cfg;
    char err[256] = "";

    (void)state;
    assert_int_equal(jc_config_load(&cfg, JC_SVC_WEBHOOK, unit_lookup, env, err, sizeof(err)),
                     JC_OK);
    assert_int_equal(cfg.http_max_conns_per_addr, 0);
    jc_config_clear(&cfg);
    env[6] = "JIVE_HTTP_MAX_CONNS_PER_ADDR";
    env[7] = "1000";
    assert_int_equal(jc_config_load(&cfg, JC_SVC_WEBHOOK, unit_lookup, env, err, sizeof(err)),
                     JC_OK);
    assert_int_equal(cfg.http_max_conns_per_addr, 1000);
    jc_config_clear(&cfg);
}

struct bad {
    const char *var, *value, *message;
};

static void errors_name_the_variable(void **state)
{
    static const struct bad cases[] = {
        {"DATABASE_URL", NULL, "DATABASE_URL: required, not set"},
        {"DATABASE_URL", "", "DATABASE_URL: required, not set"},
        {"REDIS_URL", NULL, "REDIS_URL: required, not set"},
        {"REDIS_URL", "rediss://h:1",
         "REDIS_URL: scheme must be redis:// (TLS rediss:// is not supported)"},
        {"REDIS_URL", "redis://h/x", "REDIS_URL: database must be 0..15, got 'x'"},
        {"PORT", "0", "PORT: must be an integer 1..65535, got '0'"},
        {"PORT", "http", "PORT: must be an integer 1..65535, got 'http'"},
        {"JIVE_LOG_LEVEL", "trace",
         "JIVE_LOG_LEVEL: must be debug, info, warn or error, got 'trace'"},
        {"JIVE_RATE_LIMIT_PER_MINUTE", "0",
         "JIVE_RATE_LIMIT_PER_MINUTE: must be an integer 1..1000000, got '0'"},
        {"JIVE_CORS_ORIGINS", "localhost",
         "JIVE_CORS_ORIGINS: 'localhost' is not an http(s) origin or *"},
        {"JIVE_ENV", "prod", "JIVE_ENV: must be production or development, got 'prod'"},
        {"JIVE_HTTP_HEADER_TIMEOUT_MS", "10",
         "JIVE_HTTP_HEADER_TIMEOUT_MS: must be an integer 100..600000, got '10'"},
        {"JIVE_HTTP_MIN_RATE", "0",
         "JIVE_HTTP_MIN_RATE: must be an integer 1..1073741824, got '0'"},
        {"JIVE_HTTP_MAX_CONNS_PER_ADDR", "-1",
         "JIVE_HTTP_MAX_CONNS_PER_ADDR: must be an integer 0..1000000, got '-1'"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *env[] = {"DATABASE_URL", "postgresql://u@h/db", "REDIS_URL", "redis://r",
                             cases[i].var,   cases[i].value,        NULL};
        struct jc_config cfg;
        char err[256] = "";

        /* the case's variable overrides (or, with NULL, removes) the base one */
        if (strcmp(cases[i].var, "DATABASE_URL") == 0) {
            env[1] = cases[i].value;
            env[4] = NULL;
        } else if (strcmp(cases[i].var, "REDIS_URL") == 0) {
            env[3] = cases[i].value;
            env[4] = NULL;
        }
        assert_int_equal(jc_config_load(&cfg, JC_SVC_WEBHOOK, unit_lookup, env, err, sizeof(err)),
                         JC_EINVAL);
        assert_string_equal(err, cases[i].message);
        assert_null(cfg.database_url); /* cleared on error */
    }
}

static void mcp_needs_jwt(void **state)
{
    const char *env[] = {
        "DATABASE_URL", "postgresql://u@h/db", "REDIS_URL", "redis://r", "JIVE_JWT_ISSUER",
        "iss",          "JIVE_JWT_AUDIENCE",   "aud",       NULL};
    const char *env2[] = {"DATABASE_URL",
                          "postgresql://u@h/db",
                          "REDIS_URL",
                          "redis://r",
                          "JIVE_JWT_PUBLIC_KEY",
                          "-----BEGIN PUBLIC KEY-----",
                          "JIVE_JWT_ALG",
                          "ES256",
                          "JIVE_JWT_ISSUER",
                          "iss",
                          "JIVE_JWT_AUDIENCE",
                          "aud",
                          NULL};
    struct jc_config cfg;
    char err[256] = "";

    (void)state;
    assert_int_equal(jc_config_load(&cfg, JC_SVC_MCP, unit_lookup, env, err, sizeof(err)),
                     JC_EINVAL);
    assert_string_equal(err, "JIVE_JWT_SECRET: required (or JIVE_JWT_PUBLIC_KEY), not set");
    assert_int_equal(jc_config_load(&cfg, JC_SVC_MCP, unit_lookup, env2, err, sizeof(err)), JC_OK);
    assert_int_equal(cfg.jwt_alg, JC_JWT_ES256);
    jc_config_clear(&cfg);
    /* jivectl needs nothing at load time; commands check */
    assert_int_equal(jc_config_load(&cfg, JC_SVC_CTL, unit_lookup, (void *)(const char *[]){NULL},
                                    err, sizeof(err)),
                     JC_OK);
    assert_int_equal(jc_config_require(&cfg, "DATABASE_URL", err, sizeof(err)), JC_EINVAL);
    assert_string_equal(err, "DATABASE_URL: required, not set");
    jc_config_clear(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_per_service), cmocka_unit_test(railway_port_and_overrides),
        cmocka_unit_test(behind_a_proxy_the_address_cap_is_off_unless_set),
        cmocka_unit_test(errors_name_the_variable), cmocka_unit_test(mcp_needs_jwt)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
