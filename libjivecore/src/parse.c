/* SPDX-License-Identifier: MIT */
/* parse.c: checked integer, duration and boolean parsing. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "jc/parse.h"

enum jc_err jc_parse_long(const char *s, long min, long max, long *out)
{
    char *end = NULL;
    long v;

    if (s == NULL || *s == '\0')
        return JC_EINVAL;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return JC_EINVAL;
    *out = v;
    return JC_OK;
}

enum jc_err jc_parse_duration_ms(const char *s, long long *out_ms)
{
    static const struct {
        const char *unit;
        long long ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    char *end = NULL;
    long long v;
    size_t i;

    if (s == NULL || *s == '\0' || *s == '-' || *s == '+')
        return JC_EINVAL;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || end == s)
        return JC_EINVAL;
    for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(end, units[i].unit) == 0) {
            if (v > LLONG_MAX / units[i].ms)
                return JC_EINVAL;
            *out_ms = v * units[i].ms;
            return JC_OK;
        }
    }
    return JC_EINVAL;
}

const char *jc_parse_word(const char **s, const char *seps, size_t *len)
{
    const char *w = *s + strspn(*s, seps);

    *s = w;
    if (*w == '\0')
        return NULL;
    *len = strcspn(w, seps);
    *s = w + *len;
    return w;
}

enum jc_err jc_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    size_t i;

    if (s == NULL)
        return JC_EINVAL;
    for (i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return JC_OK;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return JC_OK;
        }
    }
    return JC_EINVAL;
}

bool jc_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    while (i < len) {
        unsigned char c = p[i];
        size_t n, k;
        unsigned int cp;
        if (c == 0)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        for (k = 1; k <= n; k++) {
            if (i + k >= len || (p[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if ((n == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
            return false;
        i += n + 1;
    }
    return true;
}
