/* SPDX-License-Identifier: MIT */
/* fuzz_classify.c: libFuzzer target for path classification and key extraction. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jc/bmad.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *path = malloc(size + 1);
    char key[64];

    if (path == NULL)
        return 0;
    memcpy(path, data, size);
    path[size] = '\0';
    (void)jc_bmad_classify(path, key, sizeof(key));
    if (strlen(key) >= sizeof(key))
        abort();
    (void)jc_story_status_parse(path);
    free(path);
    return 0;
}
