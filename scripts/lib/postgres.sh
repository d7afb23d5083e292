# A throwaway PostgreSQL server for the test suite: initialised in a temp dir, run as
# the `postgres` system user when we are root (PostgreSQL refuses to run as root),
# listening on loopback only, stopped by the caller's EXIT trap (`stop_test_postgres`).
# Sets TAIPEI_TEST_DATABASE_URL for the server's tests.

TEST_PG_PORT="${TEST_PG_PORT:-55432}"

pg_bin_dir() {
  local dir
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  [ -n "$dir" ] && [ -x "$dir/initdb" ] || { echo "PostgreSQL's server binaries are not installed (Debian package postgresql)" >&2; return 1; }
  echo "$dir"
}

as_pg_user() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

start_test_postgres() {
  local bin
  bin="$(pg_bin_dir)"
  TEST_PG_DIR="$(mktemp -d /tmp/taipei-pg.XXXXXX)"
  [ "$(id -u)" -eq 0 ] && chown postgres "$TEST_PG_DIR"
  as_pg_user "$bin/initdb" -D "$TEST_PG_DIR/data" -U postgres --auth=trust -E UTF8 >"$TEST_PG_DIR/initdb.log" 2>&1 \
    || { cat "$TEST_PG_DIR/initdb.log" >&2; return 1; }
  # fsync off: a test database is thrown away, and the suite is I/O bound without it.
  as_pg_user "$bin/pg_ctl" -D "$TEST_PG_DIR/data" -l "$TEST_PG_DIR/server.log" -w -o \
    "-p $TEST_PG_PORT -k $TEST_PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=400" start >/dev/null \
    || { cat "$TEST_PG_DIR/server.log" >&2; return 1; }
  export TAIPEI_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$TEST_PG_PORT/postgres"
  TEST_PG_BIN="$bin"
}

stop_test_postgres() {
  if [ -n "${TEST_PG_DIR:-}" ] && [ -d "$TEST_PG_DIR/data" ]; then
    as_pg_user "$TEST_PG_BIN/pg_ctl" -D "$TEST_PG_DIR/data" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$TEST_PG_DIR"
  fi
}
