/* SPDX-License-Identifier: MIT */
/* audit.c: batched audit rows behind an append-only journal (see jc/audit.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jc/later.h"
#include "jc/audit.h"
#include "jc/clock.h"
#include "jc/crypto.h"
#include "jc/err.h"

#define BATCH 500
#define MEMORY_CAP 100000
#define JOURNAL_REWRITE (8L << 20) /* rewrite a journal this big down to the unwritten rows */

static const char insert_sql[] =
    "INSERT INTO mcp_audit_logs (entry_id, org_id, project_id, actor_type, actor_id, actor_name,"
    " tool, scope, args_hash, result, error_message, \"timestamp\", ip_address, user_agent,"
    " request_id, traceparent, duration_ms, client_id) "
    "SELECT r.entry_id, r.org_id, r.project_id, r.actor_type, r.actor_id, r.actor_name, r.tool,"
    " r.scope, r.args_hash, r.result, r.error, r.ts, r.ip, r.user_agent, r.request_id,"
    " r.traceparent, r.duration_ms, r.client_id "
    "FROM jsonb_to_recordset($1::jsonb) AS r(entry_id uuid, org_id uuid, project_id uuid,"
    " actor_type text, actor_id text, actor_name text, tool text, scope text, args_hash text,"
    " result text, error text, ts timestamptz, ip inet, user_agent text, request_id text,"
    " traceparent text, duration_ms int, client_id text) "
    "ON CONFLICT (entry_id, \"timestamp\") DO NOTHING";

/* One row as its JSON line: printed once, then both journaled and sent to Postgres as is. */
struct row {
    struct row *next;
    size_t len;  /* of the JSON, without the newline */
    char text[]; /* the JSON, then '\n' */
};

struct jc_audit {
    struct event_base *base;
    struct jc_pg *pg;
    struct jc_log *log;
    char *journal;
    int jfd;         /* the journal, O_APPEND and flock'ed; -1 without one */
    long jbytes;     /* its size */
    bool overflowed; /* rows beyond MEMORY_CAP live only in the journal */
    long interval_ms;
    struct row *head, *tail; /* waiting, oldest first */
    int nrows;
    int in_flight; /* rows sent in the current batch (the first in_flight of the list) */
    struct event *timer;
    void (*flush_cb)(void *);
    void *flush_ud;
    struct jc_metric *m_written, *m_journaled;
};

static void schedule(struct jc_audit *a, long ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

    evtimer_add(a->timer, &tv);
}

/* Appends len bytes to fd; false on error (errno set). */
static bool write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

/* Writes row's line with one write; adds its length to *bytes. */
static bool write_row(int fd, const struct row *row, long *bytes)
{
    if (!write_all(fd, row->text, row->len + 1))
        return false;
    *bytes += (long)row->len + 1;
    return true;
}

/* A row holding the JSON text json (len bytes); NULL when out of memory. */
static struct row *row_new(const char *json, size_t len)
{
    struct row *r = malloc(sizeof(*r) + len + 1);

    if (r == NULL)
        return NULL;
    r->next = NULL;
    r->len = len;
    memcpy(r->text, json, len);
    r->text[len] = '\n';
    return r;
}

static void push(struct jc_audit *a, struct row *r)
{
    if (a->tail != NULL)
        a->tail->next = r;
    else
        a->head = r;
    a->tail = r;
    a->nrows++;
}

/* Frees the oldest n rows (all of them for n >= nrows). */
static void drop_oldest(struct jc_audit *a, int n)
{
    for (; n > 0 && a->head != NULL; n--) {
        struct row *r = a->head;
        a->head = r->next;
        free(r);
        a->nrows--;
    }
    if (a->head == NULL)
        a->tail = NULL;
}

static void journal_append(struct jc_audit *a, const struct row *row)
{
    if (a->jfd < 0)
        return;
    if (write_row(a->jfd, row, &a->jbytes))
        jc_metric_inc(a->m_journaled, 1);
    else
        jc_error(a->log, "audit: cannot append to the journal %s: %s", a->journal, strerror(errno));
}

/* Reads the journal's rows into memory (up to MEMORY_CAP; the rest stays on disk). */
static int journal_load(struct jc_audit *a)
{
    FILE *f;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int loaded = 0;

    if (a->journal == NULL || (f = fopen(a->journal, "r")) == NULL)
        return 0;
    while ((n = getline(&line, &cap, f)) > 0) {
        cJSON *obj;
        struct row *r = NULL;
        if (a->nrows >= MEMORY_CAP) {
            a->overflowed = true;
            break;
        }
        if (line[n - 1] == '\n')
            n--;
        obj = cJSON_ParseWithLength(line, (size_t)n);
        if (cJSON_IsObject(obj) && (r = row_new(line, (size_t)n)) != NULL) {
            push(a, r);
            loaded++;
        } /* else a line cut short by a crash */
        cJSON_Delete(obj);
    }
    free(line);
    fclose(f);
    return loaded;
}

