"""Line protocol escaping, exactly (the round trip through a real server is in
test_lineprotocol_server.py)."""

from __future__ import annotations

import pytest

from cityhub.lineprotocol import encode_line, encode_lines
from cityhub.point import Point


def P(m: str, tags: dict[str, str], fields: dict[str, object], t: int = 1) -> Point:
    return Point(m, tuple(sorted(tags.items())), fields, t)  # type: ignore[arg-type]


def test_escaping_rules() -> None:
    line = encode_line(P("my meas,x", {"tag key": "a=b,c d"},
                         {"f=1 ,": 'say "hi" \\ bye', "n": 1.5, "b": True, "i": 3}, 42))
    assert line == ('my\\ meas\\,x,tag\\ key=a\\=b\\,c\\ d '
                    'f\\=1\\ \\,="say \\"hi\\" \\\\ bye",n=1.5,b=true,i=3i 42')


def test_empty_tags_are_left_out_and_lines_end_with_newline() -> None:
    assert encode_lines([P("m", {"a": "", "b": "x"}, {"v": 1.0})]) == b"m,b=x v=1.0 1\n"


@pytest.mark.parametrize(("point", "message"), [
    (P("", {}, {"v": 1.0}), "measurement is empty"),
    (P("#m", {}, {"v": 1.0}), "comment"),
    (P("m", {"t": "a\nb"}, {"v": 1.0}), "newline"),
    (P("m", {"t": "ends\\"}, {"v": 1.0}), "backslash"),
    (P("m", {"t": "a\\,b"}, {"v": 1.0}), "backslash"),
    (P("m", {"time": "x"}, {"v": 1.0}), "'time'"),
    (P("m", {}, {"time": 1.0}), "'time'"),
    (P("m", {}, {}), "no fields"),
    (P("m", {}, {"v": float("nan")}), "not finite"),
    (P("m", {}, {"v": float("inf")}), "not finite"),
    (P("m", {}, {"v": None}), "unsupported type"),
])
def test_unrepresentable_points_are_refused(point: Point, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        encode_line(point)
