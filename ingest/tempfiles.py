"""Uniquely named temporary files for atomic writes, and removal of those a killed writer left.

A writer names its temporary file `.<target>.<host>.<pid>.<random><suffix>` beside the target and
renames it into place. A writer killed before the rename leaves that file behind; the next write
of the same target removes every such file whose writer is gone: its pid no longer runs on this
host, or (written from another host, e.g. a Celery worker on a shared volume) it is over a day old.
A writer that is still running keeps its file.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import tempfile
import time
from pathlib import Path

STALE_AFTER_S = 24 * 3600.0


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "host"


def make_temp(target: Path, suffix: str = ".tmp") -> tuple[int, Path]:
    """A new temporary file beside `target` (fd, path), after removing stale ones of `target`."""
    remove_stale(target, suffix)
    fd, name = tempfile.mkstemp(
        prefix=f".{target.name}.{_host()}.{os.getpid()}.", suffix=suffix, dir=target.parent
    )
    return fd, Path(name)


def remove_stale(target: Path, suffix: str = ".tmp") -> list[Path]:
    """Remove the temporary files of `target` whose writers are gone; returns what was removed."""
    removed: list[Path] = []
    prefix = f".{target.name}."
    try:
        entries = list(target.parent.iterdir())
    except OSError:
        return removed
    for path in entries:
        name = path.name
        if not (name.startswith(prefix) and name.endswith(suffix)):
            continue
        if _writer_alive(name[len(prefix) :], path):
            continue
        with contextlib.suppress(OSError):
            path.unlink()
            removed.append(path)
    return removed


def _writer_alive(rest: str, path: Path) -> bool:
    """Whether the writer of a temporary file may still be running."""
    host, _, tail = rest.partition(".")
    pid_text = tail.partition(".")[0]
    try:
        age = time.time() - path.stat().st_mtime
    except OSError:
        return False
    if host == _host() and pid_text.isdigit():
        pid = int(pid_text)
        if pid == os.getpid():
            return True  # another thread of this process may be writing it
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    # Another host, or an older name without host and pid: only age tells.
    return age < STALE_AFTER_S
