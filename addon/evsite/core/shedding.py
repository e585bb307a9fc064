"""Load shedding as a pure state machine, one per metered panel (SPEC §2.2).

Meter shedding: a sample above the panel's limit starts a shed event at once
(the allocator already sees the new unmetered load; while a shed is active it
also keeps ``hysteresis_a`` of headroom free, and the control loop applies the
lower limits without ramping). The event ends when every phase has read at or
below ``limit - hysteresis`` for ``hold_s`` seconds. External shedding is a
level set from outside (REST, MQTT, Home Assistant, a demand-response
schedule). Both emit :class:`ShedEvent` values the caller logs and publishes.

Public API:
    ExternalShed(percent=None, limit_a=None, panel_id=None, limit_kw=None)
        .apply(available_a, voltage, phases)
    kw_to_amps(kw, voltage, phases) -> float;  amps_to_kw(amps, voltage, phases)
    step_meter_shed(state, panel_id=..., limit_a=..., measured_a=...,
                    hysteresis_a=..., now=..., chargers=..., hold_s=30.0)
        -> tuple[ShedState, list[ShedEvent]]
    external_shed_events(old, new, now, chargers, started=None) -> list[ShedEvent]
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from evsite.config.models import Phase

DEFAULT_HOLD_S = 30.0


class ShedSource(StrEnum):
    """What caused a shed event."""

    METER = "meter"
    EXTERNAL = "external"


class ShedEventKind(StrEnum):
    """Lifecycle of a shed event."""

    START = "start"
    DEEPEN = "deepen"  # meter: overshoot grew; external: level changed
    END = "end"


def kw_to_amps(kw: float, voltage: float, phases: int) -> float:
    """A power in kW as current per phase on a panel.

    Args:
        kw: the power (kW, ≥ 0).
        voltage: the panel's nominal voltage: line-to-line on a three-phase
            panel, what the loads see on a single-phase one.
        phases: 3 or 1.

    Returns:
        A per phase: P / (√3 · V_LL) on three phases (balanced load), P / V on one.
    """
    watts = kw * 1000.0
    if phases == 3:
        return watts / (math.sqrt(3) * voltage)
    return watts / voltage


def amps_to_kw(amps: float, voltage: float, phases: int) -> float:
    """Current per phase as power in kW (the inverse of :func:`kw_to_amps`)."""
    watts = amps * voltage * (math.sqrt(3) if phases == 3 else 1.0)
    return watts / 1000.0


def _check(name: str, value: float | None, maximum: float | None = None) -> None:
    if value is None:
        return
    # bool is an int: True would silently mean 1.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name}: {value!r} is not a number")
    if math.isnan(value) or math.isinf(value):
        raise ValueError(f"{name}: {value} is not a finite number")
    if value < 0:
        raise ValueError(f"{name}: {value:g} is negative")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name}: {value:g} is not within 0-{maximum:g}")


@dataclass(frozen=True, slots=True)
class ExternalShed:
    """A shed level set from outside, applied to a panel's EV capacity.

    ``percent`` is the share of the EV capacity to shed (0 nothing, 100 all);
    ``limit_a`` caps EV current per phase; ``limit_kw`` caps EV power, turned
    into A per phase with the panel's voltage and phases (:func:`kw_to_amps`).
    Any of them may be set: the tightest wins. ``panel_id`` None means the
    root panel (the whole site).
    """

    percent: float | None = None
    limit_a: float | None = None
    panel_id: str | None = None
    limit_kw: float | None = None

    def __post_init__(self) -> None:
        """Reject levels that make no sense, naming the field."""
        _check("percent", self.percent, 100.0)
        _check("limit_a", self.limit_a)
        _check("limit_kw", self.limit_kw)

    def cap_a(self, voltage: float, phases: int) -> float | None:
        """The tighter of ``limit_a`` and ``limit_kw`` in A per phase (None: no cap)."""
        caps = [] if self.limit_a is None else [self.limit_a]
        if self.limit_kw is not None:
            caps.append(kw_to_amps(self.limit_kw, voltage, phases))
        return min(caps, default=None)

    def apply(self, available_a: float, voltage: float, phases: int) -> float:
        """The EV capacity left of ``available_a`` A per phase under this level.

        Args:
            available_a: EV capacity of one phase of the panel (A).
            voltage: the panel's nominal voltage (see :func:`kw_to_amps`).
            phases: the panel's number of phases (3 or 1).

        Returns:
            The capacity left (A, ≥ 0): the tightest of the set levels.
        """
        result = available_a
        if self.percent is not None:
            result = available_a * (1.0 - self.percent / 100.0)
        cap = self.cap_a(voltage, phases)
        if cap is not None:
            result = min(result, cap)
        return max(0.0, result)


@dataclass(frozen=True, slots=True)
class ShedState:
    """Shed state of one metered panel."""

    panel_id: str
    active: bool = False
    since: datetime | None = None
    depth_a: float = 0.0  # largest overshoot above the limit in this event
    below_since: datetime | None = None  # compliant (≤ limit - hysteresis) since
    chargers: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class ShedEvent:
    """A shed event to log and publish."""

    kind: ShedEventKind
    source: ShedSource
    panel_id: str | None
    start: datetime
    end: datetime | None = None
    depth_a: float = 0.0
    level: ExternalShed | None = None
    chargers: frozenset[str] = frozenset()


def _per_phase(limit_a: float | Mapping[Phase, float], phase: Phase) -> float:
    return limit_a if isinstance(limit_a, int | float) else limit_a[phase]


def _overshoot(
    limit_a: float | Mapping[Phase, float],
    measured_a: Mapping[Phase, float],
    less: float,
) -> float:
    return max(
        (amps - (_per_phase(limit_a, ph) - less) for ph, amps in measured_a.items()),
        default=0.0,
    )


def step_meter_shed(
    state: ShedState | None,
    *,
    panel_id: str,
    limit_a: float | Mapping[Phase, float],
    measured_a: Mapping[Phase, float],
    hysteresis_a: float,
    now: datetime,
    chargers: Iterable[str],
    hold_s: float = DEFAULT_HOLD_S,
) -> tuple[ShedState, list[ShedEvent]]:
    """Advance one panel's shed state by one meter sample.

    Args:
        state: the previous state (None at start).
        panel_id: the metered panel.
        limit_a: its limit in force, A per phase (a number or per phase).
        measured_a: the sample, A per phase.
        hysteresis_a: restore only at or below ``limit - hysteresis_a``.
        now: the sample time (aware).
        chargers: chargers with current beneath the panel (recorded as affected).
        hold_s: how long the panel must stay compliant before the event ends.

    Returns:
        The new state and the events it produced (possibly none).
    """
    current = state or ShedState(panel_id=panel_id)
    over = _overshoot(limit_a, measured_a, 0.0)
    if not current.active:
        if over <= 0:
            return current, []
        started = ShedState(panel_id, True, now, over, None, frozenset(chargers))
        return started, [_event(ShedEventKind.START, started, now)]
    events: list[ShedEvent] = []
    affected = current.chargers | frozenset(chargers)
    if over > current.depth_a:
        current = replace(current, depth_a=over, chargers=affected)
        events.append(_event(ShedEventKind.DEEPEN, current, now))
    else:
        current = replace(current, chargers=affected)
    if _overshoot(limit_a, measured_a, hysteresis_a) > 0:
        return replace(current, below_since=None), events
    below = current.below_since or now
    if (now - below).total_seconds() >= hold_s:
        ended = _event(ShedEventKind.END, current, now)
        return ShedState(panel_id=panel_id), [*events, ended]
    return replace(current, below_since=below), events


def _event(kind: ShedEventKind, state: ShedState, now: datetime) -> ShedEvent:
    return ShedEvent(
        kind=kind,
        source=ShedSource.METER,
        panel_id=state.panel_id,
        start=state.since or now,
        end=now if kind is ShedEventKind.END else None,
        depth_a=state.depth_a,
        chargers=state.chargers,
    )


def external_shed_events(
    old: ExternalShed | None,
    new: ExternalShed | None,
    now: datetime,
    chargers: Iterable[str],
    started: datetime | None = None,
) -> list[ShedEvent]:
    """Events for a change of the external shed level.

    Args:
        old: the level in force before (None: no external shed).
        new: the level now.
        now: when it changed (aware).
        chargers: chargers affected (with current beneath the shed panel).
        started: when the ongoing external shed began (for DEEPEN / END).

    Returns:
        START, DEEPEN (level changed) or END; empty when nothing changed.
    """
    affected = frozenset(chargers)
    if old == new:
        return []
    if old is None and new is not None:
        return [_ext(ShedEventKind.START, new, now, None, affected)]
    if new is None and old is not None:
        return [_ext(ShedEventKind.END, old, started or now, now, affected)]
    assert new is not None  # both set and different
    return [_ext(ShedEventKind.DEEPEN, new, started or now, None, affected)]


def _ext(
    kind: ShedEventKind,
    level: ExternalShed,
    start: datetime,
    end: datetime | None,
    chargers: frozenset[str],
) -> ShedEvent:
    return ShedEvent(
        kind=kind,
        source=ShedSource.EXTERNAL,
        panel_id=level.panel_id,
        start=start,
        end=end,
        level=level,
        chargers=chargers,
    )
