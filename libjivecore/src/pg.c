/* SPDX-License-Identifier: MIT */
/* pg.c: the asynchronous libpq pool (state machine after pgbouncer's asynctest.c). */
#include <stdlib.h>
#include <string.h>

#include "jc/crypto.h"
#include "jc/dns.h"
#include "jc/pg.h"

enum cstate { C_DOWN, C_CONNECTING, C_IDLE, C_BUSY };
enum okind { OP_QUERY, OP_BEGIN, OP_TXQUERY, OP_END };

struct pg_conn;

struct pg_op {
    struct jc_pg *pool;
    enum okind kind;
    char *sql;
    char *name;     /* a prepared statement's name, or NULL */
    bool preparing; /* the Prepare of name is running; the execution follows */
    int nparams;
    char **params;
    jc_pg_cb *cb;
    jc_pg_tx_cb *txcb;
    void *ud;
    long timeout_ms;
    struct jc_pg_tx *tx;
    struct pg_conn *conn; /* set while running */
    struct event *timer;
    PGresult *res;
    bool queued;   /* linked in the pool queue */
    bool fail_now; /* complete with now_err/fail_msg when the timer fires */
    enum jc_err now_err;
    const char *fail_msg;
    const char *end_msg; /* OP_END: a successful ROLLBACK standing in for COMMIT */
    struct pg_op *next;
};

struct pg_conn {
    struct jc_pg *pool;
    PGconn *conn;
    enum cstate state;
    struct event *cev;   /* connect polling (one-shot) */
    struct event *ev;    /* readable, persistent while connected */
    struct event *wev;   /* writable, while a query is being flushed */
    struct event *retry; /* reconnect / connect deadline timer */
    struct jc_dns_req *dnsreq;
    int attempts;
    struct pg_op *op;
    struct jc_pg_tx *tx;
    char **prepared; /* names of the statements prepared on this connection */
    int nprepared;
};

struct jc_pg_tx {
    struct jc_pg *pool;
    struct pg_conn *conn; /* NULL once the connection was lost */
    bool failed;
    bool busy;
};

struct jc_pg {
    struct event_base *base;
    struct jc_log *log;
    char *conninfo;
    PQconninfoOption *opts; /* parsed conninfo, for PQconnectStartParams */
    struct evdns_base *dns;
    const char *dns_host; /* the host name to resolve first, or NULL */
    int size;
    long query_timeout_ms;
    long connect_timeout_ms;
    struct pg_conn *conns;
    struct pg_op *qhead, *qtail;
    bool was_up;           /* for logging transitions only */
    char unavailable[320]; /* "database unavailable: <last connection error>" */
    bool closing;          /* jc_pg_free is running: nothing new starts */
};

static void conn_connect(struct pg_conn *c);
static void conn_lost(struct pg_conn *c, const char *why);
static void dispatch(struct jc_pg *pg);

static void tv_ms(struct timeval *tv, long ms)
{
    tv->tv_sec = ms / 1000;
    tv->tv_usec = (ms % 1000) * 1000;
}

char *jc_pg_array_literal(const char *const *items, int n)
{
    size_t cap = 3, len = 0;
    char *out;
    const char *c;
    int i;

    for (i = 0; i < n; i++)
        cap += 2 * strlen(items[i]) + 3;
    out = malloc(cap);
    if (out == NULL)
        return NULL;
    out[len++] = '{';
    for (i = 0; i < n; i++) {
        if (i > 0)
            out[len++] = ',';
        out[len++] = '"';
        for (c = items[i]; *c != '\0'; c++) {
            if (*c == '"' || *c == '\\')
                out[len++] = '\\';
            out[len++] = *c;
        }
        out[len++] = '"';
    }
    out[len++] = '}';
    out[len] = '\0';
    return out;
}

const char *jc_pg_sqlstate(const PGresult *res)
{
    const char *s = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

    return s != NULL ? s : "";
}

/* ---- operations ---- */

static void op_free(struct pg_op *op)
{
    int i;

    if (op == NULL)
        return;
    if (op->timer != NULL)
        event_free(op->timer);
    for (i = 0; i < op->nparams; i++)
        free(op->params[i]);
    free(op->params);
    free(op->sql);
    free(op->name);
    PQclear(op->res);
    free(op);
}

