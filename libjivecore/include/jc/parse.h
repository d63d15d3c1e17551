/* SPDX-License-Identifier: MIT */
/* jc/parse.h: checked number and duration parsing (the replacement for atoi and friends). */
#ifndef JC_PARSE_H
#define JC_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include "jc/err.h"

/*
 * Parses the whole of s as a base-10 integer within [min, max] into *out.
 * Returns JC_OK, or JC_EINVAL for NULL/empty input, trailing characters, or a value out of
 * range; *out is untouched on error.
 */
enum jc_err jc_parse_long(const char *s, long min, long max, long *out) JC_MUSTCHECK;

/*
 * Parses a duration such as "500ms", "15s", "10m", "2h", "30d" (a bare number means seconds)
 * into milliseconds. Returns JC_OK or JC_EINVAL (unknown unit, negative, overflow).
 */
enum jc_err jc_parse_duration_ms(const char *s, long long *out_ms) JC_MUSTCHECK;

/* Parses "true/false/1/0/yes/no/on/off" (case-insensitive). Returns JC_OK or JC_EINVAL. */
enum jc_err jc_parse_bool(const char *s, bool *out) JC_MUSTCHECK;

/*
 * The next word of the list *s, words being separated by runs of any of the characters in
 * seps ("a, b c" with " ,"): returns its start and sets *len, moving *s past it; NULL when
 * only separators are left. Nothing is copied.
 */
const char *jc_parse_word(const char **s, const char *seps, size_t *len);

/*
 * True when s[0..len) is well-formed UTF-8 without NUL bytes (what a Postgres text or jsonb
 * value accepts): no overlong forms, no surrogates, nothing above U+10FFFF.
 */
bool jc_utf8_valid(const char *s, size_t len);

#endif
