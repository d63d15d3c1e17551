/* SPDX-License-Identifier: MIT */
/*
 * jc/pg.h: asynchronous PostgreSQL on a libevent loop: a small pool of non-blocking libpq
 * connections (PQconnectStart/PQconnectPoll, PQsendQueryParams, PQconsumeInput/PQisBusy),
 * transactions on a reserved connection, per-operation timeouts, reconnect with backoff.
 * No function here blocks; everything runs on the loop thread of the base it was created with.
 */
#ifndef JC_PG_H
#define JC_PG_H

#include <stdbool.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <libpq-fe.h>

#include "jc/err.h"
#include "jc/log.h"

struct jc_pg;
struct jc_pg_tx;

struct jc_pg_opts {
    const char *conninfo;    /* libpq URI or key=value string (copied) */
    int size;                /* connections in the pool, >= 1 */
    long query_timeout_ms;   /* default deadline of an operation, queueing included */
    long connect_timeout_ms; /* deadline of one connection attempt */
    struct evdns_base *dns;  /* borrowed; resolves a host name without blocking (NULL: libpq
                                resolves it itself, blocking) */
};

/*
 * Result callback, called exactly once per accepted operation, on the loop thread, never from
 * inside the call that submitted the operation: also on error, timeout, and jc_pg_free (then
 * err is JC_ECLOSED). res is borrowed and valid only during the call; it is the last result
 * of the statement (PGRES_TUPLES_OK or PGRES_COMMAND_OK when err is JC_OK). On a SQL error err
 * is JC_EPG, res is the error result (PQresultErrorField gives the SQLSTATE) and errmsg its text;
 * when the database is unreachable err is JC_EPG with res NULL; JC_ETIMEOUT when the deadline
 * passed. errmsg is never NULL.
 */
typedef void jc_pg_cb(const PGresult *res, enum jc_err err, const char *errmsg, void *ud);

/* Transaction callback: tx is NULL unless err is JC_OK. Same guarantees as jc_pg_cb. */
typedef void jc_pg_tx_cb(struct jc_pg_tx *tx, enum jc_err err, const char *errmsg, void *ud);

/*
 * Creates the pool and starts connecting in the background; never waits for the database.
 * log is borrowed. Returns NULL on allocation failure or an unparsable conninfo.
 */
struct jc_pg *jc_pg_new(struct event_base *base, struct jc_log *log, const struct jc_pg_opts *o);

/*
 * Fails every queued and running operation with JC_ECLOSED (their callbacks run before this
 * returns), closes the connections and frees the pool. NULL is a no-op. Must not be called from
 * inside a jc_pg callback.
 */
void jc_pg_free(struct jc_pg *pg);

/* True when at least one connection is established. */
bool jc_pg_healthy(const struct jc_pg *pg);

/*
 * Queues sql with nparams text parameters (copied; a NULL entry is SQL NULL) on any free
 * connection. timeout_ms 0 means the pool default. Fails fast (callback with JC_EPG) when no
 * connection is up or being established. Returns JC_OK when cb will be called, else an error
 * (JC_ENOMEM, JC_ECLOSED) and cb is not called.
 */
enum jc_err jc_pg_query(struct jc_pg *pg, long timeout_ms, const char *sql, int nparams,
                        const char *const *params, jc_pg_cb *cb, void *ud) JC_MUSTCHECK;

/*
 * As jc_pg_query, for a statement that runs often: it is parsed (and, after a few runs, planned)
 * once per connection instead of on every call. The first use of name on a connection prepares
 * sql under that name; later uses only bind and execute. name stands for sql for the pool's whole
 * life (the same name must always come with the same sql and parameter count); a reconnect
 * forgets what was prepared, and the next use prepares it again.
 */
enum jc_err jc_pg_query_prepared(struct jc_pg *pg, long timeout_ms, const char *name,
                                 const char *sql, int nparams, const char *const *params,
                                 jc_pg_cb *cb, void *ud) JC_MUSTCHECK;

/*
 * Reserves a connection and runs BEGIN; cb receives the transaction. The connection stays
 * reserved until jc_pg_tx_commit or jc_pg_tx_rollback completes. Returns as jc_pg_query.
 */
enum jc_err jc_pg_begin(struct jc_pg *pg, long timeout_ms, jc_pg_tx_cb *cb, void *ud) JC_MUSTCHECK;

/*
 * Runs one statement inside tx. One statement at a time: submit the next from the callback of
 * the previous. Returns JC_EINVAL when a statement of tx is still running; after a failure inside
 * the transaction every further statement fails with JC_EPG until rollback.
 */
enum jc_err jc_pg_tx_query(struct jc_pg_tx *tx, const char *sql, int nparams,
                           const char *const *params, jc_pg_cb *cb, void *ud) JC_MUSTCHECK;

/*
 * Commits (or rolls back) tx, releases its connection and frees tx before cb runs; tx must not
 * be used afterwards, also when the call returns an error. cb may be NULL.
 */
enum jc_err jc_pg_tx_commit(struct jc_pg_tx *tx, jc_pg_cb *cb, void *ud) JC_MUSTCHECK;
enum jc_err jc_pg_tx_rollback(struct jc_pg_tx *tx, jc_pg_cb *cb, void *ud) JC_MUSTCHECK;

/*
 * A Postgres array literal of n text items ({"a","b\\"c"}), for one ANY($1::text[]) parameter
 * instead of n placeholders. Returns a malloc'd string (free()) or NULL on ENOMEM.
 */
char *jc_pg_array_literal(const char *const *items, int n);

/* The SQLSTATE of an error result, or "" when there is none. */
const char *jc_pg_sqlstate(const PGresult *res);

#endif
