"""``kubereach suggest`` output: the predicted change, printed before anything is written.

Strings in, strings out.
"""

from __future__ import annotations

from orchestrator.audit.suggest import CellSet, Suggestion


def _cells(title: str, cells: CellSet) -> list[str]:
    if not cells.count:
        return [f"{title}: none"]
    lines = [f"{title}: {cells.count}"]
    lines += [f"  {c}" for c in cells.sample]
    if cells.count > len(cells.sample):
        lines.append(f"  ... and {cells.count - len(cells.sample)} more")
    return lines


def render_change(s: Suggestion, *, intent: str, tighten: bool) -> str:
    """What the suggestions change, checked by the model on every cell, before writing."""
    lines = [
        f"kubereach suggest: {len(s.policies)} NetworkPolicies for intent {intent}"
        + (" (--tighten: cells the intent leaves unspecified are closed)" if tighten else ""),
        f"cells evaluated: {s.cells} (each destination on its declared ports, and the port numbers the intent names)",
        f"violations of the intent today: {s.violations_before}; after these policies: {s.remaining.count}",
        "",
        "Predicted change (the model, with the suggested policies added):",
        *_cells("  cells opened", s.opened),
        *_cells("  cells closed", s.closed),
        (
            "  no intended-allow cell closes"
            if not s.closed_intended_allow.count
            else f"  REFUSED: {s.closed_intended_allow.count} intended-allow cells would close"
        ),
    ]
    if not tighten:
        lines.append(
            "  no cell the intent leaves unspecified changes"
            if not s.changed_unspecified.count
            else f"  REFUSED: {s.changed_unspecified.count} cells the intent leaves unspecified would change"
        )
    for title, cells in (
        ("would close although intended allow", s.closed_intended_allow),
        ("unspecified but changed", s.changed_unspecified),
    ):
        if cells.count:
            lines += [f"  {c}  ({title})" for c in cells.sample]
    if s.unresolved:
        lines += ["", f"Not fixable by adding policies ({s.remaining.count} cells; a person decides):"]
        for u in s.unresolved:
            lines.append(f"  {u.cell}: intended {u.intended}; {u.why}")
        if s.remaining.count > len(s.unresolved):
            lines.append(f"  ... and {s.remaining.count - len(s.unresolved)} more")
    if s.person_fixes:
        lines += ["", "Fixes only a person can make (kubereach audit):"]
        for f in s.person_fixes:
            lines.append(f"  [{f.id}] {f.title}")
            if f.fix:
                lines.append(f"    {f.fix.splitlines()[0]}")
    if s.notes:
        lines += ["", "Notes:"] + [f"  {n}" for n in s.notes]
    return "\n".join(lines) + "\n"
