/* SPDX-License-Identifier: MIT */
/*
 * jc/repo.h: which repository URLs a project may have (docs/SECURITY.md). A project's origin is
 * cloned and fetched by the orchestrator and its files shown to the project's org, so an origin
 * must be a repository that org can name without reaching another org's data: https, ssh or
 * scp-style (git@host:owner/repo) URLs on a host of JIVE_REPO_HOSTS; local paths and file:// only
 * with JIVE_ALLOW_LOCAL_REPOS (a single-tenant or development deployment). Everything else —
 * ext::, fd::, git://, http://, a leading '-', credentials in the URL, '..' — is refused. Checked
 * when a project is added and again before every clone and fetch. Pure; no I/O.
 *
 * One repository has one canonical key (schema 013, jive_repo_key): host lower-cased, scheme,
 * user, port, ".git" and trailing '/' dropped, so two spellings of one URL are one repository and
 * belong to one org.
 */
#ifndef JC_REPO_H
#define JC_REPO_H

#include <stddef.h>

#include "jc/config.h"
#include "jc/err.h"

/* JC_OK when url may be a project's origin under cfg; else JC_EINVAL with a reason in err that
 * names what to change. */
enum jc_err jc_repo_url_check(const struct jc_config *cfg, const char *url, char *err,
                              size_t errlen) JC_MUSTCHECK;

#endif
