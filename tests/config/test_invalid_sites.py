"""Every kind of mistake an installer can make gets a problem naming the field."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from evsite.config.load import parse_site, read_yaml
from evsite.errors import ConfigError, Problem

from .conftest import eu_site, na_site, us_site

Mutation = Callable[[dict[str, Any]], None]
_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _walk(data: dict[str, Any], path: str) -> tuple[Any, str | int]:
    """The container holding ``path``'s last part, and that part."""
    parts: list[str | int] = [
        int(index) if index else name for name, index in _TOKEN.findall(path)
    ]
    node: Any = data
    for part in parts[:-1]:
        node = node[part]
    return node, parts[-1]


def put(path: str, value: Any) -> Mutation:
    """Set the field at ``path`` (as problems write it) to ``value``."""

    def mutate(data: dict[str, Any]) -> None:
        node, last = _walk(data, path)
        node[last] = value

    return mutate


def drop(path: str) -> Mutation:
    """Remove the field at ``path``."""

    def mutate(data: dict[str, Any]) -> None:
        node, last = _walk(data, path)
        del node[last]

    return mutate


def both(*mutations: Mutation) -> Mutation:
    """Apply several mutations in order."""

    def mutate(data: dict[str, Any]) -> None:
        for mutation in mutations:
            mutation(data)

    return mutate


@dataclass(frozen=True)
class Case:
    """One mistake: base site, the mutation, and the problem it must produce."""

    name: str
    base: Callable[[], dict[str, Any]]
    mutate: Mutation
    path: str
    mentions: str


