"""Cross-checks of a whole site that a per-field schema cannot express (SPEC §1).

Each check returns problems naming the path and the value; all problems are
collected so an installer sees every mistake at once.
"""

from __future__ import annotations

from collections.abc import Iterator

from evsite.config.models import MeterConfig, MeterKind, SiteConfig
from evsite.config.validate_chargers import charger_errors
from evsite.config.validate_phases import panel_phase_errors, phase_warnings
from evsite.core.tree import PanelTree, find_cycle
from evsite.errors import Problem


def check_site(config: SiteConfig) -> tuple[list[Problem], list[Problem]]:
    """Cross-check a schema-valid site.

    Args:
        config: the site built from schema-normalised data.

    Returns:
        ``(errors, warnings)``; the site is usable only when ``errors`` is empty.
    """
    errors = list(_tree_errors(config))
    warnings: list[Problem] = []
    if errors:  # Later checks walk the tree; they need it sound.
        return errors, warnings
    tree = PanelTree.from_config(config)
    errors += _panel_errors(config, tree)
    errors += charger_errors(config, tree)
    errors += _offline_errors(config, tree)
    errors += _misc_errors(config)
    warnings += _warnings(config, tree)
    warnings += phase_warnings(config, tree)
    return errors, warnings


def _tree_errors(config: SiteConfig) -> Iterator[Problem]:
    panel_ids = {p.id for p in config.panels}
    roots = [i for i, p in enumerate(config.panels) if p.parent is None]
    if not roots:
        yield Problem("panels", "no root panel: exactly one panel must have no parent")
    for index in roots[1:]:
        first = config.panels[roots[0]].id
        yield Problem(
            f"panels[{index}].parent",
            f"panel '{config.panels[index].id}' is a second root "
            f"(root is '{first}'); set its parent",
        )
    parents = {p.id: p.parent for p in config.panels}
    reported: set[str] = set()
    for index, panel in enumerate(config.panels):
        if panel.parent is not None and panel.parent not in panel_ids:
            yield Problem(f"panels[{index}].parent", f"unknown panel '{panel.parent}'")
            continue
        if panel.parent == panel.id:
            yield Problem(
                f"panels[{index}].parent",
                f"panel '{panel.id}' cannot be its own parent",
            )
            reported.add(panel.id)
            continue
        cycle = find_cycle(parents, panel.id)
        if cycle and panel.id in cycle and not reported & set(cycle):
            reported.update(cycle)
            yield Problem(
                f"panels[{index}].parent", f"cycle in the tree: {' -> '.join(cycle)}"
            )
    for index, charger in enumerate(config.chargers):
        if charger.parent not in panel_ids:
            yield Problem(
                f"chargers[{index}].parent", f"unknown panel '{charger.parent}'"
            )


def _panel_errors(config: SiteConfig, tree: PanelTree) -> Iterator[Problem]:
    service = config.site.main_service
    for index, panel in enumerate(config.panels):
        path = f"panels[{index}]"
        if panel.parent is None:
            if panel.breaker_a > service.main_breaker_a:
                yield Problem(
                    f"{path}.breaker_a",
                    f"root panel breaker {panel.breaker_a:g} A is above the main "
                    f"service breaker {service.main_breaker_a:g} A",
                )
            if panel.phases != service.phases:
                yield Problem(
                    f"{path}.phases",
                    f"root panel has {panel.phases} phase(s) but the main service "
                    f"has {service.phases}",
                )
            if panel.voltage != service.voltage:
                yield Problem(
                    f"{path}.voltage",
                    f"root panel voltage {panel.voltage:g} V differs from the main "
                    f"service {service.voltage:g} V",
                )
        else:
            yield from _child_panel_errors(config, tree, index)
        yield from panel_phase_errors(panel, tree, path)
        for j, limit in enumerate(panel.scheduled_limits):
            if limit.limit_a > panel.breaker_a:
                yield Problem(
                    f"{path}.scheduled_limits[{j}].limit_a",
                    f"{limit.limit_a:g} A is above the breaker {panel.breaker_a:g} A",
                )
        if panel.meter is not None:
            yield from _meter_errors(panel.meter, f"{path}.meter")


def _child_panel_errors(
    config: SiteConfig, tree: PanelTree, index: int
) -> Iterator[Problem]:
    panel = config.panels[index]
    parent = tree.panels[panel.parent or ""]
    path = f"panels[{index}]"
    if panel.phases > parent.phases:
        yield Problem(
            f"{path}.phases",
            f"a 3-phase panel cannot be fed by 1-phase panel '{parent.id}'",
        )
    elif panel.phases == parent.phases and panel.voltage != parent.voltage:
        yield Problem(
            f"{path}.voltage",
            f"{panel.voltage:g} V differs from parent '{parent.id}' "
            f"({parent.voltage:g} V)",
        )


