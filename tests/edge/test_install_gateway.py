"""scripts/install-gateway.sh installs the edge agent on a gateway, idempotently, and
uninstalls it keeping what must not be lost (the queue, the secrets) unless told to purge.

Everything runs under ``--root`` in a temporary root seeded with a minimal /etc (passwd,
group, shadow, gshadow), /usr/sbin/nologin and the host's systemd targets and slices (for
``systemd-analyze verify --root``): the user is made by ``useradd --root``, nothing calls
systemctl. The venv is built once, from a copy of this tree as tests/test_install.py
does, by the module's first install; the tests after it run in order on that root (the
last one uninstalls it).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from cityhub.fields import Domain
from devservices import LocalMosquitto
from devservices.ports import free_port
from edge.queue import DiskQueue
from tests.conftest import write_small_pack
from tests.test_install import source_copy

# The first test's setup builds the venv (a pip install from the tree copy: 1-2 minutes).
pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "install-gateway.sh"
UNIT = REPO / "edge" / "deploy" / "cityhub-edge@.service"
GW = "gw-a"
SECRET = "s3cret-never-printed-7f3a9c"
STEPS = ("user", "state", "venv", "pack", "env", "unit")
# `cityhub edge doctor` checks that the queue's directory is writable by making and
# removing a file in it: that directory's mtime is the one thing a run with the same
# inputs changes.
DOCTOR_PROBE = "var/lib/cityhub"


@dataclass
class Gateway:
    root: Path
    pack: Path
    env_file: Path
    source: Path
    first: subprocess.CompletedProcess[str]

    def args(self, *extra: str, pack: Path | None = None) -> list[str]:
        return ["--pack", str(pack or self.pack), "--gateway", GW, "--source", str(self.source),
                "--env-file", str(self.env_file), "--root", str(self.root), *extra]


def _run(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    # PYTHON: the venv is made by the interpreter running the tests (>= 3.11, with venv).
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHON": sys.executable})


def _out(p: subprocess.CompletedProcess[str]) -> str:
    return f"exit {p.returncode}\n--- stdout\n{p.stdout}--- stderr\n{p.stderr}"


def _seed_root(root: Path) -> Path:
    """A root with what useradd --root and systemd-analyze verify --root need."""
    etc = root / "etc"
    etc.mkdir(parents=True)
    (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (etc / "group").write_text("root:x:0:\n")
    for name, line in (("shadow", "root:*:19000:0:99999:7:::\n"), ("gshadow", "root:*::\n")):
        (etc / name).write_text(line)
        (etc / name).chmod(0o600)
    nologin = root / "usr" / "sbin" / "nologin"
    nologin.parent.mkdir(parents=True)
    nologin.write_text("#!/bin/sh\nexit 1\n")
    nologin.chmod(0o755)
    units = root / "usr" / "lib" / "systemd" / "system"
    units.mkdir(parents=True)
    host_units = Path("/lib/systemd/system")
    for pattern in ("*.target", "*.slice"):
        for unit in host_units.glob(pattern):
            shutil.copy2(unit, units / unit.name, follow_symlinks=False)
    return root


def _tree(root: Path) -> dict[str, tuple[object, ...]]:
    """Every entry under root: type, mode, owner, mtime and (files) a hash of the content."""
    out: dict[str, tuple[object, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            st = p.lstat()
            content: str = ""
            if stat.S_ISREG(st.st_mode):
                content = hashlib.sha256(p.read_bytes()).hexdigest()
            elif stat.S_ISLNK(st.st_mode):
                content = os.readlink(p)
            out[str(p.relative_to(root))] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode),
                                              st.st_uid, st.st_gid, st.st_mtime_ns, content)
    return out


def _changed(before: dict[str, tuple[object, ...]],
             after: dict[str, tuple[object, ...]]) -> set[str]:
    """Paths added, removed or changed (the doctor's probe of the queue's directory aside)."""
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    if DOCTOR_PROBE in changed and DOCTOR_PROBE in before and DOCTOR_PROBE in after \
            and before[DOCTOR_PROBE][:4] == after[DOCTOR_PROBE][:4]:
        changed.discard(DOCTOR_PROBE)
    return changed


def _step(out: str, step: str) -> str:
    lines = [ln for ln in out.splitlines() if ln.startswith(f"{step:<8} ")]
    assert len(lines) == 1, (step, out)
    return lines[0]


def _passwd(root: Path, name: str) -> list[str]:
    return [ln for ln in (root / "etc" / name).read_text().splitlines()
            if ln.startswith("cityhub:")]


def _write_pack(dest: Path, broker_port: int) -> Path:
    """The tests' small pack, its broker the test's Mosquitto, gw-a with credentials whose
    password comes from the environment, and a private key (must not be world-readable)."""
    pack = write_small_pack(dest, "install-gw")
    with (pack / "city.yaml").open("a") as f:
        f.write(f"broker:\n  host: 127.0.0.1\n  port: {broker_port}\n")
    with (pack / "gateways" / f"{GW}.yaml").open("a") as f:
        f.write("credentials: {username: gw-a, password_env: CITYHUB_GW_A_PASSWORD}\n")
    (pack / "certs").mkdir()
    (pack / "certs" / "gw-a.key").write_text(
        "-----BEGIN PRIVATE KEY-----\nnot a real key\n-----END PRIVATE KEY-----\n")
    return pack


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, mosquitto: LocalMosquitto) -> Gateway:
    """The first install: user, venv (from a copy of this tree), pack, secrets, unit."""
    tmp = tmp_path_factory.mktemp("install-gateway")
    source = source_copy(tmp / "src")
    pack = _write_pack(tmp / "pack", mosquitto.port)
    env_file = tmp / "edge.env"
    env_file.write_text(f"# the gateway's secrets\nCITYHUB_GW_A_PASSWORD='{SECRET}'\n")
    root = _seed_root(tmp / "root")
    gw = Gateway(root, pack, env_file, source, subprocess.CompletedProcess([], 0))
    gw.first = _run(*gw.args())
    assert gw.first.returncode == 0, _out(gw.first)
    return gw


def test_install_lays_out_the_gateway(gateway: Gateway) -> None:
    r, out = gateway.root, gateway.first.stdout
    assert SECRET not in gateway.first.stdout + gateway.first.stderr
    assert "cityhub: created" in _step(out, "user")
    assert "installed cityhub 0.1.0 from" in _step(out, "venv")
    for step in ("pack", "env", "unit"):
        assert ": installed" in _step(out, step), out
    # The doctor ran with the secrets of edge.env, against the pack's (the test's) broker.
    assert "OK   creds    username gw-a, password from CITYHUB_GW_A_PASSWORD" in out
    assert "OK   broker" in out and "cityhub edge doctor: ready" in out, out
    assert "not started (--root" in _step(out, "service")

    # The user: a system user, no login shell, home /var/lib/cityhub, its own group.
    [user] = _passwd(r, "passwd")
    _, _, uid_s, gid_s, _, home, shell = user.split(":")
    uid, gid = int(uid_s), int(gid_s)
    assert 0 < uid < 1000 and home == "/var/lib/cityhub" and shell == "/usr/sbin/nologin"
    assert _passwd(r, "group") == [f"cityhub:x:{gid}:"]
    assert len(_passwd(r, "shadow")) == 1 and _passwd(r, "shadow")[0].startswith("cityhub:!")

    # The queue's directory belongs to the agent; everything else to root.
    state = (r / "var/lib/cityhub").stat()
    assert (state.st_uid, state.st_gid, stat.S_IMODE(state.st_mode)) == (uid, gid, 0o755)
    pack = r / "etc/cityhub/pack"
    for p in [pack, *pack.rglob("*")]:
        st = p.stat()
        src = gateway.pack / p.relative_to(pack)
        if p.is_dir():
            assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, 0, 0o755), p
        elif p.name == "gw-a.key":  # a private key: readable by the agent, not by all
            assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, gid, 0o640), p
            assert p.read_bytes() == src.read_bytes()
        else:
            assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, 0, 0o644), p
            assert p.read_bytes() == src.read_bytes()
    assert (pack / "gateways" / f"{GW}.yaml").is_file()
    env = (r / "etc/cityhub/edge.env").stat()
    assert (env.st_uid, env.st_gid, stat.S_IMODE(env.st_mode)) == (0, 0, 0o600)
    assert (r / "etc/cityhub/edge.env").read_bytes() == gateway.env_file.read_bytes()
    unit = r / "etc/systemd/system/cityhub-edge@.service"
    assert unit.read_bytes() == UNIT.read_bytes()
    assert (unit.stat().st_uid, stat.S_IMODE(unit.stat().st_mode)) == (0, 0o644)
    installed = (r / "opt/cityhub/.installed").read_text()
    assert f"source: {gateway.source}\n" in installed and "digest: sha256:" in installed
    assert "version: cityhub 0.1.0" in installed

    # The venv runs the gateway's commands.
    helped = subprocess.run([str(r / "opt/cityhub/bin/cityhub"), "edge", "doctor", "--help"],
                            capture_output=True, text=True, timeout=120)
    assert helped.returncode == 0 and "--gateway" in helped.stdout, helped.stderr


def test_the_unit_verifies_under_the_root(gateway: Gateway) -> None:
    r = gateway.root
    unit = r / "etc/systemd/system/cityhub-edge@.service"
    exec_start = next(ln for ln in unit.read_text().splitlines() if ln.startswith("ExecStart="))
    binary = exec_start.removeprefix("ExecStart=").split()[0]
    assert os.access(r / binary.lstrip("/"), os.X_OK), f"{binary} is not under the root"
    analyze = shutil.which("systemd-analyze")
    has_targets = (r / "usr/lib/systemd/system/sysinit.target").exists()
    if analyze is None or not has_targets:
        # Checked what can be checked (ExecStart above); the script says it skipped.
        assert "skipped" in _step(gateway.first.stdout, "verify"), (
            "systemd-analyze verify cannot run here (no systemd-analyze, or no systemd "
            "targets on the host to seed the root with)")
        return
    assert "OK (systemd-analyze verify)" in _step(gateway.first.stdout, "verify")
    # verify --root resolves ExecStart= inside the root; unknown keys are only warnings,
    # so any output at all fails.
    v = subprocess.run([analyze, "verify", "--man=no", f"--root={r}",
                        f"cityhub-edge@{GW}.service"], capture_output=True, text=True,
                       timeout=120)
    assert v.returncode == 0 and not (v.stdout + v.stderr).strip(), _out(v)


def test_a_second_run_changes_nothing(gateway: Gateway) -> None:
    before = _tree(gateway.root)
    again = _run(*gateway.args())
    assert again.returncode == 0, _out(again)
    for step in STEPS:
        assert "unchanged" in _step(again.stdout, step), again.stdout
    assert not {"created", "installed", "updated", "set"} & set(again.stdout.replace(
        ":", " ").split()), again.stdout
    assert SECRET not in again.stdout + again.stderr
    assert _changed(before, _tree(gateway.root)) == set()


def test_a_changed_pack_replaces_only_the_pack(gateway: Gateway, tmp_path: Path) -> None:
    pack = shutil.copytree(gateway.pack, tmp_path / "pack")
    gw_b = pack / "gateways" / "gw-b.yaml"
    gw_b.write_text(gw_b.read_text().replace("tfc-b1", "tfc-b2"))
    before = _tree(gateway.root)
    run = _run(*gateway.args(pack=pack))
    assert run.returncode == 0, _out(run)
    assert "updated: 1 file(s) differ" in _step(run.stdout, "pack")
    for step in ("user", "state", "venv", "env", "unit"):
        assert "unchanged" in _step(run.stdout, step), run.stdout
    changed = _changed(before, _tree(gateway.root))
    assert "etc/cityhub/pack/gateways/gw-b.yaml" in changed
    assert all(p == "etc/cityhub" or p.startswith("etc/cityhub/pack") for p in changed), changed
    installed = gateway.root / "etc/cityhub/pack/gateways/gw-b.yaml"
    assert installed.read_text() == gw_b.read_text()
    assert stat.S_IMODE(installed.stat().st_mode) == 0o644


def test_a_doctor_failure_is_shown_and_stops_the_start(gateway: Gateway,
                                                        tmp_path: Path) -> None:
    pack = shutil.copytree(gateway.pack, tmp_path / "pack")
    city = pack / "city.yaml"
    closed = free_port()  # nothing listens there
    city.write_text(city.read_text().rsplit("  port: ", 1)[0] + f"  port: {closed}\n")
    run = _run(*gateway.args(pack=pack))
    assert run.returncode == 1, _out(run)
    assert f"FAIL broker   127.0.0.1:{closed}" in run.stdout
    assert "fix: check the host and port" in run.stdout
    assert "not started" in run.stderr, run.stderr
    # --no-start: the same finding, reported; the install itself is fine.
    run = _run(*gateway.args("--no-start", pack=pack))
    assert run.returncode == 0, _out(run)
    assert f"FAIL broker   127.0.0.1:{closed}" in run.stdout
    assert "not started" in run.stderr
    for step in STEPS:
        assert "unchanged" in _step(run.stdout, step), run.stdout


def test_the_script_is_shellcheck_clean() -> None:
    exe = shutil.which("shellcheck")
    assert exe is not None, ("shellcheck is not installed: run the tests with `make test`, "
                             "which installs it (apt-get install shellcheck)")
    checked = subprocess.run([exe, str(SCRIPT)], capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize("case", ["unknown gateway", "bad env file", "no such source"])
def test_bad_input_exits_2_and_changes_nothing(case: str, tmp_path: Path) -> None:
    root = _seed_root(tmp_path / "root")
    pack = write_small_pack(tmp_path / "pack", "bad-input")
    env_file = tmp_path / "edge.env"
    env_file.write_text(f"CITYHUB_GW_A_PASSWORD={SECRET}\n")
    gw, source = GW, str(REPO)
    if case == "unknown gateway":
        gw = "gw-nowhere"
    elif case == "bad env file":
        env_file.write_text(f"CITYHUB_GW_A_PASSWORD=ok\nexport {SECRET}\n")
    else:
        source = str(tmp_path / "dist" / "cityhub-0.1.0-py3-none-any.whl")
    before = _tree(root)
    run = _run("--pack", str(pack), "--gateway", gw, "--source", source, "--env-file",
               str(env_file), "--root", str(root), timeout=120)
    assert run.returncode == 2, _out(run)
    assert SECRET not in run.stdout + run.stderr
    expected = {"unknown gateway": "no gateway 'gw-nowhere' in the pack",
                "bad env file": "line 2 is not KEY=VALUE",
                "no such source": "no such file or directory"}[case]
    assert expected in run.stderr, run.stderr
    if case == "unknown gateway":
        assert "gateways/gw-nowhere.yaml not found (its gateways: gw-a gw-b)" in run.stderr
    assert _tree(root) == before


def test_without_useradd_root_the_entries_are_written_by_hand(tmp_path: Path) -> None:
    """Where `useradd --root` cannot run (it chroots), --root writes the user's lines.
    A stand-in useradd fails; a stand-in PYTHON stops the run at the venv, after the user."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "useradd").write_text("#!/bin/sh\necho 'useradd: cannot chroot' >&2\nexit 1\n")
    (bin_dir / "python3").write_text(
        '#!/bin/sh\n[ "$1" = -c ] && exit 0\necho "no venv here" >&2\nexit 3\n')
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    root = _seed_root(tmp_path / "root")
    pack = write_small_pack(tmp_path / "pack", "fallback")
    run = subprocess.run(
        ["bash", str(SCRIPT), "--pack", str(pack), "--gateway", GW, "--source", "cityhub[edge]",
         "--root", str(root)], capture_output=True, text=True, timeout=120,
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}",
             "PYTHON": str(bin_dir / "python3")})
    assert run.returncode == 3, _out(run)
    assert "useradd: cannot chroot" in run.stderr and "no venv here" in run.stderr
    assert "cityhub: created" in _step(run.stdout, "user")
    [user] = _passwd(root, "passwd")
    assert user == "cityhub:x:999:999:city hub edge agent:/var/lib/cityhub:/usr/sbin/nologin"
    assert _passwd(root, "group") == ["cityhub:x:999:"]
    assert _passwd(root, "gshadow") == ["cityhub:!::"]
    assert _passwd(root, "shadow")[0].startswith("cityhub:!:")
    state = (root / "var/lib/cityhub").stat()
    assert (state.st_uid, state.st_gid) == (999, 999)


