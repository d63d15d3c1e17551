/* SPDX-License-Identifier: MIT */
/* test_repo.c: the repository URLs a project may have, with and without local repositories. */
#include <stdio.h>

#include "unit.h"

#include "jc/config.h"
#include "jc/repo.h"

static void load(struct jc_config *cfg, const char *hosts, const char *local)
{
    const char *env[] = {
        "DATABASE_URL", "postgresql://u@h/db",    "REDIS_URL", "redis://h:1", "JIVE_REPO_HOSTS",
        hosts,          "JIVE_ALLOW_LOCAL_REPOS", local,       NULL};
    char err[256] = "";

    if (hosts == NULL)
        env[4] = NULL; /* the defaults */
    assert_int_equal(jc_config_load(cfg, JC_SVC_CTL, unit_lookup, env, err, sizeof(err)), JC_OK);
}

static void hosted_urls(void **state)
{
    static const struct {
        const char *url;
        bool ok;
        const char *why; /* part of the reason when refused */
    } cases[] = {
        {"https://github.com/acme/shop", true, NULL},
        {"https://GitHub.com/acme/shop.git/", true, NULL},
        {"ssh://git@github.com/acme/shop.git", true, NULL},
        {"ssh://git@github.com:22/acme/shop", true, NULL},
        {"git@github.com:acme/shop.git", true, NULL},
        {"https://git.example.org/team/app", true, NULL},
        {"https://evil.example/acme/shop", false, "JIVE_REPO_HOSTS"},
        {"git@evil.example:acme/shop", false, "JIVE_REPO_HOSTS"},
        {"https://github.com.evil.example/acme/shop", false, "JIVE_REPO_HOSTS"},
        {"http://github.com/acme/shop", false, "is refused"},
        {"git://github.com/acme/shop", false, "is refused"},
        {"ext::sh -c touch% /tmp/pwned", false, "not a repository URL"},
        {"fd::17", false, "not a repository URL"},
        {"--upload-pack=touch /tmp/x", false, "not a repository URL"},
        {"https://user:token@github.com/acme/shop", false, "credentials"},
        {"https://github.com/acme/../other/shop", false, "no owner/repository path"},
        {"https://github.com/", false, "no owner/repository path"},
        {"https://github.com/acme/shop?x=1", false, "no owner/repository path"},
        {"/srv/other-org/repo", false, "JIVE_ALLOW_LOCAL_REPOS"},
        {"file:///srv/other-org/repo", false, "JIVE_ALLOW_LOCAL_REPOS"},
        {"", false, "required"},
    };
    struct jc_config cfg;
    char err[300];
    size_t i;

    (void)state;
    load(&cfg, "github.com, git.example.org", "false");
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum jc_err rc = jc_repo_url_check(&cfg, cases[i].url, err, sizeof(err));
        if ((rc == JC_OK) != cases[i].ok)
            fail_msg("%s: %s", cases[i].url, rc == JC_OK ? "accepted" : err);
        if (!cases[i].ok && strstr(err, cases[i].why) == NULL)
            fail_msg("%s: reason '%s' lacks '%s'", cases[i].url, err, cases[i].why);
    }
    jc_config_clear(&cfg);
    /* the default allowlist is github.com alone */
    load(&cfg, NULL, "false");
    assert_int_equal(jc_repo_url_check(&cfg, "https://github.com/a/b", err, sizeof(err)), JC_OK);
    assert_int_equal(jc_repo_url_check(&cfg, "https://git.example.org/a/b", err, sizeof(err)),
                     JC_EINVAL);
    jc_config_clear(&cfg);
}

static void local_only_when_allowed(void **state)
{
    struct jc_config cfg;
    char err[300];

    (void)state;
    load(&cfg, "github.com", "1");
    assert_true(cfg.allow_local_repos);
    assert_int_equal(jc_repo_url_check(&cfg, "/srv/demo-repo", err, sizeof(err)), JC_OK);
    assert_int_equal(jc_repo_url_check(&cfg, "file:///srv/demo-repo", err, sizeof(err)), JC_OK);
    assert_int_equal(jc_repo_url_check(&cfg, "/srv/demo/../other", err, sizeof(err)), JC_EINVAL);
    assert_int_equal(jc_repo_url_check(&cfg, "ext::sh -c x", err, sizeof(err)), JC_EINVAL);
    jc_config_clear(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hosted_urls),
        cmocka_unit_test(local_only_when_allowed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
