"""labelSelector / fieldSelector query strings and metav1.LabelSelector matching."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lab.api.selectors import SelectorError, field_selector, label_selector, match_label_selector


def _obj(**labels: str) -> dict:
    return {
        "metadata": {"name": "p", "namespace": "ns", "labels": labels},
        "spec": {"nodeName": "krl-node"},
        "status": {"phase": "Running"},
    }


@pytest.mark.parametrize(
    "selector, labels, expected",
    [
        ("app=web", {"app": "web"}, True),
        ("app==web", {"app": "db"}, False),
        ("app!=web", {}, True),
        ("app in (web, db)", {"app": "db"}, True),
        ("app notin (web,db)", {"app": "db"}, False),
        ("app notin (web)", {}, True),
        ("app", {"app": ""}, True),
        ("!app", {"app": "x"}, False),
        ("app=web,tier in (fe),!legacy", {"app": "web", "tier": "fe"}, True),
        ("example.com/team=net", {"example.com/team": "net"}, True),
    ],
)
def test_label_selector(selector, labels, expected):
    assert label_selector(selector)(_obj(**labels)) is expected


@pytest.mark.parametrize("bad", ["app in web", "=x", "a=b=c", "app in (a", "a b"])
def test_label_selector_syntax_errors(bad):
    with pytest.raises(SelectorError):
        label_selector(bad)


@given(
    st.dictionaries(
        st.from_regex(r"[a-z][a-z0-9]{0,5}", fullmatch=True),
        st.from_regex(r"[a-z0-9]{0,5}", fullmatch=True),
        max_size=4,
    )
)
def test_equality_selector_built_from_labels_matches_them(labels):
    text = ",".join(f"{k}={v}" for k, v in labels.items())
    predicate = label_selector(text)
    assert predicate is None if not labels else predicate(_obj(**labels))


def test_field_selectors_for_pods():
    assert field_selector("status.phase=Running,spec.nodeName=krl-node", "pods")(_obj())
    assert not field_selector("metadata.name!=p", "pods")(_obj())
    with pytest.raises(SelectorError):
        field_selector("spec.colour=red", "pods")
    with pytest.raises(SelectorError):
        field_selector("status.phase=Running", "configmaps")


def test_metav1_label_selector():
    sel = {
        "matchLabels": {"app": "web"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["fe"]},
            {"key": "old", "operator": "DoesNotExist"},
        ],
    }
    assert match_label_selector(sel, {"app": "web", "tier": "fe"})
    assert not match_label_selector(sel, {"app": "web", "tier": "fe", "old": "1"})
    assert match_label_selector({}, {"anything": "x"})
