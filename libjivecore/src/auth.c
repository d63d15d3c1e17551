/* SPDX-License-Identifier: MIT */
/* auth.c: token minting and verification with libjwt; the algorithm is pinned by config. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/buffer.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "jc/auth.h"
#include "jc/crypto.h"
#include "jc/parse.h"

#define LEEWAY_S 30 /* for exp and nbf */

/* {"projects": [...]} from c->projects, or NULL with err set when an id is not a uuid or there
 * are too many. */
static char *projects_grant(const char *list, char *err, size_t errlen)
{
    cJSON *obj = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(obj, "projects");
    char id[40];
    char *json = NULL;
    const char *w;
    size_t len;
    int n = 0;

    if (arr == NULL)
        goto out;
    while ((w = jc_parse_word(&list, " ,", &len)) != NULL) {
        if (len >= sizeof(id) || ++n > JC_AUTH_MAX_PROJECTS) {
            jc_errbuf_set(err, errlen, "at most %d project ids", JC_AUTH_MAX_PROJECTS);
            goto out;
        }
        memcpy(id, w, len);
        id[len] = '\0';
        if (!jc_crypto_is_uuid(id)) {
            jc_errbuf_set(err, errlen, "'%s' is not a project id", id);
            goto out;
        }
        if (!cJSON_AddItemToArray(arr, cJSON_CreateString(id)))
            goto out;
    }
    json = cJSON_PrintUnformatted(obj);
    if (json == NULL)
        jc_errbuf_set(err, errlen, "out of memory");
out:
    cJSON_Delete(obj);
    return json;
}

/* Mints claims with alg and key under issuer iss; kid (may be NULL) goes in the header. */
static enum jc_err mint(const struct jc_config *cfg, const struct jc_auth_claims *c, jwt_alg_t alg,
                        const char *key, const char *iss, const char *kid, char **out, char *err,
                        size_t errlen)
{
    jwt_t *jwt = NULL;
    char jti[33];
    time_t now = time(NULL);
    enum jc_err rc = JC_EINVAL;
    char *tok;
    char *projects = NULL;

    *out = NULL;
    if (c->sub == NULL || c->name == NULL || c->org == NULL || c->scopes == NULL ||
        c->ttl_ms <= 0) {
        jc_errbuf_set(err, errlen, "sub, name, org, scopes and a positive ttl are required");
        return JC_EINVAL;
    }
    if (c->projects != NULL && (projects = projects_grant(c->projects, err, errlen)) == NULL)
        return JC_EINVAL;
    if (jc_crypto_random_hex(jti, 16) != JC_OK) {
        cJSON_free(projects);
        jc_errbuf_set(err, errlen, "no randomness available");
        return JC_EIO;
    }
    if (jwt_new(&jwt) != 0) {
        cJSON_free(projects);
        jc_errbuf_set(err, errlen, "out of memory");
        return JC_ENOMEM;
    }
    if (jwt_add_grant(jwt, "iss", iss) != 0 || jwt_add_grant(jwt, "aud", cfg->jwt_audience) != 0 ||
        jwt_add_grant(jwt, "sub", c->sub) != 0 || jwt_add_grant(jwt, "name", c->name) != 0 ||
        jwt_add_grant(jwt, "org", c->org) != 0 ||
        (c->org_id != NULL && jwt_add_grant(jwt, "org_id", c->org_id) != 0) ||
        jwt_add_grant(jwt, "scope", c->scopes) != 0 ||
        (c->client_id != NULL && jwt_add_grant(jwt, "client_id", c->client_id) != 0) ||
        (c->role != NULL && jwt_add_grant(jwt, "role", c->role) != 0) ||
        (projects != NULL && jwt_add_grants_json(jwt, projects) != 0) ||
        jwt_add_grant(jwt, "jti", jti) != 0 || jwt_add_grant_int(jwt, "iat", (long)now) != 0 ||
        jwt_add_grant_int(jwt, "nbf", (long)now) != 0 ||
        jwt_add_grant_int(jwt, "exp", (long)(now + c->ttl_ms / 1000)) != 0 ||
        (kid != NULL && jwt_add_header(jwt, "kid", kid) != 0) ||
        jwt_set_alg(jwt, alg, (const unsigned char *)key, (int)strlen(key)) != 0) {
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
    cJSON_free(projects);
    return rc;
}

enum jc_err jc_auth_mint(const struct jc_config *cfg, const struct jc_auth_claims *c, char **out,
                         char *err, size_t errlen)
{
    enum jc_err rc;

    *out = NULL;
    if ((rc = jc_config_require(cfg, "JIVE_JWT_SECRET", err, errlen)) != JC_OK ||
        (rc = jc_config_require(cfg, "JIVE_JWT_ISSUER", err, errlen)) != JC_OK ||
        (rc = jc_config_require(cfg, "JIVE_JWT_AUDIENCE", err, errlen)) != JC_OK)
        return rc;
    return mint(cfg, c, JWT_ALG_HS256, cfg->jwt_secret, cfg->jwt_issuer, NULL, out, err, errlen);
}

enum jc_err jc_auth_mint_signed_in(const struct jc_config *cfg, const struct jc_auth_claims *c,
                                   char **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!cfg->oauth_enabled) {
        jc_errbuf_set(err, errlen, "sign-in is not configured");
        return JC_EINVAL;
    }
    return mint(cfg, c, JWT_ALG_ES256, cfg->oauth_key_pem, cfg->oauth_issuer, cfg->oauth_kid, out,
                err, errlen);
}

