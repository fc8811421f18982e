"""Fixtures shared by the tests (plain helpers live in `helpers.py`)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from parley.dsl.parser import ParseResult, parse_source
from helpers import EXAMPLES, ROOT, example_files, rendered

__all__ = ["EXAMPLES", "ROOT", "example_files", "rendered"]


@pytest.fixture
def check_text():
    """Parse text and return (result, rendered diagnostics)."""

    def run(text: str, name: str = "test.agent") -> tuple[ParseResult, str]:
        result = parse_source(text, name)
        return result, rendered(result)

    return run


# ---- no test reaches the network, and no test uses a developer's real key ---------------------

#: Cleared for every test: keys, and what the openai client would otherwise read from the environment.
_OPENAI_ENV = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ADMIN_KEY", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID",
               "OPENAI_CUSTOM_HEADERS")


class NetworkBlocked(RuntimeError):
    """A test tried to reach a host other than this machine (not an OSError, so no client mistakes it for one)."""


def is_loopback(host: Any) -> bool:
    """Whether `host` (a name or address) is this machine: localhost, 127.0.0.0/8 or ::1."""
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    host = host.strip("[]").split("%")[0].lower()
    if host in ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


class NetworkGuard:
    """What the guard refused during one test; a test that provokes it on purpose clears `violations`."""

    def __init__(self) -> None:
        self.violations: list[str] = []

    def refuse(self, what: str, address: Any) -> NetworkBlocked:
        message = f"test tried to reach the network: {what} {address!r} (only 127.0.0.1, ::1 and localhost are allowed)"
        self.violations.append(message)
        return NetworkBlocked(message)


@pytest.fixture(autouse=True)
def network_guard(monkeypatch: pytest.MonkeyPatch) -> Iterator[NetworkGuard]:
    """Fail any connection (or name lookup) beyond loopback, and clear OpenAI keys and URLs from the environment."""
    for name in _OPENAI_ENV:
        monkeypatch.delenv(name, raising=False)
    guard = NetworkGuard()
    connect, connect_ex = socket.socket.connect, socket.socket.connect_ex
    create_connection, getaddrinfo = socket.create_connection, socket.getaddrinfo

    def host(address: Any) -> Any:
        return address[0] if isinstance(address, tuple) and address else address

    def check(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not is_loopback(host(address)):
            raise guard.refuse("connect to", address)

    def guarded_connect(self: socket.socket, address: Any) -> None:
        check(self, address)
        return connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: Any) -> int:
        check(self, address)
        return connect_ex(self, address)

    def guarded_create_connection(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
        if not is_loopback(host(address)):
            raise guard.refuse("connect to", address)
        return create_connection(address, *args, **kwargs)

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not is_loopback(host):
            raise guard.refuse("look up", host)
        return getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
    monkeypatch.setattr(socket, "create_connection", guarded_create_connection)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    yield guard
    if guard.violations:  # also when the code under test caught the error
        pytest.fail("; ".join(guard.violations), pytrace=False)


@pytest.fixture(autouse=True)
def _private_run_store(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """`parley run` in a test stores its runs in a temporary folder, never in the checkout."""
    monkeypatch.setenv("PARLEY_STORE", str(tmp_path_factory.mktemp("store") / "parley.db"))
