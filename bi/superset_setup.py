"""`make bi` setup steps that need Superset's app context (run with .bi/venv/bin/python).

    python bi/superset_setup.py setup WAREHOUSE   # both below in one process (what make bi runs)
    python bi/superset_setup.py admin             # create user `admin` if missing; print its password once
    python bi/superset_setup.py import WAREHOUSE  # import bi/superset/dashboard/ against WAREHOUSE
    python bi/superset_setup.py readonly-check    # the registered database refuses a write (exit 0 if so)

The dashboard bundle (Superset's export format, unzipped) is imported with every asset overwritten,
and the database's SQLAlchemy URI is set to the warehouse given, read-only through duckdb-engine's
`connect_args`. Re-running after a change to the YAML applies it.
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

BUNDLE = Path(__file__).resolve().parent / "superset" / "dashboard"
DATABASE_NAME = "cleantech warehouse"
ADMIN = "admin"


def _app():  # type: ignore[no-untyped-def]
    from superset.app import create_app

    app = create_app()
    return app


def bundle_contents(warehouse: Path) -> dict[str, str]:
    """The YAML files of the bundle keyed by path (as an unzipped export), with the warehouse URI."""
    uri = f"duckdb:///{warehouse.resolve()}"
    contents: dict[str, str] = {}
    for path in sorted(BUNDLE.rglob("*.yaml")):
        text = path.read_text(encoding="utf-8").replace("duckdb:///WAREHOUSE", uri)
        if path.name == "metadata.yaml":
            # an assets import overwrites databases, datasets and charts too (a dashboard import
            # keeps existing ones, so edits to the YAML would not apply on the next start)
            text = text.replace("type: Dashboard", "type: assets")
        contents[path.relative_to(BUNDLE).as_posix()] = text
    return contents


def import_bundle(warehouse: Path) -> None:
    """Import (overwrite) the dashboard, its charts, datasets and the read-only database."""
    from flask import g
    from superset import db, security_manager
    from superset.commands.importers.v1.assets import ImportAssetsCommand
    from superset.models.core import Database

    g.user = security_manager.find_user(username=ADMIN)
    ImportAssetsCommand(bundle_contents(warehouse)).run()
    database = db.session.query(Database).filter_by(database_name=DATABASE_NAME).one()
    connect_args = database.get_extra()["engine_params"]["connect_args"]
    if connect_args.get("read_only") is not True or database.allow_dml:
        sys.exit(f"error: {BUNDLE}: the database must be read-only (connect_args) without DML")
    print(f"imported dashboard bundle {BUNDLE} → {database.sqlalchemy_uri_decrypted}", flush=True)


def ensure_admin() -> None:
    """Create the admin user with a generated password (printed once) unless it exists."""
    from superset import db, security_manager

    if security_manager.find_user(username=ADMIN):
        print(
            f"user '{ADMIN}' exists (password printed when it was created; "
            "reset: .bi/venv/bin/superset fab reset-password --username admin)",
            flush=True,
        )
        return
    password = secrets.token_urlsafe(16)
    role = security_manager.find_role("Admin")
    user = security_manager.add_user(ADMIN, "Cleantech", "Admin", "admin@localhost", role, password)
    if not user:
        sys.exit("error: could not create the Superset admin user")
    db.session.commit()
    print(
        f"Superset admin user created: login '{ADMIN}', password '{password}' (shown only now)",
        flush=True,
    )


def readonly_check() -> None:
    """Write through the registered database's own engine: DuckDB must refuse (read-only)."""
    import sqlalchemy as sa
    from superset import db
    from superset.models.core import Database

    database = db.session.query(Database).filter_by(database_name=DATABASE_NAME).one()
    with database.get_sqla_engine() as engine, engine.connect() as conn:
        try:
            conn.execute(sa.text("create table marts.superset_write_probe as select 1 as x"))
        except sa.exc.DBAPIError as exc:
            print(f"refused: {str(exc.orig).splitlines()[0]}")
            return
    sys.exit("error: a write through the registered database succeeded")


def main(argv: list[str]) -> None:
    """Dispatch one setup step inside the Superset app context."""
    if not argv:
        sys.exit(__doc__)
    app = _app()
    with app.app_context():
        if argv[0] == "setup" and len(argv) == 2:
            ensure_admin()
            import_bundle(Path(argv[1]))
        elif argv[0] == "admin":
            ensure_admin()
        elif argv[0] == "import" and len(argv) == 2:
            import_bundle(Path(argv[1]))
        elif argv[0] == "readonly-check":
            readonly_check()
        else:
            sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
