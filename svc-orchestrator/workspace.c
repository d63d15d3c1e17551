/* SPDX-License-Identifier: MIT */
/*
 * workspace.c: git for the orchestrator. Every git command is a child process (jc_proc) with an
 * argument vector, a timeout and no way to prompt; each project has one working copy under
 * JIVE_WORKSPACE_DIR, cloned on first use and fetched on each job.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "jc/repo.h"
#include "orchestrator.h"

enum jc_err orch_git(struct jc_app *app, const char *const *argv, const char *const *extra_env,
                     const char *input, size_t len, long timeout_ms, size_t max_out, jc_proc_cb *cb,
                     void *ud)
{
    static const char *const base_env[] = {"GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=/bin/false",
                                           "SSH_ASKPASS=/bin/false", "LC_ALL=C",
                                           "GIT_CONFIG_NOSYSTEM=1"};
    const char *env[16];
    size_t n = 0, i;
    struct jc_proc_opts o = {argv, env, NULL, input, len, timeout_ms, max_out};

    for (i = 0; extra_env != NULL && extra_env[i] != NULL && n < 10; i++)
        env[n++] = extra_env[i]; /* earlier entries win */
    for (i = 0; i < sizeof(base_env) / sizeof(base_env[0]); i++)
        env[n++] = base_env[i];
    env[n] = NULL;
    return jc_proc_run(app->base, &o, cb, ud);
}

const char *orch_git_error(const struct jc_proc_result *r, char *buf, size_t len)
{
    if (r->timed_out)
        return "git timed out";
    snprintf(buf, len, "%.*s", (int)strcspn(r->err, "\n"), r->err);
    return buf[0] != '\0' ? buf : "git failed";
}

enum jc_err orch_workspace_sync(struct jc_app *app, const char *dir, const char *url, bool *cloned,
                                jc_proc_cb *cb, void *ud, char *err, size_t errlen)
{
    char probe[PATH_MAX + 8];

    /* the origin is checked on every use: a project whose URL is no longer allowed (or was
     * written past jivectl) is neither cloned nor fetched */
    if (jc_repo_url_check(&app->cfg, url, err, errlen) != JC_OK)
        return JC_EINVAL;
    snprintf(probe, sizeof(probe), "%s/.git", dir);
    /* one stat: a fast syscall on local disk, not file work worth a thread */
    *cloned = access(probe, F_OK) != 0;
    if (!*cloned) {
        /* from the project's URL as it is now, not the remote the clone was made from */
        const char *a[] = {
            "git",     "-C",        dir,  "fetch", "--quiet",
            "--prune", "--no-tags", "--", url,     "+refs/heads/*:refs/remotes/origin/*",
            NULL};
        return orch_git(app, a, NULL, NULL, 0, ORCH_GIT_TIMEOUT_MS, 1u << 20, cb, ud);
    }
    {
        const char *a[] = {"git", "clone", "--quiet", "--no-tags", "--", url, dir, NULL};
        return orch_git(app, a, NULL, NULL, 0, ORCH_GIT_CLONE_TIMEOUT_MS, 1u << 20, cb, ud);
    }
}
