/* SPDX-License-Identifier: MIT */
/* redis.c: hiredis async client with timeouts, reconnect, scripts and subscriptions. */
#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>
#include <hiredis/adapters/libevent.h>
#include <openssl/sha.h>

#include "jc/crypto.h"
#include "jc/dns.h"
#include "jc/redis.h"

struct rcmd {
    struct jc_redis *r;
    jc_redis_cb *cb;
    void *ud;
    struct event *timer;
    bool done;      /* the user callback has run (timeout or early failure) */
    bool in_flight; /* hiredis holds a callback for it */
    enum jc_err now_err;
    const char *now_msg;
    /* for the NOSCRIPT fallback */
    const struct jc_redis_script *script;
    int argc;
    char **argv;
    size_t *argvlen;
    long timeout_ms;
    struct rcmd *prev, *next;
};

struct sub {
    char *channel;
    jc_redis_msg_cb *cb;
    void *ud;
    struct sub *next;
};

struct jc_redis {
    struct event_base *base;
    struct jc_log *log;
    char *host;
    int port;
    char *password;
    int db;
    long timeout_ms;
    bool subscriber;
    struct evdns_base *dns;
    struct jc_dns_req *dnsreq;
    redisAsyncContext *ac;
    bool ready;
    bool was_ready;
    char unavailable[320]; /* "redis unavailable: <last connection error>" */
    bool closing;
    int attempts;
    struct event *retry;
    struct rcmd *cmds; /* every command not yet freed */
    struct sub *subs;
};

static void connect_start(struct jc_redis *r);

static void tv_ms(struct timeval *tv, long ms)
{
    tv->tv_sec = ms / 1000;
    tv->tv_usec = (ms % 1000) * 1000;
}

void jc_redis_script_init(struct jc_redis_script *script, const char *source)
{
    unsigned char md[SHA_DIGEST_LENGTH];

    script->source = source;
    SHA1((const unsigned char *)source, strlen(source), md);
    jc_crypto_hex(md, sizeof(md), script->sha);
}

bool jc_redis_healthy(const struct jc_redis *r)
{
    return r != NULL && r->ready;
}

/* ---- command bookkeeping ---- */

/* Frees an unlinked command record. */
static void cmd_destroy(struct rcmd *c)
{
    int i;

    if (c->timer != NULL)
        event_free(c->timer);
    for (i = 0; c->argv != NULL && i < c->argc; i++)
        free(c->argv[i]);
    free(c->argv);
    free(c->argvlen);
    free(c);
}

/* Unlinks c from r (its owner) and frees it. */
static void cmd_free(struct jc_redis *r, struct rcmd *c)
{
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        r->cmds = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    cmd_destroy(c);
}

/* Runs the user callback once; the record lives on while hiredis still holds it. */
static void cmd_complete(struct rcmd *c, const redisReply *reply, enum jc_err err, const char *msg)
{
    if (c->done)
        return;
    c->done = true;
    event_del(c->timer);
    if (c->cb != NULL)
        c->cb(reply, err, msg != NULL ? msg : (err == JC_OK ? "" : jc_strerror(err)), c->ud);
}

static void force_reconnect(struct jc_redis *r, const char *why);

static void cmd_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct rcmd *c = arg;
    struct jc_redis *r = c->r;

    (void)fd;
    (void)what;
    if (!c->in_flight) {
        /* a deferred early completion */
        cmd_complete(c, NULL, c->now_err, c->now_msg);
        cmd_free(c->r, c);
        return;
    }
    cmd_complete(c, NULL, JC_ETIMEOUT, "redis command timed out");
    /* A command that does not answer means the connection cannot be trusted. */
    force_reconnect(r, "command timed out");
}

static int send_cmd(struct jc_redis *r, struct rcmd *c);

