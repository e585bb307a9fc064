"""Every default of the configuration, in one place."""

from __future__ import annotations

# Electrical: a breaker carries 80 % of its rating continuously (NEC 210.19/625.41).
CONTINUOUS_LOAD_FACTOR = 0.8
# IEC 61851-1: the lowest pilot duty cycle an AC EV must accept is 6 A.
MIN_CURRENT_A = 6.0
ROTATION_MINUTES = 15.0
DEADBAND_A = 0.5
RAMP_UP_STEP_A = 4.0
SHED_RESTORE_HYSTERESIS_A = 2.0
LIMIT_STEP_A = 0.1  # OCPP 1.6 schema allows one decimal place for ``limit``.

METER_POLL_INTERVAL_S = 1.0
METER_STALE_AFTER_S = 3.0

CURRENCY = "USD"

WEB_HOST = "0.0.0.0"  # The add-on must be reachable from the LAN.
WEB_PORT = 8099
OCPP_HOST = "0.0.0.0"
OCPP_PORT = 9000
HEARTBEAT_INTERVAL_S = 300
MQTT_PORT = 1883
MQTT_BASE_TOPIC = "evsite"
MQTT_DISCOVERY_PREFIX = "homeassistant"

ORG_CATEGORIES: tuple[str, ...] = (
    "Employer",
    "Restaurants",
    "Retail",
    "Hospitality",
    "Entertainment",
    "Parking Garage",
    "Education",
    "Service Providers",
    "Apartments/Condos",
    "Municipalities",
)

REGISTER_MAPS: tuple[str, ...] = ("sdm630", "em24", "generic")
