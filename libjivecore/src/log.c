/* SPDX-License-Identifier: MIT */
/* log.c: JSON-lines logger. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "jc/clock.h"
#include "jc/log.h"

struct jc_log {
    char *svc;
    enum jc_log_level min;
    FILE *out;
};

static const char *const level_names[] = {"debug", "info", "warn", "error"};

struct jc_log *jc_log_new(const char *svc, enum jc_log_level min, FILE *out)
{
    struct jc_log *log = calloc(1, sizeof(*log));

    if (log == NULL)
        return NULL;
    log->svc = strdup(svc != NULL ? svc : "jive");
    if (log->svc == NULL) {
        free(log);
        return NULL;
    }
    log->min = min;
    log->out = out;
    return log;
}

void jc_log_free(struct jc_log *log)
{
    if (log == NULL)
        return;
    if (log->out != NULL)
        fflush(log->out);
    free(log->svc);
    free(log);
}

bool jc_log_enabled(const struct jc_log *log, enum jc_log_level level)
{
    return log != NULL && level >= log->min && level <= JC_LOG_ERROR;
}

static bool reserved(const char *name)
{
    static const char *const names[] = {"ts", "level", "svc", "msg", "request_id"};
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(name, names[i]) == 0)
            return true;
    return false;
}

void jc_log_write(struct jc_log *log, enum jc_log_level level, const char *request_id,
                  const cJSON *fields, const char *fmt, ...)
{
    char msg[2048];
    char ts[JC_ISO_LEN];
    cJSON *line = NULL;
    const cJSON *f;
    char *text = NULL;
    va_list ap;

    if (!jc_log_enabled(log, level))
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    jc_clock_iso(ts);

    line = cJSON_CreateObject();
    if (line == NULL)
        goto out;
    cJSON_AddStringToObject(line, "ts", ts);
    cJSON_AddStringToObject(line, "level", level_names[level]);
    cJSON_AddStringToObject(line, "svc", log->svc);
    cJSON_AddStringToObject(line, "msg", msg);
    if (request_id != NULL)
        cJSON_AddStringToObject(line, "request_id", request_id);
    if (fields != NULL) {
        cJSON_ArrayForEach(f, fields)
        {
            if (f->string == NULL || reserved(f->string))
                continue;
            cJSON_AddItemToObject(line, f->string, cJSON_Duplicate(f, 1));
        }
    }
    text = cJSON_PrintUnformatted(line);
    if (text == NULL)
        goto out;
    fputs(text, log->out);
    fputc('\n', log->out);
    fflush(log->out);
out:
    if (text == NULL && log->out != NULL) {
        /* Out of memory while logging: still say something, without the fields. */
        fprintf(log->out, "{\"level\":\"%s\",\"msg\":\"log line dropped: out of memory\"}\n",
                level_names[level]);
    }
    cJSON_free(text);
    cJSON_Delete(line);
}

enum jc_err jc_log_level_parse(const char *s, enum jc_log_level *out)
{
    size_t i;

    if (s == NULL)
        return JC_EINVAL;
    for (i = 0; i < 4; i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *out = (enum jc_log_level)i;
            return JC_OK;
        }
    }
    if (strcasecmp(s, "warning") == 0) {
        *out = JC_LOG_WARN;
        return JC_OK;
    }
    return JC_EINVAL;
}
