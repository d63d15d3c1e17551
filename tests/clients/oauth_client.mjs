// Signs in to jive-mcp with the official TypeScript SDK client's OAuth support, as Claude Code
// does: discovery from the 401, dynamic registration (or a client ID metadata document), PKCE,
// the browser part in headless Chromium driving JIVE's real consent page, the code exchange;
// then status_get, a refresh, and a revocation.
// Usage: node oauth_client.mjs <mcp-url> <project-id> <callback-port> [<client-metadata-url>]
// Prints one JSON object with what happened.
import http from "node:http";

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  UnauthorizedError,
  discoverAuthorizationServerMetadata,
  refreshAuthorization,
} from "@modelcontextprotocol/sdk/client/auth.js";
import { chromium } from "playwright-core";

const [mcpUrl, project, cbPort, metadataUrl] = process.argv.slice(2);
const redirectUrl = `http://127.0.0.1:${cbPort}/callback`;
const STATE = "sdk-state-" + Math.random().toString(36).slice(2);
const out = {};

let gotCode;
const code = new Promise((resolve) => (gotCode = resolve));
const callback = http.createServer((req, res) => {
  const u = new URL(req.url, redirectUrl);
  if (u.pathname !== "/callback") {
    res.statusCode = 404;
    return res.end();
  }
  gotCode(Object.fromEntries(u.searchParams));
  res.setHeader("Content-Type", "text/plain");
  res.end("Signed in. You can close this window.");
});
await new Promise((r) => callback.listen(Number(cbPort), "127.0.0.1", r));

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         // the GitHub stand-in's certificate is from the tests' own CA (JIVE trusts it through
         // JIVE_CA_FILE; this browser is only the user's)
         "--ignore-certificate-errors"],
});
const page = await browser.newPage();
const store = {};
const provider = {
  get redirectUrl() { return redirectUrl; },
  clientMetadataUrl: metadataUrl || undefined,
  get clientMetadata() {
    return { client_name: "JIVE SDK sign-in test", redirect_uris: [redirectUrl],
             grant_types: ["authorization_code", "refresh_token"], response_types: ["code"],
             token_endpoint_auth_method: "none" };
  },
  state() { return STATE; },
  clientInformation() { return store.client; },
  saveClientInformation(c) { store.client = c; },
  tokens() { return store.tokens; },
  saveTokens(t) { store.tokens = t; },
  saveCodeVerifier(v) { store.verifier = v; },
  codeVerifier() { return store.verifier; },
  async redirectToAuthorization(url) {
    out.authorization_url = url.toString();
    await page.goto(url.toString());
    await page.waitForSelector("#approve", { timeout: 20000 });
    out.consent = {
      client: await page.textContent("#client"),
      login: await page.textContent("#login"),
      org: await page.textContent("#org"),
      redirect_host: await page.textContent("#redirect-host"),
      scopes: await page.$$eval("#scopes code", (els) => els.map((e) => e.textContent)),
    };
    await page.click("#approve");
  },
};

try {
  let transport = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider });
  try {
    await new Client({ name: "jive-oauth-test", version: "1.0.0" }).connect(transport);
    out.connected_without_sign_in = true;
  } catch (e) {
    if (!(e instanceof UnauthorizedError)) throw e;
  }
  const q = await code;
  out.callback = { state_ok: q.state === STATE, iss: q.iss, error: q.error ?? null };
  if (q.state !== STATE) throw new Error("state mismatch: " + q.state);
  out.browser_landed = page.url().startsWith(redirectUrl);
  await transport.finishAuth(q.code);
  out.client_id = store.client.client_id;
  out.scope = store.tokens.scope;

  transport = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider });
  const client = new Client({ name: "jive-oauth-test", version: "1.0.0" });
  await client.connect(transport);
  const status = await client.callTool({ name: "status_get", arguments: { project_id: project } });
  out.status_get = status.structuredContent ?? null;
  out.status_error = status.isError ?? false;
  await client.close();

  // refresh rotates; revocation (RFC 7009) ends the refresh token
  const issuer = new URL(mcpUrl).origin;
  const metadata = await discoverAuthorizationServerMetadata(issuer);
  const before = store.tokens.refresh_token;
  const fresh = await refreshAuthorization(issuer, {
    metadata, clientInformation: store.client, refreshToken: before, resource: new URL(mcpUrl) });
  out.refreshed = Boolean(fresh.access_token) && fresh.refresh_token !== before;
  const refresh = (token) => refreshAuthorization(issuer, {
    metadata, clientInformation: store.client, refreshToken: token, resource: new URL(mcpUrl) })
    .then(() => "accepted", (e) => e.constructor.name);
  const revoked = await fetch(metadata.revocation_endpoint, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ token: fresh.refresh_token, token_type_hint: "refresh_token",
                                client_id: store.client.client_id }),
  });
  out.revocation_status = revoked.status;
  out.revoked_refresh = await refresh(fresh.refresh_token);
  out.rotated_refresh = await refresh(before);
} catch (e) {
  out.error = String(e?.stack ?? e);
} finally {
  await browser.close();
  callback.close();
}
console.log(JSON.stringify(out));
