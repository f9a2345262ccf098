"""``kubereach diff`` on constructed runs: every kind of change, pods matched through their
workload, unmeasured cells, the three output forms and the exit status."""

from __future__ import annotations

import csv
import io
import json

import pytest

from orchestrator.cli import main
from orchestrator.reports.diff import DRIFT_COLUMNS, diff_folders, render_drift_json
from tests.reports.golden import check_golden
from tests.reports.runs import pod, row, write_run

HASH_OLD, HASH_NEW = "7d9f8c6b5", "5c6b77f4d"


def web(name_hash: str, suffix: str) -> str:
    return f"shop/web-{name_hash}-{suffix}"


def web_pod(name_hash: str, suffix: str) -> dict:
    """As discovery records it: owned by ReplicaSet web-HASH, so Deployment web."""
    return pod("shop", f"web-{name_hash}-{suffix}", workload="Deployment/web", labels={"pod-template-hash": name_hash})


@pytest.fixture
def runs(tmp_path):
    """A baseline and a later run of the same shop: a rollout renamed the web pods, db-0 was
    removed, cache-0 added, one cell opened, one closed, one policy edited, one cell unmeasured."""
    old_web = [web(HASH_OLD, "aaaaa"), web(HASH_OLD, "bbbbb")]
    new_web = [web(HASH_NEW, "ccccc"), web(HASH_NEW, "ddddd")]
    old = [
        row(old_web[0], "shop/api-0", 8080),
        row(old_web[1], "shop/api-0", 8080),
        row(old_web[0], "shop/db-0", 5432, expected="deny"),
        row("shop/api-0", old_web[0], 8080, expected="deny"),  # stays the same, through the rename
        row("shop/api-0", "shop/api-1", 9090, expected="deny"),  # will open
        row("shop/api-1", "shop/api-0", 8080),  # will close
        row("shop/api-1", "shop/api-0", 9090, expected="deny"),  # policy edited: expected allow now
        row("shop/api-0", "shop/api-1", 8080),  # will not measure
        row("shop/api-0/app", "shop/api-0/sidecar", 15001, scope="intra-pod"),
        row(old_web[0], "shop/web", 80, scope="service"),
    ]
    new = [
        row(new_web[0], "shop/api-0", 8080),
        row(new_web[1], "shop/api-0", 8080),
        row(new_web[0], "shop/cache-0", 6379, expected="deny"),
        row("shop/api-0", new_web[0], 8080, expected="deny"),
        row("shop/api-0", "shop/api-1", 9090, expected="deny", observed="allow"),
        row("shop/api-1", "shop/api-0", 8080, observed="deny"),
        row("shop/api-1", "shop/api-0", 9090, expected="allow"),
        row("shop/api-0", "shop/api-1", 8080, observed="inconclusive"),
        row("shop/api-0/app", "shop/api-0/sidecar", 15001, scope="intra-pod"),
        row(new_web[0], "shop/web", 80, scope="service"),
    ]
    pods_old = [
        web_pod(HASH_OLD, "aaaaa"),
        web_pod(HASH_OLD, "bbbbb"),
        pod("shop", "api-0"),
        pod("shop", "db-0", workload="StatefulSet/db"),
    ]
    pods_new = [
        web_pod(HASH_NEW, "ccccc"),
        web_pod(HASH_NEW, "ddddd"),
        pod("shop", "api-0"),
        pod("shop", "cache-0", workload="StatefulSet/cache"),
    ]
    a = write_run(tmp_path / "old", old, pods=pods_old)
    b = write_run(tmp_path / "new", new, pods=pods_new)
    return str(a), str(b)


def test_drift_of_a_constructed_pair_matches_its_golden_file(runs):
    drift = diff_folders(*runs)
    body = json.loads(render_drift_json(drift))
    assert body["unmeasured"] == 1 and len(body["renamed"]) == 2
    body["notes"] = [n.replace(runs[0], "OLD").replace(runs[1], "NEW") for n in body["notes"]]
    check_golden("diff.json", body)
    assert drift.exit_code == 1


