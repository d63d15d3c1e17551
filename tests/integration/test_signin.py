# SPDX-License-Identifier: MIT
"""Sign-in with GitHub (docs/SIGN-IN.md) against the real jive-mcp, Postgres and Redis, with
GitHub played by a loopback stand-in that JIVE reaches through the Enterprise base URLs and
trusts through JIVE_CA_FILE, as a GitHub Enterprise Server with a private CA. The browser's part
is played by requests here (every refusal, with its status and body) and by headless Chromium
with the official SDK client in test_sdk_client_signs_in_*."""
import base64
import hashlib
import json
import os
import re
import secrets
import subprocess
import time
import urllib.parse
import uuid

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from conftest import BIN, ROOT, JWT_SECRET, JWT_ISSUER, free_port, run_bin, wait_for
from github_standin import TLS, GitHub, StaticHTTPS

GH_CLIENT_ID = "Iv1.jivetestapp0001"
GH_CLIENT_SECRET = "gh-app-secret-" + "x" * 20
DEVELOPER = ("projects:read status:read stories:read gates:read conflicts:read jobs:read "
             "runs:read events:read memory:read agents:write runs:write kanban:write memory:write")
VIEWER = ("projects:read status:read stories:read gates:read conflicts:read jobs:read runs:read "
          "events:read memory:read")


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def pkce():
    verifier = b64url(secrets.token_bytes(48))
    return verifier, b64url(hashlib.sha256(verifier.encode()).digest())


class SignIn:
    """One jive-mcp with sign-in on, the GitHub stand-in, and an org with a member."""

    def __init__(self, svc, gh, tls, stack, env):
        self.svc, self.gh, self.tls, self.stack, self.env = svc, gh, tls, stack, env
        self.base = svc.url("")
        self.resource = svc.url("/mcp")
        self.org = "acme-" + uuid.uuid4().hex[:6]
        self.login = "alice-" + uuid.uuid4().hex[:6]
        self.gh_id = 100000 + secrets.randbelow(10 ** 6)
        gh.user = {"login": self.login, "id": self.gh_id, "orgs": []}

    def jivectl(self, *args):
        return run_bin("jivectl", self.stack.env(**self.env), *args)

    def member(self, role="developer", login=None):
        p = self.jivectl("member", "add", "--org", self.org, "--github", login or self.login,
                         "--role", role)
        assert p.returncode == 0, p.stderr
        return p

    def register(self, redirect="http://127.0.0.1:9/callback", **extra):
        body = {"client_name": "Test Agent", "redirect_uris": [redirect],
                "token_endpoint_auth_method": "none",
                "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"]}
        body.update(extra)
        r = requests.post(self.svc.url("/register"), json=body, timeout=10)
        assert r.status_code == 201, r.text
        return r.json()

    def authorize(self, sess, client_id, redirect, challenge, state="st-1", **over):
        q = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect,
             "code_challenge": challenge, "code_challenge_method": "S256", "state": state,
             "scope": DEVELOPER, "resource": self.resource}
        q.update(over)
        q = {k: v for k, v in q.items() if v is not None}
        return sess.get(self.svc.url("/authorize"), params=q, allow_redirects=False, timeout=10)

    def to_consent(self, sess, r):
        """From /authorize's redirect through GitHub back to JIVE's consent page."""
        assert r.status_code == 302, r.text
        gh = sess.get(r.headers["Location"], allow_redirects=False, verify=str(self.tls.ca_path),
                      timeout=10)
        assert gh.status_code == 302
        return sess.get(gh.headers["Location"], allow_redirects=False, timeout=20)

    @staticmethod
    def form(page):
        req = re.search(r'name="request" value="([^"]+)"', page.text).group(1)
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        return req, csrf

    def consent(self, sess, page, decision="approve"):
        req, csrf = self.form(page)
        return sess.post(self.svc.url("/oauth/consent"), allow_redirects=False, timeout=10,
                         data={"request": req, "csrf": csrf, "decision": decision})

    def code(self, client_id, redirect, challenge, sess=None, **over):
        sess = sess or requests.Session()
        page = self.to_consent(sess, self.authorize(sess, client_id, redirect, challenge, **over))
        assert page.status_code == 200, page.text
        r = self.consent(sess, page)
        assert r.status_code == 303, r.text
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(r.headers["Location"]).query))
        assert q["state"] == over.get("state", "st-1") and q["iss"] == self.base
        return q["code"]

    def token(self, **form):
        return requests.post(self.svc.url("/token"), data=form, timeout=10)

    def exchange(self, client_id, code, verifier, redirect, **extra):
        form = {"grant_type": "authorization_code", "client_id": client_id, "code": code,
                "code_verifier": verifier, "redirect_uri": redirect, "resource": self.resource}
        form.update(extra)
        return self.token(**{k: v for k, v in form.items() if v is not None})

    def signed_in(self, redirect="http://127.0.0.1:9/callback", scope=DEVELOPER):
        client = self.register(redirect)["client_id"]
        verifier, challenge = pkce()
        code = self.code(client, redirect, challenge, scope=scope)
        r = self.exchange(client, code, verifier, redirect)
        assert r.status_code == 200, r.text
        return client, r.json()

    def call(self, tok, tool="projects_list", args=None):
        return requests.post(self.svc.url("/mcp"), timeout=10, json={
            "jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": tool, "arguments": args or {}}},
            headers={"Authorization": "Bearer " + tok, "MCP-Protocol-Version": "2025-11-25",
                     "Accept": "application/json, text/event-stream"})


