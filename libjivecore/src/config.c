/* SPDX-License-Identifier: MIT */
/* config.c: environment → struct jc_config, with one-line errors naming the variable. */
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <libpq-fe.h>

#include "jc/auth.h"
#include "jc/config.h"
#include "jc/parse.h"

static const char *env_lookup(const char *name, void *ud)
{
    (void)ud;
    return getenv(name);
}

struct loader {
    jc_config_lookup_fn *lookup;
    void *ud;
    char *err;
    size_t errlen;
};

/* Returns the value, or NULL when unset or empty (an empty variable counts as unset). */
static const char *get(struct loader *l, const char *name)
{
    const char *v = l->lookup(name, l->ud);

    return v != NULL && *v != '\0' ? v : NULL;
}

static enum jc_err dup_str(struct loader *l, const char *name, const char *def, bool required,
                           char **out)
{
    const char *v = get(l, name);

    if (v == NULL && required) {
        jc_errbuf_set(l->err, l->errlen, "%s: required, not set", name);
        return JC_EINVAL;
    }
    if (v == NULL)
        v = def;
    if (v == NULL) {
        *out = NULL;
        return JC_OK;
    }
    *out = strdup(v);
    return *out != NULL ? JC_OK : JC_ENOMEM;
}

static enum jc_err get_long(struct loader *l, const char *name, long def, long min, long max,
                            long *out)
{
    const char *v = get(l, name);

    if (v == NULL) {
        *out = def;
        return JC_OK;
    }
    if (jc_parse_long(v, min, max, out) != JC_OK) {
        jc_errbuf_set(l->err, l->errlen, "%s: must be an integer %ld..%ld, got '%.40s'", name, min,
                      max, v);
        return JC_EINVAL;
    }
    return JC_OK;
}

/* redis://[[user]:password@]host[:port][/db]; parsed with evhttp's URI parser. */
static enum jc_err parse_redis_url(struct loader *l, struct jc_config *cfg)
{
    struct evhttp_uri *uri = NULL;
    const char *scheme, *host, *userinfo, *path;
    enum jc_err rc = JC_EINVAL;
    long db = 0;

    uri = evhttp_uri_parse_with_flags(cfg->redis_url, 0);
    if (uri == NULL) {
        jc_errbuf_set(l->err, l->errlen, "REDIS_URL: not a URL");
        goto out;
    }
    scheme = evhttp_uri_get_scheme(uri);
    if (scheme == NULL || strcmp(scheme, "redis") != 0) {
        jc_errbuf_set(l->err, l->errlen,
                      "REDIS_URL: scheme must be redis:// (TLS rediss:// is not supported)");
        goto out;
    }
    host = evhttp_uri_get_host(uri);
    if (host == NULL || *host == '\0') {
        jc_errbuf_set(l->err, l->errlen, "REDIS_URL: missing host");
        goto out;
    }
    cfg->redis_host = strdup(host);
    cfg->redis_port = evhttp_uri_get_port(uri) > 0 ? evhttp_uri_get_port(uri) : 6379;
    userinfo = evhttp_uri_get_userinfo(uri);
    if (userinfo != NULL) {
        const char *colon = strchr(userinfo, ':');
        const char *pw = colon != NULL ? colon + 1 : userinfo;
        if (*pw != '\0')
            cfg->redis_password = evhttp_uridecode(pw, 0, NULL);
    }
    path = evhttp_uri_get_path(uri);
    if (path != NULL && path[0] == '/' && path[1] != '\0' &&
        jc_parse_long(path + 1, 0, 15, &db) != JC_OK) {
        jc_errbuf_set(l->err, l->errlen, "REDIS_URL: database must be 0..15, got '%.20s'",
                      path + 1);
        goto out;
    }
    cfg->redis_db = (int)db;
    rc = cfg->redis_host != NULL ? JC_OK : JC_ENOMEM;
out:
    if (uri != NULL)
        evhttp_uri_free(uri);
    return rc;
}

