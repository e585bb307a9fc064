"""A simulated panel meter: a real pymodbus TCP server holding live values.

Used by tests, benchmarks and the demo (whose metered panel needs a meter).
"""

from __future__ import annotations

import asyncio
from typing import cast

from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from evsite.adapters.modbus.registers import BUILT_IN, RegisterMap, encode_value

FC_WRITE_REGISTERS = 16
REGISTER_COUNT = 0x100


class SimulatedMeter:
    """A Modbus TCP meter on 127.0.0.1 answering with the values it is given."""

    def __init__(
        self, register_map: str = "sdm630", device_id: int = 1, port: int = 0
    ) -> None:
        """Prepare a meter of a built-in model; port 0 picks a free port."""
        self.regmap: RegisterMap = BUILT_IN[register_map]
        self.device_id = device_id
        device = SimDevice(
            id=device_id,
            simdata=SimData(
                address=0, count=REGISTER_COUNT, values=0, datatype=DataType.REGISTERS
            ),
        )
        self._server = ModbusTcpServer(device, address=("127.0.0.1", port))
        self.port = 0

    async def start(self) -> int:
        """Serve on a free port; return it."""
        await self._server.serve_forever(background=True)
        # pymodbus serves TCP with an asyncio.Server: it has the bound sockets.
        server = cast(asyncio.Server, self._server.transport)
        self.port = server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        """Stop serving."""
        await self._server.shutdown()  # type: ignore[no-untyped-call]

    async def set_values(
        self,
        current_a: dict[str, float],
        power_w: float | None = None,
        energy_wh: float | None = None,
    ) -> None:
        """Set what the meter reads: amps per phase (``L1``..), W, Wh."""
        values = {f"current_{phase.lower()}": amps for phase, amps in current_a.items()}
        if power_w is not None:
            values["power_total"] = power_w
        if energy_wh is not None:
            values["energy_import"] = energy_wh
        for spec in self.regmap.registers:
            if spec.quantity in values:
                words = encode_value(
                    values[spec.quantity], spec, self.regmap.word_order
                )
                await self._server.async_setValues(
                    self.device_id, FC_WRITE_REGISTERS, spec.address, words
                )
