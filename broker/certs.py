"""Certificates for a pilot: a self-signed CA, the broker's certificate for its host names
and addresses, and client certificates whose common name is the account's username.

For a pilot only: the CA's key sits in the output directory (0600) and whoever holds it
can mint clients the broker trusts. A deployment uses the city's own CA, or a public one
for the broker's certificate (docs/broker.md). Made with ``cryptography``'s public API;
ECDSA P-256 keys, SHA-256 signatures. An existing ``ca.pem`` / ``ca.key`` in the output
directory is reused, so certificates for a new gateway come from the same CA.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cityhub.errors import ConfigError, ConfigProblem

__all__ = ["DEFAULT_HOSTS", "Issued", "issue"]

DEFAULT_HOSTS = ("localhost", "127.0.0.1")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$")
_EARLY = dt.timedelta(minutes=5)  # clocks of gateways run a little behind


@dataclass(frozen=True, slots=True)
class Issued:
    """The files written; ``server`` and each client is (certificate, key)."""

    ca: Path
    ca_key: Path
    ca_reused: bool
    server: tuple[Path, Path] | None = None
    clients: dict[str, tuple[Path, Path]] = field(default_factory=dict)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write(path: Path, data: bytes, mode: int) -> Path:
    """Write ``data`` with ``mode`` from the first byte (a key is never readable by
    others, not even for a moment)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        os.fchmod(f.fileno(), mode)  # an existing file keeps its mode otherwise
        f.write(data)
    return path


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> Path:
    return _write(path, key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()), 0o600)


def _write_cert(path: Path, cert: x509.Certificate) -> Path:
    return _write(path, cert.public_bytes(serialization.Encoding.PEM), 0o644)


def _builder(subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey,
             issuer_key: ec.EllipticCurvePrivateKey, days: int) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - _EARLY).not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                issuer_key.public_key()), False))


def _spki(key: Any) -> bytes:
    der: bytes = key.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    return der


def _load_ca(cert_path: Path, key_path: Path
             ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as e:
        raise ConfigError([ConfigProblem(str(cert_path), "", f"cannot reuse the CA: {e}")]
                          ) from e
    if not isinstance(key, ec.EllipticCurvePrivateKey) or _spki(key.public_key()) != \
            _spki(cert.public_key()):
        raise ConfigError([ConfigProblem(str(key_path), "", "is not the key of "
                                         f"{cert_path.name} (an EC key): move both away to "
                                         "make a new CA")])
    return cert, key


def _new_ca(out: Path, name: str, days: int) -> tuple[x509.Certificate,
                                                      ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (_builder(_name(name), _name(name), key, key, days)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False,
                                         decipher_only=False), True)
            .sign(key, hashes.SHA256()))
    _write_key(out / "ca.key", key)
    _write_cert(out / "ca.pem", cert)
    return cert, key


def _san(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _leaf(ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, cn: str, days: int,
          usage: x509.ObjectIdentifier, hosts: Sequence[str] = ()
          ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    b = (_builder(_name(cn), ca.subject, key, ca_key, days)
         .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
         .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                      key_encipherment=False, data_encipherment=False,
                                      key_agreement=False, key_cert_sign=False,
                                      crl_sign=False, encipher_only=False,
                                      decipher_only=False), True)
         .add_extension(x509.ExtendedKeyUsage([usage]), False))
    if hosts:
        b = b.add_extension(x509.SubjectAlternativeName([_san(h) for h in hosts]), False)
    return b.sign(ca_key, hashes.SHA256()), key


def _check(hosts: Sequence[str], clients: Sequence[str], days: int, ca_days: int) -> None:
    problems = [ConfigProblem("command line", "--clients", f"{c!r} is not a username "
                              "(letters, digits, '.', '_', '@', '-')")
                for c in clients if not _NAME.match(c)]
    problems += [ConfigProblem("command line", "--hosts", f"{h!r} is not a host name or "
                               "address") for h in hosts if not h or " " in h or "/" in h]
    problems += [ConfigProblem("command line", option, "must be at least 1")
                 for option, n in (("--days", days), ("--ca-days", ca_days)) if n < 1]
    if problems:
        raise ConfigError(problems)


def issue(out: Path, *, hosts: Sequence[str] | None = None, clients: Sequence[str] = (),
          days: int = 365, ca_days: int = 3650, ca_name: str = "City hub pilot CA"
          ) -> Issued:
    """Write the CA (or reuse the one in ``out``), the broker's certificate for ``hosts``
    (``server.pem`` / ``server.key``; written when ``hosts`` is given or none is there
    yet, for :data:`DEFAULT_HOSTS`) and one certificate per client
    (``clients/{name}.pem`` / ``.key``). Keys are 0600."""
    _check(hosts or (), clients, days, ca_days)
    out.mkdir(parents=True, exist_ok=True)
    reused = (out / "ca.pem").exists() and (out / "ca.key").exists()
    ca, ca_key = _load_ca(out / "ca.pem", out / "ca.key") if reused \
        else _new_ca(out, ca_name, ca_days)
    server = None
    if hosts or not (out / "server.pem").exists():
        names = list(hosts or DEFAULT_HOSTS)
        cert, key = _leaf(ca, ca_key, names[0], days, ExtendedKeyUsageOID.SERVER_AUTH, names)
        server = (_write_cert(out / "server.pem", cert), _write_key(out / "server.key", key))
    issued: dict[str, tuple[Path, Path]] = {}
    for name in clients:
        cert, key = _leaf(ca, ca_key, name, days, ExtendedKeyUsageOID.CLIENT_AUTH)
        issued[name] = (_write_cert(out / "clients" / f"{name}.pem", cert),
                        _write_key(out / "clients" / f"{name}.key", key))
    return Issued(out / "ca.pem", out / "ca.key", reused, server, issued)
