# SPDX-License-Identifier: MIT
"""Fault suite: steady mixed load (MCP tool calls, signed webhook deliveries, the jobs they
make) on loopback while Postgres and Redis are stopped and restarted (Redis loses its data: it
runs without persistence here, and a backlog of queued messages is built up before it goes)
and each service is killed with SIGKILL and started again.

Afterwards: every accepted delivery has its webhook_events row and its job's effect, every
answered tool call has exactly one audit row, no job is lost or applied twice, and every
service is healthy again without a hand on it. The counts are printed as a table (and written
to $JIVE_FAULT_REPORT when set).

`make test` runs the short form; `make test-faults` the long one (JIVE_FAULTS=long)."""
import os
import signal
import threading
import time
import uuid

import psycopg
import requests

from conftest import wait_for
from test_mcp import ALL_SCOPES, token
from test_orchestrator import workflow_run
from test_webhook import deliver, examples, new_project  # noqa: F401

LONG = os.environ.get("JIVE_FAULTS") == "long"
OUTAGE = 8.0 if LONG else 1.5       # seconds a dependency or service stays down
SETTLE = 6.0 if LONG else 1.0       # load between two faults
ROUNDS = 3 if LONG else 1
FAST = {"JIVE_RETRY_BASE_MS": "300", "JIVE_WORKER_TTL_MS": "1500", "JIVE_QUERY_TIMEOUT_MS": "2000",
        "JIVE_REDIS_TIMEOUT_MS": "1000", "JIVE_RATE_LIMIT_PER_MINUTE": "1000000"}


class Load:
    """Three client threads: MCP calls, webhook deliveries (a delivery that got no 2xx is sent
    again with the same X-GitHub-Delivery, as GitHub's redelivery does), and a reader."""

    def __init__(self, mcp, webhook, tenant, project, examples):
        self.mcp, self.webhook, self.tenant, self.project = mcp, webhook, tenant, project
        self.examples = examples
        self.stop = threading.Event()
        self.calls = []        # (request id, answered: bool, http status or None)
        self.deliveries = {}   # delivery id -> {"run": id, "accepted": bool, "tries": n, "jobs": [...]}
        self.errors = []
        self.threads = [threading.Thread(target=f, daemon=True) for f in (self.mcp_loop, self.mcp_loop,
                                                                         self.webhook_loop)]

    def start(self):
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(60)

    def mcp_loop(self):
        t = token(self.tenant, ALL_SCOPES, exp=int(time.time()) + 3600)
        s = requests.Session()
        i = 0
        while not self.stop.is_set():
            i += 1
            rid = str(uuid.uuid4())
            if i % 3 == 0:
                tool, args = "agent_report", {"project_id": self.tenant["project"],
                                              "story_key": "1.1", "state": "working"}
            else:
                tool, args = "status_get", {"project_id": self.tenant["project"]}
            body = {"jsonrpc": "2.0", "id": i, "method": "tools/call",
                    "params": {"name": tool, "arguments": args}}
            h = {"Authorization": "Bearer " + t, "X-Request-Id": rid,
                 "MCP-Protocol-Version": "2025-11-25", "Accept": "application/json"}
            try:
                r = s.post(self.mcp.url("/mcp"), json=body, headers=h, timeout=15)
                self.calls.append((rid, True, r.status_code))
                if r.status_code != 200 or "result" not in r.json():
                    self.errors.append(f"mcp {r.status_code}: {r.text[:200]}")
            except requests.RequestException:
                self.calls.append((rid, False, None))
                s = requests.Session()
                time.sleep(0.05)

    def webhook_loop(self):
        pending = []
        n = 0
        while not self.stop.is_set() or pending:
            if self.stop.is_set() and all(d["tries"] > 60 for d in pending):
                break
            if not pending and not self.stop.is_set():
                n += 1
                d = {"id": str(uuid.uuid4()), "run": 9500000 + n + int(time.time()) % 100000 * 100,
                     "accepted": False, "tries": 0, "jobs": []}
                self.deliveries[d["id"]] = d
                pending.append(d)
            d = pending[0]
            d["tries"] += 1
            try:
                r = deliver(self.webhook, self.project["id"], "workflow_run",
                            workflow_run(self.examples, d["run"]), self.project["secret"],
                            delivery=d["id"])
                if r.status_code in (200, 202):
                    d["accepted"] = True
                    d["jobs"] = r.json().get("jobs", [])
                    pending.pop(0)
                    continue
            except requests.RequestException:
                pass
            time.sleep(0.2)


def healthy(svc):
    try:
        return requests.get(svc.url("/health"), timeout=2).status_code == 200
    except requests.RequestException:
        return False


