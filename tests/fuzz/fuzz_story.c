/* SPDX-License-Identifier: MIT */
/* fuzz_story.c: libFuzzer target for the story parser and the status rewriter. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jc/bmad.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct jc_story st;
    char err[256];
    size_t n = 0;
    char *out;

    if (jc_story_parse("docs/stories/1.2.fuzz.md", (const char *)data, size, &st, err,
                       sizeof(err)) == JC_OK)
        jc_story_clear(&st);
    out = jc_story_set_status((const char *)data, size, "InProgress", &n);
    if (out != NULL) {
        /* the rewrite must leave a text the parser still reads, with the new status */
        if (memchr(data, '\0', size) == NULL &&
            jc_story_parse("docs/stories/1.2.fuzz.md", out, n, &st, err, sizeof(err)) == JC_OK) {
            if (st.status != JC_STATUS_IN_PROGRESS && st.raw_status != NULL &&
                strcmp(st.raw_status, "InProgress") == 0)
                abort();
            jc_story_clear(&st);
        }
        free(out);
    }
    return 0;
}
