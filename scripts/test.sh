#!/usr/bin/env bash
# Installs what is missing, builds everything (daemon, CLI, tests) and runs every test.
# Usage: scripts/test.sh [extra `swift test` arguments, e.g. --filter CRMDomainTests]
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

# The CDNOW acceptance test checks crmd's value-model fit against the Python package lifetimes,
# installed into a private virtual environment. Only when the package registry cannot be reached is
# the test skipped (it says why); any other install failure stops here.
venv=.build/lifetimes-venv
if ! "$venv/bin/python" -c 'import lifetimes' >/dev/null 2>&1; then
    if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
        echo "test: installing python3 and python3-venv" >&2
        apt-get update >/dev/null && apt-get install -y python3 python3-venv >/dev/null
    fi
    echo "test: installing lifetimes 0.11.3 into $venv" >&2
    rm -rf "$venv" && mkdir -p .build && python3 -m venv "$venv"
    if ! "$venv/bin/pip" install --quiet --disable-pip-version-check lifetimes==0.11.3; then
        probe=$(mktemp -d)
        if "$venv/bin/pip" download --quiet --no-deps --disable-pip-version-check -d "$probe" lifetimes==0.11.3 \
            >/dev/null 2>&1; then
            echo "test: installing lifetimes failed although the package registry answers" >&2
            exit 1
        fi
        rm -rf "$probe" "$venv"
        export CRMD_LIFETIMES_SKIP="the Python package registry cannot be reached, so lifetimes is not installed"
        echo "test: $CRMD_LIFETIMES_SKIP; the CDNOW test is skipped" >&2
    fi
fi
if [ -z "${CRMD_LIFETIMES_SKIP:-}" ]; then export CRMD_LIFETIMES_PYTHON="$PWD/$venv/bin/python"; fi

# MetricsTests parse crmd's metrics with the real Prometheus text parser of prometheus_client, run by
# the system Python (/usr/bin/python3); without it they fail, so install it when it is missing.
if ! /usr/bin/python3 -c 'import prometheus_client' >/dev/null 2>&1; then
    echo "test: installing python3-prometheus-client" >&2
    SUDO=""
    if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update >/dev/null && $SUDO apt-get install -y python3-prometheus-client >/dev/null
fi

swift build --build-tests
swift test --skip-build "$@"
