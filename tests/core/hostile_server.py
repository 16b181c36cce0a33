"""Misbehaving loopback servers for the network tests (no tests here).

Routes for `wit_pipeline.run.loopback.LoopbackServer` that drip, cut, stall, mis-encode or
drop their responses; a server whose stalls end when it stops; HTTPS with a generated
certificate; and a resolver stub, so tests name hosts without asking any DNS server.
A LoopbackServer whose routes are absolute URLs is a recording proxy: its `hits` are
exactly what it was asked to fetch.
"""
from __future__ import annotations

import datetime
import socket
import threading
import time

from wit_pipeline.run.loopback import LoopbackServer, send


class HostileServer(LoopbackServer):
    """A LoopbackServer whose stalling routes give up when it stops (`stopping`)."""

    def __init__(self, routes=None, fallback=None):
        super().__init__(routes, fallback)
        self.stopping = threading.Event()
        self.httpd.stopping = self.stopping

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        super().__exit__(*exc)


def _quietly(route):
    """The client hanging up on a hostile route is the point, not an error to print."""
    def run(handler):
        try:
            route(handler)
        except OSError:
            handler.close_connection = True
    return run


def drip(raw: bytes, every: float = 0.2):
    """Write a raw response (status line and headers included) one byte at a time."""
    @_quietly
    def route(handler):
        handler.close_connection = True
        for byte in raw:
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
            if handler.server.stopping.wait(every):
                return
    return route


def drip_headers(every: float = 0.2, headers: int = 500):
    """A 200 whose header block never ends in time: `X-Pad: n` lines, one byte per `every`."""
    return drip(b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-Pad: %d\r\n" % i for i in range(headers)), every)


def cut_body(body: bytes, declared: int, content_type: str = "text/plain"):
    """Announce `declared` bytes, send `body` (fewer), hang up: IncompleteRead."""
    @_quietly
    def route(handler):
        handler.send_response(200)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(declared))
        handler.end_headers()
        handler.wfile.write(body)
        handler.wfile.flush()
        handler.close_connection = True
    return route


def stall_body(prefix: bytes, declared: int = 10_000, content_type: str = "text/plain"):
    """Send the headers and a little of the body, then nothing until the server stops."""
    @_quietly
    def route(handler):
        handler.send_response(200)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(declared))
        handler.end_headers()
        handler.wfile.write(prefix)
        handler.wfile.flush()
        handler.server.stopping.wait(60)
        handler.close_connection = True
    return route


def false_gzip(body: bytes, content_type: str = "text/plain"):
    """`Content-Encoding: gzip` on a body that is not gzip: DecodeError."""
    return _quietly(lambda handler: send(handler, body, 200, content_type, {"Content-Encoding": "gzip"}))


def hang_up(handler) -> None:
    """Close the connection without any response."""
    handler.close_connection = True


def redirect(location: str):
    return lambda handler: send(handler, b"", 302, "text/plain", {"Location": location})


class FakeResolver:
    """A stand-in for `wit_pipeline.core.net.addresses.resolve_host`. `names` maps a host to its address,
    or to a list of addresses, one per successive lookup (the last one repeats: a DNS
    rebinding). IP literals resolve as themselves; any other name does not resolve. No
    DNS server is ever asked. `calls` lists the hosts looked up."""

    def __init__(self, names: dict[str, str | list[str]]):
        self.names = names
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, host: str, port: int):
        host = host.strip("[]")
        with self._lock:
            self.calls.append(host)
            if host in self.names:
                answers = self.names[host] if isinstance(self.names[host], list) else [self.names[host]]
                host = answers[min(self.calls.count(host), len(answers)) - 1]
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
        except socket.gaierror:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None
        return list({info[4]: (info[0], info[4]) for info in infos}.values())


def serve_tls(server: LoopbackServer, cert: str, key: str) -> LoopbackServer:
    """Make a (not yet started) loopback server speak HTTPS with this certificate."""
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.httpd.socket = context.wrap_socket(server.httpd.socket, server_side=True)
    return server


def self_signed_certificate(directory) -> tuple[str, str]:
    """(cert.pem, key.pem) for 127.0.0.1, made with `cryptography` (the tests importorskip it)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import ipaddress

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = f"{directory}/cert.pem", f"{directory}/key.pem"
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return cert_path, key_path


class ConcurrencyMeter:
    """A route that holds each request `hold` seconds and records when each started and the
    most in flight at once (robots.txt: 404, not counted)."""

    def __init__(self, hold: float = 0.15, body: bytes = b"image"):
        self.hold, self.body, self.now, self.most = hold, body, 0, 0
        self.starts: list[float] = []
        self.lock = threading.Lock()

    def __call__(self, handler):
        if handler.path == "/robots.txt":
            send(handler, b"", 404, "text/plain")
            return
        with self.lock:
            self.starts.append(time.monotonic())
            self.now += 1
            self.most = max(self.most, self.now)
        time.sleep(self.hold)
        with self.lock:
            self.now -= 1
        send(handler, self.body)
