/* SPDX-License-Identifier: MIT */
/* crypto.c: thin, checked wrappers over OpenSSL's HMAC, SHA-256, CRYPTO_memcmp and RAND. */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "jc/crypto.h"

void jc_crypto_hex(const unsigned char *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0xf];
    }
    out[2 * len] = '\0';
}

static int nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool jc_crypto_unhex(const char *hex, unsigned char *out, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        int hi = nibble(hex[2 * i]), lo = hi < 0 ? -1 : nibble(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return hex[2 * len] == '\0';
}

enum jc_err jc_crypto_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
                                  unsigned char out[JC_SHA256_LEN])
{
    unsigned int outlen = 0;
    static const unsigned char empty = 0;

    if (keylen > 0x7fffffff)
        return JC_EINVAL;
    if (HMAC(EVP_sha256(), key != NULL ? key : &empty, (int)keylen, data != NULL ? data : &empty,
             len, out, &outlen) == NULL ||
        outlen != JC_SHA256_LEN)
        return JC_EINVAL;
    return JC_OK;
}

enum jc_err jc_crypto_hmac_sha256_hex(const void *key, size_t keylen, const void *data, size_t len,
                                      char out[JC_SHA256_HEX_LEN])
{
    unsigned char mac[JC_SHA256_LEN];
    enum jc_err err = jc_crypto_hmac_sha256(key, keylen, data, len, mac);

    if (err == JC_OK)
        jc_crypto_hex(mac, sizeof(mac), out);
    return err;
}

/* SHA-256 fetched from the provider once: EVP_sha256() makes every digest look it up again. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void fetch_sha256(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

enum jc_err jc_crypto_sha256(const void *data, size_t len, unsigned char out[JC_SHA256_LEN])
{
    unsigned int mdlen = 0;
    static const unsigned char empty = 0;

    if (pthread_once(&sha256_once, fetch_sha256) != 0 || sha256_md == NULL)
        return JC_EINVAL;
    if (EVP_Digest(data != NULL ? data : &empty, len, out, &mdlen, sha256_md, NULL) != 1 ||
        mdlen != JC_SHA256_LEN)
        return JC_EINVAL;
    return JC_OK;
}

enum jc_err jc_crypto_sha256_hex(const void *data, size_t len, char out[JC_SHA256_HEX_LEN])
{
    unsigned char md[JC_SHA256_LEN];
    enum jc_err err = jc_crypto_sha256(data, len, md);

    if (err == JC_OK)
        jc_crypto_hex(md, sizeof(md), out);
    return err;
}

bool jc_crypto_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    if (alen != blen)
        return false;
    if (alen == 0)
        return true;
    return CRYPTO_memcmp(a, b, alen) == 0;
}

/*
 * Random bytes come from RAND_bytes a pool at a time: each call takes OpenSSL's DRBG lock and
 * provider path, and a request wants several small ids (trace, span, request, audit entry).
 * The pool is per thread; bytes handed out are wiped from it, and a forked child drops the
 * pool instead of repeating its parent's bytes.
 */
#define POOL 512

static _Thread_local struct {
    unsigned char bytes[POOL];
    size_t left; /* the unused bytes are the last `left` of bytes */
} pool;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

static void pool_drop(void) /* in a forked child: its only thread is the forking one */
{
    OPENSSL_cleanse(pool.bytes, POOL);
    pool.left = 0;
}

static void pool_init(void)
{
    (void)pthread_atfork(NULL, NULL, pool_drop);
}

enum jc_err jc_crypto_random(void *buf, size_t n)
{
    if (n > POOL / 4)
        return n <= 0x7fffffff && RAND_bytes(buf, (int)n) == 1 ? JC_OK : JC_EIO;
    if (pool.left < n) {
        if (pthread_once(&pool_once, pool_init) != 0 || RAND_bytes(pool.bytes, POOL) != 1) {
            pool.left = 0;
            return JC_EIO;
        }
        pool.left = POOL;
    }
    memcpy(buf, pool.bytes + POOL - pool.left, n);
    OPENSSL_cleanse(pool.bytes + POOL - pool.left, n);
    pool.left -= n;
    return JC_OK;
}

enum jc_err jc_crypto_random_hex(char *out, size_t nbytes)
{
    unsigned char buf[64];
    enum jc_err err;

    if (nbytes > sizeof(buf))
        return JC_EINVAL;
    err = jc_crypto_random(buf, nbytes);
    if (err != JC_OK)
        return err;
    jc_crypto_hex(buf, nbytes, out);
    return JC_OK;
}

enum jc_err jc_crypto_uuid4(char out[JC_UUID_LEN])
{
    unsigned char b[16];
    char hex[33];
    enum jc_err err = jc_crypto_random(b, sizeof(b));

    if (err != JC_OK)
        return err;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    jc_crypto_hex(b, sizeof(b), hex);
    snprintf(out, JC_UUID_LEN, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16,
             hex + 20);
    return JC_OK;
}

bool jc_crypto_is_uuid(const char *s)
{
    size_t i;

    if (s == NULL || strlen(s) != 36)
        return false;
    for (i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (!isxdigit((unsigned char)s[i])) {
            return false;
        }
    }
    return true;
}

size_t jc_crypto_base64url(const void *in, size_t len, char *out, size_t outlen)
{
    size_t need = 4 * ((len + 2) / 3) + 1, n, i;

    if (outlen < need || len > (size_t)1 << 28) {
        if (outlen > 0)
            out[0] = '\0';
        return 0;
    }
    n = (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)len);
    while (n > 0 && out[n - 1] == '=')
        n--;
    out[n] = '\0';
    for (i = 0; i < n; i++) {
        if (out[i] == '+')
            out[i] = '-';
        else if (out[i] == '/')
            out[i] = '_';
    }
    return n;
}

enum jc_err jc_crypto_random_token(char *out, size_t nbytes)
{
    unsigned char buf[64];

    if (nbytes > sizeof(buf) || jc_crypto_random(buf, nbytes) != JC_OK)
        return JC_EIO;
    jc_crypto_base64url(buf, nbytes, out, 4 * ((nbytes + 2) / 3) + 1);
    OPENSSL_cleanse(buf, sizeof(buf));
    return JC_OK;
}