static void queue_remove(struct jc_pg *pg, struct pg_op *op)
{
    struct pg_op **pp, *prev = NULL;

    for (pp = &pg->qhead; *pp != NULL; prev = *pp, pp = &(*pp)->next) {
        if (*pp == op) {
            *pp = op->next;
            if (pg->qtail == op)
                pg->qtail = prev;
            op->next = NULL;
            op->queued = false;
            return;
        }
    }
}

static void release_conn(struct pg_conn *c);

/*
 * Completes op: detaches it, runs its callback exactly once and frees it. res may be NULL.
 * For OP_END the transaction is freed and its connection released before the callback.
 */
static void op_finish(struct pg_op *op, enum jc_err err, const char *msg)
{
    struct jc_pg *pg = op->pool;
    struct pg_conn *c = op->conn;
    struct jc_pg_tx *tx = op->tx;
    struct jc_pg_tx *newtx = NULL;

    if (c != NULL) {
        c->op = NULL;
        op->conn = NULL;
        if (c->state == C_BUSY)
            c->state = C_IDLE;
    }
    if (op->queued)
        queue_remove(pg, op);
    if (op->timer != NULL)
        event_del(op->timer);
    if (msg == NULL)
        msg = err == JC_OK ? "" : jc_strerror(err);

    switch (op->kind) {
    case OP_QUERY:
        if (c != NULL)
            release_conn(c);
        op->cb(op->res, err, msg, op->ud);
        break;
    case OP_BEGIN:
        if (err == JC_OK && c != NULL) {
            newtx = calloc(1, sizeof(*newtx));
            if (newtx == NULL) {
                err = JC_ENOMEM;
                msg = "out of memory";
            } else {
                newtx->pool = pg;
                newtx->conn = c;
                c->tx = newtx;
            }
        }
        if (newtx == NULL && c != NULL)
            release_conn(c);
        op->txcb(newtx, err, msg, op->ud);
        break;
    case OP_TXQUERY:
        tx->busy = false;
        if (err != JC_OK)
            tx->failed = true;
        op->cb(op->res, err, msg, op->ud);
        break;
    case OP_END:
        if (err == JC_OK && op->end_msg != NULL) {
            err = JC_EPG;
            msg = op->end_msg;
        }
        if (tx->conn != NULL) {
            tx->conn->tx = NULL;
            release_conn(tx->conn);
        }
        free(tx);
        if (op->cb != NULL)
            op->cb(op->res, err, msg, op->ud);
        break;
    }
    op_free(op);
    dispatch(pg);
}

static void op_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct pg_op *op = arg;
    struct pg_conn *c = op->conn;

    (void)fd;
    (void)what;
    if (op->fail_now) {
        op_finish(op, op->now_err, op->fail_msg);
        return;
    }
    if (c == NULL) {
        op_finish(op, JC_ETIMEOUT, "query timed out waiting for a database connection");
        return;
    }
    /* The connection is in an unknown state: fail the op, then drop and reconnect. */
    op_finish(op, JC_ETIMEOUT, "query timed out");
    if (c->tx != NULL) {
        c->tx->failed = true;
        c->tx->conn = NULL;
        c->tx = NULL;
    }
    conn_lost(c, "query timed out");
}

static struct pg_op *op_new(struct jc_pg *pg, enum okind kind, long timeout_ms, const char *sql,
                            int nparams, const char *const *params)
{
    struct pg_op *op = calloc(1, sizeof(*op));
    int i;

    if (op == NULL)
        return NULL;
    op->pool = pg;
    op->kind = kind;
    op->timeout_ms = timeout_ms > 0 ? timeout_ms : pg->query_timeout_ms;
    op->sql = strdup(sql);
    op->timer = evtimer_new(pg->base, op_timer_cb, op);
    if (op->sql == NULL || op->timer == NULL)
        goto fail;
    if (nparams > 0) {
        op->params = calloc((size_t)nparams, sizeof(char *));
        if (op->params == NULL)
            goto fail;
        op->nparams = nparams;
        for (i = 0; i < nparams; i++) {
            if (params[i] != NULL && (op->params[i] = strdup(params[i])) == NULL)
                goto fail;
        }
    }
    return op;
fail:
    op_free(op);
    return NULL;
}

static void queue_append(struct jc_pg *pg, struct pg_op *op)
{
    op->queued = true;
    op->next = NULL;
    if (pg->qtail != NULL)
        pg->qtail->next = op;
    else
        pg->qhead = op;
    pg->qtail = op;
}

