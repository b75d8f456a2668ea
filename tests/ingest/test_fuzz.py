"""The decoder fuzzer's check, on its seeds and in a short atheris run (``fuzz/``).

The long run, on the kernel built with AddressSanitizer and UBSan, is
``fuzz/run_sanitized.sh`` (docs/testing.md); here the normal build is fuzzed for a fixed
number of inputs, and the check is shown to catch paths that disagree.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
import pytest

from cityhub.point import Point
from fuzz.agreement import Agreement, Disagreement, seeds, write_seeds

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def agreement() -> Agreement:
    return Agreement()


def test_the_paths_agree_on_every_seed(agreement: Agreement) -> None:
    found = seeds(agreement.pack)
    answers = Counter(agreement.check(data) for data in found)
    # The seeds reach every path, and refusals of many kinds.
    assert {"compiled ok", "python ok", "reference ok"} <= set(answers)
    assert len({a for a in answers if not a.endswith(" ok")}) >= 10
    # The edge simulator's packs (one per topic it can publish on) need no Python per
    # reading: the compiled path takes each.
    edge = [d for d in found if d[1:2] == b"[" and b'"seq":100' in d]
    assert len(edge) >= 20
    assert {agreement.check(d) for d in edge} == {"compiled ok"}


def _first(agreement: Agreement, answer: str) -> bytes:
    return next(d for d in seeds(agreement.pack) if agreement.check(d) == answer)


def test_the_check_catches_compiled_lines_that_differ(
        agreement: Agreement, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _first(agreement, "compiled ok")
    real = agreement.decoder.compiled

    def late(topic: str, payload: bytes, out: bytearray) -> int | None:
        n = real(topic, payload, out)
        out[-2:-1] = b"7" if out[-2:-1] != b"7" else b"8"  # a time's last digit
        return n

    monkeypatch.setattr(agreement.decoder, "compiled", late)
    with pytest.raises(Disagreement, match="compiled's lines differ"):
        agreement.check(data)


def test_the_check_catches_compiled_taking_a_refusal(
        agreement: Agreement, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _first(agreement, "reference future_time")
    monkeypatch.setattr(agreement.decoder, "compiled", lambda *_: 0)
    with pytest.raises(Disagreement, match="compiled took what reference refused"):
        agreement.check(data)


def test_the_check_catches_python_points_that_differ(
        agreement: Agreement, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _first(agreement, "python ok")
    real = agreement.decoder._python

    def off_by_one(topic: str, payload: bytes) -> list[Point] | None:
        points = real(topic, payload)
        assert points is not None
        name, value = next(iter(points[0].fields.items()))
        wrong = -value - 1.0 if isinstance(value, float) else \
            not value if isinstance(value, bool) else value + "x"
        points[0] = msgspec.structs.replace(points[0], fields={**points[0].fields,
                                                               name: wrong})
        return points

    monkeypatch.setattr(agreement.decoder, "_python", off_by_one)
    with pytest.raises(Disagreement, match="python's points differ"):
        agreement.check(data)


def test_the_check_catches_a_write_past_the_buffer(
        agreement: Agreement, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _first(agreement, "compiled ok")
    kernel = agreement.kernel

    class Overflowing:
        FALLBACK, NEED_ROOM = kernel.FALLBACK, kernel.NEED_ROOM

        @staticmethod
        def pack_into(payload: bytes, tables: Any, limit: int, most: int, out: bytearray,
                      cap: int) -> tuple[int, int]:
            out[cap] = 0  # one byte past what it was given
            return kernel.NEED_ROOM, 0

    monkeypatch.setattr(agreement, "kernel", Overflowing)
    with pytest.raises(Disagreement, match="wrote past"):
        agreement.check(data)


def test_a_short_fuzzing_run(tmp_path: Path) -> None:
    """atheris on the normal build for a fixed number of inputs from a fixed seed: the
    paths agree on each and nothing crashes (an input that fails is saved as crash-*)."""
    n_seeds = write_seeds(tmp_path / "seeds")
    (tmp_path / "corpus").mkdir()
    runs = 3000
    res = subprocess.run(
        [sys.executable, str(ROOT / "fuzz" / "decoder.py"), f"-runs={runs}", "-seed=1",
         "-max_len=4096", f"-dict={ROOT / 'fuzz' / 'senml.dict'}",
         f"-artifact_prefix={tmp_path}/", str(tmp_path / "corpus"), str(tmp_path / "seeds")],
        capture_output=True, text=True, cwd=tmp_path, check=False)
    assert res.returncode == 0, res.stderr[-5000:]
    assert f"Done {runs} runs" in res.stderr
    assert f"{n_seeds} files found in {tmp_path / 'seeds'}" in res.stderr
    assert not list(tmp_path.glob("crash-*"))