static enum jc_err parse_cors(struct loader *l, struct jc_config *cfg)
{
    const char *v = get(l, "JIVE_CORS_ORIGINS");
    char *copy = NULL, *p, *save = NULL, *tok;
    size_t n = 0, cap = 4;

    if (v == NULL)
        v = "http://localhost:3000";
    copy = strdup(v);
    cfg->cors_origins = calloc(cap + 1, sizeof(char *));
    if (copy == NULL || cfg->cors_origins == NULL)
        goto nomem;
    for (p = copy; (tok = strtok_r(p, ",", &save)) != NULL; p = NULL) {
        while (*tok == ' ')
            tok++;
        size_t len = strlen(tok);
        while (len > 0 && (tok[len - 1] == ' ' || tok[len - 1] == '/'))
            tok[--len] = '\0';
        if (len == 0)
            continue;
        if (strcmp(tok, "*") != 0 && strncmp(tok, "http://", 7) != 0 &&
            strncmp(tok, "https://", 8) != 0) {
            jc_errbuf_set(l->err, l->errlen,
                          "JIVE_CORS_ORIGINS: '%.60s' is not an http(s) origin or *", tok);
            free(copy);
            return JC_EINVAL;
        }
        if (n == cap) {
            char **np = realloc(cfg->cors_origins, (cap * 2 + 1) * sizeof(char *));
            if (np == NULL)
                goto nomem;
            cfg->cors_origins = np;
            cap *= 2;
        }
        cfg->cors_origins[n] = strdup(tok);
        if (cfg->cors_origins[n] == NULL)
            goto nomem;
        cfg->cors_origins[++n] = NULL;
    }
    cfg->n_cors_origins = n;
    free(copy);
    return JC_OK;
nomem:
    free(copy);
    return JC_ENOMEM;
}

/* "role=scope scope;..." with role names of [a-z0-9_-] and scopes of [a-z0-9_:.-]. */
static bool roles_valid(const char *v)
{
    const char *p = v;

    while (*p != '\0') {
        size_t name = strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789_-");
        if (name == 0 || p[name] != '=')
            return false;
        p += name + 1;
        p += strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789_:.- ");
        if (*p == ';')
            p++;
        else if (*p != '\0')
            return false;
    }
    return true;
}

bool jc_config_role_scopes(const struct jc_config *cfg, const char *role, char *out, size_t len)
{
    const char *p = cfg->oauth_roles != NULL ? cfg->oauth_roles : JC_DEFAULT_OAUTH_ROLES;
    size_t rl = strlen(role);

    while (p != NULL && *p != '\0') {
        const char *end = strchr(p, ';');
        size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
        if (rl > 0 && n > rl && strncmp(p, role, rl) == 0 && p[rl] == '=') {
            snprintf(out, len, "%.*s", (int)(n - rl - 1), p + rl + 1);
            return true;
        }
        p = end != NULL ? end + 1 : NULL;
    }
    return false;
}

/*
 * Sign-in: JIVE_OAUTH_SIGNING_KEY with the GitHub app (JIVE_GITHUB_CLIENT_ID and _SECRET) turns
 * it on; one without the others is an error. The issuer is the origin of JIVE_JWT_AUDIENCE,
 * which must then be the resource's absolute URL (https outside development).
 */
static enum jc_err load_sign_in(struct loader *l, struct jc_config *cfg)
{
    enum jc_err rc;
    const char *aud = cfg->jwt_audience, *slash;
    int set;

