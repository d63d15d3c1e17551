/* SPDX-License-Identifier: MIT */
/* fuzz_gate.c: libFuzzer target for QA gate YAML (libyaml → cJSON → gate). */
#include <stdint.h>

#include "jc/bmad.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct jc_gate g;
    char err[256];

    if (jc_gate_parse("docs/qa/gates/1.2-fuzz.yml", (const char *)data, size, &g, err,
                      sizeof(err)) == JC_OK)
        jc_gate_clear(&g);
    return 0;
}
