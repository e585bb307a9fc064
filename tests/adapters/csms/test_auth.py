"""Security profiles, unknown chargers, rate limits, hijack attempts, TLS."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest

from evsite.adapters.csms.security import (
    FailureLimiter,
    hash_password,
    parse_basic,
    server_ssl_context,
    verify_password,
)
from evsite.config.models import OcppSettings
from evsite.control.events import EventKind
from evsite.control.live import ChargerLink
from evsite.errors import ConfigError, NotFoundError

from .conftest import BOOT16, PASSWORD, basic, make_services, start_server, wait_for


def test_password_hash_roundtrip():
    stored = hash_password(PASSWORD, n=2**10)
    assert stored.startswith("scrypt$1024$")
    assert verify_password(PASSWORD, stored)
    assert not verify_password(PASSWORD + "x", stored)
    assert not verify_password(PASSWORD, "md5$whatever")
    assert hash_password(PASSWORD, n=2**10) != stored  # salted


def test_parse_basic():
    header = basic("CP16", "a:b")["Authorization"]
    creds = parse_basic(header)
    assert creds is not None
    assert (creds.username, creds.password) == ("CP16", "a:b")
    assert parse_basic("Bearer x") is None
    assert parse_basic("Basic !!!") is None
    assert parse_basic(None) is None


def test_failure_limiter_window():
    limiter = FailureLimiter(limit=2, window_s=10)
    limiter.fail("k", 0)
    assert not limiter.blocked("k", 1)
    limiter.fail("k", 1)
    assert limiter.blocked("k", 2)
    assert not limiter.blocked("k", 11.5)


def test_ssl_context_missing_file_names_field(tmp_path):
    settings = replace(OcppSettings(), tls_cert=str(tmp_path / "nope.pem"))
    with pytest.raises(ConfigError) as err:
        server_ssl_context(settings)
    assert err.value.problems[0].path == "ocpp.tls_cert"
    assert server_ssl_context(OcppSettings()) is None


async def test_password_required_good_and_bad(server, session):
    await server.central.admin.set_password("CP16", PASSWORD)
    url = server.url("CP16")
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await session.ws_connect(url, protocols=("ocpp1.6",))
    assert err.value.status == 401
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await session.ws_connect(
            url, protocols=("ocpp1.6",), headers=basic("CP16", "wrong-password-123")
        )
    assert err.value.status == 401
    with pytest.raises(
        aiohttp.WSServerHandshakeError
    ) as err:  # username must be the id
        await session.ws_connect(
            url, protocols=("ocpp1.6",), headers=basic("CP201", PASSWORD)
        )
    assert err.value.status == 401
    ws = await session.ws_connect(
        url, protocols=("ocpp1.6",), headers=basic("CP16", PASSWORD)
    )
    assert ws.protocol == "ocpp1.6"
    await ws.close()


async def test_password_rules(server):
    with pytest.raises(ConfigError) as err:
        await server.central.admin.set_password("CP16", "short")
    assert err.value.problems[0].path == "password"


async def test_failed_auth_is_rate_limited(server, session):
    await server.central.admin.set_password("CP16", PASSWORD)
    url = server.url("CP16")
    statuses = []
    for _ in range(7):
        try:
            ws = await session.ws_connect(
                url, protocols=("ocpp1.6",), headers=basic("CP16", "guess-guess-guess")
            )
            await ws.close()
            statuses.append(101)
        except aiohttp.WSServerHandshakeError as err:
            statuses.append(err.status)
    assert statuses == [401] * 5 + [429, 429]
    # Even the right password is refused from this IP while it is blocked.
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await session.ws_connect(
            url, protocols=("ocpp1.6",), headers=basic("CP16", PASSWORD)
        )
    assert err.value.status == 429


async def test_hijack_with_wrong_password_keeps_original(server, session, connect):
    await server.central.admin.set_password("CP16", PASSWORD)
    original = await connect(server.url("CP16"), headers=basic("CP16", PASSWORD))
    await original.call("BootNotification", BOOT16)
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await session.ws_connect(
            server.url("CP16"),
            protocols=("ocpp1.6",),
            headers=basic("CP16", "attacker-password-1"),
        )
    assert "currentTime" in await original.call("Heartbeat", {})
    assert server.central.connections["CP16"].ws is not None
    # An authenticated second connection replaces the first, which is closed.
    newer = await connect(server.url("CP16"), headers=basic("CP16", PASSWORD))
    await asyncio.wait_for(original.closed.wait(), 5)
    assert "currentTime" in await newer.call("Heartbeat", {})
    await wait_for(lambda: server.central.connections.get("CP16") is not None)
    assert server.services.live.chargers["CP16"].link is ChargerLink.CONNECTED


async def test_unauthenticated_duplicate_is_refused_while_original_alive(
    server, session, connect
):
    original = await connect(server.url("CP16"))
    await original.call("BootNotification", BOOT16)
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await session.ws_connect(server.url("CP16"), protocols=("ocpp1.6",))
    assert err.value.status == 409
    assert "currentTime" in await original.call("Heartbeat", {})


async def test_unknown_charger_refused(server, session):
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await session.ws_connect(server.url("STRANGER"), protocols=("ocpp1.6",))
    assert err.value.status == 404


async def test_invalid_charger_id_refused(server, session):
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await session.ws_connect(server.url("a:b"), protocols=("ocpp1.6",))
    assert err.value.status == 400


async def test_unknown_charger_pending_then_adopted(tmp_path, connect):
    services = await make_services(tmp_path, allow_unknown_chargers=True)
    srv = await start_server(services)
    try:
        cp = await connect(srv.url("STRANGER"))
        boot = await cp.call("BootNotification", BOOT16)
        assert boot["status"] == "Pending"
        assert services.live.chargers["STRANGER"].link is ChargerLink.PENDING
        refused = await cp.call_frame(
            "StartTransaction",
            {
                "connectorId": 1,
                "idTag": "T",
                "meterStart": 0,
                "timestamp": "2026-01-01T00:00:00Z",
            },
        )
        assert refused[2] == "SecurityError"
        (pending,) = await srv.central.admin.pending()
        assert pending["charger_id"] == "STRANGER"
        assert pending["vendor"] == "Acme"

        async def accept_trigger(action, payload):
            return {"status": "Accepted"}

        cp.handlers["TriggerMessage"] = accept_trigger
        await srv.central.admin.adopt("STRANGER")
        assert cp.received_calls[-1][2] == "TriggerMessage"
        assert (await cp.call("BootNotification", BOOT16))["status"] == "Accepted"
        assert services.live.chargers["STRANGER"].link is ChargerLink.CONNECTED
        assert await srv.central.admin.pending() == []
        with pytest.raises(NotFoundError):
            await srv.central.admin.adopt("STRANGER")
    finally:
        await srv.central.stop()
        await services.db.close()


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def certs(tmp_path: Path) -> Path:
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI not available")
    d = tmp_path / "pki"
    d.mkdir()
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "1",
        "-subj",
        "/CN=evsite test CA",
        cwd=d,
    )
    (d / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    for name, cn, ext in (("server", "127.0.0.1", True), ("client", "CP16", False)):
        _openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.csr",
            "-subj",
            f"/CN={cn}",
            cwd=d,
        )
        extra = ["-extfile", "san.cnf"] if ext else []
        _openssl(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            f"{name}.pem",
            "-days",
            "1",
            *extra,
            cwd=d,
        )
    return d


async def _tls_server(tmp_path: Path, certs: Path, *, ca: bool):
    services = await make_services(tmp_path)
    ocpp = replace(
        services.settings.ocpp,
        tls_cert=str(certs / "server.pem"),
        tls_key=str(certs / "server.key"),
        tls_ca=str(certs / "ca.pem") if ca else None,
    )
    services.settings = replace(services.settings, ocpp=ocpp)
    return services, await start_server(services)


async def test_tls_profile_2(tmp_path, certs, session):
    services, srv = await _tls_server(tmp_path, certs, ca=False)
    try:
        await srv.central.admin.set_password("CP16", PASSWORD)
        client_ctx = ssl.create_default_context(cafile=str(certs / "ca.pem"))
        ws = await session.ws_connect(
            srv.url("CP16", "wss"),
            protocols=("ocpp1.6",),
            ssl=client_ctx,
            headers=basic("CP16", PASSWORD),
        )
        await ws.send_str('[2,"1","Heartbeat",{}]')
        reply = await ws.receive_json()
        assert reply[0] == 3
        await ws.close()
        with pytest.raises(aiohttp.ClientError):  # plain ws is not served
            await session.ws_connect(srv.url("CP16"), protocols=("ocpp1.6",))
    finally:
        await srv.central.stop()
        await services.db.close()


async def test_tls_profile_3_client_certificate(tmp_path, certs, session):
    services, srv = await _tls_server(tmp_path, certs, ca=True)
    try:
        await srv.central.admin.set_password("CP16", PASSWORD)
        ctx = ssl.create_default_context(cafile=str(certs / "ca.pem"))
        ctx.load_cert_chain(str(certs / "client.pem"), str(certs / "client.key"))
        # No password: the certificate (CN = charger id) authenticates.
        ws = await session.ws_connect(
            srv.url("CP16", "wss"), protocols=("ocpp1.6",), ssl=ctx
        )
        assert srv.central.connections["CP16"].authenticated
        await ws.close()
        # The same certificate does not authenticate another charger id.
        await srv.central.admin.set_password("OTHER", PASSWORD)
        with pytest.raises(aiohttp.WSServerHandshakeError) as err:
            await session.ws_connect(
                srv.url("OTHER", "wss"), protocols=("ocpp1.6",), ssl=ctx
            )
        assert err.value.status == 401
    finally:
        await srv.central.stop()
        await services.db.close()


async def test_connect_event_published(server, connect):
    await connect(server.url("CP16"))
    await wait_for(lambda: bool(server.kinds(EventKind.CHARGER_CONNECTED, "CP16")))
