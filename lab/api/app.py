"""The lab's aiohttp application: authentication, Status errors, and path routing.

Every request needs ``Authorization: Bearer <token>`` (401 Status otherwise): the lab
starts processes as arbitrary UIDs, so its API must be closed to anyone without the
kubeconfig. Every failure is a Kubernetes ``Status``; nothing a client sends can
produce a traceback page.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from lab.api import discovery, errors, openapi
from lab.api.cluster import Cluster
from lab.api.errors import ApiError
from lab.api.handlers import ResourceHandlers, json_response
from lab.api.resources import lookup
from lab.api.traffic import CALL_KEY, TRAFFIC_KEY, Traffic
from lab.runtime import Fault

log = logging.getLogger("lab.api")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CLUSTER_KEY = web.AppKey("cluster", Cluster)


def _status_response(exc: ApiError) -> web.Response:
    return json_response(exc.status(), exc.code)


def make_app(cluster: Cluster, token: str) -> web.Application:
    expected = f"Bearer {token}".encode()
    handlers = ResourceHandlers(cluster)

    traffic = Traffic()

    @web.middleware
    async def count(request: web.Request, handler: Handler) -> web.StreamResponse:
        """Calls and response bytes served (GET /lab/v1/traffic), the lab's own endpoints aside."""
        if request.path.startswith("/lab/"):
            return await handler(request)
        traffic.in_flight += 1
        try:
            response = await handler(request)
        finally:
            traffic.in_flight -= 1
        if isinstance(response, web.Response):  # streamed responses count their chunks as they go
            if request.get(CALL_KEY) is None:
                traffic.call(request, f"{request.method} {request.path[:60]}")
            body = response.body
            traffic.sent(request, len(body) if isinstance(body, (bytes, bytearray)) else 0)
        return response

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        given = request.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            return _status_response(errors.unauthorized())
        try:
            return await handler(request)
        except ApiError as exc:
            return _status_response(exc)
        except web.HTTPException:
            raise
        except Exception as exc:  # never a traceback page: a Status, and the log has the rest
            log.exception("internal error on %s %s", request.method, request.path)
            return _status_response(
                ApiError(500, "InternalError", f"Internal error occurred: {type(exc).__name__}: {exc}"[:500])
            )

    async def route(request: web.Request) -> web.StreamResponse:
        return await _route(request, cluster, handlers)

    app = web.Application(middlewares=[count, guard], client_max_size=4 * 1024 * 1024)
    app[CLUSTER_KEY] = cluster
    app[TRAFFIC_KEY] = traffic
    app.router.add_route("*", "/{tail:.*}", route)
    return app


async def _route(request: web.Request, cluster: Cluster, handlers: ResourceHandlers) -> web.StreamResponse:
    parts = [p for p in request.path.split("/") if p]
    method = request.method
    if not parts:
        return json_response({"paths": ["/api", "/api/v1", "/apis", "/openapi/v3", "/version"]})
    head = parts[0]
    if head in ("healthz", "readyz", "livez") and len(parts) == 1:
        return web.Response(text="ok")
    if head == "version" and len(parts) == 1:
        return json_response(discovery.version())
    if head == "openapi":
        return _openapi(parts)
    if head == "lab":
        return await _lab(request, parts, cluster)
    if head == "api":
        if len(parts) == 1:
            return json_response(discovery.api_versions())
        group, version, rest = "", parts[1], parts[2:]
    elif head == "apis":
        if len(parts) == 1:
            return json_response(discovery.api_group_list())
        if len(parts) == 2:
            doc = discovery.api_group(parts[1])
            if doc is None:
                raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
            return json_response(doc)
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
    if not rest:
        if method != "GET":
            raise errors.method_not_allowed()
        doc = discovery.resource_list(group, version)
        if doc is None:
            raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
        return json_response(doc)
    namespace: str | None = None
    if (
        rest[0] == "namespaces"
        and group == ""
        and len(rest) >= 3
        and (nested := lookup(group, version, rest[2]))
        and nested.namespaced
    ):
        namespace, rest = rest[1], rest[2:]
    rt = lookup(group, version, rest[0])
    if group != "" and rest[0] == "namespaces" and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
        rt = lookup(group, version, rest[0])
    if rt is None or len(rest) > 3:
        raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
    if namespace is not None and not rt.namespaced:
        raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else ""
    return await handlers.dispatch(request, rt, namespace, name, sub)


def _openapi(parts: list[str]) -> web.StreamResponse:
    if parts == ["openapi", "v2"]:
        return web.Response(body=openapi.v2_document(), content_type=openapi.V2_PROTOBUF)
    if parts[:2] != ["openapi", "v3"]:
        raise errors.ApiError(
            404,
            "NotFound",
            "the server could not find the requested resource (the lab serves OpenAPI v3, and an empty v2 document)",
        )
    if len(parts) == 2:
        return json_response(openapi.root_document())
    rest = parts[2:]
    if rest[0] == "api" and len(rest) == 2:
        doc = openapi.group_version_document("", rest[1])
    elif rest[0] == "apis" and len(rest) == 3:
        doc = openapi.group_version_document(rest[1], rest[2])
    else:
        doc = None
    if doc is None:
        raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
    return web.Response(body=doc, content_type="application/json", headers={"Cache-Control": "public, immutable"})


async def _lab(request: web.Request, parts: list[str], cluster: Cluster) -> web.StreamResponse:
    """Lab-private endpoints: ``/lab/v1/status``, ``/lab/v1/faults`` and ``/lab/v1/traffic``."""
    if parts[:2] != ["lab", "v1"] or len(parts) != 3:
        raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
    what = parts[2]
    if what == "status" and request.method == "GET":
        return json_response(cluster.summary())
    if what == "traffic" and request.method == "GET":
        return json_response(request.app[TRAFFIC_KEY].to_dict())
    if what == "faults":
        if request.method == "GET":
            return json_response({"faults": [f.to_dict() for f in cluster.faults]})
        if request.method in ("PUT", "POST", "DELETE"):
            faults = list(cluster.faults) if request.method == "POST" else []
            if request.method != "DELETE":
                try:
                    body = await request.json()
                    new = [Fault.from_dict(f) for f in body.get("faults", [])]
                except (ValueError, KeyError, TypeError, AttributeError) as exc:
                    raise errors.bad_request(f"invalid faults document: {exc}") from None
                for fault in new:
                    if (
                        not 1 <= fault.port <= 65535
                        or fault.protocol not in ("TCP", "UDP", "SCTP")
                        or fault.source.count("/") != 1
                        or fault.destination.count("/") != 1
                    ):
                        raise errors.bad_request(
                            f"invalid fault {fault.to_dict()}: source and destination "
                            "are namespace/pod, port 1-65535, protocol TCP|UDP|SCTP"
                        )

                # one fault per (source, destination, port, protocol): the latest wins
                def key(f: Fault) -> tuple[str, str, int, str]:
                    return (f.source, f.destination, f.port, f.protocol)

                replaced = {key(f) for f in new}
                faults = [f for f in faults if key(f) not in replaced] + new
            await cluster.set_faults(faults)
            return json_response({"faults": [f.to_dict() for f in cluster.faults]})
    raise errors.method_not_allowed()
