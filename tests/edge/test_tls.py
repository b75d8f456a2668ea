"""TLS to the broker: the pack's ``broker.tls`` applied by the edge agent, on a real
Mosquitto with a TLS listener that requires a client certificate."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

import pytest

from cityhub.config import load_pack
from cityhub.config.pack import CityPack
from cityhub.errors import ConfigError
from cityhub.mqtt import BrokerSettings, TlsSettings, tls_context
from devservices import LocalMosquitto
from edge.publisher import GatewayPublisher
from edge.queue import DiskQueue
from tests.conftest import write_small_pack
from tests.edge.certs import Pki, make_pki
from tests.edge.test_shutdown import read_status
from tests.edge.test_store_and_forward import sim_publisher, start_collecting
from tests.ingest.test_end_to_end import until

pytestmark = pytest.mark.integration


def tls_pack(root: Path, city: str, port: int, pki: Pki) -> Path:
    """A small pack whose broker section names the certificates by paths relative to the
    pack (copied to ``root/certs``)."""
    write_small_pack(root, city)
    certs = root / "certs"
    certs.mkdir()
    for src in (pki.ca, pki.client_cert, pki.client_key):
        (certs / src.name).write_bytes(src.read_bytes())
    (certs / pki.client_key.name).chmod(0o600)
    with (root / "city.yaml").open("a") as f:
        f.write(f"broker:\n  host: 127.0.0.1\n  port: {port}\n  tls:\n"
                f"    ca_file: certs/{pki.ca.name}\n"
                f"    cert_file: certs/{pki.client_cert.name}\n"
                f"    key_file: ./certs/{pki.client_key.name}\n")
    return root


def test_pack_tls_paths_resolve_against_the_pack(tmp_path: Path, pki: Pki) -> None:
    root = tls_pack(tmp_path / "pack", "tls-paths", 8883, pki)
    tls = load_pack(root).broker.tls
    assert tls is not None
    assert tls.ca_file == str((root / "certs" / "ca.pem").resolve())
    assert tls.key_file == str((root / "certs" / pki.client_key.name).resolve())


def test_unreadable_certificates_are_config_errors(tmp_path: Path, pki: Pki) -> None:
    assert tls_context(BrokerSettings()) is None
    with pytest.raises(ConfigError, match=r"missing\.pem: cannot load broker TLS CA file"):
        tls_context(BrokerSettings(tls=TlsSettings(ca_file=str(tmp_path / "missing.pem"))))
    with pytest.raises(ConfigError, match="client certificate or key"):
        tls_context(BrokerSettings(tls=TlsSettings(ca_file=str(pki.ca),
                                                 cert_file=str(pki.ca))))
    with pytest.raises(ValueError, match="key_file needs cert_file"):
        BrokerSettings(tls=TlsSettings(key_file="k.pem"))


@pytest.mark.timeout(120)
async def test_agent_publishes_over_tls_with_a_client_certificate(
        tmp_path: Path, tls_broker: LocalMosquitto, pki: Pki) -> None:
    """``cityhub edge run`` on a pack with broker.tls (relative paths): readings reach the
    broker through its TLS listener, which accepts only certified clients; then SIGTERM."""
    city = "tls-city"
    root = tls_pack(tmp_path / "pack", city, tls_broker.tls_port, pki)
    qpath = tmp_path / "edge.db"
    seqs: list[int] = []
    out = tmp_path / "edge.log"
    async with asyncio.TaskGroup() as tg:
        sub = await start_collecting(tg, tls_broker.port, city, seqs)  # plain listener
        with out.open("wb") as log:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "cityhub", "edge", "run", "--gateway",
                str(root / "gateways" / "gw-a.yaml"), "--queue", str(qpath),
                "--interval-scale", "0.01", "--flush-interval", "0.3",
                stdout=log, stderr=asyncio.subprocess.STDOUT)
            try:
                await until(lambda: len(seqs) >= 20, "readings over TLS", 60)
            finally:
                proc.send_signal(signal.SIGTERM)
                rc = await asyncio.wait_for(proc.wait(), 30)
        sub.cancel()
    text = out.read_text()
    assert rc == 0, text
    assert f"broker 127.0.0.1:{tls_broker.tls_port} (TLS)" in text
    q = DiskQueue(qpath)
    with contextlib.closing(q):
        assert q.stats().depth == 0  # drained on SIGTERM


@pytest.mark.timeout(120)
@pytest.mark.allow_logged_errors
async def test_wrong_ca_fails_clearly_and_loses_nothing(
        tmp_path: Path, small_pack: CityPack, tls_broker: LocalMosquitto, pki: Pki,
        caplog: pytest.LogCaptureFixture) -> None:
    """A CA that did not sign the broker's certificate: no connection, an error that says
    what to check, every reading kept in the queue; with the right CA they all arrive."""
    wrong = make_pki(tmp_path / "wrong", "Some Other CA")
    queue = DiskQueue(tmp_path / "edge.db")

    def publisher(ca: Path) -> GatewayPublisher:
        broker = BrokerSettings(host="127.0.0.1", port=tls_broker.tls_port,
                                tls=TlsSettings(ca_file=str(ca),
                                                cert_file=str(pki.client_cert),
                                                key_file=str(pki.client_key)))
        return sim_publisher(small_pack, broker, queue)

    seqs: list[int] = []
    try:
        async with asyncio.TaskGroup() as tg:
            sub = await start_collecting(tg, tls_broker.port, small_pack.city.id, seqs)
            bad = publisher(wrong.ca)
            with caplog.at_level(logging.WARNING, "cityhub.edge"):
                run = tg.create_task(bad.run())
                await until(lambda: queue.stats().depth >= 30 and any(
                    "TLS to broker" in r.getMessage() for r in caplog.records),
                    "readings queued and the TLS error logged", 60)
                bad.request_stop()
                await asyncio.wait_for(run, 15)
            errors = [r for r in caplog.records if r.levelno == logging.ERROR]
            assert errors, caplog.text
            msg = errors[0].getMessage()
            assert "CERTIFICATE_VERIFY_FAILED" in msg and "broker.tls" in msg \
                and "ca_file" in msg and "readings queued" in msg
            assert seqs == []  # nothing got through
            st = read_status(Path(f"{queue.path}.status.json"))
            assert st["state"] == "stopped"
            assert "CERTIFICATE_VERIFY_FAILED" in str(st["broker_error"])
            last = queue.stats().next_seq - 1
            assert queue.stats().depth == last  # every reading is still queued

            good = publisher(pki.ca)
            good.sensors.clear()  # publish only what the failed run queued
            run = tg.create_task(good.run())
            await until(lambda: set(range(1, last + 1)) <= set(seqs), "every queued seq", 60)
            good.request_stop()
            await asyncio.wait_for(run, 15)
            sub.cancel()
        assert queue.stats().depth == 0
        assert good.broker_error is None
    finally:
        queue.close()
