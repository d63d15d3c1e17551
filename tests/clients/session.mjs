// The session both SDK clients run against jive-mcp (sdk_client.mjs: v1, sdk2_client.mjs: v2).
// run() connects, lets `extra` record what is specific to the client, runs the common steps, and
// prints one JSON object with what the client saw; the pytest side asserts on it.
export async function run(client, transport, project, extra) {
  const out = {};
  try {
    await client.connect(transport);
    out.server = client.getServerVersion();
    out.capabilities = Object.keys(client.getServerCapabilities() ?? {}).sort();
    await extra(out);
    out.tools = (await client.listTools()).tools.map((t) => t.name).sort();
    const st = await client.callTool({ name: "status_get", arguments: { project_id: project } });
    out.status = st.structuredContent;
    out.statusIsError = st.isError ?? false;
    const none = await client.callTool({ name: "story_get", arguments: { project_id: project, key: "no.such" } });
    out.missingStory = none.structuredContent;
    const bad = await client.callTool({
      name: "status_get", arguments: { project_id: "00000000-0000-4000-8000-000000000000" } });
    out.missingProjectIsError = bad.isError ?? false;
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
}
