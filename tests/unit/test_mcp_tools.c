/* SPDX-License-Identifier: MIT */
/* test_mcp_tools.c: jive-mcp's tool table and argument validation, without a server. */
#include <stdio.h>

#include "unit.h"

#include "mcp.h"

#define PID "\"project_id\":\"6f1c2a4e-8d3b-4c5a-9e7f-1a2b3c4d5e6f\""

static const char *check(const char *tool, const char *args_json, char *buf, size_t len)
{
    const struct mcp_tool *t = mcp_tool_find(tool);
    cJSON *args = cJSON_Parse(args_json);
    const char *why;

    assert_non_null(t);
    why = mcp_validate(t, args, buf, len);
    cJSON_Delete(args);
    return why;
}

static void names_and_aliases_find_the_same_tool(void **state)
{
    (void)state;
    assert_ptr_equal(mcp_tool_find("status_get"), mcp_tool_find("status.get"));
    assert_ptr_equal(mcp_tool_find("kanban_move_story"), mcp_tool_find("kanban.moveStory"));
    assert_string_equal(mcp_tool_find("conflicts.list")->name, "conflicts_list");
    assert_null(mcp_tool_find("status_GET"));
    assert_null(mcp_tool_find(""));
    assert_null(mcp_tool_find(NULL));
}

static void every_entry_is_whole_and_its_schemas_parse(void **state)
{
    const struct mcp_tool *t;
    int n = 0;

    (void)state;
    for (t = mcp_tools; t->name != NULL; t++, n++) {
        cJSON *in = cJSON_Parse(t->input_schema), *out = cJSON_Parse(t->output_schema);
        cJSON *d = mcp_tool_describe(t);
        assert_non_null(in);
        assert_non_null(out);
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(in, "type")), "object");
        assert_true(cJSON_IsFalse(cJSON_GetObjectItem(in, "additionalProperties")));
        assert_non_null(t->scope);
        assert_non_null(t->fn);
        /* a cached read is a read of one project */
        if (t->cached)
            assert_true(t->read_only &&
                        cJSON_GetObjectItem(cJSON_GetObjectItem(in, "properties"), "project_id"));
        /* only writes publish, and the member they carry is in their output */
        if (t->event != NULL)
            assert_true(!t->read_only &&
                        cJSON_GetObjectItem(cJSON_GetObjectItem(out, "properties"), t->event_data));
        assert_int_equal(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(d, "annotations"),
                                                          "readOnlyHint")),
                         t->read_only);
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(
                                cJSON_GetObjectItem(d, "_meta"), "io.jive/scope")),
                            t->scope);
        cJSON_Delete(in);
        cJSON_Delete(out);
        cJSON_Delete(d);
    }
    assert_int_equal(n, 17);
    assert_string_equal(mcp_tool_find("agent_report")->event, "agent.updated");
    assert_string_equal(mcp_tool_find("run_report")->event, "run.updated");
}

static void arguments_that_fit_pass(void **state)
{
    char buf[200];

    (void)state;
    assert_null(check("status_get", "{" PID "}", buf, sizeof(buf)));
    assert_null(check("projects_list", "{}", buf, sizeof(buf)));
    assert_null(check("stories_list", "{" PID ",\"status\":\"InProgress\",\"limit\":500}", buf,
                      sizeof(buf)));
    assert_null(check("conflicts_list", "{" PID ",\"include_resolved\":true}", buf, sizeof(buf)));
    assert_null(check("kanban_move_story",
                      "{" PID ",\"key\":\"1.2\",\"status\":\"Done\",\"waitMs\":0}", buf,
                      sizeof(buf)));
}

struct bad {
    const char *tool, *args, *why;
};

static void each_misfit_is_named(void **state)
{
    static const struct bad cases[] = {
        {"status_get", "[]", "arguments must be a JSON object"},
        {"status_get", "{}", "missing required argument 'project_id'"},
        {"status_get", "{\"project_id\":7}", "argument 'project_id' must be of type string"},
        {"status_get", "{" PID ",\"verbose\":true}", "unknown argument 'verbose'"},
        {"stories_list", "{" PID ",\"status\":\"Doing\"}",
         "argument 'status' must be one of the documented values"},
        {"stories_list", "{" PID ",\"limit\":0}", "argument 'limit' is out of range"},
        {"stories_list", "{" PID ",\"limit\":501}", "argument 'limit' is out of range"},
        {"stories_list", "{" PID ",\"limit\":2.5}", "argument 'limit' must be of type integer"},
        {"stories_list", "{" PID ",\"epic\":\"12345678901234567\"}", "argument 'epic' is too long"},
        {"conflicts_list", "{" PID ",\"include_resolved\":\"yes\"}",
         "argument 'include_resolved' must be of type boolean"},
        {"kanban_move_story", "{" PID ",\"key\":\"1.2\",\"status\":\"Other\"}",
         "argument 'status' must be one of the documented values"},
        {"kanban_move_story", "{" PID ",\"key\":\"1.2\"}", "missing required argument 'status'"},
        {"story_get", "{" PID ",\"key\":null}", "argument 'key' must be of type string"},
    };
    char buf[200];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *why = check(cases[i].tool, cases[i].args, buf, sizeof(buf));
        assert_non_null(why);
        assert_string_equal(why, cases[i].why);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(names_and_aliases_find_the_same_tool),
        cmocka_unit_test(every_entry_is_whole_and_its_schemas_parse),
        cmocka_unit_test(arguments_that_fit_pass),
        cmocka_unit_test(each_misfit_is_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
