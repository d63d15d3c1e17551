/* SPDX-License-Identifier: MIT */
/* jc/config.h: the environment read once at start, typed and validated (README.md,
 * "Configuration"). */
#ifndef JC_CONFIG_H
#define JC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "jc/err.h"
#include "jc/log.h"

enum jc_svc { JC_SVC_MCP, JC_SVC_WEBHOOK, JC_SVC_ORCHESTRATOR, JC_SVC_CTL };

enum jc_jwt_alg { JC_JWT_HS256, JC_JWT_RS256, JC_JWT_ES256 };

/* Looks up one variable; returns NULL when unset. The default reads getenv(). */
typedef const char *jc_config_lookup_fn(const char *name, void *ud);

struct jc_config {
    enum jc_svc svc;
    const char *svc_name; /* "jive-mcp", ... (static) */
    char *env;            /* JIVE_ENV: "production" or "development" */
    bool development;
    char *database_url; /* DATABASE_URL (NULL only for jivectl) */
    char *redis_url;    /* REDIS_URL (NULL only for jivectl) */
    char *redis_host;   /* parsed from REDIS_URL */
    int redis_port;
    char *redis_password; /* NULL when none */
    int redis_db;
    int port;   /* PORT */
    char *bind; /* JIVE_BIND */
    enum jc_log_level log_level;
    char *jwt_secret;     /* JIVE_JWT_SECRET */
    char *jwt_public_key; /* JIVE_JWT_PUBLIC_KEY (PEM) */
    enum jc_jwt_alg
        jwt_alg;        /* pinned: HS256 with a secret, JIVE_JWT_ALG (RS256|ES256) with a key */
    char *jwt_issuer;   /* JIVE_JWT_ISSUER */
    char *jwt_audience; /* JIVE_JWT_AUDIENCE */
    long rate_limit_per_minute;
    char *github_webhook_secret; /* NULL: only per-project webhook URLs */
    char *workspace_dir;
    char **cors_origins; /* NULL-terminated */
    size_t n_cors_origins;
    size_t max_body_bytes;
    long shutdown_timeout_ms;   /* JIVE_SHUTDOWN_TIMEOUT_MS: drain bound on SIGTERM */
    long db_pool_size;          /* JIVE_DB_POOL_SIZE */
    long query_timeout_ms;      /* JIVE_QUERY_TIMEOUT_MS */
    long redis_timeout_ms;      /* JIVE_REDIS_TIMEOUT_MS */
    long health_timeout_ms;     /* JIVE_HEALTH_TIMEOUT_MS */
    long cache_ttl_ms;          /* JIVE_MCP_CACHE_TTL_MS: jive-mcp read cache expiry (0: off) */
    long worker_concurrency;    /* JIVE_WORKER_CONCURRENCY: git-bound jobs at once */
    long worker_db_concurrency; /* JIVE_WORKER_DB_CONCURRENCY: database-only jobs at once */
    char *worker_id;            /* JIVE_WORKER_ID: default <hostname>-<pid>-<random> */
    bool trust_proxy;           /* JIVE_TRUST_PROXY: take the client address from X-Forwarded-For */
    char *repo_hosts;           /* JIVE_REPO_HOSTS: hosts a project's repository may be on,
                                   comma-separated (default "github.com") */
    bool allow_local_repos;     /* JIVE_ALLOW_LOCAL_REPOS: local paths and file:// allowed (unsafe
                                   when tenants share the deployment) */
    char *audit_spool;          /* JIVE_AUDIT_SPOOL: where jive-mcp keeps audit rows the database
                                   could not take at shutdown */
    long worker_ttl_ms;         /* JIVE_WORKER_TTL_MS: heartbeat lifetime */
    long retry_base_ms;         /* JIVE_RETRY_BASE_MS: first retry delay (doubles each time) */
    int max_attempts[5];        /* per queue (enum jc_queue order): JIVE_MAX_ATTEMPTS, overridden by
                                   JIVE_MAX_ATTEMPTS_<QUEUE> such as JIVE_MAX_ATTEMPTS_RUN_SYNC */

    long sse_heartbeat_ms;      /* JIVE_SSE_HEARTBEAT_MS: a comment line on idle event streams */
    long sse_max_per_token;     /* JIVE_SSE_MAX_PER_TOKEN: open streams per token subject */
    long session_ttl_s;         /* JIVE_MCP_SESSION_TTL_S: an idle 2025-era MCP session's life */
    long memory_quota;          /* JIVE_MEMORY_QUOTA: notes a project's memory holds at most */
    char *policy_file;          /* JIVE_POLICY_FILE: the policy (jc/policy.h); NULL: none */
    long job_retention_days;    /* JIVE_JOB_RETENTION_DAYS: succeeded jobs kept (0: for ever) */
    long audit_retention_days;  /* JIVE_AUDIT_RETENTION_DAYS: audit log days kept (0: for ever) */
    long event_retention_days;  /* JIVE_EVENT_RETENTION_DAYS: webhook payload days kept (0: ...) */
    long retention_interval_ms; /* JIVE_RETENTION_INTERVAL_MS: how often the pruning runs */

