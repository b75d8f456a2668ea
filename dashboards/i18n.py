"""The dashboards' two languages: English (the source strings) and Bahasa Indonesia.

Every string a page shows is written ``_("English text")`` (``_ = lang().gettext``) and
translated through the message catalogue ``dashboards/locales/id/LC_MESSAGES/messages.po``
(gettext, read with Babel when first needed). Numbers, dates and times are formatted by
Babel for the user's language, times in the city's timezone (Asia/Jakarta for Bandung).

Each request speaks the language its user chose (kept in the session,
:func:`choose`), else the dashboards' default. ``tests/dashboards/test_i18n.py`` extracts
every ``_()`` string from the code and fails when one has no translation.

Adding a string: write ``_("...")``; run ``make messages`` (which runs
``pybabel extract`` and ``pybabel update``); translate the new ``msgstr``.
"""

from __future__ import annotations

import datetime as dt
import functools
import gettext
import io
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_datetime, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import get_decimal_symbol, get_group_symbol

__all__ = ["LANGUAGES", "N_", "Lang", "catalogue_path", "translations"]

#: The languages offered, by code, each named in itself.
LANGUAGES = {"en": "English", "id": "Bahasa Indonesia"}
_LOCALES = Path(__file__).parent / "locales"


def N_(message: str) -> str:
    """Marks ``message`` for the catalogue where it is defined (a page's name) and
    returns it as it is: it is translated where it is shown."""
    return message


def catalogue_path(language: str) -> Path:
    """The message catalogue (.po) of ``language``."""
    return _LOCALES / language / "LC_MESSAGES" / "messages.po"


@functools.cache
def translations(language: str) -> gettext.NullTranslations:
    """The compiled catalogue of ``language`` (English: the source strings as they are)."""
    if language == "en":
        return gettext.NullTranslations()
    if language not in LANGUAGES:
        raise ValueError(f"no catalogue for language {language!r}; "
                         f"one of {', '.join(LANGUAGES)}")
    with catalogue_path(language).open("rb") as f:
        catalogue = read_po(f, locale=language)
    buf = io.BytesIO()
    write_mo(buf, catalogue)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


@functools.cache
def _separators(code: str) -> dict[int, str]:
    """Python's "," and "." as the language's group and decimal symbols."""
    return str.maketrans({",": get_group_symbol(code), ".": get_decimal_symbol(code)})


@dataclass(frozen=True, slots=True)
class Lang:
    """One user's language and the city's timezone: words, numbers and times."""

    code: str
    timezone: str

    def gettext(self, message: str, /, **values: object) -> str:
        """``message`` translated, with ``{name}`` placeholders filled from ``values``."""
        text = translations(self.code).gettext(message)
        return text.format(**values) if values else text

    def number(self, value: float, digits: int = 0) -> str:
        """``value`` with ``digits`` decimals and the language's separators (Babel's, for
        the language; formatted by Python, which is some 30 times faster than
        ``format_decimal`` for the grouping of three both languages use: a map of 5,000
        sensors formats some 10,000 numbers a refresh)."""
        return f"{value:,.{digits}f}".translate(_separators(self.code))

    def when(self, seconds: float, *, with_date: bool = True) -> str:
        """A time (seconds since the epoch) in the city's timezone, with its zone."""
        t = dt.datetime.fromtimestamp(seconds, ZoneInfo(self.timezone))
        if with_date:
            return format_datetime(t, "d MMM yyyy HH:mm:ss zzz", locale=self.code)
        return format_time(t, "HH:mm:ss zzz", locale=self.code)

    def ago(self, seconds: float) -> str:
        """A duration, coarsely: "42 s", "5 min", "3 h", "2 d"."""
        s = max(0.0, seconds)
        if s < 90:
            return self.gettext("{n} s", n=self.number(s))
        if s < 90 * 60:
            return self.gettext("{n} min", n=self.number(s / 60))
        if s < 36 * 3600:
            return self.gettext("{n} h", n=self.number(s / 3600))
        return self.gettext("{n} d", n=self.number(s / 86400))
