/* SPDX-License-Identifier: MIT */
/* test_orch_move.c: which paths a story move may write, and how a git failure is told, without
 * a worker or a repository. */
#include <stdio.h>
#include <string.h>

#include "unit.h"

#include "orchestrator.h"

static void story_files_inside_the_repository_may_be_moved(void **state)
{
    (void)state;
    assert_true(orch_story_path_safe("docs/stories/1.2.story.md"));
    assert_true(orch_story_path_safe("docs/stories/1.12A.login.md"));
    assert_true(orch_story_path_safe("_bmad-output/implementation-artifacts/2-3-checkout.md"));
}

static void anything_else_is_refused(void **state)
{
    static const char *const bad[] = {
        "",                               /* nothing */
        "/etc/passwd",                    /* absolute */
        "/docs/stories/1.2.story.md",     /* absolute, even a story's shape */
        "docs/stories/../../.git/config", /* out of the tree */
        "docs/stories/..hidden/1.2.md",   /* ".." anywhere */
        "docs\\stories\\1.2.story.md",    /* backslashes */
        "docs//stories/1.2.story.md",     /* an empty segment */
        "docs/prd.md",                    /* not a story */
        "docs/qa/gates/1.2-login.yml",    /* a gate, not a story */
        ".github/workflows/ci.yml",       /* not BMAD at all */
    };
    char long_path[1100];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (orch_story_path_safe(bad[i]))
            fail_msg("'%s' was allowed", bad[i]);
    }
    memset(long_path, 'a', sizeof(long_path));
    memcpy(long_path, "docs/stories/", 13);
    memcpy(long_path + sizeof(long_path) - 12, ".story.md", 10);
    assert_false(orch_story_path_safe(long_path));
}

static void a_git_failure_is_its_first_line(void **state)
{
    struct jc_proc_result r = {0};
    char buf[64], err[] = "fatal: repository not found\nhint: check the URL\n";

    (void)state;
    r.err = err;
    assert_string_equal(orch_git_error(&r, buf, sizeof(buf)), "fatal: repository not found");
    r.err = "";
    assert_string_equal(orch_git_error(&r, buf, sizeof(buf)), "git failed");
    r.timed_out = true;
    assert_string_equal(orch_git_error(&r, buf, sizeof(buf)), "git timed out");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(story_files_inside_the_repository_may_be_moved),
        cmocka_unit_test(anything_else_is_refused),
        cmocka_unit_test(a_git_failure_is_its_first_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
