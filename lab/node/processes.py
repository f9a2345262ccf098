"""Container processes: started inside a pod's namespace as the container's UID.

The process is forked from a worker thread that has entered the pod's network
namespace (a child inherits its parent thread's namespace), and :func:`wrap` drops it
to the container's UID/GID with no supplementary groups beyond the pod's, so a non-root
container has no capabilities, like a restricted container in a real cluster; UID 0 is
root in the pod, bounded by the container's capabilities (the intra-pod iptables init
container adds NET_ADMIN). Each process
leads its own process group so everything it spawns is killed with it. Exits are
noticed through a pidfd on the event loop: no thread per process.

What a non-root container runs (the agent: the lab's Python, its standard library, the
virtual environment and the ``probe`` package of this checkout) may live below
directories other users cannot enter: ``/root`` (pyenv, or a checkout in root's home),
a ``mktemp -d`` folder (mode 0700). A non-root container then gets what a container
image gives it anyway: a view of the filesystem where its program is reachable. It runs
in a private mount namespace (``unshare --mount``, propagation private, so nothing
reaches the host's mount table) where, for each blocked directory on those paths from
the top down, a lab-owned world-traversable stand-in holding only the entries on the
paths is bound over it; then ``setpriv`` drops to the UID. Nothing else of the blocked
directories is visible, and nothing on the host changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab.node.netns import in_netns

VENV_BIN = Path(sys.executable).parent
BASE_PATH = f"{VENV_BIN}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True, slots=True)
class ViewStep:
    """``blocked`` (e.g. /root, mode 0700) is covered by ``stand_in`` (0755), which shows
    only ``entries`` of it (e.g. ``.pyenv`` and ``src``), each bound from the original."""

    blocked: Path
    stand_in: Path
    entries: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MountView:
    """Every blocked directory on the paths a non-root container needs, top-down."""

    steps: tuple[ViewStep, ...]

    def script(self) -> str:
        """Shell commands (run as root in the container's mount namespace) that set it up,
        top-down: each blocked directory is covered by its stand-in, whose entries are
        bound from the original, so a deeper blocked directory is reached through the
        views above it. The stand-ins live outside every blocked directory
        (:func:`view_dir`), so covering one never hides another's stand-in."""
        cmds = []
        for step in self.steps:
            for entry in step.entries:
                cmds.append(
                    f"mount --bind {shlex.quote(str(step.blocked / entry))} {shlex.quote(str(step.stand_in / entry))}"
                )
            cmds.append(f"mount --rbind {shlex.quote(str(step.stand_in))} {shlex.quote(str(step.blocked))}")
        return " && ".join(cmds)


# Where a lab instance keeps the stand-ins of its mount views: a runtime directory that is
# not below any directory a view covers (a state directory may be: a test's 0700 tmp dir
# holding both the lab's state and the checkout). Removed with the instance.
VIEW_ROOT = Path("/run/kubereach-lab")


def view_dir(instance_id: str) -> Path:
    return VIEW_ROOT / instance_id


def remove_view_dir(instance_id: str) -> None:
    """Remove an instance's stand-ins (nothing is mounted on them outside containers'
    private mount namespaces), and the shared root when no instance is left."""
    shutil.rmtree(view_dir(instance_id), ignore_errors=True)
    with contextlib.suppress(OSError):
        VIEW_ROOT.rmdir()


def agent_paths() -> list[Path]:
    """What ``kubereach-probe`` needs to run: the interpreter, its standard library, the
    virtual environment, and the ``probe`` package (an editable install points into the
    checkout). Found without importing anything."""
    import importlib.util

    paths = [Path(os.path.realpath(sys.executable)).parent, Path(sys.base_prefix), Path(sys.prefix)]
    spec = importlib.util.find_spec("probe")
    if spec is not None and spec.origin:
        paths.append(Path(spec.origin).parent)
    return paths


def _traversable(path: Path) -> bool:
    return bool(os.stat(path).st_mode & 0o001)


def mount_view_for(stand_in_root: Path, paths: Sequence[Path] | None = None) -> MountView | None:
    """The view that lets non-root UIDs reach ``paths`` (default: :func:`agent_paths`), or
    None if they already can. Creates the stand-in directories under ``stand_in_root``
    (which must not be below a directory the view covers: :func:`view_dir`).

    Every ancestor of each path that others cannot traverse becomes a step; its stand-in
    holds exactly the entries below it that lead to the paths. A path that is itself
    unreadable to others is beyond a view's reach (its contents would need copying).
    """
    needed: dict[Path, set[str]] = {}
    for raw in agent_paths() if paths is None else paths:
        real = Path(os.path.realpath(raw))
        parts = real.parts
        for depth in range(1, len(parts)):
            ancestor = Path(*parts[:depth])
            if not _traversable(ancestor):
                needed.setdefault(ancestor, set()).add(parts[depth])
    if not needed:
        return None
    root = stand_in_root
    steps = []
    for i, blocked in enumerate(sorted(needed, key=lambda d: (len(d.parts), str(d)))):
        stand_in = root / str(i)
        stand_in.mkdir(parents=True, exist_ok=True)
        for entry in sorted(needed[blocked]):
            target = stand_in / entry
            if (blocked / entry).is_dir():
                target.mkdir(exist_ok=True)
                target.chmod(0o755)
            else:
                target.touch(exist_ok=True)
        stand_in.chmod(0o755)
        steps.append(ViewStep(blocked, stand_in, tuple(sorted(needed[blocked]))))
    return MountView(tuple(steps))


# What a container runtime grants a root container by default (containerd/Docker).
DEFAULT_CAPABILITIES = frozenset(
    {
        "CHOWN",
        "DAC_OVERRIDE",
        "FSETID",
        "FOWNER",
        "MKNOD",
        "NET_RAW",
        "SETGID",
        "SETUID",
        "SETFCAP",
        "SETPCAP",
        "NET_BIND_SERVICE",
        "SYS_CHROOT",
        "KILL",
        "AUDIT_WRITE",
    }
)


@dataclass(frozen=True, slots=True)
class ProcessSpec:
    """What to run, e.g. ``ProcessSpec(("kubereach-probe", "run"), {...}, uid=1000, gid=1000)``.

    ``capabilities`` bounds a root container (None: unbounded, a privileged container);
    a non-root container has none whatever it asks for, as in a real cluster without
    ambient capabilities. ``setup`` is shell run as root in the container's private
    mount namespace before it starts (its volume mounts, :mod:`lab.node.volumes`).
    """

    argv: tuple[str, ...]
    env: Mapping[str, str]
    uid: int
    gid: int
    groups: tuple[int, ...] = ()
    hostname: str = ""
    capabilities: frozenset[str] | None = DEFAULT_CAPABILITIES
    no_new_privs: bool = False
    setup: str = ""


# Every capability Linux knows (capability(7)); a container naming another fails to start.
KNOWN_CAPABILITIES = frozenset(
    {
        "CHOWN",
        "DAC_OVERRIDE",
        "DAC_READ_SEARCH",
        "FOWNER",
        "FSETID",
        "KILL",
        "SETGID",
        "SETUID",
        "SETPCAP",
        "LINUX_IMMUTABLE",
        "NET_BIND_SERVICE",
        "NET_BROADCAST",
        "NET_ADMIN",
        "NET_RAW",
        "IPC_LOCK",
        "IPC_OWNER",
        "SYS_MODULE",
        "SYS_RAWIO",
        "SYS_CHROOT",
        "SYS_PTRACE",
        "SYS_PACCT",
        "SYS_ADMIN",
        "SYS_BOOT",
        "SYS_NICE",
        "SYS_RESOURCE",
        "SYS_TIME",
        "SYS_TTY_CONFIG",
        "MKNOD",
        "LEASE",
        "AUDIT_WRITE",
        "AUDIT_CONTROL",
        "SETFCAP",
        "MAC_OVERRIDE",
        "MAC_ADMIN",
        "SYSLOG",
        "WAKE_ALARM",
        "BLOCK_SUSPEND",
        "AUDIT_READ",
        "PERFMON",
        "BPF",
        "CHECKPOINT_RESTORE",
    }
)


def container_capabilities(security_context: Mapping[str, Any] | None) -> frozenset[str] | None:
    """Default set, minus ``drop``, plus ``add`` (``ALL`` works both ways); None if privileged.

    Raises ValueError naming a capability Linux does not have.
    """
    sc = security_context or {}
    if sc.get("privileged"):
        return None
    caps = sc.get("capabilities") or {}
    drop = {str(c).upper().removeprefix("CAP_") for c in caps.get("drop") or []}
    add = {str(c).upper().removeprefix("CAP_") for c in caps.get("add") or []}
    unknown = sorted((drop | add) - KNOWN_CAPABILITIES - {"ALL"})
    if unknown:
        raise ValueError(f"unknown capabilities {unknown} in securityContext.capabilities")
    if "ALL" in add:
        return None
    base = set() if "ALL" in drop else set(DEFAULT_CAPABILITIES) - drop
    return frozenset(base | add)


def wrap(argv: list[str], spec: ProcessSpec, view: MountView | None) -> list[str]:
    """The command line that sets up the container's view, then becomes the container.

    ``unshare`` gives the process its own UTS namespace (hostname = pod name) and a
    private mount namespace (for :class:`MountView`); ``setpriv`` drops to the UID/GID
    and bounds the capabilities; then the container's program is exec'd.
    """
    drop = ["setpriv"]
    if spec.uid != 0 or spec.gid != 0:
        drop += [f"--reuid={spec.uid}", f"--regid={spec.gid}"]
    drop.append(f"--groups={','.join(map(str, spec.groups))}" if spec.groups else "--clear-groups")
    if spec.uid == 0 and spec.capabilities is not None:
        drop.append("--bounding-set=" + ",".join(["-all", *(f"+{c.lower()}" for c in sorted(spec.capabilities))]))
    if spec.no_new_privs:
        drop.append("--no-new-privs")
    drop.append("--")
    use_view = view is not None and spec.uid != 0
    script = 'hostname "$1" && ' + (f"{view.script()} && " if use_view and view is not None else "")
    script += f"{spec.setup} && " if spec.setup else ""
    script += 'shift && exec "$@"'
    return [
        "unshare",
        "--mount",
        "--uts",
        "--propagation",
        "private",
        "--",
        "sh",
        "-c",
        script,
        "krl-lab",
        spec.hostname or "pod",
        *drop,
        *argv,
    ]


def resolve_program(argv: Sequence[str], path: str = BASE_PATH) -> list[str]:
    """``kubereach-probe`` (and any program installed beside the lab's Python) to its path.

    Raises FileNotFoundError for a program that is not there, so the container fails
    with a start error instead of an opaque exit code from the wrapper.
    """
    if not argv:
        raise ValueError("container has no command to run")
    first = argv[0]
    if "/" not in first and (VENV_BIN / first).exists():
        return [str(VENV_BIN / first), *argv[1:]]
    found = first if "/" in first else shutil.which(first, path=path)
    if not found or not os.access(found, os.X_OK) or os.path.isdir(found):
        raise FileNotFoundError(f"executable file not found: {first}")
    return [found, *argv[1:]]


def spawn_in_netns(
    netns: str, spec: ProcessSpec, log_path: Path, view: MountView | None = None
) -> subprocess.Popen[bytes]:
    """Start the process (call on a worker thread); stdout and stderr append to ``log_path``."""
    argv = wrap(resolve_program(spec.argv, spec.env.get("PATH", BASE_PATH)), spec, view)
    with open(log_path, "ab", buffering=0) as logf, in_netns(netns):
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=logf,
            stderr=subprocess.STDOUT,
            env=dict(spec.env),
            cwd="/",
            close_fds=True,
            start_new_session=True,
        )


def exit_code(returncode: int) -> int:
    """Kubernetes reports death by signal N as 128+N (137 for SIGKILL)."""
    return 128 - returncode if returncode < 0 else returncode


async def wait_exit(proc: subprocess.Popen[bytes]) -> int:
    """Wait for the process without blocking the loop or holding a thread.

    When the container's main process exits, whatever it left running in its process
    group is killed too (a runtime kills the container's cgroup): the group is signalled
    while the leader is still an unreaped zombie, so its id cannot have been reused.
    """
    if proc.poll() is not None:
        return exit_code(proc.returncode)
    loop = asyncio.get_running_loop()
    try:
        fd = os.pidfd_open(proc.pid)
    except ProcessLookupError:
        return exit_code(proc.wait())
    done: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        if not done.done():
            done.set_result(None)

    loop.add_reader(fd, readable)
    try:
        await done
    finally:
        loop.remove_reader(fd)
        os.close(fd)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    return exit_code(proc.wait())


def kill_group(proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    """Signal the container's whole process group (it leads its own session)."""
    if proc.poll() is not None:
        # Reaped leader: its pid may be reused; stragglers are found by namespace instead.
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)
