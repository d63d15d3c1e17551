# SPDX-License-Identifier: MIT
"""A bad or missing setting stops a service at once with one line naming the variable."""
import pytest

from conftest import run_bin

SERVICES = ["jive-webhook", "jive-orchestrator", "jive-mcp"]


@pytest.mark.parametrize("name", SERVICES)
def test_missing_database_url_stops_service(stack, name):
    p = run_bin(name, stack.env(DATABASE_URL=None, PORT=1), timeout=10)
    assert p.returncode == 2
    assert p.stderr.strip() == f"{name}: DATABASE_URL: required, not set"


@pytest.mark.parametrize("var,value,needle", [
    ("REDIS_URL", None, "REDIS_URL: required, not set"),
    ("REDIS_URL", "http://x:1", "REDIS_URL: scheme must be redis://"),
    ("REDIS_URL", "redis://127.0.0.1:6379/99", "REDIS_URL: database must be 0..15"),
    ("PORT", "70000", "PORT: must be an integer 1..65535, got '70000'"),
    ("PORT", "12ab", "PORT: must be an integer 1..65535, got '12ab'"),
    ("JIVE_LOG_LEVEL", "loud", "JIVE_LOG_LEVEL: must be debug, info, warn or error"),
    ("DATABASE_URL", "postgresql://h/db?bogus_option=1", "DATABASE_URL: not a valid libpq connection string: invalid URI query parameter"),
    ("JIVE_ENV", "staging", "JIVE_ENV: must be production or development"),
    ("JIVE_CORS_ORIGINS", "ftp://x", "JIVE_CORS_ORIGINS: 'ftp://x' is not an http(s) origin"),
    ("JIVE_MAX_BODY_BYTES", "-5", "JIVE_MAX_BODY_BYTES: must be an integer"),
])
def test_bad_value_names_the_variable(stack, var, value, needle):
    p = run_bin("jive-webhook", stack.env(**{var: value}), timeout=10)
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("jive-webhook: ") and needle in lines[0], lines[0]


def test_mcp_requires_jwt_settings(stack):
    p = run_bin("jive-mcp", stack.env(JIVE_JWT_SECRET=None), timeout=10)
    assert p.returncode == 2
    assert "JIVE_JWT_SECRET: required" in p.stderr
    p = run_bin("jive-mcp", stack.env(JIVE_JWT_AUDIENCE=None), timeout=10)
    assert p.returncode == 2 and "JIVE_JWT_AUDIENCE: required, not set" in p.stderr
    p = run_bin("jive-mcp", stack.env(JIVE_JWT_SECRET="short"), timeout=10)
    assert p.returncode == 2 and "JIVE_JWT_SECRET: must be at least 32 bytes" in p.stderr


def test_port_in_use_is_a_clear_error(stack, spawn):
    first = spawn("jive-webhook")
    p = run_bin("jive-orchestrator", stack.env(PORT=first.port), timeout=10)
    assert p.returncode == 2
    assert f"cannot listen on 127.0.0.1:{first.port}" in p.stderr