# One line of the table per mistake; kept aligned by hand for reading.
# fmt: off
CASES = [
    # --- the panel tree ------------------------------------------------------
    Case("no root", us_site, put("panels[0].parent", "garage-a"), "panels", "root"),
    Case("two roots", us_site, put("panels[2].parent", None), "panels[2].parent",
         "'garage-b'"),
    Case("cycle", us_site,
         both(put("panels[1].parent", "garage-b"), put("panels[2].parent", "garage-a")),
         "panels[1].parent", "garage-a -> garage-b -> garage-a"),
    Case("self parent", us_site, put("panels[1].parent", "garage-a"),
         "panels[1].parent", "'garage-a'"),
    Case("unknown parent panel", us_site, put("panels[2].parent", "garage-z"),
         "panels[2].parent", "'garage-z'"),
    Case("unknown charger parent", us_site, put("chargers[3].parent", "garage-c"),
         "chargers[3].parent", "'garage-c'"),
    Case("no panels at all", us_site, put("panels", []), "panels", "root"),
    Case("panels not a list", us_site, put("panels", {"main": {}}), "panels",
         "expected a list"),
    Case("duplicate panel id", us_site, put("panels[2].id", "garage-a"),
         "panels[2].id", "'garage-a'"),
    Case("duplicate charger id", us_site, put("chargers[3].id", "A-01"),
         "chargers[3].id", "'A-01'"),
    Case("duplicate group id", us_site,
         put("driver_groups", [{"id": "staff", "name": "x"},
                               {"id": "staff", "name": "y"}]),
         "driver_groups[1].id", "'staff'"),
    Case("duplicate QR alias", us_site, put("chargers[1].qr_alias", "oak-a-01"),
         "chargers[1].qr_alias", "'oak-a-01'"),
    # --- electrical ----------------------------------------------------------
    Case("charger limit above panel breaker", us_site, put("chargers[2].limit_a", 80),
         "chargers[2].limit_a", "80 A"),
    Case("3-phase charger on 1-phase panel", us_site, put("chargers[0].phases", 3),
         "chargers[0].phases", "'garage-a'"),
    Case("3-phase panel under 1-phase panel", us_site, put("panels[2].phases", 3),
         "panels[2].phases", "'main'"),
    Case("charger on 3-phase panel without phase_connection", eu_site,
         drop("chargers[1].phase_connection"), "chargers[1].phase_connection",
         "'ev'"),
    Case("panel on 3-phase parent without phase_connection", eu_site,
         drop("panels[2].phase_connection"), "panels[2].phase_connection", "'ev'"),
    Case("phase_connection on a 3-phase charger", eu_site,
         put("chargers[0].phase_connection", "L1"), "chargers[0].phase_connection",
         "single-phase"),
    Case("charger on another line than its board", eu_site,
         put("chargers[2].phase_connection", "L3"), "chargers[2].phase_connection",
         "L3"),
    Case("sub-board on another line than its board", eu_site,
         put("panels", [*eu_site()["panels"], {"id": "wall-2", "parent": "wall",
             "breaker_a": 16, "phases": 1, "voltage": 230, "phase_connection": "L1"}]),
         "panels[3].phase_connection", "L1"),
    Case("phase_connection on a 3-phase root", eu_site,
         put("panels[0].phase_connection", "L2"), "panels[0].phase_connection", "'L2'"),
    Case("unknown phase", eu_site, put("chargers[1].phase_connection", "L4"),
         "chargers[1].phase_connection", "'L4'"),
    # --- line pairs (1-phase loads wired line-to-line) -------------------------
    Case("line pair on a 1-phase chain", us_site,
         put("chargers[0].phase_connection", "L1-L2"), "chargers[0].phase_connection",
         "3-phase panel above"),
    Case("line pair on a 1-phase root", us_site,
         put("panels[0].phase_connection", "L1-L2"), "panels[0].phase_connection",
         "'L1-L2'"),
    Case("line pair on a 3-phase panel", na_site,
         put("panels[1].phase_connection", "L1-L2"), "panels[1].phase_connection",
         "'L1-L2'"),
    Case("line pair on a 3-phase charger", na_site, put("chargers[0].phases", 3),
         "chargers[0].phase_connection", "single-phase"),
    Case("3-phase charger on a line-pair panel", na_site, put("chargers[3].phases", 3),
         "chargers[3].phases", "'wall'"),
    Case("charger on another pair than its board", na_site,
         put("chargers[4].phase_connection", "L1-L2"), "chargers[4].phase_connection",
         "L2-L3"),
    Case("charger on a line its board does not carry", na_site,
         put("chargers[4].phase_connection", "L1"), "chargers[4].phase_connection",
         "not L1"),
    Case("sub-board of a line-pair panel on one line", na_site,
         put("panels", [*na_site()["panels"], {"id": "wall-2", "parent": "wall",
             "breaker_a": 20, "phases": 1, "voltage": 208, "phase_connection": "L2"}]),
         "panels[3].phase_connection", "L2-L3"),
    Case("line-pair panel at line-to-neutral voltage", na_site,
         put("panels[2].voltage", 120), "panels[2].voltage", "208 V line-to-line"),
    Case("line pair written backwards", na_site,
         put("chargers[0].phase_connection", "L2-L1"), "chargers[0].phase_connection",
         "'L2-L1'"),
    Case("line-pair panel without its connection", na_site,
         drop("panels[2].phase_connection"), "panels[2].phase_connection", "L1-L2"),
    Case("wrong voltage", us_site, put("panels[1].voltage", 208), "panels[1].voltage",
         "208 V"),
    Case("wrong line-to-neutral voltage", eu_site, put("panels[2].voltage", 120),
         "panels[2].voltage", "120 V"),
    Case("root above the main breaker", us_site, put("panels[0].breaker_a", 400),
         "panels[0].breaker_a", "400 A"),
    Case("root phases differ from service", us_site,
         put("site.main_service.phases", 3), "panels[0].phases", "3"),
    Case("service phases not 1 or 3", us_site, put("site.main_service.phases", 2),
         "site.main_service.phases", "got 2"),
    Case("negative breaker", us_site, put("panels[1].breaker_a", -100),
         "panels[1].breaker_a", "got -100"),
    Case("zero breaker", us_site, put("panels[1].breaker_a", 0), "panels[1].breaker_a",
         "got 0"),
    Case("NaN limit", us_site, put("chargers[0].limit_a", float("nan")),
         "chargers[0].limit_a", "nan"),
    Case("boolean limit", us_site, put("chargers[0].limit_a", True),
         "chargers[0].limit_a", "True"),
    Case("text limit", us_site, put("chargers[0].limit_a", "32A"),
         "chargers[0].limit_a", "'32A'"),
    Case("scheduled limit above breaker", us_site,
         put("panels[1].scheduled_limits",
             [{"start": "16:00", "end": "21:00", "limit_a": 150}]),
         "panels[1].scheduled_limits[0].limit_a", "150 A"),
    Case("too many connectors", us_site, put("chargers[0].connectors", 9),
         "chargers[0].connectors", "9"),
    Case("duplicate connector id", us_site,
         put("chargers[0].connectors", [{"id": 1}, {"id": 1}]),
         "chargers[0].connectors[1].id", "1"),
    Case("minimum current above the limit", eu_site,
         put("chargers[2].min_current_a", 20), "chargers[2].min_current_a", "20 A"),
    # --- offline allocation (SPEC §2.3) --------------------------------------
    Case("offline allocations above a panel capacity", us_site,
         both(put("chargers[2].overrides", {"offline_allocation_a": 40}),
              put("chargers[3].overrides", {"offline_allocation_a": 40})),
         "panels[2]", "'garage-b'"),
    Case("site default offline above a panel capacity", us_site,
         put("energy", {"offline_allocation_a": 30}), "panels[2]", "60 A"),
    Case("offline allocation above charger limit", us_site,
         put("chargers[0].overrides", {"offline_allocation_a": 40}),
         "chargers[0].overrides.offline_allocation_a", "40 A"),
    Case("site offline default below minimum current", us_site,
         put("energy", {"offline_allocation_a": 3}), "energy.offline_allocation_a",
         "3 A"),
    # --- access (SPEC §3) ----------------------------------------------------
    Case("unknown scope", us_site, put("chargers[1].scope", "privat"),
         "chargers[1].scope", "'privat'"),
    Case("groups scope without groups", us_site, drop("chargers[2].driver_groups"),
         "chargers[2].driver_groups", "'groups'"),
    Case("unknown driver group", us_site, put("chargers[2].driver_groups", ["tenants"]),
         "chargers[2].driver_groups[0]", "'tenants'"),
    Case("driver groups on a non-groups charger", us_site,
         put("chargers[3].driver_groups", ["staff"]), "chargers[3].driver_groups",
         "'public'"),
    Case("Just Charge on a public charger", us_site,
         both(put("site.just_charge_allowed", True),
              put("chargers[3].just_charge", True)),
         "chargers[3].just_charge", "'public'"),
    Case("Just Charge when the site disallows it", us_site,
         put("chargers[1].just_charge", True), "chargers[1].just_charge",
         "just_charge_allowed"),
    Case("private driver on a non-private charger", us_site,
         put("chargers[3].private_driver", "resident-9"), "chargers[3].private_driver",
         "'public'"),
    Case("delay window with unknown scope", us_site,
         put("delay_windows[0].scopes", ["residents"]), "delay_windows[0].scopes[0]",
         "'residents'"),
    # --- site fields ---------------------------------------------------------
    Case("bad timezone", us_site, put("site.timezone", "Mars/Olympus_Mons"),
         "site.timezone", "'Mars/Olympus_Mons'"),
    Case("bad currency", us_site, put("site.currency", "usd"), "site.currency",
         "'usd'"),
    Case("bad org category", us_site, put("site.org_category", "Apartment"),
         "site.org_category", "'Apartment'"),
    Case("bad org type", us_site, put("site.org_type", "condo"), "site.org_type",
         "'condo'"),
    Case("latitude out of range", us_site, put("site.location", {"latitude": 95}),
         "site.location.latitude", "got 95"),
    Case("bad id characters", us_site, put("chargers[1].id", "A 02!"),
         "chargers[1].id", "'A 02!'"),
    Case("bad time format", us_site, put("delay_windows[0].start", "25:00"),
         "delay_windows[0].start", "'25:00'"),
    Case("time as a large number", us_site, put("delay_windows[0].end", 75600),
         "delay_windows[0].end", "75600"),
    Case("unknown weekday", us_site, put("delay_windows[0].days", ["mon", "funday"]),
         "delay_windows[0].days[1]", "'funday'"),
    Case("unknown field", us_site, put("chargers[0].colour", "red"),
         "chargers[0].colour", "'colour'"),
    Case("unknown section", us_site, put("chargerz", []), "chargerz", "'chargerz'"),
    Case("missing required field", us_site, drop("chargers[0].limit_a"),
         "chargers[0].limit_a", "'limit_a'"),
    Case("missing site", us_site, drop("site"), "site", "'site'"),
    # --- meters and service settings -----------------------------------------
    Case("meter missing host", eu_site, drop("panels[0].meter.host"),
         "panels[0].meter.host", "Modbus TCP"),
    Case("unknown meter kind", eu_site, put("panels[0].meter.kind", "sunspec"),
         "panels[0].meter.kind", "'sunspec'"),
    Case("meter stale before it is polled", eu_site,
         both(put("panels[0].meter.poll_interval_s", 10),
              put("panels[0].meter.stale_after_s", 5)),
         "panels[0].meter.stale_after_s", "5 s"),
    Case("generic register map without currents", eu_site,
         put("panels[0].meter.register_map", "generic"), "panels[0].meter.registers",
         "current_l1"),
    Case("mqtt port out of range", us_site, put("mqtt", {"port": 70000}), "mqtt.port",
         "got 70000"),
    Case("TLS certificate without key", us_site, put("ocpp", {"tls_cert": "/ssl/c"}),
         "ocpp.tls_key", "tls_cert"),
    Case("API token too short", us_site, put("api", {"token": "hunter2"}), "api.token",
         "16 characters"),
]
# fmt: on


