"""The injected init container keeps the pod's QoS class, computed exactly as Kubernetes does.

``pod_qos_class`` follows ``pkg/apis/core/helper/qos`` (ComputePodQOS): the table below
holds the upstream cases (qos_test.go) plus the API server's defaulting of requests from
limits. Then one test per class: a pod of that class, mutated, is still of that class,
and its effective request (what the scheduler reserves: the larger of the biggest init
container and the sum of the containers) does not grow where the pod allows enough.
"""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction

import pytest
from test_webhook_findings import big_pod, big_rules
from webhook_helpers import make_pod, make_review, patched

from webhook.admission import Mode, Settings, review
from webhook.qos import INIT_MEMORY_FLOOR, QOSClass, parse_quantity, pod_qos_class

BE, BU, GU = QOSClass.BEST_EFFORT, QOSClass.BURSTABLE, QOSClass.GUARANTEED


def res(requests=None, limits=None):
    out = {}
    if requests is not None:
        out["requests"] = requests
    if limits is not None:
        out["limits"] = limits
    return {"resources": out}


def pod_of(*containers, init=()):
    spec = {"containers": [{"name": f"c{i}", **c} for i, c in enumerate(containers)]}
    if init:
        spec["initContainers"] = [{"name": f"i{i}", **c} for i, c in enumerate(init)]
    return {"spec": spec}


CPU_MEM = {"cpu": "100m", "memory": "100Mi"}


@pytest.mark.parametrize(
    "pod, expected",
    [
        (pod_of({}), BE),  # best-effort-orig
        (pod_of(res({"nvidia.com/gpu": "1"}, {"nvidia.com/gpu": "1"})), BE),  # only non-compute resources
        (pod_of(res({"cpu": "0"}, {"cpu": "0"})), BE),  # zero quantities do not count
        (pod_of(res(CPU_MEM, CPU_MEM)), GU),  # guaranteed
        (pod_of(res(CPU_MEM, CPU_MEM), res(CPU_MEM, CPU_MEM)), GU),  # guaranteed, two containers
        (pod_of(res({**CPU_MEM, "nvidia.com/gpu": "2"}, {**CPU_MEM, "nvidia.com/gpu": "2"})), GU),
        (pod_of(res({"cpu": "0.1", "memory": "104857600"}, CPU_MEM)), GU),  # equal quantities, other spellings
        (pod_of(res(None, CPU_MEM)), GU),  # limits only: the API server defaults requests to them
        (pod_of(res(CPU_MEM, CPU_MEM), {}), BU),  # best-effort-guaranteed
        (pod_of(res({"cpu": "100m"}, None)), BU),  # burstable-no-limits
        (pod_of(res({"cpu": "10m", "memory": "100Mi"}, {"cpu": "100m", "memory": "200Mi"})), BU),  # burstable-1
        (pod_of(res({"memory": "100Mi"}, {"memory": "100Mi"})), BU),  # burstable-memory-only-guaranteed
        (pod_of(res(CPU_MEM, CPU_MEM), init=[res({"cpu": "10m"}, None)]), BU),  # init containers count
        (pod_of({}, init=[res(CPU_MEM, CPU_MEM)]), BU),  # ... both ways
        ({"spec": {"resources": {"limits": CPU_MEM}, "containers": [{"name": "a"}]}}, GU),  # pod-level resources
        ({"spec": {"resources": {"requests": {"cpu": "1"}}, "containers": [res(CPU_MEM, CPU_MEM)]}}, BU),
    ],
)
def test_qos_class_as_kubernetes_computes_it(pod, expected):
    assert pod_qos_class(pod) is expected


@pytest.mark.parametrize(
    "text, value",
    [("100m", Fraction(1, 10)), ("1", 1), ("1.5", Fraction(3, 2)), ("128Mi", 128 << 20), ("1G", 10**9), ("1e3", 1000)],
)
def test_quantities(text, value):
    assert parse_quantity(text) == value


def effective_requests(pod: dict) -> dict[str, Fraction]:
    """What the scheduler reserves (resource helpers' PodRequests): per resource, the larger
    of the biggest init container request and the sum of the containers' requests."""
    spec = pod["spec"]

    def requests(c):
        r = c.get("resources") or {}
        given = {**(r.get("limits") or {}), **(r.get("requests") or {})}
        return {k: parse_quantity(v) for k, v in given.items() if k in ("cpu", "memory")}

    out = {}
    for name in ("cpu", "memory"):
        total = sum((requests(c).get(name, Fraction(0)) for c in spec["containers"]), Fraction(0))
        biggest = max((requests(c).get(name, Fraction(0)) for c in spec.get("initContainers") or []), default=0)
        out[name] = max(total, biggest)
    return out