def signing_key(path):
    key = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.TraditionalOpenSSL,
                                       serialization.NoEncryption()))
    return path


def signin_env(port, gh, tls, key, **over):
    env = {"PORT": port, "JIVE_ENV": "development",
           "JIVE_JWT_AUDIENCE": f"http://127.0.0.1:{port}/mcp",
           "JIVE_OAUTH_SIGNING_KEY": key, "JIVE_GITHUB_CLIENT_ID": GH_CLIENT_ID,
           "JIVE_GITHUB_CLIENT_SECRET": GH_CLIENT_SECRET, "JIVE_GITHUB_URL": gh.url,
           "JIVE_GITHUB_API_URL": gh.api_url, "JIVE_CA_FILE": tls.ca_path,
           # every test signs in from 127.0.0.1 many times a minute
           "JIVE_SIGNIN_RATE_PER_MINUTE": 100000}
    env.update(over)
    return env


@pytest.fixture
def tls(tmp_path):
    return TLS(tmp_path)


@pytest.fixture
def signin(stack, spawn, tmp_path, tls):
    with GitHub(tls, GH_CLIENT_ID, GH_CLIENT_SECRET) as gh:
        port = free_port()
        env = signin_env(port, gh, tls, signing_key(tmp_path / "signing.pem"))
        svc = spawn("jive-mcp", **env)
        yield SignIn(svc, gh, tls, stack, {k: v for k, v in env.items() if k != "PORT"})


def audit(db, step, at_least=1, **where):
    """The audit rows of a sign-in step (written in batches: waits for at_least of them)."""
    sql = ("SELECT actor_type, actor_id, actor_name, client_id, scope, result, error_message, "
           "org_id::text FROM mcp_audit_logs WHERE tool = %s")
    args = [f"oauth/{step}"]
    for k, v in where.items():
        sql += f" AND {k} = %s"
        args.append(v)
    rows = lambda: db.execute(sql + " ORDER BY id", args).fetchall()
    wait_for(lambda: len(rows()) >= at_least, 5)
    return rows()


# ---- discovery ----

def test_metadata_names_the_authorization_server_when_sign_in_is_on(signin):
    for path in ("/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"):
        meta = requests.get(signin.svc.url(path)).json()
        assert meta["resource"] == signin.resource and meta["authorization_servers"] == [signin.base]
    r = requests.get(signin.svc.url("/.well-known/oauth-authorization-server"))
    assert r.status_code == 200
    md = r.json()
    assert md["issuer"] == signin.base
    for k, path in (("authorization_endpoint", "/authorize"), ("token_endpoint", "/token"),
                    ("registration_endpoint", "/register"), ("revocation_endpoint", "/revoke"),
                    ("jwks_uri", "/.well-known/jwks.json")):
        assert md[k] == signin.base + path
    assert md["code_challenge_methods_supported"] == ["S256"]
    assert md["client_id_metadata_document_supported"] is True
    assert md["authorization_response_iss_parameter_supported"] is True
    assert set(DEVELOPER.split()) <= set(md["scopes_supported"])
    keys = requests.get(signin.svc.url("/.well-known/jwks.json")).json()["keys"]
    assert len(keys) == 1 and keys[0]["kty"] == "EC" and keys[0]["crv"] == "P-256"
    assert keys[0]["alg"] == "ES256" and keys[0]["kid"]
    # no credentials: a challenge without an error code, pointing at the metadata
    r = requests.post(signin.svc.url("/mcp"), json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                      headers={"Accept": "application/json, text/event-stream"})
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == (
        f'Bearer resource_metadata="{signin.base}/.well-known/oauth-protected-resource/mcp"')
    assert "sign in" in r.json()["error"]["data"]["how"]


# ---- the whole flow ----

