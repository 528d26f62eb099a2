#!/usr/bin/env bash
# Installs everything tenken's tests need on a fresh Debian machine, then runs lint and the whole suite.
# The README's test command and .ci/run both call this script.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages started by the tests themselves: real sshd, TLS servers, PostgreSQL, Chromium, chrony;
# rpm, createrepo-c and dnf build real RHEL roots (rpm databases, repodata, dnf caches) and real dnf is the
# reference the files-only dnf computation is checked against (tests/linux/test_rpm_vs_dnf.py); zstd and
# sqlite3 are the decoders the target-side scripts call; db5.3-util writes the Berkeley DB rpm databases
# (RHEL 7/8) that tests/linux/test_rpmdb_bdb.py reads, checked against rpm's own bdb_ro reader.
PKGS=(openssh-server openssh-client openssl nginx chrony postgresql sudo chromium chromium-driver lynis testssl.sh distro-info-data mmdebstrap podman buildah fonts-noto-cjk poppler-utils rpm createrepo-c dnf zstd sqlite3 db5.3-util)
missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -e '.[test]'

.venv/bin/ruff check .
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
