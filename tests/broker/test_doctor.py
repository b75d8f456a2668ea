"""``cityhub edge doctor`` against the locked-down broker: a ready gateway passes; a wrong
password, a missing one, a dead driver and an unwritable queue each fail with what to fix."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.broker.conftest import ENVIRON, Broker

pytestmark = pytest.mark.integration


def doctor(b: Broker, gateway: str, env: dict[str, str], *args: str
           ) -> subprocess.CompletedProcess[str]:
    gw_file = b.conf_dir.parent / "pack" / "gateways" / f"{gateway}.yaml"  # live_broker's
    return subprocess.run([sys.executable, "-m", "cityhub", "edge", "doctor", "--gateway",
                           str(gw_file), *args], capture_output=True, text=True, env=env,
                          timeout=120, check=False)


def base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("CITYHUB_GW_")}


def test_a_ready_gateway_passes(live_broker: Broker, tmp_path: Path) -> None:
    r = doctor(live_broker, "gw-a", {**base_env(), **ENVIRON}, "--queue",
               str(tmp_path / "q.db"))
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert any(line.startswith("OK   broker") and "logged in as gw-a" in line for line in lines)
    assert any(line.startswith("OK   creds") for line in lines)
    assert sum(line.startswith("OK   driver") for line in lines) == 5  # gw-a's sensors
    assert lines[-1] == "cityhub edge doctor: ready"


def test_each_problem_is_named_with_its_fix(live_broker: Broker, tmp_path: Path) -> None:
    wrong = doctor(live_broker, "gw-a", {**base_env(), **ENVIRON,
                                          "CITYHUB_GW_A_PASSWORD": "not-it"},
                   "--queue", str(tmp_path / "q.db"))
    assert wrong.returncode == 1
    assert "FAIL broker" in wrong.stdout and "refused the login" in wrong.stdout
    missing = doctor(live_broker, "gw-a", base_env(), "--queue", str(tmp_path / "q.db"))
    assert missing.returncode == 1
    assert "FAIL creds" in missing.stdout and "set CITYHUB_GW_A_PASSWORD" in missing.stdout
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):  # root writes anywhere: use a path under a file
            queue = tmp_path / "a-file" / "q.db"
            (tmp_path / "a-file").write_text("")
        else:
            queue = locked / "q.db"
        unwritable = doctor(live_broker, "gw-a", {**base_env(), **ENVIRON}, "--queue",
                            str(queue))
    finally:
        locked.chmod(0o700)
    assert unwritable.returncode == 1 and "FAIL queue" in unwritable.stdout
    assert "not writable" in unwritable.stdout