def test_the_table_covers_enough_distinct_mistakes() -> None:
    names = [case.name for case in CASES]
    assert len(set(names)) == len(names)
    assert len({case.path for case in CASES}) >= 25


@pytest.mark.parametrize("base", [us_site, eu_site, na_site], ids=["us", "eu", "na"])
def test_base_sites_are_valid_without_warnings(
    base: Callable[[], dict[str, Any]],
) -> None:
    assert parse_site(base()).warnings == []


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_mistake_is_reported_at_its_path(case: Case) -> None:
    data = case.base()
    case.mutate(data)
    with pytest.raises(ConfigError) as info:
        parse_site(data)
    problems = info.value.problems
    at_path = [p for p in problems if p.path == case.path]
    assert at_path, f"no problem at {case.path}: {problems}"
    assert any(case.mentions in p.message for p in at_path), at_path
    # The exception text is what the CLI prints: one line per problem.
    assert str(info.value).splitlines() == [str(p) for p in problems]


def test_all_schema_mistakes_are_reported_at_once() -> None:
    data = us_site()
    put("site.timezone", "Mars/Base")(data)
    put("chargers[1].scope", "privat")(data)
    put("panels[1].breaker_a", -5)(data)
    with pytest.raises(ConfigError) as info:
        parse_site(data)
    assert [p.path for p in info.value.problems] == [
        "chargers[1].scope",
        "panels[1].breaker_a",
        "site.timezone",
    ]


