"""The city hub's shared core: the wire contract, city packs, stores and the CLI.

Public surface::

    from cityhub import decode_pack, encode_pack, Reading, parse_telemetry, load_pack, ...

``cityhub`` imports no other package of the hub (``cityhub.cli`` is the process edge and
the one exception).
"""

from cityhub.backoff import backoff_delay
from cityhub.config import load_pack, load_settings
from cityhub.errors import ConfigError, ContractError, DecodeError, HubError, SinkError
from cityhub.fields import DOMAINS, Domain
from cityhub.lineprotocol import encode_line, encode_lines
from cityhub.point import Point
from cityhub.senml import Reading, decode_pack, encode_pack, encode_packs
from cityhub.topics import parse_telemetry, status_topic, telemetry_topic

__version__ = "0.1.0"

__all__ = [
    "DOMAINS", "ConfigError", "ContractError", "DecodeError", "Domain", "HubError", "Point",
    "Reading", "SinkError", "backoff_delay", "decode_pack", "encode_line", "encode_lines",
    "encode_pack", "encode_packs", "load_pack", "load_settings", "parse_telemetry",
    "status_topic", "telemetry_topic",
]
