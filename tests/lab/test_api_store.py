"""The object store: resourceVersions, identity fields, watch fan-out and resume."""

from __future__ import annotations

import asyncio

import pytest

from lab.store import AlreadyExists, Conflict, EventType, Gone, NotFound, Store


def _cm(name: str, **labels: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}}


def _drain(watcher) -> list[tuple[str, str]]:
    out = []
    while not watcher.queue.empty():
        item = watcher.queue.get_nowait()
        if item is None:
            break
        out.append((str(item[0]), item[1]["metadata"]["name"]))
    return out


def test_create_fills_identity_and_every_write_bumps_the_resource_version():
    store = Store()
    a = store.create("configmaps", "ns", _cm("a"))
    meta = a["metadata"]
    assert meta["namespace"] == "ns" and meta["uid"] and meta["generation"] == 1
    assert meta["creationTimestamp"].endswith("Z")
    rv1 = int(meta["resourceVersion"])
    b = store.replace("configmaps", "ns", "a", {**_cm("a"), "data": {"x": "1"}})
    assert int(b["metadata"]["resourceVersion"]) > rv1
    assert b["metadata"]["uid"] == meta["uid"]  # identity is the store's, not the client's
    assert store.resource_version == b["metadata"]["resourceVersion"]


def test_create_twice_replace_missing_and_stale_versions_are_refused():
    store = Store()
    store.create("configmaps", "ns", _cm("a"))
    with pytest.raises(AlreadyExists):
        store.create("configmaps", "ns", _cm("a"))
    with pytest.raises(NotFound):
        store.replace("configmaps", "ns", "zz", _cm("zz"))
    with pytest.raises(Conflict):
        store.replace("configmaps", "ns", "a", _cm("a"), expected_rv="1")


def test_list_filters_by_namespace_and_predicate_sorted():
    store = Store()
    for ns, name in (("b", "y"), ("a", "z"), ("a", "x")):
        store.create("configmaps", ns, _cm(name, tier="web" if name != "z" else "db"))
    items, rv = store.list("configmaps")
    assert [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in items] == [("a", "x"), ("a", "z"), ("b", "y")]
    items, _ = store.list("configmaps", "a", lambda o: o["metadata"]["labels"]["tier"] == "web")
    assert [o["metadata"]["name"] for o in items] == ["x"]


def test_watch_without_version_starts_with_current_objects_then_streams():
    async def scenario():
        store = Store()
        store.create("configmaps", "ns", _cm("a"))
        w = store.watch("configmaps", "ns", lambda o: True, None)
        store.create("configmaps", "ns", _cm("b"))
        store.create("configmaps", "other", _cm("c"))
        store.delete("configmaps", "ns", "a")
        return _drain(w)

    assert asyncio.run(scenario()) == [("ADDED", "a"), ("ADDED", "b"), ("DELETED", "a")]


def test_watch_resumes_after_a_resource_version():
    async def scenario():
        store = Store()
        store.create("configmaps", "ns", _cm("a"))
        rv = store.resource_version
        store.create("configmaps", "ns", _cm("b"))
        store.replace("configmaps", "ns", "a", _cm("a", x="1"))
        return _drain(store.watch("configmaps", None, lambda o: True, rv))

    assert asyncio.run(scenario()) == [("ADDED", "b"), ("MODIFIED", "a")]


def test_watch_from_a_version_older_than_history_is_gone(monkeypatch):
    import lab.store as store_mod

    monkeypatch.setattr(store_mod, "HISTORY_LIMIT", 3)
    store = Store()
    for i in range(10):
        store.create("configmaps", "ns", _cm(f"c{i}"))
    with pytest.raises(Gone):
        store.watch("configmaps", None, lambda o: True, "2")


def test_selector_watch_translates_label_changes_into_added_and_deleted():
    async def scenario():
        store = Store()
        store.create("configmaps", "ns", _cm("a", keep="yes"))
        w = store.watch(
            "configmaps", None, lambda o: o["metadata"]["labels"].get("keep") == "yes", store.resource_version
        )
        store.replace("configmaps", "ns", "a", _cm("a", keep="no"))
        store.replace("configmaps", "ns", "a", _cm("a", keep="yes"))
        store.replace("configmaps", "ns", "a", _cm("a", keep="yes", more="1"))
        return _drain(w)

    assert asyncio.run(scenario()) == [("DELETED", "a"), ("ADDED", "a"), ("MODIFIED", "a")]


def test_dependents_by_owner_uid():
    store = Store()
    owner = store.create("configmaps", "ns", _cm("owner"))
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"]}
    store.create("pods", "ns", {"metadata": {"name": "p", "ownerReferences": [ref]}})
    store.create("configmaps", "ns", _cm("free"))
    assert [(r, o["metadata"]["name"]) for r, o in store.dependents(owner["metadata"]["uid"])] == [("pods", "p")]
    assert store.by_uid(owner["metadata"]["uid"])[0] == "configmaps"


def test_deleted_event_carries_a_new_resource_version():
    async def scenario():
        store = Store()
        created = store.create("configmaps", "ns", _cm("a"))
        w = store.watch("configmaps", None, lambda o: True, store.resource_version)
        store.delete("configmaps", "ns", "a")
        kind, obj = w.queue.get_nowait()
        return kind, obj, created

    kind, obj, created = asyncio.run(scenario())
    assert kind is EventType.DELETED
    assert int(obj["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
