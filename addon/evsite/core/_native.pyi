from collections.abc import Callable, Sequence
from typing import Any

def fill_into(
    members: Sequence[int],
    resources: Sequence[Sequence[int]],
    weights: Sequence[float],
    floors: Sequence[float],
    uppers: Sequence[float],
    counts: Sequence[int],
    room: list[float],
    rates: list[float],
    binding: list[int],
    floors_taken: bool,
) -> None: ...
def classify(
    builder: Any,
    rows: tuple[Any, ...],
    reasons: tuple[Any, ...],
    new_limit: Callable[..., Any],
) -> tuple[list[Any], ...]: ...
