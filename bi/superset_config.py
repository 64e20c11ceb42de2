"""Superset configuration for `make bi` (SUPERSET_CONFIG_PATH points here; read by .bi/venv).

State lives under CLEANTECH_BI_HOME (default `.bi/superset/`, ignored by git): the SQLite metadata
DB and the generated secret key. Nothing here is a secret.
"""

import os
from pathlib import Path

_STATE = Path(
    os.environ.get("CLEANTECH_BI_HOME", Path(__file__).resolve().parents[1] / ".bi" / "superset")
)

# generated once by scripts/bi.sh (mode 600); Superset refuses to start on its default key
SECRET_KEY = (_STATE / "secret_key").read_text(encoding="utf-8").strip()
SQLALCHEMY_DATABASE_URI = f"sqlite:///{_STATE / 'superset.db'}"

# No result cache: the published file is replaced on every publish and DuckDB on a local file
# answers in milliseconds, so each chart query reads the file as it is now.
CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
DATA_CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}

# one machine, loopback only: no telemetry, no example data, no thumbnails
FEATURE_FLAGS = {"THUMBNAILS": False, "ALERT_REPORTS": False}
SCARF_ANALYTICS = False
SQLLAB_TIMEOUT = 60
SUPERSET_WEBSERVER_TIMEOUT = 120
