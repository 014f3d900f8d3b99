"""95598 hotline bridge: FastAGI menu, routing and records beside an Asterisk PBX."""

__version__ = "0.1.0"
