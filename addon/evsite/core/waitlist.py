"""The waitlist state machine (SPEC §5), pure: state and time in, state and effects out.

A queue belongs to one charger (``charger:<id>``) or one station group
(``group:<id>``). Drivers wait FIFO, at most in one queue per site. When a port
of the queue is free the first waiting driver gets a *turn*: the port is held
for them until ``now + hold_minutes`` (only their tag is accepted). A driver
who does not plug in within the hold is a *no-show*: they leave the queue and
the port is offered to the next driver. Sessions on waitlisted ports are timed:
at the policy's max charging time the driver is told, and the session stopped
when the policy says so.

A driver joining remotely outside the policy's remote-queuing windows is
*pending*: kept, but offered no turn until a window opens (seed 003).

Public API:
    join, leave, offer, session_started, session_stopped, charged_full, tick,
    held_for
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from evsite.config.access_models import FinishKind, WaitlistPolicy
from evsite.core.schedule import window_contains
from evsite.core.waitlist_state import (
    Effect,
    EffectKind,
    Entry,
    Hold,
    Port,
    Running,
    Step,
    WaitlistState,
)
from evsite.errors import ConflictError, NotFoundError

__all__ = [
    "Effect",
    "EffectKind",
    "Entry",
    "Hold",
    "Port",
    "Running",
    "Step",
    "WaitlistState",
    "charged_full",
    "held_for",
    "join",
    "leave",
    "offer",
    "session_started",
    "session_stopped",
    "tick",
]


def _remote_open(policy: WaitlistPolicy, now: datetime, tz: str) -> bool:
    """Remote queuing is allowed now (no windows means always)."""
    if not policy.remote_windows:
        return True
    local = now.astimezone(ZoneInfo(tz))
    return any(window_contains(w, local) for w in policy.remote_windows)


def join(
    state: WaitlistState,
    driver_id: str,
    queue_id: str,
    policy: WaitlistPolicy,
    now: datetime,
    *,
    tz: str,
    remote: bool,
) -> Step:
    """Add a driver at the end of a queue.

    Args:
        state: the current state.
        driver_id: the driver joining.
        queue_id: ``charger:<id>`` or ``group:<id>``.
        policy: the queue's waitlist policy.
        now: an aware datetime.
        tz: the site's timezone.
        remote: joined through the API (not by a tap at the charger).

    Returns:
        The new state; a JOINED effect (``pending`` in data).

    Raises:
        ConflictError: the driver already waits in a queue or holds a port.
    """
    current = state.entry(driver_id)
    if current is not None:
        raise ConflictError(
            f"driver '{driver_id}' is already waiting in {current.queue_id}",
            "driver_id",
        )
    if state.hold_of(driver_id) is not None:
        raise ConflictError(f"driver '{driver_id}' already has a turn", "driver_id")
    pending = remote and not _remote_open(policy, now, tz)
    entry = Entry(driver_id, queue_id, now, state.next_seq, pending)
    new = replace(state, entries=(*state.entries, entry), next_seq=state.next_seq + 1)
    position = new.queue(queue_id).index(entry) + 1
    data = {"pending": pending, "position": position}
    return Step(new, (Effect(EffectKind.JOINED, queue_id, driver_id, data=data),))


def leave(state: WaitlistState, driver_id: str, reason: str = "left") -> Step:
    """Remove a driver from their queue, giving up a held port too.

    Raises:
        NotFoundError: the driver is neither waiting nor holding a port.
    """
    entry = state.entry(driver_id)
    hold = state.hold_of(driver_id)
    if entry is None and hold is None:
        raise NotFoundError("waitlist entry", driver_id)
    effects: list[Effect] = []
    if hold is not None:
        effects.append(_cancel(hold))
    queue_id = entry.queue_id if entry is not None else hold.queue_id if hold else ""
    effects.append(
        Effect(EffectKind.LEFT, queue_id, driver_id, data={"reason": reason})
    )
    new = replace(
        state,
        entries=tuple(e for e in state.entries if e.driver_id != driver_id),
        holds=tuple(h for h in state.holds if h.driver_id != driver_id),
    )
    return Step(new, tuple(effects))


def _cancel(hold: Hold) -> Effect:
    return Effect(
        EffectKind.CANCEL_RESERVATION,
        hold.queue_id,
        hold.driver_id,
        hold.charger_id,
        hold.connector_id,
        {"reservation_id": hold.reservation_id},
    )


def offer(
    state: WaitlistState,
    queue_id: str,
    free_ports: Sequence[Port],
    policy: WaitlistPolicy,
    now: datetime,
) -> Step:
    """Give each free, unheld port of a queue to the next waiting driver.

    Args:
        state: the current state.
        queue_id: the queue.
        free_ports: ports of the queue that are available now.
        policy: the queue's policy (hold time).
        now: an aware datetime.

    Returns:
        The new state with holds; TURN and RESERVE effects per port given.
    """
    held = {(h.charger_id, h.connector_id) for h in state.holds}
    effects: list[Effect] = []
    for port in free_ports:
        waiting = [e for e in state.queue(queue_id) if not e.pending]
        if not waiting or port in held:
            continue
        first = waiting[0]
        until = now + timedelta(minutes=policy.hold_minutes)
        hold = Hold(first.driver_id, queue_id, *port, until, state.next_reservation)
        state = replace(
            state,
            entries=tuple(e for e in state.entries if e is not first),
            holds=(*state.holds, hold),
            next_reservation=state.next_reservation + 1,
        )
        data = {"until": until.isoformat(), "reservation_id": hold.reservation_id}
        for kind in (EffectKind.TURN, EffectKind.RESERVE):
            effects.append(Effect(kind, queue_id, first.driver_id, *port, data))
    return Step(state, tuple(effects))


def session_started(
    state: WaitlistState,
    running: Running,
) -> Step:
    """A session began on a waitlisted port: a held turn is taken, the clock starts.

    Args:
        state: the current state.
        running: the session (its driver, when known, ends their hold or wait).

    Returns:
        The new state; TURN_TAKEN when the driver held that port.
    """
    effects: list[Effect] = []
    port = (running.charger_id, running.connector_id)
    holds = []
    for hold in state.holds:
        if (hold.charger_id, hold.connector_id) == port and (
            hold.driver_id == running.driver_id
        ):
            effects.append(
                Effect(EffectKind.TURN_TAKEN, hold.queue_id, hold.driver_id, *port)
            )
        else:
            holds.append(hold)
    entries = state.entries
    if running.driver_id is not None and state.entry(running.driver_id) is not None:
        # Charging elsewhere ends the driver's wait (one queue per driver).
        left = leave(state, running.driver_id, "charging")
        effects.extend(e for e in left.effects if e.kind is EffectKind.LEFT)
        entries = left.state.entries
    others = tuple(
        r for r in state.running if r.transaction_id != running.transaction_id
    )
    new = replace(
        state, entries=entries, holds=tuple(holds), running=(*others, running)
    )
    return Step(new, tuple(effects))


def session_stopped(state: WaitlistState, transaction_id: str) -> Step:
    """A session ended; its port is offered by the next :func:`offer`."""
    running = tuple(r for r in state.running if r.transaction_id != transaction_id)
    return Step(replace(state, running=running))


def _expire_holds(state: WaitlistState, now: datetime) -> Step:
    effects: list[Effect] = []
    kept: list[Hold] = []
    for hold in state.holds:
        if hold.until > now:
            kept.append(hold)
            continue
        port = (hold.charger_id, hold.connector_id)
        effects.append(Effect(EffectKind.NO_SHOW, hold.queue_id, hold.driver_id, *port))
        effects.append(_cancel(hold))
    return Step(replace(state, holds=tuple(kept)), tuple(effects))


def _time_sessions(
    state: WaitlistState,
    policies: Mapping[str, WaitlistPolicy],
    now: datetime,
    energy_kwh: Mapping[str, float],
) -> Step:
    effects: list[Effect] = []
    timed: list[Running] = []
    for current in state.running:
        run = current
        policy = policies.get(run.queue_id)
        if policy is None:
            timed.append(run)
            continue
        args = (run.queue_id, run.driver_id, run.charger_id, run.connector_id)
        tx = {"transaction_id": run.transaction_id}
        elapsed = now - run.started_at
        limit = policy.max_charging_minutes
        if (
            limit is not None
            and not run.max_notified
            and elapsed >= timedelta(minutes=limit)
        ):
            run = replace(run, max_notified=True)
            effects.append(Effect(EffectKind.MAX_TIME, *args, {**tx, "minutes": limit}))
            if policy.stop_at_max:
                effects.append(Effect(EffectKind.STOP, *args, tx))
        if not run.finish_notified and _finish_due(
            policy, elapsed, energy_kwh.get(run.transaction_id)
        ):
            run = replace(run, finish_notified=True)
            effects.append(
                Effect(
                    EffectKind.FINISH, *args, {**tx, "finish": policy.finish.kind.value}
                )
            )
        timed.append(run)
    return Step(replace(state, running=tuple(timed)), tuple(effects))


def charged_full(
    state: WaitlistState,
    policies: Mapping[str, WaitlistPolicy],
    charger_id: str,
    connector_id: int,
) -> Step:
    """The car on a port stopped drawing (SuspendedEV): the "fully charged" notice.

    Args:
        state: the current state.
        policies: queue id -> its policy.
        charger_id: the charger.
        connector_id: the port whose car is full.

    Returns:
        The new state; a FINISH effect when the port's policy asks for it (once).
    """
    effects: list[Effect] = []
    timed: list[Running] = []
    for run in state.running:
        policy = policies.get(run.queue_id)
        due = (
            policy is not None
            and policy.finish.kind is FinishKind.FULLY_CHARGED
            and not run.finish_notified
            and (run.charger_id, run.connector_id) == (charger_id, connector_id)
        )
        if due:
            data = {"transaction_id": run.transaction_id, "finish": "fully_charged"}
            effects.append(
                Effect(EffectKind.FINISH, run.queue_id, run.driver_id, charger_id,
                       connector_id, data)
            )  # fmt: skip
            timed.append(replace(run, finish_notified=True))
        else:
            timed.append(run)
    return Step(replace(state, running=tuple(timed)), tuple(effects))


def _finish_due(policy: WaitlistPolicy, elapsed: timedelta, kwh: float | None) -> bool:
    """The driver finish notification is due (fully charged is told by the service)."""
    finish = policy.finish
    if finish.kind is FinishKind.AFTER_TIME and finish.minutes is not None:
        return elapsed >= timedelta(minutes=finish.minutes)
    if finish.kind is FinishKind.AFTER_KWH and finish.kwh is not None:
        return kwh is not None and kwh >= finish.kwh
    return False


def _activate(
    state: WaitlistState, policies: Mapping[str, WaitlistPolicy], now: datetime, tz: str
) -> Step:
    effects: list[Effect] = []
    entries: list[Entry] = []
    seq = state.next_seq
    for original in sorted(state.entries, key=lambda e: e.seq):
        entry = original
        policy = policies.get(entry.queue_id)
        if entry.pending and (policy is None or _remote_open(policy, now, tz)):
            # Added to the queue when the window opens, behind who is there.
            entry = replace(entry, pending=False, seq=seq)
            seq += 1
            effects.append(
                Effect(EffectKind.ACTIVATED, entry.queue_id, entry.driver_id)
            )
        entries.append(entry)
    return Step(replace(state, entries=tuple(entries), next_seq=seq), tuple(effects))


def tick(
    state: WaitlistState,
    policies: Mapping[str, WaitlistPolicy],
    now: datetime,
    tz: str,
    energy_kwh: Mapping[str, float] | None = None,
) -> Step:
    """Advance time: expire holds (no-shows), time sessions, activate pending joins.

    Args:
        state: the current state.
        policies: queue id -> its policy.
        now: an aware datetime.
        tz: the site's timezone.
        energy_kwh: transaction id -> energy delivered so far (finish by kWh).

    Returns:
        The new state and its effects (freed ports are offered by :func:`offer`).
    """
    expired = _expire_holds(state, now)
    timed = _time_sessions(expired.state, policies, now, energy_kwh or {})
    activated = _activate(timed.state, policies, now, tz)
    effects = expired.effects + timed.effects + activated.effects
    return Step(activated.state, effects)


def held_for(
    state: WaitlistState, charger_id: str, connector_id: int | None
) -> frozenset[str] | None:
    """Drivers a port is held for; None when the port is not held.

    With no connector (an OCPP 1.6 Authorize), the charger counts as held when
    any port is, and each holder may present their tag.
    """
    holders = frozenset(
        h.driver_id
        for h in state.holds
        if h.charger_id == charger_id and connector_id in (None, h.connector_id)
    )
    return holders or None
