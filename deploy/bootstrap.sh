#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs the Debian packages JIVE's build, tests and `make run` need. Idempotent and quiet
# when everything is present; as root it installs what is missing, otherwise it prints the one
# apt-get line to run. The Dockerfile runs the same script on the same list
# (deploy/packages.txt): `--only build` in its build stage, `--only runtime` in the final one.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
role=
if [ "${1:-}" = "--only" ]; then
    role=${2:?"--only needs a role: build, runtime or dev"}
    case $role in build | runtime | dev) ;; *)
        echo "bootstrap: unknown role '$role' (build, runtime or dev)" >&2
        exit 2
        ;;
    esac
fi
mapfile -t wanted < <(grep -v '^\s*#' "$here/packages.txt" |
    awk -v role="$role" 'NF { for (i = 2; i <= NF; i++) if (role == "" || $i == role) { print $1; break } }')

missing=()
for p in "${wanted[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
# The tests' npm fixtures need node and npm; Debian's nodejs ships npm separately.
if [ -z "$role" ] || [ "$role" = dev ]; then
    command -v node >/dev/null 2>&1 || missing+=(nodejs)
    command -v npm >/dev/null 2>&1 || missing+=(npm)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "JIVE needs these Debian packages; run:" >&2
    echo "  sudo apt-get install -y ${missing[*]}" >&2
    exit 1
fi
echo "bootstrap: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Refresh the package lists unless they are recent (a fresh machine has none).
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -n1)" ]; then
    apt-get update -qq >/dev/null
fi
# No daemons are started for us: JIVE runs its own Postgres and Redis under .jive/ or a temp dir.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d.jive
chmod +x /usr/sbin/policy-rc.d.jive
if [ ! -e /usr/sbin/policy-rc.d ]; then
    cp /usr/sbin/policy-rc.d.jive /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
rm -f /usr/sbin/policy-rc.d.jive
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "bootstrap: done" >&2
