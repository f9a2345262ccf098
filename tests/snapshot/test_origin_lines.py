"""Each object's Origin carries the line where it starts in its file (for SARIF and editors)."""

from __future__ import annotations

import safeyaml
from orchestrator.snapshot import load_manifests


def test_documents_report_the_line_their_content_starts_on():
    text = "# a comment\n---\n# another\na: 1\nb: 2\n---\n\n\nkind: X\n---\n- 1\n"
    assert list(safeyaml.load_all_located(text)) == [(1, 4, {"a": 1, "b": 2}), (2, 9, {"kind": "X"}), (3, 11, [1])]
    assert list(safeyaml.load_all(text)) == [(1, {"a": 1, "b": 2}), (2, {"kind": "X"}), (3, [1])]


def test_loaded_objects_know_their_file_document_and_line(tmp_path):
    (tmp_path / "a.yaml").write_text(
        "# pods\napiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: n}\nspec: {containers: [{name: c}]}\n"
        "---\n\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: np, namespace: n}\n"
        "spec: {podSelector: {}}\n"
    )
    (tmp_path / "b.json").write_text('{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}}')
    snap = load_manifests([str(tmp_path)])
    pod, policy, ns = snap.pods[0], snap.policies[0], snap.namespaces["n"]
    assert (pod.origin.document, pod.origin.line) == (1, 2)
    assert (policy.origin.document, policy.origin.line) == (2, 8)
    assert (ns.origin.document, ns.origin.line) == (1, 1)
    assert str(policy.origin) == f"{tmp_path / 'a.yaml'}, document 2"  # messages unchanged