/* ---- the sign-in key ---- */

enum jc_err jc_auth_key_load(struct jc_config *cfg, const char *path, char *err, size_t errlen)
{
    BIO *in = BIO_new_file(path, "r"), *priv = NULL, *pub = NULL;
    EVP_PKEY *pkey = NULL;
    BIGNUM *bx = NULL, *by = NULL;
    unsigned char x[32], y[32], digest[JC_SHA256_LEN];
    char group[64], thumb[256];
    BUF_MEM *mem;
    enum jc_err rc = JC_EINVAL;

    if (in == NULL) {
        jc_errbuf_set(err, errlen, "JIVE_OAUTH_SIGNING_KEY: cannot open %s", path);
        return JC_EINVAL;
    }
    pkey = PEM_read_bio_PrivateKey(in, NULL, NULL, NULL);
    if (pkey == NULL || EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC ||
        EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                       NULL) != 1 ||
        strcmp(group, "prime256v1") != 0) {
        jc_errbuf_set(err, errlen,
                      "JIVE_OAUTH_SIGNING_KEY: %s is not an EC P-256 private key in PEM "
                      "(openssl ecparam -name prime256v1 -genkey -noout)",
                      path);
        goto out;
    }
    if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, &bx) != 1 ||
        EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &by) != 1 ||
        BN_bn2binpad(bx, x, 32) != 32 || BN_bn2binpad(by, y, 32) != 32) {
        jc_errbuf_set(err, errlen, "JIVE_OAUTH_SIGNING_KEY: cannot read the public point");
        goto out;
    }
    jc_crypto_base64url(x, 32, cfg->oauth_jwk_x, sizeof(cfg->oauth_jwk_x));
    jc_crypto_base64url(y, 32, cfg->oauth_jwk_y, sizeof(cfg->oauth_jwk_y));
    /* RFC 7638: the thumbprint of the required members in lexicographic order */
    snprintf(thumb, sizeof(thumb), "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
             cfg->oauth_jwk_x, cfg->oauth_jwk_y);
    if (jc_crypto_sha256(thumb, strlen(thumb), digest) != JC_OK)
        goto out;
    jc_crypto_base64url(digest, sizeof(digest), cfg->oauth_kid, sizeof(cfg->oauth_kid));
    priv = BIO_new(BIO_s_mem());
    pub = BIO_new(BIO_s_mem());
    if (priv == NULL || pub == NULL ||
        PEM_write_bio_PrivateKey(priv, pkey, NULL, NULL, 0, NULL, NULL) != 1 ||
        PEM_write_bio_PUBKEY(pub, pkey) != 1) {
        jc_errbuf_set(err, errlen, "JIVE_OAUTH_SIGNING_KEY: cannot encode the key");
        goto out;
    }
    BIO_get_mem_ptr(priv, &mem);
    cfg->oauth_key_pem = strndup(mem->data, mem->length);
    BIO_get_mem_ptr(pub, &mem);
    cfg->oauth_pub_pem = strndup(mem->data, mem->length);
    if (cfg->oauth_key_pem == NULL || cfg->oauth_pub_pem == NULL) {
        jc_errbuf_set(err, errlen, "out of memory");
        rc = JC_ENOMEM;
        goto out;
    }
    rc = JC_OK;
