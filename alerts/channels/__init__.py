"""Notification channels: one rendered message in, one :class:`Delivery` out.

- :class:`WebhookChannel`: a JSON POST signed per the Standard Webhooks spec;
- :class:`EmailChannel`: plain-text e-mail over SMTP (:class:`SmtpSettings`);
- :class:`AppriseChannel`: chat apps through an Apprise URL.

Importing this package imports every channel's library (aiohttp, standardwebhooks,
aiosmtplib, Apprise); a caller that needs one channel only can import its module.
"""

from __future__ import annotations

from alerts.channels.base import Channel, Delivery, Outgoing
from alerts.channels.chat import AppriseChannel
from alerts.channels.email import EmailChannel, SmtpSettings
from alerts.channels.webhook import WebhookChannel, new_secret

__all__ = [
    "AppriseChannel",
    "Channel",
    "Delivery",
    "EmailChannel",
    "Outgoing",
    "SmtpSettings",
    "WebhookChannel",
    "new_secret",
]
