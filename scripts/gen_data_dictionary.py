"""Generate docs/DATA_DICTIONARY.md from the dbt docs: every mart column with meaning, unit, source.

Meanings come from the dbt project's descriptions (`target/manifest.json` after `dbt docs generate`
or `dbt parse`; the model YAML and doc blocks as a fallback), column order and types from
`target/catalog.json` or, with `--db`, from a built warehouse. Units and source tables come from a
column's `meta: {unit: ..., source: ...}` when set in the YAML, else from the naming rules below.

    python scripts/gen_data_dictionary.py                         # dbt_project/target → docs/
    python scripts/gen_data_dictionary.py --docs-from warehouse/cleantech.duckdb   # dbt docs first
    python scripts/gen_data_dictionary.py --db warehouse/cleantech.duckdb        # YAML + warehouse
    python scripts/gen_data_dictionary.py --check                 # exit 1 when the file is stale
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DBT_DIR = REPO / "dbt_project"
OUT = REPO / "docs" / "DATA_DICTIONARY.md"
SCHEMA = "marts"

# (column-name pattern, unit), first match wins; `meta.unit` in the dbt YAML overrides.
UNIT_RULES: list[tuple[str, str]] = [
    (r"^year$|_year$", "year"),
    (r"_status$|^status$", "status symbol (`..`, `.`, `-`); NULL when none"),
    (r"per_1000", "per 1,000 inhabitants"),
    (r"_pct$", "percent"),
    (r"_pp$", "percentage points"),
    (r"pct", "percent"),
    (r"_rank$", "rank (1 = largest)"),
    (r"^is_", "boolean"),
    (r"msek", "MSEK, current prices"),
    (r"_updated$|_at$", "timestamp (UTC)"),
    (r"_code$", "code"),
    (
        r"^(employed|national_employed|employed_yoy_change|total_employed_persons|population)$",
        "persons",
    ),
    (r"^establishments$", "count"),
    (
        r"^(start_value|end_value|abs_change|others_start_value|others_end_value|others_abs_change"
        r"|value|current_value|change_to_current)$",
        "the measure's unit (see `unit`)",
    ),
    (r"^sort_order$", "integer"),
]
DEFAULT_UNIT = "text"

REGIONS_SEED = "seed `regions` (SCB county codes, NUTS)"


@functools.cache
def dataset_tables() -> dict[str, str]:
    """Where each raw dataset comes from (`SCB <table id>`), read from catalog.yml."""
    from ingest.catalog import load_catalog

    catalog = load_catalog(REPO / "catalog.yml")
    return {name: f"SCB {spec.table}" for name, spec in catalog.datasets.items()}


def source_rules() -> list[tuple[str, str, str]]:
    """(model pattern, column pattern, source), first match wins; `meta.source` overrides."""
    raw = {name: f"raw.{name} ({table})" for name, table in dataset_tables().items()}
    return [
        (r"^dim_regions$", r".*", REGIONS_SEED),
        (r"^data_vintage$", r"^last_", "raw._load_log"),
        (r"^data_vintage$", r".*", "raw._datasets"),
        (
            r"^egss_revisions$",
            r"^(superseded_by_updated|replaced_at|vintage_updated)$",
            "raw.egss_county__revisions",
        ),
        (r"^egss_revisions$", r".*", f"{raw['egss_county']}, raw.egss_county__revisions"),
        (r"^cleantech_growth$", r".*", "marts.fct_cleantech_region_year"),
        (r".*", r"^region_name_", REGIONS_SEED),
        (
            r".*",
            r"^cleantech_share_of_employment",
            f"{raw['egss_county']} ÷ {raw['employment_county_industry']}",
        ),
        (r".*", r"per_1000", f"{raw['egss_county']} ÷ {raw['population_county']}"),
        (r".*", r"^total_employed_persons", raw["employment_county_industry"]),
        (r".*", r"^population", raw["population_county"]),
        (r".*", r"^(region_code|year)$", f"{raw['egss_county']} (`Lan`, `Tid`)"),
        (
            r".*",
            r"^(establishments|employed|net_turnover|export|national_|egss_)",
            raw["egss_county"],
        ),
        (r".*", r"^is_demo$", "raw._datasets"),
    ]


@dataclass
class Column:
    name: str
    type: str = ""
    description: str = ""
    meta: dict = field(default_factory=dict)


@dataclass
class Model:
    name: str
    description: str
    columns: list[Column]
    upstream: list[str] = field(default_factory=list)  # raw tables and seeds it is built from


# ------------------------------------------------------------------------------------ reading


def models_from_manifest(manifest_path: Path, catalog_path: Path | None) -> list[Model]:
    """The mart models with their documented columns, from dbt's manifest (and catalog)."""
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    catalog = {}
    if catalog_path and catalog_path.exists():
        catalog = json.loads(catalog_path.read_text(encoding="utf-8")).get("nodes", {})
    models = []
    for uid, node in sorted(manifest["nodes"].items()):
        if node["resource_type"] != "model" or node.get("schema") != SCHEMA:
            continue
        documented = {
            name: Column(
                name,
                col.get("data_type") or "",
                col.get("description", ""),
                {**col.get("config", {}).get("meta", {}), **col.get("meta", {})},
            )
            for name, col in node.get("columns", {}).items()
        }
        columns = list(documented.values())
        if uid in catalog:  # the relation's real columns, in order, with types
            found = sorted(catalog[uid]["columns"].values(), key=lambda c: c["index"])
            columns = [
                Column(
                    c["name"],
                    c["type"],
                    documented.get(c["name"], Column(c["name"])).description,
                    documented.get(c["name"], Column(c["name"])).meta,
                )
                for c in found
            ]
        models.append(
            Model(node["name"], node.get("description", ""), columns, _upstream(manifest, uid))
        )
    return models


