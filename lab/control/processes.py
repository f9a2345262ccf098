"""Processes of a lab on the client side: is its daemon alive, and the companion processes.

A pid alone is never trusted (pids get reused): the daemon is recognised by its command
line naming this state directory, a companion by the kernel start time recorded when it
was started. Companions (a webhook server, say) are started detached in their own
session and stopped with it, by ``lab down`` too, also after the daemon died.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from lab import config
from lab.config import Companion, LabPaths
from lab.control.client import EXIT_USAGE, LabError, resolve

COMPANION_STOP_TIMEOUT = 10.0  # seconds between SIGTERM and SIGKILL for a companion process

Progress = Callable[[str], None]


def alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                return False
    except (OSError, IndexError):
        return False
    return True


def is_our_daemon(pid: int | None, paths: LabPaths) -> bool:
    """The pid is alive and is the daemon of this state dir (guards against pid reuse)."""
    if not alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"lab.daemon" in cmdline and str(paths.root).encode() in cmdline


def log_tail(paths: LabPaths, lines: int = 25) -> str:
    try:
        text = paths.log.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(text[-lines:])


def start_time(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _is_companion(c: Companion) -> bool:
    """The recorded process is still the one we started: pid plus kernel start time name a
    process uniquely (a reused pid has a later start time). The command line is not
    compared: a companion may legitimately exec another program (``sh -c 'exec ...'``)."""
    return alive(c.pid) and start_time(c.pid) == c.start_time


def start_companion(
    state_dir: Path | str | None, name: str, argv: list[str], *, env: dict[str, str] | None = None
) -> Companion:
    """Start ``argv`` detached (own session, stdout+stderr to ``NAME.log`` in the state dir)
    and record it, so that ``down`` stops it. The lab must exist (``up`` created the dir)."""
    paths = resolve(state_dir)
    if config.read_json(paths.instance) is None:
        raise LabError(f"no lab in {paths.root}: start companions after `up`", EXIT_USAGE)
    if not name.replace("-", "").isalnum() or any(c.name == name for c in config.read_companions(paths)):
        raise LabError(f"companion name {name!r} must be unique and made of letters, digits and '-'", EXIT_USAGE)
    log = paths.companion_log(name)
    with open(log, "ab") as logf:
        os.chmod(log, 0o600)
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=logf,
                start_new_session=True,
                close_fds=True,
                env=env,
            )
        except OSError as exc:
            raise LabError(f"cannot start companion {name} ({argv[0]}): {exc.strerror or exc}") from exc
    start = start_time(proc.pid)
    if start is None or proc.poll() is not None:
        code = proc.wait()
        raise LabError(f"companion {name} exited at once (status {code}); see {log}")
    companion = Companion(name, proc.pid, start, tuple(argv), str(log))
    # read-modify-write: one `up` owns the state dir, no concurrent writers
    config.write_companions(paths, [*config.read_companions(paths), companion])
    return companion


def companion_log_tail(c: Companion, lines: int = 25) -> str:
    try:
        return "\n".join(Path(c.log).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def companion_running(c: Companion) -> bool:
    return _is_companion(c)


def stop_companions(state_dir: Path | str | LabPaths | None, *, progress: Progress = lambda s: None) -> int:
    """SIGTERM each recorded companion that is still ours (its whole session), then SIGKILL
    after :data:`COMPANION_STOP_TIMEOUT`; forget them. Returns how many were running."""
    paths = state_dir if isinstance(state_dir, LabPaths) else resolve(state_dir)
    running = [c for c in config.read_companions(paths) if _is_companion(c)]
    for c in running:
        progress(f"stopping {c.name} (pid {c.pid})")
        _signal_session(c.pid, signal.SIGTERM)
    deadline = time.monotonic() + COMPANION_STOP_TIMEOUT
    while any(_is_companion(c) for c in running) and time.monotonic() < deadline:
        time.sleep(0.05)
    for c in running:
        if _is_companion(c):
            progress(f"{c.name} did not stop within {COMPANION_STOP_TIMEOUT:.0f}s; killing it")
            _signal_session(c.pid, signal.SIGKILL)
            while _is_companion(c):
                time.sleep(0.05)
    with contextlib.suppress(FileNotFoundError):
        paths.companions.unlink()
    return len(running)


def _signal_session(pid: int, sig: int) -> None:
    """Signal the process group the companion leads (it was started in a new session, so
    its group id is its pid), so children it spawned go too; else the process alone."""
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
