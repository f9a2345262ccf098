"""HTTP handlers for resource paths: CRUD, list/watch, patch, subresources, pod logs."""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Any

from aiohttp import web

import safeyaml
from lab.api import errors, protobuf, selectors, tables
from lab.api import patch as patches
from lab.api.cluster import Cluster
from lab.api.errors import ApiError
from lab.api.resources import PODS, SUBRESOURCES, ResourceType
from lab.api.traffic import traffic_of, verb_of
from lab.store import BadContinue, Gone, NotFound, Obj, Predicate, Store

MAX_BODY = 3 * 1024 * 1024  # the real API server's request size limit
WATCH_DEFAULT_TIMEOUT = 1800  # seconds; real servers pick 30-60 min
LOG_POLL_SECONDS = 0.2  # how often a follow=true log stream looks for new output
DISCONNECT_CHECK_SECONDS = 2.0  # how often an idle watch checks that its client is still there
JSON_TYPE = "application/json"


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def json_response(obj: Any, status: int = 200, warnings: list[str] | None = None) -> web.Response:
    headers = {}
    if warnings:
        headers["Warning"] = ", ".join("299 - " + json.dumps(w) for w in warnings[:20])
    return web.Response(body=dumps(obj), status=status, content_type=JSON_TYPE, headers=headers)


async def _write(request: web.Request, response: web.StreamResponse, data: bytes) -> None:
    """Write one chunk of a streamed response, counted as it goes out."""
    await response.write(data)
    traffic = traffic_of(request)
    if traffic is not None:
        traffic.sent(request, len(data))


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("true", "1")


