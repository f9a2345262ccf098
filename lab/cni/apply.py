"""Load a compiled :class:`~lab.cni.compile.RuleSet` into a network namespace, atomically.

Order matters so that no packet ever sees a half-loaded state:

1. ``ipset restore`` creates the sets the new rules need. Sets are named after their
   content, so a set that already exists already holds the right members and is left
   alone.
2. ``iptables-restore`` replaces the whole ``filter`` table of the namespace in one
   transaction (the namespace belongs to the lab, so no one else's rules live there).
3. Sets no rule refers to any more are destroyed.
"""

from __future__ import annotations

import logging
from collections.abc import Set as AbstractSet

from lab.cni.compile import SET_PREFIX, RuleSet
from lab.node.netns import NetnsError, in_ns_argv, run

log = logging.getLogger(__name__)

_XTABLES_WAIT = ["-w", "10"]  # the xtables lock is host-wide; other namespaces may hold it briefly

SCTP_PROBE = "*filter\n:KRL-SCTP-PROBE - [0:0]\n-A KRL-SCTP-PROBE -p sctp -m sctp --dport 1 -j RETURN\nCOMMIT\n"


async def sctp_supported(netns: str) -> bool:
    """Whether ``-p sctp`` rules load here (the xt_sctp match may be missing)."""
    try:
        await run(in_ns_argv(netns, ["iptables-restore", *_XTABLES_WAIT, "--test"]), stdin=SCTP_PROBE)
        return True
    except NetnsError as exc:
        log.warning("SCTP NetworkPolicy rules disabled: %s", exc)
        return False


async def existing_sets(netns: str) -> set[str]:
    out = await run(in_ns_argv(netns, ["ipset", "list", "-n"]))
    return {line.strip() for line in out.splitlines() if line.strip()}


async def apply_ruleset(ruleset: RuleSet, netns: str) -> None:
    before = await existing_sets(netns)
    created = ruleset.set_names - before
    text = ruleset.ipset_restore(skip=before)
    try:
        if text:
            await run(in_ns_argv(netns, ["ipset", "restore", "-exist"]), stdin=text)
        await run(in_ns_argv(netns, ["iptables-restore", *_XTABLES_WAIT]), stdin=ruleset.iptables_restore())
    except NetnsError:
        # Leave the previous, consistent state in force; drop what this attempt created.
        await _destroy(netns, created)
        raise
    stale = {s for s in before if s.startswith(SET_PREFIX)} - ruleset.set_names
    await _destroy(netns, stale)


async def _destroy(netns: str, names: AbstractSet[str]) -> None:
    if names:
        await run(
            in_ns_argv(netns, ["ipset", "restore", "-exist"]),
            stdin="".join(f"destroy {n}\n" for n in sorted(names)),
            check=False,
        )
