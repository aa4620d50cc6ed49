#!/usr/bin/env bash
# Make sure the services the test suite needs are available on this machine.
#
#   scripts/ensure-services.sh              check (and, as root, set up) every service
#   scripts/ensure-services.sh postgres     only the named ones (see SERVICES below)
#
# Idempotent and silent when everything is already fine. As root it installs and starts
# what is missing (Debian/apt); otherwise it prints the exact commands to run and exits 1.
#
# To add a service: write an ensure_<name> function that returns 0 when the service is
# usable (printing nothing) and non-zero after explaining what is wrong, then add <name>
# to SERVICES.
set -euo pipefail

SERVICES=(postgres embedded_postgres docker sandbox_runtimes runtime_images redis chromium)

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV_PYTHON="${VENV_PYTHON:-$REPO_ROOT/.venv/bin/python}"

PG_URL="postgresql://postgres@127.0.0.1:5432/postgres"
PG_HOST=127.0.0.1
PG_PORT=5432
PG_HBA_MARKER="# added by offcoder scripts/ensure-services.sh: local TCP for the tests"

say() { printf 'ensure-services: %s\n' "$*"; }
err() { printf 'ensure-services: error: %s\n' "$*" >&2; }
is_root() { [[ "$(id -u)" == 0 ]]; }

apt_install() {
    say "installing $* with apt-get"
    apt-get update
    # C.UTF-8 (built into Debian 12's glibc) so that a new cluster is created with UTF8 encoding.
    DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 LC_ALL=C.UTF-8 apt-get install -y "$@"
}

