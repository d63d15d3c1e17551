# SPDX-License-Identifier: MIT
"""SIGTERM drains: the listener closes, a request in flight completes, the process exits 0."""
import signal
import socket
import threading
import time

import requests

from conftest import wait_for


def test_sigterm_lets_a_slow_request_finish(spawn, stack, redis_up):
    # A real slow request: /health waits for a Redis that does not answer (SIGSTOP) until the
    # health timeout; SIGTERM arrives while it waits.
    svc = spawn("jive-webhook", JIVE_HEALTH_TIMEOUT_MS=2500, JIVE_REDIS_TIMEOUT_MS=2500)
    assert wait_for(lambda: requests.get(svc.url("/health"), timeout=3).status_code == 200, 5)
    result = {}

    def slow():
        t0 = time.time()
        r = requests.get(svc.url("/health"), timeout=15)
        result.update(status=r.status_code, body=r.json(), took=time.time() - t0)

    stack.redis.pause()
    try:
        t = threading.Thread(target=slow)
        t.start()
        time.sleep(0.5)
        svc.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        # the listener is closed while the request is still in flight
        with socket.socket() as s:
            s.settimeout(1)
            assert s.connect_ex(("127.0.0.1", svc.port)) != 0, "still accepting after SIGTERM"
        assert svc.proc.poll() is None, "exited before the in-flight request finished"
        t.join(15)
    finally:
        stack.redis.resume()
    assert result.get("status") == 503, result
    assert result["body"]["redis"] == "down"
    assert result["took"] >= 2.0
    assert svc.proc.wait(10) == 0
    assert "shutdown complete" in svc.log()


def test_sigterm_when_idle_exits_zero_quickly(spawn):
    svc = spawn("jive-orchestrator")
    t0 = time.time()
    assert svc.stop(signal.SIGTERM) == 0
    assert time.time() - t0 < 5
