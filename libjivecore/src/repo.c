/* SPDX-License-Identifier: MIT */
/* repo.c: the repository URLs a project may have. */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "jc/repo.h"

/* host (n bytes) is one of cfg's JIVE_REPO_HOSTS, case-insensitively. */
static bool host_allowed(const struct jc_config *cfg, const char *host, size_t n)
{
    const char *p = cfg->repo_hosts != NULL ? cfg->repo_hosts : "";

    while (*p != '\0') {
        size_t k;
        while (*p == ',' || *p == ' ')
            p++;
        k = strcspn(p, ", ");
        if (k > 0 && k == n && strncasecmp(p, host, n) == 0)
            return true;
        p += k;
    }
    return false;
}

/* A repository path after the host: owner/repo[.git][/], no "..", no query, no odd bytes. */
static bool path_ok(const char *p)
{
    size_t i;

    if (*p == '\0' || *p == '-' || strstr(p, "..") != NULL)
        return false;
    for (i = 0; p[i] != '\0'; i++)
        if (!(isalnum((unsigned char)p[i]) || strchr("-._~/", p[i]) != NULL))
            return false;
    return strchr(p, '/') != NULL;
}

enum jc_err jc_repo_url_check(const struct jc_config *cfg, const char *url, char *err,
                              size_t errlen)
{
    const char *rest, *host, *slash, *at;
    size_t hn;

    if (url == NULL || url[0] == '\0' || strlen(url) > 2000) {
        jc_errbuf_set(err, errlen, "a repository URL is required (at most 2000 characters)");
        return JC_EINVAL;
    }
    if (url[0] == '-' || strpbrk(url, " \t\r\n\\\"'`;|&$<>") != NULL || strstr(url, "::") != NULL) {
        jc_errbuf_set(err, errlen, "'%.200s' is not a repository URL JIVE accepts", url);
        return JC_EINVAL;
    }
    /* local: a path or file:// */
    if (url[0] == '/' || strncmp(url, "file://", 7) == 0) {
        if (!cfg->allow_local_repos) {
            jc_errbuf_set(err, errlen,
                          "local repositories ('%.200s') are refused: they could name another "
                          "tenant's files; set JIVE_ALLOW_LOCAL_REPOS=1 only on a single-tenant "
                          "or development deployment",
                          url);
            return JC_EINVAL;
        }
        if (strstr(url, "/../") != NULL || strcmp(url + strlen(url) - 3, "/..") == 0) {
            jc_errbuf_set(err, errlen, "a local repository path must not contain '..'");
            return JC_EINVAL;
        }
        return JC_OK;
    }
    if (strncmp(url, "https://", 8) == 0) {
        rest = url + 8;
    } else if (strncmp(url, "ssh://", 6) == 0) {
        rest = url + 6;
        at = strchr(rest, '@');
        slash = strchr(rest, '/');
        if (at != NULL && (slash == NULL || at < slash))
            rest = at + 1; /* ssh://git@host/... */
    } else if ((at = strchr(url, '@')) != NULL && strchr(url, ':') != NULL &&
               strchr(url, ':') > at && strncmp(url, "http", 4) != 0) {
        /* scp-like: git@host:owner/repo.git */
        const char *colon = strchr(at, ':');
        host = at + 1;
        hn = (size_t)(colon - host);
        if (hn == 0 || !host_allowed(cfg, host, hn)) {
            jc_errbuf_set(err, errlen, "host '%.*s' is not in JIVE_REPO_HOSTS (%.200s)",
                          (int)(hn < 200 ? hn : 200), host,
                          cfg->repo_hosts != NULL ? cfg->repo_hosts : "");
            return JC_EINVAL;
        }
        if (!path_ok(colon + 1)) {
            jc_errbuf_set(err, errlen, "'%.200s' names no owner/repository path", url);
            return JC_EINVAL;
        }
        return JC_OK;
    } else {
        jc_errbuf_set(err, errlen,
                      "'%.200s' is refused: use https://<host>/<owner>/<repo>, "
                      "ssh://git@<host>/<owner>/<repo> or git@<host>:<owner>/<repo>",
                      url);
        return JC_EINVAL;
    }
    host = rest;
    slash = strchr(host, '/');
    if (strchr(host, '@') != NULL && (slash == NULL || strchr(host, '@') < slash)) {
        jc_errbuf_set(err, errlen,
                      "credentials in a repository URL are refused (they would be stored and "
                      "shown): use a deploy key (ssh) or a git credential helper");
        return JC_EINVAL;
    }
    hn = slash != NULL ? (size_t)(slash - host) : strlen(host);
    {
        size_t name = strcspn(host, ":/"); /* a port is allowed after the host name */
        if (name > hn)
            name = hn;
        if (name == 0 || !host_allowed(cfg, host, name)) {
            jc_errbuf_set(err, errlen, "host '%.*s' is not in JIVE_REPO_HOSTS (%.200s)",
                          (int)(name < 200 ? name : 200), host,
                          cfg->repo_hosts != NULL ? cfg->repo_hosts : "");
            return JC_EINVAL;
        }
    }
    if (slash == NULL || !path_ok(slash + 1)) {
        jc_errbuf_set(err, errlen, "'%.200s' names no owner/repository path", url);
        return JC_EINVAL;
    }
    return JC_OK;
}
