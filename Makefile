# The front door. `make run` and `make test` work on a fresh clone with only Python 3.11 and the
# package registries: both create .venv/ and install the locked stack first.
SHELL := /bin/bash
PY := .venv/bin/python
UV := .venv/bin/uv
DEMO_PORT ?= 8123
export AIRFLOW_HOME ?= $(CURDIR)/.airflow

.PHONY: run pipeline test test-faults lint bench clean install airflow report serve-demo bi test-bi deploy-test

install: .venv/.installed

.venv/.installed: pyproject.toml uv.lock
	@test -x $(PY) || python3 -m venv .venv
	@test -x $(UV) || $(PY) -m pip install --quiet --disable-pip-version-check uv
	UV_PROJECT_ENVIRONMENT=.venv $(UV) sync --frozen --inexact --all-extras --quiet
	@touch $@

# The main job through Airflow: migrate a SQLite metadata DB under .airflow/, start the local PxWeb
# server with the demo snapshot, run the DAGs in order (ingest → transform → report), stop the server.
run: install
	@bash scripts/airflow_run.sh $(DEMO_PORT)

# The same chain without Airflow (cleantech pipeline), against the local server.
pipeline: install
	@bash scripts/run_demo.sh $(DEMO_PORT)

# Airflow's UI with the project's DAGs (airflow standalone); Ctrl-C stops it cleanly.
airflow: install
	@bash scripts/airflow_standalone.sh $(DEMO_PORT)

# The report test draws charts in headless Chromium: install it first where it is missing (root on
# Debian/Ubuntu), or stop with one line saying what to install (scripts/ensure_chromium.sh).
test: install
	@bash scripts/ensure_chromium.sh
	$(PY) -m pytest -m "not faults"

# The crash suite (about 5 min): runs SIGKILLed inside each core step, an Airflow task timeout and
# a lost worker, on the CLI and the dag.test() paths (tests marked `faults`). CI runs it too.
test-faults: install
	$(PY) -m pytest -m faults -p no:cacheprovider --durations=0

# Apache Superset on 127.0.0.1:$(BI_PORT) with the published warehouse (read-only) and the dashboard
# from bi/superset/dashboard/; own virtualenv and state under .bi/ (docs/BI.md). Ctrl-C stops it.
BI_PORT ?= 8088
bi: install
	@bash scripts/bi.sh $(BI_PORT)

# The BI suite (slow: installs Superset into .bi/venv once): make bi's Superset against a fresh demo
# publish, through its REST API; phases timed.
test-bi: install
	CLEANTECH_TEST_BI=1 $(PY) -m pytest tests/bi -x -q -p no:cacheprovider --durations=0
# The docker-compose deployment built, run, broken on purpose and removed (tests/deploy/run.sh;
# as root it installs Docker and starts dockerd when missing). Prints each phase's time.
deploy-test: install
	@bash tests/deploy/run.sh

lint: install
	$(PY) -m ruff check ingest expectations cleantech pxweb_demo dags tests bench bi scripts
	$(PY) -m ruff format --check ingest expectations cleantech pxweb_demo dags tests bench bi scripts
	$(PY) -m mypy
	.venv/bin/lint-imports --no-cache
	CLEANTECH_DBT_PATH=$${TMPDIR:-/tmp}/cleantech-sqlfluff.duckdb .venv/bin/sqlfluff lint dbt_project/models dbt_project/tests dbt_project/analyses

bench: install
	$(PY) bench/run_all.py

# The HTML report from the published warehouse (the pipeline also writes it, and Parquet, on publish).
report: install
	$(PY) -m cleantech report

serve-demo: install
	$(PY) -m cleantech serve-demo --port $(DEMO_PORT)

clean:
	rm -rf warehouse .airflow dbt_project/target dbt_project/logs .pytest_cache .ruff_cache .mypy_cache .hypothesis
