"""The thin OCPP 1.6 load client of ``ocpp_load.py``: raw frames, one call in flight."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp

_ANSWERS: dict[str, dict[str, Any]] = {
    "GetConfiguration": {
        "configurationKey": [
            {
                "key": "ChargingScheduleAllowedChargingRateUnit",
                "readonly": True,
                "value": "Current",
            }
        ],
        "unknownKey": [],
    },
    "GetLocalListVersion": {"listVersion": 0},
    "DataTransfer": {"status": "Accepted"},
}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Result:
    """One target's figures."""

    target: str
    chargers: int = 0
    connected: int = 0
    connect_s: float = 0.0
    offered_rate: float = 0.0
    acked: int = 0
    errors: int = 0
    msgs_per_s: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    over_100ms_pct: float = 0.0
    server_cpu_pct: float = 0.0
    client_cpu_pct: float = 0.0
    load_avg_1m: float = 0.0
    rss_mib: float = 0.0
    hwm_mib: float = 0.0
    storm_chargers: int = 0
    storm_accepted: int = 0
    storm_s: float = 0.0
    storm_errors: int = 0
    storm_outcomes: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    trace: list[tuple[float, float]] = field(default_factory=list, repr=False)


class Charger:
    """A raw OCPP-J 1.6 client: one CALL in flight; a reader answers server CALLs.

    The reader runs for the whole connection, as on a real charger, so calls
    the server makes between our messages (GetConfiguration, profiles...) are
    answered at once instead of timing out on the server.
    """

    def __init__(self, cp_id: str, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.id = cp_id
        self.ws = ws
        self.seq = 0
        self.energy = 0
        self.tx_id = 0
        self._waiting: tuple[str, asyncio.Future[Any]] | None = None
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        """Route replies to the waiting call; answer the server's calls."""
        try:
            async for msg in self.ws:
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    break
                frame = json.loads(msg.data)
                if frame[0] == 2:  # a CALL from the server: answer generically
                    answer = _ANSWERS.get(frame[2], {"status": "Accepted"})
                    await self.ws.send_str(json.dumps([3, frame[1], answer]))
                elif self._waiting is not None and frame[1] == self._waiting[0]:
                    future = self._waiting[1]
                    if not future.done():
                        if frame[0] == 4:
                            error = f"{self.id}: CALLERROR {frame[2]} {frame[3]}"
                            future.set_exception(RuntimeError(error))
                        else:
                            future.set_result(frame[2])
        except (ConnectionError, aiohttp.ClientError):
            pass
        finally:
            if self._waiting is not None and not self._waiting[1].done():
                self._waiting[1].set_exception(ConnectionError(f"{self.id}: closed"))

    async def call(self, action: str, payload_json: str, timeout: float = 30.0) -> Any:
        """Send a CALL and return the reply payload."""
        self.seq += 1
        uid = f"{self.id}-{self.seq}"
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting = (uid, future)
        if self._reader.done():
            raise ConnectionError(f"{self.id}: closed")
        await self.ws.send_str(f'[2,"{uid}","{action}",{payload_json}]')
        return await asyncio.wait_for(future, timeout)

    async def close(self) -> None:
        await self.ws.close()
        await asyncio.gather(self._reader, return_exceptions=True)

    async def boot(self) -> str:
        reply = await self.call(
            "BootNotification",
            '{"chargePointVendor":"evsite-bench","chargePointModel":"load"}',
        )
        return str(reply.get("status"))

    async def start_tx(self) -> None:
        await self.call(
            "StatusNotification",
            f'{{"connectorId":1,"errorCode":"NoError","status":"Preparing",'
            f'"timestamp":"{_now()}"}}',
        )
        reply = await self.call(
            "StartTransaction",
            f'{{"connectorId":1,"idTag":"BENCH","meterStart":0,"timestamp":"{_now()}"}}',
        )
        self.tx_id = int(reply["transactionId"])

    async def meter(self) -> None:
        self.energy += 37
        await self.call(
            "MeterValues",
            f'{{"connectorId":1,"transactionId":{self.tx_id},"meterValue":[{{'
            f'"timestamp":"{_now()}","sampledValue":['
            f'{{"value":"{self.energy}","measurand":"Energy.Active.Import.Register",'
            f'"unit":"Wh"}},'
            f'{{"value":"16.0","measurand":"Current.Import","phase":"L1","unit":"A"}},'
            f'{{"value":"3680","measurand":"Power.Active.Import","unit":"W"}}]}}]}}',
        )


async def open_charger(session: aiohttp.ClientSession, url: str, cp_id: str) -> Charger:
    ws = await session.ws_connect(
        f"{url}/{cp_id}", protocols=("ocpp1.6",), autoping=True, heartbeat=None
    )
    return Charger(cp_id, ws)


def ids(n: int) -> list[str]:
    return [f"LOAD{i:05d}" for i in range(1, n + 1)]


async def connect_all(
    session: aiohttp.ClientSession, url: str, names: list[str], parallel: int
) -> tuple[list[Charger], int]:
    """Connect and boot every charger, ``parallel`` handshakes at a time."""
    gate = asyncio.Semaphore(parallel)
    errors = 0

    async def one(name: str) -> Charger | None:
        nonlocal errors
        async with gate:
            try:
                ch = await open_charger(session, url, name)
                if await ch.boot() != "Accepted":
                    raise RuntimeError("not accepted")
                await ch.start_tx()
                return ch
            except Exception:
                errors += 1
                return None

    done = await asyncio.gather(*(one(n) for n in names))
    return [c for c in done if c is not None], errors


async def steady(
    chargers: list[Charger], rate: float, duration: float, res: Result
) -> None:
    """MeterValues at ``rate`` msgs/s in total, spread evenly over the chargers."""
    period = len(chargers) / rate
    latencies: list[float] = []
    trace = res.trace
    errors = 0
    start = time.perf_counter() + 0.5
    end = start + duration

    async def run(i: int, ch: Charger) -> None:
        nonlocal errors
        due = start + period * i / len(chargers)
        while due < end:
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            t0 = time.perf_counter()
            try:
                await ch.meter()
            except Exception:
                errors += 1
                return
            latencies.append(time.perf_counter() - t0)
            trace.append((t0 - start, latencies[-1]))
            due += period

    await asyncio.gather(*(run(i, c) for i, c in enumerate(chargers)))
    elapsed = max(time.perf_counter() - start, 1e-9)
    res.offered_rate = rate
    res.acked = len(latencies)
    res.errors += errors
    res.msgs_per_s = round(len(latencies) / min(elapsed, duration + 1), 1)
    if latencies:
        ordered = sorted(latencies)
        res.p50_ms = round(statistics.median(ordered) * 1000, 1)
        res.p99_ms = round(ordered[int(len(ordered) * 0.99) - 1] * 1000, 1)
        res.max_ms = round(ordered[-1] * 1000, 1)
        late = sum(1 for v in ordered if v > 0.1)
        res.over_100ms_pct = round(100 * late / len(ordered), 2)


async def storm(url: str, names: list[str], res: Result, limit_s: float = 120) -> None:
    """All chargers connect and boot at once; time until the last is Accepted.

    A Pending answer is retried after the interval the server gives (as a real
    charger does), so a server that spreads a storm out is measured fairly.
    """
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        opened: list[Charger] = []
        outcomes: dict[str, int] = {}

        async def one(name: str) -> bool:
            try:
                ch = await open_charger(session, url, name)
                opened.append(ch)
                async with asyncio.timeout(limit_s):
                    while True:
                        reply = await ch.call(
                            "BootNotification",
                            '{"chargePointVendor":"evsite-bench","chargePointModel":"load"}',
                        )
                        status = str(reply.get("status"))
                        if status != "Pending":
                            break
                        await asyncio.sleep(float(reply.get("interval") or 1))
            except Exception as err:
                status = type(err).__name__
            outcomes[status] = outcomes.get(status, 0) + 1
            return status == "Accepted"

        t0 = time.perf_counter()
        ok = await asyncio.gather(*(one(n) for n in names))
        res.storm_s = round(time.perf_counter() - t0, 2)
        res.storm_chargers = len(names)
        res.storm_accepted = sum(ok)
        res.storm_errors = len(names) - sum(ok)
        res.storm_outcomes = outcomes
        await asyncio.gather(*(c.close() for c in opened), return_exceptions=True)


def _worst_second(trace: list[tuple[float, float]]) -> tuple[float, float, int] | None:
    """(second, p99 ms, count) of the second with the worst p99 (where stalls are)."""
    buckets: dict[int, list[float]] = {}
    for t, lat in trace:
        buckets.setdefault(int(t), []).append(lat)
    worst = None
    for sec, lats in buckets.items():
        lats.sort()
        p99 = lats[max(int(len(lats) * 0.99) - 1, 0)] * 1000
        if worst is None or p99 > worst[1]:
            worst = (float(sec), p99, len(lats))
    return worst
