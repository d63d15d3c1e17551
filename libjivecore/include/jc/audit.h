/* SPDX-License-Identifier: MIT */
/*
 * jc/audit.h: the MCP audit log, one mcp_audit_logs row per tool invocation, written in batches
 * off the request path. Rows wait in memory while Postgres is away; at shutdown what still
 * cannot be written goes to a spool file (JSON lines), which the next start loads first. No row
 * is dropped (beyond the memory cap, rows go to the spool file at once).
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
    long duration_ms;
};

/* Starts the writer (every interval_ms); spool_path may be NULL (no spool: memory only). */
struct jc_audit *jc_audit_new(struct event_base *base, struct jc_pg *pg, struct jc_log *log,
                              struct jc_metrics *metrics, const char *spool_path, long interval_ms);

/* Queues one row (timestamped now). Never blocks, never fails the caller. */
void jc_audit_add(struct jc_audit *a, const struct jc_audit_entry *e);

/*
 * Writes everything now; cb runs when the buffer is empty, or when Postgres failed (then the
 * rest is in the spool file). For shutdown.
 */
void jc_audit_flush(struct jc_audit *a, void (*cb)(void *ud), void *ud);

/* Frees the writer (after jc_audit_flush); NULL is a no-op. */
void jc_audit_free(struct jc_audit *a);

#endif