/* Completes op with err/msg on the next loop turn (callbacks never run inside the call). */
static void op_complete_later(struct jc_pg *pg, struct pg_op *op, enum jc_err err, const char *msg)
{
    struct timeval tv = {0, 0};

    op->fail_now = true;
    op->now_err = err;
    op->fail_msg = msg;
    queue_append(pg, op);
    evtimer_add(op->timer, &tv);
}

/* Arms op's deadline; pool operations are queued and dispatched, transaction ones are not. */
static void op_submit(struct jc_pg *pg, struct pg_op *op)
{
    struct timeval tv;

    tv_ms(&tv, op->timeout_ms);
    evtimer_add(op->timer, &tv);
    if (op->kind == OP_TXQUERY || op->kind == OP_END)
        return;
    queue_append(pg, op);
    dispatch(pg);
}

/* ---- connections ---- */

static void conn_flush(struct pg_conn *c)
{
    int r = PQflush(c->conn);

    if (r < 0)
        conn_lost(c, PQerrorMessage(c->conn));
    else if (r == 1)
        event_add(c->wev, NULL);
}

static int prepared_index(const struct pg_conn *c, const char *name)
{
    int i;

    for (i = 0; i < c->nprepared; i++)
        if (strcmp(c->prepared[i], name) == 0)
            return i;
    return -1;
}

static void forget_prepared(struct pg_conn *c)
{
    int i;

    for (i = 0; i < c->nprepared; i++)
        free(c->prepared[i]);
    free(c->prepared);
    c->prepared = NULL;
    c->nprepared = 0;
}

/* Sends op's statement: a named one is prepared first when this connection lacks it. */
static bool conn_send(struct pg_conn *c, struct pg_op *op)
{
    const char *const *params = (const char *const *)op->params;

    if (op->name == NULL)
        return PQsendQueryParams(c->conn, op->sql, op->nparams, NULL, params, NULL, NULL, 0);
    if (prepared_index(c, op->name) < 0) {
        op->preparing = true;
        return PQsendPrepare(c->conn, op->name, op->sql, op->nparams, NULL);
    }
    return PQsendQueryPrepared(c->conn, op->name, op->nparams, params, NULL, NULL, 0);
}

/* The Prepare of op succeeded: remember the name and send the execution. */
static void prepared_then_run(struct pg_conn *c, struct pg_op *op)
{
    char **n = realloc(c->prepared, (size_t)(c->nprepared + 1) * sizeof(char *));
    char *copy = strdup(op->name);

    op->preparing = false;
    PQclear(op->res);
    op->res = NULL;
    if (n != NULL)
        c->prepared = n;
    if (n == NULL || copy == NULL) {
        free(copy);
        conn_lost(c, "out of memory"); /* the server has it and we could not remember it */
        return;
    }
    c->prepared[c->nprepared++] = copy;
    if (!PQsendQueryPrepared(c->conn, op->name, op->nparams, (const char *const *)op->params, NULL,
                             NULL, 0)) {
        conn_lost(c, PQerrorMessage(c->conn));
        return;
    }
    conn_flush(c);
}

static void conn_run(struct pg_conn *c, struct pg_op *op)
{
    c->op = op;
    op->conn = c;
    c->state = C_BUSY;
    if (!conn_send(c, op)) {
        conn_lost(c, PQerrorMessage(c->conn));
        return;
    }
    conn_flush(c);
}

static void write_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn_flush(arg);
}

