#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `make run`: JIVE on one machine without Docker. Starts a private PostgreSQL (initdb under
# $JIVE_HOME/pg, as the unprivileged 'postgres' user when run as root) and redis-server on
# loopback ports, migrates, seeds a demo org and project whose repository is a local git repo in
# BMAD layout, prints an agent token and the MCP client config, then runs the three services in
# the foreground with prefixed log lines. Ctrl-C or SIGTERM stops everything it started, and
# nothing else. A second run reuses the data.
#
# Overrides: JIVE_HOME (.jive), JIVE_BIN (build/bin), JIVE_PG_PORT (55432),
# JIVE_REDIS_PORT (56379), JIVE_MCP_PORT (4000), JIVE_WEBHOOK_PORT (4001),
# JIVE_ORCHESTRATOR_PORT (4002).
#
# Sign-in with GitHub (docs/SIGN-IN.md): set JIVE_GITHUB_CLIENT_ID and JIVE_GITHUB_CLIENT_SECRET
# (in the environment or in $JIVE_HOME/env) to a GitHub OAuth app whose callback URL is
# http://127.0.0.1:4000/oauth/github/callback; a signing key is then made in
# $JIVE_HOME/oauth-signing.pem, and JIVE_SIGNIN_MEMBER=<github login> lets that user into the
# demo org as a developer. Without them jive-mcp advertises no authorization server.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
home=$(mkdir -p "${JIVE_HOME:-.jive}" && cd "${JIVE_HOME:-.jive}" && pwd)
bin=$(cd "${JIVE_BIN:-build/bin}" && pwd)
pg_port=${JIVE_PG_PORT:-55432}
redis_port=${JIVE_REDIS_PORT:-56379}
mcp_port=${JIVE_MCP_PORT:-4000}
webhook_port=${JIVE_WEBHOOK_PORT:-4001}
orch_port=${JIVE_ORCHESTRATOR_PORT:-4002}

say() { printf '[jive] %s\n' "$*"; }
die() { printf '[jive] error: %s\n' "$*" >&2; exit 1; }

pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -n | tail -n1)
[ -n "$pgbin" ] || die "PostgreSQL server binaries not found (run deploy/bootstrap.sh)"
command -v redis-server >/dev/null || die "redis-server not found (run deploy/bootstrap.sh)"
for b in jive-mcp jive-webhook jive-orchestrator jivectl; do
    [ -x "$bin/$b" ] || die "$bin/$b missing: run make"
done

as_pg=()
if [ "$(id -u)" -eq 0 ]; then
    as_pg=(runuser -u postgres --)
    id postgres >/dev/null 2>&1 || die "user 'postgres' missing (install the postgresql package)"
    "${as_pg[@]}" test -x "$home" 2>/dev/null ||
        die "$home is not reachable by the postgres user; clone JIVE under a world-traversable path or set JIVE_HOME"
fi

# ---- secrets and settings kept across runs ----
mkdir -p "$home/redis" "$home/logs" "$home/workspaces"
if [ ! -f "$home/env" ]; then
    umask 077
    printf 'JIVE_JWT_SECRET=%s\n' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" > "$home/env"
    umask 022
fi
# shellcheck disable=SC1091
. "$home/env"
export DATABASE_URL="postgresql://jive@127.0.0.1:$pg_port/jive"
export REDIS_URL="redis://127.0.0.1:$redis_port"
export JIVE_BIND=127.0.0.1 JIVE_ENV=development JIVE_JWT_SECRET
# the demo project's origin is a local repository: allowed here, never in the deploy configs
export JIVE_ALLOW_LOCAL_REPOS=1
export JIVE_JWT_ISSUER="http://127.0.0.1:$mcp_port"
export JIVE_JWT_AUDIENCE="http://127.0.0.1:$mcp_port/mcp"
export JIVE_WORKSPACE_DIR="$home/workspaces"
export JIVE_AUDIT_SPOOL="$home/audit-journal.jsonl"
export JIVE_SCHEMA_DIR="$top/schema"
signin=""
if [ -n "${JIVE_GITHUB_CLIENT_ID:-}" ] && [ -n "${JIVE_GITHUB_CLIENT_SECRET:-}" ]; then
    if [ ! -f "$home/oauth-signing.pem" ]; then
        (umask 077 && openssl ecparam -name prime256v1 -genkey -noout -out "$home/oauth-signing.pem")
    fi
    export JIVE_GITHUB_CLIENT_ID JIVE_GITHUB_CLIENT_SECRET
    export JIVE_OAUTH_SIGNING_KEY="$home/oauth-signing.pem"
    signin=1
fi

pids=()
redis_pid=""
pg_started=""
stop_all() {
    trap - INT TERM EXIT
    say "stopping"
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    if [ -n "$redis_pid" ]; then
        kill -TERM "$redis_pid" 2>/dev/null || true
        wait "$redis_pid" 2>/dev/null || true
    fi
    if [ -n "$pg_started" ]; then
        "${as_pg[@]}" "$pgbin/pg_ctl" -D "$home/pg" -m fast -w stop >/dev/null 2>&1 || true
    fi
    say "stopped"
}
trap stop_all EXIT
trap 'exit 0' INT TERM

