"""List paging (``limit``/``continue``) as the real API server does it, and the traffic counter.

A paged list is one consistent snapshot: later pages are cut from the state at the first
page's resourceVersion, whatever was written in between (the store rebuilds it from its
history, and answers 410 once the history no longer reaches back). kubectl pages by 500.
"""

from __future__ import annotations

import collections
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lab.store import BadContinue, Gone, Store


def _cm(name: str, **data: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def _names(items) -> list[str]:
    return [o["metadata"]["name"] for o in items]


def _all_pages(store: Store, namespace: str | None, limit: int, between=lambda: None) -> tuple[list[dict], list[str]]:
    page = store.list_page("configmaps", namespace, None, limit=limit)
    items, versions = list(page.items), [page.resource_version]
    while page.continue_token:
        between()
        page = store.list_page("configmaps", namespace, None, limit=limit, continue_token=page.continue_token)
        items += page.items
        versions.append(page.resource_version)
    return items, versions


def test_pages_add_up_to_the_whole_list_in_order_with_a_count_of_what_remains():
    store = Store()
    for i in range(10):
        store.create("configmaps", "a" if i % 2 else "b", _cm(f"cm-{i:02d}"))
    whole, _ = store.list("configmaps")
    first = store.list_page("configmaps", None, None, limit=4)
    assert len(first.items) == 4 and first.remaining == 6 and first.continue_token
    items, versions = _all_pages(store, None, 4)
    assert _names(items) == _names(whole)
    assert len(set(versions)) == 1  # every page names the snapshot of the first
    last = store.list_page("configmaps", "a", None, limit=5)
    assert last.continue_token is None and last.remaining == 0 and len(last.items) == 5


def test_later_pages_show_the_snapshot_of_the_first_whatever_was_written_in_between():
    store = Store()
    for i in range(6):
        store.create("configmaps", "ns", _cm(f"cm-{i}", v="old"))
    before, _ = store.list("configmaps", "ns")
    writes = iter(
        [
            lambda: store.delete("configmaps", "ns", "cm-5"),
            lambda: store.create("configmaps", "ns", _cm("cm-9")),
            lambda: store.replace("configmaps", "ns", "cm-4", _cm("cm-4", v="new")),
            lambda: store.delete("configmaps", "ns", "cm-3"),
            lambda: None,
        ]
    )
    items, _ = _all_pages(store, "ns", 1, between=lambda: next(writes)())
    assert items == before  # cm-5 and cm-3 still there, no cm-9, cm-4 as it was
    assert [o["data"]["v"] for o in items if o["metadata"]["name"] == "cm-4"] == ["old"]
    now, _ = store.list("configmaps", "ns")
    assert _names(now) == ["cm-0", "cm-1", "cm-2", "cm-4", "cm-9"]


def test_a_continue_token_older_than_the_history_is_gone_and_a_forged_one_is_refused():
    store = Store()
    store._history = collections.deque(maxlen=3)  # a short memory, as after a busy hour
    for i in range(4):
        store.create("configmaps", "ns", _cm(f"cm-{i}"))
    token = store.list_page("configmaps", "ns", None, limit=1).continue_token
    for i in range(5):
        store.replace("configmaps", "ns", "cm-3", _cm("cm-3", n=str(i)))
    with pytest.raises(Gone, match="too old"):
        store.list_page("configmaps", "ns", None, limit=1, continue_token=token)
    for forged in ("not-base64!", "eyJ4IjoxfQ"):  # garbage; valid base64 of {"x":1}
        with pytest.raises(BadContinue):
            store.list_page("configmaps", "ns", None, limit=1, continue_token=forged)


operations = st.lists(
    st.tuples(st.sampled_from(["create", "delete", "modify"]), st.integers(0, 11), st.integers(0, 3)),
    max_size=30,
)


@settings(max_examples=150, deadline=None)
@given(start=st.sets(st.integers(0, 11), max_size=12), writes=operations, limit=st.integers(1, 5))
def test_paging_is_a_consistent_snapshot_under_any_interleaved_writes(start, writes, limit):
    store = Store()
    for i in sorted(start):
        store.create("configmaps", f"ns{i % 3}", _cm(f"cm-{i}", v="0"))
    expected, _ = store.list("configmaps")
    pending = iter(writes)

    def write() -> None:
        for op, i, v in pending:
            ns, name = f"ns{i % 3}", f"cm-{i}"
            exists = store.find("configmaps", ns, name) is not None
            if op == "create" and not exists:
                store.create("configmaps", ns, _cm(name, v="new"))
            elif op == "delete" and exists:
                store.delete("configmaps", ns, name)
            elif op == "modify" and exists:
                store.replace("configmaps", ns, name, _cm(name, v=str(v)))
            if v == 0:  # a page now and then, not after every write
                return

    items, _ = _all_pages(store, None, limit, between=write)
    assert items == expected


# -- over HTTP ------------------------------------------------------------------------------


def test_the_api_pages_lists_and_tables_like_a_real_server(api_lab, ns):
    core = api_lab.core()
    for i in range(7):
        core.create_namespaced_config_map(ns, _cm(f"cm-{i}"))
    first = core.list_namespaced_config_map(ns, limit=3)
    assert len(first.items) == 3 and first.metadata._continue and first.metadata.remaining_item_count == 4
    names = [i.metadata.name for i in first.items]
    token = first.metadata._continue
    while token:
        page = core.list_namespaced_config_map(ns, limit=3, _continue=token)
        assert page.metadata.resource_version == first.metadata.resource_version
        names += [i.metadata.name for i in page.items]
        token = page.metadata._continue
    assert names == [f"cm-{i}" for i in range(7)]
    # kubectl pages its table requests too (--chunk-size, 500 by default)
    out = api_lab.kubectl("get", "configmaps", "-n", ns, "--chunk-size=2", "-o", "name").stdout.split()
    assert out == [f"configmap/cm-{i}" for i in range(7)]


def test_a_forged_continue_token_is_a_400_status(api_lab, ns):
    from kubernetes.client.exceptions import ApiException

    core = api_lab.core()
    with pytest.raises(ApiException) as err:
        core.list_namespaced_config_map(ns, limit=1, _continue="garbage")
    assert err.value.status == 400 and "continue" in json.loads(err.value.body)["message"]


def _traffic(api_lab) -> dict:
    resp = api_lab.http().request(
        "GET", f"{api_lab.url}/lab/v1/traffic", headers={"Authorization": f"Bearer {api_lab.token}"}
    )
    assert resp.status == 200
    return json.loads(resp.data)


def test_traffic_counts_calls_and_bytes_served_per_verb_and_resource(api_lab, ns):
    core = api_lab.core()
    before = _traffic(api_lab)
    core.create_namespaced_config_map(ns, _cm("counted"))
    listed = core.list_namespaced_config_map(ns, _preload_content=False)
    body = listed.data
    resp = core.list_namespaced_config_map(
        ns, watch=True, resource_version="1", timeout_seconds=1, _preload_content=False
    )
    streamed = resp.data  # replays the create from the history, then the server ends it
    after = _traffic(api_lab)
    calls = {k: after["byCall"].get(k, 0) - before["byCall"].get(k, 0) for k in after["byCall"]}
    assert calls["create configmaps"] == 1 and calls["list configmaps"] == 1 and calls["watch configmaps"] == 1
    sent = {k: after["bytesByCall"].get(k, 0) - before["bytesByCall"].get(k, 0) for k in after["bytesByCall"]}
    assert sent["list configmaps"] == len(body)
    assert sent["watch configmaps"] == len(streamed) > 0
    assert after["calls"] - before["calls"] == 3 and after["inFlight"] == 0
