/* SPDX-License-Identifier: MIT */
/* test_bmad.c: BMAD classification, story and gate parsing on files as agents write them. */
#include <stdio.h>

#include "unit.h"

#include "jc/bmad.h"

static void classify(void **state)
{
    static const struct {
        const char *path;
        enum jc_artifact_kind kind;
        const char *key;
    } cases[] = {
        {"docs/prd.md", JC_KIND_PRD, ""},
        {"docs/prd/goals.md", JC_KIND_PRD, ""},
        {"docs/prd/epic-2-checkout.md", JC_KIND_EPIC, ""},
        {"docs/architecture.md", JC_KIND_ARCHITECTURE, ""},
        {"docs/architecture/tech-stack.md", JC_KIND_ARCHITECTURE, ""},
        {"docs/stories/2.3.checkout-flow.md", JC_KIND_STORY, "2.3"},
        {"docs/stories/2.3.story.md", JC_KIND_STORY, "2.3"},
        {"docs/stories/2.5a.split-part.md", JC_KIND_STORY, "2.5a"},
        {"docs/stories/story-6.4-search.md", JC_KIND_STORY, "6.4"},
        {"docs/stories/6.3.1.hotfix.md", JC_KIND_STORY, "6.3.1"},
        {"docs/stories/archived/1.1.old.md", JC_KIND_OTHER, ""},
        {"docs/qa/gates/2.3-checkout-flow.yml", JC_KIND_QA_GATE, "2.3"},
        {"docs/qa/gates/2.3-checkout-flow.yaml", JC_KIND_QA_GATE, "2.3"},
        {"_bmad-output/planning-artifacts/prd.md", JC_KIND_PRD, ""},
        {"_bmad-output/planning-artifacts/architecture.md", JC_KIND_ARCHITECTURE, ""},
        {"_bmad-output/planning-artifacts/epics.md", JC_KIND_EPIC, ""},
        {"_bmad-output/planning-artifacts/ux-design.md", JC_KIND_OTHER, ""},
        {"_bmad-output/implementation-artifacts/1-2-user-auth.md", JC_KIND_STORY, "1.2"},
        {"_bmad-output/implementation-artifacts/sprint-status.yaml", JC_KIND_SPRINT_STATUS, ""},
        {"src/main.c", JC_KIND_NONE, ""},
        {"README.md", JC_KIND_NONE, ""},
        {"docs/stories/notes.txt", JC_KIND_NONE, ""},
    };
    char key[64];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum jc_artifact_kind k = jc_bmad_classify(cases[i].path, key, sizeof(key));
        if (k != cases[i].kind || strcmp(key, cases[i].key) != 0)
            fail_msg("%s: kind %d key '%s', want %d '%s'", cases[i].path, k, key, cases[i].kind,
                     cases[i].key);
    }
    assert_string_equal(jc_bmad_kind_name(JC_KIND_QA_GATE), "qa_gate");
    assert_null(jc_bmad_kind_name(JC_KIND_NONE));
}

