#!/usr/bin/env bash
# `make bi`: Apache Superset on 127.0.0.1:$BI_PORT with the warehouse registered read-only and the
# dashboard from bi/superset/dashboard/ imported. Superset lives in its own virtualenv (.bi/venv,
# pinned by bi/requirements.txt); its SQLite metadata DB and generated secret key under
# $CLEANTECH_BI_HOME (default .bi/superset/). Ctrl-C stops it; nothing is left running.
set -euo pipefail
cd "$(dirname "$0")/.."
port="${1:-${BI_PORT:-8088}}"
warehouse="${CLEANTECH_WAREHOUSE:-warehouse/cleantech.duckdb}"
export CLEANTECH_BI_HOME="${CLEANTECH_BI_HOME:-$PWD/.bi/superset}"
venv=.bi/venv
uv=.venv/bin/uv

phase() { printf '[bi +%ss] %s\n' "$SECONDS" "$*"; }
[[ -x $uv ]] || { echo "error: .venv is missing: run 'make install' first" >&2; exit 1; }
[[ -f $warehouse ]] || { echo "error: no published warehouse at $warehouse: run 'make pipeline' (or 'make run') first" >&2; exit 1; }
# SO_REUSEADDR as gunicorn binds: a port in TIME_WAIT after the last Ctrl-C is free
if ! python3 -c "import socket,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', int(sys.argv[1])))" "$port" 2>/dev/null; then
  echo "error: port $port on 127.0.0.1 is in use: choose another with BI_PORT=…" >&2; exit 1
fi

# 1. Superset's virtualenv, reinstalled only when bi/requirements.txt changes
stamp="$venv/.installed-$(sha256sum bi/requirements.txt | cut -c1-16)"
if [[ ! -f $stamp ]]; then
  phase "installing Superset into $venv (bi/requirements.txt)"
  t0=$SECONDS
  [[ -x $venv/bin/python ]] || "$uv" venv --quiet --python "$(.venv/bin/python -c 'import sys; print(sys.executable)')" "$venv"
  VIRTUAL_ENV=$venv "$uv" pip sync --quiet bi/requirements.txt
  rm -f "$venv"/.installed-* && touch "$stamp"
  phase "installed in $((SECONDS - t0)) s"
fi

# 2. state: secret key (generated once, private), metadata DB migrated, roles synced
mkdir -p "$CLEANTECH_BI_HOME"
if [[ ! -s $CLEANTECH_BI_HOME/secret_key ]]; then
  (umask 077 && "$venv/bin/python" -c "import secrets; print(secrets.token_urlsafe(48))" > "$CLEANTECH_BI_HOME/secret_key")
fi
export SUPERSET_CONFIG_PATH="$PWD/bi/superset_config.py" FLASK_APP=superset SUPERSET_HOME="$CLEANTECH_BI_HOME"
export PYTHONWARNINGS="${PYTHONWARNINGS:-ignore}"
superset=("$venv/bin/superset")
init_stamp="$CLEANTECH_BI_HOME/.initialised-$(basename "$stamp")"
if [[ ! -f $init_stamp ]]; then
  phase "migrating the metadata DB and syncing roles (first start only)"
  "${superset[@]}" db upgrade >"$CLEANTECH_BI_HOME/init.log" 2>&1 || { tail -20 "$CLEANTECH_BI_HOME/init.log" >&2; echo "error: superset db upgrade failed (log: $CLEANTECH_BI_HOME/init.log)" >&2; exit 1; }
  "${superset[@]}" init >>"$CLEANTECH_BI_HOME/init.log" 2>&1 || { tail -20 "$CLEANTECH_BI_HOME/init.log" >&2; echo "error: superset init failed (log: $CLEANTECH_BI_HOME/init.log)" >&2; exit 1; }
  rm -f "$CLEANTECH_BI_HOME"/.initialised-* && touch "$init_stamp"
  phase "metadata DB ready"
fi

# 3. admin user (password generated and printed once), dashboard bundle imported against the warehouse
phase "admin user and dashboard"
"$venv/bin/python" bi/superset_setup.py setup "$warehouse" 2>"$CLEANTECH_BI_HOME/setup.log" || { tail -20 "$CLEANTECH_BI_HOME/setup.log" >&2; echo "error: importing the dashboard failed (log: $CLEANTECH_BI_HOME/setup.log)" >&2; exit 1; }

# 4. serve on loopback only; exec so Ctrl-C reaches gunicorn, which stops its workers
phase "dashboard imported; starting the web server"
phase "Superset starting on http://127.0.0.1:$port/superset/dashboard/cleantech/ (log in as admin; Ctrl-C stops it)"
exec "$venv/bin/gunicorn" --bind "127.0.0.1:$port" --workers 1 --threads 4 --timeout 120 \
  --graceful-timeout 5 --access-logfile - --error-logfile - --log-level warning "superset.app:create_app()"
