"""garbage-edge: the edge agent of a smart community garbage room."""

__version__ = "0.1.0"
