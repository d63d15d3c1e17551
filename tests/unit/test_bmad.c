/* SPDX-License-Identifier: MIT */
/* test_bmad.c: BMAD classification, story and gate parsing on files as agents write them. */
#include <stdio.h>

#include "unit.h"

#include "jc/bmad.h"
#include "jc/parse.h"

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
        /* a track prefix stays in the key: it is another story than 1.1.story.md */
        {"docs/stories/Error-Handling-1.1.story.md", JC_KIND_STORY, "error-handling-1.1"},
        {"_bmad-output/implementation-artifacts/stories/error-handling-2.1.story.md", JC_KIND_STORY,
         "error-handling-2.1"},
        {"docs/stories/error-handling.story.md", JC_KIND_STORY, ""}, /* no key in the name */
        {"docs/stories/error_handling-1.1.story.md", JC_KIND_STORY, ""},
        {"docs/stories/archived/1.1.old.md", JC_KIND_OTHER, ""},
        {"docs/qa/gates/2.3-checkout-flow.yml", JC_KIND_QA_GATE, "2.3"},
        {"docs/qa/gates/2.3-checkout-flow.yaml", JC_KIND_QA_GATE, "2.3"},
        {"_bmad-output/planning-artifacts/prd.md", JC_KIND_PRD, ""},
        {"_bmad-output/planning-artifacts/architecture.md", JC_KIND_ARCHITECTURE, ""},
        {"_bmad-output/planning-artifacts/epics.md", JC_KIND_EPIC, ""},
        {"_bmad-output/planning-artifacts/ux-design.md", JC_KIND_OTHER, ""},
        {"_bmad-output/implementation-artifacts/1-2-user-auth.md", JC_KIND_STORY, "1.2"},
        {"_bmad-output/implementation-artifacts/sprint-status.yaml", JC_KIND_SPRINT_STATUS, ""},
        {"docs/stories/1.12A.ground-truth.md", JC_KIND_STORY, "1.12a"},
        {"_bmad-output/stories/7-1-editor.md", JC_KIND_STORY, "7.1"},
        {"_bmad-output/stories/notes.md", JC_KIND_OTHER, ""},
        {"_bmad-output/specs/auth/SPEC.md", JC_KIND_OTHER, ""},
        {"_bmad-output/specs/auth/stories.yaml", JC_KIND_SPRINT_STATUS, ""},
        {"_bmad-output/specs/auth/stories/01-login-form.md", JC_KIND_STORY, "auth/01"},
        {"_bmad-output/specs/auth/stories/2-3-reset.md", JC_KIND_STORY, "2.3"},
        {"_bmad-output/test-artifacts/gates/gate-decision-1.2.json", JC_KIND_QA_GATE, "1.2"},
        {"_bmad-output/test-artifacts/gate-decision-story-2.1.yaml", JC_KIND_QA_GATE, "2.1"},
        {"_bmad-output/test-artifacts/gate-decision-3-4-search.json", JC_KIND_QA_GATE, "3.4"},
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
        {"Ready for Done", JC_STATUS_DONE}, /* QA approved, waiting for the owner */
        {"Done", JC_STATUS_DONE},
        {"Done ✅", JC_STATUS_DONE},
        {"**Done**", JC_STATUS_DONE},
        {"✅ Complete", JC_STATUS_DONE},
        {"Completed - all ACs verified by QA", JC_STATUS_DONE},
        {"Ready for Development", JC_STATUS_APPROVED},
        {"ready-for-dev", JC_STATUS_APPROVED},
        {"backlog", JC_STATUS_DRAFT},
        {"drafted", JC_STATUS_DRAFT},
        {"contexted", JC_STATUS_APPROVED},
        {"review", JC_STATUS_REVIEW},
        {"in-review", JC_STATUS_REVIEW},
        {"done", JC_STATUS_DONE},
        {"Blocked", JC_STATUS_BLOCKED},
        {"BLOCKED - waiting for the payments API", JC_STATUS_BLOCKED},
        {"Status: Done", JC_STATUS_DONE},
        {"Deferred - after the launch", JC_STATUS_OTHER},
        {"Split into 2.5a and 2.5b; this file is kept for history", JC_STATUS_OTHER},
        {"En cours", JC_STATUS_OTHER},
        {"✅", JC_STATUS_OTHER},
        {"", JC_STATUS_MISSING},
        {NULL, JC_STATUS_MISSING},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (jc_story_status_parse(cases[i].raw) != cases[i].want)
            fail_msg("'%s' -> %d, want %d", cases[i].raw != NULL ? cases[i].raw : "(null)",
                     jc_story_status_parse(cases[i].raw), cases[i].want);
    assert_string_equal(jc_story_status_name(JC_STATUS_IN_PROGRESS), "InProgress");
    assert_string_equal(jc_story_status_name(JC_STATUS_MISSING), "Missing");
    assert_string_equal(jc_story_status_name(JC_STATUS_OTHER), "Other");
    assert_string_equal(jc_story_status_name(JC_STATUS_BLOCKED), "Blocked");
    assert_true(jc_story_status_active(JC_STATUS_IN_PROGRESS));
    assert_true(jc_story_status_active(JC_STATUS_REVIEW));
    assert_false(jc_story_status_active(JC_STATUS_DONE));
    assert_false(jc_story_status_active(JC_STATUS_BLOCKED));
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
    static const struct {
        const char *path, *label, *note;
        bool external;
    } files[] = {
        {"src/checkout/cart.ts", NULL, "cart summary component", false},
        {"src/checkout/pay.ts", "NEW", NULL, false},
        {"src/api/orders.py", "Modified", NULL, false},
        {"lib/money.c", NULL, NULL, false},
        {"test/checkout.spec.ts", "created", NULL, false},
        {"docs/notes.md", NULL, NULL, false},
        {"/etc/passwd", NULL, NULL, true},
        {"../outside/secret.c", NULL, NULL, true},
        {"https://example.com/x.js", NULL, NULL, true},
    };
    size_t i;

    (void)state;
    assert_int_equal(jc_story_parse("docs/stories/2.3.checkout-flow.md", template_story,
                                    sizeof(template_story) - 1, &s, err, sizeof(err)),
                     JC_OK);
    assert_string_equal(s.key, "2.3");
    assert_true(s.key_from_name);
    assert_string_equal(s.title_key, "2.3");
    assert_string_equal(s.title, "Checkout flow");
    assert_string_equal(s.raw_status, "Ready for Review");
    assert_int_equal(s.status, JC_STATUS_REVIEW); /* not the QA section's PASS */
    /* tasks: the Tasks section only (every level); checks: the whole file */
    assert_int_equal(s.tasks_total, 4);
    assert_int_equal(s.tasks_done, 3);
    assert_int_equal(s.checks_total, 5);
    assert_int_equal(s.checks_done, 4);
    assert_int_equal(s.nfiles, sizeof(files) / sizeof(files[0]));
    for (i = 0; i < s.nfiles; i++) {
        assert_string_equal(s.files[i].path, files[i].path);
        if (files[i].label == NULL)
            assert_null(s.files[i].label);
        else
            assert_string_equal(s.files[i].label, files[i].label);
        if (files[i].note != NULL)
            assert_string_equal(s.files[i].note, files[i].note);
        assert_int_equal(s.files[i].external, files[i].external);
    }
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
    assert_null(s.title_key);
    assert_string_equal(s.title, "Refactor payment adapters");
    assert_int_equal(s.status, JC_STATUS_IN_PROGRESS);
    jc_story_clear(&s);

    assert_int_equal(jc_story_parse("x/3.1.md", none, sizeof(none) - 1, &s, err, sizeof(err)),
                     JC_OK);
    assert_null(s.raw_status);
    assert_int_equal(s.status, JC_STATUS_MISSING);
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

    /* libyaml refuses it, the top-level gate: line still decides; the problem is kept */
    assert_int_equal(jc_gate_parse("g/1.1-x.yml", broken, sizeof(broken) - 1, &g, err, sizeof(err)),
                     JC_OK);
    assert_int_equal(g.decision, JC_GATE_PASS);
    assert_non_null(strstr(g.problem, "invalid YAML at line 2"));
    assert_string_equal(g.story_key, "1.1");
    jc_gate_clear(&g);
    /* not a mapping: one gate all the same, decision Missing */
    assert_int_equal(jc_gate_parse("g/1.1-x.yml", "- a\n- b\n", 8, &g, err, sizeof(err)), JC_OK);
    assert_int_equal(g.decision, JC_GATE_MISSING);
    assert_non_null(strstr(g.problem, "not a mapping"));
    jc_gate_clear(&g);
    assert_int_equal(jc_gate_parse("g/1.1-x.yml", bomb, sizeof(bomb) - 1, &g, err, sizeof(err)),
                     JC_OK);
    assert_non_null(strstr(g.problem, "too large"));
    assert_int_equal(g.decision, JC_GATE_MISSING);
    jc_gate_clear(&g);
    assert_int_equal(jc_gate_parse("g/1.1-x.yml", "gate: P\0SS", 10, &g, err, sizeof(err)),
                     JC_EINVAL);
    assert_non_null(strstr(err, "not a text file"));
}

