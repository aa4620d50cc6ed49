"""T1: TLS 1.2 at least, AEAD suites with forward secrecy only, TLS 1.3 alone when asked, and a
renewed certificate served without a restart. Real handshakes on loopback, Python's `ssl` as
the client, against the server `offcoder serve` runs (tests/support/tls.py)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from offcoder.config import Settings
from offcoder.web import tls
from tests.support.tls import (
    SERVER_REFUSALS,
    Handshake,
    IssuedCertificate,
    client_context,
    handshake_async,
    lenient_server,
    refusal_reason,
    self_signed,
    served_as_serve_does,
)

pytestmark = pytest.mark.promise("T1")

Message = dict[str, object]


async def hello(
    scope: dict[str, object],
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    """What answers behind the handshake does not matter to T1: the smallest app there is."""
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"hello"})


@pytest.fixture(scope="module")
def first_certificate() -> IssuedCertificate:
    return self_signed("first")


def with_tls(
    settings: Settings, directory: Path, certificate: IssuedCertificate, **overrides: object
) -> Settings:
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    certificate.write(cert_file, key_file)
    return settings.model_copy(
        update={"tls_cert_file": cert_file, "tls_key_file": key_file, **overrides}
    )


@pytest.fixture
async def tls_port(
    settings: Settings, tmp_path: Path, first_certificate: IssuedCertificate
) -> AsyncIterator[int]:
    async with served_as_serve_does(hello, with_tls(settings, tmp_path, first_certificate)) as port:
        yield port


def test_the_context_offers_tls_1_2_and_up_with_aead_and_ecdhe_only(
    tmp_path: Path, first_certificate: IssuedCertificate
) -> None:
    first_certificate.write(tmp_path / "cert.pem", tmp_path / "key.pem")
    context = tls.server_context(tmp_path / "cert.pem", tmp_path / "key.pem", tls13_only=False)

    assert context.minimum_version is ssl.TLSVersion.TLSv1_2
    assert context.options & ssl.OP_NO_COMPRESSION
    assert context.options & ssl.OP_NO_RENEGOTIATION
    suites = context.get_ciphers()
    assert suites, "no suite at all"
    for suite in suites:
        assert suite["aead"], suite["name"]  # GCM or ChaCha20-Poly1305: no CBC, no RC4, no 3DES
        # TLS 1.3 suites name no key exchange (it is always ephemeral there); below it, ECDHE:
        # no static RSA, no finite-field DHE. (3DES and RC4 cannot even be offered on the wire
        # here: OpenSSL 3 keeps them out of its default provider, for a client as for us.)
        assert suite["protocol"] == "TLSv1.3" or suite["kea"] == "kx-ecdhe", suite["name"]
    assert {s["name"] for s in suites if s["protocol"] == "TLSv1.2"} >= {
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-RSA-CHACHA20-POLY1305",
    }


async def refused_though_willing(
    port: int, client: ssl.SSLContext, certificate: IssuedCertificate, directory: Path
) -> Handshake:
    """Asserts our server refuses `client`, after a server that accepts anything has shown
    that the client does speak what it offers (so the refusal is not the client's own floor);
    returns what that control negotiated."""
    with lenient_server(certificate, directory) as lenient:
        willing = await handshake_async(lenient, client)
    reason = await asyncio.to_thread(refusal_reason, port, client)
    assert reason in SERVER_REFUSALS
    return willing


@pytest.mark.parametrize(
    ("version", "name"), [(ssl.TLSVersion.TLSv1, "TLSv1"), (ssl.TLSVersion.TLSv1_1, "TLSv1.1")]
)
async def test_tls_1_0_and_1_1_clients_are_refused_by_the_server(
    tls_port: int,
    version: ssl.TLSVersion,
    name: str,
    first_certificate: IssuedCertificate,
    tmp_path: Path,
) -> None:
    client = client_context(minimum=version, maximum=version)

    willing = await refused_though_willing(tls_port, client, first_certificate, tmp_path)

    assert willing.version == name


@pytest.mark.parametrize(
    "suites",
    [
        # CBC with HMAC-SHA1 and with HMAC-SHA256/384, forward secret: refused for being CBC.
        "ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA:ECDHE-RSA-AES128-SHA256:ECDHE-RSA-AES256-SHA384",
        # AEAD, but RSA key exchange (no forward secrecy): refused for the key exchange.
        "AES128-GCM-SHA256:AES256-GCM-SHA384",
    ],
    ids=["cbc", "rsa-key-exchange"],
)
async def test_a_tls_1_2_client_without_an_aead_ecdhe_suite_is_refused_by_the_server(
    tls_port: int, suites: str, first_certificate: IssuedCertificate, tmp_path: Path
) -> None:
    client = client_context(maximum=ssl.TLSVersion.TLSv1_2, ciphers=f"{suites}:@SECLEVEL=0")

    willing = await refused_though_willing(tls_port, client, first_certificate, tmp_path)

    assert willing.cipher in suites.split(":")


@pytest.mark.parametrize(
    ("maximum", "expected_version"),
    [(ssl.TLSVersion.TLSv1_3, "TLSv1.3"), (ssl.TLSVersion.TLSv1_2, "TLSv1.2")],
)
async def test_what_a_willing_client_is_given_is_aead(
    tls_port: int, maximum: ssl.TLSVersion, expected_version: str
) -> None:
    """A client that offers everything, the weak suites first, still gets an AEAD suite."""
    weak_first = "ECDHE-RSA-AES128-SHA:AES128-SHA:AES128-GCM-SHA256:ALL:@SECLEVEL=0"

    given = await handshake_async(tls_port, client_context(maximum=maximum, ciphers=weak_first))

    assert given.version == expected_version
    assert any(aead in given.cipher for aead in ("GCM", "CHACHA20-POLY1305")), given.cipher


async def test_tls13_only_refuses_a_tls_1_2_client(
    settings: Settings, tmp_path: Path, first_certificate: IssuedCertificate
) -> None:
    only_13 = with_tls(settings, tmp_path, first_certificate, tls13_only=True)
    tls_1_2 = client_context(maximum=ssl.TLSVersion.TLSv1_2, ciphers="ECDHE+AESGCM")
    async with served_as_serve_does(hello, only_13) as port:
        willing = await refused_though_willing(port, tls_1_2, first_certificate, tmp_path)
        given = await handshake_async(port, client_context())

    assert willing.version == "TLSv1.2"
    assert given.version == "TLSv1.3"


async def test_a_renewed_certificate_is_served_to_new_connections_without_a_restart(
    settings: Settings, tmp_path: Path, first_certificate: IssuedCertificate
) -> None:
    """Given a server on the first certificate, when a broken file, then the second
    certificate beside the first one's key, then the second's key are put in place, then the
    first is served until the second pair is whole, and the second after it, by the same
    server, with no handshake failing on the way."""
    watched = with_tls(settings, tmp_path, first_certificate, tls_reload_interval_s=0.05)
    second = self_signed("second")
    client = client_context()

    async def served_certificate_becomes(expected: bytes) -> None:
        for _ in range(100):  # 5 s at most, at one check every 0.05 s
            if (await handshake_async(port, client)).peer_der == expected:
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the renewed certificate was not served")

    async with served_as_serve_does(hello, watched) as port:
        assert (await handshake_async(port, client)).peer_der == first_certificate.der

        # A renewal caught half-way: the certificate file is not a certificate yet.
        (tmp_path / "cert.pem").write_bytes(b"-----BEGIN CERTIFICATE-----\ntruncated")
        await asyncio.sleep(0.3)  # several checks
        assert (await handshake_async(port, client)).peer_der == first_certificate.der

        # The new certificate is in place, its key not yet: the pair does not match.
        (tmp_path / "cert.pem").write_bytes(second.cert_pem)
        await asyncio.sleep(0.3)
        assert (await handshake_async(port, client)).peer_der == first_certificate.der

        second.write(tmp_path / "cert.pem", tmp_path / "key.pem")
        await served_certificate_becomes(second.der)
