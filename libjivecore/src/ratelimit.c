/* SPDX-License-Identifier: MIT */
/* ratelimit.c: the token bucket script and its reply. */
#include <stdio.h>
#include <stdlib.h>

#include "jc/clock.h"
#include "jc/ratelimit.h"

/* KEYS[1] bucket; ARGV: capacity, now (ms). Refill capacity tokens per 60 000 ms. Returns
 * {allowed, remaining, retry_after_ms, reset_ms}. */
static const char bucket_lua[] =
    "local cap = tonumber(ARGV[1])\n"
    "local now = tonumber(ARGV[2])\n"
    "local rate = cap / 60000\n"
    "local b = redis.call('HMGET', KEYS[1], 't', 'ts')\n"
    "local tokens = tonumber(b[1]) or cap\n"
    "local ts = tonumber(b[2]) or now\n"
    "if now > ts then tokens = math.min(cap, tokens + (now - ts) * rate) end\n"
    "local allowed = 0\n"
    "local retry = 0\n"
    "if tokens >= 1 then tokens = tokens - 1; allowed = 1\n"
    "else retry = math.ceil((1 - tokens) / rate) end\n"
    "redis.call('HSET', KEYS[1], 't', tostring(tokens), 'ts', tostring(now))\n"
    "redis.call('PEXPIRE', KEYS[1], 120000)\n"
    "return {allowed, math.floor(tokens), retry, math.ceil((cap - tokens) / rate)}\n";

struct take {
    jc_rate_cb *cb;
    void *ud;
    long limit;
};

static void replied(const redisReply *r, enum jc_err err, const char *msg, void *ud)
{
    struct take *t = ud;
    struct jc_rate rate = {true, false, t->limit, t->limit, 0, 0};

    (void)msg;
    if (err != JC_OK || r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 4) {
        rate.degraded = true; /* fail open */
    } else {
        rate.allowed = r->element[0]->integer == 1;
        rate.remaining = (long)r->element[1]->integer;
        rate.retry_after_ms = (long)r->element[2]->integer;
        rate.reset_ms = (long)r->element[3]->integer;
    }
    t->cb(&rate, t->ud);
    free(t);
}

void jc_ratelimit_init(struct jc_ratelimit *rl, struct jc_redis *redis)
{
    rl->redis = redis;
    jc_redis_script_init(&rl->bucket, bucket_lua);
}

enum jc_err jc_ratelimit_take(struct jc_ratelimit *rl, const char *key, long per_minute,
                              jc_rate_cb *cb, void *ud)
{
    struct take *t = malloc(sizeof(*t));
    char cap[32], now[32];
    const char *argv[3] = {key, cap, now};
    enum jc_err rc;

    if (t == NULL)
        return JC_ENOMEM;
    t->cb = cb;
    t->ud = ud;
    t->limit = per_minute;
    snprintf(cap, sizeof(cap), "%ld", per_minute);
    snprintf(now, sizeof(now), "%lld", jc_clock_ms());
    rc = jc_redis_eval(rl->redis, &rl->bucket, 1, 3, argv, replied, t);
    if (rc != JC_OK)
        free(t);
    return rc;
}