def _upstream(manifest: dict, uid: str) -> list[str]:
    """Raw tables (sources) and seeds a node is built from, following the DAG up."""
    seen, stack, found = set(), [uid], set()
    while stack:
        node = stack.pop()
        for parent in manifest.get("parent_map", {}).get(node, []):
            if parent in seen:
                continue
            seen.add(parent)
            if parent.startswith("source."):
                src = manifest["sources"][parent]
                table = src.get("identifier") or src["name"]
                label = f"{src['schema']}.{table}"
                if table in dataset_tables():
                    label += f" ({dataset_tables()[table]})"
                found.add(label)
            elif parent.startswith("seed."):
                found.add(f"seed `{manifest['nodes'][parent]['name']}`")
            else:
                stack.append(parent)
    return sorted(found)


def models_from_yaml(dbt_dir: Path) -> list[Model]:
    """Fallback without a manifest: the marts' YAML, with `{{ doc("…") }}` blocks resolved."""
    import yaml

    docs: dict[str, str] = {}
    for md in dbt_dir.glob("models/**/*.md"):
        for name, body in re.findall(
            r"{%\s*docs\s+(\w+)\s*%}(.*?){%\s*enddocs\s*%}",
            md.read_text(encoding="utf-8"),
            flags=re.S,
        ):
            docs[name] = body.strip()

    def resolve(text: str) -> str:
        return re.sub(
            r"{{\s*doc\(\s*[\"'](\w+)[\"']\s*\)\s*}}", lambda m: docs.get(m[1], ""), text or ""
        )

    models = []
    for path in sorted(dbt_dir.glob("models/marts/**/*.yml")):
        for node in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get(
            "models", []
        ) or []:
            cols = [
                Column(
                    c["name"],
                    c.get("data_type", ""),
                    resolve(c.get("description", "")),
                    {**(c.get("config") or {}).get("meta", {}), **(c.get("meta") or {})},
                )
                for c in node.get("columns", [])
            ]
            models.append(Model(node["name"], resolve(node.get("description", "")), cols))
    return sorted(models, key=lambda m: m.name)


def apply_warehouse(models: list[Model], db: Path) -> list[Model]:
    """Take column order and types from a built warehouse; add undocumented columns and models."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute(
            "select table_name, column_name, data_type, comment from duckdb_columns() "
            "where database_name = current_database() and schema_name = ? "
            "order by table_name, column_index",
            [SCHEMA],
        ).fetchall()
        comments = dict(
            con.execute(
                "select table_name, comment from duckdb_tables() "
                "where database_name = current_database() and schema_name = ?",
                [SCHEMA],
            ).fetchall()
        )
    finally:
        con.close()
    by_name = {m.name: m for m in models}
    live: dict[str, list[Column]] = {}
    for table, column, dtype, comment in rows:
        doc = (
            next((c for c in by_name[table].columns if c.name == column), None)
            if table in by_name
            else None
        )
        live.setdefault(table, []).append(
            Column(
                column,
                dtype,
                (doc.description if doc else "") or (comment or ""),
                doc.meta if doc else {},
            )
        )
    out = []
    for table, cols in live.items():
        model = by_name.get(table) or Model(table, comments.get(table) or "", [])
        out.append(Model(model.name, model.description, cols, model.upstream))
    return sorted(out, key=lambda m: m.name)


# ------------------------------------------------------------------------------------ rendering


def unit_of(column: Column) -> str:
    """The column's unit: `meta.unit`, else the naming rules."""
    if column.meta.get("unit"):
        return str(column.meta["unit"])
    for pattern, unit in UNIT_RULES:
        if re.search(pattern, column.name):
            return unit
    return DEFAULT_UNIT


