"""Print the part of requirements/lock.txt that some root packages need, hashes included.

The agent image installs from the project's one lock file, but only what its jobs
import (the probe agent, the init container, the webhook), not the operator side's
pandas, numpy and kubernetes client. pip-compile annotates every pin with ``# via``
(who needs it); this walks those annotations from the roots to the closure and prints
the pins with their hashes, for ``pip install --require-hashes --no-deps -r``.

    python agent-image/lock_subset.py requirements/lock.txt scapy aiohttp click pyyaml cryptography

Standard library only: it runs in the image's build stage before anything is installed.
"""

from __future__ import annotations

import re
import sys

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==")


def canonical(name: str) -> str:
    """PEP 503 normalisation: ``PyYAML`` and ``pyyaml``, ``typing_extensions`` and ``typing-extensions``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_lock(text: str) -> dict[str, tuple[list[str], set[str]]]:
    """name -> (the pin's lines, the names it is needed via)."""
    entries: dict[str, tuple[list[str], set[str]]] = {}
    current: str | None = None
    in_via = False
    for line in text.splitlines():
        m = _PIN.match(line)
        if m:
            current = canonical(m.group(1))
            entries[current] = ([line], set())
            in_via = False
            continue
        if current is None:
            continue
        stripped = line.strip()
        if stripped.startswith("--hash=") or (line.startswith("    ") and stripped.startswith("--")):
            entries[current][0].append(line)
        elif stripped.startswith("# via"):
            in_via = True
            rest = stripped[len("# via") :].strip()
            if rest:
                entries[current][1].add(canonical(rest.split()[0]))
        elif in_via and stripped.startswith("#   "):
            entries[current][1].add(canonical(stripped[1:].strip().split()[0]))
        elif not stripped:
            current, in_via = None, False
    return entries


def closure(entries: dict[str, tuple[list[str], set[str]]], roots: list[str]) -> list[str]:
    """The roots and everything they need, in lock order; KeyError for a root not locked."""
    wanted = {canonical(r) for r in roots}
    missing = sorted(wanted - set(entries))
    if missing:
        raise KeyError(f"not in the lock file: {', '.join(missing)}")
    changed = True
    while changed:
        changed = False
        for name, (_, via) in entries.items():
            if name not in wanted and via & wanted:
                wanted.add(name)
                changed = True
    return [name for name in entries if name in wanted]


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as fh:
        entries = parse_lock(fh.read())
    try:
        names = closure(entries, argv[2:])
    except KeyError as exc:
        print(f"lock_subset: {exc.args[0]}", file=sys.stderr)
        return 2
    for name in names:
        print("\n".join(entries[name][0]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
