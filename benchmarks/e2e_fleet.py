"""The charger fleets of ``allocation_e2e.py --ocpp`` (run in their own process).

- ``sim``: evsite's charger simulator (the ``ocpp`` library's ChargePoint with
  schema validation in a thread pool, simulated EVs and profile stacks). About
  1 ms of CPU per SetChargingProfile it answers, on the same two CPUs as the
  server: with 1,000 chargers the fleet, not the server, sets when the last
  answer arrives.
- ``thin``: raw OCPP-J 1.6 clients (as ``ocpp_load_client``): boot, a
  transaction, and a reader that answers every server CALL at once with a
  valid canned reply, as a real charger's own CPU would. What remains of the
  answer time is evsite's.

Both print ``ready`` once every charger has a transaction running.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import aiohttp

from evsite.simulator.charger import SimCharger
from evsite.simulator.ev import Ev

# Replies to the server's post-boot discovery; everything else is Accepted
# (valid for SetChargingProfile, ChangeConfiguration, ClearChargingProfile...).
_ANSWERS: dict[str, dict[str, Any]] = {
    "GetConfiguration": {
        "configurationKey": [
            {
                "key": "ChargingScheduleAllowedChargingRateUnit",
                "readonly": True,
                "value": "Current",
            },
            {
                "key": "SupportedFeatureProfiles",
                "readonly": True,
                "value": "Core,SmartCharging",
            },
        ],
        "unknownKey": [],
    },
    "GetLocalListVersion": {"listVersion": 0},
}
_ACCEPTED = {"status": "Accepted"}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ThinCharger:
    """One call in flight; a reader answers the server's calls at once."""

    def __init__(self, cp_id: str, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.id = cp_id
        self.ws = ws
        self.seq = 0
        self._waiting: tuple[str, asyncio.Future[Any]] | None = None
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type is not aiohttp.WSMsgType.TEXT:
                break
            frame = json.loads(msg.data)
            if frame[0] == 2:
                answer = _ANSWERS.get(frame[2], _ACCEPTED)
                await self.ws.send_str(json.dumps([3, frame[1], answer]))
            elif self._waiting is not None and frame[1] == self._waiting[0]:
                if frame[0] == 4:
                    self._waiting[1].set_exception(RuntimeError(str(frame)))
                else:
                    self._waiting[1].set_result(frame[2])

    async def call(self, action: str, body: dict[str, Any]) -> Any:
        self.seq += 1
        uid = f"{self.id}-{self.seq}"
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting = (uid, future)
        await self.ws.send_str(json.dumps([2, uid, action, body]))
        async with asyncio.timeout(60):
            return await future

    async def begin(self) -> None:
        """Boot, plug in, start a transaction and report Charging."""
        boot = await self.call(
            "BootNotification",
            {"chargePointVendor": "evsite-bench", "chargePointModel": "thin"},
        )
        if boot["status"] != "Accepted":
            raise RuntimeError(f"{self.id}: boot {boot['status']}")
        await self._status("Preparing")
        await self.call(
            "StartTransaction",
            {"connectorId": 1, "idTag": "BENCH", "meterStart": 0, "timestamp": _now()},
        )
        await self._status("Charging")

    async def _status(self, status: str) -> None:
        await self.call(
            "StatusNotification",
            {"connectorId": 1, "errorCode": "NoError", "status": status,
             "timestamp": _now()},
        )  # fmt: skip


async def thin_fleet(url: str, ids: list[str]) -> None:
    """Raw chargers, 100 handshakes at a time."""
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def begin(cp_id: str) -> ThinCharger:
            ws = await session.ws_connect(
                f"{url}/{cp_id}", protocols=("ocpp1.6",), heartbeat=None
            )
            charger = ThinCharger(cp_id, ws)
            await charger.begin()
            return charger

        chargers = []  # kept referenced while the process lives
        for first in range(0, len(ids), 100):
            batch = ids[first : first + 100]
            chargers += await asyncio.gather(*(begin(i) for i in batch))
        print("ready", flush=True)
        await asyncio.Event().wait()  # until the benchmark kills this process


async def sim_fleet(url: str, chargers: list[tuple[str, int]]) -> None:
    """evsite's simulator: (id, phases) per charger, each with a session."""
    sims = [
        SimCharger(cp_id, url, "1.6", phases=phases, auto_reconnect=False)
        for cp_id, phases in chargers
    ]

    async def begin(sim: SimCharger) -> None:
        await sim.connect()
        await sim.plug_in(1, Ev(phases=sim.connectors[1].phases))
        await sim.tap(1, "BENCH")

    for first in range(0, len(sims), 100):  # a reconnect storm is not the point
        await asyncio.gather(*(begin(sim) for sim in sims[first : first + 100]))
    print("ready", flush=True)
    await asyncio.Event().wait()  # until the benchmark kills this process