static void gate_decisions_exact(void **state)
{
    static const struct {
        const char *text;
        enum jc_gate_decision want;
        const char *raw;
    } cases[] = {
        {"gate: PASS\n", JC_GATE_PASS, "PASS"},
        {"gate: 'pass'  # looked twice\n", JC_GATE_PASS, "pass"},
        {"gate: \"CONCERNS\"\n", JC_GATE_CONCERNS, "CONCERNS"},
        {"decision: Fail\n", JC_GATE_FAIL, "Fail"},
        {"gate: WAIVED\n", JC_GATE_WAIVED, "WAIVED"},
        {"gate: PASS with CONCERNS\n", JC_GATE_OTHER, "PASS with CONCERNS"},
        {"gate: RESOLVED\n", JC_GATE_OTHER, "RESOLVED"},
        {"gate_decision: PASS\nstory_id: X\n", JC_GATE_PASS, "PASS"},
        {"gate-decision: FAIL\n", JC_GATE_FAIL, "FAIL"},
        {"reviewer: Quinn\n", JC_GATE_MISSING, NULL},
        /* broken YAML: the top-level line decides, an indented one does not */
        {"history:\n  - gate: FAIL\ngate: CONCERNS # after fixes\n  bad: [\n", JC_GATE_CONCERNS,
         "CONCERNS"},
        {"risk:\n  gate: FAIL\n  bad: [\n", JC_GATE_MISSING, NULL},
    };
    struct jc_gate g;
    char err[200];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(jc_gate_parse("docs/qa/gates/5.1-x.yml", cases[i].text,
                                       strlen(cases[i].text), &g, err, sizeof(err)),
                         JC_OK);
        if (g.decision != cases[i].want)
            fail_msg("case %zu: decision %d, want %d", i, g.decision, cases[i].want);
        if (cases[i].raw == NULL)
            assert_null(g.raw_decision);
        else
            assert_string_equal(g.raw_decision, cases[i].raw);
        jc_gate_clear(&g);
    }
    assert_string_equal(jc_gate_decision_name(JC_GATE_OTHER), "Other");
    assert_string_equal(jc_gate_decision_name(JC_GATE_MISSING), "Missing");
    assert_int_equal(jc_gate_decision_parse(" fail "), JC_GATE_FAIL);
    assert_int_equal(jc_gate_decision_parse("FAILED"), JC_GATE_OTHER);
    assert_int_equal(jc_gate_decision_parse(""), JC_GATE_MISSING);
}

