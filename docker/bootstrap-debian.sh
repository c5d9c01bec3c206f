#!/usr/bin/env bash
# Build Debian base images without a registry: debootstrap a minimal root file
# system and `docker import` it. For hosts that cannot pull images.
#
#   docker/bootstrap-debian.sh [SUITE ...]      (default: bookworm trixie)
#
# Makes zarrmatrix/debian:<suite>. Map public bases to them in matrix.yaml
# (docker.base_images) or with --base-image, e.g.
#   --base-image debian:bookworm-slim=zarrmatrix/debian:bookworm
# Needs root, debootstrap and a Debian mirror (MIRROR, default deb.debian.org over http).
set -euo pipefail
MIRROR=${MIRROR:-http://deb.debian.org/debian}
suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(bookworm trixie)
for suite in "${suites[@]}"; do
  name="zarrmatrix/debian:${suite}"
  if docker image inspect "$name" >/dev/null 2>&1; then
    echo "$name: already there"
    continue
  fi
  root=$(mktemp -d "/tmp/zarrmatrix-${suite}.XXXXXX")
  trap 'rm -rf "$root"' EXIT
  echo "$name: debootstrap $suite from $MIRROR"
  debootstrap --variant=minbase "$suite" "$root" "$MIRROR" >"$root.log" 2>&1 || { tail -20 "$root.log"; exit 1; }
  tar -C "$root" -c . | docker import - "$name"
  rm -rf "$root" "$root.log"
  trap - EXIT
  echo "$name: imported"
done
