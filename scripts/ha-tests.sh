#!/usr/bin/env bash
# Run the real Home Assistant tests (tests/ha) in their own Python 3.13 venv.
#
# Home Assistant 2025.4.4 (pinned by pytest-homeassistant-custom-component
# 0.13.236) needs Python 3.13; the venv is cached because it takes ~3 minutes
# to build. Without a Python 3.13 interpreter the tests are skipped (exit 0).
#
#   scripts/ha-tests.sh [pytest args...]
#   EVSITE_HA_VENV=/path/to/venv EVSITE_HA_PYTHON=/path/to/python3.13 scripts/ha-tests.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${EVSITE_HA_VENV:-$HOME/.cache/evsite-ha-venv}"
PHCC="pytest-homeassistant-custom-component==0.13.236"

find_python() {
    if [[ -n "${EVSITE_HA_PYTHON:-}" ]]; then
        echo "$EVSITE_HA_PYTHON"
        return
    fi
    local roots=()
    if command -v pyenv >/dev/null 2>&1; then
        roots+=("$(pyenv root)")
    fi
    roots+=("$HOME/.pyenv")
    for root in "${roots[@]}"; do
        for candidate in "$root"/versions/3.13*/bin/python; do
            if [[ -x "$candidate" ]]; then
                echo "$candidate"
                return
            fi
        done
    done
    command -v python3.13 || true
}

venv_ready() {
    [[ -x "$VENV/bin/python" ]] &&
        "$VENV/bin/python" -c "import pytest_homeassistant_custom_component, homeassistant" \
            >/dev/null 2>&1
}

if ! venv_ready; then
    PYTHON="$(find_python)"
    if [[ -z "$PYTHON" ]]; then
        echo "SKIPPED: Home Assistant tests need Python 3.13 (pyenv 3.13.x not found)."
        exit 0
    fi
    mkdir -p "$(dirname "$VENV")"
    (
        # One builder at a time; a second caller waits and then reuses the venv.
        flock 9
        if ! venv_ready; then
            echo "Building the Home Assistant test venv in $VENV (about 3 minutes)..."
            "$PYTHON" -m venv "$VENV"
            "$VENV/bin/pip" install --quiet --upgrade pip
            "$VENV/bin/pip" install --quiet "$PHCC"
        fi
    ) 9>"$VENV.lock"
fi

# evsite's pure MQTT modules need only these (HA's own pins already satisfy them).
"$VENV/bin/python" -c "import voluptuous, yaml" 2>/dev/null ||
    "$VENV/bin/pip" install --quiet "voluptuous>=0.15" "PyYAML>=6.0"
# Register evsite in the venv (tests/ha/conftest.py also puts addon/ on sys.path).
if ! "$VENV/bin/python" -c "import evsite, sys; sys.exit(0 if evsite.__file__.startswith('$ROOT/') else 1)" \
    >/dev/null 2>&1; then
    "$VENV/bin/pip" install --quiet --no-deps -e "$ROOT" ||
        echo "note: editable install of evsite failed; using addon/ from sys.path"
fi

cd "$ROOT"
exec "$VENV/bin/python" -m pytest -c tests/ha/pytest.ini tests/ha -q -p no:cacheprovider "$@"
