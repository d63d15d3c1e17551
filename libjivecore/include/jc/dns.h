/* SPDX-License-Identifier: MIT */
/*
 * jc/dns.h: asynchronous host-name resolution (libevent's evdns) so that connecting to
 * Postgres or Redis by name never runs a blocking getaddrinfo on the loop thread. Numeric
 * addresses and /etc/hosts entries answer without network traffic.
 */
#ifndef JC_DNS_H
#define JC_DNS_H

#include <stdbool.h>

#include <event2/dns.h>

#include "jc/err.h"

struct jc_dns_req;

/*
 * Result callback: addr is the numeric address (IPv4 preferred), valid only during the call;
 * on failure err is JC_EIO, addr NULL and errmsg says why. Called exactly once unless the
 * request is cancelled first, and never inside jc_dns_resolve: an answer known at once (numeric
 * host, hosts file) comes on the loop's next turn (jc/later.h).
 */
typedef void jc_dns_cb(enum jc_err err, const char *addr, const char *errmsg, void *ud);

/* True when host is a numeric IPv4 or IPv6 address (no lookup needed). */
bool jc_dns_is_numeric(const char *host);

/*
 * Resolves host with dns (borrowed; must outlive the request or be freed with
 * evdns_base_free(dns, 1)) on base's loop. Returns a handle, valid until cb has run, for
 * jc_dns_cancel; NULL when the request could not be made (out of memory): cb is then never
 * called.
 */
struct jc_dns_req *jc_dns_resolve(struct event_base *base, struct evdns_base *dns, const char *host,
                                  jc_dns_cb *cb, void *ud);

/* Cancels a pending lookup: cb will not be called. The handle is invalid afterwards. */
void jc_dns_cancel(struct jc_dns_req *req);

#endif