def test_fault_suite(spawn, stack, db, examples, pg_up, redis_up, tmp_path):
    project = new_project(db)
    org = str(db.execute("SELECT org_id FROM projects WHERE id = %s", (project["id"],)).fetchone()[0])
    slug = db.execute("SELECT slug FROM orgs WHERE id = %s", (org,)).fetchone()[0]
    tenant = {"org": org, "slug": slug, "project": project["id"]}
    svcs = {"jive-webhook": spawn("jive-webhook", **FAST),
            "jive-mcp": spawn("jive-mcp", **FAST),
            "jive-orchestrator": spawn("jive-orchestrator", **FAST)}
    load = Load(svcs["jive-mcp"], svcs["jive-webhook"], tenant, project, examples)
    recovery = []  # (fault, seconds until every service's /health answered 200 again)

    def all_healthy():
        return all(healthy(s) for s in svcs.values())

    def recovered(fault, t0):
        ok = wait_for(all_healthy, 60, step=0.1)
        recovery.append((fault, round(time.time() - t0, 1) if ok else None))
        assert ok, f"not healthy again after {fault}: " + ", ".join(
            n for n, s in svcs.items() if not healthy(s))
        time.sleep(SETTLE)

    load.start()
    try:
        time.sleep(SETTLE)
        for _ in range(ROUNDS):
            stack.pg.stop()
            time.sleep(OUTAGE)
            stack.pg.start()
            recovered("Postgres stopped and restarted", time.time())
            # a backlog first: the orchestrator is frozen while deliveries queue up in Redis,
            # then Redis goes away with those messages
            orch = svcs["jive-orchestrator"].proc
            orch.send_signal(signal.SIGSTOP)
            time.sleep(SETTLE)
            backlog = stack.redis.client().llen("jive:q:run-sync")
            stack.redis.stop()
            orch.send_signal(signal.SIGCONT)
            time.sleep(OUTAGE)
            stack.redis.start()
            recovered(f"Redis stopped and restarted empty, {backlog} queued messages lost", time.time())
            for name, svc in svcs.items():
                svc.proc.send_signal(signal.SIGKILL)
                svc.proc.wait()
                time.sleep(OUTAGE / 3)
                t0 = time.time()
                svc.start()
                recovered(f"{name} killed (SIGKILL) and restarted", t0)
    finally:
        load.finish()

    # ---- the books (a new connection: Postgres restarted under the fixture's) ----
    db = psycopg.connect(stack.pg.dsn(), autocommit=True)
    accepted = [d for d in load.deliveries.values() if d["accepted"]]
    ids = [d["id"] for d in accepted]
    events = db.execute("SELECT count(*) FROM webhook_events WHERE id = ANY(%s)", (ids,)).fetchone()[0]
    job_ids = [j for d in accepted for j in d["jobs"]]

    def unfinished():
        return db.execute("SELECT count(*) FROM jobs WHERE project_id = %s AND status <> 'succeeded'",
                          (project["id"],)).fetchone()[0]
    wait_for(lambda: unfinished() == 0, 90, step=0.5)
    jobs = db.execute("SELECT status, (SELECT count(*) FROM jsonb_array_elements(history) h "
                      "WHERE h->>'outcome' = 'succeeded'), attempts FROM jobs WHERE project_id = %s",
                      (project["id"],)).fetchall()
    succeeded = sum(1 for s, _, _ in jobs if s == "succeeded")
    twice = sum(1 for _, n, _ in jobs if n > 1)
    runs = {r[0] for r in db.execute("SELECT external_id FROM runs WHERE project_id = %s",
                                     (project["id"],)).fetchall()}
    no_effect = [d["id"] for d in accepted if f"workflow_run:{d['run']}" not in runs]
    missing_jobs = db.execute("SELECT count(*) FROM unnest(%s::uuid[]) AS j(id) WHERE NOT EXISTS "
                              "(SELECT 1 FROM jobs WHERE jobs.id = j.id)", (job_ids,)).fetchone()[0]
    answered = [rid for rid, ok, _ in load.calls if ok]
    unanswered = [rid for rid, ok, _ in load.calls if not ok]

    def audit_counts(rids):
        return dict(db.execute("SELECT request_id, count(*) FROM mcp_audit_logs WHERE request_id = "
                               "ANY(%s) GROUP BY request_id", (rids,)).fetchall())
    wait_for(lambda: len(audit_counts(answered)) == len(answered), 30, step=0.5)
    a_counts, u_counts = audit_counts(answered), audit_counts(unanswered)
    answered_once = sum(1 for rid in answered if a_counts.get(rid) == 1)
    audit_dupes = sum(1 for c in list(a_counts.values()) + list(u_counts.values()) if c > 1)
    redelivered = sum(1 for d in accepted if d["tries"] > 1)

    table = [
        ("faults injected", len(recovery)),
        ("MCP tool calls sent", len(load.calls)),
        ("  answered", len(answered)),
        ("  answered with exactly one audit row", answered_once),
        ("  unanswered (service killed or down mid-request)", len(unanswered)),
        ("  unanswered with an audit row anyway", len(u_counts)),
        ("  request ids with more than one audit row", audit_dupes),
        ("webhook deliveries accepted (2xx)", len(accepted)),
        ("  accepted after a redelivery", redelivered),
        ("  with their webhook_events row", events),
        ("  with their run written (the job's effect)", len(accepted) - len(no_effect)),
        ("deliveries never accepted", len(load.deliveries) - len(accepted)),
        ("jobs", len(jobs)),
        ("  succeeded", succeeded),
        ("  missing (accepted but no jobs row)", missing_jobs),
        ("  applied more than once", twice),
        ("  retried (attempts > 1)", sum(1 for _, _, a in jobs if a > 1)),
        ("services healthy at the end", sum(1 for s in svcs.values() if healthy(s))),
    ]
    w = max(len(k) for k, _ in table)
    text = "\n".join([f"| {'what':<{w}} | count |", f"|{'-' * (w + 2)}|------:|"] +
                     [f"| {k:<{w}} | {v:>5} |" for k, v in table])
    text += "\n\n| fault | healthy again after (s) |\n|---|---:|\n" + "\n".join(
        f"| {f} | {s} |" for f, s in recovery)
    print("\n" + text)
    if os.environ.get("JIVE_FAULT_REPORT"):
        with open(os.environ["JIVE_FAULT_REPORT"], "w") as f:
            f.write(text + "\n")

    assert len(answered) > 50 and len(accepted) > 10, text
    assert answered_once == len(answered), text
    assert audit_dupes == 0, text
    assert events == len(accepted) and not no_effect and missing_jobs == 0, text
    assert succeeded == len(jobs) and twice == 0, text
    assert all(s is not None for _, s in recovery), text
    assert all(healthy(s) for s in svcs.values()), text
