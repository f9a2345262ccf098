"""The one adapter between kubereach and the Kubernetes API.

Everything that talks to an API server goes through :class:`Kube`: it loads the
kubeconfig (or the in-cluster configuration), calls the official ``kubernetes`` client,
and hands back plain API-shaped dicts (``{"metadata": ..., "spec": ..., "status": ...}``),
never client model objects. It also

* counts and logs every call (verb, resource, namespace, status), so ``run.json`` can
  show that API calls grow with the number of sources and a test can check every call
  against ``manifests/rbac.yaml``;
* retries 429 and 5xx answers and dropped connections with exponential backoff;
* turns failures into the error tree: 401/403 -> :class:`UsageError` naming the verb,
  the resource and the manifest that grants it; unreachable server, 5xx after retries,
  a passed deadline -> :class:`ClusterError`; 404/409/422 -> :class:`ApiError`
  subclasses the callers handle per object.

It must not be imported by the pure modules (model, plan, compare, reports).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, overload

from orchestrator.errors import ClusterError, UsageError

RBAC_MANIFEST = "manifests/rbac.yaml"
RBAC_ROLE = "ClusterRole kubereach-sweep (or the namespaced Role kubereach-sweep)"

# Backoff for 429/5xx and dropped connections: 0.2 s doubling, 5 attempts in all
# (about 3 s of waiting): long enough for an API server restart or a priority-and-
# fairness queue to drain, short enough that a dead server fails fast.
RETRY_ATTEMPTS = 5
RETRY_BASE_S = 0.2
RETRY_AFTER_CAP_S = 5.0
# A request with no --request-timeout still must not hang forever: 30 s is what
# kubectl users expect of a slow but alive API server.
DEFAULT_REQUEST_TIMEOUT_S = 30.0
# kubereach trims server payloads in messages (kopf keeps 256 characters of a
# non-Status body): enough to read the cause, never a page of HTML.
MESSAGE_LIMIT = 256

SERVICEACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


@dataclass(frozen=True, slots=True)
class ApiCall:
    """One request made to the API server, in RBAC terms."""

    verb: str  # get | list | create | patch | delete | watch
    group: str  # "" for core, "networking.k8s.io", ...
    resource: str  # pods, configmaps, namespaces, ...
    subresource: str | None  # log, ephemeralcontainers, or None
    namespace: str | None  # None: cluster scope (or all namespaces for list)
    status: int | None  # HTTP status of the last attempt; None: no answer
    seconds: float

    @property
    def rbac_resource(self) -> str:
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource

    def to_dict(self) -> dict[str, Any]:
        return {
            "verb": self.verb,
            "group": self.group,
            "resource": self.rbac_resource,
            "namespace": self.namespace,
            "status": self.status,
            "seconds": round(self.seconds, 4),
        }


class ApiError(ClusterError):
    """The API server answered with an error the caller may handle per object."""

    def __init__(self, message: str, *, status: int, reason: str = "") -> None:
        super().__init__(message)
        self.status, self.reason = status, reason


class AdmissionDenied(ApiError):
    """403 from admission (Pod Security, a validating webhook), not from RBAC: the object
    was refused as written; another form of it may pass (e.g. without NET_RAW)."""


class NotFound(ApiError):
    """404: the object (or, for a subresource, the feature) does not exist."""


class Conflict(ApiError):
    """409: AlreadyExists or a resourceVersion conflict."""


class Invalid(ApiError):
    """400/422: the server refused the object as invalid (the message names the field)."""


@dataclass(frozen=True, slots=True)
class ClusterInfo:
    context: str  # kubeconfig context name, or "in-cluster"
    namespace: str  # the context's namespace (what no -n means)
    server: str


def _trim(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"


def _status_message(body: Any) -> tuple[str, str]:
    """(message, reason) of a Kubernetes Status body, or the trimmed raw body."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str):
        try:
            data = json.loads(body)
        except ValueError:
            return _trim(body), ""
        if isinstance(data, dict) and data.get("kind") == "Status":
            return _trim(str(data.get("message") or data.get("reason") or "")), str(data.get("reason") or "")
        return _trim(body), ""
    return "", ""


def _is_admission_refusal(message: str) -> bool:
    """RBAC says 'cannot <verb> resource'; Pod Security and webhooks say why the object is refused."""
    text = message.lower()
    if "cannot " in text and "resource" in text:
        return False
    return "violates podsecurity" in text or "admission webhook" in text or "denied the request" in text