static void reply_cb(redisAsyncContext *ac, void *reply_, void *priv)
{
    struct rcmd *c = priv;
    const redisReply *reply = reply_;

    (void)ac;
    c->in_flight = false;
    if (c->done) {
        cmd_free(c->r, c);
        return;
    }
    if (reply == NULL) {
        cmd_complete(c, NULL, c->r->closing ? JC_ECLOSED : JC_EREDIS,
                     c->r->closing ? "redis client closed" : "redis connection lost");
    } else if (reply->type == REDIS_REPLY_ERROR) {
        if (c->script != NULL && strncmp(reply->str, "NOSCRIPT", 8) == 0) {
            /* Load by sending the source once; argv[0] becomes EVAL, argv[1] the source. */
            free(c->argv[0]);
            free(c->argv[1]);
            c->argv[0] = strdup("EVAL");
            c->argv[1] = strdup(c->script->source);
            c->script = NULL;
            if (c->argv[0] != NULL && c->argv[1] != NULL) {
                c->argvlen[0] = 4;
                c->argvlen[1] = strlen(c->argv[1]);
                if (send_cmd(c->r, c) == 0)
                    return;
            }
            cmd_complete(c, NULL, JC_EREDIS, "could not load the script");
        } else {
            cmd_complete(c, reply, JC_EREDIS, reply->str);
        }
    } else {
        cmd_complete(c, reply, JC_OK, NULL);
    }
    cmd_free(c->r, c);
}

static int send_cmd(struct jc_redis *r, struct rcmd *c)
{
    if (r->ac == NULL || !r->ready)
        return -1;
    if (redisAsyncCommandArgv(r->ac, reply_cb, c, c->argc, (const char **)c->argv, c->argvlen) !=
        REDIS_OK)
        return -1;
    c->in_flight = true;
    return 0;
}

static struct rcmd *cmd_new(struct jc_redis *r, long timeout_ms, jc_redis_cb *cb, void *ud,
                            int argc, const char *const *argv, const size_t *argvlen)
{
    struct rcmd *c = calloc(1, sizeof(*c));
    int i;

    if (c == NULL)
        return NULL;
    c->r = r;
    c->cb = cb;
    c->ud = ud;
    c->timeout_ms = timeout_ms > 0 ? timeout_ms : r->timeout_ms;
    c->next = r->cmds;
    if (r->cmds != NULL)
        r->cmds->prev = c;
    r->cmds = c;
    c->timer = evtimer_new(r->base, cmd_timer_cb, c);
    c->argv = calloc((size_t)argc, sizeof(char *));
    c->argvlen = calloc((size_t)argc, sizeof(size_t));
    if (c->timer == NULL || c->argv == NULL || c->argvlen == NULL)
        goto fail;
    c->argc = argc;
    for (i = 0; i < argc; i++) {
        size_t len = argvlen != NULL ? argvlen[i] : strlen(argv[i]);
        c->argv[i] = malloc(len + 1);
        if (c->argv[i] == NULL)
            goto fail;
        memcpy(c->argv[i], argv[i], len);
        c->argv[i][len] = '\0';
        c->argvlen[i] = len;
    }
    return c;
fail:
    cmd_free(c->r, c);
    return NULL;
}

/* Sends c, or schedules its failure for the next loop turn. */
static void cmd_dispatch(struct jc_redis *r, struct rcmd *c)
{
    struct timeval tv;

    if (send_cmd(r, c) == 0) {
        tv_ms(&tv, c->timeout_ms);
        evtimer_add(c->timer, &tv);
        return;
    }
    c->now_err = JC_EREDIS;
    c->now_msg = r->unavailable;
    tv_ms(&tv, 0);
    evtimer_add(c->timer, &tv);
}

enum jc_err jc_redis_command(struct jc_redis *r, long timeout_ms, jc_redis_cb *cb, void *ud,
                             int argc, const char *const *argv, const size_t *argvlen)
{
    struct rcmd *c;

    if (r == NULL || argc < 1 || argv == NULL || r->subscriber)
        return JC_EINVAL;
    if (r->closing)
        return JC_ECLOSED;
    c = cmd_new(r, timeout_ms, cb, ud, argc, argv, argvlen);
    if (c == NULL)
        return JC_ENOMEM;
    cmd_dispatch(r, c);
    return JC_OK;
}

