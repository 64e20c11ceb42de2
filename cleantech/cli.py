"""The one command line: `cleantech` (or `python -m cleantech`) with the subcommands
`run|fetch|load-file|tables|serve-demo|demo-generate|pipeline|report|export|answers|dbt-build|airflow`.

Every failure exits non-zero with a one-line reason on stderr; `--debug` shows the traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

from cleantech import layout as paths
from cleantech.core.dbt_runner import dbt_build
from cleantech.core.lock import LockFailed, WarehouseLocked, WriterLock
from cleantech.core.pipeline import run_pipeline
from cleantech.core.publish import is_published_file
from cleantech.orchestration import local_runs, settings
from cleantech.outputs.answers import mart_answers
from cleantech.outputs.export import export_parquet
from cleantech.outputs.report import build_report
from ingest import load
from ingest.catalog import load_catalog
from ingest.datasets import check_target, fetch_table, ingest_all
from ingest.errors import one_line
from ingest.jsonstat import parse, read_document
from ingest.pxweb.client import PxWebClient
from ingest.pxweb.guard import check_base_url
from ingest.pxweb.limits import DEFAULT_MAX_CALLS, DEFAULT_MAX_CELLS, DEFAULT_TIME_WINDOW
from pxweb_demo.generate import generate
from pxweb_demo.paths import demo_snapshot_dir
from pxweb_demo.server import serve


class CliError(Exception):
    """Bad arguments or input, reported as one line."""


class OneLineParser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage block): every failure is one line on stderr."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {self.prog}: {message} (see --help)\n")


def run_main(func: Callable[[], int | None], *, debug: bool = False) -> int:
    """Run a command-line body: its exit code, or one `error: …` line on stderr and non-zero for
    any exception (2 for a CliError, 130 for Ctrl-C); `debug` re-raises (to show the traceback).
    Every `main()` of the package goes through this, with a OneLineParser for its arguments."""
    try:
        return int(func() or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # every failure: one line on stderr, non-zero exit
        if debug:
            raise
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 2 if isinstance(exc, CliError) else 1


def port_number(text: str) -> int:
    """argparse type: a TCP port (0 = any free port)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0–65535, not {port}")
    return port


def warn_if_exposed(host: str) -> None:
    """One warning line on stderr when the demo server listens beyond loopback: its `/_control`
    fault-injection endpoints have no authentication."""
    if host == "localhost":
        return
    with contextlib.suppress(ValueError):
        if ipaddress.ip_address(host).is_loopback:
            return
    print(
        f"warning: serving on {host}: the unauthenticated /_control fault-injection endpoints "
        "are exposed to the network (use --host 127.0.0.1 to keep them local)",
        file=sys.stderr,
        flush=True,
    )


def _selection(pairs: Sequence[str]) -> dict[str, str | list[str]]:
    """`VAR=CODES` pairs (CODES comma-separated or `*`) as a selection mapping; a variable given
    more than once gets the codes of all its pairs (`Region=01 --select Region=03` → 01,03)."""
    merged: dict[str, list[str]] = {}
    for pair in pairs:
        var, sep, codes = pair.partition("=")
        if not sep or not var.strip() or not codes.strip():
            raise CliError(f"--select expects VAR=CODES (comma-separated or *), got {pair!r}")
        items = merged.setdefault(var.strip(), [])
        items += [c.strip() for c in codes.split(",") if c.strip() and c.strip() not in items]
    selection: dict[str, str | list[str]] = {}
    for var, items in merged.items():
        expressions = [c for c in items if _is_expression(c)]
        if expressions and len(items) > 1:
            raise CliError(
                f"--select {var}: {expressions[0]!r} selects by expression and cannot be combined "
                f"with other codes ({', '.join(items)})"
            )
        selection[var] = items[0] if expressions else items
    return selection


def _is_expression(code: str) -> bool:
    return "*" in code or "?" in code or "(" in code


