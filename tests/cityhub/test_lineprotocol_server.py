"""What the encoder writes, a real InfluxDB (1.6.7, Debian) reads back unchanged,
hostile names included. Names the encoder refuses are out of scope by construction."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from cityhub.lineprotocol import encode_line
from cityhub.point import Point
from devservices import LocalInfluxDB, http

pytestmark = pytest.mark.integration

HOSTILE = st.text(
    alphabet=st.sampled_from(list(' ,="\'\\#=:;{}[]*.-_/abcXYZ019éü水\t')), min_size=1,
    max_size=12)


def representable(s: str) -> bool:
    try:
        encode_line(Point("m", (("k", s),), {"v": 1.0}, 1))
        encode_line(Point(s, (), {s if s != "time" else "x": 1.0}, 1))
    except ValueError:
        return False
    return True


names = HOSTILE.filter(representable)
values = (st.floats(allow_nan=False, allow_infinity=False, width=64)
          | st.booleans() | st.text(max_size=30).filter(lambda s: "\r" not in s))


# No shrinking phase: each example is a server round trip, and a failing example is
# printed as found.
@settings(max_examples=60, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(meas=names, tag_key=names, tag_value=names, field_key=names, value=values)
def test_server_reads_back_what_we_wrote(influxdb: LocalInfluxDB, meas: str, tag_key: str,
                                         tag_value: str, field_key: str,
                                         value: object) -> None:
    if tag_key in ("time", field_key) or field_key == "time":
        return
    db = f"lp_{uuid.uuid4().hex[:10]}"
    influxdb.query(f'CREATE DATABASE "{db}"')
    line = encode_line(Point(meas, ((tag_key, tag_value),), {field_key: value}, 1_000))
    status, body = http.post(f"{influxdb.url}/write", line.encode(),
                             params={"db": db, "precision": "ns"})
    assert status == 204, (line, body)
    q_meas = meas.replace("\\", "\\\\").replace('"', '\\"')
    series = influxdb.query(f'SELECT * FROM "{q_meas}"', db)["results"][0]["series"]  # type: ignore[index]
    assert len(series) == 1
    s = series[0]
    assert s["name"] == meas
    row = dict(zip(s["columns"], s["values"][0], strict=True))
    assert row[tag_key] == tag_value
    got = row[field_key]
    if isinstance(value, float):
        # JSON may print an integral float without exponent (Python reads an int); the
        # number is the same double.
        assert float(got) == value
    else:
        assert got == value
    assert row["time"] == 1_000
    influxdb.query(f'DROP DATABASE "{db}"')