def _int_param(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError:
        raise errors.bad_request(f"{name}: invalid integer {raw!r}") from None


async def read_body(request: web.Request) -> Any:
    raw = await request.read()
    if len(raw) > MAX_BODY:
        raise ApiError(413, "RequestEntityTooLarge", "request is too large")
    if not raw.strip():
        raise errors.bad_request("the request body is empty")
    ctype = request.content_type
    if ctype == "application/vnd.kubernetes.protobuf":
        try:
            return protobuf.decode(raw)
        except protobuf.ProtobufError as exc:
            raise ApiError(415, "UnsupportedMediaType", str(exc)) from None
    if not (ctype.endswith("json") or ctype.endswith("yaml") or ctype in ("", "application/octet-stream")):
        raise errors.unsupported_media_type(ctype)
    try:
        if "yaml" in ctype:  # the one bounded loader for YAML someone else wrote
            return safeyaml.load(raw, safeyaml.Limits(max_bytes=MAX_BODY))
        return json.loads(raw)
    except RecursionError:
        raise errors.bad_request("the body of the request could not be decoded: nested too deeply") from None
    except ValueError as exc:  # YamlError, JSONDecodeError, UnicodeDecodeError
        raise errors.bad_request(f"the body of the request could not be decoded: {str(exc)[:200]}") from None


def _dry_run(request: web.Request) -> bool:
    values = request.query.getall("dryRun", [])
    for v in values:
        if v != "All":
            raise errors.bad_request(f'dryRun: Unsupported value: "{v}": supported values: "All"')
    return bool(values)


class ResourceHandlers:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    @property
    def store(self) -> Store:
        return self.cluster.store

    # -- dispatch ------------------------------------------------------------------------
    async def dispatch(
        self, request: web.Request, rt: ResourceType, namespace: str | None, name: str | None, subresource: str
    ) -> web.StreamResponse:
        method = request.method
        traffic = traffic_of(request)
        if traffic is not None:
            verb = verb_of(method, named=name is not None, watch=_flag(request, "watch"), collection_delete=True)
            traffic.call(request, f"{verb} {rt.plural}{'/' + subresource if subresource else ''}")
        if rt.namespaced and namespace is not None and name is None and method == "POST":
            return await self.create(request, rt, namespace)
        if name is None:
            if method == "GET":
                if _flag(request, "watch"):
                    return await self.watch(request, rt, namespace)
                return self.list(request, rt, namespace)
            if method == "POST":
                if rt.namespaced:
                    raise errors.method_not_allowed()
                return await self.create(request, rt, "")
            if method == "DELETE" and "deletecollection" in rt.verbs and (namespace is not None or not rt.namespaced):
                return await self.delete_collection(request, rt, namespace or "")
            raise errors.method_not_allowed()
        ns = namespace or ""
        if subresource:
            if subresource not in SUBRESOURCES.get(rt.key, {}):
                raise ApiError(
                    404,
                    "NotFound",
                    "the server could not find the requested resource "
                    f"(the kubereach lab does not serve {rt.plural}/{subresource})",
                )
            if subresource == "log":
                if method != "GET":
                    raise errors.method_not_allowed()
                return await self.log(request, ns, name)
            if subresource == "scale":
                return await self.scale(request, rt, ns, name)
        if method == "GET":
            obj = self._get(rt, ns, name)
            if not subresource and tables.wants_table(request.headers.get("Accept", "")):
                return json_response(
                    tables.table(
                        rt.key,
                        [obj],
                        resource_version=obj["metadata"].get("resourceVersion", ""),
                        include_object=request.query.get("includeObject", "Metadata"),
                    )
                )
            return json_response(obj)
        if method == "PUT":
            return await self.replace(request, rt, ns, name, subresource)
        if method == "PATCH":
            return await self.patch(request, rt, ns, name, subresource)
        if method == "DELETE" and not subresource:
            return await self.delete(request, rt, ns, name)
        raise errors.method_not_allowed()

    def _get(self, rt: ResourceType, ns: str, name: str) -> Obj:
        obj = self.store.find(rt.key, ns if rt.namespaced else "", name)
        if obj is None:
            raise errors.not_found(rt.plural, name, rt.group)
        return obj

    # -- reads ---------------------------------------------------------------------------
    def _predicate(self, request: web.Request, rt: ResourceType) -> Predicate:
        try:
            return selectors.both(
                selectors.label_selector(request.query.get("labelSelector")),
                selectors.field_selector(request.query.get("fieldSelector"), rt.key),
            )
        except selectors.SelectorError as exc:
            raise errors.bad_request(str(exc)) from None

    def list(self, request: web.Request, rt: ResourceType, namespace: str | None) -> web.Response:
        """A list; with ``limit`` (or ``continue``) one page of a consistent snapshot, its
        ``metadata.continue`` naming the next, as the real API server pages (kubectl asks
        for 500 at a time)."""
        predicate = self._predicate(request, rt)
        scope = namespace if rt.namespaced else None
        limit = _int_param(request, "limit") or 0
        token = request.query.get("continue") or None
        meta: dict[str, Any]
        if limit > 0 or token:
            try:
                page = self.store.list_page(
                    rt.key, scope, predicate, limit=limit if limit > 0 else 1 << 62, continue_token=token
                )
            except BadContinue as exc:
                raise errors.bad_request(str(exc)) from None
            except Gone as exc:
                raise errors.gone(str(exc)) from None
            items, meta = page.items, {"resourceVersion": page.resource_version}
            if page.continue_token:
                meta.update({"continue": page.continue_token, "remainingItemCount": page.remaining})
        else:
            items, rv = self.store.list(rt.key, scope, predicate)
            meta = {"resourceVersion": rv}
        accept = request.headers.get("Accept", "")
        if tables.wants_table(accept):
            table = tables.table(
                rt.key,
                items,
                resource_version=meta["resourceVersion"],
                include_object=request.query.get("includeObject", "Metadata"),
            )
            table["metadata"] = meta
            return json_response(table)
        return json_response({"kind": rt.kind + "List", "apiVersion": rt.api_version, "metadata": meta, "items": items})

    async def watch(self, request: web.Request, rt: ResourceType, namespace: str | None) -> web.StreamResponse:
        predicate = self._predicate(request, rt)
        rv = request.query.get("resourceVersion")
        initial_events = _flag(request, "sendInitialEvents")
        try:
            watcher = self.store.watch(
                rt.key, namespace if rt.namespaced else None, predicate, None if initial_events else rv
            )
        except Gone as exc:
            watcher = None
            gone_status = errors.gone(str(exc)).status()
        timeout = _int_param(request, "timeoutSeconds") or WATCH_DEFAULT_TIMEOUT
        as_table = tables.wants_table(request.headers.get("Accept", ""))
        include = request.query.get("includeObject", "Metadata")
        response = web.StreamResponse(headers={"Content-Type": JSON_TYPE, "Cache-Control": "no-cache"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        if watcher is None:
            await _write(request, response, dumps({"type": "ERROR", "object": gone_status}) + b"\n")
            return response
        first_table = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        pending_bookmark = initial_events
        try:
            while True:
                if pending_bookmark and watcher.queue.empty():
                    pending_bookmark = False
                    bookmark = {
                        "kind": rt.kind,
                        "apiVersion": rt.api_version,
                        "metadata": {
                            "resourceVersion": self.store.resource_version,
                            "annotations": {"k8s.io/initial-events-end": "true"},
                        },
                    }
                    await _write(request, response, dumps({"type": "BOOKMARK", "object": bookmark}) + b"\n")
                    continue
                remaining = deadline - loop.time()
                if remaining <= 0 or _gone(request):
                    break
                try:
                    item = await asyncio.wait_for(watcher.queue.get(), min(remaining, DISCONNECT_CHECK_SECONDS))
                except TimeoutError:
                    continue
                if item is None:
                    break
                type_, obj = item
                if as_table:
                    obj = tables.table(
                        rt.key,
                        [obj],
                        include_object=include,
                        resource_version=obj["metadata"].get("resourceVersion", ""),
                        with_columns=first_table,
                    )
                    first_table = False
                await _write(request, response, dumps({"type": str(type_), "object": obj}) + b"\n")
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.store.unwatch(watcher)
        return response

    # -- writes --------------------------------------------------------------------------
    async def create(self, request: web.Request, rt: ResourceType, namespace: str) -> web.Response:
        body = await read_body(request)
        if isinstance(body, dict) and protobuf.FROM_OWNER in body:
            body = self._job_from_cronjob(body, namespace)
        obj, warnings = self.cluster.decode(rt, body, field_validation=request.query.get("fieldValidation", ""))
        created = await self.cluster.create(rt, namespace, obj, dry_run=_dry_run(request), warnings=warnings)
        return json_response(created, 201, warnings)

    def _job_from_cronjob(self, body: dict[str, Any], namespace: str) -> dict[str, Any]:
        """A protobuf Job from ``kubectl create job --from=cronjob/X``: its spec is X's job
        template (see :data:`lab.api.protobuf.FROM_OWNER`)."""
        wanted = body.pop(protobuf.FROM_OWNER)
        for ref in (body.get("metadata") or {}).get("ownerReferences") or ():
            if ref.get("kind") != "CronJob":
                continue
            owner = self.store.find("cronjobs.batch", namespace, ref.get("name", ""))
            if owner is None or owner["metadata"]["uid"] != ref.get("uid"):
                continue
            job_spec = ((owner.get("spec") or {}).get("jobTemplate") or {}).get("spec") or {}
            containers = ((job_spec.get("template") or {}).get("spec") or {}).get("containers") or []
            if protobuf.container_fingerprint(containers) == wanted:
                return {**body, "spec": copy.deepcopy(job_spec)}
        raise ApiError(
            415,
            "UnsupportedMediaType",
            "the lab reads a protobuf Job only as kubectl create job --from=cronjob/NAME sends it; "
            "send JSON (kubectl create -f / apply -f)",
        )

    async def replace(
        self, request: web.Request, rt: ResourceType, ns: str, name: str, subresource: str
    ) -> web.Response:
        body = await read_body(request)
        obj, warnings = self.cluster.decode(rt, body, field_validation=request.query.get("fieldValidation", ""))
        updated = await self.cluster.update(rt, ns, name, obj, subresource=subresource, dry_run=_dry_run(request))
        return json_response(updated, 200, warnings)

    async def patch(self, request: web.Request, rt: ResourceType, ns: str, name: str, subresource: str) -> web.Response:
        # Read the body first: from here to the store's replace there is no await, so
        # the patch applies to the latest object and concurrent patches (the sweep adds
        # ephemeral containers to one pod in parallel) never overwrite each other.
        body = await read_body(request)
        current = self._get(rt, ns, name)
        ctype = request.content_type
        base = copy.deepcopy(current)
        try:
            if ctype == "application/json-patch+json":
                patched = patches.json_patch(base, body)
            elif ctype == "application/merge-patch+json":
                if not isinstance(body, dict):
                    raise errors.bad_request("a merge patch must be a JSON object")
                patched = patches.merge_patch(base, body)
            elif ctype == "application/strategic-merge-patch+json":
                if not isinstance(body, dict):
                    raise errors.bad_request("a strategic merge patch must be a JSON object")
                patched = patches.strategic_merge_patch(base, body)
            elif ctype.startswith("application/apply-patch"):
                raise errors.unsupported_media_type(ctype + " (server-side apply is not supported by the lab)")
            else:
                raise errors.unsupported_media_type(ctype)
        except patches.PatchError as exc:
            raise ApiError(
                422, "Invalid", f"the patch could not be applied: {exc}", kind=rt.plural, name=name, group=rt.group
            ) from None
        if not isinstance(patched, dict):
            raise errors.bad_request("the patch did not produce an object")
        # a patch never carries a stale resourceVersion unless the client put one in
        body_meta = body.get("metadata") if isinstance(body, dict) else None
        body_rv = body_meta.get("resourceVersion") if isinstance(body_meta, dict) else None
        patched.setdefault("metadata", {})
        if isinstance(patched["metadata"], dict):
            patched["metadata"]["resourceVersion"] = body_rv or None
        obj, warnings = self.cluster.decode(rt, patched, field_validation=request.query.get("fieldValidation", ""))
        updated = await self.cluster.update(rt, ns, name, obj, subresource=subresource, dry_run=_dry_run(request))
        return json_response(updated, 200, warnings)

    async def scale(self, request: web.Request, rt: ResourceType, ns: str, name: str) -> web.Response:
        """The ``scale`` subresource: an ``autoscaling/v1`` Scale in and out (``kubectl scale``)."""
        if request.method == "GET":
            return json_response(self.cluster.get_scale(rt, ns, name))
        if request.method not in ("PUT", "PATCH"):
            raise errors.method_not_allowed()
        body = await read_body(request)
        if request.method == "PATCH":
            current = self.cluster.get_scale(rt, ns, name)
            try:
                if request.content_type == "application/json-patch+json":
                    body = patches.json_patch(current, body)
                elif request.content_type in (
                    "application/merge-patch+json",
                    "application/strategic-merge-patch+json",
                ) and isinstance(body, dict):
                    body = patches.merge_patch(current, body)
                else:
                    raise errors.unsupported_media_type(request.content_type)
            except patches.PatchError as exc:
                raise ApiError(422, "Invalid", f"the patch could not be applied: {exc}") from None
            if isinstance(body, dict) and isinstance(body.get("metadata"), dict):
                body["metadata"].pop("resourceVersion", None)  # a patch is never stale
        scaled = await self.cluster.update_scale(rt, ns, name, body, dry_run=_dry_run(request))
        return json_response(scaled)

    async def _delete_options(self, request: web.Request) -> dict[str, Any]:
        options: dict[str, Any] = {}
        raw = await request.read()
        if raw.strip():
            try:
                options = json.loads(raw)
            except ValueError:
                raise errors.bad_request("DeleteOptions could not be decoded") from None
            if not isinstance(options, dict):
                raise errors.bad_request("DeleteOptions must be an object")
        if "propagationPolicy" in request.query:
            options["propagationPolicy"] = request.query["propagationPolicy"]
        if options.get("orphanDependents") is True and "propagationPolicy" not in options:
            options["propagationPolicy"] = "Orphan"
        return options

    async def delete(self, request: web.Request, rt: ResourceType, ns: str, name: str) -> web.Response:
        options = await self._delete_options(request)
        pre = options.get("preconditions") or {}
        dry = _dry_run(request) or bool(options.get("dryRun"))
        deleted = await self.cluster.delete(
            rt,
            ns,
            name,
            propagation=options.get("propagationPolicy") or "Background",
            uid=pre.get("uid"),
            resource_version=pre.get("resourceVersion"),
            dry_run=dry,
        )
        return json_response(deleted)

    async def delete_collection(self, request: web.Request, rt: ResourceType, ns: str) -> web.Response:
        options = await self._delete_options(request)
        predicate = self._predicate(request, rt)
        items, rv = self.store.list(rt.key, ns if rt.namespaced else None, predicate)
        dry = _dry_run(request)
        deleted = []
        for obj in items:
            try:
                deleted.append(
                    await self.cluster.delete(
                        rt,
                        obj["metadata"].get("namespace", ""),
                        obj["metadata"]["name"],
                        propagation=options.get("propagationPolicy") or "Background",
                        dry_run=dry,
                    )
                )
            except ApiError as exc:
                if exc.code != 404:
                    raise
        return json_response(
            {
                "kind": rt.kind + "List",
                "apiVersion": rt.api_version,
                "metadata": {"resourceVersion": self.store.resource_version},
                "items": deleted,
            }
        )

    # -- pods/log ------------------------------------------------------------------------
    async def log(self, request: web.Request, ns: str, name: str) -> web.StreamResponse:
        pod = self._get(PODS, ns, name)
        spec = pod.get("spec") or {}
        names = [c.get("name") for c in spec.get("containers") or ()]
        init_names = [c.get("name") for c in spec.get("initContainers") or ()]
        eph_names = [c.get("name") for c in spec.get("ephemeralContainers") or ()]
        container = request.query.get("container", "")
        if not container:
            default = (pod["metadata"].get("annotations") or {}).get("kubectl.kubernetes.io/default-container", "")
            if default in names:
                container = default
            elif len(names) == 1:
                container = names[0]
            else:
                msg = f"a container name must be specified for pod {name}, choose one of: [{' '.join(names)}]"
                if init_names:
                    msg += f" or one of the init containers: [{' '.join(init_names)}]"
                if eph_names:
                    msg += f" or one of the ephemeral containers: [{' '.join(eph_names)}]"
                raise errors.bad_request(msg)
        if container not in names + init_names + eph_names:
            raise errors.bad_request(f"container {container} is not valid for pod {name}")
        if _flag(request, "previous"):
            raise errors.bad_request(f'previous terminated container "{container}" in pod "{name}" not found')
        data = self.cluster.read_log(pod, container)
        tail = _int_param(request, "tailLines")
        limit = _int_param(request, "limitBytes")
        if tail is not None and tail >= 0:
            lines = data.splitlines(keepends=True)
            data = b"".join(lines[-tail:]) if tail else b""
        if not _flag(request, "follow"):
            if limit is not None and limit > 0:
                data = data[:limit]
            return web.Response(body=data, content_type="text/plain")
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        sent_total = len(self.cluster.read_log(pod, container))
        written = 0
        try:
            if data:
                await _write(request, response, data)
                written += len(data)
            uid = pod["metadata"]["uid"]
            while not _gone(request):
                current = self.store.find("pods", ns, name)
                if current is None or current["metadata"]["uid"] != uid:
                    break
                try:
                    full = self.cluster.read_log(current, container)
                except ApiError:
                    full = b""
                if len(full) > sent_total:
                    chunk = full[sent_total:]
                    sent_total = len(full)
                    await _write(request, response, chunk)
                    written += len(chunk)
                elif _terminated(current, container):
                    break
                if limit is not None and 0 < limit <= written:
                    break
                await asyncio.sleep(LOG_POLL_SECONDS)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return response


def _gone(request: web.Request) -> bool:
    """The client hung up (aiohttp does not cancel handlers on disconnect)."""
    transport = request.transport
    return transport is None or transport.is_closing()


def _terminated(pod: Obj, container: str) -> bool:
    status = pod.get("status") or {}
    if status.get("phase") in ("Succeeded", "Failed"):
        return True
    for key in ("containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"):
        for s in status.get(key) or ():
            if s.get("name") == container and "terminated" in (s.get("state") or {}):
                return True
    return False


__all__ = ["ResourceHandlers", "json_response", "dumps", "NotFound"]
