/* SPDX-License-Identifier: MIT */
/* test_findings.c: findings from project states shaped like real repositories. */
#include <stdio.h>

#include "unit.h"

#include "jc/bmad.h"
#include "jc/findings.h"

static cJSON *compute(const char *state_json)
{
    cJSON *state = cJSON_Parse(state_json);
    cJSON *out;

    assert_non_null(state);
    out = jc_findings_compute(state);
    cJSON_Delete(state);
    assert_non_null(out);
    return out;
}

static const cJSON *by_fp(const cJSON *found, const char *fp)
{
    const cJSON *f;

    cJSON_ArrayForEach(f, found)
    {
        if (strcmp(cJSON_GetObjectItem(f, "fingerprint")->valuestring, fp) == 0)
            return f;
    }
    return NULL;
}

static void assert_fingerprints(const cJSON *found, const char *const *want, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (by_fp(found, want[i]) == NULL)
            fail_msg("missing %s in %s", want[i], cJSON_PrintUnformatted(found));
    if ((size_t)cJSON_GetArraySize(found) != n)
        fail_msg("%d findings, want %zu: %s", cJSON_GetArraySize(found), n,
                 cJSON_PrintUnformatted(found));
}

/* Every active story (InProgress or Review) is compared with every other one. */
static void overlap_between_all_active_stories(void **state)
{
    static const char *const want[] = {"file_overlap:1.1|1.2", "file_overlap:1.1|1.3",
                                       "file_overlap:1.2|1.3"};
    cJSON *found =
        compute("{\"stories\":["
                "{\"path\":\"a\",\"key\":\"1.1\",\"key_source\":\"name\",\"status\":\"Review\","
                " \"files\":[\"src/x.ts\",\"src/y.ts\",\"src/z.ts\"]},"
                "{\"path\":\"b\",\"key\":\"1.2\",\"key_source\":\"name\",\"status\":\"Review\","
                " \"files\":[\"src/y.ts\",\"src/x.ts\"]},"
                "{\"path\":\"c\",\"key\":\"1.3\",\"key_source\":\"name\",\"status\":\"InProgress\","
                " \"files\":[\"src/x.ts\"]},"
                "{\"path\":\"d\",\"key\":\"1.4\",\"key_source\":\"name\",\"status\":\"Done\","
                " \"files\":[\"src/x.ts\"]},"
                "{\"path\":\"e\",\"key\":\"1.5\",\"key_source\":\"name\",\"status\":\"Blocked\","
                " \"files\":[\"src/x.ts\"]}]}");
    const cJSON *f, *files;

    (void)state;
    assert_fingerprints(found, want, 3);
    f = by_fp(found, "file_overlap:1.1|1.2");
    files = cJSON_GetObjectItem(cJSON_GetObjectItem(f, "details"), "files");
    assert_int_equal(cJSON_GetArraySize(files), 2);
    assert_string_equal(cJSON_GetArrayItem(files, 0)->valuestring, "src/x.ts");
    assert_string_equal(cJSON_GetArrayItem(files, 1)->valuestring, "src/y.ts");
    assert_string_equal(cJSON_GetObjectItem(f, "severity")->valuestring, "high");
    assert_non_null(strstr(cJSON_GetObjectItem(f, "summary")->valuestring, "(Review)"));
    cJSON_Delete(found);
}

/* The scan killer: 3.8.story.md titled "Story 3.3", Done, beside 3.3.story.md, Done, with a
 * FAIL gate and an expired one; and two active stories sharing the key by name. */