static void read_cb(evutil_socket_t fd, short what, void *arg)
{
    struct pg_conn *c = arg;
    struct pg_op *op;
    PGresult *r;

    (void)fd;
    (void)what;
    if (!PQconsumeInput(c->conn) || PQstatus(c->conn) != CONNECTION_OK) {
        conn_lost(c, PQerrorMessage(c->conn));
        return;
    }
    op = c->op;
    if (op == NULL)
        return; /* idle connection: notices, or the server's goodbye before EOF */
    while (!PQisBusy(c->conn)) {
        r = PQgetResult(c->conn);
        if (r == NULL) {
            ExecStatusType st = op->res != NULL ? PQresultStatus(op->res) : PGRES_FATAL_ERROR;
            if (op->preparing && st == PGRES_COMMAND_OK) {
                prepared_then_run(c, op);
            } else if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
                op_finish(op, JC_OK, NULL);
            } else {
                const char *m = op->res != NULL ? PQresultErrorMessage(op->res) : "no result";
                char msg[512];
                size_t len = strcspn(m, "\n");
                snprintf(msg, sizeof(msg), "%.*s", (int)len, m);
                if (op->name != NULL && strcmp(jc_pg_sqlstate(op->res), "26000") == 0) {
                    /* the server no longer has it (DISCARD ALL, ...): prepare it next time */
                    int i = prepared_index(c, op->name);
                    if (i >= 0) {
                        free(c->prepared[i]);
                        c->prepared[i] = c->prepared[--c->nprepared];
                    }
                }
                op_finish(op, JC_EPG, msg);
            }
            return;
        }
        /* Keep the first error, else the last result. */
        if (op->res == NULL || PQresultStatus(op->res) != PGRES_FATAL_ERROR) {
            PQclear(op->res);
            op->res = r;
        } else {
            PQclear(r);
        }
    }
}

static bool pool_alive(const struct jc_pg *pg)
{
    int i;

    for (i = 0; i < pg->size; i++)
        if (pg->conns[i].state != C_DOWN)
            return true;
    return false;
}

bool jc_pg_healthy(const struct jc_pg *pg)
{
    int i;

    if (pg == NULL)
        return false;
    for (i = 0; i < pg->size; i++)
        if (pg->conns[i].state == C_IDLE || pg->conns[i].state == C_BUSY)
            return true;
    return false;
}

static void fail_queue(struct jc_pg *pg, enum jc_err err, const char *msg)
{
    struct pg_op *op;

    while ((op = pg->qhead) != NULL) {
        queue_remove(pg, op);
        op_finish(op, err, msg);
    }
}

static void conn_close(struct pg_conn *c)
{
    if (c->dnsreq != NULL) {
        jc_dns_cancel(c->dnsreq);
        c->dnsreq = NULL;
    }
    if (c->cev != NULL) {
        event_free(c->cev);
        c->cev = NULL;
    }
    if (c->ev != NULL) {
        event_free(c->ev);
        c->ev = NULL;
    }
    if (c->wev != NULL) {
        event_free(c->wev);
        c->wev = NULL;
    }
    if (c->retry != NULL)
        event_del(c->retry);
    if (c->conn != NULL) {
        PQfinish(c->conn);
        c->conn = NULL;
    }
    forget_prepared(c); /* prepared statements live and die with their session */
    c->state = C_DOWN;
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
    struct pg_conn *c = arg;

    (void)fd;
    (void)what;
    if (c->state == C_CONNECTING) {
        conn_lost(c, "connection attempt timed out");
        return;
    }
    conn_connect(c);
}

static void schedule_retry(struct pg_conn *c)
{
    long delay = 100L << (c->attempts < 5 ? c->attempts : 5);
    unsigned short r = 0;
    struct timeval tv;

    if (delay > 2000)
        delay = 2000;
    if (jc_crypto_random(&r, sizeof(r)) == JC_OK)
        delay += (long)(r % (unsigned)(delay / 4 + 1));
    c->attempts++;
    tv_ms(&tv, delay);
    evtimer_add(c->retry, &tv);
}

/* The connection failed or broke: fail what ran on it, close it, retry later. */
static void conn_lost(struct pg_conn *c, const char *why)
{
    struct jc_pg *pg = c->pool;
    char msg[512];
    struct pg_op *op = c->op;

    snprintf(msg, sizeof(msg), "database connection lost: %.*s", (int)strcspn(why, "\n"), why);
    snprintf(pg->unavailable, sizeof(pg->unavailable), "database unavailable: %.*s",
             (int)strcspn(why, "\n"), why);
    if (c->tx != NULL) {
        c->tx->failed = true;
        c->tx->conn = NULL;
        c->tx = NULL;
    }
    conn_close(c);
    if (op != NULL) {
        op->conn = NULL;
        c->op = NULL;
        op_finish(op, JC_EPG, msg);
    }
    schedule_retry(c);
    if (!jc_pg_healthy(pg) && pg->was_up) {
        pg->was_up = false;
        jc_warn(pg->log, "%s", msg);
    }
    if (!pool_alive(pg))
        fail_queue(pg, JC_EPG, pg->unavailable);
}

