/* SPDX-License-Identifier: MIT */
/*
 * jc/redis.h: hiredis async on a libevent loop with what hiredis 0.14 lacks: command timeouts
 * (an evtimer per command), reconnect with backoff, AUTH/SELECT on every (re)connect, Lua
 * scripts by SHA with a NOSCRIPT fallback, and a subscriber mode that resubscribes after a
 * reconnect. A client is one connection: blocking commands (BLMOVE) and subscriptions each get
 * their own client, never the shared command client. Everything runs on the loop thread.
 */
#ifndef JC_REDIS_H
#define JC_REDIS_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "jc/err.h"
#include "jc/log.h"

struct jc_redis;

struct jc_redis_opts {
    const char *host; /* copied */
    int port;
    const char *password; /* NULL: no AUTH */
    int db;
    long timeout_ms;        /* default command deadline */
    bool subscriber;        /* subscriber-only client (jc_redis_subscribe) */
    struct evdns_base *dns; /* borrowed; resolves a host name without blocking (NULL: hiredis
                               resolves it itself, blocking) */
};

/*
 * Command callback, called exactly once per accepted command on the loop thread, never inside
 * the submitting call: also on timeout (JC_ETIMEOUT), lost connection (JC_EREDIS, reply NULL)
 * and jc_redis_free (JC_ECLOSED). An error reply gives JC_EREDIS with reply set and errmsg its
 * text. reply is borrowed: copy what you keep. errmsg is never NULL.
 */
typedef void jc_redis_cb(const redisReply *reply, enum jc_err err, const char *errmsg, void *ud);

/*
 * Message callback of a subscription: channel is the channel the message was published on
 * (also for a pattern); payload is borrowed, len bytes (not NUL-terminated). payload NULL means
 * the subscription was (re)established: messages published before it may have been missed.
 */
typedef void jc_redis_msg_cb(const char *channel, const char *payload, size_t len, void *ud);

/* A Lua script known by its SHA-1; initialise once with jc_redis_script_init. */
struct jc_redis_script {
    const char *source; /* borrowed, usually a string literal */
    char sha[41];
};

/* Creates the client and starts connecting; never waits. NULL on allocation failure. */
struct jc_redis *jc_redis_new(struct event_base *base, struct jc_log *log,
                              const struct jc_redis_opts *o);

/* Fails pending commands with JC_ECLOSED, disconnects, frees. NULL is a no-op. Not from inside
 * a jc_redis callback. */
void jc_redis_free(struct jc_redis *r);

/* True when connected, authenticated and the database selected. */
bool jc_redis_healthy(const struct jc_redis *r);

/*
 * Sends argc arguments (argvlen NULL: NUL-terminated strings). timeout_ms 0: client default.
 * Fails fast (callback with JC_EREDIS) while disconnected. Returns JC_OK when cb will be
 * called, else JC_EINVAL/JC_ENOMEM and cb is not called. cb NULL: the reply is ignored
 * (fire and forget).
 */
enum jc_err jc_redis_command(struct jc_redis *r, long timeout_ms, jc_redis_cb *cb, void *ud,
                             int argc, const char *const *argv, const size_t *argvlen) JC_MUSTCHECK;

/* Computes script->sha from source. */
void jc_redis_script_init(struct jc_redis_script *script, const char *source);

/*
 * EVALSHA script with nkeys keys followed by the other arguments (argv holds keys then args,
 * argc in all); on NOSCRIPT sends EVAL with the source once. Same callback rules.
 */
enum jc_err jc_redis_eval(struct jc_redis *r, const struct jc_redis_script *script, int nkeys,
                          int argc, const char *const *argv, jc_redis_cb *cb,
                          void *ud) JC_MUSTCHECK;

/* As jc_redis_eval with a deadline of timeout_ms (0: client default), for a script sent behind
 * a blocking command on the same client: it runs only once that command has answered. */
enum jc_err jc_redis_eval_timeout(struct jc_redis *r, long timeout_ms,
                                  const struct jc_redis_script *script, int nkeys, int argc,
                                  const char *const *argv, jc_redis_cb *cb, void *ud) JC_MUSTCHECK;

/*
 * On a subscriber client: subscribes to channel (copied; a glob such as "project:*" uses
 * PSUBSCRIBE) and keeps the subscription across reconnects. cb runs once per (re)subscription
 * (payload NULL) and for every message until jc_redis_free. JC_EINVAL on a command client.
 */
enum jc_err jc_redis_subscribe(struct jc_redis *r, const char *channel, jc_redis_msg_cb *cb,
                               void *ud) JC_MUSTCHECK;

#endif