enum jc_err jc_redis_eval(struct jc_redis *r, const struct jc_redis_script *script, int nkeys,
                          int argc, const char *const *argv, jc_redis_cb *cb, void *ud)
{
    return jc_redis_eval_timeout(r, 0, script, nkeys, argc, argv, cb, ud);
}

enum jc_err jc_redis_eval_timeout(struct jc_redis *r, long timeout_ms,
                                  const struct jc_redis_script *script, int nkeys, int argc,
                                  const char *const *argv, jc_redis_cb *cb, void *ud)
{
    const char **all = NULL;
    char nk[16];
    struct rcmd *c;
    int i;

    if (r == NULL || script == NULL || nkeys < 0 || argc < nkeys || r->subscriber)
        return JC_EINVAL;
    all = calloc((size_t)argc + 3, sizeof(char *));
    if (all == NULL)
        return JC_ENOMEM;
    snprintf(nk, sizeof(nk), "%d", nkeys);
    all[0] = "EVALSHA";
    all[1] = script->sha;
    all[2] = nk;
    for (i = 0; i < argc; i++)
        all[i + 3] = argv[i];
    c = cmd_new(r, timeout_ms, cb, ud, argc + 3, all, NULL);
    free(all);
    if (c == NULL)
        return JC_ENOMEM;
    c->script = script;
    cmd_dispatch(r, c);
    return JC_OK;
}

/* ---- subscriptions ---- */

static bool is_pattern(const char *channel)
{
    return strpbrk(channel, "*?[") != NULL;
}

static void sub_cb(redisAsyncContext *ac, void *reply_, void *priv)
{
    struct sub *s = priv;
    const redisReply *reply = reply_;
    const redisReply *kind, *chan, *payload;

    (void)ac;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3)
        return;
    kind = reply->element[0];
    if (kind->type != REDIS_REPLY_STRING)
        return;
    if (strcmp(kind->str, "subscribe") == 0 || strcmp(kind->str, "psubscribe") == 0) {
        /* (re)subscribed: whatever was published while we were not is lost */
        s->cb(s->channel, NULL, 0, s->ud);
        return;
    }
    if (strcmp(kind->str, "message") == 0 && reply->elements == 3) {
        chan = reply->element[1];
        payload = reply->element[2];
    } else if (strcmp(kind->str, "pmessage") == 0 && reply->elements == 4) {
        chan = reply->element[2];
        payload = reply->element[3];
    } else {
        return;
    }
    if (chan->type != REDIS_REPLY_STRING || payload->type != REDIS_REPLY_STRING)
        return;
    s->cb(chan->str, payload->str, payload->len, s->ud);
}

static void sub_send(struct jc_redis *r, struct sub *s)
{
    const char *argv[2] = {is_pattern(s->channel) ? "PSUBSCRIBE" : "SUBSCRIBE", s->channel};

    if (r->ac != NULL && r->ready)
        redisAsyncCommandArgv(r->ac, sub_cb, s, 2, argv, NULL);
}

enum jc_err jc_redis_subscribe(struct jc_redis *r, const char *channel, jc_redis_msg_cb *cb,
                               void *ud)
{
    struct sub *s;

    if (r == NULL || !r->subscriber || channel == NULL || cb == NULL)
        return JC_EINVAL;
    s = calloc(1, sizeof(*s));
    if (s == NULL || (s->channel = strdup(channel)) == NULL) {
        free(s);
        return JC_ENOMEM;
    }
    s->cb = cb;
    s->ud = ud;
    s->next = r->subs;
    r->subs = s;
    sub_send(r, s);
    return JC_OK;
}

/* ---- connection life cycle ---- */

