#!/usr/bin/env bash
# `make pipeline`: start the local PxWeb server with the demo snapshot, run the CLI pipeline
# (ingest → dbt build → quality gate → publish) against it, print a few answers, stop the server
# (also on failure or Ctrl-C).
set -euo pipefail
cd "$(dirname "$0")/.."
port="${1:-${DEMO_PORT:-8123}}"
py=.venv/bin/python
[[ -x $py ]] || { echo "error: .venv is missing: run 'make install' first" >&2; exit 1; }
source scripts/demo_server.sh
trap stop_demo_server EXIT
trap 'echo "interrupted" >&2; exit 130' INT TERM
start_demo_server "$port"

"$py" -m cleantech pipeline --source demo
"$py" -m cleantech answers "${CLEANTECH_WAREHOUSE:-warehouse/cleantech.duckdb}"
