# SPDX-License-Identifier: MIT
"""The policy file (JIVE_POLICY_FILE): roles decide which tools a caller sees and may call (a
refusal names the rule), per-role and per-tool rates and a per-tool concurrency cap that holds
across two replicas, a bad file refused at start and at SIGHUP with the old policy kept, and the
example in deploy/ loaded as it is."""
import signal
import subprocess
import threading
import time
import uuid

import pytest

from conftest import BIN, ROOT, free_port, run_bin, wait_for
from test_mcp import ALL_SCOPES, call, rpc, seed_org, token

SCOPES = ALL_SCOPES + " kanban:write"

POLICY = """
roles:
  reader:
    tools: [status_get, "projects_*"]
  agent:
    tools: ["*"]
    rate_per_minute: 1000
    tool_limits:
      stories_list: {rate_per_minute: 2}
      kanban_move_story: {concurrency: 1}
subjects:
  - {sub: reader-1, role: reader}
  - {scope: "kanban:write", role: agent}
"""


def tools_of(svc, tok):
    return sorted(t["name"] for t in rpc(svc, "tools/list", {}, tok).json()["result"]["tools"])


@pytest.fixture
def policy(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    return path


def test_roles_decide_what_is_listed_and_callable(spawn, policy, db):
    t = seed_org(db)
    svc = spawn("jive-mcp", JIVE_POLICY_FILE=policy)
    reader = token(t, SCOPES.replace("kanban:write", ""), sub="reader-1")
    assert tools_of(svc, reader) == ["projects_list", "status_get"]
    r = call(svc, "conflicts_list", {"project_id": t["project"]}, reader)
    assert r.status_code == 403
    assert r.json()["error"]["message"] == \
        "policy: role 'reader' (subjects rule 1) does not allow conflicts_list"
    assert call(svc, "status_get", {"project_id": t["project"]}, reader).json()["result"][
        "isError"] is False
    # no rule matches and there is no default role: nothing at all
    stranger = token(t, "status:read", sub="someone")
    assert tools_of(svc, stranger) == []
    r = call(svc, "status_get", {"project_id": t["project"]}, stranger)
    assert r.status_code == 403 and "no subject rule gives someone a role" in r.json()["error"]["message"]
    row = wait_for(lambda: db.execute("SELECT result, error_message FROM mcp_audit_logs WHERE "
                                      "actor_id = 'someone' AND tool = 'status_get'").fetchone(), 5)
    assert row[0] == "denied" and row[1].startswith("policy:")
    # the agent sees everything its scopes allow
    agent = token(t, SCOPES, sub="agent-1")
    assert "kanban_move_story" in tools_of(svc, agent)


def test_tool_rate_and_concurrency_hold_across_replicas(spawn, policy, db):
    t = seed_org(db)
    a = spawn("jive-mcp", JIVE_POLICY_FILE=policy)
    b = spawn("jive-mcp", JIVE_POLICY_FILE=policy)
    tok = token(t, SCOPES, sub=f"agent-{uuid.uuid4().hex[:6]}")
    args = {"project_id": t["project"]}
    assert call(a, "stories_list", args, tok).json()["result"]["isError"] is False
    assert call(b, "stories_list", args, tok).json()["result"]["isError"] is False
    r = call(a, "stories_list", args, tok)
    assert r.status_code == 429 and "rate limit of stories_list" in r.json()["error"]["message"]
    assert int(r.headers["Retry-After"]) >= 1
    assert call(b, "status_get", args, tok).json()["result"]["isError"] is False  # others free
    # one move at a time for the org: a waiting move on replica A holds the slot
    move = {"project_id": t["project"], "key": "1.2", "status": "Review", "waitMs": 3000}
    held = {}
    th = threading.Thread(target=lambda: held.update(r=call(a, "kanban_move_story", move, tok)))
    th.start()
    time.sleep(0.8)
    r = call(b, "kanban_move_story", dict(move, key="1.1"), tok)
    assert r.status_code == 429 and r.json()["error"]["message"].startswith(
        "policy: kanban_move_story runs at most 1 at once")
    th.join()
    assert held["r"].status_code == 200
    r = call(b, "kanban_move_story", dict(move, key="1.1", waitMs=0), tok)  # the slot is free
    assert r.status_code == 200 and r.json()["result"]["isError"] is False


def test_bad_policy_refused_at_start_and_at_sighup(spawn, policy, stack, tmp_path, db):
    bad = tmp_path / "bad.yaml"
    for text, words in (("roles: {}\n", "roles: must name at least one role"),
                        ("roles:\n  r: {tools: [no_such_tool]}\n", "no tool 'no_such_tool'"),
                        ("roles:\n  r: {tools: ['*'], rate_per_minute: fast}\n",
                         "roles.r.rate_per_minute: must be a whole number"),
                        ("roles:\n  r: {tools: ['*']}\nsubjects:\n  - {sub: x, role: nobody}\n",
                         "no role 'nobody'"),
                        ("roles: [unclosed\n", "JIVE_POLICY_FILE")):
        bad.write_text(text)
        env = stack.env(PORT=free_port(), JIVE_POLICY_FILE=bad)
        p = subprocess.run([str(BIN / "jive-mcp")], env=env, capture_output=True, text=True,
                           timeout=20)
        assert p.returncode == 2 and words in p.stderr, (text, p.stderr)
    t = seed_org(db)
    svc = spawn("jive-mcp", JIVE_POLICY_FILE=policy)
    reader = token(t, ALL_SCOPES, sub="reader-1")
    assert tools_of(svc, reader) == ["projects_list", "status_get"]
    policy.write_text("roles: {broken\n")
    svc.proc.send_signal(signal.SIGHUP)
    assert wait_for(lambda: "policy not reloaded" in svc.log(), 5)
    assert tools_of(svc, reader) == ["projects_list", "status_get"]  # the old one stays
    policy.write_text(POLICY.replace('[status_get, "projects_*"]', "[status_get]"))
    svc.proc.send_signal(signal.SIGHUP)
    assert wait_for(lambda: "policy reloaded" in svc.log(), 5)
    assert tools_of(svc, reader) == ["status_get"]


def test_the_example_policy_loads(spawn, stack, db):
    example = ROOT / "deploy/policy.example.yaml"
    p = run_bin("jivectl", stack.env(), "policy", "check", str(example))
    assert p.returncode == 0 and "3 roles, 3 subject rules, default role reader" in p.stdout
    t = seed_org(db)
    svc = spawn("jive-mcp", JIVE_POLICY_FILE=example)
    assert "kanban_move_story" not in tools_of(svc, token(t, ALL_SCOPES, sub="viewer-x"))
    assert "kanban_move_story" in tools_of(svc, token(t, SCOPES, sub="agent-x"))
    p = run_bin("jivectl", stack.env(), "policy", "check", str(ROOT / "README.md"))
    assert p.returncode == 1 and "README.md" in p.stderr
