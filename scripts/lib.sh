# Shared helpers for scripts/serve and scripts/test. Sourced, not run.

say() { printf '==> %s\n' "$*" >&2; }

# The PostgreSQL server binaries the embedded launcher needs (same search as the Rust code).
have_postgres_server() {
  if [ -n "${SHARELEDGER_PG_BIN:-}" ] && [ -x "$SHARELEDGER_PG_BIN/initdb" ]; then return 0; fi
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then return 0; fi
  if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then return 0; fi
  for dir in /usr/lib/postgresql/*/bin; do
    if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && [ -x "$dir/postgres" ]; then return 0; fi
  done
  return 1
}

ensure_postgres_server() {
  have_postgres_server && return 0
  if [ "$(id -u)" -ne 0 ]; then
    say "PostgreSQL server binaries are missing. Install them, then run this again:"
    say "  sudo apt-get install -y postgresql"
    exit 1
  fi
  say "installing the PostgreSQL server package (apt-get install postgresql)"
  # The package would create and start a system-wide cluster; we only need the binaries.
  mkdir -p /etc/postgresql-common/createcluster.d
  echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/shareledger.conf
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql >/dev/null
  have_postgres_server || { say "PostgreSQL installation failed"; exit 1; }
}

ensure_rust() {
  command -v cargo >/dev/null 2>&1 || {
    say "cargo is missing: install Rust (https://rustup.rs) and run this again"
    exit 1
  }
}
