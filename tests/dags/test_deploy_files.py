"""Static checks of the deployment (no Docker engine here): docker-compose.yml, Dockerfile, .env.example."""

from __future__ import annotations

import re
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
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["redis"]["image"].startswith("redis:7.2")
    for name in AIRFLOW_SERVICES:
        assert services[name].get("healthcheck") or name == "airflow-init", name
        env = services[name]["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert env["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/cleantech/dags"
        assert services[name]["image"].startswith("${CLEANTECH_IMAGE")
        assert services[name]["build"] == "."
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
    assert init["environment"]["_AIRFLOW_DB_MIGRATE"] == "true"


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


def test_dockerfile_extends_the_official_image_at_our_airflow_version():
    text = DOCKERFILE.read_text(encoding="utf-8")
    pinned = re.search(r"ARG AIRFLOW_VERSION=(\S+)", text).group(1)
    assert pinned == version("apache-airflow")
    assert "ARG PYTHON_VERSION=3.11" in text
    assert re.search(
        r"^FROM apache/airflow:\$\{AIRFLOW_VERSION\}-python\$\{PYTHON_VERSION\}$", text, re.M
    )
    assert "uv export --frozen" in text  # dependencies from the lock
    assert "pip install --no-cache-dir --no-deps -e ." in text  # the project itself
    for path in (
        "ingest",
        "expectations",
        "cleantech",
        "pxweb_demo",
        "dbt_project",
        "dags",
        "catalog.yml",
    ):
        assert f"COPY --chown=airflow:0 {path} " in text, path
        assert (ROOT / path).exists()
