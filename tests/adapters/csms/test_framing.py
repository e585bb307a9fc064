"""Malformed frames get the right CallError (or a closed socket), never a crash."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import BOOT16, BOOT201, now_iso

V201 = ("ocpp2.0.1",)

# (frame, 1.6 code, 2.0.1 code, echoes the message id)
CASES = [
    ("not json", "ProtocolError", "RpcFrameworkError", False),
    ('{"a": 1}', "ProtocolError", "RpcFrameworkError", False),
    ("[]", "ProtocolError", "RpcFrameworkError", False),
    ('[2, 17, "Heartbeat", {}]', "ProtocolError", "RpcFrameworkError", False),
    ('[7, "id7", "Heartbeat", {}]', "ProtocolError", "MessageTypeNotSupported", True),
    ('[2, "id2", "Heartbeat"]', "ProtocolError", "RpcFrameworkError", True),
    ('[2, "id3", ["x"], {}]', "ProtocolError", "RpcFrameworkError", True),
    ('[2, "id4", "Heartbeat", []]', "FormationViolation", "FormatViolation", True),
    ('[2, "id5", "FlyToTheMoon", {}]', "NotImplemented", "NotImplemented", True),
]


@pytest.mark.parametrize(("frame", "code16", "code201", "echo"), CASES)
@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_malformed_frames(  # noqa: PLR0917
    server, connect, version, frame, code16, code201, echo
):
    protocols = ("ocpp1.6",) if version == "1.6" else V201
    cp = await connect(server.url("CP16"), protocols=protocols)
    await cp.send_raw(frame)
    answer = await cp.next_frame()
    assert answer[0] == 4
    assert answer[2] == (code16 if version == "1.6" else code201)
    assert answer[1] == (json.loads(frame)[1] if echo else "-1")
    # The connection survives and still works.
    assert "currentTime" in await cp.call("Heartbeat", {})


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"chargePointVendor": "A"}, "ProtocolError"),  # required field missing
        ({"chargePointVendor": 5, "chargePointModel": "M"}, "TypeConstraintViolation"),
        ({"chargePointVendor": "A", "chargePointModel": "M", "x": 1},
         "FormationViolation"),
        ({"chargePointVendor": "A" * 21, "chargePointModel": "M"},
         "TypeConstraintViolation"),
    ],
)  # fmt: skip
async def test_schema_violations_16(server, connect, payload, code):
    cp = await connect(server.url("CP16"))
    answer = await cp.call_frame("BootNotification", payload)
    assert answer[0] == 4
    assert answer[2] == code


async def test_schema_violation_201_and_bad_timestamp(server, connect):
    cp = await connect(server.url("CP201"), protocols=V201)
    answer = await cp.call_frame("BootNotification", {"reason": "PowerUp"})
    assert answer[2] == "ProtocolError"
    answer = await cp.call_frame(
        "StatusNotification",
        {"timestamp": "222222017-10-27T19:10:11Z", "connectorStatus": "Available",
         "evseId": 1, "connectorId": 1},
    )  # fmt: skip
    assert answer[2] == "FormatViolation"
    assert "timestamp" in answer[4]["cause"]


async def test_action_of_other_version_is_not_implemented(server, connect):
    cp = await connect(server.url("CP16"))
    answer = await cp.call_frame("TransactionEvent", {})
    assert answer[2] == "NotImplemented"
    cp2 = await connect(server.url("CP201"), protocols=V201)
    answer = await cp2.call_frame("StartTransaction", {})
    assert answer[2] == "NotImplemented"


async def test_known_action_without_handler_is_not_supported(server, connect):
    cp = await connect(server.url("CP201"), protocols=V201)
    answer = await cp.call_frame("SignCertificate", {"csr": "x"})
    assert answer[2] == "NotSupported"


async def test_binary_frame_closes_socket(server, connect):
    cp = await connect(server.url("CP16"))
    await cp.ws.send_bytes(b"\x00\x01")
    await asyncio.wait_for(cp.closed.wait(), 5)
    assert cp.ws.close_code == 1003


async def test_no_common_subprotocol_is_closed(server, session):
    ws = await session.ws_connect(server.url("CP16"), protocols=("ocpp0.9",))
    assert ws.protocol is None
    msg = await ws.receive()
    assert msg.type is aiohttp.WSMsgType.CLOSE
    assert ws.close_code == 1002


async def test_prefers_201_when_both_offered(server, connect):
    cp = await connect(server.url("CP16"), protocols=("ocpp1.6", "ocpp2.0.1"))
    assert cp.protocol == "ocpp2.0.1"


async def test_unsolicited_responses_are_ignored(server, connect):
    cp = await connect(server.url("CP16"))
    await cp.send_raw('[3, "nobody-asked", {}]')
    await cp.send_raw('[4, "nobody-asked", "GenericError", "", {}]')
    assert "currentTime" in await cp.call("Heartbeat", {})


frames = st.one_of(
    st.text(max_size=60),
    st.binary(max_size=40).map(lambda b: b.decode("latin-1")),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
        | st.text(max_size=10),
        lambda children: st.lists(children, max_size=5)
        | st.dictionaries(st.text(max_size=8), children, max_size=4),
        max_leaves=12,
    ).map(json.dumps),
    st.tuples(
        st.sampled_from([2, 3, 4, 5, "2"]),
        st.text(min_size=1, max_size=40),
        st.sampled_from(["Heartbeat", "BootNotification", "MeterValues",
                         "StartTransaction", "StopTransaction", "StatusNotification",
                         "TransactionEvent", "Authorize", "NotifyEvent", "Nope"]),
        st.dictionaries(st.sampled_from(["connectorId", "idTag", "meterStart",
                                         "timestamp", "transactionId", "meterValue",
                                         "evseId",
                                         "eventType", "seqNo", "transactionInfo",
                                         "status", "errorCode", "meterStop"]),
                        st.one_of(st.integers(), st.text(max_size=12),
                                  st.lists(st.integers(), max_size=2)), max_size=5),
    ).map(lambda t: json.dumps(list(t))),
)  # fmt: skip


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    batch=st.lists(frames, min_size=1, max_size=8),
    protocols=st.sampled_from([("ocpp1.6",), V201]),
)
async def test_fuzzed_frames_do_not_affect_other_chargers(
    server, connect, batch, protocols
):
    victim = await connect(server.url("OTHER"), protocols=protocols)
    bystander = await connect(server.url("CP16"))
    await bystander.call("BootNotification", BOOT16)
    for frame in batch:
        await victim.send_raw(frame)
        assert "currentTime" in await bystander.call("Heartbeat", {})
    # The fuzzed connection itself is still served (or was closed cleanly).
    if not victim.closed.is_set():
        assert "currentTime" in await victim.call("Heartbeat", {}, timeout=5)
    await victim.close()
    await bystander.close()


async def test_201_fuzz_smoke_boot_after_garbage(server, connect):
    cp = await connect(server.url("CP201"), protocols=V201)
    await cp.send_raw("[2,")
    await cp.next_frame()
    result: dict[str, Any] = await cp.call("BootNotification", BOOT201)
    assert result["status"] == "Accepted"
    await cp.call("Heartbeat", {})
    assert now_iso()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        # 2**70 passes the schema ("integer") but fits no database column.
        ('[2, "big", "StartTransaction", {"connectorId": 1180591620717411303424, '
         '"idTag": "T", "meterStart": 0, "timestamp": "2026-01-01T00:00:00Z"}]',
         "PropertyConstraintViolation"),
        # A lone surrogate cannot be stored as UTF-8.
        ('[2, "sur", "Authorize", {"idTag": "\\ud800"}]', "ProtocolError"),
        ('[2, "nan", "MeterValues", {"connectorId": 1, "meterValue": [{"timestamp": '
         '"2026-01-01T00:00:00Z", "sampledValue": [{"value": "1"}]}], "x": NaN}]',
         "ProtocolError"),
    ],
)  # fmt: skip
async def test_values_the_database_cannot_hold_are_refused(
    server, connect, frame, code
):
    cp = await connect(server.url("CP16"))
    await cp.send_raw(frame)
    answer = await cp.next_frame()
    assert answer[0] == 4
    assert answer[2] == code
    assert "currentTime" in await cp.call("Heartbeat", {})
    assert await server.rows("SELECT * FROM ocpp_sessions") == []
