"""A pilot's certificates: what ``broker.certs.issue`` writes and what they say."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from broker.certs import issue
from cityhub.errors import ConfigError


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_ca_server_and_clients(tmp_path: Path) -> None:
    got = issue(tmp_path, hosts=["mqtt.example.org", "127.0.0.1", "::1"],
                clients=["gw-dago", "cityhub-ingest"], days=30)
    assert not got.ca_reused and got.server is not None
    ca = _cert(got.ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    server = _cert(got.server[0])
    server.verify_directly_issued_by(ca)
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["mqtt.example.org"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1"),
                                                       ipaddress.ip_address("::1")]
    assert ExtendedKeyUsageOID.SERVER_AUTH in \
        server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert 29 <= (server.not_valid_after_utc - server.not_valid_before_utc).days <= 31
    for name, (cert_path, key_path) in got.clients.items():
        cert = _cert(cert_path)
        cert.verify_directly_issued_by(ca)
        assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == name
        assert ExtendedKeyUsageOID.CLIENT_AUTH in \
            cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert _mode(key_path) == 0o600
    for key in (got.ca_key, got.server[1]):
        assert _mode(key) == 0o600
    assert _mode(got.ca) == 0o644


def test_the_ca_is_reused_for_a_new_gateway(tmp_path: Path) -> None:
    first = issue(tmp_path, clients=["gw-a"])
    assert first.server is not None  # default hosts, as none was there
    ca, server = first.ca.read_bytes(), first.server[0].read_bytes()
    again = issue(tmp_path, clients=["gw-new"])
    assert again.ca_reused and again.server is None
    assert first.ca.read_bytes() == ca and first.server[0].read_bytes() == server
    _cert(again.clients["gw-new"][0]).verify_directly_issued_by(_cert(again.ca))
    (tmp_path / "ca.key").write_bytes(issue(tmp_path / "other").ca_key.read_bytes())
    with pytest.raises(ConfigError, match=r"is not the key of ca\.pem"):
        issue(tmp_path, clients=["gw-x"])


def test_bad_names_and_days(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        issue(tmp_path, hosts=["a b"], clients=["../etc/x"], days=0)
    assert len(e.value.problems) == 3
    assert not tmp_path.joinpath("ca.pem").exists()
