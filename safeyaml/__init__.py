"""YAML (and JSON, which is YAML) written by someone else, read safely.

One loader for every entry point that reads what others wrote: manifests
(``predict -f``, ``lab up -f``), rules annotations (``predict``, the sweep, the
admission webhook), intent files. PyYAML's safe loader does not run code, but it
still lets a few hundred bytes cost gigabytes or hours: aliases that expand
exponentially (billion laughs), nesting deep enough to overflow whatever walks the
result, megabytes of scalar, duplicate keys that silently drop an object. This module
bounds all of them *before* anything is built from the document:

- the text's size is checked before parsing (``max_bytes``);
- each document's node graph is walked once, iteratively, before construction: its
  nesting depth (``max_depth``) and its size with every alias expanded
  (``max_nodes``) are bounded, and a recursive alias is refused, so a 440-byte alias
  bomb is rejected in microseconds instead of being expanded by whatever reads it;
- what aliases may add on top of the document's own nodes can be bounded separately
  (``max_alias_nodes``): a rules annotation may reuse a port list, not multiply a
  small text into a large structure that later code walks;
- a mapping with the same key twice is an error naming the key and its line (kubectl
  refuses them too; PyYAML would keep the last one and drop the rest quietly);
- keys become strings as kubectl makes them (``1: a`` -> ``"1"``, ``true: a`` ->
  ``"true"``; a null or a list as a key is an error), values JSON cannot carry
  (``!!binary``, ``!!set``, explicit ``!!timestamp``, ``.nan``, ``.inf``) are refused,
  and plain dates stay strings as they do for kubectl (YAML is converted to JSON
  there), so everything loaded is JSON-shaped;
- error messages quote at most :data:`QUOTE_LIMIT` characters of the input.

Everything raises :class:`YamlError` (a ``ValueError``) with the document number, line
and column where known. Standard library and PyYAML only: the lab, the webhook and the
orchestrator all import it, and the lab must not import the orchestrator.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

# Kubernetes objects nest a few dozen levels at most (a pod template inside a CronJob
# inside a List is about 15); past 200, code that walks them recursively (validation,
# error messages, json.dumps) would overflow Python's stack.
MAX_DEPTH = 200
# A 2,000-pod cluster with 500 policies is about 1.5 million nodes in one file; a single
# document is far smaller. Aliases may not make a document larger than this when expanded.
MAX_NODES = 2_000_000
# Manifest files: kubectl itself refuses request bodies over 3 MiB per object; a whole
# cluster's `kubectl get -o yaml` of a few thousand pods is tens of MiB.
MAX_BYTES = 256 << 20
# How much of someone else's text an error message may quote.
QUOTE_LIMIT = 200
# The API server refuses an object whose annotations (keys and values) exceed 256 KiB
# in total, so no single annotation is larger.
ANNOTATION_MAX_BYTES = 256 << 10

_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_NOT_JSON = (
    "tag:yaml.org,2002:binary",
    "tag:yaml.org,2002:set",
    "tag:yaml.org,2002:omap",
    "tag:yaml.org,2002:pairs",
    _TIMESTAMP,
)
_MERGE = "tag:yaml.org,2002:merge"


class YamlError(ValueError):
    """Input that is not (safe) YAML. ``document`` counts from 1; ``line`` and ``column``
    from 1; each is None where unknown. ``problem`` is the message without the position."""

    def __init__(
        self, problem: str, *, document: int | None = None, line: int | None = None, column: int | None = None
    ) -> None:
        self.problem, self.document, self.line, self.column = problem, document, line, column
        where = (
            f"line {line}, column {column}: "
            if line is not None and column is not None
            else (f"line {line}: " if line is not None else "")
        )
        super().__init__(where + problem)


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds for one call; the defaults suit manifest files, :data:`ANNOTATIONS` suits
    one annotation's value.

    ``max_nodes`` bounds a document's size with every alias expanded;
    ``max_alias_nodes`` (None: no separate bound) bounds what the aliases add to it.
    """

    max_bytes: int = MAX_BYTES
    max_depth: int = MAX_DEPTH
    max_nodes: int = MAX_NODES
    max_alias_nodes: int | None = None


MANIFESTS = Limits()
# One annotation's value, e.g. ``intrapod.kubereach.io/rules``: at most what the API
# server stores (256 KiB); a rules document nests 5 levels (mapping, rules, rule, ports,
# port), so 32 is generous; 256 KiB of YAML holds at most ~130,000 nodes ("1," per
# port), and aliases may add 10,000 more (a reused port list, not an amplifier). Reading
# the largest such annotation costs well under a second; a 440-byte alias bomb is
# refused in microseconds.
ANNOTATIONS = Limits(max_bytes=ANNOTATION_MAX_BYTES, max_depth=32, max_nodes=200_000, max_alias_nodes=10_000)


def quote(text: str, limit: int = QUOTE_LIMIT) -> str:
    """``repr`` of at most ``limit`` characters of ``text`` (``…`` marks the cut)."""
    text = str(text)
    return repr(text if len(text) <= limit else text[:limit] + "…")


