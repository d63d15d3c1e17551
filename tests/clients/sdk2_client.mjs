// Drives jive-mcp with the official TypeScript SDK v2 client (@modelcontextprotocol/client),
// which speaks the 2026-07-28 era. Usage: node sdk2_client.mjs <url> <token> <project_id> <mode>
// where mode is "auto" (probe with server/discover) or a pinned version such as 2026-07-28.
// Prints one JSON object with what the client saw; the pytest side asserts on it.
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";

const [url, token, project, mode] = process.argv.slice(2);
const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers: { Authorization: `Bearer ${token}` } },
});
const client = new Client(
  { name: "jive-sdk2-test", version: "1.0.0" },
  { versionNegotiation: { mode: mode === "auto" ? "auto" : { pin: mode } } },
);
const out = {};
try {
  await client.connect(transport);
  out.server = client.getServerVersion();
  out.version = client.getNegotiatedProtocolVersion();
  out.era = client.getProtocolEra();
  out.capabilities = Object.keys(client.getServerCapabilities() ?? {}).sort();
  out.tools = (await client.listTools()).tools.map((t) => t.name).sort();
  const st = await client.callTool({ name: "status_get", arguments: { project_id: project } });
  out.status = st.structuredContent;
  out.statusIsError = st.isError ?? false;
  out.resources = (await client.listResources()).resources.map((r) => r.uri).sort();
  if (out.resources.length > 0)
    out.firstResource = (await client.readResource({ uri: out.resources[0] })).contents[0];
  out.prompts = (await client.listPrompts()).prompts.map((p) => p.name).sort();
  const pr = await client.getPrompt({ name: "standup_summary", arguments: { project_id: project } });
  out.promptRole = pr.messages[0].role;
  try {
    await client.callTool({ name: "no_such_tool", arguments: {} });
    out.unknownTool = "accepted";
  } catch (e) {
    out.unknownTool = e.code;
  }
  await client.close();
} catch (e) {
  out.error = String(e && e.stack ? e.stack : e);
}
process.stdout.write(JSON.stringify(out) + "\n");
