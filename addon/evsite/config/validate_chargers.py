"""Cross-checks of each charger: electrical fit, phases, QR alias, scope rules."""

from __future__ import annotations

from collections.abc import Iterator

from evsite.config.models import Charger, Scope, SiteConfig
from evsite.config.validate_phases import charger_phase_errors
from evsite.core.tree import PanelTree
from evsite.errors import Problem


def charger_errors(config: SiteConfig, tree: PanelTree) -> Iterator[Problem]:
    """Problems of each charger against its panel, the groups and the site.

    Args:
        config: a site whose panel tree is sound.
        tree: the indexed tree of ``config``.

    Yields:
        Problems, each naming the charger field and the offending value.
    """
    groups = {g.id for g in config.driver_groups}
    qr_seen: dict[str, int] = {}
    for index, charger in enumerate(config.chargers):
        path = f"chargers[{index}]"
        panel = tree.panels[charger.parent]
        if charger.limit_a > panel.breaker_a:
            yield Problem(
                f"{path}.limit_a",
                f"{charger.limit_a:g} A is above the breaker of panel "
                f"'{panel.id}' ({panel.breaker_a:g} A)",
            )
        yield from charger_phase_errors(charger, tree, path)
        if charger.qr_alias is not None:
            if charger.qr_alias in qr_seen:
                yield Problem(
                    f"{path}.qr_alias",
                    f"QR alias '{charger.qr_alias}' is already used by "
                    f"chargers[{qr_seen[charger.qr_alias]}]",
                )
            qr_seen.setdefault(charger.qr_alias, index)
        for j, group in enumerate(charger.driver_groups):
            if group not in groups:
                yield Problem(f"{path}.driver_groups[{j}]", f"unknown group '{group}'")
        yield from _charger_scope_errors(config, charger, path)
        minimum = charger.min_current_a
        if minimum is not None and minimum > charger.limit_a:
            yield Problem(
                f"{path}.min_current_a",
                f"{minimum:g} A is above the charger limit {charger.limit_a:g} A",
            )
        offline = charger.overrides.offline_allocation_a
        if offline is not None and offline > charger.limit_a:
            yield Problem(
                f"{path}.overrides.offline_allocation_a",
                f"{offline:g} A is above the charger limit {charger.limit_a:g} A",
            )


def _charger_scope_errors(
    config: SiteConfig, charger: Charger, path: str
) -> Iterator[Problem]:
    if charger.scope is Scope.GROUPS and not charger.driver_groups:
        yield Problem(
            f"{path}.driver_groups", "a 'groups' charger needs at least one group"
        )
    if charger.scope is not Scope.GROUPS and charger.driver_groups:
        yield Problem(
            f"{path}.driver_groups",
            f"only a 'groups' charger has driver groups (scope is "
            f"'{charger.scope.value}')",
        )
    if charger.private_driver is not None and charger.scope is not Scope.PRIVATE:
        yield Problem(
            f"{path}.private_driver",
            f"only a 'private' charger has a private driver (scope is "
            f"'{charger.scope.value}')",
        )
    if charger.just_charge:
        if charger.scope is Scope.PUBLIC:
            yield Problem(
                f"{path}.just_charge",
                "Just Charge is refused on a 'public' charger (SPEC §3)",
            )
        elif not config.site.just_charge_allowed:
            yield Problem(
                f"{path}.just_charge",
                "Just Charge is not allowed on this site "
                "(site.just_charge_allowed is false)",
            )
