# SPDX-License-Identifier: MIT
"""`make run`'s local stack: three healthy services, a printed token and client config, a clean
stop on SIGTERM that leaves nothing running, and a second run that reuses the data."""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile

import jwt
import pytest
import requests

from conftest import BIN, JWT_SECRET, ROOT, free_port, wait_for


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


def start(home, ports):
    env = dict(os.environ, JIVE_HOME=home, JIVE_BIN=str(BIN),
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


def run_once(home, ports):
    proc, log = start(home, ports)
    try:
        ok = wait_for(lambda: all(healthy(ports[k]) for k in ("mcp", "webhook", "orch")), 90, 0.3)
        assert ok, output(log)
        text = output(log)
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(60)
    text = output(log)
    assert rc == 0, text
    assert "[jive] stopped" in text
    assert not re.search(r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:", text), text
    # nothing it started is left running
    for k in ("pg", "redis", "mcp", "webhook", "orch"):
        assert not port_open(ports[k]), f"{k} still listening on {ports[k]}"
    return text


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

    second = run_once(home, ports)
    assert "schema is up to date" in second and "applied" not in second
    assert f"demo project: {project}" in second
    assert "initialising PostgreSQL" not in second
