"""The egress gateway (C5): a small filtering HTTP(S) proxy, the only way out of an egress job.

This module runs inside the per-job gateway container (`runtime/proxy/gateway.py` starts it as
``python3 -I -c <this file's source>`` in a read-only, non-root container), so it uses the
standard library only and reads its configuration from ``OFFCODER_GATEWAY_CONFIG`` (JSON:
``{"allow": [...], "ports": [...], "allow_private": false}``).

What it forwards:

- ``CONNECT host:port`` (HTTPS and any TLS protocol: the tunnel is opaque, the decision is by the
  host name the client asked for), and
- absolute-URI HTTP requests (``GET http://host[:port]/path HTTP/1.1``), rewritten to origin form
  with ``Connection: close``,

only when the host *name* is on the allow-list (exact, or ``*.suffix`` for names under suffix),
the port is 80, 443 or one of the configured extra ports, and every address the name resolves to
is public. The gateway resolves the name itself and connects to the address it checked (no second
lookup, so no DNS rebinding between check and connect). Loopback, link-local (169.254/16,
fe80::/10, which holds the cloud metadata service), unspecified, multicast and reserved addresses
and the known metadata addresses are always refused; private ones (RFC 1918, ULA, CGNAT...) too,
unless ``allow_private`` is set (tests only: their servers live on a docker bridge). IP literals
are refused: a client names a host. Everything else is answered 403.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import os
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field

LISTEN_PORT = 3128
HEAD_LIMIT = 16 * 1024
HEAD_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 10.0
IDLE_TIMEOUT_S = 300.0
MAX_CLIENTS = 256
DEFAULT_PORTS = frozenset({80, 443})
MAX_ALLOW_ENTRIES = 32
MAX_EXTRA_PORTS = 8
READY_LINE = "offcoder-egress-gateway ready"

# Always refused, whatever else is configured: cloud metadata services (AWS/GCP/Azure/OpenStack
# 169.254.169.254 is link-local anyway; AWS's IPv6 one, Alibaba's, Oracle's legacy one).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "192.0.0.192")
)

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})+")


# The rules below (ConfigError, is_hostname, validate_allow_list, validate_ports) and the
# constants above (LISTEN_PORT, READY_LINE, the maxima) are also in runtime/policy.py, where the
# proxy checks a gateway request before it starts this program: this file cannot import them.
# tests/runtime/test_egress_gateway.py holds the two copies equal; change both together.


class ConfigError(ValueError):
    """An allow-list or port list that does not follow the rules."""


def is_hostname(name: str) -> bool:
    """A DNS host name of two labels or more, lowercase, no IP literal, no trailing dot."""
    if len(name) > 253 or not _HOSTNAME.fullmatch(name):
        return False
    if name.rsplit(".", 1)[1].isdigit():  # 10.0.0.1, 127.1 ... are addresses, not names
        return False
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return True
    return False


def validate_allow_list(entries: object) -> list[str]:
    """The allow-list, or ConfigError: host names only, a leading ``*.`` the only wildcard."""
    if not isinstance(entries, list) or not entries:
        raise ConfigError("the allow-list is a non-empty list of host names")
    if len(entries) > MAX_ALLOW_ENTRIES:
        raise ConfigError(f"the allow-list has at most {MAX_ALLOW_ENTRIES} entries")
    out: list[str] = []
    for entry in entries:
        if not isinstance(entry, str):
            raise ConfigError("allow-list entries are strings")
        name = entry[2:] if entry.startswith("*.") else entry
        if not is_hostname(name):
            raise ConfigError(f"not a host name or *.host name pattern: {entry!r}")
        if entry not in out:
            out.append(entry)
    return out


def validate_ports(ports: object) -> list[int]:
    if not isinstance(ports, list) or len(ports) > MAX_EXTRA_PORTS:
        raise ConfigError(f"extra ports are a list of at most {MAX_EXTRA_PORTS} port numbers")
    out: list[int] = []
    for port in ports:
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise ConfigError(f"not a port number: {port!r}")
        if port not in out:
            out.append(port)
    return out


def host_allowed(host: str, allow: Iterable[str]) -> bool:
    """Exact match, or ``*.suffix`` matching names under suffix (not suffix itself)."""
    host = host.lower()
    if not is_hostname(host):
        return False
    for entry in allow:
        if entry.startswith("*."):
            if host.endswith(entry[1:]) and len(host) > len(entry) - 1:
                return True
        elif host == entry:
            return True
    return False


def address_allowed(address: str, *, allow_private: bool = False) -> bool:
    """May the gateway connect to this resolved address?"""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        mapped = ip.ipv4_mapped or ip.sixtofour
        if mapped is not None:
            ip = mapped
        elif ip in ipaddress.ip_network("64:ff9b::/96"):  # NAT64: judge the IPv4 inside
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in METADATA_ADDRESSES:
        return False
    if ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast:
        return False
    if ip.is_reserved:
        return False
    if allow_private:
        return True
    return ip.is_global


@dataclass
class Config:
    allow: list[str]
    ports: frozenset[int] = DEFAULT_PORTS
    allow_private: bool = False
    counters: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_json(cls, raw: str) -> Config:
        data = json.loads(raw)
        if not isinstance(data, dict) or set(data) - {"allow", "ports", "allow_private"}:
            raise ConfigError("config keys: allow, ports, allow_private")
        allow_private = data.get("allow_private", False)
        if not isinstance(allow_private, bool):
            raise ConfigError("allow_private is a boolean")
        return cls(
            allow=validate_allow_list(data.get("allow")),
            ports=DEFAULT_PORTS | frozenset(validate_ports(data.get("ports", []))),
            allow_private=allow_private,
        )


class Refusal(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


_PHRASES = {
    400: "Bad Request",
    403: "Forbidden",
    405: "Method Not Allowed",
    431: "Request Header Fields Too Large",
    502: "Bad Gateway",
    504: "Gateway Timeout",
}
_HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-connection", "proxy-authorization", "proxy-authenticate",
    "te", "trailer", "upgrade",
}  # fmt: skip
_AUTHORITY = re.compile(r"([A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]+\])(?::([0-9]{1,5}))?")


def split_authority(authority: str, default_port: int | None) -> tuple[str, int]:
    m = _AUTHORITY.fullmatch(authority)
    if not m:
        raise Refusal(400, "malformed host")
    host = m.group(1).lower().rstrip(".")
    if m.group(2) is None:
        if default_port is None:
            raise Refusal(400, "CONNECT needs host:port")
        return host, default_port
    port = int(m.group(2))
    if not 1 <= port <= 65535:
        raise Refusal(400, "malformed port")
    return host, port


async def resolve_checked(config: Config, host: str, port: int) -> str:
    """The address to connect to, after the host, port and every resolved address passed."""
    if not host_allowed(host, config.allow):
        raise Refusal(403, f"host {host} is not on the allow-list")
    if port not in config.ports:
        raise Refusal(403, f"port {port} is not allowed")
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=0, proto=6), CONNECT_TIMEOUT_S
        )
    except (OSError, TimeoutError) as exc:
        raise Refusal(502, f"cannot resolve {host}") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise Refusal(502, f"cannot resolve {host}")
    for address in addresses:
        if not address_allowed(address, allow_private=config.allow_private):
            raise Refusal(403, f"host {host} resolves to a refused address")
    return addresses[0]


async def _read_head(reader: asyncio.StreamReader) -> bytes:
    try:
        return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT_S)
    except asyncio.LimitOverrunError as exc:
        raise Refusal(431, "request head too large") from exc
    except (asyncio.IncompleteReadError, TimeoutError) as exc:
        raise Refusal(400, "incomplete request head") from exc


def _parse_head(head: bytes) -> tuple[str, str, str, list[tuple[str, str]]]:
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError as exc:  # pragma: no cover - latin-1 decodes everything
        raise Refusal(400, "bad head") from exc
    lines = text[:-4].split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or parts[2] not in ("HTTP/1.1", "HTTP/1.0"):
        raise Refusal(400, "malformed request line")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip() or any(c in name for c in " \t"):
            raise Refusal(400, "malformed header")
        headers.append((name, value.strip()))
    return parts[0], parts[1], parts[2], headers


async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, TimeoutError, OSError):
        while True:
            data = await asyncio.wait_for(src.read(65536), IDLE_TIMEOUT_S)
            if not data:
                break
            dst.write(data)
            await dst.drain()
        if dst.can_write_eof():
            dst.write_eof()


async def _splice(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    up_reader: asyncio.StreamReader,
    up_writer: asyncio.StreamWriter,
) -> None:
    try:
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
    finally:
        up_writer.close()


async def _open(address: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    try:
        return await asyncio.wait_for(asyncio.open_connection(address, port), CONNECT_TIMEOUT_S)
    except TimeoutError as exc:
        raise Refusal(504, "upstream connect timed out") from exc
    except OSError as exc:
        raise Refusal(502, "upstream connect failed") from exc


async def handle_client(
    config: Config, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    target = "-"
    try:
        method, uri, version, headers = _parse_head(await _read_head(reader))
        if method == "CONNECT":
            host, port = split_authority(uri, None)
            target = f"{host}:{port}"
            address = await resolve_checked(config, host, port)
            up_reader, up_writer = await _open(address, port)
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            _log("allow", method, target)
            await _splice(reader, writer, up_reader, up_writer)
            return
        if not uri.lower().startswith("http://"):
            raise Refusal(405, "only CONNECT and absolute http:// URIs go through this gateway")
        rest = uri[len("http://") :]
        authority, slash, path = rest.partition("/")
        path = "/" + path if slash else "/"
        if "@" in authority or "?" in authority or "#" in authority:
            raise Refusal(400, "malformed host")
        host, port = split_authority(authority, 80)
        target = f"{host}:{port}"
        address = await resolve_checked(config, host, port)
        up_reader, up_writer = await _open(address, port)
        lines = [f"{method} {path} {version}", f"Host: {authority}"]
        for name, value in headers:
            if name.lower() in _HOP_BY_HOP or name.lower() == "host":
                continue
            lines.append(f"{name}: {value}")
        lines.append("Connection: close")
        up_writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        await up_writer.drain()
        _log("allow", method, target)
        await _splice(reader, writer, up_reader, up_writer)
    except Refusal as exc:
        _log("refuse", str(exc.status), target, exc.reason)
        body = f"offcoder egress gateway: {exc.reason}\n".encode()
        with contextlib.suppress(ConnectionError, OSError):
            writer.write(
                f"HTTP/1.1 {exc.status} {_PHRASES.get(exc.status, 'Error')}\r\n"
                "Content-Type: text/plain; charset=utf-8\r\n"
                f"Content-Length: {len(body)}\r\n"
                "X-Offcoder-Gateway: refused\r\n"
                "Connection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


def _log(*fields: str) -> None:
    print(" ".join(fields), flush=True)


async def serve(config: Config, host: str = "0.0.0.0", port: int = LISTEN_PORT) -> None:  # noqa: S104
    slots = asyncio.Semaphore(MAX_CLIENTS)

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if slots.locked():
            writer.close()
            return
        async with slots:
            await handle_client(config, reader, writer)

    server = await asyncio.start_server(client, host, port, limit=HEAD_LIMIT)
    print(READY_LINE, flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    try:
        config = Config.from_json(os.environ.get("OFFCODER_GATEWAY_CONFIG", ""))
    except (ValueError, ConfigError) as exc:
        print(f"offcoder-egress-gateway: bad configuration: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    asyncio.run(serve(config))


if __name__ == "__main__":
    main()
