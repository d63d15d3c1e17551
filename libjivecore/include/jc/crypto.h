/* SPDX-License-Identifier: MIT */
/* jc/crypto.h: HMAC-SHA256, SHA-256, constant-time compare, random ids, UUIDv4 (OpenSSL). */
#ifndef JC_CRYPTO_H
#define JC_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>

#include "jc/err.h"

#define JC_SHA256_LEN 32
#define JC_SHA256_HEX_LEN 65 /* 64 hex digits + NUL */
#define JC_UUID_LEN 37       /* 36 characters + NUL */

/* HMAC-SHA256 of data with key into out (32 bytes). Returns JC_OK or JC_EINVAL. */
enum jc_err jc_crypto_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
                                  unsigned char out[JC_SHA256_LEN]) JC_MUSTCHECK;

/* The same as lower-case hex into out (65 bytes, NUL-terminated). */
enum jc_err jc_crypto_hmac_sha256_hex(const void *key, size_t keylen, const void *data, size_t len,
                                      char out[JC_SHA256_HEX_LEN]) JC_MUSTCHECK;

/* SHA-256 of data into out (32 bytes). Returns JC_OK or JC_EINVAL. */
enum jc_err jc_crypto_sha256(const void *data, size_t len,
                             unsigned char out[JC_SHA256_LEN]) JC_MUSTCHECK;

/* SHA-256 of data as lower-case hex into out (65 bytes). Returns JC_OK or JC_EINVAL. */
enum jc_err jc_crypto_sha256_hex(const void *data, size_t len,
                                 char out[JC_SHA256_HEX_LEN]) JC_MUSTCHECK;

/*
 * Compares a and b in time that depends only on the lengths (CRYPTO_memcmp); true when equal.
 * Lengths are not secret (a signature's length is public), so unequal lengths return false.
 */
bool jc_crypto_equal(const void *a, size_t alen, const void *b, size_t blen);

/* Fills buf with n cryptographically strong random bytes. Returns JC_OK or JC_EIO. */
enum jc_err jc_crypto_random(void *buf, size_t n) JC_MUSTCHECK;

/*
 * Writes nbytes random bytes as 2*nbytes lower-case hex digits plus NUL into out, which must
 * hold 2*nbytes+1 bytes. Returns JC_OK or JC_EIO.
 */
enum jc_err jc_crypto_random_hex(char *out, size_t nbytes) JC_MUSTCHECK;

/* Writes a random RFC 4122 version-4 UUID (lower case, 36 chars + NUL). JC_OK or JC_EIO. */
enum jc_err jc_crypto_uuid4(char out[JC_UUID_LEN]) JC_MUSTCHECK;

/* True when s is a canonical UUID (8-4-4-4-12 hex digits, any version). */
bool jc_crypto_is_uuid(const char *s);

/*
 * Decodes exactly 2*len hex digits (either case) from hex into out (len bytes). Returns false,
 * leaving out unspecified, when hex is shorter, longer or holds a non-hex character.
 */
bool jc_crypto_unhex(const char *hex, unsigned char *out, size_t len);

/* Lower-case hex of len bytes into out (2*len+1 bytes). */
void jc_crypto_hex(const unsigned char *in, size_t len, char *out);

/*
 * Unpadded base64url (RFC 4648 section 5) of len bytes into out, which must hold
 * 4*((len+2)/3)+1 bytes. Returns the length written (0 and "" when out is too small).
 */
size_t jc_crypto_base64url(const void *in, size_t len, char *out, size_t outlen);

/* nbytes (at most 64) random bytes as unpadded base64url into out (4*((nbytes+2)/3)+1 bytes):
 * bearer secrets such as authorization codes and refresh tokens. JC_OK or JC_EIO. */
enum jc_err jc_crypto_random_token(char *out, size_t nbytes) JC_MUSTCHECK;

#endif
