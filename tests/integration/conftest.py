# SPDX-License-Identifier: MIT
"""pytest harness: a throwaway PostgreSQL and Redis on free loopback ports for the session, and
the service binaries (the sanitizer build by default) as subprocesses. A test fails when a
service's log holds a sanitizer report."""
import glob
import http.server
import json
import os
import pathlib
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import psycopg
import pytest
import redis as redislib
import requests

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = ROOT / os.environ.get("JIVE_BUILD", "build/san")
BIN = BUILD / "bin"
SANITIZER = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: UndefinedBehaviorSanitizer")
JWT_SECRET = "test-secret-0123456789abcdef0123456789"
JWT_ISSUER = "https://jive.test"
JWT_AUDIENCE = "http://127.0.0.1/mcp"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_bindir():
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(d.split("/")[-2]))
    if not dirs:
        pytest.exit("PostgreSQL server binaries not found: run deploy/bootstrap.sh", returncode=3)
    return dirs[-1]


def sanitizer_report(text):
    m = SANITIZER.search(text)
    if not m:
        return None
    return text[max(0, m.start() - 200): m.start() + 3000]


class Postgres:
    """A private cluster, run as the unprivileged 'postgres' user when we are root."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="jive-pg-")
        self.port = free_port()
        self.bindir = pg_bindir()
        self.user = None
        if os.geteuid() == 0:
            self.user = "postgres"
            pw = pwd.getpwnam(self.user)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self._run([f"{self.bindir}/initdb", "-D", f"{self.dir}/data", "-A", "trust", "-U", "jive",
                   "-E", "UTF8", "--nosync"])

    def _run(self, cmd, check=True):
        if self.user:
            cmd = ["runuser", "-u", self.user, "--"] + cmd
        return subprocess.run(cmd, check=check, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, cwd=self.dir)

    def running(self):
        return self._run([f"{self.bindir}/pg_ctl", "-D", f"{self.dir}/data", "status"],
                         check=False).returncode == 0

    def start(self):
        if self.running():
            return
        opts = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                f"-c synchronous_commit=off -c full_page_writes=off -c max_connections=300")
        self._run([f"{self.bindir}/pg_ctl", "-D", f"{self.dir}/data", "-o", opts, "-l",
                   f"{self.dir}/log", "-w", "-t", "30", "start"])

    def stop(self):
        self._run([f"{self.bindir}/pg_ctl", "-D", f"{self.dir}/data", "-m", "fast", "-w", "stop"],
                  check=False)

    def dsn(self, db="jive"):
        return f"postgresql://jive@127.0.0.1:{self.port}/{db}"

    def create_db(self, name):
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def destroy(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Redis:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="jive-redis-")
        self.port = free_port()
        self.proc = None

    def start(self):
        if self.proc and self.proc.poll() is None:
            return
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir],
            stdout=open(f"{self.dir}/log", "a"), stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                if self.client().ping():
                    return
            except redislib.exceptions.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            self.proc.wait(10)

    def pause(self):
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)

    def url(self):
        return f"redis://127.0.0.1:{self.port}"

    def client(self):
        return redislib.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def destroy(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Stack:
    def __init__(self):
        self.pg = Postgres()
        self.redis = Redis()

    def env(self, **over):
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "DATABASE_URL": self.pg.dsn(),
            "REDIS_URL": self.redis.url(),
            "JIVE_BIND": "127.0.0.1",
            "JIVE_LOG_LEVEL": "debug",
            "JIVE_JWT_SECRET": JWT_SECRET,
            "JIVE_JWT_ISSUER": JWT_ISSUER,
            "JIVE_JWT_AUDIENCE": JWT_AUDIENCE,
            # the fixtures' repositories are local git directories (docs/SECURITY.md)
            "JIVE_ALLOW_LOCAL_REPOS": "1",
            "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:exitcode=86",
            "UBSAN_OPTIONS": "print_stacktrace=1",
        }
        for k, v in over.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = str(v)
        return env


def run_bin(name, env, *args, timeout=60):
    """Runs a binary to completion; fails the test on a sanitizer report."""
    p = subprocess.run([str(BIN / name), *args], env=env, capture_output=True, text=True,
                       timeout=timeout, cwd=ROOT)
    rep = sanitizer_report(p.stdout + p.stderr)
    if rep:
        pytest.fail(f"sanitizer report from {name} {' '.join(args)}:\n{rep}")
    return p


@pytest.fixture(scope="session")
def stack():
    s = Stack()
    try:
        s.pg.start()
        s.redis.start()
        s.pg.create_db("jive")
        p = run_bin("jivectl", s.env(), "migrate")
        assert p.returncode == 0, p.stderr
        yield s
    finally:
        s.pg.destroy()
        s.redis.destroy()


@pytest.fixture
def pg_up(stack):
    """Use in tests that stop Postgres: guarantees it runs again afterwards."""
    yield stack.pg
    stack.pg.start()


@pytest.fixture
def redis_up(stack):
    """Use in tests that stop or pause Redis: guarantees it runs again afterwards."""
    yield stack.redis
    stack.redis.resume()
    stack.redis.start()


class Service:
    def __init__(self, name, env, logdir):
        self.name = name
        self.port = int(env["PORT"])
        self.env = env
        self.log_path = logdir / f"{name}-{self.port}.log"
        self.proc = None

    def start(self, wait=True):
        self.proc = subprocess.Popen([str(BIN / self.name)], env=self.env, cwd=ROOT,
                                     stdout=open(self.log_path, "ab"), stderr=subprocess.STDOUT)
        if wait:
            deadline = time.time() + 20
            while time.time() < deadline:
                if self.proc.poll() is not None:
                    pytest.fail(f"{self.name} exited with {self.proc.returncode}:\n{self.log()}")
                try:
                    if requests.get(self.url("/livez"), timeout=1).status_code == 200:
                        return self
                except requests.RequestException:
                    time.sleep(0.05)
            pytest.fail(f"{self.name} did not serve /livez:\n{self.log()}")
        return self

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"{self.name} did not exit within {timeout}s of signal {sig}:\n{self.log()[-3000:]}")


@pytest.fixture
def db(stack):
    """An autocommit connection to the test database, as its owner (no row-level security)."""
    with psycopg.connect(stack.pg.dsn(), autocommit=True) as c:
        yield c


@pytest.fixture
def webhook(spawn):
    return spawn("jive-webhook")


@pytest.fixture
def spawn(stack, tmp_path):
    """spawn(name, **env) starts a service binary and returns a Service; stopped at teardown,
    and the test fails if its log holds a sanitizer report."""
    started = []

    def _spawn(name, wait=True, **env):
        env.setdefault("PORT", free_port())
        # jive-mcp's audit journal is one per process (it is locked)
        env.setdefault("JIVE_AUDIT_SPOOL", tmp_path / f"audit-{env['PORT']}.jsonl")
        svc = Service(name, stack.env(**env), tmp_path)
        started.append(svc)
        return svc.start(wait=wait)

    yield _spawn
    for svc in started:
        svc.stop()
    for svc in started:
        rep = sanitizer_report(svc.log())
        if rep:
            pytest.fail(f"sanitizer report in {svc.name}'s log:\n{rep}")


def wait_for(pred, timeout, step=0.1):
    """Polls pred until it returns a truthy value or timeout seconds pass; returns the last value."""
    deadline = time.time() + timeout
    val = pred()
    while not val and time.time() < deadline:
        time.sleep(step)
        val = pred()
    return val


class McpProxy(http.server.ThreadingHTTPServer):
    """A small HTTP proxy in front of one or more services, as a load balancer would be: each
    request goes to the next upstream in turn. It can add a bearer token (for clients that send
    none) and records (upstream index, JSON-RPC method) of every request it forwarded."""
    daemon_threads = True

    def __init__(self, upstreams, bearer=None):
        self.upstreams, self.bearer = list(upstreams), bearer
        self.served, self.lock, self.next = [], threading.Lock(), 0
        super().__init__(("127.0.0.1", int(free_port())), _ProxyHandler)

    def __enter__(self):
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.shutdown()
        self.server_close()

    def url(self, path):
        return f"http://127.0.0.1:{self.server_address[1]}{path}"

    def pick(self, method):
        with self.lock:
            i = self.next % len(self.upstreams)
            self.next += 1
            self.served.append((i, method))
        return self.upstreams[i]


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def forward(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        try:
            method = json.loads(body).get("method") if body else None
        except (ValueError, AttributeError):
            method = None
        hop = {"content-length", "connection", "accept-encoding"}  # Host kept
        if self.server.bearer:
            hop.add("authorization")
        headers = {k: v for k, v in self.headers.items() if k.lower() not in hop}
        if self.server.bearer:
            headers["Authorization"] = "Bearer " + self.server.bearer
        upstream = self.server.pick(method or self.command)
        r = requests.request(self.command, upstream + self.path, data=body, headers=headers,
                             timeout=30, stream=True)
        self.send_response(r.status_code)
        for k, v in r.headers.items():
            if k.lower() not in ("content-length", "connection", "transfer-encoding",
                                 "content-encoding"):
                self.send_header(k, v)
        if r.headers.get("Content-Type", "").startswith("text/event-stream"):
            # a stream goes through as it comes, until either side closes (HTTP/1.0: the end
            # of the connection ends the body)
            self.send_header("Connection", "close")
            self.end_headers()
            try:
                for chunk in r.iter_content(chunk_size=None):
                    self.wfile.write(chunk)
                    self.wfile.flush()
            except (OSError, requests.RequestException):
                pass
            finally:
                r.close()
            return
        content = r.content
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    do_GET = do_POST = do_DELETE = do_OPTIONS = forward
