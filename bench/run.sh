#!/usr/bin/env bash
# One command (`make bench`): this provider against node-oidc-provider, side by side, on loopback.
# Needs wrk, node/npm and (for the Redis row) redis-server; writes docs/BENCHMARKS.md (results
# block) and bench/results/. Settings: RUNS DURATION CONNS THREADS WARMUP USERS PORT BENCH_ONLY
# (see bench/bench.py). `bench/run.sh servers` compares WSGI servers instead (bench/servers.py).
set -euo pipefail
cd "$(dirname "$0")/.."
PEER_DIR=${PEER_DIR:-$(cd .. && pwd)/shared/bench-peer}
export PEER_DIR
if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
  else echo "bench: install wrk (apt-get install -y wrk)" >&2; exit 1; fi
fi
[ -d "$PEER_DIR" ] || { echo "bench: the peer is not at $PEER_DIR (set PEER_DIR)" >&2; exit 1; }
[ -d "$PEER_DIR/node_modules/oidc-provider" ] || (cd "$PEER_DIR" && npm install --no-audit --no-fund >/dev/null)
if [ -z "${BENCH_REDIS_URL:-}" ] && ! redis-cli -p 6379 ping >/dev/null 2>&1; then
  if command -v redis-server >/dev/null; then
    redis-server --port 6379 --save '' --appendonly no --daemonize yes >/dev/null
    trap 'redis-cli -p 6379 shutdown nosave >/dev/null 2>&1 || true' EXIT   # we started it: stop it
  else
    echo "bench: no Redis on :6379 and no redis-server; skipping the Redis row" >&2
    export BENCH_ONLY=${BENCH_ONLY:-"discovery jwks token_cc refresh signin"}
  fi
fi
if [ "${1:-}" = servers ]; then
  # gunicorn is only the comparison's other server, not a dependency of the provider
  [ -x .venv/bin/gunicorn ] || .venv/bin/pip install -q 'gunicorn>=22'
  .venv/bin/python bench/servers.py
else
  .venv/bin/python bench/bench.py
fi
