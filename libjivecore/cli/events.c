/* SPDX-License-Identifier: MIT */
/* events.c: `jivectl events`: XRANGE / XREVRANGE for what is kept, XREAD BLOCK to follow. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "jc/keys.h"
#include "jc/queue.h"

/* One stream entry [id, [field, value, ...]] printed as the channel shows it; its id in last. */
static bool print_entry(const redisReply *e, FILE *out, char *last, size_t lastlen)
{
    const redisReply *id, *fields;
    size_t i;

    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2)
        return false;
    id = e->element[0];
    fields = e->element[1];
    if (id->type != REDIS_REPLY_STRING || fields->type != REDIS_REPLY_ARRAY)
        return false;
    snprintf(last, lastlen, "%s", id->str);
    for (i = 0; i + 1 < fields->elements; i += 2) {
        const redisReply *k = fields->element[i], *v = fields->element[i + 1];
        char *ev;
        if (k->type != REDIS_REPLY_STRING || strcmp(k->str, "e") != 0 ||
            v->type != REDIS_REPLY_STRING ||
            (ev = jc_events_with_id(id->str, v->str, v->len)) == NULL)
            continue;
        fprintf(out, "%s\n", ev);
        free(ev);
    }
    fflush(out);
    return true;
}

static int redis_failed(const redisContext *c, redisReply *r)
{
    fprintf(stderr, "jivectl: events: %s\n",
            r != NULL && r->type == REDIS_REPLY_ERROR ? r->str
            : c->err != 0                             ? c->errstr
                                                      : "unexpected reply from Redis");
    freeReplyObject(r);
    return 1;
}

int jivectl_events(redisContext *c, const char *project_id, const char *from, bool follow,
                   FILE *out)
{
    char key[JC_KEY_LEN], last[64] = "$";
    redisReply *r;
    size_t i;

    jc_key_events(key, sizeof(key), project_id);
    if (from == NULL) { /* the last ten, oldest first */
        r = redisCommand(c, "XREVRANGE %s + - COUNT 10", key);
        if (r == NULL || r->type != REDIS_REPLY_ARRAY)
            return redis_failed(c, r);
        for (i = r->elements; i > 0; i--) {
            char id[64];
            if (print_entry(r->element[i - 1], out, id, sizeof(id)) && i == 1)
                snprintf(last, sizeof(last), "%s", id);
        }
        freeReplyObject(r);
    } else { /* everything after from, a page at a time */
        snprintf(last, sizeof(last), "%s", strcmp(from, "0") == 0 ? "0-0" : from);
        for (;;) {
            size_t n;
            r = redisCommand(c, "XRANGE %s (%s + COUNT 500", key, last);
            if (r == NULL || r->type != REDIS_REPLY_ARRAY)
                return redis_failed(c, r);
            n = r->elements;
            for (i = 0; i < n; i++)
                print_entry(r->element[i], out, last, sizeof(last));
            freeReplyObject(r);
            if (n < 500)
                break;
        }
    }
    while (follow) {
        r = redisCommand(c, "XREAD COUNT 100 BLOCK 0 STREAMS %s %s", key, last);
        if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 1 ||
            r->element[0]->type != REDIS_REPLY_ARRAY || r->element[0]->elements != 2)
            return redis_failed(c, r);
        for (i = 0; i < r->element[0]->element[1]->elements; i++)
            print_entry(r->element[0]->element[1]->element[i], out, last, sizeof(last));
        freeReplyObject(r);
    }
    return 0;
}
