"""Where the demo snapshot lives (`CLEANTECH_DEMO_SNAPSHOT` overrides)."""

from __future__ import annotations

import os
from pathlib import Path

# The committed snapshot ships inside the package (hatch packages list includes pxweb_demo).
SNAPSHOT_DIR = Path(__file__).resolve().parent / "snapshot"


def demo_snapshot_dir() -> Path:
    """The demo snapshot the local PxWeb server serves (`CLEANTECH_DEMO_SNAPSHOT` overrides)."""
    env = os.environ.get("CLEANTECH_DEMO_SNAPSHOT")
    return Path(env) if env else SNAPSHOT_DIR