def test_sign_in_then_call_refresh_and_revoke(signin, db):
    """Register, authorize, GitHub, consent, code exchange; the token is JIVE's ES256 JWT with the
    GitHub user id as sub; it calls a tool; the refresh token rotates (the old one is refused,
    and presenting it again revokes the family); revocation ends the rest."""
    signin.member("developer")
    client, tok = signin.signed_in()
    first_client = client
    assert tok["token_type"] == "Bearer" and tok["expires_in"] > 0
    assert set(tok["scope"].split()) == set(DEVELOPER.split())
    jwks = requests.get(signin.svc.url("/.well-known/jwks.json")).json()
    key = jwt.PyJWK(jwks["keys"][0])
    claims = jwt.decode(tok["access_token"], key.key, algorithms=["ES256"],
                        audience=signin.resource, issuer=signin.base)
    assert claims["sub"] == str(signin.gh_id) and claims["name"] == signin.login
    assert claims["org"] == signin.org and claims["client_id"] == client
    assert jwt.get_unverified_header(tok["access_token"])["kid"] == jwks["keys"][0]["kid"]
    r = signin.call(tok["access_token"])
    assert r.status_code == 200 and "result" in r.json(), r.text
    # refresh rotates
    r = signin.token(grant_type="refresh_token", refresh_token=tok["refresh_token"], client_id=client)
    assert r.status_code == 200, r.text
    tok2 = r.json()
    assert tok2["refresh_token"] != tok["refresh_token"]
    assert signin.call(tok2["access_token"]).status_code == 200
    # the old one, once used, is refused, and its reuse revokes the family (tok2's refresh too)
    r = signin.token(grant_type="refresh_token", refresh_token=tok["refresh_token"], client_id=client)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert "already used" in r.json()["error_description"]
    r = signin.token(grant_type="refresh_token", refresh_token=tok2["refresh_token"], client_id=client)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert "revoked" in r.json()["error_description"]
    # a new sign-in, then revocation (RFC 7009)
    client, tok = signin.signed_in()
    r = requests.post(signin.svc.url("/revoke"), data={"token": tok["refresh_token"],
                                                       "client_id": client})
    assert r.status_code == 200
    r = signin.token(grant_type="refresh_token", refresh_token=tok["refresh_token"], client_id=client)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert "revoked" in r.json()["error_description"]
    # stored hashed: the database never holds a token as issued
    stored = [r[0] for r in db.execute("SELECT token_hash FROM oauth_refresh_tokens").fetchall()]
    assert tok["refresh_token"] not in stored
    assert hashlib.sha256(tok["refresh_token"].encode()).hexdigest() in stored
    # audit: the sign-in, the consent, the tokens, the refusals
    assert audit(db, "github", actor_id=str(signin.gh_id), result="success")
    consent = audit(db, "consent", 2, actor_id=str(signin.gh_id), result="success")
    assert {c[3] for c in consent} == {first_client, client} and consent[0][4] == tok["scope"]
    tokens = audit(db, "token", actor_id=str(signin.gh_id), result="success")
    assert tokens and tokens[0][0] == "user" and tokens[0][2] == signin.login
    assert audit(db, "refresh", actor_id=str(signin.gh_id), result="denied")
    # tool calls made with the token carry its client
    row = wait_for(lambda: db.execute(
        "SELECT client_id FROM mcp_audit_logs WHERE actor_id = %s AND tool = 'projects_list'",
        (str(signin.gh_id),)).fetchone(), 5)
    assert row and row[0] == first_client


def test_operator_tokens_keep_working_beside_sign_in(signin, db):
    org = db.execute("INSERT INTO orgs (slug, name) VALUES (%s, %s) RETURNING id",
                     (signin.org + "-ops", "ops")).fetchone()[0]
    p = signin.jivectl("token", "mint", "--sub", "ci-bot", "--name", "CI", "--org",
                       signin.org + "-ops", "--scopes", "projects:read", "--ttl", "1h")
    assert p.returncode == 0, p.stderr
    assert signin.call(p.stdout.strip()).status_code == 200
    assert org


def test_scopes_are_the_roles_never_more(signin):
    """Clients ask for everything advertised: a viewer gets the viewer's scopes and the response
    says so (RFC 6749 section 3.3), and a write tool is refused with insufficient_scope."""
    signin.member("viewer")
    md = requests.get(signin.svc.url("/.well-known/oauth-authorization-server")).json()
    client, tok = signin.signed_in(scope=" ".join(md["scopes_supported"]))
    assert set(tok["scope"].split()) == set(VIEWER.split())
    claims = jwt.decode(tok["access_token"], options={"verify_signature": False})
    assert set(claims["scope"].split()) == set(VIEWER.split())
    r = signin.call(tok["access_token"], "kanban_move_story",
                    {"project_id": str(uuid.uuid4()), "story_key": "1.1", "to_status": "Done"})
    assert r.status_code == 403
    assert 'error="insufficient_scope"' in r.headers["WWW-Authenticate"]
    assert 'scope="kanban:write"' in r.headers["WWW-Authenticate"]
    # asking for less gets less
    client, tok = signin.signed_in(scope="status:read")
    assert tok["scope"] == "status:read"


def test_a_github_organisation_grants_its_members(signin):
    gh_org = "acme-gh-" + uuid.uuid4().hex[:4]
    p = signin.jivectl("member", "add", "--org", signin.org, "--github-org", gh_org, "--role", "viewer")
    assert p.returncode == 0, p.stderr
    signin.gh.user["orgs"] = ["other", gh_org.upper()]
    client, tok = signin.signed_in()
    assert set(tok["scope"].split()) == set(VIEWER.split())
    claims = jwt.decode(tok["access_token"], options={"verify_signature": False})
    assert claims["org"] == signin.org


