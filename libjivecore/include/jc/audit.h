/* SPDX-License-Identifier: MIT */
/*
 * jc/audit.h: the MCP audit log, one mcp_audit_logs row per tool invocation, written in batches
 * off the request path.
 *
 * Durability: with a journal path, every row is appended to the journal (one write(2), no fsync)
 * when it is added, before the caller answers its client, so a row survives a crash of the
 * process (kill -9), though not of the machine. Rows wait in memory while Postgres is away;
 * the journal is emptied once every row in it is written. The next start replays the journal
 * first. Each row carries a random entry_id and its time, and the insert skips an (entry_id,
 * time) already present (the audit table is partitioned by that time: schema 018), so a row
 * that was written just before a crash is not written twice. Beyond the memory cap rows stay
 * only in the journal and are read back from it once memory has drained. One process per
 * journal: the file is locked (flock) while open.
 */
#ifndef JC_AUDIT_H
#define JC_AUDIT_H

#include "jc/log.h"
#include "jc/metrics.h"
#include "jc/pg.h"

struct jc_audit;

/* One invocation; strings are copied, NULL means absent. */
struct jc_audit_entry {
    const char *org_id;
    const char *project_id;
    const char *actor_type; /* agent, user, service, anonymous */
    const char *actor_id;
    const char *actor_name;
    const char *tool;
    const char *scope;
    const char *args_hash; /* SHA-256 hex of the canonical arguments */
    const char *result;    /* success, error, denied, rate_limited, invalid */
    const char *error;
    const char *ip;
    const char *user_agent;
    const char *request_id;
    const char *traceparent; /* W3C trace context of the call */
    const char *client_id;   /* the OAuth client of a sign-in token or a sign-in step */
    long duration_ms;
};

/*
 * Starts the writer (every interval_ms) and replays the journal; journal may be NULL (memory
 * only). NULL with a message in err when the journal cannot be opened or another process holds
 * it, or on allocation failure.
 */
struct jc_audit *jc_audit_new(struct event_base *base, struct jc_pg *pg, struct jc_log *log,
                              struct jc_metrics *metrics, const char *journal, long interval_ms,
                              char *err, size_t errlen);

/* Queues one row (timestamped now) and appends it to the journal. Never fails the caller. */
void jc_audit_add(struct jc_audit *a, const struct jc_audit_entry *e);

/*
 * Writes everything now; cb runs when the buffer is empty, or when Postgres failed (then the
 * rest waits in the journal for the next start). For shutdown.
 */
void jc_audit_flush(struct jc_audit *a, void (*cb)(void *ud), void *ud);

/* Frees the writer (after jc_audit_flush); NULL is a no-op. */
void jc_audit_free(struct jc_audit *a);

#endif
