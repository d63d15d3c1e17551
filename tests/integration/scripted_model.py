# SPDX-License-Identifier: MIT
"""A scripted stand-in for the Anthropic Messages API, so that the real Claude Code CLI can be
driven end to end on a machine that cannot reach api.anthropic.com.

Only the model's decisions are scripted; Claude Code itself (its MCP client, tool discovery,
permission check and tool execution) and the JIVE server it talks to are the real programs.
The script is what an agent asked "use jive's status_get on project <id>" does:

1. no tool result yet: load the deferred tool with ToolSearch (Claude Code defers MCP tools);
2. after ToolSearch: call mcp__<server>__status_get with the project id from the prompt;
3. after the tool's result: answer with that result's text, and stop.

Every request body is kept in `requests` so a test can check what Claude Code sent (the tool
schema it loaded from the server, the tool result it got back)."""
import http.server
import json
import re
import threading

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _blocks(messages):
    for m in messages:
        content = m.get("content")
        if isinstance(content, str):
            yield m["role"], {"type": "text", "text": content}
            continue
        for b in content or []:
            yield m["role"], b


def decide(body, server):
    """The next assistant turn for this request: a list of content blocks and a stop reason."""
    blocks = list(_blocks(body.get("messages", [])))
    uses = {b["id"]: b["name"] for _, b in blocks if b.get("type") == "tool_use"}
    results = [b for _, b in blocks if b.get("type") == "tool_result"]
    tool = f"mcp__{server}__status_get"
    if not results:
        return [{"type": "tool_use", "id": "toolu_01", "name": "ToolSearch",
                 "input": {"query": f"select:{tool}", "max_results": 1}}], "tool_use"
    last = results[-1]
    if uses.get(last["tool_use_id"]) == "ToolSearch":
        prompt = " ".join(b.get("text", "") for role, b in blocks
                          if role == "user" and b.get("type") == "text")
        found = UUID.findall(prompt)
        return [{"type": "tool_use", "id": "toolu_02", "name": tool,
                 "input": {"project_id": found[-1] if found else ""}}], "tool_use"
    content = last.get("content")
    if isinstance(content, list):
        content = "".join(c.get("text", "") for c in content if c.get("type") == "text")
    return [{"type": "text", "text": f"status_get returned: {content}"}], "end_turn"


def _sse(blocks, stop, model):
    def ev(kind, data):
        return f"event: {kind}\ndata: {json.dumps(dict(data, type=kind))}\n\n"

    out = [ev("message_start", {"message": {
        "id": "msg_scripted", "type": "message", "role": "assistant", "model": model,
        "content": [], "stop_reason": None, "stop_sequence": None,
        "usage": {"input_tokens": 1, "output_tokens": 1}}})]
    for i, b in enumerate(blocks):
        if b["type"] == "tool_use":
            out.append(ev("content_block_start", {"index": i, "content_block": dict(b, input={})}))
            out.append(ev("content_block_delta", {"index": i, "delta": {
                "type": "input_json_delta", "partial_json": json.dumps(b["input"])}}))
        else:
            out.append(ev("content_block_start", {"index": i, "content_block": {
                "type": "text", "text": ""}}))
            out.append(ev("content_block_delta", {"index": i, "delta": {
                "type": "text_delta", "text": b["text"]}}))
        out.append(ev("content_block_stop", {"index": i}))
    out.append(ev("message_delta", {"delta": {"stop_reason": stop, "stop_sequence": None},
                                    "usage": {"output_tokens": 1}}))
    out.append(ev("message_stop", {}))
    return "".join(out).encode()


class ScriptedModel:
    """Serves POST /v1/messages on 127.0.0.1 (an ephemeral port) until stop()."""

    def __init__(self, server="jive"):
        self.requests = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if not self.path.startswith("/v1/messages") or "count_tokens" in self.path:
                    self.reply(404, "application/json", b'{"type":"error","error":'
                               b'{"type":"not_found_error","message":"not scripted"}}')
                    return
                body = json.loads(raw)
                owner.requests.append(body)
                blocks, stop = decide(body, server)
                model = body.get("model", "scripted")
                if body.get("stream"):
                    self.reply(200, "text/event-stream", _sse(blocks, stop, model))
                else:
                    self.reply(200, "application/json", json.dumps({
                        "id": "msg_scripted", "type": "message", "role": "assistant",
                        "model": model, "content": blocks, "stop_reason": stop,
                        "stop_sequence": None,
                        "usage": {"input_tokens": 1, "output_tokens": 1}}).encode())

            def reply(self, status, ctype, data):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
