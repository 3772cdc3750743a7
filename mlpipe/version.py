"""The package version, importable without the rest of mlpipe."""

__version__ = "0.1.0"
