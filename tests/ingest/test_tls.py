"""The ingester over TLS, end to end: real Mosquitto with a TLS listener that requires a
client certificate, the ingester connecting with the settings' ``broker.tls``.

Both MQTT paths (the fast one wraps the TLS socket in its read-ahead). What TLS changes
for the client: paho, or the read-ahead, reads through an ``SSLSocket`` (a message may span
several TLS records, and the SSL object may hold decrypted bytes the event loop does not
signal again), and the TLS handshake happens in ``connect()``, where a certificate that
does not verify must end in the reconnect loop, not a crash.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from cityhub.config.pack import CityPack
from cityhub.mqtt import BrokerSettings, TlsSettings
from cityhub.store import StoreSettings
from devservices import LocalMosquitto
from ingest.deadletters import DeadLetters
from ingest.service import Ingester
from ingest.settings import IngestSettings
from ingest.spool import Spool
from tests.edge.certs import Pki, make_pki
from tests.ingest.test_backpressure import GatedStore
from tests.ingest.test_end_to_end import T0, publish, running, until

pytestmark = pytest.mark.integration


def tls_ingester(pack: CityPack, broker: LocalMosquitto, pki: Pki, store: Any, tmp: Path,
                 protocol: str, ca: Path | None = None, **kw: Any) -> Ingester:
    settings = IngestSettings(
        pack=".", client_id=f"tls-{uuid.uuid4().hex[:6]}", flush_interval_s=0.1,
        broker=BrokerSettings(host="127.0.0.1", port=broker.tls_port,
                              protocol=protocol,
                              tls=TlsSettings(ca_file=str(ca or pki.ca),
                                              cert_file=str(pki.client_cert),
                                              key_file=str(pki.client_key))),
        store=StoreSettings(), deadletter_path=str(tmp / "dl.db"),
        spool_path=str(tmp / "spool.db"), **kw)
    return Ingester(settings, pack, store, DeadLetters(settings.deadletter_path),
                    Spool(settings.spool_path, settings.spool_max_bytes))


@pytest.mark.timeout(180)
@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
@pytest.mark.parametrize("fast", [True, False], ids=["fast-path", "public-api"])
async def test_every_reading_stored_once_over_tls(small_pack: CityPack,
                                                  tls_broker: LocalMosquitto, pki: Pki,
                                                  tmp_path: Path, protocol: str,
                                                  fast: bool) -> None:
    """Small messages and messages several TLS records (16 KiB each) long, through a
    reader that pauses at ``max_inflight`` over and over while the store holds its writes;
    then every reading is stored, each once."""
    store = GatedStore(open_writes=2)
    ing = tls_ingester(small_pack, tls_broker, pki, store, tmp_path, protocol,
                       max_inflight=40, batch_lines=2000, mqtt_fast_path=fast)
    assert ing.fast_mqtt is fast
    topic = f"city/{small_pack.city.id}/traffic/gw-a"
    sizes = [1 if i % 10 else 2000 for i in range(400)]  # 40 packs of about 70 KB
    starts = [sum(sizes[:i]) for i in range(len(sizes))]
    payloads = [orjson.dumps([{"bn": "tfc-1:", "bt": T0 + s, "n": "intensity", "v": 0},
                              *({"n": "intensity", "t": k, "v": k} for k in range(1, n))])
                for s, n in zip(starts, sizes, strict=True)]
    assert max(len(p) for p in payloads) > 3 * 16384
    async with running(ing):
        await publish(tls_broker, [(topic, p) for p in payloads])
        await until(lambda: ing.counters.reading_paused, "reading paused at max_inflight")
        assert ing.counters.unacked <= 40
        store.open()
        await until(lambda: ing.counters.acked == len(payloads), "every message handled")
        assert ing.connected.is_set()
    times = sorted(p.time_ns for p in store.points)
    assert times == [(T0 + k) * 10**9 for k in range(sum(sizes))]
    assert sum(ing.counters.dead_lettered.values()) == 0


@pytest.mark.timeout(120)
async def test_a_broker_the_ca_does_not_vouch_for_is_refused(
        small_pack: CityPack, tls_broker: LocalMosquitto, pki: Pki, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    """The wrong CA: no connection (the certificate check fails), a warning that names
    the reason, and the ingester's reconnect loop, not a crash."""
    wrong = make_pki(tmp_path / "wrong", "Some Other CA")
    ing = tls_ingester(small_pack, tls_broker, pki, GatedStore(0), tmp_path, "3.1.1",
                       ca=wrong.ca)
    with caplog.at_level(logging.WARNING, "cityhub.ingest"):
        async with asyncio.TaskGroup() as tg:
            task = tg.create_task(ing.run())
            await until(lambda: sum("CERTIFICATE_VERIFY_FAILED" in r.getMessage()
                                    for r in caplog.records) >= 2,
                        "two failed attempts, logged")
            assert not ing.connected.is_set()
            task.cancel()