# ---- PostgreSQL ----
if [ ! -f "$home/pg/PG_VERSION" ]; then
    say "initialising PostgreSQL in $home/pg"
    mkdir -p "$home/pg"
    [ ${#as_pg[@]} -gt 0 ] && chown postgres "$home/pg"
    chmod 700 "$home/pg"
    "${as_pg[@]}" "$pgbin/initdb" -D "$home/pg" -A trust -U jive -E UTF8 >"$home/logs/initdb.log" 2>&1 ||
        die "initdb failed: see $home/logs/initdb.log"
fi
if "${as_pg[@]}" "$pgbin/pg_ctl" -D "$home/pg" status >/dev/null 2>&1; then
    die "a PostgreSQL is already running on $home/pg (another make run?)"
fi
[ ${#as_pg[@]} -gt 0 ] && touch "$home/logs/postgres.log" && chown postgres "$home/logs/postgres.log"
"${as_pg[@]}" "$pgbin/pg_ctl" -D "$home/pg" -l "$home/logs/postgres.log" -w -t 60 \
    -o "-p $pg_port -c listen_addresses=127.0.0.1 -k ''" start >/dev/null ||
    die "PostgreSQL did not start: see $home/logs/postgres.log"
pg_started=1
say "PostgreSQL on 127.0.0.1:$pg_port"
psql_q() { psql -X -q -v ON_ERROR_STOP=1 "postgresql://jive@127.0.0.1:$pg_port/$1" -tAc "$2"; }
[ "$(psql_q postgres "SELECT 1 FROM pg_database WHERE datname = 'jive'")" = 1 ] ||
    psql_q postgres "CREATE DATABASE jive" >/dev/null

# ---- Redis ----
redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$home/redis" --appendonly yes \
    --save '' --logfile "$home/logs/redis.log" &
redis_pid=$!
for _ in $(seq 1 100); do
    redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
    kill -0 "$redis_pid" 2>/dev/null || die "redis-server exited: see $home/logs/redis.log"
    sleep 0.1
done
say "Redis on 127.0.0.1:$redis_port"

# ---- schema and demo data ----
"$bin/jivectl" migrate | sed 's/^/[jive] migrate: /'
demo="$home/demo-repo"
if [ ! -d "$demo/.git" ]; then
    bash "$top/deploy/demo-repo.sh" "$demo" >/dev/null
    say "created the demo BMAD repository in $demo"
fi
# story moves are pushed to this non-bare origin (also for a demo made by an older version)
git -C "$demo" config receive.denyCurrentBranch updateInstead
repo_url="file://$demo"
project_id=$(psql_q jive "SELECT id FROM projects WHERE repo_url = '$repo_url'")
if [ -z "$project_id" ]; then
    out=$("$bin/jivectl" project add --org demo --name demo --repo "$repo_url" --branch main)
    project_id=$(printf '%s\n' "$out" | head -n1)
    secret=$(printf '%s\n' "$out" | sed -n 's/^webhook secret (shown once): //p')
    printf 'JIVE_DEMO_WEBHOOK_SECRET=%s\n' "$secret" >> "$home/env"
    say "demo project $project_id registered"
fi
token=$("$bin/jivectl" token mint --sub demo-agent --name "Demo agent" --org demo --ttl 30d \
    --scopes "status:read projects:read stories:read conflicts:read gates:read runs:read jobs:read events:read kanban:write agents:write runs:write")
printf '%s\n' "$token" > "$home/agent-token"
chmod 600 "$home/agent-token"
if [ -n "$signin" ] && [ -n "${JIVE_SIGNIN_MEMBER:-}" ]; then
    "$bin/jivectl" member add --org demo --github "$JIVE_SIGNIN_MEMBER" --role developer |
        sed 's/^/[jive] /'
fi

cat <<EOT
[jive] ---------------------------------------------------------------------------------------
[jive] demo project: $project_id   repository: $repo_url
[jive] agent token (30 days, also in $home/agent-token):
$token
[jive] Claude Code:
  claude mcp add --transport http jive http://127.0.0.1:$mcp_port/mcp --header "Authorization: Bearer $token"
[jive] Cursor (~/.cursor/mcp.json):
  {"mcpServers":{"jive":{"url":"http://127.0.0.1:$mcp_port/mcp","headers":{"Authorization":"Bearer $token"}}}}
$(if [ -n "$signin" ]; then
    printf '[jive] sign-in with GitHub is on (callback http://127.0.0.1:%s/oauth/github/callback):\n' "$mcp_port"
    printf '  claude mcp add --transport http jive http://127.0.0.1:%s/mcp\n' "$mcp_port"
    printf '  (let someone in: jivectl member add --org demo --github LOGIN --role developer)\n'
else
    printf '[jive] sign-in with GitHub is off (set JIVE_GITHUB_CLIENT_ID/SECRET; docs/SIGN-IN.md)\n'
fi)
[jive] GitHub webhook URL for the demo project: http://127.0.0.1:$webhook_port/webhooks/github/$project_id
[jive] health: curl http://127.0.0.1:$mcp_port/health   (webhook :$webhook_port, orchestrator :$orch_port)
[jive] ---------------------------------------------------------------------------------------
EOT

# ---- the three services, logs prefixed ----
start_svc() { # name port prefix
    PORT=$2 "$bin/$1" > >(sed -u "s/^/[$3] /") 2>&1 &
    pids+=($!)
}
start_svc jive-mcp "$mcp_port" mcp
start_svc jive-webhook "$webhook_port" webhook
start_svc jive-orchestrator "$orch_port" orchestrator
say "running; Ctrl-C stops everything"
set +e
wait -n "${pids[@]}"
say "a service exited; shutting down the rest"
exit 1
