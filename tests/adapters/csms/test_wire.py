"""Outgoing calls: payloads as the library builds them, valid against the schemas.

evsite builds OCPP-J payloads and frames itself (``wire``) instead of the
library's deep-copying path. These tests hold it to the library: the same
payload for every builder, each valid against the official schema as the
library's own validator (jsonschema, Decimal floats) checks it, and message
ids that never repeat, not even across reconnects.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ocpp.charge_point import remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.messages import Call, _validate_payload
from ocpp.v16 import call_result as result16
from ocpp.v16 import datatypes as types16
from ocpp.v201 import call_result as result201
from ocpp.v201 import datatypes as types201

from evsite.adapters.csms import calls, protocol
from evsite.adapters.csms.profiles import charging_profile, set_profile_request
from evsite.adapters.csms.wire import (
    MAX_MESSAGE_ID,
    call_frame,
    next_message_id,
    payload,
    prepared_frame,
    result_frame,
)
from evsite.control.ports import IdTagStatus, LocalListEntry, ProfilePurpose
from evsite.errors import ChargerError

from .conftest import make_services, start_server, wait_for

VERSIONS = ("1.6", "2.0.1")
WHEN = datetime(2026, 11, 22, 6, 30, tzinfo=UTC)
ENTRIES = [
    LocalListEntry("TAG1", IdTagStatus.ACCEPTED),
    LocalListEntry("TAG2", IdTagStatus.BLOCKED, expiry=WHEN, parent_id_tag="FLEET"),
]


def builders(version: str) -> list[Any]:
    """One call from every builder in ``calls``, with and without options."""
    keys = calls.KEYS_16 if version == "1.6" else calls.VARIABLES_201
    setting = "HeartbeatInterval" if version == "1.6" else "OCPPCommCtrlr.Interval"
    profile = charging_profile(
        version=version, profile_id=201, purpose=ProfilePurpose.TX, stack_level=0,
        limit=16.3, unit="A", phases=3, transaction_id="17", valid_to=WHEN,
    )  # fmt: skip
    built = [
        calls.get_configuration(version, keys),
        calls.change_configuration(version, setting, "60"),
        calls.reset(version, hard=True),
        calls.reset(version, hard=False),
        calls.unlock(version, 1),
        calls.trigger(version, "StatusNotification", 1),
        calls.trigger(version, "Heartbeat", None),
        calls.availability(version, 0, operative=False),
        calls.availability(version, 2, operative=True),
        calls.remote_start(version, 1, "TAG1", 1_000_000_000),
        calls.remote_start(version, None, "TAG1", 1_000_000_001),
        calls.remote_stop(version, "17"),
        calls.set_profile(version, 1, profile),
        calls.clear_profile(
            version, profile_id=201, connector_id=None, purpose=None, stack_level=None
        ),
        calls.clear_profile(
            version,
            profile_id=None,
            connector_id=1,
            purpose="TxDefaultProfile",
            stack_level=0,
        ),
        calls.composite_schedule(version, 1, 600, "A"),
        calls.composite_schedule(version, 0, 60, None),
        calls.reserve(
            version, connector_id=1, reservation_id=5, id_tag="TAG1", expiry=WHEN
        ),
        calls.cancel_reservation(version, 5),
        calls.local_list(version, 3, ENTRIES, full=True),
        calls.local_list(version, 4, [], full=False),
        calls.local_list_version(version),
        calls.data_transfer(version, "com.acme", "Ping", "hi"),
        calls.data_transfer(version, "com.acme", None, None),
        calls.display_message(version, 7, "Welcome", "Charging 7-19h"),
        calls.update_firmware(version, "https://fw.example/x.bin", WHEN, 9),
        calls.get_logs(version, "https://logs.example/upload", 9),
    ]
    if version == "1.6":
        built.append(calls.get_configuration(version, []))
    return built


def library_payload(value: Any) -> Any:
    """What the ``ocpp`` library sends for ``value``."""
    return remove_nones(snake_to_camel_case(serialize_as_dict(value)))


def check_schema(version: str, action: str, body: Any) -> None:
    """The library's own validation (jsonschema; Decimal floats for 1.6)."""
    _validate_payload(Call("id", action, json.loads(json.dumps(body))), version)


@pytest.mark.parametrize("version", VERSIONS)
def test_every_builder_payload_is_the_librarys_and_valid(version):
    for built in builders(version):
        body = payload(built)
        assert body == library_payload(built), type(built).__name__
        check_schema(version, type(built).__name__, body)


