"""The one adapter between kubereach and the Kubernetes API.

Everything that talks to an API server goes through :class:`Kube`: it loads the
kubeconfig (or the in-cluster configuration), calls the official ``kubernetes`` client,
and hands back plain API-shaped dicts (``{"metadata": ..., "spec": ..., "status": ...}``),
never client model objects. It also

* counts and logs every call (verb, resource, namespace, status), so ``run.json`` can
  show that API calls grow with the number of sources and a test can check every call
  against ``manifests/rbac.yaml``;
* retries 429 and 5xx answers and dropped connections with jittered exponential backoff
  (many clients retrying in step is what turns a blip into an outage);
* reads lists in pages (``limit``/``continue``, like kubectl's ``--chunk-size``), so a
  namespace of thousands of pods never becomes one huge response;
* opens pod watches (:meth:`Kube.watch_pods`) that another thread can close at once;
* turns failures into the error tree: 401/403 -> :class:`UsageError` naming the verb,
  the resource and the manifest that grants it; unreachable server
  (:class:`ApiUnreachable`), 5xx after retries, a passed deadline
  (:class:`DeadlinePassed`) -> :class:`ClusterError`; 404/409/410/422 ->
  :class:`ApiError` subclasses the callers handle per object.

It must not be imported by the pure modules (model, plan, compare, reports).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
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
# Each backoff is scaled by a random factor in [1 - JITTER, 1 + JITTER): 32 agents that
# failed together do not all come back in the same millisecond. The longest single
# wait stays bounded: 0.2 * 2**3 * 1.5 = 2.4 s (or Retry-After, capped above).
RETRY_JITTER = 0.5
# A request with no --request-timeout still must not hang forever: 30 s is what
# kubectl users expect of a slow but alive API server. --request-timeout 0 means no
# per-request timeout at all, as in kubectl (the sweep's deadline still bounds it).
DEFAULT_REQUEST_TIMEOUT_S = 30.0
# Lists are read in pages of this many objects: kubectl's default --chunk-size. Big
# enough that most namespaces are one page, small enough that the API server never
# builds a response of hundreds of megabytes in memory.
PAGE_SIZE = 500
# A list whose continue token expired (410) mid-way is restarted from the start this
# many times before giving up: each restart is a fresh consistent snapshot.
LIST_RESTARTS = 3
# One watch event is one object: etcd refuses objects over 1.5 MiB, so a JSON line of
# 8 MiB is far beyond any real event and is refused rather than buffered.
MAX_WATCH_LINE = 8 * 1024 * 1024
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


class Gone(ApiError):
    """410: a watch's resourceVersion or a list's continue token is too old (re-list)."""


class RbacRefused(UsageError):
    """403 from RBAC: the message names the verb, the resource, the scope and the manifest
    that grants it."""


class ApiUnreachable(ClusterError):
    """The API server could not be reached (after retries); ``cause`` says how in a few
    words (``connection refused``, ``timed out``), the message says where."""

    def __init__(self, message: str, *, cause: str) -> None:
        super().__init__(message)
        self.cause = cause


class DeadlinePassed(ClusterError):
    """The sweep's deadline passed before (or while) a request could be made."""


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


_TRANSPORT_PHRASES = (
    ("connection refused", "connection refused"),
    ("connection reset", "connection reset"),
    ("broken pipe", "connection reset"),
    ("remote end closed", "connection closed by the server"),
    ("remotedisconnected", "connection closed by the server"),
    ("read timed out", "timed out"),
    ("timed out", "timed out"),
    ("timeout", "timed out"),
    ("name or service not known", "name resolution failed"),
    ("temporary failure in name resolution", "name resolution failed"),
    ("nodename nor servname", "name resolution failed"),
    ("no route to host", "no route to host"),
    ("network is unreachable", "network unreachable"),
    ("ssl", "TLS error"),
)