def test_uninstall_keeps_the_queue_and_secrets_and_purge_removes_them(
        gateway: Gateway) -> None:
    """Last: it uninstalls the module's gateway."""
    r = gateway.root
    q = DiskQueue(r / "var/lib/cityhub" / f"edge-{GW}.db")
    q.put([(Domain.TRAFFIC, "tfc-1", "intensity", float(i), 1_767_225_600 * 10**9 + i)
           for i in range(3)])
    q.close()

    run = _run("--uninstall", "--gateway", GW, "--root", str(r), timeout=120)
    assert run.returncode == 0, _out(run)
    # Counted by the venv's `cityhub edge status` before the venv went.
    assert f"edge-{GW}.db: 3 readings not yet sent" in _step(run.stdout, "state")
    assert "kept" in _step(run.stdout, "state") and "kept" in _step(run.stdout, "env")
    for gone in ("etc/systemd/system/cityhub-edge@.service", "opt/cityhub", "etc/cityhub/pack"):
        assert not (r / gone).exists(), gone
    assert (r / "var/lib/cityhub" / f"edge-{GW}.db").is_file()
    assert (r / "etc/cityhub/edge.env").read_bytes() == gateway.env_file.read_bytes()
    assert len(_passwd(r, "passwd")) == 1

    again = _run("--uninstall", "--gateway", GW, "--root", str(r), timeout=120)
    assert again.returncode == 0, _out(again)
    assert again.stdout.count(": absent") == 3, again.stdout  # unit, venv, pack
    # Without the venv the depth comes from sqlite3.
    assert f"edge-{GW}.db: 3 readings not yet sent" in _step(again.stdout, "state")

    purge = _run("--uninstall", "--purge", "--gateway", GW, "--root", str(r), timeout=120)
    assert purge.returncode == 0, _out(purge)
    assert "WARNING: --purge deletes the agent's queue" in purge.stderr
    assert f"edge-{GW}.db: 3 readings not yet sent" in purge.stderr
    assert SECRET not in purge.stdout + purge.stderr
    for gone in ("var/lib/cityhub", "etc/cityhub"):
        assert not (r / gone).exists(), gone
    for name in ("passwd", "group", "shadow", "gshadow"):
        assert _passwd(r, name) == [], name
