"""Values of the waitlist state machine (:mod:`evsite.core.waitlist`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

Port = tuple[str, int]


class EffectKind(StrEnum):
    """What the service must do or announce after a step."""

    JOINED = "joined"
    LEFT = "left"
    ACTIVATED = "activated"
    TURN = "turn"
    NO_SHOW = "no_show"
    TURN_TAKEN = "turn_taken"
    MAX_TIME = "max_time"
    FINISH = "finish"
    STOP = "stop"
    RESERVE = "reserve"
    CANCEL_RESERVATION = "cancel_reservation"


@dataclass(frozen=True, slots=True)
class Entry:
    """A driver waiting in a queue."""

    driver_id: str
    queue_id: str
    joined_at: datetime
    seq: int
    pending: bool = False


@dataclass(frozen=True, slots=True)
class Hold:
    """A freed port held for the driver whose turn it is."""

    driver_id: str
    queue_id: str
    charger_id: str
    connector_id: int
    until: datetime
    reservation_id: int


@dataclass(frozen=True, slots=True)
class Running:
    """A session on a waitlisted port, timed against the policy."""

    transaction_id: str
    charger_id: str
    connector_id: int
    queue_id: str
    started_at: datetime
    driver_id: str | None = None
    max_notified: bool = False
    finish_notified: bool = False


@dataclass(frozen=True, slots=True)
class Effect:
    """One thing that happened, for the service to act on and log."""

    kind: EffectKind
    queue_id: str
    driver_id: str | None = None
    charger_id: str | None = None
    connector_id: int | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class WaitlistState:
    """Every queue of the site."""

    entries: tuple[Entry, ...] = ()
    holds: tuple[Hold, ...] = ()
    running: tuple[Running, ...] = ()
    next_seq: int = 1
    next_reservation: int = 1

    def queue(self, queue_id: str) -> list[Entry]:
        """The entries of one queue in turn order (pending ones last)."""
        found = [e for e in self.entries if e.queue_id == queue_id]
        return sorted(found, key=lambda e: (e.pending, e.seq))

    def entry(self, driver_id: str) -> Entry | None:
        """The driver's entry, if they are waiting anywhere."""
        return next((e for e in self.entries if e.driver_id == driver_id), None)

    def hold_of(self, driver_id: str) -> Hold | None:
        """The hold given to the driver, if it is their turn."""
        return next((h for h in self.holds if h.driver_id == driver_id), None)


@dataclass(frozen=True, slots=True)
class Step:
    """The new state and the effects of one transition."""

    state: WaitlistState
    effects: tuple[Effect, ...] = ()
