"""Load-shedding status for the site state, followed from bus events (pure).

Energy management publishes ``load_shed_start`` / ``load_shed_end`` events
(``shed_id``, ``source`` meter|external, ``panel_id``, ``depth_a``, ``level``);
an external level set over MQTT is shown at once, before its event arrives.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class ShedTracker:
    """Which shed events are open, and the external level in force."""

    def __init__(self) -> None:
        """Nothing shed."""
        self._open: dict[str, dict[str, Any]] = {}
        self._requested: dict[str, Any] | None = None

    def on_event(self, *, end: bool, data: Mapping[str, Any]) -> None:
        """Follow one ``load_shed_start`` (``end=False``) or ``load_shed_end``."""
        key = str(data.get("shed_id", data.get("panel_id")))
        if end:
            self._open.pop(key, None)
        else:
            self._open[key] = {
                "source": data.get("source"),
                "panel_id": data.get("panel_id"),
                "depth_a": data.get("depth_a"),
                "level": data.get("level"),
            }
        if data.get("source") == "external":
            # The event is the truth from now on (also for levels set over REST).
            self._requested = None

    def on_command(
        self,
        percent: float | None,
        limit_a: float | None,
        panel_id: str | None,
        limit_kw: float | None = None,
    ) -> None:
        """An external level was accepted over MQTT (all None clears it)."""
        if percent is None and limit_a is None and limit_kw is None:
            self._requested = {}
            return
        self._requested = {
            "percent": percent,
            "limit_a": limit_a,
            "limit_kw": limit_kw,
            "panel_id": panel_id,
        }

    def status(self) -> dict[str, Any]:
        """``active``, the external level (percent, limit_a, limit_kw, panel_id).

        Also the depth of the deepest open shed and the panels shedding.
        """
        external: Mapping[str, Any] | None = next(
            (
                s["level"]
                for s in self._open.values()
                if s["source"] == "external" and s["level"]
            ),
            None,
        )
        if self._requested is not None:
            external = self._requested or None
        depths = [float(s["depth_a"] or 0.0) for s in self._open.values()]
        return {
            "active": bool(self._open) or external is not None,
            "percent": external.get("percent") if external else None,
            "limit_a": external.get("limit_a") if external else None,
            "limit_kw": external.get("limit_kw") if external else None,
            "panel_id": external.get("panel_id") if external else None,
            "depth_a": round(max(depths), 2) if depths else 0.0,
            "panels": sorted({s["panel_id"] or "site" for s in self._open.values()}),
        }
