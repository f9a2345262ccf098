"""Manifests a cluster would refuse, one per validation rule (imported as ``refused_manifests``
by tests/snapshot/test_validation.py and tests/cli/test_predict_refuses.py).

Each case: the failing object's YAML (document 2, after a Namespace), the object as
messages name it, the field path, and a piece of the message.
"""

from __future__ import annotations

from workload_manifests import dump, workload

NS = "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n---\n"  # so the failing object is document 2


def policy(spec: str, name: str = "p") -> str:
    head = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
    return f"{head}metadata: {{name: {name}, namespace: shop}}\nspec: {spec}\n"


def service(spec: str, meta: str = "{name: web, namespace: shop}") -> str:
    return f"apiVersion: v1\nkind: Service\nmetadata: {meta}\nspec: {spec}\n"


def pod(meta: str = "{name: web, namespace: shop}", spec: str = "{containers: [{name: c}]}") -> str:
    return f"apiVersion: v1\nkind: Pod\nmetadata: {meta}\nspec: {spec}\n"


def changed(kind: str, edit) -> str:
    w = workload(kind, "web")
    edit(w)
    return dump(w)


def tspec(w: dict) -> dict:
    """The pod spec inside a workload (a CronJob's is two templates deep)."""
    if w["kind"] == "CronJob":
        return w["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return w["spec"]["template"]["spec"]


CASES = [
    # -- label selectors (the model's compiler: NetworkPolicies and workloads alike) --
    (
        policy("{podSelector: {matchLabels: {'app@x': '$bad value'}}}"),
        "NetworkPolicy shop/p",
        "spec.podSelector.matchLabels",
        "invalid label key 'app@x'",
    ),
    (
        policy("{podSelector: {matchLabels: {app: '$bad value'}}}"),
        "NetworkPolicy shop/p",
        "spec.podSelector.matchLabels.app",
        "invalid label value '$bad value'",
    ),
    (
        policy(
            "{podSelector: {}, ingress: [{from: [{podSelector: {matchExpressions: [{key: '-x', operator: Exists}]}}]}]}"
        ),
        "NetworkPolicy shop/p",
        "spec.ingress[0].from[0].podSelector.matchExpressions[0].key",
        "name part must consist of",
    ),
    (
        policy("{podSelector: {matchExpressions: [{key: 'a/b/c', operator: Exists}]}}"),
        "NetworkPolicy shop/p",
        "spec.podSelector.matchExpressions[0].key",
        "a qualified name",
    ),
    (
        policy("{podSelector: {matchExpressions: [{key: 'Example.com/x', operator: Exists}]}}"),
        "NetworkPolicy shop/p",
        "spec.podSelector.matchExpressions[0].key",
        "prefix part",
    ),
    (
        policy("{podSelector: {matchExpressions: [{key: tier, operator: In, values: [ok, 'not ok']}]}}"),
        "NetworkPolicy shop/p",
        "spec.podSelector.matchExpressions[0].values[1]",
        "invalid label value 'not ok'",
    ),
    (
        policy("{podSelector: {}, egress: [{to: [{namespaceSelector: {matchLabels: {team: " + "x" * 64 + "}}}]}]}"),
        "NetworkPolicy shop/p",
        "spec.egress[0].to[0].namespaceSelector.matchLabels.team",
        "must be no more than 63 characters",
    ),
    (
        policy("{podSelector: {matchExpressions: [{key: tier, operator: In}]}}"),
        "NetworkPolicy shop/p",
        "spec.podSelector.matchExpressions[0].values",
        "non-empty",
    ),
    (
        policy("{podSelector: {matchExpressions: [{key: tier, operator: DoesNotExist, values: [a]}]}}"),
        "NetworkPolicy shop/p",
        "spec.podSelector.matchExpressions[0].values",
        "must be empty",
    ),
    (
        changed("Deployment", lambda w: w["spec"].update(selector={"matchLabels": {"app": "we b"}})),
        "Deployment shop/web",
        "spec.selector.matchLabels.app",
        "invalid label value",
    ),
    # -- labels and annotations on objects --
    (
        pod("{name: web, namespace: shop, labels: {'app.kubernetes.io/': x}}"),
        "Pod shop/web",
        "metadata.labels",
        "name part must be non-empty",
    ),
    (
        pod("{name: web, namespace: shop, labels: {app: -web}}"),
        "Pod shop/web",
        "metadata.labels.app",
        "invalid label value",
    ),
    (
        pod("{name: web, namespace: shop, annotations: {'a b': x}}"),
        "Pod shop/web",
        "metadata.annotations",
        "invalid annotation key",
    ),
    (
        service("{ports: [{port: 80}]}", "{name: web, namespace: shop, labels: {'x/y/z': a}}"),
        "Service shop/web",
        "metadata.labels",
        "a qualified name",
    ),
    (
        changed("StatefulSet", lambda w: w["spec"]["template"]["metadata"]["labels"].update({"bad key!": "x"})),
        "StatefulSet shop/web",
        "spec.template.metadata.labels",
        "invalid label key",
    ),
    # -- names, per kind as the API server checks them --
    (
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: team.a}\n",
        "Namespace team.a",
        "metadata.name",
        "RFC 1123 label",
    ),
    (pod("{name: Web, namespace: shop}"), "Pod shop/Web", "metadata.name", "RFC 1123 subdomain"),
    (pod("{name: web, namespace: Shop}"), "Pod Shop/web", "metadata.namespace", "RFC 1123 label"),
    (
        service("{ports: [{port: 80}]}", "{name: 1web, namespace: shop}"),
        "Service shop/1web",
        "metadata.name",
        "DNS-1035 label",
    ),
    (
        policy("{podSelector: {}}", name="allow_all"),
        "NetworkPolicy shop/allow_all",
        "metadata.name",
        "RFC 1123 subdomain",
    ),
    (
        changed("StatefulSet", lambda w: w["metadata"].update(name="web.v2")),
        "StatefulSet shop/web.v2",
        "metadata.name",
        "RFC 1123 label",
    ),
    (
        changed("CronJob", lambda w: w["metadata"].update(name="c" * 53)),
        f"CronJob shop/{'c' * 53}",
        "metadata.name",
        "no more than 52 characters",
    ),
    (
        changed("Job", lambda w: w["metadata"].update(name="j" * 64)),
        f"Job shop/{'j' * 64}",
        "metadata.name",
        "job-name label",
    ),
    # -- pod specs: port names, container names, restartPolicy --
    (
        pod(spec="{containers: [{name: c, ports: [{containerPort: 80, name: HTTP}]}]}"),
        "Pod shop/web",
        "spec.containers[0].ports[0].name",
        "IANA_SVC_NAME",
    ),
    (pod(spec="{containers: [{name: my_app}]}"), "Pod shop/web", "spec.containers[0].name", "RFC 1123 label"),
    (
        pod(spec="{restartPolicy: Sometimes, containers: [{name: c}]}"),
        "Pod shop/web",
        "spec.restartPolicy",
        "unsupported value",
    ),
    (
        changed(
            "Deployment", lambda w: tspec(w)["containers"][0]["ports"].append({"containerPort": 9, "name": "a--b"})
        ),
        "Deployment shop/web",
        "spec.template.spec.containers[0].ports[1].name",
        "IANA_SVC_NAME",
    ),
    (
        changed("DaemonSet", lambda w: tspec(w).update(restartPolicy="Never")),
        "DaemonSet shop/web",
        "spec.template.spec.restartPolicy",
        "supported values: Always",
    ),
    (
        changed("Job", lambda w: tspec(w).pop("restartPolicy")),
        "Job shop/web",
        "spec.template.spec.restartPolicy",
        "required: one of OnFailure, Never",
    ),
    (
        changed("CronJob", lambda w: tspec(w).update(restartPolicy="Always")),
        "CronJob shop/web",
        "spec.jobTemplate.spec.template.spec.restartPolicy",
        "unsupported value 'Always'",
    ),
    (
        changed("ReplicaSet", lambda w: tspec(w)["containers"].append({"name": "main"})),
        "ReplicaSet shop/web",
        "spec.template.spec.containers",
        "duplicate container name",
    ),
    # -- Services --
    (
        service("{ports: [{port: 80, name: http}, {port: 81}]}"),
        "Service shop/web",
        "spec.ports[1].name",
        "required when a Service has more than one port",
    ),
    (
        service("{ports: [{port: 80, name: Http}]}"),
        "Service shop/web",
        "spec.ports[0].name",
        "RFC 1123 label",
    ),
    (
        service("{ports: [{port: 80, targetPort: http_alt}]}"),
        "Service shop/web",
        "spec.ports[0].targetPort",
        "IANA_SVC_NAME",
    ),
    (
        service("{selector: {app: 'a b'}, ports: [{port: 80}]}"),
        "Service shop/web",
        "spec.selector.app",
        "invalid label value",
    ),
    # -- workloads --
    (changed("Deployment", lambda w: w["spec"].pop("template")), "Deployment shop/web", "spec.template", "required"),
    (changed("StatefulSet", lambda w: w["spec"].pop("selector")), "StatefulSet shop/web", "spec.selector", "required"),
    (
        changed("DaemonSet", lambda w: w["spec"].update(selector={})),
        "DaemonSet shop/web",
        "spec.selector",
        "empty selector is invalid",
    ),
    (
        changed("Deployment", lambda w: w["spec"].update(selector={"matchLabels": {"app": "api"}})),
        "Deployment shop/web",
        "spec.template.metadata.labels",
        "`selector` does not match template `labels`",
    ),
    (
        changed("ReplicationController", lambda w: w["spec"].update(selector={"app": "api"})),
        "ReplicationController shop/web",
        "spec.template.metadata.labels",
        "`selector` does not match template `labels`",
    ),
    (
        changed(
            "ReplicationController",
            lambda w: (w["spec"].pop("selector"), w["spec"]["template"]["metadata"].pop("labels")),
        ),
        "ReplicationController shop/web",
        "spec.selector",
        "required",
    ),
    (
        changed("Deployment", lambda w: w["spec"].update(replicas=-1)),
        "Deployment shop/web",
        "spec.replicas",
        "out of range",
    ),
    (
        changed("Job", lambda w: w["spec"].update(selector={"matchLabels": {"app": "web"}})),
        "Job shop/web",
        "spec.selector",
        "`selector` not auto-generated",
    ),
    (
        changed("Job", lambda w: w["spec"].update(manualSelector=True, selector={"matchLabels": {"app": "other"}})),
        "Job shop/web",
        "spec.template.metadata.labels",
        "`selector` does not match template `labels`",
    ),
    (
        changed("Job", lambda w: w["spec"].update(completionMode="Indexed")),
        "Job shop/web",
        "spec.completions",
        "required when completionMode is Indexed",
    ),
    (changed("Job", lambda w: w["spec"].update(parallelism=-2)), "Job shop/web", "spec.parallelism", "out of range"),
    (
        changed("CronJob", lambda w: w["spec"].update(schedule="61 * * * *")),
        "CronJob shop/web",
        "spec.schedule",
        "minute field '61'",
    ),
    (changed("CronJob", lambda w: w["spec"].pop("jobTemplate")), "CronJob shop/web", "spec.jobTemplate", "required"),
    (
        changed("CronJob", lambda w: w["spec"]["jobTemplate"]["spec"].update(selector={"matchLabels": {"app": "web"}})),
        "CronJob shop/web",
        "spec.jobTemplate.spec.selector",
        "auto-generated",
    ),
    (
        changed("Deployment", lambda w: tspec(w)["containers"][0].update(ports=[{"containerPort": 70000}])),
        "Deployment shop/web",
        "spec.template.spec.containers[0].ports[0].containerPort",
        "out of range",
    ),
    (
        changed("Deployment", lambda w: w["spec"]["template"].pop("spec")),
        "Deployment shop/web",
        "spec.template.spec",
        "required",
    ),
    (
        changed("DaemonSet", lambda w: tspec(w).update(tolerations=[{"key": "", "operator": "Equal", "value": "x"}])),
        "DaemonSet shop/web",
        "spec.template.spec.tolerations[0].operator",
        "must be Exists when key is empty",
    ),
    (
        "apiVersion: v1\nkind: Node\nmetadata: {name: n1}\nspec: {taints: [{key: a, effect: Sometimes}]}\n",
        "Node n1",
        "spec.taints[0].effect",
        "unsupported value",
    ),
]
