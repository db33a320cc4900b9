#!/usr/bin/env bash
# Installs what crmd needs to build and test, when it is missing (see the package list below).
# Idempotent: does nothing when everything is present.
set -euo pipefail

if ! command -v swift >/dev/null 2>&1; then
    echo "setup: the Swift toolchain (swift 6.2 or newer) is not on PATH; install it first" >&2
    exit 1
fi

# The Debian packages crmd needs: liblmdb-dev (the LMDB C library and header), libssl-dev (OpenSSL's
# libcrypto, for AES-256-GCM of personal data), libnats-dev (the NATS C client, for the relay into
# JetStream and read replicas) and nats-server (the relay's tests start one on loopback; its systemd
# unit is not used).
missing_packages() {
    [ -f /usr/include/lmdb.h ] && ldconfig -p 2>/dev/null | grep -q 'liblmdb\.so' || echo liblmdb-dev
    [ -f /usr/include/openssl/evp.h ] && ldconfig -p 2>/dev/null | grep -q 'libcrypto\.so ' || echo libssl-dev
    [ -f /usr/include/nats/nats.h ] && ldconfig -p 2>/dev/null | grep -q 'libnats\.so' || echo libnats-dev
    command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || echo nats-server
}

missing=$(missing_packages | tr '\n' ' ')
if [ -n "${missing// /}" ]; then
    echo "setup: installing $missing" >&2
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
            echo "setup: $missing missing and this user cannot install packages; run: apt-get install -y $missing" >&2
            exit 1
        fi
    fi
    export DEBIAN_FRONTEND=noninteractive
    # shellcheck disable=SC2086
    if ! $SUDO apt-get install -y $missing >/dev/null 2>&1; then
        $SUDO apt-get update
        $SUDO apt-get install -y $missing
    fi
fi
