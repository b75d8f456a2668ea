"""One set of names for the decoding paths: compiled, python, reference."""

from __future__ import annotations

import orjson
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from cityhub.config.pack import CityPack
from cityhub.errors import DecodeError
from ingest.counters import IngestCollector, IngestCounters
from ingest.decoder import DECODER_PATH, PATHS, Decoder
from tests.ingest.test_decoder import NOW


def test_each_path_is_counted_under_its_name(small_pack: CityPack) -> None:
    d = Decoder(small_pack, clock=lambda: NOW)
    topic = f"city/{small_pack.city.id}/traffic/gw-a"
    plain = orjson.dumps([{"bn": "tfc-1:", "bt": NOW, "n": "intensity", "v": 1}])
    assert d.compiled(topic, plain, bytearray()) == 1
    d.decode(topic, plain)
    with pytest.raises(DecodeError):
        d.decode(topic, b"[")
    assert (d.decoded_compiled, d.decoded_python, d.decoded_reference) == (1, 1, 1)

    registry = CollectorRegistry()
    registry.register(IngestCollector(IngestCounters(), d, DECODER_PATH))
    text = generate_latest(registry).decode()
    for path in PATHS:
        assert f'cityhub_ingest_decoded_messages_total{{path="{path}"}} 1.0' in text
    assert DECODER_PATH == "compiled"  # the test suite runs on the built kernel
    assert 'cityhub_ingest_decoder_path{path="compiled"} 1.0' in text
    assert 'cityhub_ingest_decoder_path{path="python"} 0.0' in text


def test_the_gauge_names_the_python_path_where_it_decodes(small_pack: CityPack) -> None:
    registry = CollectorRegistry()
    registry.register(IngestCollector(IngestCounters(), Decoder(small_pack), "python"))
    text = generate_latest(registry).decode()
    assert 'cityhub_ingest_decoder_path{path="compiled"} 0.0' in text
    assert 'cityhub_ingest_decoder_path{path="python"} 1.0' in text
