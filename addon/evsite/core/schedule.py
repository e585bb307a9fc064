"""Weekly wall-clock windows: delayed charging and scheduled panel limits (SPEC §2.4).

Windows are wall-clock times in the site's timezone. ``end <= start`` wraps
midnight and the listed day is the day the window *starts* (``start == end``
is a 24-hour window). Because evaluation is by wall clock, a window is open
for 23 h on a spring-forward day's overlap and, on a fall-back night, the
repeated hour is inside or outside a window both times round.

Public API:
    window_contains(window, local_dt) -> bool
    next_opening(window, now, tz) -> datetime | None
    delay_state(windows, charger, now, tz, charge_now=False) -> DelayState
    scheduled_limit_a(panel, local_dt) -> float | None
    scheduled_limits_in_force(panels, now, tz) -> dict[str, float]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from evsite.config.models import Charger, DelayWindow, Panel, TimeWindow

_UTC = UTC
# Openings are searched this many days ahead; a weekly window opens within 8.
_HORIZON_DAYS = 8


def _zone(tz: str | ZoneInfo) -> ZoneInfo:
    return tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")


def window_contains(window: TimeWindow, local_dt: datetime) -> bool:
    """Whether the wall-clock time ``local_dt`` lies inside ``window``.

    Args:
        window: a weekly window (start inclusive, end exclusive).
        local_dt: a datetime already in the site's timezone (or naive wall time).

    Returns:
        True when inside.
    """
    clock = local_dt.time().replace(tzinfo=None, fold=0)
    day = local_dt.weekday()
    days = {d.number for d in window.days}
    if window.start < window.end:
        return day in days and window.start <= clock < window.end
    # Wrapping window: the evening part belongs to today, the morning part
    # to a window that started yesterday.
    if day in days and clock >= window.start:
        return True
    return (day - 1) % 7 in days and clock < window.end


def _instant(day: date, clock: time, zone: ZoneInfo) -> list[datetime]:
    """Aware instants at which the wall clock of ``zone`` reaches ``clock`` on ``day``.

    Two instants on a fall-back night; on a spring-forward night when the time
    does not exist, the transition instant (the wall clock jumps past it).
    """
    found: list[datetime] = []
    for fold in (0, 1):
        candidate = datetime.combine(day, clock, tzinfo=zone).replace(fold=fold)
        back = candidate.astimezone(_UTC).astimezone(zone)
        if back.replace(tzinfo=None, fold=0) == candidate.replace(tzinfo=None, fold=0):
            utc = candidate.astimezone(_UTC)
            if utc not in [f.astimezone(_UTC) for f in found]:
                found.append(candidate)
    if found:
        return found
    return [_gap_end(day, clock, zone)]


def first_instant(day: date, clock: time, tz: str | ZoneInfo) -> datetime:
    """The first instant the wall clock of ``tz`` reaches ``clock`` on ``day``.

    Args:
        day: the local date.
        clock: the wall-clock time.
        tz: the site timezone.

    Returns:
        The earlier instant on a fall-back night; the transition instant when
        ``clock`` falls in a spring-forward gap.
    """
    return min(_instant(day, clock, _zone(tz)), key=lambda d: d.astimezone(_UTC))


def _gap_end(day: date, clock: time, zone: ZoneInfo) -> datetime:
    """The transition instant of the DST gap that swallows ``clock`` on ``day``."""
    naive = datetime.combine(day, clock)
    # fold=1 reads a gap time with the post-transition offset (earliest UTC),
    # fold=0 with the pre-transition offset (latest UTC); the jump lies between.
    low = int(naive.replace(tzinfo=zone, fold=1).timestamp())
    high = int(naive.replace(tzinfo=zone, fold=0).timestamp())
    after = datetime.fromtimestamp(high, _UTC).astimezone(zone).utcoffset()
    while low < high:
        mid = (low + high) // 2
        if datetime.fromtimestamp(mid, _UTC).astimezone(zone).utcoffset() == after:
            high = mid
        else:
            low = mid + 1
    return datetime.fromtimestamp(high, _UTC).astimezone(zone)


def next_opening(
    window: TimeWindow, now: datetime, tz: str | ZoneInfo
) -> datetime | None:
    """The first instant after ``now`` at which ``window`` opens (DST-safe).

    Args:
        window: the weekly window.
        now: an aware datetime.
        tz: the site's timezone name or ZoneInfo.

    Returns:
        The opening instant in the site's timezone, or None if it has no days.

    Raises:
        ValueError: ``now`` is naive.
    """
    _require_aware(now)
    zone = _zone(tz)
    today = now.astimezone(zone).date()
    days = {d.number for d in window.days}
    for offset in range(-1, _HORIZON_DAYS):
        day = today + timedelta(days=offset)
        if day.weekday() not in days:
            continue
        for instant in _instant(day, window.start, zone):
            # A window wholly inside a spring-forward gap never opens that day.
            if instant > now and window_contains(window, instant):
                return instant
    return None


@dataclass(frozen=True, slots=True)
class DelayState:
    """Whether a charger's sessions are delayed now, and until when."""

    delayed: bool
    until: datetime | None = None
    window_id: str | None = None


