/* SPDX-License-Identifier: MIT */
/*
 * oauth.h: jive-mcp as the OAuth 2.1 authorization server of its own resource (docs/SIGN-IN.md).
 *   oauth.c      metadata (RFC 8414, the JWKS), client registration (RFC 7591), the token
 *                endpoint (authorization code with PKCE, refresh rotation), revocation (RFC 7009),
 *                and what the three share: form parsing, OAuth errors, audit rows, clients.
 *   authorize.c  GET /authorize, the return from GitHub, the consent page and its answer.
 *   github.c     the user's identity from GitHub's OAuth web flow and REST API.
 * Every step runs on the loop: Postgres through jc/pg, GitHub and client metadata documents
 * through jc/fetch. Only registered when sign-in is configured (cfg->oauth_enabled).
 */
#ifndef MCP_OAUTH_H
#define MCP_OAUTH_H

#include <sys/queue.h>

#include <event2/keyvalq_struct.h>

#include "mcp.h"

#define OAUTH_REQUEST_TTL_S 600 /* from /authorize to the consent */
#define OAUTH_CODE_TTL_S 60
#define OAUTH_COOKIE "jive_signin"

/* One OAuth client as stored (oauth_clients). */
struct oauth_client {
    char client_id[512];
    char kind[16];
    char name[256];
    char **redirect_uris; /* NULL-terminated, owned */
    bool confidential;    /* has a secret */
};

void oauth_client_clear(struct oauth_client *c);

/* A client as oauth_client_get finds it: JC_OK, JC_ENOTFOUND, or another error with msg. */
typedef void oauth_client_cb(enum jc_err err, struct oauth_client *c, const char *msg, void *ud);

/*
 * Finds client_id: a stored client, or a client ID metadata document (an https URL) fetched
 * within the SSRF limits and cached for an hour. cb runs once, later; c is borrowed.
 */
void oauth_client_get(struct mcp *m, const char *client_id, oauth_client_cb *cb, void *ud);

/* True when uri is one of c's redirect URIs (jc_redirect_matches). */
bool oauth_redirect_allowed(const struct oauth_client *c, const char *uri);

/* Parses req's application/x-www-form-urlencoded body into q (evhttp_clear_headers after). */
bool oauth_form(struct jc_req *req, struct evkeyvalq *q);

/* The OAuth error response {"error", "error_description"} (RFC 6749 section 5.2). */
void oauth_error(struct jc_req *req, int status, const char *error, const char *description);

/* A plain HTML page (a person reads it), escaped text, no script. */
void oauth_page(struct mcp *m, struct jc_req *req, int status, const char *title, const char *text);

/* The sign-in pages' style sheet (allowed by its hash) and their headers: a CSP with that hash,
 * form-action as given (NULL: 'none'), no framing. */
const char *oauth_page_style(void);
void oauth_page_headers(struct mcp *m, struct jc_req *req, const char *form_action);

/* True when resource is this server's resource URL (JIVE_JWT_AUDIENCE; a trailing slash aside). */
bool oauth_resource_ours(const struct jc_config *cfg, const char *resource);

/* SHA-256 hex of s into out (65 bytes). */
void oauth_hash(const char *s, char out[65]);

/* The value of cookie name in req's Cookie header into out; false when absent. */
bool oauth_cookie(struct jc_req *req, const char *name, char *out, size_t len);

/* One audit row of a sign-in step: tool "oauth/<step>", actor the user when known. */
struct oauth_audit {
    const char *step; /* authorize, github, consent, token, refresh, revoke, register */
    const char *org_id, *sub, *login, *client_id, *scope;
    const char *result; /* success, denied, invalid, error */
    const char *error;
};
void oauth_audit(struct mcp *m, struct jc_req *req, const struct oauth_audit *a);

/* The scopes of want (space-separated) that role allows, into out; all of the role's when want
 * is empty. */
void oauth_grant(const struct jc_config *cfg, const char *role, const char *want, char *out,
                 size_t len);

/* Runs then(req, m) when the client address's bucket of anonymous sign-in requests allows it,
 * else answers 429 with Retry-After (Redis away: unchecked). */
void oauth_metered(struct mcp *m, struct jc_req *req, jc_http_handler *then);

/* authorize.c */
enum jc_err oauth_authorize_routes(struct mcp *m) JC_MUSTCHECK;

/*
 * github.c: the user behind a code GitHub sent back to redirect_uri: the code is exchanged for a
 * GitHub token (used for these calls only, never stored), then GET /user and GET /user/orgs.
 * cb runs once, later: id and login (lower case) of the user and the logins of their GitHub
 * organisations (lower case, NULL-terminated), all borrowed during the call; on failure err is
 * not JC_OK and msg says why (safe to show). Returns JC_ENOMEM, and never calls cb, when the
 * first request cannot be made.
 */
typedef void github_user_cb(enum jc_err err, long long id, const char *login,
                            const char *const *orgs, const char *msg, void *ud);
enum jc_err github_identify(struct mcp *m, const char *code, const char *redirect_uri,
                            github_user_cb *cb, void *ud) JC_MUSTCHECK;

#endif
