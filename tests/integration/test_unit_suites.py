# SPDX-License-Identifier: MIT
"""Runs every cmocka suite (sanitizer build) with the session's Postgres and Redis in its
environment; pg and redis suites talk to them for real."""
import subprocess

import pytest

from conftest import BUILD, sanitizer_report

SUITES = sorted(p.name for p in (BUILD / "tests").glob("test_*"))


def test_suites_were_built():
    assert len(SUITES) >= 11, f"expected the cmocka suites in {BUILD / 'tests'}, found {SUITES}"


@pytest.mark.parametrize("suite", SUITES)
def test_cmocka_suite(stack, suite):
    p = subprocess.run([str(BUILD / "tests" / suite)], env=stack.env(), capture_output=True,
                       text=True, timeout=300)
    out = p.stdout + p.stderr
    rep = sanitizer_report(out)
    assert rep is None, rep
    assert p.returncode == 0, out
    assert "[  PASSED  ]" in out and "FAILED" not in out, out
