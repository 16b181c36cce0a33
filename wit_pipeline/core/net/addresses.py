"""Which addresses may be connected to: only globally routable ones, unless the user allows
private networks. A host is refused when any address it resolves to is not global."""
from __future__ import annotations

import ipaddress
import socket

from wit_pipeline.core.net.caches import BoundedCache


class ForbiddenAddress(Exception):
    pass


_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Python before 3.11.10 / 3.12.4 reports parts of 192.0.0.0/24 (IETF protocol assignments) as global.
_NOT_GLOBAL_EXTRA = (ipaddress.ip_network("192.0.0.0/24"),)


def forbidden_ip(address: str) -> bool:
    """True unless the address is globally routable. An IPv4 address carried in IPv6
    (IPv4-mapped, NAT64 64:ff9b::/96, 6to4) is judged itself, so `::ffff:127.0.0.1` is
    refused and a DNS64 network's `64:ff9b::808:808` is not."""
    ip = ipaddress.ip_address(address)
    if ip.version == 6:
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            ip = embedded
    return (not ip.is_global or ip.is_multicast or ip.is_reserved
            or any(ip in network for network in _NOT_GLOBAL_EXTRA if network.version == ip.version))


def resolve_host(host: str, port: int) -> list[tuple[int, tuple]]:
    """Distinct (family, sockaddr) of host, in the resolver's order; socket.gaierror if none."""
    infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    return list({info[4]: (info[0], info[4]) for info in infos}.values())


def refuse_forbidden(host: str, addresses: list[tuple[int, tuple]]) -> None:
    for _family, sockaddr in addresses:
        if forbidden_ip(sockaddr[0]):
            raise ForbiddenAddress(f"{host} resolves to non-global address {sockaddr[0]}")


class Resolver:
    """DNS answers, and failures, cached per (host, port) for `ttl` seconds, at most `size`
    of them: the rows of one host resolve it once, not twice per request. The connection is
    made to the cached addresses, which were checked; an answer that expired in between is
    looked up again and checked again when connecting."""

    def __init__(self, size: int, ttl: float):
        self.cache = BoundedCache(size, ttl)

    def resolve(self, host: str, port: int) -> list[tuple[int, tuple]]:
        answer = self.cache.get((host, port))
        if answer is None:
            try:
                answer = resolve_host(host, port)
            except socket.gaierror as exc:
                answer = exc
            self.cache.put((host, port), answer)
        if isinstance(answer, socket.gaierror):
            raise socket.gaierror(answer.errno, answer.strerror)
        return answer

    def check(self, host: str, port: int) -> None:
        """ForbiddenAddress when any address of host is not globally routable; socket.gaierror
        when it does not resolve. Nothing is sent either way."""
        refuse_forbidden(host, self.resolve(host, port))