out:
    OPENSSL_cleanse(x, sizeof(x));
    BN_free(bx);
    BN_free(by);
    EVP_PKEY_free(pkey);
    BIO_free(in);
    BIO_free_all(priv);
    BIO_free_all(pub);
    return rc;
}

/*
 * The "kid" of token's header, unverified, into out ("" when there is none): only to choose the
 * key the signature is then checked with.
 */
static void header_kid(const char *token, char *out, size_t len)
{
    const char *dot = strchr(token, '.');
    size_t n = dot != NULL ? (size_t)(dot - token) : 0, i;
    char b64[1024];
    unsigned char raw[800];
    int got;
    cJSON *h;
    const cJSON *kid;

    out[0] = '\0';
    if (n == 0 || n + 4 >= sizeof(b64))
        return;
    for (i = 0; i < n; i++)
        b64[i] = token[i] == '-' ? '+' : token[i] == '_' ? '/' : token[i];
    while (i % 4 != 0)
        b64[i++] = '=';
    got = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)i);
    if (got <= 0)
        return;
    h = cJSON_ParseWithLength((const char *)raw, (size_t)got);
    kid = cJSON_GetObjectItemCaseSensitive(h, "kid");
    if (cJSON_IsString(kid))
        snprintf(out, len, "%s", kid->valuestring);
    cJSON_Delete(h);
}

static jwt_alg_t pinned_alg(const struct jc_config *cfg)
{
    switch (cfg->jwt_alg) {
    case JC_JWT_RS256:
        return JWT_ALG_RS256;
    case JC_JWT_ES256:
        return JWT_ALG_ES256;
    case JC_JWT_HS256:
        break;
    }
    return JWT_ALG_HS256;
}

static void copy_grant(jwt_t *jwt, const char *name, char *out, size_t len)
{
    const char *v = jwt_get_grant(jwt, name);

    snprintf(out, len, "%s", v != NULL ? v : "");
}

/* True when claim (a JSON string or array of strings) is or contains want. */
static bool json_claim_has(jwt_t *jwt, const char *claim, const char *want)
{
    char *json = jwt_get_grants_json(jwt, claim);
    cJSON *v = json != NULL ? cJSON_Parse(json) : NULL;
    const cJSON *e;
    bool found = false;

    if (v != NULL && cJSON_IsString(v)) {
        found = strcmp(v->valuestring, want) == 0;
    } else if (v != NULL && cJSON_IsArray(v)) {
        cJSON_ArrayForEach(e, v)
        {
            if (cJSON_IsString(e) && strcmp(e->valuestring, want) == 0)
                found = true;
        }
    }
    cJSON_Delete(v);
    free(json);
    return found;
}

/* Scopes from "scope" (space-separated string) or "scp" (string or array). */
static void read_scopes(jwt_t *jwt, char *out, size_t len)
{
    const char *scope = jwt_get_grant(jwt, "scope");
    char *json;
    cJSON *v;
    const cJSON *e;
    size_t used = 0;

    out[0] = '\0';
    if (scope != NULL) {
        snprintf(out, len, "%s", scope);
        return;
    }
    json = jwt_get_grants_json(jwt, "scp");
    v = json != NULL ? cJSON_Parse(json) : NULL;
    if (v != NULL && cJSON_IsString(v)) {
        snprintf(out, len, "%s", v->valuestring);
    } else if (v != NULL && cJSON_IsArray(v)) {
        cJSON_ArrayForEach(e, v)
        {
            int n;
            if (!cJSON_IsString(e) || used >= len)
                continue;
            n = snprintf(out + used, len - used, "%s%s", used > 0 ? " " : "", e->valuestring);
            if (n > 0)
                used += (size_t)n;
        }
    }
    cJSON_Delete(v);
    free(json);
}