    if ((rc = dup_str(l, "JIVE_OAUTH_SIGNING_KEY", NULL, false, &cfg->oauth_signing_key)) !=
            JC_OK ||
        (rc = dup_str(l, "JIVE_GITHUB_CLIENT_ID", NULL, false, &cfg->github_client_id)) != JC_OK ||
        (rc = dup_str(l, "JIVE_GITHUB_CLIENT_SECRET", NULL, false, &cfg->github_client_secret)) !=
            JC_OK ||
        (rc = dup_str(l, "JIVE_GITHUB_URL", "https://github.com", false, &cfg->github_url)) !=
            JC_OK ||
        (rc = dup_str(l, "JIVE_GITHUB_API_URL", "https://api.github.com", false,
                      &cfg->github_api_url)) != JC_OK ||
        (rc = dup_str(l, "JIVE_CA_FILE", NULL, false, &cfg->ca_file)) != JC_OK ||
        (rc = dup_str(l, "JIVE_OAUTH_ROLES", JC_DEFAULT_OAUTH_ROLES, false, &cfg->oauth_roles)) !=
            JC_OK ||
        (rc = get_long(l, "JIVE_OAUTH_ACCESS_TTL_S", 3600, 60, 86400, &cfg->oauth_access_ttl_s)) !=
            JC_OK ||
        (rc = get_long(l, "JIVE_OAUTH_REFRESH_TTL_S", 30L * 86400, 600, 365L * 86400,
                       &cfg->oauth_refresh_ttl_s)) != JC_OK ||
        (rc = get_long(l, "JIVE_SIGNIN_RATE_PER_MINUTE", 60, 1, 1000000,
                       &cfg->signin_rate_per_minute)) != JC_OK)
        return rc;
    if (!roles_valid(cfg->oauth_roles)) {
        jc_errbuf_set(l->err, l->errlen,
                      "JIVE_OAUTH_ROLES: must be role=scope scope;role=... (lower-case names)");
        return JC_EINVAL;
    }
    set = (cfg->oauth_signing_key != NULL) + (cfg->github_client_id != NULL) +
          (cfg->github_client_secret != NULL);
    if (set == 0)
        return JC_OK;
    if (set != 3) {
        jc_errbuf_set(l->err, l->errlen, "%s: required for sign-in, not set",
                      cfg->oauth_signing_key == NULL  ? "JIVE_OAUTH_SIGNING_KEY"
                      : cfg->github_client_id == NULL ? "JIVE_GITHUB_CLIENT_ID"
                                                      : "JIVE_GITHUB_CLIENT_SECRET");
        return JC_EINVAL;
    }
    if (cfg->svc == JC_SVC_WEBHOOK || cfg->svc == JC_SVC_ORCHESTRATOR)
        return JC_OK; /* only jive-mcp and jivectl sign in or mint */
    if (aud == NULL || !(strncmp(aud, "https://", 8) == 0 ||
                         (cfg->development && strncmp(aud, "http://", 7) == 0))) {
        jc_errbuf_set(l->err, l->errlen,
                      "JIVE_JWT_AUDIENCE: sign-in needs the MCP endpoint's absolute URL "
                      "(https://host/mcp%s)",
                      cfg->development ? ", or http:// in development" : "");
        return JC_EINVAL;
    }
    slash = strchr(strstr(aud, "://") + 3, '/');
    cfg->oauth_issuer = slash != NULL ? strndup(aud, (size_t)(slash - aud)) : strdup(aud);
    if (cfg->oauth_issuer == NULL)
        return JC_ENOMEM;
    if ((rc = jc_auth_key_load(cfg, cfg->oauth_signing_key, l->err, l->errlen)) != JC_OK)
        return rc;
    cfg->oauth_enabled = true;
    return JC_OK;
}