static void status_variants(void **state)
{
    static const struct {
        const char *raw;
        enum jc_story_status want;
    } cases[] = {
        {"Draft", JC_STATUS_DRAFT},
        {"Approved", JC_STATUS_APPROVED},
        {"InProgress", JC_STATUS_IN_PROGRESS},
        {"In Progress", JC_STATUS_IN_PROGRESS},
        {"in-progress", JC_STATUS_IN_PROGRESS},
        {"Review", JC_STATUS_REVIEW},
        {"Ready for Review", JC_STATUS_REVIEW},
        {"Ready for Done", JC_STATUS_REVIEW},
        {"Done", JC_STATUS_DONE},
        {"Done ✅", JC_STATUS_DONE},
        {"**Done**", JC_STATUS_DONE},
        {"✅ Complete", JC_STATUS_DONE},
        {"Completed - all ACs verified by QA", JC_STATUS_DONE},
        {"Ready for Development", JC_STATUS_APPROVED},
        {"ready-for-dev", JC_STATUS_APPROVED},
        {"backlog", JC_STATUS_DRAFT},
        {"Status: Done", JC_STATUS_DONE},
        {"Split into 2.5a and 2.5b; this file is kept for history", JC_STATUS_UNKNOWN},
        {"", JC_STATUS_UNKNOWN},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (jc_story_status_parse(cases[i].raw) != cases[i].want)
            fail_msg("'%s' -> %d, want %d", cases[i].raw, jc_story_status_parse(cases[i].raw),
                     cases[i].want);
    assert_string_equal(jc_story_status_name(JC_STATUS_IN_PROGRESS), "InProgress");
    assert_null(jc_story_status_name(JC_STATUS_UNKNOWN));
}

static const char template_story[] =
    "# Story 2.3: Checkout flow\n"
    "\n"
    "## Status\n"
    "\n"
    "Ready for Review\n"
    "\n"
    "## Story\n"
    "**As a** shopper, **I want** to pay, **so that** I get my order.\n"
    "\n"
    "## Tasks / Subtasks\n"
    "- [x] Task 1: cart summary (AC: 1)\n"
    "  - [x] Subtask 1.1\n"
    "- [ ] Task 2: payment form\n"
    "- [X] Task 3: confirmation\n"
    "\n"
    "```markdown\n"
    "## Status\n"
    "- [ ] not a task, inside a code block\n"
    "```\n"
    "\n"
    "## Dev Agent Record\n"
    "### Agent Model Used\n"
    "claude\n"
    "### File List\n"
    "- `src/checkout/cart.ts` - cart summary component\n"
    "- NEW: src/checkout/pay.ts\n"
    "- **Modified:** `src/api/orders.py`\n"
    "1. lib/money.c\n"
    "#### Tests\n"
    "| File | Change |\n"
    "|------|--------|\n"
    "| test/checkout.spec.ts | created |\n"
    "- ./docs/notes.md\n"
    "- /etc/passwd\n"
    "- ../outside/secret.c\n"
    "- https://example.com/x.js\n"
    "- Just a sentence about what was done\n"
    "- `src/checkout/cart.ts` (listed twice)\n"
    "\n"
    "## QA Results\n"
    "**Status: PASS**\n"
    "- [x] QA checklist item\n";

static void template_story_parses(void **state)
{
    struct jc_story s;
    char err[128];
    static const char *const files[] = {"src/checkout/cart.ts",  "src/checkout/pay.ts",
                                        "src/api/orders.py",     "lib/money.c",
                                        "test/checkout.spec.ts", "docs/notes.md"};
    size_t i;

    (void)state;
    assert_int_equal(jc_story_parse("docs/stories/2.3.checkout-flow.md", template_story,
                                    sizeof(template_story) - 1, &s, err, sizeof(err)),
                     JC_OK);
    assert_string_equal(s.key, "2.3");
    assert_string_equal(s.title, "Checkout flow");
    assert_string_equal(s.raw_status, "Ready for Review");
    assert_int_equal(s.status, JC_STATUS_REVIEW); /* not the QA section's PASS */
    assert_int_equal(s.tasks_total, 5);
    assert_int_equal(s.tasks_done, 4);
    assert_int_equal(s.nfiles, sizeof(files) / sizeof(files[0]));
    for (i = 0; i < s.nfiles; i++)
        assert_string_equal(s.files[i], files[i]);
    assert_null(s.files[s.nfiles]);
    jc_story_clear(&s);
}

static void messy_stories_parse(void **state)
{
    static const char bold[] = "# Story 6.4 - Search results\n\n"
                               "**Status:** Done ✅\n\n"
                               "## Acceptance Criteria\n1. works\n\n"
                               "## QA Results\n**Status: FAIL** (old review)\n";
    static const char nokey[] = "# Refactor payment adapters\n\n## Status\n- In-Progress\n";
    static const char none[] = "# Story 3.1: Only a title\n\nNo status anywhere.\n";
    static const char binary[] = "# Story\0 1.1";
    struct jc_story s;
    char err[128];

    (void)state;
    assert_int_equal(jc_story_parse("docs/stories/story-6.4-search.md", bold, sizeof(bold) - 1, &s,
                                    err, sizeof(err)),
                     JC_OK);
    assert_string_equal(s.key, "6.4");
    assert_string_equal(s.title, "Search results");
    assert_int_equal(s.status, JC_STATUS_DONE);
    jc_story_clear(&s);

    assert_int_equal(jc_story_parse("docs/stories/2.5a.story.md", nokey, sizeof(nokey) - 1, &s, err,
                                    sizeof(err)),
                     JC_OK);
    assert_string_equal(s.key, "2.5a"); /* from the file name */
    assert_string_equal(s.title, "Refactor payment adapters");
    assert_int_equal(s.status, JC_STATUS_IN_PROGRESS);
    jc_story_clear(&s);

    assert_int_equal(jc_story_parse("x/3.1.md", none, sizeof(none) - 1, &s, err, sizeof(err)),
                     JC_OK);
    assert_null(s.raw_status);
    assert_int_equal(s.status, JC_STATUS_UNKNOWN);
    jc_story_clear(&s);

    assert_int_equal(jc_story_parse("x/1.1.md", binary, sizeof(binary) - 1, &s, err, sizeof(err)),
                     JC_EINVAL);
    assert_non_null(strstr(err, "not a text file"));
    assert_int_equal(jc_story_parse("x/1.1.md", "no heading\n", 11, &s, err, sizeof(err)),
                     JC_EINVAL);
    assert_non_null(strstr(err, "no title"));
}

static void gates_parse(void **state)
{
    static const char pass[] = "schema: 1\n"
                               "story: \"2.3\"\n"
                               "gate: \"PASS\"   # re-reviewed after fixes\n"
                               "status_reason: 'All ACs covered'\n"
                               "reviewer: Quinn (Test Architect)\n"
                               "updated: 2026-11-01T10:00:00Z\n"
                               "expires: 2026-12-01T10:00:00Z\n"
                               "quality_score: 90\n"
                               "top_issues:\n"
                               "  - id: TEST-001\n"
                               "    severity: low\n"
                               "history:\n"
                               "  - at: 2026-10-30T09:00:00Z\n"
                               "    gate: FAIL\n"
                               "  - at: 2026-11-01T10:00:00Z\n"
                               "    gate: PASS\n";
    static const char decision[] = "decision: fail\nwaiver: {active: true, reason: later}\n";
    static const char broken[] = "gate: PASS\n  reviewer: [unclosed\n";
    static const char bomb[] = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                               "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                               "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                               "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                               "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                               "f: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n";
    struct jc_gate g;
    char err[200];

    (void)state;
    assert_int_equal(jc_gate_parse("docs/qa/gates/2.3-checkout.yml", pass, sizeof(pass) - 1, &g,
                                   err, sizeof(err)),
                     JC_OK);
    assert_int_equal(g.decision, JC_GATE_PASS); /* the current gate, not the history */
    assert_string_equal(g.story_key, "2.3");
    assert_string_equal(g.status_reason, "All ACs covered");
    assert_string_equal(g.reviewer, "Quinn (Test Architect)");
    assert_string_equal(g.expires, "2026-12-01T10:00:00Z");
    assert_int_equal(g.quality_score, 90);
    assert_int_equal(cJSON_GetArraySize(g.top_issues), 1);
    assert_null(g.waiver);
    jc_gate_clear(&g);

    assert_int_equal(jc_gate_parse("docs/qa/gates/4.1-login.yml", decision, sizeof(decision) - 1,
                                   &g, err, sizeof(err)),
                     JC_OK);
    assert_int_equal(g.decision, JC_GATE_FAIL);
    assert_string_equal(g.story_key, "4.1"); /* from the file name */
    assert_int_equal(g.quality_score, -1);
    assert_string_equal(cJSON_GetObjectItem(g.waiver, "reason")->valuestring, "later");
    assert_int_equal(cJSON_GetArraySize(g.top_issues), 0);
    jc_gate_clear(&g);

    assert_int_equal(jc_gate_parse("g/1.1-x.yml", broken, sizeof(broken) - 1, &g, err, sizeof(err)),
                     JC_EINVAL);
    assert_non_null(strstr(err, "invalid YAML at line 2"));
    assert_int_equal(jc_gate_parse("g/1.1-x.yml", "- a\n- b\n", 8, &g, err, sizeof(err)),
                     JC_EINVAL);
    assert_non_null(strstr(err, "not a YAML mapping"));
    assert_int_equal(jc_gate_parse("g/1.1-x.yml", bomb, sizeof(bomb) - 1, &g, err, sizeof(err)),
                     JC_EINVAL);
    assert_non_null(strstr(err, "too large"));
}

static void sprint_status(void **state)
{
    static const char yml[] = "generated: 2026-11-01\n"
                              "development_status:\n"
                              "  epic-1: contexted\n"
                              "  1-1-project-setup: done\n"
                              "  1-2-user-auth: in-progress\n"
                              "  1-3-profile: ready-for-dev\n"
                              "  1-4-settings: backlog\n"
                              "  epic-1-retrospective: optional\n";
    cJSON *st = NULL;
    char err[128];

    (void)state;
    assert_int_equal(jc_sprint_status_parse(yml, sizeof(yml) - 1, &st, err, sizeof(err)), JC_OK);
    assert_int_equal(cJSON_GetArraySize(st), 4);
    assert_string_equal(cJSON_GetObjectItem(st, "1.1")->valuestring, "Done");
    assert_string_equal(cJSON_GetObjectItem(st, "1.2")->valuestring, "InProgress");
    assert_string_equal(cJSON_GetObjectItem(st, "1.3")->valuestring, "Approved");
    assert_string_equal(cJSON_GetObjectItem(st, "1.4")->valuestring, "Draft");
    cJSON_Delete(st);
    assert_int_equal(jc_sprint_status_parse("a: [", 4, &st, err, sizeof(err)), JC_EINVAL);
    assert_null(st);
}

static void set_status(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"# Story 1.1: A\r\n\r\n## Status\r\n\r\nDraft\r\n\r\n## Tasks\r\n- [ ] x\r\n",
         "# Story 1.1: A\r\n\r\n## Status\r\n\r\nDone\r\n\r\n## Tasks\r\n- [ ] x\r\n"},
        {"# S 1.2: B\n\n**Status:** In Progress ✅\n\n## QA\n**Status: PASS**\n",
         "# S 1.2: B\n\n**Status:** Done\n\n## QA\n**Status: PASS**\n"},
        {"# S 1.3: C\n\n## Status\n  - Approved  \n", "# S 1.3: C\n\n## Status\n  - Done  \n"},
        {"# S 1.4: D\n\n## Story\ntext\n", "# S 1.4: D\n\n## Status\n\nDone\n\n\n## Story\ntext\n"},
        {"# S 1.5: E\n**Status: Review**\n", "# S 1.5: E\n**Status: Done**\n"},
    };
    size_t i, n;
    char *out;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        out = jc_story_set_status(cases[i].in, strlen(cases[i].in), "Done", &n);
        assert_non_null(out);
        if (strcmp(out, cases[i].out) != 0)
            fail_msg("case %zu:\n%s\n--- want ---\n%s", i, out, cases[i].out);
        assert_int_equal(n, strlen(cases[i].out));
        free(out);
    }
}

/* Found by fuzz_story: a bare "# " heading at the very end of an unterminated buffer. */
static void regression_bare_heading_at_end(void **state)
{
    static const char *const inputs[] = {"# ", "# Story 2", "# Story 2.", "# 1.1"};
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        size_t n = strlen(inputs[i]);
        char *exact = malloc(n); /* no terminator: ASan sees any read past the end */
        struct jc_story st;
        char err[128];
        memcpy(exact, inputs[i], n);
        if (jc_story_parse("docs/stories/3.3.x.md", exact, n, &st, err, sizeof(err)) == JC_OK)
            jc_story_clear(&st);
        free(exact);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(classify),
        cmocka_unit_test(status_variants),
        cmocka_unit_test(template_story_parses),
        cmocka_unit_test(messy_stories_parse),
        cmocka_unit_test(gates_parse),
        cmocka_unit_test(sprint_status),
        cmocka_unit_test(set_status),
        cmocka_unit_test(regression_bare_heading_at_end),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
