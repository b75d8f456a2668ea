"""``cityhub broker config`` and ``cityhub broker certs`` as a user runs them, and the
generated files used by a real Mosquitto."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cityhub.cli import main
from devservices.ports import free_port
from tests.broker.conftest import write_broker_pack
from tests.broker.live import Mqtt, running_broker

GENERATED = re.compile(r"^generated password for (\S+): ([A-Z0-9_]+)=(\S+)$", re.M)
ENV_A, ENV_INGEST = "env-password-of-gw-a", "env-password-of-ingest"


def cityhub(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CITYHUB_")}
    return subprocess.run([sys.executable, "-m", "cityhub", *args], capture_output=True,
                          text=True, env={**clean, **env}, timeout=120, check=False)


def logs_in(port: int, user: str, password: str) -> bool:
    c = Mqtt(port, user, password)
    try:
        return c.connect().connected
    finally:
        c.close()


@pytest.mark.integration
def test_config_writes_the_files_and_shows_generated_passwords_once(tmp_path: Path) -> None:
    port = free_port()
    pack = write_broker_pack(tmp_path / "pack", "clicity", port)
    out = tmp_path / "out"
    env = {"CITYHUB_GW_A_PASSWORD": ENV_A, "CITYHUB_MQTT_INGEST_PASSWORD": ENV_INGEST}
    r = cityhub("broker", "config", "--city", str(pack), "--out", str(out),
                "--bind", "127.0.0.1", env=env)
    assert r.returncode == 0, r.stderr
    assert "gateway gw-c has no credentials in the pack" in r.stderr
    generated = {m[1]: (m[2], m[3]) for m in GENERATED.finditer(r.stdout)}
    assert set(generated) == {"gw-b", "cityhub-analytics", "cityhub-alerts",
                              "cityhub-dashboard", "dept-bpbd"}
    assert generated["gw-b"][0] == "CITYHUB_GW_B_PASSWORD"
    assert generated["cityhub-alerts"][0] == "CITYHUB_MQTT_ALERTS_PASSWORD"
    for _, password in generated.values():
        assert r.stdout.count(password) == 1 and password not in r.stderr
    for secret in (ENV_A, ENV_INGEST):
        assert secret not in r.stdout + r.stderr
    assert {p.name for p in out.iterdir()} == {"mosquitto.conf", "passwd", "acl", "data"}
    assert stat.S_IMODE((out / "passwd").stat().st_mode) == 0o600
    assert stat.S_IMODE((out / "acl").stat().st_mode) == 0o600
    hashes = (out / "passwd").read_text()
    assert all(p not in hashes for p in (ENV_A, ENV_INGEST,
                                         *(pw for _, pw in generated.values())))
    assert f"listener {port} 127.0.0.1" in (out / "mosquitto.conf").read_text()

    with running_broker(out, port) as broker:
        assert logs_in(port, "gw-a", ENV_A)  # the password from the environment
        assert logs_in(port, "cityhub-ingest", ENV_INGEST)
        assert logs_in(port, "gw-b", generated["gw-b"][1])  # the one it printed
        assert not logs_in(port, "gw-b", ENV_A)

        # Again, as when adding a gateway: with --keep-existing, what is not in the
        # environment keeps its hash; the broker reads the new files on SIGHUP.
        before = {line.split(":")[0]: line for line in hashes.splitlines()}
        r = cityhub("broker", "config", "--city", str(pack), "--out", str(out), "--bind",
                    "127.0.0.1", "--keep-existing", env={"CITYHUB_GW_A_PASSWORD": "changed"})
        assert r.returncode == 0, r.stderr
        assert GENERATED.search(r.stdout) is None
        after = {line.split(":")[0]: line
                 for line in (out / "passwd").read_text().splitlines()}
        assert after["gw-a"] != before["gw-a"]
        assert {u: after[u] for u in after if u != "gw-a"} == \
            {u: before[u] for u in before if u != "gw-a"}
        broker.reload()
        deadline = time.monotonic() + 10
        while not logs_in(port, "gw-a", "changed") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert logs_in(port, "gw-a", "changed")
        assert not logs_in(port, "gw-a", ENV_A)
        assert logs_in(port, "gw-b", generated["gw-b"][1])  # kept


def test_certs_command(tmp_path: Path) -> None:
    r = cityhub("broker", "certs", "--out", str(tmp_path), "--hosts",
                "mqtt.example.org,127.0.0.1", "--clients", "gw-a,cityhub-ingest",
                "--days", "10", env={})
    assert r.returncode == 0, r.stderr
    assert "new CA" in r.stdout and "client gw-a" in r.stdout
    assert {p.name for p in (tmp_path / "clients").iterdir()} == {
        "gw-a.pem", "gw-a.key", "cityhub-ingest.pem", "cityhub-ingest.key"}
    r = cityhub("broker", "certs", "--out", str(tmp_path), "--clients", "bad name", env={})
    assert r.returncode == 2 and "--clients" in r.stderr


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["broker", "--help"], ["broker", "config", "--help"],
                 ["broker", "certs", "--help"]):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 0
        out = capsys.readouterr().out
        assert "usage: cityhub broker" in out
    main_help = subprocess.run([sys.executable, "-m", "cityhub", "broker", "config", "--help"],
                               capture_output=True, text=True, check=True).stdout
    assert "printed ONCE" in main_help


def test_a_pack_whose_gateways_use_tls(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                       ) -> None:
    """The pack's broker.port is where gateways connect: the TLS listener's port when its
    gateways use TLS; the plain listener then defaults to 1883."""
    pack = write_broker_pack(tmp_path / "pack", "tlscity", 8884)
    with (pack / "city.yaml").open("a") as city:
        city.write("  tls: {}\n")
    files = [tmp_path / n for n in ("server.pem", "server.key", "ca.pem")]
    for path in files:
        path.write_text("")
    out = tmp_path / "out"
    args = ["broker", "config", "--city", str(pack), "--out", str(out)]
    assert main(args) == 0
    assert "no TLS listener was asked for" in capsys.readouterr().err
    assert main([*args, "--tls", *map(str, files)]) == 0
    conf = (out / "mosquitto.conf").read_text()
    assert "listener 1883\n" in conf and "listener 8884\n" in conf
    assert main([*args, "--tls", *map(str, files), "--port", "8884"]) == 2
    assert main([*args, "--require-client-cert"]) == 2
    assert main([*args, "--tls", "/no/such.pem", *map(str, files[1:])]) == 2
    assert "no such file" in capsys.readouterr().err


@pytest.mark.integration
def test_conf_dir_the_files_work_where_they_are_mounted(tmp_path: Path) -> None:
    """With --conf-dir, mosquitto.conf names the paths the broker will see (a container's
    /mosquitto/config): here the files are moved there, as a bind mount would show them."""
    port = free_port()
    pack = write_broker_pack(tmp_path / "pack", "mounted", port)
    out, mount, data = tmp_path / "out", tmp_path / "mnt" / "config", tmp_path / "mnt" / "data"
    r = cityhub("broker", "config", "--city", str(pack), "--out", str(out), "--bind",
                "127.0.0.1", "--conf-dir", str(mount), "--data-dir", str(data),
                env={"CITYHUB_GW_A_PASSWORD": ENV_A})
    assert r.returncode == 0, r.stderr
    assert {p.name for p in out.iterdir()} == {"mosquitto.conf", "passwd", "acl"}
    assert f"password_file {mount}/passwd" in (out / "mosquitto.conf").read_text()
    mount.parent.mkdir()
    out.rename(mount)
    with running_broker(mount, port):
        assert logs_in(port, "gw-a", ENV_A)


def test_config_of_two_cities(tmp_path: Path) -> None:
    """--city twice: one broker's files for both; the packs must agree on where the
    gateways connect."""
    from tests.broker.test_live_cities import second_city

    one = write_broker_pack(tmp_path / "one", "cone", 1883)
    second_city(tmp_path / "two", "ctwo", 1883)
    out = tmp_path / "out"
    r = cityhub("broker", "config", "--city", str(one), "--city", str(tmp_path / "two"),
                "--out", str(out), env={})
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("cityhub broker config: Test City (cone), Test City (ctwo), "
                               "10 accounts (4 gateways, 4 services, 2 departments)"), r.stdout
    acl = (out / "acl").read_text()
    assert "user dept-cone-bpbd" in acl and "user dept-ctwo-bpbd" in acl
    assert "topic read city/ctwo/flood/#" in acl.split("user cityhub-ingest")[1]
    odd = second_city(tmp_path / "odd", "codd", 8883)
    r = cityhub("broker", "config", "--city", str(one), "--city", str(tmp_path / "odd"),
                "--out", str(tmp_path / "out2"), env={})
    assert r.returncode == 2
    assert ("cone's gateways connect on port 1883, codd's on 8883: one broker serves both "
            "only if their packs' broker.port and broker.tls agree") in r.stderr, r.stderr
    assert odd.city.id == "codd" and not (tmp_path / "out2" / "acl").exists()
