#!/usr/bin/env bash
# Build (or reuse) a Debian 12 "bookworm" minbase image from Debian's package archive, for hosts
# that cannot pull `debian:bookworm-slim` from an image registry. The root file system tarball is
# cached between runs (CLEANTECH_DEPLOY_CACHE, default /var/cache/cleantech-deploy), so only the
# first run pays for debootstrap (~40 s).
#   usage: tests/deploy/base_image.sh TAG
set -euo pipefail
tag=${1:?usage: base_image.sh TAG}
if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "base image $tag: present"
  exit 0
fi
cache=${CLEANTECH_DEPLOY_CACHE:-/var/cache/cleantech-deploy}
tarball=$cache/bookworm-minbase.tar
mkdir -p "$cache"
if [[ ! -s $tarball ]]; then
  mirror=$(awk '/^URIs:/ {print $2; exit} /^deb / {print $2; exit}' \
    /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null || true)
  mirror=${mirror:-http://deb.debian.org/debian}
  rootfs=$(mktemp -d "$cache/rootfs.XXXXXX")
  trap 'rm -rf "$rootfs"' EXIT
  echo "debootstrap bookworm (minbase) from $mirror ..."
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$cache/debootstrap.log" 2>&1 \
    || { tail -n 20 "$cache/debootstrap.log" >&2; exit 1; }
  # What the slim image has and a Dockerfile expects: apt without recommends, no caches.
  printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
    >"$rootfs/etc/apt/apt.conf.d/90-no-recommends"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -cf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
fi
docker import --change 'CMD ["bash"]' --change 'ENV LANG=C.UTF-8' "$tarball" "$tag" >/dev/null
echo "base image $tag: imported from $tarball"
