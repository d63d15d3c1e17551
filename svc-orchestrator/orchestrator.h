/* SPDX-License-Identifier: MIT */
/* orchestrator.h: jive-orchestrator's job handlers. */
#ifndef ORCH_ORCHESTRATOR_H
#define ORCH_ORCHESTRATOR_H

#include "jc/proc.h"
#include "jc/worker.h"

#define ORCH_GIT_CLONE_TIMEOUT_MS 300000
#define ORCH_GIT_TIMEOUT_MS 120000

/* Conflict detections waiting to load their projects' state: the ones that arrive while
 * ORCH_LOADS_OUT load statements are out share the next one, ORCH_LOADS_MAX projects at most
 * (a bound on the memory a burst over big projects holds at once), conflicts.c. */
#define ORCH_LOADS_MAX 64
#define ORCH_LOADS_OUT 2
struct detect;
struct orch_loads {
    struct jc_app *app;
    struct detect *head, *tail;
    int out; /* load statements out */
};

/* What the handlers share, owned by main.c and handed to them as their user data. */
struct orch_ctx {
    struct jc_redis_script unlock; /* delete a lock key only if it still holds our token */
    struct jc_redis_script llens;  /* the queue depths for the heartbeat line */
    struct orch_loads loads;       /* conflict detections waiting for their load */
};

/* ---- lock.c: the project workspace lock ---- */

/* Prepares ctx->unlock. */
void orch_lock_init(struct orch_ctx *ctx);

/* Called once: held true when the lock is now job_id's, false when another job holds it (err
 * JC_OK), or err and msg when Redis failed. */
typedef void orch_lock_cb(bool held, enum jc_err err, const char *msg, void *ud);

/* Takes project_id's workspace lock for job_id. cb is not called when this fails to submit. */
enum jc_err orch_lock(struct jc_app *app, const char *project_id, const char *job_id,
                      orch_lock_cb *cb, void *ud) JC_MUSTCHECK;

/* Releases project_id's lock when it still holds job_id (ctx->unlock): a lock that expired and
 * was taken over is not ours to drop. Fire and forget; a lock left behind expires. */
void orch_unlock(struct jc_app *app, struct orch_ctx *ctx, const char *project_id,
                 const char *job_id);

/* run-sync: upserts the CI run of a workflow_run/check_run/check_suite event into runs. */
void orch_run_sync(struct jc_job_run *run, void *ud);

/* artifact-scan: reads the BMAD files at the pushed commit into artifacts and gates, then
 * detects conflicts. gate-evaluation: the same restricted to QA gate files. */
void orch_artifact_scan(struct jc_job_run *run, void *ud);
void orch_gate_evaluation(struct jc_job_run *run, void *ud);

/* story-move: sets a story's status in git (commit + push) and in artifacts. */
void orch_story_move(struct jc_job_run *run, void *ud);

/* True when p may be a story-move's path: relative, no "..", "//" or backslash, under 1000
 * bytes, and a story file by the BMAD layout rules (jc_bmad_classify). */
bool orch_story_path_safe(const char *p);

/* Runs git with argv (argv[0] "git"), the non-interactive environment plus extra_env
 * (NAME=value, may be NULL), optional stdin; cb as jc_proc_run. */
enum jc_err orch_git(struct jc_app *app, const char *const *argv, const char *const *extra_env,
                     const char *input, size_t len, long timeout_ms, size_t max_out, jc_proc_cb *cb,
                     void *ud) JC_MUSTCHECK;

/* The first line of git's stderr (or "git timed out") in buf. */
const char *orch_git_error(const struct jc_proc_result *r, char *buf, size_t len);

/* Clones url into dir when dir has no clone yet (*cloned = true), else fetches origin. url is
 * checked first (jc_repo_url_check): JC_EINVAL with the reason in err, and nothing runs. */
enum jc_err orch_workspace_sync(struct jc_app *app, const char *dir, const char *url, bool *cloned,
                                jc_proc_cb *cb, void *ud, char *err, size_t errlen) JC_MUSTCHECK;

/* conflict-detection: recomputes the project's conflicts. */
void orch_conflict_detection(struct jc_job_run *run, void *ud);

/* Called once with the outcome of a conflict detection; err JC_OK or the failure. */
typedef void orch_conflicts_cb(enum jc_err err, const char *msg, int opened, int resolved,
                               void *ud);

/* Readies loads (no load out, nothing waiting). */
void orch_loads_init(struct orch_loads *loads, struct jc_app *app);

/* Recomputes the conflicts of a project from the database and applies the difference,
 * publishing conflict.opened / conflict.resolved (job_id may be NULL). The project's state is
 * read by one statement for the detections that waited while the previous ones were out (so a
 * burst costs a statement per batch, not per project; each gets its own row); the difference
 * is applied per project, only when there is one. JC_OK: cb runs exactly once, later;
 * JC_EINVAL: project_id is not a UUID; otherwise the detection did not start either, and cb
 * is not called. */
enum jc_err orch_detect_conflicts(struct orch_loads *loads, const char *project_id,
                                  const char *org_id, const char *job_id, orch_conflicts_cb *cb,
                                  void *ud) JC_MUSTCHECK;

/* service.c: the service's start (jc_app_main's setup): its state, routes and shutdown. */
enum jc_err orch_setup(struct jc_app *app, char *err, size_t errlen) JC_MUSTCHECK;

/* retention.c: the scheduled pruning of succeeded jobs (JIVE_JOB_RETENTION_DAYS, every
 * JIVE_RETENTION_INTERVAL_MS; jc/retention.h). NULL when out of memory. A query in flight at
 * free time is answered with JC_ECLOSED by the pool, which the pool frees first (jc_app). */
struct orch_retention;
struct orch_retention *orch_retention_new(struct jc_app *app);
void orch_retention_free(struct orch_retention *r);

#endif
