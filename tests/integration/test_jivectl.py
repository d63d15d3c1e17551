# SPDX-License-Identifier: MIT
"""jivectl project and token commands."""
import re
import time
import uuid

import jwt
import psycopg

from conftest import JWT_AUDIENCE, JWT_ISSUER, JWT_SECRET, run_bin


def ctl(stack, *args, **env):
    return run_bin("jivectl", stack.env(**env), *args)


def test_help_for_every_command(stack):
    top = ctl(stack, "--help")
    assert top.returncode == 0
    for cmd in (["migrate"], ["project", "add"], ["project", "list"], ["token", "mint"]):
        p = ctl(stack, *cmd, "--help")
        assert p.returncode == 0 and p.stdout.startswith("usage: jivectl " + " ".join(cmd)), p.stdout
        assert " ".join(cmd) in top.stdout
    p = ctl(stack, "frobnicate")
    assert p.returncode == 2 and "unknown command 'frobnicate'" in p.stderr


def test_project_add_generates_secret_once_and_lists(stack):
    slug = "org-" + uuid.uuid4().hex[:8]
    repo = f"https://github.com/{slug}/app"
    p = ctl(stack, "project", "add", "--org", slug, "--name", "app", "--repo", repo)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    pid = lines[0]
    uuid.UUID(pid)
    secret = re.fullmatch(r"webhook secret \(shown once\): ([0-9a-f]{64})", lines[1]).group(1)
    with psycopg.connect(stack.pg.dsn()) as c:
        row = c.execute("SELECT p.webhook_secret, p.default_branch, o.slug FROM projects p "
                        "JOIN orgs o ON o.id = p.org_id WHERE p.id = %s", (pid,)).fetchone()
    assert row == (secret, "main", slug)
    # its first full scan was committed with it (the outbox sweeper queues it)
    with psycopg.connect(stack.pg.dsn()) as c:
        jobs = c.execute("SELECT id, queue, payload FROM jobs WHERE project_id = %s",
                         (pid,)).fetchall()
        assert [(q, pl) for _, q, pl in jobs] == [("artifact-scan", {"full": True})]
        assert f"first full scan queued (jivectl jobs show {jobs[0][0]})" in p.stderr
        # nothing here can fetch this repository: keep the job away from later tests' workers
        c.execute("DELETE FROM jobs WHERE project_id = %s", (pid,))
    listing = ctl(stack, "project", "list").stdout
    assert pid in listing and repo in listing and secret not in listing
    # the same repository twice is refused; the org is reused for a second project
    dup = ctl(stack, "project", "add", "--org", slug, "--name", "other", "--repo", repo)
    assert dup.returncode == 1 and "already exists" in dup.stderr
    p2 = ctl(stack, "project", "add", "--org", slug, "--name", "api", "--repo", repo + "-api",
             "--branch", "develop", "--secret", "s" * 20, "--scan", "no")
    assert p2.returncode == 0 and len(p2.stdout.splitlines()) == 1
    assert "scan" not in p2.stderr
    with psycopg.connect(stack.pg.dsn()) as c:
        assert c.execute("SELECT count(*) FROM orgs WHERE slug = %s", (slug,)).fetchone()[0] == 1


def test_project_add_validates(stack):
    p = ctl(stack, "project", "add", "--org", "x", "--name", "y")
    assert p.returncode == 1 and "--repo" in p.stderr
    p = ctl(stack, "project", "add", "--org", "Bad Slug!", "--name", "y", "--repo",
            "https://github.com/bad/slug")
    assert p.returncode == 1 and "invalid value" in p.stderr
    p = ctl(stack, "project", "add", "--org", "ok", "--name", "y", "--repo", "r1")
    assert p.returncode == 1 and "--repo" in p.stderr and "is refused" in p.stderr
    p = ctl(stack, "project", "add", "--org", "ok", "--name", "y", "--repo", "r", "--scan", "maybe")
    assert p.returncode == 1 and "--scan must be yes or no" in p.stderr, p.stderr
    p = ctl(stack, "project", "add", "--org", "ok", "--name", "y", "--repo", "r", "--secret", "short")
    assert p.returncode == 1 and "at least 16" in p.stderr
    p = ctl(stack, "project", "add", "--bogus", "1")
    assert p.returncode == 2 and "unknown option --bogus" in p.stderr