enum jc_err jc_config_load(struct jc_config *cfg, enum jc_svc svc, jc_config_lookup_fn *lookup,
                           void *ud, char *err, size_t errlen)
{
    static const char *const names[] = {"jive-mcp", "jive-webhook", "jive-orchestrator", "jivectl"};
    static const int ports[] = {4000, 4001, 4002, 0};
    struct loader l = {lookup != NULL ? lookup : env_lookup, ud, err, errlen};
    bool ctl = svc == JC_SVC_CTL;
    const char *v;
    long n = 0;
    enum jc_err rc;

    memset(cfg, 0, sizeof(*cfg));
    cfg->svc = svc;
    cfg->svc_name = names[svc];

    if ((rc = dup_str(&l, "JIVE_ENV", "production", false, &cfg->env)) != JC_OK)
        goto fail;
    if (strcmp(cfg->env, "production") != 0 && strcmp(cfg->env, "development") != 0) {
        jc_errbuf_set(err, errlen, "JIVE_ENV: must be production or development, got '%.40s'",
                      cfg->env);
        rc = JC_EINVAL;
        goto fail;
    }
    cfg->development = strcmp(cfg->env, "development") == 0;

    if ((rc = dup_str(&l, "DATABASE_URL", NULL, !ctl, &cfg->database_url)) != JC_OK)
        goto fail;
    if (cfg->database_url != NULL) {
        char *perr = NULL;
        PQconninfoOption *opts = PQconninfoParse(cfg->database_url, &perr);
        if (opts == NULL) {
            size_t len = perr != NULL ? strcspn(perr, "\n") : 0;
            jc_errbuf_set(err, errlen, "DATABASE_URL: not a valid libpq connection string: %.*s",
                          (int)len, perr != NULL ? perr : "out of memory");
            PQfreemem(perr);
            rc = JC_EINVAL;
            goto fail;
        }
        PQconninfoFree(opts);
    }
    if ((rc = dup_str(&l, "REDIS_URL", NULL, !ctl, &cfg->redis_url)) != JC_OK)
        goto fail;
    if (cfg->redis_url != NULL && (rc = parse_redis_url(&l, cfg)) != JC_OK)
        goto fail;

    if ((rc = get_long(&l, "PORT", ports[svc], ctl ? 0 : 1, 65535, &n)) != JC_OK)
        goto fail;
    cfg->port = (int)n;
    if ((rc = dup_str(&l, "JIVE_BIND", "0.0.0.0", false, &cfg->bind)) != JC_OK)
        goto fail;

    v = get(&l, "JIVE_LOG_LEVEL");
    cfg->log_level = JC_LOG_INFO;
    if (v != NULL && jc_log_level_parse(v, &cfg->log_level) != JC_OK) {
        jc_errbuf_set(err, errlen,
                      "JIVE_LOG_LEVEL: must be debug, info, warn or error, got '%.40s'", v);
        rc = JC_EINVAL;
        goto fail;
    }

    if ((rc = dup_str(&l, "JIVE_JWT_SECRET", NULL, false, &cfg->jwt_secret)) != JC_OK ||
        (rc = dup_str(&l, "JIVE_JWT_PUBLIC_KEY", NULL, false, &cfg->jwt_public_key)) != JC_OK ||
        (rc = dup_str(&l, "JIVE_JWT_ISSUER", NULL, svc == JC_SVC_MCP, &cfg->jwt_issuer)) != JC_OK ||
        (rc = dup_str(&l, "JIVE_JWT_AUDIENCE", NULL, svc == JC_SVC_MCP, &cfg->jwt_audience)) !=
            JC_OK)
        goto fail;
    if (svc == JC_SVC_MCP && cfg->jwt_secret == NULL && cfg->jwt_public_key == NULL &&
        get(&l, "JIVE_OAUTH_SIGNING_KEY") == NULL) {
        jc_errbuf_set(err, errlen, "JIVE_JWT_SECRET: required (or JIVE_JWT_PUBLIC_KEY), not set");
        rc = JC_EINVAL;
        goto fail;
    }
    if (cfg->jwt_secret != NULL && strlen(cfg->jwt_secret) < 32) {
        jc_errbuf_set(err, errlen, "JIVE_JWT_SECRET: must be at least 32 bytes for HS256");
        rc = JC_EINVAL;
        goto fail;
    }
    cfg->jwt_alg = JC_JWT_HS256;
    v = get(&l, "JIVE_JWT_ALG");
    if (cfg->jwt_public_key != NULL && cfg->jwt_secret == NULL) {
        if (v == NULL || strcmp(v, "RS256") == 0) {
            cfg->jwt_alg = JC_JWT_RS256;
        } else if (strcmp(v, "ES256") == 0) {
            cfg->jwt_alg = JC_JWT_ES256;
        } else {
            jc_errbuf_set(err, errlen, "JIVE_JWT_ALG: must be RS256 or ES256, got '%.20s'", v);
            rc = JC_EINVAL;
            goto fail;
        }
    } else if (v != NULL && strcmp(v, "HS256") != 0) {
        jc_errbuf_set(err, errlen, "JIVE_JWT_ALG: must be HS256 with JIVE_JWT_SECRET, got '%.20s'",
                      v);
        rc = JC_EINVAL;
        goto fail;
    }

    if ((rc = get_long(&l, "JIVE_RATE_LIMIT_PER_MINUTE", 60, 1, 1000000,
                       &cfg->rate_limit_per_minute)) != JC_OK)
        goto fail;
    if ((rc = dup_str(&l, "JIVE_GITHUB_WEBHOOK_SECRET", NULL, false,
                      &cfg->github_webhook_secret)) != JC_OK)
        goto fail;
    if ((rc = dup_str(&l, "JIVE_WORKSPACE_DIR", "./.jive/workspaces", false,
                      &cfg->workspace_dir)) != JC_OK)
        goto fail;
    if ((rc = parse_cors(&l, cfg)) != JC_OK)
        goto fail;
    if ((rc = get_long(&l, "JIVE_MAX_BODY_BYTES", svc == JC_SVC_WEBHOOK ? 25L << 20 : 1L << 20,
                       1024, 1L << 30, &n)) != JC_OK)
        goto fail;
    cfg->max_body_bytes = (size_t)n;
    if ((rc = get_long(&l, "JIVE_SHUTDOWN_TIMEOUT_MS", 10000, 0, 600000,
                       &cfg->shutdown_timeout_ms)) != JC_OK ||
        (rc = get_long(&l, "JIVE_DB_POOL_SIZE", 4, 1, 64, &cfg->db_pool_size)) != JC_OK ||
        (rc = get_long(&l, "JIVE_QUERY_TIMEOUT_MS", 5000, 10, 600000, &cfg->query_timeout_ms)) !=
            JC_OK ||
        (rc = get_long(&l, "JIVE_REDIS_TIMEOUT_MS", 2000, 10, 600000, &cfg->redis_timeout_ms)) !=
            JC_OK ||
        (rc = get_long(&l, "JIVE_HEALTH_TIMEOUT_MS", 1000, 10, 60000, &cfg->health_timeout_ms)) !=
            JC_OK ||
        (rc = get_long(&l, "JIVE_MCP_CACHE_TTL_MS", 10000, 0, 3600000, &cfg->cache_ttl_ms)) !=
            JC_OK ||
        (rc = get_long(&l, "JIVE_WORKER_DB_CONCURRENCY", 256, 1, 1024,
                       &cfg->worker_db_concurrency)) != JC_OK ||
        (rc = get_long(&l, "JIVE_WORKER_CONCURRENCY", 4, 1, 256, &cfg->worker_concurrency)) !=
            JC_OK ||
        (rc = get_long(&l, "JIVE_WORKER_TTL_MS", 15000, 500, 3600000, &cfg->worker_ttl_ms)) !=
            JC_OK ||
        (rc = get_long(&l, "JIVE_RETRY_BASE_MS", 2000, 10, 3600000, &cfg->retry_base_ms)) != JC_OK)
        goto fail;
    {
        static const char *const qvars[5] = {
            "JIVE_MAX_ATTEMPTS_ARTIFACT_SCAN", "JIVE_MAX_ATTEMPTS_GATE_EVALUATION",
            "JIVE_MAX_ATTEMPTS_CONFLICT_DETECTION", "JIVE_MAX_ATTEMPTS_STORY_MOVE",
            "JIVE_MAX_ATTEMPTS_RUN_SYNC"};
        long all = 3, one;
        int q;
        if ((rc = get_long(&l, "JIVE_MAX_ATTEMPTS", 3, 1, 100, &all)) != JC_OK)
            goto fail;
        for (q = 0; q < 5; q++) {
            if ((rc = get_long(&l, qvars[q], all, 1, 100, &one)) != JC_OK)
                goto fail;
            cfg->max_attempts[q] = (int)one;
        }
    }
    if ((rc = dup_str(&l, "JIVE_WORKER_ID", NULL, false, &cfg->worker_id)) != JC_OK ||
        (rc = dup_str(&l, "JIVE_AUDIT_SPOOL", "./.jive/audit-spool.jsonl", false,
                      &cfg->audit_spool)) != JC_OK)
        goto fail;
    v = get(&l, "JIVE_TRUST_PROXY");
    if (v != NULL && jc_parse_bool(v, &cfg->trust_proxy) != JC_OK) {
        jc_errbuf_set(err, errlen, "JIVE_TRUST_PROXY: must be true or false, got '%.20s'", v);
        rc = JC_EINVAL;
        goto fail;
    }
    if ((rc = get_long(&l, "JIVE_SSE_HEARTBEAT_MS", 15000, 100, 600000, &cfg->sse_heartbeat_ms)) !=
            JC_OK ||
        (rc = get_long(&l, "JIVE_SSE_MAX_PER_TOKEN", 32, 1, 100000, &cfg->sse_max_per_token)) !=
            JC_OK ||
        (rc = get_long(&l, "JIVE_MCP_SESSION_TTL_S", 3600, 60, 7L * 86400, &cfg->session_ttl_s)) !=
            JC_OK ||
        (rc = get_long(&l, "JIVE_MEMORY_QUOTA", 10000, 1, 10000000, &cfg->memory_quota)) != JC_OK ||
        (rc = get_long(&l, "JIVE_JOB_RETENTION_DAYS", 90, 0, 36500, &cfg->job_retention_days)) !=
            JC_OK ||
        (rc = get_long(&l, "JIVE_AUDIT_RETENTION_DAYS", 365, 0, 36500,
                       &cfg->audit_retention_days)) != JC_OK ||
        (rc = get_long(&l, "JIVE_EVENT_RETENTION_DAYS", 30, 0, 36500,
                       &cfg->event_retention_days)) != JC_OK ||
        (rc = get_long(&l, "JIVE_RETENTION_INTERVAL_MS", 3600000, 1000, 7L * 86400000,
                       &cfg->retention_interval_ms)) != JC_OK)
        goto fail;
    if ((rc = get_long(&l, "JIVE_HTTP_HEADER_TIMEOUT_MS", 10000, 100, 600000,
                       &cfg->http_header_timeout_ms)) != JC_OK ||
        (rc = get_long(&l, "JIVE_HTTP_IDLE_TIMEOUT_MS", 60000, 100, 3600000,
                       &cfg->http_idle_timeout_ms)) != JC_OK ||
        (rc = get_long(&l, "JIVE_HTTP_MIN_RATE", 1000, 1, 1L << 30, &cfg->http_min_rate)) !=
            JC_OK ||
        (rc = get_long(&l, "JIVE_HTTP_MAX_CONNS_PER_ADDR", cfg->trust_proxy ? 0 : 256, 0, 1000000,
                       &cfg->http_max_conns_per_addr)) != JC_OK)
        goto fail;
    v = get(&l, "JIVE_ALLOW_LOCAL_REPOS");
    if (v != NULL && jc_parse_bool(v, &cfg->allow_local_repos) != JC_OK) {
        jc_errbuf_set(err, errlen, "JIVE_ALLOW_LOCAL_REPOS: must be true or false, got '%.20s'", v);
        rc = JC_EINVAL;
        goto fail;
    }
    if ((rc = dup_str(&l, "JIVE_REPO_HOSTS", "github.com", false, &cfg->repo_hosts)) != JC_OK)
        goto fail;
    if ((rc = load_sign_in(&l, cfg)) != JC_OK)
        goto fail;
    if ((rc = dup_str(&l, "JIVE_POLICY_FILE", NULL, false, &cfg->policy_file)) != JC_OK)
        goto fail;
    if (cfg->worker_id != NULL) {
        size_t i, idlen = strlen(cfg->worker_id);
        for (i = 0; i < idlen; i++) {
            char c = cfg->worker_id[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == '.') ||
                idlen > 100) {
                jc_errbuf_set(err, errlen,
                              "JIVE_WORKER_ID: letters, digits, '-', '_' and '.' only, at most "
                              "100");
                rc = JC_EINVAL;
                goto fail;
            }
        }
    }
    return JC_OK;
