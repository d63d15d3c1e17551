# SPDX-License-Identifier: MIT
"""A stand-in for GitHub on loopback, for the sign-in tests: GitHub cannot be reached from the
test machines, so this speaks the parts of GitHub's documented protocol that JIVE uses, the way a
GitHub Enterprise Server does under its own base URL (https://HOST/ for the web flow,
https://HOST/api/v3 for the REST API):

  GET  /login/oauth/authorize      the OAuth web flow: the signed-in user (set by the test)
                                   authorizes the app; the browser goes to redirect_uri with a
                                   code and the state, or with error=access_denied
  POST /login/oauth/access_token   code -> user token (JSON with Accept: application/json; a bad
                                   code is HTTP 200 with {"error": "bad_verification_code"})
  GET  /api/v3/user                the token's user (login, id)
  GET  /api/v3/user/orgs           the user's organisations

It serves HTTPS with a certificate from a test CA (TLS class), which JIVE trusts through
JIVE_CA_FILE, the setting a GitHub Enterprise Server with a private CA needs. The same TLS class
serves other loopback HTTPS pages (a client ID metadata document).
"""
import datetime
import http.server
import ipaddress
import json
import secrets
import ssl
import threading
import time
import urllib.parse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


class TLS:
    """A test CA and a server certificate for 127.0.0.1 and localhost, written under dir."""

    def __init__(self, dir, name="JIVE test CA"):
        now = datetime.datetime.now(datetime.timezone.utc)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
              .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(now - datetime.timedelta(minutes=5))
              .not_valid_after(now + datetime.timedelta(days=1))
              .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
              .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                           content_commitment=False, key_encipherment=False,
                                           data_encipherment=False, key_agreement=False,
                                           encipher_only=False, decipher_only=False), critical=True)
              .sign(ca_key, hashes.SHA256()))
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
                .issuer_name(ca_name).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName([
                    x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                    critical=False)
                .sign(ca_key, hashes.SHA256()))
        self.ca_path = dir / "test-ca.pem"
        self.cert_path = dir / "server.pem"
        self.key_path = dir / "server.key"
        self.ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        self.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self.key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                    serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption()))

    def wrap(self, server):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert_path, self.key_path)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


class _Running:
    """An HTTPS server on loopback (self.server, set by the subclass), served on a thread while
    in a with block."""

    def _serve(self, tls, handler):
        self.server = _Server(("127.0.0.1", 0), handler)
        tls.wrap(self.server)
        self.port = self.server.server_address[1]
        self.url = f"https://127.0.0.1:{self.port}"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


class GitHub(_Running):
    """The stand-in. user = {"login", "id", "orgs": [...]} is who is signed in at "GitHub";
    deny = True makes the user refuse the app. requests records (method, path) of each call."""

    def __init__(self, tls, client_id, client_secret):
        self.client_id, self.client_secret = client_id, client_secret
        self.user = {"login": "alice", "id": 1001, "orgs": []}
        self.deny = False
        self.codes, self.tokens, self.requests = {}, {}, []
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def reply(self, status, body, ctype="application/json", headers=()):
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers:
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                u = urllib.parse.urlsplit(self.path)
                q = dict(urllib.parse.parse_qsl(u.query))
                with outer.lock:
                    outer.requests.append(("GET", u.path))
                if u.path == "/login/oauth/authorize":
                    return outer._authorize(self, q)
                tok = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
                user = outer.tokens.get(tok)
                if u.path.startswith("/api/v3/") and user is None:
                    return self.reply(401, {"message": "Bad credentials"})
                if u.path == "/api/v3/user":
                    return self.reply(200, {"login": user["login"], "id": user["id"],
                                            "type": "User", "name": None})
                if u.path == "/api/v3/user/orgs":
                    return self.reply(200, [{"login": o, "id": 5000 + i}
                                            for i, o in enumerate(user.get("orgs", []))])
                self.reply(404, {"message": "Not Found"})

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                form = dict(urllib.parse.parse_qsl(self.rfile.read(n).decode()))
                with outer.lock:
                    outer.requests.append(("POST", self.path))
                if self.path != "/login/oauth/access_token":
                    return self.reply(404, {"message": "Not Found"})
                if (form.get("client_id") != outer.client_id
                        or form.get("client_secret") != outer.client_secret):
                    return self.reply(200, {"error": "incorrect_client_credentials"})
                with outer.lock:
                    grant = outer.codes.pop(form.get("code"), None)
                if grant is None or grant["redirect_uri"] != form.get("redirect_uri"):
                    return self.reply(200, {"error": "bad_verification_code"})
                tok = "gho_" + secrets.token_hex(18)
                outer.tokens[tok] = grant["user"]
                self.reply(200, {"access_token": tok, "token_type": "bearer",
                                 "scope": grant["scope"]})

        self._serve(tls, Handler)
        self.api_url = f"{self.url}/api/v3"

    def _authorize(self, h, q):
        if q.get("client_id") != self.client_id:
            return h.reply(404, b"unknown OAuth app", "text/plain")
        sep = "&" if "?" in q["redirect_uri"] else "?"
        state = urllib.parse.quote(q.get("state", ""))
        if self.deny:
            loc = f"{q['redirect_uri']}{sep}error=access_denied&state={state}"
        else:
            code = secrets.token_hex(10)
            with self.lock:
                self.codes[code] = {"user": dict(self.user), "redirect_uri": q["redirect_uri"],
                                    "scope": q.get("scope", "")}
            loc = f"{q['redirect_uri']}{sep}code={code}&state={state}"
        h.reply(302, b"", "text/plain", [("Location", loc)])


class StaticHTTPS(_Running):
    """Serves fixed documents over HTTPS on loopback: {path: object (as JSON) or bytes}; a path
    in delays answers only after that many seconds."""

    def __init__(self, tls, docs, delays=None):
        self.docs = docs
        delays = delays or {}

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                doc = docs.get(self.path)
                if self.path in delays:
                    time.sleep(delays[self.path])
                data = (doc if isinstance(doc, bytes) else json.dumps(doc).encode()
                        if doc is not None else b"{}")
                self.send_response(200 if doc is not None else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._serve(tls, Handler)