static void connect_poll(struct pg_conn *c, PostgresPollingStatusType st);

static void connect_cb(evutil_socket_t fd, short what, void *arg)
{
    struct pg_conn *c = arg;

    (void)fd;
    (void)what;
    connect_poll(c, PQconnectPoll(c->conn));
}

static void connect_poll(struct pg_conn *c, PostgresPollingStatusType st)
{
    struct jc_pg *pg = c->pool;

    if (c->cev != NULL) {
        event_free(c->cev);
        c->cev = NULL;
    }
    switch (st) {
    case PGRES_POLLING_READING:
    case PGRES_POLLING_WRITING:
        c->cev = event_new(pg->base, PQsocket(c->conn),
                           st == PGRES_POLLING_READING ? EV_READ : EV_WRITE, connect_cb, c);
        if (c->cev == NULL || event_add(c->cev, NULL) != 0)
            conn_lost(c, "out of memory");
        return;
    case PGRES_POLLING_OK:
        event_del(c->retry);
        if (PQsetnonblocking(c->conn, 1) != 0) {
            conn_lost(c, PQerrorMessage(c->conn));
            return;
        }
        c->ev = event_new(pg->base, PQsocket(c->conn), EV_READ | EV_PERSIST, read_cb, c);
        c->wev = event_new(pg->base, PQsocket(c->conn), EV_WRITE, write_cb, c);
        if (c->ev == NULL || c->wev == NULL || event_add(c->ev, NULL) != 0) {
            conn_lost(c, "out of memory");
            return;
        }
        c->state = C_IDLE;
        c->attempts = 0;
        if (!pg->was_up) {
            pg->was_up = true;
            jc_info(pg->log, "database connection established");
        }
        dispatch(pg);
        return;
    default:
        conn_lost(c, PQerrorMessage(c->conn));
        return;
    }
}

static void conn_start(struct pg_conn *c, const char *hostaddr)
{
    struct jc_pg *pg = c->pool;
    const char *kw[64];
    const char *vals[64];
    int n = 0;
    PQconninfoOption *o;

    if (hostaddr == NULL) {
        c->conn = PQconnectStart(pg->conninfo);
    } else {
        for (o = pg->opts; o->keyword != NULL && n < 62; o++) {
            if (o->val == NULL || o->val[0] == '\0' || strcmp(o->keyword, "hostaddr") == 0)
                continue;
            kw[n] = o->keyword;
            vals[n++] = o->val;
        }
        kw[n] = "hostaddr";
        vals[n++] = hostaddr;
        kw[n] = NULL;
        vals[n] = NULL;
        c->conn = PQconnectStartParams(kw, vals, 0);
    }
    if (c->conn == NULL) {
        conn_lost(c, "out of memory");
        return;
    }
    if (PQstatus(c->conn) == CONNECTION_BAD) {
        conn_lost(c, PQerrorMessage(c->conn));
        return;
    }
    connect_poll(c, PGRES_POLLING_WRITING);
}

static void dns_cb(enum jc_err err, const char *addr, const char *errmsg, void *ud)
{
    struct pg_conn *c = ud;
    char msg[256];

    c->dnsreq = NULL;
    if (err != JC_OK) {
        snprintf(msg, sizeof(msg), "cannot resolve %s: %s", c->pool->dns_host, errmsg);
        conn_lost(c, msg);
        return;
    }
    conn_start(c, addr);
}

static void conn_connect(struct pg_conn *c)
{
    struct jc_pg *pg = c->pool;
    struct timeval tv;

    c->state = C_CONNECTING;
    tv_ms(&tv, pg->connect_timeout_ms);
    evtimer_add(c->retry, &tv); /* connect deadline; retry_cb sees C_CONNECTING */
    /* a lookup that cannot be made (NULL) is retried when the connect deadline above passes */
    if (pg->dns_host != NULL)
        c->dnsreq = jc_dns_resolve(pg->base, pg->dns, pg->dns_host, dns_cb, c);
    else
        conn_start(c, NULL);
}

/* Returns c to the pool; a connection left inside a transaction is reset instead. */
static void release_conn(struct pg_conn *c)
{
    if (c->state != C_IDLE || c->tx != NULL)
        return;
    if (PQtransactionStatus(c->conn) != PQTRANS_IDLE) {
        conn_close(c);
        conn_connect(c);
    }
}

