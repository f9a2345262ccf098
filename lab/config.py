"""Where a lab keeps its state, and how it names things.

One lab instance = one state directory. ``lab up`` creates it (mode 0700) and records
the instance there; ``lab down`` removes it. Everything the lab creates in the kernel
carries :data:`PREFIX` plus the instance id, so cleanup can find it from the id alone.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PREFIX = "krl"  # names of kernel objects: krl<instance>...
DEFAULT_STATE_DIR = "/var/lib/kubereach-lab"
STATE_DIR_ENV = "KUBEREACH_LAB_DIR"
INSTANCE_ID_LENGTH = 6  # hex chars; short because interface names max out at 15


def default_state_dir() -> Path:
    """$KUBEREACH_LAB_DIR, else /var/lib/kubereach-lab (the lab needs root anyway)."""
    return Path(os.environ.get(STATE_DIR_ENV) or DEFAULT_STATE_DIR)


def new_instance_id() -> str:
    return secrets.token_hex(INSTANCE_ID_LENGTH // 2)


def new_token() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class LabPaths:
    """The files of one lab instance inside its state directory."""

    root: Path

    @property
    def instance(self) -> Path:  # written by `up` before the daemon starts
        return self.root / "instance.json"

    @property
    def daemon(self) -> Path:  # written by the daemon once the API listens
        return self.root / "daemon.json"

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def log(self) -> Path:
        return self.root / "daemon.log"

    @property
    def ca_cert(self) -> Path:
        return self.root / "ca.crt"

    @property
    def server_cert(self) -> Path:
        return self.root / "server.crt"

    @property
    def server_key(self) -> Path:
        return self.root / "server.key"

    @property
    def node_dir(self) -> Path:  # handed to the node runtime as its state_dir
        return self.root / "node"

    @property
    def companions(self) -> Path:  # processes started next to the daemon (see Companion)
        return self.root / "companions.json"

    def companion_log(self, name: str) -> Path:
        return self.root / f"{name}.log"


@dataclass(frozen=True, slots=True)
class Companion:
    """A process a client started alongside the lab (a webhook server, say), owned by it.

    ``lab down`` stops every companion, also after the daemon died. The pid alone is
    not trusted (pids get reused): a companion is only signalled while its kernel start
    time is still the recorded one. The command line is kept for people reading the
    record (``lab status -o json`` shows the log; the record shows what ran).
    """

    name: str
    pid: int
    start_time: int  # field 22 of /proc/PID/stat: clock ticks after boot
    cmdline: tuple[str, ...]
    log: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "pid": self.pid,
            "startTime": self.start_time,
            "cmdline": list(self.cmdline),
            "log": self.log,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Companion:
        return cls(
            str(data["name"]),
            int(data["pid"]),
            int(data["startTime"]),
            tuple(str(a) for a in data.get("cmdline", [])),
            str(data.get("log", "")),
        )


def read_companions(paths: LabPaths) -> list[Companion]:
    data = read_json(paths.companions) or {}
    out = []
    for item in data.get("companions", []):
        try:
            out.append(Companion.from_dict(item))
        except (KeyError, TypeError, ValueError):
            continue  # a damaged record: nothing we could safely signal
    return out


def write_companions(paths: LabPaths, companions: list[Companion]) -> None:
    write_json(paths.companions, {"companions": [c.to_dict() for c in companions]})


MAX_NODES = 16  # each node owns a /20 of the pod CIDR 10.244.0.0/16


@dataclass(frozen=True, slots=True)
class InstanceConfig:
    """What `up` decided for this instance; the daemon reads it at start."""

    instance_id: str
    token: str
    cni: str = "enforce"
    nodes: int = 1
    missing_images: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "instanceId": self.instance_id,
            "token": self.token,
            "cni": self.cni,
            "nodes": self.nodes,
            "missingImages": list(self.missing_images),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InstanceConfig:
        return cls(
            str(data["instanceId"]),
            str(data["token"]),
            str(data.get("cni", "enforce")),
            int(data.get("nodes", 1)),
            tuple(str(r) for r in data.get("missingImages") or ()),
        )


def write_private(path: Path, data: bytes | str, *, mode: int = 0o600) -> None:
    """Write a file atomically, readable only by its owner (tokens, keys, kubeconfig)."""
    raw = data.encode() if isinstance(data, str) else data
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, raw)
    finally:
        os.close(fd)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def write_json(path: Path, data: dict[str, Any]) -> None:
    write_private(path, json.dumps(data, indent=2) + "\n")


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text())  # what write_json wrote
        return data
    except (FileNotFoundError, ValueError):
        return None
