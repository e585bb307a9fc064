"""Schemas of the energy-management API bodies (SPEC §2.2-2.4, §11.2)."""

from __future__ import annotations

import voluptuous as vol

from evsite.config.validators import amps, boolean, entity_id, nullable, number

SHED_LEVEL = vol.Schema(
    {
        vol.Optional("percent", default=None): nullable(number(0, 100)),
        vol.Optional("limit_a", default=None): nullable(amps(0, 10_000)),
        vol.Optional("limit_kw", default=None): nullable(number(0, 10_000)),
        vol.Optional("panel_id", default=None): nullable(entity_id),
    }
)
"""``PUT /shed``: a share of EV capacity to shed and/or a cap in A or kW (the
tightest wins); all null clears."""

OFFLINE_ALLOCATION = vol.Schema(
    {vol.Required("offline_allocation_a"): nullable(amps(0, 1_000))}
)
"""``PUT .../offline-allocation``: the charger's override (null: site default)."""

ENABLED = vol.Schema({vol.Optional("enabled", default=True): boolean})
"""An optional on/off switch (charge now)."""

CONNECTOR_LIMIT = vol.Schema({vol.Required("limit_a"): nullable(amps(0, 1_000))})
"""``PUT .../limit``: an operator cap on a connector (null removes it)."""