def injected(pod: dict) -> dict:
    out = review(make_review(pod), Mode.MUTATE, Settings())
    assert out["response"]["allowed"], out["response"].get("status")
    return patched(pod, out)


def with_resources(pod: dict, *per_container: dict) -> dict:
    for c, r in zip(pod["spec"]["containers"], per_container, strict=True):
        c.update(r)
    return pod


def test_a_best_effort_pod_stays_best_effort():
    pod = make_pod()
    assert pod_qos_class(pod) is BE
    final = injected(pod)
    assert final["spec"]["initContainers"][0]["resources"] == {}
    assert pod_qos_class(final) is BE


def test_a_guaranteed_pod_stays_guaranteed_and_its_effective_request_does_not_grow():
    pod = with_resources(
        make_pod(),
        res({"cpu": "500m", "memory": "256Mi"}, {"cpu": "500m", "memory": "256Mi"}),
        res({"cpu": "100m", "memory": "64Mi"}, {"cpu": "100m", "memory": "64Mi"}),
    )
    assert pod_qos_class(pod) is GU
    final = injected(pod)
    init = final["spec"]["initContainers"][0]["resources"]
    assert init["requests"] == init["limits"] == {"cpu": "200m", "memory": "128Mi"}
    assert pod_qos_class(final) is GU
    assert effective_requests(final) == effective_requests(pod)


def test_a_small_guaranteed_pod_stays_guaranteed_within_what_its_containers_allow():
    pod = with_resources(
        make_pod(), res(None, {"cpu": "50m", "memory": "64Mi"}), res(None, {"cpu": "10m", "memory": "32Mi"})
    )
    final = injected(pod)
    init = final["spec"]["initContainers"][0]["resources"]
    assert init["requests"] == init["limits"] == {"cpu": "60m", "memory": "96Mi"}
    assert pod_qos_class(final) is GU and effective_requests(final) == effective_requests(pod)


def test_a_tiny_guaranteed_pod_stays_guaranteed_with_the_init_containers_memory_floor():
    # below what the init container needs the pod grows to that floor (docs/webhook.md), still Guaranteed
    tiny = res(None, {"cpu": "5m", "memory": "8Mi"})
    pod = with_resources(make_pod(), tiny, tiny)
    final = injected(pod)
    init = final["spec"]["initContainers"][0]["resources"]
    assert init["requests"] == init["limits"] == {"cpu": "10m", "memory": "48Mi"}
    assert pod_qos_class(final) is GU


def test_a_burstable_pod_stays_burstable():
    pod = with_resources(make_pod(), res({"cpu": "100m"}, None), {})
    assert pod_qos_class(pod) is BU
    final = injected(pod)
    init = final["spec"]["initContainers"][0]["resources"]
    assert init == {"requests": {"cpu": "10m", "memory": "48Mi"}, "limits": {"cpu": "200m", "memory": "128Mi"}}
    assert pod_qos_class(final) is BU


def test_a_pod_with_pod_level_resources_gets_an_init_container_without_any():
    pod = make_pod()
    pod["spec"]["resources"] = {"requests": CPU_MEM, "limits": CPU_MEM}
    final = injected(pod)
    assert final["spec"]["initContainers"][0]["resources"] == {} and pod_qos_class(final) is GU


def test_native_sidecars_count_for_the_class():
    sidecar = {
        "name": "proxy",
        "image": "envoy",
        "restartPolicy": "Always",
        "securityContext": {"runAsUser": 1003},
        **res(CPU_MEM, CPU_MEM),
    }
    pod = with_resources(make_pod(init_containers=[sidecar]), res(CPU_MEM, CPU_MEM), res(CPU_MEM, CPU_MEM))
    assert pod_qos_class(pod) is GU
    assert pod_qos_class(injected(pod)) is GU


def test_the_init_container_fits_its_memory_floor_with_the_largest_config(tmp_path):
    """The floor is measured, not guessed: the agent reading the largest config an annotation allows."""
    pod = big_pod(big_rules(4000))
    config = injected(pod)["metadata"]["annotations"]["intrapod.kubereach.io/config"]
    (tmp_path / "config").write_text(config)
    code = (
        "import sys, contextlib, io\n"
        "from probe.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    rc = main(['intrapod', 'render', '--config-file', sys.argv[1]])\n"
        # VmHWM: the peak RSS of this process image (ru_maxrss would count the forking parent's)
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0].split()[1]\n"
        "print(rc, int(hwm) * 1024)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "config")], capture_output=True, text=True)
    rc, peak = map(int, out.stdout.split())
    assert rc == 0, out.stderr
    assert peak < INIT_MEMORY_FLOOR * 3 // 4, json.dumps({"peak_bytes": peak})  # iptables-restore needs the rest