static void schedule_retry(struct jc_redis *r)
{
    long delay = 100L << (r->attempts < 4 ? r->attempts : 4);
    unsigned short rnd = 0;
    struct timeval tv;

    if (r->closing)
        return;
    if (delay > 1000)
        delay = 1000;
    if (jc_crypto_random(&rnd, sizeof(rnd)) == JC_OK)
        delay += (long)(rnd % (unsigned)(delay / 4 + 1));
    r->attempts++;
    tv_ms(&tv, delay);
    evtimer_add(r->retry, &tv);
}

static void went_down(struct jc_redis *r, const char *why)
{
    r->ready = false;
    snprintf(r->unavailable, sizeof(r->unavailable), "redis unavailable: %s", why);
    if (r->was_ready) {
        r->was_ready = false;
        jc_warn(r->log, "redis connection lost: %s", why);
    }
}

static void disconnect_cb(const redisAsyncContext *ac, int status)
{
    struct jc_redis *r = ac->data;

    (void)status;
    if (r == NULL || r->ac != ac)
        return;
    r->ac = NULL;
    went_down(r, ac->errstr[0] != '\0' ? ac->errstr : "disconnected");
    schedule_retry(r);
}

static void force_reconnect(struct jc_redis *r, const char *why)
{
    redisAsyncContext *ac = r->ac;

    if (ac == NULL)
        return;
    redisAsyncFree(ac); /* pending callbacks run with NULL; disconnect_cb may run */
    if (r->ac == ac) {
        r->ac = NULL;
        went_down(r, why);
        schedule_retry(r);
    }
}

static void ready_cb(redisAsyncContext *ac, void *reply_, void *priv)
{
    struct jc_redis *r = priv;
    const redisReply *reply = reply_;
    struct sub *s;

    if (r->ac != ac || reply == NULL)
        return;
    if (reply->type == REDIS_REPLY_ERROR) {
        jc_error(r->log, "redis refused the connection set-up: %s", reply->str);
        return; /* stays not ready; the next failure or timeout reconnects */
    }
    r->ready = true;
    r->attempts = 0;
    event_del(r->retry); /* the connect deadline */
    if (!r->was_ready) {
        r->was_ready = true;
        jc_info(r->log, "redis connection established");
    }
    for (s = r->subs; s != NULL; s = s->next)
        sub_send(r, s);
}

static void setup_cb(redisAsyncContext *ac, void *reply_, void *priv)
{
    struct jc_redis *r = priv;
    const redisReply *reply = reply_;

    if (r->ac == ac && reply != NULL && reply->type == REDIS_REPLY_ERROR)
        jc_error(r->log, "redis AUTH/SELECT failed: %s", reply->str);
}

static void connect_cb(const redisAsyncContext *cac, int status)
{
    struct jc_redis *r = cac->data;
    redisAsyncContext *ac = (redisAsyncContext *)cac;
    char db[16];

    if (r == NULL || r->ac != ac)
        return;
    if (status != REDIS_OK) {
        /* hiredis frees the context after this callback */
        r->ac = NULL;
        went_down(r, ac->errstr);
        schedule_retry(r);
        return;
    }
    if (r->password != NULL) {
        const char *argv[2] = {"AUTH", r->password};
        redisAsyncCommandArgv(ac, setup_cb, r, 2, argv, NULL);
    }
    if (r->db != 0 && !r->subscriber) {
        const char *argv[2] = {"SELECT", db};
        snprintf(db, sizeof(db), "%d", r->db);
        redisAsyncCommandArgv(ac, setup_cb, r, 2, argv, NULL);
    }
    {
        const char *argv[1] = {"PING"};
        redisAsyncCommandArgv(ac, ready_cb, r, 1, argv, NULL);
    }
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
    struct jc_redis *r = arg;

    (void)fd;
    (void)what;
    if (r->ac != NULL && !r->ready) {
        /* hiredis has no connect timeout: a silent host would hold us for minutes */
        force_reconnect(r, "connection attempt timed out");
        return;
    }
    connect_start(r);
}

