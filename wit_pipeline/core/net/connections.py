"""One deadline per attempt, and the urllib3 connections that keep to it.

The deadline (DEADLINE_TIMEOUTS x timeout) covers connect, request, status line +
headers and body: every blocking socket call (TLS handshake included) waits at most
until it, so a peer dripping one byte at a time is cut there. A per-read timeout alone
restarts with every byte. Connections are opened only to addresses that were checked
(when asked) right before connecting, so DNS rebinding cannot slip through.
"""
from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.ssl_ import create_urllib3_context

import wit_pipeline.core.net.addresses as addresses  # looked up per call: tests stand in a resolver


class Deadline:
    """One attempt's time budget; every blocking socket call of the attempt draws on it."""

    __slots__ = ("seconds", "per_call", "at")

    def __init__(self, seconds: float, per_call: float):
        self.seconds, self.per_call = seconds, per_call
        self.at = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def passed(self) -> bool:
        return self.remaining() <= 0

    def restart(self) -> None:
        """Start the budget now (after a wait for a host's connection slot, which it does not cover)."""
        self.at = time.monotonic() + self.seconds


_active = threading.local()  # the running attempt's Deadline, per thread


@contextlib.contextmanager
def within(deadline: Deadline):
    outer = getattr(_active, "deadline", None)
    _active.deadline = deadline
    try:
        yield deadline
    finally:
        _active.deadline = outer


def current_deadline() -> Deadline | None:
    return getattr(_active, "deadline", None)


def call_timeout(default: float | None) -> float | None:
    """Timeout for the next blocking socket call: the per-call timeout, cut to what is left."""
    deadline = current_deadline()
    if deadline is None:
        return default
    remaining = deadline.remaining()
    if remaining <= 0:
        raise socket.timeout("the attempt's deadline has passed")
    return min(deadline.per_call, remaining)


class _DeadlineBound:
    """Socket mixin: each receive, send and handshake waits at most until the deadline."""

    __slots__ = ()

    def _bound(self) -> None:
        timeout = call_timeout(None)
        if timeout is not None:
            self.settimeout(timeout)

    def recv_into(self, *args, **kwargs):
        self._bound()
        return super().recv_into(*args, **kwargs)

    def sendall(self, *args, **kwargs):
        self._bound()
        return super().sendall(*args, **kwargs)


class _DeadlineSocket(_DeadlineBound, socket.socket):
    __slots__ = ()


class _DeadlineSSLSocket(_DeadlineBound, ssl.SSLSocket):
    def do_handshake(self, *args, **kwargs):
        # CPython bounds a whole handshake call by the socket timeout, so this caps it.
        self._bound()
        return super().do_handshake(*args, **kwargs)


def _open_socket(conn: HTTPConnection, check_addresses: bool, resolve) -> socket.socket:
    """urllib3's `_new_conn`: a deadline-bound socket to conn's host, connected only to
    addresses that were checked (when asked) before any connection attempt."""
    try:
        found = resolve(conn._dns_host, conn.port)
    except socket.gaierror as exc:
        raise NameResolutionError(conn.host, conn, exc) from exc
    if check_addresses:
        addresses.refuse_forbidden(conn.host, found)
    error: Exception = NewConnectionError(conn, f"Failed to establish a new connection: no address for {conn.host}")
    for family, sockaddr in found:
        sock = _DeadlineSocket(family, socket.SOCK_STREAM)
        try:
            for option in conn.socket_options or ():
                sock.setsockopt(*option)
            sock.settimeout(call_timeout(conn.timeout))
            if conn.source_address:
                sock.bind(conn.source_address)
            sock.connect(sockaddr)
            return sock
        except socket.timeout:
            sock.close()
            error = ConnectTimeoutError(conn, f"Connection to {conn.host} timed out. (connect timeout={conn.timeout})")
        except OSError as exc:
            sock.close()
            error = NewConnectionError(conn, f"Failed to establish a new connection: {exc}")
    raise error


def pool_classes(check_addresses: bool, resolver: addresses.Resolver) -> dict[str, type]:
    """urllib3 pool classes whose connections resolve through `resolver` and keep to the deadline."""
    def connection(base):
        return type(f"Deadline{base.__name__}", (base,),
                    {"_new_conn": lambda self: _open_socket(self, check_addresses, resolver.resolve)})

    return {"http": type("DeadlineHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": connection(HTTPConnection)}),
            "https": type("DeadlineHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": connection(HTTPSConnection)})}


def tls_context() -> ssl.SSLContext:
    """urllib3's default context, whose sockets are deadline-bound too."""
    context = create_urllib3_context()
    context.load_default_certs()
    context.sslsocket_class = _DeadlineSSLSocket
    return context
