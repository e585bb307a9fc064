"""Bookkeeping of what is retained on the broker (no I/O).

The bridge hands every freshly computed state and discovery payload to
:class:`RetainedStore`, which answers with the messages that actually changed.
After a (re)connect :meth:`RetainedStore.snapshot` gives everything again, so
a broker that lost its retained messages (restart without persistence) is
made whole.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from evsite.adapters.mqtt.discovery import with_removed_components
from evsite.adapters.mqtt.payloads import dumps

Message = tuple[str, str]
CLEAR = ""  # an empty retained payload deletes the retained message


class RetainedStore:
    """Last retained state and discovery payload per topic, plus deletions."""

    def __init__(self) -> None:
        """Start with nothing retained."""
        self.states: dict[str, str] = {}
        self.discovery: dict[str, dict[str, Any]] = {}
        self.removed: set[str] = set()
        self._deferred: dict[str, str] = {}

    def update(self, messages: Mapping[str, str]) -> list[Message]:
        """Record state ``messages``; return those that differ from before."""
        changed: list[Message] = []
        for topic, payload in messages.items():
            if self.states.get(topic) != payload:
                self.states[topic] = payload
                self.removed.discard(topic)
                changed.append((topic, payload))
        return changed

    def replace(self, messages: Mapping[str, str]) -> list[Message]:
        """Make ``messages`` the whole state; topics no longer present are cleared."""
        gone = [t for t in self.states if t not in messages]
        for topic in gone:
            del self.states[topic]
            self.removed.add(topic)
        return [(t, CLEAR) for t in gone] + self.update(messages)

    def set_discovery(self, configs: Mapping[str, dict[str, Any]]) -> list[Message]:
        """Record discovery ``configs``; return changed ones and deletions.

        A component that disappeared from a device is sent once as
        ``{"p": platform}`` so Home Assistant removes just that entity.
        """
        out: list[Message] = []
        for topic in [t for t in self.discovery if t not in configs]:
            del self.discovery[topic]
            self.removed.add(topic)
            self._deferred.pop(topic, None)
            out.append((topic, CLEAR))
        for topic, config in configs.items():
            old = self.discovery.get(topic)
            if old == config:
                continue
            self.discovery[topic] = config
            self.removed.discard(topic)
            out.append((topic, dumps(with_removed_components(config, old))))
        return out

    def defer(self, messages: list[Message]) -> None:
        """Keep discovery messages that could not be sent for the next snapshot."""
        for topic, payload in messages:
            if topic in self.discovery:
                self._deferred[topic] = payload

    def snapshot(self, *, states: bool = True) -> list[Message]:
        """Everything to publish after a (re)connect, deletions first."""
        out: list[Message] = [(t, CLEAR) for t in sorted(self.removed)]
        out.extend(self._deferred.items())
        self._deferred.clear()
        out.extend((t, dumps(c)) for t, c in self.discovery.items())
        if states:
            out.extend(self.states.items())
        return out
