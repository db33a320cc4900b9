#!/usr/bin/env bash
# Installs what is missing, builds everything (daemon, CLI, tests) and runs every test.
# Usage: scripts/test.sh [extra `swift test` arguments, e.g. --filter CRMDomainTests]
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
swift build --build-tests
swift test --skip-build "$@"
