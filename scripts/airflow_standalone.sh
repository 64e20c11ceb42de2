#!/usr/bin/env bash
# `make airflow`: the Airflow UI on the project's DAGs (airflow standalone: scheduler, dag-processor,
# triggerer with the source watcher, api-server) plus the local PxWeb server for the demo source.
# Same metadata DB as `make run` (.airflow/, ignored), so its runs show up. Ctrl-C stops everything.
#   AIRFLOW_PORT=8080 DEMO_PORT=8123 bash scripts/airflow_standalone.sh
set -euo pipefail
cd "$(dirname "$0")/.."
port="${1:-${DEMO_PORT:-8123}}"
py=.venv/bin/python
[[ -x $py ]] || { echo "error: .venv is missing: run 'make install' first" >&2; exit 1; }

# standalone starts its components as `airflow …` subprocesses: the venv must be on PATH.
export PATH="$PWD/.venv/bin:$PATH"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$PWD/.airflow}"
export AIRFLOW__CORE__DAGS_FOLDER="$PWD/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="${AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION:-False}"
export AIRFLOW__API__PORT="${AIRFLOW_PORT:-8080}"
export AIRFLOW__API__HOST="${AIRFLOW__API__HOST:-127.0.0.1}"
# Task processes reach the execution API on the same (possibly non-default) port.
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://127.0.0.1:${AIRFLOW__API__PORT}/execution/"
# A few LocalExecutor workers are plenty (DuckDB writers run one at a time anyway).
export AIRFLOW__CORE__PARALLELISM="${AIRFLOW__CORE__PARALLELISM:-4}"
export CLEANTECH_SOURCE="${CLEANTECH_SOURCE:-demo}"
# Poll the demo server often so a `touch` shows the event-driven path within a minute.
export CLEANTECH_WATCH_INTERVAL="${CLEANTECH_WATCH_INTERVAL:-30}"
mkdir -p "$AIRFLOW_HOME"

source scripts/demo_server.sh
trap stop_demo_server EXIT

airflow db migrate >"$AIRFLOW_HOME/standalone-migrate.log" 2>&1 || {
  tail -20 "$AIRFLOW_HOME/standalone-migrate.log" >&2; exit 1; }
"$py" -m cleantech airflow pool
# DAGs that `make run` created are paused (Airflow's default), and a paused DAG's asset watcher is
# never started: make the project's DAGs active here, whatever created them first (issue 15).
"$py" -m cleantech airflow activate --log "$AIRFLOW_HOME/standalone-activate.log" || {
  echo "error: could not activate the DAGs (log: $AIRFLOW_HOME/standalone-activate.log)" >&2; exit 1; }

if [[ $CLEANTECH_SOURCE == demo ]]; then
  : >"$AIRFLOW_HOME/demo-server.log"
  # --control: the touch endpoint below simulates a publication (demo only, loopback only).
  start_demo_server "$port" "$AIRFLOW_HOME/demo-server.log" --control
  echo "local PxWeb server (demo snapshot): $PXWEB_BASE_URL"
  echo "  simulate a publication:  curl -X POST -H 'Content-Type: application/json' -d '{}' http://127.0.0.1:${port}/_control/tables/TAB638/touch"
fi
echo "Airflow UI: http://localhost:${AIRFLOW__API__PORT}  (user admin; password in" \
     "$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated)"

# standalone runs in its own session: on Ctrl-C only this script gets SIGINT and passes one SIGINT
# to standalone, which then stops each component with one SIGTERM (components that also got the
# terminal's SIGINT could hang in shutdown). SIGINT is reset to its default first: a shell started
# in the background ignores it, and Python would then never raise KeyboardInterrupt.
setsid "$py" -c 'import os, signal; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execvp("airflow", ["airflow", "standalone"])' &
standalone=$!
trap 'echo "stopping Airflow (this takes a few seconds) ..."; kill -INT "$standalone" 2>/dev/null || true' INT TERM
while kill -0 "$standalone" 2>/dev/null; do
  wait "$standalone" || true
done
echo "Airflow standalone stopped"
