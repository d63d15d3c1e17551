# SPDX-License-Identifier: MIT
"""What the benchmarks share: a durable Postgres (fsync on) and a Redis started for the run,
migrated with the release jivectl; wrk output parsing; the machine's description."""
import os
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests/integration"))
os.environ.setdefault("JIVE_BUILD", "build")


def start_stack(pg, redis, **env):
    """Starts pg and redis (durable settings: figures must not come from turning fsync off),
    creates and migrates database jive; returns the services' environment (env added)."""
    pg_opts = (f"-p {pg.port} -k {pg.dir} -c listen_addresses=127.0.0.1 "
               f"-c max_connections=200 -c shared_buffers=256MB -c track_wal_io_timing=on")
    pg._run([f"{pg.bindir}/pg_ctl", "-D", f"{pg.dir}/data", "-o", pg_opts, "-l",
             f"{pg.dir}/log", "-w", "start"])
    redis.start()
    dsn = pg.create_db("jive")
    out = {"PATH": os.environ["PATH"], "DATABASE_URL": dsn, "REDIS_URL": redis.url(),
           "JIVE_ALLOW_LOCAL_REPOS": "1", **env}  # the benchmarks' repositories are local
    subprocess.run([str(ROOT / "build/bin/jivectl"), "migrate"], env=out, check=True,
                   capture_output=True)
    return out


def parse_wrk(out):
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = {}
    for pct, val, unit in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M):
        lat[pct] = float(val) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "p50_ms": lat["50"], "p99_ms": lat["99"], "lat_ms": lat, "requests": total,
            "non_2xx": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": errors.group(1) if errors else ""}


def machine():
    model = "unknown"
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return f"{os.cpu_count()} cores, {model}"


def start_service(name, env, tmp):
    """Starts build/bin/<name> with env (PORT set), logging to tmp/<name>.log; returns
    (process, url) once /health answers 200."""
    import requests

    sys.path.insert(0, str(ROOT / "tests/integration"))
    import conftest

    proc = subprocess.Popen([str(ROOT / "build/bin" / name)], env=env,
                            stdout=open(tmp / f"{name}.log", "w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{env['PORT']}"

    def healthy():
        try:
            return requests.get(url + "/health", timeout=1).ok
        except requests.RequestException:
            return False

    if not conftest.wait_for(healthy, 10):
        proc.terminate()
        raise RuntimeError(f"{name} did not become healthy:\n" + (tmp / f"{name}.log").read_text())
    return proc, url


def pgbench(pg, script, clients, seconds, defines=()):
    """Runs the custom pgbench script (a file) against database jive with clients connections
    for seconds; returns (transactions per second, pgbench's output)."""
    args = [f"{pg.bindir}/pgbench", "-n", "-c", str(clients), "-j", "2", "-T", str(seconds),
            "-f", str(script), "-h", "127.0.0.1", "-p", str(pg.port), "-U", "jive"]
    for d in defines:
        args += ["-D", d]
    p = subprocess.run(args + ["jive"], capture_output=True, text=True)
    m = re.search(r"tps = ([\d.]+)", p.stdout)
    if m is None:
        raise RuntimeError("pgbench failed:\n" + p.stdout + p.stderr)
    return float(m.group(1)), p.stdout


def save(name, result):
    """Keeps a benchmark's full result in build/bench/<name>.json (chart.py reads them)."""
    import json
    out = ROOT / "build/bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(result, indent=1, default=str))


def cpu_seconds():
    """CPU time (user + system) used so far by each command name's processes: live ones and
    the children they have reaped (a Postgres backend that exited counts in its postmaster).
    The difference of two calls shows where a run's CPU went."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for stat in pathlib.Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        pid_comm, rest = text.rsplit(")", 1)
        comm = pid_comm.split("(", 1)[1]
        f = rest.split()
        out[comm] = out.get(comm, 0.0) + (int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])) / tick
    return out


def children_cpu():
    """CPU seconds (user + system) of this process's reaped children (wrk, pgbench): the
    clients' share, which cpu_seconds cannot see once they have exited."""
    import resource
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def cpu_idle():
    """Idle and total CPU time of the whole machine so far, in seconds (from /proc/stat)."""
    tick = os.sysconf("SC_CLK_TCK")
    f = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return (f[3] + f[4]) / tick, sum(f[:8]) / tick


def cpu_used(before, after, names):
    """CPU seconds each command name in names used between two cpu_seconds() snapshots."""
    return {n: round(after.get(n, 0.0) - before.get(n, 0.0), 2) for n in names}


def stop(procs, pg, redis):
    """Ends what a benchmark started: its services, then Postgres and Redis."""
    for p in procs:
        p.terminate()
        p.wait(30)
    pg.destroy()
    redis.destroy()


def finish(name, result, markdown):
    """A benchmark's last step: keep its result (save), and with --write FILE append its
    Markdown section to FILE (and print it); else print the JSON."""
    import json
    save(name, result)
    if len(sys.argv) == 3 and sys.argv[1] == "--write":
        with open(sys.argv[2], "a") as f:
            f.write(markdown(result))
        print(markdown(result))
    else:
        print(json.dumps(result, default=str))
