"""open_store builds the store a ``store:`` settings section describes."""

from __future__ import annotations

import pytest

from cityhub.store import StoreSettings
from stores import open_store


@pytest.mark.parametrize(("database", "want"), [(None, "city-bucket"), ("cityhub", "cityhub")])
async def test_v2_queries_the_dbrp_database_or_the_bucket(database: str | None,
                                                          want: str) -> None:
    s = StoreSettings(kind="influxdb-v2", url="http://127.0.0.1:9", org="o",
                      bucket="city-bucket", token_env="T", database=database)
    store = await open_store(s, token="t")
    try:
        assert store.database == want  # type: ignore[attr-defined]
    finally:
        await store.aclose()


async def test_v1_database_defaults_to_cityhub() -> None:
    store = await open_store(StoreSettings(kind="influxdb-v1", url="http://127.0.0.1:9"))
    try:
        assert store.database == "cityhub"  # type: ignore[attr-defined]
    finally:
        await store.aclose()
