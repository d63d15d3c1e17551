"""docs/openapi.yaml describes exactly the routes the services register, and live replies of
jive-mcp and jive-webhook validate against its schemas."""
import json
import os
import re
import uuid

import jsonschema
import pytest
import requests
import yaml
from test_mcp import ALL_SCOPES, seed_org, token

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
SPEC = yaml.safe_load(open(os.path.join(ROOT, "docs", "openapi.yaml")))
METHODS = {"get", "post", "put", "patch", "delete"}


def registered_routes():
    """(METHOD, path) of every jc_http_route / jc_app_route_health call in the C sources."""
    routes = set()
    for d in ("libjivecore/src", "svc-mcp", "svc-webhook", "svc-orchestrator"):
        for name in os.listdir(os.path.join(ROOT, d)):
            if not name.endswith(".c"):
                continue
            text = open(os.path.join(ROOT, d, name)).read()
            for method, path in re.findall(r'jc_http_route\([^,]+,\s*"(\w+)",\s*"([^"]+)"', text):
                routes.add((method, path))
            for path in re.findall(r'jc_app_route_health\([^,]+,\s*"([^"]+)"', text):
                routes.add(("GET", path))
    routes.add(("GET", "/health"))  # jc_app's own, registered with a variable path
    return routes


def test_every_route_is_described_and_nothing_else():
    described = {(m.upper(), re.sub(r"\{[^}]+\}", "*", p))
                 for p, ops in SPEC["paths"].items() for m in ops if m in METHODS}
    assert described == registered_routes()


def validate(path, method, resp):
    op = SPEC["paths"][path][method]
    assert str(resp.status_code) in op["responses"], (path, method, resp.status_code, resp.text)
    r = op["responses"][str(resp.status_code)]
    if "$ref" in r:
        r = SPEC["components"]["responses"][r["$ref"].rsplit("/", 1)[1]]
    content = r.get("content", {})
    if "application/json" in content:
        schema = content["application/json"]["schema"]
        resolver = jsonschema.RefResolver.from_schema(SPEC)
        jsonschema.Draft202012Validator(schema, resolver=resolver).validate(resp.json())
    elif "text/plain" in content:
        assert resp.headers["Content-Type"].startswith("text/plain")
    return resp


@pytest.fixture
def services(spawn, db):
    return spawn("jive-mcp"), spawn("jive-webhook", JIVE_ENV="development"), seed_org(db)


