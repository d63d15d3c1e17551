/* SPDX-License-Identifier: MIT */
/*
 * jc/retention.h: what may be deleted when it is old, and how, shared by jive-orchestrator's
 * scheduled pruning and `jivectl jobs prune`. Only succeeded jobs go, a batch at a time: a
 * queued or running job is the outbox's, a failed one will run again, a dead one is a dead
 * letter an operator has not seen to — none of them is ever pruned.
 */
#ifndef JC_RETENTION_H
#define JC_RETENTION_H

#define JC_PRUNE_BATCH "1000"
#define JC_PRUNE_BATCH_N 1000

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

#endif
