/* SPDX-License-Identifier: MIT */
/*
 * jc/fetch.h: outbound HTTP(S) requests on a libevent loop: libcurl's multi interface driven by
 * the loop (curl's sockets and timer become libevent events), so a request never blocks the
 * loop thread; name resolution runs in curl's resolver thread. TLS is verified against the
 * system's trust store plus an optional extra PEM bundle (a GitHub Enterprise Server behind a
 * private CA). No redirects are followed and no proxy is used.
 *
 * For addresses a tenant controls (a client ID metadata document), a request can be limited to
 * public addresses: the check runs on the address curl is about to connect to, after resolution,
 * so a name that resolves to a private address (DNS rebinding included) is refused.
 */
#ifndef JC_FETCH_H
#define JC_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "jc/err.h"

struct jc_fetch;

/* The client of one loop; ca_file (may be NULL) is an extra PEM bundle of trusted CAs. NULL with
 * err set when libcurl cannot start. */
struct jc_fetch *jc_fetch_new(struct event_base *base, const char *ca_file, char *err,
                              size_t errlen);

/* Fails every pending request with JC_ECLOSED (their callbacks run before this returns) and frees
 * the client. NULL is a no-op. Must not be called from inside a jc_fetch callback. */
void jc_fetch_free(struct jc_fetch *f);

struct jc_fetch_req {
    const char *method;         /* "GET" or "POST" */
    const char *url;            /* copied */
    const char *const *headers; /* "Name: value", NULL-terminated; may be NULL */
    const char *body;           /* POST body (copied), may be NULL */
    size_t body_len;
    long timeout_ms;  /* the whole request, connection included */
    size_t max_bytes; /* a longer response body fails the request */
    bool https_only;  /* refuse http:// */
    bool public_only; /* refuse private, loopback, link-local and reserved addresses */
};

/*
 * Result: err JC_OK with the HTTP status and the body (borrowed, NUL-terminated, valid during the
 * call) when a response arrived, whatever its status; otherwise status 0 and errmsg says why
 * (JC_ETIMEOUT, JC_EINVAL for a refused URL or address or an oversized body, JC_EIO for network
 * and TLS failures, JC_ECLOSED at jc_fetch_free).
 */
typedef void jc_fetch_cb(enum jc_err err, long status, const char *body, size_t len,
                         const char *errmsg, void *ud);

/* Starts r; cb runs exactly once, later, on the loop thread. Returns an error (and cb is never
 * called) only when the request cannot be made at all (out of memory, bad method). */
enum jc_err jc_fetch_start(struct jc_fetch *f, const struct jc_fetch_req *r, jc_fetch_cb *cb,
                           void *ud) JC_MUSTCHECK;

/* True when addr (AF_INET or AF_INET6) is a public unicast address: not loopback, private
 * (RFC 1918, fc00::/7), shared (100.64/10), link-local, multicast, unspecified or reserved; an
 * IPv4-mapped or NAT64 IPv6 address is judged by its IPv4 address. */
bool jc_fetch_addr_public(const struct sockaddr *addr);

#endif
