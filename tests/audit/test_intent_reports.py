"""``predict --intent`` output: the compact-matrix fast path equals the row-by-row path."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from model_strategies import clusters
from test_suggest_properties import intents

from orchestrator.audit.intent import IntentIndex, parse_intent
from orchestrator.audit.judge import Tally, judge, tallied
from orchestrator.model import expected_matrix
from orchestrator.predict import build_prediction
from orchestrator.reports.intent import CSV_COLUMNS, INTENT_COLUMNS, _csv_lines, iter_intent_csv, tally_prediction
from orchestrator.reports.predict import Prediction
from orchestrator.snapshot import Origin, snapshot_from_objects


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters(max_pods=6, max_policies=3), intents)
def test_matrix_fast_path_equals_the_row_path_byte_for_byte(objs, raw):
    snapshot = snapshot_from_objects((o, Origin("t", i)) for i, o in enumerate(objs, 1))
    index = IntentIndex(parse_intent(raw), snapshot)
    plain = build_prediction(snapshot)
    compact = Prediction(plain.pods, expected_matrix(snapshot), plain.intrapod_rows)  # unsorted, as for big clusters
    fast_tally, slow_tally, table_tally = Tally(), Tally(), Tally()
    fast = "".join(iter_intent_csv(compact, index, fast_tally))
    header = ",".join((*CSV_COLUMNS, *INTENT_COLUMNS)) + "\n"
    slow = header + "".join(
        _csv_lines(tallied(judge(list(compact.rows) + list(compact.intrapod_rows), index), slow_tally))
    )
    assert fast == slow
    assert fast_tally.counts == slow_tally.counts
    tally_prediction(compact, index, table_tally)
    assert table_tally.counts == slow_tally.counts
    assert [r for r, _ in table_tally.violations] == [r for r, _ in slow_tally.violations]
