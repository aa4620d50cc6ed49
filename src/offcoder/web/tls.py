"""TLS for `offcoder serve` (T1): the SSLContext we build ourselves, and certificates renewed
without a restart.

Why our own context rather than uvicorn's `ssl_*` options (decision 0023): uvicorn builds its
context from a protocol constant and a cipher string and leaves the minimum version,
compression and renegotiation at OpenSSL's defaults (before 0.48 its default cipher string was
`TLSv1`); those defaults move with the library and the distribution's configuration file. Here
each choice is written down once, where a test reads it back. uvicorn takes the context through
its public `ssl_context_factory` (web/serving.py).
"""

from __future__ import annotations

import asyncio
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

import structlog

from offcoder.config import Settings

log = structlog.get_logger(__name__)

# TLS 1.2 suites (OpenSSL's names): AES-GCM and ChaCha20-Poly1305, both AEAD, both with an
# ephemeral ECDHE key exchange (forward secrecy). This leaves out every CBC suite (Lucky13 and
# padding oracles, and SHA-1 MACs), RC4, 3DES, static RSA key exchange (no forward secrecy),
# finite-field DHE (slow, and weak groups in the wild) and anonymous suites. Every TLS 1.2
# client of the last decade offers one of these. TLS 1.3 suites are AEAD by definition, and
# OpenSSL's default set of them (AES-GCM, ChaCha20-Poly1305) is what Python leaves in place.
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL"


class TlsSettingsError(ValueError):
    """The TLS settings cannot work: said in a sentence, before anything starts."""


def server_context(cert_file: Path, key_file: Path, *, tls13_only: bool) -> ssl.SSLContext:
    """A server context under our policy, holding the certificate chain and key of these files."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    # SSLv3, TLS 1.0 and 1.1 are refused: deprecated by RFC 8996 (BEAST, SHA-1 transcripts).
    context.minimum_version = ssl.TLSVersion.TLSv1_3 if tls13_only else ssl.TLSVersion.TLSv1_2
    context.set_ciphers(TLS12_CIPHERS)
    # Compression: CRIME. Renegotiation: a client-driven CPU cost and a history of bugs, and
    # HTTP/1.1 never needs it. Our suite order wins over the client's, so a client listing a
    # weaker AEAD suite first still gets the strongest both sides have. A fresh ECDHE key for
    # every handshake (already OpenSSL's behaviour, said here so it stays so).
    context.options |= (
        ssl.OP_NO_COMPRESSION
        | ssl.OP_NO_RENEGOTIATION
        | ssl.OP_CIPHER_SERVER_PREFERENCE
        | ssl.OP_SINGLE_ECDH_USE
    )
    context.load_cert_chain(certfile=cert_file, keyfile=key_file)
    return context


@dataclass(frozen=True)
class _FilesSeen:
    """What identifies a version of the two files: a renewal that renames a new file over the
    old one changes the inode, one that rewrites it in place changes the time or size."""

    cert: tuple[int, int, int, int]
    key: tuple[int, int, int, int]

    @classmethod
    def now(cls, cert_file: Path, key_file: Path) -> _FilesSeen:
        def identity(path: Path) -> tuple[int, int, int, int]:
            found = os.stat(path)  # follows symlinks: Kubernetes swaps a `..data` link
            return (found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns)

        return cls(identity(cert_file), identity(key_file))


class LiveCertificate:
    """The context uvicorn listens with, and the certificate new handshakes are given.

    A renewal is not loaded into the listening context: `load_cert_chain` there would swap the
    certificate first and the key second, so a key file that does not match yet (a renewal
    caught between its two renames) would leave a context with no usable key and every
    handshake failing. Instead each renewal is built whole in a context of its own, under the
    same policy, and only a context that loaded both files is published; the listening
    context's SNI callback (run for every ClientHello, with a server name or without) hands
    each new handshake the latest published one. A connection keeps the certificate it
    started with; nothing is modified that a handshake in flight may be reading.
    """

    def __init__(self, cert_file: Path, key_file: Path, *, tls13_only: bool) -> None:
        self.cert_file = cert_file
        self.key_file = key_file
        self.tls13_only = tls13_only
        self._seen = _FilesSeen.now(cert_file, key_file)
        self.listening = server_context(cert_file, key_file, tls13_only=tls13_only)
        self.current = self.listening
        self.listening.sni_callback = self._give_current
        self._failed: _FilesSeen | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> LiveCertificate | None:
        """The certificate of the settings' files, or None when this process serves plain HTTP
        (behind a TLS-terminating proxy, or in development)."""
        cert_file, key_file = settings.tls_cert_file, settings.tls_key_file
        if cert_file is None and key_file is None:
            return None
        if cert_file is None or key_file is None:
            raise TlsSettingsError(
                "OFFCODER_TLS_CERT_FILE (--tls-cert) and OFFCODER_TLS_KEY_FILE (--tls-key) go "
                "together: set both, or neither to serve plain HTTP behind a proxy"
            )
        try:
            return cls(cert_file, key_file, tls13_only=settings.tls13_only)
        except (OSError, ssl.SSLError) as error:
            raise TlsSettingsError(
                f"the TLS certificate {cert_file} and key {key_file} cannot be used: {error}"
            ) from error

    def _give_current(
        self, connection: ssl.SSLObject | ssl.SSLSocket, server_name: str | None, _: ssl.SSLContext
    ) -> None:
        current = self.current  # one read: a reload publishing meanwhile is seen next time
        if current is not self.listening:
            connection.context = current

    def reload_if_changed(self) -> bool:
        """Load the files again if they changed since last seen; True when a new certificate
        is now given to new handshakes. A pair that does not load (half written, a key of
        another certificate) leaves the current one served, is logged once, and is tried
        again when the files change again."""
        try:
            seen = _FilesSeen.now(self.cert_file, self.key_file)
        except OSError as error:
            # Between a renewal's unlink and rename, or a volume being remounted: next time.
            log.warning("tls.certificate.unreadable", error=str(error))
            return False
        if seen == self._seen or seen == self._failed:
            return False
        try:
            renewed = server_context(self.cert_file, self.key_file, tls13_only=self.tls13_only)
        except (OSError, ssl.SSLError) as error:
            self._failed = seen
            log.warning(
                "tls.certificate.reload_failed",
                cert_file=str(self.cert_file),
                error=str(error),
                kept="the certificate already served",
            )
            return False
        self.current = renewed
        self._seen, self._failed = seen, None
        log.info("tls.certificate.reloaded", cert_file=str(self.cert_file))
        return True

    async def watch(self, interval_s: float) -> None:
        """Check the files every `interval_s` seconds until cancelled. Cheap (two `stat`s), so
        a renewal by certbot, Caddy's storage or a mounted Kubernetes secret is served within
        one interval, with no signal to send."""
        while True:
            await asyncio.sleep(interval_s)
            self.reload_if_changed()
