# SPDX-License-Identifier: MIT
"""`make run`'s local stack: three healthy services, a printed token and client config, a clean
stop on SIGTERM that leaves nothing running, and a second run that reuses the data."""
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile

import jwt
import psycopg
import pytest
import requests

from conftest import BIN, JWT_SECRET, ROOT, free_port, wait_for
from scripted_model import ScriptedModel

CLAUDE_BIN = ROOT / "tests/node_modules/.bin"


def port_open(port):
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def home():
    d = tempfile.mkdtemp(prefix="jive-home-")
    os.chmod(d, 0o755)  # the postgres user must reach the data directory
    yield d
    shutil.rmtree(d, ignore_errors=True)


def start(home, ports, **extra):
    env = dict(os.environ, **extra, JIVE_HOME=home, JIVE_BIN=str(BIN),
               JIVE_PG_PORT=str(ports["pg"]), JIVE_REDIS_PORT=str(ports["redis"]),
               JIVE_MCP_PORT=str(ports["mcp"]), JIVE_WEBHOOK_PORT=str(ports["webhook"]),
               JIVE_ORCHESTRATOR_PORT=str(ports["orch"]),
               ASAN_OPTIONS="detect_leaks=1:exitcode=86")
    env.pop("JIVE_JWT_SECRET", None)
    log = open(os.path.join(home, "run.out"), "w+")
    proc = subprocess.Popen(["bash", str(ROOT / "deploy/local-stack.sh")], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    return proc, log


def output(log):
    log.flush()
    log.seek(0)
    return log.read()


def healthy(port):
    try:
        return requests.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200
    except requests.RequestException:
        return False


@contextlib.contextmanager
def running(home, ports, **extra):
    """make run's stack, healthy; yields its output file (read it with output()). On leaving,
    it is stopped with SIGTERM and must have exited cleanly, leaving nothing behind."""
    proc, log = start(home, ports, **extra)
    try:
        ok = wait_for(lambda: all(healthy(ports[k]) for k in ("mcp", "webhook", "orch")), 90, 0.3)
        assert ok, output(log)
        yield log
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(60)
    stopped_cleanly(rc, output(log), ports)


def stopped_cleanly(rc, text, ports):
    assert rc == 0, text
    assert "[jive] stopped" in text
    assert not re.search(r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:", text), text
    # nothing it started is left running
    for k in ("pg", "redis", "mcp", "webhook", "orch"):
        assert not port_open(ports[k]), f"{k} still listening on {ports[k]}"


def run_once(home, ports, **extra):
    with running(home, ports, **extra) as log:
        mcp = f"http://127.0.0.1:{ports['mcp']}"
        prm = requests.get(mcp + "/.well-known/oauth-protected-resource/mcp", timeout=5).json()
        asm = requests.get(mcp + "/.well-known/oauth-authorization-server", timeout=5)
        if "JIVE_GITHUB_CLIENT_ID" in extra:  # sign-in on: jive-mcp is the authorization server
            assert prm["authorization_servers"] == [mcp] and asm.status_code == 200
            assert asm.json()["authorization_endpoint"] == mcp + "/authorize"
        else:  # no GitHub app configured: no authorization server advertised
            assert "authorization_servers" not in prm and asm.status_code == 404
    return output(log)


def test_make_run_serves_and_stops_cleanly_and_reuses_data(home):
    ports = {k: free_port() for k in ("pg", "redis", "mcp", "webhook", "orch")}
    first = run_once(home, ports)
    assert "applied 001_init.sql" in first
    project = re.search(r"demo project: ([0-9a-f-]{36})", first).group(1)
    token = re.search(r"agent token.*\n(\S+)\n", first).group(1)
    assert f'claude mcp add --transport http jive http://127.0.0.1:{ports["mcp"]}/mcp' in first
    assert '"mcpServers":{"jive":' in first
    for prefix in ("[mcp] ", "[webhook] ", "[orchestrator] "):
        assert prefix + "{" in first
    secret = open(os.path.join(home, "env")).read().split("JIVE_JWT_SECRET=")[1].split()[0]
    claims = jwt.decode(token, secret, algorithms=["HS256"],
                        audience=f"http://127.0.0.1:{ports['mcp']}/mcp")
    assert claims["org"] == "demo" and "kanban:write" in claims["scope"].split()
    assert secret != JWT_SECRET
    # the demo repository is a real git repository in BMAD layout
    repo = os.path.join(home, "demo-repo")
    files = subprocess.run(["git", "-C", repo, "ls-files"], capture_output=True, text=True).stdout
    assert "docs/prd.md" in files and "docs/stories/1.2.move-task.md" in files
    assert "docs/qa/gates/1.1-create-task-api.yml" in files

    assert "sign-in with GitHub is off" in first

    # the second run with a GitHub OAuth app configured turns sign-in on
    second = run_once(home, ports, JIVE_GITHUB_CLIENT_ID="Iv1.makerun", JIVE_GITHUB_CLIENT_SECRET="s" * 20,
                      JIVE_SIGNIN_MEMBER="octocat")
    assert "schema is up to date" in second and "applied" not in second
    assert f"demo project: {project}" in second
    assert "initialising PostgreSQL" not in second
    assert "sign-in with GitHub is on" in second and "GitHub user octocat in demo as developer" in second
    assert os.stat(os.path.join(home, "oauth-signing.pem")).st_mode & 0o077 == 0


def demo_status(ports, token, project):
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "status_get", "arguments": {"project_id": project}}}
    r = requests.post(f"http://127.0.0.1:{ports['mcp']}/mcp", json=body, timeout=10, headers={
        "Authorization": "Bearer " + token, "MCP-Protocol-Version": "2025-06-18",
        "Accept": "application/json, text/event-stream"})
    return r.json()["result"]["structuredContent"]


