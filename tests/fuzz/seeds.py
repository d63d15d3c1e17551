#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the seed corpora of the HTTP, JWT and routing fuzz targets into tests/fuzz/corpus/.
Tokens are signed with the fuzz targets' HS256 secret and valid until 2100; ES256 seeds need
the private key of fuzz_jwt.c's public key (--es256-key; the committed ones were made with a
throwaway key). Run from the repository root: /usr/bin/python3 tests/fuzz/seeds.py"""
import argparse
import json
import pathlib
import sys

import jwt

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests/integration"))
from test_webhook import load_examples  # noqa: E402

SECRET = "fuzz-secret-0123456789abcdef0123456789"
ISS, AUD = "https://jive.fuzz", "http://127.0.0.1/mcp"
ORG = "00000000-0000-4000-8000-000000000001"
PROJECT = "00000000-0000-4000-8000-000000000002"
SCOPES = ("status:read projects:read stories:read conflicts:read gates:read runs:read jobs:read "
          "agents:write runs:write kanban:write")
MODERN = "2026-07-28"


def claims(**over):
    c = {"iss": ISS, "aud": AUD, "sub": "agent-1", "name": "Fuzz", "org": "fuzz", "org_id": ORG,
         "scope": SCOPES, "iat": 1700000000, "nbf": 1700000000, "exp": 4102444800}
    c.update(over)
    return c


def write(target, name, data):
    d = ROOT / "tests/fuzz/corpus" / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())


def mcp_seeds(tok):
    calls = [
        ("initialize", {"protocolVersion": "2025-11-25", "capabilities": {},
                        "clientInfo": {"name": "fuzz", "version": "1"}}),
        ("tools/list", {}), ("resources/list", {}), ("resources/templates/list", {}),
        ("prompts/list", {}), ("ping", {}), ("logging/setLevel", {"level": "info"}),
        ("resources/read", {"uri": f"jive://projects/{PROJECT}/stories/1.2"}),
        ("prompts/get", {"name": "story_kickoff", "arguments": {"project_id": PROJECT, "story_key": "1.2"}}),
        ("completion/complete", {"ref": {"type": "ref/prompt", "name": "story_kickoff"},
                                 "argument": {"name": "story_key", "value": "1."}}),
        ("tools/call", {"name": "status_get", "arguments": {"project_id": PROJECT}}),
        ("tools/call", {"name": "projects_list", "arguments": {}}),
        ("tools/call", {"name": "stories_list", "arguments": {"project_id": PROJECT, "status": "InProgress"}}),
        ("tools/call", {"name": "agent_report", "arguments": {"project_id": PROJECT, "agent_id": "a",
                                                             "story_key": "1.2", "state": "working"}}),
        ("tools/call", {"name": "kanban_move_story", "arguments": {"project_id": PROJECT,
                                                                  "story_key": "1.2", "to": "Review"}}),
        ("tools/call", {"name": "runs_list", "arguments": {"project_id": PROJECT, "limit": 5,
                                                          "cursor": "abc"}}),
        ("tools/call", {"name": "no_such_tool", "arguments": {}}),
    ]
    for i, (method, params) in enumerate(calls):
        body = json.dumps({"jsonrpc": "2.0", "id": i + 1, "method": method, "params": params})
        head = (f"Authorization: Bearer {tok}\nContent-Type: application/json\n"
                f"Accept: application/json, text/event-stream\nMCP-Protocol-Version: 2025-11-25\n")
        write("fuzz_mcp_http", f"seed-2025-{i:02d}", head + "\n" + body)
        mp = dict(params, _meta={"io.modelcontextprotocol/protocolVersion": MODERN,
                                 "io.modelcontextprotocol/clientCapabilities": {}})
        name = params.get("name", params.get("uri"))
        head = (f"Authorization: Bearer {tok}\nContent-Type: application/json\n"
                f"MCP-Protocol-Version: {MODERN}\nMcp-Method: {method}\n"
                + (f"Mcp-Name: {name}\n" if name else ""))
        body = json.dumps({"jsonrpc": "2.0", "id": i + 1, "method": method, "params": mp})
        write("fuzz_mcp_http", f"seed-2026-{i:02d}", head + "\n" + body)
    write("fuzz_mcp_http", "seed-discover",
          f"MCP-Protocol-Version: {MODERN}\nMcp-Method: server/discover\n\n" + json.dumps(
              {"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {"_meta": {
                  "io.modelcontextprotocol/protocolVersion": MODERN,
                  "io.modelcontextprotocol/clientCapabilities": {}}}}))
    write("fuzz_mcp_http", "seed-batch", f"Authorization: Bearer {tok}\n\n" + json.dumps(
        [{"jsonrpc": "2.0", "id": 1, "method": "ping"}, {"jsonrpc": "2.0", "method": "x"}]))
    write("fuzz_mcp_http", "seed-notification", "\n\n" + json.dumps(
        {"jsonrpc": "2.0", "method": "notifications/initialized"}))
    write("fuzz_mcp_http", "seed-origin", f"Origin: https://evil.example\nAuthorization: Bearer {tok}\n\n{{}}")


def webhook_seeds():
    ex = load_examples()
    picks = [("push", 0), ("pull_request", 0), ("workflow_run", 0), ("check_run", 0),
             ("check_suite", 0), ("ping", 0), ("issues", 0)]
    for event, i in picks:
        payload = json.dumps(ex[event][i])
        head = (f"X-GitHub-Event: {event}\nX-GitHub-Delivery: 11111111-2222-3333-4444-55555555555{i}\n"
                f"Content-Type: application/json\nUser-Agent: GitHub-Hookshot/fuzz\n")
        write("fuzz_webhook_http", f"seed-{event}", head + "\n" + payload)
        write("fuzz_route", f"seed-{event}", f"{event}\nmain\n{payload}")
    form = "payload=" + json.dumps(ex["ping"][0]).replace("%", "%25").replace("&", "%26").replace("+", "%2B").replace(" ", "+")
    write("fuzz_webhook_http", "seed-form", "X-GitHub-Event: ping\nX-GitHub-Delivery: d-1\n"
          "Content-Type: application/x-www-form-urlencoded\n\n" + form)
    write("fuzz_webhook_http", "seed-badsig", "X-GitHub-Event: push\nX-GitHub-Delivery: d-2\n"
          "Content-Type: application/json\nX-Hub-Signature-256: sha256=00\n\n{}")


def jwt_seeds(es256_key):
    write("fuzz_jwt", "seed-hs256", "Bearer " + jwt.encode(claims(), SECRET, algorithm="HS256"))
    write("fuzz_jwt", "seed-hs256-expired", jwt.encode(claims(exp=1700000100), SECRET, algorithm="HS256"))
    write("fuzz_jwt", "seed-hs256-scp", jwt.encode(claims(scope=None, scp=["status:read"]), SECRET,
                                                  algorithm="HS256"))
    write("fuzz_jwt", "seed-aud-array", jwt.encode(claims(aud=["x", AUD]), SECRET, algorithm="HS256"))
    write("fuzz_jwt", "seed-none", jwt.encode(claims(), None, algorithm="none"))
    if es256_key:
        key = pathlib.Path(es256_key).read_text()
        write("fuzz_jwt", "seed-es256", jwt.encode(claims(), key, algorithm="ES256"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--es256-key")
    a = ap.parse_args()
    tok = jwt.encode(claims(), SECRET, algorithm="HS256")
    mcp_seeds(tok)
    webhook_seeds()
    jwt_seeds(a.es256_key)


if __name__ == "__main__":
    main()