/* The optional "projects" claim into out (see jc_principal); false when it is malformed. */
static bool read_projects(jwt_t *jwt, char *out, size_t len)
{
    char *json = jwt_get_grants_json(jwt, "projects");
    cJSON *v;
    const cJSON *e;
    size_t used = 0;
    int n = 0;
    bool ok = true;

    out[0] = '\0';
    if (json == NULL)
        return true; /* no claim: every project of the org */
    v = cJSON_Parse(json);
    if (!cJSON_IsArray(v)) {
        ok = false;
    } else if (cJSON_GetArraySize(v) == 0) {
        snprintf(out, len, "none");
    } else {
        cJSON_ArrayForEach(e, v)
        {
            if (!cJSON_IsString(e) || !jc_crypto_is_uuid(e->valuestring) ||
                ++n > JC_AUTH_MAX_PROJECTS) {
                ok = false;
                break;
            }
            used += (size_t)snprintf(out + used, len - used, "%s%s", used > 0 ? "," : "",
                                     e->valuestring);
        }
    }
    cJSON_Delete(v);
    free(json);
    if (!ok)
        out[0] = '\0';
    return ok;
}

enum jc_err jc_auth_verify(const struct jc_config *cfg, const char *token, long now,
                           struct jc_principal *out, char *err, size_t errlen)
{
    jwt_t *jwt = NULL;
    const char *key = cfg->jwt_secret != NULL ? cfg->jwt_secret : cfg->jwt_public_key;
    const char *iss = cfg->jwt_issuer;
    jwt_alg_t alg = pinned_alg(cfg);
    enum jc_err rc = JC_EAUTH;
    long exp, nbf;
    char kid[64];

    memset(out, 0, sizeof(*out));
    if (cfg->oauth_enabled && token != NULL && strlen(token) <= 8192) {
        /* a token JIVE's sign-in issued names its key; it is checked with that key only */
        header_kid(token, kid, sizeof(kid));
        if (strcmp(kid, cfg->oauth_kid) == 0) {
            key = cfg->oauth_pub_pem;
            iss = cfg->oauth_issuer;
            alg = JWT_ALG_ES256;
        }
    }
    if (key == NULL) {
        jc_errbuf_set(err, errlen, "token verification is not configured");
        return JC_EAUTH;
    }
    if (token == NULL || *token == '\0' || strlen(token) > 8192) {
        jc_errbuf_set(err, errlen, "missing or oversized token");
        return JC_EAUTH;
    }
    if (jwt_decode(&jwt, token, (const unsigned char *)key, (int)strlen(key)) != 0 || jwt == NULL) {
        jc_errbuf_set(err, errlen, "malformed token or bad signature");
        goto out;
    }
    if (jwt_get_alg(jwt) != alg) {
        jc_errbuf_set(err, errlen, "token algorithm %s is not accepted",
                      jwt_alg_str(jwt_get_alg(jwt)));
        goto out;
    }
    errno = 0;
    exp = jwt_get_grant_int(jwt, "exp");
    if (errno != 0 || exp <= 0) {
        jc_errbuf_set(err, errlen, "token has no expiry");
        goto out;
    }
    if (now > exp + LEEWAY_S) {
        jc_errbuf_set(err, errlen, "token expired");
        goto out;
    }
    errno = 0;
    nbf = jwt_get_grant_int(jwt, "nbf");
    if (errno == 0 && nbf > now + LEEWAY_S) {
        jc_errbuf_set(err, errlen, "token not valid yet");
        goto out;
    }
    if (iss != NULL && !json_claim_has(jwt, "iss", iss)) {
        jc_errbuf_set(err, errlen, "wrong issuer");
        goto out;
    }
    if (cfg->jwt_audience != NULL && !json_claim_has(jwt, "aud", cfg->jwt_audience)) {
        jc_errbuf_set(err, errlen, "wrong audience");
        goto out;
    }
    copy_grant(jwt, "sub", out->sub, sizeof(out->sub));
    if (out->sub[0] == '\0') {
        jc_errbuf_set(err, errlen, "token has no subject");
        goto out;
    }
    copy_grant(jwt, "name", out->name, sizeof(out->name));
    copy_grant(jwt, "org", out->org, sizeof(out->org));
    copy_grant(jwt, "org_id", out->org_id, sizeof(out->org_id));
    copy_grant(jwt, "client_id", out->client_id, sizeof(out->client_id));
    copy_grant(jwt, "role", out->role, sizeof(out->role));
    read_scopes(jwt, out->scopes, sizeof(out->scopes));
    if (!read_projects(jwt, out->projects, sizeof(out->projects))) {
        jc_errbuf_set(err, errlen, "the projects claim must be an array of at most %d project ids",
                      JC_AUTH_MAX_PROJECTS);
        goto out;
    }
    out->exp = exp;
    rc = JC_OK;
out:
    jwt_free(jwt);
    return rc;
}