static void one_fingerprint_per_finding_whatever_the_input(void **state)
{
    cJSON *found = compute(
        "{\"stories\":["
        "{\"path\":\"docs/stories/3.3.story.md\",\"key\":\"3.3\",\"key_source\":\"name\","
        " \"title_key\":\"3.3\",\"status\":\"Done\",\"files\":[]},"
        "{\"path\":\"docs/stories/3.8.story.md\",\"key\":\"3.8\",\"key_source\":\"name\","
        " \"title_key\":\"3.3\",\"status\":\"Done\",\"files\":[]},"
        "{\"path\":\"docs/stories/4.1.a.md\",\"key\":\"4.1\",\"key_source\":\"name\","
        " \"status\":\"Done\",\"files\":[\"f\"]},"
        "{\"path\":\"docs/stories/4.1.b.md\",\"key\":\"4.1\",\"key_source\":\"name\","
        " \"status\":\"InProgress\",\"files\":[\"f\"]},"
        "{\"path\":\"docs/stories/4.1.c.md\",\"key\":\"4.1\",\"key_source\":\"name\","
        " \"status\":\"Review\",\"files\":[\"f\"]},"
        "{\"path\":\"docs/stories/4.2.md\",\"key\":\"4.2\",\"key_source\":\"name\","
        " \"status\":\"Review\",\"files\":[\"f\"]},"
        "{\"path\":\"docs/stories/x.md\",\"key\":\"4.1\",\"key_source\":\"title\","
        " \"status\":\"Done\",\"files\":[]}],"
        "\"gates\":["
        "{\"key\":\"3.3\",\"decision\":\"FAIL\",\"path\":\"g1\",\"updated\":\"2026-01-01\"},"
        "{\"key\":\"3.3\",\"decision\":\"FAIL\",\"path\":\"g2\",\"updated\":\"2026-01-01\"},"
        "{\"key\":\"4.1\",\"decision\":\"FAIL\",\"path\":\"g3\",\"updated\":\"2026-01-01\"}],"
        "\"sprint\":[{\"4.1\":\"Done\"},{\"4.1\":\"Review\"}],"
        "\"agents\":[{\"agent\":\"a\",\"story\":\"4.1\"},{\"agent\":\"a\",\"story\":\"4.1\"}]}");
    const cJSON *f, *g;
    int n = 0;

    (void)state;
    /* no fingerprint twice */
    cJSON_ArrayForEach(f, found)
    {
        n++;
        cJSON_ArrayForEach(g, found)
        {
            if (f != g && strcmp(cJSON_GetObjectItem(f, "fingerprint")->valuestring,
                                 cJSON_GetObjectItem(g, "fingerprint")->valuestring) == 0)
                fail_msg("fingerprint %s twice",
                         cJSON_GetObjectItem(f, "fingerprint")->valuestring);
        }
    }
    assert_true(n > 0);
    /* the title clash is a key_mismatch, never a duplicate */
    assert_non_null(by_fp(found, "key_mismatch:docs/stories/3.8.story.md"));
    assert_string_equal(
        cJSON_GetObjectItem(by_fp(found, "key_mismatch:docs/stories/3.8.story.md"), "severity")
            ->valuestring,
        "low");
    assert_null(by_fp(found, "duplicate_key:3.3"));
    assert_non_null(by_fp(found, "gate_violation:3.3"));
    /* duplicates by name only (x.md's key came from its title) */
    f = by_fp(found, "duplicate_key:4.1");
    assert_non_null(f);
    assert_int_equal(
        cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(f, "details"), "paths")), 3);
    /* stories sharing a key are named by path in an overlap fingerprint */
    assert_non_null(by_fp(found, "file_overlap:docs/stories/4.1.b.md|docs/stories/4.1.c.md"));
    assert_non_null(by_fp(found, "file_overlap:4.2|docs/stories/4.1.b.md"));
    cJSON_Delete(found);
}

/* Only a FAIL on the current gate is a violation; an expired gate is no finding. */
static void gate_violations_follow_the_current_gate(void **state)
{
    static const char *const want[] = {"gate_violation:2.2"};
    cJSON *found =
        compute("{\"stories\":["
                "{\"path\":\"a\",\"key\":\"2.1\",\"key_source\":\"name\",\"status\":\"Done\"},"
                "{\"path\":\"b\",\"key\":\"2.2\",\"key_source\":\"name\",\"status\":\"Done\"},"
                "{\"path\":\"c\",\"key\":\"2.3\",\"key_source\":\"name\",\"status\":\"Done\"},"
                "{\"path\":\"d\",\"key\":\"2.4\",\"key_source\":\"name\",\"status\":\"Review\"}],"
                "\"gates\":["
                "{\"key\":\"2.1\",\"decision\":\"FAIL\",\"path\":\"g/2.1-old.yml\","
                " \"updated\":\"2026-01-01T00:00:00Z\"},"
                "{\"key\":\"2.1\",\"decision\":\"PASS\",\"path\":\"g/2.1-new.yml\","
                " \"updated\":\"2026-02-01T00:00:00Z\"},"
                "{\"key\":\"2.2\",\"decision\":\"PASS\",\"path\":\"g/2.2-a.yml\","
                " \"updated\":\"2026-01-01T00:00:00Z\"},"
                "{\"key\":\"2.2\",\"decision\":\"FAIL\",\"path\":\"g/2.2-b.yml\","
                " \"updated\":\"2026-03-01T00:00:00Z\"},"
                "{\"key\":\"2.3\",\"decision\":\"Other\",\"path\":\"g/2.3.yml\"},"
                "{\"key\":\"2.4\",\"decision\":\"FAIL\",\"path\":\"g/2.4.yml\"}]}");

    (void)state;
    assert_fingerprints(found, want, 1);
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(by_fp(found, "gate_violation:2.2"), "details"),
                            "gate")
            ->valuestring,
        "g/2.2-b.yml");
    cJSON_Delete(found);
}

