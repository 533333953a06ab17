#!/usr/bin/env bash
# Installs what `make run` / `make test` need on a fresh Debian machine (as
# root), or says exactly what to install. Usage: ensure-deps.sh [redis] [chromium] [spa]
set -euo pipefail
cd "$(dirname "$0")/.."

need_go() {
  command -v go >/dev/null || { echo "missing: Go 1.26+ (https://go.dev/dl) on PATH" >&2; exit 1; }
}
need_node() {
  command -v node >/dev/null && command -v npm >/dev/null || {
    echo "missing: Node.js 20+ and npm: apt-get install -y nodejs npm" >&2; exit 1; }
}

apt_updated=
apt_install() { # package binary
  command -v "$2" >/dev/null && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing $1 (apt-get)"
    [ -n "$apt_updated" ] || { DEBIAN_FRONTEND=noninteractive apt-get update -qq; apt_updated=1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null
  else
    echo "missing: $2 — install it with: sudo apt-get install -y $1" >&2; exit 1
  fi
}

need_go
for dep in "$@"; do
  case "$dep" in
    redis) apt_install redis-server redis-server ;;
    chromium)
      apt_install chromium chromium
      # Emoji (reactions) in the browser tests' pictures; the tests pass without.
      if ! dpkg -s fonts-noto-color-emoji >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "installing fonts-noto-color-emoji (apt-get)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-noto-color-emoji >/dev/null || echo "ensure-deps: no emoji font; pictures show boxes for reactions" >&2
      fi ;;
    spa)
      need_node
      # npm ci only when the lock changed since the last install.
      if [ ! -f spa/node_modules/.package-lock.json ] || [ spa/package-lock.json -nt spa/node_modules/.package-lock.json ]; then
        (cd spa && npm ci --no-audit --no-fund --loglevel=error)
      fi ;;
    netns)
      # ip and tc for the constrained-link test (a network namespace behind
      # tbf); without them, or without root, that test skips and says so.
      if ! command -v tc >/dev/null || ! command -v ip >/dev/null; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
          echo "installing iproute2 (apt-get)"
          [ -n "$apt_updated" ] || { DEBIAN_FRONTEND=noninteractive apt-get update -qq; apt_updated=1; }
          DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 >/dev/null || echo "ensure-deps: no iproute2; the constrained-link test will skip" >&2
        else
          echo "ensure-deps: ip/tc missing (apt-get install -y iproute2, as root); the constrained-link test will skip" >&2
        fi
      fi ;;
    *) echo "ensure-deps: unknown dependency $dep" >&2; exit 2 ;;
  esac
done
