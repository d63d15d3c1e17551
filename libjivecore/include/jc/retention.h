/* SPDX-License-Identifier: MIT */
/*
 * jc/retention.h: what may be deleted when it is old, and how, shared by jive-orchestrator's
 * scheduled rounds and jivectl (jobs prune, retention).
 *
 * Jobs: only succeeded ones go, a batch per statement: a queued or running job is the
 * outbox's, a failed one will run again, a dead one is a dead letter an operator has not seen
 * to — none of them is ever pruned.
 *
 * The audit log and the webhook payloads are partitioned by day (schema 018): a round keeps
 * partitions JC_PARTITIONS_AHEAD days ahead, gives the days its default partition caught
 * their own, and drops whole days past the retention — never a payload partition that an
 * unfinished job still points into.
 */
#ifndef JC_RETENTION_H
#define JC_RETENTION_H

#define JC_PRUNE_BATCH "1000"
#define JC_PRUNE_BATCH_N 1000
#define JC_PARTITIONS_AHEAD "7"

/* $1 days kept; deletes at most JC_PRUNE_BATCH succeeded jobs finished before, oldest first, and
 * returns how many (one row, one column). Run again until it returns fewer than the batch. */
#define JC_PRUNE_JOBS_SQL                                                                          \
    "WITH d AS (DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE status = 'succeeded' AND " \
    "finished_at < now() - make_interval(days => $1::int) ORDER BY finished_at "                   \
    "LIMIT " JC_PRUNE_BATCH ") RETURNING 1) SELECT count(*) FROM d"

/* $1 days kept: how many succeeded jobs the pruning would delete now. */
#define JC_PRUNABLE_JOBS_SQL                                                                       \
    "SELECT count(*) FROM jobs WHERE status = 'succeeded' AND finished_at < now() - "              \
    "make_interval(days => $1::int)"

/* $1 the table (mcp_audit_logs or webhook_payloads), $2 days kept (0: drop nothing): one round
 * of its partitions; one row of partitions created, dropped, and kept for an unfinished job. */
#define JC_PARTITIONS_SQL                                                                          \
    "SELECT created, dropped, kept FROM "                                                          \
    "jive_partitions_maintain($1::regclass, " JC_PARTITIONS_AHEAD ", $2::int)"

#endif
