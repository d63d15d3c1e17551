/* SPDX-License-Identifier: MIT */
/* test_log.c: JSON-lines shape, level filtering, lazy argument evaluation. */
#include <stdio.h>

#include "unit.h"

#include "jc/log.h"

static int evaluated;

static const char *expensive(void)
{
    evaluated++;
    return "value";
}

static void json_line_shape(void **state)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    struct jc_log *log = jc_log_new("jive-test", JC_LOG_INFO, f);
    cJSON *fields = cJSON_CreateObject(), *line;

    (void)state;
    cJSON_AddStringToObject(fields, "project_id", "p1");
    cJSON_AddNumberToObject(fields, "attempt", 2);
    cJSON_AddStringToObject(fields, "msg", "must not override");
    JC_LOG(log, JC_LOG_WARN, "req-1", fields, "retrying \"%s\" in %d ms", "scan", 250);
    jc_log_free(log);
    fclose(f);
    assert_non_null(strchr(buf, '\n'));
    assert_ptr_equal(strchr(buf, '\n'), buf + len - 1); /* exactly one line */
    line = cJSON_Parse(buf);
    assert_non_null(line);
    assert_string_equal(cJSON_GetObjectItem(line, "level")->valuestring, "warn");
    assert_string_equal(cJSON_GetObjectItem(line, "svc")->valuestring, "jive-test");
    assert_string_equal(cJSON_GetObjectItem(line, "msg")->valuestring,
                        "retrying \"scan\" in 250 ms");
    assert_string_equal(cJSON_GetObjectItem(line, "request_id")->valuestring, "req-1");
    assert_string_equal(cJSON_GetObjectItem(line, "project_id")->valuestring, "p1");
    assert_int_equal(cJSON_GetObjectItem(line, "attempt")->valueint, 2);
    assert_int_equal(strlen(cJSON_GetObjectItem(line, "ts")->valuestring), 24);
    cJSON_Delete(line);
    cJSON_Delete(fields);
    free(buf);
}

static void levels_filter_before_formatting(void **state)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    struct jc_log *log = jc_log_new("s", JC_LOG_WARN, f);
    enum jc_log_level l;

    (void)state;
    evaluated = 0;
    jc_info(log, "dropped %s", expensive());
    jc_debug(log, "dropped %s", expensive());
    assert_int_equal(evaluated, 0);
    jc_error(log, "kept %s", expensive());
    assert_int_equal(evaluated, 1);
    jc_log_free(log);
    fclose(f);
    assert_non_null(strstr(buf, "\"kept value\""));
    assert_null(strstr(buf, "dropped"));
    free(buf);
    assert_int_equal(jc_log_level_parse("DEBUG", &l), JC_OK);
    assert_int_equal(l, JC_LOG_DEBUG);
    assert_int_equal(jc_log_level_parse("verbose", &l), JC_EINVAL);
    assert_false(jc_log_enabled(NULL, JC_LOG_ERROR));
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(json_line_shape),
                                       cmocka_unit_test(levels_filter_before_formatting)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
