"""One-line field descriptions shown by editors (hover) from the JSON Schema.

Keyed by ``$defs`` name (``""`` for the top level) and field. The full
documentation is panel_config/README.md; these are reminders, not the spec.
"""

from __future__ import annotations

DESCRIPTIONS: dict[str, dict[str, str]] = {
    "": {
        "site": "The site itself: id, name, timezone, main service.",
        "panels": "The electrical tree; exactly one panel has no parent (the root).",
        "chargers": "Charging stations, each under a panel.",
        "energy": "Site-wide energy management settings.",
        "driver_groups": "Named sets of drivers, used by 'groups' chargers.",
        "delay_windows": "Delayed charging: covered chargers charge only inside.",
        "mqtt": "MQTT broker and Home Assistant discovery; omit to run without.",
    },
    "site": {
        "id": "Site id; used in MQTT topics evsite/<site_id>/...",
        "timezone": "IANA timezone; windows and schedules are in local time.",
        "org_type": "multifamily: a private charger is linked to exactly one driver.",
        "just_charge_allowed": "Allow Just Charge (always authorised) on non-public"
        " chargers.",
        "allow_unknown_chargers": "Accept unconfigured charger ids (pending until"
        " adopted).",
    },
    "panel": {
        "parent": "The panel feeding this one; null only for the root.",
        "breaker_a": "Breaker rating per phase (A). Capacity = breaker_a x"
        " continuous_factor.",
        "phases": "1 or 3; a 3-phase panel is limited per phase.",
        "voltage": "3-phase: line-to-line (400, 208); 1-phase: what loads see.",
        "phase_connection": "Line (L1..L3) or line pair (L1-L2, L2-L3, L3-L1) a"
        " 1-phase panel is fed from by a 3-phase panel.",
        "continuous_factor": "Share of the breaker usable continuously (NEC: 0.8).",
        "meter": "Meter measuring the panel's real load.",
        "scheduled_limits": "Lower limits during weekly windows (e.g. utility peak).",
    },
    "meter": {
        "host": "Modbus TCP meter or gateway address (required for modbus_tcp).",
        "serial_port": "Serial device (required for modbus_rtu).",
        "topic": "MQTT topic carrying the panel current in A (required for mqtt).",
        "stale_after_s": "No sample this long: the panel counts as fully loaded.",
    },
    "charger": {
        "id": "Charger ID: its OCPP identity (ws://HOST:9000/ocpp/<id>).",
        "parent": "Panel the charger is fed from.",
        "limit_a": "Circuit limit / power-select setting per phase (A); not above"
        " the panel breaker.",
        "scope": "Who may charge: closed, open, private, account, groups, public.",
        "connectors": "Port count, or a list of {id, payment_terminal}; ports share"
        " limit_a.",
        "phases": "1 or 3; a 3-phase charger needs a 3-phase panel.",
        "phase_connection": "Line (to neutral) or line pair (line-to-line, e.g."
        " 208 V on 208Y/120 V) of a 1-phase charger; required on a 3-phase panel.",
        "alias": "Shown name; the charger ID when empty.",
        "qr_alias": "QR code alias, unique per site.",
        "driver_groups": "Groups whose members may charge (scope groups only).",
        "private_driver": "The assigned driver (scope private only).",
        "just_charge": "Always authorised; needs site.just_charge_allowed, never"
        " public.",
        "priority": "Priority class 0-9; higher classes get current first.",
        "weight": "Share within the priority class.",
        "overrides": "Per-charger overrides: charging_rates, delay_cancel,"
        " offline_allocation_a.",
        "password_hash": "OCPP Basic-auth password as scrypt$n$r$p$salt$hash.",
    },
    "energy": {
        "min_current_a": "A charging connector gets 0 A or at least this.",
        "offline_allocation_a": "Default limit a charger keeps when it loses its"
        " link to evsite.",
        "rotation_minutes": "Paused sessions take turns this often.",
    },
    "delay_window": {
        "start": "Charging may start (HH:MM, site time; quote it).",
        "end": "Charging waits again; not after start means past midnight.",
        "scopes": "Chargers with these scopes are covered.",
        "station_groups": "Chargers with these station_group labels are covered.",
    },
    "api": {"token": "Admin bearer token (16+ characters); prefer EVSITE_TOKEN."},
}
