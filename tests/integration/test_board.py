# SPDX-License-Identifier: MIT
"""The live board (GET /board/<project-id>) in headless Chromium: it shows the project's columns,
a signed push moves a card without a reload, another org's token sees nothing, and the page asks
nothing of any other origin. The screenshot is kept in build/test-artifacts/board.png."""
import json
import os
import subprocess

import pytest
import requests

from conftest import BUILD, ROOT
from test_events import EVENTS
from test_mcp import token
from test_orchestrator import FAST  # noqa: F401
from test_scan import V4, commit, orch, project_for, push_payload, repo, run_scan, story  # noqa: F401
from test_webhook import deliver, examples, new_project  # noqa: F401

ARTIFACTS = BUILD / "test-artifacts"


@pytest.fixture
def mcp(spawn, tmp_path):
    return spawn("jive-mcp", JIVE_AUDIT_SPOOL=str(tmp_path / "spool.jsonl"))


class Board:
    def __init__(self, url, shot="-", key="-", to="-", mode="token"):
        self.p = subprocess.Popen(["node", str(ROOT / "tests/clients/board_browser.mjs"), url,
                                   str(shot), key, to, mode], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, cwd=ROOT / "tests")
        line = self.p.stdout.readline()
        assert line, self.p.stderr.read()
        self.first = json.loads(line)
        assert "error" not in self.first, self.first

    def result(self):
        out, err = self.p.communicate(timeout=90)
        assert self.p.returncode == 0, err
        res = json.loads(out.strip().splitlines()[-1])
        assert "error" not in res, res
        return res


def test_board_shows_the_project_and_moves_a_card_live(orch, webhook, mcp, repo, db, examples):
    first = commit(repo, V4, "fixture")
    p = project_for(db, "file://" + repo)
    run_scan(webhook, db, p["id"])
    slug = db.execute("SELECT slug FROM orgs WHERE id = %s", (p["org_id"],)).fetchone()[0]
    tok = token({"org": p["org_id"], "slug": slug}, EVENTS)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "board.png"
    origin = mcp.url("")
    board = Board(f"{origin}/board/{p['id']}#token={tok}", shot, "1.4", "Done")
    cols = {c["status"]: c["cards"] for c in board.first["columns"]}
    assert list(cols)[:5] == ["Draft", "Approved", "InProgress", "Review", "Done"]
    assert "1.4" in cols["InProgress"] and "1.3" in cols["InProgress"]
    assert "1.6" in cols["Done"] and "1.5" in cols["Review"]
    assert any("FAIL" in g for g in board.first["gates"])
    findings = board.first["findings"]
    assert findings[0].startswith("critical: Story 1.7 is Done but its QA gate says FAIL"), findings
    assert any(f.startswith("high: Stories 1.3 (InProgress) and 1.4") for f in findings), findings
    assert board.first["title"] == "app · JIVE board"
    assert shot.stat().st_size > 10000
    # a signed push moves 1.4 to Done; the page follows the event stream, no reload
    second = commit(repo, {"docs/stories/1.4.checkout.md": story("1.4", "Checkout", "Done",
                                                                 ["src/checkout.ts"])}, "done")
    r = deliver(webhook, p["id"], "push",
                push_payload(examples, first, second, modified=["docs/stories/1.4.checkout.md"]),
                p["secret"])
    assert r.status_code == 202
    res = board.result()
    assert res["moved"] is True, res
    # the window survived: no reload (the one same-document navigation is the token leaving the URL)
    assert res["same_page"] is True and res["live"] == "live"
    # nothing from anywhere else: the page, its script and style, the API and the stream
    assert res["requests"] and all(u.startswith(origin + "/") for u in res["requests"]), \
        res["requests"]
    assert not [c for c in res["console"] if c.startswith(("error", "pageerror"))], res["console"]
    # the headers that keep it that way
    h = requests.get(f"{origin}/board/{p['id']}").headers
    assert "script-src 'self'" in h["Content-Security-Policy"]
    assert "'unsafe-inline'" not in h["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in h["Content-Security-Policy"]


def test_another_orgs_token_sees_nothing_on_the_board(mcp, db):
    mine = new_project(db)
    other = new_project(db)
    slug = db.execute("SELECT slug FROM orgs WHERE id = %s", (other["org_id"],)).fetchone()[0]
    tok = token({"org": other["org_id"], "slug": slug}, EVENTS)
    board = Board(mcp.url(f"/board/{mine['id']}") + f"#token={tok}")
    assert board.first["columns"] == [] and board.first["findings"] == []
    assert "not" in board.first["message"].lower()
    board.result()
    # the page without a token asks for one; a bad id is 404
    r = requests.get(mcp.url("/board/not-a-project"))
    assert r.status_code == 404