static void json_gate_decisions(void **state)
{
    static const char tea[] = "{\n  \"story_id\": \"1.2\",\n  \"gate_status\": \"FAIL\",\n"
                              "  \"rationale\": \"P0 coverage 80%\",\n"
                              "  \"decision_date\": \"2026-10-02T09:00:00Z\"\n}\n";
    static const char broken[] = "{\"gate_status\": \"CONCERNS\",\n \"x\": [1, 2\n";
    struct jc_gate g;
    char err[200];

    (void)state;
    assert_int_equal(jc_gate_parse("_bmad-output/test-artifacts/gate-decision-9.9.json", tea,
                                   sizeof(tea) - 1, &g, err, sizeof(err)),
                     JC_OK);
    assert_int_equal(g.decision, JC_GATE_FAIL);
    assert_string_equal(g.story_key, "1.2"); /* the file's own story_id wins */
    assert_string_equal(g.status_reason, "P0 coverage 80%");
    assert_string_equal(g.updated, "2026-10-02T09:00:00Z");
    assert_null(g.problem);
    jc_gate_clear(&g);
    assert_int_equal(jc_gate_parse("_bmad-output/test-artifacts/gate-decision-4-2-x.json", broken,
                                   sizeof(broken) - 1, &g, err, sizeof(err)),
                     JC_OK);
    assert_int_equal(g.decision, JC_GATE_CONCERNS);
    assert_string_equal(g.story_key, "4.2");
    assert_non_null(strstr(g.problem, "invalid JSON"));
    jc_gate_clear(&g);
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
    assert_int_equal(
        jc_sprint_status_parse("_bmad-output/implementation-artifacts/sprint-status.yaml", yml,
                               sizeof(yml) - 1, &st, err, sizeof(err)),
        JC_OK);
    assert_int_equal(cJSON_GetArraySize(st), 4);
    assert_string_equal(cJSON_GetObjectItem(st, "1.1")->valuestring, "Done");
    assert_string_equal(cJSON_GetObjectItem(st, "1.2")->valuestring, "InProgress");
    assert_string_equal(cJSON_GetObjectItem(st, "1.3")->valuestring, "Approved");
    assert_string_equal(cJSON_GetObjectItem(st, "1.4")->valuestring, "Draft");
    cJSON_Delete(st);
    assert_int_equal(jc_sprint_status_parse("sprint-status.yaml", "a: [", 4, &st, err, sizeof(err)),
                     JC_EINVAL);
    assert_null(st);
}

