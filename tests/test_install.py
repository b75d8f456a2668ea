"""A gateway installs ``cityhub[edge]`` and nothing of the hub's servers: a real venv with
only that extra, built from this source tree, runs the gateway's commands."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from devservices import LocalMosquitto
from tests.conftest import write_small_pack
from tests.test_signals import wait

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[1]
# What a gateway must never need: the hub's server and analytics dependencies.
SERVER_SIDE = {"dash", "flask", "werkzeug", "plotly", "numba", "numpy", "aiohttp",
               "influxdb-client", "amqtt", "psutil", "httpx"}


def source_copy(dest: Path) -> Path:
    """The tracked and new (not ignored) files of the source tree, without build output."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.splitlines()
    for name in files:
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


@pytest.fixture(scope="module")
def edge_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv with ``cityhub[edge]`` installed (not editable) from a copy of this tree."""
    tmp = tmp_path_factory.mktemp("edge-install")
    src = source_copy(tmp / "src")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    proc = subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet",
                           "--disable-pip-version-check", f"{src}[edge]"],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    shutil.rmtree(src)  # the venv must not lean on the source tree (e.g. for the packs)
    return venv


def _installed(venv: Path) -> set[str]:
    out = subprocess.run([str(venv / "bin" / "python"), "-c",
                          "import importlib.metadata as m\n"
                          "print('\\n'.join(d.metadata['Name'] for d in m.distributions()))"],
                         capture_output=True, text=True, check=True).stdout
    return {n.strip().lower().replace("_", "-") for n in out.split()}


def _cityhub(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(venv / "bin" / "cityhub"), *args], capture_output=True,
                          text=True, timeout=120, cwd=cwd)


def test_edge_only_install_has_no_server_dependencies(edge_venv: Path) -> None:
    installed = _installed(edge_venv)
    assert {"cityhub", "aiomqtt", "paho-mqtt", "pymodbus"} <= installed
    assert not installed & SERVER_SIDE, installed & SERVER_SIDE


def test_edge_only_install_runs_the_gateway_commands(
        edge_venv: Path, mosquitto: LocalMosquitto, tmp_path: Path) -> None:
    # Away from the source tree: the shipped packs come from the installed package data.
    checked = _cityhub(edge_venv, "config", "check", "bandung", "bogor", cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert "bandung: OK" in checked.stdout and "bogor: OK" in checked.stdout
    helped = _cityhub(edge_venv, "edge", "run", "--help", cwd=tmp_path)
    assert helped.returncode == 0 and "--gateway" in helped.stdout, helped.stderr

    # A gateway of a pack of its own, for real, against the real broker; then its status.
    pack = write_small_pack(tmp_path / "pack", "edge-only")
    queue = tmp_path / "edge.db"
    agent = subprocess.Popen(
        [str(edge_venv / "bin" / "cityhub"), "edge", "run", "--gateway",
         str(pack / "gateways" / "gw-a.yaml"), "--broker-host", "127.0.0.1",
         "--broker-port", str(mosquitto.port), "--queue", str(queue),
         "--interval-scale", "0.02", "--flush-interval", "0.2"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    status_file = Path(f"{queue}.status.json")
    wait(lambda: status_file.exists() or agent.poll() is not None,
         "the agent's first status", timeout_s=60)
    agent.send_signal(signal.SIGTERM)
    out, _ = agent.communicate(timeout=60)
    assert agent.returncode == 0, out
    assert "cityhub edge: stopped" in out
    status = _cityhub(edge_venv, "edge", "status", "--queue", str(queue), cwd=tmp_path)
    assert status.returncode == 0, status.stdout + status.stderr
    assert f"queue {queue}:" in status.stdout
    assert "agent gw-a" in status.stdout and "stopped" in status.stdout
    published = int(status.stdout.split("published ", 1)[1].split(",", 1)[0])
    assert published > 0, status.stdout  # it reached the broker, not only its queue


def test_edge_only_install_names_the_extra_a_hub_command_needs(
        edge_venv: Path, tmp_path: Path) -> None:
    """Every command is listed; one that needs the hub's extras says which to install."""
    helped = _cityhub(edge_venv, "--help", cwd=tmp_path)
    assert helped.returncode == 0
    for command in ("alerts", "analytics", "broker", "config", "dashboard", "demo", "edge",
                    "ingest", "users"):
        assert f"    {command}" in helped.stdout
    cfg = tmp_path / "ingest.yaml"
    cfg.write_text("pack: bandung\n")
    ingest = _cityhub(edge_venv, "ingest", "--config", str(cfg), cwd=tmp_path)
    assert ingest.returncode == 2
    assert "pip install 'cityhub[ingest]'" in ingest.stderr, ingest.stderr
