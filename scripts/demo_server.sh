# Sourced by the run scripts: start the local PxWeb server (demo snapshot) in the background and
# wait until it answers. One copy of this, so every script gets the same checks.
#   start_demo_server PORT [LOGFILE [SERVE-DEMO FLAGS...]]
#                                      → sets $server (its PID) and exports PXWEB_BASE_URL
#                                        (pass --control for the /_control endpoints)
#   trap stop_demo_server EXIT         → the caller stops it however the script ends
# Needs $py (the venv's python).
server=""

stop_demo_server() {
  if [[ -n $server ]]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
}

start_demo_server() {
  local port=$1 log=${2:-/dev/null}
  shift $(( $# < 2 ? $# : 2 ))
  export PXWEB_BASE_URL="http://127.0.0.1:${port}/api/v2"
  # Someone else's server on the port would answer our health check: refuse a taken port up front.
  if ! "$py" -c "import socket,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', int(sys.argv[1]))); s.close()" "$port" 2>/dev/null; then
    echo "error: port ${port} is already in use: stop what listens there, or choose another (DEMO_PORT=...)" >&2
    return 1
  fi
  "$py" -m cleantech serve-demo --port "$port" "$@" >>"$log" 2>&1 &
  server=$!
  local _
  for _ in $(seq 1 100); do
    kill -0 "$server" 2>/dev/null || { echo "error: the local PxWeb server did not start (port ${port} in use?)" >&2; return 1; }
    if "$py" -c "import httpx; httpx.get('${PXWEB_BASE_URL}/config', timeout=1).raise_for_status()" 2>/dev/null; then
      # the answer must have come from our server, not from one that took the port meanwhile
      sleep 0.3
      kill -0 "$server" 2>/dev/null || { echo "error: the local PxWeb server exited (port ${port} in use?)" >&2; return 1; }
      return 0
    fi
    sleep 0.2
  done
  echo "error: the local PxWeb server did not answer on ${PXWEB_BASE_URL} within 20 s" >&2
  return 1
}
