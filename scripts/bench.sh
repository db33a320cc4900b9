#!/usr/bin/env bash
# Builds crmd and crm-bench in release mode and runs the benchmark: crm-bench starts the release crmd
# beside it on a temporary data directory and socket (default durable config), drives it, and stops
# it with SIGTERM. Arguments go to crm-bench, e.g.:
#   scripts/bench.sh                 # every mode, readable table
#   scripts/bench.sh write --json    # one mode, one JSON object
#   scripts/bench.sh scale --scale-events 1000000
#   scripts/bench.sh scale --scale-customers 1000000   # crmd's RssAnon with a million customers
#   scripts/bench.sh value           # value reports and value.model.fit on 100,000 customers (not in all)
#   scripts/bench.sh marketing       # a segment and campaign sends over 100,000 customers (not in all)
#   scripts/bench.sh encryption      # the same build with personal data encrypted and in plain text (not in all)
# Set CRM_BENCH_SCRATCH to build elsewhere than .build (e.g. a separate release build directory).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
scratch=(); [ -n "${CRM_BENCH_SCRATCH:-}" ] && scratch=(--scratch-path "$CRM_BENCH_SCRATCH")
swift build -c release "${scratch[@]}" --product crmd >&2
swift build -c release "${scratch[@]}" --product crm-bench >&2
bin="$(swift build -c release "${scratch[@]}" --show-bin-path)"
exec "$bin/crm-bench" "$@"
