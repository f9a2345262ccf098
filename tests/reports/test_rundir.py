"""Reading results folders back: what older and newer folders hold, and hostile ones refused clearly."""

from __future__ import annotations

import json
import os
import time

import pytest

from orchestrator.errors import UsageError
from orchestrator.reports.rundir import find_latest, load_run, read_probes, resolve_baseline
from tests.reports.runs import pod, row, write_run


def test_a_folder_reads_back_typed_with_known_columns_first_and_newer_columns_kept(tmp_path):
    write_run(
        tmp_path / "r",
        [row("a/x", "a/y", 8080, inferred="class 3"), row("a/y", "a/x", 53, protocol="UDP", latency_ms=None)],
        pods=[pod("a", "x", workload="StatefulSet/x")],
    )
    run = load_run(str(tmp_path / "r"))
    frame = run.probes
    assert list(frame["port"]) == [8080, 53] and str(frame["port"].dtype) == "int32"
    assert frame["latency_ms"].iloc[0] == 0.5 and frame["latency_ms"].isna().iloc[1]
    assert run.extras == ("inferred",) and list(frame.columns)[-1] == "inferred"
    assert list(frame["intended"]) == ["", ""]  # a column this folder does not have reads as empty
    assert run.pods["a/x"].workload == "StatefulSet/x" and run.workloads_recorded
    assert run.info["sweep_id"] == "t0000001"


def test_a_folder_from_an_older_version_without_optional_columns_or_files_reads(tmp_path):
    old_columns = ["source", "destination", "port", "protocol", "scope", "expected", "observed", "state", "verdict"]
    write_run(tmp_path / "r", [row("a/x", "a/y")], columns=old_columns)
    os.unlink(tmp_path / "r" / "run.json")
    run = load_run(str(tmp_path / "r"))
    assert run.info == {} and run.pods == {} and not run.workloads_recorded
    assert run.probes["latency_ms"].isna().all() and list(run.probes["reason"]) == [""]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda t: t.replace("verdict", "verdikt", 1), "missing column(s) verdict"),
        (lambda t: t.replace(",ok,", ",fine,", 1), "column verdict: 'fine' (row 1)"),
        (lambda t: t.replace(",8080,", ",http,", 1), "column port: 'http' is not a port number (row 1)"),
        (lambda t: t.replace(",8080,", ",70000,", 1), "'70000' is not a port number"),
        (lambda t: t.replace("confirmed", "source", 1), "column(s) 'source' appear more than once"),
        (lambda t: t.replace("0.5", "fast", 1), "not a well-formed probes.csv"),
        (lambda t: t.encode("utf-16").decode("latin-1"), "probes.csv"),
    ],
)
def test_a_broken_probes_csv_is_refused_naming_the_file_and_what_is_wrong(tmp_path, mutate, message):
    write_run(tmp_path / "r", [row("a/x", "a/y")])
    path = tmp_path / "r" / "probes.csv"
    path.write_text(mutate(path.read_text()), encoding="utf-8")
    with pytest.raises(UsageError) as err:
        load_run(str(tmp_path / "r"))
    assert message in str(err.value) and str(path) in str(err.value)


def test_rows_and_bytes_are_bounded_before_anything_is_built(tmp_path):
    write_run(tmp_path / "r", [row("a/x", "a/y"), row("a/y", "a/x"), row("a/x", "a/z")])
    path = str(tmp_path / "r" / "probes.csv")
    with pytest.raises(UsageError, match="more than 2 rows"):
        read_probes(path, max_rows=2)
    with pytest.raises(UsageError, match="larger than"):
        read_probes(path, max_bytes=100)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object, got list"),
    ],
)
def test_a_hostile_run_json_is_refused_with_its_name(tmp_path, text, message):
    write_run(tmp_path / "r", [row("a/x", "a/y")])
    (tmp_path / "r" / "run.json").write_text(text)
    with pytest.raises(UsageError, match=message):
        load_run(str(tmp_path / "r"))


def test_snapshot_json_pods_must_name_their_namespace_and_name(tmp_path):
    write_run(tmp_path / "r", [row("a/x", "a/y")], pods=[{"namespace": "a"}])
    with pytest.raises(UsageError, match=r"snapshot.json: pods\[0\]: namespace and name must be strings"):
        load_run(str(tmp_path / "r"))


def test_not_a_results_folder(tmp_path):
    with pytest.raises(UsageError, match="not a kubereach results folder"):
        load_run(str(tmp_path))
    with pytest.raises(UsageError, match="not a directory"):
        load_run(str(tmp_path / "nope"))


def test_latest_is_the_newest_folder_with_probes_beside_this_one(tmp_path):
    base = tmp_path / "runs"
    for i, name in enumerate(["b-old", "a-new", "c-mid"]):
        write_run(base / name, [row("a/x", "a/y")])
        stamp = time.time() - 100 + {"b-old": 0, "c-mid": 10, "a-new": 20}[name]
        os.utime(base / name / "probes.csv", (stamp, stamp))
        del i
    (base / "empty").mkdir()
    assert find_latest(str(base)) == str(base / "a-new")
    assert find_latest(str(base), exclude=str(base / "a-new")) == str(base / "c-mid")
    assert resolve_baseline("latest", str(base / "new-run")) == str(base / "a-new")
    with pytest.raises(UsageError, match="no earlier results folder"):
        find_latest(str(base / "empty"))
    with pytest.raises(UsageError, match="does not exist"):
        resolve_baseline("latest", str(tmp_path / "elsewhere" / "x"))
    with pytest.raises(UsageError, match="not a kubereach results folder"):
        resolve_baseline(str(base / "empty"), None)
    with pytest.raises(UsageError, match="this sweep's own results folder"):
        resolve_baseline(str(base / "a-new"), str(base / "a-new"))
    assert json.loads((base / "a-new" / "run.json").read_text())["context"] == "test"
