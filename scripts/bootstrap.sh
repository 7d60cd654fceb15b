#!/usr/bin/env bash
# Bring a fresh Debian machine to where `make demo` and `make test` run: the system packages
# kassa needs (installed with apt when missing, as root or through sudo) and the project's
# virtual environment in .venv (reinstalled only when pyproject.toml changes).
set -euo pipefail
cd "$(dirname "$0")/.."

SYSTEM_PACKAGES=(gcc make pcscd vsmartcard-vpcd libpcsclite-dev swig chromium postgresql-client
                 fonts-dejavu-core iproute2 nftables)
# Debian's python3 needs these for a venv and for building pyscard; a Python that already has
# venv, ensurepip and its headers (pyenv, a distribution build with -dev) does not.
if ! python3 -c 'import venv, ensurepip, sysconfig, os
assert os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h"))' 2>/dev/null; then
  SYSTEM_PACKAGES+=(python3-venv python3-dev)
fi

missing=()
for pkg in "${SYSTEM_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "bootstrap: installing system packages: ${missing[*]}"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "bootstrap: need root or password-less sudo to install: ${missing[*]}" >&2; exit 1; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
"$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11), "kassa needs Python 3.11+"'
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
stamp=".venv/.kassa-installed"
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "bootstrap: installing kassa and its dependencies into .venv"
  mkdir -p var
  # pip's chatter (build warnings, local-mirror notes) goes to a log, shown only on failure.
  if ! { .venv/bin/python -m pip install -q --upgrade pip &&
         .venv/bin/python -m pip install -q -e '.[dev]'; } > var/pip-install.log 2>&1; then
    cat var/pip-install.log >&2
    echo "bootstrap: pip install failed (log above, also in var/pip-install.log)" >&2
    exit 1
  fi
  echo "$want" > "$stamp"
fi
