"""The DESIGN.md state table, cell by cell: ICMP type/code and errno -> state and evidence."""

from __future__ import annotations

import errno
import os

import pytest

from probe.netutil import classify_icmp4, classify_icmp6, classify_oserror
from probe.schema import ProbeState

OPEN, CLOSED, FILTERED, UNREACHABLE, ERROR = (
    ProbeState.OPEN,
    ProbeState.CLOSED,
    ProbeState.FILTERED,
    ProbeState.UNREACHABLE,
    ProbeState.ERROR,
)


@pytest.mark.parametrize(
    "icmp_type,code,state",
    [
        (3, 0, UNREACHABLE),
        (3, 1, UNREACHABLE),  # net / host unreachable
        (3, 3, CLOSED),  # port unreachable
        (3, 9, FILTERED),
        (3, 10, FILTERED),
        (3, 13, FILTERED),  # administratively prohibited
        (3, 6, UNREACHABLE),
        (3, 7, UNREACHABLE),  # unknown net / host
        (11, 0, UNREACHABLE),  # TTL exceeded: a loop
    ],
)
def test_icmpv4(icmp_type, code, state):
    assert classify_icmp4(icmp_type, code) == (state, f"ICMP {icmp_type}/{code}")


@pytest.mark.parametrize(
    "icmp_type,code,state",
    [
        (1, 0, UNREACHABLE),
        (1, 3, UNREACHABLE),  # no route, address unreachable
        (1, 4, CLOSED),  # port unreachable
        (1, 1, FILTERED),
        (1, 5, FILTERED),
        (1, 6, FILTERED),  # prohibited, policy, reject route
        (3, 0, UNREACHABLE),  # hop limit exceeded
    ],
)
def test_icmpv6(icmp_type, code, state):
    assert classify_icmp6(icmp_type, code) == (state, f"ICMPv6 {icmp_type}/{code}")


@pytest.mark.parametrize(
    "code,state",
    [
        (errno.ECONNREFUSED, CLOSED),  # RST to a connect
        (errno.EHOSTUNREACH, UNREACHABLE),
        (errno.ENETUNREACH, UNREACHABLE),
        (errno.EPERM, FILTERED),  # a local netfilter DROP
        (errno.EACCES, FILTERED),  # a prohibit route
        (errno.ECONNRESET, ERROR),
        (errno.EMFILE, ERROR),
        (errno.EADDRNOTAVAIL, ERROR),
    ],
)
def test_errno_without_icmp_detail(code, state):
    name = errno.errorcode[code]
    assert classify_oserror(OSError(code, os.strerror(code)), None)[:2] == (state, name)
