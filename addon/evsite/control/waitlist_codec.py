"""The waitlist state as a JSON document (stored after every transition)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from evsite.core.waitlist import Entry, Hold, Running, WaitlistState


def state_to_dict(state: WaitlistState) -> dict[str, Any]:
    """The JSON-ready form of the queues, holds and timed sessions."""
    return {
        "entries": [
            {
                "driver_id": e.driver_id,
                "queue_id": e.queue_id,
                "joined_at": e.joined_at.isoformat(),
                "seq": e.seq,
                "pending": e.pending,
            }
            for e in state.entries
        ],
        "holds": [
            {
                "driver_id": h.driver_id,
                "queue_id": h.queue_id,
                "charger_id": h.charger_id,
                "connector_id": h.connector_id,
                "until": h.until.isoformat(),
                "reservation_id": h.reservation_id,
            }
            for h in state.holds
        ],
        "running": [
            {
                "transaction_id": r.transaction_id,
                "charger_id": r.charger_id,
                "connector_id": r.connector_id,
                "queue_id": r.queue_id,
                "started_at": r.started_at.isoformat(),
                "driver_id": r.driver_id,
                "max_notified": r.max_notified,
                "finish_notified": r.finish_notified,
            }
            for r in state.running
        ],
        "next_seq": state.next_seq,
        "next_reservation": state.next_reservation,
    }


def state_from_dict(data: dict[str, Any]) -> WaitlistState:
    """The state back from :func:`state_to_dict`'s form."""
    return WaitlistState(
        entries=tuple(
            Entry(
                e["driver_id"],
                e["queue_id"],
                datetime.fromisoformat(e["joined_at"]),
                int(e["seq"]),
                bool(e["pending"]),
            )
            for e in data.get("entries", [])
        ),
        holds=tuple(
            Hold(
                h["driver_id"],
                h["queue_id"],
                h["charger_id"],
                int(h["connector_id"]),
                datetime.fromisoformat(h["until"]),
                int(h["reservation_id"]),
            )
            for h in data.get("holds", [])
        ),
        running=tuple(
            Running(
                r["transaction_id"],
                r["charger_id"],
                int(r["connector_id"]),
                r["queue_id"],
                datetime.fromisoformat(r["started_at"]),
                r["driver_id"],
                bool(r["max_notified"]),
                bool(r["finish_notified"]),
            )
            for r in data.get("running", [])
        ),
        next_seq=int(data.get("next_seq", 1)),
        next_reservation=int(data.get("next_reservation", 1)),
    )