def transport_cause(exc: BaseException) -> str:
    """A transport failure in a few words: ``connection refused``, ``timed out``, ..."""
    text = f"{type(exc).__name__} {getattr(exc, 'reason', '') or ''} {exc}".lower()
    return next((phrase for needle, phrase in _TRANSPORT_PHRASES if needle in text), "connection failed")


def load_cluster(
    kubeconfig: str | None = None,
    context: str | None = None,
    *,
    request_timeout: float | None = None,
    pool_size: int = 16,
) -> Kube:
    """Load the kubeconfig (``--kubeconfig``, ``$KUBECONFIG``, ``~/.kube/config``) or the
    in-cluster configuration, and return a ready :class:`Kube`.

    ``request_timeout``: seconds per request; None the default (30 s), 0 none at all.
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
        rng: Callable[[], float] = random.random,
    ) -> None:
        from kubernetes import client

        self._api = api_client
        self._core = client.CoreV1Api(api_client)
        self._net = client.NetworkingV1Api(api_client)
        self._custom = client.CustomObjectsApi(api_client)
        self.info = info
        # None: the default; 0: no per-request timeout (kubectl's meaning of 0)
        self.request_timeout: float | None = (
            DEFAULT_REQUEST_TIMEOUT_S if request_timeout is None else (request_timeout or None)
        )
        self.deadline: float | None = None  # time.monotonic() value; None: none
        self._sleep = sleep
        self._rng = rng
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
        def read(resp: Any) -> Any:
            data = resp.data
            if raw:
                return data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)
            return json.loads(data) if data else {}

        return self._send(
            verb, resource, fn, *args, namespace=namespace, group=group, subresource=subresource, read=read, **kwargs
        )

    def _timeouts(self, *, read_s: float | None = None) -> Any:
        """The client's ``_request_timeout``: the per-request timeout clipped to the
        deadline; ``read_s`` asks for a (connect, read) pair (a watch's read may last)."""
        timeout = self.request_timeout
        if self.deadline is not None:
            remaining = max(0.001, self.deadline - time.monotonic())
            timeout = remaining if timeout is None else min(timeout, remaining)
            if read_s is not None:
                read_s = min(read_s, remaining)
        if read_s is not None:
            return (timeout, read_s)
        return timeout

    def _send(
        self,
        verb: str,
        resource: str,
        fn: Callable[..., Any],
        *args: Any,
        namespace: str | None,
        group: str,
        subresource: str | None,
        read: Callable[[Any], Any],
        read_timeout_s: float | None = None,
        **kwargs: Any,
    ) -> Any:
        """Call ``fn`` with retries; ``read(response)`` turns a 2xx response into the result."""
        import urllib3
        from kubernetes.client.exceptions import ApiException

        what = f"{verb} {resource}{'/' + subresource if subresource else ''}"
        scoped = verb in ("list", "watch")
        where = f" in namespace {namespace}" if namespace else (" in all namespaces" if scoped else "")
        last_exc: Exception | None = None
        for attempt in range(RETRY_ATTEMPTS):
            self._check_deadline(what, where)
            started = time.monotonic()
            status: int | None = None
            try:
                resp = fn(
                    *args, _preload_content=False, _request_timeout=self._timeouts(read_s=read_timeout_s), **kwargs
                )
                status = resp.status
                result = read(resp)
                self._log(verb, group, resource, subresource, namespace, status, started)
                return result
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
                cls = {404: NotFound, 409: Conflict, 410: Gone, 400: Invalid, 422: Invalid}.get(status or 0, ApiError)
                raise cls(
                    f"{what}{where}: {status} {reason or exc.reason}: {message}", status=status or 0, reason=reason
                ) from exc
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                self._log(verb, group, resource, subresource, namespace, None, started)
                last_exc = exc
                self._retry_transport(exc, attempt, what, where, detail=str(exc))
        raise ClusterError(f"{what}{where}: gave up") from last_exc  # pragma: no cover

    def _check_deadline(self, what: str, where: str) -> None:
        if self.deadline is not None and self.deadline - time.monotonic() <= 0:
            raise DeadlinePassed(f"deadline passed before {what}{where}")

    def _retry_transport(self, exc: Exception, attempt: int, what: str, where: str, *, detail: str) -> None:
        """Back off before another try after a transport failure, or give up.

        Fewer tries than for 429/5xx: a server that cannot be reached at all rarely
        comes back within seconds, and the user is waiting. A request that timed out
        because the deadline clipped it is the deadline's doing, not the server's.
        """
        self._transport_failure(exc, what, where)
        self._check_deadline(what, where)
        if attempt + 1 < min(RETRY_ATTEMPTS, 3):
            self._backoff(attempt, None)
            self._check_deadline(what, where)
            return
        cause = transport_cause(exc)
        said = cause if cause != "connection failed" else f"{cause}: {_trim(detail)}"  # unclassified: show it
        raise ApiUnreachable(
            f"cannot reach the API server at {self.info.server} ({what}{where}): {said}", cause=cause
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

    def backoff_delay(self, attempt: int, retry_after: str | None = None) -> float:
        """Seconds to wait before retry ``attempt + 1``: doubling from RETRY_BASE_S, scaled
        by a random factor (jitter), at least a server's Retry-After (capped), never past
        the deadline."""
        delay: float = RETRY_BASE_S * (2**attempt) * (1 - RETRY_JITTER + 2 * RETRY_JITTER * float(self._rng()))
        if retry_after:
            with contextlib.suppress(ValueError):
                delay = max(delay, min(float(retry_after), RETRY_AFTER_CAP_S))
        if self.deadline is not None:
            delay = min(delay, max(0.0, self.deadline - time.monotonic()))
        return delay

    def _backoff(self, attempt: int, exc: Any) -> None:
        headers = getattr(exc, "headers", None) or {}
        retry_after = headers.get("Retry-After") if hasattr(headers, "get") else None
        self._sleep(self.backoff_delay(attempt, retry_after))

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
        return RbacRefused(
            f"RBAC refused: cannot {verb} {full} (apiGroup {api_group}) {scope}: {message}. "
            f"kubereach needs it; {RBAC_ROLE} in {RBAC_MANIFEST} grants it"
        )

    # -- reads ---------------------------------------------------------------------------

    def _list(
        self,
        resource: str,
        fn: Callable[..., Any],
        *args: Any,
        namespace: str | None = None,
        group: str = "",
        kind: str,
        api_version: str = "v1",
        page_size: int = PAGE_SIZE,
        **kwargs: Any,
    ) -> tuple[list[dict[str, Any]], str]:
        """Every object of a list, read page by page; and the list's resourceVersion.

        The pages of one list are one consistent snapshot (the API server guarantees it
        for a continue token); if the token expires mid-way (410), the list starts over.
        """
        for restart in range(LIST_RESTARTS + 1):
            items: list[dict[str, Any]] = []
            token: str | None = None
            version = ""
            try:
                while True:
                    page: dict[str, Any] = {"limit": page_size, **({"_continue": token} if token else {})}
                    body = self._request(
                        "list", resource, fn, *args, namespace=namespace, group=group, **page, **kwargs
                    )
                    meta = body.get("metadata") if isinstance(body, dict) else None
                    meta = meta if isinstance(meta, dict) else {}
                    if token is None:
                        version = str(meta.get("resourceVersion") or "")
                    items += self._items(body, kind, api_version=api_version)
                    token = str(meta.get("continue") or "") or None
                    if token is None:
                        return items, version
            except Gone:
                if token is None or restart == LIST_RESTARTS:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def list_namespaces(self) -> list[dict[str, Any]]:
        return self._list("namespaces", self._core.list_namespace, kind="Namespace")[0]

    def get_namespace(self, name: str) -> dict[str, Any]:
        obj = self._request("get", "namespaces", self._core.read_namespace, name)
        return _with_kind(obj, "v1", "Namespace")

    def list_pods_versioned(
        self, namespace: str | None = None, *, label_selector: str | None = None
    ) -> tuple[list[dict[str, Any]], str]:
        """The pods and the list's resourceVersion (a watch resumes from it)."""
        kw: dict[str, Any] = {"label_selector": label_selector} if label_selector else {}
        if namespace is None:
            return self._list("pods", self._core.list_pod_for_all_namespaces, kind="Pod", **kw)
        return self._list("pods", self._core.list_namespaced_pod, namespace, namespace=namespace, kind="Pod", **kw)

    def list_pods(self, namespace: str | None = None, *, label_selector: str | None = None) -> list[dict[str, Any]]:
        return self.list_pods_versioned(namespace, label_selector=label_selector)[0]

    def pods_resource_version(self, namespace: str, *, label_selector: str | None = None) -> str:
        """The current resourceVersion of the pods of ``namespace``, at the cost of one
        object (``limit=1``): where a watch starts without replaying the whole list."""
        kw: dict[str, Any] = {"label_selector": label_selector} if label_selector else {}
        body = self._request(
            "list", "pods", self._core.list_namespaced_pod, namespace, namespace=namespace, limit=1, **kw
        )
        meta = body.get("metadata") if isinstance(body, dict) else None
        return str((meta or {}).get("resourceVersion") or "") if isinstance(meta, dict) else ""

    def watch_pods(
        self,
        namespace: str,
        *,
        resource_version: str,
        label_selector: str | None = None,
        timeout_s: int,
        read_timeout_s: float | None,
    ) -> PodWatch:
        """Open a watch of the pods of ``namespace`` from ``resource_version``.

        ``timeout_s``: the server ends the watch after that many seconds (the caller
        resumes from the last resourceVersion it saw); ``read_timeout_s``: how long the
        client waits for the next byte (None: forever). A 410 Gone when opening raises
        :class:`Gone`; one inside the stream ends the iteration with ``gone`` set.
        """
        kw: dict[str, Any] = {"label_selector": label_selector} if label_selector else {}
        watch: PodWatch = self._send(
            "watch",
            "pods",
            self._core.list_namespaced_pod,
            namespace,
            namespace=namespace,
            group="",
            subresource=None,
            read=PodWatch,
            read_timeout_s=read_timeout_s,
            watch=True,
            allow_watch_bookmarks=True,
            resource_version=resource_version,
            timeout_seconds=max(1, int(timeout_s)),
            **kw,
        )
        return watch

    def get_pod(self, namespace: str, name: str) -> dict[str, Any]:
        obj = self._request("get", "pods", self._core.read_namespaced_pod, name, namespace, namespace=namespace)
        return _with_kind(obj, "v1", "Pod")

    def list_services(self, namespace: str | None = None) -> list[dict[str, Any]]:
        if namespace is None:
            return self._list("services", self._core.list_service_for_all_namespaces, kind="Service")[0]
        return self._list(
            "services", self._core.list_namespaced_service, namespace, namespace=namespace, kind="Service"
        )[0]

    def list_network_policies(self, namespace: str | None = None) -> list[dict[str, Any]]:
        g, v = "networking.k8s.io", "networking.k8s.io/v1"
        if namespace is None:
            fn: Callable[..., Any] = self._net.list_network_policy_for_all_namespaces
            return self._list("networkpolicies", fn, group=g, kind="NetworkPolicy", api_version=v)[0]
        return self._list(
            "networkpolicies",
            self._net.list_namespaced_network_policy,
            namespace,
            namespace=namespace,
            group=g,
            kind="NetworkPolicy",
            api_version=v,
        )[0]

    def list_cluster_custom(self, group: str, version: str, plural: str, kind: str) -> list[dict[str, Any]]:
        """Every object of a cluster-scoped custom resource (``clusternetworkpolicies`` of
        ``policy.networking.k8s.io/v1alpha2``, ...); :class:`NotFound` when the cluster does
        not serve that group, version and resource (its CRD is not installed)."""
        fn = self._custom.list_cluster_custom_object
        api_version = f"{group}/{version}"
        return self._list(plural, fn, group, version, plural, group=group, kind=kind, api_version=api_version)[0]

    def list_nodes(self) -> list[dict[str, Any]]:
        return self._list("nodes", self._core.list_node, kind="Node")[0]

    def list_configmaps(
        self, namespace: str | None = None, *, label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        kw: dict[str, Any] = {"label_selector": label_selector} if label_selector else {}
        if namespace is None:
            return self._list("configmaps", self._core.list_config_map_for_all_namespaces, kind="ConfigMap", **kw)[0]
        return self._list(
            "configmaps", self._core.list_namespaced_config_map, namespace, namespace=namespace, kind="ConfigMap", **kw
        )[0]

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


class PodWatch:
    """One open watch stream: iterate ``(type, object)`` events.

    :meth:`close` may be called from any thread and ends the iteration at once (it shuts
    the socket down under the reading thread). The iteration ends quietly when the server
    closes the stream (its ``timeoutSeconds``) or the connection breaks (``broken`` then
    says how, e.g. ``connection reset``: the caller reconnects, which tells a restart
    from a server that is gone). A 410 inside the stream ends it with ``gone`` set (the
    caller re-lists). Any other ERROR event, or a line that is not a JSON event, raises
    :class:`ClusterError`. ``resource_version`` follows every event and bookmark.
    """

    def __init__(self, response: Any) -> None:
        self._resp = response
        self._closed = False
        self.gone = False
        self.broken = ""
        self.resource_version = ""

    def __iter__(self) -> Iterator[tuple[str, dict[str, Any]]]:
        import urllib3

        buffer = b""
        try:
            for chunk in self._resp.stream(65536, decode_content=True):
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                if len(buffer) > MAX_WATCH_LINE:
                    raise ClusterError(f"the API server sent a watch event over {MAX_WATCH_LINE} bytes")
                for line in lines:
                    event = self._event(line)
                    if self.gone:
                        return
                    if event is not None:
                        yield event
        except (urllib3.exceptions.HTTPError, OSError, AttributeError, ValueError) as exc:
            # AttributeError/ValueError: the socket was shut down or closed under the read
            if not self._closed:
                self.broken = transport_cause(exc)
        finally:
            self._release()

    def _event(self, line: bytes) -> tuple[str, dict[str, Any]] | None:
        if not line.strip():
            return None
        try:
            doc = json.loads(line)
        except ValueError:
            raise ClusterError(
                f"the API server sent a watch line that is not JSON: {_trim(repr(line[:100]))}"
            ) from None
        if not isinstance(doc, dict) or not isinstance(doc.get("object"), dict):
            raise ClusterError(f"the API server sent a watch line that is not an event: {_trim(repr(line[:100]))}")
        kind, obj = str(doc.get("type") or ""), doc["object"]
        if kind == "ERROR":
            if obj.get("code") == 410:
                self.gone = True
                return None
            raise ClusterError(
                f"the watch failed: {obj.get('code')} {obj.get('reason') or ''}: {_trim(str(obj.get('message') or ''))}"
            )
        version = (obj.get("metadata") or {}).get("resourceVersion") if isinstance(obj.get("metadata"), dict) else None
        if version:
            self.resource_version = str(version)
        return kind, obj

    def close(self) -> None:
        """End the watch now, from any thread."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            self._resp.shutdown()

    @property
    def closed(self) -> bool:
        return self._closed

    def _release(self) -> None:
        # the connection is closed, never returned to the pool: a half-read stream is useless
        with contextlib.suppress(Exception):
            self._resp.close()
