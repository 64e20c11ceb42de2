#!/usr/bin/env bash
# `make deploy-test`: build the image, run the docker-compose deployment (two Celery workers, the
# demo PxWeb server), drive it through the REST API, break it on purpose, and tear it down.
# Needs root (or a user in the docker group with the tools installed). See docs/DEPLOY.md,
# "Running the deploy test". Phases and their times are printed by tests/deploy/scenario.py.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
here=$repo/tests/deploy
export COMPOSE_PROJECT_NAME=${COMPOSE_PROJECT_NAME:-cleantech-deploytest}
started=$(date +%s)
phase() { printf '\n== %s (t=%ds)\n' "$1" $(($(date +%s) - started)); }

phase "host: docker engine, docker-compose, debootstrap"
missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v docker-compose >/dev/null || docker compose version >/dev/null 2>&1 || missing+=(docker-compose)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if ((${#missing[@]})); then
  [[ $(id -u) == 0 ]] || { echo "error: install ${missing[*]} (needs root)" >&2; exit 1; }
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if ! docker info >/dev/null 2>&1; then
  [[ $(id -u) == 0 ]] || { echo "error: the Docker engine is not running (start dockerd)" >&2; exit 1; }
  log=${TMPDIR:-/tmp}/cleantech-dockerd.log
  echo "starting dockerd (log: $log)"
  nohup dockerd >"$log" 2>&1 &
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { tail -n 20 "$log" >&2; exit 1; }
fi
docker version --format 'docker engine {{.Server.Version}}'

phase "images: Debian base, Postgres, Redis (stand-ins when no registry answers)"
# pull IMAGE: true when the image is here or could be pulled (bounded: no registry may answer).
pull() { docker image inspect "$1" >/dev/null 2>&1 || timeout 60 docker pull -q "$1" >/dev/null 2>&1; }
base=${BASE_IMAGE:-debian:bookworm-slim}
if ! pull "$base"; then
  base=cleantech-deploytest/debian:bookworm
  "$here/base_image.sh" "$base"
fi
postgres=${POSTGRES_IMAGE:-postgres:16}
if ! pull "$postgres"; then
  postgres=cleantech-deploytest/postgres:15-debian
  docker build -q --build-arg BASE_IMAGE="$base" -t "$postgres" "$here/images/postgres" >/dev/null
fi
redis=${REDIS_IMAGE:-redis:7.2-bookworm}
if ! pull "$redis"; then
  redis=cleantech-deploytest/redis:7-debian
  docker build -q --build-arg BASE_IMAGE="$base" -t "$redis" "$repo/tests/deploy/images/redis" >/dev/null
fi
echo "base $base, postgres $postgres, redis $redis"

work=$(mktemp -d "${TMPDIR:-/tmp}/cleantech-deploytest.XXXXXX")
cleanup() {
  rm -f "$repo/build-ca.pem"
  if [[ -n ${CLEANTECH_DEPLOYTEST_KEEP:-} ]]; then
    echo "kept: $work (.env, warehouse); remove with: docker-compose -p $COMPOSE_PROJECT_NAME --env-file $work/.env --profile demo down -v"
    return
  fi
  # The scenario tears the deployment down itself (and times it); this is the safety net.
  if [[ -f $work/.env ]]; then
    (cd "$repo" && compose_cmd --env-file "$work/.env" --profile demo --profile analyst \
      down -v --remove-orphans >/dev/null 2>&1) || true
  fi
  rm -rf "$work"
}
compose_cmd() {
  if docker compose version >/dev/null 2>&1; then docker compose "$@"; else docker-compose "$@"; fi
}
trap cleanup EXIT

# A host that reaches PyPI only through its own CA bundle: hand it to the build stage (removed on
# exit, ignored by git, absent from the final image).
if [[ -n ${SSL_CERT_FILE:-} && -f $SSL_CERT_FILE ]]; then
  cp "$SSL_CERT_FILE" "$repo/build-ca.pem"
fi

# A throwaway .env with fresh secrets, the stand-in images, the demo source, a short watch
# interval, the API on loopback only (a free port), and the warehouse in the work folder.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 - "$work/.env" <<PY
import base64, os, secrets, sys
tok = lambda: secrets.token_urlsafe(64)  # 86 characters (the JWT secret needs 64+ bytes)
values = {
    "CLEANTECH_IMAGE": "cleantech-deploytest/airflow:latest",
    "BASE_IMAGE": "$base", "POSTGRES_IMAGE": "$postgres", "REDIS_IMAGE": "$redis",
    "AIRFLOW_UID": "50000", "AIRFLOW_API_BIND": "127.0.0.1", "AIRFLOW_API_PORT": "$port",
    "CLEANTECH_WAREHOUSE_DIR": "$work/warehouse",
    "POSTGRES_USER": "airflow", "POSTGRES_PASSWORD": tok(), "POSTGRES_DB": "airflow",
    "REDIS_PASSWORD": tok(),
    "AIRFLOW_FERNET_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
    "AIRFLOW_API_SECRET_KEY": tok(), "AIRFLOW_JWT_SECRET": tok(),
    "_AIRFLOW_WWW_USER_USERNAME": "admin", "_AIRFLOW_WWW_USER_PASSWORD": tok(),
    "CLEANTECH_SOURCE": "demo", "PXWEB_BASE_URL": "http://pxweb-demo:8123/api/v2",
    "CLEANTECH_WATCH_INTERVAL": "${CLEANTECH_DEPLOYTEST_WATCH_INTERVAL:-15}",
    "AIRFLOW_DAGS_PAUSED_AT_CREATION": "true", "AIRFLOW_WORKER_CONCURRENCY": "4",
    "AIRFLOW_TASK_HEARTBEAT_TIMEOUT": "90", "AIRFLOW_TASK_QUEUED_TIMEOUT": "180",
}
with open(sys.argv[1], "w") as f:
    f.writelines(f"{k}={v}\n" for k, v in values.items())
os.chmod(sys.argv[1], 0o600)
PY
mkdir -p "$work/warehouse"

# Package index and proxies the host uses for PyPI, passed to the build (nothing named here).
build_args=()
for var in PIP_INDEX_URL UV_DEFAULT_INDEX HTTP_PROXY HTTPS_PROXY NO_PROXY http_proxy https_proxy no_proxy; do
  [[ -n ${!var:-} ]] && build_args+=(--build-arg "$var=${!var}")
done

cd "$repo"
make -s install >/dev/null
.venv/bin/python "$here/scenario.py" --env-file "$work/.env" --work "$work" \
  --setup-seconds $(($(date +%s) - started)) "${build_args[@]}"
