"""A manifest the API server would refuse is refused, naming file, document, object and field.

One row per rule: label selector syntax, labels and annotations on objects, DNS names per
kind, port names, container names, restartPolicy, Service ports, and the workload rules
(template, selector, selector vs labels, Job selectors, CronJob schedules).
"""

from __future__ import annotations

import pytest
from refused_manifests import CASES, NS
from workload_manifests import dump, workload

from orchestrator.errors import ManifestError
from orchestrator.snapshot import load_manifests
from orchestrator.snapshot.validation import schedule_problem


@pytest.mark.parametrize("text,obj,field,message", CASES)
def test_the_cluster_would_refuse_it_so_predict_refuses_it_with_file_document_object_and_field(
    tmp_path, text, obj, field, message
):
    path = tmp_path / "bad.yaml"
    path.write_text(NS + text)
    with pytest.raises(ManifestError) as info:
        load_manifests([str(path)])
    err = info.value
    assert (err.file, err.document, err.obj, err.field) == (str(path), 2, obj, field), str(err)
    assert message in err.detail, err.detail
    assert len(str(err)) < 600  # someone else's text is quoted, not pasted


def test_valid_names_and_labels_at_the_limits_load(tmp_path):
    w = workload("Deployment", "web.v2")  # a subdomain is fine for a Deployment
    w["spec"]["template"]["metadata"]["labels"].update({"example.com/" + "n" * 63: "v" * 63, "empty": ""})
    w["metadata"]["annotations"] = {"Example.com/Key_1": "anything at all: {}"}
    path = tmp_path / "ok.yaml"
    path.write_text(dump(w))
    (pod,) = load_manifests([str(path)]).pods
    assert pod.labels["empty"] == ""


@pytest.mark.parametrize(
    "schedule,ok",
    [
        ("*/5 * * * *", True),
        ("0 3 * * 1-5", True),
        ("30 2 1,15 JAN-jun ?", True),
        ("@hourly", True),
        ("@every 1h30m", True),
        ("0 0 * * SUN", True),
        ("* * * *", False),
        ("0 24 * * *", False),
        ("0 0 0 * *", False),
        ("0 0 * 13 *", False),
        ("0 0 * * 7", False),
        ("5-1 * * * *", False),
        ("*/0 * * * *", False),
        ("@fortnightly", False),
        ("TZ=UTC 0 0 * * *", False),
        ("0 0 * FOO *", False),
    ],
)
def test_cron_schedules_are_checked_like_the_api_servers_parser(schedule, ok):
    assert (schedule_problem(schedule) is None) == ok