static void spec_stories_yaml(void **state)
{
    static const char list[] = "stories:\n"
                               "  - id: \"01\"\n    title: Login form\n    status: in-review\n"
                               "  - id: 02\n    status: ready-for-dev\n"
                               "  - title: no id\n    status: done\n";
    static const char map[] = "01-login-form: done\n03-logout: Deferred - later\n";
    cJSON *st = NULL;
    char err[128];

    (void)state;
    assert_int_equal(jc_sprint_status_parse("_bmad-output/specs/auth/stories.yaml", list,
                                            sizeof(list) - 1, &st, err, sizeof(err)),
                     JC_OK);
    assert_int_equal(cJSON_GetArraySize(st), 2);
    assert_string_equal(cJSON_GetObjectItem(st, "auth/01")->valuestring, "Review");
    assert_string_equal(cJSON_GetObjectItem(st, "auth/02")->valuestring, "Approved");
    cJSON_Delete(st);
    assert_int_equal(jc_sprint_status_parse("_bmad-output/specs/auth/stories.yaml", map,
                                            sizeof(map) - 1, &st, err, sizeof(err)),
                     JC_OK);
    assert_string_equal(cJSON_GetObjectItem(st, "auth/01")->valuestring, "Done");
    assert_string_equal(cJSON_GetObjectItem(st, "auth/03")->valuestring, "Deferred - later");
    cJSON_Delete(st);
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

/* File List entries in the shapes agents write them: the path apart from label and note. */
static void file_list_shapes(void **state)
{
    static const struct {
        const char *line;
        const char *path; /* NULL: not an entry */
        const char *label, *note;
        bool external;
    } cases[] = {
        {"- src/api/users.ts - adds the `createUser` handler", "src/api/users.ts", NULL,
         "adds the `createUser` handler", false},
        {"- `src/a.ts` - the store", "src/a.ts", NULL, "the store", false},
        {"- [src/b.ts](src/b.ts)", "src/b.ts", NULL, NULL, false},
        {"- [`src/c.ts`](../src/c.ts) (new)", "src/c.ts", NULL, "new", false},
        {"- [the cart](src/cart/index.ts)", "src/cart/index.ts", NULL, NULL, false},
        {"- Dockerfile", "Dockerfile", NULL, NULL, false},
        {"- `LICENSE` - MIT", "LICENSE", NULL, "MIT", false},
        {"- Makefile: new test target", "Makefile", NULL, "new test target", false},
        {"- dist/\\*", "dist/*", NULL, NULL, false},
        {"- some-lib@^2.1.0", NULL, NULL, NULL, false},
        {"- `react@18.2.0` added to package.json", "package.json", NULL, NULL, false},
        {"- @types/node", NULL, NULL, NULL, false},
        {"- docs/", "docs", NULL, NULL, false},
        {"- ./src/x.ts:42", "src/x.ts", NULL, NULL, false},
        {"- `src/y.ts:10-20` (the parser)", "src/y.ts", NULL, "the parser", false},
        {"- src\\win\\path.cs", "src/win/path.cs", NULL, NULL, false},
        {"- NEW: src/new.ts", "src/new.ts", "NEW", NULL, false},
        {"- **Modified:** `src/mod.py` - one more field", "src/mod.py", "Modified",
         "one more field", false},
        {"- Modified `src/m2.py`", "src/m2.py", "Modified", NULL, false},
        {"- Refactored `src/r.ts` for speed", "src/r.ts", NULL, NULL, false},
        {"3. lib/money.c", "lib/money.c", NULL, NULL, false},
        {"- [x] src/done.ts", "src/done.ts", NULL, NULL, false},
        {"| `src/t.ts` | Created | the table |", "src/t.ts", "Created", "the table", false},
        {"| Modified | src/u.ts |", "src/u.ts", "Modified", NULL, false},
        {"| File | Change |", NULL, NULL, NULL, false},
        {"|------|--------|", NULL, NULL, NULL, false},
        {"- ~/.claude/settings.json", "~/.claude/settings.json", NULL, NULL, true},
        {"- /etc/nginx/nginx.conf", "/etc/nginx/nginx.conf", NULL, NULL, true},
        {"- ../other-repo/src/x.ts", "../other-repo/src/x.ts", NULL, NULL, true},
        {"- C:\\Users\\me\\x.txt", "C:/Users/me/x.txt", NULL, NULL, true},
        {"- src/app/(app)/feed/[id]/page.tsx - the page", "src/app/(app)/feed/[id]/page.tsx", NULL,
         "the page", false},
        {"- `tests/g.py` — ✅ **REPLACED**", "tests/g.py", NULL, "✅ **REPLACED**", false},
        {"- utils.format()", NULL, NULL, NULL, false},
        {"- N/A", NULL, NULL, NULL, false},
        {"- None", NULL, NULL, NULL, false},
        {"- Just a sentence about what was done", NULL, NULL, NULL, false},
        {"- 1.2.3", NULL, NULL, NULL, false},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct jc_story_file f;
        bool ok = jc_story_file_parse(cases[i].line, strlen(cases[i].line), &f);
        if (ok != (cases[i].path != NULL))
            fail_msg("'%s': %s", cases[i].line, ok ? f.path : "no entry");
        if (!ok)
            continue;
        if (strcmp(f.path, cases[i].path) != 0)
            fail_msg("'%s': path '%s', want '%s'", cases[i].line, f.path, cases[i].path);
        if (cases[i].label != NULL && (f.label == NULL || strcmp(f.label, cases[i].label) != 0))
            fail_msg("'%s': label '%s', want '%s'", cases[i].line, f.label != NULL ? f.label : "",
                     cases[i].label);
        if (cases[i].label == NULL && f.label != NULL)
            fail_msg("'%s': unexpected label '%s'", cases[i].line, f.label);
        if (cases[i].note != NULL && (f.note == NULL || strcmp(f.note, cases[i].note) != 0))
            fail_msg("'%s': note '%s', want '%s'", cases[i].line, f.note != NULL ? f.note : "",
                     cases[i].note);
        if (f.external != cases[i].external)
            fail_msg("'%s': external %d", cases[i].line, f.external);
        jc_story_file_clear(&f);
    }
}

/* Where a File List starts and ends: headings, a bold line, sub-labels, a code block. */
static void file_list_sections(void **state)
{
    static const char bold[] = "# Story 4.2: Bold list\n\n"
                               "Status: review\n\n"
                               "## Dev Agent Record\n\n"
                               "**File List:**\n"
                               "**Created:**\n"
                               "- src/one.ts\n"
                               "**Modified:**\n"
                               "- `src/two.ts`\n\n"
                               "**Completion Notes:**\n"
                               "- src/not-a-file-entry.ts\n";
    static const char fenced[] = "# Story 4.3: Fenced list\n\n"
                                 "## File List\n\n"
                                 "```\n"
                                 "src/a/b.ts\n"
                                 "src/a/c.ts  (tests)\n"
                                 "Makefile\n"
                                 "```\n"
                                 "## Change Log\n"
                                 "- src/after.ts\n";
    struct jc_story s;
    char err[128];

    (void)state;
    assert_int_equal(
        jc_story_parse("docs/stories/4.2.bold.md", bold, sizeof(bold) - 1, &s, err, sizeof(err)),
        JC_OK);
    assert_int_equal(s.status, JC_STATUS_REVIEW);
    assert_int_equal(s.nfiles, 2);
    assert_string_equal(s.files[0].path, "src/one.ts");
    assert_string_equal(s.files[1].path, "src/two.ts");
    jc_story_clear(&s);
    assert_int_equal(jc_story_parse("docs/stories/4.3.fenced.md", fenced, sizeof(fenced) - 1, &s,
                                    err, sizeof(err)),
                     JC_OK);
    assert_int_equal(s.nfiles, 2); /* a line with a space is no bare path */
    assert_string_equal(s.files[0].path, "src/a/b.ts");
    assert_string_equal(s.files[1].path, "Makefile");
    jc_story_clear(&s);
}

/* Tasks are the Tasks section's checkboxes, every level, numbered too; checks the whole file. */
static void tasks_section_only(void **state)
{
    static const char text[] = "# Story 5.5: Tasks\n\n"
                               "## Status\nInProgress\n\n"
                               "## Acceptance Criteria\n"
                               "- [x] AC 1\n"
                               "- [ ] AC 2\n\n"
                               "## Tasks/Subtasks\n"
                               "1. [x] Task one\n"
                               "   - [x] sub a\n"
                               "      * [ ] sub sub\n"
                               "2) [ ] Task two\n"
                               "- [X] Task three\n"
                               "### Notes inside tasks\n"
                               "- [ ] still a task (a deeper heading)\n\n"
                               "## Definition of Done\n"
                               "- [ ] DoD 1\n"
                               "## QA Results\n"
                               "- [x] QA 1\n";
    struct jc_story s;
    char err[128];

    (void)state;
    assert_int_equal(
        jc_story_parse("docs/stories/5.5.tasks.md", text, sizeof(text) - 1, &s, err, sizeof(err)),
        JC_OK);
    assert_int_equal(s.tasks_total, 6);
    assert_int_equal(s.tasks_done, 3);
    assert_int_equal(s.checks_total, 10);
    assert_int_equal(s.checks_done, 5);
    jc_story_clear(&s);
}

/* The file name's key is the story's key; a title naming another key is kept apart. */
static void keys_from_file_names(void **state)
{
    static const char clash[] = "# Story 3.3: Another title's key\n\n## Status\nDone\n";
    static const char nokey[] = "# Story 7.2: Only the title knows\n\n## Status\nDraft\n";
    struct jc_story s;
    char err[128];

    (void)state;
    assert_int_equal(
        jc_story_parse("docs/stories/3.8.story.md", clash, sizeof(clash) - 1, &s, err, sizeof(err)),
        JC_OK);
    assert_string_equal(s.key, "3.8");
    assert_true(s.key_from_name);
    assert_string_equal(s.title_key, "3.3");
    assert_string_equal(s.title, "Another title's key");
    jc_story_clear(&s);
    assert_int_equal(
        jc_story_parse("docs/stories/checkout.md", nokey, sizeof(nokey) - 1, &s, err, sizeof(err)),
        JC_OK);
    assert_string_equal(s.key, "7.2");
    assert_false(s.key_from_name);
    jc_story_clear(&s);
}

static void front_matter_and_bom(void **state)
{
    static const char spec[] = "---\n"
                               "id: 01\n"
                               "title: Login form\n"
                               "status: in-review\n"
                               "---\n\n"
                               "Body without a heading.\n\n"
                               "## Tasks\n- [x] one\n";
    static const char bom[] = "\xEF\xBB\xBF# Story 7.1: With a byte order mark\n\nStatus: done\n";
    struct jc_story s;
    char err[128];

    (void)state;
    assert_int_equal(jc_story_parse("_bmad-output/specs/auth/stories/01-login-form.md", spec,
                                    sizeof(spec) - 1, &s, err, sizeof(err)),
                     JC_OK);
    assert_string_equal(s.key, "auth/01");
    assert_string_equal(s.title, "Login form");
    assert_int_equal(s.status, JC_STATUS_REVIEW);
    assert_string_equal(s.raw_status, "in-review");
    assert_int_equal(s.tasks_total, 1);
    jc_story_clear(&s);
    assert_int_equal(jc_story_parse("_bmad-output/stories/7-1-bom.md", bom, sizeof(bom) - 1, &s,
                                    err, sizeof(err)),
                     JC_OK);
    assert_string_equal(s.title, "With a byte order mark");
    assert_int_equal(s.status, JC_STATUS_DONE);
    jc_story_clear(&s);
}

/* Whatever is cut to a length stays valid UTF-8 (Postgres refuses anything else, and a refused
 * row would fail every scan of the project). */
static void cuts_keep_utf8(void **state)
{
    char text[2048], line[700];
    size_t n = 0, i;
    struct jc_story s;
    struct jc_story_file f;
    char err[128];

    (void)state;
    n += (size_t)snprintf(text + n, sizeof(text) - n, "# Story 9.1 – Émile's café\n\n## Status\n");
    for (i = 0; i < 150; i++) /* 300 bytes of two-byte characters: the cut falls inside one */
        n += (size_t)snprintf(text + n, sizeof(text) - n, "é");
    n += (size_t)snprintf(text + n, sizeof(text) - n, "\n");
    assert_int_equal(jc_story_parse("docs/stories/9.1.x.md", text, n, &s, err, sizeof(err)), JC_OK);
    assert_string_equal(s.title, "Émile's café");
    assert_true(jc_utf8_valid(s.raw_status, strlen(s.raw_status)));
    assert_true(strlen(s.raw_status) <= 200);
    jc_story_clear(&s);
    n = (size_t)snprintf(line, sizeof(line), "- `src/a.ts` - x");
    for (i = 0; i < 200; i++)
        n += (size_t)snprintf(line + n, sizeof(line) - n, "ü");
    assert_true(jc_story_file_parse(line, n, &f));
    assert_true(jc_utf8_valid(f.note, strlen(f.note)));
    jc_story_file_clear(&f);
}

/* jc_bmad_record: the rows the scanner stores and jivectl inspect prints. */
static void records(void **state)
{
    static const char story[] = "# Story 2.1: Record\n\n**Status:** BLOCKED\n\n"
                                "## Tasks\n- [ ] one\n\n"
                                "## File List\n- `src/r.ts` - new\n- ~/notes.txt\n";
    static const char report[] = "# Code Review Report: Story 2.1\n\n**Status:** FIXED\n";
    static const char titled_report[] = "# Story 1.6: Test Suite Review Report\n\n"
                                        "**Status:** ✅ EXCELLENT\n\n## Executive Summary\nok\n";
    static const char summary_story[] =
        "# Story 4.2: Order summary review\n\nStatus: ready-for-dev\n\n"
        "## Story\nAs a buyer...\n\n## Acceptance Criteria\n1. x\n";
    static const char gate[] = "gate: PASS with CONCERNS\nexpires: 2020-01-01\n  x: [\n";
    cJSON *row, *g = NULL, *meta;

    (void)state;
    row = jc_bmad_record("docs/stories/2.1.record.md", JC_KIND_STORY, story, sizeof(story) - 1, &g);
    assert_null(g);
    meta = cJSON_GetObjectItem(row, "meta");
    assert_string_equal(cJSON_GetObjectItem(row, "kind")->valuestring, "story");
    assert_string_equal(cJSON_GetObjectItem(row, "status")->valuestring, "Blocked");
    assert_string_equal(cJSON_GetObjectItem(meta, "raw_status")->valuestring, "BLOCKED");
    assert_string_equal(cJSON_GetObjectItem(meta, "key_source")->valuestring, "name");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(meta, "files")), 1);
    assert_string_equal(
        cJSON_GetArrayItem(cJSON_GetObjectItem(meta, "external_files"), 0)->valuestring,
        "~/notes.txt");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(meta, "file_list")), 2);
    cJSON_Delete(row);

    /* a report about a story, in the stories folder, is a document, whatever its title says */
    row = jc_bmad_record("_bmad-output/implementation-artifacts/2-1-code-review-report.md",
                         JC_KIND_STORY, report, sizeof(report) - 1, &g);
    assert_string_equal(cJSON_GetObjectItem(row, "kind")->valuestring, "other");
    assert_null(cJSON_GetObjectItem(row, "status"));
    cJSON_Delete(row);
    row = jc_bmad_record("_bmad-output/implementation-artifacts/1-6-test-review-report.md",
                         JC_KIND_STORY, titled_report, sizeof(titled_report) - 1, &g);
    assert_string_equal(cJSON_GetObjectItem(row, "kind")->valuestring, "other");
    cJSON_Delete(row);
    /* a story whose name has such a word but that has a story's sections stays a story */
    row = jc_bmad_record("_bmad-output/implementation-artifacts/4-2-order-summary-review.md",
                         JC_KIND_STORY, summary_story, sizeof(summary_story) - 1, &g);
    assert_string_equal(cJSON_GetObjectItem(row, "kind")->valuestring, "story");
    assert_string_equal(cJSON_GetObjectItem(row, "status")->valuestring, "Approved");
    cJSON_Delete(row);

    row =
        jc_bmad_record("docs/qa/gates/2.1-record.yml", JC_KIND_QA_GATE, gate, sizeof(gate) - 1, &g);
    assert_non_null(g);
    assert_string_equal(cJSON_GetObjectItem(g, "decision")->valuestring, "Other");
    assert_string_equal(cJSON_GetObjectItem(g, "raw_decision")->valuestring, "PASS with CONCERNS");
    assert_string_equal(cJSON_GetObjectItem(g, "story_key")->valuestring, "2.1");
    assert_non_null(cJSON_GetObjectItem(cJSON_GetObjectItem(row, "meta"), "parse_error"));
    cJSON_Delete(row);
    cJSON_Delete(g);

    /* a gate that is not UTF-8 is still one gate, decision Missing */
    row = jc_bmad_record("docs/qa/gates/2.2-latin1.yml", JC_KIND_QA_GATE, "gate: \xe9t\xe9\n", 10,
                         &g);
    assert_string_equal(cJSON_GetObjectItem(g, "decision")->valuestring, "Missing");
    cJSON_Delete(row);
    cJSON_Delete(g);
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
        cmocka_unit_test(gate_decisions_exact),
        cmocka_unit_test(json_gate_decisions),
        cmocka_unit_test(spec_stories_yaml),
        cmocka_unit_test(file_list_shapes),
        cmocka_unit_test(file_list_sections),
        cmocka_unit_test(tasks_section_only),
        cmocka_unit_test(keys_from_file_names),
        cmocka_unit_test(front_matter_and_bom),
        cmocka_unit_test(records),
        cmocka_unit_test(cuts_keep_utf8),
        cmocka_unit_test(sprint_status),
        cmocka_unit_test(set_status),
        cmocka_unit_test(regression_bare_heading_at_end),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