static void dispatch(struct jc_pg *pg)
{
    struct pg_op *op;
    int i;

    if (pg->closing)
        return;
    for (op = pg->qhead; op != NULL;) {
        struct pg_op *next = op->next;
        if (op->fail_now || op->kind == OP_TXQUERY || op->kind == OP_END) {
            op = next;
            continue;
        }
        for (i = 0; i < pg->size; i++)
            if (pg->conns[i].state == C_IDLE && pg->conns[i].tx == NULL)
                break;
        if (i == pg->size)
            return;
        queue_remove(pg, op);
        conn_run(&pg->conns[i], op);
        op = pg->qhead; /* conn_run may have failed ops: restart from the head */
    }
}

/* ---- public API ---- */

struct jc_pg *jc_pg_new(struct event_base *base, struct jc_log *log, const struct jc_pg_opts *o)
{
    struct jc_pg *pg = calloc(1, sizeof(*pg));
    char *perr = NULL;
    PQconninfoOption *parsed = NULL;
    int i;

    if (pg == NULL)
        return NULL;
    parsed = PQconninfoParse(o->conninfo, &perr);
    if (parsed == NULL) {
        PQfreemem(perr);
        free(pg);
        return NULL;
    }
    pg->opts = parsed;
    pg->dns = o->dns;
    if (pg->dns != NULL) {
        const char *host = NULL, *hostaddr = NULL;
        PQconninfoOption *opt;
        for (opt = parsed; opt->keyword != NULL; opt++) {
            if (strcmp(opt->keyword, "host") == 0)
                host = opt->val;
            else if (strcmp(opt->keyword, "hostaddr") == 0)
                hostaddr = opt->val;
        }
        /* one named TCP host without hostaddr: resolve it ourselves (sockets and lists not) */
        if (host != NULL && host[0] != '\0' && host[0] != '/' && host[0] != '@' &&
            strchr(host, ',') == NULL && (hostaddr == NULL || hostaddr[0] == '\0') &&
            !jc_dns_is_numeric(host))
            pg->dns_host = host;
    }
    pg->base = base;
    pg->log = log;
    snprintf(pg->unavailable, sizeof(pg->unavailable), "database unavailable");
    pg->size = o->size > 0 ? o->size : 1;
    pg->query_timeout_ms = o->query_timeout_ms > 0 ? o->query_timeout_ms : 5000;
    pg->connect_timeout_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 5000;
    pg->conninfo = strdup(o->conninfo);
    pg->conns = calloc((size_t)pg->size, sizeof(struct pg_conn));
    if (pg->conninfo == NULL || pg->conns == NULL)
        goto fail;
    for (i = 0; i < pg->size; i++) {
        pg->conns[i].pool = pg;
        pg->conns[i].retry = evtimer_new(base, retry_cb, &pg->conns[i]);
        if (pg->conns[i].retry == NULL)
            goto fail;
    }
    for (i = 0; i < pg->size; i++)
        conn_connect(&pg->conns[i]);
    return pg;
fail:
    jc_pg_free(pg);
    return NULL;
}

void jc_pg_free(struct jc_pg *pg)
{
    int i;

    if (pg == NULL)
        return;
    pg->closing = true;
    for (i = 0; pg->conns != NULL && i < pg->size; i++) {
        struct pg_conn *c = &pg->conns[i];
        if (c->tx != NULL) {
            c->tx->conn = NULL;
            c->tx->failed = true;
            c->tx = NULL;
        }
        if (c->op != NULL) {
            struct pg_op *op = c->op;
            c->op = NULL;
            op->conn = NULL;
            op_finish(op, JC_ECLOSED, "database pool closed");
        }
        conn_close(c);
    }
    fail_queue(pg, JC_ECLOSED, "database pool closed");
    for (i = 0; pg->conns != NULL && i < pg->size; i++)
        if (pg->conns[i].retry != NULL)
            event_free(pg->conns[i].retry);
    free(pg->conns);
    free(pg->conninfo);
    if (pg->opts != NULL)
        PQconninfoFree(pg->opts);
    free(pg);
}

/* Queues a pool operation, or fails it on the next turn when no connection can serve it. */
static void pool_submit(struct jc_pg *pg, struct pg_op *op)
{
    if (pool_alive(pg))
        op_submit(pg, op);
    else
        op_complete_later(pg, op, JC_EPG, pg->unavailable);
}

