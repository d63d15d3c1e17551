// Drives jive-mcp with the official TypeScript SDK client, the one Claude Code and
// VS Code build on. Usage: node sdk_client.mjs <url> <token> <project_id>
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { run } from "./session.mjs";

const [url, token, project] = process.argv.slice(2);
const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers: { Authorization: `Bearer ${token}` } },
});
const client = new Client({ name: "jive-sdk-test", version: "1.0.0" });
await run(client, transport, project, async (out) => {
  out.protocol = transport.protocolVersion ?? null;
  await client.ping(); // a 2025-era method
  out.ping = true;
});