def cmd_run(args: argparse.Namespace) -> int:

    db = _target_db(args)
    catalog = _catalog(args)
    options = _client_options(args)
    for name in args.dataset or []:
        catalog.dataset(name)  # a typo fails before waiting for the lock
    catalog.source(args.source)
    with writer_lock(db, "run"):
        results = ingest_all(
            db=db,
            source=args.source,
            full_refresh=args.full_refresh,
            datasets=args.dataset or None,
            progress=not args.quiet,
            catalog=catalog,
            client_options=options,
        )
    _print_ingest_summary(results, db)
    failed = [r for r in results if r.outcome == "failed"]
    if failed:
        print(
            f"error: {len(failed)} of {len(results)} datasets failed: {failed[0].message}",
            file=sys.stderr,
        )
    return 1 if failed else 0


def _target_db(args: argparse.Namespace) -> Path:
    """The DuckDB file a writing command targets (`--db`, default: the staging warehouse): its
    folder created, refused in one line when it cannot be or when the file is not DuckDB."""
    db = Path(args.db) if args.db else paths.staging_path()
    check_duckdb_file(db)
    refuse_published(db)
    try:
        db.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(f"cannot create the DuckDB file {db}: {exc.strerror or exc}") from None
    if db.is_dir():
        raise CliError(f"{db} is a folder, not a DuckDB file")
    return db


def refuse_published(db: Path) -> None:
    """Refuse the published warehouse (or any file carrying the published mark) as a target:
    only an audited pipeline build replaces it, and a writer would block its readers."""

    if is_published_file(db, paths.published_path()):
        raise CliError(
            f"{db} is a published warehouse and takes no direct writes (only an audited build "
            "replaces it): load into a scratch file (--db scratch.duckdb, then ATTACH the "
            "warehouse READ_ONLY to join), or add the table to catalog.yml and run "
            "`cleantech pipeline`"
        )


def check_duckdb_file(db: Path) -> None:
    """Refuse an existing non-empty file that is not a DuckDB database (by its header)."""
    try:
        with open(db, "rb") as fh:
            header = fh.read(12)
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return
    except OSError as exc:
        raise CliError(f"cannot read {db}: {exc.strerror or exc}") from None
    if header and header[8:12] != b"DUCK":
        raise CliError(f"{db} is not a DuckDB warehouse file")


@contextlib.contextmanager
def writer_lock(db: Path, command: str) -> Iterator[None]:
    """Hold the warehouse writer lock (the pipeline's) while writing `db`, when `db` is inside
    the warehouse folder or is the staging file: a pipeline run then never publishes a load it did
    not audit, and never silently discards one by re-copying staging. Waits up to
    `CLEANTECH_LOCK_TIMEOUT` seconds, then fails with one line."""

    target = db.resolve()
    inside = target.is_relative_to(paths.warehouse_dir().resolve())
    if not inside and target != paths.staging_path().resolve():
        yield
        return
    lock = WriterLock(paths.published_path().resolve(), purpose=f"cleantech {command}")
    try:
        lock.acquire()
    except (WarehouseLocked, LockFailed) as exc:
        raise CliError(f"cannot write {db}: {exc}") from None
    with lock:
        yield


def _client_options(args: argparse.Namespace) -> dict[str, Any]:
    """PxWebClient options from the command line (only those given)."""
    retries = getattr(args, "retries", None)
    if retries is not None and retries < 0:
        raise CliError(f"--retries must be 0 or more, not {retries}")
    return {} if retries is None else {"max_retries": retries}


