/* SPDX-License-Identifier: MIT */
/*
 * fuzz_findings.c: libFuzzer target for what `jivectl inspect` and a scan do with a repository:
 * the input is a few files (split at 0xFF bytes; each file's first byte picks its path and so
 * its kind), each read by jc_bmad_record, then the findings of them all. A fingerprint twice in
 * the result, or a story with no status, aborts: both once killed scans or misled status_get.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jc/bmad.h"
#include "jc/findings.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const paths[] = {
    "docs/stories/1.1.a.md",
    "docs/stories/1.1.b.md",
    "docs/stories/3.8.story.md",
    "docs/stories/story-2.1-x.md",
    "_bmad-output/implementation-artifacts/1-2-auth.md",
    "_bmad-output/implementation-artifacts/1-3-code-review-report.md",
    "_bmad-output/specs/auth/stories/01-login.md",
    "_bmad-output/specs/auth/stories.yaml",
    "_bmad-output/implementation-artifacts/sprint-status.yaml",
    "docs/qa/gates/1.1-a.yml",
    "docs/qa/gates/3.8-b.yml",
    "_bmad-output/test-artifacts/gate-decision-1.2.json",
    "_bmad-output/planning-artifacts/prd.md",
    "docs/stories/1.2.c.md",
    "docs/stories/1.2.d.md",
    "docs/qa/gates/1.2-c.yml",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *rows = cJSON_CreateArray(), *gates = cJSON_CreateArray(), *state, *found, *f, *r;
    size_t at = 0, files = 0;

    while (at < size && files < 12) {
        const uint8_t *end = memchr(data + at, 0xFF, size - at);
        size_t n = end != NULL ? (size_t)(end - (data + at)) : size - at;
        if (n > 0) {
            const char *path = paths[data[at] % (sizeof(paths) / sizeof(paths[0]))];
            cJSON *gate = NULL;
            cJSON *row = jc_bmad_record(path, jc_bmad_classify(path, NULL, 0),
                                        (const char *)data + at + 1, n - 1, &gate);
            if (row != NULL)
                cJSON_AddItemToArray(rows, row);
            if (gate != NULL)
                cJSON_AddItemToArray(gates, gate);
            /* every line as a File List entry, too */
            {
                const char *s = (const char *)data + at + 1, *e = s + n - 1;
                while (s < e) {
                    const char *nl = memchr(s, '\n', (size_t)(e - s));
                    size_t ln = nl != NULL ? (size_t)(nl - s) : (size_t)(e - s);
                    struct jc_story_file sf;
                    if (jc_story_file_parse(s, ln, &sf)) {
                        if (sf.path == NULL || sf.path[0] == '\0')
                            abort();
                        jc_story_file_clear(&sf);
                    }
                    s += ln + 1;
                }
            }
            files++;
        }
        at += n + 1;
    }
    cJSON_ArrayForEach(r, rows)
    {
        const cJSON *kind = cJSON_GetObjectItem(r, "kind");
        if (cJSON_IsString(kind) && strcmp(kind->valuestring, "story") == 0 &&
            !cJSON_IsString(cJSON_GetObjectItem(r, "status")))
            abort();
    }
    state = jc_findings_state(rows, gates, NULL);
    found = jc_findings_compute(state);
    cJSON_ArrayForEach(f, found)
    {
        const cJSON *g;
        for (g = f->next; g != NULL; g = g->next)
            if (strcmp(cJSON_GetObjectItem(f, "fingerprint")->valuestring,
                       cJSON_GetObjectItem(g, "fingerprint")->valuestring) == 0)
                abort();
    }
    cJSON_Delete(found);
    cJSON_Delete(state);
    cJSON_Delete(rows);
    cJSON_Delete(gates);
    return 0;
}
