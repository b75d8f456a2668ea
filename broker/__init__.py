"""The hub's MQTT broker, configured from the city pack: ``cityhub broker config`` writes
Mosquitto's ``mosquitto.conf``, ``passwd`` and ``acl`` (each gateway publishes only under
its own name, each service reads and writes only its topics), ``cityhub broker certs`` a
pilot's certificates. See docs/broker.md.

Public surface (pure, core only)::

    from broker import accounts_of, acl_text, mosquitto_conf, BrokerOptions, TlsListener

:mod:`broker.generate` writes the files (it runs ``mosquitto_passwd``); :mod:`broker.certs`
needs ``cryptography`` (``cityhub[broker]``) and is imported on its own.
"""

from broker.accounts import SERVICES, Account, Accounts, accounts_of, service_accounts
from broker.acl import acl_text, gateway_rules, parse_acl, service_rules
from broker.conf import BrokerOptions, TlsListener, mosquitto_conf

__all__ = [
    "SERVICES",
    "Account",
    "Accounts",
    "BrokerOptions",
    "TlsListener",
    "accounts_of",
    "acl_text",
    "gateway_rules",
    "mosquitto_conf",
    "parse_acl",
    "service_accounts",
    "service_rules",
]
