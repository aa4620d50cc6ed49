"""TLS on loopback for tests: self-signed certificates made on the spot, `offcoder serve`'s own
server (web/serving.py) run in the test's event loop, and a client whose every knob is the
test's to turn, so that a refused handshake is the server refusing and not the client."""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import threading
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from offcoder.config import Settings
from offcoder.web import serving, tls


@dataclass(frozen=True)
class IssuedCertificate:
    """A certificate and its key as PEM, and the certificate's DER (what a client is shown)."""

    cert_pem: bytes
    key_pem: bytes
    der: bytes

    def write(self, cert_file: Path, key_file: Path) -> None:
        """Put both in place the way a renewal does: each written aside, then renamed over."""
        for path, data in ((cert_file, self.cert_pem), (key_file, self.key_pem)):
            aside = path.with_name(path.name + ".new")
            aside.write_bytes(data)
            aside.chmod(0o600)
            os.replace(aside, path)


def self_signed(common_name: str) -> IssuedCertificate:
    """An RSA certificate for 127.0.0.1 and localhost, valid for a day either side of now.

    RSA, because RSA is what lets a client ask for RSA key exchange (which we refuse) and what
    most operators' certificates are."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(IPv4Address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    return IssuedCertificate(
        cert_pem=certificate.public_bytes(serialization.Encoding.PEM),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        der=certificate.public_bytes(serialization.Encoding.DER),
    )


@asynccontextmanager
async def served_as_serve_does(app: Any, settings: Settings) -> AsyncIterator[int]:
    """`app` behind the server `offcoder serve` runs (its uvicorn configuration, its TLS context
    and certificate watcher when `settings` name TLS files), on a loopback port; yields the port.

    The app's lifespan is off: the tests' apps share the session's context, which a lifespan's
    end would close."""
    settings = settings.model_copy(update={"host": "127.0.0.1", "port": 0})
    certificate = tls.LiveCertificate.from_settings(settings)
    server = serving.Server(
        serving.uvicorn_config(
            app, settings, certificate=certificate, lifespan="off", log_level="warning"
        ),
        certificate=certificate,
        reload_interval_s=settings.tls_reload_interval_s,
    )
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(20):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.02)
        port: int = server.servers[0].sockets[0].getsockname()[1]
        yield port
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=20)


def client_context(
    *,
    minimum: ssl.TLSVersion = ssl.TLSVersion.TLSv1,
    maximum: ssl.TLSVersion = ssl.TLSVersion.TLSv1_3,
    ciphers: str = "ALL:@SECLEVEL=0",
) -> ssl.SSLContext:
    """A client willing to speak whatever it is told to, down to TLS 1.0 and any suite.

    `@SECLEVEL=0` lifts the client's own OpenSSL floor (Debian's sits at TLS 1.2), so that when
    a handshake fails it is because the server said no."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # these tests are about what is negotiated, not trust
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.0 and 1.1, on purpose
        context.minimum_version = minimum
        context.maximum_version = maximum
    context.set_ciphers(ciphers)
    return context


@dataclass(frozen=True)
class Handshake:
    version: str
    cipher: str
    peer_der: bytes


def handshake(port: int, context: ssl.SSLContext) -> Handshake:
    """A TLS handshake with the server on `port` (blocking: run it in a thread); raises the
    `ssl.SSLError` the server's alert gives when it refuses."""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as wrapped,
    ):
        version, cipher = wrapped.version(), wrapped.cipher()
        der = wrapped.getpeercert(binary_form=True)
        assert version is not None and cipher is not None and der is not None
        return Handshake(version=version, cipher=cipher[0], peer_der=der)


async def handshake_async(port: int, context: ssl.SSLContext) -> Handshake:
    return await asyncio.to_thread(handshake, port, context)


# How a server's refusal reaches the client: an alert, or (asyncio's TLS, which uvicorn uses,
# closes the connection on a failed handshake without flushing its alert) the connection ending
# mid-handshake. A client that refuses by itself fails before sending anything, with another
# reason (NO_PROTOCOLS_AVAILABLE, NO_CIPHERS_AVAILABLE).
SERVER_REFUSALS = frozenset(
    {
        "TLSV1_ALERT_PROTOCOL_VERSION",
        "SSLV3_ALERT_HANDSHAKE_FAILURE",
        "UNEXPECTED_EOF_WHILE_READING",
    }
)


def refusal_reason(port: int, context: ssl.SSLContext) -> str:
    """Why the server refused the handshake (OpenSSL's reason on the client's side); fails the
    test if it was accepted."""
    try:
        accepted = handshake(port, context)
    except ssl.SSLError as error:
        return str(error.reason)
    raise AssertionError(f"the server accepted {accepted.version} with {accepted.cipher}")


@contextmanager
def lenient_server(certificate: IssuedCertificate, directory: Path) -> Iterator[int]:
    """A TLS server that accepts anything OpenSSL can still speak (TLS 1.0 up, every suite):
    the control that shows a client is willing, so that our server's refusal is our server's.
    Serves handshakes in a thread until the block ends; yields its port."""
    cert_file, key_file = directory / "lenient-cert.pem", directory / "lenient-key.pem"
    certificate.write(cert_file, key_file)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
    context.set_ciphers("ALL:@SECLEVEL=0")
    context.load_cert_chain(cert_file, key_file)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                raw, _ = listener.accept()
            except TimeoutError:
                continue
            with raw:
                raw.settimeout(5)
                try:
                    with context.wrap_socket(raw, server_side=True):
                        pass
                except (ssl.SSLError, OSError):
                    pass  # a client that gave up: the control's client reports it

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        done.set()
        thread.join(timeout=5)
        listener.close()
