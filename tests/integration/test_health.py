# SPDX-License-Identifier: MIT
"""GET /health follows the real dependencies: 503 within 5 s of Redis or Postgres going away,
200 again within 5 s of it coming back, without restarting the service."""
import pytest
import requests

from conftest import wait_for

SERVICES = ["jive-webhook", "jive-orchestrator", "jive-mcp"]


def health(svc):
    try:
        r = requests.get(svc.url("/health"), timeout=3)
        return r.status_code, r.json()
    except requests.RequestException as e:
        return None, str(e)


@pytest.mark.parametrize("name", SERVICES)
def test_health_ok_names_dependencies_and_version(spawn, name):
    svc = spawn(name)
    status, body = wait_for(lambda: (lambda h: h if h[0] == 200 else None)(health(svc)), 5) or health(svc)
    assert status == 200, body
    assert body["status"] == "ok"
    assert body["db"] == "ok" and body["redis"] == "ok"
    assert body["service"] == name
    assert body["version"]
    assert requests.get(svc.url("/livez"), timeout=3).json() == {"status": "ok"}


@pytest.mark.parametrize("name", SERVICES)
def test_health_follows_redis(spawn, stack, redis_up, name):
    svc = spawn(name)
    pid = svc.proc.pid
    assert wait_for(lambda: health(svc)[0] == 200, 5)
    stack.redis.stop()
    down = wait_for(lambda: (lambda h: h if h[0] == 503 else None)(health(svc)), 5)
    assert down, f"still {health(svc)} 5 s after Redis stopped"
    assert down[1]["redis"] == "down" and down[1]["db"] == "ok"
    assert down[1]["status"] == "unavailable"
    stack.redis.start()
    assert wait_for(lambda: health(svc)[0] == 200, 5), f"{health(svc)} 5 s after Redis restarted"
    assert svc.proc.poll() is None and svc.proc.pid == pid


@pytest.mark.parametrize("name", SERVICES)
def test_health_follows_postgres(spawn, stack, pg_up, name):
    svc = spawn(name)
    pid = svc.proc.pid
    assert wait_for(lambda: health(svc)[0] == 200, 5)
    stack.pg.stop()
    down = wait_for(lambda: (lambda h: h if h[0] == 503 else None)(health(svc)), 5)
    assert down, f"still {health(svc)} 5 s after Postgres stopped"
    assert down[1]["db"] == "down" and down[1]["redis"] == "ok"
    stack.pg.start()
    assert wait_for(lambda: health(svc)[0] == 200, 5), f"{health(svc)} 5 s after Postgres restarted"
    assert svc.proc.poll() is None and svc.proc.pid == pid


def test_service_starts_while_dependencies_are_down(spawn, stack, redis_up, pg_up):
    """Start-up never blocks on Postgres or Redis: it serves, reports 503, then recovers."""
    stack.redis.stop()
    stack.pg.stop()
    svc = spawn("jive-webhook")
    status, body = health(svc)
    assert status == 503 and body["db"] == "down" and body["redis"] == "down"
    stack.redis.start()
    stack.pg.start()
    assert wait_for(lambda: health(svc)[0] == 200, 5)


def test_dependencies_by_host_name(spawn, stack):
    """Host names go through the non-blocking resolver (here: localhost from /etc/hosts)."""
    svc = spawn("jive-orchestrator",
                DATABASE_URL=stack.pg.dsn().replace("127.0.0.1", "localhost"),
                REDIS_URL=stack.redis.url().replace("127.0.0.1", "localhost"))
    assert wait_for(lambda: health(svc)[0] == 200, 5), health(svc)
