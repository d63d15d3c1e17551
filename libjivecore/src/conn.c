/* SPDX-License-Identifier: MIT */
/* conn.c: per-connection deadlines and the per-address connection cap of the evhttp server. */
#include <search.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "jc/clock.h"
#include "jc/conn.h"

enum phase {
    PH_SETUP, /* evhttp is still making the connection */
    PH_READ,  /* a request is arriving: t0 + header + got / min_rate */
    PH_IDLE,  /* keep-alive between requests: deadline */
    PH_BUSY,  /* a request is with its handler: no deadline */
    PH_WRITE  /* a reply is being written: deadline */
};

struct addr_count {
    char *addr;
    long n;
};

struct jc_conn {
    struct jc_conns *owner;
    struct bufferevent *bev;
    struct evhttp_connection *evcon; /* NULL until set up */
    struct evbuffer_cb_entry *in_cb;
    struct event *timer; /* the deadline; fired at once for the set-up */
    struct addr_count *addr;
    enum phase phase;
    double t0;                  /* PH_READ: when the request's first byte came */
    size_t got;                 /* PH_READ: bytes received for it since */
    double deadline;            /* PH_IDLE, PH_WRITE */
    void (*on_close)(void *ud); /* jc_conns_on_close */
    void *on_close_ud;
    struct jc_conn *prev, *next;
};

struct jc_conns {
    struct event_base *base;
    struct jc_conns_limits lim;
    struct jc_log *log;
    struct jc_metrics *metrics;
    void *by_evcon; /* tsearch tree of struct jc_conn, keyed by evcon */
    void *by_addr;  /* tsearch tree of struct addr_count, keyed by addr */
    struct jc_conn *all;
    size_t open; /* set up and not yet closed */
    struct jc_metric *m_open;
};

static int cmp_evcon(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)((const struct jc_conn *)a)->evcon;
    uintptr_t y = (uintptr_t)((const struct jc_conn *)b)->evcon;

    return x < y ? -1 : x > y;
}

static int cmp_addr(const void *a, const void *b)
{
    return strcmp(((const struct addr_count *)a)->addr, ((const struct addr_count *)b)->addr);
}

static double deadline_of(const struct jc_conn *c)
{
    const struct jc_conns_limits *lim = &c->owner->lim;

    if (c->phase == PH_READ)
        return c->t0 + (double)lim->header_ms / 1000.0 + (double)c->got / (double)lim->min_rate;
    return c->deadline;
}

static void arm(struct jc_conn *c)
{
    double left = deadline_of(c) - jc_clock_mono();
    struct timeval tv;

    if (left < 0)
        left = 0;
    tv.tv_sec = (time_t)left;
    tv.tv_usec = (suseconds_t)((left - (double)tv.tv_sec) * 1e6);
    evtimer_add(c->timer, &tv);
}

/* Unlinks c from every index and frees it; the connection itself is evhttp's. */
static void conn_free(struct jc_conn *c)
{
    struct jc_conns *cs = c->owner;

    if (c->phase == PH_SETUP)
        bufferevent_decref(c->bev); /* the reference taken while evhttp sets it up */
    if (c->evcon != NULL) {
        tdelete(c, &cs->by_evcon, cmp_evcon);
        cs->open--;
        jc_metric_set(cs->m_open, (double)cs->open);
        if (c->in_cb != NULL)
            evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->in_cb);
    }
    if (c->addr != NULL && --c->addr->n == 0) {
        struct addr_count *a = c->addr;
        tdelete(a, &cs->by_addr, cmp_addr);
        free(a->addr);
        free(a);
    }
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        cs->all = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    event_free(c->timer);
    free(c);
}

static void closecb(struct evhttp_connection *evcon, void *arg)
{
    struct jc_conn *c = arg;

    (void)evcon;
    if (c->on_close != NULL)
        c->on_close(c->on_close_ud);
    conn_free(c);
}

/* Closes c's connection without a reply; c is freed through closecb. */
static void drop(struct jc_conn *c, const char *reason)
{
    struct jc_conns *cs = c->owner;
    char labels[64];

    snprintf(labels, sizeof(labels), "reason=\"%s\"", reason);
    jc_metric_inc(jc_metrics_counter(cs->metrics, "jive_http_connections_dropped_total",
                                     "connections closed by the server's guard, by reason", labels),
                  1);
    jc_debug(cs->log, "closing a connection from %s: %s", c->addr != NULL ? c->addr->addr : "?",
             reason);
    evhttp_connection_free(c->evcon);
}

static void input_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    struct jc_conn *c = arg;

    (void)buf;
    if (info->n_added == 0)
        return;
    c->got += info->n_added;
    if (c->phase == PH_IDLE) {
        c->phase = PH_READ;
        c->t0 = jc_clock_mono();
        c->got = info->n_added;
        arm(c);
    }
    /* in PH_READ the timer re-arms itself when it finds the deadline moved on */
}

static void on_complete(struct evhttp_request *req, void *arg)
{
    struct jc_conn *c = arg;
    size_t pending = evbuffer_get_length(bufferevent_get_input(c->bev));

    (void)req;
    if (pending > 0) { /* the next request is already arriving */
        c->phase = PH_READ;
        c->t0 = jc_clock_mono();
        c->got = pending;
    } else {
        c->phase = PH_IDLE;
        c->deadline = jc_clock_mono() + (double)c->owner->lim.idle_ms / 1000.0;
    }
    arm(c);
}

