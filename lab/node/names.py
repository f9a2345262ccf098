"""Names and addresses of everything one lab instance creates in the kernel.

Every name carries ``krl`` plus the instance id so two labs (or other tests) never
collide, and cleanup can find an instance's namespaces from its id alone. Interface
names are at most 15 characters, hence the compact form ``krl<id>p<n>``.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

PREFIX = "krl"
POD_CIDR = ipaddress.IPv4Network("10.244.0.0/16")
# Link-local gateway every pod routes through (Calico's trick): it lives on the node's
# loopback, so the node answers ARP for it on every veth without per-link addresses.
GATEWAY = "169.254.1.1"
NODE_IP = "169.254.1.1"
# Fake "external" hosts for ipBlock policies: documentation ranges only (RFC 5737).
EXTERNAL_CIDRS = ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")
EXTERNAL_HOSTS = ("192.0.2.10", "192.0.2.20", "198.51.100.10", "203.0.113.10")
# Ports the fake external hosts answer on (port, protocol).
EXTERNAL_PORTS = ((80, "TCP"), (443, "TCP"), (8080, "TCP"), (53, "UDP"))
NODE_NAME = "krl-node"
MAX_IFNAME = 15
_ID_RE = re.compile(r"^[A-Za-z0-9]{1,16}$")


@dataclass(frozen=True, slots=True)
class InstanceNames:
    """Names for one instance, e.g. ``InstanceNames("3fa2b1").pod_netns(7) == "krl-3fa2b1-7"``."""

    instance_id: str

    def __post_init__(self) -> None:
        if not _ID_RE.match(self.instance_id):
            raise ValueError(f"lab instance id must be 1-16 letters/digits, got {self.instance_id!r}")

    @property
    def netns_prefix(self) -> str:
        return f"{PREFIX}-{self.instance_id}-"

    @property
    def node_netns(self) -> str:
        return f"{self.netns_prefix}node"

    @property
    def ext_netns(self) -> str:
        return f"{self.netns_prefix}ext"

    def pod_netns(self, index: int) -> str:
        return f"{self.netns_prefix}{index}"

    @property
    def _short(self) -> str:
        return self.instance_id[:6]

    def pod_link(self, index: int) -> str:
        name = f"{PREFIX}{self._short}p{index}"
        if len(name) > MAX_IFNAME:
            raise ValueError(f"too many pods for interface names: {name}")
        return name

    @property
    def ext_link(self) -> str:
        return f"{PREFIX}{self._short}x"


def pod_ip(index: int) -> str:
    """Address of the pod with allocation ``index`` (1-based; skips .0 and .255)."""
    per = 254
    third, fourth = divmod(index - 1, per)
    if third > 255:
        raise ValueError("pod CIDR exhausted")
    return str(POD_CIDR.network_address + third * 256 + fourth + 1)