def test_removing_a_member_ends_their_refresh(signin):
    signin.member("developer")
    client, tok = signin.signed_in()
    p = signin.jivectl("member", "remove", "--org", signin.org, "--github", signin.login)
    assert p.returncode == 0, p.stderr
    r = signin.token(grant_type="refresh_token", refresh_token=tok["refresh_token"], client_id=client)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_operator_registered_confidential_client(signin):
    signin.member("developer")
    redirect = "https://app.example/oauth/cb"
    p = signin.jivectl("oauth", "client", "add", "--name", "Team Portal", "--redirect-uri", redirect,
                       "--confidential", "yes")
    assert p.returncode == 0, p.stderr
    client = p.stdout.splitlines()[0]
    secret = p.stdout.splitlines()[1].split(": ")[1]
    verifier, challenge = pkce()
    code = signin.code(client, redirect, challenge)
    r = signin.exchange(client, code, verifier, redirect)  # no secret
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    code = signin.code(client, redirect, challenge)
    basic = base64.b64encode(f"{client}:{secret}".encode()).decode()
    r = requests.post(signin.svc.url("/token"), headers={"Authorization": "Basic " + basic},
                      data={"grant_type": "authorization_code", "code": code,
                            "code_verifier": verifier, "redirect_uri": redirect})
    assert r.status_code == 200, r.text


def test_loopback_redirect_matches_any_port(signin):
    signin.member("developer")
    client = signin.register("http://127.0.0.1/callback")["client_id"]
    verifier, challenge = pkce()
    redirect = "http://127.0.0.1:53682/callback"
    code = signin.code(client, redirect, challenge)
    assert signin.exchange(client, code, verifier, redirect).status_code == 200


# ---- refusals ----

def test_authorize_refusals_before_the_redirect_is_trusted(signin, db):
    """Unknown client, unregistered or look-alike redirect URIs: a page, never a redirect."""
    client = signin.register("http://127.0.0.1:9/callback")["client_id"]
    _, challenge = pkce()
    s = requests.Session()
    for cid, redirect in (("jive-nonexistent", "http://127.0.0.1:9/callback"),
                          (client, "https://evil.example/callback"),
                          (client, "http://127.0.0.1.evil.example/callback"),
                          (client, "http://127.0.0.1:9/callback/../steal"),
                          (client, "http://127.0.0.1:9/callback?next=https://evil.example"),
                          (client, "javascript:alert(1)")):
        r = signin.authorize(s, cid, redirect, challenge)
        assert r.status_code == 400, (cid, redirect, r.status_code)
        assert "Location" not in r.headers
        assert r.headers["Content-Type"].startswith("text/html")
        assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
    assert audit(db, "authorize", client_id=client, result="invalid")


def test_authorize_refusals_after_the_redirect_is_trusted(signin):
    """Errors go back to the client with state and iss (RFC 9207)."""
    redirect = "http://127.0.0.1:9/callback"
    client = signin.register(redirect)["client_id"]
    _, challenge = pkce()
    s = requests.Session()
    cases = ((dict(code_challenge=None), "invalid_request"),
             (dict(code_challenge_method="plain"), "invalid_request"),
             (dict(code_challenge="short"), "invalid_request"),
             (dict(response_type="token"), "unsupported_response_type"),
             (dict(resource="https://other.example/mcp"), "invalid_target"))
    for over, error in cases:
        r = signin.authorize(s, client, redirect, challenge, **over)
        assert r.status_code == 302, over
        loc = r.headers["Location"]
        assert loc.startswith(redirect + "?")
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(loc).query))
        assert q["error"] == error and q["state"] == "st-1" and q["iss"] == signin.base, over