def test_all_cross_check_mistakes_are_reported_at_once() -> None:
    data = us_site()
    put("chargers[2].limit_a", 80)(data)
    put("chargers[1].qr_alias", "oak-a-01")(data)
    put("chargers[2].driver_groups", ["nobody"])(data)
    with pytest.raises(ConfigError) as info:
        parse_site(data)
    assert sorted(p.path for p in info.value.problems) == [
        "chargers[1].qr_alias",
        "chargers[2].driver_groups[0]",
        "chargers[2].limit_a",
    ]


def test_not_a_mapping_is_one_problem() -> None:
    with pytest.raises(ConfigError) as info:
        parse_site(["site", "panels"])
    assert len(info.value.problems) == 1
    assert "mapping" in info.value.problems[0].message


def test_warnings_do_not_fail_the_site() -> None:
    data = us_site()
    put("panels[2].breaker_a", 250)(data)  # above its 200 A parent
    put("panels[0].breaker_a", 200)(data)
    put("delay_windows[0].station_groups", ["carports"])(data)
    put("panels[1].meter", {"kind": "mqtt", "topic": "house/current"})(data)
    loaded = parse_site(data)
    assert sorted(w.path for w in loaded.warnings) == [
        "delay_windows[0].station_groups[0]",
        "panels[1].meter.kind",
        "panels[2].breaker_a",
    ]
    breaker = next(w for w in loaded.warnings if w.path == "panels[2].breaker_a")
    assert "250 A" in breaker.message
    assert "'main'" in breaker.message


def test_invalid_yaml_names_the_line() -> None:
    text = "site:\n  id: x\n  name: [unclosed\npanels: []\n"
    with pytest.raises(ConfigError) as info:
        read_yaml(text, "site.yaml")
    (problem,) = info.value.problems
    assert re.fullmatch(r"site\.yaml:\d+", problem.path)
    assert int(problem.path.split(":")[1]) >= 3
    assert problem.message.startswith("invalid YAML")


def test_tab_indentation_is_a_yaml_problem() -> None:
    with pytest.raises(ConfigError) as info:
        read_yaml("site:\n\tid: x\n", "tabs.yaml")
    assert info.value.problems == [
        Problem("tabs.yaml:2", info.value.problems[0].message)
    ]
