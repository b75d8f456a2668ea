"""The generated TLS listener with the certificates ``broker.certs`` issues, on a real
Mosquitto: a client that trusts the CA connects (and still logs in); with
``require_certificate`` a client without a certificate is refused, one with it accepted."""

from __future__ import annotations

import ssl
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from broker.certs import Issued, issue
from broker.conf import BrokerOptions, TlsListener
from broker.generate import generate
from cityhub.config import load_pack
from devservices.ports import free_port
from tests.broker.conftest import ENVIRON, PASSWORDS, write_broker_pack
from tests.broker.live import Mqtt, connected, running_broker

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class TlsBroker:
    port: int
    tls_port: int
    pki: Issued


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Issued:
    return issue(tmp_path_factory.mktemp("pki"), hosts=["localhost", "127.0.0.1"],
                 clients=["gw-a"], days=2)


def _broker(root: Path, pki: Issued, *, require: bool) -> Iterator[TlsBroker]:
    port, tls_port = free_port(), free_port()
    pack = load_pack(write_broker_pack(root / "pack", f"t-{uuid.uuid4().hex[:8]}", port))
    assert pki.server is not None
    tls = TlsListener(str(pki.server[0]), str(pki.server[1]), str(pki.ca), tls_port, require)
    out = root / "out"
    generate(pack, out, BrokerOptions(str(out), str(out / "data"), port, "127.0.0.1", tls),
             environ=ENVIRON)
    with running_broker(out, port, tls_port):
        yield TlsBroker(port, tls_port, pki)


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory, pki: Issued) -> Iterator[TlsBroker]:
    yield from _broker(tmp_path_factory.mktemp("tls"), pki, require=False)


@pytest.fixture(scope="module")
def mtls_broker(tmp_path_factory: pytest.TempPathFactory, pki: Issued
                ) -> Iterator[TlsBroker]:
    yield from _broker(tmp_path_factory.mktemp("mtls"), pki, require=True)


def context(pki: Issued, *, client_cert: bool = False) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki.ca))  # verifies the name: 127.0.0.1
    if client_cert:
        cert, key = pki.clients["gw-a"]
        ctx.load_cert_chain(cert, key)
    return ctx


def test_a_client_trusting_the_ca_connects_and_still_logs_in(tls_broker: TlsBroker) -> None:
    b = tls_broker
    with connected(b.tls_port, "gw-a", PASSWORDS["gw-a"], tls=context(b.pki)) as c:
        assert c.publish("city/x/traffic/gw-a") == 0
    anonymous = Mqtt(b.tls_port, tls=context(b.pki))
    ack = anonymous.connect()
    anonymous.close()
    assert not ack.connected, ack
    with connected(b.port, "gw-a", PASSWORDS["gw-a"]):  # the plain listener stays
        pass


def test_a_client_not_trusting_the_ca_does_not_connect(tls_broker: TlsBroker) -> None:
    c = Mqtt(tls_broker.tls_port, "gw-a", PASSWORDS["gw-a"], tls=ssl.create_default_context())
    ack = c.connect()
    c.close()
    assert not ack.connected and "CERTIFICATE_VERIFY_FAILED" in ack.reason, ack


def test_a_required_client_certificate(mtls_broker: TlsBroker) -> None:
    b = mtls_broker
    without = Mqtt(b.tls_port, "gw-a", PASSWORDS["gw-a"], tls=context(b.pki))
    ack = without.connect()
    without.close()
    # refused by TLS, before MQTT: with TLS 1.3 the broker's alert arrives after the
    # client's side of the handshake is done, so the connection closes with no CONNACK
    assert not ack.connected and ("before CONNACK" in ack.reason or "SSL" in ack.reason), ack
    with connected(b.tls_port, "gw-a", PASSWORDS["gw-a"],
                   tls=context(b.pki, client_cert=True)) as c:
        assert c.publish("city/x/traffic/gw-a") == 0
