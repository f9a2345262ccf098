"""Kernel plumbing for the lab node: entering network namespaces and running ``ip``.

Python 3.11 has no ``os.setns``, so :func:`setns` calls libc through ctypes. Only the
calling *thread* changes namespace; :func:`in_netns` is meant for worker threads (never
the event loop thread) and always switches back, so the daemon's own network view never
changes. Children forked from a thread inherit that thread's namespace, which is how the
lab starts container processes inside a pod without ``ip netns exec``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

NETNS_DIR = Path("/run/netns")
CLONE_NEWNET = 0x40000000

_libc = ctypes.CDLL(None, use_errno=True)
_home = threading.local()


class NetnsError(RuntimeError):
    """A kernel operation on a lab namespace failed (the message names the command)."""


def setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def netns_path(name: str) -> Path:
    return NETNS_DIR / name


@contextlib.contextmanager
def in_netns(name: str) -> Iterator[None]:
    """Run the body with the *current thread* inside network namespace ``name``."""
    if threading.current_thread() is threading.main_thread():
        raise RuntimeError("in_netns must not be used on the main thread")
    home = getattr(_home, "fd", None)
    if home is None:
        home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        _home.fd = home
    target = os.open(netns_path(name), os.O_RDONLY | os.O_CLOEXEC)
    try:
        setns(target)
        try:
            yield
        finally:
            setns(home)
    finally:
        os.close(target)


def write_sysctl(key: str, value: str) -> None:
    """Write a sysctl in the current thread's network namespace (``net.ipv4.ip_forward``)."""
    path = Path("/proc/sys") / key.replace(".", "/")
    path.write_text(value)


async def run(argv: Sequence[str], *, stdin: str | None = None, check: bool = True) -> str:
    """Run a command without a shell; raise :class:`NetnsError` naming it when it fails."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate(stdin.encode() if stdin is not None else None)
    if check and proc.returncode != 0:
        first = stdin.splitlines()[:3] if stdin else []
        raise NetnsError(
            f"{' '.join(argv)} failed ({proc.returncode}): {err.decode(errors='replace').strip()}"
            + (f" [input starts {first}]" if first else "")
        )
    return out.decode(errors="replace")


async def ip_batch(lines: Sequence[str], *, netns: str | None = None, force: bool = False) -> None:
    """Run many ``ip`` commands in one process (``ip -batch``), optionally in ``netns``."""
    if not lines:
        return
    argv = ["ip"] + (["-n", netns] if netns else []) + (["-force"] if force else []) + ["-batch", "-"]
    await run(argv, stdin="\n".join(lines) + "\n", check=not force)


def in_ns_argv(netns: str, argv: Sequence[str]) -> list[str]:
    """``argv`` run inside ``netns`` (nsenter: no mount namespace games, one exec)."""
    return ["nsenter", f"--net={netns_path(netns)}", "--", *argv]


def list_netns(prefix: str) -> list[str]:
    try:
        return sorted(n for n in os.listdir(NETNS_DIR) if n.startswith(prefix))
    except FileNotFoundError:
        return []


def pids_in_netns(name: str) -> list[int]:
    """Processes whose network namespace is ``name`` (what ``ip netns pids`` does).

    Identifies processes by the namespace they live in, never by name, so only what
    runs inside the lab's own namespaces is ever found.
    """
    try:
        st = os.stat(netns_path(name))
    except FileNotFoundError:
        return []
    me = os.getpid()
    found: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            ns = os.stat(f"/proc/{entry}/ns/net")
        except OSError:
            continue
        if ns.st_ino == st.st_ino and ns.st_dev == st.st_dev:
            found.append(int(entry))
    return found
