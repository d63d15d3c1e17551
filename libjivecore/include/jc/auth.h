/* SPDX-License-Identifier: MIT */
/* jc/auth.h: JWT access tokens (libjwt): minting for jivectl, verification for the services. */
#ifndef JC_AUTH_H
#define JC_AUTH_H

#include "jc/config.h"
#include "jc/err.h"

#define JC_AUTH_MAX_PROJECTS 64

struct jc_auth_claims {
    const char *sub;    /* actor id */
    const char *name;   /* actor display name */
    const char *org;    /* org slug */
    const char *org_id; /* org uuid, may be NULL */
    const char *scopes; /* space-separated */
    long long ttl_ms;   /* lifetime from now */
    /* project uuids separated by spaces or commas, at most JC_AUTH_MAX_PROJECTS: minted as the
     * "projects" claim ("" mints an empty array: no project). NULL: no claim, the whole org. */
    const char *projects;
    const char *client_id; /* a sign-in token's OAuth client, else NULL */
    const char *role;      /* a sign-in token's member role (the "role" claim), else NULL */
};

/*
 * Mints an HS256 token with cfg's secret, issuer and audience: sub, name, org, org_id, scope,
 * projects (when given), iat, nbf, exp, jti. *out receives a malloc'd string (free()). JC_EINVAL
 * with err when cfg lacks JIVE_JWT_SECRET/ISSUER/AUDIENCE or a claim is missing.
 */
enum jc_err jc_auth_mint(const struct jc_config *cfg, const struct jc_auth_claims *claims,
                         char **out, char *err, size_t errlen) JC_MUSTCHECK;

/*
 * Mints a sign-in access token: ES256 with the JIVE_OAUTH_SIGNING_KEY key, its thumbprint as the
 * header's kid, iss the sign-in issuer (cfg->oauth_issuer), aud JIVE_JWT_AUDIENCE, the same
 * claims as jc_auth_mint plus client_id. JC_EINVAL when sign-in is not configured.
 */
enum jc_err jc_auth_mint_signed_in(const struct jc_config *cfg, const struct jc_auth_claims *claims,
                                   char **out, char *err, size_t errlen) JC_MUSTCHECK;

/*
 * Reads the EC P-256 private key at path (PEM) into cfg: oauth_key_pem, oauth_pub_pem, the JWK's
 * x and y and its RFC 7638 thumbprint as oauth_kid. JC_EINVAL with err naming
 * JIVE_OAUTH_SIGNING_KEY when the file is missing or holds another kind of key.
 */
enum jc_err jc_auth_key_load(struct jc_config *cfg, const char *path, char *err,
                             size_t errlen) JC_MUSTCHECK;

/* The verified caller of a request. */
struct jc_principal {
    char sub[128];
    char name[128];
    char org[64];        /* org slug */
    char org_id[40];     /* org uuid, "" when the token has none */
    char client_id[512]; /* the OAuth client of a sign-in token, else "" */
    char role[48];       /* the "role" claim (a sign-in token's member role), else "" */
    char scopes[1024];   /* space-separated */
    /* The optional "projects" claim (an array of project uuids): "" when the token has none
     * (every project of the org), else the uuids joined by ',', or "none" for an empty array. */
    char projects[JC_AUTH_MAX_PROJECTS * 37 + 8];
    long exp;
};

/*
 * Verifies token with cfg's key and pinned algorithm (a token announcing another algorithm,
 * "none" included, is refused) — or, when sign-in is configured and the token's header names the
 * sign-in key (kid), with that key, ES256 and the sign-in issuer only — then exp and nbf (30 s
 * leeway) against now (seconds), iss and aud (a string or an array containing the audience). Scopes
 * come from "scope" (space-separated) or "scp" (string or array). An optional "projects" claim must
 * be an array of at most JC_AUTH_MAX_PROJECTS project uuids (anything else refuses the token).
 * Returns JC_OK and fills out, or JC_EAUTH with a reason in err that is safe to show the client
 * ("token expired", "wrong audience", ...).
 */
enum jc_err jc_auth_verify(const struct jc_config *cfg, const char *token, long now,
                           struct jc_principal *out, char *err, size_t errlen) JC_MUSTCHECK;

/*
 * Verified tokens, remembered by one thread (not thread-safe): a service verifies the same
 * agent's token on every call, and a JWT's signature check and JSON parsing are most of a
 * cached read's cost. jc_auth_verify_cached answers a token it verified before — the same
 * bytes, found by their SHA-256 and compared in constant time — while now <= exp + the
 * leeway, and otherwise verifies it as jc_auth_verify does (only successes are remembered;
 * JC_AUTH_CACHE_SLOTS of them, a newer one replacing an older one in its slot). A cached
 * answer is the one verification gave; nbf is never an issue since time only moves forward.
 * The configuration must not change while the cache lives (the services read it once).
 */
#define JC_AUTH_CACHE_SLOTS 256

struct jc_auth_cache;

struct jc_auth_cache *jc_auth_cache_new(void); /* NULL when out of memory */
void jc_auth_cache_free(struct jc_auth_cache *cache);

enum jc_err jc_auth_verify_cached(struct jc_auth_cache *cache, const struct jc_config *cfg,
                                  const char *token, long now, struct jc_principal *out, char *err,
                                  size_t errlen) JC_MUSTCHECK;

/* True when scope is one of p's scopes (exact match; "admin" does not imply others). */
bool jc_principal_has_scope(const struct jc_principal *p, const char *scope);

/* True when scope is one of the space-separated scopes (exact match). */
bool jc_scope_has(const char *scopes, const char *scope);

/* The token of an "Authorization: Bearer <token>" header value, or NULL. Borrowed. */
const char *jc_auth_bearer(const char *header);

#endif
