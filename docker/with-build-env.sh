#!/bin/sh
# Build stage only: run a command with the optional build CA (./build-ca.pem) and package index
# (build args PIP_INDEX_URL, UV_DEFAULT_INDEX; empty = PyPI) in its environment.
set -e
if [ -f /opt/cleantech/build-ca.pem ]; then
  export SSL_CERT_FILE=/opt/cleantech/build-ca.pem PIP_CERT=/opt/cleantech/build-ca.pem
fi
[ -n "${PIP_INDEX_URL:-}" ] || unset PIP_INDEX_URL
[ -n "${UV_DEFAULT_INDEX:-}" ] || unset UV_DEFAULT_INDEX
exec "$@"
