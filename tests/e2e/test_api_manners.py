"""What a sweep costs the API server no longer grows with how long the sweep lasts.

A namespace of 500 unrelated pods and three sources whose agents each wait out a
filtered port for as long as ``--timeout`` says: the lab counts every call and every
byte its API serves (``/lab/v1/traffic``). Polling would list the 500 pods again and
again while agents run; the watch from a resourceVersion costs what changed. Two
durations are compared (a ratio, never an absolute timing).
"""

from __future__ import annotations

import pytest

from tests.e2e import bulk
from tests.e2e.conftest import read_run, start_lab, stop_lab

pytestmark = pytest.mark.lab

FILLERS = 500
SHORT_S, LONG_S = 2.0, 10.0  # agent wait per sweep; the long sweep lasts about 3 times as long


@pytest.fixture(scope="module")
def bulk_lab(tmp_path_factory):
    lab = start_lab(tmp_path_factory.mktemp("kr5-bulk"), "enforce", manifests=())
    try:
        bulk.populate(lab.kubeconfig, FILLERS)
        yield lab
    finally:
        stop_lab(lab)


def measured_sweep(lab, tmp_path, seconds: float, source_mode: str) -> dict:
    out = tmp_path / f"{source_mode}-{seconds:g}"
    before = bulk.traffic(str(lab.state_dir))
    p = lab.kr(*bulk.sweep_args(lab.kubeconfig, str(out), seconds=seconds, source_mode=source_mode), timeout=240)
    after = bulk.traffic(str(lab.state_dir))
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    run = read_run(out)
    assert run["probes"] == bulk.SOURCES and run["ended"] == "completed"
    return {**bulk.served(before, after), "wall_s": run["wall_s"], "run": run}


@pytest.mark.parametrize("source_mode", ["ephemeral", "pod"])
def test_bytes_and_calls_served_do_not_grow_with_the_sweeps_duration(bulk_lab, tmp_path, source_mode):
    short = measured_sweep(bulk_lab, tmp_path, SHORT_S, source_mode)
    long = measured_sweep(bulk_lab, tmp_path, LONG_S, source_mode)
    assert long["wall_s"] > short["wall_s"] + (LONG_S - SHORT_S) * 0.8  # it really lasted longer
    report = f"short {short}\nlong {long}"
    assert long["bytes"] <= short["bytes"] * 1.15, report
    assert long["calls"] <= short["calls"] + 2, report  # a watch reconnect at most, never per tick
    assert long["by_call"].get("list pods") == short["by_call"].get("list pods"), report
    # the agents were followed by one watch of the namespace, not by listing it
    assert long["by_call"].get("watch pods", 0) >= 1
    assert long["run"]["api_calls"]["by_call"].get("watch pods", 0) == long["by_call"]["watch pods"]


def test_a_namespace_of_500_pods_is_read_in_pages(bulk_lab, tmp_path):
    m = measured_sweep(bulk_lab, tmp_path, 0.5, "ephemeral")
    lists = [c for c in m["run"]["api_calls"]["log"] if c["verb"] == "list" and c["resource"] == "pods"]
    # discovery and the destination check: two pages each (500 + 4 pods); where the watch
    # starts: one (limit=1); cleanup, by label: one. Unpaged it would be 4 calls.
    assert len(lists) == 6, lists
    assert m["by_call"]["list pods"] == 6