/* Opens and locks the journal; false with err set when it cannot. */
static bool journal_open(struct jc_audit *a, const char *path, char *err, size_t errlen)
{
    struct stat st;
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

    if (fd < 0 && errno == ENOENT) {
        /* the default ./.jive/ may not exist yet: make the one missing directory */
        char dir[4096];
        char *slash;
        if (snprintf(dir, sizeof(dir), "%s", path) < (int)sizeof(dir) &&
            (slash = strrchr(dir, '/')) != NULL && slash != dir) {
            *slash = '\0';
            if (mkdir(dir, 0700) == 0 || errno == EEXIST)
                fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
            else
                errno = ENOENT;
        }
    }
    if (fd < 0) {
        jc_errbuf_set(err, errlen, "JIVE_AUDIT_SPOOL: cannot open %s: %s", path, strerror(errno));
        return false;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        jc_errbuf_set(err, errlen,
                      "JIVE_AUDIT_SPOOL: %s is in use by another jive-mcp process (give each "
                      "replica its own file)",
                      path);
        close(fd);
        return false;
    }
    a->jfd = fd;
    a->jbytes = fstat(fd, &st) == 0 ? (long)st.st_size : 0;
    return true;
}

/*
 * Every row Postgres holds is out of memory: make the journal hold only what memory holds.
 * Empty memory empties the journal; a big journal is rewritten (atomically, by rename) with the
 * rows still waiting.
 */
static void journal_trim(struct jc_audit *a)
{
    char tmp[4096];
    int fd;
    const struct row *row;
    long bytes = 0;

    if (a->jfd < 0 || a->overflowed)
        return;
    if (a->nrows == 0) {
        if (a->jbytes > 0 && ftruncate(a->jfd, 0) == 0)
            a->jbytes = 0;
        return;
    }
    if (a->jbytes < JOURNAL_REWRITE)
        return;
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", a->journal) >= (int)sizeof(tmp))
        return;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    for (row = a->head; row != NULL; row = row->next)
        if (!write_row(fd, row, &bytes))
            goto fail;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0 || rename(tmp, a->journal) != 0)
        goto fail;
    close(a->jfd);
    a->jfd = fd;
    a->jbytes = bytes;
    return;
fail:
    close(fd);
    unlink(tmp);
}

static void send_batch(struct jc_audit *a);

static void written(const PGresult *res, enum jc_err err, const char *msg, void *ud)
{
    struct jc_audit *a = ud;
    int n = a->in_flight;

    (void)res;
    a->in_flight = 0;
    if (err == JC_OK) {
        drop_oldest(a, n);
        jc_metric_inc(a->m_written, n);
        if (a->nrows == 0 && a->overflowed) {
            /* memory has drained: bring back what only the journal held (the rows already
             * written are skipped by their entry_id) */
            a->overflowed = false;
            (void)journal_load(a);
        }
        journal_trim(a);
        if (a->nrows > 0) {
            send_batch(a);
            return;
        }
    } else {
        jc_warn(a->log, "audit: %d row(s) not written yet: %s", a->nrows, msg);
    }
    if (a->flush_cb != NULL && (a->nrows == 0 || err != JC_OK)) {
        void (*cb)(void *) = a->flush_cb;
        a->flush_cb = NULL;
        if (a->nrows > 0)
            jc_warn(a->log, "audit: %d row(s) stay in %s for the next start", a->nrows,
                    a->journal != NULL ? a->journal : "memory (no journal: lost)");
        cb(a->flush_ud);
        return;
    }
    schedule(a, err == JC_OK ? a->interval_ms : a->interval_ms * 5);
}

/* Sends the oldest BATCH rows as one JSON array: their lines joined by commas. */
static void send_batch(struct jc_audit *a)
{
    const struct row *row;
    size_t len = 2;
    char *text, *at;
    int i = 0;
    const char *p[1];

    if (a->in_flight > 0 || a->nrows == 0)
        return;
    for (row = a->head; row != NULL && i < BATCH; row = row->next, i++)
        len += row->len + 1;
    a->in_flight = i;
    text = malloc(len);
    if (text == NULL) {
        written(NULL, JC_ENOMEM, "out of memory", a);
        return;
    }
    at = text;
    *at++ = '[';
    for (row = a->head, i = 0; i < a->in_flight; row = row->next, i++) {
        if (i > 0)
            *at++ = ',';
        memcpy(at, row->text, row->len);
        at += row->len;
    }
    *at++ = ']';
    *at = '\0';
    p[0] = text;
    if (jc_pg_query(a->pg, 0, insert_sql, 1, p, written, a) != JC_OK)
        written(NULL, JC_EPG, "cannot submit", a);
    free(text);
}

