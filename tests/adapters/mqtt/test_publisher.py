from __future__ import annotations

import json
from typing import Any

from evsite.adapters.mqtt.publisher import CLEAR, RetainedStore

DEV = "homeassistant/device/d/config"


def _device(*components: str) -> dict[str, Any]:
    return {"dev": {"ids": ["d"]}, "cmps": {c: {"p": "sensor"} for c in components}}


def test_update_returns_only_changed_messages() -> None:
    store = RetainedStore()
    assert store.update({"a": "1", "b": "2"}) == [("a", "1"), ("b", "2")]
    assert store.update({"a": "1", "b": "3"}) == [("b", "3")]
    assert store.update({"a": "1"}) == []


def test_replace_clears_topics_that_disappeared() -> None:
    store = RetainedStore()
    store.update({"a": "1", "b": "2"})
    assert store.replace({"a": "1"}) == [("b", CLEAR)]
    assert store.removed == {"b"}
    assert store.snapshot()[:1] == [("b", CLEAR)]
    store.update({"b": "4"})
    assert store.removed == set()


def test_discovery_changes_removals_and_component_markers() -> None:
    store = RetainedStore()
    first = store.set_discovery({DEV: _device("x", "y")})
    assert [t for t, _ in first] == [DEV]
    assert store.set_discovery({DEV: _device("x", "y")}) == []
    (topic, payload), *_ = store.set_discovery({DEV: _device("x")})
    assert topic == DEV
    assert json.loads(payload)["cmps"] == {"x": {"p": "sensor"}, "y": {"p": "sensor"}}
    assert store.set_discovery({}) == [(DEV, CLEAR)]


def test_snapshot_has_deletions_deferred_discovery_then_state() -> None:
    store = RetainedStore()
    store.set_discovery({DEV: _device("x", "y")})
    store.update({"s": "1"})
    store.defer(store.set_discovery({DEV: _device("x")}))
    store.replace({"t": "2"})
    snap = store.snapshot()
    assert snap[0] == ("s", CLEAR)
    assert "y" in json.loads(snap[1][1])["cmps"]  # the removal marker, once
    assert json.loads(snap[2][1])["cmps"] == {"x": {"p": "sensor"}}
    assert snap[3] == ("t", "2")
    assert len(store.snapshot()) == 3  # the deferred marker is sent only once
    assert store.snapshot(states=False)[-1][0] == DEV
