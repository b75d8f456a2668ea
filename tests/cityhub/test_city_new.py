"""``cityhub city new``: a new city's pack as an overlay of an existing one, its districts
from a GeoJSON file; and docs/replicate-a-city.md followed command by command."""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from cityhub.cli import main
from cityhub.config import load_gateway, load_pack, load_settings, pack_dir
from cityhub.config.alerting import RateRule
from cityhub.config.geojson import area_centroid, simplify_ring, slugify
from cityhub.config.scaffold import extends_path, yaml_str
from devservices import free_port

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "replicate-a-city.md"

Ring = list[list[float]]


def square(lon: float, lat: float, size: float) -> Ring:
    """A closed GeoJSON ring: the square with its south-west corner at (lon, lat)."""
    return [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size],
            [lon, lat]]


def feature(props: dict[str, Any], geometry: dict[str, Any] | None) -> dict[str, Any]:
    return {"type": "Feature", "properties": props, "geometry": geometry}


def polygon(*rings: Ring) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": list(rings)}


def write_geojson(path: Path, features: list[Any]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def depok(tmp_path: Path) -> Path:
    """Three kecamatan with Indonesian properties: two polygons and a multipolygon."""
    return write_geojson(tmp_path / "kecamatan-depok.geojson", [
        feature({"nama": "Beji", "kode_kec": "32.76.01"},
                polygon(square(106.80, -6.38, 0.02))),
        feature({"nama": "Pancoran Mas", "kode_kec": "32.76.02"},
                polygon([[106.80, -6.42], [106.84, -6.42], [106.80, -6.38], [106.80, -6.42]])),
        feature({"nama": "Sukmajaya", "kode_kec": "32.76.03"},
                {"type": "MultiPolygon",
                 "coordinates": [[square(106.84, -6.42, 0.01)], [square(106.82, -6.40, 0.03)]]}),
    ])


def city_new(*argv: str) -> int:
    return main(["city", "new", *argv])


# -- the pack it writes -------------------------------------------------------------------


def test_scaffold_from_bandung_with_official_districts(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    out = tmp_path / "packs" / "depok"
    assert city_new("depok", "--from", "bandung", "--name", "Kota Depok", "--districts",
                    str(depok(tmp_path)), "--out", str(out)) == 0
    printed = capsys.readouterr().out
    assert f"cityhub config check {out}" in printed
    assert f"cityhub demo --city {out}" in printed

    pack, bandung = load_pack(out), load_pack("bandung")
    assert (pack.city.id, pack.city.name) == ("depok", "Kota Depok")
    assert pack.city.timezone == bandung.city.timezone == "Asia/Jakarta"  # inherited
    assert pack.city.country == "ID"
    assert [(d.id, d.name) for d in pack.districts] == [
        ("beji", "Beji"), ("pancoran-mas", "Pancoran Mas"), ("sukmajaya", "Sukmajaya")]
    beji, pancoran, sukmajaya = pack.districts
    # the area centroid of a square is its centre; of a triangle, the mean of its corners
    assert beji.centroid.lon == pytest.approx(106.81) and beji.centroid.lat == pytest.approx(
        -6.37)
    assert pancoran.centroid.lon == pytest.approx((106.80 + 106.84 + 106.80) / 3, abs=1e-5)
    assert pancoran.centroid.lat == pytest.approx((-6.42 - 6.42 - 6.38) / 3, abs=1e-5)
    # a MultiPolygon: the outline is its largest part's, the centroid the whole's
    assert set(sukmajaya.outline) == {(106.82, -6.40), (106.85, -6.40), (106.85, -6.37),
                                      (106.82, -6.37)}
    a1, a2 = 0.01 ** 2, 0.03 ** 2
    assert sukmajaya.centroid.lon == pytest.approx((a1 * 106.845 + a2 * 106.835) / (a1 + a2),
                                                   abs=1e-5)
    assert len(beji.outline) == 4  # GeoJSON's closing vertex dropped
    # the city's location: the area centroid of its districts
    assert -6.42 < pack.city.location.lat < -6.36 and 106.80 < pack.city.location.lon < 106.86

    # inherited: profiles, rules, lighting; not: gateways, rivers, corridors, departments
    assert pack.profiles == bandung.profiles
    assert "flood-siaga" in {r.id for r in pack.alerts.rules}
    assert pack.alerts.rules == bandung.alerts.rules
    assert pack.lighting == bandung.lighting
    assert bandung.alerts.departments and pack.alerts.departments == ()
    assert pack.gateways == () and pack.rivers == () and pack.corridors == ()

    text = (out / "city.yaml").read_text()
    assert "districts: !replace" in text
    for name in [*bandung.profiles, *(r.id for r in bandung.alerts.rules)]:
        assert re.search(rf"^#   {re.escape(name)} ", text, re.M), name
    assert "# Street lighting: lamps dim to 60% from 00:00 to 05:00" in text
    assert "#   departments:" in text and "# rivers:" in text
    assert sorted(p.name for p in (out / "gateways").iterdir()) == [
        "README.md", "gw-example.yaml.example"]
    assert main(["config", "check", str(out)]) == 0
    assert not list(out.parent.glob(".*"))  # no temporary directory left


def test_the_commented_alerts_example_is_a_valid_overlay(tmp_path: Path) -> None:
    out = tmp_path / "depok"
    assert city_new("depok", "--from", "bandung", "--lat", "-6.4", "--lon", "106.82",
                    "--out", str(out)) == 0
    text = (out / "city.yaml").read_text()
    start = text.index("\n# alerts:\n") + 1
    example = text[start:text.index("\n\n", start)]
    (out / "city.yaml").write_text(text.replace(example, "\n".join(
        line.removeprefix("# ") for line in example.splitlines())))
    pack = load_pack(out)
    assert [d.id for d in pack.alerts.departments] == ["bpbd"]
    assert pack.alerts.departments[0].name == "BPBD Depok"
    assert next(r for r in pack.alerts.rules if r.id == "flood-siaga").severity == "critical"


def test_id_property_timezone_and_location(tmp_path: Path) -> None:
    out = tmp_path / "depok"
    assert city_new("depok", "--from", "bandung", "--districts", str(depok(tmp_path)),
                    "--id-property", "kode_kec", "--timezone", "Asia/Makassar",
                    "--lat", "-6.4", "--lon", "106.82", "--out", str(out)) == 0
    pack = load_pack(out)
    assert [d.id for d in pack.districts] == ["32-76-01", "32-76-02", "32-76-03"]
    assert pack.city.timezone == "Asia/Makassar"
    assert (pack.city.location.lat, pack.city.location.lon) == (-6.4, 106.82)
    assert pack.city.name == "Depok"


def test_the_example_gateway_loads_once_copied(tmp_path: Path) -> None:
    out = tmp_path / "depok"
    assert city_new("depok", "--from", "bandung", "--districts", str(depok(tmp_path)),
                    "--out", str(out)) == 0
    shutil.copy(out / "gateways" / "gw-example.yaml.example", out / "gateways" / "gw-a.yaml")
    pack, gw = load_gateway(out / "gateways" / "gw-a.yaml")
    assert gw.district == "beji"
    assert {s.domain.value for s in gw.sensors} == {"traffic", "flood", "lighting", "rain"}
    assert set(pack.sensors) == {s.id for s in gw.sensors}


def test_placeholder_district_without_geojson(tmp_path: Path) -> None:
    out = tmp_path / "depok"
    assert city_new("depok", "--from", "bandung", "--lat", "-6.4", "--lon", "106.82",
                    "--out", str(out)) == 0
    pack = load_pack(out)
    [d] = pack.districts
    assert d.id == "placeholder" and (d.centroid.lat, d.centroid.lon) == (-6.4, 106.82)
    assert "A PLACEHOLDER" in (out / "city.yaml").read_text()


def test_from_an_overlay_its_own_device_rules_are_off(tmp_path: Path) -> None:
    """Bogor's katulampa-surge names flood-katulampa, which a new city does not have."""
    out = tmp_path / "cianjur"
    assert city_new("cianjur", "--from", "bogor", "--lat", "-6.82", "--lon", "107.14",
                    "--out", str(out)) == 0
    pack = load_pack(out)
    surge = next(r for r in pack.alerts.rules if r.id == "katulampa-surge")
    assert isinstance(surge, RateRule)
    assert not surge.enabled and surge.devices == ()
    assert pack.profiles["katulampa-weir"] == load_pack("bogor").profiles["katulampa-weir"]
    assert pack.alerts.departments == ()


def test_extends_is_relative_where_the_packs_share_a_directory(tmp_path: Path) -> None:
    base = tmp_path / "packs" / "bandung"
    shutil.copytree(pack_dir("bandung"), base)
    out = tmp_path / "packs" / "depok"
    assert city_new("depok", "--from", str(base), "--lat", "-6.4", "--lon", "106.82",
                    "--out", str(out)) == 0
    assert "\nextends: ../bandung\n" in (out / "city.yaml").read_text()
    (tmp_path / "packs").rename(tmp_path / "moved")  # the pair moves together
    assert load_pack(tmp_path / "moved" / "depok").city.id == "depok"


def test_extends_is_absolute_to_a_shipped_pack_elsewhere(tmp_path: Path) -> None:
    out = tmp_path / "depok"
    assert city_new("depok", "--from", "bandung", "--lat", "-6.4", "--lon", "106.82",
                    "--out", str(out)) == 0
    text = (out / "city.yaml").read_text()
    assert f"\nextends: {pack_dir('bandung').resolve()}\n" in text
    assert "the shipped pack 'bandung'" in text
    assert extends_path(Path("/a/b/new"), Path("/a/c/base")) == "../../c/base"
    assert extends_path(Path("/etc/x"), Path("/usr/base")) == "/usr/base"


def test_duplicate_district_ids_get_suffixes(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    geo = write_geojson(tmp_path / "k.geojson", [
        feature({"WADMKC": "Beji"}, polygon(square(106.80 + 0.01 * i, -6.38, 0.01)))
        for i in range(3)])
    out = tmp_path / "depok"
    assert city_new("depok", "--from", "bandung", "--districts", str(geo), "--out",
                    str(out)) == 0
    assert [d.id for d in load_pack(out).districts] == ["beji", "beji-2", "beji-3"]
    err = capsys.readouterr().err
    assert "warning: " in err and "features[1] (Beji)" in err and "'beji-3'" in err


def test_long_outlines_are_simplified(tmp_path: Path) -> None:
    n = 1000
    ring = [[106.8 + 0.02 * math.cos(2 * math.pi * k / n),
             -6.4 + 0.02 * math.sin(2 * math.pi * k / n)] for k in range(n)]
    geo = write_geojson(tmp_path / "k.geojson", [
        feature({"name": "Bulat"}, polygon([*ring, ring[0]]))])
    out = tmp_path / "depok"
    assert city_new("depok", "--from", "bandung", "--districts", str(geo), "--out",
                    str(out)) == 0
    [d] = load_pack(out).districts
    assert len(d.outline) == 200
    assert (d.centroid.lon, d.centroid.lat) == pytest.approx((106.8, -6.4), abs=1e-5)
    assert "1000 vertices simplified to 200" in (out / "city.yaml").read_text()


# -- the geometry -------------------------------------------------------------------------


def test_area_centroid_subtracts_holes() -> None:
    outer = [(0.0, 0.0), (2.0, 0.0), (2.0, 2.0), (0.0, 2.0)]
    hole = [(0.5, 0.5), (1.0, 0.5), (1.0, 1.0), (0.5, 1.0)]
    area, (x, y) = area_centroid([[outer, hole]])
    assert area == pytest.approx(3.75)
    assert (x, y) == pytest.approx(((4 * 1 - 0.25 * 0.75) / 3.75,) * 2)


def test_simplify_keeps_the_most_significant_vertices_in_order() -> None:
    side = [k / 100 for k in range(100)]
    square_ring = ([(s, 0.0) for s in side] + [(1.0, s) for s in side]
                   + [(1 - s, 1.0) for s in side] + [(0.0, 1 - s) for s in side])
    assert simplify_ring(square_ring, 4) == [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]
    spiked = [*square_ring[:150], (1.5, 0.5), *square_ring[151:]]  # a spike on the right
    out = simplify_ring(spiked, 5)
    assert len(out) == 5 and (1.5, 0.5) in out
    assert [spiked.index(p) for p in out] == sorted(spiked.index(p) for p in out)
    assert simplify_ring(spiked[:10], 200) == spiked[:10]


@pytest.mark.parametrize(("text", "slug"), [
    ("Bogor Utara", "bogor-utara"), ("Tanah Sareal", "tanah-sareal"),
    ("Cibeunying Kaler ", "cibeunying-kaler"), ("32.76.01", "32-76-01"),
    ("Gunung Putri (Kab.)", "gunung-putri-kab"), ("Pésantren", "pesantren"), ("—", "")])
def test_slugify(text: str, slug: str) -> None:
    assert slugify(text) == slug


@given(st.text(max_size=40))
def test_yaml_strings_read_back(text: str) -> None:
    s = yaml_str(text)
    assert yaml.safe_load(f"k: {s}") == {"k": text}
    assert yaml.safe_load(f"{{k: {s}, j: 1}}") == {"k": text, "j": 1}


# -- bad input: exit status 2, and what ------------------------------------------------------


def _bad(tmp_path: Path, name: str, content: str | list[Any] | dict[str, Any]) -> Path:
    p = tmp_path / name
    if isinstance(content, str):
        p.write_text(content)
    elif isinstance(content, list):
        write_geojson(p, content)
    else:
        p.write_text(json.dumps(content))
    return p


@pytest.mark.parametrize(("geojson", "expected"), [
    ("{not json", "not JSON"),
    ({"type": "Feature", "geometry": None}, "type: not a GeoJSON FeatureCollection"),
    ({"type": "FeatureCollection", "features": []}, "features: no features"),
    ([feature({"nama": "Beji"}, polygon(square(106.8, -6.4, 0.01))),
      feature({"nama": "Cinere"}, None)],
     "features[1].geometry: the feature has no geometry"),
    ([feature({"nama": "Beji"}, polygon(square(106.8, -6.4, 0.01))),
      feature({"nama": "Cinere"}, polygon(square(106.8, -6.4, 0.01))),
      feature({"KODE": "32.76.03", "LUAS": 12}, polygon(square(106.8, -6.4, 0.01)))],
     "features[2].properties: no district name: none of name, NAME, nama, WADMKC; the "
     "feature's properties: KODE, LUAS (give --name-property)"),
    ([feature({"nama": "Beji"}, {"type": "Point", "coordinates": [106.8, -6.4]})],
     "features[0].geometry.type: 'Point': a district's geometry is a Polygon or a "
     "MultiPolygon"),
    ([feature({"nama": "Beji"}, polygon(square(700000.0, 9290000.0, 1000.0)))],
     "features[0].geometry.coordinates[0][0]: [700000.0, 9290000.0] is not "
     "longitude/latitude"),
    ([feature({"nama": "Beji"}, polygon([[106.8, -6.4], [106.9, -6.4], [106.8, -6.4]]))],
     "features[0].geometry.coordinates[0]: a ring needs at least 3 distinct vertices"),
])
def test_bad_geojson(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                     geojson: str | list[Any] | dict[str, Any], expected: str) -> None:
    geo = _bad(tmp_path, "bad.geojson", geojson)
    out = tmp_path / "depok"
    assert city_new("depok", "--from", "bandung", "--districts", str(geo), "--out",
                    str(out)) == 2
    err = capsys.readouterr().err
    assert f"cityhub city new: {geo}" in err
    assert expected in err
    assert not out.exists()


def test_every_bad_feature_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                    ) -> None:
    geo = _bad(tmp_path, "bad.geojson", [
        feature({"nama": "Beji"}, None), feature({"nama": "Limo"}, polygon(square(
            106.8, -6.4, 0.01))), feature({}, polygon(square(106.8, -6.4, 0.01)))])
    assert city_new("depok", "--from", "bandung", "--districts", str(geo),
                    "--name-property", "nama", "--out", str(tmp_path / "d")) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2
    assert "features[0].geometry:" in err[0]
    assert "features[2].properties.nama: no district name (missing)" in err[1]


def test_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    loc = ["--lat", "-6.4", "--lon", "106.82"]
    cases: list[tuple[list[str], str]] = [
        (["Depok", "--from", "bandung", *loc], "ID: 'Depok' is not a city id"),
        (["depok", "--from", "bandung"], "give the city's location (--lat --lon), or "
         "--districts"),
        (["depok", "--from", "bandung", "--lat", "-6.4"], "--lat/--lon: give both"),
        (["depok", "--from", "bandung", *loc, "--timezone", "Asia/Bogor"],
         "unknown IANA time zone 'Asia/Bogor'"),
        (["depok", "--from", "jakarta", *loc], "jakarta: no such city pack"),
        (["bandung", "--from", "bandung", *loc], "'bandung' is the base pack's city id"),
        (["depok", "--from", "bandung", "--districts", str(tmp_path / "none.geojson")],
         "none.geojson: cannot read"),
    ]
    for argv, expected in cases:
        out = tmp_path / "out"
        assert city_new(*argv, "--out", str(out)) == 2, argv
        assert expected in capsys.readouterr().err, argv
        assert not out.exists()


def test_never_overwrites(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "depok"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert city_new("depok", "--from", "bandung", "--lat", "-6.4", "--lon", "106.82",
                    "--out", str(out)) == 2
    assert f"{out}: already exists" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_the_command_as_a_user_runs_it(tmp_path: Path) -> None:
    depok(tmp_path)
    cmd = [sys.executable, "-m", "cityhub", "city", "new", "depok", "--from", "bandung",
           "--name", "Kota Depok", "--districts", "kecamatan-depok.geojson"]
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert "wrote firmware_configs/depok/" in done.stdout
    assert load_pack(tmp_path / "firmware_configs" / "depok").city.name == "Kota Depok"
    again = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=60,
                           check=False)
    assert again.returncode == 2
    assert "firmware_configs/depok: already exists" in again.stderr


# -- docs/replicate-a-city.md, followed ------------------------------------------------------

_FENCE = re.compile(r"^```(\w*)([^\n]*)\n(.*?)^```[ \t]*$", re.M | re.S)


def _commands(body: str) -> list[list[str]]:
    lines = body.replace("\\\n", " ").splitlines()
    return [shlex.split(ln) for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]


def guide_blocks() -> list[tuple[str, str, str]]:
    """(language, info after it, body) of each fenced block of the guide, in order."""
    return [(m[1], m[2].strip(), m[3]) for m in _FENCE.finditer(GUIDE.read_text())]


def bogor_geojson(path: Path) -> None:
    """A stand-in for BIG's kecamatan of Kota Bogor: the shipped pack's outlines, one as
    a MultiPolygon with a small second part."""
    features = []
    for i, d in enumerate(load_pack("bogor").districts):
        ring = [[x, y] for x, y in d.outline] + [list(d.outline[0])]
        geometry: dict[str, Any] = polygon(ring)
        if i == 0:
            geometry = {"type": "MultiPolygon", "coordinates": [  # an islet, and the rest
                [square(106.9, -6.55, 0.001)], [ring]]}
        features.append(feature({"WADMKC": d.name, "WADMKK": "Kota Bogor"}, geometry))
    write_geojson(path, features)


def test_the_guides_overview_lists_its_commands() -> None:
    blocks = guide_blocks()
    [overview] = [body for lang, info, body in blocks if lang == "sh" and not info]
    followed = [c for lang, info, body in blocks if (lang, info) == ("sh", "replicate")
                for c in _commands(body)]
    assert _commands(overview) == followed


def _settings_model(command: tuple[str, ...]) -> Any:
    from alerts.settings import AlertsSettings
    from analytics.settings import AnalyticsSettings
    from ingest.settings import IngestSettings

    return {("ingest",): IngestSettings, ("analytics", "run"): AnalyticsSettings,
            ("alerts", "run"): AlertsSettings}[command]


@pytest.mark.integration
def test_following_the_guide(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every block of docs/replicate-a-city.md in order: the `sh replicate` commands run
    (but those that run until stopped, whose settings and packs are loaded instead), the
    `yaml file=` / `yaml append=` blocks written where they say."""
    monkeypatch.chdir(tmp_path)
    bogor_geojson(tmp_path / "kecamatan-bogor.geojson")
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "CITYHUB_TEST_PASSWORD": "sari-secret-1"}
    ran: list[str] = []
    output: str | None = None  # of the command just run, for the output the guide shows

    def cityhub(argv: list[str], timeout: float = 120) -> str:
        done = subprocess.run([sys.executable, "-m", "cityhub", *argv], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=timeout,
                              check=False)
        assert done.returncode == 0, f"cityhub {shlex.join(argv)}:\n{done.stdout}{done.stderr}"
        return done.stdout

    for lang, info, body in guide_blocks():
        if lang == "" and output is not None:  # what the guide shows the command printing
            for line in body.strip().splitlines():
                assert line in output.splitlines(), (line, output)
            output = None
            ran.append("output shown")
            continue
        output = None
        if lang == "yaml" and info.startswith(("file=", "append=")):
            how, _, target = info.partition("=")
            path = tmp_path / target
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a" if how == "append" else "w", encoding="utf-8") as f:
                f.write(body)
            ran.append(f"{how} {target}")
            continue
        if (lang, info) != ("sh", "replicate"):
            continue
        for argv in _commands(body):
            assert argv[0] == "cityhub", argv
            args = argv[1:]
            key = tuple(a for a in args[:2] if not a.startswith("-"))
            if key[:1] == ("city",) or key == ("config", "check"):
                output = cityhub(args)
            elif key[:1] == ("demo",):
                data = tmp_path / "demo-data"
                output = cityhub([*args, "--port", str(free_port()), "--alerts-port", "0",
                                    "--data-dir", str(data), "--duration", "15"])
                assert "cityhub demo: Kota Bogor, 1 gateways, 8 simulated sensors" in output
                with sqlite3.connect(data / "bogor" / "readings.db") as db:
                    stored = {r[0] for r in db.execute(
                        "SELECT DISTINCT s.device FROM readings r "
                        "JOIN series s ON s.id = r.series")}
                assert stored == set(load_pack("packs/bogor").sensors)
            elif key == ("broker", "config"):
                output = cityhub(args)
                out = Path(args[args.index("--out") + 1])
                assert "user gw-katulampa" in (out / "acl").read_text()
                assert (out / "passwd").read_text().startswith(("cityhub-", "gw-"))
            elif key == ("users", "add"):  # asks at the terminal: the test gives it so
                output = cityhub([*args, "--password-env", "CITYHUB_TEST_PASSWORD"])
                assert Path("var/accounts.db").is_file()
            elif key in (("ingest",), ("analytics", "run"), ("alerts", "run")):
                # runs until stopped: its settings and pack load
                config = args[args.index("--config") + 1]
                settings = load_settings(config, _settings_model(key))
                assert load_pack(settings.pack).city.id == "bogor"
            elif key == ("dashboard",):
                assert load_pack(args[args.index("--city") + 1]).city.id == "bogor"
            elif key == ("edge", "run"):
                _, gw = load_gateway(args[args.index("--gateway") + 1])
                assert gw.id == "gw-katulampa"
            else:
                pytest.fail(f"the guide runs a command this test does not follow: {argv}")
            ran.append(" ".join(key))
    assert ran[:4] == ["city new", "append packs/bogor/city.yaml",
                       "file packs/bogor/gateways/gw-katulampa.yaml", "config check"]
    assert ran[4] == "output shown"  # config check's, as the guide shows it
    assert {"demo", "broker config", "users add", "ingest", "edge run"} <= set(ran)
    # what was built is the shipped Bogor, but for its second gateway
    built, shipped = load_pack("packs/bogor"), load_pack("bogor")
    assert [d.id for d in built.districts] == [d.id for d in shipped.districts]
    assert built.rivers == shipped.rivers
    assert built.alerts == shipped.alerts
    assert built.profiles == shipped.profiles