static void sprint_and_agents(void **state)
{
    static const char *const want[] = {"status_mismatch:1.2", "agent_overlap:1.1"};
    cJSON *found =
        compute("{\"stories\":["
                "{\"path\":\"a\",\"key\":\"1.1\",\"key_source\":\"name\",\"status\":\"Done\"},"
                "{\"path\":\"b\",\"key\":\"1.2\",\"key_source\":\"name\",\"status\":\"Review\"},"
                "{\"path\":\"c\",\"key\":\"1.3\",\"key_source\":\"name\",\"status\":\"Missing\"}],"
                "\"sprint\":[{\"1.1\":\"Done\",\"1.2\":\"InProgress\",\"1.3\":\"Done\"}],"
                "\"agents\":[{\"agent\":\"claude\",\"name\":\"Claude\",\"story\":\"1.1\"},"
                "{\"agent\":\"codex\",\"name\":\"Codex\",\"story\":\"1.1\"},"
                "{\"agent\":\"gemini\",\"name\":\"Gemini\",\"story\":\"1.2\"}]}");

    (void)state;
    assert_fingerprints(found, want, 2);
    cJSON_Delete(found);
}

/* The state from records held in memory, as jivectl inspect builds it. */
static void state_from_records(void **state)
{
    static const char a[] = "# Story 1.1: A\n\nStatus: review\n\n## File List\n"
                            "- `src/shared.ts`\n- ~/outside.txt\n";
    static const char b[] = "# Story 1.2: B\n\nStatus: in-progress\n\n## File List\n"
                            "- src/shared.ts - also here\n- ~/outside.txt\n";
    static const char g[] = "gate: FAIL\n";
    cJSON *rows = cJSON_CreateArray(), *gates = cJSON_CreateArray(), *gate = NULL, *st, *found;

    (void)state;
    cJSON_AddItemToArray(rows, jc_bmad_record("_bmad-output/implementation-artifacts/1-1-a.md",
                                              JC_KIND_STORY, a, sizeof(a) - 1, &gate));
    cJSON_AddItemToArray(rows, jc_bmad_record("_bmad-output/implementation-artifacts/1-2-b.md",
                                              JC_KIND_STORY, b, sizeof(b) - 1, &gate));
    cJSON_AddItemToArray(
        rows, jc_bmad_record("docs/qa/gates/1.1-a.yml", JC_KIND_QA_GATE, g, sizeof(g) - 1, &gate));
    cJSON_AddItemToArray(gates, gate);
    st = jc_findings_state(rows, gates, NULL);
    found = jc_findings_compute(st);
    /* the shared in-repo path overlaps; the shared external one never does */
    assert_int_equal(cJSON_GetArraySize(found), 1);
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetArrayItem(found, 0), "fingerprint")->valuestring,
        "file_overlap:1.1|1.2");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(
                         cJSON_GetObjectItem(cJSON_GetArrayItem(found, 0), "details"), "files")),
                     1);
    assert_int_equal(jc_findings_severity_rank("critical"), 4);
    assert_int_equal(jc_findings_severity_rank("nonsense"), 0);
    cJSON_Delete(found);
    cJSON_Delete(st);
    cJSON_Delete(rows);
    cJSON_Delete(gates);
}

static void odd_states_are_no_findings(void **state)
{
    static const char *const inputs[] = {
        "null",
        "[]",
        "{}",
        "{\"stories\":{}}",
        "{\"stories\":[1,null,\"x\",{}]}",
        "{\"stories\":[{\"status\":\"Review\",\"files\":[1,\"\",null]},"
        "{\"status\":\"Review\",\"files\":[\"\"]}],\"gates\":[{}],\"sprint\":[1,{}]}"};
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        cJSON *found = compute(inputs[i]);
        assert_int_equal(cJSON_GetArraySize(found), 0);
        cJSON_Delete(found);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(overlap_between_all_active_stories),
        cmocka_unit_test(one_fingerprint_per_finding_whatever_the_input),
        cmocka_unit_test(gate_violations_follow_the_current_gate),
        cmocka_unit_test(sprint_and_agents),
        cmocka_unit_test(state_from_records),
        cmocka_unit_test(odd_states_are_no_findings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