enum jc_err jc_pg_query(struct jc_pg *pg, long timeout_ms, const char *sql, int nparams,
                        const char *const *params, jc_pg_cb *cb, void *ud)
{
    return jc_pg_query_prepared(pg, timeout_ms, NULL, sql, nparams, params, cb, ud);
}

enum jc_err jc_pg_query_prepared(struct jc_pg *pg, long timeout_ms, const char *name,
                                 const char *sql, int nparams, const char *const *params,
                                 jc_pg_cb *cb, void *ud)
{
    struct pg_op *op;

    if (pg == NULL || sql == NULL || cb == NULL || nparams < 0 || (name != NULL && name[0] == '\0'))
        return JC_EINVAL;
    if (pg->closing)
        return JC_ECLOSED;
    op = op_new(pg, OP_QUERY, timeout_ms, sql, nparams, params);
    if (op == NULL)
        return JC_ENOMEM;
    if (name != NULL && (op->name = strdup(name)) == NULL) {
        op_free(op);
        return JC_ENOMEM;
    }
    op->cb = cb;
    op->ud = ud;
    pool_submit(pg, op);
    return JC_OK;
}

enum jc_err jc_pg_begin(struct jc_pg *pg, long timeout_ms, jc_pg_tx_cb *cb, void *ud)
{
    struct pg_op *op;

    if (pg == NULL || cb == NULL)
        return JC_EINVAL;
    if (pg->closing)
        return JC_ECLOSED;
    op = op_new(pg, OP_BEGIN, timeout_ms, "BEGIN", 0, NULL);
    if (op == NULL)
        return JC_ENOMEM;
    op->txcb = cb;
    op->ud = ud;
    pool_submit(pg, op);
    return JC_OK;
}

enum jc_err jc_pg_tx_query(struct jc_pg_tx *tx, const char *sql, int nparams,
                           const char *const *params, jc_pg_cb *cb, void *ud)
{
    struct pg_op *op;

    if (tx == NULL || sql == NULL || cb == NULL || tx->busy)
        return JC_EINVAL;
    op = op_new(tx->pool, OP_TXQUERY, 0, sql, nparams, params);
    if (op == NULL)
        return JC_ENOMEM;
    op->cb = cb;
    op->ud = ud;
    op->tx = tx;
    tx->busy = true;
    if (tx->failed || tx->conn == NULL) {
        op_complete_later(tx->pool, op, JC_EPG,
                          tx->conn == NULL ? "database connection lost during the transaction"
                                           : "an earlier statement of this transaction failed");
        return JC_OK;
    }
    op_submit(tx->pool, op);
    conn_run(tx->conn, op);
    return JC_OK;
}

static enum jc_err tx_end(struct jc_pg_tx *tx, bool commit, jc_pg_cb *cb, void *ud)
{
    struct pg_op *op;

    if (tx == NULL || tx->busy)
        return JC_EINVAL;
    op = op_new(tx->pool, OP_END, 0, commit && !tx->failed ? "COMMIT" : "ROLLBACK", 0, NULL);
    if (op == NULL) {
        /* Cannot even end it: dropping the connection rolls the transaction back. */
        if (tx->conn != NULL) {
            struct pg_conn *c = tx->conn;
            c->tx = NULL;
            conn_lost(c, "out of memory");
        }
        free(tx);
        return JC_ENOMEM;
    }
    op->cb = cb;
    op->ud = ud;
    op->tx = tx;
    tx->busy = true;
    if (tx->conn == NULL) {
        /* The server rolled it back when the connection went away. */
        if (commit)
            op_complete_later(tx->pool, op, JC_EPG,
                              "database connection lost during the transaction; rolled back");
        else
            op_complete_later(tx->pool, op, JC_OK, NULL);
        return JC_OK;
    }
    if (commit && tx->failed)
        op->end_msg = "an earlier statement of this transaction failed; rolled back";
    op_submit(tx->pool, op);
    conn_run(tx->conn, op);
    return JC_OK;
}

enum jc_err jc_pg_tx_commit(struct jc_pg_tx *tx, jc_pg_cb *cb, void *ud)
{
    return tx_end(tx, true, cb, ud);
}

enum jc_err jc_pg_tx_rollback(struct jc_pg_tx *tx, jc_pg_cb *cb, void *ud)
{
    return tx_end(tx, false, cb, ud);
}
