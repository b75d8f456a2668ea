"""City packs: the shipped ones load; overlays merge as documented; every broken pack is
explained with file, line, key path and what was expected."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cityhub.cli import main
from cityhub.config import FloodThresholds, load_pack, load_settings, pack_dir
from cityhub.config.pack import FloodSensor, TrafficSensor
from cityhub.errors import ConfigError, ConfigProblem
from cityhub.fields import Domain
from ingest.settings import IngestSettings

ROOT = Path(__file__).resolve().parents[2]


def test_bandung_pack() -> None:
    pack = load_pack(ROOT / "firmware_configs" / "bandung")
    assert pack.city.timezone == "Asia/Jakarta"
    assert len(pack.districts) == 30
    assert len(pack.gateways) >= 4
    assert len(pack.sensors) >= 80
    domains = {s.domain for _, s in pack.sensors.values()}
    assert domains == set(Domain)
    gauges = [s for _, s in pack.sensors.values() if isinstance(s, FloodSensor)]
    assert all(s.thresholds.alert_level < s.thresholds.danger_level for s in gauges)
    assert all(len(d.outline) >= 3 for d in pack.districts)


def test_bogor_overlay_inherits_and_adjusts() -> None:
    bandung, bogor = load_pack("bandung"), load_pack("bogor")
    assert bogor.city.id == "bogor"
    assert bogor.city.name == "Kota Bogor"
    assert bogor.city.timezone == bandung.city.timezone  # inherited
    assert {d.id for d in bogor.districts} == {
        "bogor-utara", "bogor-selatan", "bogor-timur", "bogor-barat", "bogor-tengah",
        "tanah-sareal"}  # !replace
    # merged profile: Bogor changes the free-flow speed, keeps Bandung's domain and params
    assert bogor.profiles["traffic-loop"].thresholds == {"free_flow_speed": 40}
    assert bogor.profiles["traffic-loop"].params == bandung.profiles["traffic-loop"].params
    assert bogor.profiles["river-gauge"] == bandung.profiles["river-gauge"]
    # gateways are never inherited
    assert {g.id for g in bogor.gateways} == {"gw-katulampa", "gw-kebun-raya"}
    _, katulampa = bogor.sensors["flood-katulampa"]
    assert isinstance(katulampa, FloodSensor)
    assert katulampa.thresholds == FloodThresholds(siaga_3=0.8, siaga_2=1.5, siaga_1=2.0)
    _, loop = bogor.sensors["tfc-jalak-harupat-01"]
    assert isinstance(loop, TrafficSensor)
    assert loop.thresholds.free_flow_speed == 40


def test_merge_by_id_and_replace(tmp_path: Path, small_pack_dir: Path) -> None:
    over = tmp_path / "over"
    (over / "gateways").mkdir(parents=True)
    shutil.copy(small_pack_dir / "gateways" / "gw-b.yaml", over / "gateways")
    (over / "city.yaml").write_text(
        f"extends: {small_pack_dir}\n"
        "city: {id: over-city}\n"
        "districts:\n"
        "  - {id: north, name: North Renamed}\n"
        "  - {id: east, name: East, centroid: {lat: -6.9, lon: 107.7}}\n"
        "profiles:\n  gauge: !replace {domain: flood}\n")
    pack = load_pack(over)
    assert [d.id for d in pack.districts] == ["north", "south", "east"]
    north = pack.districts[0]
    assert north.name == "North Renamed"
    assert len(north.outline) == 4
    assert pack.profiles["gauge"].thresholds == {}  # replaced whole
    assert pack.city.name == "Test City"


def problems(path: Path) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as e:
        load_pack(path)
    return e.value.problems


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_every_problem_listed_with_file_line_and_path(small_pack_dir: Path) -> None:
    city, gw = small_pack_dir / "city.yaml", small_pack_dir / "gateways" / "gw-a.yaml"
    edit(city, "timezone: Asia/Jakarta", "timezone: Asia/Bandung")
    edit(city, "siaga_2: 2.0, siaga_1: 3.0", "siaga_2: 2.0, siaga_1: 1.5")
    edit(gw, "{id: tfc-1, domain: traffic,", "{id: tfc-1, domain: trafic,")
    edit(gw, "{id: rain-1, domain: rain, location", "{id: rain-1, domain: rain, locaton")
    found = {(Path(p.file).name, p.line, p.path): p.message for p in problems(small_pack_dir)}
    assert "unknown IANA time zone 'Asia/Bandung'" in found[("city.yaml", 6, "city.timezone")]
    assert "siaga_3 < siaga_2 < siaga_1" in found[
        ("city.yaml", 12, "profiles.gauge.thresholds")]
    assert "unknown domain 'trafic'" in found[("gw-a.yaml", 5, "sensors[0]")]
    assert found[("gw-a.yaml", 12, "sensors[4].locaton")].startswith("unknown key")
    assert found[("gw-a.yaml", 12, "sensors[4].location")] == "Field required"
    assert len(found) == 5


def test_cross_references(small_pack_dir: Path) -> None:
    gw = small_pack_dir / "gateways" / "gw-a.yaml"
    edit(gw, "district: north", "district: nowhere")
    edit(gw, "{id: tfc-2,", "{id: tfc-1,")
    edit(small_pack_dir / "gateways" / "gw-b.yaml", "id: tfc-b1", "id: river-1")
    msgs = {(Path(p.file).name, p.path): p.message for p in problems(small_pack_dir)}
    assert "unknown district 'nowhere'" in msgs[("gw-a.yaml", "district")]
    assert "already used" in msgs[("gw-a.yaml", "sensors[1].id")]
    assert "already used on gateway 'gw-a'" in msgs[("gw-b.yaml", "sensors[0].id")]


@pytest.mark.parametrize(("text", "line", "words"), [
    ("id: gw-x\n  bad: [\n", 2, "YAML syntax"),
    ("id: gw-x\nid: gw-y\n", 2, "duplicate key"),
])
def test_yaml_errors(small_pack_dir: Path, text: str, line: int, words: str) -> None:
    (small_pack_dir / "gateways" / "gw-z.yaml").write_text(text)
    ps = [p for p in problems(small_pack_dir) if p.file.endswith("gw-z.yaml")]
    assert ps
    assert ps[0].line == line
    assert words in ps[0].message


def test_overlay_problems(tmp_path: Path, small_pack_dir: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    (a / "city.yaml").write_text("extends: ../b\n")
    (b / "city.yaml").write_text("extends: ../a\n")
    assert "cycle" in problems(a)[0].message
    (a / "city.yaml").write_text("extends: ../missing\n")
    assert "has no city.yaml" in problems(a)[0].message
    with pytest.raises(ConfigError, match="no such city pack"):
        load_pack(tmp_path / "nope")


def test_unknown_profile_is_explained(small_pack_dir: Path) -> None:
    edit(small_pack_dir / "gateways" / "gw-a.yaml", "profile: gauge", "profile: gauje")
    ps = problems(small_pack_dir)
    p = next(p for p in ps if p.path == "sensors[2].profile")
    assert "unknown profile 'gauje'" in p.message
    assert "gauge" in p.message


def test_settings_file_errors(tmp_path: Path) -> None:
    f = tmp_path / "ingest.yaml"
    f.write_text("pack: bandung\nbroker: {port: 99999}\nbatch_line: 5\n")
    with pytest.raises(ConfigError) as e:
        load_settings(f, IngestSettings)
    found = {(p.path, p.line) for p in e.value.problems}
    assert found == {("broker.port", 2), ("batch_line", 3)}


def test_cli_config_check(capsys: pytest.CaptureFixture[str], small_pack_dir: Path) -> None:
    assert main(["config", "check", "bandung", "bogor"]) == 0
    out = capsys.readouterr().out
    assert "bandung: OK" in out
    assert "30 districts" in out
    assert "bogor: OK" in out
    edit(small_pack_dir / "city.yaml", "country: ID", "country: Indonesia")
    assert main(["config", "check", str(small_pack_dir)]) == 1
    out = capsys.readouterr().out
    assert "INVALID, 1 problem(s)" in out
    assert "city.yaml:5: city.country" in out


def test_bogor_rivers_link_katulampa_to_manggarai() -> None:
    bogor = load_pack("bogor")
    [ciliwung] = bogor.rivers
    links = {(link.upstream, link.downstream): link.travel_h for link in ciliwung.links}
    assert links[("flood-katulampa", "manggarai")] == (6.0, 12.0)
    assert "manggarai" not in bogor.sensors  # a forecast point, not a sensor
    assert load_pack("bandung").rivers == ()


def test_river_links_are_checked(small_pack_dir: Path) -> None:
    """A link names a flood sensor of the pack upstream, and a flood sensor or a forecast
    point of its river downstream; each wrong one is named with file, line and path."""
    city = small_pack_dir / "city.yaml"
    city.write_text(city.read_text() + (
        "rivers:\n"
        "  - id: kali\n"
        "    name: Kali\n"
        "    forecast_points:\n"
        "      - {id: muara, name: Muara, location: {lat: -6.1, lon: 106.8}}\n"
        "    links:\n"
        "      - {upstream: river-1, downstream: muara, travel_h: [2, 4]}\n"
        "      - {upstream: tfc-1, downstream: river-1, travel_h: [1, 2]}\n"
        "      - {upstream: river-1, downstream: nowhere, travel_h: [1, 2]}\n"
        "      - {upstream: river-1, downstream: muara, travel_h: [5, 3]}\n"))
    [bad] = problems(small_pack_dir)  # the structure first: cross-checks need a valid pack
    assert (Path(bad.file).name, bad.line, bad.path) == ("city.yaml", 30,
                                                         "rivers[0].links[3].travel_h")
    assert "shortest <= longest" in bad.message
    edit(city, "travel_h: [5, 3]", "travel_h: [3, 5]")
    found = {(p.path, p.line): p.message for p in problems(small_pack_dir)}
    assert found == {
        ("rivers[0].links[1].upstream", 28): "'tfc-1' is not a flood sensor of the pack",
        ("rivers[0].links[2].downstream", 29): "'nowhere' is neither a flood sensor of the "
                                               "pack nor a forecast point of this river"}


def test_load_gateway_finds_its_own_file_among_inline_gateways(small_pack_dir: Path) -> None:
    """A gateway written in city.yaml itself comes first in the pack: each gateways/*.yaml
    still loads as its own gateway (an edge agent must never publish as another)."""
    from cityhub.config import load_gateway

    city = small_pack_dir / "city.yaml"
    city.write_text(city.read_text() + (
        "gateways:\n"
        "  - id: gw-inline\n"
        "    district: north\n"
        "    location: {lat: -6.89, lon: 107.60}\n"
        "    sensors:\n"
        "      - {id: tfc-inline, domain: traffic, location: {lat: -6.89, lon: 107.6}}\n"))
    for name in ("gw-a", "gw-b"):
        pack, gw = load_gateway(small_pack_dir / "gateways" / f"{name}.yaml")
        assert gw.id == name and pack.gateways[0].id == "gw-inline"


def test_an_overlay_does_not_inherit_the_base_citys_rivers(tmp_path: Path,
                                                            small_pack_dir: Path) -> None:
    """Rivers link the base city's own sensors; like gateways, an overlay has its own."""
    city = small_pack_dir / "city.yaml"
    city.write_text(city.read_text() + (
        "rivers:\n  - id: kali\n    name: Kali\n    links:\n"
        "      - {upstream: river-1, downstream: river-1b, travel_h: [1, 2]}\n"))
    edit(small_pack_dir / "gateways" / "gw-b.yaml", "id: tfc-b1, domain: traffic",
         "id: river-1b, profile: gauge")
    assert len(load_pack(small_pack_dir).rivers) == 1
    overlay = tmp_path / "overlay"
    (overlay / "gateways").mkdir(parents=True)
    (overlay / "city.yaml").write_text(f"extends: {small_pack_dir}\ncity: {{id: other}}\n")
    assert load_pack(overlay).rivers == ()


def test_the_dimming_schedule_is_checked_and_inherited(small_pack_dir: Path) -> None:
    """A time that is not HH:MM is named with file, line and path; an overlay inherits
    its base's schedule (Bogor: Bandung's)."""
    city = small_pack_dir / "city.yaml"
    city.write_text(city.read_text() + (
        "lighting:\n"
        "  dimming:\n"
        "    - {start: \"00:00\", end: \"05:00\", level: 0.6}\n"
        "    - {start: \"24:30\", end: \"01:00\", level: 0.5}\n"))
    [bad] = problems(small_pack_dir)
    assert bad.path == "lighting.dimming[1].start" and "HH:MM" in bad.message
    assert Path(bad.file).name == "city.yaml" and bad.line is not None
    bandung = load_pack("bandung").lighting
    assert bandung.level_at(2 * 60) == 0.6 and bandung.level_at(22 * 60) == 1.0
    assert load_pack("bogor").lighting == bandung


def test_corridors_are_checked_and_not_inherited(small_pack_dir: Path) -> None:
    """A corridor names traffic sensors of the pack, each in one corridor only; an
    overlay does not inherit its base's corridors (they name the base city's roads)."""
    city = small_pack_dir / "city.yaml"
    city.write_text(city.read_text() + (
        "corridors:\n"
        "  - {id: main, name: Main Road, sensors: [tfc-1, tfc-2]}\n"
        "  - {id: side, name: Side Road, sensors: [tfc-2, river-1]}\n"))
    found = {p.path: p.message for p in problems(small_pack_dir)}
    assert found == {
        "corridors[1].sensors[0]": "'tfc-2' is already in corridor 'main'",
        "corridors[1].sensors[1]": "'river-1' is not a traffic sensor of the pack"}
    assert len(load_pack("bandung").corridors) == 7
    assert load_pack("bogor").corridors == ()


def test_alert_rules_are_checked_with_file_line_and_key(small_pack_dir: Path) -> None:
    """An invalid rule or department is a pack error like any other: file, line, key.
    Shapes first (every one listed), then, in a valid pack, the references."""
    city = small_pack_dir / "city.yaml"
    base = city.read_text()
    lines = base.count("\n")
    city.write_text(base + (
        "alerts:\n"
        "  rules:\n"
        "    - {id: high, kind: threshold, domain: flood, field: currentLevel, above: 2, "
        "clear: 3}\n"
        "    - {id: odd, kind: threshold, domain: traffic, field: intensity, above: 9, "
        "clear: 1, hold_s: 5}\n"))
    found = {(p.line, p.path): p.message for p in problems(small_pack_dir)}
    assert found == {
        (lines + 3, "alerts.rules[0].threshold"): "clear (3.0) must be at or under above "
                                                  "(2.0)",
        (lines + 4, "alerts.rules[1].threshold.hold_s"): "unknown key (check the spelling)"}
    city.write_text(base + (
        "alerts:\n"
        "  rules:\n"
        "    - {id: slow, kind: threshold, domain: traffic, field: speed, below: 5, "
        "clear: 10}\n"
        "    - {id: quiet, kind: nodata, devices: [tfc-9]}\n"
        "  departments:\n"
        "    - id: ops\n      name: Ops\n"
        "      subscriptions: [{rules: [sloww], districts: [west]}]\n"
        "      contacts: [{id: boss, channel: mqtt, level: 1}]\n"))
    found = {(p.line, p.path): p.message for p in problems(small_pack_dir)}
    assert found[(lines + 3, "alerts.rules[0].field")].startswith(
        "traffic has no field 'speed'")
    assert found[(lines + 4, "alerts.rules[1].devices[0]")] == \
        "'tfc-9' is not a sensor of the pack"
    assert found[(lines + 8, "alerts.departments[0].subscriptions[0].rules[0]")] == \
        "unknown rule 'sloww'"
    assert found[(lines + 8, "alerts.departments[0].subscriptions[0].districts[0]")] == \
        "unknown district 'west'"
    assert "needs 1 escalation_s entries" in found[
        (lines + 9, "alerts.departments[0].contacts[0].level")]
    assert len(found) == 5


def test_bogor_inherits_bandungs_rules_adjusts_one_and_has_its_own_departments() -> None:
    bandung, bogor = load_pack("bandung").alerts, load_pack("bogor").alerts
    rules = {r.id: r for r in bogor.rules}
    assert {r.id for r in bandung.rules} < set(rules)  # inherited, plus its own
    assert rules["flood-rising-fast"].rise_per_h == 0.3  # type: ignore[union-attr]
    assert {r.id: r for r in bandung.rules}["flood-rising-fast"].rise_per_h == 0.5  # type: ignore[union-attr]
    assert rules["katulampa-surge"].devices == ("flood-katulampa",)
    assert {d.name for d in bogor.departments} == {"BPBD Kota Bogor",
                                                   "Dinas Perhubungan Kota Bogor"}


def test_a_folder_hiding_the_shipped_packs_is_a_clear_error(tmp_path: Path) -> None:
    """`python -m cityhub` puts the working directory first on the path: a folder there
    named like the shipped packs' package (a user's own packs) hides them."""
    import subprocess
    import sys

    (tmp_path / "firmware_configs" / "depok").mkdir(parents=True)
    r = subprocess.run([sys.executable, "-m", "cityhub", "config", "check", "bandung"],
                       cwd=tmp_path, capture_output=True, text=True, check=False)
    assert r.returncode == 1 and "Traceback" not in r.stderr + r.stdout  # INVALID
    assert "this folder hides the packs shipped with the hub" in r.stdout + r.stderr


def test_one_service_serves_several_city_packs(tmp_path: Path) -> None:
    """``pack`` or ``packs``, never both nor neither; two packs of one city refused;
    every problem of every pack in one error."""
    from pydantic import ValidationError

    from cityhub.config.packs import CityPacks, load_packs

    assert CityPacks(pack="bandung").pack_names == ("bandung",)
    assert CityPacks(packs=("bandung", "bogor")).pack_names == ("bandung", "bogor")
    for bad, message in (({"pack": "bandung", "packs": ("bogor",)}, "not both"),
                         ({}, "is required"),
                         ({"packs": ("bogor", "bogor")}, "listed twice")):
        with pytest.raises(ValidationError, match=message):
            CityPacks(**bad)
    packs = load_packs(["bandung", "bogor"])
    assert [p.city.id for p in packs] == ["bandung", "bogor"]
    for name in ("bandung", "bogor"):  # bogor extends ../bandung
        shutil.copytree(pack_dir(name), tmp_path / name)
    copy = tmp_path / "bogor"
    with pytest.raises(ConfigError, match="is also the city of bogor: one pack per city"):
        load_packs(["bogor", str(copy)])
    with pytest.raises(ConfigError) as e:
        load_packs(["no-such-pack", "bogor", str(tmp_path / "nothing")])
    assert len(e.value.problems) == 2
