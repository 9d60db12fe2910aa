#!/usr/bin/env bash
# The PostgreSQL tests need the server on 127.0.0.1:5432 (trust auth, database `test`).
# On this project's machines it is installed and usually running; start it if it is not.
set -u
if command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432; then exit 0; fi
if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  for _ in $(seq 1 20); do pg_isready -q -h 127.0.0.1 -p 5432 && exit 0; sleep 0.5; done
fi
echo "PostgreSQL is not reachable on 127.0.0.1:5432: the postgres tests will be skipped" >&2
exit 0
