#!/usr/bin/env bash
# `make run`: start the local PxWeb server with the demo snapshot, run the main job against it,
# stop the server (also on failure or Ctrl-C).
set -euo pipefail
port="${1:-8123}"
py=.venv/bin/python
export PXWEB_BASE_URL="http://127.0.0.1:${port}/api/v2"

# Someone else's server on the port would answer our health check: refuse a taken port up front.
if ! $py -c "import socket,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', int(sys.argv[1]))); s.close()" "$port" 2>/dev/null; then
  echo "error: port ${port} is already in use: stop what listens there, or pass another port (scripts/run_demo.sh PORT)" >&2
  exit 1
fi

$py -m ingest serve-demo --port "$port" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT INT TERM
healthy=0
for _ in $(seq 1 50); do
  kill -0 "$server" 2>/dev/null || { echo "error: the local PxWeb server did not start (port ${port} in use?)" >&2; exit 1; }
  if $py -c "import httpx,sys; httpx.get('${PXWEB_BASE_URL}/config', timeout=1).raise_for_status()" 2>/dev/null; then
    healthy=1
    break
  fi
  sleep 0.2
done
if [ "$healthy" != 1 ]; then
  echo "error: the local PxWeb server did not answer on ${PXWEB_BASE_URL} within 10 s" >&2
  exit 1
fi
# the answer must have come from our server, not from one that took the port meanwhile
sleep 0.3
kill -0 "$server" 2>/dev/null || { echo "error: the local PxWeb server exited (port ${port} in use?)" >&2; exit 1; }

$py -m ingest pipeline --source demo
$py -m ingest.dbt_runner "${CLEANTECH_WAREHOUSE:-warehouse/cleantech.duckdb}" --answers-only
