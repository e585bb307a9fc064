"""Poll panel meters over Modbus TCP/RTU and record samples in the live state.

One task per meter: read at ``poll_interval_s`` (1 Hz by default), reconnect
with exponential backoff, and never publish a stale value — the allocator
treats a meter without a fresh sample as fully loaded (SPEC §2.1).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from evsite.adapters.modbus.registers import (
    MeterReading,
    RegisterMap,
    decode,
    register_map_for,
    word_count,
)
from evsite.config.models import MeterConfig, MeterKind, RegisterSpec
from evsite.control.clock import Clock
from evsite.control.live import LiveState, MeterSample

_LOGGER = logging.getLogger(__name__)

MAX_SPAN = 120  # A Modbus read returns at most 125 registers.
BACKOFF_START_S = 1.0
BACKOFF_MAX_S = 30.0

ModbusClient = AsyncModbusTcpClient | AsyncModbusSerialClient


@dataclass(frozen=True, slots=True)
class ReadBlock:
    """One register read covering several quantities of the same table."""

    table: str
    start: int
    count: int
    specs: tuple[RegisterSpec, ...]


def plan_reads(regmap: RegisterMap) -> list[ReadBlock]:
    """Group a map's registers into as few reads as possible (pure)."""
    blocks: list[ReadBlock] = []
    for table in ("input", "holding"):
        specs = sorted(
            (s for s in regmap.registers if s.table == table), key=lambda s: s.address
        )
        group: list[RegisterSpec] = []
        for spec in specs:
            end = spec.address + word_count(spec)
            if group and end - group[0].address > MAX_SPAN:
                blocks.append(_block(table, group))
                group = []
            group.append(spec)
        if group:
            blocks.append(_block(table, group))
    return blocks


def _block(table: str, specs: Sequence[RegisterSpec]) -> ReadBlock:
    start = specs[0].address
    end = max(s.address + word_count(s) for s in specs)
    return ReadBlock(table, start, end - start, tuple(specs))


def make_client(meter: MeterConfig) -> ModbusClient:
    """A pymodbus client for the meter; reconnects are driven by the reader."""
    timeout = max(0.5, min(meter.stale_after_s, 3.0))
    if meter.kind is MeterKind.MODBUS_RTU:
        return AsyncModbusSerialClient(
            meter.serial_port or "", baudrate=meter.baudrate, timeout=timeout, retries=1
        )
    return AsyncModbusTcpClient(
        meter.host or "", port=meter.port, timeout=timeout, retries=1
    )


class MeterReader:
    """Polls one panel meter and writes samples into :class:`LiveState`."""

    def __init__(
        self,
        panel_id: str,
        meter: MeterConfig,
        live: LiveState,
        clock: Clock,
        client_factory: Callable[[MeterConfig], ModbusClient] = make_client,
    ) -> None:
        """Prepare; call :meth:`run` in a task."""
        self.panel_id = panel_id
        self._meter = meter
        self._live = live
        self._clock = clock
        self._factory = client_factory
        self._regmap = register_map_for(meter)
        self._blocks = plan_reads(self._regmap)
        self.failures = 0
        self.samples = 0

    async def read_once(self, client: ModbusClient) -> MeterReading:
        """Read every block once and decode the values.

        Raises:
            ModbusException: the meter answered with an error.
        """
        words: dict[str, list[int]] = {}
        for block in self._blocks:
            read = (
                client.read_input_registers
                if block.table == "input"
                else client.read_holding_registers
            )
            response = await read(
                block.start, count=block.count, device_id=self._meter.device_id
            )
            if response.isError():
                raise ModbusException(f"{self.panel_id}: {response}")
            for spec in block.specs:
                offset = spec.address - block.start
                words[spec.quantity] = list(
                    response.registers[offset : offset + word_count(spec)]
                )
        return decode(words, self._regmap)

    async def run(self) -> None:
        """Poll until cancelled, reconnecting with backoff on failure."""
        backoff = BACKOFF_START_S
        while True:
            client = self._factory(self._meter)
            try:
                if not await client.connect():
                    raise ConnectionError(f"meter of panel {self.panel_id} unreachable")
                backoff = BACKOFF_START_S
                await self._poll(client)
            except (ModbusException, ConnectionError, OSError, ValueError) as err:
                self.failures += 1
                _LOGGER.warning(
                    "meter %s: %s; retrying in %.0f s", self.panel_id, err, backoff
                )
            finally:
                client.close()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX_S)

    async def _poll(self, client: ModbusClient) -> None:
        interval = self._meter.poll_interval_s
        while True:
            started = self._clock.monotonic()
            reading = await asyncio.wait_for(
                self.read_once(client), timeout=self._meter.stale_after_s
            )
            self._live.record_meter(
                self.panel_id,
                MeterSample(self._clock.now(), reading.current_a, reading.power_w),
            )
            self.samples += 1
            elapsed = self._clock.monotonic() - started
            await asyncio.sleep(max(0.0, interval - elapsed))


class MeterPool:
    """Owns one reader task per Modbus-metered panel."""

    def __init__(self, readers: Sequence[MeterReader]) -> None:
        """Keep the readers; :meth:`start` runs them."""
        self.readers = list(readers)
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Start every reader."""
        for reader in self.readers:
            self._tasks.append(
                asyncio.create_task(reader.run(), name=f"meter:{reader.panel_id}")
            )

    async def stop(self) -> None:
        """Cancel and await every reader."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