static void setup(struct jc_conn *c)
{
    struct jc_conns *cs = c->owner;
    bufferevent_data_cb readcb = NULL;
    void *arg = NULL;
    struct evhttp_connection *evcon;
    struct addr_count key, *a;
    void **node;
    char *host = NULL;
    ev_uint16_t port = 0;

    /* evhttp points the bufferevent's callbacks at its connection; no callbacks means it gave
     * the connection up before we got here. */
    bufferevent_getcb(c->bev, &readcb, NULL, NULL, &arg);
    evcon = arg;
    if (readcb == NULL || evcon == NULL || evhttp_connection_get_bufferevent(evcon) != c->bev) {
        conn_free(c);
        return;
    }
    bufferevent_decref(c->bev); /* evhttp holds it now */
    c->phase = PH_READ;
    c->evcon = evcon;
    if (tsearch(c, &cs->by_evcon, cmp_evcon) == NULL) {
        c->evcon = NULL;
        conn_free(c); /* out of memory: the connection goes on unguarded */
        return;
    }
    cs->open++;
    jc_metric_set(cs->m_open, (double)cs->open);
    evhttp_connection_set_closecb(evcon, closecb, c);
    c->in_cb = evbuffer_add_cb(bufferevent_get_input(c->bev), input_cb, c);

    evhttp_connection_get_peer(evcon, &host, &port);
    key.addr = host != NULL ? host : "?";
    node = tfind(&key, &cs->by_addr, cmp_addr);
    if (node != NULL) {
        a = *node;
    } else {
        a = calloc(1, sizeof(*a));
        if (a != NULL && (a->addr = strdup(key.addr)) != NULL &&
            tsearch(a, &cs->by_addr, cmp_addr) != NULL) {
            a->n = 0;
        } else {
            if (a != NULL)
                free(a->addr);
            free(a);
            a = NULL;
        }
    }
    if (a != NULL) {
        a->n++;
        c->addr = a;
    }
    c->t0 = jc_clock_mono();
    c->got = evbuffer_get_length(bufferevent_get_input(c->bev));
    if (cs->lim.per_addr > 0 && a != NULL && a->n > cs->lim.per_addr) {
        drop(c, "address_cap");
        return;
    }
    arm(c);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct jc_conn *c = arg;

    (void)fd;
    (void)what;
    switch (c->phase) {
    case PH_SETUP:
        setup(c);
        return;
    case PH_BUSY:
        return;
    case PH_READ:
    case PH_IDLE:
    case PH_WRITE:
        break;
    }
    if (jc_clock_mono() < deadline_of(c)) {
        arm(c);
        return;
    }
    drop(c, c->phase == PH_READ   ? "read_deadline"
            : c->phase == PH_IDLE ? "idle"
                                  : "write_deadline");
}

static struct bufferevent *bevcb(struct event_base *base, void *arg)
{
    struct jc_conns *cs = arg;
    struct bufferevent *bev = bufferevent_socket_new(base, -1, 0); /* as evhttp's own */
    struct jc_conn *c;

    if (bev == NULL)
        return NULL; /* evhttp tries once more itself */
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return bev;
    c->timer = evtimer_new(base, timer_cb, c);
    if (c->timer == NULL) {
        free(c);
        return bev;
    }
    c->owner = cs;
    c->bev = bev;
    c->phase = PH_SETUP;
    c->next = cs->all;
    if (cs->all != NULL)
        cs->all->prev = c;
    cs->all = c;
    bufferevent_incref(bev); /* kept valid until setup looks at it */
    /* evhttp makes the connection right after this returns, inside the same accept callback;
     * the active timer runs after that and before any read on the new socket. */
    event_active(c->timer, EV_TIMEOUT, 1);
    return bev;
}

struct jc_conns *jc_conns_new(struct event_base *base, struct evhttp *ev,
                              const struct jc_conns_limits *limits, struct jc_log *log,
                              struct jc_metrics *metrics)
{
    struct jc_conns *cs = calloc(1, sizeof(*cs));

    if (cs == NULL)
        return NULL;
    cs->base = base;
    cs->lim = *limits;
    if (cs->lim.min_rate < 1)
        cs->lim.min_rate = 1;
    cs->log = log;
    cs->metrics = metrics;
    cs->m_open = jc_metrics_gauge(metrics, "jive_http_connections_open",
                                  "client connections open and guarded", NULL);
    evhttp_set_bevcb(ev, bevcb, cs);
    return cs;
}

void jc_conns_free(struct jc_conns *cs)
{
    struct jc_conn *c, *next;

    if (cs == NULL)
        return;
    /* after evhttp_free, only those evhttp never finished setting up are left */
    for (c = cs->all; c != NULL; c = next) {
        next = c->next;
        conn_free(c);
    }
    free(cs);
}

struct jc_conn *jc_conns_request(struct jc_conns *cs, struct evhttp_request *req)
{
    struct jc_conn key;
    void **node;

    if (cs == NULL)
        return NULL;
    key.evcon = evhttp_request_get_connection(req);
    if (key.evcon == NULL || (node = tfind(&key, &cs->by_evcon, cmp_evcon)) == NULL)
        return NULL;
    ((struct jc_conn *)*node)->phase = PH_BUSY;
    evtimer_del(((struct jc_conn *)*node)->timer);
    return *node;
}

void jc_conns_replying(struct jc_conn *c, struct evhttp_request *req, size_t len)
{
    const struct jc_conns_limits *lim = &c->owner->lim;

    c->phase = PH_WRITE;
    c->deadline =
        jc_clock_mono() + (double)lim->header_ms / 1000.0 + (double)len / (double)lim->min_rate;
    arm(c);
    evhttp_request_set_on_complete_cb(req, on_complete, c);
}

void jc_conns_on_close(struct jc_conn *c, void (*cb)(void *ud), void *ud)
{
    c->on_close = cb;
    c->on_close_ud = ud;
}

size_t jc_conns_open(const struct jc_conns *cs)
{
    return cs != NULL ? cs->open : 0;
}
