"""Benchmark: building report.html of 50-, 500- and 2,000-pod runs, against writing their probes.csv.

    .venv/bin/python tests/benchmarks/bench_report.py [--pods 50 500 2000]

For each size, a results folder is generated as a full sweep of that many pods would
leave it (tests/reports/synthetic.py: namespaces of 100 pods, 8080/TCP on every pod and
9090/TCP on every tenth, every ordered pair probed: 4.4 million rows at 2,000 pods), then
measured in the same run:

* **baseline**: the sweep writing that run's probes.csv (``render_probes_csv`` over the
  sweep's own Row objects, then the file write) — what every sweep already pays;
* **report**: what ``kubereach report`` does: read the folder back, aggregate and pack
  (pandas, numpy, zlib), render (Jinja2), write report.html; with its parts, its size,
  and the peak memory of ``kubereach report`` run as a command;
* **diff**: ``kubereach diff`` of the run against a copy with a handful of changed cells.

Targets at 2,000 pods: report under 5 s and under 10 MB.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from orchestrator.model.verdict import Decision  # noqa: E402
from orchestrator.reports.diff import diff_folders  # noqa: E402
from orchestrator.reports.html import render_report, write_report  # noqa: E402
from orchestrator.reports.reportdata import report_data  # noqa: E402
from orchestrator.reports.rundir import load_run  # noqa: E402
from orchestrator.reports.sweep import render_probes_csv  # noqa: E402
from orchestrator.sweep.compare import Confirmed, Observed, Row, Verdict  # noqa: E402
from orchestrator.sweep.plan import ProbeJob, Scope  # noqa: E402
from probe.schema import Method, ProbeState, Protocol  # noqa: E402
from tests.reports.synthetic import synthetic_frame, write_synthetic_run  # noqa: E402

KUBEREACH = str(Path(sys.executable).parent / "kubereach")
TARGET_S, TARGET_MB = 5.0, 10.0
# Runs the CLI and prints its peak resident memory in KiB (VmHWM of this process only).
CLI_PEAK = (
    "import sys\n"
    "from orchestrator.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "print(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')))\n"
    "sys.exit(code)\n"
)


def sweep_rows(pods: int) -> list[Row]:
    """The same run as the sweep holds it before writing: one Row (and ProbeJob) per probe."""
    frame, _ = synthetic_frame(pods)
    columns = {c: frame[c].astype(str).tolist() if c != "latency_ms" else frame[c].tolist() for c in frame.columns}
    ports = frame["port"].tolist()
    rows = []
    for i in range(len(frame)):
        latency = columns["latency_ms"][i]
        job = ProbeJob(
            str(i),
            Scope.POD,
            columns["source"][i],
            columns["destination"][i],
            "10.0.0.1",
            ports[i],
            Protocol.TCP,
            Method.CONNECT,
            columns["source"][i],
            columns["destination"][i],
        )
        rows.append(
            Row(
                job,
                Decision(columns["expected"][i]),
                Observed(columns["observed"][i]),
                ProbeState(columns["state"][i]),
                Verdict(columns["verdict"][i]),
                columns["evidence"][i],
                None if latency != latency else latency,
                columns["reason"][i],
                Confirmed(columns["confirmed"][i]),
            )
        )
    return rows


def bench(pods: int, work: Path) -> dict[str, float]:
    folder = work / f"run-{pods}"
    write_synthetic_run(folder, pods)
    rows = sweep_rows(pods)
    n_rows = len(rows)
    t0 = time.perf_counter()
    text = render_probes_csv(rows)
    with open(work / "baseline.csv", "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
    csv_s = time.perf_counter() - t0
    rows, text = [], ""  # free them before measuring the report
    os.unlink(work / "baseline.csv")

    t0 = time.perf_counter()
    run = load_run(str(folder), snapshot=False)
    t1 = time.perf_counter()
    data = report_data(run)
    t2 = time.perf_counter()
    write_report(str(folder), render_report(data))
    t3 = time.perf_counter()
    read_s, data_s, render_s, write_s = t1 - t0, t2 - t1, t3 - t2, 0.0
    size_mb = (folder / "report.html").stat().st_size / 1e6
    del run, data

    # the command as a user runs it, in a fresh process: wall time and peak memory (VmHWM)
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", CLI_PEAK, "report", str(folder), "-o", str(work / "cli.html")],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    cli_s = time.perf_counter() - started
    cli_mb = int(out.stdout.strip().splitlines()[-1]) / 1024

    # a copy with a few cells flipped, for the diff
    other = work / f"run-{pods}-b"
    write_synthetic_run(other, pods, seed=8)
    started = time.perf_counter()
    drift = diff_folders(str(folder), str(other))
    diff_s = time.perf_counter() - started
    shutil.rmtree(other)
    shutil.rmtree(folder)
    return {
        "rows": n_rows,
        "csv_s": csv_s,
        "read_s": read_s,
        "data_s": data_s,
        "render_s": render_s + write_s,
        "report_s": read_s + data_s + render_s + write_s,
        "size_mb": size_mb,
        "cli_s": cli_s,
        "cli_mb": cli_mb,
        "diff_s": diff_s,
        "drift": len(drift.rows),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pods", type=int, nargs="+", default=[50, 500, 2000])
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kr-bench-report-"))
    try:
        print(
            f"{'pods':>6} {'rows':>10} | {'baseline: probes.csv':>20} | {'report':>7} {'(read':>6} {'data':>6} "
            f"{'render)':>7} {'size':>8} {'cli':>6} {'cli RSS':>8} | {'diff':>6} {'cells':>5}"
        )
        results = {}
        for pods in args.pods:
            r = bench(pods, work)
            results[pods] = r
            print(
                f"{pods:>6} {r['rows']:>10,} | {r['csv_s']:>18.2f} s | {r['report_s']:>5.2f} s {r['read_s']:>5.2f}s "
                f"{r['data_s']:>5.2f}s {r['render_s']:>6.2f}s {r['size_mb']:>6.2f}MB {r['cli_s']:>5.2f}s "
                f"{r['cli_mb']:>6.0f}MB | {r['diff_s']:>4.2f}s {r['drift']:>5}",
                flush=True,
            )
        if 2000 in results:
            r = results[2000]
            ok = r["report_s"] < TARGET_S and r["size_mb"] < TARGET_MB
            print(
                f"\n2,000 pods: report {r['report_s']:.2f} s (target < {TARGET_S:.0f} s), {r['size_mb']:.2f} MB "
                f"(target < {TARGET_MB:.0f} MB), {r['report_s'] / r['csv_s']:.2f}x the time to write probes.csv: "
                + ("targets met" if ok else "TARGET MISSED")
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
