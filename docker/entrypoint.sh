#!/bin/sh
# `docker run IMAGE scheduler` runs `airflow scheduler` (as Airflow's image does); a command
# found on PATH (`bash`, `python`, `airflow`, `cleantech-ingest`, `celery`) runs as given.
set -e
if [ "$#" -eq 0 ]; then
  exec airflow version
fi
if command -v "$1" >/dev/null 2>&1; then
  exec "$@"
fi
exec airflow "$@"