def context_namespace() -> tuple[str, str] | None:
    """The current kubeconfig context's namespace, as ``kubectl apply -f`` uses it for
    objects without one: (namespace, ``kubeconfig context NAME``), or (``default``, ...)
    when the context names none; inside a pod without a kubeconfig, the service
    account's namespace. None when there is no readable kubeconfig: a file-only command
    must work without one, so nothing here is an error. Reads the file only; no API call."""
    from kubernetes import config

    default_path = os.path.expanduser(os.environ.get("KUBECONFIG", "~/.kube/config").split(os.pathsep)[0])
    if not os.environ.get("KUBECONFIG") and not os.path.exists(default_path):
        try:
            with open(os.path.join(SERVICEACCOUNT_DIR, "namespace"), encoding="utf-8") as fh:
                namespace = fh.read(256).strip()
        except OSError:
            return None
        return (namespace, "the service account's namespace") if namespace else None
    try:  # untyped in kubernetes.config (see load_cluster)
        _, active = config.list_kube_config_contexts()  # type: ignore[no-untyped-call]
    except Exception:  # missing, unreadable or malformed: the caller falls back to "default"
        return None
    if not isinstance(active, dict) or not active.get("name"):
        return None
    chosen = (active.get("context") or {}).get("namespace")
    return (str(chosen) if chosen else "default"), f"kubeconfig context {active['name']}"


def load_cluster(
    kubeconfig: str | None = None,
    context: str | None = None,
    *,
    request_timeout: float | None = None,
    pool_size: int = 16,
) -> Kube:
    """Load the kubeconfig (``--kubeconfig``, ``$KUBECONFIG``, ``~/.kube/config``) or the
    in-cluster configuration, and return a ready :class:`Kube`.

    Never touches the client's global default configuration.
    """
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    cfg = client.Configuration()
    default_path = os.path.expanduser(os.environ.get("KUBECONFIG", "~/.kube/config").split(os.pathsep)[0])
    if kubeconfig is None and not os.path.exists(default_path) and os.environ.get("KUBERNETES_SERVICE_HOST"):
        if context:
            raise UsageError(
                f"--context {context!r} given but no kubeconfig was found (running in-cluster has no contexts)"
            )
        try:
            # kubernetes.config ships py.typed but leaves its loaders unannotated
            config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
        except ConfigException as exc:
            raise UsageError(f"in-cluster configuration: {exc}") from exc
        namespace = "default"
        try:
            with open(os.path.join(SERVICEACCOUNT_DIR, "namespace"), encoding="utf-8") as fh:
                namespace = fh.read().strip() or "default"
        except OSError:
            pass
        info = ClusterInfo("in-cluster", namespace, cfg.host)
    else:
        where = kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
        if kubeconfig is not None and not os.path.isfile(kubeconfig):
            raise UsageError(f"kubeconfig {kubeconfig}: no such file")
        if kubeconfig is None and not os.environ.get("KUBECONFIG") and not os.path.exists(default_path):
            raise UsageError(
                "no kubeconfig: pass --kubeconfig FILE, set KUBECONFIG, or create "
                "~/.kube/config (inside a cluster, the service account is used)"
            )
        try:  # untyped in kubernetes.config (see above)
            contexts, active = config.list_kube_config_contexts(config_file=kubeconfig)  # type: ignore[no-untyped-call]
        except ConfigException as exc:
            raise UsageError(f"kubeconfig {where}: {exc}") from exc
        except Exception as exc:  # YAML errors, unreadable files: the user must fix the file
            raise UsageError(f"kubeconfig {where}: cannot read it: {_trim(str(exc))}") from exc
        names = [c.get("name") for c in contexts or [] if isinstance(c, dict)]
        chosen = None
        if context is not None:
            chosen = next((c for c in contexts or [] if c.get("name") == context), None)
            if chosen is None:
                raise UsageError(
                    f"kubeconfig {where}: no context named {context!r} "
                    f"(contexts: {', '.join(map(str, names)) or 'none'})"
                )
        else:
            chosen = active
            if not chosen:
                raise UsageError(
                    f"kubeconfig {where}: no current-context; pass --context "
                    f"(contexts: {', '.join(map(str, names)) or 'none'})"
                )
        try:  # untyped in kubernetes.config (see above)
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=kubeconfig, context=context, client_configuration=cfg, persist_config=False
            )
        except ConfigException as exc:
            raise UsageError(f"kubeconfig {where}, context {chosen.get('name')!r}: {exc}") from exc
        except Exception as exc:
            raise UsageError(f"kubeconfig {where}: {_trim(str(exc))}") from exc
        namespace = (chosen.get("context") or {}).get("namespace") or "default"
        info = ClusterInfo(str(chosen.get("name")), namespace, cfg.host)
    # urllib3 retries off: Kube retries itself, with backoff, and counts every attempt.
    cfg.retries = False
    cfg.connection_pool_maxsize = max(4, pool_size)
    api = client.ApiClient(configuration=cfg)
    return Kube(api, info, request_timeout=request_timeout)


