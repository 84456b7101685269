#!/usr/bin/env bash
# Runs every check and test of PCMeter. Installs the system packages it needs
# (as root, with apt) or prints the exact install line.
set -euo pipefail
cd "$(dirname "$0")/.."

# path-or-command:package pairs the tests need. libpcsclite-dev is not one of
# them: the build links the runtime libpcsclite.so.1 (.cargo/config.toml), so
# every build here also proves that the README's demo builds without it.
need=(
  dmtxread:dmtx-utils
  /usr/sbin/pcscd:pcscd
  /usr/lib/pcsc/drivers/serial/libifdvpcd.so:vsmartcard-vpcd
  scriptor:pcsc-tools
  opensc-tool:opensc
  openssl:openssl
  curl:curl
  pdftoppm:poppler-utils
  /usr/lib/postgresql:postgresql
)
missing=()
for pair in "${need[@]}"; do
  what=${pair%%:*}
  if [[ $what == /* ]]; then [ -e "$what" ] && continue; else command -v "$what" >/dev/null 2>&1 && continue; fi
  missing+=("${pair#*:}")
done
# The PC/SC runtime library that pcmeter links (usually already there).
ldconfig -p 2>/dev/null | grep -q 'libpcsclite\.so\.1 ' || missing+=(libpcsclite1)
if ((${#missing[@]})); then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "missing system packages; install them with:" >&2
    echo "  sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

# A check that cannot run prints SKIPPED; under CI (CI set) a skip fails the run.
skips=()
skipped() {
  echo "SKIPPED: $1" >&2
  skips+=("$1")
  if [ -n "${CI:-}" ]; then
    echo "CI is set: a skipped check is a failure" >&2
    exit 1
  fi
}

# PostgreSQL is started by the authority tests themselves (testkit/src/postgres.rs:
# initdb and pg_ctl run as the postgres user in a temporary directory, on a unix
# socket there, stopped on drop); under CI a missing PostgreSQL fails the tests.
# pcscd is started by the PC/SC tests themselves (testkit/src/pcsc_rig.rs:
# `pcscd -f`, never `-a`) and stopped by PID; it needs its socket directory.
mkdir -p /run/pcscd 2>/dev/null || true

# A clean checkout gains nothing from incremental compilation, which only
# adds gigabytes of cache to the target directory; a developer's run keeps it.
if [ -n "${CI:-}" ]; then export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"; fi
df -h . 2>/dev/null | tail -n 1 | awk '{ print "disk: " $4 " free on " $6 }' || true

echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
# card-sim alone, as it builds without the aws-lc engine.
cargo clippy -p card-sim --all-targets -- -D warnings
echo "== cargo deny (bans, licenses, sources; advisories need the network)"
if ! command -v cargo-deny >/dev/null 2>&1; then
  cargo install cargo-deny --locked --quiet || true
fi
if command -v cargo-deny >/dev/null 2>&1; then
  cargo deny --log-level error check bans licenses sources
else
  skipped "cargo deny: cargo-deny is not installed and could not be installed from crates.io"
fi
echo "== cargo machete (no unused dependency in any crate)"
if ! command -v cargo-machete >/dev/null 2>&1; then
  cargo install cargo-machete --locked --quiet || true
fi
if command -v cargo-machete >/dev/null 2>&1; then
  cargo machete
else
  skipped "cargo machete: cargo-machete is not installed and could not be installed from crates.io"
fi
echo "== no [workspace.dependencies] entry that no crate uses"
unused_ws=()
for dep in $(sed -n '/^\[workspace.dependencies\]/,/^\[/{s/^\([A-Za-z0-9_-]*\) *=.*/\1/p}' Cargo.toml); do
  grep -qE "^${dep}(\.workspace *= *true| *= *\{[^}]*workspace *= *true)" ./*/Cargo.toml || unused_ws+=("$dep")
done
if ((${#unused_ws[@]})); then
  echo "unused [workspace.dependencies] entries: ${unused_ws[*]}" >&2
  exit 1
fi
echo "== host-driver links no simulator, applet, authority or SQLite"
forbidden=$(cargo tree -p host-driver -e normal | grep -E 'card-sim|card-core|authority|rusqlite|libsqlite3-sys' || true)
if [ -n "$forbidden" ]; then
  echo "host-driver depends on:" >&2
  echo "$forbidden" >&2
  exit 1
fi
echo "== card-core without the soft crypto engine, and linked into a no_std binary (nostd-check/)"
cargo build -p card-core --no-default-features
# Its own workspace with panic = "abort", its own panic handler, allocator and
# entry point: a dependency that pulls std into card-core makes it fail to build.
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}/nostd-check" \
  cargo run --quiet --manifest-path nostd-check/Cargo.toml
# The card suite runs once per crypto engine: PCMETER_ENGINE names the engine
# of every simulated card (testkit::engine; a name that is not compiled in
# fails the tests, never falls back). bench compiles card-sim's `aws-lc`
# feature into the workspace by default, so the second run reuses the build.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
total() {
  awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
       END { printf "total: %d passed, %d failed\n", p, f }' "$log"
}
echo "== cargo test, soft engine"
PCMETER_ENGINE=soft CI="${CI:-}" cargo test --workspace 2>&1 | tee "$log"
# One closing line with the totals of every test binary.
total
echo "== cargo test again, aws-lc engine (the whole workspace suite: vectors, properties, tearing, crash, PC/SC, interop)"
PCMETER_ENGINE=aws-lc CI="${CI:-}" cargo test --workspace --features card-sim/aws-lc 2>&1 | tee "$log"
total
echo "== card-sim built without aws-lc refuses to run it (no silent fallback)"
out=$(cargo test -p card-sim --test engines 2>&1) || { echo "$out"; exit 1; }
if ! grep -q "aws_lc_is_refused_when_not_compiled_in ... ok" <<<"$out"; then
  echo "$out"
  echo "card-sim built alone contains the aws-lc engine: the refusal was not tested" >&2
  exit 1
fi
# The FIPS 140-3 module of AWS-LC (feature aws-lc-fips) builds with CMake and
# Go; a third run on it rebuilds the workspace, so it is opt-in.
if [ -n "${PCMETER_TEST_FIPS:-}" ]; then
  for tool in cmake:cmake go:golang-go; do
    command -v "${tool%%:*}" >/dev/null 2>&1 || { echo "the FIPS build needs: sudo apt-get install -y ${tool#*:}" >&2; exit 1; }
  done
  echo "== cargo test again, aws-lc engine as the FIPS module (PCMETER_TEST_FIPS set)"
  PCMETER_ENGINE=aws-lc CI="${CI:-}" cargo test --workspace --features card-sim/aws-lc-fips 2>&1 | tee "$log"
  total
fi
if ((${#skips[@]})); then
  echo "SKIPPED checks (a failure under CI):"
  printf '  %s\n' "${skips[@]}"
fi
