"""Turn schema-normalised dicts into typed models, and models back into dicts.

``to_dict(build(d)) == d`` for every normalised ``d``: that is what makes
import → export → import give identical contents.
"""

from __future__ import annotations

from datetime import time
from typing import Any

from evsite.config.models import (
    ApiSettings,
    Charger,
    ChargerOverrides,
    CloudSettings,
    Connector,
    DelayWindow,
    DriverGroup,
    EnergySettings,
    Location,
    MainService,
    MeterConfig,
    MeterKind,
    MqttSettings,
    OcppSettings,
    OrgType,
    Panel,
    RegisterSpec,
    ScheduledLimit,
    Scope,
    ServiceSettings,
    Site,
    SiteConfig,
    TimeWindow,
    WebSettings,
    Weekday,
    ZeroconfSettings,
    parse_phase_connection,
)


def _time(value: str) -> time:
    if value == "24:00":
        return time.max.replace(microsecond=0)
    hour, minute = value.split(":")
    return time(int(hour), int(minute))


def _hhmm(value: time) -> str:
    if value == time(23, 59, 59):
        return "24:00"
    return value.strftime("%H:%M")


def _window(data: dict[str, Any]) -> TimeWindow:
    return TimeWindow(
        start=_time(data["start"]),
        end=_time(data["end"]),
        days=tuple(Weekday(d) for d in data["days"]),
    )


def _window_dict(window: TimeWindow) -> dict[str, Any]:
    return {
        "start": _hhmm(window.start),
        "end": _hhmm(window.end),
        "days": [d.value for d in window.days],
    }


def _location(data: dict[str, Any]) -> Location:
    return Location(data["address"], data["latitude"], data["longitude"])


def _location_dict(location: Location) -> dict[str, Any]:
    return {
        "address": location.address,
        "latitude": location.latitude,
        "longitude": location.longitude,
    }


def build_meter(data: dict[str, Any]) -> MeterConfig:
    """Build a meter model from its normalised dict."""
    fields = {k: v for k, v in data.items() if k not in ("kind", "registers")}
    return MeterConfig(
        kind=MeterKind(data["kind"]),
        registers=tuple(RegisterSpec(**r) for r in data["registers"]),
        **fields,
    )


def meter_dict(meter: MeterConfig) -> dict[str, Any]:
    """The normalised dict of a meter."""
    return {
        "kind": meter.kind.value,
        "register_map": meter.register_map,
        "host": meter.host,
        "port": meter.port,
        "serial_port": meter.serial_port,
        "baudrate": meter.baudrate,
        "device_id": meter.device_id,
        "topic": meter.topic,
        "poll_interval_s": meter.poll_interval_s,
        "stale_after_s": meter.stale_after_s,
        "registers": [
            {
                "quantity": r.quantity,
                "address": r.address,
                "datatype": r.datatype,
                "scale": r.scale,
                "table": r.table,
            }
            for r in meter.registers
        ],
    }


def build_site(data: dict[str, Any]) -> Site:
    """Build the site model from its normalised dict."""
    service = data["main_service"]
    return Site(
        id=data["id"],
        name=data["name"],
        timezone=data["timezone"],
        main_service=MainService(
            float(service["voltage"]), service["phases"], service["main_breaker_a"]
        ),
        currency=data["currency"],
        location=_location(data["location"]),
        org_category=data["org_category"],
        org_type=OrgType(data["org_type"]),
        just_charge_allowed=data["just_charge_allowed"],
        allow_unknown_chargers=data["allow_unknown_chargers"],
    )


def site_dict(site: Site) -> dict[str, Any]:
    """The normalised dict of the site."""
    return {
        "id": site.id,
        "name": site.name,
        "timezone": site.timezone,
        "main_service": {
            "voltage": site.main_service.voltage,
            "phases": site.main_service.phases,
            "main_breaker_a": site.main_service.main_breaker_a,
        },
        "currency": site.currency,
        "location": _location_dict(site.location),
        "org_category": site.org_category,
        "org_type": site.org_type.value,
        "just_charge_allowed": site.just_charge_allowed,
        "allow_unknown_chargers": site.allow_unknown_chargers,
    }


def build_panel(data: dict[str, Any]) -> Panel:
    """Build a panel model from its normalised dict."""
    return Panel(
        id=data["id"],
        name=data["name"] or data["id"],
        breaker_a=data["breaker_a"],
        phases=data["phases"],
        voltage=float(data["voltage"]),
        parent=data["parent"],
        phase_connection=parse_phase_connection(data["phase_connection"])
        if data["phase_connection"]
        else None,
        continuous_factor=data["continuous_factor"],
        meter=build_meter(data["meter"]) if data["meter"] else None,
        scheduled_limits=tuple(
            ScheduledLimit(_window(s), s["limit_a"]) for s in data["scheduled_limits"]
        ),
    )


def panel_dict(panel: Panel) -> dict[str, Any]:
    """The normalised dict of a panel."""
    return {
        "id": panel.id,
        "name": panel.name,
        "parent": panel.parent,
        "breaker_a": panel.breaker_a,
        "phases": panel.phases,
        "voltage": panel.voltage,
        "phase_connection": panel.phase_connection.value
        if panel.phase_connection
        else None,
        "continuous_factor": panel.continuous_factor,
        "meter": meter_dict(panel.meter) if panel.meter else None,
        "scheduled_limits": [
            {**_window_dict(s.window), "limit_a": s.limit_a}
            for s in panel.scheduled_limits
        ],
    }


