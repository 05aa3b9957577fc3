#!/usr/bin/env bash
# Make this machine able to run the browser test (tests/docker/test_browser.py),
# idempotently: Debian's Chromium and its driver from apt. No browser is downloaded
# (`playwright install` is never run): Playwright, a dev dependency in pyproject.toml,
# drives /usr/bin/chromium through `executable_path`. Skipped when already installed.
#
# Env: TAXI_ETL_CHROMIUM (default /usr/bin/chromium), the browser the test uses.
set -euo pipefail

CHROMIUM="${TAXI_ETL_CHROMIUM:-/usr/bin/chromium}"
log() { printf '[browser-setup] %s\n' "$*" >&2; }
as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

start=$(date +%s)
if [ ! -x "$CHROMIUM" ] || ! command -v chromedriver >/dev/null 2>&1; then
    log "installing chromium and chromium-driver (apt)"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends \
        chromium chromium-driver >/dev/null
fi
# Debian's launcher script prints a harmless shell warning on stderr; the version is
# on stdout, and a broken install fails here rather than in the test.
version="$("$CHROMIUM" --version 2>/dev/null)"
log "$version at $CHROMIUM ($(($(date +%s) - start))s)"