/* ---- the verified-token cache ---- */

struct cached_token {
    bool used;
    unsigned char digest[JC_SHA256_LEN];
    struct jc_principal who;
};

struct jc_auth_cache {
    struct cached_token slots[JC_AUTH_CACHE_SLOTS];
};

struct jc_auth_cache *jc_auth_cache_new(void)
{
    return calloc(1, sizeof(struct jc_auth_cache));
}

void jc_auth_cache_free(struct jc_auth_cache *cache)
{
    if (cache != NULL)
        OPENSSL_cleanse(cache, sizeof(*cache));
    free(cache);
}

enum jc_err jc_auth_verify_cached(struct jc_auth_cache *cache, const struct jc_config *cfg,
                                  const char *token, long now, struct jc_principal *out, char *err,
                                  size_t errlen)
{
    unsigned char digest[JC_SHA256_LEN];
    struct cached_token *slot;
    size_t len = token != NULL ? strlen(token) : 0;
    enum jc_err rc;

    if (cache == NULL || token == NULL || len > 8192 ||
        jc_crypto_sha256(token, len, digest) != JC_OK)
        return jc_auth_verify(cfg, token, now, out, err, errlen);
    slot = &cache->slots[(digest[0] | (unsigned)digest[1] << 8) % JC_AUTH_CACHE_SLOTS];
    if (slot->used && jc_crypto_equal(slot->digest, sizeof(digest), digest, sizeof(digest))) {
        if (now <= slot->who.exp + LEEWAY_S) {
            *out = slot->who;
            return JC_OK;
        }
        slot->used = false; /* expired: verification below says so */
    }
    rc = jc_auth_verify(cfg, token, now, out, err, errlen);
    if (rc == JC_OK) {
        memcpy(slot->digest, digest, sizeof(digest));
        slot->who = *out;
        slot->used = true;
    }
    return rc;
}

bool jc_scope_has(const char *scopes, const char *scope)
{
    size_t n = strlen(scope);
    const char *s = scopes;

    while (n > 0 && (s = strstr(s, scope)) != NULL) {
        bool start = s == scopes || s[-1] == ' ';
        bool end = s[n] == '\0' || s[n] == ' ';
        if (start && end)
            return true;
        s += n;
    }
    return false;
}

bool jc_principal_has_scope(const struct jc_principal *p, const char *scope)
{
    return jc_scope_has(p->scopes, scope);
}

const char *jc_auth_bearer(const char *header)
{
    if (header == NULL || strncasecmp(header, "Bearer ", 7) != 0)
        return NULL;
    header += 7;
    while (*header == ' ')
        header++;
    return *header != '\0' ? header : NULL;
}
