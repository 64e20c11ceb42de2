"""Static checks of the deployment (no Docker engine here): docker-compose.yml, Dockerfile, .env.example."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"

# `${VAR}`, `${VAR:-default}`, `${VAR:?message}`, `$VAR`; `$$` is a literal dollar for the container.
VAR_REF = re.compile(r"(?<!\$)\$(?:\{([A-Za-z_][A-Za-z0-9_]*)[^}]*\}|([A-Za-z_][A-Za-z0-9_]*))")
SECRET_KEY = re.compile(r"PASSWORD|SECRET|FERNET|TOKEN|_KEY$|CREDENTIAL", re.IGNORECASE)
AIRFLOW_SERVICES = {
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "airflow-init",
}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f".env.example: not KEY=VALUE: {line!r}"
            values[key.strip()] = value.strip()
    return values


def _strings(node, path="", keys=True):
    """Every (path, string) in a parsed YAML tree (mapping keys too, unless `keys` is false)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if keys:
                yield f"{path}.{key}", str(key)
            yield from _strings(value, f"{path}.{key}", keys)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _strings(value, f"{path}[{i}]", keys)
    elif isinstance(node, str):
        yield path, node


def test_compose_has_the_official_services(compose):
    services = compose["services"]
    assert AIRFLOW_SERVICES | {"postgres", "redis"} <= set(services)
    # Parameters (stand-ins where no registry answers), defaulting to the official images.
    assert services["postgres"]["image"] == "${POSTGRES_IMAGE:-postgres:16}"
    assert services["redis"]["image"] == "${REDIS_IMAGE:-redis:7.2-bookworm}"
    for name in AIRFLOW_SERVICES:
        assert services[name].get("healthcheck") or name == "airflow-init", name
        env = services[name]["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert env["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/cleantech/dags"
        assert services[name]["image"].startswith("${CLEANTECH_IMAGE")
        build = services[name]["build"]
        assert build["context"] == "."
        assert build["args"]["BASE_IMAGE"] == "${BASE_IMAGE:-debian:bookworm-slim}"
    commands = {name: services[name].get("command") for name in AIRFLOW_SERVICES}
    assert commands["airflow-apiserver"] == "api-server"
    assert commands["airflow-scheduler"] == "scheduler"
    assert commands["airflow-dag-processor"] == "dag-processor"
    assert commands["airflow-triggerer"] == "triggerer"
    assert commands["airflow-worker"] == "celery worker"
    for name in AIRFLOW_SERVICES - {"airflow-init"}:
        deps = services[name]["depends_on"]
        assert deps["airflow-init"]["condition"] == "service_completed_successfully"
        assert deps["postgres"]["condition"] == "service_healthy"


def test_init_creates_the_writer_pool(compose):
    from cleantech.orchestration import settings

    init = compose["services"]["airflow-init"]
    script = "\n".join(init["command"])
    assert f"pools set {settings.WRITER_POOL} 1" in script
    assert "airflow db migrate" in script
    # The admin user from .env, passed through the environment (never interpolated into the script).
    assert '--username "$${_AIRFLOW_WWW_USER_USERNAME}"' in script
    assert '--password "$${_AIRFLOW_WWW_USER_PASSWORD}"' in script
    assert init["environment"]["_AIRFLOW_WWW_USER_PASSWORD"].startswith(
        "${_AIRFLOW_WWW_USER_PASSWORD:?"
    )


def test_warehouse_is_shared_read_only_with_analysts(compose):
    services = compose["services"]
    worker_mounts = services["airflow-worker"]["volumes"]
    assert any(m.endswith(":/data/warehouse") for m in worker_mounts)
    assert services["airflow-worker"]["environment"]["CLEANTECH_WAREHOUSE"].startswith(
        "/data/warehouse/"
    )
    analyst_mounts = services["analyst"]["volumes"]
    assert any(":/warehouse:ro" in m for m in analyst_mounts)
    # Same host folder on both sides.
    host = {m.split(":")[0] for m in worker_mounts if m.endswith(":/data/warehouse")}
    assert host == {m.split(":")[0] for m in analyst_mounts}


def test_live_scb_is_the_default_source(compose, env_example):
    env = compose["services"]["airflow-worker"]["environment"]
    assert env["CLEANTECH_SOURCE"] == "${CLEANTECH_SOURCE:-scb}"
    assert env_example["CLEANTECH_SOURCE"] == "scb"
    assert "PXWEB_BASE_URL" in env


def test_every_referenced_variable_is_in_env_example(compose, env_example):
    referenced = set()
    for _, text in _strings(compose):
        for braced, bare in VAR_REF.findall(text):
            referenced.add(braced or bare)
    missing = sorted(referenced - set(env_example))
    assert not missing, f"docker-compose.yml uses variables not in .env.example: {missing}"
    unused = sorted(set(env_example) - referenced)
    assert not unused, f".env.example defines variables docker-compose.yml never uses: {unused}"


def test_no_credential_literals_in_compose(compose):
    offenders = []
    for path, text in _strings(compose, keys=False):
        key = path.rsplit(".", 1)[-1]
        if SECRET_KEY.search(key) and text and not VAR_REF.fullmatch(text.strip()):
            offenders.append(f"{path}={text!r}")
        # user:password@host in a URL must come from variables.
        for userinfo in re.findall(r"://([^/@\s]*)@", text):
            user, _, password = userinfo.partition(":")
            for part in (user, password):
                if part and not VAR_REF.fullmatch(part):
                    offenders.append(f"{path}: literal URL credential {part!r}")
    assert not offenders, offenders
    raw = COMPOSE.read_text(encoding="utf-8").lower()
    assert "airflow:airflow" not in raw


def test_env_example_holds_placeholders_not_secrets(env_example):
    for key, value in env_example.items():
        if SECRET_KEY.search(key) and key != "CLEANTECH_ALERT_WEBHOOK":
            assert value == "CHANGE-ME", f"{key} in .env.example must be a CHANGE-ME placeholder"
    assert env_example["CLEANTECH_ALERT_WEBHOOK"] == ""


def test_dotenv_is_ignored_by_git_and_docker():
    gitignore = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert ".env" in gitignore
    dockerignore = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert ".env" in dockerignore


def test_dockerfile_builds_on_debian_with_the_locked_versions():
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert "ARG BASE_IMAGE=debian:bookworm-slim" in text
    assert re.search(r"^FROM \$\{BASE_IMAGE\} AS build$", text, re.M)
    assert "apache/airflow" not in text and "ghcr.io" not in text  # no other image registry
    assert "python3.11" in text  # Python from Debian
    uv_pin = re.search(r"ARG UV_VERSION=(\S+)", text).group(1)
    assert '"uv==${UV_VERSION}"' in text  # uv from PyPI, pinned
    assert uv_pin == version("uv")
    # The lock with the deploy extra, nothing resolved on top, no dev tools.
    syncs = re.findall(r"uv sync ([^\n\\]*)", text)
    assert syncs and all("--frozen" in c and "--extra deploy" in c for c in syncs)
    assert "--all-extras" not in text and "--extra dev" not in text and "pip install -r" not in text
    assert re.search(r"^USER 50000:0$", text, re.M)  # non-root
    assert "ENV PATH=/opt/cleantech/.venv/bin:$PATH" in text  # airflow, cleantech
    for path in (
        "ingest",
        "expectations",
        "cleantech",
        "pxweb_demo",
        "dbt_project",
        "dags",
        "catalog.yml",
    ):
        assert re.search(rf"^COPY {re.escape(path)} ", text, re.M), path
        assert (ROOT / path).exists()
    gitignore = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert "/build-ca.pem" in gitignore  # the optional build CA is never committed


def test_lock_holds_the_deployment_dependencies():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    deploy = " ".join(pyproject["project"]["optional-dependencies"]["deploy"])
    for name in ("providers-celery", "providers-fab", "psycopg2", "psycopg[", "asyncpg", "redis"):
        assert name in deploy, name
    assert "<5.7" in deploy  # celery 5.7 breaks the celery provider
    lock = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
    locked = {p["name"]: p["version"] for p in lock["package"]}
    for name in ("apache-airflow-providers-celery", "apache-airflow-providers-fab", "psycopg2-binary",
                 "psycopg", "asyncpg", "redis", "celery"):  # fmt: skip
        assert name in locked, name
    assert tuple(int(x) for x in locked["celery"].split(".")[:2]) < (5, 7)
    assert locked["apache-airflow"].startswith("3.3.")


def test_recovery_settings(compose, dagbag):
    env = compose["services"]["airflow-scheduler"]["environment"]

    def default(value: str) -> int:
        match = re.fullmatch(r"\$\{[A-Z_]+:-(\d+)\}|(\d+)", value)
        return int(match.group(1) or match.group(2))

    # A dead worker's task is failed (and its pool slot freed) in minutes, not Airflow's 5.
    assert default(env["AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT"]) <= 120
    assert default(env["AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT"]) <= 300
    # A running task is never redelivered: the visibility timeout outlasts every task's timeout.
    visibility = default(env["AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT"])
    longest = max(
        t.execution_timeout.total_seconds()
        for d in dagbag.dags.values()
        for t in d.tasks
        if t.execution_timeout
    )
    assert longest < visibility < 86400
    # The first start fetches nothing until the operator unpauses.
    assert (
        env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"]
        == "${AIRFLOW_DAGS_PAUSED_AT_CREATION:-true}"
    )


def test_env_example_asks_for_a_long_jwt_secret(env_example):
    import secrets

    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    sizes = [int(n) for n in re.findall(r"token_urlsafe\((\d+)\)", text)]
    assert sizes and all(len(secrets.token_urlsafe(n)) >= 64 for n in sizes)
    assert env_example["AIRFLOW_DAGS_PAUSED_AT_CREATION"] == "true"
    run_sh = (ROOT / "tests" / "deploy" / "run.sh").read_text(encoding="utf-8")
    assert "secrets.token_urlsafe(64)" in run_sh


def test_every_worker_mounts_the_shared_data(compose):
    """Staging and warehouse come from the common block, so every worker (and scale) sees them."""
    worker = compose["services"]["airflow-worker"]
    assert "staging:/data/staging" in worker["volumes"]
    assert "deploy" not in worker  # scaled with --scale, no fixed replica count
    demo = compose["services"]["pxweb-demo"]
    assert demo["profiles"] == ["demo"] and "ports" not in demo  # compose network only
