"""The API server's syntax rules for names and labels, one check per rule.

Owns what ``k8s.io/apimachinery/pkg/util/validation`` decides: qualified names (label
and annotation keys, selector keys), label values, DNS-1123 labels and subdomains,
DNS-1035 labels, and IANA_SVC_NAME port names. Each ``*_error`` function returns
``None`` for a valid value, or the reason it is invalid in the API server's words, so
the policy compiler (:mod:`orchestrator.model.selectors`, :mod:`orchestrator.model.policy`)
and the snapshot's object validation (:mod:`orchestrator.snapshot.validation`) raise
the same rule with their own field paths. Lengths are checked before any regular
expression runs, so an absurdly long value costs nothing.

Pure: the standard library's ``re`` only.
"""

from __future__ import annotations

import re

# Limits and patterns as in apimachinery's validation package (the same names upstream).
DNS1123_LABEL_MAX = 63
DNS1123_SUBDOMAIN_MAX = 253
LABEL_VALUE_MAX = 63
QUALIFIED_NAME_MAX = 63
PORT_NAME_MAX = 15
_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_DNS1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
# IANA_SVC_NAME, what the API server accepts as a named port: 1-15 characters,
# lowercase letters, digits and '-', at least one letter, no leading/trailing or double '-'.
# (\Z, not $: "$" also matches before a trailing newline, and "http\n" is not a port name)
PORT_NAME = re.compile(r"^(?=.*[a-z])(?!-)(?!.*--)[a-z0-9-]{1,15}(?<!-)\Z")
_QUOTE = 60  # characters of someone else's value quoted in a message


def _q(value: str) -> str:
    return repr(value if len(value) <= _QUOTE else value[:_QUOTE] + "...")


def dns1123_label_error(value: str) -> str | None:
    """A Namespace name, a container name, a StatefulSet name: ``my-app``, at most 63 characters."""
    if len(value) > DNS1123_LABEL_MAX:
        return f"must be no more than {DNS1123_LABEL_MAX} characters"
    if not _DNS1123_LABEL.fullmatch(value):
        return (
            f"{_q(value)}: a lowercase RFC 1123 label must consist of lower case alphanumeric "
            "characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name')"
        )
    return None


def dns1123_subdomain_error(value: str) -> str | None:
    """Most object names (Pod, Deployment, NetworkPolicy): ``example.com``, at most 253 characters."""
    if len(value) > DNS1123_SUBDOMAIN_MAX:
        return f"must be no more than {DNS1123_SUBDOMAIN_MAX} characters"
    if not _DNS1123_SUBDOMAIN.fullmatch(value):
        return (
            f"{_q(value)}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
            "characters, '-' or '.', and must start and end with an alphanumeric character "
            "(e.g. 'example.com')"
        )
    return None


def dns1035_label_error(value: str) -> str | None:
    """A Service name: like a DNS-1123 label, but starting with a letter."""
    if len(value) > DNS1123_LABEL_MAX:
        return f"must be no more than {DNS1123_LABEL_MAX} characters"
    if not _DNS1035_LABEL.fullmatch(value):
        return (
            f"{_q(value)}: a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
            "start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name')"
        )
    return None


def qualified_name_error(value: str) -> str | None:
    """A label or annotation key, a selector key: ``app``, ``app.kubernetes.io/name``.

    An optional prefix (a DNS-1123 subdomain) and ``/``, then a name of at most 63
    characters: alphanumerics, ``-``, ``_`` and ``.``, alphanumeric at both ends."""
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            return f"{_q(value)}: prefix part must be non-empty"
        problem = dns1123_subdomain_error(prefix)
        if problem is not None:
            return f"{_q(value)}: prefix part {problem}"
    else:
        return (
            f"{_q(value)}: a qualified name must consist of alphanumeric characters, '-', '_' or '.', "
            "with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        )
    if not name:
        return f"{_q(value)}: name part must be non-empty"
    if len(name) > QUALIFIED_NAME_MAX:
        return f"{_q(value)}: name part must be no more than {QUALIFIED_NAME_MAX} characters"
    if not _QUALIFIED_NAME.fullmatch(name):
        return (
            f"{_q(value)}: name part must consist of alphanumeric characters, '-', '_' or '.', and must "
            "start and end with an alphanumeric character (e.g. 'MyName', 'my.name' or '123-abc')"
        )
    return None


def label_value_error(value: str) -> str | None:
    """A label value or a selector value: empty, or at most 63 alphanumerics, ``-``, ``_``, ``.``."""
    if len(value) > LABEL_VALUE_MAX:
        return f"{_q(value)}: must be no more than {LABEL_VALUE_MAX} characters"
    if not _LABEL_VALUE.fullmatch(value):
        return (
            f"{_q(value)}: a valid label value must be an empty string or consist of alphanumeric "
            "characters, '-', '_' or '.', and must start and end with an alphanumeric character "
            "(e.g. 'MyValue', 'my_value' or '12345')"
        )
    return None


def port_name_error(value: str) -> str | None:
    """A named port (IANA_SVC_NAME): ``http``, ``grpc-web``; 1-15 characters, at least one letter."""
    if len(value) > PORT_NAME_MAX or not PORT_NAME.match(value):
        return (
            f"{_q(value)} is not a valid port name (IANA_SVC_NAME: 1-15 lowercase letters, "
            "digits and '-', at least one letter)"
        )
    return None
