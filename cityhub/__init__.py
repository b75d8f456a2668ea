"""The city hub's shared core: the wire contract, city packs, the store interface and the
``cityhub`` command's registry.

Public surface::

    from cityhub import decode_pack, encode_pack, Reading, parse_telemetry, load_pack, ...

``cityhub`` imports no other package of the hub, and no third-party package that is not a
core dependency: a gateway installs ``cityhub[edge]`` and nothing of the hub's servers.
Each package registers its own commands (``cityhub.cli``).
"""

from importlib.metadata import PackageNotFoundError, version

from cityhub.backoff import backoff_delay
from cityhub.config import load_pack, load_settings
from cityhub.errors import ConfigError, ContractError, DecodeError, HubError, SinkError
from cityhub.fields import DOMAINS, Domain
from cityhub.lineprotocol import encode_line, encode_lines
from cityhub.point import Point
from cityhub.senml import Reading, decode_pack, encode_pack, encode_packs
from cityhub.topics import parse_telemetry, status_topic, telemetry_topic

try:
    __version__ = version("cityhub")  # the one version number: pyproject.toml's
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "DOMAINS", "ConfigError", "ContractError", "DecodeError", "Domain", "HubError", "Point",
    "Reading", "SinkError", "backoff_delay", "decode_pack", "encode_line", "encode_lines",
    "encode_pack", "encode_packs", "load_pack", "load_settings", "parse_telemetry",
    "status_topic", "telemetry_topic",
]
