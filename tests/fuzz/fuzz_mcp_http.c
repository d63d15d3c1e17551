/* SPDX-License-Identifier: MIT */
/*
 * fuzz_mcp_http.c: libFuzzer target for jive-mcp's request path, HTTP and JSON-RPC up to the
 * tool handler: the whole service runs on a thread (harness.h) and each input is one POST /mcp
 * (header lines, blank line, body). The seeds carry a token signed with the key below, valid
 * until 2100, so mutations reach past authentication into dispatch, the protocol-era checks,
 * argument validation and the tools, which then meet an unavailable database.
 */
#include <stdlib.h>

#include "harness.h"
#include "mcp.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const vars[] = {
    "JIVE_JWT_SECRET=fuzz-secret-0123456789abcdef0123456789",
    "JIVE_JWT_ISSUER=https://jive.fuzz",
    "JIVE_JWT_AUDIENCE=http://127.0.0.1/mcp",
    "JIVE_AUDIT_SPOOL=/dev/null",
    "JIVE_MCP_CACHE_TTL_MS=0",
    "JIVE_QUERY_TIMEOUT_MS=50",
    "JIVE_REDIS_TIMEOUT_MS=50",
    NULL,
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    harness_start(JC_SVC_MCP, mcp_setup, vars);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (harness_send("POST", "/mcp", data, size, NULL) < 0)
        abort(); /* the service stopped answering */
    return 0;
}