class Kube:
    """Typed, counted, retried access to the few API endpoints kubereach uses."""

    def __init__(
        self,
        api_client: Any,
        info: ClusterInfo,
        *,
        request_timeout: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        from kubernetes import client

        self._api = api_client
        self._core = client.CoreV1Api(api_client)
        self._net = client.NetworkingV1Api(api_client)
        self.info = info
        self.request_timeout = request_timeout or DEFAULT_REQUEST_TIMEOUT_S
        self.deadline: float | None = None  # time.monotonic() value; None: none
        self._sleep = sleep
        self._lock = threading.Lock()
        self.calls: list[ApiCall] = []

    # -- bookkeeping -------------------------------------------------------------------

    def close(self) -> None:
        # closing a pool must never mask the real outcome
        with contextlib.suppress(Exception):
            self._api.close()

    def __enter__(self) -> Kube:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def call_counts(self) -> dict[str, int]:
        """``{"patch pods/ephemeralcontainers": 12, ...}`` for run.json."""
        with self._lock:
            counts = Counter(f"{c.verb} {c.rbac_resource}" for c in self.calls)
        return dict(sorted(counts.items()))

    @property
    def call_count(self) -> int:
        with self._lock:
            return len(self.calls)

    # -- the single request path ---------------------------------------------------------

    @overload
    def _request(
        self,
        verb: str,
        resource: str,
        fn: Callable[..., Any],
        *args: Any,
        namespace: str | None = None,
        group: str = "",
        subresource: str | None = None,
        raw: Literal[True],
        **kwargs: Any,
    ) -> str: ...
    @overload
    def _request(
        self,
        verb: str,
        resource: str,
        fn: Callable[..., Any],
        *args: Any,
        namespace: str | None = None,
        group: str = "",
        subresource: str | None = None,
        raw: Literal[False] = False,
        **kwargs: Any,
    ) -> dict[str, Any]: ...  # the API server answers with a JSON object

    def _request(
        self,
        verb: str,
        resource: str,
        fn: Callable[..., Any],
        *args: Any,
        namespace: str | None = None,
        group: str = "",
        subresource: str | None = None,
        raw: bool = False,
        **kwargs: Any,
    ) -> Any:
        import urllib3
        from kubernetes.client.exceptions import ApiException

        what = f"{verb} {resource}{'/' + subresource if subresource else ''}"
        where = f" in namespace {namespace}" if namespace else (" in all namespaces" if verb == "list" else "")
        last_exc: Exception | None = None
        for attempt in range(RETRY_ATTEMPTS):
            timeout = self.request_timeout
            if self.deadline is not None:
                remaining = self.deadline - time.monotonic()
                if remaining <= 0:
                    raise ClusterError(f"deadline passed before {what}{where}")
                timeout = min(timeout, remaining)
            started = time.monotonic()
            status: int | None = None
            try:
                resp = fn(*args, _preload_content=False, _request_timeout=timeout, **kwargs)
                status = resp.status
                data = resp.data
                self._log(verb, group, resource, subresource, namespace, status, started)
                if raw:
                    return data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)
                return json.loads(data) if data else {}
            except ApiException as exc:
                status = exc.status
                if not status:  # the client wraps transport failures (TLS, resets) as status 0
                    self._log(verb, group, resource, subresource, namespace, None, started)
                    last_exc = exc
                    self._retry_transport(exc, attempt, what, where, detail=str(exc.reason or exc))
                    continue
                self._log(verb, group, resource, subresource, namespace, status, started)
                message, reason = _status_message(exc.body)
                message = message or _trim(str(exc.reason or ""))
                if status == 403 and _is_admission_refusal(message):
                    raise AdmissionDenied(f"{what}{where}: {message}", status=403, reason=reason) from exc
                if status in (401, 403):
                    raise self._auth_error(status, verb, group, resource, subresource, namespace, message) from exc
                if status == 429 or (status is not None and status >= 500):
                    last_exc = exc
                    if attempt + 1 < RETRY_ATTEMPTS:
                        self._backoff(attempt, exc)
                        continue
                    raise ClusterError(
                        f"{what}{where}: the API server answered {status} {RETRY_ATTEMPTS} times: {message}"
                    ) from exc
                cls = {404: NotFound, 409: Conflict, 400: Invalid, 422: Invalid}.get(status or 0, ApiError)
                raise cls(
                    f"{what}{where}: {status} {reason or exc.reason}: {message}", status=status or 0, reason=reason
                ) from exc
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                self._log(verb, group, resource, subresource, namespace, None, started)
                last_exc = exc
                self._retry_transport(exc, attempt, what, where, detail=str(exc))
        raise ClusterError(f"{what}{where}: gave up") from last_exc  # pragma: no cover

    def _retry_transport(self, exc: Exception, attempt: int, what: str, where: str, *, detail: str) -> None:
        """Back off before another try after a transport failure, or give up.

        Fewer tries than for 429/5xx: a server that cannot be reached at all rarely
        comes back within seconds, and the user is waiting.
        """
        self._transport_failure(exc, what, where)
        if attempt + 1 < min(RETRY_ATTEMPTS, 3):
            self._backoff(attempt, None)
            return
        raise ClusterError(
            f"cannot reach the API server at {self.info.server} ({what}{where}): {_trim(detail)}"
        ) from exc

    def _transport_failure(self, exc: Exception, what: str, where: str) -> None:
        """A TLS verification failure is the kubeconfig's to fix (exit 2), not an outage."""
        text = str(getattr(exc, "reason", None) or exc)
        if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
            raise UsageError(
                f"the API server at {self.info.server} presented a certificate that context "
                f"{self.info.context!r} does not trust ({what}{where}): check "
                f"certificate-authority in the kubeconfig"
            ) from exc

    def _backoff(self, attempt: int, exc: Any) -> None:
        delay = RETRY_BASE_S * (2**attempt)
        headers = getattr(exc, "headers", None) or {}
        retry_after = headers.get("Retry-After") if hasattr(headers, "get") else None
        if retry_after:
            with contextlib.suppress(ValueError):
                delay = max(delay, min(float(retry_after), RETRY_AFTER_CAP_S))
        if self.deadline is not None:
            delay = min(delay, max(0.0, self.deadline - time.monotonic()))
        self._sleep(delay)

    def _log(
        self,
        verb: str,
        group: str,
        resource: str,
        subresource: str | None,
        namespace: str | None,
        status: int | None,
        started: float,
    ) -> None:
        call = ApiCall(verb, group, resource, subresource, namespace, status, time.monotonic() - started)
        with self._lock:
            self.calls.append(call)

    def _auth_error(
        self,
        status: int,
        verb: str,
        group: str,
        resource: str,
        subresource: str | None,
        namespace: str | None,
        message: str,
    ) -> UsageError:
        full = f"{resource}/{subresource}" if subresource else resource
        api_group = group or '"" (core)'
        scope = f"in namespace {namespace}" if namespace else "at cluster scope"
        if status == 401:
            return UsageError(
                f"the API server at {self.info.server} did not accept the credentials of "
                f"context {self.info.context!r} (401 Unauthorized) for {verb} {full}: "
                f"{message or 'check the kubeconfig user, token or certificate'}"
            )
        return UsageError(
            f"RBAC refused: cannot {verb} {full} (apiGroup {api_group}) {scope}: {message}. "
            f"kubereach needs it; {RBAC_ROLE} in {RBAC_MANIFEST} grants it"
        )

    # -- reads ---------------------------------------------------------------------------

    def list_namespaces(self) -> list[dict[str, Any]]:
        return self._items(self._request("list", "namespaces", self._core.list_namespace), "Namespace")

    def get_namespace(self, name: str) -> dict[str, Any]:
        obj = self._request("get", "namespaces", self._core.read_namespace, name)
        return _with_kind(obj, "v1", "Namespace")

    def list_pods(self, namespace: str | None = None, *, label_selector: str | None = None) -> list[dict[str, Any]]:
        kw: dict[str, Any] = {"label_selector": label_selector} if label_selector else {}
        if namespace is None:
            body = self._request("list", "pods", self._core.list_pod_for_all_namespaces, **kw)
        else:
            body = self._request("list", "pods", self._core.list_namespaced_pod, namespace, namespace=namespace, **kw)
        return self._items(body, "Pod")

    def get_pod(self, namespace: str, name: str) -> dict[str, Any]:
        obj = self._request("get", "pods", self._core.read_namespaced_pod, name, namespace, namespace=namespace)
        return _with_kind(obj, "v1", "Pod")

    def list_services(self, namespace: str | None = None) -> list[dict[str, Any]]:
        if namespace is None:
            body = self._request("list", "services", self._core.list_service_for_all_namespaces)
        else:
            body = self._request("list", "services", self._core.list_namespaced_service, namespace, namespace=namespace)
        return self._items(body, "Service")

    def list_network_policies(self, namespace: str | None = None) -> list[dict[str, Any]]:
        g = "networking.k8s.io"
        if namespace is None:
            body = self._request("list", "networkpolicies", self._net.list_network_policy_for_all_namespaces, group=g)
        else:
            body = self._request(
                "list",
                "networkpolicies",
                self._net.list_namespaced_network_policy,
                namespace,
                namespace=namespace,
                group=g,
            )
        return self._items(body, "NetworkPolicy", api_version="networking.k8s.io/v1")

    def list_configmaps(
        self, namespace: str | None = None, *, label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        kw: dict[str, Any] = {"label_selector": label_selector} if label_selector else {}
        if namespace is None:
            body = self._request("list", "configmaps", self._core.list_config_map_for_all_namespaces, **kw)
        else:
            body = self._request(
                "list", "configmaps", self._core.list_namespaced_config_map, namespace, namespace=namespace, **kw
            )
        return self._items(body, "ConfigMap")

    def read_log(self, namespace: str, name: str, container: str) -> str:
        return self._request(
            "get",
            "pods",
            self._core.read_namespaced_pod_log,
            name,
            namespace,
            container=container,
            namespace=namespace,
            subresource="log",
            raw=True,
        )

    # -- writes --------------------------------------------------------------------------

    def create_configmap(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._request(
            "create", "configmaps", self._core.create_namespaced_config_map, namespace, body, namespace=namespace
        )

    def create_pod(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._request("create", "pods", self._core.create_namespaced_pod, namespace, body, namespace=namespace)

    def add_ephemeral_container(self, namespace: str, pod: str, container: dict[str, Any]) -> dict[str, Any]:
        """Strategic-merge patch adding one ephemeral container (what ``kubectl debug`` does);
        the list merges by name, so no read-modify-write is needed."""
        body = {"spec": {"ephemeralContainers": [container]}}
        for attempt in range(3):
            try:
                return self._request(
                    "patch",
                    "pods",
                    self._core.patch_namespaced_pod_ephemeralcontainers,
                    pod,
                    namespace,
                    body,
                    namespace=namespace,
                    subresource="ephemeralcontainers",
                )
            except (Conflict, Invalid) as exc:
                # Another writer patched the same pod at the same moment (a second sweep):
                # the patch was computed against a stale list. Re-sending it is safe, since
                # the container's name is unique to this sweep.
                if attempt == 2 or not (isinstance(exc, Conflict) or "may not be removed" in str(exc)):
                    raise
                self._backoff(attempt, None)
        raise AssertionError("unreachable")  # pragma: no cover

    def delete_pod(self, namespace: str, name: str, *, grace_period_s: int = 0) -> None:
        self._request(
            "delete",
            "pods",
            self._core.delete_namespaced_pod,
            name,
            namespace,
            grace_period_seconds=grace_period_s,
            namespace=namespace,
        )

    def delete_configmap(self, namespace: str, name: str) -> None:
        self._request(
            "delete",
            "configmaps",
            self._core.delete_namespaced_config_map,
            name,
            namespace,
            propagation_policy="Background",
            namespace=namespace,
        )

    # -- helpers -------------------------------------------------------------------------

    @staticmethod
    def _items(body: Any, kind: str, *, api_version: str = "v1") -> list[dict[str, Any]]:
        """List items lack kind/apiVersion on the wire; put them back so the snapshot
        loader sees the same shape as ``kubectl get -o yaml``."""
        items = body.get("items") if isinstance(body, dict) else None
        return [_with_kind(item, api_version, kind) for item in items or [] if isinstance(item, dict)]


def _with_kind(obj: dict[str, Any], api_version: str, kind: str) -> dict[str, Any]:
    obj.setdefault("apiVersion", api_version)
    obj.setdefault("kind", kind)
    return obj
