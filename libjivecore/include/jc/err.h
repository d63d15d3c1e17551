/* SPDX-License-Identifier: MIT */
/* jc/err.h: error codes shared by every libjivecore module, and the error-buffer helper. */
#ifndef JC_ERR_H
#define JC_ERR_H

#include <stddef.h>

#define JC_MUSTCHECK __attribute__((warn_unused_result))
#define JC_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))

enum jc_err {
    JC_OK = 0,
    JC_ENOMEM,    /* allocation failed */
    JC_EINVAL,    /* caller or input error: bad value, malformed data */
    JC_ENOTFOUND, /* the thing asked for does not exist */
    JC_EIO,       /* operating-system I/O failure */
    JC_EPG,       /* PostgreSQL unavailable or returned an error */
    JC_EREDIS,    /* Redis unavailable or returned an error */
    JC_ETIMEOUT,  /* an operation did not finish within its deadline */
    JC_EAUTH,     /* authentication or authorisation failure */
    JC_ECLOSED,   /* the object is shutting down; the operation was not started */
    JC_ECONFLICT  /* the state changed under the caller (duplicate, version mismatch) */
};

/* Returns a static, human-readable name for err; never NULL, also for unknown values. */
const char *jc_strerror(enum jc_err err);

/*
 * Writes a formatted message into buf (at most len bytes, always NUL-terminated).
 * buf may be NULL or len 0: then nothing is written. This is how library functions hand
 * detail text to their callers instead of printing it.
 */
void jc_errbuf_set(char *buf, size_t len, const char *fmt, ...) JC_PRINTF(3, 4);

#endif
