"""Test support: run the pipeline (the CLI) or one DAG run (`dag.test()`) in this process, held at
a named point inside a core step so a test can SIGKILL it there deterministically.

    python -m tests.cleantech.core.kill_driver --hold STAGE --markers DIR cli [pipeline args]
    python -m tests.cleantech.core.kill_driver --hold STAGE --markers DIR dag DAG_ID [CONF_JSON]

The production code has no hooks: this driver wraps, in its own process only, the function the
step calls at that point. It writes `held-<stage>-<pid>` into DIR, then blocks (at `dbt` it does
not block: dbt runs, and the test kills it once dbt writes its log). `--hold none` runs unheld.

- `locked`: the CLI's run holds the writer lock (`steps.start`, the first thing under it);
- `ingest`: mid-ingest, one dataset written and recorded in memory, the step not yet recorded
  (the first `on_result` of `ingest_all`);
- `dbt`: as the transform step starts `dbt build`;
- `audit`: as the audit step starts the quality gate;
- `before_swap`: the audited build copied to `.next` beside the published file, right before the
  `os.replace` that swaps it in.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

STAGES = ("none", "locked", "ingest", "dbt", "audit", "before_swap")


def _held(markers: Path, stage: str, *, block: bool = True) -> None:
    markers.mkdir(parents=True, exist_ok=True)
    (markers / f"held-{stage}-{os.getpid()}").write_text(str(os.getpid()), encoding="utf-8")
    while block:
        time.sleep(1)  # until the test kills this process


def _wrap_first_call(real: Callable[..., Any], on_call: Callable[[], None]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        on_call()
        return real(*args, **kwargs)

    return wrapper


def install(stage: str, markers: Path) -> None:
    """Wrap the function the step calls at `stage` (in this process only)."""
    from cleantech.core import steps

    if stage == "locked":
        steps.start = _wrap_first_call(steps.start, lambda: _held(markers, stage))  # type: ignore[assignment]
    elif stage == "ingest":
        real_ingest_all = steps.ingest_all

        def ingest_all(*args: Any, on_result: Any = None, **kwargs: Any) -> Any:
            def held_on_result(result: Any) -> None:
                if on_result is not None:
                    on_result(result)
                _held(markers, stage)

            return real_ingest_all(*args, on_result=held_on_result, **kwargs)

        steps.ingest_all = ingest_all  # type: ignore[assignment]
    elif stage == "dbt":
        steps.dbt_build = _wrap_first_call(  # type: ignore[assignment]
            steps.dbt_build, lambda: _held(markers, stage, block=False)
        )
    elif stage == "audit":
        steps.run_gate = _wrap_first_call(steps.run_gate, lambda: _held(markers, stage))  # type: ignore[assignment]
    elif stage == "before_swap":
        real_replace = os.replace

        def replace(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
            if Path(src).name.endswith(".next"):
                _held(markers, stage)
            real_replace(src, dst, *args, **kwargs)

        os.replace = replace  # type: ignore[assignment]
    elif stage != "none":
        raise SystemExit(f"unknown stage {stage!r}: one of {', '.join(STAGES)}")


def run_dag(dag_id: str, conf: dict[str, Any]) -> int:
    """One `dag.test()` run of a project DAG; prints `{"state", "run_id"}` as the last line."""
    from airflow.configuration import conf as airflow_conf
    from airflow.dag_processing.dagbag import DagBag

    from cleantech.orchestration.local_runs import ensure_pool

    ensure_pool()
    bag = DagBag(dag_folder=airflow_conf.get("core", "dags_folder"))
    dr = bag.dags[dag_id].test(run_conf=conf)
    print(json.dumps({"state": str(dr.state), "run_id": dr.run_id}), flush=True)
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="kill_driver")
    parser.add_argument("--hold", choices=STAGES, default="none")
    parser.add_argument("--markers", type=Path, default=Path("."))
    parser.add_argument("mode", choices=("cli", "dag"))
    parser.add_argument("rest", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    install(args.hold, args.markers)
    if args.mode == "cli":
        from cleantech.cli import main as cli_main

        return cli_main(args.rest or ["pipeline"])
    dag_id, *conf = args.rest
    return run_dag(dag_id, json.loads(conf[0]) if conf else {})


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
