"""Typed, immutable models the configuration schemas produce.

These are the domain values of a site (SPEC §1). They carry no behaviour beyond
derived properties; ``core`` computes with them, ``adapters`` persist them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time
from enum import StrEnum
from typing import TypeAlias

from evsite.config import defaults


class Scope(StrEnum):
    """Who may use a charger (seed 002)."""

    CLOSED = "closed"
    OPEN = "open"
    PRIVATE = "private"
    ACCOUNT = "account"
    GROUPS = "groups"
    PUBLIC = "public"

    @property
    def secure(self) -> bool:
        """Account, groups and public imply authenticated charging."""
        return self in (Scope.ACCOUNT, Scope.GROUPS, Scope.PUBLIC)


class OrgType(StrEnum):
    """Kind of organisation running the site."""

    STANDARD = "standard"
    MULTIFAMILY = "multifamily"


class Phase(StrEnum):
    """A line conductor of the supply."""

    L1 = "L1"
    L2 = "L2"
    L3 = "L3"

    @property
    def lines(self) -> tuple[Phase, ...]:
        """The lines a load wired to this line and neutral draws from: itself."""
        return (self,)


class LinePair(StrEnum):
    """Two lines of a 3-phase supply a single-phase load is wired across.

    A line-to-line load (a 208 V charger on a 208Y/120 V service) draws its
    current on both lines.
    """

    L1_L2 = "L1-L2"
    L2_L3 = "L2-L3"
    L3_L1 = "L3-L1"

    @property
    def lines(self) -> tuple[Phase, ...]:
        """The two lines, in the order written."""
        return _PAIR_LINES[self]


_PAIR_LINES: dict[LinePair, tuple[Phase, ...]] = {
    pair: tuple(Phase(line) for line in pair.value.split("-")) for pair in LinePair
}

PhaseConnection: TypeAlias = Phase | LinePair
"""Where a single-phase load is wired: one line (to neutral) or a line pair."""


def parse_phase_connection(value: str) -> PhaseConnection:
    """Parse ``L1``..``L3`` (one line) or ``L1-L2``, ``L2-L3``, ``L3-L1`` (a pair).

    Raises:
        ValueError: neither a line nor a line pair.
    """
    return LinePair(value) if "-" in value else Phase(value)


class Weekday(StrEnum):
    """Day of the week as written in configuration files."""

    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"

    @property
    def number(self) -> int:
        """Monday is 0, as in ``datetime.weekday()``."""
        return list(Weekday).index(self)


ALL_DAYS: tuple[Weekday, ...] = tuple(Weekday)


class MeterKind(StrEnum):
    """How a panel meter is read."""

    MODBUS_TCP = "modbus_tcp"
    MODBUS_RTU = "modbus_rtu"
    MQTT = "mqtt"


@dataclass(frozen=True, slots=True)
class RegisterSpec:
    """One register of a generic Modbus map."""

    quantity: str
    address: int
    datatype: str = "float32"
    scale: float = 1.0
    table: str = "input"


@dataclass(frozen=True, slots=True)
class MeterConfig:
    """A meter measuring a panel's real load (Modbus or an MQTT sensor)."""

    kind: MeterKind
    register_map: str = "sdm630"
    host: str | None = None
    port: int = 502
    serial_port: str | None = None
    baudrate: int = 9600
    device_id: int = 1
    topic: str | None = None
    poll_interval_s: float = defaults.METER_POLL_INTERVAL_S
    stale_after_s: float = defaults.METER_STALE_AFTER_S
    registers: tuple[RegisterSpec, ...] = ()


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """Weekly window ``start``–``end`` on ``days``; ``end <= start`` wraps midnight."""

    start: time
    end: time
    days: tuple[Weekday, ...] = ALL_DAYS


@dataclass(frozen=True, slots=True)
class ScheduledLimit:
    """A lower panel limit in force during a weekly window."""

    window: TimeWindow
    limit_a: float


@dataclass(frozen=True, slots=True)
class MainService:
    """The site's utility service."""

    voltage: float
    phases: int
    main_breaker_a: float


@dataclass(frozen=True, slots=True)
class Location:
    """Postal address and coordinates."""

    address: str = ""
    latitude: float | None = None
    longitude: float | None = None


@dataclass(frozen=True, slots=True)
class Site:
    """The site itself (SPEC §1)."""

    id: str
    name: str
    timezone: str
    main_service: MainService
    currency: str = defaults.CURRENCY
    location: Location = field(default_factory=Location)
    org_category: str | None = None
    org_type: OrgType = OrgType.STANDARD
    just_charge_allowed: bool = False
    allow_unknown_chargers: bool = False


@dataclass(frozen=True, slots=True)
class Panel:
    """A node of the electrical tree (SPEC §1)."""

    id: str
    name: str
    breaker_a: float
    phases: int
    voltage: float
    parent: str | None = None
    phase_connection: PhaseConnection | None = None
    continuous_factor: float = defaults.CONTINUOUS_LOAD_FACTOR
    meter: MeterConfig | None = None
    scheduled_limits: tuple[ScheduledLimit, ...] = ()

    @property
    def capacity_a(self) -> float:
        """Continuous capacity per phase: breaker rating × continuous-load factor."""
        return round(self.breaker_a * self.continuous_factor, 3)


@dataclass(frozen=True, slots=True)
class Connector:
    """A port of a charger."""

    id: int
    payment_terminal: str | None = None


