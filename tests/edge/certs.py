"""Test certificates: a CA, a broker certificate for 127.0.0.1/localhost and a client
certificate signed by it (PEM files, made with ``cryptography``)."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> Path:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)  # readable by its owner: the user the broker runs as
    return path


def _builder(subject: str, issuer: x509.Name, key: ec.EllipticCurvePrivateKey,
             issuer_key: ec.EllipticCurvePrivateKey) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(issuer)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                issuer_key.public_key()), False))


def _leaf(directory: Path, name: str, ca_name: x509.Name, ca_key: ec.EllipticCurvePrivateKey,
          usage: x509.ObjectIdentifier, san: list[x509.GeneralName] | None
          ) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    b = (_builder(name, ca_name, key, ca_key)
         .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
         .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False,
                                      False), True)
         .add_extension(x509.ExtendedKeyUsage([usage]), False))
    if san:
        b = b.add_extension(x509.SubjectAlternativeName(san), False)
    cert = directory / f"{name}.pem"
    cert.write_bytes(b.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
    return cert, _write_key(key, directory / f"{name}.key")


def make_pki(directory: Path, ca_name: str = "Test City CA") -> Pki:
    """A fresh CA in ``directory`` with a broker and a client certificate."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    name = _name(ca_name)
    ca = (_builder(ca_name, name, ca_key, ca_key)
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                       False), True)
          .sign(ca_key, hashes.SHA256()))
    ca_file = directory / "ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    server = _leaf(directory, "broker", name, ca_key, ExtendedKeyUsageOID.SERVER_AUTH,
                   [x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    client = _leaf(directory, "gw-a", name, ca_key, ExtendedKeyUsageOID.CLIENT_AUTH, None)
    return Pki(ca_file, *server, *client)
