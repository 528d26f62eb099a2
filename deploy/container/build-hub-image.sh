#!/usr/bin/env bash
# Build the tenken hub image WITHOUT pulling any base image: a Debian bookworm root file system made by
# mmdebstrap from Debian's own packages, plus tenken and its dependencies installed from a local wheelhouse,
# committed with buildah (health check, non-root user, data volume). Output: an OCI image in the given
# containers-storage root (vfs driver, so it works without overlayfs or a running daemon).
#
#   deploy/container/build-hub-image.sh WORKDIR [TAG]     (run as root; needs mmdebstrap, buildah, pip)
set -euo pipefail
work=$(realpath "$1"); tag=${2:-localhost/tenken-hub:dev}
repo=$(cd "$(dirname "$0")/../.." && pwd)
py=${PYTHON:-python3}
mkdir -p "$work/wheelhouse" "$work/storage" "$work/run"
# 1. tenken and every dependency as wheels (from the package index pip is configured with).
"$py" -m pip wheel -q -w "$work/wheelhouse" "$repo"
# 2. Debian bookworm root fs: python3 + venv, certificates; tenken in /opt/tenken; the tenken-hub user.
mmdebstrap --quiet --variant=apt --include=python3,python3-venv,ca-certificates \
  --customize-hook='mkdir -p "$1/tmp/wheelhouse"' \
  --customize-hook="copy-in $work/wheelhouse /tmp" \
  --customize-hook='chroot "$1" python3 -m venv /opt/tenken' \
  --customize-hook='chroot "$1" /opt/tenken/bin/pip install -q --no-index --find-links /tmp/wheelhouse tenken' \
  --customize-hook='rm -rf "$1/tmp/wheelhouse" "$1/var/cache/apt/archives/"*.deb "$1/var/lib/apt/lists/"*' \
  --customize-hook='chroot "$1" useradd --system --uid 10002 --user-group --home-dir /var/lib/tenken-hub --shell /usr/sbin/nologin tenken-hub' \
  --customize-hook='install -d -o 10002 -g 10002 -m 0700 "$1/var/lib/tenken-hub"' \
  bookworm "$work/rootfs.tar" http://deb.debian.org/debian
# 3. Image: scratch + root fs, metadata. The health check opens a TLS connection to the hub's port.
export BUILDAH_FORMAT=docker  # HEALTHCHECK exists only in the docker image format
b=(buildah --root "$work/storage" --runroot "$work/run" --storage-driver vfs)
ctr=$("${b[@]}" from scratch)
"${b[@]}" add "$ctr" "$work/rootfs.tar" /
"${b[@]}" config --user 10002:10002 --workingdir /var/lib/tenken-hub \
  --env TENKEN_HUB_DATA=/var/lib/tenken-hub --env PYTHONUNBUFFERED=1 \
  --entrypoint '["/opt/tenken/bin/tenken-hub", "serve", "--data", "/var/lib/tenken-hub", "--host", "0.0.0.0", "--port", "8443"]' \
  --cmd '[]' --port 8443/tcp --volume /var/lib/tenken-hub \
  --healthcheck 'CMD /opt/tenken/bin/python -c "import socket,ssl; c=ssl.create_default_context(); c.check_hostname=False; c.verify_mode=ssl.CERT_NONE; c.wrap_socket(socket.create_connection((\"127.0.0.1\",8443),5)).close()"' \
  --healthcheck-interval 30s --healthcheck-timeout 10s --healthcheck-retries 3 \
  --label org.opencontainers.image.title=tenken-hub --label org.opencontainers.image.licenses=AGPL-3.0-or-later \
  "$ctr"
"${b[@]}" commit --quiet --format docker "$ctr" "$tag"
"${b[@]}" rm "$ctr" >/dev/null
echo "$tag"
