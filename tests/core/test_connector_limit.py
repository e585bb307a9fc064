"""The fast constructors build exactly the values the dataclasses build."""

from __future__ import annotations

from dataclasses import FrozenInstanceError

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evsite.config.models import Phase
from evsite.core.allocation_model import (
    ConnectorLimit,
    PanelAllocation,
    Reason,
    new_limit,
    new_panel_allocation,
)


@given(
    limit=st.floats(0, 80),
    reason=st.sampled_from(list(Reason)),
    panel=st.one_of(st.none(), st.text(max_size=3)),
    phases=st.sampled_from([(), (Phase.L1,), (Phase.L1, Phase.L2), tuple(Phase)]),
)
def test_new_limit_is_the_dataclass_value(
    limit: float, reason: Reason, panel: str | None, phases: tuple[Phase, ...]
) -> None:
    made = new_limit("c", 2, limit, reason, panel, phases)
    built = ConnectorLimit("c", 2, limit, reason, panel, phases)
    assert made == built
    assert hash(made) == hash(built)
    assert repr(made) == repr(built)
    assert made.reason_text == built.reason_text
    with pytest.raises(FrozenInstanceError):
        made.limit_a = 1.0  # type: ignore[misc]


def test_new_panel_allocation_is_the_dataclass_value() -> None:
    fields = (
        "p1",
        {Phase.L1: 32.0},
        {Phase.L1: 30.5},
        {Phase.L1: 12.0},
        {Phase.L1: 0.0},
        None,
        False,
        True,
    )
    made = new_panel_allocation(*fields)
    built = PanelAllocation(*fields)
    assert made == built
    assert repr(made) == repr(built)
    with pytest.raises(FrozenInstanceError):
        made.stale = True  # type: ignore[misc]
