#!/usr/bin/env bash
# Runs PCMeter's fuzz targets. Usage: fuzz/run.sh SECONDS [TARGET...]
# Needs cargo-fuzz (`cargo install cargo-fuzz`); RUSTC_BOOTSTRAP=1 lets it use
# the nightly flags (sanitizer, coverage) on the stable toolchain.
# Seeds are in fuzz/corpus/TARGET (committed); new inputs go to fuzz/work/TARGET.
# Prints one Markdown row per target: runs, runs/s, corpus size, findings.
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-600}; shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(apdu_stream apdu_tlv personalization rate_table vpcd_frame host_responses indicium_verify pki_parsers)
export RUSTC_BOOTSTRAP=1
cargo fuzz build >/dev/null
for t in "${targets[@]}"; do
  mkdir -p "work/$t" "logs"
  cargo fuzz run "$t" "work/$t" "corpus/$t" -- -max_total_time="$secs" -print_final_stats=1 -rss_limit_mb=2048 >"logs/$t.log" 2>&1 && status=ok || status=FINDING
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "logs/$t.log" | grep -o '[0-9]*$' || echo 0)
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "logs/$t.log" | grep -o '[0-9]*$' || echo 0)
  corpus=$(ls "work/$t" "corpus/$t" | wc -l)
  echo "| $t | ${secs} s | $runs | $rate | $corpus | $status |"
done