def _mark(node_or_exc: Any) -> tuple[int | None, int | None]:
    mark = getattr(node_or_exc, "start_mark", None) or getattr(node_or_exc, "problem_mark", None)
    if mark is None:
        return None, None
    return mark.line + 1, mark.column + 1


def _children(node: Node) -> list[Node]:
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, SequenceNode):
        return list(node.value)
    return []


def check_node_graph(root: Node, limits: Limits) -> None:
    """Depth and alias-expanded size of a composed document, without expanding anything.

    Post-order over the node graph with a memo per node (a node an alias points to is
    shared, so it is measured once): O(distinct nodes) whatever the aliases multiply.
    """
    done: dict[int, tuple[int, int]] = {}  # id -> (expanded size, height)
    active: set[int] = set()
    alias_budget = None if limits.max_alias_nodes is None else limits.max_alias_nodes
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        key = id(node)
        if expanded:
            kids = _children(node)
            size = 1 + sum(done[id(k)][0] for k in kids)
            height = 1 + max((done[id(k)][1] for k in kids), default=0)
            active.discard(key)
            done[key] = (size, height)
            if height > limits.max_depth:
                line, column = _mark(node)
                raise YamlError(f"nested too deeply (more than {limits.max_depth} levels)", line=line, column=column)
            if size > limits.max_nodes:
                line, column = _mark(node)
                raise YamlError(
                    f"too large once its aliases are expanded (more than {limits.max_nodes:,} "
                    "nodes): aliases multiply what they point to",
                    line=line,
                    column=column,
                )
            if alias_budget is not None and size - len(done) > alias_budget:
                # ``len(done)`` distinct nodes were measured so far and every one of them is
                # at most once in ``size`` unless an alias repeats it: the excess is theirs.
                line, column = _mark(node)
                raise YamlError(
                    f"aliases expand it by more than {alias_budget:,} nodes (an alias repeats what "
                    "its anchor points to; here that is bounded)",
                    line=line,
                    column=column,
                )
            continue
        if key in done:
            continue
        if key in active:
            line, column = _mark(node)
            raise YamlError(
                "an alias refers to a node that contains it (a recursive structure)", line=line, column=column
            )
        active.add(key)
        stack.append((node, True))
        stack.extend((k, False) for k in _children(node) if id(k) not in done)


def check_tree(root: Node, limits: Limits) -> None:
    """Depth and size of a document that cannot hold an alias (its text has no ``&``, the
    anchor indicator): a plain walk, about three times faster than :func:`check_node_graph`
    on a large manifest, with the same errors."""
    seen = 0
    stack: list[tuple[Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        seen += 1
        if depth > limits.max_depth:
            line, column = _mark(node)
            raise YamlError(f"nested too deeply (more than {limits.max_depth} levels)", line=line, column=column)
        if seen > limits.max_nodes:
            line, column = _mark(node)
            raise YamlError(f"too large (more than {limits.max_nodes:,} nodes)", line=line, column=column)
        kids = _children(node)
        if kids:
            stack.extend((k, depth + 1) for k in kids)


def _base_loader() -> type:
    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_base_loader()):  # type: ignore[misc]  # CSafeLoader or SafeLoader: a class chosen at import
    """libyaml's safe loader (when PyYAML has it) with the checks above."""

    limits = Limits()
    start_line: int | None = None  # line (from 1) where the last document's content starts

    without_anchors = False  # set per text: no "&" anywhere means no alias can exist

    def get_node(self) -> Node:  # called by get_data() before construct_document()
        node: Node = super().get_node()
        if node is not None:
            (check_tree if self.without_anchors else check_node_graph)(node, self.limits)
            self.start_line = node.start_mark.line + 1
        return node

    def construct_mapping(self, node: Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, MappingNode):
            seen: dict[str, Node] = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE:
                    continue
                if not isinstance(key_node, ScalarNode):
                    line, column = _mark(key_node)
                    raise YamlError(
                        "a mapping key must be a string, a number or a boolean, not a list or a mapping",
                        line=line,
                        column=column,
                    )
                key = _json_key(self.construct_object(key_node, deep=True), key_node)
                first = seen.get(key)
                if first is not None:
                    line, column = _mark(key_node)
                    raise YamlError(
                        f"duplicate key {quote(key_node.value, 60)} (first at line "
                        f"{first.start_mark.line + 1}): a mapping cannot have the same key twice",
                        line=line,
                        column=column,
                    )
                seen[key] = key_node
            self.flatten_mapping(node)  # merge keys (``<<: *base``): the node's own keys win
        # Built here rather than by PyYAML, whose dict would fold ``1`` and ``true`` into one key.
        return {
            _json_key(self.construct_object(key_node, deep=True), key_node): self.construct_object(
                value_node, deep=deep
            )
            for key_node, value_node in node.value
        }

    def construct_yaml_float(self, node: Node) -> float:
        value: float = super().construct_yaml_float(node)
        if not math.isfinite(value):
            line, column = _mark(node)
            raise YamlError(
                f"{quote(node.value, 20)} is not a finite number, which JSON cannot carry; "
                "quote it to make it a string",
                line=line,
                column=column,
            )
        return value


def _json_key(key: Any, node: Node) -> str:
    """A mapping key as kubectl's YAML-to-JSON conversion makes it: strings stay, integers
    and floats are written out, booleans become ``true``/``false``; anything else
    (null, a date) is an error naming where it is."""
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int):
        return str(key)
    if isinstance(key, float):  # ``1.5: a`` -> "1.5", ``2.0: a`` -> "2" (as Go's shortest 'g' format)
        return repr(key).removesuffix(".0")
    line, column = _mark(node)
    raise YamlError(
        "a mapping key must be a string, a number or a boolean, not "
        + (type(key).__name__ if key is not None else "null"),
        line=line,
        column=column,
    )


