/* SPDX-License-Identifier: MIT */
/*
 * jive-mcp: answers IDE agents over the Model Context Protocol (Streamable HTTP, both protocol
 * eras on POST /mcp), with JWT scopes, a Redis rate limit and a Postgres audit log; REST
 * compatibility routes GET /mcp/tools, POST /mcp/invoke, GET /mcp/health.
 * The service itself is in service.c; everything but this file builds into the service's
 * archive, which the unit suites and the fuzzers link too.
 */
#include "mcp.h"

int main(void)
{
    return jc_app_main(JC_SVC_MCP, mcp_setup);
}
