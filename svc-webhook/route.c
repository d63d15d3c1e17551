/* SPDX-License-Identifier: MIT */
/* route.c: which job a GitHub delivery becomes. */
#include <string.h>

#include "webhook.h"

/* GitHub puts at most 20 commits in a push payload; a full list can be truncated. */
#define GITHUB_PUSH_COMMIT_LIMIT 20

static const char *str(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool truthy(const cJSON *obj, const char *name)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(obj, name));
}

/* Removes path from array set (if present). */
static void set_remove(cJSON *set, const char *path)
{
    int i, n = cJSON_GetArraySize(set);

    for (i = 0; i < n; i++) {
        const cJSON *e = cJSON_GetArrayItem(set, i);
        if (cJSON_IsString(e) && strcmp(e->valuestring, path) == 0) {
            cJSON_DeleteItemFromArray(set, i);
            return;
        }
    }
}

static bool set_has(const cJSON *set, const char *path)
{
    const cJSON *e;

    cJSON_ArrayForEach(e, set)
    {
        if (cJSON_IsString(e) && strcmp(e->valuestring, path) == 0)
            return true;
    }
    return false;
}

static void set_add(cJSON *set, const char *path)
{
    if (!set_has(set, path))
        cJSON_AddItemToArray(set, cJSON_CreateString(path));
}

/*
 * Folds the commits in order into the net change of the push: a file added then modified is
 * added; modified then removed is removed; removed then added again is modified.
 */
static void fold_commits(const cJSON *commits, cJSON *added, cJSON *modified, cJSON *removed)
{
    const cJSON *c, *p;

    cJSON_ArrayForEach(c, commits)
    {
        cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(c, "added"))
        {
            if (!cJSON_IsString(p))
                continue;
            if (set_has(removed, p->valuestring)) {
                set_remove(removed, p->valuestring);
                set_add(modified, p->valuestring);
            } else {
                set_add(added, p->valuestring);
            }
        }
        cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(c, "modified"))
        {
            if (cJSON_IsString(p) && !set_has(added, p->valuestring))
                set_add(modified, p->valuestring);
        }
        cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(c, "removed"))
        {
            if (!cJSON_IsString(p))
                continue;
            if (set_has(added, p->valuestring)) {
                set_remove(added, p->valuestring); /* created and deleted within the push */
                continue;
            }
            set_remove(modified, p->valuestring);
            set_add(removed, p->valuestring);
        }
    }
}

static void route_push(const cJSON *payload, const char *tracked, struct wh_route *r)
{
    const char *ref = str(payload, "ref");
    const cJSON *commits = cJSON_GetObjectItemCaseSensitive(payload, "commits");
    cJSON *job;
    bool full;

    if (ref == NULL || strncmp(ref, "refs/heads/", 11) != 0 || strcmp(ref + 11, tracked) != 0) {
        r->reason = "push to a branch that is not tracked";
        return;
    }
    if (truthy(payload, "deleted")) {
        r->reason = "the tracked branch was deleted";
        return;
    }
    full = truthy(payload, "forced") || truthy(payload, "created") || !cJSON_IsArray(commits) ||
           cJSON_GetArraySize(commits) >= GITHUB_PUSH_COMMIT_LIMIT;
    job = cJSON_CreateObject();
    cJSON_AddStringToObject(job, "ref", ref);
    cJSON_AddStringToObject(job, "branch", ref + 11);
    cJSON_AddStringToObject(job, "before", str(payload, "before") ? str(payload, "before") : "");
    cJSON_AddStringToObject(job, "after", str(payload, "after") ? str(payload, "after") : "");
    cJSON *added = cJSON_AddArrayToObject(job, "added");
    cJSON *modified = cJSON_AddArrayToObject(job, "modified");
    cJSON *removed = cJSON_AddArrayToObject(job, "removed");
    fold_commits(commits, added, modified, removed);
    cJSON_AddBoolToObject(job, "full", full);
    r->has_job = true;
    r->queue = JC_Q_ARTIFACT_SCAN;
    r->payload = job;
}

