"""The shell's branch of the exception tree (rooted in :mod:`transforms.errors`)."""

from __future__ import annotations

from transforms.errors import ForestsyncError, InputError, TerminalError, TransientError

__all__ = [
    "ConfigError",
    "ConnectorError",
    "ForestsyncError",
    "InputError",
    "SecretError",
    "StoreError",
    "StoreLockedError",
    "TerminalError",
    "TransientConnectorError",
    "TransientError",
]


class ConfigError(InputError):
    """The configuration cannot be used as written."""


class SecretError(TerminalError):
    """A secret reference cannot be resolved. The message names the reference, never the value."""


class StoreError(TerminalError):
    """The state store cannot be read or written."""


class StoreLockedError(StoreError):
    """Another process holds the store: forestsync allows one writer process per store file."""


class ConnectorError(TerminalError):
    """A connected directory refused an operation; retrying the same request fails the same way."""


class TransientConnectorError(TransientError):
    """A connected directory could not be reached or was busy; the operation may be retried."""
