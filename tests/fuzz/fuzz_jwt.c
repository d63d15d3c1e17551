/* SPDX-License-Identifier: MIT */
/*
 * fuzz_jwt.c: libFuzzer target for JWT verification (jc_auth_verify over libjwt) and the bearer
 * header parser. Each input is tried as an Authorization header value against an HS256 config
 * and an ES256 public-key config; a token that verifies must yield a bounded principal.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jc/auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char es256_public[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEFG02aqSuLZwk/+WvBsj1X6EBs2Dp\n"
    "tPhwd6Bs5zvter4M3UHt4ZipZZ1zsJ2j766GeHjzpXootTDfgr8HsrW+lw==\n"
    "-----END PUBLIC KEY-----\n";

static void check(const struct jc_config *cfg, const char *header)
{
    struct jc_principal p;
    char err[160];
    const char *tok = jc_auth_bearer(header);

    if (tok == NULL)
        tok = header;
    if (jc_auth_verify(cfg, tok, 1795000000L, &p, err, sizeof(err)) == JC_OK) {
        if (strnlen(p.sub, sizeof(p.sub)) == sizeof(p.sub) ||
            strnlen(p.scopes, sizeof(p.scopes)) == sizeof(p.scopes))
            abort();
        (void)jc_principal_has_scope(&p, "status:read");
    } else if (strnlen(err, sizeof(err)) == sizeof(err)) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct jc_config hs = {0}, es = {0};
    char *s = malloc(size + 1);

    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    hs.jwt_secret = (char *)"fuzz-secret-0123456789abcdef0123456789";
    hs.jwt_alg = JC_JWT_HS256;
    hs.jwt_issuer = es.jwt_issuer = (char *)"https://jive.fuzz";
    hs.jwt_audience = es.jwt_audience = (char *)"http://127.0.0.1/mcp";
    es.jwt_public_key = (char *)es256_public;
    es.jwt_alg = JC_JWT_ES256;
    check(&hs, s);
    check(&es, s);
    free(s);
    return 0;
}
