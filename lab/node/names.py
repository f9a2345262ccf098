"""Names and addresses of everything one lab instance creates in the kernel.

Every name carries ``krl`` plus the instance id so two labs (or other tests) never
collide, and cleanup can find an instance's namespaces from its id alone. Interface
names are at most 15 characters, hence the compact forms ``krl<id>p<n>``.

Addresses (all inside the lab's own namespaces):

- node ``i`` is ``krl-node-<i>`` with InternalIP ``172.18.0.<10+i>`` on the lab's node
  network (a bridge in the fabric namespace, like kind's Docker network) and owns the pod
  CIDR ``10.244.<16*i>.0/20`` (4064 pods; up to 16 nodes share 10.244.0.0/16);
- every node also holds ``169.254.1.1`` on its loopback: the gateway its pods route
  through (Calico's trick: the node answers ARP for it on every veth);
- the fake external hosts (documentation ranges) sit behind ``172.18.0.254``.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

PREFIX = "krl"
POD_CIDR = ipaddress.IPv4Network("10.244.0.0/16")
NODE_CIDR_PREFIX = 20  # a /20 per node: 16 nodes in POD_CIDR, 4064 pods each
MAX_NODES = 2 ** (NODE_CIDR_PREFIX - POD_CIDR.prefixlen)
NODE_NETWORK = ipaddress.IPv4Network("172.18.0.0/24")
NODE_IP_OFFSET = 10  # node i is 172.18.0.(10+i)
EXTERNAL_ROUTER_IP = "172.18.0.254"
# Link-local gateway every pod routes through (Calico's trick): it lives on the node's
# loopback, so the node answers ARP for it on every veth without per-link addresses.
GATEWAY = "169.254.1.1"
# Fake "external" hosts for ipBlock policies: documentation ranges only (RFC 5737).
EXTERNAL_CIDRS = ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")
EXTERNAL_HOSTS = ("192.0.2.10", "192.0.2.20", "198.51.100.10", "203.0.113.10")
# Ports the fake external hosts answer on (port, protocol).
EXTERNAL_PORTS = ((80, "TCP"), (443, "TCP"), (8080, "TCP"), (53, "UDP"))
MAX_IFNAME = 15
_ID_RE = re.compile(r"^[A-Za-z0-9]{1,16}$")


def node_name(index: int) -> str:
    return f"krl-node-{index}"


def node_ip(index: int) -> str:
    return str(NODE_NETWORK.network_address + NODE_IP_OFFSET + index)


def node_pod_cidr(index: int) -> ipaddress.IPv4Network:
    if not 0 <= index < MAX_NODES:
        raise ValueError(f"the lab has room for {MAX_NODES} nodes, not node {index}")
    return list(POD_CIDR.subnets(new_prefix=NODE_CIDR_PREFIX))[index]


def pods_per_node() -> int:
    """Addresses a node hands out: every address of its /20 but each /24's .0 and .255."""
    return int(2 ** (32 - NODE_CIDR_PREFIX) // 256 * 254)


def pod_ip(cidr: ipaddress.IPv4Network, index: int) -> str:
    """Address ``index`` (1-based) of a node's pod CIDR, skipping .0 and .255 of each /24."""
    third, fourth = divmod(index - 1, 254)
    if index < 1 or third * 256 + fourth + 1 >= cidr.num_addresses:
        raise ValueError(f"pod CIDR {cidr} exhausted")
    return str(cidr.network_address + third * 256 + fourth + 1)


@dataclass(frozen=True, slots=True)
class InstanceNames:
    """Names for one instance, e.g. ``InstanceNames("3fa2b1").pod_netns(0, 7) == "krl-3fa2b1-0-7"``."""

    instance_id: str

    def __post_init__(self) -> None:
        if not _ID_RE.match(self.instance_id):
            raise ValueError(f"lab instance id must be 1-16 letters/digits, got {self.instance_id!r}")

    @property
    def netns_prefix(self) -> str:
        return f"{PREFIX}-{self.instance_id}-"

    def node_netns(self, node: int) -> str:
        return f"{self.netns_prefix}node{node}"

    @property
    def fabric_netns(self) -> str:
        return f"{self.netns_prefix}fabric"

    @property
    def ext_netns(self) -> str:
        return f"{self.netns_prefix}ext"

    def pod_netns(self, node: int, index: int) -> str:
        return f"{self.netns_prefix}{node}-{index}"

    @property
    def _short(self) -> str:
        return self.instance_id[:6]

    def pod_link(self, index: int) -> str:
        """A pod's veth on its node's side (names are per node namespace)."""
        name = f"{PREFIX}{self._short}p{index}"
        if len(name) > MAX_IFNAME:
            raise ValueError(f"too many pods for interface names: {name}")
        return name

    def node_link(self, node: int) -> str:
        """A node's uplink, on the fabric's side."""
        return f"{PREFIX}{self._short}n{node}"

    @property
    def ext_link(self) -> str:
        return f"{PREFIX}{self._short}x"

    @property
    def bridge(self) -> str:
        return f"{PREFIX}{self._short}br"
