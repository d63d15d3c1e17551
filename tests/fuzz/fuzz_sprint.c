/* SPDX-License-Identifier: MIT */
/* fuzz_sprint.c: libFuzzer target for v6 sprint-status.yaml and a spec folder's stories.yaml. */
#include <stdint.h>

#include "jc/bmad.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *map = NULL;
    char err[256];

    if (jc_sprint_status_parse("_bmad-output/implementation-artifacts/sprint-status.yaml",
                               (const char *)data, size, &map, err, sizeof(err)) == JC_OK)
        cJSON_Delete(map);
    if (jc_sprint_status_parse("_bmad-output/specs/auth/stories.yaml", (const char *)data, size,
                               &map, err, sizeof(err)) == JC_OK)
        cJSON_Delete(map);
    return 0;
}
