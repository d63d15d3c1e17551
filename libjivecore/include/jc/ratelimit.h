/* SPDX-License-Identifier: MIT */
/*
 * jc/ratelimit.h: token buckets in Redis, one atomic Lua script per check (jive:rl:<actor> or
 * jive:rl:<actor>:<tool>). Fails open: when Redis does not answer the call is allowed, and the
 * caller is told so it can log and count it.
 */
#ifndef JC_RATELIMIT_H
#define JC_RATELIMIT_H

#include <stdbool.h>

#include "jc/redis.h"

struct jc_ratelimit {
    struct jc_redis *redis;        /* borrowed */
    struct jc_redis_script bucket; /* initialised by jc_ratelimit_init */
};

struct jc_rate {
    bool allowed;
    bool degraded;       /* Redis unavailable: allowed without a check */
    long limit;          /* bucket capacity (per minute) */
    long remaining;      /* whole tokens left after this call */
    long retry_after_ms; /* when refused: until one token is back */
    long reset_ms;       /* until the bucket is full again */
};

typedef void jc_rate_cb(const struct jc_rate *rate, void *ud);

void jc_ratelimit_init(struct jc_ratelimit *rl, struct jc_redis *redis);

/*
 * Takes one token from key's bucket of per_minute tokens (refilled continuously). Returns JC_OK
 * when cb will run: exactly once, never inside this call, with degraded set when Redis did not
 * answer. Otherwise (out of memory, the command refused) an error, and cb is not called: the
 * caller decides, as for a degraded answer.
 */
enum jc_err jc_ratelimit_take(struct jc_ratelimit *rl, const char *key, long per_minute,
                              jc_rate_cb *cb, void *ud) JC_MUSTCHECK;

#endif