def demo_move(ports, token, project, key, status):
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "kanban_move_story",
                       "arguments": {"project_id": project, "key": key, "status": status,
                                     "waitMs": 20000}}}
    r = requests.post(f"http://127.0.0.1:{ports['mcp']}/mcp", json=body, timeout=30, headers={
        "Authorization": "Bearer " + token, "MCP-Protocol-Version": "2025-06-18",
        "Accept": "application/json, text/event-stream"})
    res = r.json()["result"]
    assert res["isError"] is False, res
    return res["structuredContent"]


def test_claude_code_connects_to_make_run_and_calls_status_get(home, tmp_path):
    """docs/MCP.md's path for a newcomer, with the real Claude Code CLI (npm, pinned in
    tests/package.json): `make run`, the `claude mcp add` line it prints, `claude mcp list`,
    then a prompt asking for status_get on the demo project. This machine cannot reach
    Anthropic's API, so the model's three decisions come from scripted_model.ScriptedModel;
    Claude Code's MCP client and JIVE are the real programs."""
    ports = {k: free_port() for k in ("pg", "redis", "mcp", "webhook", "orch")}
    claude_home = tmp_path / "home"
    claude_home.mkdir()
    model = ScriptedModel()
    env = dict(os.environ, HOME=str(claude_home), PATH=f"{CLAUDE_BIN}:{os.environ['PATH']}",
               ANTHROPIC_BASE_URL=model.url, ANTHROPIC_API_KEY="sk-ant-scripted-model",
               CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1", DISABLE_AUTOUPDATER="1")

    def claude(*args):
        p = subprocess.run(["claude", *args], cwd=claude_home, env=env, capture_output=True,
                           text=True, timeout=180)
        assert p.returncode == 0, p.stdout + p.stderr
        return p.stdout

    try:
        with running(home, ports) as log:
            text = output(log)
            project = re.search(r"demo project: ([0-9a-f-]{36})", text).group(1)
            token = open(os.path.join(home, "agent-token")).read().strip()
            # the demo repository's first full scan was queued with the project
            assert wait_for(lambda: demo_status(ports, token, project)["last_scan"], 60, 0.3)
            expected = demo_status(ports, token, project)
            assert sum(expected["stories"].values()) >= 3, expected
            # the first write a newcomer tries: the demo origin takes the orchestrator's push
            moved = demo_move(ports, token, project, "1.2", "Review")
            assert moved["to"] == "Review" and len(moved["commit"]) == 40, moved
            story = open(os.path.join(home, "demo-repo", "docs/stories/1.2.move-task.md")).read()
            assert "Review" in story.split("## Status", 1)[1].split("##", 1)[0], story
            expected = demo_status(ports, token, project)

            add = re.search(r"^  (claude mcp add .*)$", text, re.M).group(1)
            subprocess.run(add, shell=True, cwd=claude_home, env=env, check=True,
                           capture_output=True)
            listing = claude("mcp", "list")
            assert re.search(rf"jive: http://127.0.0.1:{ports['mcp']}/mcp \(HTTP\) - .*Connected",
                             listing), listing

            result = json.loads(claude(
                "-p", f"use jive's status_get on project `{project}`",
                "--allowedTools", "mcp__jive__status_get", "--output-format", "json",
                "--max-turns", "5"))
            assert result["subtype"] == "success" and not result["is_error"], result
            assert result["permission_denials"] == []

            # Claude Code loaded status_get's schema from JIVE's tools/list ...
            loaded = [t for t in model.requests[-1]["tools"] if t["name"] == "mcp__jive__status_get"]
            assert loaded and loaded[0]["input_schema"]["required"] == ["project_id"], loaded
            # ... called it, and handed the model JIVE's answer for the demo project
            blocks = [b for m in model.requests[-1]["messages"] if isinstance(m["content"], list)
                      for b in m["content"] if b.get("type") == "tool_result"
                      and b["tool_use_id"] == "toolu_02"]
            assert len(blocks) == 1 and not blocks[0].get("is_error"), blocks
            got = blocks[0]["content"]
            got = json.loads(got if isinstance(got, str) else got[0]["text"])
            assert got["project"]["id"] == project and got["stories"] == expected["stories"]
            assert result["result"].startswith("status_get returned: {")

            # and the call is in the audit log as the demo agent's, made by Claude Code
            def audited():
                with psycopg.connect(f"host=127.0.0.1 port={ports['pg']} dbname=jive user=jive") as c:
                    return c.execute(
                        "SELECT result, user_agent FROM mcp_audit_logs WHERE tool = 'status_get' "
                        "AND actor_id = 'demo-agent' AND user_agent ILIKE '%claude-code%'").fetchall()

            rows = wait_for(audited, 10, 0.2)
            assert len(rows) == 1 and rows[0][0] == "success", rows
    finally:
        model.stop()
