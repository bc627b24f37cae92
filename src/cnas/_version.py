"""The cnas version; the single source the packaging metadata reads."""

__version__ = "0.1.0"
