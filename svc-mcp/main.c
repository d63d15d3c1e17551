/* SPDX-License-Identifier: MIT */
/* jive-mcp: answers IDE agents over the Model Context Protocol. */
#include "jc/app.h"

/* GET /mcp/health: the compatibility route of the original plan, same answer as /health. */
static enum jc_err mcp_setup(struct jc_app *app, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    return jc_app_route_health(app, "/mcp/health");
}

int main(void)
{
    return jc_app_main(JC_SVC_MCP, mcp_setup);
}
