"""The simulated car and connector physics (pure, no I/O, time passed in)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

from evsite.simulator.profiles import VOLTS

# IEC 61851-1: a pilot below 6 A means "do not charge"; an AC EV stops drawing.
MIN_PILOT_A = 6.0


@dataclass(slots=True)
class Ev:
    """A car: how much it can take and how full it is."""

    max_current_a: float = 32.0
    phases: int = 3
    capacity_wh: float = 60_000.0
    soc_wh: float = 30_000.0

    @property
    def full(self) -> bool:
        """The battery accepts no more energy."""
        return self.soc_wh >= self.capacity_wh - 1e-6

    @property
    def soc_percent(self) -> float:
        """State of charge in percent."""
        return 100.0 * self.soc_wh / self.capacity_wh


@dataclass(slots=True)
class Transaction:
    """A charging session on a connector."""

    local_id: int
    id_tag: str
    started: datetime
    meter_start_wh: int
    tx_id: str | None = None  # server's id (1.6) or ours (2.0.1), None until known
    seq_no: int = 0
    authorized: bool = True
    stopped: bool = False


@dataclass(slots=True)
class ConnectorState:
    """One connector: plug, car, session and its energy register."""

    id: int
    hardware_a: float
    charger_phases: int
    ev: Ev | None = None
    tx: Transaction | None = None
    energy_wh: float = 0.0
    draw_a: float = 0.0
    available: bool = True
    reserved_for: str | None = None
    reservation_id: int | None = None
    pending_tag: str | None = None
    status: str = "Available"
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def phases(self) -> int:
        """Phases actually in use: the smaller of car and charger."""
        return (
            min(self.ev.phases, self.charger_phases) if self.ev else self.charger_phases
        )

    def wanted_a(self, limit_a: float | None) -> float:
        """What the car draws under ``limit_a``: min(car max, hardware, limit)."""
        if self.ev is None or self.tx is None or self.tx.stopped or not self.available:
            return 0.0
        if self.ev.full:
            return 0.0
        cap = min(self.ev.max_current_a, self.hardware_a)
        if limit_a is not None:
            if limit_a < MIN_PILOT_A:
                return 0.0
            cap = min(cap, limit_a)
        # Pilot steps of 0.1 A, rounded down: a car never exceeds its limit.
        return math.floor(cap * 10 + 1e-9) / 10

    def advance(self, seconds: float) -> float:
        """Deliver energy at the present draw for ``seconds``; returns Wh delivered."""
        if self.ev is None or self.draw_a <= 0 or seconds <= 0:
            return 0.0
        wh = VOLTS * self.draw_a * self.phases * seconds / 3600.0
        wh = min(wh, self.ev.capacity_wh - self.ev.soc_wh)
        self.ev.soc_wh += wh
        self.energy_wh += wh
        if self.ev.full:
            self.draw_a = 0.0
        return wh

    @property
    def power_w(self) -> float:
        """Active power now."""
        return VOLTS * self.draw_a * self.phases
