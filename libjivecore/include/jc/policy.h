/* SPDX-License-Identifier: MIT */
/*
 * jc/policy.h: the optional policy file (JIVE_POLICY_FILE, YAML; docs/OPERATIONS.md, "Policy"):
 * roles with the tools they may call (names, aliases or glob patterns), a calls-per-minute limit
 * per caller and, per tool, a calls-per-minute limit and a concurrency cap; subject rules that
 * give a caller its role (the first rule all of whose fields match: sub, org, scope, token_role),
 * and a default role. Parsing is pure (text in, policy or one error line naming the place out);
 * jive-mcp applies it and `jivectl policy check` checks a file.
 */
#ifndef JC_POLICY_H
#define JC_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "jc/auth.h"
#include "jc/err.h"

struct jc_policy_limit {
    char *tool;           /* a tool's name (not a pattern) */
    long rate_per_minute; /* 0: none */
    long concurrency;     /* 0: none */
};

struct jc_policy_role {
    char *name;
    char **tools;         /* patterns (fnmatch), NULL-terminated */
    long rate_per_minute; /* 0: the server's JIVE_RATE_LIMIT_PER_MINUTE */
    struct jc_policy_limit *limits;
    size_t n_limits;
};

struct jc_policy_subject {
    char *sub, *org, *scope, *token_role; /* NULL: any */
    size_t role;                          /* index into roles */
};

struct jc_policy {
    struct jc_policy_role *roles;
    size_t n_roles;
    struct jc_policy_subject *subjects;
    size_t n_subjects;
    long default_role; /* index, or -1: a caller no rule matches may call nothing */
};

/* Parses policy YAML (text, len bytes). JC_OK with *out (jc_policy_free), or JC_EINVAL with one
 * line in err naming where and what ("roles.agent.tools: must be a list of tool names"). */
enum jc_err jc_policy_parse(const char *text, size_t len, struct jc_policy **out, char *err,
                            size_t errlen) JC_MUSTCHECK;

/* Reads the file at path and parses it; the error names the file. */
enum jc_err jc_policy_load(const char *path, struct jc_policy **out, char *err,
                           size_t errlen) JC_MUSTCHECK;

void jc_policy_free(struct jc_policy *p);

/* The role of who: the first subject rule that matches, else the default; NULL when neither.
 * *rule receives the rule's 1-based number, or 0 for the default role. */
const struct jc_policy_role *jc_policy_role_of(const struct jc_policy *p,
                                               const struct jc_principal *who, size_t *rule);

/* True when role r may call the tool called name (or alias, which may be NULL). */
bool jc_policy_allows(const struct jc_policy_role *r, const char *name, const char *alias);

/* Role r's limits for the tool called name, or NULL. */
const struct jc_policy_limit *jc_policy_limit_of(const struct jc_policy_role *r, const char *name);

#endif
