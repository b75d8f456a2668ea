"""E-mail over SMTP with aiosmtplib: one connection per message, plain text in UTF-8
(notifications are in Bahasa Indonesia or English), ``Message-ID`` from the message id
so a resent copy is recognisably the same message.

Errors, by SMTP's own classes: a 5xx reply (a refused address, a refused sender, bad
credentials) is permanent; a 4xx (greylisting, a full mailbox, "try again later"), a
refused or dropped connection and a timeout are transient. A mismatch between what the
settings demand and what the server offers (STARTTLS required but not offered, AUTH not
offered) is permanent: the server will not change its mind on the next attempt.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Literal, Self

import aiosmtplib
from pydantic import BaseModel, ConfigDict, Field, model_validator

from alerts.channels.base import Delivery, Outgoing

__all__ = ["EmailChannel", "SmtpSettings"]

# aiosmtplib's start_tls: False never upgrades, None upgrades when the server offers
# STARTTLS, True upgrades or fails (a bare SMTPException when it is not offered).
_START_TLS: dict[str, bool | None] = {"off": False, "opportunistic": None, "required": True}


class SmtpSettings(BaseModel):
    """How to reach the SMTP relay.

    ``password_env`` names the environment variable that holds the password, so that a
    settings file never holds it. ``timeout_s`` bounds each step of the conversation
    (connect, each command), as aiosmtplib applies it, not the whole send. ``ca_file``: a
    PEM bundle trusted besides the system's CAs, for a relay with a private CA.

    With a ``username``, ``starttls`` must be ``"required"``: under "opportunistic" an
    attacker on the path could strip the STARTTLS offer and read the password in clear.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(min_length=1)
    port: int = Field(default=25, ge=1, le=65535)
    starttls: Literal["off", "opportunistic", "required"] = "opportunistic"
    username: str | None = None
    password_env: str | None = None
    sender: str = Field(min_length=3)
    timeout_s: float = Field(default=15.0, gt=0)
    ca_file: Path | None = None

    @model_validator(mode="after")
    def _credentials_need_tls(self) -> Self:
        if self.username is not None and self.starttls != "required":
            raise ValueError("SMTP credentials are only sent over TLS: set starttls: required")
        if self.password_env is not None and self.username is None:
            raise ValueError("password_env without username")
        return self

    def password(self, environ: Mapping[str, str] | None = None) -> str | None:
        """The password from ``password_env`` (in ``environ``, by default the process's
        environment); None without one. A named variable that is unset is an error here,
        at start-up, rather than a failed login at the first alarm."""
        if self.password_env is None:
            return None
        env = os.environ if environ is None else environ
        try:
            return env[self.password_env]
        except KeyError:
            raise ValueError(f"environment variable {self.password_env} is not set") from None


def _check_address(address: str) -> str:
    if "@" not in address or any(c.isspace() for c in address):
        raise ValueError(f"not an e-mail address: {address!r}")
    return address


def _seconds(value: float) -> str:
    return f"{value:g} s"


def _first_line(text: str, limit: int = 120) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


class EmailChannel:
    """Send each message to ``to`` (one message, every address in ``To``).

    A message refused for some recipients but accepted for others counts as delivered
    (sending it again would duplicate it for those who got it); ``detail`` names the
    refused ones.
    """

    kind = "email"

    def __init__(self, smtp: SmtpSettings, to: tuple[str, ...], *,
                 password: str | None) -> None:
        if not to:
            raise ValueError("an e-mail channel needs at least one address")
        if (password is None) != (smtp.username is None):
            raise ValueError("give a password exactly when the settings have a username")
        self._smtp = smtp
        self._to = tuple(_check_address(a) for a in to)
        self._password = password
        self.target = ", ".join(self._to)

    def build(self, message: Outgoing) -> EmailMessage:
        """The e-mail for ``message`` (public so that a preview can show it)."""
        mail = EmailMessage()  # policy default: RFC 2047 headers, UTF-8 body
        # A header with a line break is refused by the policy (header injection): a
        # subject rendered over several lines becomes one.
        mail["Subject"] = " ".join(message.subject.split())
        mail["From"] = self._smtp.sender
        mail["To"] = ", ".join(self._to)
        mail["Date"] = format_datetime(datetime.now(UTC))
        mail["Message-ID"] = f"<{message.id}@cityhub>"
        mail.set_content(message.text, subtype="plain", charset="utf-8")
        return mail

    async def send(self, message: Outgoing) -> Delivery:
        """Connect, (maybe) STARTTLS, (maybe) log in, send, quit; never raises for a
        failed delivery."""
        s = self._smtp
        try:
            refused, _ = await aiosmtplib.send(
                self.build(message), hostname=s.host, port=s.port,
                start_tls=_START_TLS[s.starttls], username=s.username,
                password=self._password, timeout=s.timeout_s,
                cert_bundle=None if s.ca_file is None else str(s.ca_file))
        except aiosmtplib.SMTPRecipientsRefused as e:
            # Every address refused. 4xx for any of them (greylisting): worth a retry.
            codes = [r.code for r in e.recipients]
            names = ", ".join(f"{r.recipient} ({r.code})" for r in e.recipients)
            return Delivery(False, f"recipients refused: {names}",
                            permanent=all(500 <= c < 600 for c in codes))
        except aiosmtplib.SMTPTimeoutError:
            # before SMTPConnectError: a connect timeout is both
            return Delivery(False, f"timeout after {_seconds(s.timeout_s)}")
        except aiosmtplib.SMTPResponseException as e:
            return Delivery(False, f"SMTP {e.code} {_first_line(e.message)}",
                            permanent=500 <= e.code < 600)
        except (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPServerDisconnected) as e:
            if isinstance(e.__cause__, ConnectionRefusedError):
                return Delivery(False, "connection refused")
            return Delivery(False, _first_line(e.message))
        except ssl.SSLCertVerificationError as e:
            # A certificate that does not verify needs a person (a wrong host name, an
            # expired or private certificate): retrying cannot fix it, so fail loudly.
            return Delivery(False, f"TLS certificate rejected: {e.verify_message}",
                            permanent=True)
        except aiosmtplib.SMTPException as e:
            # SMTPNotSupported and the bare SMTPException aiosmtplib raises when the
            # server lacks what the settings require (STARTTLS, AUTH).
            return Delivery(False, _first_line(e.message), permanent=True)
        except OSError as e:  # ssl.SSLError on a broken handshake, a reset socket
            return Delivery(False, f"network error: {e}")
        except ValueError as e:  # aiosmtplib: an address it cannot safely send
            return Delivery(False, f"not sendable: {e}", permanent=True)
        if refused:
            names = ", ".join(f"{a} ({r.code})" for a, r in refused.items())
            return Delivery(True, f"sent; refused: {names}")
        return Delivery(True, "sent")

    async def aclose(self) -> None:
        """Nothing to close: each send opens and closes its own connection."""
