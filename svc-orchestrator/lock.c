/* SPDX-License-Identifier: MIT */
/*
 * lock.c: the project workspace lock. One job at a time works in a project's git working copy
 * (a scan, a gate evaluation or a story move): it holds jive:lock:project:<id> with its job id
 * as the token for ORCH_LOCK_TTL_MS, and lets go only of a lock that still holds its token.
 */
#include <stdio.h>
#include <stdlib.h>

#include "jc/keys.h"
#include "orchestrator.h"

#define ORCH_LOCK_TTL_MS "600000" /* longer than a clone and a push together */

struct taking {
    orch_lock_cb *cb;
    void *ud;
};

void orch_lock_init(struct orch_ctx *ctx)
{
    jc_redis_script_init(&ctx->unlock, "if redis.call('GET', KEYS[1]) == ARGV[1] then "
                                       "return redis.call('DEL', KEYS[1]) end return 0");
}

static void taken(const redisReply *r, enum jc_err err, const char *msg, void *ud)
{
    struct taking t = *(struct taking *)ud;

    free(ud);
    if (err != JC_OK) {
        t.cb(false, err, msg, t.ud);
        return;
    }
    t.cb(r->type != REDIS_REPLY_NIL, JC_OK, NULL, t.ud);
}

enum jc_err orch_lock(struct jc_app *app, const char *project_id, const char *job_id,
                      orch_lock_cb *cb, void *ud)
{
    char key[JC_KEY_LEN];
    const char *argv[6] = {"SET", key, job_id, "NX", "PX", ORCH_LOCK_TTL_MS};
    struct taking *t = malloc(sizeof(*t));
    enum jc_err rc;

    if (t == NULL)
        return JC_ENOMEM;
    t->cb = cb;
    t->ud = ud;
    jc_key_project_lock(key, sizeof(key), project_id);
    rc = jc_redis_command(app->redis, 0, taken, t, 6, argv, NULL);
    if (rc != JC_OK)
        free(t);
    return rc;
}

void orch_unlock(struct jc_app *app, struct orch_ctx *ctx, const char *project_id,
                 const char *job_id)
{
    char key[JC_KEY_LEN];
    const char *argv[2] = {key, job_id};

    jc_key_project_lock(key, sizeof(key), project_id);
    if (jc_redis_eval(app->redis, &ctx->unlock, 1, 2, argv, NULL, NULL) != JC_OK)
        jc_debug(app->log, "lock %s not released; it expires", key);
}
