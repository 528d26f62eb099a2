"""Collectors: gather evidence from targets over one transport interface. They never judge."""
