"""Session bookkeeping: ids, SPEC §3 numbering, open sessions, remote starts.

Ids and numbers are allocated in memory after loading the highest stored
value once, so allocation needs no read per message; the group-commit writer
is the only writer, so nothing else can take them. A number whose write fails
is skipped (a gap), never reused.
"""

from __future__ import annotations

from dataclasses import dataclass

from evsite.adapters.csms.domain import REMOTE_SESSION_BASE, OpenSession, StartKind
from evsite.adapters.storage.ocpp_repo import OcppRepository

# How long a RemoteStart waits for the charger's StartTransaction (1.6 has no
# remote start id; the tag and connector link the two).
REMOTE_START_WINDOW_S = 180.0


@dataclass(frozen=True, slots=True)
class RemoteStart:
    """A RemoteStart/RequestStart evsite sent and the charger has not begun."""

    connector_id: int | None
    id_tag: str
    remote_start_id: int
    expires: float


class SessionBook:
    """Open sessions per charger and the counters behind new ones."""

    def __init__(self, repo: OcppRepository) -> None:
        """Start empty; values are loaded from ``repo`` on first use."""
        self._repo = repo
        self._last_id: int | None = None
        self._numbers: dict[tuple[str, StartKind], int] = {}
        self._open: dict[str, dict[str, OpenSession]] = {}
        self._remote: dict[str, list[RemoteStart]] = {}
        self._remote_seq = 0

    async def load(self, charger_id: str) -> None:
        """Load the charger's open sessions from the database (once)."""
        if charger_id in self._open:
            return
        sessions = await self._repo.open_sessions(charger_id)
        self._open.setdefault(charger_id, {s.transaction_id: s for s in sessions})

    async def new_id(self) -> int:
        """A fresh session id (= OCPP 1.6 transactionId)."""
        if self._last_id is None:
            stored = await self._repo.max_session_id()
            if self._last_id is None:
                self._last_id = stored
        self._last_id += 1
        return self._last_id

    async def new_number(self, charger_id: str, kind: StartKind) -> int:
        """The next session number of this kind for the charger (SPEC §3)."""
        key = (charger_id, kind)
        if key not in self._numbers:
            stored = await self._repo.max_session_number(charger_id, kind)
            base = REMOTE_SESSION_BASE - 1 if kind is StartKind.REMOTE else 0
            self._numbers.setdefault(key, max(stored, base))
        self._numbers[key] += 1
        return self._numbers[key]

    def sessions(self, charger_id: str) -> list[OpenSession]:
        """The charger's open sessions."""
        return list(self._open.get(charger_id, {}).values())

    def by_transaction(
        self, charger_id: str, transaction_id: str
    ) -> OpenSession | None:
        """The open session the charger calls ``transaction_id``."""
        return self._open.get(charger_id, {}).get(transaction_id)

    def on_connector(self, charger_id: str, connector_id: int) -> OpenSession | None:
        """The open session on a connector, if any."""
        for session in self._open.get(charger_id, {}).values():
            if session.connector_id == connector_id:
                return session
        return None

    def add(self, session: OpenSession) -> None:
        """Track a newly started session."""
        self._open.setdefault(session.charger_id, {})[session.transaction_id] = session

    def remove(self, session: OpenSession) -> None:
        """Forget a stopped session."""
        self._open.get(session.charger_id, {}).pop(session.transaction_id, None)

    def expect_remote(
        self, charger_id: str, connector_id: int | None, id_tag: str, now: float
    ) -> int:
        """Remember a remote start; returns its remoteStartId (2.0.1)."""
        self._remote_seq += 1
        pending = [r for r in self._remote.get(charger_id, []) if r.expires > now]
        pending.append(
            RemoteStart(
                connector_id, id_tag, self._remote_seq, now + REMOTE_START_WINDOW_S
            )
        )
        self._remote[charger_id] = pending
        return self._remote_seq

    def take_remote(
        self,
        charger_id: str,
        connector_id: int,
        id_tag: str | None,
        remote_start_id: int | None,
        now: float,
    ) -> bool:
        """Consume the remote start this transaction answers, if there is one."""
        pending = [r for r in self._remote.get(charger_id, []) if r.expires > now]
        for index, remote in enumerate(pending):
            if remote_start_id is not None:
                matches = remote.remote_start_id == remote_start_id
            else:
                matches = remote.id_tag == id_tag and remote.connector_id in (
                    None,
                    connector_id,
                )
            if matches:
                del pending[index]
                self._remote[charger_id] = pending
                return True
        self._remote[charger_id] = pending
        return False