def build_charger(data: dict[str, Any]) -> Charger:
    """Build a charger model from its normalised dict."""
    overrides = data["overrides"]
    return Charger(
        id=data["id"],
        parent=data["parent"],
        limit_a=data["limit_a"],
        scope=Scope(data["scope"]),
        connectors=tuple(
            Connector(c["id"], c["payment_terminal"]) for c in data["connectors"]
        ),
        phases=data["phases"],
        phase_connection=parse_phase_connection(data["phase_connection"])
        if data["phase_connection"]
        else None,
        alias=data["alias"],
        qr_alias=data["qr_alias"],
        parking=data["parking"],
        station_group=data["station_group"],
        driver_groups=tuple(data["driver_groups"]),
        private_driver=data["private_driver"],
        just_charge=data["just_charge"],
        priority=data["priority"],
        weight=data["weight"],
        min_current_a=data["min_current_a"],
        make=data["make"],
        model=data["model"],
        serial=data["serial"],
        firmware=data["firmware"],
        location=_location(data["location"]) if data["location"] else None,
        overrides=ChargerOverrides(
            overrides["charging_rates"],
            overrides["delay_cancel"],
            overrides["offline_allocation_a"],
        ),
        password_hash=data["password_hash"],
    )


def charger_dict(charger: Charger) -> dict[str, Any]:
    """The normalised dict of a charger."""
    return {
        "id": charger.id,
        "parent": charger.parent,
        "limit_a": charger.limit_a,
        "scope": charger.scope.value,
        "connectors": [
            {"id": c.id, "payment_terminal": c.payment_terminal}
            for c in charger.connectors
        ],
        "phases": charger.phases,
        "phase_connection": charger.phase_connection.value
        if charger.phase_connection
        else None,
        "alias": charger.alias,
        "qr_alias": charger.qr_alias,
        "parking": charger.parking,
        "station_group": charger.station_group,
        "driver_groups": list(charger.driver_groups),
        "private_driver": charger.private_driver,
        "just_charge": charger.just_charge,
        "priority": charger.priority,
        "weight": charger.weight,
        "min_current_a": charger.min_current_a,
        "make": charger.make,
        "model": charger.model,
        "serial": charger.serial,
        "firmware": charger.firmware,
        "location": _location_dict(charger.location) if charger.location else None,
        "overrides": {
            "charging_rates": charger.overrides.charging_rates,
            "delay_cancel": charger.overrides.delay_cancel,
            "offline_allocation_a": charger.overrides.offline_allocation_a,
        },
        "password_hash": charger.password_hash,
    }


def build_delay_window(data: dict[str, Any]) -> DelayWindow:
    """Build a delay window model from its normalised dict."""
    return DelayWindow(
        id=data["id"],
        window=_window(data),
        name=data["name"],
        scopes=tuple(Scope(s) for s in data["scopes"]),
        station_groups=tuple(data["station_groups"]),
    )


def delay_window_dict(window: DelayWindow) -> dict[str, Any]:
    """The normalised dict of a delay window."""
    return {
        "id": window.id,
        "name": window.name,
        **_window_dict(window.window),
        "scopes": [s.value for s in window.scopes],
        "station_groups": list(window.station_groups),
    }


def build_service(data: dict[str, Any]) -> ServiceSettings:
    """Build the service settings from the normalised top-level dict."""
    mqtt = data.get("mqtt")
    return ServiceSettings(
        web=WebSettings(**data["web"]),
        ocpp=OcppSettings(**data["ocpp"]),
        api=ApiSettings(**data["api"]),
        mqtt=MqttSettings(**mqtt) if mqtt else MqttSettings(enabled=False),
        cloud=CloudSettings(**data["cloud"]),
        zeroconf=ZeroconfSettings(
            enabled=data["zeroconf"]["enabled"],
            interfaces=tuple(data["zeroconf"]["interfaces"]),
        ),
    )


def build_site_config(data: dict[str, Any]) -> SiteConfig:
    """Build a whole site from a normalised site-file dict."""
    return SiteConfig(
        site=build_site(data["site"]),
        panels=tuple(build_panel(p) for p in data["panels"]),
        chargers=tuple(build_charger(c) for c in data["chargers"]),
        energy=EnergySettings(**data["energy"]),
        driver_groups=tuple(DriverGroup(**g) for g in data["driver_groups"]),
        delay_windows=tuple(build_delay_window(w) for w in data["delay_windows"]),
        service=build_service(data),
    )


def energy_dict(energy: EnergySettings) -> dict[str, Any]:
    """The normalised dict of the energy settings."""
    return {
        "min_current_a": energy.min_current_a,
        "offline_allocation_a": energy.offline_allocation_a,
        "rotation_minutes": energy.rotation_minutes,
        "deadband_a": energy.deadband_a,
        "ramp_up_step_a": energy.ramp_up_step_a,
        "shed_restore_hysteresis_a": energy.shed_restore_hysteresis_a,
    }


def site_config_dict(config: SiteConfig) -> dict[str, Any]:
    """The site data of a config as a normalised dict (service settings left out)."""
    return {
        "site": site_dict(config.site),
        "panels": [panel_dict(p) for p in config.panels],
        "chargers": [charger_dict(c) for c in config.chargers],
        "energy": energy_dict(config.energy),
        "driver_groups": [
            {"id": g.id, "name": g.name, "description": g.description}
            for g in config.driver_groups
        ],
        "delay_windows": [delay_window_dict(w) for w in config.delay_windows],
    }