def test_live_replies_match_the_schemas(services):
    mcp, webhook, tenant = services
    t = {"Authorization": "Bearer " + token(tenant, ALL_SCOPES + " kanban:write")}
    p = tenant["project"]
    for svc in (mcp, webhook):
        validate("/health", "get", requests.get(svc.url("/health")))
        validate("/livez", "get", requests.get(svc.url("/livez")))
        validate("/metrics", "get", requests.get(svc.url("/metrics")))
    validate("/mcp/health", "get", requests.get(mcp.url("/mcp/health")))
    validate("/.well-known/oauth-protected-resource", "get",
             requests.get(mcp.url("/.well-known/oauth-protected-resource")))
    validate("/.well-known/oauth-protected-resource/{resourcePath}", "get",
             requests.get(mcp.url("/.well-known/oauth-protected-resource/mcp")))
    validate("/register", "post", requests.post(mcp.url("/register"), json={}))
    validate("/.well-known/oauth-authorization-server{suffix}", "get",
             requests.get(mcp.url("/.well-known/oauth-authorization-server")))
    tools = validate("/mcp/tools", "get", requests.get(mcp.url("/mcp/tools"), headers=t)).json()
    assert len(tools["tools"]) == 12  # a token without the memory and reports scopes: 12 of 17
    validate("/mcp/tools", "get", requests.get(mcp.url("/mcp/tools")))  # 401
    for body in ({"tool": "status.get", "arguments": {"project_id": p}},
                 {"tool": "status_get", "arguments": {}},
                 {"tool": "no_such_tool", "arguments": {}}):
        validate("/mcp/invoke", "post", requests.post(mcp.url("/mcp/invoke"), json=body, headers=t))
    h = dict(t, **{"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25"})
    for body in ({"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                 {"jsonrpc": "2.0", "id": 2, "method": "no/such"},
                 {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                  "params": {"name": "status_get", "arguments": {"project_id": p}}}):
        validate("/mcp", "post", requests.post(mcp.url("/mcp"), json=body, headers=h))
    validate("/mcp", "post", requests.post(mcp.url("/mcp"), data=b"{", headers=h))
    validate("/mcp", "post", requests.post(mcp.url("/mcp"), json={"jsonrpc": "2.0", "id": 1,
                                                                   "method": "tools/list"}))
    validate("/mcp", "get", requests.get(mcp.url("/mcp"), headers=h))
    validate("/mcp", "delete", requests.delete(mcp.url("/mcp"), headers=h))
    # jive-webhook: an unsigned delivery, an unknown project, a ping, the development enqueue
    gh = {"X-GitHub-Event": "ping", "X-GitHub-Delivery": str(uuid.uuid4()),
          "X-Hub-Signature-256": "sha256=" + "0" * 64, "Content-Type": "application/json"}
    validate("/webhooks/github/{projectId}", "post",
             requests.post(webhook.url(f"/webhooks/github/{p}"), data=b"{}", headers=gh))
    validate("/webhooks/github/{projectId}", "post",
             requests.post(webhook.url(f"/webhooks/github/{uuid.uuid4()}"), data=b"{}", headers=gh))
    validate("/webhooks/github", "post", requests.post(webhook.url("/webhooks/github"), data=b"{}",
                                                       headers=gh))
    validate("/api/jobs/enqueue", "post", requests.post(
        webhook.url("/api/jobs/enqueue"), json={"queue": "conflict-detection", "project_id": p}))
    validate("/api/jobs/enqueue", "post", requests.post(
        webhook.url("/api/jobs/enqueue"), json={"queue": "nope", "project_id": p}))
    # a reply outside the document fails the check (the checker itself can fail)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(SPEC["components"]["schemas"]["Health"]).validate(
            json.loads('{"status": "fine"}'))


def test_postman_collection_covers_every_tool_and_runs(services):
    """The committed collection is what deploy/postman.py makes of the server's tool list, and
    each of its requests succeeds against the server."""
    import importlib.util
    mcp, _, tenant = services
    spec = importlib.util.spec_from_file_location("postman", os.path.join(ROOT, "deploy", "postman.py"))
    postman = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(postman)
    tok = token(tenant, ALL_SCOPES + " kanban:write")
    tools = requests.get(mcp.url("/mcp/tools"), headers={"Authorization": "Bearer " + tok}).json()["tools"]
    path = os.path.join(ROOT, "docs", "postman", "jive-mcp.postman_collection.json")
    if os.environ.get("JIVE_REGENERATE_POSTMAN"):  # after changing a tool: rewrite, then commit
        open(path, "w").write(postman.render(tools))
    committed = open(path).read()
    assert committed == postman.render(tools), "run with JIVE_REGENERATE_POSTMAN=1 and commit"
    coll = json.loads(committed)
    assert {i["name"] for i in coll["item"]} == {t["name"] for t in tools}
    job_id = str(uuid.uuid4())
    for item in coll["item"]:
        for req in item["item"]:
            raw = (req["request"]["body"]["raw"].replace("{{project_id}}", tenant["project"])
                   .replace("{{job_id}}", job_id))
            body = json.loads(raw)
            if item["name"] == "kanban_move_story":
                (body.get("params", body))["arguments"]["waitMs"] = 0  # no orchestrator here
            url = mcp.url(req["request"]["url"].replace("{{base_url}}", ""))
            headers = {h["key"]: h["value"] for h in req["request"]["header"]}
            headers["Authorization"] = "Bearer " + tok
            r = requests.post(url, json=body, headers=headers, timeout=10)
            assert r.status_code == 200, (req["name"], r.text)
            if "jsonrpc" in body:
                assert r.json()["result"].get("isError") is not True, (req["name"], r.text)
