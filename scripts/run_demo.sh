#!/usr/bin/env bash
# `make run`: start the local PxWeb server with the demo snapshot, run the main job against it,
# stop the server (also on failure or Ctrl-C).
set -euo pipefail
port="${1:-8123}"
py=.venv/bin/python
export PXWEB_BASE_URL="http://127.0.0.1:${port}/api/v2"

$py -m ingest serve-demo --port "$port" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT INT TERM
for _ in $(seq 1 50); do
  if $py -c "import httpx,sys; httpx.get('${PXWEB_BASE_URL}/config', timeout=1).raise_for_status()" 2>/dev/null; then
    break
  fi
  kill -0 "$server" 2>/dev/null || { echo "error: the local PxWeb server did not start (port ${port} in use?)" >&2; exit 1; }
  sleep 0.2
done

$py -m ingest pipeline --source demo
$py -m ingest.dbt_runner "${CLEANTECH_WAREHOUSE:-warehouse/cleantech.duckdb}" --answers-only