def test_token_refusals(signin, db):
    signin.member("developer")
    redirect = "http://127.0.0.1:9/callback"
    client = signin.register(redirect)["client_id"]
    other = signin.register(redirect)["client_id"]
    verifier, challenge = pkce()

    def refused(r, error, words):
        assert r.status_code == 400, r.text
        assert r.json()["error"] == error and words in r.json()["error_description"], r.text
        assert r.headers["Cache-Control"] == "no-store"

    refused(signin.exchange(client, signin.code(client, redirect, challenge), "x" * 50, redirect),
            "invalid_grant", "code_verifier does not match")
    refused(signin.exchange(client, signin.code(client, redirect, challenge), None, redirect),
            "invalid_grant", "code_verifier is required")
    refused(signin.exchange(client, signin.code(client, redirect, challenge), verifier,
                            "http://127.0.0.1:9/other"), "invalid_grant", "redirect_uri")
    refused(signin.exchange(other, signin.code(client, redirect, challenge), verifier, redirect),
            "invalid_grant", "another client")
    refused(signin.exchange(client, signin.code(client, redirect, challenge), verifier, redirect,
                            resource="https://other.example/mcp"), "invalid_target", "another server")
    refused(signin.exchange(client, "not-a-code", verifier, redirect), "invalid_grant", "unknown")
    # a code is single-use: the second exchange is refused and the first one's tokens revoked
    code = signin.code(client, redirect, challenge)
    first = signin.exchange(client, code, verifier, redirect)
    assert first.status_code == 200
    refused(signin.exchange(client, code, verifier, redirect), "invalid_grant", "already used")
    refused(signin.token(grant_type="refresh_token", refresh_token=first.json()["refresh_token"],
                         client_id=client), "invalid_grant", "revoked")
    # an expired code
    code = signin.code(client, redirect, challenge)
    db.execute("UPDATE oauth_codes SET expires_at = now() - interval '1 second' WHERE code_hash = %s",
               (hashlib.sha256(code.encode()).hexdigest(),))
    refused(signin.exchange(client, code, verifier, redirect), "invalid_grant", "expired")
    r = signin.token(grant_type="password", username="a", password="b", client_id=client)
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"
    r = requests.post(signin.svc.url("/token"), json={"grant_type": "authorization_code"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    r = signin.token(grant_type="authorization_code", code="x", code_verifier=verifier,
                     redirect_uri=redirect)
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    assert audit(db, "token", client_id=client, result="denied")


def test_sign_in_refusals_in_the_browser(signin, db):
    """A non-member, a forged or replayed state, another browser, a forged consent, a user who
    says no at GitHub or on the consent page."""
    redirect = "http://127.0.0.1:9/callback"
    client = signin.register(redirect)["client_id"]
    _, challenge = pkce()
    # not a member of any org
    s = requests.Session()
    page = signin.to_consent(s, signin.authorize(s, client, redirect, challenge))
    assert page.status_code == 403 and "not a member" in page.text and signin.login in page.text
    assert audit(db, "github", actor_id=str(signin.gh_id), result="denied")
    signin.member("developer")
    # a state GitHub never saw
    r = requests.get(signin.svc.url("/oauth/github/callback"), params={"code": "x", "state": "forged"})
    assert r.status_code == 400 and "unknown" in r.text
    # the callback in another browser (no cookie): login CSRF
    s = requests.Session()
    r = signin.authorize(s, client, redirect, challenge)
    gh = s.get(r.headers["Location"], allow_redirects=False, verify=str(signin.tls.ca_path))
    r = requests.get(gh.headers["Location"], allow_redirects=False)
    assert r.status_code == 400 and "another browser" in r.text
    # consent CSRF: a form posted without the token bound to this pending request, or from a
    # browser without the cookie, or replayed
    s = requests.Session()
    page = signin.to_consent(s, signin.authorize(s, client, redirect, challenge))
    req, csrf = signin.form(page)
    r = s.post(signin.svc.url("/oauth/consent"), allow_redirects=False,
               data={"request": req, "csrf": "forged", "decision": "approve"})
    assert r.status_code == 403 and "Location" not in r.headers
    r = requests.post(signin.svc.url("/oauth/consent"), allow_redirects=False,
                      data={"request": req, "csrf": csrf, "decision": "approve"},
                      headers={"Origin": "null"})
    assert r.status_code == 403 and "Location" not in r.headers
    r = s.post(signin.svc.url("/oauth/consent"), allow_redirects=False,
               data={"request": req, "csrf": csrf, "decision": "approve"}, headers={"Origin": "null"})
    assert r.status_code == 303  # the real form, with Origin: null as a browser sends it
    r = s.post(signin.svc.url("/oauth/consent"), allow_redirects=False,
               data={"request": req, "csrf": csrf, "decision": "approve"})
    assert r.status_code == 403  # answered already
    assert audit(db, "consent", result="denied")
    # the person says no on the consent page
    s = requests.Session()
    page = signin.to_consent(s, signin.authorize(s, client, redirect, challenge, state="no-1"))
    r = signin.consent(s, page, "deny")
    q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(r.headers["Location"]).query))
    assert r.status_code == 303 and q["error"] == "access_denied" and q["state"] == "no-1"
    # the person says no at GitHub
    signin.gh.deny = True
    s = requests.Session()
    r = signin.authorize(s, client, redirect, challenge)
    gh = s.get(r.headers["Location"], allow_redirects=False, verify=str(signin.tls.ca_path))
    r = s.get(gh.headers["Location"], allow_redirects=False)
    assert r.status_code == 302
    assert dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(r.headers["Location"]).query))[
        "error"] == "access_denied"


def test_consent_page_shows_client_redirect_and_scopes(signin):
    signin.member("developer")
    redirect = "http://127.0.0.1:9/callback"
    client = signin.register(redirect, client_name="Evil <script>alert(1)</script>")["client_id"]
    _, challenge = pkce()
    s = requests.Session()
    page = signin.to_consent(s, signin.authorize(s, client, redirect, challenge,
                                                  scope="status:read kanban:write"))
    assert page.status_code == 200
    assert "<script>" not in page.text and "&lt;script&gt;" in page.text
    assert "http://127.0.0.1:9" in page.text and signin.login in page.text and signin.org in page.text
    assert "<code>status:read</code>" in page.text and "<code>kanban:write</code>" in page.text
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "script-src" not in csp and "form-action 'self' http://127.0.0.1:9" in csp
    assert page.headers["X-Frame-Options"] == "DENY"


