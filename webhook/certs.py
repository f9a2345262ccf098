"""A private CA and the webhook's serving certificate, and the ``caBundle`` that trusts it.

The API server calls webhooks over TLS and checks the certificate against the
configuration's ``caBundle`` and the Service DNS name it dials
(``NAME.NS.svc``). The CA key is used once to sign and then thrown away: nobody can
mint another certificate that the bundle trusts; rotating means running ``certs``
again and re-applying the bundle. ECDSA P-256: fast to generate, accepted by every
supported Kubernetes version.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import safeyaml
from orchestrator.errors import UsageError

WEBHOOK_KINDS = ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")
DEFAULT_DAYS = 365  # a year: long enough not to surprise, short enough to be rotated


@dataclass(frozen=True, slots=True)
class CertBundle:
    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes

    @property
    def ca_bundle(self) -> str:
        """The CA certificate, base64 of its PEM, as ``clientConfig.caBundle`` wants it."""
        return base64.b64encode(self.ca_pem).decode()


def service_dns_names(service: str, namespace: str) -> list[str]:
    return [service, f"{service}.{namespace}", f"{service}.{namespace}.svc", f"{service}.{namespace}.svc.cluster.local"]


def generate(
    service: str,
    namespace: str,
    *,
    extra_dns: Iterable[str] = (),
    ips: Iterable[str] = (),
    days: int = DEFAULT_DAYS,
    now: dt.datetime | None = None,
) -> CertBundle:
    """A fresh CA and a serving certificate for the Service's DNS names plus extras."""
    if not _DNS_LABEL.match(service) or not _DNS_LABEL.match(namespace):
        raise UsageError(
            f"--service {service!r} and --namespace {namespace!r} must be DNS labels (lowercase letters, digits, '-')"
        )
    if days < 1:
        raise UsageError("--days must be at least 1")
    now = now or dt.datetime.now(dt.UTC)
    # Backdate a little: clocks across a cluster are never exactly in step.
    not_before = now - dt.timedelta(minutes=5)
    not_after = now + dt.timedelta(days=days)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"kubereach webhook CA ({service}.{namespace})")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    names: list[x509.GeneralName] = []
    seen: set[str] = set()
    for name in [*service_dns_names(service, namespace), *extra_dns]:
        if name and name not in seen:
            seen.add(name)
            names.append(x509.DNSName(name))
    for ip in ips:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(ip)))
        except ValueError as exc:
            raise UsageError(f"--ip {ip!r} is not an IP address") from exc

    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{service}.{namespace}.svc")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return CertBundle(
        ca_pem=ca_cert.public_bytes(serialization.Encoding.PEM),
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )


_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def write_bundle(bundle: CertBundle, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write ca.crt, tls.crt and tls.key (0600) into ``out_dir`` (created if needed)."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        paths = {"ca.crt": out / "ca.crt", "tls.crt": out / "tls.crt", "tls.key": out / "tls.key"}
        paths["ca.crt"].write_bytes(bundle.ca_pem)
        paths["tls.crt"].write_bytes(bundle.cert_pem)
        fd = os.open(paths["tls.key"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), 0o600)
            fh.write(bundle.key_pem)
    except OSError as exc:
        raise UsageError(f"cannot write certificates to {out}: {exc.strerror or exc}") from exc
    return paths


_CA_BUNDLE_LINE = re.compile(r"^(?P<indent>\s*(?:-\s+)?)caBundle:[^\n]*$", re.MULTILINE)


def patch_ca_bundle(text: str, ca_bundle: str, *, source: str = "<input>") -> str:
    """Set every ``caBundle:`` of the webhook configurations in a YAML text; comments survive.

    The line is replaced in place rather than re-dumping the YAML, so the comments that
    explain the configuration stay. Every webhook of every Mutating/Validating
    configuration must end up with the bundle; a webhook without a ``caBundle:`` line
    is an error naming it (add ``caBundle: ""`` under its ``clientConfig``).
    """
    patched, _ = _CA_BUNDLE_LINE.subn(lambda m: f"{m.group('indent')}caBundle: {ca_bundle}", text)
    try:
        docs = list(safeyaml.load_all(patched))
    except safeyaml.YamlError as exc:
        raise UsageError(f"{source}: not valid YAML: {exc}") from exc
    found = False
    for d, doc in docs:
        if not isinstance(doc, dict) or doc.get("kind") not in WEBHOOK_KINDS:
            continue
        found = True
        meta = doc.get("metadata")
        name = str(meta.get("name", "<unnamed>"))[:253] if isinstance(meta, dict) else "<unnamed>"
        hooks = doc.get("webhooks")
        for i, hook in enumerate(hooks if isinstance(hooks, list) else []):
            cc = hook.get("clientConfig") if isinstance(hook, dict) else None
            if not isinstance(cc, dict) or cc.get("caBundle") != ca_bundle:
                raise UsageError(
                    f"{source}: document {d}, {doc['kind']} {name}: field "
                    f"webhooks[{i}].clientConfig.caBundle: missing; add "
                    "'caBundle: \"\"' there so it can be patched"
                )
    if not found:
        raise UsageError(f"{source}: no MutatingWebhookConfiguration or ValidatingWebhookConfiguration in this file")
    return patched


def prepare_patches(paths: Iterable[str | os.PathLike[str]], ca_bundle: str) -> list[tuple[Path, str]]:
    """Each file with the caBundle patched in, not written yet: every file is checked first,
    so a wrong file fails the command before anything on disk changes."""
    results: list[tuple[Path, str]] = []
    for p in map(Path, paths):
        try:
            text = p.read_text()
        except OSError as exc:
            raise UsageError(f"{p}: cannot read: {exc.strerror or exc}") from exc
        results.append((p, patch_ca_bundle(text, ca_bundle, source=str(p))))
    return results


def write_patches(prepared: Iterable[tuple[Path, str]]) -> list[Path]:
    out: list[Path] = []
    for p, text in prepared:
        try:
            p.write_text(text)
        except OSError as exc:
            raise UsageError(f"{p}: cannot write: {exc.strerror or exc}") from exc
        out.append(p)
    return out


def patch_files(paths: Iterable[str | os.PathLike[str]], ca_bundle: str) -> list[Path]:
    """Patch the caBundle into each file in place (all checked before any is written)."""
    return write_patches(prepare_patches(paths, ca_bundle))
