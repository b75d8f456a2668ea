"""Fixtures for the alerts tests: the local receivers of ``tests/alerts/receivers.py``,
started per test (each on its own port), and an aiohttp session for the webhooks."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from alerts.channels import new_secret
from tests.alerts.receivers import JsonReceiver, MailReceiver, WebhookReceiver, server_tls_context
from tests.edge.certs import Pki


@pytest.fixture
def webhook_secret() -> str:
    return new_secret()


@pytest.fixture
async def webhook_receiver(webhook_secret: str) -> AsyncIterator[WebhookReceiver]:
    """Verifies with ``webhook_secret``; answers 200 unless scripted."""
    async with WebhookReceiver(webhook_secret) as receiver:
        yield receiver


@pytest.fixture
async def http_session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def mail_receiver() -> AsyncIterator[MailReceiver]:
    """Plain SMTP, no STARTTLS offered; refuses recipients at refused.example."""
    async with MailReceiver(refuse=r"@refused\.example$") as receiver:
        yield receiver


@pytest.fixture
async def tls_mail_receiver(pki: Pki) -> AsyncIterator[MailReceiver]:
    """SMTP offering STARTTLS with a certificate for 127.0.0.1 signed by the test CA
    (``pki.ca``)."""
    async with MailReceiver(tls=server_tls_context(pki.server_cert, pki.server_key)) as r:
        yield r


@pytest.fixture
async def json_receiver() -> AsyncIterator[JsonReceiver]:
    """What Apprise's ``json://`` posts (``json_receiver.apprise_url``)."""
    async with JsonReceiver() as receiver:
        yield receiver