def test_registration_refusals(signin):
    url = signin.svc.url("/register")
    for body, words in (({"redirect_uris": ["http://evil.example/cb"]}, "loopback"),
                        ({"redirect_uris": []}, "redirect_uris"),
                        ({"redirect_uris": ["https://a.example/cb#frag"]}, "fragment"),
                        ({"redirect_uris": ["javascript:alert(1)"]}, "scheme"),
                        ({"redirect_uris": ["https://a.example/cb"],
                          "grant_types": ["client_credentials"]}, "grant_types"),
                        ({"redirect_uris": ["https://a.example/cb"],
                          "token_endpoint_auth_method": "private_key_jwt"}, "token_endpoint")):
        r = requests.post(url, json=body)
        assert r.status_code == 400, body
        assert r.json()["error"] in ("invalid_redirect_uri", "invalid_client_metadata")
        assert words in r.json()["error_description"], (body, r.text)
    r = requests.post(url, data="{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_client_metadata"
    # a confidential client gets a secret, stored only hashed
    r = requests.post(url, json={"redirect_uris": ["https://a.example/cb"]})
    assert r.status_code == 201 and r.json()["client_secret"]
    assert r.json()["token_endpoint_auth_method"] == "client_secret_basic"


def test_anonymous_sign_in_requests_are_metered_per_address(stack, spawn, tmp_path, tls):
    with GitHub(tls, GH_CLIENT_ID, GH_CLIENT_SECRET) as gh:
        port = free_port()
        svc = spawn("jive-mcp", **signin_env(port, gh, tls, signing_key(tmp_path / "k.pem"),
                                             JIVE_SIGNIN_RATE_PER_MINUTE=3))
        stack.redis.client().delete("jive:rl:signin:127.0.0.1")  # other tests' bucket
        body = {"redirect_uris": ["http://127.0.0.1/cb"], "token_endpoint_auth_method": "none"}
        codes = [requests.post(svc.url("/register"), json=body).status_code for _ in range(5)]
        assert codes[:3] == [201, 201, 201] and codes[3:] == [429, 429]
        r = requests.post(svc.url("/token"), data={"grant_type": "refresh_token"})
        assert r.status_code == 429 and r.json()["error"] == "slow_down"
        assert int(r.headers["Retry-After"]) >= 1


# ---- client ID metadata documents ----

def test_client_id_metadata_document(signin, tls, db):
    signin.member("developer")
    redirect = "http://127.0.0.1/callback"
    with StaticHTTPS(tls, {}) as site:
        url = f"{site.url}/oauth/client.json"
        site.docs["/oauth/client.json"] = {
            "client_id": url, "client_name": "Metadata Agent", "redirect_uris": [redirect],
            "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
            "token_endpoint_auth_method": "none"}
        site.docs["/oauth/liar.json"] = dict(site.docs["/oauth/client.json"],
                                             client_id="https://other.example/x.json")
        verifier, challenge = pkce()
        code = signin.code(url, "http://127.0.0.1:4242/callback", challenge)
        r = signin.exchange(url, code, verifier, "http://127.0.0.1:4242/callback")
        assert r.status_code == 200, r.text
        assert db.execute("SELECT kind, name FROM oauth_clients WHERE client_id = %s",
                          (url,)).fetchone() == ("metadata", "Metadata Agent")
        s = requests.Session()
        r = signin.authorize(s, f"{site.url}/oauth/liar.json", redirect, challenge)
        assert r.status_code == 400 and "client_id is not the URL" in r.text
        r = signin.authorize(s, f"{site.url}/oauth/missing.json", redirect, challenge)
        assert r.status_code == 400 and "could not be fetched" in r.text


def test_outbound_https_caps_and_verification(signin, tls, tmp_path):
    """What JIVE fetches is bounded: a metadata document over 64 KiB or slower than 5 s is
    refused, and a server whose certificate JIVE does not trust is never believed."""
    signin.member("developer")
    _, challenge = pkce()
    with StaticHTTPS(tls, {}, delays={"/slow.json": 8}) as site:
        big = f"{site.url}/big.json"
        site.docs["/big.json"] = json.dumps({"client_id": big, "redirect_uris": ["http://127.0.0.1/cb"],
                                             "padding": "x" * 70000}).encode()
        site.docs["/slow.json"] = {"client_id": f"{site.url}/slow.json",
                                   "redirect_uris": ["http://127.0.0.1/cb"]}
        s = requests.Session()
        r = signin.authorize(s, big, "http://127.0.0.1/cb", challenge)
        assert r.status_code == 400 and "larger than 65536 bytes" in r.text
        t0 = time.time()
        r = signin.authorize(s, f"{site.url}/slow.json", "http://127.0.0.1/cb", challenge)
        assert r.status_code == 400 and "no complete response in time" in r.text
        assert time.time() - t0 < 7.5
    # a TLS server from a CA JIVE was not given: the metadata document is not fetched
    (tmp_path / "other").mkdir()
    other = TLS(tmp_path / "other", "Some other CA")
    with StaticHTTPS(other, {}) as site:
        url = f"{site.url}/client.json"
        site.docs["/client.json"] = {"client_id": url, "redirect_uris": ["http://127.0.0.1/cb"]}
        r = signin.authorize(requests.Session(), url, "http://127.0.0.1/cb", challenge)
        assert r.status_code == 400 and "could not be fetched" in r.text
        assert "certificate is not trusted" in r.text


def test_github_behind_an_untrusted_certificate_is_refused(stack, spawn, tmp_path, tls):
    """Without JIVE_CA_FILE the stand-in's certificate is from an unknown CA: JIVE refuses to
    talk to it, and the person sees a 502 page rather than a sign-in."""
    with GitHub(tls, GH_CLIENT_ID, GH_CLIENT_SECRET) as gh:
        port = free_port()
        env = signin_env(port, gh, tls, signing_key(tmp_path / "k.pem"), JIVE_CA_FILE=None)
        svc = spawn("jive-mcp", **env)
        si = SignIn(svc, gh, tls, stack, env)
        si.member("developer")
        client = si.register()["client_id"]
        _, challenge = pkce()
        s = requests.Session()
        page = si.to_consent(s, si.authorize(s, client, "http://127.0.0.1:9/callback", challenge))
        assert page.status_code == 502 and "GitHub did not answer" in page.text
        assert not any(p == "/api/v3/user" for _, p in gh.requests)


def test_client_metadata_on_a_private_address_is_refused_in_production(stack, spawn, tmp_path, tls):
    """Outside development the metadata document must be on a public address: a client_id that
    points at loopback (or any private range) is never fetched."""
    with GitHub(tls, GH_CLIENT_ID, GH_CLIENT_SECRET) as gh, StaticHTTPS(tls, {}) as site:
        url = f"{site.url}/oauth/client.json"
        site.docs["/oauth/client.json"] = {"client_id": url, "redirect_uris": ["http://127.0.0.1/cb"]}
        port = free_port()
        env = signin_env(port, gh, tls, signing_key(tmp_path / "k.pem"), JIVE_ENV="production",
                         JIVE_JWT_AUDIENCE="https://jive.example/mcp")
        svc = spawn("jive-mcp", **env)
        _, challenge = pkce()
        for cid in (url, "http://127.0.0.1/client.json"):
            r = requests.get(svc.url("/authorize"), allow_redirects=False, params={
                "client_id": cid, "redirect_uri": "http://127.0.0.1/cb", "response_type": "code",
                "code_challenge": challenge, "code_challenge_method": "S256"})
            assert r.status_code == 400 and "Location" not in r.headers
        assert "private or reserved address" in requests.get(svc.url("/authorize"), params={
            "client_id": url, "redirect_uri": "http://127.0.0.1/cb", "response_type": "code",
            "code_challenge": challenge, "code_challenge_method": "S256"}).text


# ---- configuration ----

def test_sign_in_configuration_errors(stack, tmp_path, tls):
    with GitHub(tls, GH_CLIENT_ID, GH_CLIENT_SECRET) as gh:
        key = signing_key(tmp_path / "k.pem")
        bad = tmp_path / "rsa.pem"
        bad.write_text("not a key")
        for over, words in (({"JIVE_GITHUB_CLIENT_SECRET": None}, "JIVE_GITHUB_CLIENT_SECRET"),
                            ({"JIVE_OAUTH_SIGNING_KEY": bad}, "EC P-256"),
                            ({"JIVE_JWT_AUDIENCE": "jive-mcp"}, "JIVE_JWT_AUDIENCE"),
                            ({"JIVE_OAUTH_ROLES": "Dev=x"}, "JIVE_OAUTH_ROLES")):
            env = stack.env(**signin_env(free_port(), gh, tls, key, **over))
            p = subprocess.run([str(BIN / "jive-mcp")], env=env, capture_output=True, text=True,
                               timeout=20)
            assert p.returncode == 2 and words in p.stderr, (over, p.stderr)


# ---- the official SDK client, with a real browser on the consent page ----

def seed_project(db, slug):
    org = db.execute("SELECT id FROM orgs WHERE slug = %s", (slug,)).fetchone()[0]
    return str(db.execute(
        "INSERT INTO projects (org_id, name, repo_url, webhook_secret) VALUES (%s, 'shop', %s, "
        "repeat('s', 20)) RETURNING id", (org, f"https://github.com/{slug}/shop")).fetchone()[0])


def sdk_sign_in(signin, project, metadata_url=None):
    args = ["node", str(ROOT / "tests/clients/oauth_client.mjs"), signin.resource, project,
            str(free_port())] + ([metadata_url] if metadata_url else [])
    p = subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=ROOT / "tests")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert "error" not in out, out["error"]
    return out


