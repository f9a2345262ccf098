"""A corpus of hostile inputs, kept in the tests: every parser of others' text must survive each.

Shared by the safeyaml, rules, manifest-loader, webhook and probe-spec tests (their
conftest puts this directory on ``sys.path``). Each entry is small to write down and
large, deep or odd once parsed; the comment says what it costs a naive reader.
"""

from __future__ import annotations


def _laughs(levels: int, width: int) -> str:
    """``a: &a [x, x, ...]`` then each level ``width`` aliases of the previous: width**levels nodes."""
    out = f"a: &a [{', '.join(['lol'] * width)}]\n"
    names = "abcdefghijklmnopqrstuvwxyz"
    for i in range(1, levels):
        out += f"{names[i]}: &{names[i]} [{', '.join(['*' + names[i - 1]] * width)}]\n"
    return out


CORPUS: dict[str, str | bytes] = {
    # the 440 bytes: 10**9 nodes once expanded (the old webhook: 16-23 s, ~1 GiB)
    "alias-bomb": _laughs(9, 10) + "rules: *i\n",
    "billion-laughs": _laughs(9, 9),
    "recursive-alias": "a: &x [1, *x]\n",
    "deep-flow-nesting": "[" * 100_000 + "]" * 100_000,  # recursion in every walker
    "deep-block-nesting": "".join("  " * i + f"k{i}:\n" for i in range(2_000)) + "  " * 2_000 + "v\n",
    "huge-scalar": "rules: '" + "x" * (3 << 20) + "'\n",  # 3 MiB in one string
    "huge-key": "x" * (1 << 20) + ": 1\n",
    "million-item-list": "rules: [" + "1," * 1_000_000 + "1]\n",  # 10**6 nodes, 2 MB
    "nul-byte": "default: allow\x00\nrules: []\n",
    "invalid-utf8": b"default: \xff\xfe allow\n",
    "duplicate-keys": "default: allow\nrules: []\ndefault: deny\n",
    "numbers-as-keys": "1: a\ntrue: b\n2.0: c\n",
    "null-key": "~: a\n",
    "complex-key": "? [a, b]\n: c\n",
    "binary-tag": "rules: !!binary aGVsbG8=\n",
    "python-tag": "rules: !!python/object/apply:os.system ['true']\n",
    "huge-integer": "default: " + "9" * 100_000 + "\n",
    "non-finite": "default: .nan\nrules: [.inf]\n",
    "many-documents": "---\na: 1\n" * 50_000,
    "long-line-of-flow-mappings": "rules: [" + "{from: a, to: b, action: deny}," * 20_000 + "]\n",
}


def as_text(value: str | bytes) -> str:
    """The entry as text (invalid UTF-8 decoded with replacement characters)."""
    return value if isinstance(value, str) else value.decode("utf-8", "replace")
