"""The probe runner: a validated :class:`~probe.spec.Spec` in, a result document out.

Owns scheduling (an ``asyncio.Semaphore`` admits at most ``concurrency`` probe tasks at
a time, fewer if the open-file limit cannot hold that many sockets; a token bucket
spaces their starts; a hard overall deadline cancels the rest), method dispatch and
fallbacks (``syn`` without NET_RAW or for IPv6 -> ``connect``), and the promise that
every target gets exactly one result, in spec order, whatever happens. It never raises
per probe: an unexpected exception in one probe becomes that probe's ``error`` result.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from probe import __version__
from probe.outcome import Outcome
from probe.schema import RESULT_KIND, SCHEMA_VERSION, Method, ProbeState
from probe.spec import Spec, Target

if TYPE_CHECKING:  # imported lazily at run time: it needs scapy
    from probe.methods.syn import SynBatch

NOTE_SYN_NO_RAW = "syn needs NET_RAW; used connect instead"
NOTE_SYN_IPV6 = "syn supports IPv4 only; used connect for IPv6 targets"


class TokenBucket:
    """Starts at most ``rate`` probes per second (burst of one); rate 0 = unlimited."""

    def __init__(self, rate_per_s: float) -> None:
        self._interval = 1.0 / rate_per_s if rate_per_s > 0 else 0.0
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        if not self._interval:
            return
        async with self._lock:
            now = time.monotonic()
            wait = self._next - now
            self._next = max(now, self._next) + self._interval
        if wait > 0:
            await asyncio.sleep(wait)


def detect_net_raw() -> bool:
    from probe.methods.syn import raw_sockets_allowed

    return raw_sockets_allowed()


async def run_spec(spec: Spec, *, net_raw: bool | None = None) -> dict[str, Any]:
    """Run every target of ``spec``; returns the result document (probe.schema)."""
    started_wall = datetime.now(UTC)
    started = time.monotonic()
    has_syn = any(t.method == Method.SYN for t in spec.targets)
    if net_raw is None:
        net_raw = detect_net_raw() if has_syn else _cheap_net_raw_guess()
    notes: list[str] = []
    concurrency, fd_note = fit_concurrency(spec.concurrency)
    if fd_note:
        notes.append(fd_note)
    runner = _Runner(spec, net_raw=net_raw, notes=notes, concurrency=concurrency)
    results: list[dict[str, Any] | None] = [None] * len(spec.targets)
    live: set[asyncio.Task[None]] = set()
    deadline_hit = False
    try:
        await runner.open()
        # the deadline counts from the start of the run, set-up included
        remaining = max(0.0, spec.deadline_s - (time.monotonic() - started))
        try:
            await asyncio.wait_for(runner.run_all(results, live), remaining)
        except TimeoutError:
            deadline_hit = True
            for task in list(live):
                task.cancel()
            await asyncio.gather(*live, return_exceptions=True)
    finally:
        runner.close()
    for i, target in enumerate(spec.targets):
        if results[i] is None:
            deadline_hit = True
            results[i] = _result(
                target,
                Outcome(
                    ProbeState.ERROR,
                    "deadline",
                    0,
                    detail=f"overall deadline of {spec.deadline_s:g}s passed before this probe finished",
                ),
                target.method.value,
            )
    for note in runner.extra_notes():
        if note not in notes:
            notes.append(note)
    return {
        "kind": RESULT_KIND,
        "version": SCHEMA_VERSION,
        "spec_id": spec.id,
        "agent": {
            "hostname": socket.gethostname(),
            "uid": os.getuid(),
            "pid": os.getpid(),
            "net_raw": runner.net_raw,
            "version": __version__,
        },
        "started_at": started_wall.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "duration_s": round(time.monotonic() - started, 3),
        "deadline_hit": deadline_hit,
        "notes": notes,
        "results": results,
    }


FD_SLACK = 32  # besides the probes' sockets: resolver threads, raw sockets, pipes


def fit_concurrency(concurrency: int) -> tuple[int, str | None]:
    """The concurrency this process can hold open at once, and a note when it is lower.

    Each probe in flight holds a socket. The soft fd limit is first lifted toward the
    hard one; if even that is too low (a container runtime's small ``nofile``), the
    batch runs with fewer probes in flight rather than failing probes with EMFILE.
    """
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, ValueError, OSError):
        return concurrency, None
    try:
        open_now = len(os.listdir("/proc/self/fd"))
    except OSError:
        open_now = 16
    want = concurrency + open_now + FD_SLACK
    if soft != resource.RLIM_INFINITY and soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
            soft = new
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY or soft >= want:
        return concurrency, None
    fitted = max(1, soft - open_now - FD_SLACK)
    return fitted, (
        f"concurrency lowered from {concurrency} to {fitted}: the open-file limit (RLIMIT_NOFILE) is {soft}"
    )


def _cheap_net_raw_guess() -> bool:
    """Without SYN probes NET_RAW does not matter; report it without importing scapy."""
    try:
        socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW).close()
        return True
    except OSError:
        return False


class _Runner:
    def __init__(self, spec: Spec, *, net_raw: bool, notes: list[str], concurrency: int | None = None) -> None:
        self.spec = spec
        self.net_raw = net_raw
        self.notes = notes
        self.sem = asyncio.Semaphore(concurrency or spec.concurrency)
        self.bucket = TokenBucket(spec.rate_per_s)
        self.syn_batch: SynBatch | None = None
        self._sctp_note = False
        self._used_ipv6_fallback = False

    async def open(self) -> None:
        if not any(t.method == Method.SYN for t in self.spec.targets):
            return
        if not self.net_raw:
            self.notes.append(NOTE_SYN_NO_RAW)
            return
        from probe.methods.syn import SynBatch

        try:
            self.syn_batch = SynBatch()
        except (OSError, ImportError) as exc:  # ImportError: an image without scapy
            self.net_raw = False
            self.notes.append(f"raw probing unavailable ({type(exc).__name__}: {exc}); syn probes used connect instead")

    def close(self) -> None:
        if self.syn_batch is not None:
            self.syn_batch.close()

    def extra_notes(self) -> list[str]:
        out = []
        if self._used_ipv6_fallback:
            out.append(NOTE_SYN_IPV6)
        if self._sctp_note:
            from probe.methods.sctp import UNSUPPORTED_NOTE

            out.append(UNSUPPORTED_NOTE)
        return out

    async def run_all(self, results: list[dict[str, Any] | None], live: set[asyncio.Task[None]]) -> None:
        """Start probes in spec order, at most ``concurrency`` at once, at most ``rate`` a second.

        Tasks are created only when the semaphore admits them, so a spec of a million
        targets holds ``concurrency`` tasks, not a million.
        """
        for i, target in enumerate(self.spec.targets):
            await self.sem.acquire()
            try:
                await self.bucket.acquire()
            except BaseException:
                self.sem.release()
                raise
            task = asyncio.create_task(self.run_one(i, target, results))
            live.add(task)
            task.add_done_callback(live.discard)
            task.add_done_callback(lambda _t: self.sem.release())
        while live:
            await asyncio.gather(*list(live), return_exceptions=True)

    async def run_one(self, i: int, target: Target, results: list[dict[str, Any] | None]) -> None:
        method_used = target.method.value
        try:
            outcome = await self._dispatch(target)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug must cost one probe, not the batch
            outcome = Outcome(ProbeState.ERROR, type(exc).__name__, 0, detail=str(exc)[:500])
        if outcome.method_used:
            method_used = outcome.method_used
        if outcome.evidence == "sctp-unsupported":
            self._sctp_note = True
        results[i] = _result(target, outcome, method_used)

    async def _dispatch(self, t: Target) -> Outcome:
        if t.method == Method.CONNECT:
            from probe.methods.connect import probe_connect

            return await probe_connect(t.address, t.port, timeout_s=t.timeout_s, retries=t.retries)
        if t.method == Method.UDP:
            from probe.methods.udp import probe_udp

            return await probe_udp(t.address, t.port, timeout_s=t.timeout_s, retries=t.retries)
        if t.method == Method.SCTP:
            from probe.methods.sctp import probe_sctp

            return await probe_sctp(t.address, t.port, timeout_s=t.timeout_s, retries=t.retries)
        # SYN
        from probe.methods.connect import probe_connect

        address = t.address
        if self.syn_batch is not None:
            ipv4 = _as_ipv4(address)
            if ipv4 is None:
                ipv4 = await _resolve_ipv4(address)
            if ipv4 is not None:
                return await self.syn_batch.probe(ipv4, t.port, timeout_s=t.timeout_s, retries=t.retries)
            self._used_ipv6_fallback = True
        outcome = await probe_connect(address, t.port, timeout_s=t.timeout_s, retries=t.retries)
        return Outcome(
            outcome.state,
            outcome.evidence,
            outcome.attempts,
            outcome.latency_ms,
            outcome.identity,
            outcome.detail,
            method_used=Method.CONNECT.value,
        )


def _as_ipv4(address: str) -> str | None:
    try:
        socket.inet_pton(socket.AF_INET, address)
        return address
    except OSError:
        return None


async def _resolve_ipv4(address: str) -> str | None:
    if ":" in address:
        return None
    try:
        from probe.methods.common import getaddrinfo

        infos = await getaddrinfo(address, None, family=socket.AF_INET)
    except OSError:
        return None
    return infos[0][4][0] if infos else None


def _result(target: Target, outcome: Outcome, method_used: str) -> dict[str, Any]:
    return {
        "id": target.id,
        "address": target.address,
        "port": target.port,
        "protocol": target.protocol.value,
        "method": target.method.value,
        "method_used": method_used,
        "state": outcome.state.value,
        "evidence": outcome.evidence,
        "identity": outcome.identity,
        "attempts": outcome.attempts,
        "latency_ms": outcome.latency_ms,
        "detail": outcome.detail,
    }
