#!/usr/bin/env bash
# make up / down / reset / logs: Docker Compose when an engine answers, otherwise the same
# topology as local processes (one API server and two workers) under .stack/.
set -euo pipefail
cd "$(dirname "$0")/.."

COMPOSE=(docker compose -f docker/docker-compose.yml)
STACK=.stack
PY=.venv/bin/python
ORCH=.venv/bin/orchestrator
PORT="${ORCHESTRATOR_PORT:-8000}"
WORKER_TARGET="${WORKER_TARGET:-examples.handlers:handlers}"
DB_URL="${ORCHESTRATOR_DATABASE_URL:-${DATABASE_URL:-sqlite:///$PWD/$STACK/orchestrator.db}}"

have_docker() { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }

local_up() {
  mkdir -p "$STACK"
  if [ -f "$STACK/server.pid" ] && kill -0 "$(cat "$STACK/server.pid")" 2>/dev/null; then
    echo "already up (server pid $(cat "$STACK/server.pid")); make down first"; return 0
  fi
  case "$DB_URL" in postgresql*) "$ORCH" migrate --database-url "$DB_URL" ;; esac
  setsid "$ORCH" server --database-url "$DB_URL" --port "$PORT" >"$STACK/server.log" 2>&1 &
  echo $! >"$STACK/server.pid"
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  for n in 1 2; do
    ORCHESTRATOR_URL="http://127.0.0.1:$PORT" setsid "$ORCH" worker "$WORKER_TARGET" \
      --concurrency 10 >"$STACK/worker-$n.log" 2>&1 &
    echo $! >"$STACK/worker-$n.pid"
  done
  echo "up as local processes (no Docker engine here): API http://127.0.0.1:$PORT (dashboard /ui)"
  echo "database: ${DB_URL}; logs: make logs; stop: make down"
}

local_down() {
  for pidfile in "$STACK"/worker-*.pid "$STACK"/server.pid; do
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    # Workers hand their running jobs back on SIGTERM; give them their grace period.
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    rm -f "$pidfile"
  done
  echo "down"
}

case "${1:-}" in
  up) if have_docker; then "${COMPOSE[@]}" up -d --build; else local_up; fi ;;
  down) if have_docker; then "${COMPOSE[@]}" down; else local_down; fi ;;
  reset)
    if have_docker; then "${COMPOSE[@]}" down -v; else local_down; rm -rf "$STACK"; fi
    echo "reset: state removed" ;;
  logs)
    if have_docker; then "${COMPOSE[@]}" logs -f --tail=100
    else tail -n 100 -F "$STACK"/*.log; fi ;;
  *) echo "usage: $0 up|down|reset|logs" >&2; exit 2 ;;
esac
