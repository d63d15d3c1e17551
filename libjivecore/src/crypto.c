/* SPDX-License-Identifier: MIT */
/* crypto.c: thin, checked wrappers over OpenSSL's HMAC, SHA-256, CRYPTO_memcmp and RAND. */
#include <ctype.h>
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

enum jc_err jc_crypto_sha256_hex(const void *data, size_t len, char out[JC_SHA256_HEX_LEN])
{
    unsigned char md[JC_SHA256_LEN];
    unsigned int mdlen = 0;
    static const unsigned char empty = 0;

    if (EVP_Digest(data != NULL ? data : &empty, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
        mdlen != JC_SHA256_LEN)
        return JC_EINVAL;
    jc_crypto_hex(md, sizeof(md), out);
    return JC_OK;
}

bool jc_crypto_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    if (alen != blen)
        return false;
    if (alen == 0)
        return true;
    return CRYPTO_memcmp(a, b, alen) == 0;
}

enum jc_err jc_crypto_random(void *buf, size_t n)
{
    if (n > 0x7fffffff || RAND_bytes(buf, (int)n) != 1)
        return JC_EIO;
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
