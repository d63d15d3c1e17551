/* SPDX-License-Identifier: MIT */
/*
 * jc/migrate.h: applies schema/NNN_*.sql in order, each in its own transaction, recorded in
 * schema_migrations with a SHA-256 checksum. BLOCKING (synchronous libpq): for jivectl and
 * tests only, never on an event-loop thread.
 */
#ifndef JC_MIGRATE_H
#define JC_MIGRATE_H

#include <stdio.h>

#include <libpq-fe.h>

#include "jc/err.h"

/*
 * Applies the pending migrations found in dir over conn, printing one line per applied file to
 * out (may be NULL). Serialised across processes by an advisory lock. Refuses (JC_ECONFLICT)
 * when the database records a migration the directory lacks, or one whose file changed since.
 * *applied receives the number applied (0: already up to date). Errors name the file.
 */
enum jc_err jc_migrate_run(PGconn *conn, const char *dir, FILE *out, int *applied, char *err,
                           size_t errlen) JC_MUSTCHECK;

#endif
