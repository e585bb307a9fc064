"""Fakes of the OCPP, energy and waitlist subsystems (built by other issues).

They implement exactly the ports the MQTT bridge uses and change the live
state the way the real subsystems do, so the tests see commands take effect.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from evsite.control.events import Event, EventBus, EventKind
from evsite.control.live import ConnectorStatus, LiveState

AT = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@dataclass
class FakeCsms:
    """ChangeAvailability answered by "chargers" that then report their status."""

    live: LiveState
    answer: str = "Accepted"
    offline: set[str] = field(default_factory=set)
    calls: list[tuple[str, int, bool]] = field(default_factory=list)

    def is_connected(self, charger_id: str) -> bool:
        return charger_id not in self.offline

    async def change_availability(
        self, charger_id: str, connector_id: int, *, operative: bool
    ) -> str:
        self.calls.append((charger_id, connector_id, operative))
        if self.answer == "Accepted":
            status = (
                ConnectorStatus.AVAILABLE if operative else ConnectorStatus.UNAVAILABLE
            )
            state = self.live.charger(charger_id)
            for port in state.connectors.values():
                port.status = status
            self.live.changed("charger", charger_id)
        return self.answer


@dataclass
class FakeEnergy:
    """Energy management: applies caps and charge now, announces shed levels."""

    live: LiveState
    bus: EventBus | None = None
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    shed_id: int = 0
    shedding: bool = False

    async def set_connector_limit(
        self, charger_id: str, connector_id: int, limit_a: float | None
    ) -> None:
        self.calls.append(("limit", charger_id, connector_id, limit_a))
        port = self.live.charger(charger_id).connector(connector_id)
        port.limit_a = limit_a
        port.reason = "operator_cap" if limit_a is not None else "fair_share"
        self.live.changed("charger", charger_id)

    def charge_now(self, charger_id: str, connector_id: int, enabled: bool) -> None:
        self.calls.append(("charge_now", charger_id, connector_id, enabled))
        self.live.charger(charger_id).connector(connector_id).charge_now = enabled
        self.live.changed("charger", charger_id)

    async def set_shed_level(
        self,
        percent: float | None = None,
        limit_a: float | None = None,
        panel_id: str | None = None,
        limit_kw: float | None = None,
    ) -> None:
        self.calls.append(("shed", percent, limit_a, panel_id, limit_kw))
        if self.bus is None:
            return
        end = percent is None and limit_a is None and limit_kw is None
        update = self.shedding and not end  # a new level of the open event
        if not end and not update:
            self.shed_id += 1
        self.shedding = not end
        level = {
            "percent": percent,
            "limit_a": limit_a,
            "limit_kw": limit_kw,
            "panel_id": panel_id,
        }
        self.bus.publish(
            Event(
                EventKind.LOAD_SHED_END if end else EventKind.LOAD_SHED_START,
                AT,
                data={
                    "shed_id": self.shed_id,
                    "source": "external",
                    "panel_id": panel_id,
                    "depth_a": 0.0,
                    "level": None if end else level,
                    "update": update,
                },
            )
        )


@dataclass
class FakeWaitlists:
    """Queues: a driver is in at most one."""

    queues: dict[str, str] = field(default_factory=dict)

    def join(
        self, driver_id: str, *, charger_id: str | None = None, group: str | None = None
    ) -> None:
        self.queues[driver_id] = charger_id or f"group:{group}"

    async def leave(self, driver_id: str) -> None:
        self.queues.pop(driver_id, None)
