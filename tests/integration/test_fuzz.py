# SPDX-License-Identifier: MIT
"""Runs every libFuzzer target briefly on a scratch copy of its seed corpus and of its
regression inputs (tests/fuzz/regressions/<target>/: every input that ever crashed a target is
kept there and replayed first); make fuzz runs them for longer. A crash, leak or sanitizer
report, even one printed while the process exits, fails the test and leaves the input in the
log."""
import os
import shutil
import subprocess
import tempfile

import pytest

from conftest import ROOT, sanitizer_report

TARGETS = sorted(p.stem for p in (ROOT / "tests/fuzz").glob("fuzz_*.c"))
SECONDS = os.environ.get("JIVE_FUZZ_SECONDS", "4")


def test_every_target_was_built():
    missing = [t for t in TARGETS if not (ROOT / "build/fuzz" / t).exists()]
    assert TARGETS and not missing, f"not built (make fuzzers): {missing}"


@pytest.mark.parametrize("target", TARGETS)
def test_fuzz_target_runs_clean(target):
    work = tempfile.mkdtemp(prefix=f"jive-{target}-")
    try:
        shutil.copytree(ROOT / "tests/fuzz/corpus" / target, os.path.join(work, "corpus"))
        regressions = ROOT / "tests/fuzz/regressions" / target
        if regressions.is_dir():
            shutil.copytree(regressions, os.path.join(work, "corpus"), dirs_exist_ok=True)
        p = subprocess.run([str(ROOT / "build/fuzz" / target), f"-max_total_time={SECONDS}",
                            "-timeout=10", "-rss_limit_mb=2048", os.path.join(work, "corpus")],
                           capture_output=True, text=True, cwd=work, timeout=120)
        out = p.stdout + p.stderr
        assert p.returncode == 0, out[-4000:]
        assert sanitizer_report(out) is None and "==ERROR:" not in out, out[-4000:]
        assert "Done " in out and "runs in" in out, out[-2000:]
    finally:
        shutil.rmtree(work, ignore_errors=True)
