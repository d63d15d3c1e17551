# SPDX-License-Identifier: MIT
"""The shared HTTP front: request ids, the error envelope, security headers, CORS, metrics,
the body-size limit."""
import socket
import time

import pytest
import requests

from conftest import wait_for


@pytest.fixture
def svc(spawn):
    return spawn("jive-webhook", JIVE_CORS_ORIGINS="https://app.example, http://localhost:3000",
                 JIVE_MAX_BODY_BYTES=4096)


def test_request_id_kept_when_sane_generated_otherwise(svc):
    r = requests.get(svc.url("/livez"), headers={"X-Request-Id": "abc-123.x:y_z"})
    assert r.headers["X-Request-Id"] == "abc-123.x:y_z"
    r = requests.get(svc.url("/livez"), headers={"X-Request-Id": "bad id\twith spaces<script>"})
    rid = r.headers["X-Request-Id"]
    assert rid != "bad id\twith spaces<script>" and len(rid) == 36
    r2 = requests.get(svc.url("/livez"), headers={"X-Request-Id": "x" * 200})
    assert len(r2.headers["X-Request-Id"]) == 36 and r2.headers["X-Request-Id"] != rid


def test_error_envelope_for_unknown_route_and_method(svc):
    r = requests.get(svc.url("/no/such/thing"), headers={"X-Request-Id": "rid-1"})
    assert r.status_code == 404
    assert r.headers["Content-Type"] == "application/json"
    assert r.json() == {"error": {"code": "not_found", "message": "no route for GET /no/such/thing",
                                  "request_id": "rid-1"}}
    r = requests.post(svc.url("/livez"))
    assert r.status_code == 405 and r.headers["Allow"] == "GET"
    err = r.json()["error"]
    assert err["code"] == "method_not_allowed" and err["request_id"] == r.headers["X-Request-Id"]


def test_security_headers_on_every_reply(svc):
    for r in (requests.get(svc.url("/livez")), requests.get(svc.url("/nope"))):
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["X-Frame-Options"] == "DENY"
        assert r.headers["Referrer-Policy"] == "no-referrer"
        assert "default-src 'none'" in r.headers["Content-Security-Policy"]
        assert r.headers["Cache-Control"] == "no-store"


