"""The lab's object store: every API object, its resourceVersion, and watch fan-out.

Objects are plain Kubernetes-shaped dicts keyed by (resource, namespace, name), where
``resource`` is the plural plus group (``pods``, ``networkpolicies.networking.k8s.io``).
One counter gives every write a new resourceVersion, like etcd's revision; watches
replay from a bounded history and answer 410 Gone when asked for something older.
Paged lists (``limit``/``continue``) are one consistent snapshot, as the real API server
guarantees: a later page is cut from the state at the first page's resourceVersion,
rebuilt by undoing the history since then (410 Gone once the history no longer reaches).

Ownership rule (why it is fast): the store owns every dict handed to it and never
mutates a stored dict in place; readers get the stored dicts and must not mutate them
(copy first). Listing 200 pods therefore costs no deep copies.
"""

from __future__ import annotations

import asyncio
import base64
import builtins
import collections
import contextlib
import datetime as _dt
import enum
import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]
Predicate = Callable[[Obj], bool]

HISTORY_LIMIT = 20000  # events kept for watch resume; a few minutes of a busy lab
WATCH_QUEUE_LIMIT = 100000  # a watcher that falls this far behind is closed (client re-lists)


class StoreError(Exception):
    """Base of the store's refusals; the API maps each to a Status."""


class NotFound(StoreError):
    """No object with that name (the API answers 404)."""


class AlreadyExists(StoreError):
    """An object with that name exists already (the API answers 409)."""


class Conflict(StoreError):
    """The caller's resourceVersion is stale (optimistic concurrency)."""


class Gone(StoreError):
    """A watch asked for a resourceVersion older than the history kept."""


class BadContinue(StoreError):
    """A list's continue token that this store never issued (the API answers 400)."""


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a list: its items, the snapshot's resourceVersion, and what follows."""

    items: list[Obj]
    resource_version: str
    continue_token: str | None  # None: this was the last page
    remaining: int  # items after this page


def _encode_continue(rv: int, after: tuple[str, str]) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "after": list(after)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_continue(token: str) -> tuple[int, tuple[str, str]]:
    try:
        doc = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        rv, after = int(doc["rv"]), doc["after"]
        if doc.get("v") != "meta.k8s.io/v1" or not (isinstance(after, list) and len(after) == 2):
            raise ValueError
        return rv, (str(after[0]), str(after[1]))
    except (ValueError, TypeError, KeyError):
        raise BadContinue("continue key is not valid") from None


class EventType(enum.StrEnum):
    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"
    BOOKMARK = "BOOKMARK"
    ERROR = "ERROR"


@dataclass(frozen=True, slots=True)
class Event:
    rv: int
    type: EventType
    resource: str
    namespace: str
    obj: Obj
    previous: Obj | None = None


def now_rfc3339() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(eq=False)
class Watcher:
    """One open watch: a queue of (type, object) filtered by resource, namespace, predicate."""

    resource: str
    namespace: str | None
    predicate: Predicate
    queue: asyncio.Queue[tuple[EventType, Obj] | None] = field(  # None: the watch is closed
        default_factory=lambda: asyncio.Queue(WATCH_QUEUE_LIMIT)
    )
    closed: bool = False

    def offer(self, event: Event) -> None:
        """Translate one store event into what this watcher sees (selector moves included)."""
        if self.closed or event.resource != self.resource:
            return
        if self.namespace is not None and event.namespace != self.namespace:
            return
        now = self.predicate(event.obj)
        if event.type is EventType.MODIFIED and event.previous is not None:
            before = self.predicate(event.previous)
            if before and not now:
                self._put(EventType.DELETED, event.obj)
            elif now and not before:
                self._put(EventType.ADDED, event.obj)
            elif now:
                self._put(EventType.MODIFIED, event.obj)
        elif now:
            self._put(event.type, event.obj)

    def _put(self, type_: EventType, obj: Obj) -> None:
        try:
            self.queue.put_nowait((type_, obj))
        except asyncio.QueueFull:
            self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            with contextlib.suppress(asyncio.QueueFull):
                self.queue.put_nowait(None)


