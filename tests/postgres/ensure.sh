#!/usr/bin/env bash
# Makes sure a PostgreSQL answers for the tests on the PostgreSQL backend
# (WASMCRON_TEST_BACKEND=postgres; `make test` runs them). Idempotent:
#   - WASMCRON_TEST_DATABASE_URL set: that server is used; nothing to do here.
#   - something answers on 127.0.0.1:5432: used as postgres://postgres@127.0.0.1:5432.
#   - otherwise: installs Debian's `postgresql` if initdb is missing (apt-get), and starts
#     a throwaway cluster in a temporary directory on 127.0.0.1:5432, trust auth, user
#     postgres. It keeps running after the tests; the line printed says how to stop it.
set -euo pipefail

if [ -n "${WASMCRON_TEST_DATABASE_URL:-}" ]; then
  echo "PostgreSQL for the tests: WASMCRON_TEST_DATABASE_URL"
  exit 0
fi

answers() { timeout 2 bash -c '</dev/tcp/127.0.0.1/5432' 2>/dev/null; }
if answers; then
  echo "PostgreSQL for the tests: 127.0.0.1:5432"
  exit 0
fi

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

if [ -z "$(bindir)" ] || [ ! -x "$(bindir)/initdb" ]; then
  echo "installing PostgreSQL (Debian's postgresql package)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
bin=$(bindir)

dir=$(mktemp -d /tmp/wasmcron-postgres.XXXXXX)
# initdb refuses to run as root: as root the cluster belongs to the `postgres` user the
# package created; otherwise to the caller.
run() {
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres: "$dir"
    su postgres -s /bin/bash -c "$(printf '%q ' "$@")"
  else
    "$@"
  fi
}
run "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 --no-sync >/dev/null
run "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
  -o "-c listen_addresses=127.0.0.1 -p 5432 -k $dir -c fsync=off -c max_connections=400" start >/dev/null
for _ in $(seq 1 50); do
  answers && break
  sleep 0.2
done
answers || { cat "$dir/log"; echo "PostgreSQL did not start"; exit 1; }
if ! run "$bin/psql" -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'test'" | grep -q 1; then
  run "$bin/createdb" -h 127.0.0.1 -U postgres test
fi
echo "PostgreSQL for the tests: a cluster in $dir on 127.0.0.1:5432 (stop it: $bin/pg_ctl -D $dir/data stop)"
