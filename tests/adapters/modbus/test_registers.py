import pytest

from evsite.adapters.modbus.reader import plan_reads
from evsite.adapters.modbus.registers import (
    EM24,
    SDM630,
    RegisterMap,
    decode,
    decode_value,
    encode_value,
)
from evsite.config.models import RegisterSpec


@pytest.mark.parametrize("regmap", [SDM630, EM24], ids=lambda m: m.name)
def test_encode_decode_round_trip(regmap: RegisterMap) -> None:
    values = {
        "current_l1": 12.5,
        "current_l2": 7.25,
        "current_l3": 0.0,
        "power_total": 4600.0,
        "energy_import": 123_400.0,
    }
    words = {
        s.quantity: encode_value(values[s.quantity], s, regmap.word_order)
        for s in regmap.registers
    }
    reading = decode(words, regmap)
    assert reading.current_a == pytest.approx({"L1": 12.5, "L2": 7.25, "L3": 0.0})
    assert reading.power_w == pytest.approx(4600.0)
    assert reading.energy_wh == pytest.approx(123_400.0)


def test_em24_words_are_least_significant_first() -> None:
    spec = RegisterSpec("current_l1", 0x0C, "int32", 0.001)
    # 70.000 A = 70000 = 0x0001_1170 -> LSW 0x1170 first.
    assert encode_value(70.0, spec, "little") == [0x1170, 0x0001]
    assert decode_value([0x1170, 0x0001], spec, "little") == pytest.approx(70.0)


def test_negative_current_counts_as_load_magnitude() -> None:
    spec = RegisterSpec("current_l2", 0, "int16", 0.1)
    regmap = RegisterMap("generic", (spec,))
    reading = decode({"current_l2": encode_value(-8.0, spec, "big")}, regmap)
    assert reading.current_a == {"L2": 8.0}


def test_wrong_word_count_and_nan_are_refused() -> None:
    spec = RegisterSpec("current_l1", 0, "float32")
    with pytest.raises(ValueError, match="expected 2 registers"):
        decode_value([1], spec, "big")
    with pytest.raises(ValueError, match="not a finite"):
        decode_value([0x7FC0, 0x0000], spec, "big")


def test_plan_reads_groups_contiguous_registers() -> None:
    blocks = plan_reads(SDM630)
    assert len(blocks) == 1
    assert blocks[0].start == 0x06
    assert blocks[0].count == 0x48 + 2 - 0x06


def test_plan_reads_splits_far_registers_and_tables() -> None:
    regmap = RegisterMap(
        "generic",
        (
            RegisterSpec("current_l1", 0, "float32", 1.0, "input"),
            RegisterSpec("current_l2", 500, "float32", 1.0, "input"),
            RegisterSpec("current_l3", 10, "uint16", 1.0, "holding"),
        ),
    )
    blocks = plan_reads(regmap)
    assert [(b.table, b.start, b.count) for b in blocks] == [
        ("input", 0, 2),
        ("input", 500, 2),
        ("holding", 10, 1),
    ]
