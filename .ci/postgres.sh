#!/usr/bin/env bash
# Starts a throw-away PostgreSQL cluster for the tests: Debian's packages (installed when
# missing), run as an unprivileged user, on a free loopback port, data in a temp dir.
# Usage: source .ci/postgres.sh — exports TEST_POSTGRES_URL; the cluster stops (and its
# directory goes) when the sourcing shell exits. Meant for .ci/run and throw-away shells.

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  pg_sudo=""
  [ "$(id -u)" = 0 ] || pg_sudo="sudo"
  $pg_sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $pg_sudo apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi
pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
pg_dir=$(mktemp -d /tmp/gs-postgres.XXXXXX)
pg_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# initdb refuses to run as root: the cluster belongs to an unprivileged user.
pg_as_owner=()
if [ "$(id -u)" = 0 ]; then
  chown nobody: "$pg_dir"
  pg_as_owner=(runuser -u nobody --)
fi
stop_postgres() {
  "${pg_as_owner[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$pg_dir"
}
trap stop_postgres EXIT
if ! "${pg_as_owner[@]}" "$pg_bin/initdb" -D "$pg_dir/data" -U genesys -A trust --no-sync -E UTF8 >"$pg_dir/initdb.log" 2>&1 ||
  ! "${pg_as_owner[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $pg_port -k $pg_dir -c max_connections=200" start >/dev/null; then
  echo "PostgreSQL did not start:" >&2
  cat "$pg_dir/initdb.log" "$pg_dir/log" >&2 2>/dev/null || true
  return 1 2>/dev/null || exit 1
fi
export TEST_POSTGRES_URL="postgres://genesys@127.0.0.1:$pg_port/postgres"
echo "PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$pg_port"
