"""Who may see what: login with the hub's accounts (:mod:`accounts`), on the dashboards'
Flask server, with Flask-Login.

- Every page, layout and callback endpoint needs a logged-in user, except the login
  page itself, the public view (``/public``, server-rendered, no callbacks), static
  files (the app's CSS and Dash's JavaScript bundles: code, no data), the language
  switch (``/language/<code>``, a session setting) and ``/healthz``.
  An unauthenticated browser is sent to ``/login``; an unauthenticated request to a
  ``/_dash-*`` endpoint gets 401.
- Roles (``viewer < operator < admin``) are checked where an action is taken:
  :func:`require` in the callback that acts, so a viewer's click is refused even when
  the button was reached by hand.
- The login form carries a CSRF token bound to the session; the session cookie is
  HttpOnly and SameSite=Lax (so no other site's page can post with it), and a login lasts
  ``session_hours`` from the moment of login, however busy the page keeps it.
- When the alerts API is configured, a login issues the user an API token (labelled
  ``dashboard session``), kept in the session encrypted (:func:`seal`), that the alarm
  pages act with, so the alarm's audit trail names the operator; logout revokes it, and
  tokens of expired sessions are revoked at the user's next login.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
import time
from collections.abc import Collection
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import flask_login
from cryptography.fernet import Fernet, InvalidToken
from flask import Flask, Response, current_app, redirect, request, session

from accounts import Role, User

if TYPE_CHECKING:
    from accounts.store import Accounts

__all__ = ["API_TOKEN_LABEL", "LoginUser", "Refused", "api_token", "current", "install",
           "require", "seal", "unseal"]

API_TOKEN_LABEL = "dashboard session"
_OPEN_PREFIXES = ("/assets/", "/_dash-component-suites/", "/language/")
# /logout too: a session that expired must still be able to end (and revoke its token)
_OPEN_PATHS = {"/login", "/logout", "/public", "/healthz", "/_favicon.ico", "/favicon.ico"}


class Refused(PermissionError):
    """The user's role does not allow the action; the message says which role would."""


class LoginUser(flask_login.UserMixin):  # type: ignore[misc]
    """The logged-in user, as Flask-Login keeps it; ``city``: the one city they see, or
    None for every city the dashboards serve."""

    def __init__(self, name: str, role: Role, city: str | None = None) -> None:
        self.name, self.role, self.city = name, role, city

    def sees(self, city: str) -> bool:
        return self.city is None or self.city == city

    def get_id(self) -> str:
        return self.name

    def allows(self, required: Role) -> bool:
        return self.role.allows(required)


def current() -> LoginUser | None:
    """The logged-in user of this request, or None."""
    user = flask_login.current_user
    return user if isinstance(user, LoginUser) else None


def require(role: Role) -> LoginUser:
    """The logged-in user, if their role allows what needs ``role``; else :class:`Refused`."""
    user = current()
    if user is None or not user.allows(role):
        raise Refused(f"needs the {role.value} role; "
                      f"you are {user.role.value if user else 'not logged in'}")
    return user


