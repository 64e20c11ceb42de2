#!/usr/bin/env bash
# `make run` through Airflow: migrate a SQLite metadata DB under .airflow/ (ignored), start the local
# PxWeb server with the demo snapshot, run cleantech_ingest → cleantech_transform → cleantech_report
# with dag.test() (no scheduler), print where the warehouse and reports are, stop the server.
#   bash scripts/airflow_run.sh [PORT]     CLEANTECH_SOURCE=scb bash scripts/airflow_run.sh  (live SCB)
set -euo pipefail
cd "$(dirname "$0")/.."
port="${1:-${DEMO_PORT:-8123}}"
py=.venv/bin/python
[[ -x $py ]] || { echo "error: .venv is missing: run 'make install' first" >&2; exit 1; }

export AIRFLOW_HOME="${AIRFLOW_HOME:-$PWD/.airflow}"
export AIRFLOW__CORE__DAGS_FOLDER="$PWD/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export CLEANTECH_SOURCE="${CLEANTECH_SOURCE:-demo}"
mkdir -p "$AIRFLOW_HOME"
log="$AIRFLOW_HOME/airflow_run.log"
: >"$log"

source scripts/demo_server.sh
trap stop_demo_server EXIT
trap 'echo "interrupted" >&2; exit 130' INT TERM

started=$(date +%s)
echo "Airflow metadata DB: migrating $AIRFLOW_HOME/airflow.db"
if ! "$py" -m airflow db migrate >>"$log" 2>&1; then
  tail -20 "$log" >&2
  echo "error: airflow db migrate failed (full log: $log)" >&2
  exit 1
fi

if [[ $CLEANTECH_SOURCE == demo ]]; then
  start_demo_server "$port" "$log"
  echo "local PxWeb server (demo snapshot): $PXWEB_BASE_URL"
else
  echo "source: $CLEANTECH_SOURCE${PXWEB_BASE_URL:+ at $PXWEB_BASE_URL}"
fi

echo "running the DAGs with dag.test() (task logs: $log) ..."
status=0
"$py" -m cleantech airflow run --source "$CLEANTECH_SOURCE" >>"$log" 2>&1 || status=$?
# The summary the driver prints at the end; the task logs stay in the log file.
sed -n '/^DAG runs (dag.test):/,$p' "$log"
if [[ $status -ne 0 ]]; then
  grep -E '^(error: |FAILED )|\[error' "$log" | tail -5 >&2 || true
  echo "error: the Airflow run failed (full log: $log)" >&2
  exit "$status"
fi
echo
# A few answers from the marts, straight from the published file (read-only).
"$py" -m cleantech answers
echo "done in $(( $(date +%s) - started )) s"
