"""Hypothesis strategies for structure-aware fuzzing: a valid-looking document with one hostile field.

``one_hostile_field(doc, fragments)`` draws a path into ``doc`` (any mapping value or list
item, at any depth), and serialises ``doc`` with that field replaced by a drawn
fragment of *text*: the fragment is spliced into the JSON or YAML at a placeholder, so
hostile shapes (nesting 100,000 deep, a million items, duplicate keys, aliases, NUL
escapes) never have to exist as Python objects in the test process.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import yaml
from hypothesis import strategies as st

PLACEHOLDER = "HOSTILE-FIELD-7f3a"


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if prefix:
        yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, prefix + (i,))


def _replaced(doc: Any, path: tuple[Any, ...]) -> Any:
    out = json.loads(json.dumps(doc))  # a deep copy
    parent = out
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = PLACEHOLDER
    return out


# JSON text fragments, each hostile in its own way (sizes kept to a few MB so a run stays quick)
json_fragments = st.one_of(
    st.sampled_from(
        [
            "[" * 100_000 + "]" * 100_000,  # recursion
            '{"a": 1}',  # an ordinary one, for contrast
            "[" + ",".join(["0"] * 1_000_000) + "]",  # 10**6 items
            '"' + "x" * (2 << 20) + '"',  # a 2 MiB string
            '"\\u0000\\ud800 NUL and a lone surrogate"',
            '{"a": 1, "a": 2}',  # duplicate keys
            "1e999",  # infinity once decoded
            "-0",
            "9" * 5000,  # more digits than Python converts
            '{"1": 1, "true": 2}',
            "null",
            "true",
            "[]",
            "{}",
        ]
    ),
    st.integers().map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.text(max_size=40).map(json.dumps),
)

# YAML text fragments (flow style, so they fit anywhere a value does)
yaml_fragments = st.one_of(
    st.sampled_from(
        [
            "&a [lol, lol, lol, lol, lol, lol, lol, lol]",
            "[" * 10_000 + "]" * 10_000,
            "[" + "1, " * 300_000 + "1]",
            "'" + "x" * (1 << 20) + "'",
            "!!binary aGVsbG8=",
            "!!python/object/apply:os.system [true]",
            "{a: 1, a: 2}",
            "{1: a, true: b, ~: c}",
            "{? [a]: b}",
            ".nan",
            "9" * 5000,
            "2024-01-01",
            "*undefined_alias",
            '"\\x00"',
            "|\n  a block scalar where a flow value was expected",
        ]
    ),
    st.text(max_size=40).map(json.dumps),  # any string, JSON-quoted (valid YAML)
    st.text(max_size=40),  # raw text: may break the syntax, which is fine too
)


@st.composite
def one_hostile_field(draw: st.DrawFn, doc: Any, fragments: st.SearchStrategy[str], *, as_yaml: bool = False) -> str:
    """``doc`` as JSON (or YAML) text with one field, anywhere, replaced by a hostile fragment."""
    paths = list(_paths(doc))
    path = draw(st.sampled_from(paths))
    text = (
        yaml.safe_dump(_replaced(doc, path), default_flow_style=True, width=10**9)
        if as_yaml
        else json.dumps(_replaced(doc, path))
    )
    quoted = PLACEHOLDER if as_yaml else json.dumps(PLACEHOLDER)
    assert text.count(quoted) == 1
    return text.replace(quoted, draw(fragments))
