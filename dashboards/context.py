"""What the pages need, handed to the app once at start-up (no module globals), and the
current request's city, user and language.

A command centre may serve several cities (one hub, several packs): the app keeps one
:class:`Hub` per city, and :func:`hub` answers the current request's. A user scoped to a
city (``cityhub users city NAME ID``) always gets theirs; any other user the one they
chose (``/city/<id>``, kept in the session), else the first; the public view takes
``?city=<id>``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import flask_login
from flask import current_app, request, session

from cityhub.config.pack import CityPack
from dashboards.data import CityData
from dashboards.i18n import LANGUAGES, Lang
from dashboards.status import SensorState, sensor_states

if TYPE_CHECKING:
    from accounts.store import Accounts
    from dashboards.data.live import LiveFeed

__all__ = ["CITY_COOKIE", "CITY_SESSION", "LANGUAGE_COOKIE", "DashboardSettings", "Hub",
           "current_city", "hub", "hubs", "lang", "states_now"]

#: the browser's language choice, kept beyond the session
LANGUAGE_COOKIE = "cityhub_lang"
#: the session key of the city a user who sees several chose
CITY_SESSION = "city"
#: the same choice where the browser's script can read it, so a tab showing another city
#: (the choice was made in another tab) reloads itself (``dashboards.app``)
CITY_COOKIE = "cityhub_city"


@dataclass(frozen=True, slots=True)
class DashboardSettings:
    """How the dashboards behave (``cityhub dashboard --help`` sets them)."""

    #: the overview's map and numbers: a new reading shows within about two of these
    live_refresh_s: float = 1.0
    #: every other page, and the overview's alarm feed
    refresh_s: float = 5.0
    stale_after_s: float = 900.0
    #: the language of a user who has not chosen one ("en" or "id")
    language: str = "en"
    #: a street basemap: an XYZ tile URL template ("https://.../{z}/{x}/{y}.png"); None:
    #: the offline outline map only
    map_tiles: str | None = None
    map_attribution: str | None = None
    #: how long a login lasts
    session_hours: float = 12.0
    #: signs the session cookie; None: a new one each start (everyone logs in again)
    secret_key: str | None = None
    #: cookies only over HTTPS (set it where the dashboards are served behind TLS)
    secure_cookies: bool = False
    #: wall mode: seconds per page
    wall_cycle_s: float = 20.0
    #: the alerts API, e.g. "http://127.0.0.1:8070" (None: the alarm pages say it is
    #: not configured)
    alerts_api: str | None = None
    #: an API token (of a viewer) for the public view's department response figures,
    #: which it shows as numbers only; None: the public view leaves them out
    public_token: str | None = None
    #: how long the public view keeps its response figures (anonymous visitors never
    #: make the dashboards ask the alerts API more often than this)
    public_cache_s: float = 300.0
    #: how long anonymous visitors share one rendering of the public page
    public_page_s: float = 5.0

    def __post_init__(self) -> None:
        if self.language not in LANGUAGES:
            raise ValueError(f"language {self.language!r}: one of {', '.join(LANGUAGES)}")


@dataclass(frozen=True, slots=True)
class Hub:
    pack: CityPack
    data: CityData
    settings: DashboardSettings
    accounts: Accounts | None = None
    live: LiveFeed | None = None  # gateway statuses and events; None: no broker given


def hubs() -> dict[str, Hub]:
    """Every city the running app serves (city id -> its hub), in the order given."""
    cities: dict[str, Hub] = current_app.config["CITYHUB"]
    return cities


def current_city() -> str:
    """The city of the current request: the user's, if they are scoped to one; else the
    public view's ``?city=``, else the one chosen in the session, else the first."""
    cities = hubs()
    first = next(iter(cities))
    if len(cities) == 1:
        return first
    scoped = getattr(flask_login.current_user, "city", None)
    if scoped:
        return str(scoped)  # the login refuses a city not served here
    asked = request.args.get("city") if request.path == "/public" else None
    chosen = asked if asked in cities else (session.get(CITY_SESSION) if session else None)
    return str(chosen) if chosen in cities else first


def hub() -> Hub:
    """The hub of the current request's city (:func:`current_city`)."""
    return hubs()[current_city()]


def states_now(*, domain: str | None = None, district: str | None = None
               ) -> list[SensorState]:
    """Every sensor's state now (of one domain and one district, if given): the store's
    latest points, and the gateways the broker says are offline."""
    h = hub()
    states = sensor_states(h.pack, h.data.latest(), now_ns=time.time_ns(),
                           stale_after_s=h.settings.stale_after_s,
                           offline=h.live.offline() if h.live else ())
    return [s for s in states if (not domain or s.domain == domain)
            and (not district or s.district == district)]


def lang() -> Lang:
    """The current request's language (the user's choice, else the default) and the
    city's timezone."""
    h = hub()
    code = session.get("lang") if session else None
    if code not in LANGUAGES:
        code = request.cookies.get(LANGUAGE_COOKIE)
    if code not in LANGUAGES:
        code = h.settings.language
    return Lang(str(code), h.pack.city.timezone)
