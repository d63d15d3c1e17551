/* SPDX-License-Identifier: MIT */
/* auth.c: HS256 token minting with libjwt. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jwt.h>

#include "jc/auth.h"
#include "jc/crypto.h"

enum jc_err jc_auth_mint(const struct jc_config *cfg, const struct jc_auth_claims *c, char **out,
                         char *err, size_t errlen)
{
    jwt_t *jwt = NULL;
    char jti[33];
    time_t now = time(NULL);
    enum jc_err rc = JC_EINVAL;
    char *tok;

    *out = NULL;
    if ((rc = jc_config_require(cfg, "JIVE_JWT_SECRET", err, errlen)) != JC_OK ||
        (rc = jc_config_require(cfg, "JIVE_JWT_ISSUER", err, errlen)) != JC_OK ||
        (rc = jc_config_require(cfg, "JIVE_JWT_AUDIENCE", err, errlen)) != JC_OK)
        return rc;
    rc = JC_EINVAL;
    if (c->sub == NULL || c->name == NULL || c->org == NULL || c->scopes == NULL ||
        c->ttl_ms <= 0) {
        jc_errbuf_set(err, errlen, "sub, name, org, scopes and a positive ttl are required");
        return JC_EINVAL;
    }
    if (jc_crypto_random_hex(jti, 16) != JC_OK) {
        jc_errbuf_set(err, errlen, "no randomness available");
        return JC_EIO;
    }
    if (jwt_new(&jwt) != 0) {
        jc_errbuf_set(err, errlen, "out of memory");
        return JC_ENOMEM;
    }
    if (jwt_add_grant(jwt, "iss", cfg->jwt_issuer) != 0 ||
        jwt_add_grant(jwt, "aud", cfg->jwt_audience) != 0 ||
        jwt_add_grant(jwt, "sub", c->sub) != 0 || jwt_add_grant(jwt, "name", c->name) != 0 ||
        jwt_add_grant(jwt, "org", c->org) != 0 ||
        (c->org_id != NULL && jwt_add_grant(jwt, "org_id", c->org_id) != 0) ||
        jwt_add_grant(jwt, "scope", c->scopes) != 0 || jwt_add_grant(jwt, "jti", jti) != 0 ||
        jwt_add_grant_int(jwt, "iat", (long)now) != 0 ||
        jwt_add_grant_int(jwt, "nbf", (long)now) != 0 ||
        jwt_add_grant_int(jwt, "exp", (long)(now + c->ttl_ms / 1000)) != 0 ||
        jwt_set_alg(jwt, JWT_ALG_HS256, (const unsigned char *)cfg->jwt_secret,
                    (int)strlen(cfg->jwt_secret)) != 0) {
        jc_errbuf_set(err, errlen, "cannot build the token");
        goto out;
    }
    tok = jwt_encode_str(jwt);
    if (tok == NULL) {
        jc_errbuf_set(err, errlen, "cannot sign the token");
        goto out;
    }
    *out = tok;
    rc = JC_OK;
out:
    jwt_free(jwt);
    return rc;
}