deb_installed() {
    [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

# ---------------------------------------------------------------------------------------------
# postgres: the machine's PostgreSQL service on 127.0.0.1:5432, user postgres, no password
# (used by `make test-external`).

pg_accepts() {
    command -v psql >/dev/null 2>&1 || return 1
    PGCONNECT_TIMEOUT=5 psql -X -w -q -t -A "$PG_URL" -c 'select 1' >/dev/null 2>&1
}

pg_ready() {
    command -v pg_isready >/dev/null 2>&1 || return 1
    pg_isready -q -h "$PG_HOST" -p "$PG_PORT" -t 2 >/dev/null 2>&1
}

# Newest version that has a cluster configuration, else the newest installed server.
pg_version() {
    local v
    v="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1 || true)"
    if [[ -z "$v" ]]; then
        v="$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n 1 || true)"
    fi
    printf '%s' "$v"
}

pg_diagnostics() {
    command -v pg_lsclusters >/dev/null 2>&1 && pg_lsclusters >&2 || true
    local v log
    v="$(pg_version)"
    log="/var/log/postgresql/postgresql-$v-main.log"
    if [[ -n "$v" && -r "$log" ]]; then
        printf -- '--- last lines of %s ---\n' "$log" >&2
        tail -n 20 "$log" >&2 || true
    fi
}

pg_print_instructions() {
    err "no PostgreSQL accepts '$PG_URL' and this script is not running as root."
    cat >&2 <<INSTRUCTIONS
Either run this script as root:

    sudo $REPO_ROOT/scripts/ensure-services.sh

or run these commands yourself:

INSTRUCTIONS
    if ! deb_installed postgresql; then
        printf '    sudo apt-get update && sudo apt-get install -y postgresql\n' >&2
    fi
    # shellcheck disable=SC2016  # printed for the user to run, expanded by their shell
    cat >&2 <<'INSTRUCTIONS'
    PGV="$(ls /etc/postgresql | sort -V | tail -n 1)"
    sudo pg_ctlcluster --skip-systemctl-redirect "$PGV" main start
    psql postgresql://postgres@127.0.0.1:5432/postgres -c 'select 1' || {
      sudo sed -i '1i host all postgres 127.0.0.1/32 trust\nhost all postgres ::1/128 trust' "/etc/postgresql/$PGV/main/pg_hba.conf"
      sudo pg_ctlcluster "$PGV" main reload
    }
INSTRUCTIONS
}

pg_trust_local_tcp() {
    local hba="$1" tmp
    if grep -qxF "host all postgres 127.0.0.1/32 trust" "$hba"; then
        return 0
    fi
    say "allowing password-less TCP connections from localhost for user postgres in $hba"
    tmp="$(mktemp)"
    {
        printf '%s\n' "$PG_HBA_MARKER"
        printf 'host all postgres 127.0.0.1/32 trust\n'
        printf 'host all postgres ::1/128 trust\n'
        cat "$hba"
    } >"$tmp"
    cat "$tmp" >"$hba" # keep the file's owner and mode
    rm -f "$tmp"
}

ensure_postgres() {
    pg_accepts && return 0

    if ! is_root; then
        pg_print_instructions
        return 1
    fi

    if ! deb_installed postgresql; then
        apt_install postgresql
    fi

    local v
    v="$(pg_version)"
    if [[ -z "$v" ]]; then
        err "the postgresql package is installed but no server version was found under /usr/lib/postgresql"
        return 1
    fi
    if [[ ! -d "/etc/postgresql/$v/main" ]]; then
        say "creating PostgreSQL $v cluster 'main'"
        LANG=C.UTF-8 LC_ALL=C.UTF-8 pg_createcluster "$v" main >/dev/null
    fi

    if ! pg_ctlcluster "$v" main status >/dev/null 2>&1; then
        say "starting PostgreSQL $v cluster 'main'"
        pg_ctlcluster --skip-systemctl-redirect "$v" main start
    fi

    local i
    for ((i = 0; i < 30; i++)); do
        pg_ready && break
        sleep 1
    done
    if ! pg_ready; then
        err "PostgreSQL $v/main is not accepting connections on $PG_HOST:$PG_PORT after 30 s"
        pg_diagnostics
        return 1
    fi

    pg_accepts && return 0

    local hba="/etc/postgresql/$v/main/pg_hba.conf"
    if [[ ! -f "$hba" ]]; then
        err "cannot connect to '$PG_URL' and $hba does not exist"
        return 1
    fi
    pg_trust_local_tcp "$hba"
    pg_ctlcluster "$v" main reload
    for ((i = 0; i < 10; i++)); do
        pg_accepts && return 0
        sleep 1
    done
    err "PostgreSQL $v/main is running but '$PG_URL' still fails:"
    PGCONNECT_TIMEOUT=5 psql -X -w "$PG_URL" -c 'select 1' >&2 || true
    pg_diagnostics
    return 1
}

# ---------------------------------------------------------------------------------------------
# embedded_postgres: the PostgreSQL bundled in the pgserver wheel (the default for the tests
# and for `offcoder serve --dev`). Nothing to install: this starts one in a temporary
# directory and runs `select 1` (as root, pgserver runs it as a system user "pgserver" that it
# creates with useradd).

ensure_embedded_postgres() {
    if [[ ! -x "$VENV_PYTHON" ]]; then
        say "embedded PostgreSQL not checked: $VENV_PYTHON is missing (run 'make install' first)"
        return 0
    fi
    if is_root && ! id pgserver >/dev/null 2>&1 && ! command -v useradd >/dev/null 2>&1; then
        err "running as root, pgserver needs 'useradd' (Debian package passwd) to create its 'pgserver' user"
        return 1
    fi
    local out
    if ! out="$(cd / && timeout 120 "$VENV_PYTHON" -W ignore - 2>&1 <<'PY'
import pathlib
import tempfile

import pgserver

with tempfile.TemporaryDirectory(prefix="offcoder-pgcheck-", ignore_cleanup_errors=True) as d:
    server = pgserver.get_server(pathlib.Path(d), cleanup_mode="delete")
    out = server.psql("select 1")
    if "1 row" not in out:
        raise SystemExit(f"unexpected answer from the embedded PostgreSQL: {out!r}")
PY
    )"; then
        err "the embedded PostgreSQL (pgserver) could not start and answer 'select 1':"
        printf '%s\n' "$out" >&2
        return 1
    fi
}

# ---------------------------------------------------------------------------------------------
# docker: a Docker engine answering on its default socket (the sandbox runtime and its tests).
# There is no systemd on these machines: as root this starts dockerd in the background with its
# log in /var/log/offcoder-dockerd.log (or uses 'service docker start' when that works).

DOCKERD_LOG=/var/log/offcoder-dockerd.log

docker_answers() {
    command -v docker >/dev/null 2>&1 || return 1
    timeout 10 docker version --format '{{.Server.Version}}' >/dev/null 2>&1
}

docker_print_instructions() {
    err "no Docker engine answers 'docker version' and this script is not running as root."
    cat >&2 <<INSTRUCTIONS
Either run this script as root:

    sudo $REPO_ROOT/scripts/ensure-services.sh docker runtime_images

or run these commands yourself:

INSTRUCTIONS
    if ! command -v dockerd >/dev/null 2>&1; then
        printf '    sudo apt-get update && sudo apt-get install -y docker.io mmdebstrap\n' >&2
    fi
    cat >&2 <<INSTRUCTIONS
    sudo service docker start || sudo sh -c 'nohup dockerd >>$DOCKERD_LOG 2>&1 &'
    sudo usermod -aG docker "\$USER"   # then log in again, to use docker without sudo
INSTRUCTIONS
}

