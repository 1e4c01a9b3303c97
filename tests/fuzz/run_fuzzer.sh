#!/bin/sh
# run_fuzzer.sh FUZZER SEEDS SECONDS ARTIFACTS: runs a libFuzzer binary for
# SECONDS over a scratch copy of the seed directory SEEDS (the repository
# stays clean) with a 64 MiB allocation cap and a 512 MiB RSS cap. Exits
# non-zero on any crash, leak, OOM or timeout; the input that did it is
# kept in ARTIFACTS.
set -eu
fuzzer=$1 seeds=$2 secs=$3 artifacts=$4
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" "$artifacts"
cp "$seeds"/* "$work/corpus/"
if "$fuzzer" -max_total_time="$secs" -malloc_limit_mb=64 -rss_limit_mb=512 \
     -timeout=10 -print_final_stats=1 -artifact_prefix="$artifacts/" \
     "$work/corpus"; then
  exit 0
fi
echo "FAIL: $(basename "$fuzzer") found a crash, leak or OOM; reproduce with:" >&2
echo "  $fuzzer $artifacts/<file>" >&2
exit 1
