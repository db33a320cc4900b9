#!/usr/bin/env bash
# Installs what is missing, builds crmd and crmctl (release), and starts crmd in the foreground on the
# embedded default config (config/crmd.json: socket ./var/crmd.sock, data ./var/data).
# Extra arguments go to crmd, e.g. scripts/run.sh --log-level debug. Stop it with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
swift build -c release --product crmd
swift build -c release --product crmctl
mkdir -p var
echo "run: starting crmd; in another shell try: .build/release/crmctl system ping" >&2
exec .build/release/crmd --config config/crmd.json "$@"
