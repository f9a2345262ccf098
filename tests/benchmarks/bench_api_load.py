"""Benchmark: what a sweep of a 500-pod namespace costs the API server, before and after
the watch-based waiting and paged lists (issue 9, item 7).

    sudo .venv/bin/python tests/benchmarks/bench_api_load.py [--fillers 500] [--seconds 60]

Brings up a lab with one namespace of ``--fillers`` unrelated pods, three sources and one
destination every source is denied (``tests/e2e/bulk.py``), so each agent waits out a
filtered port for ``--seconds``. Then, in the same run and against the same lab, it
sweeps the namespace twice through the real CLI and reads the calls and bytes the lab's
API served (``/lab/v1/traffic``) during each:

* **before**: the code of ``--baseline`` (by default the commit of main this work
  started from), unpacked with ``git archive`` into a temporary folder and run from
  there: it listed every pod of the namespace twice a second while agents ran;
* **after**: this checkout: one LIST of one pod, one watch of the namespace from its
  resourceVersion, lists read in pages.

Prints both and the ratio. Tears the lab down at the end. Needs root (the lab).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from lab import control  # noqa: E402
from tests.e2e import bulk  # noqa: E402

# main before issue 9's item 7 (the sweep polled whole namespaces; lists were not paged)
BASELINE_COMMIT = "03af709"
PYTHON = str(Path(sys.executable))
# The CLI run as a module, so it is imported from PYTHONPATH: `-P` keeps the working
# directory (this checkout) off sys.path.
CLI = [PYTHON, "-P", "-c", "import sys; from orchestrator.cli import main; sys.exit(main())"]


def unpack(commit: str, into: Path) -> Path:
    """The orchestrator and probe packages of ``commit``, as files under ``into``."""
    into.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", commit, "orchestrator", "probe"], capture_output=True, check=False
    )
    if archive.returncode != 0:
        raise SystemExit(f"git archive {commit}: {archive.stderr.decode(errors='replace').strip()}")
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def sweep(label: str, pythonpath: Path, state: Path, kubeconfig: str, out: Path, seconds: float) -> dict:
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    where = subprocess.run(
        [PYTHON, "-P", "-c", "import orchestrator; print(orchestrator.__file__)"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout.strip()
    if not where.startswith(str(pythonpath)):
        raise SystemExit(f"{label}: orchestrator came from {where}, not {pythonpath}")
    before = bulk.traffic(str(state))
    started = time.monotonic()
    p = subprocess.run(
        [*CLI, *bulk.sweep_args(kubeconfig, str(out), seconds=seconds)],
        capture_output=True,
        text=True,
        env=env,
        timeout=seconds * 4 + 300,
    )
    wall = time.monotonic() - started
    after = bulk.traffic(str(state))
    if p.returncode != 0:
        raise SystemExit(f"{label}: the sweep exited {p.returncode}:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return {"label": label, "wall_s": wall, **bulk.served(before, after)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fillers", type=int, default=500, help="unrelated pods in the namespace")
    ap.add_argument("--seconds", type=float, default=60.0, help="how long each agent waits (the sweep's length)")
    ap.add_argument("--baseline", default=BASELINE_COMMIT, help="the commit measured as 'before'")
    ap.add_argument("--cni", choices=["enforce", "none"], default="enforce")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_api_load needs root (the lab's network namespaces)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="kr-bench-api-") as tmp:
        base = unpack(args.baseline, Path(tmp) / "baseline")
        state = Path(tmp) / "lab"
        up = control.up(state_dir=state, cni=args.cni)
        try:
            t0 = time.monotonic()
            bulk.populate(str(up.kubeconfig), args.fillers)
            print(
                f"lab: namespace {bulk.NAMESPACE} with {args.fillers} unrelated pods, {bulk.SOURCES} sources and "
                f"1 denied destination, Running in {time.monotonic() - t0:.1f} s"
            )
            runs = [
                sweep(f"before ({args.baseline})", base, state, str(up.kubeconfig), Path(tmp) / "r0", args.seconds),
                sweep("after (this checkout)", ROOT, state, str(up.kubeconfig), Path(tmp) / "r1", args.seconds),
            ]
        finally:
            control.down(state_dir=state)
    print(f"\none sweep of the namespace, agents waiting {args.seconds:g} s on a filtered port (the lab API's counts)")
    print(f"{'':24} {'wall s':>7} {'calls':>6} {'MB served':>10} {'list pods':>10} {'watch pods':>11}")
    for r in runs:
        print(
            f"{r['label']:24} {r['wall_s']:>7.1f} {r['calls']:>6} {r['bytes'] / 1e6:>10.2f} "
            f"{r['by_call'].get('list pods', 0):>10} {r['by_call'].get('watch pods', 0):>11}"
        )
    old, new = runs
    print(
        f"ratio before/after: {old['bytes'] / max(1, new['bytes']):.1f}x the bytes, "
        f"{old['calls'] / max(1, new['calls']):.1f}x the calls"
    )
    for r in runs:
        print(f"  {r['label']}: {r['by_call']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