RESULTS = [
    result16.StartTransaction(
        transaction_id=5,
        id_tag_info=types16.IdTagInfo(status="Accepted", parent_id_tag=None),
    ),
    result16.GetConfiguration(
        configuration_key=[{"key": "K", "readonly": True, "value": None}],
        unknown_key=None,
    ),
    result201.Authorize(
        id_token_info=types201.IdTokenInfoType(
            status="Accepted",
            group_id_token=types201.IdTokenType(id_token="G", type="Central"),
        )
    ),
]


@pytest.mark.parametrize("result", RESULTS, ids=lambda r: type(r).__name__)
def test_nested_dataclasses_and_nones_match_the_library(result):
    assert payload(result) == library_payload(result)


@given(
    version=st.sampled_from(VERSIONS),
    purpose=st.sampled_from(list(ProfilePurpose)),
    unit=st.sampled_from(["A", "W"]),
    phases=st.sampled_from([1, 2, 3]),
    amps=st.floats(min_value=0, max_value=1000, allow_nan=False),
    connector=st.integers(min_value=0, max_value=99),
    transaction=st.one_of(st.none(), st.integers(1, 2**31 - 1).map(str)),
    valid_to=st.one_of(st.none(), st.datetimes(timezones=st.just(UTC))),
)
def test_profiles_sent_are_valid_for_any_limit(  # noqa: PLR0917
    version, purpose, unit, phases, amps, connector, transaction, valid_to
):
    """What set_limit sends for any limit, unit and connector passes the schema."""
    limit = round(amps, 1) if unit == "A" else float(round(amps * 230 * phases))
    profile = charging_profile(
        version=version, profile_id=200 + connector, purpose=purpose, stack_level=0,
        limit=limit, unit=unit, phases=phases, transaction_id=transaction,
        valid_to=valid_to,
    )  # fmt: skip
    built = calls.set_profile(version, connector, profile)
    body = payload(built)
    assert body == library_payload(built)
    check_schema(version, "SetChargingProfile", body)
    # set_limit sends it built directly, so it is not checked again at runtime:
    # it must be this same payload.
    prepared = set_profile_request(
        version=version, connector_id=connector, profile_id=200 + connector,
        purpose=purpose, stack_level=0, limit=limit, unit=unit, phases=phases,
        transaction_id=transaction, valid_to=valid_to,
    )  # fmt: skip
    assert prepared.action == "SetChargingProfile"
    assert prepared.body == body
    # Its text is what the json module writes for that payload, to the byte.
    assert prepared_frame("1", prepared) == call_frame("1", prepared.action, body)
    assert json.loads(prepared_frame("1", prepared))[3] == body


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    ("limit", "unit", "transaction"),
    [
        (float("nan"), "A", "7"),
        (float("inf"), "W", None),
        (1e-07, 'Ä"\\\n', "12"),
        (1e22, "A", "3"),
        (16, "A", "1"),  # an int where a float is usual
    ],
)
def test_prepared_text_is_the_json_modules_even_for_odd_values(
    version, limit, unit, transaction
):
    """Text written directly stays byte-equal to call_frame outside the schema too."""
    if version == "2.0.1" and transaction is not None:
        transaction = f'tx "{transaction}" é'  # 2.0.1 ids are strings
    fields: dict[str, Any] = {
        "profile_id": 202, "purpose": ProfilePurpose.TX, "stack_level": 0,
        "limit": limit, "unit": unit, "phases": 1, "transaction_id": transaction,
        "valid_to": datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
    }  # fmt: skip
    library = calls.set_profile(
        version, 2, charging_profile(version=version, **fields)
    )
    expected = call_frame("id-1", "SetChargingProfile", payload(library))
    prepared = set_profile_request(version=version, connector_id=2, **fields)
    assert prepared_frame("id-1", prepared) == expected


async def test_only_payloads_from_proven_builders_skip_the_outgoing_check(
    server, connect, monkeypatch
):
    cp = await connect(server.url("CP16"))
    cp.handlers["SetChargingProfile"] = lambda action, body: {"status": "Accepted"}
    checked: list[tuple[str, bool]] = []
    real = protocol.validate

    def spy(version: str, action: str, body: Any, *, response: bool) -> None:
        checked.append((action, response))
        real(version, action, body, response=response)

    monkeypatch.setattr(protocol, "validate", spy)
    commands = server.central.commands
    assert await commands.set_limit("CP16", 1, 10, ProfilePurpose.TX_DEFAULT)
    # Built by set_profile_request (proven above): only the answer is checked.
    assert checked == [("SetChargingProfile", True)]
    checked.clear()
    bogus = {"charging_profile_id": 1, "stack_level": 0}  # no purpose, kind...
    with pytest.raises(ChargerError, match="SetChargingProfile failed"):
        await commands.call("CP16", lambda v: calls.set_profile(v, 1, bogus))
    assert checked == [("SetChargingProfile", False)]
    assert [f[2] for f in cp.received_calls] == ["SetChargingProfile"]  # not sent


