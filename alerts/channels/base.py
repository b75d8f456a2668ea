"""What every notification channel takes and answers: one rendered message in, one
delivery result out. A channel never raises for a failed delivery: it says whether
retrying can help (``permanent``) and when (``retry_after_s``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["Channel", "Delivery", "Outgoing"]


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One notification, rendered for one contact.

    ``id`` is stable across retries and restarts (the ``webhook-id``, the e-mail's
    ``Message-ID``): a receiver deduplicates by it. ``payload`` is the JSON body (webhook,
    MQTT, Apprise's json); ``subject`` and ``text`` are the human message, already in the
    contact's language.
    """

    id: str
    subject: str
    text: str
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Delivery:
    """The result of one attempt. ``permanent``: retrying the same message cannot help
    (a 4xx other than 408/425/429, a refused address); ``retry_after_s``: the receiver's
    own wish (``Retry-After``)."""

    ok: bool
    detail: str = ""
    permanent: bool = False
    retry_after_s: float | None = None


class Channel(Protocol):
    """A way to reach one contact. ``kind`` (webhook, email, apprise, mqtt) and ``target``
    (an address without secrets) are what the delivery records show."""

    kind: str
    target: str

    async def send(self, message: Outgoing) -> Delivery: ...

    async def aclose(self) -> None: ...
