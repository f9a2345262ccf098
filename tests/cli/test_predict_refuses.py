"""``kubereach predict`` refuses every manifest a cluster would refuse: exit 2, nothing on
stdout, one line on stderr naming file, document, object and field.

Runs the console script's entry point (``orchestrator.cli.main``) in this process for each
rule of ``refused_manifests`` (the subprocess tests in test_predict_workloads.py cover the
installed script itself), so the whole table stays fast."""

from __future__ import annotations

import pytest
from refused_manifests import CASES, NS

from orchestrator.cli import main


@pytest.mark.parametrize("text,obj,field,message", CASES)
def test_predict_exits_2_naming_file_document_object_and_field(tmp_path, capsys, text, obj, field, message):
    path = tmp_path / "app.yaml"
    path.write_text(NS + text)
    assert main(["predict", "-f", str(path), "-o", "csv"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err
    assert f"kubereach: error: {path}, document 2, {obj}, field {field}: " in err, err
    assert message in err
