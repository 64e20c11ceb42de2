# The cleantech warehouse image: Debian 12, Python 3.11 from Debian, and exactly the versions in
# uv.lock (core + the `deploy` extra: Celery and FAB providers, Postgres and Redis drivers), the
# same versions `make test` tests. No second resolution on top of another image's packages.
# Built by `docker compose build` (docker-compose.yml, docs/DEPLOY.md); works with the classic
# builder (Docker 20.10) and BuildKit.
#
# BASE_IMAGE: any Debian 12 image (`make deploy-test` imports one built with debootstrap when no
# image registry is reachable). UV_VERSION: uv from PyPI, the version the repo's tooling uses.
# A host that reaches PyPI only through its own CA: put the bundle at ./build-ca.pem (ignored by
# git) before the build; it is used in the build stage only and is not in the final image.
ARG BASE_IMAGE=debian:bookworm-slim

FROM ${BASE_IMAGE} AS build
ARG UV_VERSION=0.13.9
# A package index other than PyPI (a mirror), passed with --build-arg; empty = PyPI. Proxies use
# Docker's predefined HTTP_PROXY/HTTPS_PROXY/NO_PROXY build args.
ARG PIP_INDEX_URL=
ARG UV_DEFAULT_INDEX=
ENV DEBIAN_FRONTEND=noninteractive \
    UV_PYTHON=/usr/bin/python3.11 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/cleantech/.venv \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3.11 python3.11-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/cleantech
# `build-ca.pe[m]` matches nothing on a normal host: the COPY then copies only the lock files.
COPY pyproject.toml uv.lock README.md build-ca.pe[m] ./
COPY docker/with-build-env.sh /usr/local/bin/with-build-env
RUN with-build-env python3.11 -m venv /opt/uv \
 && with-build-env /opt/uv/bin/pip install --no-cache-dir --disable-pip-version-check "uv==${UV_VERSION}" \
 && with-build-env /opt/uv/bin/uv sync --frozen --extra deploy --no-install-project
# The project, installed editable so `cleantech.layout.REPO_ROOT` is /opt/cleantech (catalog, dbt
# project, demo snapshot). The triggerer imports `cleantech.orchestration.watcher` from here.
COPY ingest ./ingest
COPY expectations ./expectations
COPY cleantech ./cleantech
COPY pxweb_demo ./pxweb_demo
COPY dbt_project ./dbt_project
COPY dags ./dags
COPY catalog.yml ./
RUN with-build-env /opt/uv/bin/uv sync --frozen --extra deploy \
 && rm -f build-ca.pem

FROM ${BASE_IMAGE}
ENV DEBIAN_FRONTEND=noninteractive
# curl: the compose health checks; tini: PID 1 that forwards signals and reaps children.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3.11 ca-certificates curl tini \
 && rm -rf /var/lib/apt/lists/* /var/cache/debconf/*-old /usr/share/doc/* /usr/share/man/*
# Non-root, uid 50000 / gid 0 as in Airflow's image: compose may run it as any uid in group 0.
RUN useradd --uid 50000 --gid 0 --home-dir /home/airflow --create-home --shell /bin/bash airflow \
 && mkdir -p /opt/airflow/logs /data/warehouse /data/staging \
 && chown -R 50000:0 /opt/airflow /data /home/airflow \
 && chmod -R g+rwX /opt/airflow /data /home/airflow
COPY --from=build --chown=50000:0 /opt/cleantech /opt/cleantech
COPY docker/entrypoint.sh /usr/local/bin/cleantech-entrypoint
ENV PATH=/opt/cleantech/.venv/bin:$PATH \
    HOME=/home/airflow \
    AIRFLOW_HOME=/opt/airflow \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/cleantech/dags \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    CLEANTECH_WAREHOUSE=/data/warehouse/cleantech.duckdb \
    CLEANTECH_STAGING=/data/staging/cleantech.duckdb \
    PYTHONUNBUFFERED=1
WORKDIR /opt/cleantech
RUN python -c "import cleantech.orchestration.watcher, cleantech.orchestration.settings, ingest.datasets, airflow.providers.celery, airflow.providers.fab" \
 && airflow version && cleantech --help >/dev/null
USER 50000:0
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/cleantech-entrypoint"]
CMD ["airflow", "version"]
