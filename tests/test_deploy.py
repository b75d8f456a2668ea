"""Deployment files: the compose file is valid, its configs load, the broker config keeps
the limits the hub's promise depends on."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from analytics.settings import AnalyticsSettings
from cityhub.config import load_settings
from ingest.settings import IngestSettings

ROOT = Path(__file__).resolve().parents[1]


def compose(*args: str) -> str:
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.fail("docker-compose is not installed: `make test` installs it")
    r = subprocess.run([exe, "-f", str(ROOT / "docker-compose.yml"), *args],
                       capture_output=True, text=True, cwd=ROOT, check=False)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_compose_file_is_valid() -> None:
    compose("config", "-q")
    compose("--profile", "sim", "config", "-q")
    services = yaml.safe_load(compose("--profile", "sim", "config"))["services"]
    assert {"mosquitto", "influxdb", "ingest-0", "ingest-1", "analytics", "alerts",
            "dashboard", "edge-sim-dago"} <= set(services)
    assert services["influxdb"]["image"] == "influxdb:2.7"
    assert services["mosquitto"]["image"] == "eclipse-mosquitto:2"
    # every service but the simulators says whether it is healthy
    for name, svc in services.items():
        if not name.startswith("edge-sim"):
            assert "healthcheck" in svc, name
    # state on named volumes: the broker's sessions, the store, the services' files
    named = {"mosquitto": "/mosquitto/data", "influxdb": "/var/lib/influxdb2",
             "ingest-0": "/var/lib/cityhub", "ingest-1": "/var/lib/cityhub",
             "analytics": "/var/lib/cityhub", "alerts": "/var/lib/cityhub",
             "edge-sim-dago": "/var/lib/cityhub"}
    for name, target in named.items():
        mounts = [(v["source"], v["target"]) if isinstance(v, dict)
                  else tuple(v.split(":")[:2]) for v in services[name]["volumes"]]
        assert any(not src.startswith((".", "/")) and dst == target
                   for src, dst in mounts), name


def test_compose_is_locked_down_and_env_example_names_every_variable() -> None:
    """The broker runs the files generated from the pack (no anonymous config of its
    own); every ${VAR} the compose file reads is in .env.example."""
    import re

    raw = (ROOT / "docker-compose.yml").read_text()
    code = "\n".join(line.split("#", 1)[0] for line in raw.splitlines())
    used = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", code))
    example = {line.split("=", 1)[0] for line in
               (ROOT / ".env.example").read_text().splitlines()
               if line and not line.startswith("#")}
    assert used <= example, used - example
    services = yaml.safe_load(raw)["services"]
    assert "./deploy/broker:/mosquitto/config:ro" in services["mosquitto"]["volumes"]


def test_the_image_installs_every_package() -> None:
    """The Dockerfile copies each package pyproject.toml installs, before installing."""
    import tomllib

    find = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages = {p.rstrip("*") for p in find["packages"]["find"]["include"]}
    build = (ROOT / "Dockerfile").read_text().split("RUN pip install", 1)[0]
    copied = {line.split()[1] for line in build.splitlines() if line.startswith("COPY ")}
    assert packages <= copied, packages - copied


def test_compose_ingest_settings_load() -> None:
    s = load_settings(ROOT / "deploy" / "ingest.yaml", IngestSettings)
    assert s.store.kind == "influxdb-v1"
    assert s.store.token_env == "INFLUX_TOKEN"
    assert s.workers == 2 and s.shared_group == "ingest"  # ingest-0 and ingest-1
    for name, kind in (("ingest", IngestSettings), ("analytics", AnalyticsSettings)):
        settings = load_settings(ROOT / "deploy" / f"{name}.yaml", kind)
        assert settings.broker.username == f"cityhub-{name}"  # each with its own account
        assert settings.broker.password_env == f"CITYHUB_MQTT_{name.upper()}_PASSWORD"


def test_compose_analytics_settings_load() -> None:
    s = load_settings(ROOT / "deploy" / "analytics.yaml", AnalyticsSettings)
    assert s.store.kind == "influxdb-v1" and s.store.token_env == "INFLUX_TOKEN"
    assert s.state_dir.startswith("/var/lib/cityhub")  # on the service's volume
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert "analytics-data:/var/lib/cityhub" in services["analytics"]["volumes"]


def test_compose_alerts_settings_load() -> None:
    from alerts.settings import AlertsSettings

    s = load_settings(ROOT / "deploy" / "alerts.yaml", AlertsSettings)
    assert s.database.startswith("/var/lib/cityhub") and s.accounts.startswith("/var/lib/cityhub")
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert "alerts-data:/var/lib/cityhub" in services["alerts"]["volumes"]
    assert services["alerts"]["environment"]["CITYHUB_ACCOUNTS_DB"] == s.accounts


def test_broker_config_does_not_silently_drop() -> None:
    conf = dict(
        line.split(None, 1) for line in (ROOT / "deploy/mosquitto/mosquitto.conf").read_text()
        .splitlines() if line.strip() and not line.startswith("#"))
    assert int(conf["max_queued_messages"]) >= 100_000  # default 1000 drops silently
    assert conf["persistence"] == "true"


def test_edge_systemd_unit_runs_a_real_command() -> None:
    """The unit's ExecStart parses with the CLI's own parser (no stale flags)."""
    import configparser
    import shlex

    from cityhub.cli import parser

    unit = configparser.ConfigParser(interpolation=None, strict=False)
    unit.read(ROOT / "edge" / "deploy" / "cityhub-edge@.service")
    argv = shlex.split(unit["Service"]["ExecStart"].replace("%i", "gw-dago"))
    assert argv[0].endswith("/cityhub")
    args = parser().parse_args(argv[1:])
    assert args.command == "edge" and args.edge_command == "run"
    assert args.queue == "/var/lib/cityhub/edge-gw-dago.db"
    assert unit["Service"]["Restart"] == "always"
    # a graceful stop (queue published, retained offline) fits before systemd kills it:
    # --stop-timeout, 2 s for the offline status, 5 s grace before the agent cuts it short
    assert unit["Service"]["KillSignal"] == "SIGTERM"
    assert float(unit["Service"]["TimeoutStopSec"]) > args.stop_timeout + 2 + 5


def test_ingest_settings_example_in_the_docs_loads(tmp_path: Path) -> None:
    """The settings example in docs/ingest.md is a valid settings file."""
    doc = (ROOT / "docs" / "ingest.md").read_text()
    example = doc.split("## Settings", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "ingest.yaml"
    path.write_text(example)
    settings = load_settings(path, IngestSettings)
    assert settings.shared_group == "ingest" and settings.store.kind == "influxdb-v1"


def test_analytics_settings_example_in_the_docs_loads(tmp_path: Path) -> None:
    """The settings example in docs/analytics.md is a valid settings file."""
    doc = (ROOT / "docs" / "analytics.md").read_text()
    section = doc.split("## The streaming service", 1)[1]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "analytics.yaml"
    path.write_text(example)
    settings = load_settings(path, AnalyticsSettings)
    assert settings.shared_group == "analytics" and settings.metrics_port == 9109


def test_the_scale_out_override_is_valid() -> None:
    """docker-compose.scale.yml (docs/scaling.md) on top of the single host: valid, four
    ingesters of a four-worker settings file, a second dashboard, a three-node cluster."""
    exe = shutil.which("docker-compose")
    assert exe is not None
    r = subprocess.run([exe, "-f", str(ROOT / "docker-compose.yml"), "-f",
                        str(ROOT / "docker-compose.scale.yml"), "config"],
                       capture_output=True, text=True, cwd=ROOT, check=False)
    assert r.returncode == 0, r.stderr
    services = yaml.safe_load(r.stdout)["services"]
    assert {f"ingest-{k}" for k in range(4)} | {"dashboard-2", "emqx-2", "emqx-3"} \
        <= set(services)
    scale = load_settings(ROOT / "deploy" / "ingest-scale.yaml", IngestSettings)
    assert scale.workers == 4 and scale.shared_group == "ingest"


def test_the_two_city_override_is_valid() -> None:
    """docker-compose.cities.yml (docs/several-cities.md) on top of the single host: valid;
    every service given both packs (their settings load, the packs too), Bogor's
    simulated gateways beside Bandung's; every variable it reads in .env.example."""
    from alerts.settings import AlertsSettings
    from cityhub.config.packs import load_packs

    exe = shutil.which("docker-compose")
    assert exe is not None
    r = subprocess.run([exe, "-f", str(ROOT / "docker-compose.yml"), "-f",
                        str(ROOT / "docker-compose.cities.yml"), "--profile", "sim", "config"],
                       capture_output=True, text=True, cwd=ROOT, check=False)
    assert r.returncode == 0, r.stderr
    services = yaml.safe_load(r.stdout)["services"]
    for name, model in (("ingest-0", IngestSettings), ("ingest-1", IngestSettings),
                        ("analytics", AnalyticsSettings), ("alerts", AlertsSettings)):
        [mount] = [v for v in services[name]["volumes"] if v.endswith(":ro")]
        host = mount.split(":")[0]
        assert host == str(ROOT / "deploy" / "cities" / Path(host).name), (name, mount)
        settings = load_settings(host, model)  # type: ignore[type-var]
        assert settings.pack_names == ("bandung", "bogor"), name
    assert [p.city.id for p in load_packs(("bandung", "bogor"))] == ["bandung", "bogor"]
    command = services["dashboard"]["command"]
    assert [command[i + 1] for i, a in enumerate(command) if a == "--city"] == \
        ["bandung", "bogor"]
    assert {"edge-sim-katulampa", "edge-sim-kebun-raya", "edge-sim-dago"} <= set(services)
    raw = (ROOT / "docker-compose.cities.yml").read_text()
    example = (ROOT / ".env.example").read_text()
    for var in re.findall(r"\$\{([A-Z0-9_]+)", raw):
        assert f"\n{var}=" in example, var


@pytest.mark.parametrize(("kind", "who"), [("ingest", "the ingester"),
                                       ("analytics", "the analytics service"),
                                       ("alerts", "the alerts service")])
def test_a_service_refuses_the_edge_agents_auto_protocol(kind: str, who: str) -> None:
    from pydantic import ValidationError

    from alerts.settings import AlertsSettings

    model = {"ingest": IngestSettings, "analytics": AnalyticsSettings,
             "alerts": AlertsSettings}[kind]
    with pytest.raises(ValidationError, match=f'{who} needs "3.1.1" or "5"'):
        model.model_validate({"pack": "bandung", "broker": {"protocol": "auto"}})