def test_cors_allowlist_and_preflight(svc):
    ok = requests.options(svc.url("/health"), headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "GET"})
    assert ok.status_code == 204
    assert ok.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "GET" in ok.headers["Access-Control-Allow-Methods"]
    assert "Authorization" in ok.headers["Access-Control-Allow-Headers"]
    bad = requests.options(svc.url("/health"), headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
    assert bad.status_code == 403
    assert "Access-Control-Allow-Origin" not in bad.headers
    assert bad.json()["error"]["code"] == "origin_not_allowed"
    r = requests.get(svc.url("/livez"), headers={"Origin": "http://localhost:3000"})
    assert r.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert r.headers["Vary"] == "Origin"
    r = requests.get(svc.url("/livez"), headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in r.headers


def metric(text, series):
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split(" ")[1])
    return 0.0


def test_metrics_count_requests_by_route_and_status(svc):
    ok = 'jive_http_requests_total{method="GET",route="/livez",status="200"}'
    before = requests.get(svc.url("/metrics")).text
    for _ in range(3):
        requests.get(svc.url("/livez"))
    requests.get(svc.url("/missing"))
    text = requests.get(svc.url("/metrics")).text
    assert '# TYPE jive_http_requests_total counter' in text
    assert metric(text, ok) - metric(before, ok) == 3
    assert metric(text, 'jive_http_requests_total{method="GET",route="unmatched",status="404"}') == 1
    count = 'jive_http_request_duration_seconds_count{route="/livez"}'
    assert metric(text, count) - metric(before, count) == 3
    assert metric(text, 'jive_http_request_duration_seconds_bucket{route="/livez",le="+Inf"}') == metric(text, count)


def test_oversized_body_is_refused_with_413_without_reading_it(svc):
    # Content-Length over the limit: answered before the body is sent.
    with socket.create_connection(("127.0.0.1", svc.port), timeout=5) as s:
        s.sendall(b"POST /livez HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 10000000\r\n\r\n")
        reply = s.recv(4096).decode(errors="replace")
    assert reply.startswith("HTTP/1.1 413"), reply
    # a body within the limit gets through to routing
    r = requests.post(svc.url("/livez"), data=b"x" * 4000)
    assert r.status_code == 405
    # the server is still healthy after the refusal
    assert requests.get(svc.url("/livez")).status_code == 200


def test_client_that_disconnects_mid_request_does_not_hurt_the_server(svc):
    for _ in range(20):
        with socket.create_connection(("127.0.0.1", svc.port), timeout=5) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert requests.get(svc.url("/livez")).status_code == 200


# ---- slow connections: per-connection deadlines and the per-address cap (jc/conn.h) ----

def slow_svc(spawn, **env):
    base = {"JIVE_HTTP_HEADER_TIMEOUT_MS": 800, "JIVE_HTTP_IDLE_TIMEOUT_MS": 1000,
            "JIVE_HTTP_MIN_RATE": 100}
    base.update(env)
    return spawn("jive-webhook", **base)


def dropped(svc, reason):
    return metric(requests.get(svc.url("/metrics")).text,
                  f'jive_http_connections_dropped_total{{reason="{reason}"}}')


def closed_within(sock, seconds):
    """Reads until the server closes the connection; returns everything read, or None when it is
    still open after seconds."""
    sock.settimeout(seconds)
    got = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return got
            got += chunk
    except ConnectionResetError:
        return got
    except socket.timeout:
        return None


def test_a_connection_that_sends_nothing_is_closed_at_the_header_deadline(spawn):
    svc = slow_svc(spawn)
    s = socket.create_connection(("127.0.0.1", svc.port))
    assert closed_within(s, 10) == b""  # closed without a reply, long before evhttp's 60 s
    s.close()
    assert dropped(svc, "read_deadline") == 1


def trickle(sock, chunks):
    """Sends chunks one by one, about 0.25 s apart, until the server closes the connection;
    returns how many were sent before it did, or None when all went and it is still open."""
    sock.settimeout(0.25)
    for sent, chunk in enumerate(chunks):
        try:
            sock.sendall(chunk)
            if sock.recv(1) == b"":
                return sent
        except socket.timeout:
            continue
        except (BrokenPipeError, ConnectionResetError):
            return sent
    return None


def test_headers_trickled_a_byte_at_a_time_are_cut_off(spawn):
    svc = slow_svc(spawn)
    s = socket.create_connection(("127.0.0.1", svc.port))
    line = b"GET /livez HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
    # each byte resets no timer: the deadline stands, long before the line is done
    sent = trickle(s, (line[i:i + 1] for i in range(len(line))))
    s.close()
    assert sent is not None and sent < len(line)
    assert dropped(svc, "read_deadline") == 1


def test_a_body_at_a_fair_rate_gets_more_time_than_the_header_deadline(spawn):
    svc = slow_svc(spawn)
    body = b"{" + b" " * 1998 + b"}"
    s = socket.create_connection(("127.0.0.1", svc.port))
    s.sendall(b"POST /webhooks/github HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"X-GitHub-Event: push\r\nX-GitHub-Delivery: 0b4f1c2e-5d6a-4e8b-9c0d-1e2f3a4b5c6d\r\n"
              b"Content-Length: 2000\r\n\r\n")
    for i in range(0, 2000, 200):  # 1000 bytes/s for 2 s: over 800 ms, above the 100 B/s floor
        time.sleep(0.2)
        s.sendall(body[i:i + 200])
    s.settimeout(10)
    reply = s.recv(65536)
    s.close()
    # the whole body arrived and was judged: unsigned, so 401 (a cut connection reads b"")
    assert reply.startswith(b"HTTP/1.1 401 "), reply[:200]
    assert dropped(svc, "read_deadline") == 0


def test_a_body_slower_than_the_minimum_rate_is_cut_off(spawn):
    svc = slow_svc(spawn)
    s = socket.create_connection(("127.0.0.1", svc.port))
    s.sendall(b"POST /webhooks/github HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: 2000\r\n\r\n{")
    # 4 bytes/s, under the 100 B/s floor: cut after about a second, long before the body is done
    sent = trickle(s, (b" " for _ in range(60)))
    s.close()
    assert sent is not None
    assert dropped(svc, "read_deadline") == 1


def test_an_idle_keep_alive_connection_is_closed_after_the_idle_timeout(spawn):
    svc = slow_svc(spawn)
    s = socket.create_connection(("127.0.0.1", svc.port))
    for _ in range(3):  # keep-alive works while requests keep coming
        s.sendall(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(5)
        head = s.recv(65536)
        assert head.startswith(b"HTTP/1.1 200")
        time.sleep(0.3)
    assert closed_within(s, 10) == b""
    s.close()
    assert dropped(svc, "idle") == 1


def test_connections_per_client_address_are_capped(spawn):
    svc = spawn("jive-webhook", JIVE_HTTP_MAX_CONNS_PER_ADDR=4)
    held = [socket.create_connection(("127.0.0.1", svc.port)) for _ in range(4)]
    extra = socket.create_connection(("127.0.0.1", svc.port))
    assert closed_within(extra, 10) == b""  # the fifth is closed at once, without a reply
    extra.close()
    for s in held:  # the four are served
        s.sendall(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(5)
        assert s.recv(65536).startswith(b"HTTP/1.1 200")
    held.pop().close()

    def served():
        s = socket.create_connection(("127.0.0.1", svc.port))
        try:
            s.sendall(b"GET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return closed_within(s, 5) or b""
        finally:
            s.close()
    assert wait_for(lambda: served().startswith(b"HTTP/1.1 200"), 10)  # a freed slot is reused
    for s in held:
        s.close()
    assert dropped(svc, "address_cap") >= 1
