#!/usr/bin/env bash
# `make run`: start the local PxWeb server with the demo snapshot, run the main job against it,
# stop the server (also on failure or Ctrl-C).
set -euo pipefail
port="${1:-8123}"
py=.venv/bin/python
source "$(dirname "$0")/demo_server.sh"
server=""
trap '[[ -n $server ]] && { kill $server 2>/dev/null; wait $server 2>/dev/null; }; true' EXIT INT TERM
start_demo_server "$port"

$py -m ingest pipeline --source demo
$py -m ingest.dbt_runner "${CLEANTECH_WAREHOUSE:-warehouse/cleantech.duckdb}" --answers-only