def _safe_next(target: str | None) -> str:
    """Only a path on this server (no scheme, no host, no ``//``, no backslash, which
    browsers read as a slash): no open redirect."""
    if not target or "\\" in target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def _fernet(secret_key: str) -> Fernet:
    digest = hashlib.sha256(b"cityhub dashboard api token\0" + secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def seal(secret_key: str, token: str) -> str:
    """``token`` encrypted (Fernet, a key derived from the app's secret) for the session
    cookie: Flask signs its cookie but does not encrypt it, and the cookie should not
    carry a bearer token anyone holding the cookie could read and use elsewhere."""
    return _fernet(secret_key).encrypt(token.encode()).decode()


def unseal(secret_key: str, sealed: str) -> str | None:
    """The token :func:`seal` sealed, or None if it was not sealed with this secret."""
    try:
        return _fernet(secret_key).decrypt(sealed.encode()).decode()
    except InvalidToken:
        return None


def install(server: Flask, accounts: Accounts, *, session_hours: float,
            secret_key: str | None, login_page: Any, issue_api_tokens: bool,
            secure_cookies: bool = False, cities: Collection[str] = ()) -> None:
    """Put the login in front of everything on ``server`` (the Dash app's Flask).

    ``login_page(error, csrf, next)`` renders the login form's HTML (the caller words it
    in the user's language). ``cities``: the cities served; a user scoped to another
    cannot log in here (``error`` "elsewhere"), nor stay logged in once scoped to one."""
    served = frozenset(cities)

    def here(city: str | None) -> bool:
        return city is None or not served or city in served

    server.secret_key = secret_key or secrets.token_urlsafe(32)
    lifetime = dt.timedelta(hours=session_hours)
    # The session cookie is sent only when the session changed: a login lasts its hours
    # from the login (login_at), so nothing is gained by re-sending it with every answer,
    # and a page's callback sent with the session as it was (another tab had just chosen
    # another city or language) would, answered after, set the old one back.
    server.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                         SESSION_COOKIE_SECURE=secure_cookies,
                         PERMANENT_SESSION_LIFETIME=lifetime,
                         SESSION_REFRESH_EACH_REQUEST=False)
    manager = flask_login.LoginManager()
    manager.init_app(server)

    def load(name: str) -> LoginUser | None:
        if time.time() - float(session.get("login_at", 0)) > lifetime.total_seconds():
            return None
        account = accounts.get(name)
        if account is None or account.disabled or not here(account.city):
            return None
        return LoginUser(account.name, Role(account.role), account.city)

    manager.user_loader(load)

    @server.before_request
    def guard() -> Any:
        path = request.path
        if path in _OPEN_PATHS or path.startswith(_OPEN_PREFIXES):
            return None
        if current() is not None:
            return None
        if path.startswith("/_dash-") or request.method != "GET":
            return Response('{"error": "log in first"}', 401, mimetype="application/json")
        return redirect(f"/login?next={quote(request.full_path.rstrip('?'))}")

    def csrf_token() -> str:
        token = session.get("csrf")
        if not token:
            token = session["csrf"] = secrets.token_urlsafe(24)
        return str(token)

    @server.route("/login", methods=["GET", "POST"])
    def login() -> Any:
        nxt = _safe_next(request.values.get("next"))
        if request.method == "GET":
            return login_page(None, csrf_token(), nxt)
        sent = request.form.get("csrf", "")
        if not sent or not hmac.compare_digest(sent.encode(),
                                               str(session.get("csrf", "")).encode()):
            return login_page("expired", csrf_token(), nxt), 400
        name, password = request.form.get("username", ""), request.form.get("password", "")
        user: User | None = accounts.verify_password(name, password)
        if user is None:
            return login_page("wrong", csrf_token(), nxt), 401
        if not here(user.city):
            return login_page("elsewhere", csrf_token(), nxt), 403
        language = session.get("lang")
        _revoke(accounts)  # a second login in the same browser: the first's token goes
        session.clear()  # a new session at login: nothing of the anonymous one survives
        if language:
            session["lang"] = language
        session.permanent = True
        session["login_at"] = time.time()
        if issue_api_tokens:
            _revoke_stale(accounts, user.name, lifetime)
            session["api_token"] = seal(str(server.secret_key),
                                        accounts.issue_token(user.name, API_TOKEN_LABEL))
        flask_login.login_user(LoginUser(user.name, user.role, user.city))
        return redirect(nxt)

    @server.route("/logout", methods=["POST"])
    def logout() -> Any:
        _revoke(accounts)
        flask_login.logout_user()
        session.clear()
        return redirect("/login")

    @server.route("/healthz")
    def healthz() -> Any:
        return {"ok": True}



def _revoke(accounts: Accounts) -> None:
    """Revoke this session's API token, if it has one."""
    token = api_token()
    if token:
        record = accounts.find_token(token)
        if record is not None and not record.revoked:
            accounts.revoke_token(record.id)


def _revoke_stale(accounts: Accounts, name: str, lifetime: dt.timedelta) -> None:
    """Revoke the user's dashboard-session tokens older than a session can live."""
    cutoff = dt.datetime.now(dt.UTC) - lifetime
    for t in accounts.tokens(name):
        created = t.created_at if t.created_at.tzinfo else t.created_at.replace(tzinfo=dt.UTC)
        if t.label == API_TOKEN_LABEL and not t.revoked and created < cutoff:
            accounts.revoke_token(t.id)


def api_token() -> str | None:
    """The logged-in user's API token for the alerts API, if one was issued."""
    sealed = session.get("api_token")
    return unseal(str(current_app.secret_key), str(sealed)) if sealed else None
