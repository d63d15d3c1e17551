/* SPDX-License-Identifier: MIT */
/*
 * jc/conn.h: the connection guard under jc/http. Every connection of an evhttp server gets one
 * deadline at a time:
 *   - reading a request: its headers and body must arrive within header_ms of its first byte,
 *     plus one second for every min_rate bytes received (so a body of declared size S has
 *     header_ms + S / min_rate; a client trickling a byte a minute is cut at header_ms);
 *   - writing a reply: the client must take it within header_ms plus its size / min_rate;
 *   - idle keep-alive: the next request must start within idle_ms of the last reply.
 * While a request is with its handler there is no deadline (the handler's own work is bounded by
 * the query and Redis timeouts). A connection past its deadline is closed without a reply.
 * Open connections per client address (the TCP peer) are capped at per_addr (0: no cap); the
 * connection over the cap is closed at once.
 *
 * evhttp 2.1 has no hook for a new connection, so the guard supplies each connection's
 * bufferevent (evhttp_set_bevcb) and finishes its set-up on the next turn of the loop, once
 * evhttp has made the connection. Everything runs on the loop thread of the base.
 */
#ifndef JC_CONN_H
#define JC_CONN_H

#include <stddef.h>

#include <event2/event.h>
#include <event2/http.h>

#include "jc/log.h"
#include "jc/metrics.h"

struct jc_conns;
struct jc_conn; /* one guarded connection; owned by its jc_conns */

struct jc_conns_limits {
    long header_ms; /* JIVE_HTTP_HEADER_TIMEOUT_MS */
    long idle_ms;   /* JIVE_HTTP_IDLE_TIMEOUT_MS */
    long min_rate;  /* JIVE_HTTP_MIN_RATE: bytes per second */
    long per_addr;  /* JIVE_HTTP_MAX_CONNS_PER_ADDR (0: no cap) */
};

/* Installs the guard on ev (limits copied; log and metrics borrowed). NULL on ENOMEM. */
struct jc_conns *jc_conns_new(struct event_base *base, struct evhttp *ev,
                              const struct jc_conns_limits *limits, struct jc_log *log,
                              struct jc_metrics *metrics);

/* Frees the guard. Call after evhttp_free (which closes the connections). NULL is a no-op. */
void jc_conns_free(struct jc_conns *conns);

/*
 * A whole request reached its handler: returns its connection's guard entry (NULL when the
 * connection is not guarded) and lifts the deadline until jc_conns_replying.
 */
struct jc_conn *jc_conns_request(struct jc_conns *conns, struct evhttp_request *req);

/*
 * The reply of req (len body bytes) is about to be sent on conn (from jc_conns_request). Sets
 * the write deadline and, once the reply is written, the idle or next read deadline. conn must
 * still be attached: pass it only when evhttp_request_get_connection(req) is not NULL.
 */
void jc_conns_replying(struct jc_conn *conn, struct evhttp_request *req, size_t len);

/* cb(ud) runs once when conn closes (the client went away, a deadline, the server's end), while
 * the connection still exists; NULL cb removes it. For a reply that streams. */
void jc_conns_on_close(struct jc_conn *conn, void (*cb)(void *ud), void *ud);

/* Connections currently open and guarded. */
size_t jc_conns_open(const struct jc_conns *conns);

#endif