def _meter_errors(meter: MeterConfig, path: str) -> Iterator[Problem]:
    if meter.kind is MeterKind.MODBUS_TCP and not meter.host:
        yield Problem(f"{path}.host", "required for a Modbus TCP meter")
    if meter.kind is MeterKind.MODBUS_RTU and not meter.serial_port:
        yield Problem(f"{path}.serial_port", "required for a Modbus RTU meter")
    if meter.kind is MeterKind.MQTT and not meter.topic:
        yield Problem(f"{path}.topic", "required for an MQTT meter")
    if meter.register_map == "generic" and meter.kind is not MeterKind.MQTT:
        quantities = {r.quantity for r in meter.registers}
        if not quantities & {"current_l1", "current_l2", "current_l3"}:
            yield Problem(
                f"{path}.registers",
                "a generic map needs at least one current_l1/l2/l3 register",
            )
    if meter.stale_after_s < meter.poll_interval_s:
        yield Problem(
            f"{path}.stale_after_s",
            f"{meter.stale_after_s:g} s is shorter than the poll interval "
            f"{meter.poll_interval_s:g} s",
        )


def _offline_errors(config: SiteConfig, tree: PanelTree) -> Iterator[Problem]:
    """Σ of explicit offline allocations under a panel fits its capacity (§2.3).

    All chargers may lose their link together, so the sum is what the panel
    carries in the worst case. Chargers with no explicit value get a computed
    safe share of what is left, which cannot break the invariant.
    """
    site_default = config.energy.offline_allocation_a
    explicit: dict[str, float] = {}
    for charger in config.chargers:
        value = charger.overrides.offline_allocation_a
        if value is None and site_default is not None:
            value = min(site_default, charger.limit_a)
        if value is not None:
            # The charger's total: ports on one breaker share it (SPEC §2.5).
            explicit[charger.id] = value
    loads = tree.load_per_phase(explicit)
    index_of = {p.id: i for i, p in enumerate(config.panels)}
    for panel_id in tree.depth_first():
        panel = tree.panels[panel_id]
        for phase, total in sorted(loads[panel_id].items()):
            if total > panel.capacity_a + 1e-9:
                yield Problem(
                    f"panels[{index_of[panel_id]}]",
                    f"offline allocations under panel '{panel_id}' add up to "
                    f"{total:g} A on {phase.value}, above its capacity "
                    f"{panel.capacity_a:g} A",
                )


def _misc_errors(config: SiteConfig) -> Iterator[Problem]:
    ocpp = config.service.ocpp
    if bool(ocpp.tls_cert) != bool(ocpp.tls_key):
        yield Problem("ocpp.tls_key", "tls_cert and tls_key go together")
    token = config.service.api.token
    if token is not None and len(token) < 16:
        yield Problem("api.token", "use at least 16 characters")
    default = config.energy.offline_allocation_a
    if default is not None and 0 < default < config.energy.min_current_a:
        yield Problem(
            "energy.offline_allocation_a",
            f"{default:g} A is below the minimum current "
            f"{config.energy.min_current_a:g} A (use 0 to stop charging)",
        )


def _warnings(config: SiteConfig, tree: PanelTree) -> Iterator[Problem]:
    for index, panel in enumerate(config.panels):
        meter = panel.meter
        if meter and meter.kind is MeterKind.MQTT and not config.service.mqtt.enabled:
            # Not an error: the add-on may get the broker from its own options.
            yield Problem(
                f"panels[{index}].meter.kind",
                f"MQTT meter on panel '{panel.id}' but no mqtt section in this "
                "file; without a broker the meter stays stale",
            )
        if panel.parent is not None:
            parent = tree.panels[panel.parent]
            if panel.breaker_a > parent.breaker_a:
                yield Problem(
                    f"panels[{index}].breaker_a",
                    f"{panel.breaker_a:g} A is above parent '{parent.id}' "
                    f"({parent.breaker_a:g} A); the parent limits it",
                )
    groups_in_use = {c.station_group for c in config.chargers}
    for index, window in enumerate(config.delay_windows):
        for j, group in enumerate(window.station_groups):
            if group not in groups_in_use:
                yield Problem(
                    f"delay_windows[{index}].station_groups[{j}]",
                    f"no charger is in station group '{group}'",
                )
