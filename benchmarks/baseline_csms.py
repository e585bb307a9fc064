"""A minimal OCPP central system written the ``ocpp`` package's documented way.

It is the baseline of ``benchmarks/ocpp_load.py`` (no storage, accept everything)
and the throwaway central system of the simulator's own tests, which use
``Baseline.chargers`` to send commands to connected chargers.

Run: ``python benchmarks/baseline_csms.py --port 9100`` (prints ``ready <port>``).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint as Cp16
from ocpp.v16 import call_result as r16
from ocpp.v201 import ChargePoint as Cp201
from ocpp.v201 import call_result as r201
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class Central16(Cp16):  # type: ignore[misc]
    """1.6 handlers as in the ocpp README: answer, accept."""

    def __init__(self, cp_id: str, conn: Any, owner: Baseline) -> None:
        super().__init__(cp_id, conn)
        self.owner = owner

    def _log(self, action: str, kwargs: dict[str, Any]) -> None:
        if self.owner.record:
            self.owner.log.append((self.id, action, kwargs))

    @on("BootNotification")
    def on_boot(self, **kw: Any) -> Any:
        self._log("BootNotification", kw)
        return r16.BootNotification(
            current_time=_now(), interval=self.owner.heartbeat, status="Accepted"
        )

    @on("Heartbeat")
    def on_heartbeat(self, **kw: Any) -> Any:
        return r16.Heartbeat(current_time=_now())

    @on("StatusNotification")
    def on_status(self, **kw: Any) -> Any:
        self._log("StatusNotification", kw)
        return r16.StatusNotification()

    @on("Authorize")
    def on_authorize(self, id_tag: str, **kw: Any) -> Any:
        self._log("Authorize", {"id_tag": id_tag})
        return r16.Authorize(id_tag_info={"status": self.owner.tag_status(id_tag)})

    @on("StartTransaction")
    def on_start(self, id_tag: str, **kw: Any) -> Any:
        self._log("StartTransaction", {"id_tag": id_tag, **kw})
        return r16.StartTransaction(
            transaction_id=next(self.owner.tx_ids),
            id_tag_info={"status": self.owner.tag_status(id_tag)},
        )

    @on("StopTransaction")
    def on_stop(self, **kw: Any) -> Any:
        self._log("StopTransaction", kw)
        return r16.StopTransaction()

    @on("MeterValues")
    def on_meter(self, **kw: Any) -> Any:
        self._log("MeterValues", kw)
        return r16.MeterValues()


class Central201(Cp201):  # type: ignore[misc]
    """2.0.1 handlers: answer, accept."""

    def __init__(self, cp_id: str, conn: Any, owner: Baseline) -> None:
        super().__init__(cp_id, conn)
        self.owner = owner

    def _log(self, action: str, kwargs: dict[str, Any]) -> None:
        if self.owner.record:
            self.owner.log.append((self.id, action, kwargs))

    @on("BootNotification")
    def on_boot(self, **kw: Any) -> Any:
        self._log("BootNotification", kw)
        return r201.BootNotification(
            current_time=_now(), interval=self.owner.heartbeat, status="Accepted"
        )

    @on("Heartbeat")
    def on_heartbeat(self, **kw: Any) -> Any:
        return r201.Heartbeat(current_time=_now())

    @on("StatusNotification")
    def on_status(self, **kw: Any) -> Any:
        self._log("StatusNotification", kw)
        return r201.StatusNotification()

    @on("Authorize")
    def on_authorize(self, id_token: dict[str, Any], **kw: Any) -> Any:
        self._log("Authorize", {"id_token": id_token})
        status = self.owner.tag_status(id_token["id_token"])
        return r201.Authorize(id_token_info={"status": status})

    @on("TransactionEvent")
    def on_transaction_event(self, **kw: Any) -> Any:
        self._log("TransactionEvent", kw)
        token = kw.get("id_token")
        if token:
            status = self.owner.tag_status(token["id_token"])
            return r201.TransactionEvent(id_token_info={"status": status})
        return r201.TransactionEvent()

    @on("MeterValues")
    def on_meter(self, **kw: Any) -> Any:
        self._log("MeterValues", kw)
        return r201.MeterValues()


class Baseline:
    """The server: which chargers are connected, what they sent (when recording)."""

    def __init__(
        self,
        *,
        record: bool = False,
        passwords: dict[str, str] | None = None,
        blocked_tags: frozenset[str] = frozenset(),
        heartbeat: int = 300,
    ) -> None:
        self.record = record
        self.passwords = passwords
        self.blocked_tags = blocked_tags
        self.heartbeat = heartbeat
        self.log: list[tuple[str, str, dict[str, Any]]] = []
        self.chargers: dict[str, Any] = {}
        self.tx_ids = itertools.count(1)
        self.connected = asyncio.Condition()
        self.server: Server | None = None

    def tag_status(self, tag: str) -> str:
        """Accepted unless blocked."""
        return "Blocked" if tag in self.blocked_tags else "Accepted"

    def _check_auth(self, conn: ServerConnection, request: Request) -> Response | None:
        """Security profile 1: HTTP Basic with the charger's password."""
        if self.passwords is None:
            return None
        cp_id = request.path.rstrip("/").split("/")[-1]
        header = request.headers.get("Authorization", "")
        expected = base64.b64encode(
            f"{cp_id}:{self.passwords.get(cp_id, '')}".encode()
        ).decode()
        if cp_id in self.passwords and header == f"Basic {expected}":
            return None
        return conn.respond(HTTPStatus.UNAUTHORIZED, "unauthorized\n")

    async def on_connect(self, websocket: ServerConnection) -> None:
        """The documented handler: pick the class by subprotocol, ``start()``."""
        cp_id = websocket.request.path.rstrip("/").split("/")[-1]
        cls = Central201 if websocket.subprotocol == "ocpp2.0.1" else Central16
        cp = cls(cp_id, websocket, self)
        self.chargers[cp_id] = cp
        async with self.connected:
            self.connected.notify_all()
        try:
            await cp.start()
        except websockets.exceptions.ConnectionClosed:
            pass
        finally:
            if self.chargers.get(cp_id) is cp:
                del self.chargers[cp_id]

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen; returns the port."""
        self.server = await serve(
            self.on_connect,
            host,
            port,
            subprotocols=["ocpp1.6", "ocpp2.0.1"],  # type: ignore[list-item]
            process_request=self._check_auth,
            compression=None,
            ping_interval=None,
        )
        sock = next(iter(self.server.sockets))
        return int(sock.getsockname()[1])

    async def stop(self) -> None:
        """Close every connection and the listener."""
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def wait_for(self, cp_id: str, timeout: float = 5.0) -> Any:
        """The ChargePoint object of a connected charger."""
        async with asyncio.timeout(timeout), self.connected:
            await self.connected.wait_for(lambda: cp_id in self.chargers)
        return self.chargers[cp_id]

    def actions(self, cp_id: str) -> list[str]:
        """Actions a charger sent, in order (recording only)."""
        return [a for c, a, _ in self.log if c == cp_id]

    def messages(self, cp_id: str, action: str) -> list[dict[str, Any]]:
        """Payloads of one action from one charger, in order."""
        return [kw for c, a, kw in self.log if c == cp_id and a == action]


async def _main(port: int) -> None:
    baseline = Baseline()
    bound = await baseline.start("127.0.0.1", port)
    print(f"ready {bound}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    asyncio.run(_main(parser.parse_args().port))
