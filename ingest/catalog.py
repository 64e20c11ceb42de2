"""The source catalog: which PxWeb tables to load, what to select, how codes map to business names."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DATASET_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
APIS = ("v1", "v2")


# The repository root: the package is installed editable (uv sync), so this is the checkout.
REPO_ROOT = Path(__file__).resolve().parents[1]


def catalog_path() -> Path:
    """The source catalog file (`CLEANTECH_CATALOG` overrides)."""
    env = os.environ.get("CLEANTECH_CATALOG")
    return Path(env) if env else REPO_ROOT / "catalog.yml"


class CatalogError(ValueError):
    """The catalog file is missing, malformed or names something unknown."""


@dataclass(frozen=True)
class Source:
    """A PxWeb endpoint datasets are fetched from."""

    name: str
    base_url: str
    api: str = "v2"
    lang: str | None = None
    demo: bool = False


MEASURE_KEYS = frozenset({"name", "unit", "label"})


@dataclass(frozen=True)
class Measure:
    """One source code of the measure dimension and the business name it maps to."""

    code: str
    name: str
    unit: str | None = None
    label: str | None = None


@dataclass(frozen=True)
class DatasetSpec:
    """One catalog dataset: a source table, a selection and its code mapping."""

    name: str
    table: str
    selection: dict[str, str | list[str]]
    description: str = ""
    region_dimension: str | None = None
    time_dimension: str | None = None
    measure_dimension: str | None = None
    verified: bool = False
    measures: tuple[Measure, ...] = ()
    years: tuple[int, int] | None = None


@dataclass(frozen=True)
class Catalog:
    """The whole catalog file."""

    sources: dict[str, Source]
    datasets: dict[str, DatasetSpec]
    path: Path | None = None
    counties: tuple[str, ...] = field(default=())

    def dataset(self, name: str) -> DatasetSpec:
        """The dataset called `name`, or a CatalogError listing the known ones."""
        try:
            return self.datasets[name]
        except KeyError:
            known = ", ".join(sorted(self.datasets))
            raise CatalogError(f"unknown dataset {name!r} (catalog has: {known})") from None

    def source(self, name: str) -> Source:
        """The source called `name`, with `PXWEB_BASE_URL` applied when set."""
        try:
            src = self.sources[name]
        except KeyError:
            known = ", ".join(sorted(self.sources))
            raise CatalogError(f"unknown source {name!r} (catalog has: {known})") from None
        override = os.environ.get("PXWEB_BASE_URL")
        if override:
            src = Source(src.name, override.rstrip("/"), src.api, src.lang, src.demo)
        return src


def load_catalog(path: Path | str | None = None) -> Catalog:
    """Read and validate the catalog (default: `catalog_path()`)."""
    path = Path(path) if path else catalog_path()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogError(f"catalog file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"cannot read catalog {path}: {exc}".splitlines()[0]) from None
    except yaml.YAMLError as exc:
        raise CatalogError(_yaml_error(path, exc)) from None
    if not isinstance(raw, dict):
        raise CatalogError(f"catalog {path} must be a mapping with 'sources' and 'datasets'")
    sources = {
        str(name): _source(str(name), body)
        for name, body in _mapping(raw.get("sources"), f"catalog {path}: 'sources'").items()
    }
    datasets = {
        str(name): _dataset(str(name), body)
        for name, body in _mapping(raw.get("datasets"), f"catalog {path}: 'datasets'").items()
    }
    if not datasets:
        raise CatalogError(f"catalog {path} names no datasets")
    counties = raw.get("counties") or ()
    if not isinstance(counties, list | tuple):
        raise CatalogError(f"catalog {path}: 'counties' must be a list of codes")
    return Catalog(
        sources=sources, datasets=datasets, path=path, counties=tuple(str(c) for c in counties)
    )


def _yaml_error(path: Path, exc: yaml.YAMLError) -> str:
    """One line: where the YAML breaks and why."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"catalog {path} is not valid YAML{where}: {problem}"


def _mapping(value: Any, what: str) -> dict[Any, Any]:
    """A YAML mapping (None as empty), or a CatalogError naming what was wrong."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CatalogError(f"{what} must be a mapping, not {type(value).__name__}")
    return value


def _source(name: str, body: Any) -> Source:
    if not isinstance(body, dict) or not body.get("base_url"):
        raise CatalogError(f"source {name!r} needs a base_url")
    api = str(body.get("api", "v2"))
    if api not in APIS:
        raise CatalogError(f"source {name!r}: api must be one of {APIS}, not {api!r}")
    return Source(
        name=name,
        base_url=str(body["base_url"]).rstrip("/"),
        api=api,
        lang=body.get("lang"),
        demo=bool(body.get("demo", False)),
    )


def _dataset(name: str, body: Any) -> DatasetSpec:
    if not DATASET_NAME.match(name) or name.endswith("__revisions"):
        raise CatalogError(
            f"dataset name {name!r} must be lowercase letters, digits and _ (it names a table)"
            + (", and not end in __revisions" if name.endswith("__revisions") else "")
        )
    if not isinstance(body, dict) or not body.get("table"):
        raise CatalogError(f"dataset {name!r} needs a table id")
    selection = body.get("selection") or {}
    if not isinstance(selection, dict):
        raise CatalogError(f"dataset {name!r}: selection must map variable codes to codes or '*'")
    clean: dict[str, str | list[str]] = {}
    for var, codes in selection.items():
        if isinstance(codes, list):
            clean[str(var)] = [str(c) for c in codes]
        elif isinstance(codes, str | int):
            clean[str(var)] = str(codes)
        else:
            raise CatalogError(
                f"dataset {name!r}: selection for {var!r} must be a list or a string"
            )
    measures = []
    for code, m in _mapping(body.get("measures"), f"dataset {name!r}: measures").items():
        if not isinstance(m, dict) or not m.get("name"):
            raise CatalogError(f"dataset {name!r}: measure {code!r} needs a name")
        unknown = sorted(str(k) for k in set(m) - MEASURE_KEYS)
        if unknown:
            # YAML's flow mappings split an unquoted `label: a, b` at the comma into a second key.
            raise CatalogError(
                f"dataset {name!r}: measure {code!r} has unknown keys {', '.join(map(repr, unknown))}"
                f" (allowed: {', '.join(sorted(MEASURE_KEYS))}; quote a label that holds a comma)"
            )
        measures.append(
            Measure(code=str(code), name=str(m["name"]), unit=m.get("unit"), label=m.get("label"))
        )
    years = body.get("years")
    if years is not None:
        try:
            ok = len(years) == 2 and int(years[0]) <= int(years[1])
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise CatalogError(f"dataset {name!r}: years must be [first, last], not {years!r}")
    return DatasetSpec(
        name=name,
        table=str(body["table"]),
        selection=clean,
        description=str(body.get("description", "")).strip(),
        region_dimension=body.get("region_dimension"),
        time_dimension=body.get("time_dimension"),
        measure_dimension=body.get("measure_dimension"),
        verified=bool(body.get("verified", False)),
        measures=tuple(measures),
        years=(int(years[0]), int(years[1])) if years else None,
    )
