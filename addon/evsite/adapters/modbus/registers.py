"""Pure Modbus register maps and decoding for panel meters (SPEC §11.5).

A map lists which registers hold the per-phase currents, total power and
imported energy; :func:`decode` turns raw 16-bit words into a reading.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from evsite.config.models import MeterConfig, RegisterSpec

_WORDS = {"int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "float32": 2}
_FORMAT = {
    "int16": ">h",
    "uint16": ">H",
    "int32": ">i",
    "uint32": ">I",
    "float32": ">f",
}

PHASE_QUANTITIES = {"current_l1": "L1", "current_l2": "L2", "current_l3": "L3"}


@dataclass(frozen=True, slots=True)
class RegisterMap:
    """Registers of one meter model; ``word_order`` ``big`` means MSW first."""

    name: str
    registers: tuple[RegisterSpec, ...]
    word_order: str = "big"


# Eastron SDM630 (v2): IEEE-754 float32 input registers, MSW first.
SDM630 = RegisterMap(
    "sdm630",
    (
        RegisterSpec("current_l1", 0x0006, "float32", 1.0, "input"),
        RegisterSpec("current_l2", 0x0008, "float32", 1.0, "input"),
        RegisterSpec("current_l3", 0x000A, "float32", 1.0, "input"),
        RegisterSpec("power_total", 0x0034, "float32", 1.0, "input"),
        RegisterSpec("energy_import", 0x0048, "float32", 1000.0, "input"),  # kWh→Wh
    ),
)

# Carlo Gavazzi EM24: INT32 with the least significant word first; A×1000, W×10,
# kWh×10 (EM24 communication protocol, "A L1" at 0x000C, "W sys" at 0x0028).
EM24 = RegisterMap(
    "em24",
    (
        RegisterSpec("current_l1", 0x000C, "int32", 0.001, "input"),
        RegisterSpec("current_l2", 0x000E, "int32", 0.001, "input"),
        RegisterSpec("current_l3", 0x0010, "int32", 0.001, "input"),
        RegisterSpec("power_total", 0x0028, "int32", 0.1, "input"),
        RegisterSpec("energy_import", 0x0034, "int32", 100.0, "input"),  # kWh×10→Wh
    ),
    word_order="little",
)

BUILT_IN: Mapping[str, RegisterMap] = {"sdm630": SDM630, "em24": EM24}


@dataclass(frozen=True, slots=True)
class MeterReading:
    """Decoded values: amps per phase, total W and imported Wh when mapped."""

    current_a: dict[str, float]
    power_w: float | None
    energy_wh: float | None


def register_map_for(meter: MeterConfig) -> RegisterMap:
    """The map a meter config names (``generic`` uses its own registers)."""
    if meter.register_map == "generic":
        return RegisterMap("generic", meter.registers)
    return BUILT_IN[meter.register_map]


def word_count(spec: RegisterSpec) -> int:
    """How many 16-bit registers a value occupies."""
    return _WORDS[spec.datatype]


def decode_value(words: Sequence[int], spec: RegisterSpec, word_order: str) -> float:
    """Decode one value from its words and apply the scale.

    Raises:
        ValueError: wrong number of words, or a non-finite float.
    """
    count = word_count(spec)
    if len(words) != count:
        raise ValueError(
            f"{spec.quantity}: expected {count} registers, got {len(words)}"
        )
    ordered = list(words) if word_order == "big" else list(reversed(words))
    raw = struct.pack(f">{count}H", *ordered)
    (value,) = struct.unpack(_FORMAT[spec.datatype], raw)
    result = float(value) * spec.scale
    if not math.isfinite(result):
        raise ValueError(f"{spec.quantity}: not a finite number")
    return result


def encode_value(value: float, spec: RegisterSpec, word_order: str) -> list[int]:
    """The register words a meter would hold for ``value`` (tests, simulators)."""
    raw_value: float | int = value / spec.scale
    if spec.datatype != "float32":
        raw_value = round(raw_value)
    words = list(
        struct.unpack(
            f">{word_count(spec)}H", struct.pack(_FORMAT[spec.datatype], raw_value)
        )
    )
    return words if word_order == "big" else list(reversed(words))


def decode(values: Mapping[str, Sequence[int]], regmap: RegisterMap) -> MeterReading:
    """Build a reading from the words read for each quantity of ``regmap``."""
    current: dict[str, float] = {}
    power: float | None = None
    energy: float | None = None
    for spec in regmap.registers:
        if spec.quantity not in values:
            continue
        value = decode_value(values[spec.quantity], spec, regmap.word_order)
        if spec.quantity in PHASE_QUANTITIES:
            # Current transformers report direction; load is its magnitude.
            current[PHASE_QUANTITIES[spec.quantity]] = abs(value)
        elif spec.quantity == "power_total":
            power = value
        elif spec.quantity == "energy_import":
            energy = value
    return MeterReading(current, power, energy)
