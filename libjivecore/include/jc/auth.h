/* SPDX-License-Identifier: MIT */
/* jc/auth.h: JWT access tokens (libjwt): minting for jivectl; verification comes with jive-mcp. */
#ifndef JC_AUTH_H
#define JC_AUTH_H

#include "jc/config.h"
#include "jc/err.h"

struct jc_auth_claims {
    const char *sub;    /* actor id */
    const char *name;   /* actor display name */
    const char *org;    /* org slug */
    const char *org_id; /* org uuid, may be NULL */
    const char *scopes; /* space-separated */
    long long ttl_ms;   /* lifetime from now */
};

/*
 * Mints an HS256 token with cfg's secret, issuer and audience: sub, name, org, org_id, scope,
 * iat, nbf, exp, jti. *out receives a malloc'd string (free()). JC_EINVAL with err when cfg lacks
 * JIVE_JWT_SECRET/ISSUER/AUDIENCE or a claim is missing.
 */
enum jc_err jc_auth_mint(const struct jc_config *cfg, const struct jc_auth_claims *claims,
                         char **out, char *err, size_t errlen) JC_MUSTCHECK;

#endif
