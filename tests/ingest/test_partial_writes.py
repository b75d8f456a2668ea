"""A store that refuses some points (a field type conflict on a real InfluxDB): the good
points are stored, the messages with refused points are dead-lettered with the reason."""

from __future__ import annotations

import uuid
from pathlib import Path

import orjson
import pytest

from cityhub.config.pack import CityPack
from devservices import LocalInfluxDB, LocalMosquitto, http
from stores import InfluxV1Store
from tests.ingest.test_end_to_end import T0, make_ingester, publish, running, until

pytestmark = [pytest.mark.integration, pytest.mark.allow_logged_errors]


def message(i: int, with_occupancy: bool) -> bytes:
    recs: list[dict[str, object]] = [
        {"bn": "tfc-1:", "bt": T0 + i, "n": "intensity", "v": i},
        {"bn": "tfc-2:", "n": "intensity", "v": 100 + i}]
    if with_occupancy:
        recs.append({"n": "occupancy", "v": 0.5})
    return orjson.dumps(recs)


async def test_type_conflict_keeps_the_rest(small_pack: CityPack, mosquitto: LocalMosquitto,
                                            influxdb: LocalInfluxDB, database: str,
                                            tmp_path: Path) -> None:
    # Another writer made 'occupancy' a string field in this shard.
    status, _ = await http.apost(f"{influxdb.url}/write",
                                 f'traffic,device=foreign occupancy="high" {T0}'.encode(),
                                 params={"db": database, "precision": "s"})
    assert status == 204
    store = InfluxV1Store(influxdb.url, database)
    ing = make_ingester(small_pack, mosquitto, store, tmp_path, f"ing-{uuid.uuid4().hex[:6]}")
    bad = {3, 7, 11}
    topic = f"city/{small_pack.city.id}/traffic/gw-a"
    async with running(ing):
        await publish(mosquitto, [(topic, message(i, i in bad)) for i in range(20)])
        await until(lambda: ing.counters.acked == 20, "all acks")
    await store.aclose()
    res = influxdb.query("SELECT count(intensity) FROM traffic WHERE device != 'foreign' "
                         "GROUP BY device", database)
    counts = {s["tags"]["device"]: s["values"][0][1]
              for s in res["results"][0]["series"]}  # type: ignore[index]
    # tfc-1's points are all stored, bad messages included; tfc-2's refused points are not
    assert counts == {"tfc-1": 20, "tfc-2": 20 - len(bad)}
    assert dict(ing.counters.dead_lettered) == {"store_refused": len(bad)}
    kept = ing.deadletters.list(10)
    assert {d.payload for d in kept} == {message(i, True) for i in bad}
    assert all("field type conflict" in d.detail for d in kept)
