"""Load shedding around the pure state machine (SPEC §2.2): log, persist, publish.

Meter shedding runs on every sample of a metered panel; the caller allocates
at once when a shed starts or deepens. External shedding is a level set from
REST, MQTT or Home Assistant. Every event is written to the shed log and
published on the bus (``load_shed_start`` for a start or a deeper / changed
shed with ``update: true``, ``load_shed_end`` when it ends).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime

from evsite.adapters.storage.energy_repo import EnergyRepository, level_dict
from evsite.config.models import Phase, SiteConfig
from evsite.control.events import Event, EventBus, EventKind
from evsite.core.shedding import (
    ExternalShed,
    ShedEvent,
    ShedEventKind,
    ShedSource,
    ShedState,
    external_shed_events,
    step_meter_shed,
)

_LOGGER = logging.getLogger(__name__)


class ShedService:
    """Shed state of every metered panel plus the external level, with the log."""

    def __init__(self, repo: EnergyRepository, bus: EventBus) -> None:
        """Log to ``repo``, publish on ``bus``."""
        self._repo = repo
        self._bus = bus
        self.states: dict[str, ShedState] = {}
        self.external: ExternalShed | None = None
        self.external_since: datetime | None = None
        self._open: dict[tuple[str, str | None], int] = {}  # (source, panel) -> row
        self._affected: dict[tuple[str, str | None], set[str]] = {}

    async def load(self, now: datetime) -> None:
        """Restore the external level; close meter events a restart left open."""
        closed = await self._repo.close_open_events(now, ShedSource.METER.value)
        if closed:
            _LOGGER.info("closed %d meter shed events left open by a restart", closed)
        self.external, self.external_since = await self._repo.external()
        source = ShedSource.EXTERNAL.value
        row = await self._repo.open_event(source)
        if self.external is None:
            if row is not None:
                await self._repo.close_open_events(now, source)
            return
        if row is None:
            row = await self._repo.shed_start(
                source, self.external.panel_id, self.external_since or now,
                depth_a=0.0, level=self.external, chargers=[],
            )  # fmt: skip
        self._open[(source, None)] = row

    def on_sample(
        self,
        config: SiteConfig,
        panel_id: str,
        measured: Mapping[Phase, float],
        now: datetime,
        *,
        limit_a: float,
        chargers: Iterable[str],
    ) -> list[ShedEvent]:
        """Step one panel's shed state; the events to :meth:`log` (after acting).

        Not async on purpose: shedding must not wait for the database.
        """
        state, events = step_meter_shed(
            self.states.get(panel_id),
            panel_id=panel_id,
            limit_a=limit_a,
            measured_a=measured,
            hysteresis_a=config.energy.shed_restore_hysteresis_a,
            now=now,
            chargers=chargers,
        )
        if state.active:
            self.states[panel_id] = state
        else:
            self.states.pop(panel_id, None)
        return events

    async def log(self, events: Iterable[ShedEvent]) -> None:
        """Persist and publish meter shed events."""
        for event in events:
            await self._log(event)

    def forget_panels(self, keep: Iterable[str]) -> None:
        """Drop state of panels that are gone or no longer metered."""
        wanted = set(keep)
        for panel_id in [p for p in self.states if p not in wanted]:
            del self.states[panel_id]

    async def set_external(
        self, level: ExternalShed | None, now: datetime, chargers: Iterable[str]
    ) -> None:
        """Set (or clear, ``None``) the external shed level; log and publish it."""
        old = self.external
        events = external_shed_events(old, level, now, chargers, self.external_since)
        if old is None or level is None:
            self.external_since = now if level is not None else None
        self.external = level
        await self._repo.save_external(level, self.external_since or now)
        for event in events:
            await self._log(event)

    async def _log(self, event: ShedEvent) -> None:
        """Write one event to the log and publish it."""
        # One external shed at a time, whichever panel it names.
        panel = event.panel_id if event.source is ShedSource.METER else None
        key = (event.source.value, panel)
        if event.kind is ShedEventKind.START:
            self._affected[key] = set()
        # Affected over the whole event: the union of every step's chargers.
        affected = self._affected.setdefault(key, set())
        affected.update(event.chargers)
        chargers = sorted(affected)
        if event.kind is ShedEventKind.START or key not in self._open:
            self._open[key] = await self._repo.shed_start(
                event.source.value, event.panel_id, event.start,
                depth_a=event.depth_a, level=event.level, chargers=chargers,
            )  # fmt: skip
        row = self._open[key]
        if event.kind is not ShedEventKind.START:
            await self._repo.shed_update(
                row, depth_a=event.depth_a, level=event.level, chargers=chargers,
                end=event.end,
            )  # fmt: skip
        if event.kind is ShedEventKind.END:
            del self._open[key]
            del self._affected[key]
        self._publish(event, row, chargers)

    def _publish(self, event: ShedEvent, row: int, chargers: list[str]) -> None:
        kind = (
            EventKind.LOAD_SHED_END
            if event.kind is ShedEventKind.END
            else EventKind.LOAD_SHED_START
        )
        _LOGGER.info(
            "load shed %s (%s, panel %s, depth %.1f A)",
            event.kind.value, event.source.value, event.panel_id, event.depth_a,
        )  # fmt: skip
        self._bus.publish(
            Event(
                kind,
                event.end or event.start,
                data={
                    "shed_id": row,
                    "source": event.source.value,
                    "panel_id": event.panel_id,
                    "start": event.start.isoformat(),
                    "end": event.end.isoformat() if event.end else None,
                    "depth_a": round(event.depth_a, 2),
                    "level": None if event.level is None else level_dict(event.level),
                    "chargers": chargers,
                    "update": event.kind is ShedEventKind.DEEPEN,
                },
            )
        )
