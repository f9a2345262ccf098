"""Socket details shared by the probe methods: errno names, ICMP meaning, the error queue.

Linux reports an ICMP error on a connecting TCP socket or a connected UDP socket as a
plain errno; ``EHOSTUNREACH`` stands for host unreachable *and* for admin-prohibited.
With ``IP_RECVERR`` set the kernel also queues the ICMP type and code, which is how an
unprivileged probe still tells ``filtered`` (3/13) from ``unreachable`` (3/1).
Standard library only.
"""

from __future__ import annotations

import errno
import socket
import struct

from probe.schema import ProbeState

# Not exported by the socket module (linux/in.h, linux/in6.h, linux/errqueue.h).
IP_RECVERR = 11
IPV6_RECVERR = 25
SO_EE_ORIGIN_ICMP = 2
SO_EE_ORIGIN_ICMP6 = 3
_EXTENDED_ERR = struct.Struct("=IBBBBII")


def errno_name(code: int | None) -> str:
    return errno.errorcode.get(code or 0, f"errno {code}")


def family_of(address: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def enable_recverr(sock: socket.socket) -> None:
    """Ask the kernel to queue ICMP details; harmless where unsupported."""
    try:
        if sock.family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVERR, 1)
        else:
            sock.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
    except OSError:
        pass


def read_icmp_error(sock: socket.socket) -> tuple[int, int, int] | None:
    """(family, icmp type, icmp code) of the last queued ICMP error, or None."""
    found = None
    for _ in range(8):  # a few errors may be queued (one per retry); the last one wins
        try:
            _data, ancdata, _flags, _addr = sock.recvmsg(1, 512, socket.MSG_ERRQUEUE)
        except (BlockingIOError, InterruptedError, OSError):
            break
        for level, kind, payload in ancdata:
            if (level, kind) in ((socket.IPPROTO_IP, IP_RECVERR), (socket.IPPROTO_IPV6, IPV6_RECVERR)) and len(
                payload
            ) >= _EXTENDED_ERR.size:
                _ee_errno, origin, icmp_type, icmp_code, _pad, _info, _data2 = _EXTENDED_ERR.unpack_from(payload)
                if origin == SO_EE_ORIGIN_ICMP:
                    found = (socket.AF_INET, icmp_type, icmp_code)
                elif origin == SO_EE_ORIGIN_ICMP6:
                    found = (socket.AF_INET6, icmp_type, icmp_code)
    return found


def classify_icmp4(icmp_type: int, code: int) -> tuple[ProbeState, str]:
    """Meaning of an ICMPv4 error for a probe (DESIGN.md, Semantics)."""
    evidence = f"ICMP {icmp_type}/{code}"
    if icmp_type == 3:
        if code == 3:
            return ProbeState.CLOSED, evidence  # port unreachable
        if code in (9, 10, 13):
            return ProbeState.FILTERED, evidence  # administratively prohibited
        if code in (0, 1, 5, 6, 7, 11, 12):
            return ProbeState.UNREACHABLE, evidence  # net/host unreachable or unknown
        if code == 2:
            return ProbeState.CLOSED, evidence  # protocol unreachable: the stack answered
    if icmp_type == 11:
        return ProbeState.UNREACHABLE, evidence  # time exceeded: a routing loop
    return ProbeState.ERROR, evidence


def classify_icmp6(icmp_type: int, code: int) -> tuple[ProbeState, str]:
    """Meaning of an ICMPv6 error (type 1 destination unreachable, 3 time exceeded)."""
    evidence = f"ICMPv6 {icmp_type}/{code}"
    if icmp_type == 1:
        if code == 4:
            return ProbeState.CLOSED, evidence  # port unreachable
        if code in (1, 5, 6):
            return ProbeState.FILTERED, evidence  # admin prohibited / policy / reject route
        return ProbeState.UNREACHABLE, evidence  # no route, beyond scope, address unreachable
    if icmp_type == 3:
        return ProbeState.UNREACHABLE, evidence
    return ProbeState.ERROR, evidence


def classify_icmp(family: int, icmp_type: int, code: int) -> tuple[ProbeState, str]:
    if family == socket.AF_INET6:
        return classify_icmp6(icmp_type, code)
    return classify_icmp4(icmp_type, code)


def classify_oserror(exc: OSError, sock: socket.socket | None) -> tuple[ProbeState, str, str]:
    """(state, evidence, detail) for a failed connect/send/recv, using queued ICMP if any."""
    code = exc.errno
    name = errno_name(code)
    detail = str(exc)
    if code == errno.ECONNREFUSED:
        icmp = read_icmp_error(sock) if sock is not None else None
        if icmp is not None:  # UDP: ICMP port unreachable
            state, evidence = classify_icmp(*icmp)
            return state, f"{evidence} ({name})", detail
        return ProbeState.CLOSED, name, detail  # TCP: RST
    if code in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        icmp = read_icmp_error(sock) if sock is not None else None
        if icmp is not None:
            state, evidence = classify_icmp(*icmp)
            return state, f"{evidence} ({name})", detail
        return ProbeState.UNREACHABLE, name, detail
    if code in (errno.EPERM, errno.EACCES):
        # ICMPv6 admin-prohibited arrives as EACCES; without ICMP it is a local netfilter
        # DROP or a "prohibit" route: policy stopped the packet either way.
        icmp = read_icmp_error(sock) if sock is not None else None
        if icmp is not None:
            state, evidence = classify_icmp(*icmp)
            return state, f"{evidence} ({name})", detail
        return ProbeState.FILTERED, name, detail
    return ProbeState.ERROR, name, detail
