"""Real Home Assistant (pytest-homeassistant-custom-component) test harness.

Run by scripts/ha-tests.sh in its own Python 3.13 venv, never by the main
suite (pyproject: norecursedirs = tests/ha).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The evsite package (pure discovery/topic modules) and our custom_components
# package must win over phcc's own ``testing_config/custom_components``.
for entry in (str(ROOT), str(ROOT / "addon")):
    if entry not in sys.path:
        sys.path.insert(0, entry)

import custom_components  # noqa: E402, F401  (must import before HA's testing_config)

pytest_plugins = ["pytest_homeassistant_custom_component"]


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let HA load integrations from our custom_components package."""
