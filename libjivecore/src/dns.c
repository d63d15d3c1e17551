/* SPDX-License-Identifier: MIT */
/* dns.c: evdns_getaddrinfo with a cancellable handle that outlives its owner safely. */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/util.h>

#include "jc/dns.h"

struct jc_dns_req {
    jc_dns_cb *cb;
    void *ud;
    struct evdns_getaddrinfo_request *gai;
    bool cancelled;  /* the owner is gone: free on completion, call nothing */
    bool finished;   /* the callback already ran */
    bool in_resolve; /* inside evdns_getaddrinfo: jc_dns_resolve frees req */
};

bool jc_dns_is_numeric(const char *host)
{
    unsigned char buf[sizeof(struct in6_addr)];

    return host != NULL &&
           (inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1);
}

static void gai_cb(int result, struct evutil_addrinfo *res, void *arg)
{
    struct jc_dns_req *req = arg;
    const struct evutil_addrinfo *ai, *pick = NULL;
    char addr[INET6_ADDRSTRLEN] = "";

    req->finished = true;
    if (req->cancelled) {
        if (res != NULL)
            evutil_freeaddrinfo(res);
        free(req);
        return;
    }
    for (ai = res; result == 0 && ai != NULL; ai = ai->ai_next) {
        if (ai->ai_family == AF_INET) {
            pick = ai;
            break;
        }
        if (pick == NULL && ai->ai_family == AF_INET6)
            pick = ai;
    }
    if (pick != NULL && pick->ai_family == AF_INET)
        evutil_inet_ntop(AF_INET, &((const struct sockaddr_in *)pick->ai_addr)->sin_addr, addr,
                         sizeof(addr));
    else if (pick != NULL)
        evutil_inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)pick->ai_addr)->sin6_addr, addr,
                         sizeof(addr));
    if (res != NULL)
        evutil_freeaddrinfo(res);
    if (addr[0] != '\0')
        req->cb(JC_OK, addr, "", req->ud);
    else
        req->cb(JC_EIO, NULL, result != 0 ? evutil_gai_strerror(result) : "no address", req->ud);
    if (!req->in_resolve)
        free(req);
}

struct jc_dns_req *jc_dns_resolve(struct evdns_base *dns, const char *host, jc_dns_cb *cb, void *ud)
{
    struct jc_dns_req *req = calloc(1, sizeof(*req));
    struct evutil_addrinfo hints;
    struct evdns_getaddrinfo_request *gai;

    if (req == NULL) {
        cb(JC_ENOMEM, NULL, "out of memory", ud);
        return NULL;
    }
    req->cb = cb;
    req->ud = ud;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    req->in_resolve = true;
    gai = evdns_getaddrinfo(dns, host, NULL, &hints, gai_cb, req);
    req->in_resolve = false;
    if (req->finished) {
        /* answered synchronously (numeric host, hosts file, immediate failure) */
        free(req);
        return NULL;
    }
    req->gai = gai;
    return req;
}

void jc_dns_cancel(struct jc_dns_req *req)
{
    if (req == NULL)
        return;
    req->cancelled = true;
    /* gai_cb runs with EVUTIL_EAI_CANCEL (now or later) and frees req */
    evdns_getaddrinfo_cancel(req->gai);
}