    /* the connection guard (jc/conn.h) */
    long http_header_timeout_ms;  /* JIVE_HTTP_HEADER_TIMEOUT_MS: a request's headers */
    long http_idle_timeout_ms;    /* JIVE_HTTP_IDLE_TIMEOUT_MS: an idle keep-alive connection */
    long http_min_rate;           /* JIVE_HTTP_MIN_RATE: bytes/s a body or a reply must keep */
    long http_max_conns_per_addr; /* JIVE_HTTP_MAX_CONNS_PER_ADDR: 0 is no cap; default 256, or
                                     0 with JIVE_TRUST_PROXY (the peer is then the proxy) */

    /* sign-in (docs/SIGN-IN.md): on when the signing key and the GitHub app are both set */
    bool oauth_enabled;
    char *oauth_signing_key; /* JIVE_OAUTH_SIGNING_KEY: path of the EC P-256 private key */
    char *oauth_key_pem;     /* the key, read at load (jc_auth_key_load) */
    char *oauth_pub_pem;     /* its public half */
    char oauth_kid[48];      /* RFC 7638 thumbprint: the tokens' kid and the JWK's */
    char oauth_jwk_x[48], oauth_jwk_y[48];
    char *oauth_issuer;          /* the origin of JIVE_JWT_AUDIENCE */
    char *oauth_roles;           /* JIVE_OAUTH_ROLES: "role=scope scope;role=..." */
    long oauth_access_ttl_s;     /* JIVE_OAUTH_ACCESS_TTL_S */
    long oauth_refresh_ttl_s;    /* JIVE_OAUTH_REFRESH_TTL_S */
    long signin_rate_per_minute; /* JIVE_SIGNIN_RATE_PER_MINUTE: anonymous sign-in requests
                                    (register, authorize, token, revoke) per client address */
    char *github_client_id;      /* JIVE_GITHUB_CLIENT_ID */
    char *github_client_secret;  /* JIVE_GITHUB_CLIENT_SECRET */
    char *github_url;            /* JIVE_GITHUB_URL: web flow base (Enterprise: https://ghe.host) */
    char *github_api_url;        /* JIVE_GITHUB_API_URL: REST base (Enterprise: .../api/v3) */
    char *ca_file;               /* JIVE_CA_FILE: extra trusted CAs (PEM) for outbound HTTPS */
};

/* The default JIVE_OAUTH_ROLES. */
#define JC_DEFAULT_OAUTH_ROLES                                                                     \
    "viewer=projects:read status:read stories:read gates:read conflicts:read jobs:read runs:read " \
    "events:read memory:read;"                                                                     \
    "developer=projects:read status:read stories:read gates:read conflicts:read jobs:read "        \
    "runs:read events:read memory:read agents:write runs:write kanban:write memory:write;"         \
    "lead=projects:read status:read stories:read gates:read conflicts:read jobs:read runs:read "   \
    "events:read memory:read agents:write runs:write kanban:write memory:write audit:read "        \
    "reports:read"

/*
 * Fills cfg for service svc from lookup (NULL: getenv). On error returns JC_EINVAL and writes a
 * one-line message naming the variable into err ("PORT: must be an integer 1..65535, got 'x'");
 * cfg is then cleared. jivectl (JC_SVC_CTL) treats DATABASE_URL, REDIS_URL and the JWT settings
 * as optional; commands check what they need with jc_config_require.
 * Call jc_config_clear to release cfg's strings.
 */
enum jc_err jc_config_load(struct jc_config *cfg, enum jc_svc svc, jc_config_lookup_fn *lookup,
                           void *ud, char *err, size_t errlen) JC_MUSTCHECK;

/* Frees every string cfg owns and zeroes it; safe on a zeroed or already cleared cfg. */
void jc_config_clear(struct jc_config *cfg);

/*
 * For jivectl: returns JC_OK when the named setting ("DATABASE_URL", "REDIS_URL",
 * "JIVE_JWT_SECRET") is present in cfg, else JC_EINVAL with "<NAME>: required, not set".
 */
enum jc_err jc_config_require(const struct jc_config *cfg, const char *name, char *err,
                              size_t errlen) JC_MUSTCHECK;

/*
 * The scopes of role in JIVE_OAUTH_ROLES into out (space-separated); false when there is no such
 * role.
 */
bool jc_config_role_scopes(const struct jc_config *cfg, const char *role, char *out, size_t len);

/* True when origin is in the CORS allowlist (exact match; "*" in the list allows any). */
bool jc_config_origin_allowed(const struct jc_config *cfg, const char *origin);

#endif
