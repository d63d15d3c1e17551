/* SPDX-License-Identifier: MIT */
/* keys.c: Redis key and channel names. */
#include <stdio.h>

#include "jc/keys.h"

const char *jc_key_queue(char *buf, size_t len, const char *queue)
{
    snprintf(buf, len, "jive:q:%s", queue);
    return buf;
}

const char *jc_key_dead(char *buf, size_t len, const char *queue)
{
    snprintf(buf, len, "jive:dead:%s", queue);
    return buf;
}

const char *jc_key_active(char *buf, size_t len, const char *worker_id)
{
    snprintf(buf, len, "jive:active:%s", worker_id);
    return buf;
}

const char *jc_key_worker(char *buf, size_t len, const char *worker_id)
{
    snprintf(buf, len, "jive:worker:%s", worker_id);
    return buf;
}

const char *jc_key_job_lock(char *buf, size_t len, const char *job_id)
{
    snprintf(buf, len, "jive:lock:job:%s", job_id);
    return buf;
}

const char *jc_key_project_lock(char *buf, size_t len, const char *project_id)
{
    snprintf(buf, len, "jive:lock:project:%s", project_id);
    return buf;
}

const char *jc_key_rate(char *buf, size_t len, const char *org_id, const char *subject)
{
    snprintf(buf, len, "jive:rl:%s:%s", org_id, subject);
    return buf;
}

const char *jc_key_idem(char *buf, size_t len, const char *org_id, const char *subject,
                        const char *key)
{
    snprintf(buf, len, "jive:idem:%s:%s:%s", org_id, subject, key);
    return buf;
}

const char *jc_key_events(char *buf, size_t len, const char *project_id)
{
    snprintf(buf, len, "jive:events:%s", project_id);
    return buf;
}

const char *jc_channel_project(char *buf, size_t len, const char *project_id)
{
    snprintf(buf, len, "%s%s", JC_CHANNEL_PREFIX, project_id);
    return buf;
}

const char *jc_key_session(char *buf, size_t len, const char *session_id)
{
    snprintf(buf, len, "jive:session:%s", session_id);
    return buf;
}

const char *jc_key_session_subs(char *buf, size_t len, const char *session_id)
{
    snprintf(buf, len, "jive:session:%s:subs", session_id);
    return buf;
}
