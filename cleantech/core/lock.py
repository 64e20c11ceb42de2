"""One writer at a time: an exclusive `flock` on a lock file beside the published warehouse.

DuckDB allows one read-write process per file, and the write–audit–publish chain also copies and
replaces the published file. Every writer (the CLI `pipeline`, the Airflow tasks) takes this lock
first; a second run waits up to a timeout, then fails with a message that names the holder. The
kernel drops a `flock` when its process dies (SIGKILL included), so a killed run never leaves a
stale lock behind: the lock file itself may stay, its content (the holder's pid) is informational.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from pathlib import Path
from types import TracebackType

from cleantech.layout import Layout

DEFAULT_TIMEOUT_S = 600.0


class WarehouseLocked(RuntimeError):
    """Another process holds the warehouse writer lock and did not release it within the timeout."""

    def __init__(self, lock_path: Path, holder: str, timeout: float) -> None:
        self.lock_path = lock_path
        self.holder = holder
        self.timeout = timeout
        super().__init__(
            f"another writer ({holder}) holds the warehouse lock {lock_path}; "
            f"waited {timeout:g} s — let it finish, or stop it and run again"
        )


class LockFailed(RuntimeError):
    """The lock file could not be created or written (e.g. a full disk); names the lock path."""

    def __init__(self, lock_path: Path, reason: str) -> None:
        self.lock_path = lock_path
        super().__init__(f"cannot take the warehouse writer lock {lock_path}: {reason}")


def default_timeout() -> float:
    """Seconds a run waits for the lock (`CLEANTECH_LOCK_TIMEOUT` overrides; 0 = fail at once)."""
    env = os.environ.get("CLEANTECH_LOCK_TIMEOUT")
    return float(env) if env else DEFAULT_TIMEOUT_S


class WriterLock:
    """Exclusive, cross-process writer lock for one published warehouse (a context manager)."""

    def __init__(
        self,
        published: Path,
        *,
        purpose: str = "a warehouse writer",
        timeout: float | None = None,
        poll: float = 0.2,
    ) -> None:
        self.path = Layout(Path(published)).lock
        # Written into the lock file, so that a waiting writer's error names what it waits for.
        self.purpose = " ".join(purpose.split())
        self.timeout = default_timeout() if timeout is None else timeout
        self.poll = poll
        self._fd: int | None = None

    def holder(self) -> str:
        """Who holds the lock, as written by the holder ("pid N on host, purpose, since …").

        "pid unknown" when the file is unreadable or empty (a holder between open and write).
        """
        try:
            text = self.path.read_text(encoding="utf-8").strip()
        except OSError:
            return "pid unknown"
        return text or "pid unknown"

    def acquire(self) -> WriterLock:
        """Take the lock, waiting up to `timeout` seconds; raise WarehouseLocked after that, and
        LockFailed (naming the lock file) when the file cannot be created or written."""
        try:
            return self._acquire()
        except OSError as exc:
            raise LockFailed(self.path, exc.strerror or str(exc)) from exc

    def _acquire(self) -> WriterLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # O_CLOEXEC (Python's default) keeps the lock out of exec'd children such as dbt subprocesses.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + max(self.timeout, 0.0)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = self.holder()
                    os.close(fd)
                    raise WarehouseLocked(self.path, holder, self.timeout) from None
                time.sleep(self.poll)
        try:
            os.ftruncate(fd, 0)
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            holder = f"pid {os.getpid()} on {socket.gethostname()}, {self.purpose}, since {stamp}\n"
            os.pwrite(fd, holder.encode(), 0)
            os.fsync(fd)
        except OSError:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
            raise
        self._fd = fd
        return self

    def release(self) -> None:
        """Release the lock (idempotent)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    @property
    def held(self) -> bool:
        """True while this object holds the lock."""
        return self._fd is not None

    def __enter__(self) -> WriterLock:
        return self if self.held else self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