ensure_docker() {
    if is_root && ! command -v mmdebstrap >/dev/null 2>&1 && ! command -v debootstrap >/dev/null 2>&1; then
        # `offcoder runtime images` bootstraps a Debian root filesystem with it.
        apt_install mmdebstrap
    fi
    docker_answers && return 0

    if ! is_root; then
        docker_print_instructions
        return 1
    fi

    if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
        apt_install docker.io
    fi
    docker_answers && return 0 # the package's own start may have worked

    say "starting the Docker engine"
    if ! { command -v service >/dev/null 2>&1 && service docker start >/dev/null 2>&1 && sleep 2 && docker_answers; }; then
        if pidof dockerd >/dev/null 2>&1; then
            say "a dockerd process exists but does not answer yet; waiting for it"
        else
            say "starting dockerd in the background (log: $DOCKERD_LOG)"
            # setsid: its own session, so it outlives this script and the make that ran it.
            setsid nohup dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
        fi
    fi

    local i
    for ((i = 0; i < 60; i++)); do
        docker_answers && return 0
        sleep 1
    done
    err "the Docker engine does not answer after 60 s"
    if [[ -r "$DOCKERD_LOG" ]]; then
        printf -- '--- last lines of %s ---\n' "$DOCKERD_LOG" >&2
        tail -n 20 "$DOCKERD_LOG" >&2 || true
    fi
    return 1
}

# ---------------------------------------------------------------------------------------------
# sandbox_runtimes: the OCI runtimes a sandbox may run under (OFFCODER_SANDBOX_RUNTIME; decision
# 0022), registered with the engine under the names the hardening policy writes into every
# create body (runtime/policy.py ENGINE_RUNTIMES):
# Not --oci-seccomp: gVisor's own reading of the engine's profile answers clone3 with EPERM
# where the profile says ENOSYS, so glibc never falls back to clone and no thread can start.
# gVisor's kernel is itself confined by the seccomp filter runsc puts on it.
#   runsc      gVisor, ptrace platform (its KVM platform hangs on these machines), no network:
#              for jobs with network mode none
#   runsc-net  gVisor, ptrace platform, the network of the job's own namespace: preview, egress
#              (Debian 12's runsc cannot start its own network stack on newer kernels: it takes
#              every network namespace for the host's, see docs/operations.md)
#   crun       crun
# The engine reloads its runtimes on SIGHUP: running containers are not touched.

DAEMON_JSON=/etc/docker/daemon.json
RUNSC_ARGS='["--platform=ptrace"]'

runtimes_registered() {
    # The names, and gVisor's arguments exactly as below: an older registration (one with
    # --oci-seccomp, under which no thread can start) is replaced.
    timeout 10 docker info --format '{{json .Runtimes}}' 2>/dev/null | python3 -c '
import json, sys
runtimes, base = json.load(sys.stdin), json.loads(sys.argv[1])
ok = {"runsc", "runsc-net", "crun"} <= set(runtimes) and all(
    runtimes[name].get("runtimeArgs") == base + [extra]
    for name, extra in (("runsc", "--network=none"), ("runsc-net", "--network=host"))
)
sys.exit(0 if ok else 1)' "$RUNSC_ARGS"
}

sandbox_runtimes_print_instructions() {
    err "the engine does not offer the sandbox runtimes runsc, runsc-net and crun, and this script is not running as root."
    cat >&2 <<INSTRUCTIONS
Either run this script as root:

    sudo $REPO_ROOT/scripts/ensure-services.sh docker sandbox_runtimes

or install them and add to the "runtimes" of $DAEMON_JSON (keeping what is there), then
reload the engine (SIGHUP: running containers are not touched):

    sudo apt-get install -y runsc crun
    {
      "runtimes": {
        "runsc":     {"path": "/usr/bin/runsc", "runtimeArgs": ["--platform=ptrace", "--network=none"]},
        "runsc-net": {"path": "/usr/bin/runsc", "runtimeArgs": ["--platform=ptrace", "--network=host"]},
        "crun":      {"path": "/usr/bin/crun"}
      }
    }
    sudo kill -HUP "\$(pidof dockerd)"
INSTRUCTIONS
}

