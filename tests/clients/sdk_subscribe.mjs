// Subscribes to one jive:// resource with the official TypeScript SDK v1 client on the 2025 era
// (initialize, the session's GET stream, resources/subscribe), as VS Code does, and reports the
// resources/updated notifications that arrive.
// Usage: node sdk_subscribe.mjs <url> <token> <uri> <wait-ms>
// Prints a first line {"subscribed": ...} once subscribed (or {"error": ...}), then
// {"updated": [uris]} after the first notification or when wait-ms ran out.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ResourceUpdatedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";

const [url, token, uri, waitMs] = process.argv.slice(2);
const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers: { Authorization: `Bearer ${token}` } },
});
const client = new Client({ name: "jive-subscribe-test", version: "1.0.0" });
const updated = [];
client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => updated.push(n.params.uri));
await client.connect(transport);
try {
  await client.subscribeResource({ uri });
  console.log(JSON.stringify({
    subscribed: true, session: transport.sessionId ?? null,
    protocol: transport.protocolVersion ?? null,
    capabilities: client.getServerCapabilities()?.resources ?? null }));
} catch (e) {
  console.log(JSON.stringify({ subscribed: false, error: { code: e.code, message: e.message } }));
}
const deadline = Date.now() + Number(waitMs);
while (Date.now() < deadline && updated.length === 0) await new Promise((r) => setTimeout(r, 50));
console.log(JSON.stringify({ updated }));
await client.close();
process.exit(0);