def _print_ingest_summary(results, db: Path) -> None:
    """A table of outcomes; `rows` is the size of the current vintage (also when unchanged)."""
    dw = max([30, *(len(r.dataset) for r in results)])
    tw = max([10, *(len(r.table_id or "-") for r in results)])
    header = (
        f"{'dataset':<{dw}} {'table':<{tw}} {'outcome':<10} {'rows':>8} {'requests':>8} "
        f"{'MB':>7} {'seconds':>8}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        rows = "-" if r.table_rows is None else r.table_rows
        print(
            f"{r.dataset:<{dw}} {r.table_id or '-':<{tw}} {r.outcome:<10} {rows:>8} "
            f"{r.requests:>8} {r.bytes / 1e6:>7.2f} {r.seconds:>8.2f}"
        )
    counts = {o: sum(r.outcome == o for r in results) for o in ("loaded", "unchanged", "failed")}
    outcomes = ", ".join(f"{n} {o}" for o, n in counts.items() if n)
    total_rows = sum(r.table_rows or 0 for r in results)
    total_req = sum(r.requests for r in results)
    total_s = sum(r.seconds for r in results)
    print("-" * len(header))
    print(
        f"{len(results)} datasets ({outcomes}), {total_rows} rows, {total_req} requests, "
        f"{total_s:.2f} s → {db}"
    )


def cmd_fetch(args: argparse.Namespace) -> int:

    try:
        check_base_url(args.base_url)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    selection = _selection(args.select or [])
    options = _client_options(args)
    db = _target_db(args)
    with writer_lock(db, "fetch"):
        result = fetch_table(
            base_url=args.base_url.rstrip("/"),
            api=args.api,
            table=args.table,
            dataset=args.dataset,
            db=db,
            selection=selection,
            lang=args.lang,
            full_refresh=args.full_refresh,
            progress=not args.quiet,
            client_options=options,
        )
    _print_ingest_summary([result], db)
    return 0


def cmd_load_file(args: argparse.Namespace) -> int:

    db = Path(args.db) if args.db else paths.staging_path()
    try:
        check_target(db, args.dataset)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    db = _target_db(args)
    path = Path(args.file)
    try:
        body = read_document(path)  # refused by its size before it is read
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}") from None
    dataset = parse(body)
    ext = dataset.extension or {}
    table = (ext.get("px") or {}).get("tableid") if isinstance(ext, dict) else None
    meta = load.LoadMeta(
        dataset=args.dataset,
        source_table=str(table or path.stem),
        source_url=path.resolve().as_uri(),
        source_updated=dataset.updated,
        fetched_at=datetime.now(UTC),
        requests=0,
        bytes=len(body),
        is_demo="DEMO" in (dataset.source or "").upper(),
        label=dataset.label,
        source=dataset.source,
    )
    with writer_lock(db, "load-file"):
        result = load.load_dataset(db, args.dataset, [dataset], meta)
    print(f"{args.dataset}: {result.outcome}, {result.rows} rows from {path} → {db}")
    return 0


def cmd_serve_demo(args: argparse.Namespace) -> int:

    if args.control:
        warn_if_exposed(args.host)
    serve(
        Path(args.snapshot) if args.snapshot else None,
        host=args.host,
        port=args.port,
        max_cells=args.max_cells,
        max_calls=args.max_calls,
        time_window=args.time_window,
        control=args.control,
    )
    return 0


def cmd_tables(args: argparse.Namespace) -> int:

    if args.past_days is not None and args.past_days < 0:
        raise CliError(f"--past-days must be 0 or more, not {args.past_days}")
    if args.limit is not None and args.limit < 0:
        raise CliError(f"--limit must be 0 (no limit) or more, not {args.limit}")
    base_url, api, lang = _endpoint(args)
    with PxWebClient(base_url, api=api, lang=lang, **_client_options(args)) as client:
        if args.table:
            with client.table_clock(args.table):  # one deadline for the table's look-ups
                table_id = client.resolve_table_id(args.table)
                info = client.table(table_id)
                meta = client.metadata(table_id)
            print(f"{info.id}  {info.label}")
            print(f"  updated {info.updated}  periods {info.first_period}–{info.last_period}")
            if info.v1_name and info.v1_name != info.id:
                print(f"  v1 name {info.v1_name}")
            for var in meta.variables:
                flags = [
                    f
                    for f, on in (
                        ("time", var.is_time),
                        ("contents", var.is_contents),
                        ("eliminable", var.elimination),
                    )
                    if on
                ]
                shown = ", ".join(
                    f"{c} ({t})"
                    for c, t in list(zip(var.values, var.value_texts, strict=False))[:6]
                )
                more = f", … {len(var.values) - 6} more" if len(var.values) > 6 else ""
                print(
                    f"  {var.code:<16} {len(var.values):>5} values  [{' '.join(flags)}]  {shown}{more}"
                )
            return 0
        count = 0
        for info in client.search_tables(query=args.query, past_days=args.past_days):
            print(f"{info.id:<12} {info.updated or '-':<22} {info.label}")
            count += 1
            if args.limit and count >= args.limit:
                break
        print(f"{count} tables", file=sys.stderr)
    return 0


def cmd_pipeline(args: argparse.Namespace) -> int:

    run_pipeline(source=args.source, full_refresh=args.full_refresh, base_url=args.base_url)
    return 0


