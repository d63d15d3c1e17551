/* SPDX-License-Identifier: MIT */
/* err.c: jc_err names and the error-buffer helper. */
#include <stdarg.h>
#include <stdio.h>

#include "jc/err.h"

const char *jc_strerror(enum jc_err err)
{
    switch (err) {
    case JC_OK:
        return "ok";
    case JC_ENOMEM:
        return "out of memory";
    case JC_EINVAL:
        return "invalid argument";
    case JC_ENOTFOUND:
        return "not found";
    case JC_EIO:
        return "i/o error";
    case JC_EPG:
        return "database error";
    case JC_EREDIS:
        return "redis error";
    case JC_ETIMEOUT:
        return "timed out";
    case JC_EAUTH:
        return "not authorised";
    case JC_ECLOSED:
        return "shutting down";
    case JC_ECONFLICT:
        return "conflict";
    }
    return "unknown error";
}

void jc_errbuf_set(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;

    if (buf == NULL || len == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}