def test_token_mint_prints_only_a_valid_token(stack):
    slug = "tok-" + uuid.uuid4().hex[:8]
    assert ctl(stack, "project", "add", "--org", slug, "--name", "p", "--repo", f"file:///{slug}",
               "--scan", "no").returncode == 0
    p = ctl(stack, "token", "mint", "--sub", "agent-7", "--name", "Claude", "--org", slug,
            "--scopes", "status:read stories:read", "--ttl", "2h")
    assert p.returncode == 0, p.stderr
    assert len(p.stdout.splitlines()) == 1
    tok = p.stdout.strip()
    claims = jwt.decode(tok, JWT_SECRET, algorithms=["HS256"], audience=JWT_AUDIENCE, issuer=JWT_ISSUER)
    assert claims["sub"] == "agent-7" and claims["name"] == "Claude" and claims["org"] == slug
    assert claims["scope"] == "status:read stories:read"
    assert abs(claims["exp"] - time.time() - 7200) < 60
    assert claims["nbf"] <= time.time() + 1 and claims["jti"]
    uuid.UUID(claims["org_id"])
    assert jwt.get_unverified_header(tok)["alg"] == "HS256"


def test_token_mint_errors(stack):
    p = ctl(stack, "token", "mint", "--sub", "a", "--name", "n", "--org", "no-such-org", "--scopes", "x")
    assert p.returncode == 1 and "no org with slug 'no-such-org'" in p.stderr
    p = ctl(stack, "token", "mint", "--sub", "a", "--name", "n", "--org", "o", "--scopes", "x", "--ttl", "soon")
    assert p.returncode == 1 and "--ttl" in p.stderr
    p = ctl(stack, "token", "mint", "--sub", "a", "--name", "n", "--org", "o", "--scopes", "x",
            JIVE_JWT_SECRET=None)
    assert p.returncode == 1 and "JIVE_JWT_SECRET: required, not set" in p.stderr


def test_token_mint_limits_a_token_to_named_projects(stack):
    slug, other = "lim-" + uuid.uuid4().hex[:8], "oth-" + uuid.uuid4().hex[:8]

    def add(org, name):
        p = ctl(stack, "project", "add", "--org", org, "--name", name, "--repo",
                f"file:///{org}/{name}", "--scan", "no")
        assert p.returncode == 0, p.stderr
        return p.stdout.splitlines()[0]

    a, b, c = add(slug, "alpha"), add(slug, "beta"), add(other, "gamma")

    def mint(*extra):
        return ctl(stack, "token", "mint", "--sub", "s", "--name", "n", "--org", slug,
                   "--scopes", "status:read", *extra)

    p = mint("--projects", f"alpha, {b}")  # by name or id, spaces or commas
    assert p.returncode == 0, p.stderr
    claims = jwt.decode(p.stdout.strip(), JWT_SECRET, algorithms=["HS256"], audience=JWT_AUDIENCE)
    assert claims["projects"] == [a, b]
    claims = jwt.decode(mint().stdout.strip(), JWT_SECRET, algorithms=["HS256"], audience=JWT_AUDIENCE)
    assert "projects" not in claims  # the whole org
    # another org's project, by name or by id, is unknown here; nothing is printed
    for ref in ("gamma", c, "nope"):
        p = mint("--projects", f"alpha {ref}")
        assert p.returncode == 1 and p.stdout == "", p.stdout
        assert f"no project '{ref}' in this org" in p.stderr, p.stderr
    p = mint("--projects", " , ")
    assert p.returncode == 1 and "--projects names no project" in p.stderr
