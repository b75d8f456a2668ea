"""``Encoded``: a batch held as line protocol, cut between its messages without building
its points (what a store does with the ingester's batches)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cityhub.lineprotocol import encode_lines
from cityhub.point import Encoded, Point

T0 = 1_767_225_600 * 10**9


def batch(sizes: list[int], *, newline_in_strings: bool = False) -> tuple[Encoded, list[Point]]:
    """An Encoded batch of messages of ``sizes`` points, with its message ends; building
    it fails the test unless a test asks for the points."""
    points, ends, lines = [], [], b""
    for m, n in enumerate(sizes):
        msg = [Point("traffic", (("device", f"tfc-{m}"),),
                     {"note": f"a\nb{k}"} if newline_in_strings else {"v": float(k)},
                     T0 + k) for k in range(n)]
        points += msg
        lines += encode_lines(msg)
        ends.append((len(lines), len(points)))
    return Encoded(lines, len(points), lambda: list(points), ends), points


@given(st.lists(st.integers(1, 12), min_size=1, max_size=30), st.integers(1, 40),
       st.booleans())
def test_parts_are_the_batch_cut_between_messages(sizes: list[int], max_points: int,
                                                  newline: bool) -> None:
    enc, points = batch(sizes, newline_in_strings=newline)
    parts = enc.split(max_points)
    assert not enc.built  # cutting builds nothing
    assert b"".join(p.lines for p in parts) == enc.lines
    assert sum(len(p) for p in parts) == len(points)
    # Each part ends where a message ends, and holds at most max_points points unless it
    # is one message with more.
    message_ends, total = [], 0
    for n in sizes:
        total += n
        message_ends.append(len(encode_lines(points[:total])))
    at = 0
    for p in parts:
        start, at = at, at + len(p.lines)
        assert at in message_ends
        messages = sum(start < e <= at for e in message_ends)
        assert len(p) <= max_points or messages == 1
    # Fewest parts a greedy cut can make: no two neighbours fit together.
    for a, b in itertools.pairwise(parts):
        assert len(a) + len(b) > max_points or len(a) > max_points
    # A part's points are its share of the batch's, built once for all.
    got = [pt for p in parts for pt in p]
    assert got == points


def test_a_batch_that_fits_or_has_no_ends_stays_whole() -> None:
    enc, points = batch([3, 4, 5])
    assert enc.split(12) == [enc]
    whole = Encoded(enc.lines, len(points), lambda: list(points))
    assert whole.split(2) == [whole]


def test_ends_must_end_at_the_lines_end() -> None:
    enc, points = batch([2, 2])
    with pytest.raises(ValueError, match="not \\(len\\(lines\\), count\\)"):
        Encoded(enc.lines, len(points), lambda: points, [(3, 1), (len(enc.lines) - 1, 4)])
