# SPDX-License-Identifier: MIT
"""Live notifications end to end, with real clients: a signed push reaches the webhook, the
orchestrator scans the commit, and the official SDK's subscription hears that its story
changed; another org's token hears nothing."""
import json
import os
import subprocess

import pytest

from conftest import ROOT, wait_for
from test_events import EVENTS
from test_mcp import token
from test_orchestrator import FAST  # noqa: F401
from test_scan import V4, commit, orch, project_for, push_payload, repo, run_scan, story  # noqa: F401
from test_webhook import deliver, examples, new_project  # noqa: F401


class Subscriber:
    """tests/clients/sdk_subscribe.mjs (SDK v1, 2025 era) or sdk2_subscribe.mjs (SDK v2,
    2026-07-28) in the background."""

    def __init__(self, mcp, tok, uri, wait_ms=20000, script="sdk_subscribe.mjs"):
        self.p = subprocess.Popen(["node", str(ROOT / "tests/clients" / script),
                                   mcp.url("/mcp"), tok, uri, str(wait_ms)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  cwd=ROOT / "tests")
        line = self.p.stdout.readline()
        assert line, self.p.stderr.read()
        self.first = json.loads(line)

    def result(self):
        out, err = self.p.communicate(timeout=60)
        assert self.p.returncode == 0, err
        return json.loads(out.strip().splitlines()[-1])


@pytest.fixture
def mcp(spawn, tmp_path):
    return spawn("jive-mcp", JIVE_AUDIT_SPOOL=str(tmp_path / "spool.jsonl"))


@pytest.mark.parametrize("script", ["sdk_subscribe.mjs", "sdk2_subscribe.mjs"])
def test_sdk_subscription_hears_a_signed_push_change_its_story(orch, webhook, mcp, repo, db,
                                                                examples, script):
    """SDK v1 on 2025-11-25 (resources/subscribe on a session) and SDK v2 on 2026-07-28
    (subscriptions/listen), each against the whole path from a signed push."""
    first = commit(repo, V4, "fixture")
    p = project_for(db, "file://" + repo)
    run_scan(webhook, db, p["id"])
    slug = db.execute("SELECT slug FROM orgs WHERE id = %s", (p["org_id"],)).fetchone()[0]
    tenant = {"org": p["org_id"], "slug": slug, "project": p["id"]}
    path = "docs/stories/1.4.checkout.md"
    uri = f"jive://projects/{p['id']}/{path}"
    mine = Subscriber(mcp, token(tenant, EVENTS), uri, script=script)
    assert mine.first["subscribed"] is True, mine.first
    if script == "sdk_subscribe.mjs":
        assert mine.first["session"] and mine.first["capabilities"]["subscribe"] is True
        assert mine.first["protocol"] == "2025-11-25"
    else:
        assert mine.first["era"] == "modern"
    other = new_project(db)
    slug2 = db.execute("SELECT slug FROM orgs WHERE id = %s", (other["org_id"],)).fetchone()[0]
    theirs = Subscriber(mcp, token({"org": other["org_id"], "slug": slug2}, EVENTS), uri, 5000,
                        script=script)
    assert theirs.first["subscribed"] is False, theirs.first  # refused, or not honoured
    if script == "sdk_subscribe.mjs":
        # the SDK opens the session's GET stream after initialize, in the background: wait
        # until jive-mcp has it (the stream's audit row is written once it is registered)
        assert wait_for(lambda: db.execute(
            "SELECT count(*) FROM mcp_audit_logs WHERE tool = 'GET /mcp (session stream)' AND "
            "result = 'success' AND org_id = %s", (p["org_id"],)).fetchone()[0] >= 1, 10)
    second = commit(repo, {path: story("1.4", "Checkout", "Done", ["src/checkout.ts"])},
                    "1.4 is done")
    r = deliver(webhook, p["id"], "push", push_payload(examples, first, second, modified=[path]),
                p["secret"])
    assert r.status_code == 202
    assert mine.result() == {"updated": [uri]}
    assert theirs.result() == {"updated": []}
