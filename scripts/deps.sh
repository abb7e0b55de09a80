#!/usr/bin/env bash
# Installs or starts what EventOps's commands need on a Debian-like machine:
# kcat, the PostgreSQL binaries (dev runs a private cluster from them) and,
# for the tests, a PostgreSQL server on 127.0.0.1:5432 and Chromium.
# Usage: scripts/deps.sh dev|test
set -euo pipefail
mode=${1:-dev}

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "deps: need root to run: $*" >&2; exit 1; fi
}

apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

command -v go >/dev/null || { echo "deps: Go is required (https://go.dev/dl/)" >&2; exit 1; }
command -v kcat >/dev/null || { echo "deps: installing kcat"; apt_install kcat; }
if ! command -v pg_ctl >/dev/null && ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  echo "deps: installing PostgreSQL"; apt_install postgresql
fi

if [ "$mode" = test ]; then
  command -v chromium >/dev/null || { echo "deps: installing chromium"; apt_install chromium; }
  if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    if command -v pg_ctlcluster >/dev/null && [ -n "$(ls /etc/postgresql 2>/dev/null)" ]; then
      echo "deps: starting PostgreSQL"
      as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start || true
    fi
  fi
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  pg_isready -q -h 127.0.0.1 -p 5432 || {
    echo "deps: no PostgreSQL at 127.0.0.1:5432 (set EVENTOPS_TEST_DATABASE_URL to use another)" >&2
    [ -n "${EVENTOPS_TEST_DATABASE_URL:-}" ] || exit 1; }
fi
