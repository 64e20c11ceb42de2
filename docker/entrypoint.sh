#!/bin/sh
# `docker run IMAGE scheduler` runs `airflow scheduler` (as Airflow's image does); a command
# found on PATH (`bash`, `python`, `airflow`, `cleantech`) runs as given. `celery …` is
# Airflow's (`airflow celery worker`), not the bare celery program the venv also has.
set -e
if [ "$#" -eq 0 ]; then
  exec airflow version
fi
if [ "$1" != celery ] && command -v "$1" >/dev/null 2>&1; then
  exec "$@"
fi
exec airflow "$@"
