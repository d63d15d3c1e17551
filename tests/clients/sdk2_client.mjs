// Drives jive-mcp with the official TypeScript SDK v2 client (@modelcontextprotocol/client),
// which speaks the 2026-07-28 era. Usage: node sdk2_client.mjs <url> <token> <project_id> <mode>
// where mode is "auto" (probe with server/discover) or a pinned version such as 2026-07-28.
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { run } from "./session.mjs";

const [url, token, project, mode] = process.argv.slice(2);
const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers: { Authorization: `Bearer ${token}` } },
});
const client = new Client(
  { name: "jive-sdk2-test", version: "1.0.0" },
  { versionNegotiation: { mode: mode === "auto" ? "auto" : { pin: mode } } },
);
await run(client, transport, project, async (out) => {
  out.version = client.getNegotiatedProtocolVersion();
  out.era = client.getProtocolEra();
});
