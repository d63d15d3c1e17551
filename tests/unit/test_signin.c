/* SPDX-License-Identifier: MIT */
/* test_signin.c: the library parts of sign-in: which addresses a tenant's URL may reach, which
 * redirect URIs may be registered and match, roles and scopes, the signing key. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "unit.h"

#include "jc/auth.h"
#include "jc/config.h"
#include "jc/fetch.h"
#include "jc/redirect.h"

static bool public_v4(const char *a)
{
    struct sockaddr_in in = {.sin_family = AF_INET};

    assert_int_equal(inet_pton(AF_INET, a, &in.sin_addr), 1);
    return jc_fetch_addr_public((struct sockaddr *)&in);
}

static bool public_v6(const char *a)
{
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};

    assert_int_equal(inet_pton(AF_INET6, a, &in6.sin6_addr), 1);
    return jc_fetch_addr_public((struct sockaddr *)&in6);
}

static void addresses(void **state)
{
    static const char *const private4[] = {
        "127.0.0.1",       "127.255.0.9",     "10.1.2.3",   "172.16.0.1", "172.31.255.255",
        "192.168.1.1",     "169.254.169.254", "100.64.0.1", "0.0.0.0",    "224.0.0.1",
        "255.255.255.255", "198.18.0.1",      "192.0.0.8",  NULL};
    static const char *const public4[] = {"140.82.112.3", "8.8.8.8",     "172.32.0.1",
                                          "100.128.0.1",  "192.169.0.1", NULL};
    static const char *const private6[] = {"::1",
                                           "::",
                                           "fc00::1",
                                           "fd12:3456::1",
                                           "fe80::1",
                                           "ff02::1",
                                           "::ffff:127.0.0.1",
                                           "::ffff:10.0.0.1",
                                           "64:ff9b::a00:1",
                                           "::127.0.0.1",
                                           NULL};
    static const char *const public6[] = {"2606:50c0:8000::153", "::ffff:140.82.112.3", NULL};
    const char *const *a;

    (void)state;
    for (a = private4; *a != NULL; a++)
        assert_false(public_v4(*a));
    for (a = public4; *a != NULL; a++)
        assert_true(public_v4(*a));
    for (a = private6; *a != NULL; a++)
        assert_false(public_v6(*a));
    for (a = public6; *a != NULL; a++)
        assert_true(public_v6(*a));
}

static void redirects(void **state)
{
    static const struct {
        const char *uri;
        bool ok;
    } cases[] = {
        {"https://app.example/cb", true},
        {"http://127.0.0.1:33418/", true},
        {"http://localhost/callback", true},
        {"http://[::1]:8080/cb", true},
        {"cursor://anysphere.cursor-retrieval/oauth/callback", true},
        {"com.example.app:/oauth2redirect", true},
        {"http://app.example/cb", false},
        {"http://127.0.0.1.evil.example/cb", false},
        {"https://app.example/cb#frag", false},
        {"javascript:alert(1)", false},
        {"JavaScript:alert(1)", false},
        {"data:text/html,x", false},
        {"file:///etc/passwd", false},
        {"https://app.example/cb\"><script>", false},
        {"/relative/cb", false},
        {"", false},
    };
    const char *why = NULL;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bool ok = jc_redirect_acceptable(cases[i].uri, &why);
        if (ok != cases[i].ok)
            fail_msg("%s: %s", cases[i].uri, ok ? "accepted" : why);
    }
    /* exact, except a loopback URI's port */
    assert_true(jc_redirect_matches("https://app.example/cb", "https://app.example/cb"));
    assert_false(jc_redirect_matches("https://app.example/cb", "https://app.example/cb/"));
    assert_false(jc_redirect_matches("https://app.example/cb", "https://app.example:8443/cb"));
    assert_true(
        jc_redirect_matches("http://127.0.0.1/callback", "http://127.0.0.1:53682/callback"));
    assert_true(jc_redirect_matches("http://127.0.0.1:1/callback", "http://127.0.0.1:2/callback"));
    assert_false(jc_redirect_matches("http://127.0.0.1/callback", "http://localhost:5/callback"));
    assert_false(jc_redirect_matches("http://127.0.0.1/callback", "http://127.0.0.1:5/other"));
    assert_false(jc_redirect_matches("http://127.0.0.1/cb", "http://127.0.0.1:5/cb?next=x"));
    assert_false(jc_redirect_matches("http://127.0.0.1/cb", "http://127.0.0.1:5/cb#x"));
    assert_false(jc_redirect_matches("http://app.example/cb", "http://app.example:5/cb"));
}

static void roles(void **state)
{
    const char *env[] = {"JIVE_OAUTH_ROLES", "viewer=status:read;dev=status:read kanban:write",
                         NULL};
    struct jc_config cfg;
    char err[256] = "", scopes[256];

    (void)state;
    assert_int_equal(jc_config_load(&cfg, JC_SVC_CTL, unit_lookup, env, err, sizeof(err)), JC_OK);
    assert_true(jc_config_role_scopes(&cfg, "dev", scopes, sizeof(scopes)));
    assert_string_equal(scopes, "status:read kanban:write");
    assert_true(jc_config_role_scopes(&cfg, "viewer", scopes, sizeof(scopes)));
    assert_string_equal(scopes, "status:read");
    assert_false(jc_config_role_scopes(&cfg, "de", scopes, sizeof(scopes)));
    assert_false(jc_config_role_scopes(&cfg, "lead", scopes, sizeof(scopes)));
    assert_false(cfg.oauth_enabled);
    jc_config_clear(&cfg);
    env[1] = "Viewer=status:read";
    assert_int_equal(jc_config_load(&cfg, JC_SVC_CTL, unit_lookup, env, err, sizeof(err)),
                     JC_EINVAL);
    assert_non_null(strstr(err, "JIVE_OAUTH_ROLES"));
    assert_true(jc_scope_has("a:read b:write", "b:write"));
    assert_false(jc_scope_has("a:read b:writer", "b:write"));
    assert_false(jc_scope_has("a:read", ""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(addresses),
        cmocka_unit_test(redirects),
        cmocka_unit_test(roles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
