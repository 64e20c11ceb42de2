#!/usr/bin/env bash
# `make test` runs this before the suite: the report test draws the HTML report's charts in
# headless Chromium. Where no Chromium is on PATH (and CHROMIUM_BIN is unset), install the system
# package when we can (root on Debian/Ubuntu); otherwise stop with one line saying what to install.
set -euo pipefail

# The same names tests/cleantech/outputs/browser.py looks for.
candidates=(chromium chromium-browser google-chrome google-chrome-stable chrome)

found() {
  if [[ -n ${CHROMIUM_BIN:-} ]]; then
    [[ -x $CHROMIUM_BIN ]] || command -v "$CHROMIUM_BIN" >/dev/null 2>&1
    return
  fi
  local name
  for name in "${candidates[@]}"; do
    command -v "$name" >/dev/null 2>&1 && return 0
  done
  return 1
}

fail() {
  echo "error: $*" >&2
  exit 1
}

found && exit 0
[[ -z ${CHROMIUM_BIN:-} ]] || fail "CHROMIUM_BIN=$CHROMIUM_BIN is not an executable"

os_ids=""
if [[ -r /etc/os-release ]]; then
  os_ids="$(. /etc/os-release && echo "${ID:-} ${ID_LIKE:-}")"
fi
debian_like=false
[[ " $os_ids " == *" debian "* || " $os_ids " == *" ubuntu "* ]] && debian_like=true
hint="install your system's Chromium package (Debian/Ubuntu: sudo apt-get install chromium) or set CHROMIUM_BIN to a Chromium or Chrome binary, then run make test again"

if [[ $(id -u) -ne 0 ]] || ! $debian_like || ! command -v apt-get >/dev/null 2>&1; then
  fail "make test needs Chromium for the report test and none is on PATH: $hint"
fi

log="$(mktemp "${TMPDIR:-/tmp}/ensure-chromium.XXXXXX.log")"
trap 'rm -f "$log"' EXIT
# Wait for a dpkg lock held by another apt run rather than failing at once.
apt=(apt-get -o DPkg::Lock::Timeout=300 -qq)
echo "Chromium is missing: installing the system package (apt-get) for the report test..."
"${apt[@]}" update >"$log" 2>&1 || fail "apt-get update failed: $(tail -n 1 "$log")"
# Debian names the package chromium; older Ubuntu releases chromium-browser.
package=""
for name in chromium chromium-browser; do
  if apt-cache show "$name" >/dev/null 2>&1; then
    package="$name"
    break
  fi
done
[[ -n $package ]] || fail "no chromium package in the apt sources: $hint"
DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y "$package" >"$log" 2>&1 ||
  fail "apt-get install $package failed: $(tail -n 1 "$log")"
found || fail "installed $package but no Chromium binary is on PATH: $hint"
echo "Chromium installed (Debian/Ubuntu package $package)."