fail:
    if (rc == JC_ENOMEM)
        jc_errbuf_set(err, errlen, "out of memory while reading the configuration");
    jc_config_clear(cfg);
    return rc;
}

void jc_config_clear(struct jc_config *cfg)
{
    size_t i;

    if (cfg == NULL)
        return;
    free(cfg->env);
    free(cfg->database_url);
    free(cfg->redis_url);
    free(cfg->redis_host);
    free(cfg->redis_password);
    free(cfg->bind);
    free(cfg->jwt_secret);
    free(cfg->jwt_public_key);
    free(cfg->jwt_issuer);
    free(cfg->jwt_audience);
    free(cfg->github_webhook_secret);
    free(cfg->workspace_dir);
    free(cfg->worker_id);
    free(cfg->audit_spool);
    free(cfg->repo_hosts);
    free(cfg->oauth_signing_key);
    free(cfg->oauth_key_pem);
    free(cfg->oauth_pub_pem);
    free(cfg->oauth_issuer);
    free(cfg->oauth_roles);
    free(cfg->github_client_id);
    free(cfg->github_client_secret);
    free(cfg->github_url);
    free(cfg->github_api_url);
    free(cfg->ca_file);
    free(cfg->policy_file);
    for (i = 0; cfg->cors_origins != NULL && cfg->cors_origins[i] != NULL; i++)
        free(cfg->cors_origins[i]);
    free(cfg->cors_origins);
    memset(cfg, 0, sizeof(*cfg));
}

enum jc_err jc_config_require(const struct jc_config *cfg, const char *name, char *err,
                              size_t errlen)
{
    const char *v = NULL;

    if (strcmp(name, "DATABASE_URL") == 0)
        v = cfg->database_url;
    else if (strcmp(name, "REDIS_URL") == 0)
        v = cfg->redis_url;
    else if (strcmp(name, "JIVE_JWT_SECRET") == 0)
        v = cfg->jwt_secret;
    else if (strcmp(name, "JIVE_JWT_ISSUER") == 0)
        v = cfg->jwt_issuer;
    else if (strcmp(name, "JIVE_JWT_AUDIENCE") == 0)
        v = cfg->jwt_audience;
    if (v == NULL) {
        jc_errbuf_set(err, errlen, "%s: required, not set", name);
        return JC_EINVAL;
    }
    return JC_OK;
}

bool jc_config_origin_allowed(const struct jc_config *cfg, const char *origin)
{
    size_t i;

    if (origin == NULL)
        return false;
    for (i = 0; i < cfg->n_cors_origins; i++)
        if (strcmp(cfg->cors_origins[i], "*") == 0 || strcmp(cfg->cors_origins[i], origin) == 0)
            return true;
    return false;
}
