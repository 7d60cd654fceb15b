#!/usr/bin/env bash
# The test suite needs PostgreSQL at 127.0.0.1:5432 (trust auth). Start the local cluster if it
# is installed but stopped; otherwise say so loudly: the PostgreSQL half of the suite is not
# optional, and the tests fail rather than skip without it.
set -euo pipefail
ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
ready && exit 0
if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
  for version in $(ls /etc/postgresql); do
    pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null || true
  done
  for _ in $(seq 1 30); do ready && exit 0; sleep 0.5; done
fi
echo "ensure-postgres: no PostgreSQL answers at 127.0.0.1:5432; the PostgreSQL tests will fail" >&2
