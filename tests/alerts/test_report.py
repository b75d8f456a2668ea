"""The departments' response figures, from a store with known times."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from alerts.outbox import Attempt
from alerts.routing import Router
from alerts.rules import Condition
from alerts.store import SqliteAlarmStore
from cityhub.config import load_pack
from cityhub.stats import percentile

T0 = 1_780_000_000.0  # 2026-05-28 (UTC) 20:26, 2026-05-29 03:26 in Jakarta


def test_percentile_matches_the_textbook() -> None:
    assert percentile([], 0.5) is None
    assert percentile([4.0], 0.9) == 4.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile([float(x) for x in range(11)], 0.9) == pytest.approx(9.0)


def test_report_per_department_and_month(tmp_path: Path) -> None:
    pack = load_pack("bandung")
    router = Router(pack)
    db = tmp_path / "alarms.db"
    store = SqliteAlarmStore(db)

    def route(a, ch, t, s, lv):  # type: ignore[no-untyped-def]
        return router.route(a, ch, t, s, level=lv)

    ids = []
    for k, gauge in enumerate(["flood-cikapundung-dago", "flood-cikapundung-siliwangi",
                               "flood-cisaranten"]):
        at = T0 + k * 60
        c = Condition("flood-siaga", f"device/{gauge}", True, at, "warning", "flood", gauge,
                      "gw-dago", "coblong", 1.7, True, {})
        ids.append(store.apply([c], at, route, {}, {}).opened[0].id)
    # bpbd's contacts were told (sent); the second alarm acknowledged after 10 min and
    # resolved after 30; the first acknowledged after 4 min; the third still open
    for n in store.pending(T0 + 10**6):
        store.claim([n.id], n.id)
        store.record(Attempt(n.id, n.department, n.contact, "mqtt", "t", n.created_at + 1,
                             True, "ok"), next_due=None, give_up=None)
    store.acknowledge(ids[0], "sari", None, T0 + 240)
    store.acknowledge(ids[1], "sari", None, T0 + 60 + 600)
    store.resolve(ids[1], "budi", None, T0 + 60 + 1800, route)
    store.close_db()

    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "cityhub", "alerts", "report", "--city",
                        "bandung", "--from", "2026-05-01", "--to", "2026-06-01",
                        "--database", str(db), "--out", str(out)],
                       capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    with (out / "response.csv").open() as f:
        rows = {row["department"]: row for row in csv.DictReader(f)}
    bpbd = rows["bpbd"]
    assert bpbd["month"] == "2026-05" and bpbd["received"] == "3"
    assert bpbd["acknowledged"] == "2" and bpbd["ack_median_min"] == "7.0"  # 4 and 10
    assert bpbd["resolved"] == "1" and bpbd["resolve_median_min"] == "30.0"
    assert bpbd["open_at_end"] == "2" and bpbd["escalations"] == "0"
    assert set(rows) == {"bpbd", "dsdabm"}  # the departments hearing of floods
    page = (out / "response.html").read_text()
    assert "Median minutes to acknowledge" in page and "bpbd" in page
    # a period without alarms: a page that says so
    r = subprocess.run([sys.executable, "-m", "cityhub", "alerts", "report", "--from",
                        "2026-01-01", "--to", "2026-02-01", "--database", str(db),
                        "--out", str(tmp_path / "empty")], capture_output=True, text=True,
                       check=False)
    assert r.returncode == 0
    assert "No alarm reached a department" in (tmp_path / "empty" / "response.html").read_text()
    # the store of another city: refused, not reported as this one's
    claimed = SqliteAlarmStore(db)
    claimed.claim_city("bandung")
    claimed.close_db()
    r = subprocess.run([sys.executable, "-m", "cityhub", "alerts", "report", "--city", "bogor",
                        "--from", "2026-05-01", "--to", "2026-06-01", "--database", str(db),
                        "--out", str(tmp_path / "wrong")], capture_output=True, text=True,
                       check=False)
    assert r.returncode == 2, r.stderr
    assert "holds the alarms of city 'bandung', not 'bogor' (--city)" in r.stderr
    assert not (tmp_path / "wrong").exists()
