#!/usr/bin/env bash
# Installs what the image build and its CI test need when it is missing: podman (the container
# engine with a Docker-compatible API), runc (crun refuses this kernel's hybrid cgroup layout) and
# debootstrap (the local base image; no container registry is reachable). Debian/Ubuntu, as root.
# Called by tests/integration/test_image.py and `make image`; a no-op when all three are present.
set -euo pipefail
missing=()
for tool in podman runc debootstrap; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "ensure_podman: need root to apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "ensure_podman: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends podman runc debootstrap uidmap fuse-overlayfs >/dev/null
