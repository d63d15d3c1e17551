/* SPDX-License-Identifier: MIT */
/* dns.c: evdns_getaddrinfo with a cancellable handle that outlives its owner safely. */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/util.h>

#include "jc/later.h"

#include "jc/dns.h"

struct jc_dns_req {
    struct event_base *base;
    jc_dns_cb *cb;
    void *ud;
    struct evdns_getaddrinfo_request *gai;
    bool cancelled;  /* the owner is gone: free on completion, call nothing */
    bool in_resolve; /* inside evdns_getaddrinfo: the answer waits for the next turn */
    bool answered;   /* the answer is in err/addr/msg */
    enum jc_err err;
    char addr[INET6_ADDRSTRLEN];
    char msg[128];
};

bool jc_dns_is_numeric(const char *host)
{
    unsigned char buf[sizeof(struct in6_addr)];

    return host != NULL &&
           (inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1);
}

/* Calls back with the answer (unless cancelled) and frees req. */
static void deliver(void *arg)
{
    struct jc_dns_req *req = arg;

    if (!req->cancelled)
        req->cb(req->err, req->err == JC_OK ? req->addr : NULL, req->msg, req->ud);
    free(req);
}

static void gai_cb(int result, struct evutil_addrinfo *res, void *arg)
{
    struct jc_dns_req *req = arg;
    const struct evutil_addrinfo *ai, *pick = NULL;

    for (ai = res; result == 0 && ai != NULL; ai = ai->ai_next) {
        if (ai->ai_family == AF_INET) {
            pick = ai;
            break;
        }
        if (pick == NULL && ai->ai_family == AF_INET6)
            pick = ai;
    }
    if (pick != NULL && pick->ai_family == AF_INET)
        evutil_inet_ntop(AF_INET, &((const struct sockaddr_in *)pick->ai_addr)->sin_addr, req->addr,
                         sizeof(req->addr));
    else if (pick != NULL)
        evutil_inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)pick->ai_addr)->sin6_addr,
                         req->addr, sizeof(req->addr));
    if (res != NULL)
        evutil_freeaddrinfo(res);
    req->err = req->addr[0] != '\0' ? JC_OK : JC_EIO;
    snprintf(req->msg, sizeof(req->msg), "%s",
             req->err == JC_OK ? ""
             : result != 0     ? evutil_gai_strerror(result)
                               : "no address");
    req->answered = true;
    if (!req->in_resolve)
        deliver(req);
}

struct jc_dns_req *jc_dns_resolve(struct event_base *base, struct evdns_base *dns, const char *host,
                                  jc_dns_cb *cb, void *ud)
{
    struct jc_dns_req *req = calloc(1, sizeof(*req));
    struct evutil_addrinfo hints;
    struct evdns_getaddrinfo_request *gai;

    if (req == NULL)
        return NULL;
    req->base = base;
    req->cb = cb;
    req->ud = ud;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    req->in_resolve = true;
    gai = evdns_getaddrinfo(dns, host, NULL, &hints, gai_cb, req);
    req->in_resolve = false;
    if (req->answered) {
        /* answered at once (numeric host, hosts file, immediate failure): the callback runs on
         * the next turn, and req stays a valid handle until then */
        jc_later(base, deliver, req);
        return req;
    }
    req->gai = gai;
    return req;
}

void jc_dns_cancel(struct jc_dns_req *req)
{
    if (req == NULL)
        return;
    req->cancelled = true;
    /* an answer already in hand is dropped by deliver; a lookup in flight ends in gai_cb with
     * EVUTIL_EAI_CANCEL (now or later), which frees req */
    if (!req->answered)
        evdns_getaddrinfo_cancel(req->gai);
}