def _refuse_not_json(loader: Any, node: Node) -> Any:
    line, column = _mark(node)
    raise YamlError(
        f"{node.tag.rsplit(':', 1)[-1]} values are not JSON (Kubernetes objects are JSON); "
        "quote the value to make it a string",
        line=line,
        column=column,
    )


for _tag in _NOT_JSON:
    _Loader.add_constructor(_tag, _refuse_not_json)
_Loader.add_constructor("tag:yaml.org,2002:float", _Loader.construct_yaml_float)
# Plain dates stay strings, as they do for kubectl (it converts YAML to JSON).
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP]
    for first, resolvers in _Loader.yaml_implicit_resolvers.items()
}


def _loader_for(limits: Limits) -> type[_Loader]:
    if limits == _Loader.limits:
        return _Loader
    return type("_LimitedLoader", (_Loader,), {"limits": limits})


def _problem(exc: BaseException) -> str:
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    context = getattr(exc, "context", None)
    text = f"{context}: {problem}" if context and problem and context not in problem else str(problem)
    return " ".join(text.split())[: QUOTE_LIMIT * 2]


def load_all_located(text: str | bytes, limits: Limits = MANIFESTS) -> Iterator[tuple[int, int | None, Any]]:
    """Every document of ``text`` as ``(number from 1, line its content starts on, data)``;
    empty documents are skipped. The line (from 1) lets reports point at the object in its
    file (SARIF regions, editors).

    Documents come one at a time, so a later document's error is raised after the
    earlier ones were yielded; the error names the document.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise YamlError(f"not UTF-8 text: {exc.reason} at byte {exc.start}") from None
    if len(text) > limits.max_bytes:  # characters >= bytes / 4: checked before any parsing
        raise YamlError(f"larger than {limits.max_bytes:,} bytes")
    if len(text.encode("utf-8", "surrogatepass")) > limits.max_bytes:
        raise YamlError(f"larger than {limits.max_bytes:,} bytes")
    if "\x00" in text:
        raise YamlError("contains a NUL character: not a text document")
    loader = _loader_for(limits)(text)
    loader.without_anchors = "&" not in text
    index = 0
    try:
        while True:
            try:
                if not loader.check_data():
                    return
                data = loader.get_data()
            except YamlError as exc:
                exc.document = index + 1
                raise
            except RecursionError:
                raise YamlError(
                    f"nested too deeply (more than {limits.max_depth} levels)", document=index + 1
                ) from None
            except (ValueError, OverflowError) as exc:  # e.g. an integer of 5,000 digits
                raise YamlError(" ".join(str(exc).split())[:QUOTE_LIMIT], document=index + 1) from None
            except yaml.YAMLError as exc:
                line, column = _mark(exc)
                problem = _problem(exc)
                if "nesting depth" in problem:  # libyaml's own limit, reached before ours
                    problem = f"nested too deeply (more than {limits.max_depth} levels)"
                raise YamlError(problem, document=index + 1, line=line, column=column) from None
            index += 1
            if data is not None:
                yield index, loader.start_line, data
    finally:
        loader.dispose()


def load_all(text: str | bytes, limits: Limits = MANIFESTS) -> Iterator[tuple[int, Any]]:
    """Every document of ``text`` as ``(number from 1, data)``; empty documents are skipped.

    Documents come one at a time, so a later document's error is raised after the
    earlier ones were yielded; the error names the document.
    """
    for index, _, data in load_all_located(text, limits):
        yield index, data


def load(text: str | bytes, limits: Limits = MANIFESTS) -> Any:
    """The single document of ``text`` (None if empty); YamlError for more than one."""
    docs = list(load_all(text, limits))
    if len(docs) > 1:
        raise YamlError(f"expected one document, found {len(docs)}", document=docs[1][0])
    return docs[0][1] if docs else None


_JSON_START = re.compile(r"\A\s*[{\[]")


def looks_like_json(text: str) -> bool:
    """Whether ``text`` starts like a JSON object or array (after white space)."""
    return bool(_JSON_START.match(text))


__all__ = [
    "ANNOTATIONS",
    "ANNOTATION_MAX_BYTES",
    "MANIFESTS",
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_NODES",
    "QUOTE_LIMIT",
    "Limits",
    "YamlError",
    "check_node_graph",
    "load",
    "load_all",
    "load_all_located",
    "looks_like_json",
    "quote",
]
