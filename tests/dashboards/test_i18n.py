"""The message catalogue covers every string the dashboards show, and Babel formats
numbers and times per language in the city's timezone."""

from __future__ import annotations

import string
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from dashboards.i18n import LANGUAGES, Lang, catalogue_path

ROOT = Path(__file__).resolve().parents[2]
KEYWORDS = {"_": None, "N_": None, "gettext": None}


def shown_strings() -> set[str]:
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT / "dashboards", method_map=[("**.py", "python")], keywords=KEYWORDS):
        if isinstance(message, str):
            found.add(message)
    return found


def test_every_shown_string_is_translated_and_none_is_left_over() -> None:
    shown = shown_strings()
    assert len(shown) > 40
    for language in LANGUAGES:
        if language == "en":
            continue
        with catalogue_path(language).open("rb") as f:
            catalogue = read_po(f)
        have = {m.id: m.string for m in catalogue if m.id}
        untranslated = sorted(s for s in shown if not have.get(s))
        assert untranslated == [], f"{language}: run `make messages` and translate these"
        assert sorted(set(have) - shown) == [], f"{language}: strings no page shows"


def test_placeholders_survive_translation() -> None:
    with catalogue_path("id").open("rb") as f:
        catalogue = read_po(f)

    for m in catalogue:
        if not m.id:
            continue
        fields = {f for _, f, _, _ in string.Formatter().parse(str(m.id)) if f}
        translated = {f for _, f, _, _ in string.Formatter().parse(str(m.string)) if f}
        assert fields == translated, m.id


def test_numbers_and_times_per_language() -> None:
    en, id_ = Lang("en", "Asia/Jakarta"), Lang("id", "Asia/Jakarta")
    assert en.number(1234.5, 1) == "1,234.5"
    assert id_.number(1234.5, 1) == "1.234,5"
    t = 1_767_225_600  # 2026-01-01 00:00 UTC = 07:00 in Jakarta
    assert en.when(t, with_date=False).startswith("07:00:00")
    assert id_.when(t).startswith("1 Jan 2026 07:00:00")
    assert id_.gettext("Overview") == "Ikhtisar"
    assert en.gettext("Updated {time}", time="x") == "Updated x"
    assert id_.ago(2 * 3600) == "2 jam"