static void tick(evutil_socket_t fd, short what, void *arg)
{
    struct jc_audit *a = arg;

    (void)fd;
    (void)what;
    if (a->nrows > 0)
        send_batch(a);
    if (a->in_flight == 0)
        schedule(a, a->interval_ms);
}

struct jc_audit *jc_audit_new(struct event_base *base, struct jc_pg *pg, struct jc_log *log,
                              struct jc_metrics *metrics, const char *journal, long interval_ms,
                              char *err, size_t errlen)
{
    struct jc_audit *a = calloc(1, sizeof(*a));
    int loaded;

    if (a == NULL)
        goto nomem;
    a->base = base;
    a->pg = pg;
    a->log = log;
    a->jfd = -1;
    a->interval_ms = interval_ms > 0 ? interval_ms : 200;
    a->timer = evtimer_new(base, tick, a);
    if (journal != NULL)
        a->journal = strdup(journal);
    a->m_written = jc_metrics_counter(metrics, "jive_audit_rows_written_total",
                                      "Audit rows written to Postgres", NULL);
    a->m_journaled = jc_metrics_counter(metrics, "jive_audit_rows_journaled_total",
                                        "Audit rows appended to the journal", NULL);
    if (a->timer == NULL || (journal != NULL && a->journal == NULL))
        goto nomem;
    if (journal != NULL && !journal_open(a, journal, err, errlen)) {
        jc_audit_free(a);
        return NULL;
    }
    loaded = journal_load(a);
    if (loaded > 0)
        jc_info(a->log, "audit: %d journaled row(s) to write from %s", loaded, a->journal);
    schedule(a, loaded > 0 ? 0 : a->interval_ms);
    return a;
nomem:
    jc_audit_free(a);
    jc_errbuf_set(err, errlen, "out of memory while starting the audit log");
    return NULL;
}

void jc_audit_add(struct jc_audit *a, const struct jc_audit_entry *e)
{
    cJSON *row = cJSON_CreateObject();
    char ts[JC_ISO_LEN], id[JC_UUID_LEN];
    char *json;
    struct row *r;

#define PUT(field, value)                                                                          \
    do {                                                                                           \
        if ((value) != NULL)                                                                       \
            cJSON_AddStringToObject(row, field, value);                                            \
    } while (0)
    jc_clock_iso(ts);
    if (jc_crypto_uuid4(id) == JC_OK)
        cJSON_AddStringToObject(row, "entry_id", id);
    PUT("org_id", e->org_id);
    PUT("project_id", e->project_id);
    PUT("actor_type", e->actor_type != NULL ? e->actor_type : "anonymous");
    PUT("actor_id", e->actor_id);
    PUT("actor_name", e->actor_name);
    PUT("tool", e->tool != NULL ? e->tool : "");
    PUT("scope", e->scope);
    PUT("args_hash", e->args_hash);
    PUT("result", e->result);
    PUT("error", e->error);
    PUT("ip", e->ip);
    PUT("user_agent", e->user_agent);
    PUT("request_id", e->request_id);
    PUT("traceparent", e->traceparent);
    PUT("client_id", e->client_id);
    PUT("ts", ts);
#undef PUT
    cJSON_AddNumberToObject(row, "duration_ms", (double)(e->duration_ms >= 0 ? e->duration_ms : 0));
    json = cJSON_PrintUnformatted(row);
    cJSON_Delete(row);
    r = json != NULL ? row_new(json, strlen(json)) : NULL;
    cJSON_free(json);
    if (r == NULL) {
        jc_error(a->log, "audit: out of memory: a row for %s is lost",
                 e->request_id != NULL ? e->request_id : "a call");
        return;
    }
    journal_append(a, r);
    if (a->overflowed || (a->nrows >= MEMORY_CAP && a->jfd >= 0)) {
        /* memory is full: the row waits in the journal only */
        a->overflowed = true;
        free(r);
        return;
    }
    push(a, r);
}

void jc_audit_flush(struct jc_audit *a, void (*cb)(void *ud), void *ud)
{
    event_del(a->timer);
    if (a->nrows == 0 && a->in_flight == 0) {
        jc_later(a->base, cb, ud);
        return;
    }
    a->flush_cb = cb;
    a->flush_ud = ud;
    if (!jc_pg_healthy(a->pg) && a->in_flight == 0) {
        a->flush_cb = NULL;
        jc_warn(a->log, "audit: the database is down; %d row(s) stay in %s for the next start",
                a->nrows, a->journal != NULL ? a->journal : "memory (no journal: lost)");
        jc_later(a->base, cb, ud);
        return;
    }
    send_batch(a);
}

void jc_audit_free(struct jc_audit *a)
{
    if (a == NULL)
        return;
    if (a->jfd >= 0)
        close(a->jfd); /* what was not written is in it */
    if (a->timer != NULL)
        event_free(a->timer);
    drop_oldest(a, a->nrows);
    free(a->journal);
    free(a);
}