def test_frames_are_ocpp_j_arrays():
    body = {"status": "Accepted", "limit": Decimal("16.34")}
    assert json.loads(call_frame("abc-1", "Heartbeat", {})) == [
        2,
        "abc-1",
        "Heartbeat",
        {},
    ]
    assert json.loads(result_frame("abc-1", body)) == [
        3,
        "abc-1",
        {"status": "Accepted", "limit": 16.3},
    ]
    frame = call_frame("abc-2", "DataTransfer", {"vendorId": "é"})
    assert " " not in frame
    assert json.loads(frame)[3] == {"vendorId": "é"}


def test_message_ids_are_unique_and_short():
    ids = [next_message_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    assert all(0 < len(i) <= MAX_MESSAGE_ID for i in ids)


@pytest.mark.parametrize("protocols", [("ocpp1.6",), ("ocpp2.0.1",)])
async def test_message_ids_never_repeat_across_reconnects(server, connect, protocols):
    seen: list[str] = []
    for _ in range(3):
        cp = await connect(server.url("CP16"), protocols=protocols)
        cp.handlers["Reset"] = lambda action, body: {"status": "Accepted"}
        await cp.call("Heartbeat", {})  # connected and routed
        for _ in range(3):
            result = await server.central.commands.reset("CP16")
            assert result["status"] == "Accepted"
        seen += [frame[1] for frame in cp.received_calls]
        await cp.close()
        await wait_for(lambda: "CP16" not in server.central.connections)
    assert len(seen) == 9
    assert len(set(seen)) == len(seen)
    assert all(len(i) <= MAX_MESSAGE_ID for i in seen)


async def test_an_answer_to_another_message_id_is_ignored(server, connect):
    cp = await connect(server.url("CP16"))

    async def confused(action: str, body: dict[str, Any]) -> dict[str, Any]:
        # A stray answer first (a charger bug or a replay): must not be taken.
        await cp.send_raw('[3, "not-yours", {"status": "Rejected"}]')
        await cp.send_raw('[4, "not-yours-either", "GenericError", "", {}]')
        return {"status": "Accepted"}

    cp.handlers["Reset"] = confused
    assert (await server.central.commands.reset("CP16"))["status"] == "Accepted"
    assert "currentTime" in await cp.call("Heartbeat", {})


async def test_an_answer_that_breaks_the_schema_is_refused(server, connect):
    """Our own calls skip nothing on the way back: answers are validated."""
    cp = await connect(server.url("CP16"))
    cp.handlers["SetChargingProfile"] = lambda action, body: {"status": "Maybe"}
    with pytest.raises(ChargerError, match="SetChargingProfile"):
        await server.central.commands.set_limit(
            "CP16", 1, 10, ProfilePurpose.TX_DEFAULT
        )
    assert await server.rows("SELECT * FROM ocpp_profiles") == []


async def test_no_answer_times_out_and_the_next_call_works(tmp_path, connect):
    services = await make_services(tmp_path)
    srv = await start_server(services, call_timeout_s=0.2)
    try:
        cp = await connect(srv.url("CP16"))
        answered: list[str] = []

        async def late_then_prompt(action: str, body: dict[str, Any]) -> Any:
            answered.append(action)
            if len(answered) == 1:
                await asyncio.Event().wait()  # never answers the first
            return {"status": "Accepted"}

        cp.handlers["Reset"] = late_then_prompt
        endpoint = srv.central.connections["CP16"].cp  # the call without the queue
        with pytest.raises(TimeoutError, match="response timeout"):
            async with asyncio.timeout(5):  # a missing timer fails, not hangs
                await endpoint.call(calls.reset("1.6", hard=True), suppress=False)
        result = await endpoint.call(calls.reset("1.6", hard=False), suppress=False)
        assert result.status == "Accepted"
        assert answered == ["Reset", "Reset"]
    finally:
        await srv.central.stop()
        await services.db.close()
