"""Label selectors written for people: select wanted pods, and never an unwanted one.

Used wherever kubereach writes a NetworkPolicy (audit fixes, ``suggest``). Pods are
selected by their *workload's own* labels (``app: web``), never by labels a controller
stamps on one replica (``pod-template-hash``, ``statefulset.kubernetes.io/pod-name``,
...), so a policy keeps working across rollouts and restarts. A selector
(:class:`LabelSel`) is the smallest set of labels (preferring the conventional keys,
``app.kubernetes.io/name`` and ``app`` first) that matches every wanted pod of a group and
no pod to avoid; when an avoided pod carries all of those labels and more, a
``DoesNotExist`` on one of its extra keys leaves it out. Two pods with identical workload
labels cannot be told apart by any selector: when one is wanted and the other must be
avoided, the wanted one is returned as *unresolved*, for a person to relabel (kubereach
never guesses).

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

from orchestrator.snapshot.types import Pod

# Set by controllers on individual pods, or per revision: not the workload's identity.
VOLATILE_KEYS = frozenset(
    {
        "pod-template-hash",
        "controller-revision-hash",
        "pod-template-generation",
        "statefulset.kubernetes.io/pod-name",
        "apps.kubernetes.io/pod-index",
        "batch.kubernetes.io/controller-uid",
        "batch.kubernetes.io/job-name",
        "controller-uid",
        "job-name",
        "batch.kubernetes.io/job-completion-index",
    }
)
# Tried first, in this order: the keys a reader expects to see in a selector.
PREFERRED_KEYS = (
    "app.kubernetes.io/name",
    "app",
    "k8s-app",
    "name",
    "app.kubernetes.io/component",
    "component",
    "tier",
    "role",
    "app.kubernetes.io/instance",
)
# Subsets of at most this many labels are tried before falling back to a group's whole label set.
MAX_KEYS = 3

Labels = Mapping[str, str]


def workload_labels(pod: Pod) -> dict[str, str]:
    return {k: v for k, v in pod.labels.items() if k not in VOLATILE_KEYS}


def _key_order(key: str) -> tuple[int, str]:
    return (PREFERRED_KEYS.index(key) if key in PREFERRED_KEYS else len(PREFERRED_KEYS), key)


@dataclass(frozen=True, slots=True)
class LabelSel:
    """``matchLabels`` plus keys that must be absent (``DoesNotExist``); empty: every pod."""

    labels: tuple[tuple[str, str], ...] = ()  # sorted
    absent: tuple[str, ...] = ()

    @classmethod
    def of(cls, labels: Mapping[str, str], absent: Iterable[str] = ()) -> LabelSel:
        return cls(tuple(sorted(labels.items())), tuple(sorted(absent)))

    @property
    def everything(self) -> bool:
        return not self.labels and not self.absent

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in self.labels) and not any(k in labels for k in self.absent)

    def to_dict(self) -> dict[str, object]:
        """As a NetworkPolicy ``podSelector``."""
        out: dict[str, object] = {}
        if self.labels:
            out["matchLabels"] = dict(self.labels)
        if self.absent:
            out["matchExpressions"] = [{"key": k, "operator": "DoesNotExist"} for k in self.absent]
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, object]) -> LabelSel:
        """The inverse of :meth:`to_dict` (for selectors kubereach wrote)."""
        labels = raw.get("matchLabels") or {}
        exprs = raw.get("matchExpressions") or []
        assert isinstance(labels, Mapping) and isinstance(exprs, list)
        return cls.of({str(k): str(v) for k, v in labels.items()}, (str(e["key"]) for e in exprs))

    def words(self) -> list[str]:
        """For policy names: ``["web"]``, ``["no-tier"]``."""
        return [v for _, v in self.labels] + [f"no-{k.rsplit('/', 1)[-1]}" for k in self.absent]


@dataclass(frozen=True, slots=True)
class Selection:
    selectors: tuple[LabelSel, ...]  # OR-ed; (LabelSel(),) selects everything
    unresolved: tuple[Pod, ...]  # wanted pods no selector can separate from an avoided one


class _Avoid:
    """Pods to avoid, indexed by label so a candidate selector is checked with a few ANDs."""

    def __init__(self, avoid: Sequence[Labels]) -> None:
        self.avoid = list(avoid)
        self.all = (1 << len(avoid)) - 1
        self.by_label: dict[tuple[str, str], int] = {}
        self.by_key: dict[str, int] = {}
        for i, labels in enumerate(avoid):
            for item in labels.items():
                self.by_label[item] = self.by_label.get(item, 0) | (1 << i)
                self.by_key[item[0]] = self.by_key.get(item[0], 0) | (1 << i)

    def hit_mask(self, selector: Mapping[str, str]) -> int:
        mask = self.all
        for item in selector.items():
            mask &= self.by_label.get(item, 0)
            if not mask:
                break
        return mask

    def hits(self, selector: Mapping[str, str]) -> bool:
        return bool(self.hit_mask(selector))


def _candidates(labels: Labels) -> Iterable[dict[str, str]]:
    keys = sorted(labels, key=_key_order)
    for size in range(1, min(MAX_KEYS, len(keys)) + 1):
        for combo in combinations(keys, size):
            yield {k: labels[k] for k in combo}
    if len(keys) > MAX_KEYS:
        yield {k: labels[k] for k in keys}


def _first_clean(labels: Labels, avoid: _Avoid, keys: frozenset[str]) -> LabelSel | None:
    """``keys``: every label key the wanted pods carry (none of them may be required absent)."""
    for candidate in _candidates(labels):
        if not avoid.hits(candidate):
            return LabelSel.of(candidate)
    return _without_extra_keys(labels, avoid, keys)


def _without_extra_keys(labels: Labels, avoid: _Avoid, keys: frozenset[str]) -> LabelSel | None:
    """All of ``labels`` plus ``DoesNotExist`` on keys the avoided pods matching them carry
    and no wanted pod does (without one, an avoided pod is a twin and nothing helps)."""
    hit = avoid.hit_mask(labels)
    absent: list[str] = []
    while hit:
        i = (hit & -hit).bit_length() - 1
        extra = sorted((k for k in avoid.avoid[i] if k not in keys), key=_key_order)
        if not extra:
            return None
        # the key that leaves out the most avoided pods still matched
        best = max(extra, key=lambda k: ((avoid.by_key.get(k, 0) & hit).bit_count(), -_key_order(k)[0]))
        absent.append(best)
        hit &= ~avoid.by_key.get(best, 0)
    return LabelSel.of(labels, absent)


def select(wanted: Sequence[Pod], avoid: Sequence[Pod]) -> Selection:
    """matchLabels selectors (OR-ed) that together match every ``wanted`` pod and no ``avoid``
    pod; both are pods of one namespace (the caller adds the namespace side)."""
    if not wanted:
        return Selection((), ())
    if not avoid:
        return Selection((LabelSel(),), ())
    index = _Avoid([workload_labels(p) for p in avoid])
    labels_of = [workload_labels(p) for p in wanted]
    # 1. one selector for all of them, from the labels they have in common
    common = dict(set(labels_of[0].items()).intersection(*(set(x.items()) for x in labels_of[1:])))
    all_keys = frozenset(k for p in wanted for k in p.labels)
    if common:
        one = _first_clean(common, index, all_keys)
        if one is not None:
            return Selection((one,), ())
    # 2. one per group of identical workload labels (a workload's replicas)
    groups: dict[frozenset[tuple[str, str]], list[Pod]] = {}
    for pod, labels in zip(wanted, labels_of, strict=True):
        groups.setdefault(frozenset(labels.items()), []).append(pod)
    chosen: list[LabelSel] = []
    unresolved: list[Pod] = []
    for key, pods in sorted(groups.items(), key=lambda kv: sorted(kv[0])):
        found = _first_clean(dict(key), index, frozenset(k for p in pods for k in p.labels))
        if found is None:
            unresolved.extend(pods)
        elif found not in chosen:
            chosen.append(found)
    return Selection(tuple(chosen), tuple(unresolved))


def matches(selector: LabelSel, pod: Pod) -> bool:
    return selector.matches(pod.labels)