def cmd_report(args: argparse.Namespace) -> int:

    db = Path(args.db) if args.db else paths.published_path()
    if not db.exists():
        raise CliError(f"no warehouse at {db}: run `make run` (or `cleantech pipeline`) first")
    check_duckdb_file(db)
    out = Path(args.out) if args.out else paths.report_html_path()
    written = build_report(db, out)
    print(f"report written to {written}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:

    db = Path(args.db) if args.db else paths.published_path()
    check_duckdb_file(db)
    for path in export_parquet(db, Path(args.out) if args.out else paths.parquet_dir(db)):
        print(path)
    return 0


def cmd_answers(args: argparse.Namespace) -> int:

    db = Path(args.db) if args.db else paths.published_path()
    if not db.is_file():
        raise FileNotFoundError(f"no DuckDB file at {db}")
    for line in mart_answers(db):
        print(line)
    return 0


def cmd_dbt_build(args: argparse.Namespace) -> int:

    db = Path(args.db)
    if not db.is_file():
        raise FileNotFoundError(f"no DuckDB file at {db}")
    refuse_published(db)  # a build in place would publish unaudited marts
    result = dbt_build(db, full_refresh=args.full_refresh, select=args.select)
    print(result.summary())
    for line in mart_answers(db):
        print(line)
    return 0


def cmd_demo_generate(args: argparse.Namespace) -> int:

    for path in generate(Path(args.out_dir) if args.out_dir else demo_snapshot_dir()):
        print(f"{path.stat().st_size:>9,d}  {path}")
    return 0


def cmd_airflow(args: argparse.Namespace) -> int:

    if args.airflow_command == "pool":
        local_runs.ensure_pool()
        print(f"pool {settings.WRITER_POOL}: 1 slot")
        return 0
    if args.airflow_command == "activate":
        from cleantech.orchestration.airflow_activate import (
            ActivationError,
            activate_dags,
            output_to,
            startup_lines,
        )

        quiet = output_to(args.log) if args.log else contextlib.nullcontext()
        try:
            with quiet:
                activation = activate_dags()
        except ActivationError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print("\n".join(startup_lines(activation)))
        return 0
    summary = local_runs.run_dags_locally(source=args.source, full_refresh=args.full_refresh)
    local_runs.print_summary(summary)
    ok = summary["outcome"].startswith("published") or summary["outcome"].startswith("nothing")
    if not ok:
        print(f"error: {summary['outcome']}", file=sys.stderr)
    return 0 if ok else 1


def _catalog(args: argparse.Namespace):

    return load_catalog(args.catalog) if getattr(args, "catalog", None) else load_catalog()


def _endpoint(args: argparse.Namespace) -> tuple[str, str, str | None]:
    if args.base_url:
        return args.base_url.rstrip("/"), args.api, args.lang
    src = _catalog(args).source(args.source)
    return src.base_url, src.api, args.lang or src.lang


_DB_HELP = (
    "DuckDB file (default: the staging warehouse, which the next `pipeline` run rebuilds from the "
    "published file, discarding what was loaded there; writes there wait for a running pipeline)"
)
_RETRIES_HELP = "retries per request on 429, 5xx, timeouts and refused connections (default 5)"


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="cleantech",
        description="Regional cleantech warehouse: load PxWeb statistics into DuckDB.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "run", help="ingest every catalog dataset (incremental on the source's `updated`)"
    )
    p.add_argument("--source", default="demo", help="catalog source: demo (local server) or scb")
    p.add_argument(
        "--full-refresh", action="store_true", help="re-fetch even if `updated` has not moved"
    )
    p.add_argument("--dataset", action="append", help="only this dataset (repeatable)")
    p.add_argument("--db", help=_DB_HELP)
    p.add_argument("--catalog", help="catalog file (default: catalog.yml)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--retries", type=int, help=_RETRIES_HELP)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("fetch", help="fetch any PxWeb table into raw.<dataset>")
    p.add_argument(
        "--base-url", required=True, help="e.g. https://statistikdatabasen.scb.se/api/v2"
    )
    p.add_argument("--api", choices=["v1", "v2"], default="v2")
    p.add_argument(
        "--table", required=True, help="table id (v2 TAB id, or a v1 name to search for)"
    )
    p.add_argument("--dataset", required=True, help="name of the raw table to write")
    p.add_argument(
        "--select",
        action="append",
        metavar="VAR=CODES",
        help="selection, repeatable; CODES comma-separated or * (also A*, top(3))",
    )
    p.add_argument("--lang", help="language (sv, en, …)")
    p.add_argument("--db", help=_DB_HELP)
    p.add_argument("--full-refresh", action="store_true")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--retries", type=int, help=_RETRIES_HELP)
    p.set_defaults(func=cmd_fetch)

    p = sub.add_parser("load-file", help="load a JSON-stat 1.x/2.0 file into raw.<dataset>")
    p.add_argument("file")
    p.add_argument("--dataset", required=True)
    p.add_argument("--db", help=_DB_HELP)
    p.set_defaults(func=cmd_load_file)

    p = sub.add_parser("serve-demo", help="serve the demo snapshot as a local PxWeb server")
    p.add_argument("--port", type=port_number, default=8123)
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1; /_control fault injection is unauthenticated)",
    )
    p.add_argument(
        "--control",
        action="store_true",
        help="enable the /_control endpoints (fault injection, touch, reload) for tests and demos",
    )
    p.add_argument("--snapshot", help="snapshot folder (default: pxweb_demo/snapshot)")
    p.add_argument("--max-cells", type=int, default=DEFAULT_MAX_CELLS)
    p.add_argument("--max-calls", type=int, default=DEFAULT_MAX_CALLS)
    p.add_argument("--time-window", type=float, default=DEFAULT_TIME_WINDOW)
    p.set_defaults(func=cmd_serve_demo)

    p = sub.add_parser("tables", help="search a source's tables, or inspect one with --table")
    p.add_argument("--source", default="demo")
    p.add_argument("--base-url")
    p.add_argument("--api", choices=["v1", "v2"], default="v2")
    p.add_argument("--lang")
    p.add_argument("--query", help="search text")
    p.add_argument("--past-days", type=int, help="only tables updated in the last N days")
    p.add_argument("--table", help="show one table's variables and codes")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--catalog")
    p.add_argument("--retries", type=int, help=_RETRIES_HELP)
    p.set_defaults(func=cmd_tables)

    p = sub.add_parser("pipeline", help="ingest → dbt build → quality gate → publish")
    p.add_argument("--source", default="demo")
    p.add_argument("--full-refresh", action="store_true")
    p.add_argument("--base-url", help="PxWeb endpoint of every dataset (overrides the catalog)")
    p.set_defaults(func=cmd_pipeline)

    p = sub.add_parser("report", help="write the HTML report from the published warehouse")
    p.add_argument("--db")
    p.add_argument("--out")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser(
        "export", help="export the marts as Parquet (default: parquet/ beside the warehouse)"
    )
    p.add_argument("--db", help="warehouse (default: the published one)")
    p.add_argument("--out", help="folder (default: parquet/ beside the warehouse)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("answers", help="print a few answers from a warehouse's marts")
    p.add_argument("db", nargs="?", help="warehouse (default: the published one)")
    p.set_defaults(func=cmd_answers)

    p = sub.add_parser(
        "dbt-build", help="dbt build on a (non-published) DuckDB file, then print the answers"
    )
    p.add_argument("db")
    p.add_argument("--full-refresh", action="store_true")
    p.add_argument("--select")
    p.set_defaults(func=cmd_dbt_build)

    p = sub.add_parser("demo-generate", help="regenerate the demo PxWeb snapshot (fixed seed)")
    p.add_argument("out_dir", nargs="?", help="folder (default: pxweb_demo/snapshot)")
    p.set_defaults(func=cmd_demo_generate)

    p = sub.add_parser("airflow", help="Airflow helpers: pool, activate, run (dag.test)")
    air = p.add_subparsers(dest="airflow_command", required=True, metavar="ACTION")
    air.add_parser("pool", help="create the one-slot DuckDB writer pool")
    a = air.add_parser("activate", help="parse the DAGs into the metadata DB and unpause them")
    a.add_argument("--log", type=Path, help="where Airflow's own log lines go")
    a = air.add_parser("run", help="run the DAGs in order with dag.test()")
    a.add_argument("--source", default=None)
    a.add_argument("--full-refresh", action="store_true")
    p.set_defaults(func=cmd_airflow)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    return run_main(lambda: args.func(args), debug=args.debug)
