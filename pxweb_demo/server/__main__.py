"""`python -m ingest.server [--port 8123] [--snapshot DIR]`: run the demo PxWeb server."""

from __future__ import annotations

from pathlib import Path

from ingest.cli import OneLineParser, port_number, run_main, warn_if_exposed
from ingest.server.app import serve


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and serve until interrupted; failures are one `error:` line on stderr."""
    p = OneLineParser(prog="python -m ingest.server", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=port_number, default=8123)
    p.add_argument("--snapshot", type=Path, default=None)
    p.add_argument("--max-cells", type=int, default=150_000)
    p.add_argument("--max-calls", type=int, default=30)
    p.add_argument("--time-window", type=float, default=10.0)
    p.add_argument("--control", action="store_true", help="enable /_control (tests and demos)")
    a = p.parse_args(argv)

    def body() -> int:
        if a.control:
            warn_if_exposed(a.host)
        serve(
            a.snapshot,
            a.host,
            a.port,
            max_cells=a.max_cells,
            max_calls=a.max_calls,
            time_window=a.time_window,
            control=a.control,
        )
        return 0

    return run_main(body)


if __name__ == "__main__":
    raise SystemExit(main())
