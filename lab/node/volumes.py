"""Pod volumes on the lab node: downwardAPI projections, mounted into a container's view.

The lab runs containers as processes on the host's filesystem, so a volume cannot be
part of an image: a ``downwardAPI`` volume's files are written under the lab's state
directory (``volumes/<namespace>/<pod>/<volume>/``) when the pod starts, and each
container that mounts it sees that directory at its ``mountPath``, bound there in the
container's private mount namespace (nothing on the host changes). A ``mountPath``
that does not exist on the host is made inside that namespace only: the deepest
existing ancestor gets a throw-away overlay (its upper layer on a tmpfs) in which the
missing directories are created. The root directory is never overlaid (its submounts
would vanish from the view): a mountPath directly below ``/`` that does not exist is a
start error.

Files follow the kubelet: ``metadata.annotations['key']`` is the value as it is,
``metadata.annotations`` (or ``labels``) is one ``key="value"`` line per entry, sorted,
with the value quoted as Go's ``strconv.Quote`` does; ``defaultMode`` (0644 when unset)
or the item's ``mode`` is the file mode. Unlike the kubelet, the lab does not rewrite
the files when the pod's labels or annotations change later. ``emptyDir`` volumes need
nothing (the container's process writes where it likes).
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_MODE = 0o644
_KEYED = re.compile(r"^metadata\.(labels|annotations)\['([^']+)'\]$")


@dataclass(frozen=True, slots=True)
class Mount:
    """A volume directory on the host (``source``) seen by a container at ``target``."""

    source: Path
    target: str
    read_only: bool = True


def _go_quote(value: str) -> str:
    """Go's ``strconv.Quote`` for the characters annotation values hold (JSON escaping matches it)."""
    return json.dumps(value, ensure_ascii=False)


def field_text(pod: Mapping[str, Any], field_path: str) -> str:
    """The file content of one downward-API ``fieldRef`` (ValueError for one the lab cannot project)."""
    meta = pod.get("metadata") or {}
    simple = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", "default"),
        "metadata.uid": meta.get("uid", ""),
    }
    if field_path in simple:
        return str(simple[field_path])
    if field_path in ("metadata.labels", "metadata.annotations"):
        entries = meta.get(field_path.split(".")[1]) or {}
        return "\n".join(f"{k}={_go_quote(str(v))}" for k, v in sorted(entries.items()))
    m = _KEYED.match(field_path)
    if m:
        return str((meta.get(m.group(1)) or {}).get(m.group(2), ""))
    raise ValueError(f"the lab cannot project field {field_path!r}")


def projected_files(pod: Mapping[str, Any], volume: Mapping[str, Any]) -> dict[str, tuple[bytes, int]]:
    """relative path -> (content, mode) of a ``downwardAPI`` volume."""
    source = volume.get("downwardAPI") or {}
    default_mode = source.get("defaultMode", DEFAULT_MODE)
    out: dict[str, tuple[bytes, int]] = {}
    for item in source.get("items") or ():
        field_path = (item.get("fieldRef") or {}).get("fieldPath", "")
        out[item["path"]] = (field_text(pod, field_path).encode(), int(item.get("mode", default_mode)))
    return out


def write_volumes(root: Path, pod: Mapping[str, Any]) -> dict[str, Path]:
    """Write every downwardAPI volume of ``pod`` under ``root``; volume name -> its directory."""
    dirs: dict[str, Path] = {}
    for volume in (pod.get("spec") or {}).get("volumes") or ():
        if "downwardAPI" not in volume:
            continue
        directory = root / volume["name"]
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o755)
        for rel, (content, mode) in projected_files(pod, volume).items():
            path = directory / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
            path.chmod(mode)
        dirs[volume["name"]] = directory
    return dirs


def container_mounts(container: Mapping[str, Any], volume_dirs: Mapping[str, Path]) -> list[Mount]:
    """The container's ``volumeMounts`` of volumes the lab materialised (emptyDir needs none)."""
    out = []
    for m in container.get("volumeMounts") or ():
        source = volume_dirs.get(m.get("name", ""))
        if source is not None:
            sub = m.get("subPath")
            out.append(Mount(source / sub if sub else source, str(m["mountPath"]), bool(m.get("readOnly", False))))
    return out


def mount_script(mounts: list[Mount], scratch: Path) -> str:
    """Shell commands (root, in the container's private mount namespace) that make the mounts.

    ``scratch`` is a lab-owned empty directory; a tmpfs mounted on it (in that namespace
    only) holds the overlays' upper layers. Raises ValueError for a target the lab cannot
    make (a missing directory directly below ``/``).
    """
    cmds: list[str] = []
    overlaid: set[Path] = set()
    for i, mount in enumerate(mounts):
        target = Path(os.path.normpath(mount.target))
        if not target.is_absolute():
            raise ValueError(f"mountPath {mount.target!r} is not absolute")
        ancestor = target
        while not ancestor.exists():
            ancestor = ancestor.parent
        if ancestor != target:
            if ancestor == Path("/"):
                raise ValueError(f"the lab cannot create mountPath {mount.target!r} directly below /")
            if ancestor not in overlaid:
                if not overlaid:
                    cmds.append(f"mount -t tmpfs -o mode=0700 krl-volumes {shlex.quote(str(scratch))}")
                layer = scratch / str(i)
                upper, work = shlex.quote(str(layer / "upper")), shlex.quote(str(layer / "work"))
                cmds.append(f"mkdir -p {upper} {work}")
                a = shlex.quote(str(ancestor))
                cmds.append(f"mount -t overlay krl-volume -o lowerdir={a},upperdir={upper},workdir={work} {a}")
                overlaid.add(ancestor)
            cmds.append(f"mkdir -p {shlex.quote(str(target))}")
        src, dst = shlex.quote(str(mount.source)), shlex.quote(str(target))
        cmds.append(f"mount --bind {src} {dst}")
        if mount.read_only:
            cmds.append(f"mount -o remount,bind,ro {dst}")
    return " && ".join(cmds)