def applies_to(window: DelayWindow, charger: Charger) -> bool:
    """Whether a delay window covers this charger (by scope or station group).

    A window that names neither scopes nor station groups covers every charger.
    """
    if not window.scopes and not window.station_groups:
        return True
    if charger.scope in window.scopes:
        return True
    return charger.station_group is not None and charger.station_group in (
        window.station_groups
    )


def delay_state(
    windows: Sequence[DelayWindow],
    charger: Charger,
    now: datetime,
    tz: str | ZoneInfo,
    *,
    charge_now: bool = False,
) -> DelayState:
    """Whether sessions on ``charger`` must wait for a delay window at ``now``.

    A charger covered by delay windows charges only inside one of them; the
    charger's ``overrides.delay_cancel`` and a session's "charge now" lift it.

    Args:
        windows: the site's delay windows.
        charger: the charger.
        now: an aware datetime.
        tz: the site's timezone.
        charge_now: the session was told to charge now (operator or automation).

    Returns:
        The state; ``until`` is the next opening of any covering window.

    Raises:
        ValueError: ``now`` is naive.
    """
    _require_aware(now)
    if charge_now or charger.overrides.delay_cancel:
        return DelayState(delayed=False)
    covering = [w for w in windows if applies_to(w, charger)]
    if not covering:
        return DelayState(delayed=False)
    zone = _zone(tz)
    local = now.astimezone(zone)
    if any(window_contains(w.window, local) for w in covering):
        return DelayState(delayed=False)
    best: tuple[datetime, str] | None = None
    for w in covering:
        opening = next_opening(w.window, now, zone)
        if opening is not None and (best is None or opening < best[0]):
            best = (opening, w.id)
    if best is None:
        return DelayState(delayed=True)
    return DelayState(delayed=True, until=best[0], window_id=best[1])


def scheduled_limit_a(panel: Panel, local_dt: datetime) -> float | None:
    """The lowest scheduled limit of ``panel`` in force at wall time ``local_dt``.

    Args:
        panel: the panel.
        local_dt: a datetime in the site's timezone.

    Returns:
        The limit in A per phase, or None when no scheduled limit applies.
    """
    limits = [
        s.limit_a for s in panel.scheduled_limits if window_contains(s.window, local_dt)
    ]
    return min(limits) if limits else None


def scheduled_limits_in_force(
    panels: Iterable[Panel], now: datetime, tz: str | ZoneInfo
) -> dict[str, float]:
    """Scheduled limits in force at ``now`` for every panel that has one.

    Args:
        panels: the site's panels.
        now: an aware datetime.
        tz: the site's timezone.

    Returns:
        panel id -> limit in A per phase (only panels with a limit in force).

    Raises:
        ValueError: ``now`` is naive.
    """
    _require_aware(now)
    local = now.astimezone(_zone(tz))
    result: dict[str, float] = {}
    for panel in panels:
        limit = scheduled_limit_a(panel, local)
        if limit is not None:
            result[panel.id] = limit
    return result