def test_pods_renamed_by_a_rollout_are_matched_through_their_deployment(runs):
    drift = diff_folders(*runs)
    assert [(r.old, r.new, r.workload) for r in drift.renamed] == [
        (web(HASH_OLD, "aaaaa"), web(HASH_NEW, "ccccc"), "shop/Deployment/web"),
        (web(HASH_OLD, "bbbbb"), web(HASH_NEW, "ddddd"), "shop/Deployment/web"),
    ]
    changed = {(r.source, r.destination, r.port, r.change) for r in drift.rows.itertuples()}
    assert changed == {
        ("shop/api-0", "shop/api-1", 9090, "opened"),
        ("shop/api-1", "shop/api-0", 8080, "closed"),
        ("shop/api-1", "shop/api-0", 9090, "expectation-changed"),
        (web(HASH_NEW, "ccccc"), "shop/cache-0", 6379, "appeared"),
        (web(HASH_OLD, "aaaaa"), "shop/db-0", 5432, "disappeared"),
    }


def test_without_recorded_workloads_renamed_pods_appear_and_disappear_and_a_note_says_why(runs, tmp_path):
    import os

    os.unlink(os.path.join(runs[0], "snapshot.json"))
    drift = diff_folders(*runs)
    assert drift.renamed == ()
    assert drift.counts["appeared"] == 5 and drift.counts["disappeared"] == 5
    assert any("records no pod workloads" in n for n in drift.notes)


def test_identical_runs_have_no_drift_and_exit_0(runs):
    drift = diff_folders(runs[0], runs[0])
    assert len(drift.rows) == 0 and drift.unmeasured == 0 and drift.exit_code == 0


def test_only_unmeasured_cells_exit_3_never_a_pass(tmp_path):
    a = write_run(tmp_path / "a", [row("a/x", "a/y")])
    b = write_run(tmp_path / "b", [row("a/x", "a/y", observed="inconclusive")])
    drift = diff_folders(str(a), str(b))
    assert len(drift.rows) == 0 and drift.unmeasured == 1 and drift.exit_code == 3


def test_a_service_named_like_a_renamed_pod_is_not_renamed(tmp_path):
    a = write_run(
        tmp_path / "a",
        [row("a/web-1", "a/web-1", 80, scope="service")],
        pods=[pod("a", "web-1", workload="DaemonSet/web")],
    )
    b = write_run(
        tmp_path / "b",
        [row("a/web-2", "a/web-1", 80, scope="service")],
        pods=[pod("a", "web-2", workload="DaemonSet/web")],
    )
    drift = diff_folders(str(a), str(b))
    assert [(r.old, r.new) for r in drift.renamed] == [("a/web-1", "a/web-2")]
    assert len(drift.rows) == 0  # the service destination a/web-1 kept its name


def test_runs_of_different_scopes_say_so(tmp_path):
    a = write_run(tmp_path / "a", [row("a/x", "a/y")], run={"namespaces": ["a"]})
    b = write_run(tmp_path / "b", [row("a/x", "a/y")], run={"namespaces": "all"})
    assert any("differ in namespaces" in n for n in diff_folders(str(a), str(b)).notes)


def test_the_cli_prints_table_csv_and_json_and_exits_1_on_drift(runs, capsys):
    assert main(["diff", *runs]) == 1
    table = capsys.readouterr().out
    assert table.startswith(
        f"Drift since {runs[0]}: 1 opened, 1 closed, 1 expectation-changed, 1 appeared, 1 disappeared"
    )
    assert "Pods matched by workload (2):" in table and "did not measure" in table
    assert main(["diff", *runs, "-o", "csv"]) == 1
    out = capsys.readouterr()
    rows = list(csv.DictReader(io.StringIO(out.out)))
    assert tuple(rows[0]) == DRIFT_COLUMNS and [r["change"] for r in rows] == [
        "opened",
        "closed",
        "expectation-changed",
        "appeared",
        "disappeared",
    ]
    assert rows[0]["old"] == "deny" and rows[0]["new"] == "allow" and rows[4]["new"] == ""
    assert main(["diff", *runs, "-o", "json"]) == 1
    body = json.loads(capsys.readouterr().out)
    assert set(body["drift"][0]) == {"source", "destination", "port", "protocol", "scope", "change", "old", "new"}
    assert body["drift"][3]["old"] is None and body["drift"][3]["new"] == "deny"


def test_the_cli_exits_0_without_drift_and_2_for_a_folder_that_is_not_a_run(runs, tmp_path, capsys):
    assert main(["diff", runs[0], runs[0]]) == 0
    assert capsys.readouterr().out.startswith("No drift since")
    assert main(["diff", runs[0], str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "not a kubereach results folder" in err and "Traceback" not in err