def source_of(model: Model, column: Column) -> str:
    """Where the column's figures come from: `meta.source`, else the rules, else the model's inputs."""
    meta = column.meta.get("source") or column.meta.get("source_table")
    if meta:
        return str(meta)
    for model_pattern, column_pattern, source in source_rules():
        if re.search(model_pattern, model.name) and re.search(column_pattern, column.name):
            return source
    return ", ".join(model.upstream) or f"derived in marts.{model.name}"


def _cell(text: str) -> str:
    return " ".join((text or "").split()).replace("|", "\\|")


def render(models: list[Model], *, origin: str) -> str:
    """The data dictionary as Markdown."""
    lines = [
        "# Data dictionary: the marts",
        "",
        f"<!-- Generated by scripts/gen_data_dictionary.py from {origin}. Do not edit by hand: -->",
        "<!-- change the descriptions in dbt_project/models/marts/ and regenerate. -->",
        "",
        "Every table analysts read lives in schema `marts` of the published warehouse "
        "(`warehouse/cleantech.duckdb`) and in `warehouse/parquet/<table>.parquet`. Meanings come "
        "from the dbt project's documentation; a missing value is always NULL with the source's "
        "status symbol in the `…_status` column beside it, never 0. How to connect: "
        "[BI.md](BI.md); worked queries: [EXAMPLES.md](EXAMPLES.md).",
        "",
        "| table | columns | what one row is |",
        "|---|---|---|",
    ]
    for m in models:
        first = _cell(m.description).split(". ")[0].rstrip(".")
        lines.append(f"| [`marts.{m.name}`](#marts{m.name}) | {len(m.columns)} | {first}. |")
    for m in models:
        lines += ["", f"## marts.{m.name}", "", _cell(m.description) or "(no description)", ""]
        if m.upstream:
            lines += [
                "Built from: "
                + ", ".join(f"`{u}`" if "`" not in u else u for u in m.upstream)
                + ".",
                "",
            ]
        lines += ["| column | type | meaning | unit | source |", "|---|---|---|---|---|"]
        for c in m.columns:
            lines.append(
                f"| `{c.name}` | {_cell(c.type) or '–'} | {_cell(c.description) or '(undocumented)'} "
                f"| {_cell(unit_of(c))} | {_cell(source_of(m, c))} |"
            )
    return "\n".join(lines) + "\n"


def build(*, manifest: Path | None, catalog: Path | None, db: Path | None) -> str:
    """Collect the marts' documentation from the best source available and render it."""
    if manifest and manifest.exists():
        models, origin = models_from_manifest(manifest, catalog), "the dbt docs (manifest.json)"
    else:
        models, origin = models_from_yaml(DBT_DIR), "the dbt model YAML"
    if db:
        models = apply_warehouse(models, db)
    return render(models, origin=origin)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--target",
        type=Path,
        default=DBT_DIR / "target",
        help="dbt target folder with manifest.json (+ catalog.json)",
    )
    parser.add_argument("--db", type=Path, help="a built warehouse: column order and types")
    parser.add_argument(
        "--docs-from",
        type=Path,
        metavar="DB",
        help="run `dbt docs generate` on this built warehouse first and use its target",
    )
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--check", action="store_true", help="exit 1 if --out is not up to date")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))  # `ingest` (the catalog, dbt) when run with another python
    if args.docs_from:
        from cleantech.core.dbt_runner import dbt_docs_generate

        args.target = dbt_docs_generate(args.docs_from)
    text = build(
        manifest=args.target / "manifest.json", catalog=args.target / "catalog.json", db=args.db
    )
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if current != text:
            print(
                f"{args.out} is out of date: run python scripts/gen_data_dictionary.py",
                file=sys.stderr,
            )
            return 1
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
