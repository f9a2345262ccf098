"""Benchmark: ``kubereach audit -o json`` and ``kubereach suggest`` on a large synthetic cluster.

    .venv/bin/python tests/benchmarks/bench_audit.py [--pods 2000] [--policies 500] [--rules 24]

The cluster is bench_predict.py's generator (20 namespaces, 30 apps, default deny per
namespace, random allow rules), written as YAML manifests; the intent is seeded too:
``--rules`` allow and deny rules between namespaces and apps on named and numbered ports,
the rest unspecified. Each command runs as its own child process, measured as
/usr/bin/time would (wall, CPU, peak RSS from wait4), and so does the baseline measured
in the same run: ``kubereach predict -o csv`` on the same manifests (stdout to
/dev/null); ``predict -o csv --intent`` (the two extra columns on every row) is shown
too. A second child times ``audit()`` and ``suggest()`` alone, on the loaded snapshot,
so the YAML loading every command shares is separated out.

Targets (issue 12): each command under 15 s and 2 GiB on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_predict import NAMESPACES, synthetic_objects, write_yaml

TARGET_S, TARGET_KIB = 15.0, 2 * 1024 * 1024


def synthetic_intent(rules: int, seed: int) -> dict:
    rnd = random.Random(seed)

    def side() -> dict:
        r = rnd.random()
        if r < 0.4:
            return {"namespace": f"ns-{rnd.randrange(NAMESPACES)}"}
        if r < 0.8:
            return {
                "namespace": f"ns-{rnd.randrange(NAMESPACES)}",
                "podSelector": {"matchLabels": {"app": f"app-{rnd.randrange(30)}"}},
            }
        return {"namespaceSelector": {"matchLabels": {"team": f"team-{rnd.randrange(5)}"}}}

    out = []
    for k in range(rules):
        rule: dict = {"name": f"r{k}", "action": rnd.choice(["allow", "deny"]), "from": side(), "to": side()}
        if rnd.random() < 0.6:
            rule["ports"] = rnd.sample(["http", "metrics", 8080, "53/UDP"], rnd.randint(1, 2))
        out.append(rule)
    return {
        "apiVersion": "kubereach.io/v1alpha1",
        "kind": "ReachabilityIntent",
        "metadata": {"name": "bench"},
        "spec": {"default": "unspecified", "rules": out},
    }


def run_child(cmd: list[str], stdout: int | None = subprocess.PIPE, ok: tuple[int, ...] = (0,)) -> tuple:
    """(wall, the child's own rusage from wait4 as /usr/bin/time reports it, stdout, (None, bytes))."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.PIPE)
    data = proc.stdout.read() if proc.stdout else b""
    err = proc.stderr.read() if proc.stderr else b""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    if code not in ok:
        sys.exit(f"{' '.join(cmd)} failed ({code}):\n{err.decode(errors='replace')[-2000:]}")
    return wall, usage, data, (None, len(data))


def phase(args: argparse.Namespace) -> dict:
    """In-process: load once, then audit() and suggest() alone."""
    from orchestrator.audit import audit
    from orchestrator.audit.intent import load_intent
    from orchestrator.audit.suggest import suggest
    from orchestrator.snapshot import load_manifests

    t0 = time.perf_counter()
    snap = load_manifests([args.dir])
    out: dict = {"load_s": time.perf_counter() - t0, "pods": len(snap.pods), "policies": len(snap.policies)}
    t0, c0 = time.perf_counter(), time.process_time()
    findings = audit(snap)
    out["audit_s"], out["audit_cpu"] = time.perf_counter() - t0, time.process_time() - c0
    out["findings"] = len(findings)
    intent = load_intent(args.intent)
    t0, c0 = time.perf_counter(), time.process_time()
    result = suggest(snap, intent, findings=findings)
    out["suggest_s"], out["suggest_cpu"] = time.perf_counter() - t0, time.process_time() - c0
    out["policies_suggested"] = len(result.policies)
    out["cells"], out["before"], out["after"] = result.cells, result.violations_before, result.remaining.count
    out["safe"] = result.safe
    out["rss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return out


def _fmt(name: str, child: tuple) -> tuple[str, float, int]:
    wall, usage, _, digest = child
    cpu = usage.ru_utime + usage.ru_stime
    line = f"{name:<34} wall {wall:6.2f} s  CPU {cpu:6.2f} s  peak RSS {usage.ru_maxrss / 1024:6.0f} MiB" + (
        f"  ({digest[1]:,} bytes out)" if digest and digest[1] else ""
    )
    return line, wall, usage.ru_maxrss


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pods", type=int, default=2000)
    ap.add_argument("--policies", type=int, default=500)
    ap.add_argument("--rules", type=int, default=24, help="rules of the synthetic intent")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--phase", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--dir", help=argparse.SUPPRESS)
    ap.add_argument("--intent", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.phase:
        print(json.dumps(phase(args)))
        return
    kr = str(Path(sys.executable).parent / "kubereach")
    with tempfile.TemporaryDirectory(prefix="kr-bench-audit-") as tmp:
        manifests = Path(tmp) / "cluster"
        manifests.mkdir()
        write_yaml(synthetic_objects(args.pods, args.policies, args.seed), manifests)
        intent = Path(tmp) / "intent.yaml"
        intent.write_text(yaml.safe_dump(synthetic_intent(args.rules, args.seed), sort_keys=False))
        with open(os.devnull, "wb") as null:
            base = run_child([kr, "predict", "-f", str(manifests), "-o", "csv"], stdout=null)
            with_intent = run_child(
                [kr, "predict", "-f", str(manifests), "-o", "csv", "--intent", str(intent)], stdout=null, ok=(0, 1)
            )
        aud = run_child([kr, "audit", "-f", str(manifests), "-o", "json", "--fail-on", "info"], ok=(0, 1))
        sug = run_child(
            [kr, "suggest", "-f", str(manifests), "--intent", str(intent), "-o", str(Path(tmp) / "fixes")],
            ok=(0, 1, 3),
        )
        _, _, data, _ = run_child(
            [sys.executable, __file__, "--phase", "--dir", str(manifests), "--intent", str(intent)]
        )
        inner = json.loads(data)
        written = len(list((Path(tmp) / "fixes").glob("*.yaml"))) if (Path(tmp) / "fixes").is_dir() else 0
        findings = len(json.loads(aud[2])["findings"])
    print(
        f"cluster: {inner['pods']} pods, {inner['policies']} policies (bench_predict's generator, seed {args.seed}); "
        f"intent: {args.rules} rules; YAML load {inner['load_s']:.2f} s"
    )
    lines = [_fmt("baseline: kubereach predict -o csv", base), _fmt("kubereach audit -o json", aud)]
    lines.append(_fmt("kubereach suggest", sug))
    lines.append(_fmt("kubereach predict -o csv --intent", with_intent))
    for line, _, _ in lines:
        print(line)
    print(
        f"in process, snapshot loaded: audit() {inner['audit_s']:.2f} s ({findings} findings), "
        f"suggest() {inner['suggest_s']:.2f} s ({inner['policies_suggested']} policies, {written} files written; "
        f"{inner['cells']:,} cells; intent violations {inner['before']:,} -> {inner['after']:,}; safe: {inner['safe']})"
    )
    base_wall = lines[0][1]
    for (_line, wall, rss), name in zip(lines[1:3], ("audit", "suggest"), strict=True):
        ok = wall < TARGET_S and rss < TARGET_KIB
        print(
            f"target {name} (< {TARGET_S:.0f} s, < 2 GiB): {'MET' if ok else 'MISSED'} "
            f"({wall / base_wall:.1f}x the predict baseline's wall time)"
        )


if __name__ == "__main__":
    main()
