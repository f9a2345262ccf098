"""Half-open SYN probes for a whole batch: one raw sender, one sniffer, many probes.

Why not ``sr1`` per probe: every call opens sockets and a sniffer of its own, so a few
thousand probes cost minutes. Here one :class:`SynBatch` owns

* one raw L3 sender (``AF_INET/SOCK_RAW/IPPROTO_RAW``): scapy builds one SYN and one RST
  template per (source, destination) pair, each probe patches ports, sequence number
  and TCP checksum into a copy (scapy's per-packet build costs ~0.5 ms; patching ~5 us);
* one sniffer (``AF_PACKET/SOCK_DGRAM`` with a classic BPF filter: incoming IPv4 TCP
  and ICMP only), read on the asyncio loop, which matches every SYN-ACK, RST and ICMP
  error to its probe by (destination, destination port, source port).

A SYN-ACK is answered with our own RST so no half-open connection lingers on the
target. (The local kernel answers the SYN-ACK with an RST as well, because no socket owns
the random source port; both are harmless and neither changes the result.) Silence is
retried with the same source port, so a late answer to an earlier attempt still counts.

IPv4 only; the engine falls back to ``connect`` for IPv6 targets and says so.
scapy is imported here, and this module is imported only when a batch has SYN probes.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import random
import socket
import struct
import time
from typing import Any

from probe.netutil import classify_icmp4, classify_oserror
from probe.outcome import Outcome
from probe.schema import ProbeState

ETH_P_IP = 0x0800
SO_ATTACH_FILTER = 26
SO_RCVBUFFORCE = 33
PACKET_OUTGOING = 4
SPORT_RANGE = (40000, 65535)  # random high source ports, as nmap does
SNIFF_RCVBUF = 16 << 20  # a burst of thousands of answers must not overflow
SYN_WINDOW = 1024

# Classic BPF, so a busy pod's other traffic never reaches Python: drop what we sent
# ourselves (pkttype OUTGOING, e.g. on lo), keep IPv4 ICMP, and IPv4 TCP only if its
# destination port is in our source-port range. For SOCK_DGRAM packet sockets the
# filter sees the IP header at offset 0.
_BPF = [
    (0x20, 0, 0, 0xFFFFF004),  # 0 ld   [pkttype]       (SKF_AD_OFF + SKF_AD_PKTTYPE)
    (0x15, 6, 0, PACKET_OUTGOING),  # 1 jeq  OUTGOING        -> 8 drop
    (0x30, 0, 0, 9),  # 2 ldb  [9]             ip protocol
    (0x15, 5, 0, 1),  # 3 jeq  icmp            -> 9 accept
    (0x15, 0, 3, 6),  # 4 jeq  tcp ? 5 : 8 drop
    (0xB1, 0, 0, 0),  # 5 ldxb 4*([0]&0xf)     ip header length
    (0x48, 0, 0, 2),  # 6 ldh  [x+2]           tcp destination port
    (0x35, 1, 0, SPORT_RANGE[0]),  # 7 jge  first sport     -> 9 accept
    (0x06, 0, 0, 0),  # 8 drop
    (0x06, 0, 0, 0x40000),  # 9 accept (whole packet)
]


def raw_sockets_allowed() -> bool:
    """True when this process may open raw sockets (NET_RAW)."""
    try:
        socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW).close()
        socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP)).close()
        return True
    except (PermissionError, OSError):
        return False


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


class _Templates:
    """SYN and RST packets for one (source, destination) pair, built once with scapy."""

    def __init__(self, src: str, dst: str) -> None:
        from scapy.compat import raw
        from scapy.layers.inet import IP, TCP

        self.syn = bytearray(
            raw(
                IP(src=src, dst=dst)
                / TCP(sport=1, dport=1, flags="S", seq=0, window=SYN_WINDOW, options=[("MSS", 1460)])
            )
        )
        self.rst = bytearray(raw(IP(src=src, dst=dst) / TCP(sport=1, dport=1, flags="R", seq=0, window=0)))
        self.pseudo = socket.inet_aton(src) + socket.inet_aton(dst)

    def build(self, template: bytearray, sport: int, dport: int, seq: int) -> bytes:
        pkt = bytearray(template)
        ihl = (pkt[0] & 0x0F) * 4
        struct.pack_into("!HHI", pkt, ihl, sport, dport, seq)
        struct.pack_into("!H", pkt, ihl + 16, 0)
        segment = bytes(pkt[ihl:])
        pseudo = self.pseudo + struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(segment))
        struct.pack_into("!H", pkt, ihl + 16, _checksum(pseudo + segment))
        return bytes(pkt)


class SynBatch:
    """Shared raw sender and sniffer; :meth:`probe` is safe to call concurrently."""

    def __init__(self) -> None:
        # Import scapy now, before any probe is in flight: its ~0.5 s import blocks the
        # loop, and must not eat into the timeout of probes already waiting.
        import scapy.layers.inet  # noqa: F401

        self._loop = asyncio.get_running_loop()
        self._sender = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        self._sender.setblocking(False)
        self._sniffer = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP))
        self._attach_filter()
        for opt in (SO_RCVBUFFORCE, socket.SO_RCVBUF):
            try:
                self._sniffer.setsockopt(socket.SOL_SOCKET, opt, SNIFF_RCVBUF)
                break
            except OSError:
                continue
        self._sniffer.setblocking(False)
        self._pending: dict[tuple[str, int, int], asyncio.Future[tuple[str, Any]]] = {}
        self._templates: dict[str, _Templates] = {}
        self._sources: dict[str, str] = {}
        self._rng = random.SystemRandom()
        self._loop.add_reader(self._sniffer.fileno(), self._on_readable)
        self.stats = {"sent": 0, "received": 0, "matched": 0}

    def _attach_filter(self) -> None:
        prog = b"".join(struct.pack("HBBI", *ins) for ins in _BPF)
        self._bpf_buf = ctypes.create_string_buffer(prog)  # must outlive the setsockopt
        fprog = struct.pack("HL", len(_BPF), ctypes.addressof(self._bpf_buf))
        self._sniffer.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)

    def close(self) -> None:
        with contextlib.suppress(ValueError, OSError):
            self._loop.remove_reader(self._sniffer.fileno())
        self._sniffer.close()
        self._sender.close()
        for fut in self._pending.values():
            if not fut.done():
                fut.cancel()
        self._pending.clear()

    # -- probing ----------------------------------------------------------------------

    def _source_for(self, dst: str) -> str:
        src = self._sources.get(dst)
        if src is None:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.connect((dst, 9))  # no packet is sent: this only asks the routing table
                src = s.getsockname()[0]
            self._sources[dst] = src
        return src

    def _templates_for(self, src: str, dst: str) -> _Templates:
        tpl = self._templates.get(dst)
        if tpl is None:
            tpl = self._templates[dst] = _Templates(src, dst)
        return tpl

    async def _send(self, packet: bytes, dst: str) -> None:
        for _ in range(200):  # a full send queue drains in well under a second
            try:
                self._sender.sendto(packet, (dst, 0))
                self.stats["sent"] += 1
                return
            except (BlockingIOError, InterruptedError):
                await asyncio.sleep(0.002)
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:
                    await asyncio.sleep(0.002)
                    continue
                raise
        raise OSError(errno.ENOBUFS, "raw send queue stayed full")

    async def _free_key(self, dst: str, dport: int) -> tuple[str, int, int]:
        """A (dst, dport, sport) no probe in flight uses. With more probes in flight to one
        (dst, dport) than there are source ports, wait for one to finish (yielding, so
        the loop and the batch deadline keep running) instead of spinning."""
        while True:
            for _ in range(64):
                key = (dst, dport, self._rng.randint(*SPORT_RANGE))
                if key not in self._pending:
                    return key
            await asyncio.sleep(0.005)

    async def probe(self, dst: str, dport: int, *, timeout_s: float, retries: int) -> Outcome:
        try:
            src = self._source_for(dst)
        except OSError as exc:
            state, evidence, detail = classify_oserror(exc, None)
            return Outcome(state, evidence, 1, detail=detail)
        tpl = self._templates_for(src, dst)
        key = await self._free_key(dst, dport)
        sport = key[2]
        seq = self._rng.getrandbits(32)
        fut = self._loop.create_future()
        self._pending[key] = fut
        attempts = 0
        try:
            syn = tpl.build(tpl.syn, sport, dport, seq)
            for attempt in range(1, retries + 2):
                attempts = attempt
                started = time.monotonic()
                try:
                    await self._send(syn, dst)
                except OSError as exc:
                    state, evidence, detail = classify_oserror(exc, None)
                    return Outcome(state, evidence, attempt, detail=detail)
                try:
                    kind, info = await asyncio.wait_for(asyncio.shield(fut), timeout_s)
                except TimeoutError:
                    continue
                latency = round((time.monotonic() - started) * 1000.0, 3)
                if kind == "synack":
                    # if this fails, the kernel's own RST still tears the half-open state down
                    with contextlib.suppress(OSError):
                        await self._send(tpl.build(tpl.rst, sport, dport, info), dst)
                    return Outcome(ProbeState.OPEN, "SYN-ACK", attempt, latency)
                if kind == "rst":
                    return Outcome(ProbeState.CLOSED, "RST", attempt, latency)
                icmp_type, icmp_code, sender = info
                state, evidence = classify_icmp4(icmp_type, icmp_code)
                return Outcome(state, evidence, attempt, latency, detail=f"from {sender}")
        finally:
            self._pending.pop(key, None)
        return Outcome(
            ProbeState.FILTERED, "timeout", attempts, detail=f"no answer to {attempts} SYN(s), {timeout_s:g}s each"
        )

    # -- sniffing ---------------------------------------------------------------------

    def _on_readable(self) -> None:
        for _ in range(4096):  # drain in bounded chunks so other callbacks still run
            try:
                data, addr = self._sniffer.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if len(addr) > 2 and addr[2] == PACKET_OUTGOING:
                continue
            self.stats["received"] += 1
            self._dispatch(data)

    def _dispatch(self, data: bytes) -> None:
        if len(data) < 20 or data[0] >> 4 != 4:
            return
        ihl = (data[0] & 0x0F) * 4
        proto = data[9]
        src = socket.inet_ntoa(data[12:16])
        if proto == socket.IPPROTO_TCP and len(data) >= ihl + 14:
            sport, dport, _seq, ack = struct.unpack_from("!HHII", data, ihl)
            flags = data[ihl + 13]
            fut = self._pending.get((src, sport, dport))
            if fut is None or fut.done():
                return
            if flags & 0x12 == 0x12:  # SYN+ACK
                self._resolve(fut, ("synack", ack))
            elif flags & 0x04:  # RST
                self._resolve(fut, ("rst", None))
        elif proto == socket.IPPROTO_ICMP and len(data) >= ihl + 8 + 20:
            icmp_type, icmp_code = data[ihl], data[ihl + 1]
            if icmp_type not in (3, 11):
                return
            inner = ihl + 8
            inner_ihl = (data[inner] & 0x0F) * 4
            if data[inner + 9] != socket.IPPROTO_TCP or len(data) < inner + inner_ihl + 4:
                return
            inner_dst = socket.inet_ntoa(data[inner + 16 : inner + 20])
            isport, idport = struct.unpack_from("!HH", data, inner + inner_ihl)
            fut = self._pending.get((inner_dst, idport, isport))
            if fut is not None and not fut.done():
                self._resolve(fut, ("icmp", (icmp_type, icmp_code, src)))

    def _resolve(self, fut: asyncio.Future[tuple[str, Any]], value: tuple[str, Any]) -> None:
        self.stats["matched"] += 1
        fut.set_result(value)