def check_sdk_run(out, signin, project, client_id=None):
    assert out["callback"] == {"state_ok": True, "iss": signin.base, "error": None}
    assert out["browser_landed"] and "connected_without_sign_in" not in out
    assert out["consent"]["login"] == signin.login and out["consent"]["org"] == signin.org
    assert out["consent"]["redirect_host"].startswith("http://127.0.0.1:")
    assert set(out["consent"]["scopes"]) == set(DEVELOPER.split())
    assert set(out["scope"].split()) == set(DEVELOPER.split())
    assert out["status_error"] is False and out["status_get"]["project"]["id"] == project
    assert out["refreshed"] and out["revocation_status"] == 200
    assert out["revoked_refresh"] == "InvalidGrantError"
    assert out["rotated_refresh"] == "InvalidGrantError"
    if client_id:
        assert out["client_id"] == client_id


def test_sdk_client_signs_in_with_dynamic_registration(signin, db):
    signin.member("developer")
    project = seed_project(db, signin.org)
    out = sdk_sign_in(signin, project)
    check_sdk_run(out, signin, project)
    assert out["client_id"].startswith("jive-")
    assert db.execute("SELECT kind FROM oauth_clients WHERE client_id = %s",
                      (out["client_id"],)).fetchone() == ("registered",)