class Store:
    """Objects, resourceVersions and watchers. Single-threaded: use from the event loop."""

    def __init__(self) -> None:
        self._objects: dict[str, dict[tuple[str, str], Obj]] = collections.defaultdict(dict)
        self._rv = 1
        self._history: collections.deque[Event] = collections.deque(maxlen=HISTORY_LIMIT)
        self._watchers: set[Watcher] = set()
        self._uids: dict[str, tuple[str, str, str]] = {}

    # -- reads ---------------------------------------------------------------------
    @property
    def resource_version(self) -> str:
        return str(self._rv)

    def get(self, resource: str, namespace: str, name: str) -> Obj:
        try:
            return self._objects[resource][(namespace, name)]
        except KeyError:
            raise NotFound(name) from None

    def find(self, resource: str, namespace: str, name: str) -> Obj | None:
        return self._objects[resource].get((namespace, name))

    def list(
        self, resource: str, namespace: str | None = None, predicate: Predicate | None = None
    ) -> tuple[list[Obj], str]:
        """Matching objects sorted by (namespace, name), and the store's current resourceVersion."""
        items = [
            obj
            for (ns, _), obj in self._objects[resource].items()
            if (namespace is None or ns == namespace) and (predicate is None or predicate(obj))
        ]
        items.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
        return items, str(self._rv)

    def list_page(
        self,
        resource: str,
        namespace: str | None,
        predicate: Predicate | None,
        *,
        limit: int,
        continue_token: str | None = None,
    ) -> Page:
        """At most ``limit`` matching objects in (namespace, name) order, continuing after
        ``continue_token``'s key in the same snapshot (its resourceVersion)."""
        if continue_token:
            rv, after = _decode_continue(continue_token)
            objects = self._objects_at(resource, rv)
        else:
            rv, after, objects = self._rv, ("", ""), self._objects[resource]
        keys = sorted(
            key
            for key, obj in objects.items()
            if (namespace is None or key[0] == namespace)
            and (not continue_token or key > after)
            and (predicate is None or predicate(obj))
        )
        chosen = keys[: max(1, limit)]
        more = len(keys) > len(chosen)
        return Page(
            [objects[k] for k in chosen],
            str(rv),
            _encode_continue(rv, chosen[-1]) if more else None,
            len(keys) - len(chosen),
        )

    def _objects_at(self, resource: str, rv: int) -> dict[tuple[str, str], Obj]:
        """The objects of ``resource`` as they were at resourceVersion ``rv``."""
        objects = dict(self._objects[resource])
        if rv >= self._rv:
            return objects
        oldest = self._history[0].rv if self._history else self._rv + 1
        if rv < oldest - 1:
            raise Gone(
                "The provided continue parameter is too old to display a consistent list result. "
                "You can start a new list without the continue parameter."
            )
        for event in reversed(self._history):  # undo every write after rv, newest first
            if event.rv <= rv:
                break
            if event.resource != resource:
                continue
            key = (event.namespace, event.obj["metadata"]["name"])
            if event.type is EventType.ADDED or event.previous is None:
                objects.pop(key, None)
            else:  # MODIFIED and DELETED carry the object as it was before
                objects[key] = event.previous
        return objects

    def by_uid(self, uid: str) -> tuple[str, Obj] | None:
        where = self._uids.get(uid)
        if where is None:
            return None
        resource, ns, name = where
        obj = self._objects[resource].get((ns, name))
        return (resource, obj) if obj is not None else None

    def dependents(self, owner_uid: str) -> builtins.list[tuple[str, Obj]]:  # `list` here is Store.list
        """Every object listing ``owner_uid`` in its metadata.ownerReferences."""
        found = []
        for resource, objs in self._objects.items():
            for obj in objs.values():
                refs = obj["metadata"].get("ownerReferences") or ()
                if any(isinstance(r, dict) and r.get("uid") == owner_uid for r in refs):
                    found.append((resource, obj))
        return found

    def resources(self) -> Iterable[str]:
        return list(self._objects)

    # -- writes --------------------------------------------------------------------
    def _next_rv(self) -> int:
        self._rv += 1
        return self._rv

    def create(self, resource: str, namespace: str, obj: Obj) -> Obj:
        """Store a new object, filling uid, resourceVersion, creationTimestamp, generation."""
        meta = obj.setdefault("metadata", {})
        name = meta["name"]
        key = (namespace, name)
        if key in self._objects[resource]:
            raise AlreadyExists(name)
        rv = self._next_rv()
        if namespace:
            meta["namespace"] = namespace
        meta["uid"] = str(uuid.uuid4())
        meta["resourceVersion"] = str(rv)
        meta["creationTimestamp"] = now_rfc3339()
        meta["generation"] = 1
        meta.pop("deletionTimestamp", None)
        self._objects[resource][key] = obj
        self._uids[meta["uid"]] = (resource, namespace, name)
        self._emit(Event(rv, EventType.ADDED, resource, namespace, obj))
        return obj

    def replace(
        self,
        resource: str,
        namespace: str,
        name: str,
        obj: Obj,
        *,
        expected_rv: str | None = None,
        bump_generation: bool = False,
    ) -> Obj:
        """Replace a stored object; ``expected_rv`` (if given) must equal the stored one."""
        old = self.get(resource, namespace, name)
        old_meta = old["metadata"]
        if expected_rv and expected_rv != old_meta["resourceVersion"]:
            raise Conflict(name)
        meta = obj.setdefault("metadata", {})
        # identity fields are the store's, whatever the client sent
        for key in ("name", "uid", "creationTimestamp", "namespace"):
            if key in old_meta:
                meta[key] = old_meta[key]
        meta["generation"] = old_meta.get("generation", 1) + (1 if bump_generation else 0)
        rv = self._next_rv()
        meta["resourceVersion"] = str(rv)
        self._objects[resource][(namespace, name)] = obj
        self._emit(Event(rv, EventType.MODIFIED, resource, namespace, obj, old))
        return obj

    def delete(
        self,
        resource: str,
        namespace: str,
        name: str,
        *,
        expected_uid: str | None = None,
        expected_rv: str | None = None,
    ) -> Obj:
        old = self.get(resource, namespace, name)
        if expected_uid and old["metadata"].get("uid") != expected_uid:
            raise Conflict(name)
        if expected_rv and old["metadata"].get("resourceVersion") != expected_rv:
            raise Conflict(name)
        del self._objects[resource][(namespace, name)]
        self._uids.pop(old["metadata"].get("uid", ""), None)
        rv = self._next_rv()
        # the DELETED event carries the object at the deletion's resourceVersion (and the
        # object as it was, so a paged list can rebuild the state before the deletion)
        gone = {**old, "metadata": {**old["metadata"], "resourceVersion": str(rv)}}
        self._emit(Event(rv, EventType.DELETED, resource, namespace, gone, old))
        return gone

    # -- watches -------------------------------------------------------------------
    def watch(
        self, resource: str, namespace: str | None, predicate: Predicate, resource_version: str | None
    ) -> Watcher:
        """Open a watch. Without a resourceVersion (or "0"), current objects come first as ADDED."""
        watcher = Watcher(resource, namespace, predicate)
        if not resource_version or resource_version == "0":
            items, _ = self.list(resource, namespace, predicate)
            for obj in items:
                watcher._put(EventType.ADDED, obj)
        else:
            try:
                since = int(resource_version)
            except ValueError:
                raise Gone(f"invalid resourceVersion {resource_version!r}") from None
            oldest = self._history[0].rv if self._history else self._rv + 1
            if since < oldest - 1 and since < self._rv:
                raise Gone(f"too old resource version: {since} ({oldest - 1})")
            for event in self._history:
                if event.rv > since:
                    watcher.offer(event)
        self._watchers.add(watcher)
        return watcher

    def unwatch(self, watcher: Watcher) -> None:
        watcher.close()
        self._watchers.discard(watcher)

    def close_watchers(self) -> None:
        for watcher in list(self._watchers):
            self.unwatch(watcher)

    def _emit(self, event: Event) -> None:
        self._history.append(event)
        for watcher in list(self._watchers):
            watcher.offer(event)
            if watcher.closed:
                self._watchers.discard(watcher)
