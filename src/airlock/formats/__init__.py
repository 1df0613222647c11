"""Parsers at the edge: every wire format is translated into ``airlock.material``."""
