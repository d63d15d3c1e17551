// Subscribes to one jive:// resource with the official TypeScript SDK v2 client on 2026-07-28
// (client.listen: subscriptions/listen) and reports the resources/updated notifications.
// Usage and output as sdk_subscribe.mjs: node sdk2_subscribe.mjs <url> <token> <uri> <wait-ms>
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";

const [url, token, uri, waitMs] = process.argv.slice(2);
const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers: { Authorization: `Bearer ${token}` } },
});
const client = new Client({ name: "jive-sdk2-subscribe-test", version: "1.0.0" },
                          { versionNegotiation: { mode: { pin: "2026-07-28" } } });
const updated = [];
client.setNotificationHandler("notifications/resources/updated", (n) => updated.push(n.params.uri));
await client.connect(transport);
let sub = null;
try {
  sub = await client.listen({ resourceSubscriptions: [uri] });
  const honoured = sub.honoredFilter.resourceSubscriptions ?? [];
  console.log(JSON.stringify({ subscribed: honoured.includes(uri), honoured: sub.honoredFilter,
                               era: client.getProtocolEra() }));
} catch (e) {
  console.log(JSON.stringify({ subscribed: false, error: { code: e.code, message: e.message } }));
}
const deadline = Date.now() + Number(waitMs);
while (Date.now() < deadline && updated.length === 0) await new Promise((r) => setTimeout(r, 50));
console.log(JSON.stringify({ updated }));
if (sub) await sub.close();
await client.close();
process.exit(0);
