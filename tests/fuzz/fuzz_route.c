/* SPDX-License-Identifier: MIT */
/*
 * fuzz_route.c: libFuzzer target for the webhook's routing of a verified delivery (the part of
 * verify-and-parse that needs the project, which fuzz_webhook_http cannot reach without a
 * database): input "event\nbranch\n<JSON payload>", routed by wh_route_event; a job's payload
 * must serialise.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "webhook.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), *event, *branch, *json, *nl;
    cJSON *payload;
    struct wh_route r;

    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    event = text;
    if ((nl = strchr(event, '\n')) == NULL)
        goto out;
    *nl = '\0';
    branch = nl + 1;
    if ((nl = strchr(branch, '\n')) == NULL)
        goto out;
    *nl = '\0';
    json = nl + 1;
    payload = cJSON_Parse(json);
    if (payload != NULL) {
        memset(&r, 0, sizeof(r));
        wh_route_event(event, payload, branch, &r);
        if (r.has_job) {
            char *s = cJSON_PrintUnformatted(r.payload);
            if (s == NULL)
                abort();
            cJSON_free(s);
        }
        cJSON_Delete(r.payload);
        cJSON_Delete(payload);
    }
out:
    free(text);
    return 0;
}
