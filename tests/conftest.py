"""Fixtures shared by every tier.

- ``mosquitto`` / ``influxdb``: real servers (Debian's packages), started once per session
  on free loopback ports in temporary directories; each test uses its own city id or
  database, so tests do not see each other's data.
- ``small_pack``: a real city pack written to disk with a unique city id.
- An autouse guard fails a test when the code logged an error it then swallowed, unless
  the test is marked ``allow_logged_errors``.
"""

from __future__ import annotations

import logging
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from cityhub.config import load_pack
from cityhub.config.pack import CityPack
from cityhub.store import SQLiteStore, Store
from devservices import LocalInfluxDB, LocalMosquitto
from stores import InfluxV1Store
from tests.edge.certs import Pki, make_pki

# -- services -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMosquitto]:
    if not LocalMosquitto.available():
        pytest.fail("mosquitto is not installed: run the tests with `make test`, which "
                    "installs it (apt-get install mosquitto)")
    m = LocalMosquitto(tmp_path_factory.mktemp("mosquitto"))
    m.start()
    yield m
    m.stop()


@pytest.fixture(scope="session")
def influxdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalInfluxDB]:
    if shutil.which("influxd") is None:
        pytest.fail("influxd is not installed: run the tests with `make test`, which "
                    "installs it (apt-get install influxdb)")
    db = LocalInfluxDB(tmp_path_factory.mktemp("influxd"))
    db.start()
    yield db
    db.stop()


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A test CA, and a broker and a client certificate it signed."""
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def tls_broker(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[LocalMosquitto]:
    """Mosquitto with a plain listener (``port``, for a test's own client) and a TLS one
    (``tls_port``) that requires a client certificate signed by the test CA."""
    m = LocalMosquitto(tmp_path_factory.mktemp("mq-tls"), tls_certfile=pki.server_cert,
                       tls_keyfile=pki.server_key, tls_cafile=pki.ca, require_certificate=True)
    m.start()
    yield m
    m.stop()


@pytest.fixture
def database(influxdb: LocalInfluxDB) -> str:
    """A fresh InfluxDB database for this test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    influxdb.query(f'CREATE DATABASE "{name}"')
    return name


@pytest.fixture(params=["sqlite", "influxdb"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """Each test that takes it runs twice: on SQLite and on the real InfluxDB."""
    if request.param == "sqlite":
        s: Store = SQLiteStore(tmp_path / "readings.db")
    else:
        influx: LocalInfluxDB = request.getfixturevalue("influxdb")
        s = InfluxV1Store(influx.url, request.getfixturevalue("database"))
    yield s
    await s.aclose()


# -- city packs -----------------------------------------------------------------------------

SMALL_CITY = """\
pack: 1
city:
  id: {city}
  name: Test City
  country: ID
  timezone: Asia/Jakarta
  location: {{lat: -6.9, lon: 107.6}}
profiles:
  gauge:
    domain: flood
    interval_s: 60
    thresholds: {{siaga_3: 1.0, siaga_2: 2.0, siaga_1: 3.0}}
districts:
  - id: north
    name: North
    centroid: {{lat: -6.89, lon: 107.60}}
    outline: [[107.59, -6.88], [107.61, -6.88], [107.61, -6.90], [107.59, -6.90]]
  - id: south
    name: South
    centroid: {{lat: -6.91, lon: 107.60}}
"""

SMALL_GATEWAY = """\
id: gw-a
district: north
location: {lat: -6.89, lon: 107.60}
sensors:
  - {id: tfc-1, domain: traffic, location: {lat: -6.891, lon: 107.601}}
  - {id: tfc-2, domain: traffic, location: {lat: -6.892, lon: 107.602}, district: south}
  - {id: river-1, profile: gauge, location: {lat: -6.893, lon: 107.603}}
  - id: lamp-1
    domain: lighting
    location: {lat: -6.894, lon: 107.604}
    thresholds: {rated_power: 90}
  - {id: rain-1, domain: rain, location: {lat: -6.895, lon: 107.605}}
"""

SECOND_GATEWAY = """\
id: gw-b
district: south
location: {lat: -6.91, lon: 107.60}
sensors:
  - {id: tfc-b1, domain: traffic, location: {lat: -6.911, lon: 107.601}}
"""


def write_small_pack(root: Path, city: str, *, gateways: dict[str, str] | None = None,
                     city_extra: str = "") -> Path:
    """The small test pack under ``root``; ``gateways`` (file stem -> YAML) add or replace
    gateway files, ``city_extra`` is appended to city.yaml (rivers, corridors)."""
    (root / "gateways").mkdir(parents=True, exist_ok=True)
    (root / "city.yaml").write_text(SMALL_CITY.format(city=city) + city_extra)
    files = {"gw-a": SMALL_GATEWAY, "gw-b": SECOND_GATEWAY, **(gateways or {})}
    for stem, text in files.items():
        (root / "gateways" / f"{stem}.yaml").write_text(text)
    return root


@pytest.fixture
def small_pack_dir(tmp_path: Path) -> Path:
    return write_small_pack(tmp_path / "pack", f"test-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def small_pack(small_pack_dir: Path) -> CityPack:
    return load_pack(small_pack_dir)


# -- no swallowed errors --------------------------------------------------------------------


class _ErrorRecorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def fail_on_logged_errors(request: pytest.FixtureRequest) -> Iterator[_ErrorRecorder]:
    """Fail the test if code logged an ERROR (an error it handled and went on from)."""
    rec = _ErrorRecorder()
    root = logging.getLogger()
    root.addHandler(rec)
    yield rec
    root.removeHandler(rec)
    if rec.records and request.node.get_closest_marker("allow_logged_errors") is None:
        lines = "\n".join(f"  {r.name}: {r.getMessage()}" for r in rec.records[:10])
        pytest.fail(f"code logged {len(rec.records)} error(s) during the test:\n{lines}")


# -- browser tests (dash[testing] + Debian's chromium) ---------------------------------------


def pytest_setup_options() -> object:
    from tests.browser import chromium_options

    return chromium_options()