ensure_sandbox_runtimes() {
    docker_answers || {
        err "sandbox runtimes: the Docker engine does not answer (see the docker service above)"
        return 1
    }
    command -v runsc >/dev/null 2>&1 && command -v crun >/dev/null 2>&1 && runtimes_registered && return 0
    if ! is_root; then
        sandbox_runtimes_print_instructions
        return 1
    fi
    if ! command -v runsc >/dev/null 2>&1 || ! command -v crun >/dev/null 2>&1; then
        apt_install runsc crun
    fi
    say "registering the sandbox runtimes runsc, runsc-net and crun with the engine ($DAEMON_JSON)"
    mkdir -p "$(dirname "$DAEMON_JSON")"
    # A merge, not a rewrite: an operator's other settings and runtimes stay.
    python3 - "$DAEMON_JSON" "$(command -v runsc)" "$(command -v crun)" "$RUNSC_ARGS" <<'PY'
import json, os, sys
path, runsc, crun, args = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
config = {}
if os.path.exists(path) and open(path).read().strip():
    config = json.load(open(path))
runtimes = config.setdefault("runtimes", {})
runtimes["runsc"] = {"path": runsc, "runtimeArgs": args + ["--network=none"]}
runtimes["runsc-net"] = {"path": runsc, "runtimeArgs": args + ["--network=host"]}
runtimes["crun"] = {"path": crun}
draft = path + ".offcoder-draft"
with open(draft, "w") as out:
    json.dump(config, out, indent=2)
    out.write("\n")
os.replace(draft, path)
PY
    local pid
    pid="$(pidof dockerd || true)"
    if [[ -z "$pid" ]]; then
        err "sandbox runtimes: no dockerd process to reload; restart the engine to load $DAEMON_JSON"
        return 1
    fi
    kill -HUP $pid
    local i
    for ((i = 0; i < 20; i++)); do
        runtimes_registered && return 0
        sleep 0.5
    done
    err "the engine did not load the sandbox runtimes from $DAEMON_JSON (see $DOCKERD_LOG)"
    return 1
}

# ---------------------------------------------------------------------------------------------
# runtime_images: the sandbox images (offcoder/python, offcoder/node), built locally without a
# registry by `offcoder runtime images` (a no-op when they exist and are current; the first
# build takes a few minutes and needs root).

ensure_runtime_images() {
    local offcoder="$REPO_ROOT/.venv/bin/offcoder"
    if [[ ! -x "$offcoder" ]]; then
        say "runtime images not checked: $offcoder is missing (run 'make install' first)"
        return 0
    fi
    docker_answers || {
        err "runtime images: the Docker engine does not answer (see the docker service above)"
        return 1
    }
    "$offcoder" runtime images
}

# ---------------------------------------------------------------------------------------------
# redis: a Redis on 127.0.0.1:6379 for the Socket.IO replica test (python-socketio's Redis
# manager). The machine's service if it answers; otherwise, as root, the redis-server package,
# started as its service or, where no init system runs, as a daemon bound to loopback.

REDIS_PORT=6379

redis_answers() {
    "$VENV_PYTHON" - "$REDIS_PORT" <<'PY' >/dev/null 2>&1
import socket, sys
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2) as s:
    s.sendall(b"PING\r\n")
    assert s.recv(16).startswith(b"+PONG")
PY
}

ensure_redis() {
    redis_answers && return 0
    if ! is_root; then
        err "no Redis answers on 127.0.0.1:$REDIS_PORT. Run:"
        err "    sudo apt-get update && sudo apt-get install -y redis-server"
        err "    sudo service redis-server start"
        return 1
    fi
    command -v redis-server >/dev/null 2>&1 || apt_install redis-server
    service redis-server start >/dev/null 2>&1 || true
    if ! redis_answers; then
        say "starting redis-server as a daemon on 127.0.0.1:$REDIS_PORT"
        redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" \
            --appendonly no >/dev/null
    fi
    for _ in $(seq 1 50); do
        redis_answers && return 0
        sleep 0.1
    done
    err "redis-server did not answer on 127.0.0.1:$REDIS_PORT"
    return 1
}

# ---------------------------------------------------------------------------------------------
# chromium: the browser the web console's end-to-end tests drive with Playwright (Debian's
# `chromium` package, launched by its path; Playwright never downloads a browser here).

ensure_chromium() {
    if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
        return 0
    fi
    if ! is_root; then
        err "Chromium is missing. Run:"
        err "    sudo apt-get update && sudo apt-get install -y chromium"
        return 1
    fi
    apt_install chromium
}

# ---------------------------------------------------------------------------------------------

main() {
    local wanted=("$@") name status=0
    if ((${#wanted[@]} == 0)); then
        wanted=("${SERVICES[@]}")
    fi
    for name in "${wanted[@]}"; do
        name="${name//-/_}"
        if [[ " ${SERVICES[*]} " != *" $name "* ]]; then
            err "unknown service '$name' (known: ${SERVICES[*]})"
            return 2
        fi
        "ensure_$name" || status=1
    done
    return "$status"
}

main "$@"
