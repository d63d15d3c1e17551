/* SPDX-License-Identifier: MIT */
/* cli.h: what jivectl's command files share: parsed options, errors, the database. */
#ifndef JIVECTL_CLI_H
#define JIVECTL_CLI_H

#include <libpq-fe.h>

#include "jc/config.h"
#include "jc/err.h"

#define MAX_OPTS 16

struct opt {
    const char *name; /* without the leading "--" */
    const char *value;
};

/* The value of the first --name, or NULL. */
const char *opt_get(struct opt *opts, int n, const char *name);

/* Prints "jivectl: <message>" on stderr; returns 1 (the exit code). */
int fail(const char *fmt, ...) JC_PRINTF(1, 2);

/* A connection to DATABASE_URL, or NULL after saying why on stderr. */
PGconn *connect_db(const struct jc_config *cfg);

/* signin.c: jivectl member add|list|remove and jivectl oauth client add|list|remove. */
int cmd_member_add(const struct jc_config *cfg, struct opt *opts, int n);
int cmd_member_list(const struct jc_config *cfg, struct opt *opts, int n);
int cmd_member_remove(const struct jc_config *cfg, struct opt *opts, int n);
int cmd_oauth_client(const struct jc_config *cfg, struct opt *opts, int n);
int cmd_policy_check(const struct jc_config *cfg, struct opt *opts, int n);

/* audit.c: jivectl audit, trace, jobs prune and retention. */
int cmd_audit(const struct jc_config *cfg, struct opt *opts, int n);
int cmd_trace(const struct jc_config *cfg, struct opt *opts, int n);
int cmd_jobs_prune(const struct jc_config *cfg, struct opt *opts, int n);
int cmd_retention(const struct jc_config *cfg, struct opt *opts, int n);

#endif
