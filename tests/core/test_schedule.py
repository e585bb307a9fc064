"""Delay windows and scheduled limits in the site's timezone, across DST (SPEC §2.4)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from evsite.config.models import (
    Charger,
    ChargerOverrides,
    DelayWindow,
    Panel,
    ScheduledLimit,
    Scope,
    TimeWindow,
    Weekday,
)
from evsite.core.schedule import (
    applies_to,
    delay_state,
    next_opening,
    scheduled_limit_a,
    scheduled_limits_in_force,
    window_contains,
)

NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
NIGHT = TimeWindow(time(21), time(7))
MON, TUE, SUN = Weekday.MON, Weekday.TUE, Weekday.SUN


def local(zone: ZoneInfo, *args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=zone).replace(fold=fold)  # type: ignore[arg-type,misc]


# 2026-03-02 is a Monday.
@pytest.mark.parametrize(
    ("window", "when", "inside"),
    [
        (TimeWindow(time(9), time(17)), datetime(2026, 3, 2, 9, 0), True),
        (TimeWindow(time(9), time(17)), datetime(2026, 3, 2, 16, 59), True),
        (TimeWindow(time(9), time(17)), datetime(2026, 3, 2, 17, 0), False),
        (TimeWindow(time(9), time(17)), datetime(2026, 3, 2, 8, 59), False),
        (TimeWindow(time(9), time(17), (TUE,)), datetime(2026, 3, 2, 12), False),
        (TimeWindow(time(9), time(17), (MON,)), datetime(2026, 3, 2, 12), True),
        (NIGHT, datetime(2026, 3, 2, 23, 30), True),
        (NIGHT, datetime(2026, 3, 2, 6, 59), True),
        (NIGHT, datetime(2026, 3, 2, 7, 0), False),
        (NIGHT, datetime(2026, 3, 2, 20, 59), False),
        # Wrapping: the listed day is the start day.
        (TimeWindow(time(21), time(7), (MON,)), datetime(2026, 3, 2, 22), True),
        (TimeWindow(time(21), time(7), (MON,)), datetime(2026, 3, 3, 6), True),
        (TimeWindow(time(21), time(7), (MON,)), datetime(2026, 3, 2, 6), False),
        (TimeWindow(time(21), time(7), (SUN,)), datetime(2026, 3, 2, 6), True),
        # start == end: 24 hours from start.
        (TimeWindow(time(8), time(8), (MON,)), datetime(2026, 3, 3, 7, 59), True),
        (TimeWindow(time(8), time(8), (MON,)), datetime(2026, 3, 3, 8, 0), False),
        (TimeWindow(time(8), time(8), (MON,)), datetime(2026, 3, 2, 7, 0), False),
    ],
)
def test_window_contains(window: TimeWindow, when: datetime, inside: bool) -> None:
    assert window_contains(window, when) is inside
    assert window_contains(window, when.replace(tzinfo=NY)) is inside


def test_next_opening_plain_and_wrapping() -> None:
    now = local(NY, 2026, 3, 2, 12)
    assert next_opening(NIGHT, now, NY) == local(NY, 2026, 3, 2, 21)
    at_start = local(NY, 2026, 3, 2, 21)
    assert next_opening(NIGHT, at_start, "America/New_York") == local(
        NY, 2026, 3, 3, 21
    )
    weekly = TimeWindow(time(9), time(10), (MON,))
    assert next_opening(weekly, now, NY) == local(NY, 2026, 3, 9, 9)
    assert next_opening(TimeWindow(time(9), time(10), ()), now, NY) is None


def test_spring_forward_opening_inside_the_gap_is_the_transition() -> None:
    # 2026-03-08 02:00 EST -> 03:00 EDT: 02:30 never happens on the wall clock.
    window = TimeWindow(time(2, 30), time(6))
    now = local(NY, 2026, 3, 8, 1, 0)
    opening = next_opening(window, now, NY)
    assert opening is not None
    assert opening.astimezone(UTC) == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)
    assert window_contains(window, opening)
    # Aware arithmetic is wall-clock arithmetic: step back in UTC.
    just_before = opening.astimezone(UTC) - timedelta(seconds=1)
    assert not window_contains(window, just_before.astimezone(NY))


def test_spring_forward_night_window_and_delayed_until() -> None:
    charger = Charger("c", "p", 32, scope=Scope.PRIVATE)
    windows = [DelayWindow("night", NIGHT, scopes=(Scope.PRIVATE,))]
    # 06:30 EDT on the short night is still inside the 21:00-07:00 window.
    assert not delay_state(windows, charger, local(NY, 2026, 3, 8, 6, 30), NY).delayed
    state = delay_state(windows, charger, local(NY, 2026, 3, 8, 7, 0), NY)
    assert state.delayed
    assert state.window_id == "night"
    assert state.until == local(NY, 2026, 3, 8, 21)
    assert state.until is not None
    assert state.until.astimezone(UTC) == datetime(2026, 3, 9, 1, 0, tzinfo=UTC)
    # Same wall-clock answer the evening before, with the old offset.
    before = delay_state(windows, charger, local(NY, 2026, 3, 7, 12), NY)
    assert before.until is not None
    assert before.until.astimezone(UTC) == datetime(2026, 3, 8, 2, 0, tzinfo=UTC)


def test_fall_back_repeated_hour_opens_twice() -> None:
    # 2026-11-01 02:00 EDT -> 01:00 EST: 01:30 happens twice.
    window = TimeWindow(time(1, 30), time(1, 45))
    first = next_opening(window, local(NY, 2026, 11, 1, 0, 30), NY)
    assert first is not None
    assert first.astimezone(UTC) == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
    # Between the two passes (01:50 EDT), the next opening is 01:30 EST.
    between = datetime(2026, 11, 1, 5, 50, tzinfo=UTC)
    second = next_opening(window, between, NY)
    assert second is not None
    assert second.astimezone(UTC) == datetime(2026, 11, 1, 6, 30, tzinfo=UTC)
    assert window_contains(window, local(NY, 2026, 11, 1, 1, 40, fold=1))


def test_fall_back_night_window_lasts_an_hour_longer() -> None:
    start = local(BERLIN, 2026, 10, 24, 21).astimezone(UTC)
    inside = 0
    for minute in range(14 * 60):
        when = (start + timedelta(minutes=minute)).astimezone(BERLIN)
        inside += window_contains(NIGHT, when)
    assert inside == 11 * 60  # 10 wall-clock hours + the repeated hour


@pytest.mark.parametrize(
    ("charger", "window", "covered"),
    [
        (Charger("c", "p", 32, scope=Scope.PRIVATE), DelayWindow("w", NIGHT), True),
        (
            Charger("c", "p", 32, scope=Scope.PUBLIC),
            DelayWindow("w", NIGHT, scopes=(Scope.PRIVATE,)),
            False,
        ),
        (
            Charger("c", "p", 32, station_group="tower-a"),
            DelayWindow("w", NIGHT, station_groups=("tower-a",)),
            True,
        ),
        (
            Charger("c", "p", 32),
            DelayWindow("w", NIGHT, station_groups=("tower-a",)),
            False,
        ),
    ],
)
def test_applies_to(charger: Charger, window: DelayWindow, covered: bool) -> None:
    assert applies_to(window, charger) is covered


def test_delay_cancel_charge_now_and_uncovered_chargers_are_not_delayed() -> None:
    windows = [DelayWindow("night", NIGHT, scopes=(Scope.PRIVATE,))]
    noon = local(NY, 2026, 3, 2, 12)
    private = Charger("c", "p", 32, scope=Scope.PRIVATE)
    assert delay_state(windows, private, noon, NY).delayed
    assert not delay_state(windows, private, noon, NY, charge_now=True).delayed
    cancelled = Charger(
        "c", "p", 32, scope=Scope.PRIVATE, overrides=ChargerOverrides(delay_cancel=True)
    )
    assert not delay_state(windows, cancelled, noon, NY).delayed
    public = Charger("c", "p", 32, scope=Scope.PUBLIC)
    assert not delay_state(windows, public, noon, NY).delayed
    assert not delay_state([], private, noon, NY).delayed


def test_several_windows_any_open_one_allows_and_until_is_the_soonest() -> None:
    charger = Charger("c", "p", 32)
    windows = [
        DelayWindow("night", NIGHT),
        DelayWindow("lunch", TimeWindow(time(12), time(13))),
    ]
    assert not delay_state(windows, charger, local(NY, 2026, 3, 2, 12, 30), NY).delayed
    state = delay_state(windows, charger, local(NY, 2026, 3, 2, 9), NY)
    assert (state.delayed, state.until, state.window_id) == (
        True,
        local(NY, 2026, 3, 2, 12),
        "lunch",
    )
    never = [DelayWindow("none", TimeWindow(time(1), time(2), ()))]
    assert delay_state(never, charger, local(NY, 2026, 3, 2, 9), NY) == (
        delay_state(never, charger, local(NY, 2026, 3, 2, 9), NY)
    )
    assert delay_state(never, charger, local(NY, 2026, 3, 2, 9), NY).until is None


def test_scheduled_limits() -> None:
    evening = ScheduledLimit(TimeWindow(time(16), time(21)), 20.0)
    peak = ScheduledLimit(TimeWindow(time(17), time(19)), 10.0)
    panels = [
        Panel("p", "p", 100, 3, 400, scheduled_limits=(evening, peak)),
        Panel("q", "q", 100, 3, 400, parent="p"),
    ]
    assert scheduled_limit_a(panels[0], datetime(2026, 3, 2, 16, 30)) == 20.0
    assert scheduled_limit_a(panels[0], datetime(2026, 3, 2, 18)) == 10.0
    assert scheduled_limit_a(panels[0], datetime(2026, 3, 2, 22)) is None
    now = local(BERLIN, 2026, 3, 2, 18).astimezone(UTC)
    assert scheduled_limits_in_force(panels, now, "Europe/Berlin") == {"p": 10.0}
    assert scheduled_limits_in_force(panels, now, "America/New_York") == {}


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_opening(NIGHT, datetime(2026, 3, 2), NY)
    with pytest.raises(ValueError, match="timezone-aware"):
        delay_state([], Charger("c", "p", 32), datetime(2026, 3, 2), NY)


def test_window_swallowed_by_the_spring_forward_gap_opens_next_day() -> None:
    window = TimeWindow(time(2, 15), time(2, 45))
    opening = next_opening(window, local(NY, 2026, 3, 8, 0), NY)
    assert opening == local(NY, 2026, 3, 9, 2, 15)


QUARTER = timedelta(minutes=15)


@settings(max_examples=120, deadline=None)
@given(
    start=st.integers(0, 95).map(lambda q: time(q // 4, q % 4 * 15)),
    end=st.integers(0, 95).map(lambda q: time(q // 4, q % 4 * 15)),
    days=st.lists(st.sampled_from(list(Weekday)), min_size=1, unique=True),
    moment=st.datetimes(
        min_value=datetime(2026, 1, 1),
        max_value=datetime(2027, 1, 1),
        timezones=st.just(UTC),
    ),
    zone=st.sampled_from(
        [NY, BERLIN, ZoneInfo("Australia/Lord_Howe"), ZoneInfo("UTC")]
    ),
)
def test_next_opening_is_the_first_closed_to_open_edge(
    start: time, end: time, days: list[Weekday], moment: datetime, zone: ZoneInfo
) -> None:
    assume(start != end)  # a 24-hour window on consecutive days never closes
    window = TimeWindow(start, end, tuple(days))
    found = next_opening(window, moment, zone)
    assert found is not None
    opening = found.astimezone(UTC)  # step in UTC, not on the wall clock
    assert moment < opening <= moment + timedelta(days=8)

    def inside(when: datetime) -> bool:
        return window_contains(window, when.astimezone(zone))

    assert inside(opening)
    # A spring-forward jump can land inside a window that never closed.
    assume(not inside(opening - QUARTER))
    # Brute force on the quarter-hour grid (all these zones shift by quarters).
    edge = moment.replace(minute=moment.minute // 15 * 15, second=0, microsecond=0)
    while not (edge > moment and inside(edge) and not inside(edge - QUARTER)):
        edge += QUARTER
    assert edge == opening
