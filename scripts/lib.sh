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

# The reference product's official Python SDK, for the compatibility test of /v2/share_link
# (tests/compat_pds_sdk.rs), in a virtual environment under target/.
PDS_SDK="alibabacloud-pds20220301==5.1.4"
ensure_pds_sdk() {
  local venv=target/pds-venv
  if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import alibabacloud_pds20220301' 2>/dev/null; then
    return 0
  fi
  command -v python3 >/dev/null 2>&1 || install_debian_packages python3
  python3 -m venv --help >/dev/null 2>&1 && python3 -c 'import ensurepip' 2>/dev/null \
    || install_debian_packages python3-venv
  say "installing the reference SDK ($PDS_SDK) into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "$PDS_SDK"
}

install_debian_packages() {
  if [ "$(id -u)" -ne 0 ]; then
    say "missing: $*. Install them (sudo apt-get install -y $*), then run this again."
    exit 1
  fi
  say "installing $* (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "$@" >/dev/null
}

# Debian's Chromium and its WebDriver, for the browser tests of the pages (tests/web_pages.rs).
ensure_chromium() {
  if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then return 0; fi
  install_debian_packages chromium chromium-driver
}
