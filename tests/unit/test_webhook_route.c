/* SPDX-License-Identifier: MIT */
/* test_webhook_route.c: which job a verified GitHub delivery becomes, and the metrics label of
 * its event, without a server. */
#include <stdio.h>

#include "unit.h"

#include "webhook.h"

static struct wh_route route(const char *event, const char *payload_json, const char *branch)
{
    cJSON *payload = cJSON_Parse(payload_json);
    struct wh_route r;

    assert_non_null(payload);
    wh_route_event(event, payload, branch, &r);
    cJSON_Delete(payload);
    return r;
}

static void expect_list(const cJSON *job, const char *name, const char *want_json)
{
    cJSON *want = cJSON_Parse(want_json);

    assert_true(cJSON_Compare(cJSON_GetObjectItem(job, name), want, true));
    cJSON_Delete(want);
}

static void a_push_to_the_tracked_branch_is_a_scan_of_its_net_change(void **state)
{
    /* a.md added then modified: added; b.md modified then removed: removed; c.md removed then
     * added again: modified; d.md created and deleted within the push: nothing */
    struct wh_route r = route("push",
                              "{\"ref\":\"refs/heads/main\",\"before\":\"b1\",\"after\":\"a2\","
                              "\"commits\":["
                              "{\"added\":[\"a.md\",\"d.md\"],\"modified\":[\"b.md\"],"
                              "\"removed\":[\"c.md\"]},"
                              "{\"added\":[\"c.md\"],\"modified\":[\"a.md\"],"
                              "\"removed\":[\"b.md\",\"d.md\"]}]}",
                              "main");

    (void)state;
    assert_true(r.has_job);
    assert_int_equal(r.queue, JC_Q_ARTIFACT_SCAN);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(r.payload, "before")), "b1");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(r.payload, "after")), "a2");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(r.payload, "branch")), "main");
    expect_list(r.payload, "added", "[\"a.md\"]");
    expect_list(r.payload, "modified", "[\"c.md\"]");
    expect_list(r.payload, "removed", "[\"b.md\"]");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(r.payload, "full")));
    cJSON_Delete(r.payload);
}

static void a_push_whose_list_may_be_incomplete_is_a_full_scan(void **state)
{
    char commits[4096] = "[";
    char payload[5000];
    struct wh_route r;
    size_t len = 1;
    int i;

    (void)state;
    r = route("push", "{\"ref\":\"refs/heads/main\",\"forced\":true,\"commits\":[]}", "main");
    assert_true(r.has_job && cJSON_IsTrue(cJSON_GetObjectItem(r.payload, "full")));
    cJSON_Delete(r.payload);
    r = route("push", "{\"ref\":\"refs/heads/main\",\"created\":true,\"commits\":[]}", "main");
    assert_true(r.has_job && cJSON_IsTrue(cJSON_GetObjectItem(r.payload, "full")));
    cJSON_Delete(r.payload);
    r = route("push", "{\"ref\":\"refs/heads/main\"}", "main"); /* no commit list */
    assert_true(r.has_job && cJSON_IsTrue(cJSON_GetObjectItem(r.payload, "full")));
    cJSON_Delete(r.payload);
    for (i = 0; i < 20; i++) /* GitHub cuts the list at 20 */
        len += (size_t)snprintf(commits + len, sizeof(commits) - len, "%s{}", i == 0 ? "" : ",");
    snprintf(commits + len, sizeof(commits) - len, "]");
    snprintf(payload, sizeof(payload), "{\"ref\":\"refs/heads/main\",\"commits\":%s}", commits);
    r = route("push", payload, "main");
    assert_true(r.has_job && cJSON_IsTrue(cJSON_GetObjectItem(r.payload, "full")));
    cJSON_Delete(r.payload);
}

static void pushes_elsewhere_make_no_job_and_say_why(void **state)
{
    struct wh_route r;

    (void)state;
    r = route("push", "{\"ref\":\"refs/heads/feature\",\"commits\":[]}", "main");
    assert_false(r.has_job);
    assert_null(r.payload);
    assert_string_equal(r.reason, "push to a branch that is not tracked");
    r = route("push", "{\"ref\":\"refs/tags/main\",\"commits\":[]}", "main");
    assert_false(r.has_job);
    r = route("push", "{\"ref\":\"refs/heads/main\",\"deleted\":true}", "main");
    assert_false(r.has_job);
    assert_string_equal(r.reason, "the tracked branch was deleted");
    r = route("issues", "{\"action\":\"opened\"}", "main");
    assert_false(r.has_job);
    assert_string_equal(r.reason, "event not routed");
}

static void pull_requests_and_ci_runs_go_to_their_queues(void **state)
{
    struct wh_route r;

    (void)state;
    r = route("pull_request",
              "{\"action\":\"closed\",\"number\":7,\"pull_request\":{\"merged\":true,"
              "\"head\":{\"sha\":\"h1\",\"ref\":\"f\"},\"base\":{\"ref\":\"main\"}}}",
              "main");
    assert_true(r.has_job);
    assert_int_equal(r.queue, JC_Q_CONFLICT_DETECTION);
    assert_int_equal(cJSON_GetObjectItem(r.payload, "number")->valueint, 7);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r.payload, "merged")));
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(r.payload, "base_ref")), "main");
    cJSON_Delete(r.payload);
    r = route("workflow_run",
              "{\"action\":\"in_progress\",\"workflow_run\":{\"id\":42,\"status\":"
              "\"in_progress\",\"conclusion\":null,\"head_sha\":\"h2\"}}",
              "main");
    assert_true(r.has_job);
    assert_int_equal(r.queue, JC_Q_RUN_SYNC);
    assert_int_equal(cJSON_GetObjectItem(r.payload, "run_id")->valueint, 42);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(r.payload, "conclusion"))); /* kept, as null */
    cJSON_Delete(r.payload);
    r = route("check_suite", "{\"action\":\"completed\",\"check_suite\":{\"id\":5}}", "main");
    assert_true(r.has_job && r.queue == JC_Q_RUN_SYNC);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(r.payload, "event")),
                        "check_suite");
    cJSON_Delete(r.payload);
}

static void event_labels_come_from_a_fixed_set(void **state)
{
    (void)state;
    assert_string_equal(wh_event_label("push"), "push");
    assert_string_equal(wh_event_label("workflow_run"), "workflow_run");
    assert_string_equal(wh_event_label("Push"), "other");
    assert_string_equal(wh_event_label("x\"} 1\nevil{a=\"b"), "other");
    assert_string_equal(wh_event_label(""), "unknown");
    assert_string_equal(wh_event_label(NULL), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_push_to_the_tracked_branch_is_a_scan_of_its_net_change),
        cmocka_unit_test(a_push_whose_list_may_be_incomplete_is_a_full_scan),
        cmocka_unit_test(pushes_elsewhere_make_no_job_and_say_why),
        cmocka_unit_test(pull_requests_and_ci_runs_go_to_their_queues),
        cmocka_unit_test(event_labels_come_from_a_fixed_set),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
