# SPDX-License-Identifier: MIT
"""The shared HTTP front: request ids, the error envelope, security headers, CORS, metrics,
the body-size limit."""
import socket

import pytest
import requests


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
