/* SPDX-License-Identifier: MIT */
/* jc/log.h: structured JSON-lines logging (ts, level, svc, msg, request_id, fields). */
#ifndef JC_LOG_H
#define JC_LOG_H

#include <stdbool.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "jc/err.h"

enum jc_log_level { JC_LOG_DEBUG = 0, JC_LOG_INFO, JC_LOG_WARN, JC_LOG_ERROR };

struct jc_log;

/*
 * Creates a logger writing one JSON object per line to out (borrowed; must outlive the logger)
 * for service name svc (copied). Lines below min are dropped before any formatting.
 * Returns NULL on allocation failure. Not thread-safe: one logger per thread or loop.
 */
struct jc_log *jc_log_new(const char *svc, enum jc_log_level min, FILE *out);

/* Flushes and frees the logger; NULL is a no-op. Does not close out. */
void jc_log_free(struct jc_log *log);

/* True when a line at level would be written. NULL logger: false. */
bool jc_log_enabled(const struct jc_log *log, enum jc_log_level level);

/*
 * Writes one line: {"ts":..., "level":..., "svc":..., "msg":<formatted>, "request_id":...,
 * <each member of fields>}. request_id and fields may be NULL; fields is borrowed and its
 * members must not be named ts/level/svc/msg/request_id (such members are skipped).
 * Use the JC_LOG macro so arguments are not evaluated for a disabled level.
 */
void jc_log_write(struct jc_log *log, enum jc_log_level level, const char *request_id,
                  const cJSON *fields, const char *fmt, ...) JC_PRINTF(5, 6);

/* Parses "debug|info|warn|error" (case-insensitive). Returns JC_OK or JC_EINVAL. */
enum jc_err jc_log_level_parse(const char *s, enum jc_log_level *out) JC_MUSTCHECK;

/* Level-checked logging: arguments are only evaluated when the level is enabled. */
#define JC_LOG(log, level, rid, fields, ...)                                                       \
    do {                                                                                           \
        if (jc_log_enabled((log), (level)))                                                        \
            jc_log_write((log), (level), (rid), (fields), __VA_ARGS__);                            \
    } while (0)

#define jc_debug(log, ...) JC_LOG(log, JC_LOG_DEBUG, NULL, NULL, __VA_ARGS__)
#define jc_info(log, ...) JC_LOG(log, JC_LOG_INFO, NULL, NULL, __VA_ARGS__)
#define jc_warn(log, ...) JC_LOG(log, JC_LOG_WARN, NULL, NULL, __VA_ARGS__)
#define jc_error(log, ...) JC_LOG(log, JC_LOG_ERROR, NULL, NULL, __VA_ARGS__)

#endif
