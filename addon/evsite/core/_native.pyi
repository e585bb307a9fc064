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
def flow_resources(
    path_ids: list[int],
    circuit_firsts: list[int],
    uppers: list[float],
    counts: list[int],
    paths: tuple[tuple[int, ...], ...],
    path_phases: tuple[Any, ...],
    room: list[float],
    n_panel_res: int,
    circuit_phases: dict[int, tuple[Any, ...]],
) -> tuple[list[Any], list[tuple[int, ...]], list[tuple[int, ...]]]: ...
def room_after_floors(
    path_ids: list[int],
    floors: list[float],
    counts: list[int],
    circuits: list[tuple[int, ...]],
    paths: tuple[tuple[int, ...], ...],
    room: list[float],
) -> list[float]: ...
def fill_flows(
    resources: list[Any],
    weights: list[float],
    floors: list[float],
    uppers: list[float],
    priority: list[int],
    counts: list[int],
    room: list[float],
    upper_reason: list[Any],
    phases: list[Any],
    res_reason: list[Any],
    n_panel: int,
    charger_cap: dict[int, float],
    charger_max: Any,
    fair_share: Any,
    unused: Any,
) -> list[Any]: ...
def connector_limits(
    keys: list[Any],
    per_flow: list[Any],
    flow_of: list[int],
    before: Any,
    limits: dict[Any, Any],
    new_limit: Callable[..., Any],
    blocked: dict[int, int],
    initial_room: list[float],
    floors: list[float],
    phases: list[Any],
    res_reason: list[Any],
    min_current_rotation: Any,
) -> None: ...
def panel_sums(
    path_ids: list[int],
    per_flow: list[Any],
    counts: list[int],
    paths: tuple[tuple[int, ...], ...],
    n_panel_res: int,
) -> list[float]: ...
def panel_figures(
    caps: dict[str, Any],
    index: Any,
    plain: Any,
    allocated: list[float],
    reserved: list[float],
    new_panel: Callable[..., Any],
) -> dict[str, Any]: ...
def rotation_entries(
    keys: list[Any], entries: Any, running: Any, waiting: Any, paused: Any
) -> dict[Any, Any]: ...
def admit_connectors(
    order: list[int],
    flow_of: list[int],
    resources: list[Any],
    left: list[float],
    floors: list[float],
    room: list[float],
) -> tuple[list[int], dict[int, int]]: ...
def round3(x: float) -> float: ...
def admission_order(
    keys: list[Any],
    flow_of: list[int],
    priority: list[int],
    demands: Any,
    entries: Any,
    slot_start: Any,
    now: Any,
    epoch: Any,
) -> list[int]: ...