static void route_pull_request(const cJSON *payload, struct wh_route *r)
{
    const cJSON *pr = cJSON_GetObjectItemCaseSensitive(payload, "pull_request");
    const cJSON *head = cJSON_GetObjectItemCaseSensitive(pr, "head");
    const cJSON *base = cJSON_GetObjectItemCaseSensitive(pr, "base");
    const cJSON *number = cJSON_GetObjectItemCaseSensitive(payload, "number");
    cJSON *job = cJSON_CreateObject();

    cJSON_AddStringToObject(job, "action", str(payload, "action") ? str(payload, "action") : "");
    if (cJSON_IsNumber(number))
        cJSON_AddNumberToObject(job, "number", number->valuedouble);
    if (str(head, "sha") != NULL)
        cJSON_AddStringToObject(job, "head_sha", str(head, "sha"));
    if (str(head, "ref") != NULL)
        cJSON_AddStringToObject(job, "head_ref", str(head, "ref"));
    if (str(base, "ref") != NULL)
        cJSON_AddStringToObject(job, "base_ref", str(base, "ref"));
    cJSON_AddBoolToObject(job, "merged", truthy(pr, "merged"));
    r->has_job = true;
    r->queue = JC_Q_CONFLICT_DETECTION;
    r->payload = job;
}

static void route_run(const char *event, const cJSON *payload, struct wh_route *r)
{
    const cJSON *run = cJSON_GetObjectItemCaseSensitive(payload, event);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(run, "id");
    cJSON *job = cJSON_CreateObject();

    /* The handler reads the whole run from the stored event; the job names what to sync. */
    cJSON_AddStringToObject(job, "event", event);
    cJSON_AddStringToObject(job, "action", str(payload, "action") ? str(payload, "action") : "");
    if (cJSON_IsNumber(id))
        cJSON_AddNumberToObject(job, "run_id", id->valuedouble);
    /* present even when GitHub sends null (a run not finished yet) */
    if (str(run, "status") != NULL)
        cJSON_AddStringToObject(job, "status", str(run, "status"));
    else
        cJSON_AddNullToObject(job, "status");
    if (str(run, "conclusion") != NULL)
        cJSON_AddStringToObject(job, "conclusion", str(run, "conclusion"));
    else
        cJSON_AddNullToObject(job, "conclusion");
    if (str(run, "head_sha") != NULL)
        cJSON_AddStringToObject(job, "head_sha", str(run, "head_sha"));
    r->has_job = true;
    r->queue = JC_Q_RUN_SYNC;
    r->payload = job;
}

const char *wh_event_label(const char *event)
{
    static const char *const known[] = {"branch_protection_rule",
                                        "check_run",
                                        "check_suite",
                                        "code_scanning_alert",
                                        "commit_comment",
                                        "create",
                                        "delete",
                                        "dependabot_alert",
                                        "deploy_key",
                                        "deployment",
                                        "deployment_status",
                                        "discussion",
                                        "discussion_comment",
                                        "fork",
                                        "gollum",
                                        "installation",
                                        "installation_repositories",
                                        "issue_comment",
                                        "issues",
                                        "label",
                                        "member",
                                        "merge_group",
                                        "meta",
                                        "milestone",
                                        "package",
                                        "page_build",
                                        "ping",
                                        "project",
                                        "public",
                                        "pull_request",
                                        "pull_request_review",
                                        "pull_request_review_comment",
                                        "pull_request_review_thread",
                                        "push",
                                        "registry_package",
                                        "release",
                                        "repository",
                                        "repository_dispatch",
                                        "secret_scanning_alert",
                                        "security_advisory",
                                        "star",
                                        "status",
                                        "team_add",
                                        "watch",
                                        "workflow_dispatch",
                                        "workflow_job",
                                        "workflow_run"};
    size_t i;

    if (event == NULL || event[0] == '\0')
        return "unknown";
    for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(event, known[i]) == 0)
            return known[i];
    return "other";
}

void wh_route_event(const char *event, const cJSON *payload, const char *tracked_branch,
                    struct wh_route *r)
{
    memset(r, 0, sizeof(*r));
    if (strcmp(event, "push") == 0)
        route_push(payload, tracked_branch, r);
    else if (strcmp(event, "pull_request") == 0)
        route_pull_request(payload, r);
    else if (strcmp(event, "workflow_run") == 0 || strcmp(event, "check_run") == 0 ||
             strcmp(event, "check_suite") == 0)
        route_run(event, payload, r);
    else
        r->reason = "event not routed";
}
