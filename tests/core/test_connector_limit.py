"""``new_limit()`` builds exactly the ``ConnectorLimit`` value the dataclass builds."""

from __future__ import annotations

from dataclasses import FrozenInstanceError

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evsite.config.models import Phase
from evsite.core.allocation_model import ConnectorLimit, Reason, new_limit


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
