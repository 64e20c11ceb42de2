# The cleantech warehouse on Airflow's official image: the project (ingest, expectations,
# dbt_project, catalog.yml, dags) installed at /opt/cleantech, its dependencies from uv.lock.
# Built by `docker compose build` (see docker-compose.yml and docs/DEPLOY.md).
ARG AIRFLOW_VERSION=3.3.2
ARG PYTHON_VERSION=3.11

FROM ghcr.io/astral-sh/uv:0.13.9 AS uv

FROM apache/airflow:${AIRFLOW_VERSION}-python${PYTHON_VERSION}
ARG AIRFLOW_VERSION

USER root
RUN mkdir -p /opt/cleantech /data/warehouse /data/staging \
 && chown -R airflow:0 /opt/cleantech /data \
 && chmod -R g+rwX /opt/cleantech /data
COPY --from=uv /uv /usr/local/bin/uv
USER airflow
WORKDIR /opt/cleantech

# 1. Third-party dependencies, pinned by the lock (this layer is cached until the lock changes).
#    Airflow itself stays at the image's version; the lock pins the same release.
COPY --chown=airflow:0 pyproject.toml uv.lock README.md ./
RUN uv export --frozen --no-dev --no-hashes --no-emit-project --format requirements-txt \
        -o /tmp/requirements.txt \
 && pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

# 2. The project, installed editable so `cleantech.layout.REPO_ROOT` is /opt/cleantech (catalog,
#    dbt project, demo snapshot). The triggerer imports `cleantech.orchestration.watcher` from here.
COPY --chown=airflow:0 ingest ./ingest
COPY --chown=airflow:0 expectations ./expectations
COPY --chown=airflow:0 cleantech ./cleantech
COPY --chown=airflow:0 pxweb_demo ./pxweb_demo
COPY --chown=airflow:0 dbt_project ./dbt_project
COPY --chown=airflow:0 dags ./dags
COPY --chown=airflow:0 catalog.yml ./
RUN pip install --no-cache-dir --no-deps -e . \
 && chmod -R g+rwX /opt/cleantech \
 && python -c "import cleantech.orchestration.watcher, cleantech.orchestration.settings, ingest.datasets"

ENV AIRFLOW__CORE__DAGS_FOLDER=/opt/cleantech/dags \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    CLEANTECH_WAREHOUSE=/data/warehouse/cleantech.duckdb \
    CLEANTECH_STAGING=/data/staging/cleantech.duckdb