def test_sdk_client_signs_in_with_a_client_id_metadata_document(signin, db, tls):
    signin.member("developer")
    project = seed_project(db, signin.org)
    with StaticHTTPS(tls, {}) as site:
        url = f"{site.url}/jive-sdk-test/client.json"
        site.docs["/jive-sdk-test/client.json"] = {
            "client_id": url, "client_name": "SDK via metadata document",
            "redirect_uris": ["http://127.0.0.1/callback"],
            "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
            "token_endpoint_auth_method": "none"}
        out = sdk_sign_in(signin, project, url)
    check_sdk_run(out, signin, project, client_id=url)
    assert out["consent"]["client"] == "SDK via metadata document"


def test_mcp_remote_signs_in_and_calls_status_get(signin, db, tmp_path):
    """mcp-remote (npm), the stdio bridge many clients use for remote servers, signs in on its
    own: it registers, opens "the browser" ($BROWSER: Chromium clicking Allow on the consent
    page), takes the code on its loopback callback, and then relays a tools/call."""
    signin.member("developer")
    project = seed_project(db, signin.org)
    env = dict(os.environ, MCP_REMOTE_CONFIG_DIR=str(tmp_path / "mcp-auth"),
               BROWSER=str(ROOT / "tests/clients/consent_browser.sh"))
    env.pop("DISPLAY", None)
    proc = subprocess.Popen(["node", str(ROOT / "tests/node_modules/mcp-remote/dist/proxy.js"),
                             signin.resource, str(free_port())],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=open(tmp_path / "mcp-remote.log", "w"), env=env, text=True,
                            cwd=ROOT / "tests")
    log = lambda: (tmp_path / "mcp-remote.log").read_text()
    try:
        def ask(msg):
            proc.stdin.write(json.dumps(msg) + "\n")
            proc.stdin.flush()
            if "id" not in msg:
                return None
            deadline = time.time() + 90
            while time.time() < deadline:
                line = proc.stdout.readline()
                assert line, "mcp-remote ended:\n" + log()
                reply = json.loads(line)
                if reply.get("id") == msg["id"]:
                    return reply
            pytest.fail("no reply from mcp-remote:\n" + log())

        init = ask({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "pytest", "version": "1"}}})
        assert init["result"]["serverInfo"]["name"] == "jive-mcp", init
        ask({"jsonrpc": "2.0", "method": "notifications/initialized"})
        r = ask({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                 "params": {"name": "status_get", "arguments": {"project_id": project}}})
        assert r["result"]["isError"] is False, r
        assert r["result"]["structuredContent"]["project"]["id"] == project
    finally:
        proc.terminate()
        proc.wait(10)
    rows = audit(db, "token", actor_id=str(signin.gh_id), result="success")
    assert rows and rows[0][2] == signin.login


def test_the_board_signs_in_with_github(signin, db):
    """Where sign-in is configured, the live board offers it: a person opens the board without a
    token, signs in with GitHub (the built-in client jive-board, PKCE), allows it on the consent
    page, and lands on the board of the project they opened, read with their role's scopes."""
    from test_board import Board
    signin.member("viewer")
    project = seed_project(db, signin.org)
    org = db.execute("SELECT org_id FROM projects WHERE id = %s", (project,)).fetchone()[0]
    db.execute("INSERT INTO artifacts (org_id, project_id, path, kind, key, title, status, "
               "content_hash, meta) VALUES (%s, %s, 'docs/stories/2.1.x.md', 'story', '2.1', "
               "'Signed in', 'Review', %s, '{}')", (org, project, "h" * 64))
    board = Board(signin.svc.url(f"/board/{project}"), mode="signin")
    cols = {c["status"]: c["cards"] for c in board.first["columns"]}
    assert cols["Review"] == ["2.1"], board.first
    board.result()
    tokens = audit(db, "token", actor_id=str(signin.gh_id), result="success")
    assert tokens[0][3] == "jive-board" and tokens[0][4] == "stories:read events:read"
