#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""make soak: the fault suite's mixed load (MCP tool calls, signed webhook deliveries, their
jobs) against the three services for --seconds, with each service's RSS sampled every 10 s.
Passes when no service's memory grows: after a warm-up (the first fifth of the run), the mean
RSS of the last quarter may exceed that of the first quarter by at most 5 % + 1 MiB, and when
every answered tool call has exactly one audit row and every job succeeded. With --build
build/san the sanitizer build runs (shorter) and any ASan/UBSan/LSan report (LeakSanitizer
reports at the SIGTERM exit) fails the run; its RSS is shown but not judged, since ASan keeps up
to 256 MiB of freed memory in quarantine by design and the RSS climbs until that is full.
Writes a Markdown report with --report FILE."""
import argparse
import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests/integration"))
sys.path.insert(0, str(ROOT / "tests/bench"))

ap = argparse.ArgumentParser()
ap.add_argument("--seconds", type=int, default=600)
ap.add_argument("--build", default="build")
ap.add_argument("--report")
opts = ap.parse_args()
os.environ["JIVE_BUILD"] = opts.build

import conftest  # noqa: E402
import psycopg  # noqa: E402
import requests  # noqa: E402
from benchlib import machine, start_stack  # noqa: E402
from test_faults import FAST, Load  # noqa: E402
from test_webhook import load_examples, new_project  # noqa: E402

SAMPLE = 10


class Svc:
    def __init__(self, name, env, tmp):
        self.name, self.port = name, int(env["PORT"])
        self.log_path = tmp / f"{name}.log"
        self.proc = subprocess.Popen([str(ROOT / opts.build / "bin" / name)], env=env, cwd=ROOT,
                                     stdout=open(self.log_path, "w"), stderr=subprocess.STDOUT)
        if not conftest.wait_for(self.healthy, 20):
            raise SystemExit(f"{name} did not start:\n{self.log_path.read_text()[-2000:]}")

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def healthy(self):
        try:
            return requests.get(self.url("/health"), timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def rss_kib(self):
        for line in open(f"/proc/{self.proc.pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0


def main():
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="jive-soak-"))
    pg, redis = conftest.Postgres(), conftest.Redis()
    svcs = []
    try:
        base = start_stack(pg, redis, JIVE_BIND="127.0.0.1", JIVE_LOG_LEVEL="warn",
                           JIVE_JWT_SECRET=conftest.JWT_SECRET, JIVE_JWT_ISSUER=conftest.JWT_ISSUER,
                           JIVE_JWT_AUDIENCE=conftest.JWT_AUDIENCE,
                           JIVE_WORKSPACE_DIR=str(tmp / "ws"),
                           ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:exitcode=86", **FAST)
        db = psycopg.connect(base["DATABASE_URL"], autocommit=True)
        project = new_project(db)
        org = str(db.execute("SELECT org_id FROM projects WHERE id = %s", (project["id"],)).fetchone()[0])
        slug = db.execute("SELECT slug FROM orgs WHERE id = %s", (org,)).fetchone()[0]
        tenant = {"org": org, "slug": slug, "project": project["id"]}
        for name in ("jive-webhook", "jive-mcp", "jive-orchestrator"):
            env = dict(base, PORT=str(conftest.free_port()),
                       JIVE_AUDIT_SPOOL=str(tmp / f"{name}-audit.jsonl"))
            svcs.append(Svc(name, env, tmp))
        by = {s.name: s for s in svcs}
        load = Load(by["jive-mcp"], by["jive-webhook"], tenant, project, load_examples())
        samples = []  # (t, {name: kib})
        t0 = time.time()
        load.start()
        while time.time() - t0 < opts.seconds:
            samples.append((round(time.time() - t0), {s.name: s.rss_kib() for s in svcs}))
            time.sleep(SAMPLE)
        samples.append((round(time.time() - t0), {s.name: s.rss_kib() for s in svcs}))
        load.finish()
        conftest.wait_for(lambda: db.execute(
            "SELECT count(*) FROM jobs WHERE status <> 'succeeded'").fetchone()[0] == 0, 60, 0.5)
        answered = [rid for rid, ok, _ in load.calls if ok]
        conftest.wait_for(lambda: db.execute(
            "SELECT count(DISTINCT request_id) FROM mcp_audit_logs").fetchone()[0] >= len(answered), 30, 0.5)
        audited = db.execute("SELECT count(*), count(DISTINCT request_id) FROM mcp_audit_logs "
                             "WHERE request_id = ANY(%s)", (answered,)).fetchone()
        jobs = db.execute("SELECT count(*), count(*) FILTER (WHERE status = 'succeeded') "
                          "FROM jobs").fetchone()
    finally:
        for s in svcs:
            if s.proc.poll() is None:
                s.proc.send_signal(signal.SIGTERM)
                s.proc.wait(30)
        pg.destroy()
        redis.destroy()

    failures = []
    warm = [x for x in samples if x[0] >= opts.seconds / 5]
    q = max(1, len(warm) // 4)
    rows = []
    for s in svcs:
        first = sum(x[1][s.name] for x in warm[:q]) / q
        last = sum(x[1][s.name] for x in warm[-q:]) / q
        growth = (last - first) / first * 100 if first else 0.0
        sanitized = "san" in opts.build
        ok = sanitized or last <= first * 1.05 + 1024
        rows.append((s.name, samples[0][1][s.name], first, last, growth, max(x[1][s.name] for x in samples), ok))
        if not ok:
            failures.append(f"{s.name}: RSS grew from {first:.0f} to {last:.0f} KiB")
        rep = conftest.sanitizer_report(s.log_path.read_text(errors="replace"))
        if rep:
            failures.append(f"{s.name}: sanitizer report:\n{rep}")
        if s.proc.returncode not in (0, None):
            failures.append(f"{s.name} exited with {s.proc.returncode}")
    if audited != (len(answered), len(answered)):
        failures.append(f"audit rows {audited} for {len(answered)} answered calls")
    if jobs[0] != jobs[1]:
        failures.append(f"jobs: {jobs[1]} of {jobs[0]} succeeded")

    lines = [f"Soak of `{opts.build}` for {opts.seconds} s on {machine()}: "
             f"{len(load.calls)} MCP tool calls ({len(answered)} answered, each with exactly one "
             f"audit row: {audited[0] == len(answered) == audited[1]}), "
             f"{sum(1 for d in load.deliveries.values() if d['accepted'])} webhook deliveries, "
             f"{jobs[1]}/{jobs[0]} jobs succeeded. RSS sampled every {SAMPLE} s.", "",
             "| service | RSS at start (KiB) | first quarter after warm-up | last quarter | growth | peak | verdict |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for name, start, first, last, growth, peak, ok in rows:
        verdict = "not judged (ASan quarantine)" if "san" in opts.build else ("flat" if ok else "GROWS")
        lines.append(f"| {name} | {start} | {first:.0f} | {last:.0f} | {growth:+.1f} % | {peak} | "
                     f"{verdict} |")
    lines += ["", "RSS samples (KiB):", "", "| t (s) | " + " | ".join(s.name for s in svcs) + " |",
              "|---:|" + "---:|" * len(svcs)]
    for t, v in samples:
        lines.append(f"| {t} | " + " | ".join(str(v[s.name]) for s in svcs) + " |")
    lines.append("")
    lines.append("Sanitizer reports in the service logs: " + (
        "none." if not any("sanitizer" in f for f in failures) else "SEE FAILURES."))
    text = "\n".join(lines) + "\n"
    print(text)
    if opts.report:
        pathlib.Path(opts.report).write_text(text)
    if failures:
        print("SOAK FAILED:\n" + "\n".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
