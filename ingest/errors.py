"""The one one-line error formatter every layer uses (CLI, pipeline, dbt runner, ingest)."""

from __future__ import annotations


def one_line(exc: BaseException | None, *, with_type: bool = False) -> str:
    """An exception as one line: its first non-empty message line (`OSError`s as `path: reason`),
    prefixed with the exception type when `with_type`; the type name when there is no message
    (`unknown error` for None)."""
    if exc is None:
        return "unknown error"
    if isinstance(exc, OSError) and exc.strerror:
        text = f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    else:
        text = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), "")
    if not text:
        return type(exc).__name__
    return f"{type(exc).__name__}: {text}" if with_type else text
