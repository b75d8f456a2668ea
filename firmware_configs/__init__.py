"""The city packs shipped with the hub, as package data: ``bandung`` and ``bogor`` (an
overlay of Bandung). ``cityhub.config.load_pack("bandung")`` finds them wherever the hub
is installed. Nothing here is code; a city's own pack is a directory anywhere."""
