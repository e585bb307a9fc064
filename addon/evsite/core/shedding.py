"""Load shedding as a pure state machine, one per metered panel (SPEC §2.2).

Meter shedding: a sample above the panel's limit starts a shed event at once
(the allocator already sees the new unmetered load; while a shed is active it
also keeps ``hysteresis_a`` of headroom free, and the control loop applies the
lower limits without ramping). The event ends when every phase has read at or
below ``limit - hysteresis`` for ``hold_s`` seconds. External shedding is a
level set from outside (REST, MQTT, Home Assistant, a demand-response
schedule). Both emit :class:`ShedEvent` values the caller logs and publishes.

Public API:
    ExternalShed(percent=None, limit_a=None, panel_id=None).apply(available_a)
    step_meter_shed(state, panel_id=..., limit_a=..., measured_a=...,
                    hysteresis_a=..., now=..., chargers=..., hold_s=30.0)
        -> tuple[ShedState, list[ShedEvent]]
    external_shed_events(old, new, now, chargers, started=None) -> list[ShedEvent]
"""

from __future__ import annotations

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


@dataclass(frozen=True, slots=True)
class ExternalShed:
    """A shed level set from outside, applied to a panel's EV capacity.

    ``percent`` is the share of the EV capacity to shed (0 nothing, 100 all);
    ``limit_a`` caps EV current per phase. Both may be set: the tighter wins.
    ``panel_id`` None means the root panel (the whole site).
    """

    percent: float | None = None
    limit_a: float | None = None
    panel_id: str | None = None

    def __post_init__(self) -> None:
        """Reject levels that make no sense, naming the field."""
        if self.percent is not None and not 0 <= self.percent <= 100:
            raise ValueError(f"percent: {self.percent} is not within 0-100")
        if self.limit_a is not None and self.limit_a < 0:
            raise ValueError(f"limit_a: {self.limit_a} is negative")

    def apply(self, available_a: float) -> float:
        """The EV capacity left of ``available_a`` A per phase under this level."""
        result = available_a
        if self.percent is not None:
            result = available_a * (1.0 - self.percent / 100.0)
        if self.limit_a is not None:
            result = min(result, self.limit_a)
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