static void connect_to(struct jc_redis *r, const char *addr)
{
    redisAsyncContext *ac = redisAsyncConnect(addr, r->port);
    struct timeval tv;

    if (ac == NULL) {
        schedule_retry(r);
        return;
    }
    if (ac->err != 0) {
        went_down(r, ac->errstr);
        redisAsyncFree(ac);
        schedule_retry(r);
        return;
    }
    ac->data = r;
    r->ac = ac;
    redisLibeventAttach(ac, r->base);
    redisAsyncSetConnectCallback(ac, connect_cb);
    redisAsyncSetDisconnectCallback(ac, disconnect_cb);
    tv_ms(&tv, r->timeout_ms * 2); /* connect + AUTH/SELECT/PING deadline */
    evtimer_add(r->retry, &tv);
}

static void dns_cb(enum jc_err err, const char *addr, const char *errmsg, void *ud)
{
    struct jc_redis *r = ud;
    char msg[256];

    r->dnsreq = NULL;
    if (err != JC_OK) {
        snprintf(msg, sizeof(msg), "cannot resolve %s: %s", r->host, errmsg);
        went_down(r, msg);
        schedule_retry(r);
        return;
    }
    connect_to(r, addr);
}

static void connect_start(struct jc_redis *r)
{
    if (r->closing || r->ac != NULL || r->dnsreq != NULL)
        return;
    if (r->dns == NULL || jc_dns_is_numeric(r->host)) {
        connect_to(r, r->host);
        return;
    }
    r->dnsreq = jc_dns_resolve(r->base, r->dns, r->host, dns_cb, r);
    if (r->dnsreq == NULL) {
        went_down(r, "cannot resolve the host: out of memory");
        schedule_retry(r);
    }
}

struct jc_redis *jc_redis_new(struct event_base *base, struct jc_log *log,
                              const struct jc_redis_opts *o)
{
    struct jc_redis *r = calloc(1, sizeof(*r));

    if (r == NULL)
        return NULL;
    r->base = base;
    r->log = log;
    r->port = o->port > 0 ? o->port : 6379;
    r->db = o->db;
    r->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 2000;
    r->subscriber = o->subscriber;
    r->dns = o->dns;
    snprintf(r->unavailable, sizeof(r->unavailable), "redis unavailable: not connected yet");
    r->host = strdup(o->host != NULL ? o->host : "127.0.0.1");
    if (o->password != NULL)
        r->password = strdup(o->password);
    r->retry = evtimer_new(base, retry_cb, r);
    if (r->host == NULL || r->retry == NULL || (o->password != NULL && r->password == NULL)) {
        jc_redis_free(r);
        return NULL;
    }
    connect_start(r);
    return r;
}

void jc_redis_free(struct jc_redis *r)
{
    struct sub *s, *sn;

    if (r == NULL)
        return;
    r->closing = true;
    if (r->dnsreq != NULL) {
        jc_dns_cancel(r->dnsreq);
        r->dnsreq = NULL;
    }
    if (r->ac != NULL) {
        redisAsyncContext *ac = r->ac;
        r->ac = NULL;
        ac->data = NULL;
        redisAsyncFree(ac); /* in-flight commands complete with JC_ECLOSED */
    }
    while (r->cmds != NULL) {
        struct rcmd *c = r->cmds;
        r->cmds = c->next;
        if (r->cmds != NULL)
            r->cmds->prev = NULL;
        c->in_flight = false;
        cmd_complete(c, NULL, JC_ECLOSED, "redis client closed");
        cmd_destroy(c);
    }
    for (s = r->subs; s != NULL; s = sn) {
        sn = s->next;
        free(s->channel);
        free(s);
    }
    if (r->retry != NULL)
        event_free(r->retry);
    free(r->host);
    free(r->password);
    free(r);
}