@dataclass(frozen=True, slots=True)
class ChargerOverrides:
    """Per-charger overrides of site-level settings (seed 002)."""

    charging_rates: str | None = None
    delay_cancel: bool = False
    offline_allocation_a: float | None = None


@dataclass(frozen=True, slots=True)
class Charger:
    """A charging station (SPEC §1, seed 002)."""

    id: str
    parent: str
    limit_a: float
    scope: Scope = Scope.CLOSED
    connectors: tuple[Connector, ...] = (Connector(1),)
    phases: int = 1
    phase_connection: PhaseConnection | None = None
    alias: str = ""
    qr_alias: str | None = None
    parking: str | None = None
    station_group: str | None = None
    driver_groups: tuple[str, ...] = ()
    private_driver: str | None = None
    just_charge: bool = False
    priority: int = 0
    weight: float = 1.0
    min_current_a: float | None = None
    make: str | None = None
    model: str | None = None
    serial: str | None = None
    firmware: str | None = None
    location: Location | None = None
    overrides: ChargerOverrides = field(default_factory=ChargerOverrides)
    password_hash: str | None = None

    @property
    def display_name(self) -> str:
        """Alias when set, else the charger ID."""
        return self.alias or self.id

    @property
    def circuit_sharing(self) -> bool:
        """Several ports on one breaker share the charger limit (SPEC §2.5)."""
        return len(self.connectors) > 1


@dataclass(frozen=True, slots=True)
class DriverGroup:
    """A named set of drivers (tenant company, department, household)."""

    id: str
    name: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class DelayWindow:
    """Delayed charging: sessions in scope charge only inside ``window`` (SPEC §2.4)."""

    id: str
    window: TimeWindow
    name: str = ""
    scopes: tuple[Scope, ...] = ()
    station_groups: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class EnergySettings:
    """Site-wide energy-management settings."""

    min_current_a: float = defaults.MIN_CURRENT_A
    offline_allocation_a: float | None = None
    rotation_minutes: float = defaults.ROTATION_MINUTES
    deadband_a: float = defaults.DEADBAND_A
    ramp_up_step_a: float = defaults.RAMP_UP_STEP_A
    shed_restore_hysteresis_a: float = defaults.SHED_RESTORE_HYSTERESIS_A


@dataclass(frozen=True, slots=True)
class WebSettings:
    """Web panel and REST API listener."""

    host: str = defaults.WEB_HOST
    port: int = defaults.WEB_PORT


@dataclass(frozen=True, slots=True)
class OcppSettings:
    """OCPP central-system listener."""

    host: str = defaults.OCPP_HOST
    port: int = defaults.OCPP_PORT
    heartbeat_interval_s: int = defaults.HEARTBEAT_INTERVAL_S
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_ca: str | None = None


@dataclass(frozen=True, slots=True)
class ApiSettings:
    """REST API authentication."""

    token: str | None = None


@dataclass(frozen=True, slots=True)
class MqttSettings:
    """MQTT broker connection and Home Assistant discovery."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = defaults.MQTT_PORT
    username: str | None = None
    password: str | None = None
    tls: bool = False
    discovery: bool = True
    base_topic: str = defaults.MQTT_BASE_TOPIC
    discovery_prefix: str = defaults.MQTT_DISCOVERY_PREFIX


@dataclass(frozen=True, slots=True)
class CloudSettings:
    """Cloud sync endpoint."""

    enabled: bool = False
    url: str | None = None
    token: str | None = None


@dataclass(frozen=True, slots=True)
class ZeroconfSettings:
    """mDNS announcement of the API (``_evsite._tcp.local.``)."""

    enabled: bool = True
    interfaces: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ServiceSettings:
    """How this evsite process runs (not part of the site's data)."""

    web: WebSettings = field(default_factory=WebSettings)
    ocpp: OcppSettings = field(default_factory=OcppSettings)
    api: ApiSettings = field(default_factory=ApiSettings)
    mqtt: MqttSettings = field(default_factory=MqttSettings)
    cloud: CloudSettings = field(default_factory=CloudSettings)
    zeroconf: ZeroconfSettings = field(default_factory=ZeroconfSettings)


# The last SiteConfig whose chargers were looked up, and its id -> charger index.
_CHARGER_INDEX: list[object] = [None, {}]


@dataclass(frozen=True, slots=True)
class SiteConfig:
    """A whole site: what a ``panel_config/*.yaml`` file describes."""

    site: Site
    panels: tuple[Panel, ...]
    chargers: tuple[Charger, ...]
    energy: EnergySettings = field(default_factory=EnergySettings)
    driver_groups: tuple[DriverGroup, ...] = ()
    delay_windows: tuple[DelayWindow, ...] = ()
    service: ServiceSettings = field(default_factory=ServiceSettings)

    def panel(self, panel_id: str) -> Panel | None:
        """The panel with this id, if any."""
        return next((p for p in self.panels if p.id == panel_id), None)

    def charger(self, charger_id: str) -> Charger | None:
        """The charger with this id, if any."""
        # Called per OCPP message: index the newest config instead of scanning
        # thousands of chargers each time (the config is frozen).
        index: dict[str, Charger]
        if _CHARGER_INDEX[0] is self:
            index = _CHARGER_INDEX[1]  # type: ignore[assignment]
        else:
            index = {c.id: c for c in reversed(self.chargers)}
            _CHARGER_INDEX[:] = [self, index]
        return index.get(charger_id)

    @property
    def root(self) -> Panel:
        """The root panel (validation guarantees exactly one)."""
        return next(p for p in self.panels if p.parent is None)
