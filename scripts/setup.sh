#!/usr/bin/env bash
# Installs what crmd needs to build, when it is missing: liblmdb-dev (the LMDB C library and header).
# Idempotent: does nothing when everything is present.
set -euo pipefail

if ! command -v swift >/dev/null 2>&1; then
    echo "setup: the Swift toolchain (swift 6.2 or newer) is not on PATH; install it first" >&2
    exit 1
fi

have_lmdb() {
    [ -f /usr/include/lmdb.h ] && ldconfig -p 2>/dev/null | grep -q 'liblmdb\.so'
}

if ! have_lmdb; then
    echo "setup: installing liblmdb-dev" >&2
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
            echo "setup: liblmdb-dev is missing and this user cannot install packages; run: apt-get install -y liblmdb-dev" >&2
            exit 1
        fi
    fi
    export DEBIAN_FRONTEND=noninteractive
    if ! $SUDO apt-get install -y liblmdb-dev >/dev/null 2>&1; then
        $SUDO apt-get update
        $SUDO apt-get install -y liblmdb-dev
    fi
fi
